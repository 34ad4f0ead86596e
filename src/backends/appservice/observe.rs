//! What exists in Azure for this app, stage and target, read into plain data: only the
//! fields aideploy reads, from ARM's answers. Reads only.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;

use super::access::Access;
use super::arm::{Arm, API_AUTHORIZATION, API_KEYVAULT, API_RESOURCES, API_WEB};
use super::names::{assignment_path, kv_name, Names, ROLE_ACR_PULL, ROLE_KV_SECRETS_USER};
use super::{tags_are_ours, TAG_CREATED_GROUP, TAG_PREVIOUS, TAG_VALUE};
use crate::engine::{Cx, Health};

/// The resource group, as found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Group {
    /// Not there: a deploy makes it.
    #[default]
    Absent,
    /// Tagged as this app's, stage's and target's; `created` when aideploy made it (and
    /// so may delete it).
    Ours { created: bool },
    /// Named in the target (`resource_group`) and not aideploy's: used, never changed or
    /// deleted.
    Named,
}

/// A site's or slot's configuration, the fields aideploy sets.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteConfig {
    #[serde(default)]
    pub linux_fx_version: String,
    pub health_check_path: Option<String>,
    pub always_on: Option<bool>,
    pub min_tls_version: Option<String>,
    pub ftps_state: Option<String>,
    pub acr_use_managed_identity_creds: Option<bool>,
    pub ip_security_restrictions: Option<Vec<super::access::Rule>>,
    pub ip_security_restrictions_default_action: Option<String>,
}

impl SiteConfig {
    /// `repo@sha256:...` of `DOCKER|repo@sha256:...`.
    pub fn image(&self) -> Option<&str> {
        self.linux_fx_version.strip_prefix("DOCKER|")
    }
    pub fn digest(&self) -> Option<String> {
        digest_of(&self.linux_fx_version)
    }
    /// Who may reach it.
    pub fn access(&self) -> Access {
        Access::of(self)
    }
}

pub fn digest_of(fx: &str) -> Option<String> {
    fx.rsplit_once('@').map(|(_, d)| d.to_string()).filter(|d| d.starts_with("sha256:"))
}

/// The web app (or its slot).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Site {
    pub host: String,
    /// The system-assigned identity's principal, once ARM has made it.
    pub principal: Option<String>,
    pub https_only: bool,
    pub tags: BTreeMap<String, String>,
    pub config: SiteConfig,
    /// App settings (names and values as ARM holds them: Key Vault references, never
    /// secret values).
    pub settings: BTreeMap<String, String>,
    /// When the site last changed (a swap puts a new version live), RFC 3339 UTC.
    pub changed: Option<String>,
}

impl Site {
    pub fn previous(&self) -> Option<&str> {
        self.tags.get(TAG_PREVIOUS).map(String::as_str).filter(|d| !d.is_empty())
    }
}

/// A Key Vault secret as ARM shows it (never its value).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredSecret {
    /// The salted hash of the value aideploy wrote (tag).
    pub value_hash: Option<String>,
    pub uri_with_version: String,
    /// aideploy wrote it (its tags say so); someone else's is refused.
    pub ours: bool,
    /// When its current version was written, in seconds since the epoch.
    pub updated: Option<i64>,
}

impl StoredSecret {
    /// The current version's id: the last segment of its versioned URI.
    pub fn version(&self) -> Option<String> {
        self.uri_with_version.trim_end_matches('/').rsplit_once('/').map(|(_, v)| v.to_string()).filter(|v| !v.is_empty())
    }
}

/// A Key Vault secret from ARM's JSON (a GET or a list entry).
pub fn stored_secret(cx: &Cx, v: &Value) -> StoredSecret {
    let tags: BTreeMap<String, String> =
        v["tags"].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect();
    let p = &v["properties"];
    StoredSecret {
        value_hash: tags.get(TAG_VALUE).cloned(),
        uri_with_version: p["secretUriWithVersion"].as_str().unwrap_or_default().to_string(),
        ours: super::vault::secret_is_ours(cx, &tags),
        updated: p["attributes"]["updated"].as_i64().or_else(|| p["attributes"]["created"].as_i64()),
    }
}

/// This target's Key Vault, deleted and kept soft-deleted (its name is held until it is
/// purged or its retention ends; a deploy recovers it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedVault {
    pub location: String,
    /// When Azure purges it by itself.
    pub purge_date: Option<String>,
}

/// A same-named resource that is not aideploy's for this app, stage and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreign {
    /// As plan rows name it: `web-app`, `resource-group`...
    pub resource: &'static str,
    pub name: String,
}

/// Everything found. `names` holds the names found by tag (or derived, for what is not
/// there yet); each `Option` is `None` when that resource is not there.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub names: Names,
    /// Where new resources go: the group's location, else the target's region.
    pub location: String,
    pub group: Group,
    /// The group holds resources that are not this deploy's (so destroy deletes ours
    /// one by one and keeps the group).
    pub group_shared: bool,
    /// The plan's SKU, upper case.
    pub plan: Option<String>,
    /// The registry's login server.
    pub acr: Option<String>,
    /// The vault's location (a purge names it).
    pub vault: Option<String>,
    /// No live vault, but ours soft-deleted under the vault's name.
    pub deleted_vault: Option<DeletedVault>,
    pub site: Option<Site>,
    pub slot: Option<Site>,
    /// Key Vault secret name -> what is stored.
    pub secrets: BTreeMap<String, StoredSecret>,
    /// Role assignment paths that exist.
    pub assignments: BTreeSet<String>,
    /// Same-named resources without aideploy's tags: a deploy refuses them.
    pub foreign: Vec<Foreign>,
    /// What the serving site answers on its health path (`None`: nothing serves).
    pub health: Option<Health>,
    /// Why that health was not checked (the site's access restrictions keep this
    /// machine out).
    pub health_skipped: Option<String>,
}

impl Observed {
    /// Anything of ours is there.
    pub fn any(&self) -> bool {
        matches!(self.group, Group::Ours { created: true })
            || self.plan.is_some()
            || self.acr.is_some()
            || self.vault.is_some()
            || self.site.is_some()
    }
    pub fn owns_group(&self) -> bool {
        matches!(self.group, Group::Ours { created: true })
    }
    pub fn digest(&self) -> Option<String> {
        self.site.as_ref().and_then(|s| s.config.digest())
    }
    pub fn slot_digest(&self) -> Option<String> {
        self.slot.as_ref().and_then(|s| s.config.digest())
    }
    pub fn url(&self) -> Option<String> {
        self.site.as_ref().map(|s| format!("https://{}", s.host))
    }
}

#[derive(Deserialize, Default)]
struct Listed {
    #[serde(default)]
    value: Vec<Resource>,
}

/// The fields of an ARM resource aideploy reads.
#[derive(Deserialize, Default)]
struct Resource {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    ty: String,
    #[serde(default)]
    location: String,
    #[serde(default, deserialize_with = "tags")]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    identity: Option<Identity>,
    #[serde(default)]
    sku: Option<Sku>,
    #[serde(default)]
    properties: Props,
}

#[derive(Deserialize, Default)]
struct Identity {
    #[serde(rename = "principalId")]
    principal_id: Option<String>,
}

#[derive(Deserialize, Default)]
struct Sku {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Props {
    default_host_name: Option<String>,
    https_only: Option<bool>,
    last_modified_time_utc: Option<String>,
    login_server: Option<String>,
}

/// Tags as strings (ARM answers `null` for none).
fn tags<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let v: Option<BTreeMap<String, Value>> = Option::deserialize(d)?;
    Ok(v.unwrap_or_default().into_iter().map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect())
}

fn parse<T: serde::de::DeserializeOwned + Default>(v: Option<Value>, what: &str) -> Result<Option<T>> {
    v.map(|v| serde_json::from_value(v).with_context(|| format!("Azure Resource Manager answered with an unexpected {what}"))).transpose()
}

const TYPES: [(&str, &str); 4] = [
    ("microsoft.web/serverfarms", "app-service-plan"),
    ("microsoft.web/sites", "web-app"),
    ("microsoft.containerregistry/registries", "container-registry"),
    ("microsoft.keyvault/vaults", "key-vault"),
];

/// Reads everything aideploy made for this app, stage and target, by tag, and notes
/// same-named resources that are not its.
pub async fn read(cx: &Cx, arm: &Arm, sub: &str) -> Result<Observed> {
    read_with(cx, arm, sub, true).await
}

/// What `aideploy secrets` needs: the group, the vault (live or soft-deleted) and the
/// `[secrets]` entries in it; not the site, its roles or its health.
pub async fn read_vault(cx: &Cx, arm: &Arm, sub: &str) -> Result<Observed> {
    read_with(cx, arm, sub, false).await
}

/// A required `[secrets]` entry with no value here (`$VAR`, .env) and none stored in
/// the vault is an error naming both ways to give it, found before anything changes.
fn missing_secrets(cx: &Cx, stored: &BTreeMap<String, StoredSecret>) -> Result<()> {
    for (name, spec) in &cx.loaded.manifest.secrets {
        let (name, spec) = (name.get(), spec.get());
        let has = stored.get(&kv_name(name)).is_some_and(|s| s.ours);
        if !spec.optional && cx.secrets.absent.contains(name) && !has {
            let var = spec.env.as_ref().map(|e| e.get().clone()).unwrap_or_else(|| name.clone());
            return Err(crate::error::UsageError::new(format!("secret `{name}` has no value here and none is stored in Key Vault"))
                .hint(format!(
                    "set ${var} (or `{var}=...` in .env) for this deploy, or store it once: aideploy secrets set {name} --target {}",
                    cx.target.name
                ))
                .into());
        }
    }
    Ok(())
}

async fn read_with(cx: &Cx, arm: &Arm, sub: &str, full: bool) -> Result<Observed> {
    let mut n = Names::derive(cx, sub);
    let mut seen =
        Observed { location: cx.target.values.region.as_ref().map(|r| r.to_string()).unwrap_or_default(), ..Observed::default() };
    let Some(group) = parse::<Resource>(arm.get(&n.group_path(), API_RESOURCES).await?, "resource group")? else {
        // Destroyed, perhaps, with the vault kept soft-deleted.
        read_deleted_vault(cx, arm, &n, &mut seen).await?;
        missing_secrets(cx, &seen.secrets)?;
        seen.names = n;
        return Ok(seen);
    };
    seen.location = group.location.clone();
    let ours = |tags: &BTreeMap<String, String>| tags_are_ours(cx, tags);
    seen.group = if ours(&group.tags) {
        Group::Ours { created: group.tags.get(TAG_CREATED_GROUP).is_some_and(|v| v == "true") }
    } else if n.group_named {
        Group::Named
    } else {
        seen.foreign.push(Foreign { resource: "resource-group", name: n.group.clone() });
        seen.names = n;
        return Ok(seen);
    };
    let listed: Listed =
        parse(arm.get(&format!("{}/resources", n.group_path()), API_RESOURCES).await?, "resource list")?.unwrap_or_default();
    let mut found: BTreeMap<&str, String> = BTreeMap::new();
    for r in &listed.value {
        let ty = r.ty.to_ascii_lowercase();
        if ours(&r.tags) {
            if let Some((t, _)) = TYPES.iter().find(|(t, _)| *t == ty) {
                found.insert(t, r.name.clone());
            }
        } else {
            seen.group_shared = true;
        }
    }
    for r in &listed.value {
        let ty = r.ty.to_ascii_lowercase();
        let Some((t, resource)) = TYPES.iter().find(|(t, _)| *t == ty) else { continue };
        let derived = match *t {
            "microsoft.web/serverfarms" => &n.plan,
            "microsoft.web/sites" => &n.site,
            "microsoft.containerregistry/registries" => &n.acr,
            _ => &n.vault,
        };
        if !found.contains_key(t) && r.name.eq_ignore_ascii_case(derived) && !ours(&r.tags) {
            seen.foreign.push(Foreign { resource, name: r.name.clone() });
        }
    }
    for (t, name) in &found {
        match *t {
            "microsoft.web/serverfarms" => n.plan = name.clone(),
            "microsoft.web/sites" => n.site = name.clone(),
            "microsoft.containerregistry/registries" => n.acr = name.clone(),
            _ => n.vault = name.clone(),
        }
    }
    let get = |present: bool, path: String, api: &'static str, what: &'static str| async move {
        if present {
            parse::<Resource>(arm.get(&path, api).await?, what)
        } else {
            Ok(None)
        }
    };
    let plan = get(found.contains_key("microsoft.web/serverfarms"), n.plan_path(), API_WEB, "App Service plan").await?;
    seen.plan = plan.map(|p| p.sku.unwrap_or_default().name.to_ascii_uppercase());
    let acr = get(found.contains_key("microsoft.containerregistry/registries"), n.acr_path(), super::arm::API_ACR, "registry").await?;
    seen.acr = acr.map(|a| a.properties.login_server.unwrap_or_default());
    let vault = get(found.contains_key("microsoft.keyvault/vaults"), n.vault_path(), API_KEYVAULT, "Key Vault").await?;
    seen.vault = vault.map(|v| v.location);
    if seen.vault.is_none() {
        read_deleted_vault(cx, arm, &n, &mut seen).await?;
    }
    if full && found.contains_key("microsoft.web/sites") {
        seen.site = read_site(arm, &n.site_path()).await?;
        if seen.site.is_some() {
            seen.slot = read_site(arm, &n.slot_path()).await?;
        }
    }
    if seen.vault.is_some() {
        for name in cx.loaded.manifest.secrets.keys() {
            let kv = kv_name(name.get());
            if let Some(s) = arm.get(&n.secret_path(&kv), API_KEYVAULT).await? {
                let stored = stored_secret(cx, &s);
                if !stored.ours {
                    seen.foreign.push(Foreign { resource: "key-vault-secret", name: kv.clone() });
                }
                seen.secrets.insert(kv, stored);
            }
        }
    }
    missing_secrets(cx, &seen.secrets)?;
    if !full {
        seen.names = n;
        return Ok(seen);
    }
    let principals: Vec<String> = [&seen.site, &seen.slot].into_iter().flatten().filter_map(|s| s.principal.clone()).collect();
    for principal in principals {
        for (present, scope, role) in
            [(seen.acr.is_some(), n.acr_path(), ROLE_ACR_PULL), (seen.vault.is_some(), n.vault_path(), ROLE_KV_SECRETS_USER)]
        {
            let path = assignment_path(&scope, role, &principal);
            if present && arm.get(&path, API_AUTHORIZATION).await?.is_some() {
                seen.assignments.insert(path);
            }
        }
    }
    if let (Some(s), Some(_)) = (&seen.site, seen.digest()) {
        let (health, skipped) = super::access::look(&s.config.access(), &s.host, cx.loaded.manifest.app().health.as_str()).await;
        seen.health = Some(health);
        seen.health_skipped = skipped;
    }
    seen.names = n;
    Ok(seen)
}

/// A soft-deleted vault under the vault's name, in the location new resources go to:
/// ours (a deploy recovers it, `destroy --purge` purges it), or someone else's, which
/// holds the name a deploy with `[secrets]` needs.
async fn read_deleted_vault(cx: &Cx, arm: &Arm, n: &Names, seen: &mut Observed) -> Result<()> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct DeletedProps {
        #[serde(default)]
        location: String,
        scheduled_purge_date: Option<String>,
        #[serde(default, deserialize_with = "tags")]
        tags: BTreeMap<String, String>,
    }
    #[derive(Deserialize, Default)]
    struct Deleted {
        #[serde(default)]
        properties: DeletedProps,
    }
    let Some(d) = parse::<Deleted>(arm.get(&n.deleted_vault_path(&seen.location), API_KEYVAULT).await?, "deleted Key Vault")? else {
        return Ok(());
    };
    let p = d.properties;
    if tags_are_ours(cx, &p.tags) {
        let location = if p.location.is_empty() { seen.location.clone() } else { p.location };
        seen.deleted_vault = Some(DeletedVault { location, purge_date: p.scheduled_purge_date });
    } else if !cx.loaded.manifest.secrets.is_empty() {
        seen.foreign.push(Foreign { resource: "key-vault", name: format!("{} (soft-deleted)", n.vault) });
    }
    Ok(())
}

/// A site or slot with its configuration and app settings; `None` when not there.
async fn read_site(arm: &Arm, path: &str) -> Result<Option<Site>> {
    let Some(r) = parse::<Resource>(arm.get(path, API_WEB).await?, "web app")? else { return Ok(None) };
    #[derive(Deserialize, Default)]
    struct Config {
        #[serde(default)]
        properties: SiteConfig,
    }
    let config = parse::<Config>(arm.get(&format!("{path}/config/web"), API_WEB).await?, "site configuration")?.unwrap_or_default();
    let listed = arm.list_action(&format!("{path}/config/appsettings/list"), API_WEB).await?;
    let settings = listed["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    Ok(Some(Site {
        host: r.properties.default_host_name.unwrap_or_default(),
        principal: r.identity.and_then(|i| i.principal_id),
        https_only: r.properties.https_only == Some(true),
        tags: r.tags,
        config: config.properties,
        settings,
        // App Service writes this time in UTC without a zone.
        changed: r.properties.last_modified_time_utc.and_then(|t| {
            let zoned = if t.ends_with('Z') || t.contains('+') { t.clone() } else { format!("{t}Z") };
            crate::util::utc_time(&zoned)
        }),
    }))
}
