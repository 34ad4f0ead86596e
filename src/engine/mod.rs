//! The deploy engine: load -> build -> read current state -> plan -> confirm -> apply
//! (health-gated inside the backend) -> report. It never names a cloud; backends do.

mod flow;
pub mod health;
mod types;

pub use flow::{build, deploy, destroy, plan, rollback, status};
pub use types::*;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use crate::manifest::{Kind, Loaded, Stage, Target};
use crate::secrets::Secrets;

/// How backends tell a person what is going on, without printing themselves.
pub trait Reporter: Send + Sync {
    /// A new phase of the work ("building", "waiting for health").
    fn step(&self, message: &str);
    /// A transient update within the current phase.
    fn progress(&self, message: &str);
    fn warn(&self, message: &str);
    /// Shown with -v only.
    fn detail(&self, message: &str);
    /// The current phase ended well.
    fn done(&self);
}

/// A reporter that shows nothing (library callers, tests, benchmarks).
pub struct Silent;

impl Reporter for Silent {
    fn step(&self, _: &str) {}
    fn progress(&self, _: &str) {}
    fn warn(&self, _: &str) {}
    fn detail(&self, _: &str) {}
    fn done(&self) {}
}

/// Everything a backend needs to know about this run.
pub struct Cx {
    pub loaded: Arc<Loaded>,
    pub target: Target,
    pub stage: Stage,
    pub secrets: Secrets,
}

impl Cx {
    pub fn app_name(&self) -> &str {
        self.loaded.manifest.app().name.as_str()
    }

    /// `{app}-{stage}`: the base of every resource name.
    pub fn resource_base(&self) -> String {
        format!("{}-{}", self.app_name(), self.stage)
    }

    pub fn project_dir(&self) -> &PathBuf {
        &self.loaded.dir
    }
}

/// One deployment target. `apply` is create-or-update and safe to re-run after any
/// failure; it health-gates the switch to the new version itself, because how a new
/// version is reached before it takes traffic differs per platform.
#[async_trait]
pub trait Backend: Send + Sync {
    fn kind(&self) -> Kind;
    /// Builds (or finds in the cache) the artifact this target runs.
    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> anyhow::Result<Artifact>;
    /// Reads what is deployed now. Read-only.
    async fn current(&self, cx: &Cx) -> anyhow::Result<Option<Deployed>>;
    /// Desired vs actual, as actions. Pure.
    fn plan(&self, cx: &Cx, now: Option<&Deployed>, artifact: &Artifact) -> Plan;
    /// Whether applying this plan should be confirmed first.
    fn needs_confirmation(&self, plan: &Plan) -> bool {
        plan.has_changes()
    }
    async fn apply(
        &self,
        cx: &Cx,
        plan: &Plan,
        now: Option<&Deployed>,
        artifact: &Artifact,
        r: &dyn Reporter,
    ) -> anyhow::Result<Outcome>;
    /// What `rollback` would do; an error when there is nothing to go back to.
    fn plan_rollback(&self, cx: &Cx, now: &Deployed) -> anyhow::Result<Plan> {
        let _ = (cx, now);
        Err(crate::error::UsageError::new(format!("`rollback` is not supported for `{}` targets yet", self.kind())).into())
    }
    /// Puts the previous version back, health-gated like a deploy.
    async fn rollback(&self, cx: &Cx, plan: &Plan, now: &Deployed, r: &dyn Reporter) -> anyhow::Result<Outcome> {
        let _ = (cx, plan, now, r);
        Err(crate::error::UsageError::new(format!("`rollback` is not supported for `{}` targets yet", self.kind())).into())
    }
    /// Writes the deployed version's log: the last `lines` lines, then, with `follow`,
    /// what it writes next, until interrupted.
    async fn logs(&self, cx: &Cx, now: &Deployed, lines: usize, follow: bool, out: &(dyn for<'a> Fn(&'a str) + Send + Sync)) -> anyhow::Result<()> {
        let _ = (cx, now, lines, follow, out);
        Err(crate::error::UsageError::new(format!("`logs` is not supported for `{}` targets yet", self.kind())).into())
    }
    /// What `destroy` would remove.
    fn plan_destroy(&self, cx: &Cx, now: &Deployed) -> Plan;
    async fn destroy(&self, cx: &Cx, now: &Deployed, r: &dyn Reporter) -> anyhow::Result<Outcome>;
}
