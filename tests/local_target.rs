//! The local target end to end, with real processes, real HTTP and a real Python:
//! deploy -> GET /health and POST /query -> unchanged redeploy is a noop -> a code
//! change replaces the process -> a broken change keeps the old one serving (exit 3)
//! -> destroy leaves no process behind. Requirements install offline from the
//! wheelhouse that scripts/test downloads.

use crate::common;

use std::path::{Path, PathBuf};

use common::{aideploy, free_port, http, offline, pid_alive};
use serde_json::Value;

/// Waits poll this often in the commands the tests run.
const POLL_MS: &str = "20";

struct App {
    home: tempfile::TempDir,
    dir: PathBuf,
    port: u16,
}

impl App {
    fn new(example: &str) -> App {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("app");
        common::copy_tree(&common::root().join("examples").join(example), &dir);
        App { home, dir, port: free_port() }
    }

    fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = aideploy(self.home.path());
        offline(&mut cmd);
        cmd.env("AIDEPLOY_POLL_INTERVAL_MS", POLL_MS).current_dir(&self.dir).args(args);
        cmd
    }

    /// Runs with --json and the test's port; returns (exit code, JSON, stderr).
    fn json(&self, args: &[&str]) -> (i32, Value, String) {
        self.json_env(args, &[])
    }

    /// As `json`, with more environment variables.
    fn json_env(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, Value, String) {
        let port = format!("port={}", self.port);
        let mut all = args.to_vec();
        all.extend(["--json", "--target", "local", "--set", &port]);
        let mut cmd = self.cmd(&all);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let v = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{stderr}", String::from_utf8_lossy(&out.stdout)));
        (out.status.code().unwrap(), v, stderr)
    }

    /// Replaces the example with a `command` app: `aideploy.toml` from `manifest`, no
    /// requirements, and the given script.
    fn command_app(&self, manifest: &str, script: &str, code: &str) {
        std::fs::write(self.dir.join("aideploy.toml"), manifest).unwrap();
        std::fs::write(self.dir.join("requirements.txt"), "").unwrap();
        std::fs::write(self.dir.join(script), code).unwrap();
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn pid(&self) -> u32 {
        let (_, v, _) = self.json(&["status"]);
        v["details"]["pid"].as_u64().expect("pid") as u32
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.dir.join(rel), text).unwrap();
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // Whatever happened, leave no process running.
        let _ = self.cmd(&["destroy", "--yes", "--target", "local", "--set", &format!("port={}", self.port)]).output();
    }
}

fn ops(v: &Value) -> Vec<String> {
    v["actions"].as_array().unwrap().iter().map(|a| format!("{} {}", a["op"].as_str().unwrap(), a["resource"].as_str().unwrap())).collect()
}

#[test]
fn deploy_redeploy_replace_keep_old_on_failure_destroy() {
    let app = App::new("fastapi-rag");

    // First deploy.
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["url"], app.url(""));
    assert_eq!(v["health"], "passed");
    assert_eq!(v["changed"], true);
    assert_eq!(v["kind"], "local");
    assert_eq!(v["stage"], "dev");
    assert_eq!(v["artifact"]["kind"], "source");
    assert!(v["artifact"]["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(v["duration_ms"].as_u64().is_some());
    assert_eq!(ops(&v), vec!["create process", "create proxy"]);

    // The app answers through the stable URL.
    let (status, body) = http("GET", &app.url("/health"), None).unwrap();
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, body) =
        http("POST", &app.url("/query"), Some(r#"{"question":"what happens when a deploy fails its health check?"}"#)).unwrap();
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["mode"], "retrieval");
    assert_eq!(answer["sources"][0]["id"], "health-gates");

    // status reports it.
    let (code, s, _) = app.json(&["status"]);
    assert_eq!(code, 0);
    assert_eq!(s["deployed"], true);
    assert_eq!(s["health"], "passed");
    assert_eq!(s["url"], app.url(""));
    assert_eq!(s["details"]["running"], true);
    let first_pid = s["details"]["pid"].as_u64().unwrap() as u32;
    assert!(pid_alive(first_pid));

    // Unchanged redeploy: a noop, same process.
    let (code, v, _) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0);
    assert_eq!(v["changed"], false);
    assert_eq!(ops(&v), vec!["noop process", "noop proxy"]);
    assert_eq!(app.pid(), first_pid);

    // plan changes nothing and says so.
    app.write(
        "app/docs.py",
        &std::fs::read_to_string(app.dir.join("app/docs.py")).unwrap().replace(
            "DOCUMENTS = [",
            "DOCUMENTS = [\n    {\"id\": \"zebra\", \"title\": \"Zebras\", \"text\": \"Zebras are striped horses of Africa.\"},",
        ),
    );
    let (code, p, _) = app.json(&["plan"]);
    assert_eq!(code, 0);
    assert_eq!(p["actions"][0]["op"], "update");
    assert_eq!(p["actions"][0]["reason"], "code changed");
    assert_eq!(app.pid(), first_pid, "plan must not touch the running process");

    // A code change replaces the process; the URL stays.
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["changed"], true);
    assert_eq!(ops(&v), vec!["update process", "noop proxy"]);
    assert_eq!(v["url"], app.url(""));
    let second_pid = app.pid();
    assert_ne!(second_pid, first_pid);
    assert!(!pid_alive(first_pid), "the old process must be stopped");
    let (status, body) = http("POST", &app.url("/query"), Some(r#"{"question":"zebras"}"#)).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("striped horses"), "{body}");

    // A broken change: the new version crashes; the old one keeps serving; exit 3.
    app.write(
        "app/main.py",
        &format!("{}\nraise RuntimeError('boom: broken on purpose')\n", std::fs::read_to_string(app.dir.join("app/main.py")).unwrap()),
    );
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 3, "{v}\n{stderr}");
    assert_eq!(v["health"], "failed");
    let failure = v["failure"].as_str().unwrap();
    assert!(failure.contains("boom: broken on purpose"), "the crash's log lines are shown: {failure}");
    assert!(failure.contains("previous version keeps serving"), "{failure}");
    assert_eq!(app.pid(), second_pid);
    assert!(pid_alive(second_pid));
    let (status, body) = http("POST", &app.url("/query"), Some(r#"{"question":"zebras"}"#)).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("striped horses"));

    // destroy: nothing left running, nothing listening, no state.
    let state = app.home.path().join("state/local/fastapi-rag-dev");
    assert!(state.join("state.json").is_file());
    let proxy_pid = read_proxy_pid(&state);
    let (code, d, _) = app.json(&["destroy", "--yes"]);
    assert_eq!(code, 0);
    assert_eq!(ops(&d), vec!["delete process", "delete proxy", "delete files"]);
    assert!(!pid_alive(second_pid));
    assert!(!pid_alive(proxy_pid));
    assert!(http("GET", &app.url("/health"), None).is_err(), "nothing may listen on the port");
    assert!(!state.exists());
    let (_, s, _) = app.json(&["status"]);
    assert_eq!(s["deployed"], false);
}

fn read_proxy_pid(state: &Path) -> u32 {
    let v: Value = serde_json::from_slice(&std::fs::read(state.join("state.json")).unwrap()).unwrap();
    v["proxy"]["pid"].as_u64().unwrap() as u32
}

#[test]
fn secrets_reach_the_process_but_not_the_output() {
    let app = App::new("fastapi-rag");
    let secret = "sk-test-0123456789abcdefghijklmnop";
    let port = format!("port={}", app.port);
    let out = app.cmd(&["deploy", "--yes", "--target", "local", "--set", &port, "-v"]).env("OPENAI_API_KEY", secret).output().unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{all}");
    assert!(!all.contains(secret), "the secret value was printed");
    let (status, body) = http("GET", &app.url("/health/ready"), None).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains(r#""llm":true"#), "{body}");
    let state = std::fs::read_to_string(app.home.path().join("state/local/fastapi-rag-dev/state.json")).unwrap();
    assert!(!state.contains(secret), "the secret value is in the state file");

    // A changed secret value is a secrets change: the process is replaced.
    let (code, v, _) = {
        let out = app.cmd(&["plan", "--json", "--target", "local", "--set", &port]).output().unwrap();
        (out.status.code().unwrap(), serde_json::from_slice::<Value>(&out.stdout).unwrap(), ())
    };
    assert_eq!(code, 0);
    assert_eq!(v["actions"][0]["reason"], "secrets changed");
}

#[test]
fn destroy_needs_yes_without_a_terminal() {
    let app = App::new("fastapi-rag");
    let (code, _, _) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0);
    let port = format!("port={}", app.port);
    let out = app.cmd(&["destroy", "--target", "local", "--set", &port]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pass --yes"), "{stderr}");
    let (status, _) = http("GET", &app.url("/health"), None).unwrap();
    assert_eq!(status, 200, "a refused destroy must leave the app running");
}

#[test]
fn a_port_taken_by_another_program_is_a_clear_error() {
    let app = App::new("fastapi-rag");
    let _squatter = std::net::TcpListener::bind(("127.0.0.1", app.port)).unwrap();
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 1, "{v}");
    assert!(stderr.contains(&format!("port {} is in use by another program", app.port)), "{stderr}");
    // The fix that lasts: the manifest, not a --set the next deploy would undo.
    assert!(stderr.contains(&format!("set `port = {}` in [targets.local]", app.port + 1)), "{stderr}");
    assert!(!stderr.contains("--set port="), "{stderr}");
    let state = app.home.path().join("state/local/fastapi-rag-dev/state.json");
    assert!(!state.exists(), "a failed first deploy leaves no state");
}

#[test]
fn a_command_app_that_never_gets_healthy_times_out_with_exit_3() {
    let app = App::new("fastapi-rag");
    app.command_app(
        "version = 1\n[app]\nname = \"plain\"\ncommand = \"python server.py\"\nhealth = \"/health\"\n[targets.local]\nhealth_timeout = 3\n",
        "server.py",
        "import http.server, os\n\nclass H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        ok = os.path.exists('healthy')\n        self.send_response(200 if ok else 503)\n        self.end_headers()\n        self.wfile.write(b'ok' if ok else b'starting')\n\nprint('listening on', os.environ['PORT'], flush=True)\nhttp.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\n",
    );
    // Probes a few times a second, as outside the tests, so the server's first line is
    // still among the last 20 of its log (each probe adds an access line).
    let (code, v, stderr) = app.json_env(&["deploy", "--yes"], &[("AIDEPLOY_POLL_INTERVAL_MS", "300")]);
    assert_eq!(code, 3, "{v}\n{stderr}");
    let failure = v["failure"].as_str().unwrap();
    assert!(failure.contains("did not answer 2xx within 3s (last: HTTP 503)"), "{failure}");
    assert!(failure.contains("nothing is serving"), "{failure}");
    assert!(failure.contains("listening on"), "the log tail is shown: {failure}");
    assert!(http("GET", &app.url("/health"), None).is_err());

    // Once the app is fixed, the same command deploys it.
    std::fs::write(app.dir.join("healthy"), "").unwrap();
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(http("GET", &app.url("/health"), None).unwrap(), (200, "ok".into()));
}

/// The health gate stops before its timeout when the answers say waiting will not
/// help: a steady server error (its body shown, redacted), a health path the app does not
/// serve, an app listening on another port than $PORT. Each names the fix.
#[test]
fn the_health_gate_stops_early_on_a_steady_failure() {
    const SECRET: &str = "tok-9f8e7d6c5b4a3921";
    let app = App::new("fastapi-rag");
    let manifest = "version = 1\n[app]\nname = \"steady\"\ncommand = \"python server.py\"\nhealth = \"/health\"\n[secrets]\nTOKEN = {}\n[targets.local]\nhealth_timeout = 900\n";
    let server = |code: u16| {
        format!(
            "import http.server, os\n\nclass H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        self.send_response({code})\n        self.end_headers()\n        self.wfile.write(('boom: token ' + os.environ['TOKEN']).encode())\n\nhttp.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\n"
        )
    };
    let env = [("TOKEN", SECRET), ("AIDEPLOY_HEALTH_STEADY_SECS", "1")];

    app.command_app(manifest, "server.py", &server(500));
    let (code, v, stderr) = app.json_env(&["deploy", "--yes"], &env);
    assert_eq!(code, 3, "{v}\n{stderr}");
    let failure = v["failure"].as_str().unwrap();
    assert!(failure.contains("GET /health answered HTTP 500 on every try"), "{failure}");
    assert!(failure.contains("boom: token ***"), "the last answer is shown, redacted: {failure}");
    assert!(!failure.contains(SECRET) && !stderr.contains(SECRET), "{failure}");

    app.command_app(manifest, "server.py", &server(404));
    let (code, v, stderr) = app.json_env(&["deploy", "--yes"], &env);
    assert_eq!(code, 3, "{v}\n{stderr}");
    let failure = v["failure"].as_str().unwrap();
    assert!(failure.contains("serves no `/health`") && failure.contains("set `[app] health`"), "{failure}");

    // An app that ignores $PORT: nothing answers, and its log says where it listens.
    let other = free_port();
    let elsewhere = format!(
        "import http.server\n\nclass H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        self.send_response(200)\n        self.end_headers()\n\nprint('Uvicorn running on http://127.0.0.1:{other} (Press CTRL+C to quit)', flush=True)\nhttp.server.HTTPServer(('127.0.0.1', {other}), H).serve_forever()\n"
    );
    app.command_app(manifest, "server.py", &elsewhere);
    let (code, v, stderr) = app.json_env(&["deploy", "--yes"], &env);
    assert_eq!(code, 3, "{v}\n{stderr}");
    let failure = v["failure"].as_str().unwrap();
    assert!(failure.contains(&format!("the app listens on port {other}, but it was started with PORT=")), "{failure}");
    assert!(failure.contains("$PORT"), "{failure}");
}

#[test]
fn destroy_after_a_failed_first_deploy_removes_the_folder_it_left() {
    let app = App::new("fastapi-rag");
    app.command_app(
        "version = 1\n[app]\nname = \"crash\"\ncommand = \"python server.py\"\n[targets.local]\nhealth_timeout = 5\n",
        "server.py",
        "import sys\nprint('no model file', flush=True)\nsys.exit(1)\n",
    );
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_ne!(code, 0, "{v}\n{stderr}");
    let dir = app.home.path().join("state/local/crash-dev");
    assert!(dir.is_dir() && !dir.join("state.json").exists(), "the failed first deploy left its folder, without a state file");
    let (code, v, stderr) = app.json(&["destroy", "--yes"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert!(ops(&v).iter().any(|o| o.starts_with("delete files")), "{v}");
    assert!(!dir.exists(), "destroy removed {}", dir.display());
    // Nothing is left to destroy.
    let (code, v, _) = app.json(&["destroy", "--yes"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["actions"], serde_json::json!([]), "{v}");
}

#[test]
fn up_writes_a_manifest_then_deploys() {
    let app = App::new("fastapi-rag");
    std::fs::remove_file(app.dir.join("aideploy.toml")).unwrap();
    let port = format!("port={}", app.port);
    let out = app.cmd(&["up", "--target", "local", "--yes", "--set", &port]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), app.url(""));
    let written = std::fs::read_to_string(app.dir.join("aideploy.toml")).unwrap();
    assert!(written.contains("asgi = \"app.main:app\""), "{written}");
    assert!(written.contains("health = \"/health\""), "{written}");
    assert!(written.contains("[targets.local]"), "{written}");
    let (status, _) = http("GET", &app.url("/health"), None).unwrap();
    assert_eq!(status, 200);
}

#[test]
fn ctrl_c_during_a_deploy_exits_130_and_leaves_no_process() {
    let app = App::new("fastapi-rag");
    let marker = app.home.path().join("slow.pid");
    app.command_app(
        "version = 1\n[app]\nname = \"slow\"\ncommand = \"python slow.py\"\n[targets.local]\nhealth_timeout = 60\n",
        "slow.py",
        &format!("import os, time\nopen({:?}, 'w').write(str(os.getpid()))\ntime.sleep(120)\n", marker.display().to_string()),
    );
    let port = format!("port={}", app.port);
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("aideploy"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", app.home.path())
        .env("CI", "1")
        .env("AIDEPLOY_STATE_DIR", app.home.path().join("state"))
        .env("AIDEPLOY_CACHE_DIR", app.home.path().join("cache"))
        .env("AIDEPLOY_POLL_INTERVAL_MS", POLL_MS)
        .current_dir(&app.dir)
        .args(["deploy", "--yes", "--target", "local", "--set", &port]);
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // The file exists (empty) a moment before the app writes its pid into it.
    let app_pid: u32 = loop {
        if let Some(pid) = std::fs::read_to_string(&marker).ok().and_then(|t| t.trim().parse().ok()) {
            break pid;
        }
        assert!(std::time::Instant::now() < deadline, "the app never started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(pid_alive(app_pid));
    // SAFETY: sending SIGINT to the child we spawned, as Ctrl-C would.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    // Stopped: SIGTERM, then SIGKILL after a grace period; on a loaded machine the kernel
    // may take a moment to finish it off after aideploy has exited.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pid_alive(app_pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!pid_alive(app_pid), "the half-started version must be stopped");
    assert!(!app.home.path().join("state/local/slow-dev/state.json").exists());
}

#[test]
fn a_requirement_that_cannot_be_installed_is_a_clear_error_and_caches_nothing() {
    let app = App::new("fastapi-rag");
    std::fs::write(app.dir.join("requirements.txt"), "fastapi\nno-such-package-aideploy-test==1.0\n").unwrap();
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 1, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("installing the requirements failed"), "{message}");
    assert!(message.contains("no-such-package-aideploy-test"), "the package is named: {message}");
    assert!(stderr.contains("help: check the requirements"), "{stderr}");
    let venvs = app.home.path().join("cache/venvs");
    let left: Vec<_> = std::fs::read_dir(&venvs).unwrap().flatten().filter(|e| e.path().is_dir()).collect();
    assert!(left.is_empty(), "a failed install must not stay in the cache: {left:?}");
    assert!(!app.home.path().join("state/local/fastapi-rag-dev/state.json").exists());
}

#[test]
fn a_src_layout_pyproject_app_is_detected_and_served() {
    let app = App::new("fastapi-rag");
    for f in ["aideploy.toml", "requirements.txt"] {
        std::fs::remove_file(app.dir.join(f)).unwrap();
    }
    std::fs::remove_dir_all(app.dir.join("app")).unwrap();
    let pkg = app.dir.join("src/notes_api");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(
        app.dir.join("pyproject.toml"),
        "[project]\nname = \"notes-api\"\nversion = \"0.1.0\"\ndependencies = [\"fastapi>=0.100\"]\n",
    )
    .unwrap();
    std::fs::write(pkg.join("__init__.py"), "").unwrap();
    std::fs::write(pkg.join("store.py"), "NOTES = {'1': 'first note'}\n").unwrap();
    std::fs::write(
        pkg.join("api.py"),
        "from fastapi import FastAPI\nfrom notes_api.store import NOTES\n\nservice = FastAPI()\n\n@service.get('/healthz')\ndef healthz():\n    return {'ok': True}\n\n@service.get('/notes/{key}')\ndef note(key: str):\n    return {'note': NOTES[key]}\n",
    )
    .unwrap();
    let out = app.cmd(&["init", "--target", "local", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest = std::fs::read_to_string(app.dir.join("aideploy.toml")).unwrap();
    assert!(manifest.contains("asgi = \"notes_api.api:service\""), "{manifest}");
    assert!(manifest.contains("health = \"/healthz\""), "{manifest}");
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let (status, body) = http("GET", &app.url("/notes/1"), None).unwrap();
    assert_eq!((status, body.as_str()), (200, r#"{"note":"first note"}"#));
}

#[test]
fn logs_print_and_follow_the_serving_version() {
    use std::io::BufRead;
    let app = App::new("fastapi-rag");
    let (code, _, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    let port = format!("port={}", app.port);
    let out = app.cmd(&["logs", "--target", "local", "--set", &port, "-n", "50"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Application startup complete"), "{text}");

    // Follow: a request made afterwards shows up as uvicorn's access line.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("aideploy"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", app.home.path())
        .env("AIDEPLOY_STATE_DIR", app.home.path().join("state"))
        .env("AIDEPLOY_CACHE_DIR", app.home.path().join("cache"))
        .env("AIDEPLOY_POLL_INTERVAL_MS", POLL_MS)
        .current_dir(&app.dir)
        .args(["logs", "-f", "-n", "0", "--target", "local", "--set", &port])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    http("GET", &app.url("/health/ready?probe=follow-test"), None).unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let found = lines.by_ref().take(20).map_while(Result::ok).any(|l| l.contains("/health/ready?probe=follow-test"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(found, "the follow output never showed the request");

    let none = app.cmd(&["logs", "--target", "local", "--stage", "other", "--set", &port]).output().unwrap();
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("is not deployed"));
}

#[test]
fn rollback_puts_the_previous_version_back_and_forth() {
    let app = App::new("fastapi-rag");
    let (code, v, stderr) = app.json(&["rollback"]);
    assert_eq!(code, 2, "nothing deployed yet: {v} {stderr}");

    let (code, _, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, first, _) = app.json(&["status"]);
    let (code, v, stderr) = app.json(&["rollback"]);
    assert_eq!(code, 2, "{v}");
    assert!(stderr.contains("no previous version"), "{stderr}");

    app.write("app/retrieval.py", &std::fs::read_to_string(app.dir.join("app/retrieval.py")).unwrap().replace("k: int = 3", "k: int = 1"));
    app.write(
        "app/docs.py",
        &std::fs::read_to_string(app.dir.join("app/docs.py")).unwrap().replace("Health-gated deploys", "Gated deploys v2"),
    );
    let (code, _, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, second, _) = app.json(&["status"]);
    assert_ne!(first["digest"], second["digest"]);
    assert_eq!(second["details"]["previous"], first["digest"]);
    let title = || {
        let (_, body) = http("POST", &app.url("/query"), Some(r#"{"question":"health check fails","top_k":1}"#)).unwrap();
        serde_json::from_str::<Value>(&body).unwrap()["sources"][0]["title"].as_str().unwrap().to_string()
    };
    assert_eq!(title(), "Gated deploys v2");

    let (code, r, stderr) = app.json(&["rollback"]);
    assert_eq!(code, 0, "{r}\n{stderr}");
    assert_eq!(r["health"], "passed");
    assert_eq!(r["digest"], first["digest"]);
    assert_eq!(r["url"], app.url(""));
    assert_eq!(title(), "Health-gated deploys");
    let (_, after, _) = app.json(&["status"]);
    assert_eq!(after["digest"], first["digest"]);
    assert!(!pid_alive(second["details"]["pid"].as_u64().unwrap() as u32), "the rolled-back-from process is stopped");

    // And forward again: rollback toggles between the two.
    let (code, r, _) = app.json(&["rollback"]);
    assert_eq!(code, 0);
    assert_eq!(r["digest"], second["digest"]);
    assert_eq!(title(), "Gated deploys v2");
}

#[test]
fn two_deploys_at_once_the_second_plans_again_from_the_firsts_result() {
    let app = App::new("fastapi-rag");
    std::fs::write(
        app.dir.join("aideploy.toml"),
        "version = 1\n[app]\nname = \"twice\"\ncommand = \"python gated.py\"\n[targets.local]\nhealth_timeout = 60\n",
    )
    .unwrap();
    std::fs::write(app.dir.join("requirements.txt"), "").unwrap();
    let (started, go) = (app.home.path().join("started"), app.home.path().join("go"));
    std::fs::write(
        app.dir.join("gated.py"),
        format!(
            "import http.server, os, time\nopen({:?}, 'a').write('x')\nwhile not os.path.exists({:?}):\n    time.sleep(0.1)\n\nclass H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        self.send_response(200)\n        self.end_headers()\n        self.wfile.write(b'ok')\n\nhttp.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\n",
            started.display().to_string(),
            go.display().to_string()
        ),
    )
    .unwrap();
    let port = format!("port={}", app.port);
    let spawn = |name: &str| {
        let err = std::fs::File::create(app.home.path().join(format!("{name}.stderr"))).unwrap();
        let out = std::fs::File::create(app.home.path().join(format!("{name}.stdout"))).unwrap();
        std::process::Command::new(assert_cmd::cargo::cargo_bin("aideploy"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("HOME", app.home.path())
            .env("CI", "1")
            .env("AIDEPLOY_STATE_DIR", app.home.path().join("state"))
            .env("AIDEPLOY_CACHE_DIR", app.home.path().join("cache"))
            .env("AIDEPLOY_POLL_INTERVAL_MS", POLL_MS)
            .current_dir(&app.dir)
            .args(["deploy", "--yes", "--json", "--target", "local", "--set", &port])
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap()
    };
    let wait_for = |what: &dyn Fn() -> bool, why: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !what() {
            assert!(std::time::Instant::now() < deadline, "{why}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    // The first deploy holds the deployment while its version starts...
    let mut first = spawn("first");
    wait_for(&|| started.exists(), "the first version never started");
    // ...and the second plans from "nothing deployed" meanwhile, then waits for the lock.
    let mut second = spawn("second");
    let second_err = app.home.path().join("second.stderr");
    wait_for(&|| std::fs::read_to_string(&second_err).unwrap().contains("Plan:"), "the second deploy never planned");
    std::fs::write(&go, "").unwrap();
    assert_eq!(first.wait().unwrap().code(), Some(0));
    let code = second.wait().unwrap().code();
    let stderr = std::fs::read_to_string(&second_err).unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    // It waited for the first one's lease, planned again under it and found nothing to do.
    assert!(stderr.contains("another run already applied"), "{stderr}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(app.home.path().join("second.stdout")).unwrap()).unwrap();
    assert_eq!(ops(&v), ["noop process", "noop proxy"], "{v}");
    assert_eq!(http("GET", &app.url("/"), None).unwrap(), (200, "ok".into()));
}

#[test]
fn a_damaged_cached_environment_is_rebuilt() {
    let app = App::new("fastapi-rag");
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    // The cache loses the environment's interpreter (a cleaned cache, a removed base Python).
    let venvs = app.home.path().join("cache/venvs");
    for e in std::fs::read_dir(&venvs).unwrap().flatten().filter(|e| e.path().is_dir()) {
        std::fs::remove_file(e.path().join("bin/python")).unwrap();
    }
    app.write("app/extra.py", "X = 1\n");
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(ops(&v), ["update process", "noop proxy"], "{v}");
    assert_eq!(http("GET", &app.url("/health"), None).unwrap().0, 200);
}

/// Every file under `dir` with its bytes (empty when `dir` does not exist). The running
/// app's own log files are listed without their bytes: the app itself appends to them
/// (an access line for each health probe `status` and `plan` make).
fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let app_log = p.parent().is_some_and(|d| d.ends_with("logs")) && p.extension().is_some_and(|e| e == "log");
                out.insert(p.clone(), if app_log { Vec::new() } else { std::fs::read(&p).unwrap_or_default() });
            }
        }
    }
    out
}

/// The processes that run from, or name, anything under `dir` (the app runs in its
/// release folder; the proxy is given the upstream file).
fn processes_of(dir: &Path) -> std::collections::BTreeSet<u32> {
    let needle = dir.display().to_string();
    let mut out = std::collections::BTreeSet::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let cwd = std::fs::read_link(e.path().join("cwd")).map(|p| p.display().to_string()).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&std::fs::read(e.path().join("cmdline")).unwrap_or_default()).replace('\0', " ");
        if cwd.starts_with(&needle) || cmdline.contains(&needle) {
            out.insert(pid);
        }
    }
    out
}

#[test]
fn plan_changes_nothing_on_this_machine() {
    let app = App::new("fastapi-rag");
    let state = app.home.path().join("state");

    // From nothing: no state folder, no process.
    let (code, p, stderr) = app.json(&["plan"]);
    assert_eq!(code, 0, "{p}\n{stderr}");
    assert_eq!(ops(&p), ["create process", "create proxy"]);
    assert!(snapshot(&state).is_empty(), "plan wrote into the state folder: {:?}", snapshot(&state).keys());
    assert!(processes_of(&state).is_empty(), "plan started a process");

    // From a deployed state, with a code change to plan: byte-identical state, the same processes.
    let (code, _, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    let before = (snapshot(&state), processes_of(&state));
    assert!(!before.1.is_empty(), "the deployed app and proxy run from the state folder");
    app.write("app/extra.py", "X = 1\n");
    let (code, p, stderr) = app.json(&["plan"]);
    assert_eq!(code, 0, "{p}\n{stderr}");
    assert_eq!(ops(&p), ["update process", "noop proxy"]);
    assert_eq!(p["actions"][0]["reason"], "code changed");
    let after = (snapshot(&state), processes_of(&state));
    assert_eq!(before.0.keys().collect::<Vec<_>>(), after.0.keys().collect::<Vec<_>>());
    assert!(before.0 == after.0, "plan changed a file in the state folder");
    assert_eq!(before.1, after.1, "plan started or stopped a process");

    // Partly there: the app process died, the proxy still runs. Plan shows the repair and
    // still changes nothing; deploy repairs it.
    let pid = app.pid();
    let proxy_pid = read_proxy_pid(&state.join("local/fastapi-rag-dev"));
    // SAFETY: killing the app process this test deployed.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pid_alive(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (_, s, _) = app.json(&["status"]);
    assert_eq!(s["details"]["running"], false);
    assert_eq!(s["health"], "failed");
    std::fs::remove_file(app.dir.join("app/extra.py")).unwrap();
    let before = (snapshot(&state), processes_of(&state));
    let (code, p, _) = app.json(&["plan"]);
    assert_eq!(code, 0);
    assert_eq!(ops(&p), ["update process", "noop proxy"]);
    assert_eq!(p["actions"][0]["reason"], "not running");
    assert!(before.0 == snapshot(&state), "plan changed a file in the state folder");
    assert_eq!(before.1, processes_of(&state));
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(ops(&v), ["update process", "noop proxy"]);
    assert_eq!(v["health"], "passed");
    assert_eq!(read_proxy_pid(&state.join("local/fastapi-rag-dev")), proxy_pid, "the running proxy is kept");
    assert_eq!(http("GET", &app.url("/health"), None).unwrap().0, 200);
}

#[test]
fn a_process_aideploy_did_not_start_is_never_signalled_or_adopted() {
    let app = App::new("fastapi-rag");
    let (code, _, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    let dir = app.home.path().join("state/local/fastapi-rag-dev");
    let ours = app.pid();
    // SAFETY: killing the app process this test deployed.
    unsafe { libc::kill(ours as i32, libc::SIGKILL) };
    // Another program gets a pid, and the state file names it (a recycled pid).
    let mut foreign = std::process::Command::new("sleep").arg("300").spawn().unwrap();
    let path = dir.join("state.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["serving"]["proc"]["pid"] = foreign.id().into();
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();

    let (_, s, _) = app.json(&["status"]);
    assert_eq!(s["details"]["running"], false, "a process aideploy did not start is not taken for the app: {s}");
    let (code, p, _) = app.json(&["plan"]);
    assert_eq!(code, 0);
    assert_eq!(p["actions"][0]["reason"], "not running");
    // Deploy starts a new process and leaves the other program alone.
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["health"], "passed");
    assert!(foreign.try_wait().unwrap().is_none(), "deploy signalled a process it did not start");
    assert_ne!(app.pid(), foreign.id());

    // Destroy, with the state naming the other program again: it survives.
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let deployed_pid = v["serving"]["proc"]["pid"].as_u64().unwrap() as u32;
    // SAFETY: killing the app process this test deployed.
    unsafe { libc::kill(deployed_pid as i32, libc::SIGKILL) };
    v["serving"]["proc"]["pid"] = foreign.id().into();
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let (code, d, _) = app.json(&["destroy", "--yes"]);
    assert_eq!(code, 0, "{d}");
    assert_eq!(ops(&d), ["noop process", "delete proxy", "delete files"]);
    assert!(foreign.try_wait().unwrap().is_none(), "destroy signalled a process it did not start");
    assert!(!dir.exists());
    foreign.kill().unwrap();
    foreign.wait().unwrap();
}

/// A server that binds the address given by `--host` and answers every GET with the
/// address it bound, `$HOST` and `$GREETING`.
const BIND_SERVER: &str = r#"import http.server, os, sys
host = sys.argv[sys.argv.index('--host') + 1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = '%s %s %s' % (self.server.server_address[0], os.environ.get('HOST'), os.environ.get('GREETING'))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body.encode())
http.server.HTTPServer((host, int(os.environ['PORT'])), H).serve_forever()
"#;

/// Issue 13.7 and 13.8: a command written for containers (`--host 0.0.0.0`) listens on
/// loopback only; an [env]-only edit is planned as "env changed"; status never shows
/// a `previous` that is not there.
#[test]
fn a_command_app_listens_on_loopback_only_and_plans_say_what_changed() {
    let app = App::new("fastapi-rag");
    let manifest = "version = 1\n[app]\nname = \"bound\"\ncommand = \"python server.py --host 0.0.0.0\"\nhealth = \"/health\"\n[env]\nGREETING = \"hi\"\n[targets.local]\n";
    app.command_app(manifest, "server.py", BIND_SERVER);
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    // The socket the app bound: loopback, whatever the command said.
    assert_eq!(http("GET", &app.url("/health"), None).unwrap(), (200, "127.0.0.1 127.0.0.1 hi".into()));

    let port = format!("port={}", app.port);
    let status = app.cmd(&["status", "--target", "local", "--set", &port]).output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text}");
    assert!(text.contains("pid") && !text.contains("null") && !text.contains("previous"), "{text}");
    let (_, s, _) = app.json(&["status"]);
    assert!(s["details"].get("previous").is_none(), "{s}");

    // Only [env] changed (and so the manifest file): env, not code.
    app.write("aideploy.toml", &manifest.replace("GREETING = \"hi\"", "GREETING = \"hello\""));
    let (code, p, stderr) = app.json(&["plan"]);
    assert_eq!(code, 0, "{p}\n{stderr}");
    assert_eq!(p["actions"][0]["reason"], "env changed", "{p}");
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(http("GET", &app.url("/health"), None).unwrap(), (200, "127.0.0.1 127.0.0.1 hello".into()));
    let (_, s, _) = app.json(&["status"]);
    assert!(s["details"]["previous"].as_str().is_some_and(|p| p.starts_with("sha256:")), "{s}");
}

/// Issue 13.3: with --yes and no terminal, init (through up) takes the local target
/// and says so; without --yes it still asks for --target.
#[test]
fn up_yes_without_a_target_or_a_terminal_deploys_locally_and_says_so() {
    let app = App::new("fastapi-rag");
    std::fs::remove_file(app.dir.join("aideploy.toml")).unwrap();
    let out = app.cmd(&["init"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pass --target KIND") && stderr.contains("--yes"), "{stderr}");
    assert!(!app.dir.join("aideploy.toml").exists());

    let port = format!("port={}", app.port);
    let out = app.cmd(&["up", "--yes", "--set", &port]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("No --target given: using `local`"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), app.url(""));
    let written = std::fs::read_to_string(app.dir.join("aideploy.toml")).unwrap();
    assert!(written.contains("[targets.local]"), "{written}");
    assert_eq!(http("GET", &app.url("/health"), None).unwrap().0, 200);
}

/// The address a TCP socket listens on for `port` (`/proc/net/tcp`, IPv4), as
/// `a.b.c.d`, when one does.
fn listening_on(port: u16) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (addr, p) = f.get(1)?.split_once(':')?;
        if u16::from_str_radix(p, 16).ok()? != port || f.get(3) != Some(&"0A") {
            return None;
        }
        let n = u32::from_str_radix(addr, 16).ok()?.to_le_bytes();
        Some(format!("{}.{}.{}.{}", n[0], n[1], n[2], n[3]))
    })
}

/// Issue 13.7, "unless the manifest says otherwise": `public = true` in [targets.local]
/// serves on every interface and runs the command as written; taking it out goes back
/// to 127.0.0.1 only.
#[test]
fn public_local_serves_on_every_interface_until_the_manifest_says_otherwise() {
    let app = App::new("fastapi-rag");
    let private = "version = 1\n[app]\nname = \"open\"\ncommand = \"python server.py --host 0.0.0.0\"\nhealth = \"/health\"\n[env]\nGREETING = \"hi\"\n[targets.local]\n";
    let public = private.replace("[targets.local]\n", "[targets.local]\npublic = true\n");
    app.command_app(&public, "server.py", BIND_SERVER);
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(http("GET", &app.url("/health"), None).unwrap(), (200, "0.0.0.0 None hi".into()));
    assert_eq!(listening_on(app.port).as_deref(), Some("0.0.0.0"), "the stable port listens on every interface");

    app.write("aideploy.toml", private);
    let (code, p, _) = app.json(&["plan"]);
    assert_eq!(code, 0);
    assert_eq!(p["actions"][0]["reason"], "settings changed", "{p}");
    assert_eq!(p["actions"][1]["reason"], "127.0.0.1 only", "{p}");
    let (code, v, stderr) = app.json(&["deploy", "--yes"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(http("GET", &app.url("/health"), None).unwrap(), (200, "127.0.0.1 127.0.0.1 hi".into()));
    assert_eq!(listening_on(app.port).as_deref(), Some("127.0.0.1"));
}

/// A crashed app's log tail is shown on failure with every form of a secret value
/// redacted (as written, base64 alone and inside a Basic credential, URL-encoded), and a
/// value too short to redact safely is warned about at deploy time.
#[test]
fn a_failed_deploy_shows_its_log_tail_with_secrets_redacted_in_every_encoding() {
    use base64::Engine;
    let app = App::new("fastapi-rag");
    app.command_app(
        "version = 1\n[app]\nname = \"leaky\"\ncommand = \"python leak.py\"\n[secrets]\nAPI_TOKEN = {}\nPIN = {}\n[targets.local]\nhealth_timeout = 5\n",
        "leak.py",
        "import base64, os, sys, urllib.parse\nt = os.environ['API_TOKEN']\nprint('raw', t, flush=True)\nprint('b64', base64.b64encode(t.encode()).decode(), flush=True)\nprint('basic', base64.b64encode(('user:' + t).encode()).decode(), flush=True)\nprint('url', urllib.parse.quote(t, safe=''), flush=True)\nsys.exit(1)\n",
    );
    let token = "tok/en+with space&more=1234";
    let (code, v, stderr) = app.json_env(&["deploy", "--yes"], &[("API_TOKEN", token), ("PIN", "4711")]);
    assert_eq!(code, 3, "{v}\n{stderr}");
    let failure = v["failure"].as_str().unwrap();
    assert!(failure.contains("raw ***") && failure.contains("b64 ***") && failure.contains("url ***"), "{failure}");
    let b64 = base64::engine::general_purpose::STANDARD;
    let forms = [
        token.to_string(),
        b64.encode(token),
        b64.encode(format!("user:{token}")),
        "tok%2Fen%2Bwith%20space%26more%3D1234".to_string(),
        // The part of the Basic credential that encodes the token's bytes alone.
        b64.encode(format!("user:{token}"))[8..40].to_string(),
    ];
    let all = format!("{v}\n{stderr}");
    for form in &forms {
        assert!(!all.contains(form.as_str()), "`{form}` is printed:\n{all}");
    }
    assert!(stderr.contains("secret `PIN` is shorter than 8 characters"), "{stderr}");
    assert!(!stderr.contains("API_TOKEN` is shorter"), "{stderr}");
}
