//! Registry logins from the standard Docker client configuration
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`): inline `auths`, and
//! credential helpers (`credHelpers` per registry, `credsStore` for all) spoken to with
//! the helper protocol (`docker-credential-NAME get`, the server on stdin, JSON out).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use base64::Engine;
use serde::Deserialize;

use crate::artifact::registry::Credentials;
use crate::error::Hinted;

#[derive(Debug, Default, Deserialize)]
pub struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(rename = "credHelpers", default)]
    cred_helpers: HashMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

const DOCKER_HUB_KEYS: &[&str] = &["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"];

impl DockerConfig {
    /// The user's configuration; an absent file is an empty one.
    pub fn load_default() -> Result<DockerConfig> {
        let dir = std::env::var_os("DOCKER_CONFIG").map(PathBuf::from).or_else(|| dirs::home_dir().map(|h| h.join(".docker")));
        match dir {
            Some(d) => DockerConfig::load(&d.join("config.json")),
            None => Ok(DockerConfig::default()),
        }
    }

    pub fn load(path: &Path) -> Result<DockerConfig> {
        match fs_err::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Hinted::new(format!("{} is not valid JSON: {e}", path.display()), "fix the file, or move it away to use no stored logins")
                    .into()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerConfig::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// The login stored for `registry` (`host[:port]`), if any.
    pub fn login_for(&self, registry: &str) -> Result<Option<Credentials>> {
        let keys = candidate_keys(registry);
        if let Some(helper) = keys.iter().find_map(|k| self.cred_helpers.get(k)) {
            return run_helper(helper, registry);
        }
        for key in &keys {
            if let Some(entry) = self.auths.get(key) {
                if let Some(login) =
                    decode(entry).with_context(|| format!("the stored login for {registry} in the Docker config is malformed"))?
                {
                    return Ok(Some(login));
                }
            }
        }
        if let Some(store) = &self.creds_store {
            return run_helper(store, registry);
        }
        Ok(None)
    }
}

fn candidate_keys(registry: &str) -> Vec<String> {
    let mut keys = vec![
        registry.to_string(),
        format!("https://{registry}"),
        format!("http://{registry}"),
        format!("https://{registry}/v1/"),
        format!("https://{registry}/v2/"),
    ];
    if DOCKER_HUB_KEYS.contains(&registry) {
        keys.extend(DOCKER_HUB_KEYS.iter().map(|s| s.to_string()));
    }
    keys
}

fn decode(entry: &AuthEntry) -> Result<Option<Credentials>> {
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials { username: u.clone(), password: p.clone() }));
    }
    let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) else { return Ok(None) };
    let raw = base64::engine::general_purpose::STANDARD.decode(auth.trim()).context("`auth` is not base64")?;
    let text = String::from_utf8(raw).context("`auth` is not UTF-8")?;
    let (u, p) = text.split_once(':').context("`auth` is not user:password")?;
    Ok(Some(Credentials { username: u.to_string(), password: p.to_string() }))
}

fn run_helper(name: &str, registry: &str) -> Result<Option<Credentials>> {
    let program = format!("docker-credential-{name}");
    let mut child = match Command::new(&program).arg("get").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Hinted::new(
                format!("the Docker config names the credential helper `{name}`, but {program} is not on PATH"),
                format!("install {program}, or remove it from ~/.docker/config.json"),
            )
            .into())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot run {program}")),
    };
    child.stdin.take().expect("piped").write_all(registry.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        // The protocol's answer for "no login stored for this server".
        if stdout.contains("credentials not found") || stderr.contains("credentials not found") {
            return Ok(None);
        }
        return Err(Hinted::new(
            format!("{program} failed for {registry}: {}", stderr.trim()),
            format!("log in again (e.g. `docker login {registry}`)"),
        )
        .into());
    }
    let answer: HelperAnswer =
        serde_json::from_slice(&out.stdout).with_context(|| format!("{program} answered something that is not its JSON"))?;
    Ok(Some(Credentials { username: answer.username, password: answer.secret }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> DockerConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn inline_auths_by_host_or_url() {
        let c = config(r#"{"auths":{"https://ghcr.io":{"auth":"dXNlcjpzM2NyZXQ="},"index.docker.io":{"username":"u","password":"p"}}}"#);
        assert_eq!(c.login_for("ghcr.io").unwrap(), Some(Credentials { username: "user".into(), password: "s3cret".into() }));
        assert_eq!(c.login_for("docker.io").unwrap().unwrap().username, "u");
        assert_eq!(c.login_for("quay.io").unwrap(), None);
    }

    #[test]
    fn malformed_auth_is_an_error_not_a_panic() {
        let c = config(r#"{"auths":{"ghcr.io":{"auth":"%%%"}}}"#);
        assert!(c.login_for("ghcr.io").is_err());
    }

    #[test]
    fn missing_helper_names_the_program() {
        let c = config(r#"{"credHelpers":{"ghcr.io":"aideploy-test-absent"}}"#);
        let e = c.login_for("ghcr.io").unwrap_err().to_string();
        assert!(e.contains("docker-credential-aideploy-test-absent"), "{e}");
    }
}
