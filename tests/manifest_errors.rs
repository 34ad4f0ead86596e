//! Every file in tests/manifests/ is a broken manifest; its `.stderr` next to it is the
//! exact diagnostic `aideploy validate` must print (exit code 2, nothing on stdout).
//! `AIDEPLOY_BLESS=1 cargo test --test integration manifest_errors` rewrites the golden files.

use crate::common;

use std::path::Path;

#[test]
fn broken_manifests_get_their_golden_errors() {
    let home = tempfile::tempdir().unwrap();
    let dir = common::root().join("tests/manifests");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
    files.sort();
    assert!(files.len() >= 15, "expected at least 15 broken manifests, found {}", files.len());
    let bless = std::env::var_os("AIDEPLOY_BLESS").is_some();
    let mut failures = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(common::root()).unwrap();
        let out = common::aideploy(home.path()).args(["validate", "-C"]).arg(rel).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        if out.status.code() != Some(2) {
            failures.push(format!("{}: exit {:?}, expected 2", rel.display(), out.status.code()));
        }
        if !out.stdout.is_empty() {
            failures.push(format!("{}: printed on stdout", rel.display()));
        }
        if stderr.contains("panicked") {
            failures.push(format!("{}: panicked", rel.display()));
        }
        let golden = file.with_extension("stderr");
        if bless {
            std::fs::write(&golden, &stderr).unwrap();
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == stderr => {}
            Ok(want) => failures.push(format!("{}: stderr differs\n--- want\n{want}--- got\n{stderr}", rel.display())),
            Err(_) => failures.push(format!("{}: no golden file {}", rel.display(), golden.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn json_errors_give_line_and_column() {
    let home = tempfile::tempdir().unwrap();
    let out = common::aideploy(home.path()).args(["validate", "--json", "-C", "tests/manifests/unknown-key-app.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &v["error"]["errors"][0];
    assert_eq!(e["code"], "aideploy::manifest::unknown_key");
    assert_eq!(e["line"], 4);
    assert_eq!(e["column"], 1);
    assert_eq!(e["help"], "did you mean `name`?");
    assert!(Path::new(e["file"].as_str().unwrap()).ends_with("unknown-key-app.toml"));
}
