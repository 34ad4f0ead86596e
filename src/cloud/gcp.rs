//! Google Cloud credentials from Application Default Credentials (the
//! `gcloud auth application-default login` file, `GOOGLE_APPLICATION_CREDENTIALS`,
//! workload identity federation, the metadata server), through google-cloud-auth.

use anyhow::Result;

use crate::build::registry::Credentials;
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
