//! `aideploy schema` is as strict as `validate` where a schema can say the rule: every
//! broken manifest in tests/manifests/ is rejected by the schema too, except the ones
//! listed in `ONLY_VALIDATE` (with why), and every good manifest is accepted. The
//! schema runs in Python's `jsonschema` from the test tools' virtualenv
//! (scripts/setup/tools.sh), on the manifests converted to JSON with the `toml` crate.

use crate::common;

use std::path::{Path, PathBuf};

/// Broken manifests whose problem no JSON Schema can state. A new corpus file the
/// schema accepts fails the test until it is fixed in the schema or listed here.
const ONLY_VALIDATE: &[(&str, &str)] = &[
    // Not TOML, or not TOML the schema ever sees: the file does not parse.
    ("syntax-error.toml", "a TOML syntax error: no document to check"),
    ("duplicate-key.toml", "a key written twice is a TOML error, not a document"),
    ("not-utf8.toml", "not UTF-8: no TOML document"),
    ("port-too-large.toml", "an integer beyond TOML's 64 bits: no TOML document"),
    // Needs the file system.
    ("missing-requirements.toml", "whether the requirements file exists"),
    // Needs more than the document's shape.
    ("env-and-secret.toml", "a name in both [env] and [secrets]: a rule across two tables' keys"),
    ("lambda-snapstart-old-runtime.toml", "SnapStart on a runtime before python3.12: a rule across [app] and a target"),
    ("secret-in-env.toml", "a value that looks like a credential (aideploy's detector)"),
    ("password-url-in-env.toml", "a URL with a password in it (aideploy's detector)"),
    ("secret-name-in-env.toml", "a variable whose name says it is a credential (aideploy's detector)"),
    ("check-duplicate-name.toml", "two [[checks]] of one name: uniqueness of one field across array items"),
];

/// The manifests that must pass: the examples, any checked-in test app's manifest.
fn good_manifests() -> Vec<PathBuf> {
    let root = common::root();
    let mut out = Vec::new();
    for folder in ["examples", "tests/apps"] {
        let Ok(entries) = std::fs::read_dir(root.join(folder)) else { continue };
        for entry in entries.flatten() {
            let manifest = entry.path().join("aideploy.toml");
            if manifest.is_file() {
                out.push(manifest);
            }
        }
    }
    out.sort();
    out
}

fn corpus() -> Vec<PathBuf> {
    let dir = common::root().join("tests/manifests");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
    files.sort();
    files
}

/// The manifest as the JSON document an editor's schema checker sees, or why there is none.
fn as_json(path: &Path) -> Result<serde_json::Value, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let text = String::from_utf8(bytes).map_err(|e| e.to_string())?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| e.message().to_string())?;
    serde_json::to_value(table).map_err(|e| e.to_string())
}

fn python() -> PathBuf {
    let home = std::env::var_os("AIDEPLOY_TEST_HOME")
        .expect("AIDEPLOY_TEST_HOME is not set: run the tests with `scripts/test` (it installs jsonschema in the test tools)");
    PathBuf::from(home).join("tools/bin/python")
}

/// Validates each document against the schema; the problems found, per document.
fn schema_problems(schema: &serde_json::Value, docs: &[serde_json::Value]) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schema.json"), schema.to_string()).unwrap();
    std::fs::write(dir.path().join("docs.json"), serde_json::Value::Array(docs.to_vec()).to_string()).unwrap();
    let script = r#"
import json, sys
from jsonschema import validators
schema = json.load(open(sys.argv[1]))
cls = validators.validator_for(schema)
cls.check_schema(schema)
v = cls(schema)
out = [[f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(doc)] for doc in json.load(open(sys.argv[2]))]
print(json.dumps(out))
"#;
    let out = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(dir.path().join("schema.json"))
        .arg(dir.path().join("docs.json"))
        .output()
        .expect("the test tools' python (scripts/setup/tools.sh)");
    assert!(out.status.success(), "jsonschema failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn schema() -> serde_json::Value {
    let home = tempfile::tempdir().unwrap();
    let out = common::aideploy(home.path()).arg("schema").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_schema_rejects_what_validate_rejects_and_accepts_good_manifests() {
    let schema = schema();
    let home = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();

    // Every corpus file is one `validate` rejects (tests/manifest_errors.rs checks how).
    let mut checked = Vec::new();
    for file in corpus() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let out = common::aideploy(home.path()).args(["validate", "-C"]).arg(&file).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: validate accepts it; the corpus holds broken manifests only");
        let listed = ONLY_VALIDATE.iter().any(|(f, _)| *f == name);
        match as_json(&file) {
            Ok(doc) => checked.push((name, listed, doc)),
            Err(why) if listed => eprintln!("{name}: no document ({why})"),
            Err(why) => failures.push(format!("{name}: not a TOML document ({why}): list it in ONLY_VALIDATE")),
        }
    }
    let docs: Vec<_> = checked.iter().map(|(_, _, d)| d.clone()).collect();
    for ((name, listed, _), problems) in checked.iter().zip(schema_problems(&schema, &docs)) {
        match (problems.is_empty(), listed) {
            (true, false) => failures.push(format!("{name}: validate rejects it, the schema accepts it")),
            (false, true) => failures.push(format!("{name}: the schema rejects it ({problems:?}): take it off ONLY_VALIDATE")),
            _ => {}
        }
    }
    for (listed, _) in ONLY_VALIDATE {
        if !common::root().join("tests/manifests").join(listed).is_file() {
            failures.push(format!("ONLY_VALIDATE names {listed}, which is not in tests/manifests/"));
        }
    }

    let good = good_manifests();
    assert!(good.len() >= 3, "expected the examples' manifests, found {good:?}");
    let docs: Vec<_> = good.iter().map(|p| as_json(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).collect();
    for (path, problems) in good.iter().zip(schema_problems(&schema, &docs)) {
        let out = common::aideploy(home.path()).args(["validate", "-C"]).arg(path).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
        if !problems.is_empty() {
            failures.push(format!("{}: a good manifest, rejected by the schema: {problems:?}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Good manifests that use what the examples do not: every target kind with its own
/// settings, a target named after a kind, one with `kind`, a `command` app. Each is
/// valid to `validate` and to the schema; and the same text with one setting moved to a
/// kind that does not take it is refused by both.
#[test]
fn per_kind_settings_agree_with_validate() {
    let schema = schema();
    let home = tempfile::tempdir().unwrap();
    let good = r#"version = 1
[app]
name = "kinds"
command = "python server.py"
port = 9000
[env]
LOG_LEVEL = "info"
[secrets]
TOKEN = { env = "MY_TOKEN", optional = true }
[targets.lambda]
region = "us-east-1"
memory = 10240
timeout = 900
rate_limit = { rps = 10, burst = 20 }
[targets.gpu]
kind = "ec2"
instance_type = "g5.xlarge"
allow_cidrs = ["10.0.0.0/8", "2001:db8::/32"]
health_timeout = 3600
[targets.run]
kind = "cloudrun"
memory = "2Gi"
cpu = 2.0
[targets.render]
pull_username = "bot"
pull_password_secret = "PULL_TOKEN"
"#;
    let mut texts = vec![("good".to_string(), good.to_string())];
    texts.push(("instance_type on lambda".into(), good.replace("timeout = 900\n", "timeout = 900\ninstance_type = \"x\"\n")));
    texts.push(("cpu on ec2".into(), good.replace("instance_type = \"g5.xlarge\"\n", "instance_type = \"g5.xlarge\"\ncpu = 2.0\n")));
    texts.push(("lambda memory over 10240".into(), good.replace("memory = 10240", "memory = 10241")));
    texts.push(("lambda timeout over 900".into(), good.replace("timeout = 900", "timeout = 901")));
    texts.push(("health_timeout over 3600".into(), good.replace("health_timeout = 3600", "health_timeout = 3601")));
    texts.push(("target without kind".into(), good.replace("kind = \"cloudrun\"\n", "")));
    texts.push(("both asgi and command".into(), good.replace("port = 9000", "port = 9000\nasgi = \"main:app\"")));
    texts.push(("AIDEPLOY_ variable in [env]".into(), good.replace("LOG_LEVEL", "AIDEPLOY_X")));
    texts.push(("bad secret reference".into(), good.replace("MY_TOKEN", "MY-TOKEN")));
    texts.push(("unknown kind".into(), good.replace("kind = \"ec2\"", "kind = \"ec3\"")));
    texts.push(("bad target name".into(), good.replace("[targets.run]", "[targets.Run]")));

    let dir = tempfile::tempdir().unwrap();
    let mut docs = Vec::new();
    for (label, text) in &texts {
        let path = dir.path().join("aideploy.toml");
        std::fs::write(&path, text).unwrap();
        let out = common::aideploy(home.path()).args(["validate", "-C"]).arg(&path).output().unwrap();
        let want = if label == "good" { 0 } else { 2 };
        assert_eq!(out.status.code(), Some(want), "{label}: validate said {}", String::from_utf8_lossy(&out.stderr));
        docs.push(serde_json::to_value(toml::from_str::<toml::Table>(text).unwrap()).unwrap());
    }
    for ((label, _), problems) in texts.iter().zip(schema_problems(&schema, &docs)) {
        if label == "good" {
            assert!(problems.is_empty(), "the schema rejects the good manifest: {problems:?}");
        } else {
            assert!(!problems.is_empty(), "{label}: the schema accepts it");
        }
    }
}

/// `[[checks]]` as the README shows them pass both; each broken variant fails both.
#[test]
fn checks_agree_with_validate() {
    let schema = schema();
    let home = tempfile::tempdir().unwrap();
    let good = r#"version = 1
[app]
name = "checked"
command = "python server.py"
[[checks]]
name = "answers a question"
method = "POST"
path = "/query"
json = { question = "What is our refund policy?" }
headers = { "x-test" = "1" }
expect_status = 200
expect_json = { "answer" = "*refund*", "sources.0.id" = 3 }
expect_body = "*refund*"
max_latency_ms = 4000
[[checks]]
name = "streams"
path = "/chat/stream?q=hi"
stream = true
max_first_byte_ms = 1500
min_events = 3
"#;
    let texts = [
        ("good", good.to_string()),
        ("unknown method", good.replace("\"POST\"", "\"FETCH\"")),
        ("path without /", good.replace("\"/query\"", "\"query\"")),
        ("json and body", good.replace("max_latency_ms = 4000", "max_latency_ms = 4000\nbody = \"x\"")),
        ("status out of range", good.replace("expect_status = 200", "expect_status = 700")),
        ("zero latency", good.replace("max_latency_ms = 4000", "max_latency_ms = 0")),
        ("min_events without stream", good.replace("stream = true\n", "")),
        ("max_first_byte_ms with stream = false", good.replace("stream = true", "stream = false")),
        ("unknown key", good.replace("expect_body", "expect_bdy")),
        ("empty name", good.replace("\"streams\"", "\"\"")),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut docs = Vec::new();
    for (label, text) in &texts {
        let path = dir.path().join("aideploy.toml");
        std::fs::write(&path, text).unwrap();
        let out = common::aideploy(home.path()).args(["validate", "-C"]).arg(&path).output().unwrap();
        let want = if *label == "good" { 0 } else { 2 };
        assert_eq!(out.status.code(), Some(want), "{label}: validate said {}", String::from_utf8_lossy(&out.stderr));
        docs.push(serde_json::to_value(toml::from_str::<toml::Table>(text).unwrap()).unwrap());
    }
    for ((label, _), problems) in texts.iter().zip(schema_problems(&schema, &docs)) {
        if *label == "good" {
            assert!(problems.is_empty(), "the schema rejects the good manifest: {problems:?}");
        } else {
            assert!(!problems.is_empty(), "{label}: the schema accepts it");
        }
    }
}
