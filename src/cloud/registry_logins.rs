//! Which login a registry gets, by who runs it: ECR from GetAuthorizationToken,
//! Artifact Registry / Container Registry from an ADC access token, ACR by exchanging an
//! Azure AD token; anything else (GHCR, Docker Hub, a private registry) from
//! `AIDEPLOY_REGISTRY_USERNAME`/`AIDEPLOY_REGISTRY_PASSWORD` or the Docker client's
//! stored logins and credential helpers. No login at all is fine for public images and
//! loopback registries: the registry client then goes anonymous.

use std::collections::HashMap;

use anyhow::Result;
use async_trait::async_trait;
use tokio::sync::Mutex;

use super::docker_config::DockerConfig;
use super::{aws, azure, gcp};
use crate::artifact::registry::{CredentialSource, Credentials};
use crate::envvars;

pub struct RegistryLogins {
    /// The registry images are pushed to: the only one `AIDEPLOY_REGISTRY_USERNAME` and
    /// `_PASSWORD` are sent to (never to the base image's registry).
    push_host: Option<String>,
    /// Logins already fetched this run, by registry host.
    fetched: Mutex<HashMap<String, Option<Credentials>>>,
}

impl RegistryLogins {
    pub fn new(push_host: Option<String>) -> RegistryLogins {
        RegistryLogins { push_host, fetched: Mutex::new(HashMap::new()) }
    }
}

/// `123456789012.dkr.ecr.eu-west-1.amazonaws.com` -> `eu-west-1`.
pub fn ecr_region(host: &str) -> Option<&str> {
    let rest = host.split_once(".dkr.ecr.")?.1;
    let region = rest.strip_suffix(".amazonaws.com").or_else(|| rest.strip_suffix(".amazonaws.com.cn"))?;
    (!region.is_empty() && !region.contains('.')).then_some(region)
}

async fn login_for(host: &str, push_host: Option<&str>) -> Result<Option<Credentials>> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if push_host == Some(host) {
        if let (Some(username), Some(password)) = (env(envvars::AIDEPLOY_REGISTRY_USERNAME), env(envvars::AIDEPLOY_REGISTRY_PASSWORD)) {
            return Ok(Some(Credentials { username, password }));
        }
    }
    if let Some(region) = ecr_region(host) {
        let config = aws::load(Some(region), aws::chosen_profile()).await?;
        return Ok(Some(aws::ecr_login(&config).await?.1));
    }
    if gcp::is_google_registry(host) {
        return Ok(Some(gcp::registry_login(gcp::access_token().await?)));
    }
    if azure::is_acr(host) {
        let credential = azure::credential()?;
        let tenant = env("AZURE_TENANT_ID");
        return Ok(Some(azure::acr_login(host, credential.as_ref(), tenant.as_deref()).await?));
    }
    DockerConfig::load_default()?.login_for(host)
}

#[async_trait]
impl CredentialSource for RegistryLogins {
    async fn credentials(&self, registry: &str) -> Result<Option<Credentials>> {
        let mut fetched = self.fetched.lock().await;
        if let Some(known) = fetched.get(registry) {
            return Ok(known.clone());
        }
        let login = login_for(registry, self.push_host.as_deref()).await?;
        fetched.insert(registry.to_string(), login.clone());
        Ok(login)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ecr_hosts() {
        assert_eq!(super::ecr_region("123456789012.dkr.ecr.eu-west-1.amazonaws.com"), Some("eu-west-1"));
        assert_eq!(super::ecr_region("ghcr.io"), None);
        assert_eq!(super::ecr_region("x.dkr.ecr..amazonaws.com"), None);
    }
}
