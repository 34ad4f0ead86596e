//! `aideploy secrets` on the image PaaS pair: the service's own variables are the store
//! (Railway service variables, Render env vars), so a secret is the variable of its
//! `[secrets]` name on this app and stage's service, aideploy's by its mark (owner.rs).
//!
//! Neither platform keeps versions of a variable. A secret's `version` is a fingerprint
//! of its value: the first 12 hex digits of SHA-256 over a salt, the name and the value.
//! The salt is a random value kept in the service's own variable `AIDEPLOY_SECRET_SALT`,
//! so the fingerprint changes with every new value and tells nothing about the value to
//! whoever sees only the output (a CI log): checking a guess against it needs the salt,
//! which only those who may read the variables (and so the value itself) can see. A
//! service with no salt yet (deployed before there was one) lists no versions until the
//! first `secrets set` gives it one.
//!
//! Writes never deploy: the platform calls behind [`ServiceVars`] are the ones that
//! leave the running deployment alone (Railway's `skipDeploys`; Render's env-var
//! endpoints do not deploy). The app reads a new value from the next deploy.

use std::collections::BTreeMap;

use anyhow::Result;
use sha2::{Digest, Sha256};

use crate::engine::Cx;
use crate::error::UsageError;
use crate::secrets::{PutOutcome, SecretStore, SecretValue, StoredSecret};

/// The service variable holding the salt of the secrets' fingerprints; never diffed,
/// never listed.
pub const SALT_VAR: &str = "AIDEPLOY_SECRET_SALT";

/// A fingerprint of `value`, stable while the salt is (see the module's note).
pub fn fingerprint(salt: &str, name: &str, value: &str) -> String {
    let mut h = Sha256::new();
    for part in ["aideploy secret version", salt, name, value] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..12].to_string()
}

/// A new salt: 128 bits from the standard library's randomly keyed hasher (its keys
/// come from the operating system's random source), as 32 hex digits.
pub fn new_salt() -> String {
    use std::hash::{BuildHasher, Hasher};
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let word = |i: u8| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(i);
        h.write_u128(now);
        h.write_u32(std::process::id());
        h.finish()
    };
    format!("{:016x}{:016x}", word(0), word(1))
}

/// One service's variables, where a platform keeps them.
#[derive(Debug, Clone)]
pub struct Found<P> {
    /// The platform's id of the service.
    pub id: String,
    pub vars: BTreeMap<String, String>,
    /// Where the service is, as the platform's calls need it (a project and environment).
    pub place: P,
}

/// The platform calls a [`PaasStore`] needs. None of them deploys.
#[async_trait::async_trait]
pub trait ServiceVars: Send + Sync {
    /// What the platform's calls need besides the service's id.
    type Place: Send + Sync;
    /// `Railway`, `Render`: for messages.
    fn platform(&self) -> &'static str;
    /// This app and stage's service and its variables, `None` when it does not exist
    /// yet; a same-named service that is not aideploy's is refused.
    async fn find(&self) -> Result<Option<Found<Self::Place>>>;
    /// Adds or updates these variables of the service, leaving the others alone.
    async fn write(&self, service: &Found<Self::Place>, vars: &BTreeMap<String, String>) -> Result<()>;
    /// Removes the variable `name` of the service.
    async fn remove(&self, service: &Found<Self::Place>, name: &str) -> Result<()>;
}

/// A service's variables as a [`SecretStore`] for one app, stage and target.
pub struct PaasStore<S> {
    pub vars: S,
    /// The manifest's `[secrets]` names: the variables that are secrets.
    pub names: Vec<String>,
    pub service: String,
    pub stage: String,
    pub target: String,
    pub removal: &'static str,
}

impl<S: ServiceVars> PaasStore<S> {
    pub fn new(cx: &Cx, vars: S, removal: &'static str) -> PaasStore<S> {
        PaasStore {
            vars,
            names: cx.loaded.manifest.secrets.keys().map(|k| k.get().clone()).collect(),
            service: cx.resource_base(),
            stage: cx.stage.to_string(),
            target: cx.target.name.clone(),
            removal,
        }
    }

    fn about(&self, found: &Found<S::Place>, name: &str, value: &str) -> StoredSecret {
        StoredSecret {
            id: format!("{}/{name}", found.id),
            last_changed: None,
            version: found.vars.get(SALT_VAR).map(|salt| fingerprint(salt, name, value)),
        }
    }

    fn not_deployed(&self, name: &str) -> anyhow::Error {
        let platform = self.vars.platform();
        UsageError::new(format!("{platform} service {} does not exist yet: its variables are where `{name}` is kept", self.service))
            .hint(format!(
                "deploy first (`aideploy deploy --target {}`, with ${name} or `{name}=...` in .env for that deploy), then set it here",
                self.target
            ))
            .into()
    }
}

#[async_trait::async_trait]
impl<S: ServiceVars> SecretStore for PaasStore<S> {
    fn location(&self, name: &str) -> String {
        format!("variable {name} of {} service {}", self.vars.platform(), self.service)
    }
    fn removal_note(&self) -> &'static str {
        self.removal
    }
    async fn list(&self) -> Result<BTreeMap<String, StoredSecret>> {
        let Some(found) = self.vars.find().await? else { return Ok(BTreeMap::new()) };
        Ok(self.names.iter().filter_map(|n| found.vars.get(n).map(|v| (n.clone(), self.about(&found, n, v)))).collect())
    }
    async fn put(&self, name: &str, value: &SecretValue) -> Result<(PutOutcome, StoredSecret)> {
        let Some(mut found) = self.vars.find().await? else { return Err(self.not_deployed(name)) };
        let op = match found.vars.get(name) {
            Some(old) if old == value.expose() => return Ok((PutOutcome::Unchanged, self.about(&found, name, value.expose()))),
            Some(_) => PutOutcome::Updated,
            None => PutOutcome::Created,
        };
        let mut write = BTreeMap::from([(name.to_string(), value.expose().to_string())]);
        if !found.vars.contains_key(SALT_VAR) {
            write.insert(SALT_VAR.to_string(), new_salt());
        }
        self.vars.write(&found, &write).await.map_err(|e| redacted(e, value))?;
        found.vars.extend(write);
        Ok((op, self.about(&found, name, value.expose())))
    }
    async fn delete(&self, name: &str) -> Result<bool> {
        let Some(found) = self.vars.find().await? else { return Ok(false) };
        if !found.vars.contains_key(name) {
            return Ok(false);
        }
        self.vars.remove(&found, name).await?;
        Ok(true)
    }
    async fn get(&self, name: &str) -> Result<Option<(SecretValue, StoredSecret)>> {
        let Some(found) = self.vars.find().await? else { return Ok(None) };
        let Some(value) = found.vars.get(name).filter(|_| self.names.iter().any(|n| n == name)) else { return Ok(None) };
        crate::secrets::redact::remember(value);
        Ok(Some((SecretValue::new(value.clone()), self.about(&found, name, value))))
    }
}

/// An error of a write, with the value taken out should the platform echo it.
fn redacted(e: anyhow::Error, value: &SecretValue) -> anyhow::Error {
    let text = format!("{e:#}");
    let needles = crate::secrets::redact::forms(value.expose());
    let clean = crate::secrets::redact::apply(&needles, &text);
    if clean == text {
        e
    } else {
        anyhow::anyhow!(clean)
    }
}

/// Refuses, before any change, a deploy in which a required secret has no value here
/// (`$VAR`, `.env`) and none is stored in the service's variables (`current`; `None`:
/// no service yet). Only a deploy (or plan) looks: it is the run that marks the secrets
/// it looked for and did not find as `absent`.
pub fn check_required(cx: &Cx, platform: &str, current: Option<&BTreeMap<String, String>>) -> Result<()> {
    for (name, spec) in &cx.loaded.manifest.secrets {
        let (name, spec) = (name.get(), spec.get());
        if spec.optional || !cx.secrets.absent.contains(name) || current.is_some_and(|v| v.contains_key(name)) {
            continue;
        }
        let var = spec.env.as_ref().map(|e| e.get().clone()).unwrap_or_else(|| name.clone());
        return Err(UsageError::new(format!("secret `{name}` has no value here and none is stored in the {platform} service's variables"))
            .hint(format!(
                "set ${var} (or `{var}=...` in .env) for this deploy, or store it once: aideploy secrets set {name} --target {}",
                cx.target.name
            ))
            .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_change_with_the_value_and_the_salt_and_show_neither() {
        let f = fingerprint("salt-1", "API_KEY", "sk-value-1");
        assert_eq!(f.len(), 12);
        assert_eq!(f, fingerprint("salt-1", "API_KEY", "sk-value-1"), "stable");
        assert_ne!(f, fingerprint("salt-1", "API_KEY", "sk-value-2"));
        assert_ne!(f, fingerprint("salt-2", "API_KEY", "sk-value-1"));
        assert_ne!(f, fingerprint("salt-1", "OTHER_KEY", "sk-value-1"));
        // The name and value run together differently: no collision by concatenation.
        assert_ne!(fingerprint("s", "AB", "C"), fingerprint("s", "A", "BC"));
        assert!(!f.contains("sk-value"));
    }

    #[test]
    fn salts_are_long_and_new_each_time() {
        let (a, b) = (new_salt(), new_salt());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    const MANIFEST: &str = "version = 1\n[app]\nname = \"rag\"\nruntime = \"python3.11\"\nasgi = \"app.main:app\"\nport = 8000\n\
        [secrets]\nAPI_KEY = { env = \"MY_KEY\" }\nMAYBE = { optional = true }\n[targets.railway]\n";

    #[test]
    fn a_required_secret_in_neither_place_is_refused() {
        let mut cx = crate::backends::paas::testing::cx(MANIFEST, "railway");
        cx.secrets.absent = vec!["API_KEY".into(), "MAYBE".into()];
        let e = check_required(&cx, "Railway", None).expect_err("refused");
        let f = crate::error::Failure::of(&e).and_then(crate::error::Failure::as_usage).expect("a usage error");
        let hint = f.hint.clone().unwrap_or_default();
        assert!(f.message.contains("`API_KEY`") && f.message.contains("Railway"), "{}", f.message);
        assert!(hint.contains("$MY_KEY") && hint.contains("aideploy secrets set API_KEY --target railway"), "{hint}");
        // Stored: the deploy keeps the stored value. The optional one may be missing.
        let stored = BTreeMap::from([("API_KEY".to_string(), "v".to_string())]);
        assert!(check_required(&cx, "Railway", Some(&stored)).is_ok());
        // Not looked for (status, destroy): nothing to say.
        cx.secrets.absent.clear();
        assert!(check_required(&cx, "Railway", None).is_ok());
    }
}
