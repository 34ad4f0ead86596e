//! Artifacts carry no credentials: a project full of credential files (some whitelisted
//! by its own .gitignore), inside a git repository whose root .gitignore leaves more
//! out, with a .dockerignore and a .gcloudignore. The zip and the image's app layer are
//! opened and listed; `build --json` names what was left out and why.

use crate::common;

use std::io::Read;
use std::path::Path;

use serde_json::Value;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const CREDENTIAL_FILES: &[&str] = &[
    ".env",
    ".env.production",
    "app/.env.local",
    ".envrc",
    ".netrc",
    ".npmrc",
    ".pypirc",
    "certs/tls.pem",
    "certs/tls.key",
    "id_rsa",
    "keys/id_rsa.pub",
    ".aws/credentials",
    ".azure/azureProfile.json",
    ".config/gcloud/application_default_credentials.json",
    ".streamlit/secrets.toml",
    "deploy-sa.json",
];

/// repo/.git, repo/.gitignore, and the project in repo/svc.
fn project(home: &Path) -> std::path::PathBuf {
    let repo = home.join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    write(&repo, ".git/HEAD", "ref: refs/heads/main\n");
    write(&repo, ".gitignore", "*.log\n");
    let dir = repo.join("svc");
    write(
        &dir,
        "aideploy.toml",
        &format!(
            "version = 1\n\n[app]\nname = \"creds\"\nasgi = \"main:app\"\n\n[build]\nbase_image = \"{}\"\n",
            std::env::var("AIDEPLOY_TEST_BASE_IMAGE").unwrap_or_else(|_| "python:3.11-slim".into())
        ),
    );
    write(&dir, "main.py", "async def app(scope, receive, send):\n    pass\n");
    write(&dir, "app/util.py", "X = 1\n");
    write(&dir, "settings.json", "{\"type\": \"settings\"}\n");
    // The project's .gitignore tries to let credentials in: it has no say over them.
    write(&dir, ".gitignore", "!.env\n!*.pem\n!.aws/\nscratch/\n");
    write(&dir, ".dockerignore", "docs/\n");
    write(&dir, ".gcloudignore", "*.bak\n");
    write(&dir, "docs/notes.md", "notes");
    write(&dir, "old.bak", "old");
    write(&dir, "scratch/tmp.py", "");
    write(&dir, "server.log", "a log, ignored by the repository's .gitignore");
    for f in CREDENTIAL_FILES {
        let text = if f.ends_with("sa.json") {
            "{\"type\": \"service_account\", \"project_id\": \"p\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\nx\\n\"}"
        } else {
            "credential"
        };
        write(&dir, f, text);
    }
    dir
}

const KEPT: &[&str] = &[".dockerignore", ".gcloudignore", ".gitignore", "aideploy.toml", "app/util.py", "main.py", "settings.json"];

fn run(home: &Path, dir: &Path, args: &[&str]) -> Value {
    let mut cmd = common::aideploy(home);
    common::offline(&mut cmd);
    if let Ok(base) = std::env::var("AIDEPLOY_TEST_BASE_IMAGE") {
        cmd.env("AIDEPLOY_TEST_BASE_IMAGE", base);
    }
    let out = cmd.current_dir(dir).args(args).arg("--json").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_excluded_listed(v: &Value) {
    let excluded = v["excluded"].as_array().unwrap_or_else(|| panic!("no `excluded` in {v}"));
    let reason = |path: &str| {
        excluded
            .iter()
            .find(|e| e["path"] == path)
            .and_then(|e| e["reason"].as_str())
            .unwrap_or_else(|| panic!("{path} is not listed as excluded: {v}"))
            .to_string()
    };
    assert!(reason(".env").starts_with("credentials"), "{}", reason(".env"));
    assert!(reason(".aws/").starts_with("credentials"));
    assert!(reason("deploy-sa.json").contains("service-account"));
    assert_eq!(reason("docs/"), ".dockerignore: `docs/`");
    assert_eq!(reason("old.bak"), ".gcloudignore: `*.bak`");
    assert_eq!(reason("scratch/"), ".gitignore: `scratch/`");
    assert_eq!(reason("server.log"), "../.gitignore: `*.log`");
}

fn names_in_tar_gz(path: &Path) -> Vec<String> {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap());
    let mut ar = tar::Archive::new(gz);
    ar.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect()
}

#[test]
fn the_zip_carries_no_credentials() {
    let home = tempfile::tempdir().unwrap();
    let dir = project(home.path());
    let v = run(home.path(), &dir, &["build", "--package", "zip"]);
    let path = v["artifact"]["path"].as_str().unwrap();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let names: Vec<String> = (0..zip.len()).map(|i| zip.by_index(i).unwrap().name().to_string()).collect();
    for kept in KEPT {
        assert!(names.iter().any(|n| n == kept), "{kept} is missing from the zip: {names:?}");
    }
    for gone in CREDENTIAL_FILES.iter().chain(&["docs/notes.md", "old.bak", "scratch/tmp.py", "server.log"]) {
        assert!(!names.iter().any(|n| n == gone), "{gone} is in the zip: {names:?}");
    }
    let mut text = String::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        if f.name().ends_with(".py") || f.name().ends_with(".json") {
            f.read_to_string(&mut text).unwrap();
        }
    }
    assert!(!text.contains("service_account"));
    assert_excluded_listed(&v);
    // Without --json, build says how much it left out.
    let mut cmd = common::aideploy(home.path());
    common::offline(&mut cmd);
    let out = cmd.current_dir(&dir).args(["build", "--package", "zip"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let n = v["excluded"].as_array().unwrap().len();
    let credentials = v["excluded"].as_array().unwrap().iter().filter(|e| e["reason"].as_str().unwrap().starts_with("credentials")).count();
    assert!(credentials >= CREDENTIAL_FILES.len() - 2, "{v}");
    assert!(stdout.contains(&format!("left out  {n} paths, {credentials} of them credentials")), "{stdout}");
}

#[test]
fn the_image_carries_no_credentials() {
    if std::env::var_os("AIDEPLOY_TEST_BASE_IMAGE").is_none() {
        panic!("AIDEPLOY_TEST_BASE_IMAGE is not set: run the tests with `scripts/test`");
    }
    let home = tempfile::tempdir().unwrap();
    let dir = project(home.path());
    let v = run(home.path(), &dir, &["build", "--package", "image"]);
    let layers = v["artifact"]["layers"].as_array().unwrap();
    let app = layers.iter().find(|l| l["role"] == "app").unwrap_or_else(|| panic!("no app layer: {v}"));
    let hex = app["digest"].as_str().unwrap().trim_start_matches("sha256:");
    let blob = home.path().join("cache/oci/blobs/sha256").join(hex);
    let names = names_in_tar_gz(&blob);
    let in_app = |rel: &str| names.iter().any(|n| n.trim_start_matches("./").ends_with(&format!("/{rel}")));
    for kept in KEPT {
        assert!(in_app(kept), "{kept} is missing from the app layer: {names:?}");
    }
    for gone in CREDENTIAL_FILES.iter().chain(&["docs/notes.md", "old.bak", "scratch/tmp.py", "server.log"]) {
        assert!(!in_app(gone), "{gone} is in the app layer: {names:?}");
    }
    assert_excluded_listed(&v);
}

#[test]
fn a_model_dir_outside_the_project_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let dir = project(home.path());
    write(home.path(), "elsewhere/weights.bin", "w");
    let manifest = std::fs::read_to_string(dir.join("aideploy.toml")).unwrap();
    std::fs::write(
        dir.join("aideploy.toml"),
        format!("{manifest}\n[targets.sagemaker]\nregion = \"us-east-1\"\nmodel_dir = \"../../elsewhere\"\n"),
    )
    .unwrap();
    let out = common::aideploy(home.path()).current_dir(&dir).args(["build", "--target", "sagemaker"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("model_dir") && stderr.contains("outside the project folder"), "{stderr}");
    assert!(!home.path().join("cache/sagemaker").exists(), "an archive was built");
}
