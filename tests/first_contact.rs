//! First contact (issue 13): ordinary Python apps from tests/apps, untouched, as a new
//! user would run them. The helpers here serve app_pass.rs too, which takes every app
//! through `init`, the local target and its image under Docker; this file keeps the
//! checks that pass does not make.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common;

pub(crate) fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `scripts/test first_contact` (it starts the registry and builds the base image)")
    })
}

/// A copy of `tests/apps/NAME` in a scratch home.
pub(crate) fn app(name: &str) -> (tempfile::TempDir, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(name);
    common::copy_tree(&common::root().join("tests/apps").join(name), &dir);
    (home, dir)
}

pub(crate) fn aideploy(home: &Path, dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = common::aideploy(home);
    common::offline(&mut cmd);
    let out = cmd.current_dir(dir).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Points the manifest's `[build]` at the test base image (a Debian with python3 in the
/// loopback registry).
pub(crate) fn use_test_base_image(dir: &Path) {
    let path = dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[build]\n"), "{text}");
    std::fs::write(&path, text.replace("[build]\n", &format!("[build]\nbase_image = \"{}\"\n", env("AIDEPLOY_TEST_BASE_IMAGE")))).unwrap();
}

/// 13.2: requirements next to the app (`app/main.py` + `app/requirements.txt`) are the
/// ones init writes, so the Lambda zip holds fastapi; `validate` and `build` warn when
/// the entry point imports a module no requirement names.
#[test]
fn init_finds_requirements_next_to_the_app_and_validate_warns_about_unlisted_imports() {
    let (home, dir) = app("fastapi-in-folder");
    let (code, _, stderr) = aideploy(home.path(), &dir, &["init", "--yes", "--target", "lambda"]);
    assert_eq!(code, 0, "{stderr}");
    let manifest = std::fs::read_to_string(dir.join("aideploy.toml")).unwrap();
    assert!(manifest.contains("asgi = \"app.main:app\""), "{manifest}");
    assert!(manifest.contains("\nrequirements = \"app/requirements.txt\"\n"), "{manifest}");

    let (code, out, stderr) = aideploy(home.path(), &dir, &["validate", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["warnings"], serde_json::json!([]), "{v}");

    // The zip holds what app/requirements.txt names.
    let (code, out, stderr) = aideploy(home.path(), &dir, &["build", "--target", "lambda", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let zip = zip::ZipArchive::new(std::fs::File::open(v["artifact"]["path"].as_str().unwrap()).unwrap()).unwrap();
    let names: Vec<&str> = zip.file_names().collect();
    assert!(names.contains(&"fastapi/__init__.py"), "fastapi is not in the zip");
    assert!(names.contains(&"app/main.py"));

    // Without the requirements line, the default (a requirements.txt next to the
    // manifest) names nothing: validate and build say which import is missing.
    std::fs::write(dir.join("aideploy.toml"), manifest.replace("\nrequirements = \"app/requirements.txt\"\n", "\n")).unwrap();
    let (code, _, stderr) = aideploy(home.path(), &dir, &["validate"]);
    assert_eq!(code, 0, "a warning, not an error: {stderr}");
    assert!(stderr.contains("app/main.py imports `fastapi`"), "{stderr}");
    assert!(stderr.contains("set `requirements` in [app]"), "{stderr}");
    let (_, out, _) = aideploy(home.path(), &dir, &["validate", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["warnings"].as_array().map(Vec::len), Some(1), "{v}");
    let (_, _, stderr) = aideploy(home.path(), &dir, &["build", "--target", "lambda", "--json"]);
    assert!(stderr.contains("app/main.py imports `fastapi`"), "{stderr}");
}
