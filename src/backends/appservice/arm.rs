//! A small typed client for Azure Resource Manager: one base URL
//! (`AIDEPLOY_AZURE_ENDPOINT`, default the public cloud's), a bearer token from the
//! azure_identity chain, `api-version` on every call, ARM's error body
//! (`{"error":{"code","message"}}`) turned into an error that says what failed, and
//! long-running operations followed through their `Azure-AsyncOperation` / `Location`
//! headers until they are done.
//!
//! Why hand-written ARM calls rather than the `azure_mgmt_web` crate: that crate is
//! unofficial, generated once from an old spec and no longer maintained (frozen on an
//! old azure_core, which would pull a second, incompatible copy of the SDK next to the
//! official `azure_identity`/`azure_core` we use), and it covers Microsoft.Web only,
//! while a deploy also needs Resources, ContainerRegistry, KeyVault and Authorization.
//! The dozen calls aideploy makes are plain JSON over one base URL, so typed request
//! bodies here stay small, follow the current api-versions, and honour the endpoint
//! override (sovereign clouds, the test fake) everywhere.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use azure_core::credentials::TokenCredential;
use reqwest::Method;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::engine::wait::{Poll, PollPolicy, Wait, Waited};
use crate::engine::Reporter;
use crate::envvars;
use crate::error::Hinted;

pub const DEFAULT_ENDPOINT: &str = "https://management.azure.com";
/// Sent to a loopback endpoint (fakes, emulators): never a real token.
const PLACEHOLDER_TOKEN: &str = "aideploy-placeholder-token";

pub const API_RESOURCES: &str = "2025-04-01";
pub const API_SUBSCRIPTIONS: &str = "2022-12-01";
pub const API_WEB: &str = "2026-09-01";
pub const API_ACR: &str = "2023-07-01";
pub const API_KEYVAULT: &str = "2023-07-01";
pub const API_AUTHORIZATION: &str = "2022-04-01";

pub struct Arm {
    pub base: String,
    http: reqwest::Client,
    credential: Option<Arc<dyn TokenCredential>>,
    token: Mutex<Option<String>>,
    /// How long-running operations are polled (the run's policy).
    poll: PollPolicy,
}

fn host_of(url: &str) -> &str {
    url.split("://").nth(1).unwrap_or("").split('/').next().unwrap_or("")
}

/// An ARM answer: status, the headers that matter, and the JSON body.
pub struct Answer {
    pub status: u16,
    pub async_op: Option<String>,
    pub location: Option<String>,
    /// `x-ms-request-id` (else the correlation id): what Azure support asks for.
    pub request_id: Option<String>,
    pub body: Value,
}

impl Arm {
    pub fn from_env(poll: PollPolicy) -> Result<Arm> {
        let base = crate::cloud::endpoint_override(envvars::AIDEPLOY_AZURE_ENDPOINT)?.unwrap_or_else(|| DEFAULT_ENDPOINT.into());
        // A loopback endpoint (a fake, an emulator) never gets real credentials.
        let loopback = crate::cloud::is_loopback_host(host_of(&base));
        let credential = if loopback { None } else { Some(crate::cloud::azure::credential()?) };
        let http = crate::cloud::http::client()?;
        Ok(Arm { base, http, credential, token: Mutex::new(None), poll })
    }

    /// How long-running operations are polled (the run's policy).
    pub fn poll(&self) -> PollPolicy {
        self.poll
    }

    async fn bearer(&self) -> Result<String> {
        let Some(c) = &self.credential else { return Ok(PLACEHOLDER_TOKEN.into()) };
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref() {
            return Ok(t.clone());
        }
        let t = c
            .get_token(&[crate::cloud::azure::ARM_SCOPE], None)
            .await
            .map_err(|e| Hinted::new(format!("cannot get an Azure AD token for ARM: {e}"), crate::cloud::azure::FIX))?;
        let t = t.token.secret().to_string();
        *cached = Some(t.clone());
        Ok(t)
    }

    /// One request to `url` (absolute, or a path under the base with its query).
    pub async fn send(&self, method: Method, url: &str, body: Option<&Value>) -> Result<Answer> {
        let url = if url.starts_with("http://") || url.starts_with("https://") { url.to_string() } else { format!("{}{url}", self.base) };
        // Only ever send the token to the ARM host itself.
        if host_of(&url) != host_of(&self.base) {
            anyhow::bail!("ARM pointed aideploy at {url}, outside {}; refusing to send it a token", self.base);
        }
        let bearer = self.bearer().await?;
        let make = || {
            let req = self.http.request(method.clone(), &url).bearer_auth(&bearer).header("accept", "application/json");
            match body {
                Some(b) => req.json(b),
                None if method == Method::POST => req.header("content-length", "0"),
                None => req,
            }
        };
        let resp = crate::cloud::http::send(crate::cloud::http::Retry::default(), false, make)
            .await
            .with_context(|| format!("cannot reach Azure Resource Manager at {}", self.base))?;
        let status = resp.status().as_u16();
        let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        let async_op = header("azure-asyncoperation");
        let location = header("location");
        let request_id = header("x-ms-request-id").or_else(|| header("x-ms-correlation-request-id"));
        let text = resp.text().await.unwrap_or_default();
        let body = if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Ok(Answer { status, async_op, location, request_id, body })
    }

    /// The error for an answer that is not a success: the operation, ARM's error code
    /// and message, the request id, and what to do about it.
    fn fail(&self, method: &Method, path: &str, a: &Answer) -> anyhow::Error {
        let path = path.split('?').next().unwrap_or(path);
        let (code, message) = match &a.body["error"] {
            Value::Object(e) => (
                e.get("code").and_then(Value::as_str).unwrap_or("?").to_string(),
                e.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
            ),
            _ => ("?".into(), a.body.to_string().chars().take(300).collect()),
        };
        let id = a.request_id.as_deref().map(|id| format!(" (request id {id})")).unwrap_or_default();
        let what = format!("Azure Resource Manager {method} {path} answered {} {code}: {message}{id}", a.status);
        Hinted::new(what, hint_for(a.status, &code)).into()
    }

    fn with_api(path: &str, api: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{path}{sep}api-version={api}")
    }

    /// GET; `None` on 404.
    pub async fn get(&self, path: &str, api: &str) -> Result<Option<Value>> {
        let a = self.send(Method::GET, &Self::with_api(path, api), None).await?;
        match a.status {
            404 => Ok(None),
            200..=299 => Ok(Some(a.body)),
            _ => Err(self.fail(&Method::GET, path, &a)),
        }
    }

    /// A read-only POST (`.../list` actions).
    pub async fn list_action(&self, path: &str, api: &str) -> Result<Value> {
        let a = self.send(Method::POST, &Self::with_api(path, api), None).await?;
        if !(200..=299).contains(&a.status) {
            return Err(self.fail(&Method::POST, path, &a));
        }
        Ok(a.body)
    }

    /// A mutating call, followed to its end when ARM answers 201/202 with an operation
    /// to poll. Returns the final resource (a GET of `path` after an async PUT).
    pub async fn mutate(&self, method: Method, path: &str, api: &str, body: Option<&Value>, what: &str, r: &dyn Reporter) -> Result<Value> {
        let url = Self::with_api(path, api);
        // A resource another operation is still provisioning (a run stopped half-way, a
        // deploy racing this one) answers 409 AnotherOperationInProgress: wait for that
        // operation rather than fail.
        let busy = crate::engine::wait::Wait::new(what, Duration::from_secs(5), Duration::from_secs(10 * 60));
        let a = match busy
            .run(self.poll, r, || async {
                let a = self.send(method.clone(), &url, body).await?;
                Ok(if a.status == 409 && a.body["error"]["code"] == "AnotherOperationInProgress" {
                    crate::engine::wait::Poll::Pending("another operation is still in progress".to_string())
                } else {
                    crate::engine::wait::Poll::Ready(a)
                })
            })
            .await?
        {
            crate::engine::wait::Waited::Ready(a) => a,
            crate::engine::wait::Waited::TimedOut { last, waited } => {
                anyhow::bail!("{what}: {last} after {}s; run the deploy again later", waited.as_secs())
            }
        };
        if method == Method::DELETE && a.status == 404 {
            return Ok(Value::Null);
        }
        if !(200..=299).contains(&a.status) {
            return Err(self.fail(&method, path, &a));
        }
        if matches!(a.status, 201 | 202) && (a.async_op.is_some() || a.location.is_some()) {
            self.wait(&a, what, r).await.with_context(|| format!("{method} {}", path.split('?').next().unwrap_or(path)))?;
            if method == Method::PUT || method == Method::PATCH {
                return Ok(self.get(path, api).await?.unwrap_or(a.body));
            }
        }
        Ok(a.body)
    }

    pub async fn put(&self, path: &str, api: &str, body: &Value, what: &str, r: &dyn Reporter) -> Result<Value> {
        self.mutate(Method::PUT, path, api, Some(body), what, r).await
    }
    pub async fn patch(&self, path: &str, api: &str, body: &Value, what: &str, r: &dyn Reporter) -> Result<Value> {
        self.mutate(Method::PATCH, path, api, Some(body), what, r).await
    }
    pub async fn post(&self, path: &str, api: &str, body: Option<&Value>, what: &str, r: &dyn Reporter) -> Result<Value> {
        self.mutate(Method::POST, path, api, body, what, r).await
    }
    pub async fn delete(&self, path: &str, api: &str, what: &str, r: &dyn Reporter) -> Result<()> {
        self.mutate(Method::DELETE, path, api, None, what, r).await.map(|_| ())
    }

    /// Polls a long-running operation: `Azure-AsyncOperation` until its `status` is
    /// terminal, else `Location` until it stops answering 202.
    async fn wait(&self, first: &Answer, what: &str, r: &dyn Reporter) -> Result<()> {
        let Some((url, by_status)) = first.async_op.as_ref().map(|u| (u, true)).or_else(|| first.location.as_ref().map(|u| (u, false)))
        else {
            return Ok(());
        };
        let w = Wait { max_every: Duration::from_secs(30), ..Wait::new(what, Duration::from_secs(5), Duration::from_secs(30 * 60)) };
        let waited = w
            .run(self.poll, r, || async {
                let a = self.send(Method::GET, url, None).await?;
                if !(200..=299).contains(&a.status) {
                    return Err(self.fail(&Method::GET, url, &a));
                }
                if !by_status {
                    return Ok(if a.status == 202 { Poll::Pending("in progress".into()) } else { Poll::Ready(()) });
                }
                let status = a.body["status"].as_str().unwrap_or("InProgress").to_string();
                match status.as_str() {
                    "Succeeded" => Ok(Poll::Ready(())),
                    "Failed" | "Canceled" => {
                        let e = &a.body["error"];
                        let code = e["code"].as_str().unwrap_or("");
                        let id = a.request_id.as_deref().map(|id| format!(" (request id {id})")).unwrap_or_default();
                        Err(Hinted::new(
                            format!("{what} ended {status}: {code} {}{id}", e["message"].as_str().unwrap_or("(no message)")),
                            hint_for(409, code),
                        )
                        .into())
                    }
                    _ => Ok(Poll::Pending(status)),
                }
            })
            .await?;
        match waited {
            Waited::Ready(()) => Ok(()),
            Waited::TimedOut { last, waited } => Err(Hinted::new(
                format!("{what} was still {last} after {} minutes", waited.as_secs() / 60),
                "see the operation in the Azure portal (the resource group's Deployments and Activity log), then run the command again",
            )
            .into()),
        }
    }
}

/// What to do about an ARM error, by status and code.
fn hint_for(status: u16, code: &str) -> String {
    match (status, code) {
        (401, _) => crate::cloud::azure::FIX.into(),
        (403, _) => "your identity needs Contributor and User Access Administrator (or Owner) on the subscription or resource group".into(),
        (_, "AnotherOperationInProgress" | "Conflict") => {
            "another operation is still running on this resource: run the command again in a minute".into()
        }
        (404, _) => "check the subscription and resource group named in the target, and that the resource providers are registered".into(),
        (429, _) | (500..=599, _) => "Azure is throttling or failing this call: run the command again in a few minutes".into(),
        _ => "check the target's settings in aideploy.toml; if they look right, report this with the request id".into(),
    }
}
