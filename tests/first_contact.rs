//! First contact (issue 13): ordinary Python apps from tests/apps, untouched, through
//! `init`, `build` and the image under Docker, as a new user would run them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common;
use crate::oci_image::Running;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `scripts/test first_contact` (it starts the registry and builds the base image)")
    })
}

/// A copy of `tests/apps/NAME` in a scratch home.
fn app(name: &str) -> (tempfile::TempDir, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(name);
    common::copy_tree(&common::root().join("tests/apps").join(name), &dir);
    (home, dir)
}

fn aideploy(home: &Path, dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = common::aideploy(home);
    common::offline(&mut cmd);
    let out = cmd.current_dir(dir).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Points the manifest's `[build]` at the test base image (a Debian with python3 in the
/// loopback registry).
fn use_test_base_image(dir: &Path) {
    let path = dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[build]\n"), "{text}");
    std::fs::write(&path, text.replace("[build]\n", &format!("[build]\nbase_image = \"{}\"\n", env("AIDEPLOY_TEST_BASE_IMAGE")))).unwrap();
}

/// `Running` publishes the container's port 8000: the app's `port` (its `$PORT` in the
/// image) moves there from the framework's own.
fn serve_on_8000(dir: &Path, from: u16) {
    let path = dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = format!("\nport = {from} ");
    assert!(text.contains(&line), "{text}");
    std::fs::write(&path, text.replace(&line, "\nport = 8000 ")).unwrap();
}

/// Builds and pushes the app's image; runs it; waits for `health` to answer.
async fn image_answers(home: &Path, dir: &Path, repo: &str, health: &str) -> (Running, reqwest::Response) {
    let registry = env("AIDEPLOY_TEST_REGISTRY");
    let mut cmd = common::aideploy(home);
    common::offline(&mut cmd);
    let out = cmd
        .current_dir(dir)
        .env("AIDEPLOY_REGISTRY", format!("{registry}/{repo}"))
        .args(["build", "--package", "image", "--push", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest = v["artifact"]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
    let app = Running::start(&registry, repo, &format!("dev-{}", &digest[..12]));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).pool_max_idle_per_host(0).build().unwrap();
    let started = Instant::now();
    let resp = loop {
        if let Ok(resp) = http.get(format!("http://127.0.0.1:{}{health}", app.port)).send().await {
            break resp;
        }
        if started.elapsed() > Duration::from_secs(60) {
            panic!("the app never answered {health} ({}):\n{}", app.how(), app.logs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    (app, resp)
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("first-contact/{prefix}-{}-{nanos}", std::process::id())
}

/// 13.1: `init` writes `command = "gunicorn ..."` for a Flask app whose requirements name
/// gunicorn; the image must hold a `gunicorn` for its own Python (the deps hold packages
/// only), so the container starts and answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flask_gunicorn_image_starts_and_answers_its_health_path() {
    let (home, dir) = app("flask-gunicorn");
    let (code, _, stderr) = aideploy(home.path(), &dir, &["init", "--yes", "--target", "cloudrun"]);
    assert_eq!(code, 0, "{stderr}");
    let manifest = std::fs::read_to_string(dir.join("aideploy.toml")).unwrap();
    assert!(manifest.contains("command = \"gunicorn --bind 0.0.0.0:$PORT main:app\""), "{manifest}");
    assert!(manifest.contains("health = \"/health\""), "{manifest}");
    use_test_base_image(&dir);

    let (app, resp) = image_answers(home.path(), &dir, &unique("flask"), "/health").await;
    assert_eq!(resp.status(), 200, "{}", app.logs());
    assert_eq!(resp.json::<Value>().await.unwrap(), serde_json::json!({"status": "ok"}));
    // gunicorn, not Flask's development server, answered.
    assert!(app.logs().contains("Booting worker"), "{}", app.logs());
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

/// 13.12: a src-layout project (`src/ragsvc/...`, pyproject only) answers from its image
/// as it does on the local target: `src/` is on the image's `PYTHONPATH`, and its deps sit
/// in a folder Python and tools treat as site-packages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_src_layout_image_imports_its_package() {
    let (home, dir) = app("src-layout");
    let (code, _, stderr) = aideploy(home.path(), &dir, &["init", "--yes", "--target", "cloudrun"]);
    assert_eq!(code, 0, "{stderr}");
    let manifest = std::fs::read_to_string(dir.join("aideploy.toml")).unwrap();
    assert!(manifest.contains("asgi = \"ragsvc.api:app\""), "{manifest}");
    use_test_base_image(&dir);

    let (app, resp) = image_answers(home.path(), &dir, &unique("src-layout"), "/health").await;
    assert_eq!(resp.status(), 200, "{}", app.logs());
    assert_eq!(resp.json::<Value>().await.unwrap(), serde_json::json!({"status": "ok", "from": "see the docs"}));
}

/// 13.1 and "Also": an untouched Streamlit app. `init` runs it under `streamlit run` on
/// `$PORT` with its own health path; the image holds a `streamlit` for its Python and the
/// deps where Python treats them as installed (else Streamlit's development mode refuses
/// `--server.port`), so the container answers `/_stcore/health`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamlit_image_starts_and_answers_its_health_path() {
    let (home, dir) = app("streamlit");
    let (code, _, stderr) = aideploy(home.path(), &dir, &["init", "--yes", "--target", "cloudrun"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Streamlit app streamlit_app.py"), "{stderr}");
    let manifest = std::fs::read_to_string(dir.join("aideploy.toml")).unwrap();
    assert!(
        manifest
            .contains("command = \"streamlit run streamlit_app.py --server.port $PORT --server.address 0.0.0.0 --server.headless true\""),
        "{manifest}"
    );
    assert!(manifest.contains("port = 8501") && manifest.contains("health = \"/_stcore/health\""), "{manifest}");
    use_test_base_image(&dir);
    serve_on_8000(&dir, 8501);

    let (app, resp) = image_answers(home.path(), &dir, &unique("streamlit"), "/_stcore/health").await;
    assert_eq!(resp.status(), 200, "{}", app.logs());
    assert_eq!(resp.text().await.unwrap(), "ok");
    assert!(!app.logs().contains("development mode"), "{}", app.logs());
}

/// 13.1 and "Also": an untouched Gradio app (`demo.launch()` with no arguments) listens
/// where GRADIO_SERVER_NAME/GRADIO_SERVER_PORT say, and its page answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gradio_image_starts_and_answers_its_page() {
    let (home, dir) = app("gradio");
    let (code, _, stderr) = aideploy(home.path(), &dir, &["init", "--yes", "--target", "cloudrun"]);
    assert_eq!(code, 0, "{stderr}");
    let manifest = std::fs::read_to_string(dir.join("aideploy.toml")).unwrap();
    assert!(manifest.contains("command = \"GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=$PORT python3 app.py\""), "{manifest}");
    assert!(manifest.contains("port = 7860") && manifest.contains("health = \"/\""), "{manifest}");
    use_test_base_image(&dir);
    serve_on_8000(&dir, 7860);

    let (app, resp) = image_answers(home.path(), &dir, &unique("gradio"), "/").await;
    assert_eq!(resp.status(), 200, "{}", app.logs());
    let page = resp.text().await.unwrap();
    assert!(page.contains("Text counter"), "the page is not the app's: {}", &page[..page.len().min(400)]);
}

/// The local target runs the same Streamlit app from what `up` (through `init --yes`)
/// wrote, answering `/_stcore/health` on the stable port.
#[test]
fn a_streamlit_app_serves_locally_from_what_init_wrote() {
    let (home, dir) = app("streamlit");
    let port = common::free_port();
    let set = format!("port={port}");
    let (code, out, stderr) = aideploy(home.path(), &dir, &["up", "--yes", "--target", "local", "--set", &set]);
    let down = || aideploy(home.path(), &dir, &["destroy", "--yes", "--target", "local", "--set", &set]);
    if code != 0 {
        down();
        panic!("{stderr}");
    }
    assert_eq!(out.trim(), format!("http://127.0.0.1:{port}"));
    let health = common::http("GET", &format!("http://127.0.0.1:{port}/_stcore/health"), None);
    let (code, _, stderr) = down();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(health.unwrap(), (200, "ok".to_string()));
}
