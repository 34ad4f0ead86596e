//! Where secret values come from (the local environment, `.env`, a prompt) and how they
//! are kept out of output: values live only in `SecretValue`, whose Debug is redacted.

pub mod aws;
pub mod redact;

use std::collections::BTreeMap;
use std::fmt;

use anyhow::Result;
use sha2::{Digest, Sha256};

use crate::error::UsageError;
use crate::manifest::Loaded;
use crate::ui::Ui;

#[derive(Clone)]
pub struct SecretValue(String);

/// A secret as a store lists it: never its value.
#[derive(Debug, Clone)]
pub struct StoredSecret {
    /// The store's id for it (an ARN, a resource name).
    pub id: String,
    /// Seconds since the epoch.
    pub last_changed: Option<i64>,
    /// The store's id of the current value (a version number or id): it changes with
    /// every new value. `None` when the store keeps no versions.
    pub version: Option<String>,
}

/// What `put` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    Updated,
    Unchanged,
}

impl PutOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            PutOutcome::Created => "created",
            PutOutcome::Updated => "updated",
            PutOutcome::Unchanged => "unchanged",
        }
    }
}

/// A target's own secret store, for this app and stage (`aideploy secrets`).
#[async_trait::async_trait]
pub trait SecretStore: Send + Sync {
    /// The store's name for the secret `name` (shown to people; never a value).
    fn location(&self, name: &str) -> String;
    /// What a removed secret leaves behind, for people ("recoverable for 7 days").
    fn removal_note(&self) -> &'static str;
    /// Every stored secret of this app and stage, by the manifest's name.
    async fn list(&self) -> Result<BTreeMap<String, StoredSecret>>;
    /// Stores `value` as the current one; a new version only when it differs.
    async fn put(&self, name: &str, value: &SecretValue) -> Result<(PutOutcome, StoredSecret)>;
    /// Removes the secret `name`; false when there was none.
    async fn delete(&self, name: &str) -> Result<bool>;
    /// The current value of `name` and what the store says of it; `None` when nothing
    /// is stored under that name. Only `secrets get` asks for it.
    async fn get(&self, name: &str) -> Result<Option<(SecretValue, StoredSecret)>>;
}

impl SecretValue {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// Name -> value, for the secrets that have one.
    pub values: BTreeMap<String, SecretValue>,
    /// Optional secrets with no value this time.
    pub absent: Vec<String>,
}

/// The `.env` file's variables, none when there is no file.
fn read_dotenv(path: &std::path::Path) -> Result<BTreeMap<String, String>> {
    let mut dotenv = BTreeMap::new();
    if path.is_file() {
        for item in dotenvy::from_path_iter(path).map_err(|e| UsageError::new(format!("cannot read {}: {e}", path.display())))? {
            let (k, v) = item.map_err(|e| {
                UsageError::new(format!("{} is not a valid .env file: {e}", path.display()))
                    .hint("each line is KEY=value; quote values with spaces")
            })?;
            dotenv.insert(k, v);
        }
    }
    Ok(dotenv)
}

/// A value read the way secret values are (`$VAR`, then `.env` next to the manifest),
/// without a prompt; empty counts as unset. Remembered for redaction.
pub fn read_var(loaded: &Loaded, var: &str) -> Result<Option<SecretValue>> {
    let value = match std::env::var(var).ok().filter(|v| !v.is_empty()) {
        Some(v) => Some(v),
        None => read_dotenv(&loaded.dir.join(".env"))?.remove(var).filter(|v| !v.is_empty()),
    };
    Ok(value.map(|v| {
        redact::remember(&v);
        SecretValue(v)
    }))
}

impl Secrets {
    /// Resolves every `[secrets]` entry: `$VAR` (the secret's `env`, else its name),
    /// then `.env` next to the manifest, then a hidden prompt at a terminal.
    pub fn resolve(loaded: &Loaded, ui: &Ui) -> Result<Secrets> {
        Secrets::resolve_with(loaded, ui, false)
    }

    fn resolve_with(loaded: &Loaded, ui: &Ui, all_optional: bool) -> Result<Secrets> {
        let m = &loaded.manifest;
        if m.secrets.is_empty() {
            return Ok(Secrets::default());
        }
        let dotenv_path = loaded.dir.join(".env");
        let dotenv = read_dotenv(&dotenv_path)?;
        let mut out = Secrets::default();
        for (name, spec) in &m.secrets {
            let name = name.get().clone();
            let spec = spec.get();
            let optional = spec.optional || all_optional;
            let var = spec.env.as_ref().map(|e| e.get().clone()).unwrap_or_else(|| name.clone());
            let value = std::env::var(&var).ok().filter(|v| !v.is_empty()).or_else(|| dotenv.get(&var).cloned().filter(|v| !v.is_empty()));
            let value = match value {
                Some(v) => Some(v),
                None if optional => None,
                None => ui.ask_secret(&format!("Value for secret {name} (not echoed)"))?.filter(|v| !v.is_empty()),
            };
            match value {
                Some(v) => {
                    redact::remember(&v);
                    out.values.insert(name, SecretValue(v));
                }
                None if optional => out.absent.push(name),
                None => {
                    return Err(UsageError::new(format!("secret `{name}` has no value"))
                        .hint(format!(
                            "set ${var}, add `{var}=...` to {}, or mark it `{name} = {{ optional = true }}` in [secrets]",
                            dotenv_path.display()
                        ))
                        .into())
                }
            }
        }
        Ok(out)
    }

    /// The values that can be had without asking: environment and `.env` only.
    pub fn available(loaded: &Loaded) -> Secrets {
        let nobody =
            Ui { json: false, quiet: 1, verbose: 0, progress: false, interactive: false, yes: false, lock_timeout: Default::default() };
        Secrets::resolve_with(loaded, &nobody, true).unwrap_or_default()
    }

    /// A salted digest of the values, to notice a change without storing them.
    pub fn digest(&self, salt: &str) -> String {
        let mut h = Sha256::new();
        h.update(salt.as_bytes());
        for (k, v) in &self.values {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.0.as_bytes());
            h.update([0]);
        }
        hex::encode(h.finalize())
    }

    /// Replaces every secret value in `text` with `***`, and its base64 and URL-encoded
    /// forms (`redact::forms`).
    pub fn redact(&self, text: &str) -> String {
        let mut needles: Vec<String> = self.values.values().flat_map(|v| redact::forms(&v.0)).collect();
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        redact::apply(&needles, text)
    }

    /// The secrets whose values are too short to be secret, or to be redacted safely
    /// (fewer than `redact::MIN_SAFE_LEN` characters).
    pub fn short(&self) -> Vec<&str> {
        self.values.iter().filter(|(_, v)| v.0.chars().count() < redact::MIN_SAFE_LEN).map(|(k, _)| k.as_str()).collect()
    }

    /// The warning deploy prints for `short()` secrets, if any.
    pub fn short_warning(&self) -> Option<String> {
        let short = self.short();
        if short.is_empty() {
            return None;
        }
        let names = short.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        Some(format!(
            "secret {names} {} shorter than {} characters: too short to be a secret, and too short to be redacted safely \
             from output (only its exact text is hidden); use a longer, random value",
            if short.len() == 1 { "is" } else { "are" },
            redact::MIN_SAFE_LEN
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_and_hides_from_debug() {
        let mut s = Secrets::default();
        s.values.insert("K".into(), SecretValue("sk-verysecret".into()));
        assert_eq!(s.redact("key=sk-verysecret!"), "key=***!");
        assert!(!format!("{s:?}").contains("verysecret"));
        assert_ne!(s.digest("a"), s.digest("b"));
    }

    #[test]
    fn short_values_are_named_in_a_warning() {
        let mut s = Secrets::default();
        s.values.insert("LONG".into(), SecretValue("sk-verysecret".into()));
        assert_eq!(s.short_warning(), None);
        s.values.insert("PIN".into(), SecretValue("1234".into()));
        let w = s.short_warning().unwrap();
        assert!(w.contains("`PIN`") && !w.contains("LONG") && !w.contains("1234"), "{w}");
    }
}
