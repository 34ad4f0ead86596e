//! A small client for Railway's public GraphQL API v2: one POST per operation,
//! `{"query","variables"}` in, `{"data"}` or `{"errors":[{"message"}]}` out.
//!
//! Credentials as the Railway CLI takes them: a project token (`RAILWAY_TOKEN`) goes in
//! the `Project-Access-Token` header and wins over an account or team token
//! (`RAILWAY_API_TOKEN`), which is sent as a bearer token.
//!
//! Also the service's variables as the store of `aideploy secrets` ([`ServiceVariables`]).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::ops::M_VARIABLES;
use crate::backends::paas::owner;
use crate::backends::paas::secrets::{Found, ServiceVars};

use crate::cloud::http::Retry;
use crate::envvars;
use crate::error::{Hinted, UsageError};

pub const DEFAULT_ENDPOINT: &str = "https://backboard.railway.com/graphql/v2";
/// Sent to a loopback endpoint instead of a real token: fakes and emulators only.
const PLACEHOLDER_TOKEN: &str = "railway-placeholder-token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An account or team token: may create projects and environments.
    Account,
    /// A project token: one project, one environment.
    Project,
}

pub struct Api {
    url: String,
    token: String,
    pub kind: TokenKind,
    http: reqwest::Client,
}

/// The API answered with GraphQL errors.
#[derive(Debug)]
pub struct GraphqlError {
    pub operation: String,
    pub messages: Vec<String>,
}

impl std::fmt::Display for GraphqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Railway API {} failed: {}", self.operation, self.messages.join("; "))
    }
}

impl std::error::Error for GraphqlError {}

impl GraphqlError {
    /// Railway answers a lookup of something that does not exist with an error, not null.
    pub fn is_not_found(&self) -> bool {
        self.messages.iter().any(|m| {
            let m = m.to_ascii_lowercase();
            m.contains("not found") || m.contains("does not exist")
        })
    }
}

fn missing_token() -> UsageError {
    UsageError::new(format!("no Railway token: neither {} nor {} is set", envvars::RAILWAY_API_TOKEN, envvars::RAILWAY_TOKEN)).hint(
        format!(
            "create an account or team token in the Railway dashboard (Account settings > Tokens) and export {}=...; \
         or a project token (Project settings > Tokens) and export {}=...",
            envvars::RAILWAY_API_TOKEN,
            envvars::RAILWAY_TOKEN
        ),
    )
}

impl Api {
    /// From `RAILWAY_TOKEN` / `RAILWAY_API_TOKEN` and `AIDEPLOY_RAILWAY_ENDPOINT`. A
    /// loopback endpoint gets a placeholder of the same kind, never the real token.
    pub fn from_env() -> Result<Api> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let url = crate::cloud::endpoint_override(envvars::AIDEPLOY_RAILWAY_ENDPOINT)?.unwrap_or_else(|| DEFAULT_ENDPOINT.into());
        let host = url.split("://").nth(1).unwrap_or("").split('/').next().unwrap_or("");
        let loopback = crate::cloud::is_loopback_host(host);
        let (kind, token) = match (env(envvars::RAILWAY_TOKEN), env(envvars::RAILWAY_API_TOKEN)) {
            (Some(t), _) => (TokenKind::Project, t),
            (None, Some(t)) => (TokenKind::Account, t),
            (None, None) if loopback => (TokenKind::Account, String::new()),
            (None, None) => return Err(missing_token().into()),
        };
        let token = if loopback { PLACEHOLDER_TOKEN.to_string() } else { token.trim().to_string() };
        let http = crate::cloud::http::client()?;
        Ok(Api { url, token, kind, http })
    }

    /// Runs one operation; its `data`, or a [`GraphqlError`].
    pub async fn run(&self, query: &str, variables: Value) -> Result<Value> {
        let operation = operation_name(query);
        let body = json!({"query": query, "variables": variables});
        let make = || {
            let req = self.http.post(&self.url).header("accept", "application/json").json(&body);
            match self.kind {
                TokenKind::Project => req.header("Project-Access-Token", &self.token),
                TokenKind::Account => req.bearer_auth(&self.token),
            }
        };
        // A query may be sent again after a dropped connection; a mutation may not.
        let idempotent = query.trim_start().starts_with("query");
        let resp = crate::cloud::http::send(Retry::default(), idempotent, make)
            .await
            .with_context(|| format!("cannot reach the Railway API at {}", self.url))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let body: Option<Value> = serde_json::from_str(&text).ok();
        let messages: Vec<String> = body
            .as_ref()
            .and_then(|b| b["errors"].as_array())
            .map(|errs| errs.iter().map(|e| e["message"].as_str().unwrap_or("unknown error").to_string()).collect())
            .unwrap_or_default();
        let unauthorized = status.as_u16() == 401
            || status.as_u16() == 403
            || messages
                .iter()
                .any(|m| m.to_ascii_lowercase().contains("not authorized") || m.to_ascii_lowercase().contains("unauthorized"));
        if unauthorized {
            let which = match self.kind {
                TokenKind::Project => envvars::RAILWAY_TOKEN,
                TokenKind::Account => envvars::RAILWAY_API_TOKEN,
            };
            let why = if messages.is_empty() { format!("HTTP {}", status.as_u16()) } else { messages.join("; ") };
            return Err(Hinted::new(
                format!("Railway API {operation} was refused: {why}"),
                format!("check that {which} is a valid Railway token with access to this project"),
            )
            .into());
        }
        if !messages.is_empty() {
            return Err(GraphqlError { operation, messages }.into());
        }
        if !status.is_success() {
            anyhow::bail!("Railway API {operation} answered HTTP {}: {}", status.as_u16(), text.chars().take(300).collect::<String>());
        }
        let Some(data) = body.map(|mut b| b["data"].take()).filter(|d| !d.is_null()) else {
            anyhow::bail!("Railway API {operation} answered without data");
        };
        Ok(data)
    }

    /// Like [`Api::run`], but `None` when Railway says the thing does not exist.
    pub async fn lookup(&self, query: &str, variables: Value) -> Result<Option<Value>> {
        match self.run(query, variables).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.downcast_ref::<GraphqlError>().is_some_and(GraphqlError::is_not_found) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// One field of an operation's `data`, read into `T` (the fields aideploy reads).
pub fn field<T: serde::de::DeserializeOwned>(mut data: Value, name: &str) -> Result<T> {
    serde_json::from_value(data[name].take()).with_context(|| format!("Railway API answered a `{name}` aideploy cannot read"))
}

/// A GraphQL connection (`{edges: [{node}]}`), typed.
#[derive(Debug, serde::Deserialize)]
pub struct Connection<T> {
    #[serde(default = "Vec::new")]
    edges: Vec<Edge<T>>,
}

#[derive(Debug, serde::Deserialize)]
struct Edge<T> {
    node: T,
}

impl<T> Default for Connection<T> {
    fn default() -> Self {
        Connection { edges: Vec::new() }
    }
}

impl<T> Connection<T> {
    pub fn nodes(self) -> Vec<T> {
        self.edges.into_iter().map(|e| e.node).collect()
    }
}

/// The service's variables as the store of `aideploy secrets` (paas::secrets): found the
/// way a deploy finds them (ours by the mark, or refused), written with `skipDeploys` so
/// the running deployment keeps serving what it has until the next deploy.
pub struct ServiceVariables {
    pub api: Api,
    pub cx: crate::engine::Cx,
}

/// The project and environment a service's variables live in.
pub struct VarPlace {
    project: String,
    environment: String,
}

#[async_trait::async_trait]
impl ServiceVars for ServiceVariables {
    type Place = VarPlace;

    fn platform(&self) -> &'static str {
        "Railway"
    }

    async fn find(&self) -> Result<Option<Found<VarPlace>>> {
        let (cx, api) = (&self.cx, &self.api);
        let Some(project) = super::observe::find_project(cx, api).await? else { return Ok(None) };
        let base = cx.resource_base();
        let Some(service) = project.services.iter().find(|(_, n)| *n == base).map(|(id, _)| id.clone()) else { return Ok(None) };
        let stage = cx.stage.to_string();
        let Some((env, _)) = project.environments.iter().find(|(_, n)| *n == stage) else {
            return Err(owner::foreign("Railway", &base, &service, None).into());
        };
        let (vars, _) = super::observe::read_vars(api, &project.id, env, &service).await?;
        if !owner::is_ours(cx, &vars) {
            return Err(owner::foreign("Railway", &base, &service, vars.get(owner::OWNER_VAR).map(String::as_str)).into());
        }
        Ok(Some(Found { id: service, vars, place: VarPlace { project: project.id, environment: env.clone() } }))
    }

    async fn write(&self, s: &Found<VarPlace>, vars: &BTreeMap<String, String>) -> Result<()> {
        let input = json!({"projectId": s.place.project, "environmentId": s.place.environment, "serviceId": s.id, "variables": vars, "skipDeploys": true});
        self.api.run(M_VARIABLES, json!({"input": input})).await?;
        Ok(())
    }

    async fn remove(&self, s: &Found<VarPlace>, name: &str) -> Result<()> {
        // `variableDelete` has no `skipDeploys`: Railway would redeploy the service. The
        // collection without the variable, replacing the one there, with `skipDeploys`,
        // leaves the running deployment alone (as a deploy that removes one does).
        let mut vars = s.vars.clone();
        vars.remove(name);
        let input = json!({"projectId": s.place.project, "environmentId": s.place.environment, "serviceId": s.id, "variables": vars, "replace": true, "skipDeploys": true});
        self.api.run(M_VARIABLES, json!({"input": input})).await?;
        Ok(())
    }
}

/// `query Name(...)` -> `Name`.
fn operation_name(query: &str) -> String {
    query
        .split_whitespace()
        .skip_while(|w| *w != "query" && *w != "mutation")
        .nth(1)
        .map(|w| w.split(['(', '{']).next().unwrap_or(w).to_string())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "operation".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names() {
        assert_eq!(operation_name("query Project($id: String!) { project(id: $id) { id } }"), "Project");
        assert_eq!(operation_name("mutation ServiceCreate{ x }"), "ServiceCreate");
        assert_eq!(operation_name("{ me { id } }"), "operation");
        let e = GraphqlError { operation: "Project".into(), messages: vec!["Project not found".into()] };
        assert!(e.is_not_found());
    }
}
