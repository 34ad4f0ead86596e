//! Desired vs observed, as changes (pure), and the rows people see for each.

use std::collections::BTreeMap;

use super::access::Access;
use super::names::{assignment_path, kv_name, short, value_hash, Names, ROLE_ACR_PULL, ROLE_KV_SECRETS_USER, SLOT};
use super::observe::{Observed, Site};
use super::{sku, tier, Image, Tier, TAG_PARTS};
use crate::engine::{Action, Built, Cx, Inputs, Op, Parts, Planned};
use crate::util::human_bytes;

/// A role the site's identity needs, on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// AcrPull on the registry aideploy made.
    AcrPull,
    /// Key Vault Secrets User on the vault.
    SecretsUser,
}

impl Role {
    pub fn id(self) -> &'static str {
        match self {
            Role::AcrPull => ROLE_ACR_PULL,
            Role::SecretsUser => ROLE_KV_SECRETS_USER,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Role::AcrPull => "AcrPull",
            Role::SecretsUser => "Key Vault Secrets User",
        }
    }
    pub fn scope(self, n: &Names) -> String {
        match self {
            Role::AcrPull => n.acr_path(),
            Role::SecretsUser => n.vault_path(),
        }
    }
    fn on(self, n: &Names) -> &str {
        match self {
            Role::AcrPull => &n.acr,
            Role::SecretsUser => &n.vault,
        }
    }
}

/// What destroy deletes, one resource at a time.
#[derive(Debug, Clone, PartialEq)]
pub enum Doomed {
    Group,
    Assignment(String),
    Slot,
    Site,
    Plan,
    Registry,
    /// Deleted; Key Vault keeps it soft-deleted (recoverable, holding its name) unless
    /// `purge` (`destroy --purge`), which removes it for good: in `location`.
    Vault {
        location: String,
        purge: bool,
    },
}

/// One step of a deploy, rollback or destroy.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Group {
        name: String,
        op: Op,
        why: &'static str,
    },
    /// `always_on`: the tier keeps the app loaded (Always On), so it never starts cold.
    ServicePlan {
        name: String,
        sku: String,
        op: Op,
        from: Option<String>,
        always_on: bool,
    },
    Registry {
        name: String,
        op: Op,
    },
    /// Push the image to `repo` (`upload`: the bytes the registry lacks), or, with
    /// `upload` `None`, it is there and serving already.
    Image {
        repo: String,
        digest: String,
        upload: Option<u64>,
    },
    /// `recover`: ours is soft-deleted under this name; it comes back with its secrets.
    Vault {
        name: String,
        op: Op,
        recover: bool,
    },
    Secret {
        var: String,
        kv: String,
        op: Op,
    },
    /// The web app: made with the image, updated in place, or as it is.
    Site {
        name: String,
        op: Op,
        why: Option<String>,
    },
    /// The new version to slot `staging` (tiers with slots), then a swap.
    Slot {
        name: String,
        op: Op,
        why: String,
    },
    Swap {
        why: String,
    },
    /// A rollback's step back to the kept digest `to` (rollback.rs): what `rollback`
    /// puts into service, read from the plan.
    Back {
        to: String,
        via: Via,
    },
    /// Who may reach the site and its slot (`to`; `from` what they allow now, on an
    /// update). Access restrictions stay with a slot in a swap, so they are set apart.
    Access {
        name: String,
        op: Op,
        from: Option<String>,
        to: String,
    },
    Role {
        role: Role,
        on: String,
        op: Op,
    },
    /// Destroy: `with_group` when the group's deletion takes it along.
    Delete {
        doomed: Doomed,
        name: String,
        with_group: bool,
    },
    KeepGroup {
        name: String,
        why: &'static str,
    },
    /// Destroy `--purge`: ours, deleted earlier and kept soft-deleted, purged for good.
    PurgeDeleted {
        name: String,
        location: String,
    },
    /// Destroy without `--purge`: ours, deleted earlier and still soft-deleted; kept.
    KeepDeleted {
        name: String,
        purge_date: Option<String>,
    },
}

/// How a rollback puts a kept digest back: through slot `staging` and a swap on tiers
/// with slots, else in place.
#[derive(Debug, Clone, PartialEq)]
pub enum Via {
    /// The image and production's settings to the slot (named `{site}/staging`), polled.
    Slot(String),
    /// The slot swapped into production; `held`: the slot holds that digest already.
    Swap { held: bool },
    /// The web app (named) updated in place, polled.
    Site(String),
}

/// How a soft-deleted vault is removed for good.
fn purge_hint(name: &str) -> String {
    format!("`aideploy destroy --purge` or `az keyvault purge --name {name}` removes it for good")
}

/// What a soft-deleted vault is, for the final report.
fn kept_soft_deleted(name: &str, until: Option<&str>) -> String {
    let until = match until {
        Some(d) => format!("until {d}"),
        None => "for its retention period (90 days unless set otherwise)".to_string(),
    };
    format!(
        "Key Vault {name} is deleted but soft-deleted: recoverable, with its secrets, {until}, and its name stays taken; a later deploy recovers it. {}",
        purge_hint(name)
    )
}

impl crate::engine::Change for Change {
    fn row(&self) -> Action {
        match self {
            Change::Group { name, op, why } => Action::new(*op, "resource-group", name).because(*why),
            Change::ServicePlan { name, sku, op, from, always_on } => {
                let a = Action::new(*op, "app-service-plan", name);
                let on = if *always_on { ", Always On" } else { ", no Always On: the app unloads when idle" };
                match (op, from) {
                    (Op::Create, _) => a.because(format!("Linux, {sku}{on}")),
                    (Op::Update, Some(f)) => a.because(format!("{f} -> {sku}{on}")),
                    _ => a,
                }
            }
            Change::Registry { name, op } => Action::new(*op, "container-registry", name),
            Change::Image { repo, digest, upload: Some(n) } => {
                Action::new(Op::Create, "push image", format!("{repo}@sha256:{}", short(digest)))
                    .because(format!("{} to upload", human_bytes(*n)))
            }
            Change::Image { repo, digest, upload: None } => {
                Action::new(Op::Noop, "image", format!("{repo}@sha256:{}", short(digest))).because("already in the registry")
            }
            Change::Vault { name, op, recover: true } => {
                Action::new(*op, "key-vault", name).because("recovered from soft delete, with its secrets")
            }
            Change::Vault { name, op, .. } => Action::new(*op, "key-vault", name),
            Change::Secret { kv, op, .. } => {
                let a = Action::new(*op, "key-vault-secret", kv);
                if *op == Op::Update {
                    a.because("value changed")
                } else {
                    a
                }
            }
            Change::Site { name, op, why } => {
                let a = Action::new(*op, "web-app", name);
                match why {
                    Some(w) => a.because(w.clone()),
                    None => a,
                }
            }
            Change::Slot { name, op, why } => Action::new(*op, "slot", name).because(why.clone()),
            Change::Swap { why } => Action::new(Op::Update, "swap", format!("{SLOT} -> production")).because(why.clone()),
            Change::Back { to, via } => match via {
                Via::Slot(name) => Action::new(Op::Update, "slot", name).because(format!("back to @{}", short(to))),
                Via::Swap { held: true } => {
                    Action::new(Op::Update, "swap", format!("{SLOT} -> production")).because(format!("slot {SLOT} holds @{}", short(to)))
                }
                Via::Swap { held: false } => {
                    Action::new(Op::Update, "swap", format!("{SLOT} -> production")).because("after the slot passes its health check")
                }
                Via::Site(name) => Action::new(Op::Update, "web-app", name).because(format!("back to @{}", short(to))),
            },
            Change::Access { name, op, from, to } => {
                let why = match from {
                    Some(f) => format!("{f} -> {to}"),
                    None => to.clone(),
                };
                Action::new(*op, "access", name).because(why)
            }
            Change::Role { role, on, op } => Action::new(*op, "role-assignment", format!("{} on {on}", role.label())),
            Change::Delete { doomed, name, .. } => {
                let (resource, id) = match doomed {
                    Doomed::Group => ("resource-group", name.clone()),
                    Doomed::Assignment(path) => ("role-assignment", path.rsplit('/').next().unwrap_or(path).to_string()),
                    Doomed::Slot => ("slot", format!("{name}/{SLOT}")),
                    Doomed::Site => ("web-app", name.clone()),
                    Doomed::Plan => ("app-service-plan", name.clone()),
                    Doomed::Registry => ("container-registry", name.clone()),
                    Doomed::Vault { purge: true, .. } => ("key-vault", format!("{name} (and purged: irreversible)")),
                    Doomed::Vault { purge: false, .. } => ("key-vault", name.clone()),
                };
                let a = Action::new(Op::Delete, resource, id);
                match doomed {
                    Doomed::Group => a.because("created by aideploy, with everything in it"),
                    Doomed::Vault { purge: false, .. } => {
                        a.because(format!("kept soft-deleted and recoverable for its retention period; {}", purge_hint(name)))
                    }
                    _ => a,
                }
            }
            Change::KeepGroup { name, why } => Action::new(Op::Noop, "resource-group", name).because(*why),
            Change::PurgeDeleted { name, .. } => {
                Action::new(Op::Delete, "key-vault", format!("{name} (soft-deleted)")).because("purged: irreversible")
            }
            Change::KeepDeleted { name, .. } => {
                Action::new(Op::Noop, "key-vault", format!("{name} (soft-deleted)")).because(format!("kept: {}", purge_hint(name)))
            }
        }
    }

    fn irreversible(&self) -> bool {
        matches!(self, Change::PurgeDeleted { .. } | Change::Delete { doomed: Doomed::Vault { purge: true, .. }, .. })
    }

    fn leaves(&self) -> Option<String> {
        match self {
            Change::Delete { doomed: Doomed::Vault { purge: false, .. }, name, .. } => Some(kept_soft_deleted(name, None)),
            Change::KeepDeleted { name, purge_date } => Some(kept_soft_deleted(name, purge_date.as_deref())),
            _ => None,
        }
    }
}

/// Secret name (env var) -> Key Vault reference, for the secrets whose stored value is
/// current; `None` for those that must be written first.
pub fn secret_refs(cx: &Cx, n: &Names, stored: &BTreeMap<String, super::observe::StoredSecret>) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for (var, value) in &cx.secrets.values {
        let kv = kv_name(var);
        let want = value_hash(n, &kv, value.expose());
        let current = stored.get(&kv).filter(|s| s.value_hash.as_deref() == Some(want.as_str()));
        out.insert(var.clone(), current.map(|s| s.uri_with_version.clone()));
    }
    for var in &cx.secrets.absent {
        // No value here this time: the one stored (by `aideploy secrets set` or an
        // earlier deploy) is kept.
        if let Some(s) = stored.get(&kv_name(var)).filter(|s| s.ours) {
            out.insert(var.clone(), Some(s.uri_with_version.clone()));
        }
    }
    out
}

/// The app settings the site should have: WEBSITES_PORT, `[env]`, and a Key Vault
/// reference per secret (never a value).
pub fn desired_settings(cx: &Cx, refs: &BTreeMap<String, Option<String>>) -> BTreeMap<String, String> {
    let mut s: BTreeMap<String, String> = cx.loaded.manifest.env_pairs().into_iter().collect();
    s.insert("WEBSITES_PORT".into(), cx.loaded.manifest.app().port.0.to_string());
    for (var, uri) in refs {
        s.insert(var.clone(), format!("@Microsoft.KeyVault(SecretUri={})", uri.as_deref().unwrap_or("<new version>")));
    }
    s
}

/// Why the serving site differs from what the manifest wants (config only; image and
/// settings are compared by the caller).
pub fn config_drift(cx: &Cx, site: &Site, t: Tier, acr: bool) -> Vec<String> {
    let c = &site.config;
    let mut why = Vec::new();
    if !site.https_only {
        why.push("https only".to_string());
    }
    if c.health_check_path.as_deref() != Some(cx.loaded.manifest.app().health.as_str()) {
        why.push("health check path".into());
    }
    if c.always_on != Some(t.always_on) {
        why.push("always on".into());
    }
    if c.min_tls_version.as_deref() != Some("1.2") || c.ftps_state.as_deref() != Some("Disabled") {
        why.push("TLS/FTPS".into());
    }
    if c.acr_use_managed_identity_creds != Some(acr) {
        why.push("registry identity".into());
    }
    why
}

/// The repository the site pulls from, as the plan shows it: the override, else the
/// registry aideploy made (its login server once it exists).
pub fn repo_shown(cx: &Cx, seen: &Observed, override_repo: Option<&str>) -> String {
    match override_repo {
        Some(r) => r.to_string(),
        None => {
            let login = seen.acr.clone().filter(|l| !l.is_empty()).unwrap_or_else(|| format!("{}.azurecr.io", seen.names.acr));
            format!("{login}/{}", cx.app_name())
        }
    }
}

pub fn warnings(cx: &Cx, seen: &Observed, t: Tier) -> Vec<String> {
    let sku = sku(cx);
    let mut w = vec![
        "App Service ends a request after 230 s without a response byte (idle timeout): stream long LLM answers, or pick cloudrun or ec2"
            .to_string(),
    ];
    if !t.slots {
        w.push(format!(
            "{sku} ({}) has no deployment slots (Standard or higher has them): a new version replaces the old in place, and the previous digest is put back when it fails its health check",
            t.name
        ));
    }
    if !t.autoscale {
        w.push(format!("{sku} ({}) has no autoscale: it runs a fixed number of instances (Standard or higher scales out by rule)", t.name));
    }
    w.extend(super::access::note(&Access::wanted(cx)));
    for f in &seen.foreign {
        w.push(format!(
            "{} {} exists without aideploy's tags for this app, stage and target: deploy refuses to change it",
            f.resource, f.name
        ));
    }
    w
}

/// The deploy's changes, in the order apply takes them.
pub fn plan(cx: &Cx, seen: &Observed, built: &Built<Image>) -> Planned<Change> {
    let art = &built.data;
    plan_of(
        cx,
        seen,
        &Want { digest: &art.image.digest, override_repo: art.override_repo.as_deref(), to_upload: art.to_upload, inputs: &art.inputs },
    )
}

/// What the version a deploy puts in service is made of: the image's inputs and the Key
/// Vault secret versions its settings reference (a value still to be written is new).
pub fn parts(cx: &Cx, digest: &str, inputs: &Inputs, refs: &BTreeMap<String, Option<String>>) -> Parts {
    Parts::of(cx, digest, inputs, &crate::engine::parts::refs(refs))
}

/// What a deploy puts in service: the image's digest, where it is pulled from, and what
/// pushing it there would upload.
pub struct Want<'a> {
    pub digest: &'a str,
    pub override_repo: Option<&'a str>,
    pub to_upload: u64,
    /// What went into the image.
    pub inputs: &'a Inputs,
}

pub fn plan_of(cx: &Cx, seen: &Observed, want_image: &Want) -> Planned<Change> {
    let digest = &want_image.digest.to_string();
    let t = tier(cx).unwrap_or(Tier { name: "Basic", slots: false, always_on: true, autoscale: false });
    let sku = sku(cx);
    let names = &seen.names;
    let op = |present: bool| if present { Op::Noop } else { Op::Create };
    let mut c = Vec::new();
    c.push(match seen.group {
        super::observe::Group::Absent => {
            Change::Group { name: names.group.clone(), op: Op::Create, why: "created by aideploy, deleted by destroy" }
        }
        super::observe::Group::Ours { created: true } => {
            Change::Group { name: names.group.clone(), op: Op::Noop, why: "created by aideploy" }
        }
        _ => Change::Group { name: names.group.clone(), op: Op::Noop, why: "not aideploy's: kept by destroy" },
    });
    c.push(match &seen.plan {
        None => Change::ServicePlan { name: names.plan.clone(), sku: sku.clone(), op: Op::Create, from: None, always_on: t.always_on },
        Some(s) if *s != sku => Change::ServicePlan {
            name: names.plan.clone(),
            sku: sku.clone(),
            op: Op::Update,
            from: Some(s.clone()),
            always_on: t.always_on,
        },
        Some(_) => Change::ServicePlan { name: names.plan.clone(), sku: sku.clone(), op: Op::Noop, from: None, always_on: t.always_on },
    });
    let acr = want_image.override_repo.is_none();
    if acr {
        c.push(Change::Registry { name: names.acr.clone(), op: op(seen.acr.is_some()) });
    }
    // Pushed already when the site or its slot runs it.
    let serving = [seen.digest(), seen.slot_digest()].contains(&Some(digest.clone()));
    let upload = if serving { None } else { Some(want_image.to_upload) };
    c.push(Change::Image { repo: repo_shown(cx, seen, want_image.override_repo), digest: digest.clone(), upload });
    let has_secrets = !cx.loaded.manifest.secrets.is_empty();
    let refs = secret_refs(cx, names, &seen.secrets);
    if has_secrets {
        // Ours, soft-deleted by a destroy without `--purge`: recovered rather than made.
        let recover = seen.vault.is_none() && seen.deleted_vault.is_some();
        c.push(Change::Vault { name: names.vault.clone(), op: op(seen.vault.is_some()), recover });
        for (var, uri) in &refs {
            let kv = kv_name(var);
            let op = match (uri, seen.secrets.contains_key(&kv)) {
                (Some(_), _) => Op::Noop,
                (None, true) => Op::Update,
                (None, false) => Op::Create,
            };
            c.push(Change::Secret { var: var.clone(), kv, op });
        }
    }
    let want = desired_settings(cx, &refs);
    match &seen.site {
        None => {
            c.push(Change::Site { name: names.site.clone(), op: Op::Create, why: Some(format!("image @{}, https only", short(digest))) })
        }
        Some(site) => {
            let mut why = Vec::new();
            match site.config.digest() {
                Some(d) if d == *digest => {}
                Some(d) => why.push(format!("image {} -> {}", short(&d), short(digest))),
                None => why.push(format!("image @{}", short(digest))),
            }
            if site.settings != want {
                let changed: Vec<&str> = want
                    .iter()
                    .filter(|(k, v)| site.settings.get(*k) != Some(*v))
                    .map(|(k, _)| k.as_str())
                    .chain(site.settings.keys().filter(|k| !want.contains_key(*k)).map(String::as_str))
                    .collect();
                why.push(format!("app settings: {}", changed.join(", ")));
            }
            // The recorded parts say what the image and app settings changes are made of.
            let wanted = parts(cx, digest, want_image.inputs, &refs);
            let running = site.tags.get(TAG_PARTS).and_then(|t| Parts::decode(t));
            if let Some(text) = Parts::changed(running.as_ref(), &wanted).filter(|_| !why.is_empty()) {
                why = vec![text];
            }
            why.extend(config_drift(cx, site, t, acr));
            if why.is_empty() {
                c.push(Change::Site { name: names.site.clone(), op: Op::Noop, why: None });
            } else if t.slots {
                let op = if seen.slot.is_some() { Op::Update } else { Op::Create };
                c.push(Change::Slot { name: format!("{}/{SLOT}", names.site), op, why: why.join(", ") });
                c.push(Change::Swap { why: "after the slot passes its health check".into() });
            } else {
                c.push(Change::Site { name: names.site.clone(), op: Op::Update, why: Some(why.join(", ")) });
            }
        }
    }
    // Who may reach the site (and the slot): set with them when they are made, else on
    // their own, since a swap leaves each one's restrictions where they are.
    let access = Access::wanted(cx);
    let now: Vec<Access> = [&seen.site, &seen.slot].into_iter().flatten().map(|s| s.config.access()).collect();
    let (access_op, from) = match now.iter().find(|a| **a != access) {
        _ if seen.site.is_none() => (Op::Create, None),
        Some(differs) => (Op::Update, Some(differs.label())),
        None => (Op::Noop, None),
    };
    c.push(Change::Access { name: names.site.clone(), op: access_op, from, to: access.label() });
    let principal = seen.site.as_ref().and_then(|s| s.principal.clone());
    let assigned =
        |role: Role| principal.as_ref().is_some_and(|p| seen.assignments.contains(&assignment_path(&role.scope(names), role.id(), p)));
    for (wanted, role) in [(acr, Role::AcrPull), (has_secrets, Role::SecretsUser)] {
        if !wanted {
            continue;
        }
        c.push(Change::Role { role, on: role.on(names).to_string(), op: op(assigned(role)) });
    }
    Planned { changes: c, warnings: warnings(cx, seen, t) }
}

/// What destroy removes: the group when aideploy made it and it holds only ours, else
/// each of ours. A deleted vault stays soft-deleted (recoverable) unless `cx.purge`;
/// one left soft-deleted by an earlier destroy is purged with `cx.purge`, else kept.
pub fn plan_destroy(cx: &Cx, seen: &Observed) -> Planned<Change> {
    let n = &seen.names;
    let mut c = Vec::new();
    let leftover = seen.deleted_vault.as_ref().map(|d| {
        if cx.purge {
            Change::PurgeDeleted { name: n.vault.clone(), location: d.location.clone() }
        } else {
            Change::KeepDeleted { name: n.vault.clone(), purge_date: d.purge_date.clone() }
        }
    });
    if !seen.any() {
        return Planned::of(leftover.into_iter().collect());
    }
    let with_group = seen.owns_group() && !seen.group_shared;
    if with_group {
        c.push(Change::Delete { doomed: Doomed::Group, name: n.group.clone(), with_group: false });
    } else if seen.owns_group() {
        c.push(Change::KeepGroup { name: n.group.clone(), why: "holds resources aideploy did not make: kept" });
    } else {
        c.push(Change::KeepGroup { name: n.group.clone(), why: "not created by aideploy: kept" });
    }
    let mut add = |present: bool, doomed: Doomed, name: &str| {
        if present {
            c.push(Change::Delete { doomed, name: name.to_string(), with_group });
        }
    };
    for p in &seen.assignments {
        add(true, Doomed::Assignment(p.clone()), n.site.as_str());
    }
    add(seen.slot.is_some(), Doomed::Slot, &n.site);
    add(seen.site.is_some(), Doomed::Site, &n.site);
    add(seen.plan.is_some(), Doomed::Plan, &n.plan);
    add(seen.acr.is_some(), Doomed::Registry, &n.acr);
    if let Some(location) = &seen.vault {
        add(true, Doomed::Vault { location: location.clone(), purge: cx.purge }, &n.vault);
    }
    c.extend(leftover);
    Planned::of(c)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
