//! The command line as a person and a script see it: help texts, errors with their exit
//! codes, JSON shapes. Snapshots live in tests/snapshots/.

mod common;

use common::{aideploy, transcript};

fn run(args: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    let out = aideploy(home.path()).args(args).output().unwrap();
    let text = transcript(&out);
    text.replace(&home.path().display().to_string(), "[HOME]")
}

#[test]
fn help_texts() {
    insta::assert_snapshot!("help", run(&["--help"]));
    for cmd in ["init", "up", "deploy", "plan", "build", "status", "rollback", "logs", "destroy", "validate", "schema", "completions"] {
        let text = run(&[cmd, "--help"]);
        assert!(text.contains("Examples:"), "`{cmd} --help` has no example");
        insta::assert_snapshot!(format!("help_{cmd}"), text);
    }
}

#[test]
fn commands_not_built_yet_are_absent() {
    let text = run(&["--help"]);
    for absent in ["secrets", "cost", "__local-proxy"] {
        assert!(!text.contains(&format!("\n  {absent} ")), "`{absent}` is listed but not built");
    }
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
fn cloud_kinds_say_plainly_they_are_not_supported_yet() {
    insta::assert_snapshot!(run(&["deploy", "-C", "examples/fastapi-rag", "--target", "lambda", "--yes"]));
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
        assert!(v["error"]["message"].as_str().unwrap().contains("argument") || v["error"]["message"].as_str().unwrap().contains("subcommand"), "{v}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn init_json_prints_what_it_wrote() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("svc");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("main.py"), "from fastapi import FastAPI\napp = FastAPI()\n\n@app.get(\"/healthz\")\ndef h():\n    return {}\n").unwrap();
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
    assert!(v["error"]["message"].as_str().unwrap().ends_with("is not UTF-8 text"), "{v}");
    assert!(v["error"]["help"].as_str().unwrap().contains("save it as UTF-8"), "{v}");
}

#[test]
fn a_command_app_has_no_lambda_zip() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("aideploy.toml"), "version = 1\n[app]\nname = \"plain\"\ncommand = \"python server.py\"\n").unwrap();
    std::fs::write(home.path().join("server.py"), "").unwrap();
    let out = aideploy(home.path()).current_dir(home.path()).args(["build", "--package", "zip", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["message"], "plain starts with `command`, and a Lambda zip runs only an ASGI app", "{v}");
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
