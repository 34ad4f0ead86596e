//! The pre-contract backend trait and its adapter to [`Target`]: a backend written
//! against `Arc<dyn Any>` payloads and display rows keeps working through `Legacy<B>`
//! until it is ported to the typed contract. Goes away with the last of them.

use anyhow::Result;
use async_trait::async_trait;

use super::target::{Built, Capabilities, LineSink, Planned, Target};
use super::{Action, Artifact, Cx, Deployed, LegacyDeployed, Outcome, Plan, Reporter};
use crate::manifest::Kind;

/// One deployment target. `apply` is create-or-update and safe to re-run after any
/// failure; it health-gates the switch to the new version itself, because how a new
/// version is reached before it takes traffic differs per platform.
#[async_trait]
pub trait LegacyBackend: Send + Sync + 'static {
    fn kind(&self) -> Kind;
    fn capabilities(&self) -> Capabilities;
    /// Builds (or finds in the cache) the artifact this target runs.
    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> anyhow::Result<Artifact>;
    /// Reads what is deployed now. Read-only.
    async fn current(&self, cx: &Cx) -> anyhow::Result<Option<LegacyDeployed>>;
    /// Desired vs actual, as actions. Pure.
    fn plan(&self, cx: &Cx, now: Option<&LegacyDeployed>, artifact: &Artifact) -> Plan;
    /// Whether applying this plan should be confirmed first.
    fn needs_confirmation(&self, plan: &Plan) -> bool {
        plan.has_changes()
    }
    async fn apply(
        &self,
        cx: &Cx,
        plan: &Plan,
        now: Option<&LegacyDeployed>,
        artifact: &Artifact,
        r: &dyn Reporter,
    ) -> anyhow::Result<Outcome>;
    /// What `rollback` would do; an error when there is nothing to go back to.
    fn plan_rollback(&self, cx: &Cx, now: &LegacyDeployed) -> anyhow::Result<Plan> {
        let _ = (cx, now);
        Err(crate::error::UsageError::new(format!("`rollback` is not supported for `{}` targets yet", self.kind())).into())
    }
    /// Puts the previous version back, health-gated like a deploy.
    async fn rollback(&self, cx: &Cx, plan: &Plan, now: &LegacyDeployed, r: &dyn Reporter) -> anyhow::Result<Outcome> {
        let _ = (cx, plan, now, r);
        Err(crate::error::UsageError::new(format!("`rollback` is not supported for `{}` targets yet", self.kind())).into())
    }
    /// Writes the deployed version's log: the last `lines` lines, then, with `follow`,
    /// what it writes next, until interrupted.
    async fn logs(
        &self,
        cx: &Cx,
        now: &LegacyDeployed,
        lines: usize,
        follow: bool,
        out: &(dyn for<'a> Fn(&'a str) + Send + Sync),
    ) -> anyhow::Result<()> {
        let _ = (cx, now, lines, follow, out);
        Err(crate::error::UsageError::new(format!("`logs` is not supported for `{}` targets yet", self.kind())).into())
    }
    /// The target's own secret store, when it has one.
    async fn secret_store(&self, _cx: &Cx) -> Result<Box<dyn crate::secrets::SecretStore>> {
        Err(crate::error::UsageError::new(format!("`secrets` does not manage `{}` targets yet", self.kind()))
            .hint("other targets read [secrets] from the local environment or .env at deploy time")
            .into())
    }
    /// Where the target keeps its deploy lease, when it has one.
    async fn lease_store(&self, _cx: &Cx) -> Result<Option<std::sync::Arc<dyn super::lease::LeaseStore>>> {
        Ok(None)
    }
    /// What `destroy` would remove.
    fn plan_destroy(&self, cx: &Cx, now: &LegacyDeployed) -> Plan;
    async fn destroy(&self, cx: &Cx, now: &LegacyDeployed, r: &dyn Reporter) -> anyhow::Result<Outcome>;
}

/// A [`LegacyBackend`] seen as a [`Target`].
pub struct Legacy<B>(pub B);

fn plan_of(p: Plan) -> Planned<Action> {
    Planned { changes: p.actions, warnings: p.warnings }
}

fn not_deployed(cx: &Cx) -> anyhow::Error {
    crate::error::UsageError::new(format!("{} ({}) is not deployed to {}", cx.app_name(), cx.stage, cx.target.name)).into()
}

#[async_trait]
impl<B: LegacyBackend> Target for Legacy<B> {
    type Artifact = Artifact;
    type Observed = Option<LegacyDeployed>;
    type Change = Action;

    fn kind(&self) -> Kind {
        self.0.kind()
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Built<Artifact>> {
        let a = self.0.build(cx, r).await?;
        Ok(Built { info: a.info(), data: a })
    }
    async fn observe(&self, cx: &Cx) -> Result<Option<LegacyDeployed>> {
        self.0.current(cx).await
    }
    fn deployed(&self, _: &Cx, seen: &Option<LegacyDeployed>) -> Option<Deployed> {
        seen.as_ref().map(|d| Deployed { digest: d.digest.clone(), url: d.url.clone(), health: d.health, details: d.details.clone() })
    }
    fn plan(&self, cx: &Cx, seen: &Option<LegacyDeployed>, artifact: &Built<Artifact>) -> Planned<Action> {
        plan_of(self.0.plan(cx, seen.as_ref(), &artifact.data))
    }
    fn needs_confirmation(&self, plan: &Planned<Action>) -> bool {
        self.0.needs_confirmation(&plan.display())
    }
    async fn apply(
        &self,
        cx: &Cx,
        seen: &Option<LegacyDeployed>,
        artifact: &Built<Artifact>,
        plan: &Planned<Action>,
        r: &dyn Reporter,
    ) -> Result<Outcome> {
        let mut outcome = self.0.apply(cx, &plan.display(), seen.as_ref(), &artifact.data, r).await?;
        if outcome.pushed.is_none() && (artifact.data.reference.is_some() || artifact.data.uploaded_bytes > 0) {
            outcome.pushed =
                Some(super::Pushed { reference: artifact.data.reference.clone(), uploaded_bytes: artifact.data.uploaded_bytes });
        }
        Ok(outcome)
    }
    fn plan_rollback(&self, cx: &Cx, seen: &Option<LegacyDeployed>) -> Result<Planned<Action>> {
        let now = seen.as_ref().ok_or_else(|| not_deployed(cx))?;
        Ok(plan_of(self.0.plan_rollback(cx, now)?))
    }
    async fn rollback(&self, cx: &Cx, seen: &Option<LegacyDeployed>, plan: &Planned<Action>, r: &dyn Reporter) -> Result<Outcome> {
        let now = seen.as_ref().ok_or_else(|| not_deployed(cx))?;
        self.0.rollback(cx, &plan.display(), now, r).await
    }
    async fn logs(&self, cx: &Cx, seen: &Option<LegacyDeployed>, lines: usize, follow: bool, out: LineSink<'_>) -> Result<()> {
        let now = seen.as_ref().ok_or_else(|| not_deployed(cx))?;
        self.0.logs(cx, now, lines, follow, out).await
    }
    async fn secret_store(&self, cx: &Cx) -> Result<Box<dyn crate::secrets::SecretStore>> {
        self.0.secret_store(cx).await
    }
    async fn lease_store(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn super::lease::LeaseStore>>> {
        self.0.lease_store(cx).await
    }
    fn plan_destroy(&self, cx: &Cx, seen: &Option<LegacyDeployed>) -> Planned<Action> {
        match seen {
            Some(now) => plan_of(self.0.plan_destroy(cx, now)),
            None => Planned::default(),
        }
    }
    async fn destroy(&self, cx: &Cx, seen: &Option<LegacyDeployed>, _: &Planned<Action>, r: &dyn Reporter) -> Result<Outcome> {
        match seen {
            Some(now) => self.0.destroy(cx, now, r).await,
            None => Ok(Outcome { url: None, health: super::Health::Skipped, actions: Vec::new(), failure: None, pushed: None }),
        }
    }
}
