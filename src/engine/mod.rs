//! The deploy engine: load -> build -> read current state -> plan -> confirm -> apply
//! (health-gated inside the backend) -> report. It never names a cloud; backends do.

pub mod checks;
mod erased;
mod flow;
pub mod gc;
pub mod health;
pub mod lease;
pub mod metrics;
pub mod parts;
pub mod release;
pub mod settled;
pub mod target;
#[cfg(test)]
pub mod testing;
mod types;
pub mod wait;

pub use erased::Backend;
pub use flow::{DeployReport, DestroyReport, HistoryReport, PlanReport, RollbackReport, StatusReport};
pub use metrics::Metrics;
pub use parts::{Inputs, Parts};
pub use target::{Built, Capabilities, Change, DefaultPackage, Kept, LineSink, LogLine, LogQuery, Planned, Provider, Target};
pub use types::*;

use std::path::PathBuf;
use std::sync::Arc;

use crate::manifest::{Loaded, Stage};
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
#[derive(Clone)]
pub struct Cx {
    pub loaded: Arc<Loaded>,
    pub target: crate::manifest::Target,
    pub stage: Stage,
    pub secrets: Secrets,
    /// How long-running operations are polled.
    pub poll: wait::PollPolicy,
    /// `destroy --purge`: also purge what deleting leaves soft-deleted (an Azure Key
    /// Vault), which cannot be undone. A target with nothing to purge ignores it.
    pub purge: bool,
    /// `deploy --ttl`: this stage's time to live; the deploy records `now + ttl` as the
    /// stage's expiry in its lease record, where `gc` reads it. `None`: the stage keeps
    /// the expiry it has.
    pub ttl: Option<std::time::Duration>,
    /// `gc`: destroy the stage only if its expiry has still passed once this run holds
    /// its lease (a deploy may have given it a new time to live since `gc` listed it).
    pub expired_only: bool,
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
