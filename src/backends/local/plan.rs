//! The local target's changes and the pure functions that choose them.

use std::path::PathBuf;

use anyhow::Result;

use super::run::Version;
use super::state::{Now, Observed};
use super::{deployment_dir, desired, entry, front_port, release_id, Source};
use crate::engine::target::pick_kept;
use crate::engine::{Action, Built, Change, Cx, Kept, Op, Planned};
use crate::error::UsageError;
use crate::util::iso8601;

/// One step of a local deploy, rollback or destroy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Start the first version (`entry` describes how it runs).
    StartApp { base: String, entry: String },
    /// Start the version the manifest and code describe now, and switch to it.
    ReplaceApp { base: String, why: Why },
    /// Start the previous version again, and switch back to it (`to`: its id, the first
    /// 12 hex digits of its artifact digest).
    RestoreApp { base: String, to: String },
    /// The running process is the wanted version and healthy.
    KeepApp { base: String },
    /// Start the proxy on the stable port.
    StartProxy { port: u16, why: ProxyWhy },
    /// The proxy runs on the wanted port.
    KeepProxy { port: u16 },
    /// Stop the app's process (a no-op row when it is not running any more).
    StopApp { base: String, pid: u32, alive: bool },
    /// Stop the proxy (a no-op row when it is not running any more).
    StopProxy { port: u16, alive: bool },
    /// Remove the deployment's folder: snapshots, logs, state.
    RemoveFiles { dir: PathBuf },
}

/// Why the running process is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// What the manifest, the code or the secrets changed.
    Changed(What),
    /// The recorded process died (or the pid is no longer the one aideploy started).
    NotRunning,
    Unhealthy,
}

/// What differs between the running version and the wanted one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct What {
    pub code: bool,
    pub dependencies: bool,
    pub env: bool,
    pub secrets: bool,
    /// `asgi`/`command`, the health path, the Python version.
    pub settings: bool,
    /// Only the manifest's text (a comment, a setting of another target).
    pub manifest: bool,
}

impl What {
    /// Compares two versions; `None` when they are the same.
    pub fn between(running: &Version, want: &Version) -> Option<What> {
        if running.artifact == want.artifact && running.config == want.config {
            return None;
        }
        let dependencies = running.env_key != want.env_key;
        let mut w = What {
            dependencies,
            // States from before the code digest was recorded: the artifact is code + deps.
            code: if running.code.is_empty() { running.artifact != want.artifact && !dependencies } else { running.code != want.code },
            env: running.env != want.env,
            secrets: !running.secrets.is_empty() && running.secrets != want.secrets,
            settings: running.entry != want.entry || running.health != want.health || running.public != want.public,
            manifest: false,
        };
        if w == What::default() {
            // The config digest also covers the Python version and (in older states) the
            // secrets; the artifact also covers the manifest file itself.
            if running.config != want.config {
                w.settings = true;
            } else {
                w.manifest = true;
            }
        }
        Some(w)
    }

    /// `code, env changed`.
    fn text(self) -> String {
        let parts = [
            (self.code, "code"),
            (self.dependencies, "dependencies"),
            (self.env, "env"),
            (self.secrets, "secrets"),
            (self.settings, "settings"),
            (self.manifest, "manifest"),
        ];
        let names: Vec<&str> = parts.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect();
        crate::engine::parts::changed_text(&names).unwrap_or_else(|| "changed".into())
    }
}

impl Why {
    fn text(self) -> String {
        match self {
            Why::Changed(what) => what.text(),
            Why::NotRunning => "not running".into(),
            Why::Unhealthy => "unhealthy".into(),
        }
    }
}

/// Why the proxy is (re)started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyWhy {
    New,
    PortChanged {
        from: u16,
    },
    /// The recorded proxy died.
    NotRunning,
    /// `public` changed: every interface, or 127.0.0.1 only.
    AccessChanged {
        public: bool,
    },
}

fn proxy_id(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

impl Change for Step {
    fn row(&self) -> Action {
        match self {
            Step::StartApp { base, entry } => Action::new(Op::Create, "process", base).because(entry),
            Step::ReplaceApp { base, why } => Action::new(Op::Update, "process", base).because(why.text()),
            Step::RestoreApp { base, to } => Action::new(Op::Update, "process", base).because(format!("back to {to}")),
            Step::KeepApp { base } => Action::new(Op::Noop, "process", base),
            Step::StartProxy { port, why: ProxyWhy::New } => Action::new(Op::Create, "proxy", proxy_id(*port)).because("stable URL"),
            Step::StartProxy { port, why: ProxyWhy::PortChanged { from } } => {
                Action::new(Op::Update, "proxy", proxy_id(*port)).because(format!("port {from} -> {port}"))
            }
            Step::StartProxy { port, why: ProxyWhy::NotRunning } => {
                Action::new(Op::Update, "proxy", proxy_id(*port)).because("not running")
            }
            Step::StartProxy { port, why: ProxyWhy::AccessChanged { public } } => Action::new(Op::Update, "proxy", proxy_id(*port))
                .because(if *public { "public: every interface" } else { "127.0.0.1 only" }),
            Step::KeepProxy { port } => Action::new(Op::Noop, "proxy", proxy_id(*port)),
            Step::StopApp { base, pid, alive } => {
                Action::new(if *alive { Op::Delete } else { Op::Noop }, "process", base).because(format!("pid {pid}"))
            }
            Step::StopProxy { port, alive } => Action::new(if *alive { Op::Delete } else { Op::Noop }, "proxy", proxy_id(*port)),
            Step::RemoveFiles { dir } => Action::new(Op::Delete, "files", dir.display().to_string()).because("snapshots, logs, state"),
        }
    }
}

impl Step {
    /// Whether this step starts a process of the app.
    pub fn starts_app(&self) -> bool {
        matches!(self, Step::StartApp { .. } | Step::ReplaceApp { .. } | Step::RestoreApp { .. })
    }
}

/// Whether the plan (re)starts the proxy.
pub fn starts_proxy(plan: &Planned<Step>) -> bool {
    plan.changes.iter().any(|c| matches!(c, Step::StartProxy { .. }))
}

/// Whether the plan starts a process of the app.
pub fn starts_app(plan: &Planned<Step>) -> bool {
    plan.changes.iter().any(Step::starts_app)
}

/// Desired (the manifest, the code, the secrets) against what runs. A recorded
/// deployment whose process died or whose proxy is gone is repaired by starting what is
/// missing.
pub fn plan(cx: &Cx, seen: &Observed, artifact: &Built<Source>) -> Planned<Step> {
    let base = cx.resource_base();
    let front = front_port(cx);
    let Some(n) = seen.now() else {
        return Planned::of(vec![
            Step::StartApp { base, entry: entry(cx).describe() },
            Step::StartProxy { port: front, why: ProxyWhy::New },
        ]);
    };
    let running = &n.state.serving.version;
    let want = desired(cx, artifact, PathBuf::new(), &n.state.salt);
    let why = if let Some(what) = What::between(running, &want) {
        Some(Why::Changed(what))
    } else if !n.app_alive {
        Some(Why::NotRunning)
    } else if !n.app_healthy {
        Some(Why::Unhealthy)
    } else {
        None
    };
    let app = match why {
        Some(why) => Step::ReplaceApp { base, why },
        None => Step::KeepApp { base },
    };
    Planned::of(vec![app, proxy_step(n, front, want.public)])
}

/// The proxy listens as the version that will serve says (`public`).
fn proxy_step(n: &Now, front: u16, public: bool) -> Step {
    if n.state.front_port != front {
        Step::StartProxy { port: front, why: ProxyWhy::PortChanged { from: n.state.front_port } }
    } else if n.state.serving.version.public != public {
        Step::StartProxy { port: front, why: ProxyWhy::AccessChanged { public } }
    } else if !n.proxy_alive {
        Step::StartProxy { port: front, why: ProxyWhy::NotRunning }
    } else {
        Step::KeepProxy { port: front }
    }
}

/// Back to the previous version, on the port the deployment serves on now.
pub fn plan_rollback(cx: &Cx, seen: &Observed) -> Result<Planned<Step>> {
    let prev = seen.now().and_then(|n| n.state.previous.as_ref().map(|p| (n, p)));
    let Some((n, prev)) = prev else {
        return Err(UsageError::new(format!("{} ({}) has no previous version to roll back to", cx.app_name(), cx.stage))
            .hint("rollback returns to the version before the last successful deploy; deploy at least twice first")
            .into());
    };
    Ok(restore(cx, n, prev))
}

/// Start `prev` again and switch to it.
fn restore(cx: &Cx, n: &Now, prev: &Version) -> Planned<Step> {
    Planned::of(vec![
        Step::RestoreApp { base: cx.resource_base(), to: release_id(prev).to_string() },
        proxy_step(n, n.state.front_port, prev.public),
    ])
}

/// The serving version, and the previous one when `rollback` can put back something
/// else: its snapshot is whole and its artifact differs (a version of the same artifact
/// differs only in secret values, and a rollback runs with today's). Newest first, by
/// their artifact digests, as `build` and `status` show them.
pub fn releases(seen: &Observed) -> Vec<Kept> {
    let Some(n) = seen.now() else { return Vec::new() };
    let s = &n.state.serving;
    let mut out = vec![Kept {
        id: release_id(&s.version).into(),
        digest: s.version.artifact.clone(),
        created_at: Some(iso8601(s.since)),
        live: true,
    }];
    if let Some(p) = n.state.previous.as_ref().filter(|p| n.previous_kept && p.artifact != s.version.artifact) {
        out.push(Kept {
            id: release_id(p).into(),
            digest: p.artifact.clone(),
            created_at: n.state.previous_since.map(iso8601),
            live: false,
        });
    }
    out
}

/// Back to the kept version `id`. pick_kept refuses the serving one, and the previous
/// one is the only other kept: a plain rollback's plan is the one.
pub fn plan_rollback_to(cx: &Cx, seen: &Observed, id: &str) -> Result<Planned<Step>> {
    pick_kept(cx, &releases(seen), id)?;
    plan_rollback(cx, seen)
}

/// Everything of this deployment: its processes (only the ones aideploy started and
/// that still run are signalled) and its folder.
pub fn plan_destroy(cx: &Cx, seen: &Observed) -> Planned<Step> {
    let dir = deployment_dir(cx).unwrap_or_default();
    let Some(n) = seen.now() else {
        // A first deploy that failed leaves its folder (snapshots, logs) without a state
        // file: destroy removes it too.
        return if dir.is_dir() { Planned::of(vec![Step::RemoveFiles { dir }]) } else { Planned::default() };
    };
    Planned::of(vec![
        Step::StopApp { base: cx.resource_base(), pid: n.state.serving.proc.pid, alive: n.app_alive },
        Step::StopProxy { port: n.state.front_port, alive: n.proxy_alive },
        Step::RemoveFiles { dir },
    ])
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
