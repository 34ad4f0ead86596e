//! Azure credentials through the official identity stack (azure_identity/azure_core),
//! and the Azure Container Registry login exchanged from an Azure AD token.

use std::sync::Arc;

use anyhow::Result;
use azure_core::credentials::TokenCredential;
use serde::Deserialize;

use super::is_loopback_host;
use crate::build::registry::Credentials;
use crate::error::Hinted;

/// The scope of the Azure AD token ACR's exchange accepts (an ARM token).
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// ACR's fixed user name for logins with an exchanged refresh token.
pub const ACR_USER: &str = "00000000-0000-0000-0000-000000000000";

const FIX: &str = "run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal";

/// The credential to use: a service principal from the environment when
/// AZURE_CLIENT_SECRET is set, else the developer tools (Azure CLI, azd).
pub fn credential() -> Result<Arc<dyn TokenCredential>> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(tenant), Some(client), Some(secret)) = (env("AZURE_TENANT_ID"), env("AZURE_CLIENT_ID"), env("AZURE_CLIENT_SECRET")) {
        let c = azure_identity::ClientSecretCredential::new(&tenant, client, secret.into(), None)
            .map_err(|e| Hinted::new(format!("the Azure service principal in the environment is unusable: {e}"), FIX))?;
        return Ok(c);
    }
    let c = azure_identity::DeveloperToolsCredential::new(None)
        .map_err(|e| Hinted::new(format!("no Azure credentials: {e}"), FIX))?;
    Ok(c)
}

#[derive(Deserialize)]
struct Exchanged {
    refresh_token: String,
}

/// Exchanges an Azure AD token for an ACR refresh token (`POST /oauth2/exchange`), the
/// password of ACR's fixed user. Loopback registries (tests) are spoken to over HTTP.
pub async fn acr_login(registry: &str, credential: &dyn TokenCredential, tenant: Option<&str>) -> Result<Credentials> {
    let token = credential
        .get_token(&[ARM_SCOPE], None)
        .await
        .map_err(|e| Hinted::new(format!("cannot get an Azure AD token: {e}"), FIX))?;
    let scheme = if is_loopback_host(registry) { "http" } else { "https" };
    let mut form = vec![
        ("grant_type", "access_token".to_string()),
        ("service", registry.to_string()),
        ("access_token", token.token.secret().to_string()),
    ];
    if let Some(t) = tenant {
        form.push(("tenant", t.to_string()));
    }
    let resp = reqwest::Client::new()
        .post(format!("{scheme}://{registry}/oauth2/exchange"))
        .form(&form)
        .send()
        .await
        .map_err(|e| Hinted::new(format!("cannot reach {registry} for the ACR token exchange: {e}"), "check the registry name and your network"))?;
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
