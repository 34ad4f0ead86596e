//! The variables a service should have (`[env]`, the secrets that have a value, and a
//! target's extras) and their diff with what it has, as changes that never carry values.

use std::collections::BTreeMap;

use super::image::ImageFacts;
use super::owner::OWNER_VAR;
use super::pull::PULL_VAR;
use super::secrets::{fingerprint, SALT_VAR};
use crate::engine::{Action, Cx, Op, Parts};
use crate::secrets::SecretValue;

/// The service variable that records what the deployed version is made of
/// ([`Parts::encode`]), next to the owner mark; written with each deploy, never diffed.
pub const PARTS_VAR: &str = "AIDEPLOY_PARTS";

/// What a deploy of `image` is made of, with the service's variables `current`. The
/// secrets count by name and value: each one's value is the local one, else the one
/// stored in `current` (kept by the deploy), and it enters as a fingerprint
/// (paas::secrets) so that a value `secrets set` stored since the running version was
/// deployed shows as changed secrets ([`secrets_stale`]). The parts live in the
/// service's variables, next to the values themselves.
pub fn wanted_parts(cx: &Cx, image: &ImageFacts, current: &BTreeMap<String, String>) -> Parts {
    let mut all = cx.clone();
    let mut refs = Vec::new();
    for name in cx.loaded.manifest.secrets.keys().map(|k| k.get()) {
        let value = match cx.secrets.values.get(name) {
            Some(v) => v.expose().to_string(),
            None => match current.get(name) {
                Some(kept) => {
                    all.secrets.values.insert(name.clone(), SecretValue::new(kept.clone()));
                    kept.clone()
                }
                None => continue,
            },
        };
        refs.push((name.clone(), fingerprint("deployed", name, &value)));
    }
    Parts::of(&all, &image.digest, &image.inputs, &refs)
}

/// Whether the running version lacks a secret's value the service's variables hold now
/// (`secrets set` stores one without deploying): its recorded parts say other secrets.
/// Only on a service with the secrets' salt, i.e. one whose recorded parts count the
/// values (a service from before records names only: no comparison, no spurious deploy).
pub fn secrets_stale(cx: &Cx, current: &BTreeMap<String, String>, image: &ImageFacts) -> bool {
    current.contains_key(SALT_VAR)
        && current
            .get(PARTS_VAR)
            .and_then(|p| Parts::decode(p))
            .is_some_and(|running| running.secrets != wanted_parts(cx, image, current).secrets)
}

/// Why a deploy, from the parts recorded in the service's variables (`current`) and the
/// variables that change: `env changed`, `code, secrets changed`. `None` when the service
/// has no parts recorded (deployed before they were): the caller keeps its own words.
pub fn deploy_reason(cx: &Cx, current: &BTreeMap<String, String>, image: &ImageFacts, changes: &[VarChange]) -> Option<String> {
    let running = current.get(PARTS_VAR).and_then(|v| Parts::decode(v));
    let also: &[&str] = if changes.iter().any(|c| is_secret(cx, c.key())) { &["secrets"] } else { &[] };
    Parts::changed_also(running.as_ref(), &wanted_parts(cx, image, current), also)
}

/// One variable to write or remove. The value is looked up at apply time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarChange {
    Create { key: String, reason: &'static str },
    Update { key: String },
    Delete { key: String },
}

impl VarChange {
    pub fn key(&self) -> &str {
        match self {
            VarChange::Create { key, .. } | VarChange::Update { key } | VarChange::Delete { key } => key,
        }
    }

    pub fn row(&self) -> Action {
        match self {
            VarChange::Create { key, reason } => Action::new(Op::Create, "variable", key).because(*reason),
            VarChange::Update { key } => Action::new(Op::Update, "variable", key).because("value changed"),
            VarChange::Delete { key } => Action::new(Op::Delete, "variable", key).because("not in the manifest"),
        }
    }
}

/// `[env]`, then `extra` where `[env]` does not say, then the secrets that have a value:
/// what the service's variables should be (the owner mark aside).
pub fn desired(cx: &Cx, extra: &[(&str, String)]) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = cx.loaded.manifest.env_pairs().into_iter().collect();
    for (k, v) in extra {
        vars.entry((*k).to_string()).or_insert_with(|| v.clone());
    }
    for (k, v) in &cx.secrets.values {
        vars.insert(k.clone(), v.expose().to_string());
    }
    vars
}

pub fn is_secret(cx: &Cx, key: &str) -> bool {
    cx.secrets.values.contains_key(key) || cx.secrets.absent.iter().any(|a| a == key)
}

/// Why a variable is created: `secret`, `env`, or the reason its target added it.
pub fn reason(cx: &Cx, key: &str, extra: &[(&str, &'static str)]) -> &'static str {
    if is_secret(cx, key) {
        return "secret";
    }
    let in_env = cx.loaded.manifest.env_pairs().iter().any(|(k, _)| k == key);
    match extra.iter().find(|(k, _)| *k == key) {
        Some((_, why)) if !in_env => why,
        _ => "env",
    }
}

/// Per variable: create, update or delete. The owner mark is never diffed (it is set
/// once, at creation), nor the pull credential's mark (its own plan step), nor the
/// parts (written with each deploy), nor the secrets' salt (paas::secrets); a secret
/// with no value this time (optional, or kept in the service by `aideploy secrets set`)
/// keeps its value.
pub fn diff(
    cx: &Cx,
    want: &BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
    extra: &[(&str, &'static str)],
) -> Vec<VarChange> {
    let mut out = Vec::new();
    for (k, v) in want {
        match current.get(k) {
            None => out.push(VarChange::Create { key: k.clone(), reason: reason(cx, k, extra) }),
            Some(old) if old != v => out.push(VarChange::Update { key: k.clone() }),
            Some(_) => {}
        }
    }
    for k in current.keys() {
        if ![OWNER_VAR, PULL_VAR, PARTS_VAR, SALT_VAR].contains(&k.as_str())
            && !want.contains_key(k)
            && !cx.secrets.absent.iter().any(|a| a == k)
        {
            out.push(VarChange::Delete { key: k.clone() });
        }
    }
    out
}
