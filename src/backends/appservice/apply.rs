//! Carrying out a deploy's changes, and putting a version into service health-gated.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::access::{gate, look, Access, Gate};
use super::arm::{Arm, API_ACR, API_AUTHORIZATION, API_WEB};
use super::names::{assignment_path, short, Names, SLOT};
use super::observe::Observed;
use super::plan::{desired_settings, secret_refs, Change, Role};
use super::{probe_url, tags, tier, Image, Tier, TAG_DIGEST, TAG_PARTS, TAG_PREVIOUS};
use crate::artifact::registry::Reference;
use crate::engine::wait::{Poll, Wait, Waited};
use crate::engine::{health, Built, Cx, Health, Op, Outcome, Planned, Pushed, Reporter};
use crate::error::{Hinted, UsageError};

/// Refuses, before anything is changed, when a same-named resource is not aideploy's.
pub fn refuse_foreign(cx: &Cx, seen: &Observed) -> Result<()> {
    let Some(f) = seen.foreign.first() else { return Ok(()) };
    let t = &cx.target.name;
    if let Some(name) = f.name.strip_suffix(" (soft-deleted)") {
        return Err(UsageError::new(format!(
            "Key Vault {name} is soft-deleted and not aideploy's for {} ({}) on {t}: it holds the name this deploy's vault needs",
            cx.app_name(),
            cx.stage
        ))
        .hint(format!(
            "if it is yours to remove, purge it (`az keyvault purge --name {name}`); otherwise name another `resource_group` in [targets.{t}]"
        ))
        .into());
    }
    let (what, fix) = if f.resource == "resource-group" {
        (
            format!("resource group {}", f.name),
            format!("rename the app or stage, name another `resource_group` in [targets.{t}], or delete resource group {}", f.name),
        )
    } else {
        (
            format!("{} {} in resource group {}", f.resource, f.name, seen.names.group),
            format!("rename the app or stage, name another `resource_group` in [targets.{t}], or delete {} {}", f.resource, f.name),
        )
    };
    Err(UsageError::new(format!(
        "{what} exists without aideploy's tags for {} ({}) on {t}: aideploy does not adopt, change or delete it",
        cx.app_name(),
        cx.stage
    ))
    .hint(fix)
    .into())
}

/// A site or slot that exists, with its identity.
struct Shell {
    host: String,
    principal: String,
}

/// Carries out `plan`, in its order; the new version goes into service last.
pub async fn apply(cx: &Cx, seen: &Observed, built: &Built<Image>, plan: &Planned<Change>, r: &dyn Reporter) -> Result<Outcome> {
    refuse_foreign(cx, seen)?;
    let arm = Arm::from_env(cx.poll)?;
    let t = tier(cx)?;
    let n = &seen.names;
    let art = &built.data;
    let acr = art.override_repo.is_none();
    let vault = !cx.loaded.manifest.secrets.is_empty();
    let location = seen.location.clone();
    let base_tags = tags(cx);
    let mut login = seen.acr.clone().filter(|l| !l.is_empty());
    let mut stored = seen.secrets.clone();
    let mut site = seen.site.as_ref().and_then(|s| s.principal.clone().map(|p| Shell { host: s.host.clone(), principal: p }));
    let mut pushed = None;
    let mut release_needed = false;
    let shape = Shape { cx, n, location: &location, t, acr };

    for change in &plan.changes {
        match change {
            Change::Group { op: Op::Create, name, .. } => {
                r.step(&format!("creating resource group {name}"));
                super::vault::create_group(cx, &arm, n, &location, r).await?;
                r.done();
            }
            Change::ServicePlan { op: op @ (Op::Create | Op::Update), name, sku, .. } => {
                r.step(&format!("{} App Service plan {name} ({sku})", if *op == Op::Update { "updating" } else { "creating" }));
                let body = json!({"location": location, "kind": "linux", "tags": base_tags, "sku": {"name": sku}, "properties": {"reserved": true}});
                arm.put(&n.plan_path(), API_WEB, &body, "App Service plan", r).await?;
                r.done();
            }
            Change::Registry { op: Op::Create, name, .. } => {
                r.step(&format!("creating container registry {name}"));
                let body =
                    json!({"location": location, "tags": base_tags, "sku": {"name": "Basic"}, "properties": {"adminUserEnabled": false}});
                let made = arm.put(&n.acr_path(), API_ACR, &body, "container registry", r).await?;
                login = made["properties"]["loginServer"].as_str().map(str::to_string).filter(|l| !l.is_empty());
                r.done();
            }
            Change::Image { upload: Some(_), .. } => {
                let repo = repo(cx, art, login.as_deref())?;
                r.step(&format!("pushing to {repo}"));
                let (reference, uploaded_bytes) =
                    crate::artifact::image::push_built(&art.image, &Reference::parse(&repo)?, &cx.stage, r).await?;
                r.done();
                pushed = Some(Pushed { reference: Some(reference), uploaded_bytes });
            }
            Change::Vault { op: Op::Create, name, recover } => {
                r.step(&format!("{} Key Vault {name}", if *recover { "recovering the soft-deleted" } else { "creating" }));
                let deleted = seen.deleted_vault.as_ref().filter(|_| *recover);
                super::vault::put_vault(cx, &arm, n, &location, deleted, r).await?;
                r.done();
            }
            Change::Secret { op: Op::Create | Op::Update, var, kv } => {
                r.step(&format!("writing secret {kv} to Key Vault"));
                let value = cx.secrets.values.get(var).with_context(|| format!("secret {var} has no value"))?;
                let written = super::vault::write_secret(cx, &arm, n, kv, value, r).await?;
                stored.insert(kv.clone(), written);
                r.done();
            }
            Change::Site { op, name, .. } => {
                release_needed |= *op != Op::Noop;
                if site.is_none() {
                    site = Some(ensure_shell(&shape, &arm, &n.site_path(), &format!("web app {name}"), r).await?);
                }
            }
            Change::Slot { .. } => release_needed = true,
            Change::Access { op: Op::Update, name, to, .. } => {
                // Restrictions stay with a slot in a swap: the site and the slot each get them.
                r.step(&format!("setting who may reach web app {name}: {to}"));
                let body = json!({"properties": Access::wanted(cx).site_config()});
                arm.patch(&format!("{}/config/web", n.site_path()), API_WEB, &body, "access restrictions", r).await?;
                if seen.slot.is_some() {
                    arm.patch(&format!("{}/config/web", n.slot_path()), API_WEB, &body, "slot access restrictions", r).await?;
                }
                r.done();
            }
            Change::Role { role, op: Op::Create, .. } => {
                let s = site.as_ref().context("a role for a web app that was not made")?;
                ensure_role(cx, &arm, n, *role, &s.principal, r).await?;
            }
            _ => {}
        }
    }
    let actions = plan.display().actions;
    let url = site.as_ref().map(|s| format!("https://{}", s.host));
    if !release_needed {
        // The version serving stays: one look at it, as `status` takes.
        let health = match &site {
            Some(s) => {
                let (health, skipped) = look(&Access::wanted(cx), &s.host, cx.loaded.manifest.app().health.as_str()).await;
                if let Some(why) = skipped {
                    r.warn(&why);
                }
                health
            }
            None => Health::Skipped,
        };
        return Ok(Outcome { url, health, actions, failure: None, pushed });
    }
    let s = site.context("no web app to release to")?;
    let settings = desired_settings(cx, &secret_refs(cx, n, &stored));
    let repo = repo(cx, art, login.as_deref())?;
    let parts = super::plan::parts(cx, &art.image.digest, &art.inputs, &secret_refs(cx, n, &stored)).encode();
    let rel = Release { repo: &repo, digest: &art.image.digest, settings: &settings, parts: &parts };
    let (health, failure) = release(&shape, &arm, seen, &s.host, &rel, vault, r).await?;
    Ok(Outcome { url, health, actions, failure, pushed })
}

/// Where the site pulls from: the override, else `{login server}/{app}`.
fn repo(cx: &Cx, art: &Image, login: Option<&str>) -> Result<String> {
    match &art.override_repo {
        Some(r) => Ok(r.clone()),
        None => Ok(format!("{}/{}", login.context("the container registry has no login server yet")?, cx.app_name())),
    }
}

/// What the site and its slot share: where, on which tier, pulling how.
pub struct Shape<'a> {
    pub cx: &'a Cx,
    pub n: &'a Names,
    pub location: &'a str,
    pub t: Tier,
    /// Pulls from the registry aideploy made, with its identity.
    pub acr: bool,
}

/// The site (or slot) as ARM should hold it. `image` and `settings` are left out of the
/// first PUT, which only makes the site and its identity.
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
    for (k, v) in Access::wanted(cx).site_config() {
        config[&k] = v;
    }
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

/// Makes the site or slot (no image yet) and returns its host and identity.
async fn ensure_shell(s: &Shape<'_>, arm: &Arm, path: &str, what: &str, r: &dyn Reporter) -> Result<Shell> {
    r.step(&format!("creating {what}"));
    let v = arm.put(path, API_WEB, &site_body(s, None, None, &[]), what, r).await.map_err(|e| {
        if format!("{e}").contains("already exists") {
            anyhow::Error::from(Hinted::new(
                format!("{e}"),
                format!(
                    "site names are global across Azure; another `resource_group` (or `subscription`) in [targets.{}] gives another name",
                    s.cx.target.name
                ),
            ))
        } else {
            e
        }
    })?;
    r.done();
    let principal = v["identity"]["principalId"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("ARM made {what} without a system-assigned identity"))?;
    Ok(Shell { host: v["properties"]["defaultHostName"].as_str().unwrap_or_default().to_string(), principal })
}

/// Makes sure `principal` holds `role` on its resource. A new identity takes a moment
/// to reach the directory: PrincipalNotFound is waited out.
async fn ensure_role(cx: &Cx, arm: &Arm, n: &Names, role: Role, principal: &str, r: &dyn Reporter) -> Result<()> {
    let path = assignment_path(&role.scope(n), role.id(), principal);
    if arm.get(&path, API_AUTHORIZATION).await?.is_some() {
        return Ok(());
    }
    let what = format!("{} for the web app's identity", role.label());
    let body = json!({"properties": {"roleDefinitionId": n.role_definition(role.id()), "principalId": principal, "principalType": "ServicePrincipal"}});
    let w = Wait::new(&what, Duration::from_secs(6), Duration::from_secs(120));
    let done = w
        .run(cx.poll, r, || async {
            match arm.put(&path, API_AUTHORIZATION, &body, &what, r).await {
                Ok(_) => Ok(Poll::Ready(())),
                Err(e) if format!("{e}").contains("PrincipalNotFound") => Ok(Poll::Pending("waiting for the identity to propagate".into())),
                Err(e) => Err(e),
            }
        })
        .await?;
    match done {
        Waited::Ready(()) => Ok(()),
        Waited::TimedOut { .. } => Err(Hinted::new(
            format!("{what}: Azure AD did not know the new identity {principal} after 2 minutes"),
            "run the deploy again in a few minutes",
        )
        .into()),
    }
}

/// Grants `principal` AcrPull on the registry and Key Vault Secrets User on the vault.
async fn grant(cx: &Cx, arm: &Arm, n: &Names, principal: &str, acr: bool, vault: bool, r: &dyn Reporter) -> Result<()> {
    if acr {
        ensure_role(cx, arm, n, Role::AcrPull, principal, r).await?;
    }
    if vault {
        ensure_role(cx, arm, n, Role::SecretsUser, principal, r).await?;
    }
    Ok(())
}

/// One version to put into service: image `repo@digest` and app settings.
pub struct Release<'a> {
    pub repo: &'a str,
    pub digest: &'a str,
    pub settings: &'a BTreeMap<String, String>,
    /// What it is made of ([`crate::engine::Parts::encode`]), recorded in a tag.
    pub parts: &'a str,
}

/// Puts a release into service, health-gated: through the staging slot and a swap on
/// tiers with slots, else in place with the previous version put back on failure.
/// `Err` is a failed call; else the health it found, with why when the version is
/// unhealthy (the old one serves). A private site the gate cannot reach is put into
/// service unchecked (health skipped, and said why).
pub async fn release(
    shape: &Shape<'_>,
    arm: &Arm,
    seen: &Observed,
    host: &str,
    rel: &Release<'_>,
    vault: bool,
    r: &dyn Reporter,
) -> Result<(Health, Option<String>)> {
    let Shape { cx, n, acr, .. } = *shape;
    let access = Access::wanted(cx);
    let image = format!("{}@{}", rel.repo, rel.digest);
    let serving = seen.digest();
    let path = cx.loaded.manifest.app().health.to_string();
    if shape.t.slots {
        let slot = match seen.slot.as_ref().and_then(|s| s.principal.clone().map(|p| Shell { host: s.host.clone(), principal: p })) {
            Some(s) => s,
            None => ensure_shell(shape, arm, &n.slot_path(), &format!("slot {SLOT}"), r).await?,
        };
        grant(cx, arm, n, &slot.principal, acr, vault, r).await?;
        r.step(&format!("deploying @{} to slot {SLOT}", short(rel.digest)));
        let body = site_body(shape, Some(&image), Some(rel.settings), &[(TAG_DIGEST, rel.digest), (TAG_PARTS, rel.parts)]);
        arm.put(&n.slot_path(), API_WEB, &body, &format!("slot {SLOT}"), r).await?;
        r.done();
        let url = probe_url(&slot.host, &path);
        r.step(&format!("waiting for slot {SLOT} to answer {path}"));
        let health = match gate(cx, &access, &url, &path, r).await {
            Gate::Passed => Health::Passed,
            Gate::Skipped(why) => {
                r.warn(&format!("{why}; slot {SLOT} is swapped in unchecked"));
                Health::Skipped
            }
            Gate::Unhealthy(e) => {
                return Ok((
                    Health::Failed,
                    Some(format!(
                        "slot {SLOT} (@{}) did not pass its health check at {url}: {}\n(not swapped: production keeps serving)",
                        short(rel.digest),
                        unhealthy(cx, e)
                    )),
                ))
            }
        };
        r.done();
        r.step(&format!("swapping slot {SLOT} into production"));
        let swap = json!({"targetSlot": SLOT, "preserveVnet": true});
        arm.post(&format!("{}/slotsswap", n.site_path()), API_WEB, Some(&swap), "slot swap", r).await?;
        let mut tg = tags(cx);
        tg.insert(TAG_DIGEST.into(), json!(rel.digest));
        tg.insert(TAG_PARTS.into(), json!(rel.parts));
        tg.insert(TAG_PREVIOUS.into(), json!(serving.clone().unwrap_or_default()));
        arm.patch(&n.site_path(), API_WEB, &json!({"tags": tg}), "site tags", r).await?;
        r.done();
        return Ok((health, None));
    }
    r.step(&format!("updating web app {} to @{}", n.site, short(rel.digest)));
    let previous = serving.clone().unwrap_or_default();
    let body =
        site_body(shape, Some(&image), Some(rel.settings), &[(TAG_DIGEST, rel.digest), (TAG_PREVIOUS, &previous), (TAG_PARTS, rel.parts)]);
    arm.put(&n.site_path(), API_WEB, &body, "web app", r).await?;
    r.done();
    let url = probe_url(host, &path);
    r.step(&format!("waiting for {url}"));
    let e = match gate(cx, &access, &url, &path, r).await {
        Gate::Passed => {
            r.done();
            return Ok((Health::Passed, None));
        }
        Gate::Skipped(why) => {
            r.warn(&format!("{why}; the new version serves unchecked"));
            r.done();
            return Ok((Health::Skipped, None));
        }
        Gate::Unhealthy(e) => e,
    };
    let why = format!("@{} did not pass its health check at {url}: {}", short(rel.digest), unhealthy(cx, e));
    // Put the version that served back, image and settings as they were.
    let Some(old) = seen.site.as_ref().and_then(|s| s.config.image()).filter(|_| serving.is_some()) else {
        return Ok((Health::Failed, Some(format!("{why}\n(nothing served before: the site stays on the failing version)"))));
    };
    r.step("putting the previous version back");
    let old_site = seen.site.as_ref().context("checked above")?;
    let prev_of_prev = old_site.previous().unwrap_or_default().to_string();
    // The parts of the version put back are not known here: the next plan says "changed".
    let back =
        site_body(shape, Some(old), Some(&old_site.settings), &[(TAG_DIGEST, &previous), (TAG_PREVIOUS, &prev_of_prev), (TAG_PARTS, "")]);
    arm.put(&n.site_path(), API_WEB, &back, "web app", r).await?;
    r.done();
    Ok((Health::Failed, Some(format!("{why}\n(rolled back: @{} serves again)", short(&previous)))))
}

fn unhealthy(cx: &Cx, e: health::Unhealthy) -> String {
    match e {
        health::Unhealthy::Exited(w) => w,
        health::Unhealthy::TimedOut { last } => format!("no 2xx within health_timeout (last answer: {last})"),
        health::Unhealthy::Failing(f) => format!("{}\nIts last answer: {}", f.why, health::shown_body(&cx.secrets.redact(&f.body))),
    }
}
