//! Azure credentials through the official identity stack (azure_identity/azure_core),
//! and the Azure Container Registry login exchanged from an Azure AD token.

use std::sync::Arc;

use anyhow::Result;
use azure_core::credentials::TokenCredential;
use serde::Deserialize;

use super::is_loopback_host;
use crate::artifact::registry::Credentials;
use crate::error::Hinted;

/// The scope of the Azure AD token ACR's exchange accepts (an ARM token).
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// ACR's fixed user name for logins with an exchanged refresh token.
pub const ACR_USER: &str = "00000000-0000-0000-0000-000000000000";

pub const FIX: &str = "run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal (in CI: AZURE_FEDERATED_TOKEN_FILE for workload identity; on Azure: a managed identity)";

/// The credential to use, in the order DefaultAzureCredential documents: a service
/// principal from the environment (AZURE_CLIENT_SECRET), workload identity federation
/// (AZURE_FEDERATED_TOKEN_FILE, as CI systems and AKS set it), a managed identity where
/// the platform announces one (IDENTITY_ENDPOINT / MSI_ENDPOINT), then the developer
/// tools (Azure CLI, azd), then the instance metadata service of an Azure VM.
pub fn credential() -> Result<Arc<dyn TokenCredential>> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(tenant), Some(client), Some(secret)) = (env("AZURE_TENANT_ID"), env("AZURE_CLIENT_ID"), env("AZURE_CLIENT_SECRET")) {
        let c = azure_identity::ClientSecretCredential::new(&tenant, client, secret.into(), None)
            .map_err(|e| Hinted::new(format!("the Azure service principal in the environment is unusable: {e}"), FIX))?;
        return Ok(c);
    }
    if env("AZURE_FEDERATED_TOKEN_FILE").is_some() {
        let c = azure_identity::WorkloadIdentityCredential::new(None)
            .map_err(|e| Hinted::new(format!("the workload identity in the environment is unusable: {e}"), FIX))?;
        return Ok(c);
    }
    if env("IDENTITY_ENDPOINT").is_some() || env("MSI_ENDPOINT").is_some() {
        let c = azure_identity::ManagedIdentityCredential::new(None)
            .map_err(|e| Hinted::new(format!("the managed identity is unusable: {e}"), FIX))?;
        return Ok(c);
    }
    let tools = azure_identity::DeveloperToolsCredential::new(None).map_err(|e| Hinted::new(format!("no Azure credentials: {e}"), FIX))?;
    let mut chain: Vec<Arc<dyn TokenCredential>> = vec![tools];
    if let Ok(imds) = azure_identity::ManagedIdentityCredential::new(None) {
        chain.push(imds);
    }
    Ok(Arc::new(Chain(chain)))
}

/// Tries each credential in turn; the first token wins.
#[derive(Debug)]
struct Chain(Vec<Arc<dyn TokenCredential>>);

#[async_trait::async_trait]
impl TokenCredential for Chain {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        let mut errors = Vec::new();
        for (i, c) in self.0.iter().enumerate() {
            // After the developer tools comes the metadata service of an Azure VM, which
            // answers at once there; elsewhere nothing answers, so it is not waited on.
            let got = if i == 0 {
                c.get_token(scopes, options.clone()).await
            } else {
                match tokio::time::timeout(super::login::QUICK, c.get_token(scopes, options.clone())).await {
                    Ok(got) => got,
                    Err(_) => Err(azure_core::Error::with_message(
                        azure_core::error::ErrorKind::Credential,
                        "the managed identity endpoint of an Azure VM did not answer (this is not an Azure VM)",
                    )),
                }
            };
            match got {
                Ok(t) => return Ok(t),
                Err(e) => errors.push(e.to_string()),
            }
        }
        Err(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Credential,
            format!("no credential in the chain worked: {}", errors.join("; ")),
        ))
    }
}

/// The subscription to use: `subscription` in the target, else AZURE_SUBSCRIPTION_ID,
/// else the Azure CLI's default (`isDefault` in azureProfile.json under
/// AZURE_CONFIG_DIR or ~/.azure), else an error naming the setting.
pub fn subscription(setting: Option<&str>, target: &str) -> Result<String, crate::error::UsageError> {
    if let Some(s) = setting.filter(|s| !s.is_empty()) {
        return Ok(s.to_string());
    }
    if let Some(s) = std::env::var("AZURE_SUBSCRIPTION_ID").ok().filter(|v| !v.is_empty()) {
        return Ok(s);
    }
    let dir = std::env::var_os("AZURE_CONFIG_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".azure")));
    if let Some(dir) = dir {
        if let Ok(text) = std::fs::read_to_string(dir.join("azureProfile.json")) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(text.trim_start_matches('\u{feff}')) {
                let default = v["subscriptions"].as_array().into_iter().flatten().find(|s| s["isDefault"] == true);
                if let Some(id) = default.and_then(|s| s["id"].as_str()) {
                    return Ok(id.to_string());
                }
            }
        }
    }
    Err(crate::error::UsageError::new("no Azure subscription is chosen").hint(format!(
        "set `subscription = \"...\"` in [targets.{target}], or AZURE_SUBSCRIPTION_ID, or pick a default with `az account set --subscription ...`"
    )))
}

#[derive(Deserialize)]
struct Exchanged {
    refresh_token: String,
}

/// Exchanges an Azure AD token for an ACR refresh token (`POST /oauth2/exchange`), the
/// password of ACR's fixed user. Loopback registries (tests) are spoken to over HTTP.
pub async fn acr_login(registry: &str, credential: &dyn TokenCredential, tenant: Option<&str>) -> Result<Credentials> {
    let token =
        credential.get_token(&[ARM_SCOPE], None).await.map_err(|e| Hinted::new(format!("cannot get an Azure AD token: {e}"), FIX))?;
    let scheme = if is_loopback_host(registry) { "http" } else { "https" };
    let mut form = vec![
        ("grant_type", "access_token".to_string()),
        ("service", registry.to_string()),
        ("access_token", token.token.secret().to_string()),
    ];
    if let Some(t) = tenant {
        form.push(("tenant", t.to_string()));
    }
    let http = super::http::client()?;
    let url = format!("{scheme}://{registry}/oauth2/exchange");
    // The exchange only mints a token: safe to send again.
    let resp = super::http::send(super::http::Retry::default(), true, || http.post(&url).form(&form)).await.map_err(|e| {
        Hinted::new(format!("cannot reach {registry} for the ACR token exchange: {e}"), "check the registry name and your network")
    })?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(Hinted::new(
            format!("{registry} refused the ACR token exchange (HTTP {}): {}", status.as_u16(), body.trim()),
            "check that your identity has AcrPush on the registry, and that the tenant is right",
        )
        .into());
    }
    let ex: Exchanged = resp
        .json()
        .await
        .map_err(|e| Hinted::new(format!("{registry} answered the ACR token exchange with something unexpected: {e}"), "retry"))?;
    Ok(Credentials { username: ACR_USER.into(), password: ex.refresh_token })
}

pub fn is_acr(host: &str) -> bool {
    host.ends_with(".azurecr.io") || host.ends_with(".azurecr.cn") || host.ends_with(".azurecr.us")
}
