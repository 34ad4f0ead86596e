//! A small client for Render's REST API v1: bearer key, JSON in and out, Render's
//! error shape (`{"id","message"}`) turned into errors that say what failed.

use anyhow::{Context, Result};
use serde_json::Value;

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
    /// The endpoint is on this machine (tests): poll fast.
    pub loopback: bool,
}

impl Api {
    /// From `RENDER_API_KEY` and `AIDEPLOY_RENDER_ENDPOINT`; a loopback endpoint gets a
    /// placeholder key, never the real one.
    pub fn from_env() -> Result<Api> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let base = env(envvars::AIDEPLOY_RENDER_ENDPOINT).unwrap_or_else(|| DEFAULT_ENDPOINT.into());
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
        Ok(Api { base, key, http, loopback })
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Option<Value>> {
        let url = format!("{}{path}", self.base);
        let make = || {
            let req = self.http.request(method.clone(), &url).bearer_auth(&self.key).header("accept", "application/json");
            match body {
                Some(b) => req.json(b),
                None => req,
            }
        };
        let resp = crate::cloud::http::send(Retry::default(), false, make)
            .await
            .with_context(|| format!("cannot reach the Render API at {}", self.base))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::NOT_FOUND && method == reqwest::Method::GET {
            return Ok(None);
        }
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| text.chars().take(300).collect());
            let what = format!("Render API {method} {path} answered {}: {message}", status.as_u16());
            return Err(match status.as_u16() {
                401 | 403 => Hinted::new(what, format!("check that {} is a valid key for this workspace", envvars::RENDER_API_KEY)).into(),
                _ => anyhow::anyhow!(what),
            });
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
    pub async fn list(&self, path: &str, key: &str) -> Result<Vec<Value>> {
        let v = self.get(path).await?.unwrap_or(Value::Null);
        let Some(items) = v.as_array() else {
            anyhow::bail!("Render API GET {path} did not answer with a list");
        };
        Ok(items.iter().filter_map(|i| i.get(key).cloned()).collect())
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
