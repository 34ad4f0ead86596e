//! The `railway` target: the app's OCI image, pushed to the manifest's registry, run by
//! digest as a Railway service through Railway's public GraphQL API v2.
//!
//! Found again by name: the project is the target's `project` (id or name), the one a
//! project token belongs to, or the project `{app}` whose description carries
//! `aideploy:app={app}` (aideploy created it); `--stage` is the environment of that
//! name; the service is `{app}-{stage}`. An environment aideploy created carries the
//! shared variable `AIDEPLOY_ENVIRONMENT`. `destroy` deletes the service, then an
//! environment or a project only when aideploy created it and nothing else is in it.
//!
//! Private unless the target says `public = true`: only then does the service get a
//! Railway domain (`serviceDomainCreate`); otherwise the project's other services in the
//! stage's environment reach it at `http://{service}.railway.internal:{port}`, and a
//! domain an earlier deploy made on our service is deleted.
//!
//! Variables are the service's variables (Railway's store for secrets), written in one
//! `variableCollectionUpsert` and only when one changed. They are also the store of
//! `aideploy secrets` (paas::secrets): `secrets set` writes one with `skipDeploys`, and a
//! deploy keeps the stored value of a secret that has no value here (`$VAR`, `.env`);
//! one in neither place stops the deploy before any change. A deploy is health-gated by
//! Railway (the service instance's `healthcheckPath` is the app's health path): aideploy
//! waits for the deployment's status; a failed or crashed one leaves the previous
//! deployment serving and exits 3.
//!
//! Ownership: Railway has no tags on services, so the service aideploy creates carries
//! the variable `AIDEPLOY_OWNER = "{app}/{stage}/{target}"` from its creation on, and a
//! same-named service without it is refused (paas::owner); a project named like the app
//! that aideploy did not create is refused too unless the target names it (`project`).
//! `build` builds the image here and reads what the registry has of it; `apply` pushes
//! it (the plan's `push image` row).
//!
//! One deploy, rollback or destroy at a time: the lease is a shared variable of the
//! stage's environment, a settled register (lease.rs), since Railway's API has no
//! conditional write; a first deploy's claim creates the project and environment.
//!
//! api.rs: the client; ops.rs: the GraphQL operations; observe.rs: reads; plan.rs: the
//! steps (pure); apply.rs: carrying them out; lease.rs: the deploy lease; logs.rs: the
//! live deployment's log.

pub(crate) mod api;
mod apply;
mod lease;
mod logs;
mod metrics;
mod observe;
mod ops;
mod plan;
#[cfg(test)]
mod plan_tests;

use std::collections::BTreeMap;

use anyhow::Result;
use async_trait::async_trait;
use serde_json::json;

use crate::backends::paas::image::{self, Image};
use crate::backends::paas::secrets::PaasStore;
use crate::backends::paas::vars;
use crate::engine::{
    Built, Capabilities, Cx, DefaultPackage, Deployed, Health, Kept, LineSink, LogQuery, Outcome, Planned, Provider, Reporter, Target,
};
use crate::error::UsageError;
use crate::manifest::Kind;
use api::Api;
pub use observe::Observed;
pub use plan::Step;

pub struct RailwayTarget;

/// The shared variable that marks an environment aideploy created.
const ENV_MARKER: &str = "AIDEPLOY_ENVIRONMENT";
/// Deployment statuses that end a wait badly.
const FAILED: &[&str] = &["FAILED", "CRASHED", "REMOVED", "SKIPPED"];
/// Statuses of the deployment that serves.
const SERVING: &[&str] = &["SUCCESS", "SLEEPING"];

/// The name of the project aideploy creates: the target's `project`, else the app's name.
fn project_name(cx: &Cx) -> String {
    cx.target.settings.project.as_ref().map(|p| p.get().clone()).unwrap_or_else(|| cx.app_name().to_string())
}

fn workspace(cx: &Cx) -> Option<String> {
    cx.target.settings.workspace.as_ref().map(|w| w.get().clone())
}

fn marker(cx: &Cx) -> String {
    format!("aideploy:app={}", cx.app_name())
}

fn health_timeout(cx: &Cx) -> u32 {
    cx.target.health_timeout_secs()
}

fn health_path(cx: &Cx) -> String {
    cx.loaded.manifest.app().health.to_string()
}

/// `public = true`: the service gets a Railway domain; else only the project's private
/// network (the environment's other services) reaches it.
fn is_public(cx: &Cx) -> bool {
    cx.target.settings.public.as_ref().is_some_and(|p| *p.get())
}

/// Where the environment's other services reach the service over Railway's private
/// network: its private domain (`RAILWAY_PRIVATE_DOMAIN`, by default
/// `{service}.railway.internal`) and the app's port (the service's `PORT`).
fn private_address(cx: &Cx, private_domain: Option<&str>) -> String {
    let host = private_domain.map(str::to_string).unwrap_or_else(|| format!("{}.railway.internal", cx.resource_base()));
    format!("http://{host}:{}", cx.loaded.manifest.app().port.0)
}

/// How a private service is reached, for plans and deploys.
fn private_note(cx: &Cx, private_domain: Option<&str>) -> String {
    format!(
        "{} is private: it has no public domain; the other services of its project in environment `{}` reach it at {} (Railway's private network); set `public = true` in [targets.{}] to give it a public Railway domain",
        cx.resource_base(),
        cx.stage,
        private_address(cx, private_domain),
        cx.target.name
    )
}

fn looks_like_id(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// `[env]`, the secrets that have a value, and `PORT` (Railway routes and health-checks
/// the port in `PORT`): what the service's variables should be (paas::vars).
fn desired_vars(cx: &Cx) -> BTreeMap<String, String> {
    vars::desired(cx, &[("PORT", cx.loaded.manifest.app().port.0.to_string())])
}

const PORT_REASON: &[(&str, &str)] = &[("PORT", "the app's port")];

#[async_trait]
impl Target for RailwayTarget {
    type Artifact = Image;
    type Observed = Observed;
    type Change = Step;

    fn kind(&self) -> Kind {
        Kind::Railway
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: Provider::Railway,
            secret_store: true,
            logs: true,
            rollback: true,
            default_package: DefaultPackage::Image,
            needs_registry: true,
            lease: true,
        }
    }

    async fn secret_store(&self, cx: &Cx) -> Result<Box<dyn crate::secrets::SecretStore>> {
        let vars = api::ServiceVariables { api: Api::from_env()?, cx: cx.clone() };
        Ok(Box::new(PaasStore::new(cx, vars, "gone at once; the running deployment keeps it until the next deploy")))
    }

    async fn lease_store(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn crate::engine::lease::LeaseStore>>> {
        let api = Api::from_env()?;
        // Refuses a project that is not aideploy's before anything is written.
        observe::find_project(cx, &api).await?;
        Ok(Some(std::sync::Arc::new(lease::store(cx, api))))
    }

    async fn lease_leftover(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn crate::engine::lease::LeaseStore>>> {
        self.lease_store(cx).await
    }

    /// The lease variables of the app and target, one per environment (`lease.rs`).
    async fn stages(&self, cx: &Cx) -> Result<Vec<crate::engine::lease::StageRecord>> {
        lease::stages(cx, Api::from_env()?).await
    }

    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Built<Image>> {
        // Fail on a missing registry or token before building anything.
        if crate::artifact::image::push_repository(&cx.loaded)?.is_some() {
            Api::from_env()?;
        }
        image::build(cx, "railway", r).await
    }

    async fn observe(&self, cx: &Cx) -> Result<Observed> {
        observe::observe(cx, &Api::from_env()?).await
    }

    fn deployed(&self, cx: &Cx, seen: &Observed) -> Option<Deployed> {
        let (project, s) = (seen.project.as_ref()?, seen.service.as_ref()?);
        let live = s.live();
        let mut details = serde_json::Map::new();
        details.insert("project".into(), json!(format!("{} ({})", project.name, project.id)));
        details.insert("environment".into(), json!(seen.environment.as_ref().map(|e| format!("{} ({})", e.name, e.id))));
        details.insert("service".into(), json!(s.id));
        details.insert("deployment".into(), json!(live.map(|d| &d.id)));
        let image = live.and_then(|d| d.image.clone()).or_else(|| s.instance.as_ref().and_then(|i| i.image.clone()));
        details.insert("image".into(), json!(image));
        if let Some(latest) = s.deployments.first().filter(|d| live.is_none_or(|l| l.id != d.id)) {
            details.insert("latest_deployment".into(), json!(format!("{} ({})", latest.id, latest.status)));
        }
        // Public only while it has a Railway domain; the private address is always there.
        details.insert("public".into(), json!(s.domain.is_some()));
        details.insert("private_address".into(), json!(private_address(cx, s.private_domain.as_deref())));
        Some(Deployed {
            digest: live.and_then(|d| d.digest.clone()).unwrap_or_default(),
            url: s.url(),
            health: if live.is_some() { Health::Passed } else { Health::Failed },
            deployed_at: live.and_then(|d| d.created.clone()),
            deployed_by: live.and_then(|d| d.creator.clone()),
            details,
        })
    }

    fn plan(&self, cx: &Cx, seen: &Observed, artifact: &Built<Image>) -> Planned<Step> {
        plan::plan(cx, seen, &artifact.data.facts)
    }

    async fn apply(&self, cx: &Cx, seen: &Observed, artifact: &Built<Image>, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        apply::apply(cx, seen, &artifact.data, plan, r).await
    }

    fn plan_rollback(&self, cx: &Cx, seen: &Observed) -> Result<Planned<Step>> {
        let Some(step) = plan::plan_rollback(seen) else {
            return Err(UsageError::new(format!(
                "{} ({}) has no earlier successful Railway deployment to roll back to",
                cx.app_name(),
                cx.stage
            ))
            .hint("rollback returns to the deployment before the live one; deploy at least twice first")
            .into());
        };
        Ok(Planned::of(vec![step]))
    }

    async fn rollback(&self, cx: &Cx, seen: &Observed, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        apply::rollback(cx, seen, plan, r).await
    }

    /// The service's live deployment and those Railway can roll back to (plan.rs).
    fn releases(&self, _cx: &Cx, seen: &Observed) -> Vec<Kept> {
        plan::releases(seen)
    }

    fn plan_rollback_to(&self, cx: &Cx, seen: &Observed, id: &str) -> Result<Planned<Step>> {
        plan::plan_rollback_to(cx, seen, id)
    }

    async fn logs(&self, cx: &Cx, seen: &Observed, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
        logs::tail(cx, &Api::from_env()?, seen, query, out).await
    }

    /// Railway's HTTP metrics of the service in the stage's environment (`metrics.rs`).
    async fn metrics(&self, _cx: &Cx, seen: &Observed, window: std::time::Duration) -> Result<crate::engine::Metrics> {
        match (&seen.service, &seen.environment) {
            (Some(s), Some(e)) => metrics::read(&Api::from_env()?, &s.id, &e.id, window).await,
            _ => Ok(crate::engine::Metrics::not_available("no service in this stage's environment yet")),
        }
    }

    fn plan_destroy(&self, cx: &Cx, seen: &Observed) -> Planned<Step> {
        plan::plan_destroy(cx, seen)
    }

    async fn destroy(&self, _: &Cx, _: &Observed, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        apply::destroy(plan, r).await
    }
}
