//! The `cloudrun` target: the app's OCI image, pushed to Artifact Registry
//! (`{region}-docker.pkg.dev/{project}/aideploy/{app}`, or the registry override), run
//! by digest as a Cloud Run service through the official Google Cloud clients
//! (`google-cloud-run-v2`, `-secretmanager-v1`, `-artifactregistry-v1`,
//! `-iam-admin-v1`).
//!
//! Found again by name and labels: the service is `{app}-{stage}` in the project's
//! region; secrets are `aideploy-{app}-{stage}-{NAME}` labelled `aideploy-app`,
//! `aideploy-stage`, `aideploy-target`, whether a deploy or `aideploy secrets set` made
//! them (`store.rs`); a deploy uses the stored value of a secret with no local value.
//! Nothing is kept locally. A service or secret of
//! that name without these labels is someone else's: a deploy refuses it before
//! changing anything, and destroy leaves it alone.
//!
//! The service runs as a service account of its own, `aideploy-{app}-{stage}`, marked
//! in its description (`account.rs`), which alone may read the service's secrets; the
//! project's default compute account is never used nor granted anything.
//!
//! One deploy, rollback or destroy at a time: the lease is a secret of its own
//! (`lease.rs`), written with Secret Manager's create-only create and its etags.
//!
//! `build` works on this machine only (and asks the registry, read-only, which blobs it
//! lacks); creating the Artifact Registry repository and pushing the image are steps of
//! `apply`, shown in the plan with their size.
//!
//! Health-gated: traffic goes to the latest *ready* revision, so a revision whose
//! startup probe (the app's health path) fails never takes traffic; the update's
//! operation fails with the revision's condition message and the deploy exits 3.
//! `rollback` pins 100% of the traffic to the previous ready revision of another image,
//! `rollback --to REVISION` to any ready revision Cloud Run keeps (`history` lists them);
//! the next deploy hands it back to the latest one once its new revision is ready.

mod account;
mod apply;
pub(crate) mod budget;
mod iam;
mod lease;
mod logs;
mod metrics;
mod observe;
mod ops;
mod plan;
mod service;
mod store;

use std::collections::BTreeMap;

use anyhow::Result;
use async_trait::async_trait;
use serde_json::json;

use crate::artifact::image::Flavor;
use crate::artifact::oci::BuiltImage;
use crate::artifact::registry::Reference;
use crate::cloud::gcp::{self, Clients};
use crate::engine::{
    ArtifactInfo, Built, Capabilities, Cx, DefaultPackage, Deployed, Health, Kept, LineSink, LogQuery, Outcome, Planned, Provider,
    Reporter, Target,
};
use crate::envvars;
use crate::error::UsageError;
use crate::manifest::Kind;

pub use account::{account_id, AccountNow};
pub use apply::ensure_repository;
pub use observe::{Observed, Revision, SecretNow, ServiceNow};
pub use plan::Step;
pub use service::desired_service;

pub struct CloudRunBackend;

/// The Docker repository aideploy creates in Artifact Registry.
pub const REPOSITORY: &str = "aideploy";

/// Where the service lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub project: String,
    pub region: String,
}

impl Site {
    pub fn parent(&self) -> String {
        format!("projects/{}/locations/{}", self.project, self.region)
    }
    fn service(&self, cx: &Cx) -> String {
        format!("{}/services/{}", self.parent(), service_id(cx))
    }
    fn secret(&self, id: &str) -> String {
        format!("projects/{}/secrets/{id}", self.project)
    }
    /// The Artifact Registry repository's full name.
    pub fn repository(&self) -> String {
        format!("{}/repositories/{REPOSITORY}", self.parent())
    }
    /// The image repository Artifact Registry serves for this project and region.
    pub fn image_repository(&self, app: &str) -> String {
        format!("{}-docker.pkg.dev/{}/{REPOSITORY}/{app}", self.region, self.project)
    }
}

/// Project and region: the target's settings, else gcloud's variables and active
/// configuration, else an error naming the setting.
pub fn site(cx: &Cx) -> Result<Site> {
    site_of(&cx.target)
}

/// [`site`] of a target of the manifest.
pub fn site_of(target: &crate::manifest::Target) -> Result<Site> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let s = &target.settings;
    let project = s
        .project
        .as_ref()
        .map(|p| p.get().clone())
        .or_else(|| env(envvars::GOOGLE_CLOUD_PROJECT))
        .or_else(|| env(envvars::CLOUDSDK_CORE_PROJECT))
        .or_else(|| gcp::gcloud_config("core", "project"))
        .ok_or_else(|| {
            UsageError::new("no Google Cloud project for the cloudrun target")
                .hint(format!("set `project = \"my-project\"` in [targets.{}], or run `gcloud config set project my-project`", target.name))
        })?;
    let region = s
        .region
        .as_ref()
        .map(|r| r.get().to_string())
        .or_else(|| env(envvars::CLOUDSDK_RUN_REGION))
        .or_else(|| gcp::gcloud_config("run", "region"))
        .ok_or_else(|| {
            UsageError::new("no Cloud Run region for the cloudrun target").hint(format!(
                "set `region = \"europe-west1\"` in [targets.{}], or run `gcloud config set run/region europe-west1`",
                target.name
            ))
        })?;
    Ok(Site { project, region })
}

/// Where the image is pushed: the registry override, else (`None`) the project's
/// Artifact Registry repository, which apply creates when it is missing.
fn named_registry(cx: &Cx) -> Result<Option<Reference>> {
    crate::artifact::image::push_repository(&cx.loaded)
}

fn push_target(cx: &Cx, site: &Site) -> Result<Reference> {
    match named_registry(cx)? {
        Some(r) => Ok(r),
        None => Reference::parse(&site.image_repository(cx.app_name())),
    }
}

/// A GCP label value: lowercase letters, digits, `_` and `-`, at most 63 characters.
fn label_value(s: &str) -> String {
    s.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).take(63).collect()
}

/// The digest label: GCP labels allow no colon and 63 characters, so `sha256-` and the
/// first 56 hex digits (the image itself is referenced by its full digest).
fn digest_label(digest: &str) -> String {
    label_value(&digest.replacen(':', "-", 1))
}

/// The labels that make a service or secret this app's, stage's and target's.
fn labels(cx: &Cx) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("aideploy-app".into(), label_value(cx.app_name())),
        ("aideploy-stage".into(), label_value(&cx.stage.to_string())),
        ("aideploy-target".into(), label_value(&cx.target.name)),
    ])
}

/// Whether `found` carries all of aideploy's labels for this app, stage and target.
fn is_ours(cx: &Cx, found: &BTreeMap<String, String>) -> bool {
    labels(cx).iter().all(|(k, v)| found.get(k) == Some(v))
}

/// Longest Cloud Run service id.
const MAX_SERVICE_ID: usize = 49;

/// The service id: `{app}-{stage}`; when longer than Cloud Run allows, a prefix and a
/// short hash of the whole name, so two long names never meet.
pub fn service_id(cx: &Cx) -> String {
    fit(&cx.resource_base(), MAX_SERVICE_ID)
}

/// `name` when it fits in `max` characters, else its first characters, `-` and 8 hex
/// digits of its SHA-256.
fn fit(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    let keep: String = name.chars().take(max - 9).collect();
    format!("{}-{}", keep.trim_end_matches('-'), &hash[..8])
}

/// Longest Secret Manager secret id.
const MAX_SECRET_ID: usize = 255;

pub fn secret_id(cx: &Cx, name: &str) -> String {
    fit(&format!("aideploy-{}-{name}", cx.resource_base()), MAX_SECRET_ID)
}

fn short(d: &str) -> &str {
    let d = d.trim_start_matches("sha256:");
    &d[..12.min(d.len())]
}

fn is_public(cx: &Cx) -> bool {
    cx.target.settings.public.as_ref().is_some_and(|p| *p.get())
}

fn health_timeout(cx: &Cx) -> u32 {
    cx.target.health_timeout_secs()
}

/// What `build` made: the image on this machine, where apply pushes it, and how much
/// of it that repository lacks (read with HEAD requests; nothing pushed).
pub struct Image {
    pub built: BuiltImage,
    pub repo: Reference,
    pub to_upload: u64,
    /// What went into it, for the plan's "(env changed)".
    pub inputs: crate::engine::Inputs,
}

impl Image {
    /// `repo@sha256:...`: what the service runs.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.repo.name(), self.built.digest)
    }
}

#[async_trait]
impl Target for CloudRunBackend {
    type Artifact = Image;
    type Observed = Observed;
    type Change = Step;

    fn kind(&self) -> Kind {
        Kind::Cloudrun
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: Provider::Gcp,
            secret_store: true,
            logs: true,
            rollback: true,
            default_package: DefaultPackage::Image,
            needs_registry: false,
            lease: true,
        }
    }

    fn check_url(&self, cx: &Cx, live: &Outcome) -> std::result::Result<String, String> {
        match &live.url {
            Some(url) if is_public(cx) => Ok(url.clone()),
            Some(_) => Err(format!(
                "the service is private (calls need an identity token); set `public = true` in [targets.{}] to check it",
                cx.target.name
            )),
            None => Err("Cloud Run gave the service no URL".into()),
        }
    }

    async fn lease_store(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn crate::engine::lease::LeaseStore>>> {
        Ok(Some(std::sync::Arc::new(lease::SecretLease::new(cx, site(cx)?).await?)))
    }

    async fn lease_leftover(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn crate::engine::lease::LeaseStore>>> {
        self.lease_store(cx).await
    }

    /// The lease secrets of the app and target, every stage (`lease.rs`).
    async fn stages(&self, cx: &Cx) -> Result<Vec<crate::engine::lease::StageRecord>> {
        lease::stages(cx, &site(cx)?).await
    }

    /// Secret Manager, the secrets a deploy references (`store.rs`).
    async fn secret_store(&self, cx: &Cx) -> Result<Box<dyn crate::secrets::SecretStore>> {
        Ok(Box::new(store::SecretManagerStore::for_target(cx).await?))
    }

    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Built<Image>> {
        let site = site(cx)?;
        // The credentials are checked before the long build.
        Clients::new().await?;
        let repo = push_target(cx, &site)?;
        let local = crate::artifact::image::build_local(&cx.loaded, Some(&cx.target), Flavor::Server, r).await?;
        let built = local.image;
        let (to_upload, _) = crate::artifact::image::upload_needed(&built, &repo).await?;
        let mut info = ArtifactInfo::plain("image", built.digest.clone(), built.bytes());
        info.inputs = local.inputs.clone();
        info.layers = local.layers;
        Ok(Built { info, data: Image { built, repo, to_upload, inputs: local.inputs } })
    }

    async fn observe(&self, cx: &Cx) -> Result<Observed> {
        let site = site(cx)?;
        let clients = Clients::new().await?;
        observe::read(cx, &clients, &site).await
    }

    fn deployed(&self, cx: &Cx, seen: &Observed) -> Option<Deployed> {
        let service = seen.service.as_ref().filter(|s| s.ours);
        let account_ours = seen.account.as_ref().is_some_and(|a| a.ours);
        if service.is_none() && seen.labelled_secrets.is_empty() && !account_ours {
            return None;
        }
        let serving = service.and_then(|s| s.serving.as_ref());
        let mut details = serde_json::Map::new();
        details.insert("project".into(), json!(seen.site.project));
        details.insert("region".into(), json!(seen.site.region));
        details.insert("service".into(), json!(service_id(cx)));
        details.insert("revision".into(), json!(serving.map(|r| r.name.clone())));
        details.insert("image".into(), json!(serving.and_then(|r| r.image.clone())));
        details.insert("public".into(), json!(service.is_some_and(|s| s.public)));
        let runs_as = service.and_then(|s| s.spec["template"]["serviceAccount"].as_str()).filter(|a| !a.is_empty());
        details.insert("service_account".into(), json!(runs_as));
        if let Some(s) = service {
            let serving_name = serving.map(|r| r.name.as_str()).unwrap_or_default();
            if !s.latest_created.is_empty() && s.latest_created != serving_name {
                let failed = s.revisions.iter().find(|r| r.name == s.latest_created).and_then(|r| r.failure.clone());
                details.insert(
                    "latest_revision".into(),
                    json!(match failed {
                        Some(m) => format!("{} (not ready: {m})", s.latest_created),
                        None => s.latest_created.clone(),
                    }),
                );
            }
        }
        Some(Deployed {
            digest: serving.and_then(|r| r.digest.clone()).unwrap_or_default(),
            url: service.and_then(|s| s.uri.clone()),
            health: if serving.is_some_and(|r| r.ready) { Health::Passed } else { Health::Failed },
            // The service's last update (a deploy or a rollback moving traffic), and the
            // account Cloud Run says made it.
            deployed_at: service.and_then(|s| s.spec["updateTime"].as_str()).and_then(crate::util::utc_time),
            deployed_by: service.and_then(|s| s.spec["lastModifier"].as_str()).filter(|b| !b.is_empty()).map(str::to_string),
            details,
        })
    }

    fn preflight(&self, cx: &Cx, seen: &Observed) -> Result<()> {
        apply::refuse_foreign(cx, seen)
    }

    fn plan(&self, cx: &Cx, seen: &Observed, artifact: &Built<Image>) -> Planned<Step> {
        plan::deploy(cx, seen, &artifact.data)
    }

    async fn apply(&self, cx: &Cx, seen: &Observed, artifact: &Built<Image>, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        apply::deploy(cx, seen, &artifact.data, plan, r).await
    }

    fn plan_rollback(&self, cx: &Cx, seen: &Observed) -> Result<Planned<Step>> {
        plan::rollback(cx, seen)
    }

    async fn rollback(&self, cx: &Cx, seen: &Observed, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        apply::rollback(cx, seen, plan, r).await
    }

    /// The service's ready revisions and the serving one, by revision name.
    fn releases(&self, _cx: &Cx, seen: &Observed) -> Vec<Kept> {
        plan::releases(seen)
    }

    fn plan_rollback_to(&self, cx: &Cx, seen: &Observed, id: &str) -> Result<Planned<Step>> {
        plan::rollback_to(cx, seen, id)
    }

    /// Cloud Monitoring's request count and latency of the service's revisions (`metrics.rs`).
    async fn metrics(&self, cx: &Cx, seen: &Observed, window: std::time::Duration) -> Result<crate::engine::Metrics> {
        if seen.service.is_none() {
            return Ok(crate::engine::Metrics::not_available("no service yet"));
        }
        metrics::read(&seen.site, &service_id(cx), window).await
    }

    /// Every revision's entries in Cloud Logging (`logs.rs`).
    async fn logs(&self, cx: &Cx, seen: &Observed, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
        logs::tail(cx, &seen.site, &service_id(cx), query, out).await
    }

    fn plan_destroy(&self, cx: &Cx, seen: &Observed) -> Planned<Step> {
        plan::destroy(cx, seen)
    }

    async fn destroy(&self, cx: &Cx, seen: &Observed, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        apply::destroy(cx, seen, plan, r).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_fit_gcp_rules() {
        let d = digest_label("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        assert!(d.len() <= 63 && !d.contains(':') && d.starts_with("sha256-0123"), "{d}");
        assert_eq!(label_value("Prod.EU"), "prod_eu");
    }

    #[test]
    fn long_names_keep_a_prefix_and_a_hash() {
        assert_eq!(fit("rag-dev", 49), "rag-dev");
        let a = fit(&format!("{}-prod", "a".repeat(60)), 49);
        let b = fit(&format!("{}-dev", "a".repeat(60)), 49);
        assert!(a.len() <= 49 && b.len() <= 49, "{a} {b}");
        assert!(a.starts_with("aaaa") && b.starts_with("aaaa"));
        assert_ne!(a, b);
        assert!(!a.contains("--"), "{a}");
    }
}
