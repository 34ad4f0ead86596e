//! The `local` target: the app as a background process on this machine, behind a stable
//! loopback port. Built the way the clouds build it (a snapshot of the source set, its
//! requirements installed into a cached environment), started with only the variables
//! the manifest gives it, and switched to only once its health path answers.
//!
//! State lives in `$AIDEPLOY_STATE_DIR/local/{app}-{stage}/`: `state.json`, the
//! `upstream` file the proxy reads, `releases/` (source snapshots) and `logs/`.

mod process;
pub mod proxy;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::build::python::{self, PythonEnv};
use crate::build::source::{self, SourceSet};
use crate::engine::health::{self, Unhealthy};
use crate::engine::{Action, Artifact, Backend, Cx, Deployed, Health, Op, Outcome, Plan, Reporter};
use crate::error::Hinted;
use crate::manifest::Kind;
use crate::util::{state_dir, tail, write_atomic, FileLock};
use process::Proc;

pub struct LocalBackend;

/// The hidden first argument that runs the proxy (see `main.rs`).
pub const PROXY_ARG: &str = "__local-proxy";

/// Variables of the caller's environment the app still sees; everything else it gets
/// comes from the manifest, as on a cloud.
const PASS_THROUGH: &[&str] = &[
    "PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "HTTP_PROXY", "HTTPS_PROXY",
    "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR",
];
const DEFAULT_HEALTH_TIMEOUT: u32 = 60;
const STOP_GRACE: Duration = Duration::from_secs(10);

struct Built {
    env: PythonEnv,
    sources: SourceSet,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    app: String,
    stage: String,
    front_port: u16,
    proxy: Option<Proc>,
    app_proc: Proc,
    app_port: u16,
    /// Digest of the source set and environment that run.
    artifact: String,
    env_key: String,
    /// Digest of how it runs: entry point, health path, env, secret values (salted).
    config: String,
    salt: String,
    release: PathBuf,
    log: PathBuf,
    deployed_at: u64,
}

struct Now {
    state: State,
    app_alive: bool,
    proxy_alive: bool,
    app_healthy: bool,
}

fn deployment_dir(cx: &Cx) -> Result<PathBuf> {
    Ok(state_dir()?.join("local").join(cx.resource_base()))
}

fn front_port(cx: &Cx) -> u16 {
    cx.target.settings.port.as_ref().map(|p| p.get().0).unwrap_or(cx.loaded.manifest.app().port.0)
}

fn health_timeout(cx: &Cx) -> Duration {
    let s = cx.target.settings.health_timeout.as_ref().map(|s| s.get().0).unwrap_or(DEFAULT_HEALTH_TIMEOUT);
    Duration::from_secs(u64::from(s))
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn health_path(cx: &Cx) -> String {
    cx.loaded.manifest.app().health.to_string()
}

fn entry_line(cx: &Cx) -> String {
    let app = cx.loaded.manifest.app();
    match (&app.asgi, &app.command) {
        (Some(a), _) => format!("uvicorn {}", a.get()),
        (None, Some(c)) => c.get().clone(),
        (None, None) => unreachable!("checked at load"),
    }
}

fn config_digest(cx: &Cx, salt: &str, python_version: &str) -> String {
    let mut h = Sha256::new();
    h.update(entry_line(cx).as_bytes());
    h.update([0]);
    h.update(health_path(cx).as_bytes());
    h.update([0]);
    h.update(python_version.as_bytes());
    for (k, v) in cx.loaded.manifest.env_pairs() {
        h.update([0]);
        h.update(k.as_bytes());
        h.update([b'=']);
        h.update(v.as_bytes());
    }
    h.update([0]);
    h.update(cx.secrets.digest(salt).as_bytes());
    hex::encode(h.finalize())
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn new_salt() -> String {
    let mut h = Sha256::new();
    h.update(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    hex::encode(h.finalize())[..16].to_string()
}

fn short(digest: &str) -> &str {
    &digest[..12.min(digest.len())]
}

fn read_state(dir: &Path) -> Result<Option<State>> {
    let path = dir.join("state.json");
    match fs_err::read(&path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
            format!("{} is damaged; remove {} to start over", path.display(), dir.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn deployment_digest(s: &State) -> String {
    let mut h = Sha256::new();
    h.update(s.artifact.as_bytes());
    h.update(s.config.as_bytes());
    format!("sha256:{}", hex::encode(h.finalize()))
}

#[async_trait]
impl Backend for LocalBackend {
    fn kind(&self) -> Kind {
        Kind::Local
    }

    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Artifact> {
        let manifest = &cx.loaded.manifest;
        r.step("preparing the Python environment");
        let interp = python::find_interpreter(&manifest.app().runtime)?;
        if interp.version != manifest.app().runtime.version() {
            r.warn(&format!(
                "the manifest asks for {} but this machine runs Python {} ({}); the local target uses it anyway",
                manifest.app().runtime,
                interp.version,
                interp.path.display()
            ));
        }
        let reqs = python::requirements(manifest, &cx.loaded.dir)?;
        let env = tokio::task::block_in_place(|| python::ensure_env(&interp, &reqs, r))?;
        r.done();
        r.step("hashing the source set");
        let excludes: Vec<String> = manifest.build.exclude.iter().map(|e| e.get().clone()).collect();
        let dir = cx.loaded.dir.clone();
        let sources = tokio::task::block_in_place(|| source::collect(&dir, &excludes))?;
        r.detail(&format!("{} files, {} bytes", sources.files.len(), sources.bytes()));
        let mut h = Sha256::new();
        h.update(env.key.as_bytes());
        h.update(sources.digest().as_bytes());
        let digest = format!("sha256:{}", hex::encode(h.finalize()));
        let bytes = sources.bytes();
        Ok(Artifact { kind: "source".into(), digest, bytes, uploaded_bytes: 0, payload: Arc::new(Built { env, sources }) })
    }

    async fn current(&self, cx: &Cx) -> Result<Option<Deployed>> {
        let dir = deployment_dir(cx)?;
        let Some(state) = read_state(&dir)? else { return Ok(None) };
        let app_alive = state.app_proc.alive();
        let proxy_alive = state.proxy.is_some_and(|p| p.alive());
        let app_healthy = app_alive && health::probe(&format!("{}{}", url(state.app_port), health_path(cx))).await;
        let mut details = serde_json::Map::new();
        details.insert("running".into(), json!(app_alive && proxy_alive));
        details.insert("pid".into(), json!(state.app_proc.pid));
        details.insert("app_port".into(), json!(state.app_port));
        details.insert("port".into(), json!(state.front_port));
        details.insert("log".into(), json!(state.log));
        details.insert("deployed_at".into(), json!(crate::util::iso8601(state.deployed_at)));
        Ok(Some(Deployed {
            digest: deployment_digest(&state),
            url: Some(url(state.front_port)),
            health: if app_healthy && proxy_alive { Health::Passed } else { Health::Failed },
            details,
            state: Arc::new(Now { state, app_alive, proxy_alive, app_healthy }),
        }))
    }

    fn plan(&self, cx: &Cx, now: Option<&Deployed>, artifact: &Artifact) -> Plan {
        let built = artifact.payload.downcast_ref::<Built>().expect("local artifact");
        let base = cx.resource_base();
        let front = front_port(cx);
        let proxy_id = format!("127.0.0.1:{front}");
        let now = now.map(|d| d.state.downcast_ref::<Now>().expect("local state"));
        let mut plan = Plan::default();
        match now {
            None => {
                plan.actions.push(Action::new(Op::Create, "process", &base).because(entry_line(cx)));
                plan.actions.push(Action::new(Op::Create, "proxy", proxy_id).because("stable URL"));
            }
            Some(n) => {
                let config = config_digest(cx, &n.state.salt, &built.env.interpreter.version);
                let process = if n.state.artifact != artifact.digest {
                    let why = if n.state.env_key != built.env.key { "dependencies changed" } else { "code changed" };
                    Action::new(Op::Update, "process", &base).because(why)
                } else if n.state.config != config {
                    Action::new(Op::Update, "process", &base).because("configuration changed")
                } else if !n.app_alive {
                    Action::new(Op::Update, "process", &base).because("not running")
                } else if !n.app_healthy {
                    Action::new(Op::Update, "process", &base).because("unhealthy")
                } else {
                    Action::new(Op::Noop, "process", &base)
                };
                plan.actions.push(process);
                let proxy = if n.state.front_port != front {
                    Action::new(Op::Update, "proxy", proxy_id).because(format!("port {} -> {front}", n.state.front_port))
                } else if !n.proxy_alive {
                    Action::new(Op::Update, "proxy", proxy_id).because("not running")
                } else {
                    Action::new(Op::Noop, "proxy", proxy_id)
                };
                plan.actions.push(proxy);
            }
        }
        plan
    }

    /// Processes on this machine are replaced without asking; `destroy` still asks.
    fn needs_confirmation(&self, _plan: &Plan) -> bool {
        false
    }

    async fn apply(&self, cx: &Cx, plan: &Plan, now: Option<&Deployed>, artifact: &Artifact, r: &dyn Reporter) -> Result<Outcome> {
        let built = artifact.payload.downcast_ref::<Built>().expect("local artifact");
        let now = now.map(|d| d.state.downcast_ref::<Now>().expect("local state"));
        let dir = deployment_dir(cx)?;
        fs_err::create_dir_all(dir.join("logs"))?;
        let _lock = FileLock::acquire(&dir.join("lock"))?;
        let front = front_port(cx);
        let op_of = |res: &str| plan.actions.iter().find(|a| a.resource == res).map(|a| a.op).unwrap_or(Op::Noop);
        let (process_op, proxy_op) = (op_of("process"), op_of("proxy"));

        let ours_on_front = now.is_some_and(|n| n.proxy_alive && n.state.front_port == front);
        if proxy_op != Op::Noop && !ours_on_front && process::port_in_use(front) {
            return Err(Hinted::new(
                format!("port {front} is in use by another program"),
                format!("stop it, or serve on another port: --set port={} (or `port` in [targets.{}])", front.saturating_add(1), cx.target.name),
            )
            .into());
        }

        let salt = now.map(|n| n.state.salt.clone()).unwrap_or_else(new_salt);
        let mut state = match now {
            Some(n) => n.state.clone(),
            None => State {
                app: cx.app_name().to_string(),
                stage: cx.stage.to_string(),
                front_port: front,
                proxy: None,
                app_proc: Proc { pid: 0, start: None },
                app_port: 0,
                artifact: String::new(),
                env_key: String::new(),
                config: String::new(),
                salt: salt.clone(),
                release: PathBuf::new(),
                log: PathBuf::new(),
                deployed_at: 0,
            },
        };
        let old_app = now.filter(|n| n.app_alive).map(|n| n.state.app_proc);
        let old_release = now.map(|n| n.state.release.clone());

        if process_op != Op::Noop {
            r.step("starting the new version");
            let release = ensure_release(&dir, artifact, &built.sources)?;
            let port = process::free_port()?;
            let log = dir.join("logs").join(format!("app-{}-{}.log", short(artifact.digest.trim_start_matches("sha256:")), now_secs()));
            let mut child = spawn_app(cx, &built.env, &release, port, &log)?;
            let proc_ = Proc::of(child.id());
            // Interrupted (Ctrl-C drops this future) or failed: the new process must not
            // outlive us untracked.
            let mut guard = StopOnDrop(Some(proc_));
            r.done();
            let health_url = format!("{}{}", url(port), health_path(cx));
            r.step(&format!("waiting for GET {} to answer 2xx", health_path(cx)));
            let verdict = health::wait_healthy(&health_url, health_timeout(cx), r, || match child.try_wait() {
                Ok(Some(status)) => Some(describe_exit(status)),
                _ => None,
            })
            .await;
            if let Err(why) = verdict {
                proc_.stop(STOP_GRACE);
                let _ = child.wait();
                if Some(&release) != old_release.as_ref() {
                    let _ = fs_err::remove_dir_all(&release);
                }
                let log_text = std::fs::read_to_string(&log).unwrap_or_default();
                let reason = match why {
                    Unhealthy::Exited(how) => format!("the new version {how} before GET {} answered", health_path(cx)),
                    Unhealthy::TimedOut { last } => format!(
                        "GET {} did not answer 2xx within {}s (last: {last})",
                        health_path(cx),
                        health_timeout(cx).as_secs()
                    ),
                };
                let kept = if now.is_some_and(|n| n.app_alive) { "the previous version keeps serving" } else { "nothing is serving" };
                let failure = format!(
                    "{reason}; {kept}.\nLast lines of its log ({}):\n{}",
                    log.display(),
                    cx.secrets.redact(&tail(&log_text, 20))
                );
                return Ok(Outcome { url: now.map(|n| url(n.state.front_port)), health: Health::Failed, actions: plan.actions.clone(), failure: Some(failure) });
            }
            r.done();
            state.app_proc = proc_;
            state.app_port = port;
            state.artifact = artifact.digest.clone();
            state.env_key = built.env.key.clone();
            state.config = config_digest(cx, &salt, &built.env.interpreter.version);
            state.release = release;
            state.log = log;
            state.deployed_at = now_secs();
            guard.disarm();
        }

        let upstream = dir.join("upstream");
        write_atomic(&upstream, state.app_port.to_string().as_bytes())?;
        if proxy_op != Op::Noop {
            r.step(&format!("serving on 127.0.0.1:{front}"));
            if let Some(old) = now.and_then(|n| n.state.proxy) {
                old.stop(STOP_GRACE);
            }
            state.proxy = Some(start_proxy(&dir, front, &upstream).await?);
            state.front_port = front;
            r.done();
        }
        write_atomic(&dir.join("state.json"), &serde_json::to_vec_pretty(&state)?)?;

        if process_op != Op::Noop {
            if let Some(old) = old_app.filter(|o| *o != state.app_proc) {
                r.step("stopping the previous version");
                tokio::task::block_in_place(|| old.stop(STOP_GRACE));
                r.done();
            }
            prune(&dir, &state);
        }
        let front_url = url(front);
        let health = if health::probe(&format!("{front_url}{}", health_path(cx))).await { Health::Passed } else { Health::Failed };
        let failure = (health == Health::Failed).then(|| format!("the app answered directly, but not through 127.0.0.1:{front}; see {}", dir.join("proxy.log").display()));
        Ok(Outcome { url: Some(front_url), health, actions: plan.actions.clone(), failure })
    }

    async fn logs(&self, cx: &Cx, now: &Deployed, lines: usize, follow: bool, out: &(dyn for<'a> Fn(&'a str) + Send + Sync)) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let n = now.state.downcast_ref::<Now>().expect("local state");
        let mut log = n.state.log.clone();
        let (first, mut offset) = last_lines(&log, lines)?;
        for line in &first {
            out(line);
        }
        if !follow {
            return Ok(());
        }
        let dir = deployment_dir(cx)?;
        let mut pending = String::new();
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            // A deploy in the meantime starts a new log: follow the serving version.
            if let Ok(Some(state)) = read_state(&dir) {
                if state.log != log {
                    log = state.log;
                    offset = 0;
                    pending.clear();
                }
            } else {
                return Ok(());
            }
            let Ok(mut f) = fs_err::File::open(&log) else { continue };
            let len = f.metadata()?.len();
            if len < offset {
                offset = 0;
            }
            if len == offset {
                continue;
            }
            f.seek(SeekFrom::Start(offset))?;
            let mut chunk = Vec::new();
            f.by_ref().take(len - offset).read_to_end(&mut chunk)?;
            offset = len;
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(i) = pending.find('\n') {
                let line: String = pending.drain(..=i).collect();
                out(line.trim_end_matches('\n'));
            }
        }
    }

    fn plan_destroy(&self, cx: &Cx, now: &Deployed) -> Plan {
        let n = now.state.downcast_ref::<Now>().expect("local state");
        let mut plan = Plan::default();
        let op = |alive: bool| if alive { Op::Delete } else { Op::Noop };
        plan.actions.push(Action::new(op(n.app_alive), "process", cx.resource_base()).because(format!("pid {}", n.state.app_proc.pid)));
        plan.actions.push(Action::new(op(n.proxy_alive), "proxy", format!("127.0.0.1:{}", n.state.front_port)));
        plan.actions.push(Action::new(Op::Delete, "files", deployment_dir(cx).map(|d| d.display().to_string()).unwrap_or_default()).because("snapshots, logs, state"));
        plan
    }

    async fn destroy(&self, cx: &Cx, now: &Deployed, r: &dyn Reporter) -> Result<Outcome> {
        let n = now.state.downcast_ref::<Now>().expect("local state");
        let dir = deployment_dir(cx)?;
        let lock = FileLock::acquire(&dir.join("lock"))?;
        r.step("stopping processes");
        let _ = fs_err::remove_file(dir.join("upstream"));
        tokio::task::block_in_place(|| {
            n.state.app_proc.stop(STOP_GRACE);
            if let Some(p) = n.state.proxy {
                p.stop(STOP_GRACE);
            }
        });
        r.done();
        drop(lock);
        fs_err::remove_dir_all(&dir)?;
        Ok(Outcome { url: None, health: Health::Skipped, actions: self.plan_destroy(cx, now).actions, failure: None })
    }
}

/// Stops a just-started process unless `disarm`ed: runs when a deploy is interrupted.
struct StopOnDrop(Option<Proc>);

impl StopOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            p.stop(Duration::from_secs(2));
        }
    }
}

/// The release folder for this artifact: a copy of the source set (large files hard
/// linked), so the running version never sees later edits.
fn ensure_release(dir: &Path, artifact: &Artifact, sources: &SourceSet) -> Result<PathBuf> {
    let name = short(artifact.digest.trim_start_matches("sha256:")).to_string();
    let release = dir.join("releases").join(&name);
    if release.join(".aideploy-complete").is_file() {
        return Ok(release);
    }
    let tmp = dir.join("releases").join(format!("{name}.tmp-{}", std::process::id()));
    let _ = fs_err::remove_dir_all(&tmp);
    for f in &sources.files {
        let to = tmp.join(&f.rel);
        fs_err::create_dir_all(to.parent().expect("file has a parent"))?;
        let linked = f.size >= 8 << 20 && std::fs::hard_link(&f.abs, &to).is_ok();
        if !linked {
            fs_err::copy(&f.abs, &to)?;
        }
    }
    fs_err::create_dir_all(&tmp)?;
    fs_err::write(tmp.join(".aideploy-complete"), &artifact.digest)?;
    if release.exists() {
        fs_err::remove_dir_all(&release)?;
    }
    fs_err::rename(&tmp, &release)?;
    Ok(release)
}

fn spawn_app(cx: &Cx, env: &PythonEnv, release: &Path, port: u16, log: &Path) -> Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let app = cx.loaded.manifest.app();
    let mut cmd = match (&app.asgi, &app.command) {
        (Some(asgi), _) => {
            let mut c = Command::new(&env.python);
            c.args(["-m", "uvicorn", asgi.get().as_str(), "--host", "127.0.0.1", "--port", &port.to_string()]);
            c
        }
        (None, Some(command)) => {
            let mut c = Command::new("/bin/sh");
            c.args(["-c", command.get()]);
            c
        }
        (None, None) => unreachable!("checked at load"),
    };
    cmd.env_clear();
    for key in PASS_THROUGH {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![env.bin_dir()];
    paths.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(paths)?);
    cmd.env("VIRTUAL_ENV", &env.dir);
    // A src-layout project (`src/pkg/...`, no `src/__init__.py`) imports as `pkg`.
    let src = release.join("src");
    if src.is_dir() && !src.join("__init__.py").exists() {
        cmd.env("PYTHONPATH", &src);
    }
    cmd.env("PYTHONUNBUFFERED", "1");
    cmd.env("PORT", port.to_string());
    for (k, v) in cx.loaded.manifest.env_pairs() {
        cmd.env(k, v);
    }
    for (k, v) in &cx.secrets.values {
        cmd.env(k, v.expose());
    }
    let out = fs_err::File::create(log)?.into_parts().0;
    let err = out.try_clone()?;
    cmd.current_dir(release)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0);
    cmd.spawn().with_context(|| format!("cannot start `{}`", entry_line(cx)))
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "exited".into(),
    }
}

async fn start_proxy(dir: &Path, port: u16, upstream: &Path) -> Result<Proc> {
    use std::os::unix::process::CommandExt;
    let log_path = dir.join("proxy.log");
    let log = fs_err::File::create(&log_path)?.into_parts().0;
    let err = log.try_clone()?;
    let exe = std::env::current_exe().context("cannot find the aideploy executable to start the proxy")?;
    let mut child = Command::new(exe)
        .arg(PROXY_ARG)
        .arg(format!("127.0.0.1:{port}"))
        .arg(upstream)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err))
        .process_group(0)
        .spawn()
        .context("cannot start the local proxy")?;
    let proc_ = Proc::of(child.id());
    for _ in 0..100 {
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(Hinted::new(
                format!("the local proxy on port {port} {}:\n{}", describe_exit(status), tail(&text, 5)),
                format!("pick a free port with --set port=PORT"),
            )
            .into());
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(proc_);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proc_.stop(STOP_GRACE);
    Err(Hinted::new(format!("the local proxy did not start listening on port {port}"), format!("see {}", log_path.display())).into())
}

/// Removes release snapshots other than the serving one, and all but the newest logs.
fn prune(dir: &Path, state: &State) {
    if let Ok(entries) = std::fs::read_dir(dir.join("releases")) {
        for e in entries.flatten() {
            if e.path() != state.release {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir.join("logs")) {
        let mut logs: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        logs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        let keep = 5;
        let n = logs.len();
        for p in logs.into_iter().take(n.saturating_sub(keep)) {
            if p != state.log {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// The last `n` lines of a file, reading only its end.
fn last_lines(path: &Path, n: usize) -> Result<(Vec<String>, u64)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = fs_err::File::open(path)?;
    let len = f.metadata()?.len();
    let mut start = len;
    let mut buf = Vec::new();
    // Read backwards in 64 KiB steps until enough newlines are seen.
    while start > 0 && buf.iter().filter(|b| **b == b'\n').count() <= n {
        let step = start.min(64 * 1024);
        start -= step;
        f.seek(SeekFrom::Start(start))?;
        let mut chunk = vec![0; step as usize];
        f.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let skip = lines.len().saturating_sub(n);
    Ok((lines.into_iter().skip(skip).collect(), len))
}
