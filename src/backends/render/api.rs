//! A small client for Render's REST API v1: bearer key, JSON in and out, Render's
//! error shape (`{"id","message"}`) turned into errors that say what failed, and the
//! fields aideploy reads of each answer as serde structs.
//!
//! Also the service's env vars as the store of `aideploy secrets` ([`ServiceEnvVars`]).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::backends::paas::owner;
use crate::backends::paas::secrets::{Found, ServiceVars};
use crate::cloud::http::Retry;
use crate::envvars;
use crate::error::{Hinted, UsageError};

pub const DEFAULT_ENDPOINT: &str = "https://api.render.com/v1";
/// Sent to a loopback endpoint when no key is set: fakes and emulators only.
const PLACEHOLDER_KEY: &str = "rnd_placeholder";

pub struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    /// From `RENDER_API_KEY` and `AIDEPLOY_RENDER_ENDPOINT`; a loopback endpoint gets a
    /// placeholder key, never the real one.
    pub fn from_env() -> Result<Api> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let base = crate::cloud::endpoint_override(envvars::AIDEPLOY_RENDER_ENDPOINT)?.unwrap_or_else(|| DEFAULT_ENDPOINT.into());
        let base = base.trim_end_matches('/').to_string();
        let host = base.split("://").nth(1).unwrap_or("").split('/').next().unwrap_or("");
        let loopback = crate::cloud::is_loopback_host(host);
        let key = if loopback {
            PLACEHOLDER_KEY.to_string()
        } else {
            env(envvars::RENDER_API_KEY).ok_or_else(|| {
                UsageError::new(format!("no Render API key: {} is not set", envvars::RENDER_API_KEY)).hint(format!(
                    "create a key in the Render dashboard (Account settings > API keys) and export {}=rnd_...",
                    envvars::RENDER_API_KEY
                ))
            })?
        };
        let http = crate::cloud::http::client()?;
        Ok(Api { base, key, http })
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Option<Value>> {
        self.call_with(method, path, body, false).await
    }

    /// [`Api::call`]; `idempotent`: a POST that is safe to send again after a cut
    /// connection (its caller copes with a second copy).
    pub async fn call_with(&self, method: reqwest::Method, path: &str, body: Option<&Value>, idempotent: bool) -> Result<Option<Value>> {
        let url = format!("{}{path}", self.base);
        let make = || {
            let req = self.http.request(method.clone(), &url).bearer_auth(&self.key).header("accept", "application/json");
            match body {
                Some(b) => req.json(b),
                None => req,
            }
        };
        let resp = crate::cloud::http::send(Retry::default(), idempotent, make)
            .await
            .with_context(|| format!("cannot reach the Render API at {}", self.base))?;
        let status = resp.status();
        let resp_request_id = resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        let text = resp.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::NOT_FOUND && method == reqwest::Method::GET {
            return Ok(None);
        }
        if !status.is_success() {
            let request_id = resp_request_id;
            let parsed = serde_json::from_str::<ErrorBody>(&text).ok();
            let message = parsed.as_ref().and_then(|e| e.message.clone()).unwrap_or_else(|| text.chars().take(300).collect());
            let code = parsed.and_then(|e| e.id).map(|c| format!(" [{c}]")).unwrap_or_default();
            let rid = request_id.map(|r| format!(" (request id {r})")).unwrap_or_default();
            let what = format!("Render API {method} {path} answered {}{code}: {message}{rid}", status.as_u16());
            let hint = match status.as_u16() {
                401 | 403 => format!("check that {} is a valid key for this workspace", envvars::RENDER_API_KEY),
                400 | 422 => "Render refused the request as sent; check the [targets] settings it names".to_string(),
                404 => "it may have been deleted meanwhile; run the command again".to_string(),
                _ => "Render answered with an error; run the command again, or check https://status.render.com".to_string(),
            };
            return Err(Hinted::new(what, hint).into());
        }
        if text.trim().is_empty() {
            return Ok(Some(Value::Null));
        }
        let v =
            serde_json::from_str(&text).with_context(|| format!("Render API {method} {path} answered with JSON that does not parse"))?;
        Ok(Some(v))
    }

    pub async fn get(&self, path: &str) -> Result<Option<Value>> {
        self.call(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        Ok(self.call(reqwest::Method::POST, path, Some(body)).await?.unwrap_or(Value::Null))
    }
    pub async fn put(&self, path: &str, body: &Value) -> Result<Value> {
        Ok(self.call(reqwest::Method::PUT, path, Some(body)).await?.unwrap_or(Value::Null))
    }
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value> {
        Ok(self.call(reqwest::Method::PATCH, path, Some(body)).await?.unwrap_or(Value::Null))
    }
    pub async fn delete(&self, path: &str) -> Result<()> {
        self.call(reqwest::Method::DELETE, path, None).await.map(|_| ())
    }

    /// A list endpoint's items: Render wraps each as `{"<key>": {...}, "cursor": "..."}`.
    pub async fn list<T: DeserializeOwned>(&self, path: &str, key: &str) -> Result<Vec<T>> {
        let v = self.get(path).await?.unwrap_or(Value::Null);
        let Value::Array(items) = v else {
            anyhow::bail!("Render API GET {path} did not answer with a list");
        };
        items
            .into_iter()
            .filter_map(|mut i| i.get_mut(key).map(Value::take))
            .map(|i| serde_json::from_value(i).with_context(|| format!("Render API GET {path} answered a {key} aideploy cannot read")))
            .collect()
    }

    /// One answer, read into `T`.
    pub async fn get_as<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>> {
        match self.get(path).await? {
            None => Ok(None),
            Some(v) => {
                Ok(Some(serde_json::from_value(v).with_context(|| format!("Render API GET {path} answered what aideploy cannot read"))?))
            }
        }
    }

    /// A POST whose answer is read into `T`.
    pub async fn post_as<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T> {
        let v = self.post(path, body).await?;
        serde_json::from_value(v).with_context(|| format!("Render API POST {path} answered what aideploy cannot read"))
    }
}

/// Render's error body.
#[derive(Deserialize)]
struct ErrorBody {
    id: Option<String>,
    message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Owner {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub owner_id: String,
    /// `web_service` or `private_service` (aideploy's two kinds).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Its name on the workspace's private network (Render's internal hostname).
    pub slug: Option<String>,
    pub dashboard_url: Option<String>,
    #[serde(default)]
    pub service_details: ServiceDetails,
    pub registry_credential: Option<IdName>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDetails {
    pub url: Option<String>,
    pub health_check_path: Option<String>,
    pub plan: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IdName {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EnvVar {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Deploy {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    pub image: Option<DeployImage>,
    #[serde(default, rename = "createdAt")]
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeployImage {
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    pub sha: Option<String>,
}

/// `POST /services` answers the service and the first deploy's id.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    pub service: Service,
    pub deploy_id: Option<String>,
}

/// An answer of which aideploy reads the id only.
#[derive(Debug, Clone, Deserialize)]
pub struct WithId {
    pub id: String,
}

/// The service's env vars as the store of `aideploy secrets` (paas::secrets): found the
/// way a deploy finds them (ours by the mark, or refused), written one key at a time.
/// Render's env-var endpoints change the variables only: the running deploy keeps what
/// it has until the next deploy.
pub struct ServiceEnvVars {
    pub api: Api,
    pub cx: crate::engine::Cx,
}

#[async_trait::async_trait]
impl ServiceVars for ServiceEnvVars {
    type Place = ();

    fn platform(&self) -> &'static str {
        "Render"
    }

    async fn find(&self) -> Result<Option<Found<()>>> {
        let (cx, api) = (&self.cx, &self.api);
        let owner = super::observe::owner_id(cx, api).await?;
        let base = cx.resource_base();
        let Some(service) = super::observe::find_service(api, &owner, &base).await? else { return Ok(None) };
        let vars = super::observe::read_env(api, &service.id).await?;
        if !owner::is_ours(cx, &vars) {
            return Err(owner::foreign("Render", &base, &service.id, vars.get(owner::OWNER_VAR).map(String::as_str)).into());
        }
        Ok(Some(Found { id: service.id, vars, place: () }))
    }

    async fn write(&self, s: &Found<()>, vars: &BTreeMap<String, String>) -> Result<()> {
        for (k, v) in vars {
            self.api.put(&format!("/services/{}/env-vars/{}", s.id, q(k)), &serde_json::json!({"value": v})).await?;
        }
        Ok(())
    }

    async fn remove(&self, s: &Found<()>, name: &str) -> Result<()> {
        self.api.delete(&format!("/services/{}/env-vars/{}", s.id, q(name))).await
    }
}

/// A query value, percent-encoded.
pub fn q(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
