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

/// The values written in these manifests: no message, help or label repeats them, in
/// full or in any piece that would identify them (the snippet keeps a masked copy).
#[test]
fn secret_values_are_never_echoed() {
    let home = tempfile::tempdir().unwrap();
    for (file, secrets) in [
        ("tests/manifests/secret-value-in-file.toml", &["sk-proj-Zq8vN3xK7pL2mR9tW4yB6cD1fG5hJ0"][..]),
        ("tests/manifests/secret-short-value-in-file.toml", &["hunter22"][..]),
        ("tests/manifests/secret-in-wrong-place.toml", &["sk-ant-api03-Qw7Er5Ty3Ui1Op9As8Df6Gh4"][..]),
        (
            "tests/manifests/secret-as-app-name.toml",
            &["sk-proj-Zq8vN3xK7pL2mR9tW4yB6cD1fG5hJ0", "sk-proj-zq8vn3xk7pl2mr9tw4yb6cd1fg5hj0"][..],
        ),
    ] {
        for json in [false, true] {
            let mut cmd = common::aideploy(home.path());
            cmd.args(["validate", "-C", file]);
            if json {
                cmd.arg("--json");
            }
            let out = cmd.output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{file}");
            let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            for secret in secrets {
                // Any 8 characters after the 4 a masked snippet keeps.
                for start in 4..secret.len().saturating_sub(7) {
                    let piece = &secret[start..start + 8];
                    assert!(!all.contains(piece), "{file}: `{piece}` of a secret value is printed:\n{all}");
                }
                assert!(!all.contains(&secret[..secret.len().min(8)]) || secret.len() >= 12, "{file}: short value printed:\n{all}");
            }
        }
    }
    // A value in [secrets] gets its own error naming the three ways to give one.
    let out =
        common::aideploy(home.path()).args(["validate", "--json", "-C", "tests/manifests/secret-value-in-file.toml"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &v["error"]["errors"][0];
    assert_eq!(e["code"], "aideploy::manifest::secret_value_in_file", "{v}");
    assert_eq!((e["line"].as_u64(), e["column"].as_u64()), (Some(8), Some(18)), "{v}");
    assert!(e["message"].as_str().unwrap().contains("`OPENAI_API_KEY` in [secrets]"), "{v}");
    let help = e["help"].as_str().unwrap();
    for way in
        ["$OPENAI_API_KEY", ".env", "aideploy secrets set OPENAI_API_KEY", "OPENAI_API_KEY = { env = \"VAR\" }", "OPENAI_API_KEY = {}"]
    {
        assert!(help.contains(way), "the help does not show `{way}`: {help}");
    }
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

/// One run reports every problem of the file, in file order, however serde meets them:
/// unknown keys, bad values and types, a missing key inside a table, rules across keys,
/// settings of another kind, a bad secret reference, a target without a kind.
#[test]
fn every_problem_is_reported_in_file_order() {
    let home = tempfile::tempdir().unwrap();
    let out = common::aideploy(home.path()).args(["validate", "--json", "-C", "tests/manifests/many-problems.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<(u64, &str)> = v["error"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["code"].as_str().unwrap().trim_start_matches("aideploy::manifest::")))
        .collect();
    assert_eq!(
        got,
        [
            (4, "invalid_value"),
            (6, "two_entrypoints"),
            (7, "wrong_type"),
            (8, "unknown_key"),
            (11, "env_reserved"),
            (14, "env_name"),
            (17, "out_of_range"),
            (18, "missing_key"),
            (19, "setting_kind"),
            (21, "no_kind"),
        ],
        "{v}"
    );
    assert_eq!(v["error"]["message"], "10 problems in tests/manifests/many-problems.toml", "{v}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.trim_end().ends_with("error: 10 problems in tests/manifests/many-problems.toml"), "{stderr}");

    // The commands that deploy read the manifest the same way: all ten, before anything else.
    let out = common::aideploy(home.path()).args(["plan", "-t", "local", "-C", "tests/manifests/many-problems.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let plan_stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(plan_stderr.matches("aideploy::manifest::").count(), 10, "{plan_stderr}");
    assert!(plan_stderr.contains("10 problems in tests/manifests/many-problems.toml"), "{plan_stderr}");
}

/// A problem found on disk (a missing requirements file) is reported with those in
/// the text, not after they are fixed.
#[test]
fn file_checks_join_the_other_problems() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("aideploy.toml"),
        "version = 1\n[app]\nname = \"x\"\nasgi = \"main:app\"\nrequirements = \"nope.txt\"\nport = 0\n",
    )
    .unwrap();
    let out = common::aideploy(home.path()).args(["validate", "--json", "-C"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<&str> = v["error"]["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["aideploy::manifest::missing_file", "aideploy::manifest::invalid_value"], "{v}");
}

#[test]
fn a_file_that_is_not_utf8_names_the_first_bad_byte() {
    let home = tempfile::tempdir().unwrap();
    let out = common::aideploy(home.path()).args(["validate", "--json", "-C", "tests/manifests/not-utf8.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &v["error"]["errors"][0];
    assert_eq!(e["code"], "aideploy::manifest::not_utf8", "{v}");
    assert_eq!((e["line"].as_u64(), e["column"].as_u64()), (Some(2), Some(6)), "{v}");
    assert!(e["message"].as_str().unwrap().contains("byte 0xE9 at line 2, column 6"), "{v}");
}
