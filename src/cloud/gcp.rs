//! Google Cloud credentials from Application Default Credentials (the
//! `gcloud auth application-default login` file, `GOOGLE_APPLICATION_CREDENTIALS`,
//! workload identity federation, the metadata server), through google-cloud-auth.

use anyhow::Result;

use crate::artifact::registry::Credentials;
use crate::error::Hinted;

const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
pub const FIX: &str = "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file";

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

/// JSON calls to a Google REST API that has no official Rust client here (IAM's
/// workload identity pools, Cloud Billing Budgets): Application Default Credentials'
/// bearer token, none for an endpoint on this machine.
pub struct Rest {
    http: reqwest::Client,
    token: Option<String>,
}

impl Rest {
    pub async fn new(loopback: bool) -> Result<Rest> {
        let token = if loopback { None } else { Some(access_token().await?) };
        Ok(Rest { http: super::http::client()?, token })
    }

    /// For an endpoint on this machine (tests, emulators): no credentials.
    pub fn anonymous() -> Result<Rest> {
        Ok(Rest { http: super::http::client()?, token: None })
    }

    /// The answer's status and JSON body (`null` when it has none), retried on
    /// throttling and transient failures (all of them when `idempotent`). `what` names
    /// the call in errors.
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&serde_json::Value>,
        idempotent: bool,
        what: &str,
    ) -> Result<(u16, serde_json::Value)> {
        let resp = super::http::send(super::http::Retry::default(), idempotent, || {
            let mut req = self.http.request(method.clone(), url);
            if let Some(b) = body {
                req = req.json(b);
            }
            match &self.token {
                Some(t) => req.bearer_auth(t),
                None => req,
            }
        })
        .await
        .map_err(|e| Hinted::new(format!("{what}: {e}"), "check the network connection to Google Cloud, then run again"))?;
        let code = resp.status().as_u16();
        Ok((code, resp.json().await.unwrap_or(serde_json::Value::Null)))
    }
}

/// The error of an answer outside 2xx: Google's message, and a hint by status
/// (`forbidden`, for a 403, names the roles the call needs).
pub fn rest_error(what: &str, code: u16, answer: &serde_json::Value, forbidden: &str) -> anyhow::Error {
    let message: String = answer["error"]["message"].as_str().unwrap_or("no message").chars().take(300).collect();
    let hint = match code {
        401 => FIX,
        403 => forbidden,
        _ => "run again with -v for details; it is safe to re-run",
    };
    Hinted::new(format!("{what}: {message} (HTTP {code})"), hint).into()
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

/// The clients of the four APIs the cloudrun target speaks, on one credential and,
/// with `AIDEPLOY_GCP_ENDPOINT`, one base URL.
pub struct Clients {
    pub services: google_cloud_run_v2::client::Services,
    pub revisions: google_cloud_run_v2::client::Revisions,
    pub secrets: google_cloud_secretmanager_v1::client::SecretManagerService,
    pub registry: google_cloud_artifactregistry_v1::client::ArtifactRegistry,
    /// IAM: the service's runtime service account.
    pub iam: google_cloud_iam_admin_v1::client::Iam,
    /// The endpoint is on this machine (tests, emulators): no credentials.
    pub loopback: bool,
}

/// `AIDEPLOY_GCP_ENDPOINT`, when set (HTTPS, or HTTP to this machine only).
pub fn endpoint_override() -> Result<Option<String>> {
    super::endpoint_override(crate::envvars::AIDEPLOY_GCP_ENDPOINT)
}

/// Whether the endpoint override points at this machine (tests, emulators), which is
/// sent no credentials.
pub fn is_loopback(endpoint: Option<&str>) -> bool {
    endpoint.is_some_and(|e| {
        let host = e.split("://").nth(1).unwrap_or(e).split('/').next().unwrap_or("");
        super::is_loopback_host(host)
    })
}

/// The endpoint override and the credentials every Google client here uses: none for
/// a loopback endpoint, else Application Default Credentials.
fn endpoint_and_credentials() -> Result<(Option<String>, google_cloud_auth::credentials::Credentials)> {
    use google_cloud_auth::credentials::{anonymous, Builder};
    let endpoint = endpoint_override()?;
    let creds = if is_loopback(endpoint.as_deref()) {
        anonymous::Builder::new().build()
    } else {
        Builder::default()
            .with_scopes([CLOUD_PLATFORM])
            .build()
            .map_err(|e| Hinted::new(format!("no Google Cloud credentials: {e}"), FIX))?
    };
    Ok((endpoint, creds))
}

impl Clients {
    pub async fn new() -> Result<Clients> {
        let (endpoint, creds) = endpoint_and_credentials()?;
        let loopback = is_loopback(endpoint.as_deref());
        macro_rules! client {
            ($t:ty) => {{
                let mut b = <$t>::builder()
                    .with_credentials(creds.clone())
                    .with_retry_policy(google_cloud_gax::retry_policy::RetryPolicyExt::with_attempt_limit(RetryUnprocessed, 6))
                    .with_polling_error_policy(PollRefused);
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
            iam: client!(google_cloud_iam_admin_v1::client::Iam),
            loopback,
        })
    }
}

/// The Google clients' retry policy: the standard one (AIP-194: idempotent calls on
/// UNAVAILABLE), plus any call the service refused without carrying it out, throttled
/// (429, RESOURCE_EXHAUSTED) or unavailable (503), which is safe to send again even when
/// it is not idempotent (a new secret version).
#[derive(Debug, Clone, Copy)]
struct RetryUnprocessed;

impl google_cloud_gax::retry_policy::RetryPolicy for RetryUnprocessed {
    fn on_error(
        &self,
        state: &google_cloud_gax::retry_state::RetryState,
        error: google_cloud_gax::error::Error,
    ) -> google_cloud_gax::retry_result::RetryResult {
        if is_refused(&error) {
            return google_cloud_gax::retry_result::RetryResult::Continue(error);
        }
        google_cloud_gax::retry_policy::Aip194Strict.on_error(state, error)
    }
}

/// The policy for reading a long-running operation's progress: the standard one
/// (UNAVAILABLE, 503, a dropped connection go on polling), plus throttling (429,
/// RESOURCE_EXHAUSTED). How many failed reads end the wait is `await_op`'s to say.
#[derive(Debug, Clone, Copy)]
struct PollRefused;

impl google_cloud_gax::polling_error_policy::PollingErrorPolicy for PollRefused {
    fn on_error(
        &self,
        state: &google_cloud_gax::polling_state::PollingState,
        error: google_cloud_gax::error::Error,
    ) -> google_cloud_gax::retry_result::RetryResult {
        if is_refused(&error) {
            return google_cloud_gax::retry_result::RetryResult::Continue(error);
        }
        google_cloud_gax::polling_error_policy::Aip194Strict.on_error(state, error)
    }
}

/// Whether the service refused a call without carrying it out: throttled (429,
/// RESOURCE_EXHAUSTED) or unavailable (503, UNAVAILABLE).
pub fn is_refused(e: &google_cloud_gax::error::Error) -> bool {
    use google_cloud_gax::error::rpc::Code;
    matches!(e.http_status_code(), Some(429 | 503))
        || e.status().is_some_and(|s| matches!(s.code, Code::ResourceExhausted | Code::Unavailable))
}

/// Whether a call failed in a way that may or may not have carried it out, and is worth
/// sending again once the caller has read what exists: refused (see [`is_refused`]), or
/// its connection failed or timed out, or the client's own retries ran out.
pub fn is_transient(e: &google_cloud_gax::error::Error) -> bool {
    is_refused(e) || e.is_io() || e.is_timeout() || e.is_exhausted() || e.is_transient_and_before_rpc()
}

/// Whether a Google API error is a 404.
pub fn is_not_found(e: &google_cloud_gax::error::Error) -> bool {
    e.status().is_some_and(|s| s.code == google_cloud_gax::error::rpc::Code::NotFound) || e.http_status_code() == Some(404)
}

/// Whether a Google API error says the resource exists already.
pub fn is_conflict(e: &google_cloud_gax::error::Error) -> bool {
    e.status().is_some_and(|s| s.code == google_cloud_gax::error::rpc::Code::AlreadyExists) || e.http_status_code() == Some(409)
}

/// A Google API error as a message: what failed, the service's status (`NOT_FOUND`,
/// `PERMISSION_DENIED`...) and message, the request id when the answer has one, and a
/// hint for the fix. Never the error's Debug form, and a long message is cut.
pub fn api_error(what: &str, e: google_cloud_gax::error::Error) -> anyhow::Error {
    use google_cloud_gax::error::rpc::{Code, StatusDetails};
    if e.is_authentication() || e.http_status_code() == Some(401) {
        return Hinted::new(
            format!("{what}: the Google Cloud credentials were refused (the login may have expired): {}", cut(&e.to_string())),
            FIX,
        )
        .into();
    }
    let Some(s) = e.status() else {
        let hint = if e.is_timeout() || e.is_io() {
            "check the network connection to Google Cloud, then run the command again (it is safe to re-run)"
        } else {
            "run the command again with -v for details; it is safe to re-run"
        };
        return Hinted::new(format!("{what}: {}", cut(&e.to_string())), hint).into();
    };
    let request_id = s.details.iter().find_map(|d| match d {
        StatusDetails::RequestInfo(i) if !i.request_id.is_empty() => Some(i.request_id.clone()),
        _ => None,
    });
    let mut msg = format!("{what}: {} ({})", cut(&s.message), s.code.name());
    if let Some(id) = request_id {
        msg.push_str(&format!(" [request id {id}]"));
    }
    let hint = match s.code {
        Code::PermissionDenied => "check that the account behind Application Default Credentials has the Cloud Run Admin, Secret Manager Admin, Artifact Registry Administrator, Service Account Admin and Service Account User roles in this project, and that the Cloud Run, Secret Manager, Artifact Registry and IAM APIs are enabled",
        Code::NotFound => "check `project` and `region` in the target's settings (or gcloud's configuration)",
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => "fix the setting the message names in aideploy.toml, then deploy again",
        Code::AlreadyExists | Code::Aborted => "something else changed it at the same time: run the command again",
        Code::ResourceExhausted => "a quota or rate limit was reached: wait a minute and run the command again, or ask for more quota in the Cloud console",
        Code::Unavailable | Code::DeadlineExceeded | Code::Internal | Code::Unknown => "Google Cloud did not answer in time: run the command again (it is safe to re-run)",
        _ => "run the command again with -v for details; it is safe to re-run",
    };
    Hinted::new(msg, hint).into()
}

/// At most 300 characters of an API's message.
fn cut(text: &str) -> String {
    const MAX: usize = 300;
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
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

/// A Cloud Monitoring client (`status --metrics` of the cloudrun target), on the same
/// credentials and `AIDEPLOY_GCP_ENDPOINT` as [`Clients`]; read calls only.
pub async fn monitoring() -> Result<google_cloud_monitoring_v3::client::MetricService> {
    let (endpoint, creds) = endpoint_and_credentials()?;
    let mut b = google_cloud_monitoring_v3::client::MetricService::builder().with_credentials(creds);
    if let Some(e) = endpoint {
        b = b.with_endpoint(e);
    }
    b.build().await.map_err(|e| anyhow::anyhow!("cannot set up the Google Cloud Monitoring client: {e}"))
}
