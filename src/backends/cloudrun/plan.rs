//! The changes a deploy, rollback or destroy makes, computed from what was observed and
//! built without any call (pure), and the rows people see for them.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::Value;

use super::account::{compute_account, is_dedicated, runtime_account};
use super::iam::ALL_USERS;
use super::observe::{Observed, Revision, ServiceNow};
use super::{is_public, secret_id, service, service_id, short, Image};
use crate::engine::parts::changed_text;
use crate::engine::target::pick_kept;
use crate::engine::{Action, Change, Cx, Kept, Op, Parts, Planned};
use crate::error::UsageError;
use crate::util::human_bytes;

/// One step of a deploy, rollback or destroy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create the `aideploy` Docker repository in Artifact Registry.
    Repository {
        name: String,
    },
    /// Push the image (`repo@sha256:...`); `to_upload` is what the registry lacks
    /// (nothing: the row says it is there already).
    Push {
        image: String,
        to_upload: u64,
    },
    /// Create the service's own runtime account, marked as aideploy's.
    Account {
        email: String,
    },
    /// A `[secrets]` entry in Secret Manager.
    Secret {
        name: String,
        id: String,
        change: SecretChange,
    },
    /// Let the runtime service account read the secret.
    SecretAccess {
        id: String,
        account: String,
    },
    /// Take `member`'s access to the secret away: the default compute account, which
    /// an earlier aideploy ran the service as (done once the service runs as its own).
    RevokeSecretAccess {
        id: String,
        member: String,
    },
    /// The Cloud Run service.
    Service {
        id: String,
        change: ServiceChange,
    },
    /// allUsers may (or no longer may) invoke the service.
    Invoker {
        public: bool,
    },
    /// All traffic to an earlier revision (rollback).
    Traffic {
        revision: String,
        digest: Option<String>,
    },
    DeleteService {
        id: String,
    },
    DeleteSecret {
        id: String,
    },
    /// The dedicated runtime account (only when it carries aideploy's mark).
    DeleteAccount {
        email: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretChange {
    /// Create it with its first version.
    Create,
    /// Add a version: the local value differs from the latest.
    NewVersion,
    Same,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceChange {
    /// Create it, running `digest`; `cold_start`: what it does against cold starts.
    Create {
        digest: String,
        cold_start: Vec<String>,
    },
    /// Update it in place, for these reasons ("image", "env", "settings"...).
    Update {
        why: Vec<String>,
    },
    Same,
}

impl Change for Step {
    fn row(&self) -> Action {
        match self {
            Step::Repository { name } => Action::new(Op::Create, "repository", name).because("Artifact Registry, Docker"),
            Step::Push { image, to_upload: 0 } => Action::new(Op::Noop, "image", short_ref(image)).because("already in the registry"),
            Step::Push { image, to_upload } => {
                Action::new(Op::Create, "push image", short_ref(image)).because(format!("{} to upload", human_bytes(*to_upload)))
            }
            Step::Secret { name, id, change } => match change {
                SecretChange::Create => Action::new(Op::Create, "secret", id).because(format!("[secrets] {name}")),
                SecretChange::NewVersion => Action::new(Op::Update, "secret", id).because("new version: value changed"),
                SecretChange::Same => Action::new(Op::Noop, "secret", id),
            },
            Step::Account { email } => {
                Action::new(Op::Create, "service-account", email).because("runtime identity: may read only this service's secrets")
            }
            Step::SecretAccess { id, account } => Action::new(Op::Create, "secret-access", id).because(format!("{account} may read it")),
            Step::RevokeSecretAccess { id, member } => Action::new(Op::Delete, "secret-access", id).because(format!(
                "{} may no longer read it (granted by an earlier aideploy)",
                member.trim_start_matches("serviceAccount:")
            )),
            Step::Service { id, change } => match change {
                ServiceChange::Create { digest, cold_start } => {
                    let mut why = format!("Cloud Run service, image @{}", short(digest));
                    for w in cold_start {
                        why.push_str(", ");
                        why.push_str(w);
                    }
                    Action::new(Op::Create, "service", id).because(why)
                }
                ServiceChange::Update { why } => Action::new(Op::Update, "service", id).because(why.join(", ")),
                ServiceChange::Same => Action::new(Op::Noop, "service", id),
            },
            Step::Invoker { public: true } => Action::new(Op::Create, "invoker", ALL_USERS).because("public = true"),
            Step::Invoker { public: false } => Action::new(Op::Delete, "invoker", ALL_USERS).because("public is not set"),
            Step::Traffic { revision, digest } => Action::new(Op::Update, "traffic", format!("100% to {revision}"))
                .because(format!("back to @{}", digest.as_deref().map(short).unwrap_or("?"))),
            Step::DeleteService { id } => Action::new(Op::Delete, "service", id).because("with its revisions and IAM policy"),
            Step::DeleteSecret { id } => Action::new(Op::Delete, "secret", id).because("with its versions and IAM policy"),
            Step::DeleteAccount { email } => Action::new(Op::Delete, "service-account", email).because("the service's runtime identity"),
        }
    }
}

/// `repo@sha256:` and the digest's first 12 hex digits.
fn short_ref(image: &str) -> String {
    match image.split_once('@') {
        Some((repo, digest)) => format!("{repo}@sha256:{}", short(digest)),
        None => image.to_string(),
    }
}

/// What a resource of someone else's lacks.
pub const LACKS_LABELS: &str = "it lacks the aideploy-app, aideploy-stage and aideploy-target labels";
pub const LACKS_MARK: &str = "its description lacks aideploy's aideploy-app, aideploy-stage and aideploy-target pairs";

/// Same-named resources without aideploy's labels (or mark) for this app, stage and
/// target: a deploy refuses them. `(kind, id, what it lacks)`. The dedicated account
/// counts only when the service would run as it.
pub fn foreign(cx: &Cx, seen: &Observed) -> Vec<(&'static str, String, &'static str)> {
    let mut out = Vec::new();
    if seen.service.as_ref().is_some_and(|s| !s.ours) {
        out.push(("Cloud Run service", service_id(cx), LACKS_LABELS));
    }
    for (name, s) in &seen.secrets {
        if !s.ours {
            out.push(("secret", secret_id(cx, name), LACKS_LABELS));
        }
    }
    if let Some(a) = seen.account.as_ref().filter(|a| !a.ours && is_dedicated(cx)) {
        out.push(("service account", a.email.clone(), LACKS_MARK));
    }
    out
}

/// The service, when it is ours.
fn our_service(seen: &Observed) -> Option<&ServiceNow> {
    seen.service.as_ref().filter(|s| s.ours)
}

/// Secret versions the service should reference: the current one where the value is
/// unchanged, `None` where a new version will be added. An optional secret with no local
/// value this time keeps the version it has.
pub(super) fn secret_versions(cx: &Cx, seen: &Observed) -> BTreeMap<String, Option<String>> {
    let latest = |k: &str| seen.secrets.get(k).filter(|s| s.ours).and_then(|s| s.latest.clone());
    let mut out: BTreeMap<String, Option<String>> =
        cx.secrets.values.keys().map(|k| (k.clone(), latest(k).and_then(|(num, same)| same.then_some(num)))).collect();
    for k in &cx.secrets.absent {
        if let Some((num, _)) = latest(k) {
            out.insert(k.clone(), Some(num));
        }
    }
    out
}

/// A deploy's changes, in the order apply makes them.
pub fn deploy(cx: &Cx, seen: &Observed, image: &Image) -> Planned<Step> {
    let mut steps = Vec::new();
    let mut warnings = service::warnings(cx);
    for (kind, id, lacks) in foreign(cx, seen) {
        warnings.push(format!(
            "{kind} {id} exists and was not made by aideploy for this app, stage and target ({lacks}): a deploy refuses it; rename the app or stage, or delete {id}"
        ));
    }
    if let Some(email) = &seen.named_missing {
        warnings.push(format!("service_account {email} does not exist: a deploy refuses it; create it, or remove `service_account`"));
    }
    if seen.repository == Some(false) {
        steps.push(Step::Repository { name: format!("{}-docker.pkg.dev/{}/{}", seen.site.region, seen.site.project, super::REPOSITORY) });
    }
    steps.push(Step::Push { image: image.reference(), to_upload: image.to_upload });
    let account = runtime_account(cx, &seen.site.project);
    if is_dedicated(cx) && seen.account.is_none() {
        steps.push(Step::Account { email: account.clone() });
    }
    let member = format!("serviceAccount:{account}");
    for name in cx.secrets.values.keys() {
        let id = secret_id(cx, name);
        match seen.secrets.get(name).filter(|s| s.ours) {
            None => {
                steps.push(Step::Secret { name: name.clone(), id: id.clone(), change: SecretChange::Create });
                steps.push(Step::SecretAccess { id, account: account.clone() });
            }
            Some(s) => {
                let change = if matches!(s.latest, Some((_, true))) { SecretChange::Same } else { SecretChange::NewVersion };
                steps.push(Step::Secret { name: name.clone(), id: id.clone(), change });
                if !s.accessors.contains(&member) {
                    steps.push(Step::SecretAccess { id, account: account.clone() });
                }
            }
        }
    }
    // Stored (by `aideploy secrets set` or an earlier deploy) with no value here: the
    // service references the stored version, and its account must be able to read it.
    for name in &cx.secrets.absent {
        let Some(s) = seen.secrets.get(name).filter(|s| s.ours && s.latest.is_some()) else { continue };
        let id = secret_id(cx, name);
        steps.push(Step::Secret { name: name.clone(), id: id.clone(), change: SecretChange::Same });
        if !s.accessors.contains(&member) {
            steps.push(Step::SecretAccess { id, account: account.clone() });
        }
    }
    // What an earlier aideploy granted the default compute account on our secrets goes,
    // once the service runs as its own account (unless `service_account` names it).
    let mut revoke = Vec::new();
    for (name, s) in seen.secrets.iter().filter(|(_, s)| s.ours) {
        if let Some(compute) = compute_account(&s.name).filter(|c| *c != account) {
            let member = format!("serviceAccount:{compute}");
            if s.accessors.contains(&member) {
                revoke.push(Step::RevokeSecretAccess { id: secret_id(cx, name), member });
            }
        }
    }
    let versions = secret_versions(cx, seen);
    let mut desired = service::desired_service(cx, &image.reference(), &image.built.digest, &versions, &account);
    let wanted = service::parts(cx, &image.built.digest, &image.inputs, &versions);
    service::set_parts(&mut desired, &wanted);
    let change = match our_service(seen) {
        None => ServiceChange::Create { digest: image.built.digest.clone(), cold_start: service::cold_start_words(&desired) },
        Some(current) => {
            let mut why = service_changes(&desired, &current.spec);
            if versions.values().any(Option::is_none) && !why.iter().any(|w| w == "env") {
                why.push("secret version".into());
            }
            // The recorded parts say what the image, env and template changes are made of.
            let differing = Parts::differing(service::recorded_parts(&current.spec).as_ref(), &wanted).filter(|d| !d.is_empty());
            if let (Some(names), false) = (differing, why.is_empty()) {
                // The labels carry the image's digest: they move with the parts.
                why.retain(|w| !["image", "env", "settings", "labels", "secret version"].contains(&w.as_str()));
                why.insert(0, changed_text(&names).unwrap_or_default());
            }
            if why.is_empty() {
                ServiceChange::Same
            } else {
                ServiceChange::Update { why }
            }
        }
    };
    steps.push(Step::Service { id: service_id(cx), change });
    steps.extend(revoke);
    let public_now = our_service(seen).is_some_and(|s| s.public);
    if is_public(cx) != public_now {
        steps.push(Step::Invoker { public: is_public(cx) });
    }
    Planned { changes: steps, warnings }
}

/// Keeps in `current` only the keys `desired` has, recursively: what aideploy manages.
fn projection(desired: &Value, current: &Value) -> Value {
    match (desired, current) {
        (Value::Object(d), Value::Object(c)) => {
            Value::Object(d.keys().map(|k| (k.clone(), projection(&d[k], c.get(k).unwrap_or(&Value::Null)))).collect())
        }
        (Value::Array(d), Value::Array(c)) if d.len() == c.len() => Value::Array(d.iter().zip(c).map(|(a, b)| projection(a, b)).collect()),
        _ => current.clone(),
    }
}

/// What differs between the desired service and the current one, for people.
pub(super) fn service_changes(desired: &Value, current: &Value) -> Vec<String> {
    let mut why = Vec::new();
    let dt = &desired["template"];
    let ct = &current["template"];
    if projection(&dt["containers"][0]["image"], &ct["containers"][0]["image"]) != dt["containers"][0]["image"] {
        why.push("image".to_string());
    }
    if projection(&dt["containers"][0]["env"], &ct["containers"][0]["env"]) != dt["containers"][0]["env"] {
        why.push("env".into());
    }
    let mut rest_d = dt.clone();
    let mut rest_c = projection(dt, ct);
    for v in [&mut rest_d, &mut rest_c] {
        v["containers"][0]["image"] = Value::Null;
        v["containers"][0]["env"] = Value::Null;
        // What the version is made of changes with the rest; not a setting of its own.
        if let Some(labels) = v["labels"].as_object_mut() {
            labels.remove(service::PARTS_LABEL);
        }
    }
    // What Cloud Run leaves out when it is off (false, 0), compared as values: leaving a
    // key out of the desired service would hide that it was turned off.
    let (boost_d, boost_c) = (service::startup_boost(dt), service::startup_boost(ct));
    if boost_d != boost_c {
        why.push(format!("startup CPU boost {}", if boost_d { "on" } else { "off" }));
    }
    let (min_d, min_c) = (service::min_instances(dt), service::min_instances(ct));
    if min_d != min_c {
        why.push(format!("min instances {min_c} -> {min_d}"));
    }
    for v in [&mut rest_d, &mut rest_c] {
        if let Some(r) = v["containers"][0]["resources"].as_object_mut() {
            r.remove("startupCpuBoost");
            if r.is_empty() {
                if let Some(c) = v["containers"][0].as_object_mut() {
                    c.remove("resources");
                }
            }
        }
        if let Some(sc) = v["scaling"].as_object_mut() {
            sc.remove("minInstanceCount");
            if sc.is_empty() {
                if let Some(t) = v.as_object_mut() {
                    t.remove("scaling");
                }
            }
        }
    }
    if rest_d != rest_c {
        why.push("settings".into());
    }
    for key in ["labels", "traffic", "ingress", "launchStage"] {
        if desired.get(key).is_some() && projection(&desired[key], &current[key]) != desired[key] {
            why.push(if key == "traffic" { "traffic to the latest revision".into() } else { key.to_string() });
        }
    }
    why
}

/// The revision a rollback returns to: the newest ready revision created before the
/// serving one, running another image.
pub(super) fn previous_revision(service: &ServiceNow) -> Option<&Revision> {
    let serving = service.serving.as_ref()?;
    let at = service.revisions.iter().position(|r| r.name == serving.name)?;
    service.revisions[at + 1..].iter().find(|r| r.ready && r.digest != serving.digest)
}

pub fn rollback(cx: &Cx, seen: &Observed) -> Result<Planned<Step>> {
    let Some(service) = our_service(seen) else {
        return Err(UsageError::new(format!("{} ({}) is not deployed to {}", cx.app_name(), cx.stage, cx.target.name)).into());
    };
    let Some(prev) = previous_revision(service) else {
        return Err(UsageError::new(format!("{} ({}) has no earlier ready Cloud Run revision to roll back to", cx.app_name(), cx.stage))
            .hint("rollback returns to the ready revision before the serving one; deploy at least twice first")
            .into());
    };
    Ok(Planned::of(vec![Step::Traffic { revision: prev.name.clone(), digest: prev.digest.clone() }]))
}

/// The revisions Cloud Run keeps that can serve again, and the serving one, newest
/// first. A revision that never became ready is left out: traffic cannot go to it.
pub fn releases(seen: &Observed) -> Vec<Kept> {
    let Some(service) = our_service(seen) else { return Vec::new() };
    let live = service.serving.as_ref().map(|r| r.name.as_str());
    service
        .revisions
        .iter()
        .filter(|r| r.ready || Some(r.name.as_str()) == live)
        .map(|r| Kept {
            id: r.name.clone(),
            digest: r.digest.clone().unwrap_or_default(),
            created_at: r.created_at.clone(),
            live: Some(r.name.as_str()) == live,
        })
        .collect()
}

/// `rollback --to`: all traffic to the kept revision `id`, the same step as a rollback.
pub fn rollback_to(cx: &Cx, seen: &Observed, id: &str) -> Result<Planned<Step>> {
    if our_service(seen).is_none() {
        return Err(UsageError::new(format!("{} ({}) is not deployed to {}", cx.app_name(), cx.stage, cx.target.name)).into());
    }
    let kept = releases(seen);
    let to = pick_kept(cx, &kept, id)?;
    Ok(Planned::of(vec![Step::Traffic { revision: to.id.clone(), digest: Some(to.digest.clone()).filter(|d| !d.is_empty()) }]))
}

/// Only what carries aideploy's labels (or, for the runtime account, its mark) for this
/// app, stage and target: the service, then the secrets, then the account.
pub fn destroy(cx: &Cx, seen: &Observed) -> Planned<Step> {
    let mut steps = Vec::new();
    if our_service(seen).is_some() {
        steps.push(Step::DeleteService { id: service_id(cx) });
    }
    for id in &seen.labelled_secrets {
        steps.push(Step::DeleteSecret { id: id.clone() });
    }
    if let Some(a) = seen.account.as_ref().filter(|a| a.ours) {
        steps.push(Step::DeleteAccount { email: a.email.clone() });
    }
    let mut planned = Planned::of(steps);
    for (kind, id, _) in foreign(cx, seen) {
        planned.warnings.push(format!("{kind} {id} lacks aideploy's labels (or mark) for this app, stage and target: left alone"));
    }
    planned
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
