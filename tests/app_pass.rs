//! The new-user pass (issue 13, "Also"): every app under tests/apps, untouched, through
//! what a new user runs: `init --yes`, `up --target local` (answers its health path),
//! `build --package image --push`, and the image under Docker answering its health path.
//! One table, one test; the apps run side by side (three at a time: builds are mostly
//! gzip and installs, containers mostly wait), the slowest first, and each app builds its
//! image once.

use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common;
use crate::first_contact::{aideploy, app, env, use_test_base_image};

/// One app of the pass.
struct Case {
    /// The folder under tests/apps.
    dir: &'static str,
    /// Lines `init --yes` must write into the manifest.
    manifest: &'static [&'static str],
    /// What the health path's answer holds (locally and from the image).
    body: &'static str,
    /// A request the app must also answer from its image: method, path, body, what the
    /// answer holds.
    also: Option<(&'static str, &'static str, &'static str, &'static str)>,
    /// What the container's log holds, and what it must not.
    logs: &'static [&'static str],
    not_in_logs: &'static [&'static str],
    /// Whether `up --target local` and the image run (false: init only, see `chainlit`).
    serve: bool,
    /// Whether `up --target local` runs too (false: the image only, see `gradio`).
    local: bool,
}

const CASES: &[Case] = &[
    // Streamlit: its own health path and port; the deps where Python treats them as
    // installed, else its development mode refuses --server.port (13.12).
    Case {
        dir: "streamlit",
        manifest: &[
            "command = \"streamlit run streamlit_app.py --server.port $PORT --server.address 0.0.0.0 --server.headless true\"",
            "port = 8501",
            "health = \"/_stcore/health\"",
        ],
        body: "ok",
        also: None,
        logs: &[],
        not_in_logs: &["development mode"],
        serve: true,
        local: true,
    },
    // Gradio: `demo.launch()` with no arguments listens where GRADIO_SERVER_* say.
    Case {
        dir: "gradio",
        manifest: &["command = \"GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=$PORT python3 app.py\"", "port = 7860", "health = \"/\""],
        body: "Text counter",
        also: None,
        logs: &[],
        not_in_logs: &[],
        serve: true,
        // Importing gradio takes most of a minute on a loaded 2-core machine: past the
        // local health gate's 60 s. The image run below waits up to 90 s.
        local: false,
    },
    // A FastAPI app in a package, its requirements next to it (13.2).
    Case {
        dir: "fastapi-in-folder",
        manifest: &["asgi = \"app.main:app\"", "requirements = \"app/requirements.txt\"", "health = \"/health\""],
        body: "\"status\":\"ok\"",
        also: Some(("GET", "/items/7?q=x", "", "\"item_id\":7")),
        logs: &[],
        not_in_logs: &[],
        serve: true,
        local: true,
    },
    // Flask under gunicorn (13.1: the image holds a `gunicorn` for its own Python).
    Case {
        dir: "flask-gunicorn",
        manifest: &["command = \"gunicorn --bind 0.0.0.0:$PORT main:app\"", "health = \"/health\""],
        body: "\"status\":\"ok\"",
        also: Some(("GET", "/", "", "Hello World!")),
        logs: &["Booting worker"],
        not_in_logs: &[],
        serve: true,
        local: true,
    },
    // Django (startproject layout, no database) under gunicorn; its health route is in urls.py.
    Case {
        dir: "django",
        manifest: &["command = \"gunicorn --bind 0.0.0.0:$PORT mysite.wsgi:application\"", "health = \"/healthz/\""],
        body: "\"status\": \"ok\"",
        also: Some(("GET", "/summarize/?text=one+two+three", "", "\"words\": 3")),
        logs: &["Booting worker"],
        not_in_logs: &[],
        serve: true,
        local: true,
    },
    // A standard-library server that reads $PORT: no requirements at all.
    Case {
        dir: "command-server",
        manifest: &["command = \"python3 server.py\"", "port = 8080"],
        body: "\"status\": \"ok\"",
        also: Some(("GET", "/echo/hi", "", "\"echo\": \"hi\"")),
        logs: &["listening on 8080"],
        not_in_logs: &[],
        serve: true,
        local: true,
    },
    // Dependencies only in pyproject.toml (PEP 621), no requirements.txt.
    Case {
        dir: "pyproject-only",
        manifest: &["asgi = \"app:app\"", "requirements = \"pyproject.toml\"", "health = \"/healthz\""],
        body: "\"dim\":16",
        also: Some(("POST", "/embed", "{\"texts\": [\"a b\"]}", "\"vectors\"")),
        logs: &[],
        not_in_logs: &[],
        serve: true,
        local: true,
    },
    // A uv project: the image installs what uv.lock pins (checked against its hashes).
    Case {
        dir: "uv-lock",
        manifest: &["asgi = \"main:app\"", "# requirements = \"requirements.txt\""],
        body: "\"status\":\"ok\"",
        also: Some(("GET", "/route?text=refund+please", "", "\"queue\":\"billing\"")),
        logs: &[],
        not_in_logs: &[],
        serve: true,
        local: true,
    },
    // A src-layout package (13.12: `src/` is on the image's path).
    Case {
        dir: "src-layout",
        manifest: &["asgi = \"ragsvc.api:app\""],
        body: "see the docs",
        also: None,
        logs: &[],
        not_in_logs: &[],
        serve: true,
        local: true,
    },
    // A model file loaded by a FastAPI handler: the weights ship with the code.
    Case {
        dir: "model-handler",
        manifest: &["asgi = \"main:app\"", "health = \"/health\""],
        body: "sentiment-lr-v1",
        also: Some(("POST", "/predict", "{\"text\": \"I love it, great and fast\"}", "\"label\":\"positive\"")),
        logs: &[],
        not_in_logs: &[],
        serve: true,
        local: true,
    },
    // Chainlit: detected and written; not served here. Its current releases need 125
    // packages, three of them (literalai, lazify, syncer) published as sources only, and
    // images install binary wheels only, so it cannot be built offline from wheels.
    Case {
        dir: "chainlit",
        manifest: &["command = \"chainlit run app.py --headless --host 0.0.0.0 --port $PORT\"", "health = \"/\""],
        body: "",
        also: None,
        logs: &[],
        not_in_logs: &[],
        serve: false,
        local: false,
    },
];

/// How many apps run at once.
const WORKERS: usize = 3;

#[test]
fn every_app_deploys_from_init_locally_and_as_an_image() {
    let started = Instant::now();
    let queue = Mutex::new(CASES.iter());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let Some(case) = queue.lock().unwrap().next() else { break };
                let t = Instant::now();
                let outcome = std::panic::catch_unwind(|| pass(case)).map_err(|e| {
                    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
                });
                results.lock().unwrap().push((case.dir, t.elapsed(), outcome));
            });
        }
    });
    let results = results.into_inner().unwrap();
    let times: Vec<String> = results.iter().map(|(d, t, _)| format!("{d} {:.1}s", t.as_secs_f64())).collect();
    eprintln!("app pass: {:.1}s in all; {}", started.elapsed().as_secs_f64(), times.join(", "));
    let failed: Vec<String> = results.into_iter().filter_map(|(d, _, r)| r.err().map(|e| format!("--- {d}:\n{e}"))).collect();
    assert!(failed.is_empty(), "{} of {} apps failed the pass:\n{}", failed.len(), CASES.len(), failed.join("\n"));
}

fn pass(case: &Case) {
    let (home, dir) = app(case.dir);
    let home = home.path();
    assert!(!dir.join("aideploy.toml").exists(), "tests/apps/{} must not carry a manifest: the pass starts from init", case.dir);
    let (code, _, stderr) = aideploy(home, &dir, &["init", "--yes"]);
    assert_eq!(code, 0, "init: {stderr}");
    let manifest = std::fs::read_to_string(dir.join("aideploy.toml")).unwrap();
    for line in case.manifest {
        assert!(manifest.contains(&format!("\n{line}")), "init did not write `{line}`:\n{manifest}");
    }
    if !case.serve {
        let (code, _, stderr) = aideploy(home, &dir, &["validate"]);
        assert_eq!(code, 0, "validate: {stderr}");
        return;
    }
    let parsed: toml::Table = manifest.parse().unwrap();
    let health = parsed["app"].get("health").and_then(|h| h.as_str()).unwrap_or("/health").to_string();
    let port = parsed["app"]["port"].as_integer().unwrap() as u16;

    if case.local {
        up_locally(case, home, &dir, &health);
    }

    // The image, built once and pushed to the loopback registry, run by Docker with the
    // app's own port published.
    use_test_base_image(&dir);
    let registry = env("AIDEPLOY_TEST_REGISTRY");
    let repo = format!("app-pass/{}-{}", case.dir, std::process::id());
    let mut cmd = common::aideploy(home);
    common::offline(&mut cmd);
    let built = cmd
        .current_dir(&dir)
        .env("AIDEPLOY_REGISTRY", format!("{registry}/{repo}"))
        .args(["build", "--package", "image", "--push", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert_eq!(built.status.code(), Some(0), "build --package image: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&built.stdout).unwrap();
    let digest = v["artifact"]["digest"].as_str().unwrap();
    let image = Container::run(&format!("{registry}/{repo}@{digest}"), port);
    let (status, body) = image.get(&health);
    assert!(status == 200 && body.contains(case.body), "image {health}: {status} {body}\n{}", image.logs());
    if let Some((method, path, payload, want)) = case.also {
        let url = format!("http://127.0.0.1:{}{path}", image.port);
        let (status, body) = common::http(method, &url, Some(payload).filter(|p| !p.is_empty())).unwrap();
        assert!(status == 200 && body.contains(want), "image {method} {path}: {status} {body}\n{}", image.logs());
    }
    let logs = image.logs();
    for want in case.logs {
        assert!(logs.contains(want), "the container log lacks `{want}`:\n{logs}");
    }
    for not in case.not_in_logs {
        assert!(!logs.contains(not), "the container log says `{not}`:\n{logs}");
    }
}

/// `up --target local` from what init wrote (its stable port moved off the shared
/// default): the app answers its health path on the stable URL; then `destroy`.
fn up_locally(case: &Case, home: &std::path::Path, dir: &std::path::Path, health: &str) {
    let local = common::free_port();
    let set = format!("port={local}");
    let (code, out, stderr) = aideploy(home, dir, &["up", "--yes", "--target", "local", "--set", &set]);
    let answer = (code == 0).then(|| common::http("GET", &format!("http://127.0.0.1:{local}{health}"), None));
    let (down, _, down_err) = aideploy(home, dir, &["destroy", "--yes", "--target", "local", "--set", &set]);
    assert_eq!(code, 0, "up --target local: {stderr}");
    assert_eq!(out.trim(), format!("http://127.0.0.1:{local}"));
    let (status, body) = answer.unwrap().expect("the local app answers");
    assert!(status == 200 && body.contains(case.body), "local {health}: {status} {body}");
    assert_eq!(down, 0, "destroy --target local: {down_err}");
}

/// Issue 13, task 2: `command = "python server.py"` runs in an image whose base has only
/// `python3` (Debian's, as the test base image), through aideploy's `python` last on PATH.
#[test]
fn a_python_command_runs_in_an_image_whose_base_has_only_python3() {
    let (home, dir) = app("command-server");
    let (code, _, stderr) = aideploy(home.path(), &dir, &["init", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    let path = dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("command = \"python3 server.py\""), "{text}");
    std::fs::write(&path, text.replace("command = \"python3 server.py\"", "command = \"python server.py\"")).unwrap();
    use_test_base_image(&dir);
    let registry = env("AIDEPLOY_TEST_REGISTRY");
    let repo = format!("app-pass/python-shim-{}", std::process::id());
    let mut cmd = common::aideploy(home.path());
    common::offline(&mut cmd);
    let out = cmd
        .current_dir(&dir)
        .env("AIDEPLOY_REGISTRY", format!("{registry}/{repo}"))
        .args(["build", "--package", "image", "--push", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let image = Container::run(&format!("{registry}/{repo}@{}", v["artifact"]["digest"].as_str().unwrap()), 8080);
    let (status, body) = image.get("/health");
    assert_eq!((status, body.as_str()), (200, "{\"status\": \"ok\"}"), "{}", image.logs());
    // The base image has no `python` of its own: the one that ran is aideploy's.
    let which = docker(&["exec", &image.id, "sh", "-c", "command -v python; command -v python3"]);
    assert_eq!(which.split_whitespace().collect::<Vec<_>>(), ["/opt/aideploy/bin/python", "/usr/bin/python3"], "{which}");
}

/// A container of `image` (pulled from the loopback registry, or loaded from an archive
/// skopeo writes when the engine will not pull), its `port` published on loopback.
struct Container {
    id: String,
    image: String,
    port: u16,
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker runs (the image pass needs a Docker engine)");
    assert!(out.status.success(), "docker {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Container {
    fn run(image: &str, port: u16) -> Container {
        let mut image = image.to_string();
        if !Command::new("docker").args(["pull", "-q", &image]).output().is_ok_and(|o| o.status.success()) {
            let dir = tempfile::tempdir().unwrap();
            let tar = dir.path().join("image.tar");
            let tagged = format!("{}:pass", image.split('@').next().unwrap());
            let out = Command::new("skopeo")
                .args(["copy", "--quiet", "--src-tls-verify=false", &format!("docker://{image}")])
                .arg(format!("docker-archive:{}:{tagged}", tar.display()))
                .output()
                .unwrap();
            assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
            docker(&["load", "-q", "-i", tar.to_str().unwrap()]);
            image = tagged;
        }
        let host = common::free_port();
        let id = docker(&["run", "-d", "-p", &format!("127.0.0.1:{host}:{port}"), &image]).trim().to_string();
        Container { id, image, port: host }
    }

    /// The first answer to GET `path` (retried while the server starts; up to 90 s).
    fn get(&self, path: &str) -> (u16, String) {
        let started = Instant::now();
        loop {
            match common::http("GET", &format!("http://127.0.0.1:{}{path}", self.port), None) {
                Ok((status, body)) if status != 0 => return (status, body),
                _ if started.elapsed() > Duration::from_secs(90) => panic!("the image never answered {path}:\n{}", self.logs()),
                _ => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    fn logs(&self) -> String {
        let out = Command::new("docker").args(["logs", &self.id]).output().unwrap();
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.id]).output();
        let _ = Command::new("docker").args(["rmi", "-f", &self.image]).output();
    }
}
