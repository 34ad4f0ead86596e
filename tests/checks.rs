//! `[[checks]]` end to end on the `local` target: the app runs for real on this machine
//! and the checks ask it questions through its live URL after the switch. A failing
//! check exits 3 and rolls back to the previous release, read back over HTTP, with
//! `status --json` and `history --json`; a first deploy has nothing to go back to and
//! says so.

use crate::common;

use std::path::PathBuf;

use common::{aideploy, free_port, http, offline};
use serde_json::Value;

const SECRET: &str = "tok-3e9a51c7b2d84f60";

/// A stdlib HTTP server: `/health`, `POST /query` answering with `answer`, and
/// `/chat/stream` sending three server-sent events with pauses between them.
fn server(answer: &str) -> String {
    format!(
        r#"import json, os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = {answer:?}

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send(self, code, kind, data):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self.send(200, "application/json", b'{{"status":"ok"}}')
        elif self.path.startswith("/chat/stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for word in ["hello", "from", "the", "model"]:
                data = ("data: " + word + "\n\n").encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                time.sleep(0.05)
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send(404, "text/plain", b"no such path")

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{{}}")
        if self.path != "/query":
            return self.send(404, "text/plain", b"no such path")
        text = ANSWER.replace("TOKEN", os.environ.get("TOKEN", ""))
        out = {{"answer": text, "question": body.get("question"), "x_test": self.headers.get("x-test")}}
        self.send(200, "application/json", json.dumps(out).encode())

print("listening on", os.environ["PORT"], flush=True)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#
    )
}

const MANIFEST: &str = r#"version = 1

[app]
name = "checked"
command = "python server.py"
health = "/health"

[secrets]
TOKEN = {}

[[checks]]
name = "answers a question"
method = "POST"
path = "/query"
json = { question = "What is our refund policy?" }
headers = { "x-test" = "1" }
expect_json = { "answer" = "*refund*", "question" = "What is our refund policy?", "x_test" = "1" }
max_latency_ms = 10000

[[checks]]
name = "streams"
path = "/chat/stream?q=hi"
stream = true
max_first_byte_ms = 10000
min_events = 3
"#;

struct App {
    home: tempfile::TempDir,
    dir: PathBuf,
    port: u16,
}

impl App {
    fn new(answer: &str) -> App {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("app");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("aideploy.toml"), MANIFEST).unwrap();
        std::fs::write(dir.join("requirements.txt"), "").unwrap();
        let app = App { home, dir, port: free_port() };
        app.answer(answer);
        app
    }

    /// The next version of the app answers `answer` (`TOKEN` stands for the secret's value).
    fn answer(&self, answer: &str) {
        std::fs::write(self.dir.join("server.py"), server(answer)).unwrap();
    }

    fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let port = format!("port={}", self.port);
        let mut cmd = aideploy(self.home.path());
        offline(&mut cmd);
        cmd.env("AIDEPLOY_POLL_INTERVAL_MS", "20").env("TOKEN", SECRET).current_dir(&self.dir).args(args);
        cmd.args(["--target", "local", "--set", &port]);
        cmd
    }

    /// Exit code, stdout as JSON, stderr.
    fn json(&self, args: &[&str]) -> (i32, Value, String) {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.cmd(&all).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET), "a secret value was printed:\n{stdout}\n{stderr}");
        let v = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{stdout}\nstderr:\n{stderr}"));
        (out.status.code().unwrap(), v, stderr)
    }

    fn ask(&self) -> Value {
        let url = format!("http://127.0.0.1:{}/query", self.port);
        let (status, body) = http("POST", &url, Some(r#"{"question":"What is our refund policy?"}"#)).unwrap();
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.cmd(&["destroy", "--yes"]).output();
    }
}

fn check<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks in {v}"))
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check `{name}` in {v}"))
}

#[test]
fn passing_checks_are_reported_with_latency_and_events() {
    let app = App::new("Our refund policy: 30 days.");
    let out = app.cmd(&["plan"]).output().unwrap();
    let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        shown.contains(
            "runs 2 check(s) against the live URL: `answers a question` (POST /query), `streams` (GET /chat/stream?q=hi (stream))"
        ),
        "{shown}"
    );

    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let q = check(&v, "answers a question");
    assert_eq!((q["passed"].as_bool(), q["status"].as_u64(), q["request"].as_str()), (Some(true), Some(200), Some("POST /query")), "{q}");
    assert!(q["latency_ms"].as_u64().is_some(), "{q}");
    assert!(q.get("reason").is_none() && q.get("body").is_none(), "{q}");
    let s = check(&v, "streams");
    assert_eq!((s["passed"].as_bool(), s["events"].as_u64()), (Some(true), Some(4)), "{s}");
    assert!(s["first_byte_ms"].as_u64().unwrap() <= s["latency_ms"].as_u64().unwrap(), "{s}");
    assert!(v.get("rolled_back").is_none(), "{v}");
    assert_eq!(app.ask()["answer"], "Our refund policy: 30 days.");

    // People see each check's line.
    app.answer("Our refund policy: 60 days.");
    let out = app.cmd(&["deploy", "--yes"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("✓ check answers a question  POST /query  HTTP 200"), "{stderr}");
    assert!(stderr.contains("events"), "{stderr}");
}

#[test]
fn a_failing_check_rolls_back_to_the_previous_release() {
    let app = App::new("Our refund policy: 30 days.");
    let (code, v1, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{v1}\n{stderr}");
    let v1_digest = v1["artifact"]["digest"].as_str().unwrap().to_string();

    // v2 passes its health check but answers without the word, and leaks the token.
    app.answer("I cannot say (debug: TOKEN)");
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 3, "{v}\n{stderr}");
    let v2_digest = v["artifact"]["digest"].as_str().unwrap().to_string();
    assert_ne!(v1_digest, v2_digest);
    assert_eq!(v["health"], "passed", "the health check passed; a check did not");
    let q = check(&v, "answers a question");
    assert_eq!(q["passed"], false, "{q}");
    let reason = q["reason"].as_str().unwrap();
    assert!(reason.contains("`answer` is \"I cannot say (debug: ***)\", which does not match `*refund*`"), "{reason}");
    let body = q["body"].as_str().unwrap();
    assert!(body.contains("(debug: ***)") && !body.contains(SECRET), "the answer is shown, redacted: {body}");
    assert_eq!(check(&v, "streams")["passed"], true);
    assert_eq!(v["rolled_back"], true, "{v}");
    let failure = v["failure"].as_str().unwrap();
    assert!(
        failure.contains("`answers a question` failed") && failure.contains("rolled back: the previous release serves again"),
        "{failure}"
    );

    // What serves is v1 again: its answers, its digest, and v2 recorded as failed.
    assert_eq!(app.ask()["answer"], "Our refund policy: 30 days.");
    let (code, s, _) = app.json(&["status"]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["digest"], v1_digest.as_str(), "{s}");
    let (code, h, _) = app.json(&["history"]);
    assert_eq!(code, 0, "{h}");
    let rows = h["releases"].as_array().unwrap();
    let outcome = |digest: &str| rows.iter().find(|r| r["digest"] == digest).map(|r| r["outcome"].clone());
    assert_eq!(outcome(&v2_digest), Some(Value::from("failed")), "{h}");
    assert_eq!(outcome(&v1_digest), Some(Value::from("live")), "{h}");
}

#[test]
fn a_first_deploy_whose_check_fails_has_nothing_to_go_back_to() {
    let app = App::new("I do not know.");
    let out = app.cmd(&["deploy", "--yes"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("✗ check answers a question"), "{stderr}");
    assert!(stderr.contains("nothing to go back to"), "{stderr}");
    assert!(stderr.contains("the failing version is serving"), "{stderr}");
    assert!(stderr.contains("aideploy destroy --target local --stage dev"), "{stderr}");
    // Left as it is: the failing version answers.
    assert_eq!(app.ask()["answer"], "I do not know.");
    // `history` shows it live (it serves); the record it keeps says the deploy failed.
    let (code, h, _) = app.json(&["history"]);
    assert_eq!(code, 0, "{h}");
    assert_eq!(h["releases"][0]["outcome"], "live", "{h}");
    let record: Value = serde_json::from_str(&std::fs::read_to_string(h["recorded_in"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(record["releases"][0]["ended"], "failed", "{record}");
    assert_eq!(record["releases"][0]["digest"], h["releases"][0]["digest"], "{record}");
}
