//! `[cost] budget_usd` as the cloud's own budget alert: every target is wrapped in
//! [`WithBudget`], which reads the alert with what the target reads, plans its creation,
//! update or deletion as a step of the target's own plan (shown and confirmed like any
//! other), carries it out after the target's changes, and removes it on `destroy`.
//!
//! Only an alert carrying this app, stage and target's owner marker is ever changed: one
//! of the same name that aideploy did not make is left alone, and the plan says so.

use anyhow::Result;
use async_trait::async_trait;

use crate::cloud::aws_budget::Budgets;
use crate::cloud::budget::{Found, Want};
use crate::engine::lease::{LeaseStore, StageRecord};
use crate::engine::target::{Kept, LineSink, LogQuery};
use crate::engine::{Action, Built, Capabilities, Change, Cx, Health, Metrics, Op, Outcome, Planned, Provider, Reporter, Target};
use crate::manifest::Kind;
use crate::secrets::SecretStore;

/// A target whose deploys also keep the cloud's budget alert.
pub struct WithBudget<T>(pub T);

/// The cloud API an alert is kept with, or why there is none.
#[derive(Clone, Copy, PartialEq)]
enum Api {
    Aws,
    Azure,
    Gcp,
    None(&'static str),
    /// This machine: no bill, nothing to say.
    Local,
}

fn api(provider: Provider) -> Api {
    match provider {
        Provider::Aws => Api::Aws,
        Provider::Azure => Api::Azure,
        Provider::Gcp => Api::Gcp,
        Provider::Railway => Api::None("Railway has no budget alert API"),
        Provider::Render => Api::None("Render has no budget alert API"),
        Provider::Local => Api::Local,
    }
}

/// What the alert's cloud holds now.
pub enum Alert {
    /// The target's cloud has no alert aideploy keeps, or not with this manifest (why).
    NoApi(String),
    /// The alert under this target's name, if any.
    Read(Option<Found>),
    /// A local run: no bill to alert on.
    NoBill,
}

/// What the target reads, and the alert.
pub struct Observed<O> {
    pub inner: O,
    pub alert: Alert,
}

/// One step: the target's own, or the alert's.
#[derive(Debug, Clone)]
pub enum Step<C> {
    Inner(C),
    Create(Want),
    Update(Want, String),
    Delete(String, &'static str),
}

const RESOURCE: &str = "budget alert";

impl<C: Change> Change for Step<C> {
    fn row(&self) -> Action {
        match self {
            Step::Inner(c) => c.row(),
            Step::Create(w) => {
                Action::new(Op::Create, RESOURCE, &w.name).because(format!("{} a month", crate::cost::dollars(w.amount_usd)))
            }
            Step::Update(w, why) => Action::new(Op::Update, RESOURCE, &w.name).because(why.clone()),
            Step::Delete(name, why) => Action::new(Op::Delete, RESOURCE, name).because(*why),
        }
    }
    fn irreversible(&self) -> bool {
        matches!(self, Step::Inner(c) if c.irreversible())
    }
    fn leaves(&self) -> Option<String> {
        match self {
            Step::Inner(c) => c.leaves(),
            _ => None,
        }
    }
    fn releases(&self) -> bool {
        matches!(self, Step::Inner(c) if c.releases())
    }
}

/// The target's own part of a plan.
fn inner<C: Clone>(plan: &Planned<Step<C>>) -> Planned<C> {
    Planned {
        changes: plan
            .changes
            .iter()
            .filter_map(|s| match s {
                Step::Inner(c) => Some(c.clone()),
                _ => None,
            })
            .collect(),
        warnings: plan.warnings.clone(),
    }
}

fn wrap<C>(plan: Planned<C>) -> Planned<Step<C>> {
    Planned { changes: plan.changes.into_iter().map(Step::Inner).collect(), warnings: plan.warnings }
}

impl<T: Target> WithBudget<T> {
    async fn read(&self, cx: &Cx) -> Result<Alert> {
        let name = crate::cloud::budget::name(cx);
        match api(self.0.capabilities().provider) {
            Api::None(why) => Ok(Alert::NoApi(why.to_string())),
            Api::Local => Ok(Alert::NoBill),
            Api::Gcp if gcp_account(cx).is_none() => Ok(Alert::NoApi(
                "a Google Cloud budget lives on a billing account: add `billing_account = \"XXXXXX-XXXXXX-XXXXXX\"` to `[cost]` \
                 (`gcloud billing accounts list` shows its id) for one"
                    .to_string(),
            )),
            api => {
                let read = async {
                    match api {
                        Api::Azure => super::appservice::budget::read(cx).await,
                        Api::Gcp => super::cloudrun::budget::read(cx, &gcp_account(cx).unwrap_or_default()).await,
                        _ => Budgets::for_target(cx).await?.read(cx, &name).await,
                    }
                };
                match read.await {
                    Ok(found) => Ok(Alert::Read(found)),
                    // Without `budget_usd` the alert only matters when a past deploy made
                    // one: an identity that may not read budgets has made none.
                    Err(e) if cx.loaded.manifest.cost.budget_usd().is_none() => {
                        tracing::debug!("reading the budget alert failed: {e:#}");
                        Ok(Alert::Read(None))
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Carries out the alert's steps of `plan`, adding their rows to `actions`.
    async fn alert_steps(
        &self,
        cx: &Cx,
        seen: &Alert,
        plan: &Planned<Step<T::Change>>,
        r: &dyn Reporter,
        actions: &mut Vec<Action>,
    ) -> Result<()> {
        let found = match seen {
            Alert::Read(f) => f.as_ref(),
            Alert::NoApi(_) | Alert::NoBill => None,
        };
        for step in &plan.changes {
            let row = step.row();
            match step {
                Step::Inner(_) => continue,
                Step::Create(want) | Step::Update(want, _) => {
                    r.step(&format!("{} the budget alert {}", if row.op == Op::Create { "creating" } else { "updating" }, want.name));
                    let found = found.filter(|f| f.ours);
                    match api(self.0.capabilities().provider) {
                        Api::Azure => super::appservice::budget::put(cx, want, found, r).await?,
                        Api::Gcp => super::cloudrun::budget::put(cx, &gcp_account(cx).unwrap_or_default(), want, found).await?,
                        _ => Budgets::for_target(cx).await?.put(cx, want, found).await?,
                    }
                }
                Step::Delete(name, _) => {
                    r.step(&format!("deleting the budget alert {name}"));
                    match api(self.0.capabilities().provider) {
                        Api::Azure => super::appservice::budget::delete(cx, r).await?,
                        Api::Gcp => {
                            if let Some(f) = found {
                                super::cloudrun::budget::delete(f).await?
                            }
                        }
                        _ => Budgets::for_target(cx).await?.delete(name).await?,
                    }
                }
            }
            r.done();
            actions.push(row);
        }
        Ok(())
    }
}

/// The alert's step of a deploy's plan, and what the plan says about it.
fn alert_plan<C>(cx: &Cx, api: Api, alert: &Alert, plan: &mut Planned<Step<C>>) {
    let mut want = Want::of(cx);
    if let (Api::Gcp, Some(w)) = (api, want.as_mut()) {
        // Google sends budget alerts to the billing account's people, not to an address.
        if w.email.take().is_some() && matches!(*alert, Alert::Read(_)) {
            plan.warnings.push(
                "a Google Cloud budget alerts the billing account's administrators and users, not `[cost] alert_email` \
                 (an address of its own needs a Cloud Monitoring notification channel)"
                    .to_string(),
            );
        }
    }
    match (alert, want) {
        (Alert::NoApi(why), Some(_)) => plan.warnings.push(format!(
            "`[cost] budget_usd` makes no budget alert on `{}`: {why}; there it is the estimate check of plan and deploy only",
            cx.target.name
        )),
        (Alert::NoApi(_), None) | (Alert::NoBill, _) => {}
        (Alert::Read(found), Some(want)) => {
            if want.email.is_none() && api != Api::Gcp {
                plan.warnings.push(format!(
                    "{} sends no alert without `[cost] alert_email`: the budget is kept (the cloud's cost pages show spend against it), \
                     but nobody is told; add `alert_email = \"you@example.com\"` to `[cost]`",
                    if api == Api::Azure { "An Azure budget on a resource group" } else { "AWS Budgets" }
                ));
            }
            match found {
                None => plan.changes.push(Step::Create(want)),
                Some(f) if !f.ours => plan.warnings.push(format!(
                    "a budget named {} exists that aideploy did not make for this app, stage and target: it is left alone, and no alert is kept \
                     until it is renamed or deleted",
                    f.name
                )),
                Some(f) => {
                    if let Some(why) = f.differs(&want) {
                        plan.changes.push(Step::Update(want, why));
                    }
                }
            }
        }
        (Alert::Read(Some(f)), None) if f.ours => plan.changes.push(Step::Delete(f.name.clone(), "`[cost] budget_usd` removed")),
        (Alert::Read(_), None) => {}
    }
}

/// `[cost] billing_account`, for cloudrun's budget.
fn gcp_account(cx: &Cx) -> Option<String> {
    super::cloudrun::budget::account(cx)
}

/// An outcome for a run in which the target itself had nothing to do.
fn unchanged<T: Target>(target: &T, cx: &Cx, seen: &T::Observed, rows: Vec<Action>) -> Outcome {
    let now = target.deployed(cx, seen);
    Outcome {
        url: now.as_ref().and_then(|d| d.url.clone()),
        health: now.map(|d| d.health).unwrap_or(Health::Skipped),
        actions: rows,
        failure: None,
        pushed: None,
    }
}

#[async_trait]
impl<T: Target> Target for WithBudget<T>
where
    T::Change: Clone + std::fmt::Debug,
{
    type Artifact = T::Artifact;
    type Observed = Observed<T::Observed>;
    type Change = Step<T::Change>;

    fn kind(&self) -> Kind {
        self.0.kind()
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Built<T::Artifact>> {
        self.0.build(cx, r).await
    }
    async fn observe(&self, cx: &Cx) -> Result<Self::Observed> {
        let inner = self.0.observe(cx).await?;
        Ok(Observed { inner, alert: self.read(cx).await? })
    }
    fn deployed(&self, cx: &Cx, seen: &Self::Observed) -> Option<crate::engine::Deployed> {
        self.0.deployed(cx, &seen.inner)
    }

    fn plan(&self, cx: &Cx, seen: &Self::Observed, artifact: &Built<T::Artifact>) -> Planned<Self::Change> {
        let mut plan = wrap(self.0.plan(cx, &seen.inner, artifact));
        alert_plan(cx, api(self.0.capabilities().provider), &seen.alert, &mut plan);
        plan
    }

    fn needs_confirmation(&self, plan: &Planned<Self::Change>) -> bool {
        self.0.needs_confirmation(&inner(plan)) || plan.changes.iter().any(|c| !matches!(c, Step::Inner(_)))
    }

    async fn apply(
        &self,
        cx: &Cx,
        seen: &Self::Observed,
        artifact: &Built<T::Artifact>,
        plan: &Planned<Self::Change>,
        r: &dyn Reporter,
    ) -> Result<Outcome> {
        let own = inner(plan);
        let mut outcome = if own.has_changes() {
            self.0.apply(cx, &seen.inner, artifact, &own, r).await?
        } else {
            unchanged(&self.0, cx, &seen.inner, own.display().actions)
        };
        self.alert_steps(cx, &seen.alert, plan, r, &mut outcome.actions).await?;
        Ok(outcome)
    }

    fn plan_rollback(&self, cx: &Cx, seen: &Self::Observed) -> Result<Planned<Self::Change>> {
        Ok(wrap(self.0.plan_rollback(cx, &seen.inner)?))
    }
    async fn rollback(&self, cx: &Cx, seen: &Self::Observed, plan: &Planned<Self::Change>, r: &dyn Reporter) -> Result<Outcome> {
        self.0.rollback(cx, &seen.inner, &inner(plan), r).await
    }
    fn releases(&self, cx: &Cx, seen: &Self::Observed) -> Vec<Kept> {
        self.0.releases(cx, &seen.inner)
    }
    fn plan_rollback_to(&self, cx: &Cx, seen: &Self::Observed, id: &str) -> Result<Planned<Self::Change>> {
        Ok(wrap(self.0.plan_rollback_to(cx, &seen.inner, id)?))
    }
    async fn logs(&self, cx: &Cx, seen: &Self::Observed, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
        self.0.logs(cx, &seen.inner, query, out).await
    }
    async fn metrics(&self, cx: &Cx, seen: &Self::Observed, window: std::time::Duration) -> Result<Metrics> {
        self.0.metrics(cx, &seen.inner, window).await
    }
    async fn secret_store(&self, cx: &Cx) -> Result<Box<dyn SecretStore>> {
        self.0.secret_store(cx).await
    }
    fn preflight(&self, cx: &Cx, seen: &Self::Observed) -> Result<()> {
        self.0.preflight(cx, &seen.inner)
    }
    async fn lease_store(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn LeaseStore>>> {
        self.0.lease_store(cx).await
    }
    async fn lease_leftover(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn LeaseStore>>> {
        self.0.lease_leftover(cx).await
    }
    async fn lease_record(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn LeaseStore>>> {
        self.0.lease_record(cx).await
    }
    async fn stages(&self, cx: &Cx) -> Result<Vec<StageRecord>> {
        self.0.stages(cx).await
    }
    fn check_url(&self, cx: &Cx, live: &Outcome) -> std::result::Result<String, String> {
        self.0.check_url(cx, live)
    }

    fn plan_destroy(&self, cx: &Cx, seen: &Self::Observed) -> Planned<Self::Change> {
        let mut plan = wrap(self.0.plan_destroy(cx, &seen.inner));
        if let Alert::Read(Some(f)) = &seen.alert {
            if f.ours {
                plan.changes.push(Step::Delete(f.name.clone(), "the app's budget alert"));
            } else {
                plan.warnings.push(format!("the budget {} was not made by aideploy for this app: it is left alone", f.name));
            }
        }
        plan
    }
    async fn destroy(&self, cx: &Cx, seen: &Self::Observed, plan: &Planned<Self::Change>, r: &dyn Reporter) -> Result<Outcome> {
        // The alert goes first: on Azure it lives in the resource group the target deletes.
        let mut rows = Vec::new();
        self.alert_steps(cx, &seen.alert, plan, r, &mut rows).await?;
        let own = inner(plan);
        let mut outcome = if own.has_changes() {
            self.0.destroy(cx, &seen.inner, &own, r).await?
        } else {
            Outcome { url: None, health: Health::Skipped, actions: own.display().actions, failure: None, pushed: None }
        };
        outcome.actions.extend(rows);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testing::cx;

    const APP: &str = "version = 1\n[app]\nname = \"rag\"\nasgi = \"main:app\"\n[targets.lambda]\n[targets.railway]\n[targets.cloudrun]\n";

    fn planned(cost: &str, target: &str, api: Api, alert: Alert) -> Planned<Step<Action>> {
        let mut plan = Planned::default();
        alert_plan(&cx(&format!("{APP}[cost]\n{cost}\n"), target, &[]), api, &alert, &mut plan);
        plan
    }

    fn found(ours: bool, amount: f64, email: Option<&str>) -> Found {
        Found {
            name: "aideploy-rag-dev-lambda".into(),
            ours,
            amount_usd: amount,
            email: email.map(str::to_string),
            extra: serde_json::Value::Null,
        }
    }

    fn rows(plan: &Planned<Step<Action>>) -> Vec<(Op, String, Option<String>)> {
        plan.changes.iter().map(|c| c.row()).map(|a| (a.op, a.id, a.reason)).collect()
    }

    #[test]
    fn the_alert_is_created_updated_kept_or_deleted_as_the_manifest_says() {
        let name = "aideploy-rag-dev-lambda".to_string();
        let with = "budget_usd = 50\nalert_email = \"ops@example.com\"";
        let p = planned(with, "lambda", Api::Aws, Alert::Read(None));
        assert_eq!(rows(&p), [(Op::Create, name.clone(), Some("$50.00 a month".into()))]);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        // In sync: no step at all.
        assert!(planned(with, "lambda", Api::Aws, Alert::Read(Some(found(true, 50.0, Some("ops@example.com"))))).changes.is_empty());
        let p = planned(with, "lambda", Api::Aws, Alert::Read(Some(found(true, 40.0, None))));
        assert_eq!(rows(&p), [(Op::Update, name.clone(), Some("amount $40.00 -> $50.00, alert email -> ops@example.com".into()))]);
        // budget_usd removed: ours goes, another's stays.
        let p = planned("", "lambda", Api::Aws, Alert::Read(Some(found(true, 50.0, None))));
        assert_eq!(rows(&p), [(Op::Delete, name.clone(), Some("`[cost] budget_usd` removed".into()))]);
        assert!(planned("", "lambda", Api::Aws, Alert::Read(Some(found(false, 50.0, None)))).changes.is_empty());
        // Not ours: left alone, and said.
        let p = planned(with, "lambda", Api::Aws, Alert::Read(Some(found(false, 999.0, None))));
        assert!(p.changes.is_empty());
        assert!(p.warnings.iter().any(|w| w.contains("left alone")), "{:?}", p.warnings);
        // No email on AWS: created all the same, and the plan says nobody is told.
        let p = planned("budget_usd = 50", "lambda", Api::Aws, Alert::Read(None));
        assert_eq!(p.changes.len(), 1);
        assert!(p.warnings.iter().any(|w| w.contains("AWS Budgets sends no alert without `[cost] alert_email`")), "{:?}", p.warnings);
    }

    #[test]
    fn clouds_without_an_alert_say_so_once() {
        let p = planned(
            "budget_usd = 50",
            "railway",
            Api::None("Railway has no budget alert API"),
            Alert::NoApi("Railway has no budget alert API".into()),
        );
        assert!(p.changes.is_empty());
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("Railway has no budget alert API"), "{:?}", p.warnings);
        assert!(planned("", "railway", Api::None(""), Alert::NoApi("x".into())).warnings.is_empty());
        assert!(planned("budget_usd = 50", "railway", Api::Local, Alert::NoBill).warnings.is_empty());
        // Google: the address is not where its alert goes, so it never makes an update.
        let p = planned(
            "budget_usd = 50\nalert_email = \"ops@example.com\"\nbilling_account = \"01A2B3-C4D5E6-F7A8B9\"",
            "cloudrun",
            Api::Gcp,
            Alert::Read(Some(Found { name: "aideploy-rag-dev-cloudrun".into(), ..found(true, 50.0, None) })),
        );
        assert!(p.changes.is_empty());
        assert!(p.warnings.iter().any(|w| w.contains("billing account's administrators")), "{:?}", p.warnings);
    }
}
