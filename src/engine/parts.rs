//! What a version is made of, part by part, so that a plan can say what changed
//! between the running version and the wanted one ("env changed", "code and
//! dependencies changed") on every target, rather than only that something did.
//!
//! One short digest per part: the app's code, its dependencies, the `[env]` values, the
//! secrets (their names and the references the target stores, never a value) and the
//! settings (how the app starts, the target's settings, how it is built). A target
//! records [`Parts::encode`] with the version it deploys, in a tag, label or variable of
//! its own (60 lowercase hex characters: within the limits of AWS and Azure tag values
//! and of Cloud Run label values), reads it back when it observes, and asks
//! [`Parts::changed`] for the text of its plan row. A version deployed before parts were
//! recorded has none: the target keeps its own wording then.

use sha2::{Digest, Sha256};

use super::{ArtifactInfo, Cx};

/// Hex characters kept of each part's digest.
pub const PART_LEN: usize = 12;

/// The parts, in the order plan rows name them.
const NAMES: [&str; 5] = ["code", "dependencies", "env", "secrets", "settings"];

/// What went into a build, as the builder saw it (neither is shown anywhere): the digest
/// of the app's code without the manifest file, and the key of its installed
/// dependencies. Empty when the builder does not know it: the code part then follows the
/// artifact's digest, and the dependencies part stays the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    pub code: String,
    pub dependencies: String,
}

/// One short digest per part of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    pub code: String,
    pub dependencies: String,
    pub env: String,
    pub secrets: String,
    pub settings: String,
}

fn short_digest(bytes: &[u8]) -> String {
    let hex = hex::encode(Sha256::digest(bytes));
    hex[..PART_LEN].to_string()
}

impl Parts {
    /// The version this run would deploy: the built artifact's inputs, the manifest's
    /// `[env]`, the names of the secrets it deploys, and every setting.
    pub fn wanted(cx: &Cx, artifact: &ArtifactInfo) -> Parts {
        Parts::wanted_with_refs(cx, artifact, &[])
    }

    /// As [`Parts::wanted`], with what the target stores for each secret (a reference, a
    /// version id), so that a new reference counts as a change of the secrets.
    pub fn wanted_with_refs(cx: &Cx, artifact: &ArtifactInfo, secret_refs: &[(String, String)]) -> Parts {
        Parts::of(cx, &artifact.digest, &artifact.inputs, secret_refs)
    }

    /// As [`Parts::wanted_with_refs`], from an artifact's digest and inputs.
    pub fn of(cx: &Cx, digest: &str, inputs: &Inputs, secret_refs: &[(String, String)]) -> Parts {
        // Without the builder's digest of the code, the artifact's stands for it.
        let code: &str = if inputs.code.is_empty() { digest } else { &inputs.code };
        let manifest = &cx.loaded.manifest;
        let app = manifest.app();
        let names: Vec<&String> = cx.secrets.values.keys().collect();
        let mut refs = secret_refs.to_vec();
        refs.sort();
        let settings = format!(
            "{:?}|{:?}|{:?}|{}|{}|{:?}|{:?}|{:?}|{:?}|{}|{:?}",
            app.runtime,
            app.asgi.as_ref().map(|a| a.get().to_string()),
            app.command.as_ref().map(|c| c.get().clone()),
            app.port.0,
            app.health,
            manifest.build.package.as_ref().map(|p| format!("{:?}", p.get())),
            manifest.build.base_image.as_ref().map(|b| b.get().to_string()),
            manifest.build.platform.as_ref().map(|p| format!("{:?}", p.get())),
            cx.target.kind,
            cx.target.name,
            cx.target.values,
        );
        Parts {
            code: short_digest(code.as_bytes()),
            dependencies: short_digest(inputs.dependencies.as_bytes()),
            env: short_digest(&serde_json::to_vec(&manifest.env_pairs()).unwrap_or_default()),
            secrets: short_digest(&serde_json::to_vec(&(names, refs)).unwrap_or_default()),
            settings: short_digest(settings.as_bytes()),
        }
    }

    fn fields(&self) -> [&str; 5] {
        [&self.code, &self.dependencies, &self.env, &self.secrets, &self.settings]
    }

    /// The parts as one value: 60 lowercase hex characters.
    pub fn encode(&self) -> String {
        self.fields().concat()
    }

    /// Reads back what [`Parts::encode`] wrote; `None` for anything else (a version
    /// deployed before parts were recorded, a value someone edited).
    pub fn decode(text: &str) -> Option<Parts> {
        let t = text.trim();
        if t.len() != PART_LEN * NAMES.len() || !t.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return None;
        }
        let part = |i: usize| t[i * PART_LEN..(i + 1) * PART_LEN].to_string();
        Some(Parts { code: part(0), dependencies: part(1), env: part(2), secrets: part(3), settings: part(4) })
    }

    /// What differs from `running` (as recorded with the deployed version), as a plan
    /// row says it: `env changed`, `code, dependencies changed`. `None` when nothing was
    /// recorded or no part differs: the caller keeps its own wording then.
    pub fn changed(running: Option<&Parts>, wanted: &Parts) -> Option<String> {
        changed_text(&Parts::differing(running, wanted)?)
    }

    /// The names of the parts that differ (`code`, `dependencies`, `env`, `secrets`,
    /// `settings`, in that order); `None` when nothing was recorded.
    pub fn differing(running: Option<&Parts>, wanted: &Parts) -> Option<Vec<&'static str>> {
        let running = running?;
        Some(NAMES.iter().zip(running.fields().iter().zip(wanted.fields())).filter(|(_, (a, b))| *a != b).map(|(n, _)| *n).collect())
    }

    /// As [`Parts::changed`], also naming the parts in `also` that the target knows
    /// changed by other means (a secret's new value under the same reference).
    pub fn changed_also(running: Option<&Parts>, wanted: &Parts, also: &[&str]) -> Option<String> {
        let differing = Parts::differing(running, wanted)?;
        let names: Vec<&str> = NAMES.iter().copied().filter(|n| differing.contains(n) || also.contains(n)).collect();
        changed_text(&names)
    }

    /// [`Parts::changed`], else `fallback` (what the target said before parts existed).
    pub fn reason(running: Option<&Parts>, wanted: &Parts, fallback: &str) -> String {
        Parts::changed(running, wanted).unwrap_or_else(|| fallback.to_string())
    }
}

/// Secret references by name, as [`Parts::of`] takes them: `None` (a value still to be
/// written, whose reference is not known yet) counts as a new one.
pub fn refs(map: &std::collections::BTreeMap<String, Option<String>>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone().unwrap_or_else(|| "new".into()))).collect()
}

/// `code, env changed` for the names given; `None` for none. Shared with targets that
/// compare more than the recorded parts (the local target also knows of a manifest-only
/// edit).
pub fn changed_text(names: &[&str]) -> Option<String> {
    (!names.is_empty()).then(|| format!("{} changed", names.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(seed: &str) -> Parts {
        let p = |n: &str| short_digest(format!("{seed}{n}").as_bytes());
        Parts { code: p("c"), dependencies: p("d"), env: p("e"), secrets: p("s"), settings: p("t") }
    }

    #[test]
    fn encode_round_trips_within_label_limits() {
        let a = parts("a");
        let text = a.encode();
        assert_eq!(text.len(), 60);
        assert!(text.len() <= 63 && text.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(Parts::decode(&text), Some(a));
    }

    #[test]
    fn decode_refuses_other_values() {
        assert_eq!(Parts::decode(""), None);
        assert_eq!(Parts::decode("sha256:0123"), None);
        assert_eq!(Parts::decode(&"A".repeat(60)), None);
        assert_eq!(Parts::decode(&"0".repeat(59)), None);
    }

    #[test]
    fn names_each_part_that_differs_in_order() {
        let a = parts("a");
        let b = parts("b");
        let only = |f: fn(&mut Parts, &Parts)| {
            let mut w = a.clone();
            f(&mut w, &b);
            Parts::changed(Some(&a), &w)
        };
        assert_eq!(only(|w, b| w.env = b.env.clone()).as_deref(), Some("env changed"));
        assert_eq!(only(|w, b| w.secrets = b.secrets.clone()).as_deref(), Some("secrets changed"));
        assert_eq!(only(|w, b| w.code = b.code.clone()).as_deref(), Some("code changed"));
        assert_eq!(only(|w, b| w.settings = b.settings.clone()).as_deref(), Some("settings changed"));
        assert_eq!(
            only(|w, b| {
                w.dependencies = b.dependencies.clone();
                w.code = b.code.clone();
            })
            .as_deref(),
            Some("code, dependencies changed")
        );
        assert_eq!(Parts::changed(Some(&a), &b).as_deref(), Some("code, dependencies, env, secrets, settings changed"));
    }

    #[test]
    fn what_a_target_knows_otherwise_is_named_in_order() {
        let a = parts("a");
        let mut w = a.clone();
        w.code = parts("b").code;
        assert_eq!(Parts::changed_also(Some(&a), &w, &["secrets"]).as_deref(), Some("code, secrets changed"));
        assert_eq!(Parts::changed_also(Some(&a), &a, &["secrets"]).as_deref(), Some("secrets changed"));
        assert_eq!(Parts::changed_also(None, &a, &["secrets"]), None);
    }

    #[test]
    fn nothing_recorded_or_nothing_different_keeps_the_fallback() {
        let a = parts("a");
        assert_eq!(Parts::changed(None, &a), None);
        assert_eq!(Parts::changed(Some(&a), &a), None);
        assert_eq!(Parts::reason(None, &a, "code changed"), "code changed");
        assert_eq!(Parts::reason(Some(&a), &a, "changed"), "changed");
    }
}
