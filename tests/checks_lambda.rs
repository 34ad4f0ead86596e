//! `[[checks]]` on the `lambda` target against moto. moto keeps Lambda's state but runs
//! no function, so the health check is skipped there, and so are the checks: a failing
//! check cannot be provoked, and the deploy says why the checks did not run instead of
//! calling the real API Gateway host its URL names. The alias moves as without checks
//! (read back with `status --json`).

use crate::common;

use std::path::Path;
use std::process::Output;

use serde_json::Value;

const REGION: &str = "us-east-1";

fn write_app(dir: &Path, name: &str, answer: &str) {
    let manifest = format!(
        r#"version = 1
[app]
name = "{name}"
runtime = "python3.11"
asgi = "main:app"
health = "/health"
[targets.lambda]
region = "{REGION}"
memory = 256
public = true
[[checks]]
name = "answers"
method = "POST"
path = "/query"
json = {{ question = "refunds?" }}
expect_json = {{ "answer" = "*refund*" }}
"#
    );
    std::fs::write(dir.join("aideploy.toml"), manifest).unwrap();
    let code = format!(
        "import json\nasync def app(scope, receive, send):\n    await send({{'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'application/json')]}})\n    await send({{'type': 'http.response.body', 'body': json.dumps({{'answer': {answer:?}}}).encode()}})\n"
    );
    std::fs::write(dir.join("main.py"), code).unwrap();
    std::fs::write(dir.join("requirements.txt"), "").unwrap();
}

fn run(home: &Path, project: &Path, args: &[&str]) -> Output {
    let moto = std::env::var("AIDEPLOY_TEST_MOTO").expect("AIDEPLOY_TEST_MOTO is not set: run with `scripts/test` (it starts moto)");
    let mut c = common::aideploy(home);
    c.current_dir(project)
        .env("AWS_ENDPOINT_URL", moto)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .args(args);
    common::offline(&mut c);
    c.output().unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("stdout is not JSON ({e}): {}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

#[test]
fn on_moto_lambda_checks_are_skipped_and_say_why() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let name = format!("chk-{}", std::process::id());
    write_app(p, &name, "Our refund policy: 30 days.");
    let out = run(home.path(), p, &["deploy", "--target", "lambda", "--yes", "--json"]);
    let v1 = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v1}");

    // v2 would fail its check; moto cannot run it, so nothing checks it.
    write_app(p, &name, "I do not know.");
    let out = run(home.path(), p, &["deploy", "--target", "lambda", "--yes", "--json"]);
    let v2 = json(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{v2}\n{stderr}");
    assert_eq!(v2["health"], "skipped");
    assert!(v2.get("checks").is_none() && v2.get("rolled_back").is_none(), "{v2}");
    let why = v2["checks_skipped"].as_str().unwrap();
    assert!(why.contains("health check of this deploy was skipped"), "{why}");
    assert!(stderr.contains("checks: skipped:") && stderr.contains("1 check(s) not run"), "{stderr}");

    let out = run(home.path(), p, &["status", "--target", "lambda", "--json"]);
    let s = json(&out);
    assert_eq!(s["digest"], v2["artifact"]["digest"], "the alias moved to v2: {s}");
    assert_ne!(s["digest"], v1["artifact"]["digest"]);
    let out = run(home.path(), p, &["destroy", "--target", "lambda", "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}
