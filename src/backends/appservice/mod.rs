//! The `appservice` target: the app's OCI image on Azure App Service (Linux), every
//! resource made through Azure Resource Manager (see arm.rs for why plain typed ARM
//! calls).
//!
//! Resources, all tagged `aideploy-app`/`-stage`/`-target` (the site also
//! `aideploy-digest`) and found again by tag in the resource group: the group itself
//! (`resource_group`, default `aideploy-{app}-{stage}`; tagged `aideploy-created-group`
//! when aideploy made it, so `destroy` deletes only a group it created), a Linux App
//! Service plan (`sku`, default B1), an Azure Container Registry (Basic, admin user
//! off) the image is pushed to, a Key Vault in RBAC mode holding `[secrets]`, and the
//! site (`aideploy secrets set` makes the group and vault, tagged the same way, when no
//! deploy has yet, and writes the same secrets a deploy does; a deploy uses the stored
//! value of a secret with no local value). The site runs `DOCKER|<login server>/<app>@sha256:...`, pulls with its
//! system-assigned identity (AcrPull on that registry only), reads secrets through
//! Key Vault references (Key Vault Secrets User on that vault only). A deleted vault
//! stays soft-deleted (recoverable, holding its name) unless `destroy --purge`, and the
//! next deploy recovers it.
//!
//! Names that must be unique across Azure (site, registry, vault) carry a short hash
//! of the subscription and group, so they are the same on every machine and differ
//! between subscriptions; a name cut to a length limit carries a hash of the whole
//! (names.rs). A same-named resource without aideploy's tags (or a default-named group
//! without them) is refused before anything changes, never adopted or deleted.
//!
//! `build` builds the image locally and counts, with reads, what a push would upload;
//! `observe` reads (observe.rs); `plan` is pure (plan.rs); creating the registry and
//! pushing the image are steps of `apply` (apply.rs).
//!
//! Deploys are health-gated: on tiers with deployment slots (Standard and up) the new
//! version goes to slot `staging`, its health path is polled, and only then is it
//! swapped in; on smaller tiers the site is updated in place, polled, and put back to
//! the previous digest when it fails. Either way a failure exits 3. `rollback` puts the
//! digest that served before back the same way (`rollback.rs`), and `rollback --to` a
//! kept one by its digest's first 12 hex digits.
//!
//! One deploy, rollback or destroy at a time: the lease is a resource group of its own
//! whose tags are a settled register (`lease.rs`): ARM has no precondition to write with.

mod access;
mod apply;
pub(crate) mod arm;
pub(crate) mod budget;
mod lease;
mod logs;
mod metrics;
mod names;
mod observe;
mod plan;
mod rollback;
mod vault;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use serde_json::{json, Value};

use crate::artifact::image::{build_local, push_repository, upload_needed, Flavor};
use crate::artifact::oci::BuiltImage;
use crate::artifact::registry::Reference;
use crate::engine::target::Target;
use crate::engine::{
    ArtifactInfo, Built, Capabilities, Cx, DefaultPackage, Deployed, Health, Kept, LineSink, LogQuery, Outcome, Planned, Provider, Reporter,
};
use crate::envvars;
use crate::error::UsageError;
use crate::manifest::Kind;
use arm::{Arm, API_ACR, API_AUTHORIZATION, API_KEYVAULT, API_RESOURCES, API_WEB};
use names::Names;
use observe::Observed;
use plan::{Change, Doomed};

pub struct AppServiceBackend;

pub(crate) const TAG_APP: &str = "aideploy-app";
pub(crate) const TAG_STAGE: &str = "aideploy-stage";
pub(crate) const TAG_TARGET: &str = "aideploy-target";
pub(crate) const TAG_DIGEST: &str = "aideploy-digest";
/// What the deployed version is made of ([`crate::engine::Parts::encode`]).
pub(crate) const TAG_PARTS: &str = "aideploy-parts";
/// The digest that served before the current one: what `rollback` returns to.
pub(crate) const TAG_PREVIOUS: &str = "aideploy-previous-digest";
/// On a resource group aideploy created (and so may delete).
pub(crate) const TAG_CREATED_GROUP: &str = "aideploy-created-group";
/// On a Key Vault secret: a salted hash of its value, so an unchanged value is not
/// written again (ARM never returns secret values).
pub(crate) const TAG_VALUE: &str = "aideploy-value-sha256";

/// What a plan tier offers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tier {
    pub name: &'static str,
    pub slots: bool,
    pub always_on: bool,
    pub autoscale: bool,
}

fn tier_of(sku: &str) -> Option<Tier> {
    let s = sku.to_ascii_uppercase();
    let t = |name, slots, always_on, autoscale| Some(Tier { name, slots, always_on, autoscale });
    let digit = |rest: &str| rest.len() == 1 && matches!(rest, "1" | "2" | "3");
    if s == "F1" || s == "FREE" {
        return t("Free", false, false, false);
    }
    if s == "D1" || s == "SHARED" {
        return t("Shared", false, false, false);
    }
    if let Some(rest) = s.strip_prefix('B') {
        return if digit(rest) { t("Basic", false, true, false) } else { None };
    }
    if let Some(rest) = s.strip_prefix('S') {
        return if digit(rest) { t("Standard", true, true, true) } else { None };
    }
    if let Some(rest) = s.strip_prefix('P') {
        let (n, gen) = rest.split_at(1.min(rest.len()));
        return match (matches!(n, "0" | "1" | "2" | "3" | "4" | "5"), gen) {
            (true, "V2") => t("PremiumV2", true, true, true),
            (true, "V3" | "MV3") => t("PremiumV3", true, true, true),
            (true, "V4" | "MV4") => t("PremiumV4", true, true, true),
            _ => None,
        };
    }
    if let Some(rest) = s.strip_prefix('I') {
        return if rest.len() == 3 && rest.ends_with("V2") { t("IsolatedV2", true, true, true) } else { None };
    }
    None
}

pub(crate) fn sku(cx: &Cx) -> String {
    cx.target.values.sku.as_deref().unwrap_or_default().to_ascii_uppercase()
}

pub(crate) fn tier(cx: &Cx) -> Result<Tier, UsageError> {
    let s = sku(cx);
    tier_of(&s).ok_or_else(|| {
        UsageError::new(format!("`{s}` is not an App Service plan SKU aideploy knows"))
            .hint(format!("set `sku` in [targets.{}] to one of F1, B1-B3, S1-S3, P0v3-P5v3, P1v2-P3v2, I1v2-I6v2", cx.target.name))
    })
}

pub(crate) fn health_timeout(cx: &Cx) -> Duration {
    cx.target.health_timeout()
}

/// The URL the health gate polls for a host: `AIDEPLOY_AZURE_SITE_URL_TEMPLATE` with
/// `{host}` replaced, default `https://{host}`.
pub(crate) fn probe_url(host: &str, path: &str) -> String {
    let template = std::env::var(envvars::AIDEPLOY_AZURE_SITE_URL_TEMPLATE)
        .ok()
        .filter(|t| t.contains("{host}"))
        .unwrap_or_else(|| "https://{host}".into());
    format!("{}{path}", template.trim_end_matches('/').replace("{host}", host))
}

/// The tags on everything aideploy makes for this app, stage and target.
pub(crate) fn tags(cx: &Cx) -> serde_json::Map<String, Value> {
    let mut t = serde_json::Map::new();
    t.insert(TAG_APP.into(), json!(cx.app_name()));
    t.insert(TAG_STAGE.into(), json!(cx.stage.to_string()));
    t.insert(TAG_TARGET.into(), json!(cx.target.name));
    t
}

/// Whether `tags` mark a resource as this app's, stage's and target's.
pub(crate) fn tags_are_ours(cx: &Cx, tags: &BTreeMap<String, String>) -> bool {
    let is = |k: &str, v: &str| tags.get(k).is_some_and(|t| t == v);
    is(TAG_APP, cx.app_name()) && is(TAG_STAGE, &cx.stage.to_string()) && is(TAG_TARGET, &cx.target.name)
}

pub(crate) fn subscription(cx: &Cx) -> Result<String> {
    Ok(crate::cloud::azure::subscription(cx.target.settings.subscription.as_ref().map(|s| s.get().as_str()), &cx.target.name)?)
}

/// What `build` made: the image, on this machine, and what pushing it would cost.
pub struct Image {
    pub image: BuiltImage,
    /// `AIDEPLOY_REGISTRY` / `[build] registry`, when set: the site pulls from there
    /// instead of a registry aideploy makes.
    pub override_repo: Option<String>,
    /// The bytes a push would upload (blobs the destination lacks, and the manifest),
    /// counted with reads in `build`.
    pub to_upload: u64,
    /// What went into it, for the plan's "(env changed)".
    pub inputs: crate::engine::Inputs,
}

/// The repository of the registry aideploy made, when it exists (reads only).
async fn acr_repo(cx: &Cx, arm: &Arm, sub: &str) -> Result<Option<Reference>> {
    let n = Names::derive(cx, sub);
    let Some(acr) = arm.get(&n.acr_path(), API_ACR).await? else { return Ok(None) };
    let login = acr["properties"]["loginServer"].as_str().filter(|l| !l.is_empty());
    match login {
        Some(l) => Ok(Some(Reference::parse(&format!("{l}/{}", cx.app_name()))?)),
        None => Ok(None),
    }
}

fn not_deployed(cx: &Cx) -> anyhow::Error {
    UsageError::new(format!("{} ({}) is not deployed to {}", cx.app_name(), cx.stage, cx.target.name)).into()
}

#[async_trait]
impl Target for AppServiceBackend {
    type Artifact = Image;
    type Observed = Observed;
    type Change = Change;

    fn kind(&self) -> Kind {
        Kind::Appservice
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: Provider::Azure,
            secret_store: true,
            logs: true,
            rollback: true,
            default_package: DefaultPackage::Image,
            needs_registry: false,
            lease: true,
        }
    }

    async fn lease_store(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn crate::engine::lease::LeaseStore>>> {
        let location = cx.target.values.region.as_ref().map(|r| r.to_string()).unwrap_or_default();
        Ok(Some(std::sync::Arc::new(lease::store(cx, &subscription(cx)?, location)?)))
    }

    async fn lease_leftover(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn crate::engine::lease::LeaseStore>>> {
        self.lease_store(cx).await
    }

    /// The lease groups of the app and target, every stage (`lease.rs`).
    async fn stages(&self, cx: &Cx) -> Result<Vec<crate::engine::lease::StageRecord>> {
        lease::stages(cx, &subscription(cx)?).await
    }

    /// The app's Key Vault (`vault.rs`): made, tagged, by the first `secrets set` when
    /// no deploy has made it yet.
    async fn secret_store(&self, cx: &Cx) -> Result<Box<dyn crate::secrets::SecretStore>> {
        Ok(Box::new(vault::KeyVaultStore::for_target(cx).await?))
    }

    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Built<Image>> {
        // Settings, subscription and credentials fail before anything is built.
        tier(cx)?;
        let sub = subscription(cx)?;
        let arm = Arm::from_env(cx.poll)?;
        let over = push_repository(&cx.loaded)?;
        let local = build_local(&cx.loaded, Some(&cx.target), Flavor::Server, r).await?;
        let image = local.image;
        let mut info = ArtifactInfo::plain("image", image.digest.clone(), image.bytes());
        info.inputs = local.inputs.clone();
        info.layers = local.layers;
        let dest = match &over {
            Some(o) => Some(o.clone()),
            None => acr_repo(cx, &arm, &sub).await?,
        };
        let to_upload = match &dest {
            Some(repo) => upload_needed(&image, repo).await?.0,
            None => image.bytes(),
        };
        Ok(Built { info, data: Image { image, override_repo: over.map(|o| o.name()), to_upload, inputs: local.inputs } })
    }

    async fn observe(&self, cx: &Cx) -> Result<Observed> {
        let arm = Arm::from_env(cx.poll)?;
        observe::read(cx, &arm, &subscription(cx)?).await
    }

    /// Azure Monitor's metrics of the production site (`metrics.rs`).
    async fn metrics(&self, cx: &Cx, seen: &Observed, window: std::time::Duration) -> Result<crate::engine::Metrics> {
        if seen.site.is_none() {
            return Ok(crate::engine::Metrics::not_available("no site yet"));
        }
        let arm = Arm::from_env(cx.poll)?;
        metrics::read(&arm, &seen.names.site_path(), window).await
    }

    /// The production site's Docker log (the app's output and the platform's lines).
    async fn logs(&self, cx: &Cx, seen: &Observed, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
        let arm = Arm::from_env(cx.poll)?;
        logs::logs(cx, &arm, &seen.names.site_path(), query, out).await
    }

    fn deployed(&self, _cx: &Cx, seen: &Observed) -> Option<Deployed> {
        if !seen.any() {
            return None;
        }
        let n = &seen.names;
        let mut details = serde_json::Map::new();
        details.insert(
            "resource_group".into(),
            json!(format!("{}{}", n.group, if seen.owns_group() { " (created by aideploy)" } else { "" })),
        );
        details.insert("site".into(), json!(seen.site.as_ref().map(|_| n.site.clone())));
        details.insert("plan".into(), json!(seen.plan.as_ref().map(|s| format!("{} ({s})", n.plan))));
        details.insert("image".into(), json!(seen.site.as_ref().and_then(|s| s.config.image())));
        details.insert("registry".into(), json!(seen.acr));
        details.insert("key_vault".into(), json!(seen.vault.as_ref().map(|_| n.vault.clone())));
        details.insert("access".into(), json!(seen.site.as_ref().map(|s| s.config.access().label())));
        if let Some(why) = &seen.health_skipped {
            details.insert("health_skipped".into(), json!(why));
        }
        if let Some(d) = seen.slot_digest() {
            details.insert("staging_slot".into(), json!(d));
        }
        if let Some(p) = seen.site.as_ref().and_then(|s| s.previous()) {
            details.insert("previous".into(), json!(p));
        }
        Some(Deployed {
            digest: seen.digest().unwrap_or_default(),
            url: seen.url(),
            health: seen.health.unwrap_or(Health::Skipped),
            // The production site's last change (the swap that put this version live);
            // ARM's activity log, not the site, records who made it.
            deployed_at: seen.site.as_ref().and_then(|s| s.changed.clone()),
            deployed_by: None,
            details,
        })
    }

    fn plan(&self, cx: &Cx, seen: &Observed, artifact: &Built<Image>) -> Planned<Change> {
        plan::plan(cx, seen, artifact)
    }

    fn preflight(&self, cx: &Cx, seen: &Observed) -> Result<()> {
        apply::refuse_foreign(cx, seen)
    }

    async fn apply(&self, cx: &Cx, seen: &Observed, artifact: &Built<Image>, plan: &Planned<Change>, r: &dyn Reporter) -> Result<Outcome> {
        apply::apply(cx, seen, artifact, plan, r).await
    }

    fn plan_rollback(&self, cx: &Cx, seen: &Observed) -> Result<Planned<Change>> {
        rollback::plan_rollback(cx, seen)
    }

    /// The serving digest and the one before it, kept in the site's tags (`rollback.rs`).
    fn releases(&self, _cx: &Cx, seen: &Observed) -> Vec<Kept> {
        rollback::releases(seen)
    }

    fn plan_rollback_to(&self, cx: &Cx, seen: &Observed, id: &str) -> Result<Planned<Change>> {
        rollback::plan_rollback_to(cx, seen, id)
    }

    async fn rollback(&self, cx: &Cx, seen: &Observed, plan: &Planned<Change>, r: &dyn Reporter) -> Result<Outcome> {
        let arm = Arm::from_env(cx.poll)?;
        let t = tier(cx)?;
        let site = seen.site.as_ref().ok_or_else(|| not_deployed(cx))?;
        // The digest the plan names: `rollback --to` may name another than the previous.
        let prev = rollback::target_of(plan).context("a rollback plan names the digest it goes back to")?;
        let repo = site
            .config
            .image()
            .and_then(|i| i.rsplit_once('@'))
            .map(|(r, _)| r.to_string())
            .context("the site runs no digest-pinned image")?;
        let acr = site.config.acr_use_managed_identity_creds == Some(true);
        let shape = apply::Shape { cx, n: &seen.names, location: &seen.location, t, acr };
        // With slots, the slot's settings move with a swap: keep the production ones.
        // Rolled back: what that version is made of is not recorded; the next plan says "changed".
        let rel = apply::Release { repo: &repo, digest: prev, settings: &site.settings, parts: "" };
        let (health, failure) = apply::release(&shape, &arm, seen, &site.host, &rel, seen.vault.is_some(), r).await?;
        Ok(Outcome { url: seen.url(), health, actions: plan.display().actions, failure, pushed: None })
    }

    fn plan_destroy(&self, cx: &Cx, seen: &Observed) -> Planned<Change> {
        plan::plan_destroy(cx, seen)
    }

    async fn destroy(&self, cx: &Cx, seen: &Observed, plan: &Planned<Change>, r: &dyn Reporter) -> Result<Outcome> {
        let actions = plan.display().actions;
        if plan.changes.is_empty() {
            return Ok(Outcome { url: None, health: Health::Skipped, actions, failure: None, pushed: None });
        }
        let arm = Arm::from_env(cx.poll)?;
        let n = &seen.names;
        r.step("deleting what aideploy made");
        for c in &plan.changes {
            let (doomed, with_group) = match c {
                Change::Delete { doomed, with_group, .. } => (doomed, *with_group),
                Change::PurgeDeleted { location, .. } => {
                    purge(&arm, n, location, r).await?;
                    continue;
                }
                _ => continue,
            };
            if with_group {
                // Gone with the group (Key Vault keeps the vault soft-deleted): purged
                // only when asked.
                if let Doomed::Vault { location, purge: true } = doomed {
                    purge(&arm, n, location, r).await?;
                }
                continue;
            }
            match doomed {
                Doomed::Group => arm.delete(&n.group_path(), API_RESOURCES, "resource group deletion", r).await?,
                Doomed::Assignment(path) => arm.delete(path, API_AUTHORIZATION, "role assignment", r).await?,
                Doomed::Slot => arm.delete(&n.slot_path(), API_WEB, "slot", r).await?,
                Doomed::Site => arm.delete(&n.site_path(), API_WEB, "web app", r).await?,
                Doomed::Plan => arm.delete(&n.plan_path(), API_WEB, "App Service plan", r).await?,
                Doomed::Registry => arm.delete(&n.acr_path(), API_ACR, "container registry", r).await?,
                Doomed::Vault { location, purge: and_purge } => {
                    arm.delete(&n.vault_path(), API_KEYVAULT, "Key Vault", r).await?;
                    if *and_purge {
                        purge(&arm, n, location, r).await?;
                    }
                }
            }
        }
        r.done();
        Ok(Outcome { url: None, health: Health::Skipped, actions, failure: None, pushed: None })
    }
}

/// A deleted vault is kept (soft delete) and holds its name: purging removes it for good
/// (`destroy --purge` only).
async fn purge(arm: &Arm, n: &Names, location: &str, r: &dyn Reporter) -> Result<()> {
    r.progress(&format!("purging Key Vault {}", n.vault));
    arm.post(&n.purge_path(location), API_KEYVAULT, None, "Key Vault purge", r).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers() {
        assert_eq!(tier_of("b1").map(|t| (t.slots, t.always_on, t.autoscale)), Some((false, true, false)));
        assert_eq!(tier_of("S1").map(|t| t.slots), Some(true));
        assert_eq!(tier_of("P1v3").map(|t| t.name), Some("PremiumV3"));
        assert_eq!(tier_of("F1").map(|t| t.always_on), Some(false));
        assert!(tier_of("B4").is_none() && tier_of("XL").is_none() && tier_of("").is_none());
    }

    #[test]
    fn digests_from_linux_fx_version() {
        use observe::digest_of;
        assert_eq!(digest_of("DOCKER|x.azurecr.io/app@sha256:ab").as_deref(), Some("sha256:ab"));
        assert_eq!(digest_of("DOCKER|x.azurecr.io/app:latest"), None);
        assert_eq!(digest_of(""), None);
    }
}
