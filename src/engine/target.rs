//! The target contract: what every deployment target implements, with its own types for
//! what it builds, what it reads and what it changes. The engine drives each command's
//! flow over this trait (flow.rs); the registry erases the types once (erased.rs).

use anyhow::Result;
use async_trait::async_trait;
use serde::Serialize;

use super::lease::LeaseStore;
use super::metrics::Metrics;
use super::{Action, ArtifactInfo, Cx, Deployed, Op, Outcome, Plan, Reporter};
use crate::error::UsageError;
use crate::manifest::Kind;
use crate::secrets::SecretStore;
use std::sync::Arc;

/// Whose credentials, profile flags and login commands apply to a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// This machine: no account.
    Local,
    Aws,
    Gcp,
    Azure,
    Railway,
    Render,
}

/// What a target builds when `[build] package` does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefaultPackage {
    /// The source set and its Python environment (the local target).
    Source,
    /// A Lambda zip.
    Zip,
    /// An OCI image.
    Image,
    /// A model archive (`model.tar.gz`).
    ModelArchive,
}

/// What a target supports beyond build, plan, deploy, status and destroy. Commands ask
/// for these; none matches on a target's kind.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Capabilities {
    pub provider: Provider,
    /// Secret values live in a store of the target's own (`secrets set|list|rm` work
    /// there, and a deploy keeps the stored value of a secret it has no local value for).
    pub secret_store: bool,
    /// `logs` reads the deployed app's log.
    pub logs: bool,
    /// `rollback` puts the previous version back.
    pub rollback: bool,
    pub default_package: DefaultPackage,
    /// The app's image goes to a registry the manifest names (`[build] registry` or
    /// `$AIDEPLOY_REGISTRY`); the target implies none of its own.
    pub needs_registry: bool,
    /// deploy, rollback and destroy hold a lease in the target's cloud (`lease_store`),
    /// so two runs of one app, stage and target never overlap.
    pub lease: bool,
}

/// One planned change. `apply` matches on the target's own change type; the plan that
/// people and `--json` see is derived from it, never parsed back.
pub trait Change: Send + Sync {
    /// The row shown for this change.
    fn row(&self) -> Action;
    /// Whether carrying it out cannot be undone even within a store's recovery window
    /// (a purge): `destroy` asks about such changes separately.
    fn irreversible(&self) -> bool {
        false
    }
    /// What is left behind afterwards that people should know about (a soft-deleted
    /// store holding its name, and how to remove it for good); part of the final report.
    fn leaves(&self) -> Option<String> {
        None
    }
    /// Whether carrying it out makes a new release of the app, to be recorded in its
    /// history (a budget alert beside the app does not).
    fn releases(&self) -> bool {
        true
    }
}

/// The plan shown for ready-made rows (rollback and destroy plans that need no typed
/// change of their own).
impl Change for Action {
    fn row(&self) -> Action {
        self.clone()
    }
}

/// What a target's `plan` returns: its changes, in order, and the platform limits the
/// manifest runs into.
#[derive(Debug)]
pub struct Planned<C> {
    pub changes: Vec<C>,
    pub warnings: Vec<String>,
}

impl<C> Default for Planned<C> {
    fn default() -> Self {
        Planned { changes: Vec::new(), warnings: Vec::new() }
    }
}

impl<C: Change> Planned<C> {
    pub fn of(changes: Vec<C>) -> Self {
        Planned { changes, warnings: Vec::new() }
    }

    /// The rows people and `--json` see.
    pub fn display(&self) -> Plan {
        Plan { actions: self.changes.iter().map(Change::row).collect(), warnings: self.warnings.clone() }
    }

    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.row().op != Op::Noop)
    }

    /// Whether applying it makes a new release (see [`Change::releases`]).
    pub fn makes_release(&self) -> bool {
        self.changes.iter().any(|c| c.releases() && c.row().op != Op::Noop)
    }

    /// The rows of the changes that cannot be undone.
    pub fn irreversible(&self) -> Vec<Action> {
        self.changes.iter().filter(|c| c.irreversible()).map(Change::row).collect()
    }

    /// What the changes leave behind (see [`Change::leaves`]).
    pub fn leaves(&self) -> Vec<String> {
        self.changes.iter().filter_map(Change::leaves).collect()
    }
}

/// What `build` made: the part every report shows, and the target's own data.
pub struct Built<A> {
    pub info: ArtifactInfo,
    pub data: A,
}

/// One line of the app's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When the platform recorded it (RFC 3339, UTC), when it says.
    pub timestamp: Option<String>,
    pub message: String,
    /// Where it came from: a log stream, revision or instance.
    pub source: Option<String>,
}

impl LogLine {
    /// A line with nothing known about it but its text.
    pub fn plain(message: &str) -> LogLine {
        LogLine { timestamp: None, message: message.to_string(), source: None }
    }
}

/// One release the platform still keeps for this app, stage and target: what `history`
/// lists beside aideploy's own record and `rollback --to` can go back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The platform's own name for it, as `rollback --to` takes it: a Lambda version
    /// number, a Cloud Run revision, a SageMaker endpoint config, a Railway deployment
    /// or Render deploy id; where the platform keeps releases by image (ec2, appservice,
    /// local), the digest's first 12 hex digits.
    pub id: String,
    /// The artifact's digest, as [`super::Deployed::digest`] shows it when it serves and
    /// as `build` made it (`ArtifactInfo::digest`).
    pub digest: String,
    /// When the platform made it (RFC 3339, UTC), when it says.
    pub created_at: Option<String>,
    /// What serves now.
    pub live: bool,
}

/// The kept release `rollback --to` names: by its id, or by a prefix of its id or its
/// digest's hex that only it has. An error, naming the kept ids and `history`, when none
/// or several match, or when it is the live one.
pub fn pick_kept<'a>(cx: &Cx, kept: &'a [Kept], id: &str) -> Result<&'a Kept> {
    let want = id.trim().trim_start_matches("sha256:");
    let hex = |k: &Kept| k.digest.trim_start_matches("sha256:").to_string();
    let exact: Vec<&Kept> = kept.iter().filter(|k| k.id == id.trim()).collect();
    let found: Vec<&Kept> = if exact.is_empty() && !want.is_empty() {
        kept.iter().filter(|k| k.id.starts_with(want) || hex(k).starts_with(want)).collect()
    } else {
        exact
    };
    let ids = kept.iter().filter(|k| !k.live).map(|k| k.id.as_str()).collect::<Vec<_>>().join(", ");
    let listed = format!("`aideploy history --target {}` lists the releases", cx.target.name);
    match found.as_slice() {
        [one] if one.live => Err(UsageError::new(format!("release {} is the one serving now", one.id))
            .hint(if ids.is_empty() { listed } else { format!("roll back to another kept release ({ids}); {listed}") })
            .into()),
        [one] => Ok(one),
        [] => Err(UsageError::new(format!("{} ({}) on {} keeps no release `{id}`", cx.app_name(), cx.stage, cx.target.name))
            .hint(if ids.is_empty() {
                format!("there is no earlier release to go back to; {listed}")
            } else {
                format!("the kept releases a rollback can go to: {ids}; {listed}")
            })
            .into()),
        many => Err(UsageError::new(format!(
            "`{id}` names {} releases: {}",
            many.len(),
            many.iter().map(|k| k.id.as_str()).collect::<Vec<_>>().join(", ")
        ))
        .hint("give more of the id")
        .into()),
    }
}

/// A callback that takes the app's log lines, one at a time.
pub type LineSink<'a> = &'a (dyn Fn(&LogLine) + Send + Sync);

/// What `logs` asks for: the last `lines` lines (of those written in the last `since`,
/// when given), then with `follow` what comes next.
#[derive(Debug, Clone, Copy)]
pub struct LogQuery {
    pub lines: usize,
    pub follow: bool,
    pub since: Option<std::time::Duration>,
}

impl LogQuery {
    /// How far back `logs` looks without `--since`, on every target.
    pub const LOOK_BACK: std::time::Duration = std::time::Duration::from_secs(3600);

    /// Where the look-back window starts (`since` ago, else an hour ago), in seconds
    /// since the epoch.
    pub fn start_secs(&self) -> u64 {
        crate::util::now_secs().saturating_sub(self.since.unwrap_or(Self::LOOK_BACK).as_secs())
    }

    /// The same, as RFC 3339 UTC (`2026-12-05T08:00:00Z`).
    pub fn start(&self) -> String {
        crate::util::iso8601(self.start_secs())
    }
}

/// One deployment target. `build` works on this machine only; `observe` and `plan` never
/// change anything anywhere; `apply` is get -> create-or-update, safe to re-run after any
/// failure, and health-gates the switch to the new version itself, because how a new
/// version is reached before it takes traffic differs per platform.
///
/// Every target is served wrapped in `backends::budget::WithBudget`, which implements
/// each method by passing it on: a new method with a default here must be passed on
/// there too, or the targets' own versions of it are never called.
#[async_trait]
pub trait Target: Send + Sync + 'static {
    /// What `build` produced, on this machine (nothing pushed or uploaded).
    type Artifact: Send + Sync;
    /// What exists in the cloud now, as plain data (no clients); it can say that a
    /// deploy was left half-done.
    type Observed: Send + Sync;
    /// One step `apply`, `rollback` or `destroy` takes.
    type Change: Change;

    fn kind(&self) -> Kind;
    fn capabilities(&self) -> Capabilities;

    /// Builds (or finds in the cache) what this target runs. Local only.
    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Built<Self::Artifact>>;
    /// Reads what exists now. Read-only.
    async fn observe(&self, cx: &Cx) -> Result<Self::Observed>;
    /// What is deployed and serving, for `status` and reports; `None` when nothing is.
    fn deployed(&self, cx: &Cx, seen: &Self::Observed) -> Option<Deployed>;
    /// Desired vs observed, as changes. Pure.
    fn plan(&self, cx: &Cx, seen: &Self::Observed, artifact: &Built<Self::Artifact>) -> Planned<Self::Change>;
    /// Whether these changes should be confirmed first.
    fn needs_confirmation(&self, plan: &Planned<Self::Change>) -> bool {
        plan.has_changes()
    }
    /// Carries out the plan: pushes, creates, updates, health-gates, switches traffic.
    async fn apply(
        &self,
        cx: &Cx,
        seen: &Self::Observed,
        artifact: &Built<Self::Artifact>,
        plan: &Planned<Self::Change>,
        r: &dyn Reporter,
    ) -> Result<Outcome>;

    /// Where `[[checks]]` send their plain (unsigned) requests after a deploy: the live
    /// URL, or why there is none they could get an answer from (an endpoint that takes
    /// signed calls only).
    fn check_url(&self, cx: &Cx, live: &Outcome) -> std::result::Result<String, String> {
        live.url.clone().ok_or_else(|| format!("`{}` gives this deploy no URL aideploy can reach (a private endpoint)", cx.target.name))
    }

    /// What `rollback` would do; an error when there is nothing to go back to.
    fn plan_rollback(&self, cx: &Cx, seen: &Self::Observed) -> Result<Planned<Self::Change>> {
        let _ = seen;
        Err(unsupported("rollback", cx).into())
    }
    /// Puts the previous version back, health-gated like a deploy.
    async fn rollback(&self, cx: &Cx, seen: &Self::Observed, plan: &Planned<Self::Change>, r: &dyn Reporter) -> Result<Outcome> {
        let _ = (seen, plan, r);
        Err(unsupported("rollback", cx).into())
    }

    /// The releases the platform keeps that a rollback can go back to, and the live one,
    /// newest first; from what `observe` read (no calls). The default: none.
    fn releases(&self, cx: &Cx, seen: &Self::Observed) -> Vec<Kept> {
        let _ = (cx, seen);
        Vec::new()
    }

    /// What `rollback --to ID` would do: go back to the kept release `id` (a
    /// [`Kept::id`] of [`Target::releases`]). An error naming the kept ones when `id` is
    /// not among them, or is the live one. `rollback` carries out the plan.
    fn plan_rollback_to(&self, cx: &Cx, seen: &Self::Observed, id: &str) -> Result<Planned<Self::Change>> {
        let _ = (seen, id);
        Err(unsupported("rollback --to", cx).into())
    }

    /// Writes the deployed version's log: the last `lines` lines, then, with `follow`,
    /// what it writes next, until interrupted.
    async fn logs(&self, cx: &Cx, seen: &Self::Observed, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
        let _ = (seen, query, out);
        Err(unsupported("logs", cx).into())
    }

    /// Requests, error rate and latency of the deployed app over the last `window`, from
    /// the platform's metrics API (read calls only), for `status --metrics`. The default:
    /// the target has none, and says so.
    async fn metrics(&self, cx: &Cx, seen: &Self::Observed, window: std::time::Duration) -> Result<Metrics> {
        let _ = (seen, window);
        Ok(Metrics::not_available(format!("aideploy reads no metrics for `{}` targets yet", cx.target.kind)))
    }

    /// The target's own secret store for this app and stage, when it has one
    /// (`capabilities().secret_store`).
    async fn secret_store(&self, cx: &Cx) -> Result<Box<dyn SecretStore>> {
        Err(UsageError::new(format!("`secrets` does not manage `{}` targets yet", cx.target.kind))
            .hint("other targets read [secrets] from the local environment or .env at deploy time")
            .into())
    }

    /// Refuses, before the lease is taken and anything is written, what `apply` would
    /// refuse anyway (a same-named resource that is not aideploy's).
    fn preflight(&self, cx: &Cx, seen: &Self::Observed) -> Result<()> {
        let _ = (cx, seen);
        Ok(())
    }

    /// Where this app, stage and target keep their lease (one deploy, rollback or
    /// destroy at a time), in the target's own cloud; `None`: the target has none yet.
    async fn lease_store(&self, cx: &Cx) -> Result<Option<Arc<dyn LeaseStore>>> {
        let _ = cx;
        Ok(None)
    }

    /// The same store, when finding it changes nothing (no bucket to create): a destroy
    /// with nothing else to remove then deletes a free record a failed run left behind.
    /// `None` (the default): such a destroy leaves the record alone.
    async fn lease_leftover(&self, cx: &Cx) -> Result<Option<Arc<dyn LeaseStore>>> {
        let _ = cx;
        Ok(None)
    }

    /// The lease store when finding it changes nothing, for reading the release history
    /// it holds (`history`); `None` when there is none yet. The default: the store
    /// [`Target::lease_leftover`] finds.
    async fn lease_record(&self, cx: &Cx) -> Result<Option<Arc<dyn LeaseStore>>> {
        self.lease_leftover(cx).await
    }

    /// Every stage of this app on this target that has a lease record, with the record
    /// (its `stage_expires` is what `gc` reads), from the cloud, not local state;
    /// `cx.stage` is ignored. Read-only: creates nothing.
    async fn stages(&self, cx: &Cx) -> Result<Vec<super::lease::StageRecord>> {
        Err(unsupported("gc", cx).into())
    }

    /// What `destroy` would remove: everything of this app, stage and target.
    fn plan_destroy(&self, cx: &Cx, seen: &Self::Observed) -> Planned<Self::Change>;
    async fn destroy(&self, cx: &Cx, seen: &Self::Observed, plan: &Planned<Self::Change>, r: &dyn Reporter) -> Result<Outcome>;
}

fn unsupported(what: &str, cx: &Cx) -> UsageError {
    UsageError::new(format!("`{what}` is not supported for `{}` targets yet", cx.target.kind))
}

/// Whether `err` is a target saying it does not support a command yet (the default of an
/// optional method), rather than a failure to reach its cloud.
pub fn is_unsupported(err: &anyhow::Error) -> bool {
    err.downcast_ref::<crate::error::Failure>().and_then(|f| f.as_usage()).is_some_and(|u| u.message.contains("` is not supported for `"))
}
