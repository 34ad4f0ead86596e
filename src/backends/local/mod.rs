//! The `local` target: the app as a background process on this machine, behind a stable
//! loopback port. Built the way the clouds build it (a snapshot of the source set, its
//! requirements installed into a cached environment), started with only the variables
//! the manifest gives it, and switched to only once its health path answers. The
//! previous version is kept for `rollback`.
//!
//! State lives in `$AIDEPLOY_STATE_DIR/local/{app}-{stage}/`: `state.json`, the
//! `upstream` file the proxy reads, `releases/` (source snapshots) and `logs/`.

mod process;
pub mod proxy;
mod run;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::artifact::python::{self, PythonEnv};
use crate::artifact::source::{self, SourceSet};
use crate::engine::legacy::LegacyBackend;
use crate::engine::{
    health, Action, Artifact, Capabilities, Cx, DefaultPackage, Health, LegacyDeployed, Op, Outcome, Plan, Provider, Reporter,
};
use crate::error::{Hinted, UsageError};
use crate::manifest::Kind;
use crate::util::{state_dir, write_atomic, FileLock};
use process::Proc;
use run::{Entry, Serving, Version, STOP_GRACE};

pub struct LocalBackend;

/// The hidden first argument that runs the proxy (see `main.rs`).
pub const PROXY_ARG: &str = "__local-proxy";

const DEFAULT_HEALTH_TIMEOUT: u32 = 60;

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
    salt: String,
    serving: Serving,
    /// The version before, kept for `rollback`.
    previous: Option<Version>,
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

fn entry(cx: &Cx) -> Entry {
    let app = cx.loaded.manifest.app();
    match (&app.asgi, &app.command) {
        (Some(a), _) => Entry::Asgi(a.get().to_string()),
        (None, Some(c)) => Entry::Command(c.get().clone()),
        (None, None) => unreachable!("checked at load"),
    }
}

/// The version the manifest and the code describe now.
fn desired(cx: &Cx, built: &Built, artifact: &Artifact, release: PathBuf, salt: &str) -> Version {
    let mut v = Version {
        artifact: artifact.digest.clone(),
        env_key: built.env.key.clone(),
        venv: built.env.dir.clone(),
        release,
        entry: entry(cx),
        health: cx.loaded.manifest.app().health.to_string(),
        env: cx.loaded.manifest.env_pairs(),
        config: String::new(),
    };
    v.config = config_digest(&v, &built.env.interpreter.version, &cx.secrets.digest(salt));
    v
}

fn config_digest(v: &Version, python_version: &str, secrets_digest: &str) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&(&v.entry, &v.health, &v.env, python_version, secrets_digest)).expect("json"));
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
            format!("{} is damaged or from another aideploy version; remove {} to start over", path.display(), dir.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn deployment_digest(v: &Version) -> String {
    let mut h = Sha256::new();
    h.update(v.artifact.as_bytes());
    h.update(v.config.as_bytes());
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn now_of(d: &LegacyDeployed) -> &Now {
    d.state.downcast_ref::<Now>().expect("local state")
}

#[async_trait]
impl LegacyBackend for LocalBackend {
    fn kind(&self) -> Kind {
        Kind::Local
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: Provider::Local,
            secret_store: false,
            logs: true,
            rollback: true,
            default_package: DefaultPackage::Source,
            needs_registry: false,
        }
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
        Ok(Artifact::plain("source", digest, bytes, Arc::new(Built { env, sources })))
    }

    async fn current(&self, cx: &Cx) -> Result<Option<LegacyDeployed>> {
        let dir = deployment_dir(cx)?;
        let Some(state) = read_state(&dir)? else { return Ok(None) };
        let s = &state.serving;
        let app_alive = s.proc.alive();
        let proxy_alive = state.proxy.is_some_and(|p| p.alive());
        let app_healthy = app_alive && health::probe(&format!("{}{}", url(s.port), s.version.health)).await;
        let mut details = serde_json::Map::new();
        details.insert("running".into(), json!(app_alive && proxy_alive));
        details.insert("pid".into(), json!(s.proc.pid));
        details.insert("app_port".into(), json!(s.port));
        details.insert("port".into(), json!(state.front_port));
        details.insert("log".into(), json!(s.log));
        details.insert("deployed_at".into(), json!(crate::util::iso8601(s.since)));
        details.insert("previous".into(), json!(state.previous.as_ref().map(deployment_digest)));
        Ok(Some(LegacyDeployed {
            digest: deployment_digest(&s.version),
            url: Some(url(state.front_port)),
            health: if app_healthy && proxy_alive { Health::Passed } else { Health::Failed },
            details,
            state: Arc::new(Now { state, app_alive, proxy_alive, app_healthy }),
        }))
    }

    fn plan(&self, cx: &Cx, now: Option<&LegacyDeployed>, artifact: &Artifact) -> Plan {
        let built = artifact.payload.downcast_ref::<Built>().expect("local artifact");
        let base = cx.resource_base();
        let front = front_port(cx);
        let proxy_id = format!("127.0.0.1:{front}");
        let mut plan = Plan::default();
        match now.map(now_of) {
            None => {
                plan.actions.push(Action::new(Op::Create, "process", &base).because(entry(cx).describe()));
                plan.actions.push(Action::new(Op::Create, "proxy", proxy_id).because("stable URL"));
            }
            Some(n) => {
                let running = &n.state.serving.version;
                let want = desired(cx, built, artifact, PathBuf::new(), &n.state.salt);
                let process = if running.artifact != want.artifact {
                    let why = if running.env_key != want.env_key { "dependencies changed" } else { "code changed" };
                    Action::new(Op::Update, "process", &base).because(why)
                } else if running.config != want.config {
                    Action::new(Op::Update, "process", &base).because("configuration changed")
                } else if !n.app_alive {
                    Action::new(Op::Update, "process", &base).because("not running")
                } else if !n.app_healthy {
                    Action::new(Op::Update, "process", &base).because("unhealthy")
                } else {
                    Action::new(Op::Noop, "process", &base)
                };
                plan.actions.push(process);
                plan.actions.push(proxy_action(n, front));
            }
        }
        plan
    }

    /// Processes on this machine are replaced without asking; `destroy` still asks.
    fn needs_confirmation(&self, _plan: &Plan) -> bool {
        false
    }

    async fn apply(&self, cx: &Cx, plan: &Plan, now: Option<&LegacyDeployed>, artifact: &Artifact, r: &dyn Reporter) -> Result<Outcome> {
        let built = artifact.payload.downcast_ref::<Built>().expect("local artifact");
        let dir = deployment_dir(cx)?;
        fs_err::create_dir_all(dir.join("logs"))?;
        let _lock = FileLock::acquire(&dir.join("lock"))?;
        // Another command (a second deploy started at the same time) may have changed the
        // deployment while this one built and planned: plan again from what is there now.
        let fresh;
        let (now, plan) = if changed_since(&dir, now.map(now_of))? {
            r.warn("another aideploy command changed this deployment meanwhile; planning again from its result");
            let current = self.current(cx).await?;
            let plan = self.plan(cx, current.as_ref(), artifact);
            fresh = (current, plan);
            (fresh.0.as_ref().map(now_of), &fresh.1)
        } else {
            (now.map(now_of), plan)
        };
        let front = front_port(cx);
        let op_of = |res: &str| plan.actions.iter().find(|a| a.resource == res).map(|a| a.op).unwrap_or(Op::Noop);
        check_front_port(cx, now, front, op_of("proxy"))?;

        let salt = now.map(|n| n.state.salt.clone()).unwrap_or_else(new_salt);
        let serving = if op_of("process") != Op::Noop {
            let release = run::ensure_release(&dir, &artifact.digest, &built.sources)?;
            let version = desired(cx, built, artifact, release.clone(), &salt);
            match run::start(&dir, &version, &cx.secrets, health_timeout(cx), r).await? {
                Ok(s) => Some(s),
                Err(why) => {
                    let keeps = now.is_some_and(|n| n.app_alive);
                    if now.is_none_or(|n| {
                        n.state.serving.version.release != release && n.state.previous.as_ref().is_none_or(|p| p.release != release)
                    }) {
                        let _ = fs_err::remove_dir_all(&release);
                    }
                    let kept = if keeps { "the previous version keeps serving" } else { "nothing is serving" };
                    return Ok(failed(now, plan, format!("{why}\n({kept})")));
                }
            }
        } else {
            None
        };
        let state = match (now, serving) {
            (Some(n), Some(s)) => {
                // A restart of the same version keeps the older one for rollback.
                let previous =
                    if n.state.serving.version.artifact != s.version.artifact || n.state.serving.version.config != s.version.config {
                        Some(n.state.serving.version.clone())
                    } else {
                        n.state.previous.clone()
                    };
                State { previous, serving: s, ..n.state.clone() }
            }
            (Some(n), None) => n.state.clone(),
            (None, Some(s)) => State {
                app: cx.app_name().into(),
                stage: cx.stage.to_string(),
                front_port: front,
                proxy: None,
                salt,
                serving: s,
                previous: None,
            },
            (None, None) => unreachable!("a first deploy starts a process"),
        };
        let state = switch(&dir, now, state, front, op_of("proxy") != Op::Noop, r).await?;
        verified(&state, plan.actions.clone(), &dir).await
    }

    fn plan_rollback(&self, cx: &Cx, now: &LegacyDeployed) -> Result<Plan> {
        let n = now_of(now);
        let Some(prev) = &n.state.previous else {
            return Err(UsageError::new(format!("{} ({}) has no previous version to roll back to", cx.app_name(), cx.stage))
                .hint("rollback returns to the version before the last successful deploy; deploy at least twice first")
                .into());
        };
        let mut plan = Plan::default();
        plan.actions.push(
            Action::new(Op::Update, "process", cx.resource_base())
                .because(format!("back to {}", short(deployment_digest(prev).trim_start_matches("sha256:")))),
        );
        plan.actions.push(proxy_action(n, n.state.front_port));
        Ok(plan)
    }

    async fn rollback(&self, cx: &Cx, plan: &Plan, now: &LegacyDeployed, r: &dyn Reporter) -> Result<Outcome> {
        let n = now_of(now);
        let dir = deployment_dir(cx)?;
        let _lock = FileLock::acquire(&dir.join("lock"))?;
        unchanged_since(cx, &dir, n)?;
        let prev = n.state.previous.clone().expect("checked by plan_rollback");
        if !prev.release.join(".aideploy-complete").is_file() {
            return Err(Hinted::new("the previous version's snapshot is gone", "deploy the version you want from source instead").into());
        }
        match run::start(&dir, &prev, &cx.secrets, health_timeout(cx), r).await? {
            Err(why) => Ok(failed(Some(n), plan, format!("{why}\n(the current version keeps serving)"))),
            Ok(s) => {
                let state = State { previous: Some(n.state.serving.version.clone()), serving: s, ..n.state.clone() };
                let front = n.state.front_port;
                let state = switch(&dir, Some(n), state, front, !n.proxy_alive, r).await?;
                verified(&state, plan.actions.clone(), &dir).await
            }
        }
    }

    async fn logs(
        &self,
        _cx: &Cx,
        now: &LegacyDeployed,
        lines: usize,
        follow: bool,
        out: &(dyn for<'a> Fn(&'a str) + Send + Sync),
    ) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let n = now_of(now);
        let mut log = n.state.serving.log.clone();
        let (first, mut offset) = run::last_lines(&log, lines)?;
        for line in &first {
            out(line);
        }
        if !follow {
            return Ok(());
        }
        let dir = log.parent().and_then(Path::parent).map(Path::to_path_buf).context("log outside its deployment")?;
        let mut pending = String::new();
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            // A deploy in the meantime starts a new log: follow the serving version.
            match read_state(&dir) {
                Ok(Some(state)) if state.serving.log != log => {
                    log = state.serving.log;
                    offset = 0;
                    pending.clear();
                }
                Ok(Some(_)) => {}
                _ => return Ok(()),
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

    fn plan_destroy(&self, cx: &Cx, now: &LegacyDeployed) -> Plan {
        let n = now_of(now);
        let mut plan = Plan::default();
        let op = |alive: bool| if alive { Op::Delete } else { Op::Noop };
        plan.actions.push(Action::new(op(n.app_alive), "process", cx.resource_base()).because(format!("pid {}", n.state.serving.proc.pid)));
        plan.actions.push(Action::new(op(n.proxy_alive), "proxy", format!("127.0.0.1:{}", n.state.front_port)));
        plan.actions.push(
            Action::new(Op::Delete, "files", deployment_dir(cx).map(|d| d.display().to_string()).unwrap_or_default())
                .because("snapshots, logs, state"),
        );
        plan
    }

    async fn destroy(&self, cx: &Cx, now: &LegacyDeployed, r: &dyn Reporter) -> Result<Outcome> {
        let n = now_of(now);
        let dir = deployment_dir(cx)?;
        let lock = FileLock::acquire(&dir.join("lock"))?;
        unchanged_since(cx, &dir, n)?;
        r.step("stopping processes");
        let _ = fs_err::remove_file(dir.join("upstream"));
        tokio::task::block_in_place(|| {
            n.state.serving.proc.stop(STOP_GRACE);
            if let Some(p) = n.state.proxy {
                p.stop(STOP_GRACE);
            }
        });
        r.done();
        drop(lock);
        fs_err::remove_dir_all(&dir)?;
        Ok(Outcome { url: None, health: Health::Skipped, actions: self.plan_destroy(cx, now).actions, failure: None, pushed: None })
    }
}

/// Whether the recorded state differs from the one a plan was made from (read again
/// under the deployment's lock).
fn changed_since(dir: &Path, now: Option<&Now>) -> Result<bool> {
    let recorded = read_state(dir)?.map(serde_json::to_value).transpose()?;
    let planned = now.map(|n| serde_json::to_value(&n.state)).transpose()?;
    Ok(recorded != planned)
}

/// Rollback and destroy act on the version they showed: refuse when it changed meanwhile.
fn unchanged_since(cx: &Cx, dir: &Path, now: &Now) -> Result<()> {
    if changed_since(dir, Some(now))? {
        return Err(Hinted::new(
            format!("{} ({}) was changed by another aideploy command while this one was planning", cx.app_name(), cx.stage),
            "run the command again: it plans from what is deployed now",
        )
        .into());
    }
    Ok(())
}

fn proxy_action(n: &Now, front: u16) -> Action {
    let id = format!("127.0.0.1:{front}");
    if n.state.front_port != front {
        Action::new(Op::Update, "proxy", id).because(format!("port {} -> {front}", n.state.front_port))
    } else if !n.proxy_alive {
        Action::new(Op::Update, "proxy", id).because("not running")
    } else {
        Action::new(Op::Noop, "proxy", id)
    }
}

/// A front port that another program holds is an error before anything starts.
fn check_front_port(cx: &Cx, now: Option<&Now>, front: u16, proxy_op: Op) -> Result<()> {
    let ours = now.is_some_and(|n| n.proxy_alive && n.state.front_port == front);
    if proxy_op != Op::Noop && !ours && process::port_in_use(front) {
        return Err(Hinted::new(
            format!("port {front} is in use by another program"),
            format!(
                "stop it, or serve on another port: --set port={} (or `port` in [targets.{}])",
                front.saturating_add(1),
                cx.target.name
            ),
        )
        .into());
    }
    Ok(())
}

fn failed(now: Option<&Now>, plan: &Plan, failure: String) -> Outcome {
    Outcome {
        url: now.map(|n| url(n.state.front_port)),
        health: Health::Failed,
        actions: plan.actions.clone(),
        failure: Some(failure),
        pushed: None,
    }
}

/// Points the stable port at `state.serving` (starting the proxy when asked), records
/// the state, then stops what served before and prunes old snapshots and logs.
async fn switch(dir: &Path, now: Option<&Now>, mut state: State, front: u16, restart_proxy: bool, r: &dyn Reporter) -> Result<State> {
    let upstream = dir.join("upstream");
    write_atomic(&upstream, state.serving.port.to_string().as_bytes())?;
    if restart_proxy {
        r.step(&format!("serving on 127.0.0.1:{front}"));
        if let Some(old) = now.and_then(|n| n.state.proxy) {
            old.stop(STOP_GRACE);
        }
        state.proxy = Some(run::start_proxy(dir, front, &upstream).await?);
        state.front_port = front;
        r.done();
    }
    write_atomic(&dir.join("state.json"), &serde_json::to_vec_pretty(&state)?)?;
    if let Some(old) = now.filter(|n| n.app_alive).map(|n| n.state.serving.proc).filter(|p| *p != state.serving.proc) {
        r.step("stopping the previous version");
        tokio::task::block_in_place(|| old.stop(STOP_GRACE));
        r.done();
    }
    prune(dir, &state);
    Ok(state)
}

/// Checks the stable URL answers, and reports.
async fn verified(state: &State, actions: Vec<Action>, dir: &Path) -> Result<Outcome> {
    let front_url = url(state.front_port);
    let ok = health::probe(&format!("{front_url}{}", state.serving.version.health)).await;
    let failure = (!ok).then(|| {
        format!("the app answered directly, but not through 127.0.0.1:{}; see {}", state.front_port, dir.join("proxy.log").display())
    });
    Ok(Outcome { url: Some(front_url), health: if ok { Health::Passed } else { Health::Failed }, actions, failure, pushed: None })
}

/// Removes snapshots other than the serving and the previous one, and all but the
/// newest logs.
fn prune(dir: &Path, state: &State) {
    let keep: Vec<&PathBuf> = std::iter::once(&state.serving.version.release).chain(state.previous.as_ref().map(|p| &p.release)).collect();
    if let Ok(entries) = std::fs::read_dir(dir.join("releases")) {
        for e in entries.flatten() {
            if !keep.contains(&&e.path()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir.join("logs")) {
        let mut logs: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        logs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        let n = logs.len();
        for p in logs.into_iter().take(n.saturating_sub(5)) {
            if p != state.serving.log {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}
