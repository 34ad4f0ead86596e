//! The names and ARM paths of everything the target makes, derived from app, stage,
//! subscription and group, so they are the same on every machine.
//!
//! Names that must be unique across Azure (site, registry, vault) carry a short hash of
//! the subscription and group, so they differ between subscriptions. When a length
//! limit forces a cut, the cut part keeps a prefix and gains a short hash of the whole,
//! so two long names never end up the same.

use sha2::{Digest, Sha256};

use crate::engine::Cx;

pub const SLOT: &str = "staging";

/// Built-in role definitions (the same id in every tenant).
pub const ROLE_ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
pub const ROLE_KV_SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";

/// Lowercase hex of sha256(parts joined by '/').
pub fn hash(parts: &[&str]) -> String {
    hex::encode(Sha256::digest(parts.join("/").as_bytes()))
}

/// `s` when it has at most `max` characters; else its first characters, `sep` and six
/// hex digits of its hash, `max` characters in all.
pub fn fit(s: &str, max: usize, sep: &str) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let keep = max - 6 - sep.len();
    format!("{}{sep}{}", s[..keep].trim_end_matches('-'), &hash(&[s])[..6])
}

/// The names of everything, derived from app, stage, subscription and group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Names {
    pub sub: String,
    pub group: String,
    /// `resource_group` was named in the target (a group the user may own).
    pub group_named: bool,
    pub plan: String,
    pub site: String,
    pub acr: String,
    pub vault: String,
}

impl Names {
    pub fn derive(cx: &Cx, sub: &str) -> Names {
        let base = cx.resource_base();
        let named = cx.target.settings.resource_group.as_ref().map(|g| g.get().clone());
        let group_named = named.is_some();
        let mut n = Names::from_parts(&base, named.unwrap_or_else(|| format!("aideploy-{base}")), sub);
        n.group_named = group_named;
        n
    }

    /// `base` is `{app}-{stage}`: starts with a letter, `[a-z0-9-]` (the manifest's rules).
    pub fn from_parts(base: &str, group: String, sub: &str) -> Names {
        let h = &hash(&[&sub.to_ascii_lowercase(), &group.to_ascii_lowercase()])[..6];
        // Sites: 2-60 of [a-z0-9-], no leading/trailing hyphen; global (its host name).
        let site = format!("{}-{h}", fit(base, 60 - 7, "-").trim_matches('-'));
        // Registries: 5-50 alphanumerics; global (its login server).
        let alnum: String = base.chars().filter(char::is_ascii_alphanumeric).collect();
        let acr = format!("{}{h}", fit(&alnum, 50 - 6, ""));
        // Vaults: 3-24 of [a-z0-9-], starting with a letter, no "--"; global (its URI).
        let mut collapsed = String::new();
        for c in base.chars() {
            if !(c == '-' && collapsed.ends_with('-')) {
                collapsed.push(c);
            }
        }
        let vault = format!("{}-{h}", fit(&collapsed, 24 - 7, "-").trim_matches('-'));
        // Plans: unique in their group only.
        let plan = fit(base, 40, "-").trim_matches('-').to_string();
        Names { sub: sub.into(), plan, group, group_named: false, site, acr, vault }
    }
    pub fn group_path(&self) -> String {
        format!("/subscriptions/{}/resourceGroups/{}", self.sub, self.group)
    }
    pub fn plan_path(&self) -> String {
        format!("{}/providers/Microsoft.Web/serverfarms/{}", self.group_path(), self.plan)
    }
    pub fn site_path(&self) -> String {
        format!("{}/providers/Microsoft.Web/sites/{}", self.group_path(), self.site)
    }
    pub fn slot_path(&self) -> String {
        format!("{}/slots/{SLOT}", self.site_path())
    }
    pub fn acr_path(&self) -> String {
        format!("{}/providers/Microsoft.ContainerRegistry/registries/{}", self.group_path(), self.acr)
    }
    pub fn vault_path(&self) -> String {
        format!("{}/providers/Microsoft.KeyVault/vaults/{}", self.group_path(), self.vault)
    }
    pub fn secret_path(&self, kv: &str) -> String {
        format!("{}/secrets/{kv}", self.vault_path())
    }
    pub fn role_definition(&self, role: &str) -> String {
        format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{role}", self.sub)
    }
    /// The vault while it is soft-deleted (deleted, still holding its name).
    pub fn deleted_vault_path(&self, location: &str) -> String {
        format!("/subscriptions/{}/providers/Microsoft.KeyVault/locations/{}/deletedVaults/{}", self.sub, enc(location), self.vault)
    }
    pub fn purge_path(&self, location: &str) -> String {
        format!("{}/purge", self.deleted_vault_path(location))
    }
}

/// A Key Vault secret name for an env var name (`OPENAI_API_KEY` -> `OPENAI-API-KEY`).
pub fn kv_name(var: &str) -> String {
    var.replace('_', "-")
}

/// A deterministic role assignment name (a GUID) for principal x role x scope, so a
/// re-run finds the one it made instead of making a duplicate.
pub fn assignment_path(scope: &str, role: &str, principal: &str) -> String {
    let h = hash(&[&scope.to_ascii_lowercase(), role, principal]);
    let guid = format!("{}-{}-5{}-8{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32]);
    format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}")
}

/// A salted hash of a secret's value, kept as a tag so an unchanged value is not
/// written again (ARM never returns secret values).
pub fn value_hash(n: &Names, name: &str, value: &str) -> String {
    hash(&["aideploy-kv", &n.vault, name, value])
}

/// Percent-encodes a path segment or query value.
pub fn enc(s: &str) -> String {
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

/// The first 12 hex digits of a digest.
pub fn short(d: &str) -> &str {
    let d = d.trim_start_matches("sha256:");
    &d[..12.min(d.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert!(n.plan.len() <= 40 && !n.plan.ends_with('-'), "{}", n.plan);
        }
        let a = Names::from_parts("rag-dev", "g".into(), "sub-1");
        assert_eq!(a.site, Names::from_parts("rag-dev", "G".into(), "SUB-1").site, "same inputs, same names");
        assert_ne!(a.site, Names::from_parts("rag-dev", "g".into(), "sub-2").site, "another subscription, another name");
        // Short names are not cut, and keep the names deploys made before.
        assert_eq!(a.vault, format!("rag-dev-{}", &hash(&["sub-1", "g"])[..6]));
        assert_eq!(a.acr, format!("ragdev{}", &hash(&["sub-1", "g"])[..6]));
    }

    #[test]
    fn cut_names_never_collide() {
        // Two apps in one group whose names differ only after the cut.
        let a = Names::from_parts("customer-support-assistant-dev", "shared".into(), "s");
        let b = Names::from_parts("customer-support-assistant-prod", "shared".into(), "s");
        assert_ne!(a.vault, b.vault, "vaults: {} {}", a.vault, b.vault);
        assert!(a.vault.len() <= 24 && b.vault.len() <= 24);
        let long = "x".repeat(45);
        let a = Names::from_parts(&format!("{long}-one-dev"), "shared".into(), "s");
        let b = Names::from_parts(&format!("{long}-two-dev"), "shared".into(), "s");
        assert_ne!(a.acr, b.acr);
        assert_ne!(a.plan, b.plan);
        assert!(a.acr.len() <= 50 && a.plan.len() <= 40);
        assert_eq!(fit("abc", 10, "-"), "abc");
        assert_eq!(fit("abcdefghijklmnop", 10, "-").len(), 10);
    }

    #[test]
    fn key_vault_secret_names() {
        assert_eq!(kv_name("OPENAI_API_KEY"), "OPENAI-API-KEY");
    }
}
