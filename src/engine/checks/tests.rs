//! The runner against a real HTTP server on loopback, started here: a JSON endpoint,
//! server-sent events and chunks sent with pauses, a slow answer, an error page holding
//! a secret value.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{run, CheckResult};
use crate::manifest::checks::Check;
use crate::secrets::{SecretValue, Secrets};

const SECRET: &str = "tok-7c1d9e2f4a6b8053";

/// The `[[checks]]` of a manifest made of `entries`.
fn checks(entries: &str) -> Vec<Check> {
    let text = format!("version = 1\n[app]\nname = \"t\"\ncommand = \"python server.py\"\n{entries}");
    crate::manifest::parse(&text, "aideploy.toml").unwrap_or_else(|e| panic!("{e:?}")).checks
}

fn secrets() -> Secrets {
    let mut s = Secrets::default();
    s.values.insert("TOKEN".into(), SecretValue::new(SECRET.into()));
    s
}

/// Serves until the test ends; the base URL.
async fn server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else { return };
            tokio::spawn(serve(conn));
        }
    });
    base
}

/// One request: its head and body read, the answer its path asks for.
async fn serve(mut conn: TcpStream) {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut piece = [0u8; 4096];
        let n = conn.read(&mut piece).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&piece[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()))
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut piece = [0u8; 4096];
        let n = conn.read(&mut piece).await.unwrap();
        buf.extend_from_slice(&piece[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string();
    let first = head.lines().next().unwrap_or_default().to_string();
    let path = first.split(' ').nth(1).unwrap_or_default().to_string();
    let x_test = head.lines().any(|l| l.eq_ignore_ascii_case("x-test: 1"));
    match (first.split(' ').next().unwrap_or_default(), path.as_str()) {
        ("POST", "/query") => {
            let question: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let answer = serde_json::json!({
                "answer": "Our refund policy: 30 days, no questions asked.",
                "question": question["question"],
                "header_seen": x_test,
                "sources": [{"id": "policy", "score": 0.9}],
            });
            whole(&mut conn, 200, "application/json", &answer.to_string()).await;
        }
        ("GET", "/sse") => {
            // Four events; the third and fourth cut across writes.
            let pieces = ["data: one\n\n", ": keep-alive\n\n", "data: two\n\ndata: th", "ree\n", "\ndata: four\n\n"];
            chunked(&mut conn, "text/event-stream", &pieces, 40).await;
        }
        ("GET", "/chunks") => chunked(&mut conn, "text/plain", &["a", "b", "c"], 150).await,
        ("GET", "/slow") => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            whole(&mut conn, 200, "text/plain", "late").await;
        }
        ("GET", "/leak") => whole(&mut conn, 500, "text/plain", &format!("boom: the upstream rejected token {SECRET}\n")).await,
        _ => whole(&mut conn, 404, "text/plain", "no such path").await,
    }
}

async fn whole(conn: &mut TcpStream, status: u16, kind: &str, body: &str) {
    let answer =
        format!("HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
    let _ = conn.write_all(answer.as_bytes()).await;
}

/// A chunked answer, one chunk per piece, `pause_ms` apart.
async fn chunked(conn: &mut TcpStream, kind: &str, pieces: &[&str], pause_ms: u64) {
    let head = format!("HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    let _ = conn.write_all(head.as_bytes()).await;
    for p in pieces {
        let _ = conn.write_all(format!("{:x}\r\n{p}\r\n", p.len()).as_bytes()).await;
        let _ = conn.flush().await;
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
}

async fn one(base: &str, entry: &str) -> CheckResult {
    let mut results = run(&super::client(), base, &checks(entry), &secrets()).await;
    assert_eq!(results.len(), 1);
    results.remove(0)
}

#[tokio::test]
async fn a_json_post_passes_when_its_paths_match_and_fails_naming_the_one_that_does_not() {
    let base = server().await;
    let entry = r#"[[checks]]
name = "answers"
method = "POST"
path = "/query"
json = { question = "What is our refund policy?" }
headers = { "x-test" = "1" }
expect_json = { "answer" = "*refund*", "question" = "What is*?", "header_seen" = true, "sources.0.id" = "policy", "sources.0.score" = "0.?" }
expect_body = "*30 days*"
max_latency_ms = 10000
"#;
    let r = one(&base, entry).await;
    assert!(r.passed, "{r:?}");
    assert_eq!(r.status, Some(200));
    assert_eq!((r.reason, r.body, r.events, r.first_byte_ms), (None, None, None, None));
    assert_eq!(r.request, "POST /query");

    let r = one(&base, &entry.replace("\"*refund*\"", "\"*return*\"").replace("\"policy\"", "\"faq\"")).await;
    assert!(!r.passed);
    let reason = r.reason.unwrap();
    assert!(
        reason.contains("`answer` is \"Our refund policy: 30 days, no questions asked.\", which does not match `*return*`"),
        "{reason}"
    );
    assert!(reason.contains("`sources.0.id` is \"policy\", which does not match `faq`"), "{reason}");
    assert!(r.body.unwrap().contains("\"sources\""), "a failing check shows the answer");

    let r = one(&base, "[[checks]]\nname = \"gone\"\npath = \"/query\"\nexpect_json = { \"nothing.here\" = \"*\" }\n").await;
    assert_eq!(r.reason.as_deref(), Some("answered HTTP 404, expected 200"));
    let r = one(&base, "[[checks]]\nname = \"not json\"\npath = \"/chunks\"\nexpect_json = { \"a\" = \"*\" }\n").await;
    assert!(r.reason.unwrap().starts_with("the answer is not JSON"));
}

#[tokio::test]
async fn a_stream_counts_its_events_across_chunks_and_times_its_first_bytes() {
    let base = server().await;
    let entry = "[[checks]]\nname = \"streams\"\npath = \"/sse\"\nstream = true\nmax_first_byte_ms = 5000\nmin_events = 4\n";
    let r = one(&base, entry).await;
    assert!(r.passed, "{r:?}");
    assert_eq!(r.events, Some(4), "the comment is no event; events cut across writes count once");
    let first = r.first_byte_ms.expect("first bytes timed");
    assert!(first <= r.latency_ms, "{r:?}");

    let r = one(&base, &entry.replace("min_events = 4", "min_events = 5")).await;
    assert!(!r.passed);
    assert_eq!(r.reason.as_deref(), Some("4 events arrived, fewer than min_events (5)"));

    // Not event-stream: chunks are counted.
    let r = one(&base, "[[checks]]\nname = \"chunks\"\npath = \"/chunks\"\nstream = true\nmin_events = 3\nexpect_body = \"abc\"\n").await;
    assert!(r.passed, "{r:?}");
    assert_eq!(r.events, Some(3));
}

#[tokio::test]
async fn a_slow_answer_fails_at_max_latency_and_the_rest_still_run() {
    let base = server().await;
    let list = checks(
        "[[checks]]\nname = \"slow\"\npath = \"/slow\"\nmax_latency_ms = 300\n[[checks]]\nname = \"then\"\nmethod = \"POST\"\npath = \"/query\"\njson = {}\n",
    );
    let results = run(&super::client(), &base, &list, &secrets()).await;
    assert_eq!(results.len(), 2);
    assert!(!results[0].passed);
    assert_eq!(results[0].reason.as_deref(), Some("no complete answer within max_latency_ms (300 ms)"));
    assert_eq!(results[0].status, None, "the answer never came");
    assert!(results[1].passed, "{:?}", results[1]);
}

#[tokio::test]
async fn a_failing_answer_is_shown_with_secret_values_redacted() {
    let base = server().await;
    let r = one(&base, "[[checks]]\nname = \"leaks\"\npath = \"/leak\"\n").await;
    assert!(!r.passed);
    assert_eq!(r.status, Some(500));
    let body = r.body.unwrap();
    assert_eq!(body, "boom: the upstream rejected token ***\n");
    let r = one(&base, "[[checks]]\nname = \"leaks\"\npath = \"/leak\"\nexpect_status = 500\nexpect_body = \"*nothing*\"\n").await;
    assert!(!r.passed);
    assert!(!format!("{r:?}").contains(SECRET), "{r:?}");
}

#[tokio::test]
async fn nothing_listening_is_a_failed_check_not_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let r = one(&base, "[[checks]]\nname = \"down\"\npath = \"/\"\n").await;
    assert!(!r.passed);
    assert!(r.reason.unwrap().starts_with("the request failed:"));
}

#[test]
fn the_plan_note_names_each_check() {
    let list =
        checks("[[checks]]\nname = \"a\"\nmethod = \"POST\"\npath = \"/q\"\n[[checks]]\nname = \"b\"\npath = \"/s\"\nstream = true\n");
    assert_eq!(
        super::plan_note(&list).unwrap(),
        "After the switch, the deploy runs 2 check(s) against the live URL: `a` (POST /q), `b` (GET /s (stream))."
    );
    assert_eq!(super::plan_note(&[]), None);
}

/// Where plain check requests can go: a public Lambda route and Cloud Run service, not
/// private ones (signed calls only) nor a SageMaker endpoint; `local` always.
#[test]
fn targets_say_whether_their_live_url_takes_plain_check_requests() {
    // As the registry serves them: each target inside the budget wrapper, which must
    // pass the question on (backends::for_kind).
    use crate::backends::budget::WithBudget;
    use crate::engine::target::Target;
    #[allow(non_snake_case)]
    let (LambdaTarget, CloudRunBackend, SageMakerTarget) = (
        WithBudget(crate::backends::lambda::LambdaTarget),
        WithBudget(crate::backends::cloudrun::CloudRunBackend),
        WithBudget(crate::backends::sagemaker::SageMakerTarget),
    );
    use crate::engine::{Health, Outcome};

    let live =
        Outcome { url: Some("https://app.example".into()), health: Health::Passed, actions: Vec::new(), failure: None, pushed: None };
    let text = |target: &str, public: bool| {
        format!(
            "version = 1\n[app]\nname = \"t\"\ncommand = \"python s.py\"\n[targets.{target}]\nregion = \"us-east-1\"\npublic = {public}\n"
        )
    };
    let cx = |target: &str, public: bool| crate::engine::testing::cx(&text(target, public), target, &[]);
    assert_eq!(LambdaTarget.check_url(&cx("lambda", true), &live), Ok("https://app.example".to_string()));
    let why = LambdaTarget.check_url(&cx("lambda", false), &live).unwrap_err();
    assert!(why.contains("private (AWS_IAM") && why.contains("`public = true` in [targets.lambda]"), "{why}");
    let run = |public| format!("version = 1\n[app]\nname = \"t\"\ncommand = \"python s.py\"\n[targets.cloudrun]\npublic = {public}\n");
    let cr = |public| crate::engine::testing::cx(&run(public), "cloudrun", &[]);
    assert_eq!(CloudRunBackend.check_url(&cr(true), &live), Ok("https://app.example".to_string()));
    assert!(CloudRunBackend.check_url(&cr(false), &live).unwrap_err().contains("identity token"));
    let sm = crate::engine::testing::cx(
        "version = 1\n[app]\nname = \"t\"\ncommand = \"python s.py\"\n[targets.sagemaker]\nregion = \"us-east-1\"\n",
        "sagemaker",
        &[],
    );
    assert!(SageMakerTarget.check_url(&sm, &live).unwrap_err().contains("SigV4"));
    let local = crate::engine::testing::cx("version = 1\n[app]\nname = \"t\"\ncommand = \"python s.py\"\n", "local", &[]);
    let none = Outcome { url: None, ..live.clone() };
    assert!(WithBudget(crate::backends::local::LocalTarget).check_url(&local, &none).unwrap_err().contains("no URL"));
}
