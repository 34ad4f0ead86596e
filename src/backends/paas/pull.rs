//! The login a platform outside the user's cloud (Railway, Render) pulls the image with:
//! only a credential the user configured for that purpose — the target's
//! `pull_username` + `pull_password_secret`, or `AIDEPLOY_PULL_USERNAME` +
//! `AIDEPLOY_PULL_PASSWORD` — and never the push login (a cloud token, the user's own
//! registry login). With none the platform pulls anonymously, so the image must be
//! public; a cloud registry (ECR, Artifact Registry / Container Registry, ACR) is then
//! refused before anything is built, since its only logins are cloud identities.

use std::fmt;

use anyhow::Result;
use sha2::{Digest, Sha256};

use crate::artifact::registry::Reference;
use crate::cloud::{azure, gcp, registry_logins::ecr_region};
use crate::engine::Cx;
use crate::envvars::{AIDEPLOY_PULL_PASSWORD, AIDEPLOY_PULL_USERNAME};
use crate::error::UsageError;
use crate::secrets::SecretValue;

/// The service variable (railway) that records which pull credential aideploy last set:
/// `none`, or the username and the credential's fingerprint. Never the password.
pub const PULL_VAR: &str = "AIDEPLOY_PULL_CREDENTIAL";

/// A configured pull login, for the registry `host`.
#[derive(Clone)]
pub struct PullLogin {
    pub host: String,
    pub username: String,
    password: SecretValue,
}

impl fmt::Debug for PullLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PullLogin").field("host", &self.host).field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

impl PullLogin {
    pub fn password(&self) -> &str {
        self.password.expose()
    }

    /// What a plan may know of it.
    pub fn facts(&self) -> PullFacts {
        PullFacts { username: self.username.clone(), fingerprint: fingerprint(&self.host, &self.username, self.password()) }
    }
}

/// The pull credential as plain data for plans: no password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullFacts {
    pub username: String,
    /// 12 hex digits of a SHA-256 of the registry, username and password: shows that
    /// the credential changed without keeping it.
    pub fingerprint: String,
}

impl PullFacts {
    /// The value of [`PULL_VAR`] for this credential.
    pub fn mark(&self) -> String {
        format!("{} {}", self.username, self.fingerprint)
    }

    #[cfg(test)]
    pub fn example(username: &str) -> PullFacts {
        PullFacts { username: username.into(), fingerprint: fingerprint("ghcr.io", username, "pw") }
    }
}

/// The value of [`PULL_VAR`] for `pull` (`none` without one).
pub fn mark(pull: Option<&PullFacts>) -> String {
    pull.map(PullFacts::mark).unwrap_or_else(|| "none".into())
}

pub fn fingerprint(host: &str, username: &str, password: &str) -> String {
    let mut h = Sha256::new();
    for part in ["aideploy pull credential", host, username, password] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..12].to_string()
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// How to give a pull credential, for hints.
pub fn how_to_configure(cx: &Cx) -> String {
    format!(
        "set `pull_username = \"...\"` and `pull_password_secret = \"VAR\"` in [targets.{}] (VAR holding the password in the environment or .env), or export {AIDEPLOY_PULL_USERNAME} and {AIDEPLOY_PULL_PASSWORD}",
        cx.target.name
    )
}

/// The configured pull login for the registry `host`, if any: the environment pair,
/// else the target's settings. A half-given credential is a usage error.
pub fn configured(cx: &Cx, host: &str) -> Result<Option<PullLogin>> {
    let login = |username: String, password: SecretValue| Some(PullLogin { host: host.to_string(), username, password });
    match (env(AIDEPLOY_PULL_USERNAME), env(AIDEPLOY_PULL_PASSWORD)) {
        (Some(u), Some(p)) => {
            crate::secrets::redact::remember(&p);
            return Ok(login(u, SecretValue::new(p)));
        }
        (Some(_), None) | (None, Some(_)) => {
            let (set, unset) = if env(AIDEPLOY_PULL_USERNAME).is_some() {
                (AIDEPLOY_PULL_USERNAME, AIDEPLOY_PULL_PASSWORD)
            } else {
                (AIDEPLOY_PULL_PASSWORD, AIDEPLOY_PULL_USERNAME)
            };
            return Err(UsageError::new(format!("{set} is set but {unset} is not: the pull credential needs both"))
                .hint(format!("set {unset} too, or unset {set}"))
                .into());
        }
        (None, None) => {}
    }
    let s = &cx.target.settings;
    let table = format!("[targets.{}]", cx.target.name);
    let (user, var) = match (&s.pull_username, &s.pull_password_secret) {
        (None, None) => return Ok(None),
        (Some(u), Some(v)) => (u.get().clone(), v.get().as_str().to_string()),
        (Some(_), None) => {
            return Err(UsageError::new(format!("`pull_username` in {table} has no `pull_password_secret`"))
                .hint("add `pull_password_secret = \"VAR\"`, naming the variable (environment or .env) that holds the password")
                .into())
        }
        (None, Some(_)) => {
            return Err(UsageError::new(format!("`pull_password_secret` in {table} has no `pull_username`"))
                .hint("add `pull_username = \"...\"`, the credential's username")
                .into())
        }
    };
    for (name, spec) in &cx.loaded.manifest.secrets {
        let read = spec.get().env.as_ref().map(|e| e.get().as_str()).unwrap_or(name.get().as_str());
        if read == var {
            return Err(UsageError::new(format!(
                "`pull_password_secret = \"{var}\"` is also read by the [secrets] entry `{}`: the app would receive the registry password",
                name.get()
            ))
            .hint("the pull password goes to the platform only: remove it from [secrets], or keep it in another variable")
            .into());
        }
    }
    match crate::secrets::read_var(&cx.loaded, &var)? {
        Some(password) => Ok(login(user, password)),
        None => Err(UsageError::new(format!("`pull_password_secret = \"{var}\"` in {table}: ${var} is not set"))
            .hint(format!("set ${var} in the environment, or add `{var}=...` to {}", cx.loaded.dir.join(".env").display()))
            .into()),
    }
}

/// A cloud's registry, by host: its name and how to make a read-only credential for
/// `platform` there.
fn cloud_registry(host: &str, platform: &str) -> Option<(&'static str, String)> {
    if ecr_region(host).is_some() {
        let how = if platform == "render" {
            "create an IAM user whose policy allows only ecr:GetAuthorizationToken (which names no repository) and \
             ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on this repository, and give its access key id as the username and its secret \
             access key as the password"
                .to_string()
        } else {
            format!(
                "ECR gives no lasting read-only password ({platform} would need a new one every 12 hours): push to a registry \
                 with read-only tokens instead, e.g. GHCR with a `read:packages` token, or Docker Hub with a read-only access token"
            )
        };
        return Some(("Amazon ECR", how));
    }
    if gcp::is_google_registry(host) {
        return Some((
            "Google Artifact Registry",
            "create a service account granted only Artifact Registry Reader (roles/artifactregistry.reader) on this \
             repository and a key for it; the username is `_json_key` and the password the key file's JSON"
                .into(),
        ));
    }
    if azure::is_acr(host) {
        let registry = host.split('.').next().unwrap_or("REGISTRY");
        return Some((
            "Azure Container Registry",
            format!(
                "create a repository-scoped token that can only read (content/read), e.g. `az acr token create --registry \
                 {registry} --name aideploy-pull --scope-map _repositories_pull`; the username is the token's name, the \
                 password one of its passwords"
            ),
        ));
    }
    None
}

/// Refuses a cloud registry that has no configured pull credential: the platform
/// would need a cloud identity, which aideploy never hands it. Makes no call.
pub fn check_cloud_registry(cx: &Cx, repo: &Reference, platform: &str, pull: Option<&PullLogin>) -> Result<()> {
    if pull.is_some() {
        return Ok(());
    }
    let Some((what, how)) = cloud_registry(&repo.registry, platform) else { return Ok(()) };
    Err(UsageError::new(format!(
        "{platform} would pull {} from {what}, and no pull credential is configured; aideploy never gives {platform} your cloud login",
        repo.name()
    ))
    .hint(format!("give {platform} a read-only credential: {how}; then {}", how_to_configure(cx)))
    .into())
}

/// The plan's line when no pull credential is configured.
pub fn anonymous_note(cx: &Cx, platform: &str, repo: &str) -> String {
    format!(
        "no pull credential is configured: {platform} pulls {repo} anonymously, so the image must be public; to give {platform} a read-only credential, {}",
        how_to_configure(cx)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "version = 1\n[app]\nname = \"rag\"\nruntime = \"python3.11\"\nasgi = \"app.main:app\"\nport = 8000\n\
        [secrets]\nOPENAI_API_KEY = {}\n[targets.render]\n";

    /// The usage error `configured` gives for these target settings (the tests run
    /// without AIDEPLOY_PULL_*), as `message | hint`.
    fn refusal(settings: &str) -> String {
        let cx = crate::engine::testing::cx(&format!("{MANIFEST}{settings}"), "render", &[]);
        let e = configured(&cx, "ghcr.io").expect_err("a refusal");
        let f = crate::error::Failure::of(&e).and_then(crate::error::Failure::as_usage).expect("a usage error");
        format!("{} | {}", f.message, f.hint.clone().unwrap_or_default())
    }

    #[test]
    fn a_half_given_or_misplaced_pull_credential_is_a_usage_error() {
        let cx = crate::engine::testing::cx(MANIFEST, "render", &[]);
        assert!(configured(&cx, "ghcr.io").unwrap().is_none(), "none configured: anonymous");
        let e = refusal("pull_username = \"reader\"\n");
        assert!(e.contains("has no `pull_password_secret`"), "{e}");
        let e = refusal("pull_password_secret = \"PULL_TOKEN\"\n");
        assert!(e.contains("has no `pull_username`"), "{e}");
        // Read by [secrets] too: the app would get it.
        let e = refusal("pull_username = \"reader\"\npull_password_secret = \"OPENAI_API_KEY\"\n");
        assert!(e.contains("[secrets] entry `OPENAI_API_KEY`") && e.contains("the app would receive"), "{e}");
        let e = refusal("pull_username = \"reader\"\npull_password_secret = \"AIDEPLOY_TEST_PULL_TOKEN_NEVER_SET\"\n");
        assert!(e.contains("$AIDEPLOY_TEST_PULL_TOKEN_NEVER_SET is not set") && e.contains(".env"), "{e}");
    }

    #[test]
    fn a_password_written_as_the_variable_name_is_refused_without_echoing_it() {
        let token = format!("ghp_{}", "a1B2".repeat(9));
        let text = format!("{MANIFEST}pull_username = \"reader\"\npull_password_secret = \"{token}\"\n");
        let e = crate::manifest::parse(&text, "aideploy.toml").expect_err("refused");
        // What is shown: the message, its help, and the file quoted around it.
        let d = &e.0[0];
        let shown = format!("{e} | {} | {:?} | {}", d.message, d.help, d.source_text);
        assert!(shown.contains("looks like a GitHub token, not the name of a variable"), "{shown}");
        assert!(!shown.contains(&token), "{shown}");
        let text = format!("{MANIFEST}pull_password_secret = \"not a name\"\n");
        let e = crate::manifest::parse(&text, "aideploy.toml").expect_err("refused");
        assert!(e.0[0].message.contains("not the name of an environment variable"), "{}", e.0[0].message);
    }

    #[test]
    fn cloud_registries_are_known_and_others_are_not() {
        for host in ["123456789012.dkr.ecr.us-east-1.amazonaws.com", "europe-docker.pkg.dev", "gcr.io", "acme.azurecr.io"] {
            assert!(cloud_registry(host, "render").is_some(), "{host}");
        }
        for host in ["ghcr.io", "docker.io", "127.0.0.1:5000", "registry.gitlab.com"] {
            assert!(cloud_registry(host, "render").is_none(), "{host}");
        }
        assert!(cloud_registry("acme.azurecr.io", "railway").unwrap().1.contains("--registry acme"));
        assert!(cloud_registry("1.dkr.ecr.eu-west-1.amazonaws.com", "railway").unwrap().1.contains("read:packages"));
    }

    #[test]
    fn fingerprints_change_with_each_part_and_hide_the_password() {
        let f = fingerprint("ghcr.io", "u", "secret-password");
        assert_eq!(f.len(), 12);
        assert_ne!(f, fingerprint("ghcr.io", "u", "secret-passwore"));
        assert_ne!(f, fingerprint("docker.io", "u", "secret-password"));
        assert_ne!(f, fingerprint("ghcr.io", "v", "secret-password"));
        let login = PullLogin { host: "ghcr.io".into(), username: "u".into(), password: SecretValue::new("secret-password".into()) };
        assert!(!format!("{login:?}").contains("secret-password"));
        assert_eq!(mark(Some(&login.facts())), format!("u {f}"));
        assert_eq!(mark(None), "none");
    }
}
