//! The command line as a person and a script see it: help texts, errors with their exit
//! codes, JSON shapes. Snapshots live in tests/snapshots/.

use crate::common;

use common::{aideploy, transcript};

fn run(args: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    let out = aideploy(home.path()).args(args).output().unwrap();
    let text = transcript(&out);
    without_durations(&text.replace(&home.path().display().to_string(), "[HOME]"))
}

/// `✓ step (12ms)` becomes `✓ step ([TIME])`: how long a step took varies by run.
fn without_durations(text: &str) -> String {
    let lines = text.split_inclusive('\n').map(|line| match (line.trim_start().starts_with("✓ "), line.rfind(" (")) {
        (true, Some(i)) if line.trim_end().ends_with(')') => format!("{} ([TIME]){}", &line[..i], &line[line.trim_end().len()..]),
        _ => line.to_string(),
    });
    lines.collect()
}

#[test]
fn help_texts() {
    insta::assert_snapshot!("help", run(&["--help"]));
    for cmd in [
        "init",
        "up",
        "deploy",
        "plan",
        "build",
        "status",
        "rollback",
        "logs",
        "destroy",
        "gc",
        "secrets",
        "cost",
        "ci",
        "validate",
        "schema",
        "completions",
    ] {
        let text = run(&[cmd, "--help"]);
        assert!(text.contains("Examples:"), "`{cmd} --help` has no example");
        insta::assert_snapshot!(format!("help_{cmd}"), text);
    }
}

#[test]
fn commands_not_built_yet_are_absent() {
    let text = run(&["--help"]);
    for built in ["ci", "gc"] {
        assert!(text.contains(&format!("\n  {built} ")), "`{built}` is built: it belongs in --help");
    }
    // The proxy is internal.
    assert!(!text.contains("\n  __local-proxy "), "the internal proxy is listed");
}

#[test]
fn no_manifest_names_init() {
    let home = tempfile::tempdir().unwrap();
    let out = aideploy(home.path()).current_dir(home.path()).arg("validate").output().unwrap();
    insta::assert_snapshot!(transcript(&out));
}

#[test]
fn unknown_target_suggests_the_closest() {
    insta::assert_snapshot!(run(&["plan", "-C", "examples/fastapi-rag", "--target", "locl"]));
}

#[test]
fn several_targets_need_a_choice() {
    insta::assert_snapshot!(run(&["plan", "-C", "examples/fastapi-rag"]));
}

#[test]
fn set_is_checked_like_the_file() {
    insta::assert_snapshot!("set_unknown_key", run(&["plan", "-C", "examples/fastapi-rag", "-t", "local", "--set", "prot=9000"]));
    insta::assert_snapshot!("set_bad_value", run(&["plan", "-C", "examples/fastapi-rag", "-t", "local", "--set", "port=0"]));
    insta::assert_snapshot!("set_wrong_kind", run(&["plan", "-C", "examples/fastapi-rag", "-t", "local", "--set", "memory=2048"]));
    insta::assert_snapshot!("set_not_key_value", run(&["plan", "-C", "examples/fastapi-rag", "-t", "local", "--set", "port"]));
}

#[test]
fn bad_stage_is_a_usage_error() {
    insta::assert_snapshot!(run(&["status", "-C", "examples/fastapi-rag", "-t", "local", "--stage", "Prod!"]));
}

#[test]
fn a_ttl_needs_a_preview_stage() {
    // The default stage is the app's main one: refused (exit 2, naming --stage) before
    // anything is built or read; so is a time to live of nothing.
    for args in [
        &["deploy", "-C", "examples/fastapi-rag", "-t", "local", "--ttl", "72h"][..],
        &["plan", "-C", "examples/fastapi-rag", "-t", "local", "--ttl", "72h", "--stage", "dev"][..],
    ] {
        let text = run(args);
        assert!(text.starts_with("exit: 2\n") && text.contains("--stage pr-42 --ttl 72h"), "{text}");
    }
    let text = run(&["deploy", "-C", "examples/fastapi-rag", "-t", "local", "--stage", "pr-1", "--ttl", "0m"]);
    assert!(text.starts_with("exit: 2\n") && text.contains("above zero"), "{text}");
}

#[test]
fn clap_usage_errors_exit_2() {
    let text = run(&["deploy", "--frobnicate"]);
    assert!(text.starts_with("exit: 2\n"), "{text}");
}

#[test]
fn clap_usage_errors_with_json_print_one_json_object() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["status", "--json", "--target", "local", "--target", "lambda"][..],
        &["deploy", "--json", "--frobnicate"],
        &["--json", "nosuchcommand"],
    ] {
        let out = aideploy(home.path()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {out:?}"));
        assert_eq!(v["error"]["exit_code"], 2, "{args:?}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("argument") || v["error"]["message"].as_str().unwrap().contains("subcommand"),
            "{v}"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn init_json_prints_what_it_wrote() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("svc");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("main.py"),
        "from fastapi import FastAPI\napp = FastAPI()\n\n@app.get(\"/healthz\")\ndef h():\n    return {}\n",
    )
    .unwrap();
    let out = aideploy(home.path()).current_dir(&dir).args(["init", "--target", "local", "--yes", "--json"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!(v["app"], "svc");
    assert_eq!(v["target"], "local");
    assert_eq!(v["entry"], "ASGI app main:app");
    assert_eq!(v["health"], "/healthz");
    assert_eq!(v["manifest"], "aideploy.toml");
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let home = tempfile::tempdir().unwrap();
    for args in [&["completions", "bash"][..], &["schema"], &["--help"]] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("aideploy"))
            .env("HOME", home.path())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn a_manifest_that_is_not_utf8_is_a_manifest_error() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("aideploy.toml");
    std::fs::write(&path, b"version = 1\n[app]\nname = \"caf\xe9\"\n").unwrap();
    let out = aideploy(home.path()).args(["validate", "--json", "-C"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &v["error"]["errors"][0];
    assert_eq!(e["code"], "aideploy::manifest::not_utf8", "{v}");
    assert_eq!((e["line"].as_u64(), e["column"].as_u64()), (Some(3), Some(12)), "{v}");
    assert!(e["message"].as_str().unwrap().ends_with("is not UTF-8: byte 0xE9 at line 3, column 12"), "{v}");
    assert!(e["help"].as_str().unwrap().contains("save the file as UTF-8"), "{v}");
}

#[test]
fn a_command_app_has_no_lambda_zip() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("aideploy.toml"), "version = 1\n[app]\nname = \"plain\"\ncommand = \"python server.py\"\n").unwrap();
    std::fs::write(home.path().join("server.py"), "").unwrap();
    let out = aideploy(home.path()).current_dir(home.path()).args(["build", "--package", "zip", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["error"]["message"],
        "`command = \"python server.py\"` starts a server of its own, and a Lambda zip runs an ASGI or WSGI app in-process",
        "{v}"
    );
    assert!(v["error"]["help"].as_str().unwrap().contains("--package image"), "{v}");
}

#[test]
fn validate_json() {
    insta::assert_snapshot!(run(&["validate", "--json", "-C", "examples/fastapi-rag"]));
}

#[test]
fn status_of_nothing_deployed() {
    insta::assert_snapshot!("status_not_deployed", run(&["status", "-C", "examples/fastapi-rag", "-t", "local"]));
    let json = run(&["status", "--json", "-C", "examples/fastapi-rag", "-t", "local"]);
    insta::assert_snapshot!("status_not_deployed_json", json);
}

#[test]
fn destroy_of_nothing_deployed() {
    insta::assert_snapshot!(run(&["destroy", "-C", "examples/fastapi-rag", "-t", "local"]));
}

#[test]
fn schema_is_json_schema_for_the_manifest() {
    let home = tempfile::tempdir().unwrap();
    let out = aideploy(home.path()).arg("schema").output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["title"], "aideploy.toml");
    assert!(v["$schema"].as_str().unwrap().contains("json-schema.org"));
    for key in ["version", "app", "build", "env", "secrets", "targets"] {
        assert!(v["properties"].get(key).is_some(), "schema lacks `{key}`");
    }
    assert_eq!(v["additionalProperties"], false);
    let s = serde_json::to_string(&v).unwrap();
    for setting in ["health_timeout", "instance_type", "rate_limit", "min_instances"] {
        assert!(s.contains(setting), "schema lacks target setting `{setting}`");
    }
}

#[test]
fn init_asks_for_name_and_target_at_a_terminal() {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    // `script` gives aideploy a real pseudo-terminal; keys are typed once each prompt shows.
    let home = tempfile::tempdir().unwrap();
    let app = home.path().join("My App");
    common::copy_tree(&common::root().join("examples/fastapi-rag/app"), &app.join("app"));
    std::fs::copy(common::root().join("examples/fastapi-rag/requirements.txt"), app.join("requirements.txt")).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("aideploy");
    let mut child = std::process::Command::new("script")
        .args(["-qec", &format!("{} init", bin.display()), "/dev/null"])
        .current_dir(&app)
        .env_remove("CI")
        .env("HOME", home.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let screen = Arc::new(Mutex::new(String::new()));
    let mut out = child.stdout.take().unwrap();
    let sink = screen.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let wait_for = |text: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !screen.lock().unwrap().contains(text) {
            assert!(std::time::Instant::now() < deadline, "no `{text}` on the screen:\n{}", screen.lock().unwrap());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let mut keys = child.stdin.take().unwrap();
    wait_for("App name");
    keys.write_all(b"chat-bot\r").unwrap();
    wait_for("render");
    std::thread::sleep(std::time::Duration::from_millis(300));
    keys.write_all(b"\x1b[B\r").unwrap();
    wait_for("Wrote");
    drop(keys);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success(), "{}", screen.lock().unwrap());
    let manifest = std::fs::read_to_string(app.join("aideploy.toml")).unwrap();
    assert!(manifest.contains("name = \"chat-bot\""), "{manifest}");
    assert!(manifest.contains("[targets.lambda]"), "the second choice was picked: {manifest}");
    assert!(manifest.contains("asgi = \"app.main:app\""), "{manifest}");
}

#[test]
fn init_without_a_terminal_needs_target() {
    let home = tempfile::tempdir().unwrap();
    common::copy_tree(&common::root().join("examples/fastapi-rag/app"), &home.path().join("app"));
    let out = aideploy(home.path()).current_dir(home.path()).arg("init").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pass --target"), "{stderr}");
    assert!(!home.path().join("aideploy.toml").exists());
}

/// `status` without `--target`: every target of the manifest, one row each, read at once;
/// a target that cannot be read (no cloud credentials here) says why, the others still
/// show, and the exit code is the worst row's (2: a missing login).
#[test]
fn status_without_a_target_shows_every_target() {
    let home = tempfile::tempdir().unwrap();
    let out = aideploy(home.path()).args(["status", "--json", "-C", "examples/fastapi-rag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", transcript(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", transcript(&out)));
    assert_eq!(v["app"], "fastapi-rag");
    let rows = v["targets"].as_array().unwrap();
    let mut names: Vec<&str> = rows.iter().map(|t| t["target"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["cloudrun", "lambda", "local"]);
    let row = |name: &str| rows.iter().find(|t| t["target"] == name).unwrap();
    assert_eq!(row("local")["deployed"], false, "{}", row("local"));
    assert!(row("local").get("error").is_none());
    let lambda = row("lambda")["error"].as_str().unwrap_or_else(|| panic!("{}", row("lambda")));
    assert!(lambda.contains("AWS credentials"), "{lambda}");
    assert_eq!(row("lambda")["kind"], "lambda");
    let cloudrun = row("cloudrun")["error"].as_str().unwrap_or_else(|| panic!("{}", row("cloudrun")));
    // The first thing missing here is the project (no gcloud configuration): named with its fix.
    assert!(cloudrun.contains("no Google Cloud project") && cloudrun.contains("gcloud config set project"), "{cloudrun}");

    // The table: a header and a row per target.
    let out = aideploy(home.path()).args(["status", "-C", "examples/fastapi-rag"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{}", transcript(&out));
    assert!(lines[0].starts_with("TARGET") && lines[0].contains("STATE"), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("local") && l.contains("not deployed")), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("lambda") && l.contains("unreadable: ")), "{text}");
    assert_eq!(out.status.code(), Some(2));
}
