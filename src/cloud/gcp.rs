//! Google Cloud credentials from Application Default Credentials (the
//! `gcloud auth application-default login` file, `GOOGLE_APPLICATION_CREDENTIALS`,
//! workload identity federation, the metadata server), through google-cloud-auth.

use anyhow::Result;

use crate::artifact::registry::Credentials;
use crate::error::Hinted;

const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const FIX: &str = "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file";

/// An OAuth2 access token for the cloud-platform scope.
pub async fn access_token() -> Result<String> {
    let creds = google_cloud_auth::credentials::Builder::default()
        .with_scopes([CLOUD_PLATFORM])
        .build_access_token_credentials()
        .map_err(|e| Hinted::new(format!("no Google Cloud credentials: {e}"), FIX))?;
    let token = creds
        .access_token()
        .await
        .map_err(|e| Hinted::new(format!("cannot get a Google Cloud access token (the login may have expired): {e}"), FIX))?;
    Ok(token.token)
}

/// Artifact Registry (`*-docker.pkg.dev`) and Container Registry take an access token
/// as the password of the fixed user `oauth2accesstoken`.
pub fn registry_login(access_token: String) -> Credentials {
    Credentials { username: "oauth2accesstoken".into(), password: access_token }
}

/// Whether a registry host is Google's.
pub fn is_google_registry(host: &str) -> bool {
    host.ends_with("-docker.pkg.dev") || host == "gcr.io" || host.ends_with(".gcr.io")
}

/// The clients of the three APIs the cloudrun target speaks, on one credential and,
/// with `AIDEPLOY_GCP_ENDPOINT`, one base URL.
pub struct Clients {
    pub services: google_cloud_run_v2::client::Services,
    pub revisions: google_cloud_run_v2::client::Revisions,
    pub secrets: google_cloud_secretmanager_v1::client::SecretManagerService,
    pub registry: google_cloud_artifactregistry_v1::client::ArtifactRegistry,
    /// The endpoint is on this machine (tests, emulators): no credentials, fast polls.
    pub loopback: bool,
}

/// `AIDEPLOY_GCP_ENDPOINT`, when set.
pub fn endpoint_override() -> Option<String> {
    std::env::var(crate::envvars::AIDEPLOY_GCP_ENDPOINT).ok().filter(|v| !v.is_empty()).map(|v| v.trim_end_matches('/').to_string())
}

impl Clients {
    pub async fn new() -> Result<Clients> {
        use google_cloud_auth::credentials::{anonymous, Builder};
        let endpoint = endpoint_override();
        let loopback = endpoint.as_deref().is_some_and(|e| {
            let host = e.split("://").nth(1).unwrap_or(e).split('/').next().unwrap_or("");
            super::is_loopback_host(host)
        });
        let creds = if loopback {
            anonymous::Builder::new().build()
        } else {
            Builder::default()
                .with_scopes([CLOUD_PLATFORM])
                .build()
                .map_err(|e| Hinted::new(format!("no Google Cloud credentials: {e}"), FIX))?
        };
        macro_rules! client {
            ($t:ty) => {{
                let mut b = <$t>::builder().with_credentials(creds.clone());
                if let Some(e) = &endpoint {
                    b = b.with_endpoint(e.clone());
                }
                b.build().await.map_err(|e| anyhow::anyhow!("cannot set up the Google Cloud client: {e}"))?
            }};
        }
        Ok(Clients {
            services: client!(google_cloud_run_v2::client::Services),
            revisions: client!(google_cloud_run_v2::client::Revisions),
            secrets: client!(google_cloud_secretmanager_v1::client::SecretManagerService),
            registry: client!(google_cloud_artifactregistry_v1::client::ArtifactRegistry),
            loopback,
        })
    }
}

/// Whether a Google API error is a 404.
pub fn is_not_found(e: &google_cloud_gax::error::Error) -> bool {
    e.status().is_some_and(|s| s.code == google_cloud_gax::error::rpc::Code::NotFound) || e.http_status_code() == Some(404)
}

/// Whether a Google API error says the resource exists already.
pub fn is_conflict(e: &google_cloud_gax::error::Error) -> bool {
    e.status().is_some_and(|s| s.code == google_cloud_gax::error::rpc::Code::AlreadyExists) || e.http_status_code() == Some(409)
}

/// A Google API error as a message that says what failed, with the fix for an
/// expired or missing login.
pub fn api_error(what: &str, e: google_cloud_gax::error::Error) -> anyhow::Error {
    if e.is_authentication() || e.http_status_code() == Some(401) {
        return Hinted::new(format!("{what}: the Google Cloud credentials were refused (the login may have expired): {e}"), FIX).into();
    }
    let msg = match e.status() {
        Some(s) => format!("{what}: {} ({:?})", s.message, s.code),
        None => format!("{what}: {e}"),
    };
    if e.http_status_code() == Some(403) || e.status().is_some_and(|s| s.code == google_cloud_gax::error::rpc::Code::PermissionDenied) {
        return Hinted::new(msg, "check that the account behind Application Default Credentials has the Cloud Run Admin, Secret Manager Admin and Artifact Registry Administrator roles in this project").into();
    }
    anyhow::anyhow!(msg)
}

/// A value from gcloud's active configuration (`[section] key = value`), if any.
pub fn gcloud_config(section: &str, key: &str) -> Option<String> {
    let dir = std::env::var_os(crate::envvars::CLOUDSDK_CONFIG)
        .map(std::path::PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".config/gcloud")))?;
    let active = std::fs::read_to_string(dir.join("active_config")).map(|s| s.trim().to_string()).unwrap_or_else(|_| "default".into());
    let text = std::fs::read_to_string(dir.join("configurations").join(format!("config_{active}"))).ok()?;
    let mut in_section = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = s.trim() == section;
        } else if in_section {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key && !v.trim().is_empty() {
                    return Some(v.trim().to_string());
                }
            }
        }
    }
    None
}
