//! The login check every deploy, plan, status and destroy makes before anything is built
//! or read: a missing or expired login fails within about two seconds, with exit 2 and
//! the command that logs in (`gcloud auth application-default login`, `az login`,
//! `aws sso login --profile ...`, the Railway or Render token variable).
//!
//! Loopback endpoints (fakes, emulators) need no login and are not checked.

use std::time::Duration;

use anyhow::Result;

use crate::engine::target::Provider;
use crate::engine::Cx;
use crate::error::UsageError;

/// How long finding out that no credential source answers may take.
pub const QUICK: Duration = Duration::from_millis(1500);
/// How long a configured source (a login file, a key) may take to give a token.
const CONFIGURED: Duration = Duration::from_secs(20);

/// Checks the login of `provider` for this target.
pub async fn check(cx: &Cx, provider: Provider) -> Result<()> {
    match provider {
        Provider::Local => Ok(()),
        Provider::Aws => {
            let region = cx.target.settings.region.as_ref().map(|r| r.get().as_str().to_string());
            super::aws::load(region.as_deref(), super::aws::chosen_profile()).await.map(|_| ())
        }
        Provider::Gcp => {
            // A missing project or region is named before the login.
            crate::backends::cloudrun::site(cx)?;
            gcp().await
        }
        Provider::Azure => {
            crate::backends::appservice::tier(cx)?;
            crate::backends::appservice::subscription(cx)?;
            azure().await
        }
        Provider::Railway => crate::backends::railway::api::Api::from_env().map(|_| ()),
        Provider::Render => crate::backends::render::api::Api::from_env().map(|_| ()),
    }
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's ADC
/// file, else the metadata server of a Google machine. Without any of them the Google
/// client would wait on the metadata server for most of a minute; this says so at once.
pub(crate) async fn gcp() -> Result<()> {
    if super::gcp::endpoint_override()?.as_deref().is_some_and(|e| super::is_loopback_host(host_of(e))) {
        return Ok(());
    }
    let fix = super::gcp::FIX;
    let configured = if let Some(path) = env("GOOGLE_APPLICATION_CREDENTIALS") {
        if !std::path::Path::new(&path).is_file() {
            return Err(UsageError::new(format!("GOOGLE_APPLICATION_CREDENTIALS names {path}, which does not exist")).hint(fix).into());
        }
        true
    } else {
        adc_well_known().is_some_and(|p| p.is_file())
    };
    if !configured && !metadata_server_answers().await {
        return Err(UsageError::new(
            "no Google Cloud credentials: no Application Default Credentials file, and this is not a Google Cloud machine",
        )
        .hint(fix)
        .into());
    }
    let token = async {
        let creds = google_cloud_auth::credentials::Builder::default()
            .with_scopes(["https://www.googleapis.com/auth/cloud-platform"])
            .build_access_token_credentials()
            .map_err(|e| UsageError::new(format!("the Google Cloud credentials cannot be used: {e}")).hint(fix))?;
        creds.access_token().await.map_err(|e| {
            if e.is_transient() {
                anyhow::Error::from(crate::error::Hinted::new(
                    format!("cannot reach Google Cloud to check the login: {e}"),
                    "check the network connection, then run the command again",
                ))
            } else {
                UsageError::new(format!("the Google Cloud login was refused (it may have expired): {e}")).hint(fix).into()
            }
        })
    };
    match tokio::time::timeout(if configured { CONFIGURED } else { QUICK * 2 }, token).await {
        Ok(r) => r.map(|_| ()),
        Err(_) => Err(UsageError::new("no Google Cloud access token came in time").hint(fix).into()),
    }
}

/// gcloud's ADC file: `%APPDATA%\gcloud\...` on Windows, `~/.config/gcloud/...` elsewhere.
fn adc_well_known() -> Option<std::path::PathBuf> {
    let file = "gcloud/application_default_credentials.json";
    if cfg!(windows) {
        std::env::var_os("APPDATA").map(|r| std::path::PathBuf::from(r).join(file))
    } else {
        std::env::var_os("HOME").map(|r| std::path::PathBuf::from(r).join(".config").join(file))
    }
}

/// Whether a Google metadata server (`GCE_METADATA_HOST`, else the link-local address)
/// answers as one, with `Metadata-Flavor: Google`, within [`QUICK`]. Something else
/// listening there (a proxy, another cloud's metadata service) is not one.
async fn metadata_server_answers() -> bool {
    let host = env("GCE_METADATA_HOST").unwrap_or_else(|| "169.254.169.254".into());
    let Ok(http) = reqwest::Client::builder().no_proxy().timeout(QUICK).connect_timeout(QUICK).build() else { return false };
    let probe = http.get(format!("http://{host}/computeMetadata/v1/")).header("Metadata-Flavor", "Google").send();
    match tokio::time::timeout(QUICK, probe).await {
        Ok(Ok(resp)) => resp.headers().get("metadata-flavor").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"google")),
        _ => false,
    }
}

/// An ARM token from the credential chain, unless ARM is a loopback fake.
async fn azure() -> Result<()> {
    let base = super::endpoint_override(crate::envvars::AIDEPLOY_AZURE_ENDPOINT)?.unwrap_or_default();
    if !base.is_empty() && super::is_loopback_host(host_of(&base)) {
        return Ok(());
    }
    let fix = super::azure::FIX;
    let credential = super::azure::credential().map_err(|e| UsageError::new(format!("{e}")).hint(fix))?;
    match tokio::time::timeout(CONFIGURED, credential.get_token(&[super::azure::ARM_SCOPE], None)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(UsageError::new(format!("no usable Azure login: {e}")).hint(fix).into()),
        Err(_) => Err(UsageError::new("no Azure token came in time").hint(fix).into()),
    }
}

fn host_of(url: &str) -> &str {
    url.split("://").nth(1).unwrap_or(url).split('/').next().unwrap_or("")
}
