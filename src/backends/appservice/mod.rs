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
//! site. The site runs `DOCKER|<login server>/<app>@sha256:...`, pulls with its
//! system-assigned identity (AcrPull on that registry only), reads secrets through
//! Key Vault references (Key Vault Secrets User on that vault only).
//!
//! Names that must be unique across Azure (site, registry, vault) carry a short hash
//! of the subscription and group, so they are the same on every machine and differ
//! between subscriptions.
//!
//! Deploys are health-gated: on tiers with deployment slots (Standard and up) the new
//! version goes to slot `staging`, its health path is polled, and only then is it
//! swapped in; on smaller tiers the site is updated in place, polled, and put back to
//! the previous digest when it fails. Either way a failure exits 3.

mod arm;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::artifact::oci::blobs::BlobStore;
use crate::artifact::oci::BuiltImage;
use crate::artifact::registry::{Client, Options, Reference};
use crate::cloud::registry_logins::RegistryLogins;
use crate::engine::legacy::LegacyBackend;
use crate::engine::{
    health, Action, Artifact, Capabilities, Cx, DefaultPackage, Health, LegacyDeployed, Op, Outcome, Plan, Provider, Reporter,
};
use crate::envvars;
use crate::error::UsageError;
use crate::manifest::Kind;
use arm::{Arm, API_ACR, API_AUTHORIZATION, API_KEYVAULT, API_RESOURCES, API_SUBSCRIPTIONS, API_WEB};

pub struct AppServiceBackend;

const TAG_APP: &str = "aideploy-app";
const TAG_STAGE: &str = "aideploy-stage";
const TAG_TARGET: &str = "aideploy-target";
const TAG_DIGEST: &str = "aideploy-digest";
/// The digest that served before the current one: what `rollback` returns to.
const TAG_PREVIOUS: &str = "aideploy-previous-digest";
/// On a resource group aideploy created (and so may delete).
const TAG_CREATED_GROUP: &str = "aideploy-created-group";
/// On a Key Vault secret: a salted hash of its value, so an unchanged value is not
/// written again (ARM never returns secret values).
const TAG_VALUE: &str = "aideploy-value-sha256";

const DEFAULT_SKU: &str = "B1";
const DEFAULT_LOCATION: &str = "eastus";
const DEFAULT_HEALTH_TIMEOUT: u32 = 300;
const SLOT: &str = "staging";

/// Built-in role definitions (the same id in every tenant).
const ROLE_ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
const ROLE_KV_SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";

/// What a plan tier offers.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tier {
    name: &'static str,
    slots: bool,
    always_on: bool,
    autoscale: bool,
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

fn sku(cx: &Cx) -> String {
    cx.target.settings.sku.as_ref().map(|s| s.get().to_ascii_uppercase()).unwrap_or_else(|| DEFAULT_SKU.into())
}

fn tier(cx: &Cx) -> Result<Tier, UsageError> {
    let s = sku(cx);
    tier_of(&s).ok_or_else(|| {
        UsageError::new(format!("`{s}` is not an App Service plan SKU aideploy knows"))
            .hint(format!("set `sku` in [targets.{}] to one of F1, B1-B3, S1-S3, P0v3-P5v3, P1v2-P3v2, I1v2-I6v2", cx.target.name))
    })
}

fn health_timeout(cx: &Cx) -> Duration {
    Duration::from_secs(u64::from(cx.target.settings.health_timeout.as_ref().map(|s| s.get().0).unwrap_or(DEFAULT_HEALTH_TIMEOUT)))
}

fn short(d: &str) -> &str {
    let d = d.trim_start_matches("sha256:");
    &d[..12.min(d.len())]
}

/// Lowercase hex of sha256(parts joined by '/').
fn hash(parts: &[&str]) -> String {
    hex::encode(Sha256::digest(parts.join("/").as_bytes()))
}

/// The names of everything, derived from app, stage, subscription and group.
#[derive(Debug, Clone)]
struct Names {
    sub: String,
    group: String,
    plan: String,
    site: String,
    acr: String,
    vault: String,
}

impl Names {
    fn derive(cx: &Cx, sub: &str) -> Names {
        let base = cx.resource_base();
        let group = cx.target.settings.resource_group.as_ref().map(|g| g.get().clone()).unwrap_or_else(|| format!("aideploy-{base}"));
        Names::from_parts(&base, group, sub)
    }

    /// `base` is `{app}-{stage}`: starts with a letter, `[a-z0-9-]` (the manifest's rules).
    fn from_parts(base: &str, group: String, sub: &str) -> Names {
        let h = &hash(&[&sub.to_ascii_lowercase(), &group.to_ascii_lowercase()])[..6];
        // Sites: 2-60 of [a-z0-9-], no leading/trailing hyphen; global (its host name).
        let site = format!("{}-{h}", trim_hyphens(base, 60 - 7));
        // Registries: 5-50 alphanumerics; global (its login server).
        let alnum: String = base.chars().filter(char::is_ascii_alphanumeric).collect();
        let acr = format!("{}{h}", &alnum[..alnum.len().min(50 - 6)]);
        // Vaults: 3-24 of [a-z0-9-], starting with a letter, no "--"; global (its URI).
        let mut collapsed = String::new();
        for c in base.chars() {
            if !(c == '-' && collapsed.ends_with('-')) {
                collapsed.push(c);
            }
        }
        let vault = format!("{}-{h}", trim_hyphens(&collapsed, 24 - 7));
        Names { sub: sub.into(), plan: trim_hyphens(base, 40), group, site, acr, vault }
    }
    fn group_path(&self) -> String {
        format!("/subscriptions/{}/resourceGroups/{}", self.sub, self.group)
    }
    fn plan_path(&self) -> String {
        format!("{}/providers/Microsoft.Web/serverfarms/{}", self.group_path(), self.plan)
    }
    fn site_path(&self) -> String {
        format!("{}/providers/Microsoft.Web/sites/{}", self.group_path(), self.site)
    }
    fn slot_path(&self) -> String {
        format!("{}/slots/{SLOT}", self.site_path())
    }
    fn acr_path(&self) -> String {
        format!("{}/providers/Microsoft.ContainerRegistry/registries/{}", self.group_path(), self.acr)
    }
    fn vault_path(&self) -> String {
        format!("{}/providers/Microsoft.KeyVault/vaults/{}", self.group_path(), self.vault)
    }
    fn role_definition(&self, role: &str) -> String {
        format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{role}", self.sub)
    }
}

fn trim_hyphens(s: &str, max: usize) -> String {
    s[..s.len().min(max)].trim_matches('-').to_string()
}

/// A Key Vault secret name for an env var name (`OPENAI_API_KEY` -> `OPENAI-API-KEY`).
fn kv_name(var: &str) -> String {
    var.replace('_', "-")
}

/// A deterministic role assignment name (a GUID) for principal x role x scope, so a
/// re-run finds the one it made instead of making a duplicate.
fn assignment_path(scope: &str, role: &str, principal: &str) -> String {
    let h = hash(&[&scope.to_ascii_lowercase(), role, principal]);
    let guid = format!("{}-{}-5{}-8{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32]);
    format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}")
}

fn value_hash(n: &Names, name: &str, value: &str) -> String {
    hash(&["aideploy-kv", &n.vault, name, value])
}

fn digest_of(fx: &str) -> Option<String> {
    fx.rsplit_once('@').map(|(_, d)| d.to_string()).filter(|d| d.starts_with("sha256:"))
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The URL the health gate polls for a host: `AIDEPLOY_AZURE_SITE_URL_TEMPLATE` with
/// `{host}` replaced, default `https://{host}`.
fn probe_url(host: &str, path: &str) -> String {
    let template = std::env::var(envvars::AIDEPLOY_AZURE_SITE_URL_TEMPLATE)
        .ok()
        .filter(|t| t.contains("{host}"))
        .unwrap_or_else(|| "https://{host}".into());
    format!("{}{path}", template.trim_end_matches('/').replace("{host}", host))
}

/// What `build` hands to `plan` and `apply`.
struct Built {
    image: BuiltImage,
    /// `AIDEPLOY_REGISTRY` / `[build] registry`, when set: pushed already, and the site
    /// pulls from there instead of a registry aideploy makes.
    override_repo: Option<String>,
}

/// What is deployed now.
#[derive(Clone)]
struct Now {
    n: Names,
    location: String,
    group: Value,
    owns_group: bool,
    plan: Option<Value>,
    acr: Option<Value>,
    vault: Option<Value>,
    site: Option<Value>,
    site_config: Value,
    settings: BTreeMap<String, String>,
    slot: Option<Value>,
    slot_config: Value,
    /// Key Vault secret name -> its resource.
    secrets: BTreeMap<String, Value>,
    /// Role assignment paths that exist.
    assignments: BTreeSet<String>,
}

impl Now {
    fn image(&self) -> String {
        str_of(&self.site_config["linuxFxVersion"])
    }
    fn digest(&self) -> Option<String> {
        digest_of(&self.image())
    }
    fn slot_digest(&self) -> Option<String> {
        digest_of(&str_of(&self.slot_config["linuxFxVersion"]))
    }
    fn host(&self) -> Option<String> {
        self.site.as_ref().and_then(|s| s["properties"]["defaultHostName"].as_str()).map(str::to_string)
    }
    fn url(&self) -> Option<String> {
        self.host().map(|h| format!("https://{h}"))
    }
    fn previous(&self) -> Option<String> {
        self.site.as_ref().and_then(|s| s["tags"][TAG_PREVIOUS].as_str()).filter(|d| !d.is_empty()).map(str::to_string)
    }
    fn principal(v: &Option<Value>) -> Option<String> {
        v.as_ref().and_then(|s| s["identity"]["principalId"].as_str()).map(str::to_string)
    }
    fn sku(&self) -> Option<String> {
        self.plan.as_ref().and_then(|p| p["sku"]["name"].as_str()).map(str::to_ascii_uppercase)
    }
}

fn now_of(d: &LegacyDeployed) -> &Now {
    d.state.downcast_ref::<Now>().expect("appservice state")
}

fn tags(cx: &Cx) -> serde_json::Map<String, Value> {
    let mut t = serde_json::Map::new();
    t.insert(TAG_APP.into(), json!(cx.app_name()));
    t.insert(TAG_STAGE.into(), json!(cx.stage.to_string()));
    t.insert(TAG_TARGET.into(), json!(cx.target.name));
    t
}

fn ours(cx: &Cx, v: &Value) -> bool {
    let t = &v["tags"];
    t[TAG_APP] == cx.app_name() && t[TAG_STAGE] == cx.stage.to_string().as_str() && t[TAG_TARGET] == cx.target.name.as_str()
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn subscription(cx: &Cx) -> Result<String> {
    Ok(crate::cloud::azure::subscription(cx.target.settings.subscription.as_ref().map(|s| s.get().as_str()), &cx.target.name)?)
}

/// Reads everything aideploy made for this app, stage and target. `None` when the
/// group does not exist, or holds nothing of ours and was not made by aideploy.
async fn read(cx: &Cx, arm: &Arm) -> Result<Option<Now>> {
    let sub = subscription(cx)?;
    let mut n = Names::derive(cx, &sub);
    let Some(group) = arm.get(&n.group_path(), API_RESOURCES).await? else { return Ok(None) };
    let owns_group = ours(cx, &group) && group["tags"][TAG_CREATED_GROUP] == "true";
    let filter = format!("tagName eq '{TAG_APP}' and tagValue eq '{}'", cx.app_name());
    let listed = arm.get(&format!("{}/resources?$filter={}", n.group_path(), enc(&filter)), API_RESOURCES).await?.unwrap_or(Value::Null);
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    for r in listed["value"].as_array().into_iter().flatten().filter(|r| ours(cx, r)) {
        kinds.insert(str_of(&r["type"]).to_ascii_lowercase(), str_of(&r["name"]));
    }
    if let Some(v) = kinds.get("microsoft.web/serverfarms") {
        n.plan = v.clone();
    }
    if let Some(v) = kinds.get("microsoft.web/sites") {
        n.site = v.clone();
    }
    if let Some(v) = kinds.get("microsoft.containerregistry/registries") {
        n.acr = v.clone();
    }
    if let Some(v) = kinds.get("microsoft.keyvault/vaults") {
        n.vault = v.clone();
    }
    if kinds.is_empty() && !owns_group {
        return Ok(None);
    }
    let get = |present: bool, path: String, api: &'static str| async move {
        if present {
            arm.get(&path, api).await
        } else {
            Ok(None)
        }
    };
    let plan = get(kinds.contains_key("microsoft.web/serverfarms"), n.plan_path(), API_WEB).await?;
    let acr = get(kinds.contains_key("microsoft.containerregistry/registries"), n.acr_path(), API_ACR).await?;
    let vault = get(kinds.contains_key("microsoft.keyvault/vaults"), n.vault_path(), API_KEYVAULT).await?;
    let site = get(kinds.contains_key("microsoft.web/sites"), n.site_path(), API_WEB).await?;
    let (mut site_config, mut settings, mut slot, mut slot_config) = (Value::Null, BTreeMap::new(), None, Value::Null);
    if site.is_some() {
        site_config =
            arm.get(&format!("{}/config/web", n.site_path()), API_WEB).await?.map(|c| c["properties"].clone()).unwrap_or_default();
        let listed = arm.list_action(&format!("{}/config/appsettings/list", n.site_path()), API_WEB).await?;
        settings = listed["properties"].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), str_of(v))).collect();
        slot = arm.get(&n.slot_path(), API_WEB).await?;
        if slot.is_some() {
            slot_config =
                arm.get(&format!("{}/config/web", n.slot_path()), API_WEB).await?.map(|c| c["properties"].clone()).unwrap_or_default();
        }
    }
    let mut secrets = BTreeMap::new();
    if vault.is_some() {
        for name in cx.loaded.manifest.secrets.keys() {
            let kv = kv_name(name.get());
            if let Some(s) = arm.get(&format!("{}/secrets/{kv}", n.vault_path()), API_KEYVAULT).await? {
                secrets.insert(kv, s);
            }
        }
    }
    let mut assignments = BTreeSet::new();
    for principal in [Now::principal(&site), Now::principal(&slot)].into_iter().flatten() {
        for (present, scope, role) in
            [(acr.is_some(), n.acr_path(), ROLE_ACR_PULL), (vault.is_some(), n.vault_path(), ROLE_KV_SECRETS_USER)]
        {
            let path = assignment_path(&scope, role, &principal);
            if present && arm.get(&path, API_AUTHORIZATION).await?.is_some() {
                assignments.insert(path);
            }
        }
    }
    let location = str_of(&group["location"]);
    Ok(Some(Now { n, location, group, owns_group, plan, acr, vault, site, site_config, settings, slot, slot_config, secrets, assignments }))
}

/// Secret name (env var) -> Key Vault reference, for the secrets whose stored value is
/// current; `None` for those that must be written first.
fn secret_refs(cx: &Cx, n: &Names, stored: &BTreeMap<String, Value>) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for (var, value) in &cx.secrets.values {
        let kv = kv_name(var);
        let current = stored.get(&kv).filter(|s| s["tags"][TAG_VALUE].as_str() == Some(value_hash(n, &kv, value.expose()).as_str()));
        out.insert(var.clone(), current.map(|s| str_of(&s["properties"]["secretUriWithVersion"])));
    }
    for var in &cx.secrets.absent {
        // An optional secret with no value this time keeps the one stored.
        if let Some(s) = stored.get(&kv_name(var)) {
            out.insert(var.clone(), Some(str_of(&s["properties"]["secretUriWithVersion"])));
        }
    }
    out
}

/// The app settings the site should have: WEBSITES_PORT, `[env]`, and a Key Vault
/// reference per secret (never a value).
fn desired_settings(cx: &Cx, refs: &BTreeMap<String, Option<String>>) -> BTreeMap<String, String> {
    let mut s: BTreeMap<String, String> = cx.loaded.manifest.env_pairs().into_iter().collect();
    s.insert("WEBSITES_PORT".into(), cx.loaded.manifest.app().port.0.to_string());
    for (var, uri) in refs {
        s.insert(var.clone(), format!("@Microsoft.KeyVault(SecretUri={})", uri.as_deref().unwrap_or("<new version>")));
    }
    s
}

/// The site (or slot) as ARM should hold it. `image` and `settings` are left out of
/// the first PUT, which only makes the site and its identity.
/// What the site and its slot share: where, on which tier, pulling how.
struct Shape<'a> {
    cx: &'a Cx,
    n: &'a Names,
    location: &'a str,
    t: Tier,
    /// Pulls from the registry aideploy made, with its identity.
    acr: bool,
}

fn site_body(s: &Shape, image: Option<&str>, settings: Option<&BTreeMap<String, String>>, extra_tags: &[(&str, &str)]) -> Value {
    let Shape { cx, n, location, t, acr } = *s;
    let mut tg = tags(cx);
    for (k, v) in extra_tags {
        tg.insert((*k).into(), json!(v));
    }
    let mut config = json!({
        "acrUseManagedIdentityCreds": acr,
        "alwaysOn": t.always_on,
        "healthCheckPath": cx.loaded.manifest.app().health.to_string(),
        "minTlsVersion": "1.2",
        "ftpsState": "Disabled",
        "http20Enabled": true,
    });
    if let Some(i) = image {
        config["linuxFxVersion"] = json!(format!("DOCKER|{i}"));
    }
    if let Some(s) = settings {
        config["appSettings"] = Value::Array(s.iter().map(|(k, v)| json!({"name": k, "value": v})).collect());
    }
    json!({
        "location": location,
        "kind": "app,linux,container",
        "tags": tg,
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "serverFarmId": n.plan_path(),
            "httpsOnly": true,
            "keyVaultReferenceIdentity": "SystemAssigned",
            "siteConfig": config,
        },
    })
}

/// Why the serving site differs from what the manifest wants (config only; image and
/// settings are compared by the caller).
fn config_drift(cx: &Cx, now: &Now, t: Tier, acr: bool) -> Vec<String> {
    let c = &now.site_config;
    let mut why = Vec::new();
    let site = now.site.as_ref().map(|s| &s["properties"]).cloned().unwrap_or_default();
    if site["httpsOnly"] != true {
        why.push("https only".to_string());
    }
    if c["healthCheckPath"].as_str() != Some(cx.loaded.manifest.app().health.as_str()) {
        why.push("health check path".into());
    }
    if c["alwaysOn"].as_bool() != Some(t.always_on) {
        why.push("always on".into());
    }
    if c["minTlsVersion"] != "1.2" || c["ftpsState"] != "Disabled" {
        why.push("TLS/FTPS".into());
    }
    if c["acrUseManagedIdentityCreds"].as_bool() != Some(acr) {
        why.push("registry identity".into());
    }
    why
}

async fn push_to_acr(built: &Built, login_server: &str, cx: &Cx, r: &dyn Reporter) -> Result<String> {
    let repo = format!("{login_server}/{}", cx.app_name());
    r.step(&format!("pushing to {repo}"));
    let client =
        Client::new(Arc::new(RegistryLogins::new(Some(login_server.to_string()))), BlobStore::open_default()?, Options::default())?;
    let dest = Reference::parse(&format!("{repo}:{}-{}", cx.stage, short(&built.image.digest)))?;
    client.push(&built.image, &dest, r).await?;
    r.done();
    Ok(repo)
}

/// Makes sure `principal` holds `role` on `scope`.
async fn ensure_role(arm: &Arm, n: &Names, scope: &str, role: &str, principal: &str, what: &str, r: &dyn Reporter) -> Result<()> {
    let path = assignment_path(scope, role, principal);
    if arm.get(&path, API_AUTHORIZATION).await?.is_some() {
        return Ok(());
    }
    let body =
        json!({"properties": {"roleDefinitionId": n.role_definition(role), "principalId": principal, "principalType": "ServicePrincipal"}});
    // A new identity takes a moment to reach the directory: retry PrincipalNotFound.
    let mut tries = 0;
    loop {
        match arm.put(&path, API_AUTHORIZATION, &body, what, r).await {
            Ok(_) => return Ok(()),
            Err(e) if tries < 10 && format!("{e}").contains("PrincipalNotFound") => {
                tries += 1;
                r.progress(&format!("{what}: waiting for the identity to propagate"));
                tokio::time::sleep(if arm.loopback { Duration::from_millis(50) } else { Duration::from_secs(6) }).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The site or slot, made if missing (no image yet), with its identity's principal.
async fn ensure_shell(
    s: &Shape<'_>,
    arm: &Arm,
    path: &str,
    existing: &Option<Value>,
    what: &str,
    r: &dyn Reporter,
) -> Result<(Value, String)> {
    let v = match existing {
        Some(v) if Now::principal(&Some(v.clone())).is_some() => v.clone(),
        _ => {
            r.step(&format!("creating {what}"));
            let v = arm.put(path, API_WEB, &site_body(s, None, None, &[]), what, r).await.map_err(|e| {
                if format!("{e}").contains("already exists") {
                    anyhow::Error::new(crate::error::Hinted::new(
                        format!("{e}"),
                        format!("site names are global across Azure; another `resource_group` (or `subscription`) in [targets.{}] gives another name", s.cx.target.name),
                    ))
                } else {
                    e
                }
            })?;
            r.done();
            v
        }
    };
    let principal = Now::principal(&Some(v.clone())).with_context(|| format!("ARM made {what} without a system-assigned identity"))?;
    Ok((v, principal))
}

/// Grants `principal` AcrPull on the registry and Key Vault Secrets User on the vault.
async fn grant(arm: &Arm, n: &Names, principal: &str, acr: bool, vault: bool, r: &dyn Reporter) -> Result<()> {
    if acr {
        ensure_role(arm, n, &n.acr_path(), ROLE_ACR_PULL, principal, "AcrPull on the registry", r).await?;
    }
    if vault {
        ensure_role(arm, n, &n.vault_path(), ROLE_KV_SECRETS_USER, principal, "Key Vault Secrets User on the vault", r).await?;
    }
    Ok(())
}

/// One version to put into service: image `repo@digest` and app settings.
struct Release<'a> {
    repo: &'a str,
    digest: &'a str,
    settings: &'a BTreeMap<String, String>,
}

/// Puts a release into service, health-gated: through the staging slot and a swap on
/// tiers with slots, else in place with the previous version put back on failure.
/// `Err` is a failed call; `Ok(Some(why))` an unhealthy version (the old one serves).
#[allow(clippy::too_many_arguments)]
async fn release(
    cx: &Cx,
    arm: &Arm,
    now: &Now,
    site: &Value,
    t: Tier,
    rel: &Release<'_>,
    acr: bool,
    vault: bool,
    r: &dyn Reporter,
) -> Result<Option<String>> {
    let n = &now.n;
    let shape = Shape { cx, n, location: &now.location, t, acr };
    let image = format!("{}@{}", rel.repo, rel.digest);
    let serving = now.digest();
    let host = str_of(&site["properties"]["defaultHostName"]);
    let path = cx.loaded.manifest.app().health.to_string();
    if t.slots {
        let (slot, principal) = ensure_shell(&shape, arm, &n.slot_path(), &now.slot, &format!("slot {SLOT}"), r).await?;
        grant(arm, n, &principal, acr, vault, r).await?;
        r.step(&format!("deploying @{} to slot {SLOT}", short(rel.digest)));
        arm.put(
            &n.slot_path(),
            API_WEB,
            &site_body(&shape, Some(&image), Some(rel.settings), &[(TAG_DIGEST, rel.digest)]),
            &format!("slot {SLOT}"),
            r,
        )
        .await?;
        r.done();
        let slot_host = str_of(&slot["properties"]["defaultHostName"]);
        let url = probe_url(&slot_host, &path);
        r.step(&format!("waiting for slot {SLOT} to answer {path}"));
        if let Err(e) = health::wait_healthy(&url, health_timeout(cx), r, || None).await {
            return Ok(Some(format!(
                "slot {SLOT} (@{}) did not pass its health check at {url}: {}\n(not swapped: production keeps serving)",
                short(rel.digest),
                unhealthy(e)
            )));
        }
        r.done();
        r.step(&format!("swapping slot {SLOT} into production"));
        arm.post(
            &format!("{}/slotsswap", n.site_path()),
            API_WEB,
            Some(&json!({"targetSlot": SLOT, "preserveVnet": true})),
            "slot swap",
            r,
        )
        .await?;
        let mut tg = tags(cx);
        tg.insert(TAG_DIGEST.into(), json!(rel.digest));
        tg.insert(TAG_PREVIOUS.into(), json!(serving.clone().unwrap_or_default()));
        arm.patch(&n.site_path(), API_WEB, &json!({"tags": tg}), "site tags", r).await?;
        r.done();
        return Ok(None);
    }
    r.step(&format!("updating web app {} to @{}", n.site, short(rel.digest)));
    let previous = serving.clone().unwrap_or_default();
    let body = site_body(&shape, Some(&image), Some(rel.settings), &[(TAG_DIGEST, rel.digest), (TAG_PREVIOUS, &previous)]);
    arm.put(&n.site_path(), API_WEB, &body, "web app", r).await?;
    r.done();
    let url = probe_url(&host, &path);
    r.step(&format!("waiting for {url}"));
    let Err(e) = health::wait_healthy(&url, health_timeout(cx), r, || None).await else {
        r.done();
        return Ok(None);
    };
    let why = format!("@{} did not pass its health check at {url}: {}", short(rel.digest), unhealthy(e));
    // Put the version that served back, image and settings as they were.
    let old_image = now.image();
    let Some(old) = old_image.strip_prefix("DOCKER|").filter(|_| serving.is_some()) else {
        return Ok(Some(format!("{why}\n(nothing served before: the site stays on the failing version)")));
    };
    r.step("putting the previous version back");
    let old_tags = now.site.as_ref().map(|s| s["tags"].clone()).unwrap_or_default();
    let prev_of_prev = str_of(&old_tags[TAG_PREVIOUS]);
    let back = site_body(&shape, Some(old), Some(&now.settings), &[(TAG_DIGEST, &previous), (TAG_PREVIOUS, &prev_of_prev)]);
    arm.put(&n.site_path(), API_WEB, &back, "web app", r).await?;
    r.done();
    Ok(Some(format!("{why}\n(rolled back: @{} serves again)", short(&previous))))
}

fn unhealthy(e: health::Unhealthy) -> String {
    match e {
        health::Unhealthy::Exited(w) => w,
        health::Unhealthy::TimedOut { last } => format!("no 2xx within health_timeout (last answer: {last})"),
    }
}

#[async_trait]
impl LegacyBackend for AppServiceBackend {
    fn kind(&self) -> Kind {
        Kind::Appservice
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: Provider::Azure,
            secret_store: false,
            logs: false,
            rollback: true,
            default_package: DefaultPackage::Image,
            needs_registry: false,
        }
    }

    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Artifact> {
        // Settings, subscription and credentials fail before anything is built.
        tier(cx)?;
        subscription(cx)?;
        Arm::from_env()?;
        let over = crate::artifact::image::push_repository(&cx.loaded)?;
        let mut artifact = crate::artifact::image::build(&cx.loaded, &cx.stage, Some(&cx.target), over.is_some(), r).await?;
        let image = artifact.payload.downcast_ref::<BuiltImage>().cloned().context("the image build returned no image")?;
        artifact.payload = Arc::new(Built { image, override_repo: over.map(|o| o.name()) });
        Ok(artifact)
    }

    async fn current(&self, cx: &Cx) -> Result<Option<LegacyDeployed>> {
        let arm = Arm::from_env()?;
        let Some(now) = read(cx, &arm).await? else { return Ok(None) };
        let mut details = serde_json::Map::new();
        details.insert(
            "resource_group".into(),
            json!(format!("{}{}", now.n.group, if now.owns_group { " (created by aideploy)" } else { "" })),
        );
        details.insert("site".into(), json!(now.site.as_ref().map(|_| now.n.site.clone())));
        details.insert("plan".into(), json!(now.plan.as_ref().map(|_| format!("{} ({})", now.n.plan, now.sku().unwrap_or_default()))));
        details.insert("image".into(), json!(now.image().strip_prefix("DOCKER|")));
        details.insert("registry".into(), json!(now.acr.as_ref().map(|a| str_of(&a["properties"]["loginServer"]))));
        details.insert("key_vault".into(), json!(now.vault.as_ref().map(|_| now.n.vault.clone())));
        if let Some(d) = now.slot_digest() {
            details.insert("staging_slot".into(), json!(d));
        }
        if let Some(p) = now.previous() {
            details.insert("previous".into(), json!(p));
        }
        let health = match (now.host(), now.digest()) {
            (Some(h), Some(_)) => {
                if health::probe(&probe_url(&h, cx.loaded.manifest.app().health.as_str())).await {
                    Health::Passed
                } else {
                    Health::Failed
                }
            }
            _ => Health::Skipped,
        };
        Ok(Some(LegacyDeployed { digest: now.digest().unwrap_or_default(), url: now.url(), health, details, state: Arc::new(now) }))
    }

    fn plan(&self, cx: &Cx, now: Option<&LegacyDeployed>, artifact: &Artifact) -> Plan {
        let built = artifact.payload.downcast_ref::<Built>().expect("appservice artifact");
        let n = now.map(now_of);
        let mut plan = Plan::default();
        let t = tier(cx).unwrap_or(Tier { name: "Basic", slots: false, always_on: true, autoscale: false });
        let sku = sku(cx);
        plan.warnings.push("App Service ends a request after 230 s without a response byte (idle timeout): stream long LLM answers, or pick cloudrun or ec2".into());
        if !t.slots {
            plan.warnings.push(format!(
                "{sku} ({}) has no deployment slots (Standard or higher has them): a new version replaces the old in place, and the previous digest is put back when it fails its health check",
                t.name
            ));
        }
        if !t.autoscale {
            plan.warnings.push(format!(
                "{sku} ({}) has no autoscale: it runs a fixed number of instances (Standard or higher scales out by rule)",
                t.name
            ));
        }
        let names = n.map(|n| n.n.clone()).unwrap_or_else(|| Names::derive(cx, &subscription(cx).unwrap_or_default()));
        let add = |plan: &mut Plan, present: bool, resource: &str, id: &str| {
            plan.actions.push(if present { Action::new(Op::Noop, resource, id) } else { Action::new(Op::Create, resource, id) });
        };
        match n {
            None => plan
                .actions
                .push(Action::new(Op::Create, "resource-group", &names.group).because("created by aideploy, deleted by destroy")),
            Some(now) => plan.actions.push(Action::new(Op::Noop, "resource-group", &names.group).because(if now.owns_group {
                "created by aideploy"
            } else {
                "not aideploy's: kept by destroy"
            })),
        }
        match n.and_then(|n| n.sku()) {
            None => plan.actions.push(Action::new(Op::Create, "app-service-plan", &names.plan).because(format!("Linux, {sku}"))),
            Some(s) if s != sku => {
                plan.actions.push(Action::new(Op::Update, "app-service-plan", &names.plan).because(format!("{s} -> {sku}")))
            }
            Some(_) => plan.actions.push(Action::new(Op::Noop, "app-service-plan", &names.plan)),
        }
        let acr = built.override_repo.is_none();
        if acr {
            add(&mut plan, n.is_some_and(|n| n.acr.is_some()), "container-registry", &names.acr);
        }
        let has_secrets = !cx.loaded.manifest.secrets.is_empty();
        let stored = n.map(|n| n.secrets.clone()).unwrap_or_default();
        if has_secrets {
            add(&mut plan, n.is_some_and(|n| n.vault.is_some()), "key-vault", &names.vault);
            for (var, uri) in secret_refs(cx, &names, &stored) {
                let kv = kv_name(&var);
                plan.actions.push(match (uri, stored.contains_key(&kv)) {
                    (Some(_), _) => Action::new(Op::Noop, "key-vault-secret", kv),
                    (None, true) => Action::new(Op::Update, "key-vault-secret", kv).because("value changed"),
                    (None, false) => Action::new(Op::Create, "key-vault-secret", kv),
                });
            }
        }
        let refs = secret_refs(cx, &names, &stored);
        let want = desired_settings(cx, &refs);
        let site_present = n.is_some_and(|n| n.site.is_some());
        let mut why = Vec::new();
        if let Some(now) = n.filter(|n| n.site.is_some()) {
            match now.digest() {
                Some(d) if d == artifact.digest => {}
                Some(d) => why.push(format!("image {} -> {}", short(&d), short(&artifact.digest))),
                None => why.push(format!("image @{}", short(&artifact.digest))),
            }
            if now.settings != want {
                let changed: Vec<&str> = want
                    .iter()
                    .filter(|(k, v)| now.settings.get(*k) != Some(*v))
                    .map(|(k, _)| k.as_str())
                    .chain(now.settings.keys().filter(|k| !want.contains_key(*k)).map(String::as_str))
                    .collect();
                why.push(format!("app settings: {}", changed.join(", ")));
            }
            why.extend(config_drift(cx, now, t, acr));
        }
        let principals = n.map(|n| [Now::principal(&n.site), Now::principal(&n.slot)]).unwrap_or_default();
        let assigned = |scope: String, role: &str| {
            principals[0].as_ref().is_some_and(|p| n.unwrap().assignments.contains(&assignment_path(&scope, role, p)))
        };
        if !site_present {
            plan.actions
                .push(Action::new(Op::Create, "web-app", &names.site).because(format!("image @{}, https only", short(&artifact.digest))));
        } else if why.is_empty() {
            plan.actions.push(Action::new(Op::Noop, "web-app", &names.site));
        } else if t.slots {
            plan.actions.push(
                Action::new(if n.unwrap().slot.is_some() { Op::Update } else { Op::Create }, "slot", format!("{}/{SLOT}", names.site))
                    .because(why.join(", ")),
            );
            plan.actions
                .push(Action::new(Op::Update, "swap", format!("{SLOT} -> production")).because("after the slot passes its health check"));
        } else {
            plan.actions.push(Action::new(Op::Update, "web-app", &names.site).because(why.join(", ")));
        }
        if acr {
            let ok = assigned(names.acr_path(), ROLE_ACR_PULL);
            plan.actions.push(Action::new(if ok { Op::Noop } else { Op::Create }, "role-assignment", format!("AcrPull on {}", names.acr)));
        }
        if has_secrets {
            let ok = assigned(names.vault_path(), ROLE_KV_SECRETS_USER);
            plan.actions.push(Action::new(
                if ok { Op::Noop } else { Op::Create },
                "role-assignment",
                format!("Key Vault Secrets User on {}", names.vault),
            ));
        }
        plan
    }

    async fn apply(&self, cx: &Cx, plan: &Plan, now: Option<&LegacyDeployed>, artifact: &Artifact, r: &dyn Reporter) -> Result<Outcome> {
        let built = artifact.payload.downcast_ref::<Built>().expect("appservice artifact");
        let arm = Arm::from_env()?;
        let t = tier(cx)?;
        let sku = sku(cx);
        let mut now = match now {
            Some(d) => now_of(d).clone(),
            None => {
                let sub = subscription(cx)?;
                let n = Names::derive(cx, &sub);
                Now {
                    location: cx.target.settings.region.as_ref().map(|r| r.get().to_string()).unwrap_or_else(|| DEFAULT_LOCATION.into()),
                    n,
                    group: Value::Null,
                    owns_group: false,
                    plan: None,
                    acr: None,
                    vault: None,
                    site: None,
                    site_config: Value::Null,
                    settings: BTreeMap::new(),
                    slot: None,
                    slot_config: Value::Null,
                    secrets: BTreeMap::new(),
                    assignments: BTreeSet::new(),
                }
            }
        };
        let n = now.n.clone();
        let base_tags = tags(cx);

        if now.group.is_null() {
            // Found again (a re-run after a failure), or made here and marked as ours.
            match arm.get(&n.group_path(), API_RESOURCES).await? {
                Some(g) => {
                    now.location = str_of(&g["location"]);
                    now.owns_group = ours(cx, &g) && g["tags"][TAG_CREATED_GROUP] == "true";
                    now.group = g;
                }
                None => {
                    r.step(&format!("creating resource group {}", n.group));
                    let mut tg = base_tags.clone();
                    tg.insert(TAG_CREATED_GROUP.into(), json!("true"));
                    now.group = arm
                        .put(&n.group_path(), API_RESOURCES, &json!({"location": now.location, "tags": tg}), "resource group", r)
                        .await?;
                    now.owns_group = true;
                    r.done();
                }
            }
        }
        let location = now.location.clone();

        if now.sku().as_deref() != Some(sku.as_str()) {
            r.step(&format!("{} App Service plan {} ({sku})", if now.plan.is_some() { "updating" } else { "creating" }, n.plan));
            let body =
                json!({"location": location, "kind": "linux", "tags": base_tags, "sku": {"name": sku}, "properties": {"reserved": true}});
            now.plan = Some(arm.put(&n.plan_path(), API_WEB, &body, "App Service plan", r).await?);
            r.done();
        }

        let acr = built.override_repo.is_none();
        let repo = match &built.override_repo {
            Some(repo) => repo.clone(),
            None => {
                if now.acr.is_none() {
                    r.step(&format!("creating container registry {}", n.acr));
                    let body = json!({"location": location, "tags": base_tags, "sku": {"name": "Basic"}, "properties": {"adminUserEnabled": false}});
                    now.acr = Some(arm.put(&n.acr_path(), API_ACR, &body, "container registry", r).await?);
                    r.done();
                }
                let login = now
                    .acr
                    .as_ref()
                    .map(|a| str_of(&a["properties"]["loginServer"]))
                    .filter(|l| !l.is_empty())
                    .context("the container registry has no login server yet")?;
                let serving = now.digest();
                if serving.as_deref() != Some(artifact.digest.as_str()) || now.slot_digest().as_deref() != Some(artifact.digest.as_str()) {
                    push_to_acr(built, &login, cx, r).await?
                } else {
                    format!("{login}/{}", cx.app_name())
                }
            }
        };

        let vault = !cx.loaded.manifest.secrets.is_empty();
        if vault {
            if now.vault.is_none() {
                r.step(&format!("creating Key Vault {}", n.vault));
                let sub = arm.get(&format!("/subscriptions/{}", n.sub), API_SUBSCRIPTIONS).await?.unwrap_or_default();
                let tenant = str_of(&sub["tenantId"]);
                let body = json!({"location": location, "tags": base_tags, "properties": {
                    "tenantId": tenant, "sku": {"family": "A", "name": "standard"}, "enableRbacAuthorization": true}});
                now.vault = Some(arm.put(&n.vault_path(), API_KEYVAULT, &body, "Key Vault", r).await.map_err(|e| {
                    if format!("{e}").contains("soft-deleted") || format!("{e}").contains("ConflictError") {
                        e.context(format!("a deleted vault named {} still holds the name: purge it (`az keyvault purge --name {}`) or set another resource_group", n.vault, n.vault))
                    } else {
                        e
                    }
                })?);
                r.done();
            }
            let refs = secret_refs(cx, &n, &now.secrets);
            let to_write: Vec<&String> = refs.iter().filter(|(_, u)| u.is_none()).map(|(k, _)| k).collect();
            if !to_write.is_empty() {
                r.step(&format!("writing {} secret(s) to Key Vault", to_write.len()));
                for var in to_write {
                    let kv = kv_name(var);
                    let value = cx.secrets.values[var].expose();
                    let body = json!({"tags": {TAG_VALUE: value_hash(&n, &kv, value)}, "properties": {"value": value, "contentType": "text/plain"}});
                    let written = arm
                        .put(&format!("{}/secrets/{kv}", n.vault_path()), API_KEYVAULT, &body, "Key Vault secret", r)
                        .await
                        .map_err(|e| anyhow::anyhow!(cx.secrets.redact(&format!("{e:#}"))))?;
                    now.secrets.insert(kv, written);
                }
                r.done();
            }
        }
        let refs = secret_refs(cx, &n, &now.secrets);
        let settings = desired_settings(cx, &refs);

        let (site, principal) = ensure_shell(
            &Shape { cx, n: &n, location: &location, t, acr },
            &arm,
            &n.site_path(),
            &now.site,
            &format!("web app {}", n.site),
            r,
        )
        .await?;
        grant(&arm, &n, &principal, acr, vault, r).await?;
        if now.site.is_none() {
            now.site = Some(site.clone());
        }
        let url = Some(format!("https://{}", str_of(&site["properties"]["defaultHostName"])));
        let drift = !config_drift(cx, &now, t, acr).is_empty();
        if now.digest().as_deref() == Some(artifact.digest.as_str()) && now.settings == settings && !drift {
            return Ok(Outcome { url, health: Health::Passed, actions: plan.actions.clone(), failure: None, pushed: None });
        }
        let rel = Release { repo: &repo, digest: &artifact.digest, settings: &settings };
        let failure = release(cx, &arm, &now, &site, t, &rel, acr, vault, r).await?;
        Ok(Outcome {
            url,
            health: if failure.is_some() { Health::Failed } else { Health::Passed },
            actions: plan.actions.clone(),
            failure,
            pushed: None,
        })
    }

    fn plan_rollback(&self, cx: &Cx, now: &LegacyDeployed) -> Result<Plan> {
        let n = now_of(now);
        let Some(prev) = n.previous() else {
            return Err(UsageError::new(format!("{} ({}) has no earlier version on App Service to roll back to", cx.app_name(), cx.stage))
                .hint("rollback returns to the digest that served before the current one; deploy at least twice first")
                .into());
        };
        let mut plan = Plan::default();
        let t = tier(cx)?;
        if t.slots && n.slot_digest().as_deref() == Some(prev.as_str()) {
            plan.actions.push(
                Action::new(Op::Update, "swap", format!("{SLOT} -> production")).because(format!("slot {SLOT} holds @{}", short(&prev))),
            );
        } else if t.slots {
            plan.actions
                .push(Action::new(Op::Update, "slot", format!("{}/{SLOT}", n.n.site)).because(format!("back to @{}", short(&prev))));
            plan.actions
                .push(Action::new(Op::Update, "swap", format!("{SLOT} -> production")).because("after the slot passes its health check"));
        } else {
            plan.actions.push(Action::new(Op::Update, "web-app", &n.n.site).because(format!("back to @{}", short(&prev))));
        }
        Ok(plan)
    }

    async fn rollback(&self, cx: &Cx, plan: &Plan, now: &LegacyDeployed, r: &dyn Reporter) -> Result<Outcome> {
        let n = now_of(now);
        let arm = Arm::from_env()?;
        let t = tier(cx)?;
        let prev = n.previous().context("checked by plan_rollback")?;
        let site = n.site.clone().context("no site")?;
        let image = n.image();
        let repo = image
            .strip_prefix("DOCKER|")
            .and_then(|i| i.rsplit_once('@'))
            .map(|(r, _)| r.to_string())
            .context("the site runs no digest-pinned image")?;
        let acr = n.site_config["acrUseManagedIdentityCreds"] == true;
        let vault = n.vault.is_some();
        // With slots, the slot's settings move with a swap: keep the production ones.
        let rel = Release { repo: &repo, digest: &prev, settings: &n.settings };
        let failure = release(cx, &arm, n, &site, t, &rel, acr, vault, r).await?;
        Ok(Outcome {
            url: n.url(),
            health: if failure.is_some() { Health::Failed } else { Health::Passed },
            actions: plan.actions.clone(),
            failure,
            pushed: None,
        })
    }

    fn plan_destroy(&self, _cx: &Cx, now: &LegacyDeployed) -> Plan {
        let n = now_of(now);
        let mut plan = Plan::default();
        if n.owns_group {
            plan.actions.push(Action::new(Op::Delete, "resource-group", &n.n.group).because("created by aideploy, with everything in it"));
        } else {
            plan.actions.push(Action::new(Op::Noop, "resource-group", &n.n.group).because("not created by aideploy: kept"));
        }
        let mut add = |present: bool, resource: &str, id: &str| {
            if present {
                plan.actions.push(Action::new(Op::Delete, resource, id));
            }
        };
        for p in &n.assignments {
            add(true, "role-assignment", p.rsplit('/').next().unwrap_or(p));
        }
        add(n.slot.is_some(), "slot", &format!("{}/{SLOT}", n.n.site));
        add(n.site.is_some(), "web-app", &n.n.site);
        add(n.plan.is_some(), "app-service-plan", &n.n.plan);
        add(n.acr.is_some(), "container-registry", &n.n.acr);
        add(n.vault.is_some(), "key-vault", &format!("{} (and purged)", n.n.vault));
        plan
    }

    async fn destroy(&self, cx: &Cx, now: &LegacyDeployed, r: &dyn Reporter) -> Result<Outcome> {
        let n = now_of(now);
        let arm = Arm::from_env()?;
        let names = &n.n;
        if n.owns_group {
            r.step(&format!("deleting resource group {}", names.group));
            arm.delete(&names.group_path(), API_RESOURCES, "resource group deletion", r).await?;
            r.done();
        } else {
            r.step("deleting what aideploy made");
            for p in &n.assignments {
                arm.delete(p, API_AUTHORIZATION, "role assignment", r).await?;
            }
            if n.slot.is_some() {
                arm.delete(&names.slot_path(), API_WEB, "slot", r).await?;
            }
            if n.site.is_some() {
                arm.delete(&names.site_path(), API_WEB, "web app", r).await?;
            }
            if n.plan.is_some() {
                arm.delete(&names.plan_path(), API_WEB, "App Service plan", r).await?;
            }
            if n.acr.is_some() {
                arm.delete(&names.acr_path(), API_ACR, "container registry", r).await?;
            }
            if n.vault.is_some() {
                arm.delete(&names.vault_path(), API_KEYVAULT, "Key Vault", r).await?;
            }
            r.done();
        }
        if let Some(v) = &n.vault {
            // A deleted vault is kept (soft delete) and holds its name: purge it, so a
            // later deploy can make it again.
            let location = str_of(&v["location"]);
            r.step(&format!("purging Key Vault {}", names.vault));
            arm.post(
                &format!(
                    "/subscriptions/{}/providers/Microsoft.KeyVault/locations/{}/deletedVaults/{}/purge",
                    names.sub,
                    enc(&location),
                    names.vault
                ),
                API_KEYVAULT,
                None,
                "Key Vault purge",
                r,
            )
            .await?;
            r.done();
        }
        Ok(Outcome { url: None, health: Health::Skipped, actions: self.plan_destroy(cx, now).actions, failure: None, pushed: None })
    }
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
    fn role_assignment_names_are_stable_guids() {
        let a = assignment_path("/subscriptions/s/x", ROLE_ACR_PULL, "p1");
        let guid_of = |p: &str| p.rsplit('/').next().unwrap().to_string();
        assert_eq!(guid_of(&a), guid_of(&assignment_path("/SUBSCRIPTIONS/s/X", ROLE_ACR_PULL, "p1")));
        assert_ne!(a, assignment_path("/subscriptions/s/x", ROLE_ACR_PULL, "p2"));
        let guid = a.rsplit('/').next().unwrap();
        assert_eq!(guid.split('-').map(str::len).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
    }

    #[test]
    fn global_names_keep_azure_rules() {
        let long = format!("{}-production", "a-very-long-application-name-for-testing-limits-x");
        for base in ["rag-dev", long.as_str(), "a--b-c", "ab-c"] {
            let n = Names::from_parts(base, format!("aideploy-{base}"), "sub-1");
            assert!(n.site.len() <= 60 && !n.site.starts_with('-') && !n.site.ends_with('-'), "{}", n.site);
            assert!((5..=50).contains(&n.acr.len()) && n.acr.chars().all(|c| c.is_ascii_alphanumeric()), "{}", n.acr);
            assert!(
                (3..=24).contains(&n.vault.len()) && !n.vault.contains("--") && n.vault.starts_with(|c: char| c.is_ascii_alphabetic()),
                "{}",
                n.vault
            );
        }
        let a = Names::from_parts("rag-dev", "g".into(), "sub-1");
        assert_eq!(a.site, Names::from_parts("rag-dev", "G".into(), "SUB-1").site, "same inputs, same names");
        assert_ne!(a.site, Names::from_parts("rag-dev", "g".into(), "sub-2").site, "another subscription, another name");
    }

    #[test]
    fn digests_from_linux_fx_version() {
        assert_eq!(digest_of("DOCKER|x.azurecr.io/app@sha256:ab").as_deref(), Some("sha256:ab"));
        assert_eq!(digest_of("DOCKER|x.azurecr.io/app:latest"), None);
        assert_eq!(digest_of(""), None);
        assert_eq!(kv_name("OPENAI_API_KEY"), "OPENAI-API-KEY");
    }
}
