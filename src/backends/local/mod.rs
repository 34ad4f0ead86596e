//! The `local` target: the app as a background process on this machine, behind a stable
//! loopback port. Built the way the clouds build it (a snapshot of the source set, its
//! requirements installed into a cached environment), started with only the variables
//! the manifest gives it, and switched to only once its health path answers. The
//! previous version is kept for `rollback` (and listed by `history`, named by its
//! artifact digest's first 12 hex digits).
//!
//! State lives in `$AIDEPLOY_STATE_DIR/local/{app}-{stage}/`: `state.json`, the
//! `upstream` file the proxy reads, `releases/` (source snapshots) and `logs/`.
//!
//! "The cloud" is this machine: `observe` reads the state file and asks whether the
//! recorded processes are still the ones aideploy started (pid and start time), `plan`
//! compares, `apply` starts, switches and stops. A process or a port that aideploy did
//! not start is never signalled or adopted.

mod apply;
mod bind;
mod listen;
mod logs;
mod plan;
mod process;
pub mod proxy;
mod run;
mod state;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::artifact::python::{self, PythonEnv};
use crate::artifact::source::{self, SourceSet};
use crate::engine::target::{LineSink, LogQuery};
use crate::engine::{ArtifactInfo, Built, Capabilities, Cx, DefaultPackage, Deployed, Kept, Outcome, Planned, Provider, Reporter, Target};
use crate::manifest::Kind;
use crate::util::state_dir;
pub use plan::{ProxyWhy, Step, Why};
use run::{Entry, Version};
pub use state::{Now, Observed};

pub struct LocalTarget;

/// The hidden first argument that runs the proxy (see `main.rs`).
pub const PROXY_ARG: &str = "__local-proxy";

/// What `build` made, on this machine: the cached Python environment and the hashed
/// source set (snapshotted into a release folder only by `apply`).
pub struct Source {
    pub env: PythonEnv,
    pub sources: SourceSet,
}

fn deployment_dir(cx: &Cx) -> Result<PathBuf> {
    Ok(state_dir()?.join("local").join(cx.resource_base()))
}

fn front_port(cx: &Cx) -> u16 {
    cx.target.settings.port.as_ref().map(|p| p.get().0).unwrap_or(cx.loaded.manifest.app().port.0)
}

/// `public = true`: the stable port listens on every interface and the app's command
/// runs as written; else everything listens on 127.0.0.1 only.
fn public(cx: &Cx) -> bool {
    cx.target.settings.public.as_ref().is_some_and(|p| *p.get())
}

fn health_timeout(cx: &Cx) -> Duration {
    cx.target.health_timeout()
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn entry(cx: &Cx) -> Entry {
    let app = cx.loaded.manifest.app();
    match (&app.asgi, &app.command) {
        (Some(a), _) => Entry::Asgi(a.get().to_string()),
        (None, Some(c)) => Entry::Command(c.get().clone()),
        // The manifest loader requires one of them.
        (None, None) => Entry::Command(String::new()),
    }
}

/// The version the manifest and the code describe now.
fn desired(cx: &Cx, built: &Built<Source>, release: PathBuf, salt: &str) -> Version {
    let mut v = Version {
        artifact: built.info.digest.clone(),
        env_key: built.data.env.key.clone(),
        venv: built.data.env.dir.clone(),
        release,
        entry: entry(cx),
        health: cx.loaded.manifest.app().health.to_string(),
        env: cx.loaded.manifest.env_pairs(),
        config: String::new(),
        code: code_digest(cx, &built.data.sources),
        secrets: cx.secrets.digest(salt),
        public: public(cx),
    };
    v.config = config_digest(&v, &built.data.env.interpreter.version, &v.secrets);
    v
}

/// The source set's digest without the manifest file: the app's code alone.
fn code_digest(cx: &Cx, sources: &SourceSet) -> String {
    // The manifest sits at the top of the app folder (`dir` is its parent).
    let manifest = cx.loaded.path.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut h = Sha256::new();
    for f in sources.files.iter().filter(|f| Some(&f.rel) != manifest.as_ref()) {
        h.update(f.rel.as_bytes());
        h.update([0, u8::from(f.executable)]);
        h.update(f.sha256);
    }
    hex::encode(h.finalize())
}

fn config_digest(v: &Version, python_version: &str, secrets_digest: &str) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&(&v.entry, &v.health, &v.env, python_version, secrets_digest)).unwrap_or_default());
    // Only when set, so the digests of versions recorded before the setting existed hold.
    if v.public {
        h.update(b"\npublic");
    }
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

/// How `history` and `rollback --to` name a version: its artifact digest's first 12 hex
/// digits (its release folder's name, too).
fn release_id(v: &Version) -> &str {
    short(v.artifact.trim_start_matches("sha256:"))
}

#[async_trait]
impl Target for LocalTarget {
    type Artifact = Source;
    type Observed = Observed;
    type Change = Step;

    /// `status --metrics`: the local proxy relays TCP connections and records no requests.
    async fn metrics(&self, _cx: &Cx, _seen: &Self::Observed, _window: std::time::Duration) -> Result<crate::engine::Metrics> {
        Ok(crate::engine::Metrics::not_available("the local proxy relays TCP connections and records no requests"))
    }

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
            lease: true,
        }
    }

    async fn lease_store(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn crate::engine::lease::LeaseStore>>> {
        // Beside the deployment's folder, not in it: destroy removes that folder.
        let path = state_dir()?.join("local").join("leases").join(format!("{}.json", cx.resource_base()));
        Ok(Some(std::sync::Arc::new(crate::engine::lease::FileLease { path })))
    }

    async fn lease_record(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn crate::engine::lease::LeaseStore>>> {
        self.lease_store(cx).await
    }

    /// This machine is the local target's cloud: the lease files `leases/{app}-{stage}.json`
    /// beside the deployments. A name that another app's deployment claims (app `rag-pr`,
    /// stage `x` against app `rag`, stage `pr-x`) is that app's, not this one's.
    async fn stages(&self, cx: &Cx) -> Result<Vec<crate::engine::lease::StageRecord>> {
        use crate::engine::lease::{FileLease, LeaseStore, StageRecord};
        let root = state_dir()?.join("local");
        let entries = match std::fs::read_dir(root.join("leases")) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot list {}", root.join("leases").display()))),
        };
        let prefix = format!("{}-", cx.app_name());
        let mut found = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            let Some(stage) = name.strip_suffix(".json").and_then(|n| n.strip_prefix(&prefix)) else { continue };
            if stage.parse::<crate::manifest::Stage>().is_err() {
                continue;
            }
            let dir = root.join(name.trim_end_matches(".json"));
            if let Ok(Some(st)) = state::read_state(&dir) {
                if st.app != cx.app_name() || st.stage != stage {
                    continue;
                }
            }
            let stage = stage.to_string();
            if let Some((record, _)) = (FileLease { path }).read().await? {
                found.push(StageRecord { stage, record });
            }
        }
        Ok(found)
    }

    /// The Python environment (a cache shared by deploys) and the source set's digest;
    /// nothing in the deployment's state folder.
    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Built<Source>> {
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
        let info = ArtifactInfo::plain("source", digest, sources.bytes());
        Ok(Built { info, data: Source { env, sources } })
    }

    async fn observe(&self, cx: &Cx) -> Result<Observed> {
        state::observe(&deployment_dir(cx)?).await
    }

    fn deployed(&self, _cx: &Cx, seen: &Observed) -> Option<Deployed> {
        state::deployed(seen)
    }

    fn plan(&self, cx: &Cx, seen: &Observed, artifact: &Built<Source>) -> Planned<Step> {
        plan::plan(cx, seen, artifact)
    }

    /// Processes on this machine are replaced without asking; `destroy` still asks.
    fn needs_confirmation(&self, _plan: &Planned<Step>) -> bool {
        false
    }

    async fn apply(&self, cx: &Cx, seen: &Observed, artifact: &Built<Source>, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        apply::apply(cx, seen, artifact, plan, r).await
    }

    fn plan_rollback(&self, cx: &Cx, seen: &Observed) -> Result<Planned<Step>> {
        plan::plan_rollback(cx, seen)
    }

    async fn rollback(&self, cx: &Cx, seen: &Observed, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        apply::rollback(cx, seen, plan, r).await
    }

    /// The serving version and the previous one (the only one kept).
    fn releases(&self, _cx: &Cx, seen: &Observed) -> Vec<Kept> {
        plan::releases(seen)
    }

    fn plan_rollback_to(&self, cx: &Cx, seen: &Observed, id: &str) -> Result<Planned<Step>> {
        plan::plan_rollback_to(cx, seen, id)
    }

    async fn logs(&self, cx: &Cx, seen: &Observed, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
        logs::logs(cx, seen, query, out).await
    }

    fn plan_destroy(&self, cx: &Cx, seen: &Observed) -> Planned<Step> {
        plan::plan_destroy(cx, seen)
    }

    async fn destroy(&self, cx: &Cx, seen: &Observed, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        apply::destroy(cx, seen, plan, r).await
    }
}
