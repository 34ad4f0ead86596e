//! What exists on this machine for one deployment: the recorded state, and whether the
//! processes it names are still the ones aideploy started.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::process::Proc;
use super::run::COMPLETE;
use super::run::{Serving, Version};
use super::url;
use crate::engine::{health, Deployed, Health};

/// What `state.json` records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub app: String,
    pub stage: String,
    pub front_port: u16,
    pub proxy: Option<Proc>,
    pub salt: String,
    pub serving: Serving,
    /// The version before, kept for `rollback`.
    pub previous: Option<Version>,
    /// When the previous version began serving (seconds since the epoch); none in
    /// states written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_since: Option<u64>,
}

/// What `observe` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// No state file: nothing deployed (or destroyed).
    Nothing,
    /// A recorded deployment, with what of it is still alive; partly there when the app
    /// process died (or is not ours any more) or the proxy is gone.
    Recorded(Box<Now>),
}

/// A recorded deployment and the liveness of its pieces.
#[derive(Debug, Clone, PartialEq)]
pub struct Now {
    pub state: State,
    /// The recorded app process is running and is the one aideploy started.
    pub app_alive: bool,
    /// The recorded proxy is running and is the one aideploy started.
    pub proxy_alive: bool,
    /// The app answered its health path directly.
    pub app_healthy: bool,
    /// The previous version's snapshot is complete, so `rollback` can start it again.
    pub previous_kept: bool,
}

impl Observed {
    pub fn now(&self) -> Option<&Now> {
        match self {
            Observed::Nothing => None,
            Observed::Recorded(n) => Some(n.as_ref()),
        }
    }
}

pub fn read_state(dir: &Path) -> Result<Option<State>> {
    let path = dir.join("state.json");
    match fs_err::read(&path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
            format!("{} is damaged or from another aideploy version; remove {} to start over", path.display(), dir.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Reads the state file and checks the processes it names. Writes nothing.
pub async fn observe(dir: &Path) -> Result<Observed> {
    let Some(state) = read_state(dir)? else { return Ok(Observed::Nothing) };
    let s = &state.serving;
    let app_alive = s.proc.alive();
    let proxy_alive = state.proxy.is_some_and(|p| p.alive());
    let app_healthy = app_alive && health::probe(&format!("{}{}", url(s.port), s.version.health)).await;
    let previous_kept = state.previous.as_ref().is_some_and(|p| p.release.join(COMPLETE).is_file());
    Ok(Observed::Recorded(Box::new(Now { state, app_alive, proxy_alive, app_healthy, previous_kept })))
}

/// What `status` shows.
pub fn deployed(seen: &Observed) -> Option<Deployed> {
    let n = seen.now()?;
    let (state, s) = (&n.state, &n.state.serving);
    let mut details = serde_json::Map::new();
    details.insert("running".into(), json!(n.app_alive && n.proxy_alive));
    details.insert("pid".into(), json!(s.proc.pid));
    details.insert("app_port".into(), json!(s.port));
    details.insert("port".into(), json!(state.front_port));
    details.insert("log".into(), json!(s.log));
    if let Some(p) = &state.previous {
        details.insert("previous".into(), json!(p.artifact));
    }
    Some(Deployed {
        // The artifact's digest, as `build` shows it and `history` lists the version.
        digest: s.version.artifact.clone(),
        url: Some(url(state.front_port)),
        health: if n.app_healthy && n.proxy_alive { Health::Passed } else { Health::Failed },
        deployed_at: Some(crate::util::iso8601(s.since)),
        deployed_by: None,
        details,
    })
}

/// Whether the recorded state differs from the one a plan was made from (read again
/// under the deployment's lock).
pub fn changed_since(dir: &Path, seen: &Observed) -> Result<bool> {
    Ok(read_state(dir)?.as_ref() != seen.now().map(|n| &n.state))
}
