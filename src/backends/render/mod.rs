//! The `render` target: the app's OCI image, pushed to the manifest's registry, run by
//! digest as a Render service (`image` runtime) through Render's REST API v1.
//!
//! Private unless the target says `public = true`: a private service (`private_service`,
//! reachable only from the workspace's services in its region at `{slug}:{port}`, with
//! `PORT` set to the app's port), else a web service with its public `onrender.com` URL.
//! Render cannot change a service's type, so switching one to the other replaces our
//! service (delete, then create). Render health-checks web services only: a private
//! service's deploy is gated on Render's deploy status alone.
//!
//! Found again by name: the service is `{app}-{stage}` in the workspace (`owner` in the
//! target, or the only one the key sees); the registry credential aideploy registers is
//! the configured pull credential only (paas::pull), named
//! `aideploy-pull-{fingerprint}-{app}-{stage}` so a changed one shows; one named
//! `aideploy-{app}-{stage}` was registered by an earlier aideploy with the push login and
//! is replaced or deleted. Nothing is kept locally. Render has no
//! tags: the service aideploy creates carries the variable
//! `AIDEPLOY_OWNER = "{app}/{stage}/{target}"`, and a same-named service without it is
//! refused (paas::owner).
//!
//! `build` builds the image here and reads what the registry has of it; `apply` pushes
//! it (the plan's `push image` row). Variables are the service's env vars, set and
//! removed one key at a time so a deploy moves only the ones that changed. They are also
//! the store of `aideploy secrets` (paas::secrets): `secrets set` writes one (which does
//! not deploy), and a deploy keeps the stored value of a secret that has no value here
//! (`$VAR`, `.env`); one in neither place stops the deploy before any change. A deploy is
//! health-gated by Render itself (the service's `healthCheckPath` is the app's health
//! path): aideploy waits for the deploy to go `live`; a failed one leaves the previous
//! deploy serving and exits 3.
//!
//! One deploy, rollback or destroy at a time: the lease is an environment group of its
//! own, a settled register (lease.rs), since Render's API has no conditional write.
//!
//! api.rs: the client and the answers' types; observe.rs: reads; plan.rs: the steps
//! (pure); apply.rs: carrying them out; lease.rs: the deploy lease; logs.rs: the app's
//! log.

pub(crate) mod api;
mod apply;
mod lease;
mod logs;
mod metrics;
mod observe;
mod plan;

use anyhow::Result;
use async_trait::async_trait;
use serde_json::json;

use crate::backends::paas::image::{self, Image};
use crate::backends::paas::secrets::PaasStore;
use crate::backends::paas::vars;
use crate::engine::target::pick_kept;
use crate::engine::{
    Built, Capabilities, Cx, DefaultPackage, Deployed, Health, Kept, LineSink, LogQuery, Outcome, Planned, Provider, Reporter, Target,
};
use crate::error::UsageError;
use crate::manifest::Kind;
use api::Api;
pub use observe::Observed;
pub use plan::Step;

pub struct RenderTarget;

/// The regions Render's API accepts for a new web service.
const RENDER_REGIONS: &[&str] = &["frankfurt", "oregon", "ohio", "singapore", "virginia"];

/// Render's service types aideploy makes.
const WEB_SERVICE: &str = "web_service";
const PRIVATE_SERVICE: &str = "private_service";
/// Ports Render keeps for itself: its private network does not reach them.
const RESERVED_PORTS: &[u16] = &[10000, 18012, 18013, 19099];

/// `public = true`: a web service; else a private service.
fn is_public(cx: &Cx) -> bool {
    cx.target.settings.public.as_ref().is_some_and(|p| *p.get())
}

fn port(cx: &Cx) -> u16 {
    cx.loaded.manifest.app().port.0
}

/// Where the workspace's services reach a private service: its internal hostname (the
/// service's slug) and the app's port.
fn private_address(cx: &Cx, slug: Option<&str>) -> String {
    format!("{}:{}", slug.unwrap_or("<its slug>"), port(cx))
}

/// How a private service is reached and what checks it, for plans.
fn private_note(cx: &Cx, slug: Option<&str>) -> String {
    format!(
        "{} is a Render private service: no public URL; the workspace's services in region {} reach it at http://{} (Render's private network). Render health-checks web services only: the deploy is gated on Render's deploy status (`live` once the app listens on port {}); {} is not checked. Set `public = true` in [targets.{}] for a web service with a public URL",
        cx.resource_base(),
        region(cx),
        private_address(cx, slug),
        port(cx),
        cx.loaded.manifest.app().health,
        cx.target.name
    )
}

/// `[env]`, the secrets that have a value, and for a private service `PORT` (the port
/// its private address names, kept off Render's reserved 10000): the service's variables.
fn desired_vars(cx: &Cx) -> std::collections::BTreeMap<String, String> {
    if is_public(cx) {
        vars::desired(cx, &[])
    } else {
        vars::desired(cx, &[("PORT", port(cx).to_string())])
    }
}

const PORT_REASON: &[(&str, &str)] = &[("PORT", "the app's port, on Render's private network")];

fn health_timeout(cx: &Cx) -> u64 {
    u64::from(cx.target.health_timeout_secs())
}

fn plan_name(cx: &Cx) -> String {
    cx.target.values.plan.clone().unwrap_or_default()
}

fn region(cx: &Cx) -> String {
    cx.target.values.region.as_ref().map(|r| r.to_string()).unwrap_or_default()
}

/// The name of the registry credential holding the pull credential of `fingerprint`.
fn credential_name(cx: &Cx, fingerprint: &str) -> String {
    format!("aideploy-pull-{fingerprint}-{}", cx.resource_base())
}

/// Whether a registry credential's name is one aideploy gives for this app and stage:
/// `Some(Some(fingerprint))` for a pull credential, `Some(None)` for the name an
/// earlier aideploy registered the push login under.
fn credential_of(cx: &Cx, name: &str) -> Option<Option<String>> {
    let base = cx.resource_base();
    if name.strip_prefix("aideploy-") == Some(base.as_str()) {
        return Some(None);
    }
    let rest = name.strip_prefix("aideploy-pull-")?;
    let (fp, rest) = (rest.get(..12)?, rest.get(12..)?);
    (fp.chars().all(|c| c.is_ascii_hexdigit()) && rest.strip_prefix('-') == Some(base.as_str())).then(|| Some(fp.to_string()))
}

/// The deploy a rollback returns to: the newest one before the live deploy that went
/// live itself (now `deactivated`) and runs another image.
fn previous_deploy(s: &observe::SeenService) -> Option<&observe::SeenDeploy> {
    let live = s.live()?;
    let at = s.deploys.iter().position(|d| d.id == live.id)?;
    s.deploys[at + 1..].iter().find(|d| d.status == "deactivated" && d.digest != live.digest)
}

/// The deploys a rollback can go back to, and the live one, newest first: Render rolls
/// back only to a deploy that went live itself (now `deactivated`); one that failed, was
/// canceled or is under way is not listed, nor one whose image aideploy cannot tell.
fn kept_deploys(s: &observe::SeenService) -> Vec<Kept> {
    s.deploys
        .iter()
        .filter(|d| d.status == "live" || d.status == "deactivated")
        .filter_map(|d| Some(Kept { id: d.id.clone(), digest: d.digest.clone()?, created_at: d.created.clone(), live: d.status == "live" }))
        .collect()
}

#[async_trait]
impl Target for RenderTarget {
    type Artifact = Image;
    type Observed = Observed;
    type Change = Step;

    fn kind(&self) -> Kind {
        Kind::Render
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: Provider::Render,
            secret_store: true,
            logs: true,
            rollback: true,
            default_package: DefaultPackage::Image,
            needs_registry: true,
            lease: true,
        }
    }

    async fn secret_store(&self, cx: &Cx) -> Result<Box<dyn crate::secrets::SecretStore>> {
        let vars = api::ServiceEnvVars { api: Api::from_env()?, cx: cx.clone() };
        Ok(Box::new(PaasStore::new(cx, vars, "gone at once; the running deploy keeps it until the next deploy")))
    }

    async fn lease_store(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn crate::engine::lease::LeaseStore>>> {
        let api = Api::from_env()?;
        let owner = observe::owner_id(cx, &api).await?;
        Ok(Some(std::sync::Arc::new(lease::store(cx, api, owner))))
    }

    async fn lease_leftover(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn crate::engine::lease::LeaseStore>>> {
        self.lease_store(cx).await
    }

    /// The lease groups of the app and target, every stage (`lease.rs`).
    async fn stages(&self, cx: &Cx) -> Result<Vec<crate::engine::lease::StageRecord>> {
        let api = Api::from_env()?;
        let owner = observe::owner_id(cx, &api).await?;
        lease::stages(cx, &api, &owner).await
    }

    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Built<Image>> {
        // Fail on a missing registry or key before building anything.
        if crate::artifact::image::push_repository(&cx.loaded)?.is_some() {
            Api::from_env()?;
        }
        image::build(cx, "render", r).await
    }

    async fn observe(&self, cx: &Cx) -> Result<Observed> {
        observe::observe(cx, &Api::from_env()?).await
    }

    fn deployed(&self, cx: &Cx, seen: &Observed) -> Option<Deployed> {
        let s = seen.service.as_ref()?;
        let live = s.live();
        let mut details = serde_json::Map::new();
        details.insert("service".into(), json!(s.id));
        details.insert("type".into(), json!(if s.private { PRIVATE_SERVICE } else { WEB_SERVICE }));
        details.insert("public".into(), json!(!s.private));
        if s.private {
            details.insert("private_address".into(), json!(private_address(cx, s.slug.as_deref())));
        }
        details.insert("deploy".into(), json!(live.map(|d| &d.id)));
        details.insert("image".into(), json!(live.and_then(|d| d.image.as_ref())));
        details.insert("dashboard".into(), json!(s.dashboard));
        if let Some(latest) = s.deploys.first().filter(|d| d.status != "live") {
            details.insert("latest_deploy".into(), json!(format!("{} ({})", latest.id, latest.status)));
        }
        Some(Deployed {
            digest: live.and_then(|d| d.digest.clone()).unwrap_or_default(),
            url: s.url.clone(),
            health: if live.is_some() { Health::Passed } else { Health::Failed },
            // Render records what triggered a deploy, not who.
            deployed_at: live.and_then(|d| d.created.clone()),
            deployed_by: None,
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
        let prev = seen.service.as_ref().and_then(previous_deploy);
        let Some(prev) = prev else {
            return Err(UsageError::new(format!(
                "{} ({}) has no earlier successful Render deploy to roll back to",
                cx.app_name(),
                cx.stage
            ))
            .hint("rollback returns to the deploy before the live one; deploy at least twice first")
            .into());
        };
        Ok(Planned::of(vec![Step::Rollback { deploy: prev.id.clone(), digest: prev.digest.clone() }]))
    }

    async fn rollback(&self, cx: &Cx, seen: &Observed, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        apply::rollback(cx, seen, plan, r).await
    }

    fn releases(&self, _cx: &Cx, seen: &Observed) -> Vec<Kept> {
        seen.service.as_ref().map(kept_deploys).unwrap_or_default()
    }

    /// Render's rollback to the kept deploy `id` (or a prefix of its id or digest).
    fn plan_rollback_to(&self, cx: &Cx, seen: &Observed, id: &str) -> Result<Planned<Step>> {
        let kept = self.releases(cx, seen);
        let to = pick_kept(cx, &kept, id)?;
        Ok(Planned::of(vec![Step::Rollback { deploy: to.id.clone(), digest: Some(to.digest.clone()) }]))
    }

    async fn logs(&self, cx: &Cx, seen: &Observed, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
        logs::tail(cx, &Api::from_env()?, seen, query, out).await
    }

    /// Render's HTTP request and latency metrics of the web service (`metrics.rs`).
    async fn metrics(&self, _cx: &Cx, seen: &Observed, window: std::time::Duration) -> Result<crate::engine::Metrics> {
        match &seen.service {
            None => Ok(crate::engine::Metrics::not_available("no service yet")),
            Some(s) if s.private => Ok(crate::engine::Metrics::not_available(
                "a private service is reached on Render's private network, which records no HTTP metrics",
            )),
            Some(s) => metrics::read(&Api::from_env()?, &s.id, window).await,
        }
    }

    fn plan_destroy(&self, cx: &Cx, seen: &Observed) -> Planned<Step> {
        plan::plan_destroy(cx, seen)
    }

    async fn destroy(&self, _: &Cx, _: &Observed, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        apply::destroy(plan, r).await
    }
}

#[cfg(test)]
mod tests {
    use super::observe::{SeenDeploy, SeenService};
    use super::*;

    fn deploy(id: &str, digest: &str, status: &str) -> SeenDeploy {
        SeenDeploy {
            id: id.into(),
            status: status.into(),
            image: Some(format!("ghcr.io/a/b@{digest}")),
            digest: Some(digest.into()),
            created: None,
        }
    }

    #[test]
    fn rollback_target_is_the_last_deploy_that_went_live_before_the_live_one() {
        let s = SeenService {
            id: "srv-1".into(),
            deploys: vec![
                deploy("dep-4", "sha256:cc", "update_failed"),
                deploy("dep-3", "sha256:bb", "live"),
                deploy("dep-2", "sha256:bb", "deactivated"),
                deploy("dep-1", "sha256:aa", "deactivated"),
            ],
            ..SeenService::default()
        };
        assert_eq!(previous_deploy(&s).unwrap().id, "dep-1");
        assert_eq!(s.live().unwrap().digest.as_deref(), Some("sha256:bb"));
        let none = SeenService { deploys: vec![deploy("dep-1", "sha256:aa", "live")], ..s };
        assert!(previous_deploy(&none).is_none());
    }

    /// The message and hint of a usage error.
    fn usage(e: anyhow::Error) -> (String, String) {
        let u =
            crate::error::Failure::of(&e).and_then(crate::error::Failure::as_usage).unwrap_or_else(|| panic!("not a usage error: {e:#}"));
        (u.message.clone(), u.hint.clone().unwrap_or_default())
    }

    #[test]
    fn releases_are_the_live_deploy_and_those_that_went_live_before() {
        let manifest =
            "version = 1\n[app]\nname = \"rag\"\nruntime = \"python3.11\"\nasgi = \"app.main:app\"\nport = 8000\nhealth = \"/health\"\n";
        let cx = crate::backends::paas::testing::cx(manifest, "render");
        let dated = |d: SeenDeploy, at: &str| SeenDeploy { created: Some(at.into()), ..d };
        let s = SeenService {
            id: "srv-1".into(),
            deploys: vec![
                deploy("dep-7", "sha256:ee", "build_in_progress"),
                deploy("dep-6", "sha256:dd", "update_failed"),
                dated(deploy("dep-5", "sha256:cc", "live"), "2026-12-05T10:00:00Z"),
                deploy("dep-4", "sha256:bb", "deactivated"),
                deploy("dep-3", "sha256:99", "canceled"),
                deploy("dep-2", "sha256:cc", "deactivated"),
                dated(deploy("dep-1", "sha256:aa", "deactivated"), "2026-12-01T08:00:00Z"),
            ],
            ..SeenService::default()
        };
        let seen = Observed { owner: "tea-1".into(), service: Some(s), credentials: Vec::new() };
        let kept = RenderTarget.releases(&cx, &seen);
        let shown: Vec<(&str, &str, bool)> = kept.iter().map(|k| (k.id.as_str(), k.digest.as_str(), k.live)).collect();
        assert_eq!(
            shown,
            [("dep-5", "sha256:cc", true), ("dep-4", "sha256:bb", false), ("dep-2", "sha256:cc", false), ("dep-1", "sha256:aa", false)]
        );
        assert_eq!(kept[0].created_at.as_deref(), Some("2026-12-05T10:00:00Z"));
        assert_eq!(kept[3].created_at.as_deref(), Some("2026-12-01T08:00:00Z"));

        // To one older than the one before: exactly that deploy, by id or a digest prefix.
        let want = [Step::Rollback { deploy: "dep-1".into(), digest: Some("sha256:aa".into()) }];
        assert_eq!(RenderTarget.plan_rollback_to(&cx, &seen, "dep-1").unwrap().changes, want);
        assert_eq!(RenderTarget.plan_rollback_to(&cx, &seen, "sha256:aa").unwrap().changes, want);
        // A plain rollback still goes to the newest one of another image.
        assert_eq!(
            RenderTarget.plan_rollback(&cx, &seen).unwrap().changes,
            [Step::Rollback { deploy: "dep-4".into(), digest: Some("sha256:bb".into()) }]
        );

        // Unknown, never live: an error naming the kept ones and `history`.
        for id in ["dep-9", "dep-3", "dep-6"] {
            let (message, hint) = usage(RenderTarget.plan_rollback_to(&cx, &seen, id).unwrap_err());
            assert!(message.contains(&format!("keeps no release `{id}`")), "{message}");
            assert!(hint.contains("dep-4, dep-2, dep-1") && hint.contains("aideploy history --target render"), "{hint}");
        }
        // The live one: refused.
        let (message, _) = usage(RenderTarget.plan_rollback_to(&cx, &seen, "dep-5").unwrap_err());
        assert!(message.contains("dep-5 is the one serving now"), "{message}");
        // A digest prefix two kept deploys share names both.
        let (message, _) = usage(RenderTarget.plan_rollback_to(&cx, &seen, "sha256:c").unwrap_err());
        assert!(message.contains("names 2 releases: dep-5, dep-2"), "{message}");
        // No service: nothing kept.
        assert!(RenderTarget.releases(&cx, &Observed::default()).is_empty());
    }

    #[test]
    fn credential_names() {
        let manifest =
            "version = 1\n[app]\nname = \"rag\"\nruntime = \"python3.11\"\nasgi = \"app.main:app\"\nport = 8000\nhealth = \"/health\"\n";
        let cx = crate::backends::paas::testing::cx(manifest, "render");
        assert_eq!(credential_name(&cx, "0123456789ab"), "aideploy-pull-0123456789ab-rag-dev");
        assert_eq!(credential_of(&cx, "aideploy-pull-0123456789ab-rag-dev"), Some(Some("0123456789ab".into())));
        assert_eq!(credential_of(&cx, "aideploy-rag-dev"), Some(None));
        for other in
            ["aideploy-rag-prod", "aideploy-pull-0123456789ab-rag-prod", "aideploy-pull-xyz-rag-dev", "mine", "aideploy-pull-0123456789ab"]
        {
            assert_eq!(credential_of(&cx, other), None, "{other}");
        }
    }

    #[test]
    fn registry_kinds() {
        use apply::registry_kind;
        assert_eq!(registry_kind("ghcr.io"), "GITHUB");
        assert_eq!(registry_kind("us-docker.pkg.dev"), "GOOGLE_ARTIFACT");
        assert_eq!(registry_kind("123456789012.dkr.ecr.eu-west-1.amazonaws.com"), "AWS_ECR");
        assert_eq!(registry_kind("docker.io"), "DOCKER");
    }
}
