//! The `railway` target: the app's OCI image, pushed to the manifest's registry, run by
//! digest as a Railway service through Railway's public GraphQL API v2.
//!
//! Found again by name: the project is the target's `project` (id or name), the one a
//! project token belongs to, or the project `{app}` whose description carries
//! `aideploy:app={app}` (aideploy created it); `--stage` is the environment of that
//! name; the service is `{app}-{stage}`. An environment aideploy created carries the
//! shared variable `AIDEPLOY_ENVIRONMENT`. `destroy` deletes the service, then an
//! environment or a project only when aideploy created it and nothing else is in it.
//!
//! Variables are the service's variables (Railway's store for secrets), written in one
//! `variableCollectionUpsert` and only when one changed. A deploy is health-gated by
//! Railway (the service instance's `healthcheckPath` is the app's health path): aideploy
//! waits for the deployment's status; a failed or crashed one leaves the previous
//! deployment serving and exits 3.

pub(crate) mod api;
mod ops;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use serde_json::{json, Value};

use crate::artifact::registry::{CredentialSource, Credentials};
use crate::backends::paas::deploy::{self, DeployState};
use crate::backends::paas::vars;
use crate::cloud::registry_logins::RegistryLogins;
use crate::engine::legacy::LegacyBackend;
use crate::engine::{Action, Artifact, Capabilities, Cx, DefaultPackage, Health, LegacyDeployed, Op, Outcome, Plan, Provider, Reporter};
use crate::error::UsageError;
use crate::manifest::Kind;
use api::{nodes, Api, TokenKind};
use ops::*;

/// The backend. `current` remembers where it looked (the project and environment it
/// found, if any) so that `plan` can say what a first deploy will create.
#[derive(Default)]
pub struct RailwayBackend {
    seen: std::sync::Mutex<Option<Seen>>,
}

/// What `current` found when nothing of this app and stage is deployed yet.
#[derive(Clone)]
struct Seen {
    project: Option<Project>,
    environment: bool,
    project_token: bool,
}

const DEFAULT_HEALTH_TIMEOUT: u32 = 300;
/// The shared variable that marks an environment aideploy created.
const ENV_MARKER: &str = "AIDEPLOY_ENVIRONMENT";
/// Deployment statuses that end a wait badly.
const FAILED: &[&str] = &["FAILED", "CRASHED", "REMOVED", "SKIPPED"];
/// Statuses of the deployment that serves.
const SERVING: &[&str] = &["SUCCESS", "SLEEPING"];

/// How a plan names the domain Railway will generate.
const NEW_DOMAIN: &str = "<service>.up.railway.app";

/// What `build` hands to `plan` and `apply`: the pushed image by digest and the login
/// Railway needs to pull it, if the registry wants one.
struct Built {
    image: String,
    login: Option<Credentials>,
}

#[derive(Clone)]
struct Project {
    id: String,
    name: String,
    /// aideploy created it (its description carries the marker).
    ours: bool,
    /// (id, name)
    environments: Vec<(String, String)>,
    services: Vec<(String, String)>,
}

#[derive(Clone)]
struct Environment {
    id: String,
    name: String,
    ours: bool,
    /// Services with an instance in it, ours included.
    services: Vec<String>,
}

/// What is deployed now.
struct Now {
    project: Project,
    environment: Option<Environment>,
    service: Option<String>,
    instance: Value,
    vars: BTreeMap<String, String>,
    /// Newest first.
    deployments: Vec<Value>,
    domain: Option<String>,
}

impl Now {
    fn live(&self) -> Option<&Value> {
        self.deployments.iter().find(|d| d["status"].as_str().is_some_and(|s| SERVING.contains(&s)))
    }
    fn url(&self) -> Option<String> {
        self.domain.as_ref().map(|d| format!("https://{d}"))
    }
    fn digest_of(&self, d: &Value) -> Option<String> {
        deployment_digest(d).or_else(|| {
            // A deployment whose meta names no image: the instance's source, if it is the newest.
            let newest = self.deployments.first().is_some_and(|n| n["id"] == d["id"]);
            newest.then(|| self.instance["source"]["image"].as_str().and_then(digest_of_image)).flatten()
        })
    }
}

fn now_of(d: &LegacyDeployed) -> &Now {
    d.state.downcast_ref::<Now>().expect("railway state")
}

/// The name of the project aideploy creates: the target's `project`, else the app's name.
fn project_name(cx: &Cx) -> String {
    cx.target.settings.project.as_ref().map(|p| p.get().clone()).unwrap_or_else(|| cx.app_name().to_string())
}

fn workspace(cx: &Cx) -> Option<String> {
    cx.target.settings.workspace.as_ref().map(|w| w.get().clone())
}

fn marker(cx: &Cx) -> String {
    format!("aideploy:app={}", cx.app_name())
}

fn health_timeout(cx: &Cx) -> u32 {
    cx.target.settings.health_timeout.as_ref().map(|s| s.get().0).unwrap_or(DEFAULT_HEALTH_TIMEOUT)
}

fn health_path(cx: &Cx) -> String {
    cx.loaded.manifest.app().health.to_string()
}

fn digest_of_image(image: &str) -> Option<String> {
    image.split_once('@').map(|(_, d)| d.to_string())
}

/// The digest a deployment runs: its meta's `imageDigest` (the meta is untyped JSON),
/// else the digest in its meta's `image` (`...@sha256:...`).
fn deployment_digest(d: &Value) -> Option<String> {
    let meta = &d["meta"];
    meta["imageDigest"]
        .as_str()
        .filter(|s| s.starts_with("sha256:"))
        .map(str::to_string)
        .or_else(|| meta["image"].as_str().and_then(digest_of_image))
}

fn short(d: &str) -> &str {
    let d = d.trim_start_matches("sha256:");
    &d[..12.min(d.len())]
}

fn looks_like_id(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// `[env]`, the secrets that have a value, and `PORT` (Railway routes and health-checks
/// the port in `PORT`): what the service's variables should be (paas::vars).
fn desired_vars(cx: &Cx) -> BTreeMap<String, String> {
    vars::desired(cx, &[("PORT", cx.loaded.manifest.app().port.0.to_string())])
}

fn var_reason(cx: &Cx, key: &str) -> &'static str {
    vars::reason(cx, key, PORT_REASON)
}

const PORT_REASON: &[(&str, &str)] = &[("PORT", "the app's port")];

/// Per variable: create, update or delete; never the value.
fn var_actions(cx: &Cx, current: &BTreeMap<String, String>) -> Vec<Action> {
    vars::diff(cx, &desired_vars(cx), current, PORT_REASON).iter().map(vars::VarChange::row).collect()
}

/// Why the service instance's settings must change, if they must.
fn instance_changes(cx: &Cx, built: &Built, instance: &Value) -> Vec<String> {
    let mut why = Vec::new();
    if instance["source"]["image"].as_str() != Some(built.image.as_str()) {
        why.push("image".to_string());
    }
    if instance["healthcheckPath"].as_str() != Some(health_path(cx).as_str()) {
        why.push("health check path".into());
    }
    if instance["healthcheckTimeout"].as_i64() != Some(i64::from(health_timeout(cx))) {
        why.push("health check timeout".into());
    }
    why
}

async fn read_project(cx: &Cx, api: &Api, id: &str) -> Result<Option<Project>> {
    let Some(data) = api.lookup(Q_PROJECT, json!({"id": id})).await? else { return Ok(None) };
    Ok(Some(project_of(cx, &data["project"])))
}

fn project_of(cx: &Cx, p: &Value) -> Project {
    let pairs = |c: &Value| {
        nodes(c)
            .iter()
            .map(|n| (n["id"].as_str().unwrap_or_default().to_string(), n["name"].as_str().unwrap_or_default().to_string()))
            .collect()
    };
    Project {
        id: p["id"].as_str().unwrap_or_default().to_string(),
        name: p["name"].as_str().unwrap_or_default().to_string(),
        ours: p["description"].as_str().is_some_and(|d| d.contains(&marker(cx))),
        environments: pairs(&p["environments"]),
        services: pairs(&p["services"]),
    }
}

/// The project this app deploys to, if it exists.
async fn find_project(cx: &Cx, api: &Api) -> Result<Option<Project>> {
    if api.kind == TokenKind::Project {
        let t = api.run(Q_PROJECT_TOKEN, json!({})).await?;
        let id = t["projectToken"]["projectId"].as_str().unwrap_or_default().to_string();
        let Some(p) = read_project(cx, api, &id).await? else { anyhow::bail!("the Railway project token's project {id} was not found") };
        if let Some(named) = cx.target.settings.project.as_ref().map(|p| p.get()).filter(|n| **n != p.id && **n != p.name) {
            return Err(UsageError::new(format!(
                "{} is a token of Railway project {} ({}), not of `{named}`",
                crate::envvars::RAILWAY_TOKEN,
                p.name,
                p.id
            ))
            .hint(format!("use that project's token, or {} for an account token", crate::envvars::RAILWAY_API_TOKEN))
            .into());
        }
        return Ok(Some(p));
    }
    let wanted = cx.target.settings.project.as_ref().map(|p| p.get().clone());
    if let Some(id) = wanted.as_deref().filter(|p| looks_like_id(p)) {
        return match read_project(cx, api, id).await? {
            Some(p) => Ok(Some(p)),
            None => Err(UsageError::new(format!("no Railway project with id {id}"))
                .hint(format!("check `project` in [targets.{}], or give a project name to create one", cx.target.name))
                .into()),
        };
    }
    let list = api.run(Q_PROJECTS, json!({"workspaceId": workspace(cx)})).await?;
    let found = nodes(&list["projects"]).into_iter().find(|p| match &wanted {
        Some(name) => p["name"] == name.as_str(),
        None => p["name"] == cx.app_name() && p["description"].as_str().is_some_and(|d| d.contains(&marker(cx))),
    });
    match found {
        Some(p) => read_project(cx, api, p["id"].as_str().unwrap_or_default()).await,
        None => Ok(None),
    }
}

async fn read_environment(cx: &Cx, api: &Api, project: &Project) -> Result<Option<Environment>> {
    let Some((id, name)) = project.environments.iter().find(|(_, n)| *n == cx.stage.to_string()).cloned() else { return Ok(None) };
    let shared = api.run(Q_VARIABLES, json!({"projectId": project.id, "environmentId": id, "serviceId": null})).await?;
    let ours = shared["variables"][ENV_MARKER].as_str().is_some_and(|v| v.contains(&marker(cx)));
    let e = api.run(Q_ENVIRONMENT, json!({"id": id})).await?;
    let services =
        nodes(&e["environment"]["serviceInstances"]).iter().filter_map(|n| n["serviceId"].as_str().map(str::to_string)).collect();
    Ok(Some(Environment { id, name, ours, services }))
}

async fn read_vars(api: &Api, project: &str, env: &str, service: &str) -> Result<BTreeMap<String, String>> {
    let v = api.run(Q_VARIABLES, json!({"projectId": project, "environmentId": env, "serviceId": service})).await?;
    Ok(v["variables"]
        .as_object()
        .into_iter()
        .flatten()
        // Railway's own variables (RAILWAY_*) are not the app's.
        .filter(|(k, _)| !k.starts_with("RAILWAY_"))
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
        .collect())
}

async fn read_deployments(api: &Api, project: &str, env: &str, service: &str) -> Result<Vec<Value>> {
    let d = api.run(Q_DEPLOYMENTS, json!({"input": {"projectId": project, "environmentId": env, "serviceId": service}})).await?;
    let mut list = nodes(&d["deployments"]);
    list.sort_by(|a, b| b["createdAt"].as_str().unwrap_or("").cmp(a["createdAt"].as_str().unwrap_or("")));
    Ok(list)
}

async fn read_domain(api: &Api, project: &str, env: &str, service: &str) -> Result<Option<String>> {
    let d = api.run(Q_DOMAINS, json!({"projectId": project, "environmentId": env, "serviceId": service})).await?;
    Ok(d["domains"]["serviceDomains"].as_array().into_iter().flatten().find_map(|s| s["domain"].as_str().map(str::to_string)))
}

/// Everything aideploy knows about this app and stage on Railway; when nothing of it
/// exists, `Err` with the project it would go to, if that exists.
async fn read_now(cx: &Cx, api: &Api) -> Result<std::result::Result<Now, Option<Project>>> {
    let Some(project) = find_project(cx, api).await? else { return Ok(Err(None)) };
    let environment = read_environment(cx, api, &project).await?;
    let base = cx.resource_base();
    let service = project.services.iter().find(|(_, n)| *n == base).map(|(id, _)| id.clone());
    let mut now =
        Now { project, environment, service, instance: Value::Null, vars: BTreeMap::new(), deployments: Vec::new(), domain: None };
    match (&now.environment, &now.service) {
        (Some(env), Some(svc)) => {
            let (p, e, s) = (now.project.id.clone(), env.id.clone(), svc.clone());
            now.instance = api
                .lookup(Q_INSTANCE, json!({"serviceId": s, "environmentId": e}))
                .await?
                .map(|v| v["serviceInstance"].clone())
                .unwrap_or(Value::Null);
            now.vars = read_vars(api, &p, &e, &s).await?;
            now.deployments = read_deployments(api, &p, &e, &s).await?;
            now.domain = read_domain(api, &p, &e, &s).await?;
            Ok(Ok(now))
        }
        // Left over from an interrupted first deploy: still ours to clean up.
        _ if now.project.ours && now.project.services.is_empty() => Ok(Ok(now)),
        _ => Ok(Err(Some(now.project))),
    }
}

/// The last log lines of a deployment, as Railway's reason for its failure.
async fn failure_logs(cx: &Cx, api: &Api, deployment: &str) -> String {
    match api.run(Q_LOGS, json!({"deploymentId": deployment})).await {
        Ok(v) => {
            let lines: Vec<String> =
                v["deploymentLogs"].as_array().into_iter().flatten().filter_map(|l| l["message"].as_str().map(str::to_string)).collect();
            let tail = lines[lines.len().saturating_sub(10)..].join("\n");
            cx.secrets.redact(&tail)
        }
        Err(e) => format!("(its logs could not be read: {e})"),
    }
}

/// Railway's deployment statuses, mapped.
fn state_of(status: &str) -> DeployState {
    if SERVING.contains(&status) {
        DeployState::Live
    } else if FAILED.contains(&status) {
        DeployState::Failed(status.into())
    } else {
        DeployState::Going(status.into())
    }
}

/// Waits for a deployment to serve or end (paas::deploy); `Err` carries the failure,
/// with its last log lines.
async fn wait_deployment(cx: &Cx, api: &Api, id: &str, r: &dyn Reporter) -> Result<std::result::Result<(), String>> {
    let timeout = Duration::from_secs(u64::from(health_timeout(cx)) + 600);
    deploy::wait(
        cx,
        "Railway deployment",
        id,
        timeout,
        r,
        || async move {
            let d = api.run(Q_DEPLOYMENT, json!({"id": id})).await?;
            Ok(state_of(d["deployment"]["status"].as_str().unwrap_or("UNKNOWN")))
        },
        || failure_logs(cx, api, id),
    )
    .await
}

/// An API error with every secret value and the registry password taken out: an API
/// may quote the input it rejected.
fn redacted(cx: &Cx, built: Option<&Built>, e: anyhow::Error) -> anyhow::Error {
    let original = format!("{e:#}");
    let mut text = cx.secrets.redact(&original);
    if let Some(login) = built.and_then(|b| b.login.as_ref()).filter(|l| l.password.len() >= 4) {
        text = text.replace(&login.password, "***");
    }
    if text == original {
        e
    } else {
        anyhow::anyhow!(text)
    }
}

/// The deployment a rollback returns to: the newest one before the live deployment
/// that Railway can roll back to and runs another image.
fn previous_deployment(n: &Now) -> Option<&Value> {
    let live = n.live()?;
    let live_digest = n.digest_of(live);
    let at = n.deployments.iter().position(|d| d["id"] == live["id"])?;
    n.deployments[at + 1..].iter().find(|d| d["canRollback"] == true && d["status"] == "REMOVED" && n.digest_of(d) != live_digest)
}

#[async_trait]
impl LegacyBackend for RailwayBackend {
    fn kind(&self) -> Kind {
        Kind::Railway
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: Provider::Railway,
            secret_store: false,
            logs: false,
            rollback: true,
            default_package: DefaultPackage::Image,
            needs_registry: true,
            lease: false,
        }
    }

    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Artifact> {
        let Some(repo) = crate::artifact::image::push_repository(&cx.loaded)? else {
            return Err(UsageError::new("the railway target runs the app's image from a registry, and none is named")
                .hint(format!(
                    "set `registry = \"ghcr.io/you/app\"` in [build], or {}=REGISTRY/REPOSITORY",
                    crate::envvars::AIDEPLOY_REGISTRY
                ))
                .into());
        };
        // Fail on a missing token before building anything.
        Api::from_env()?;
        let mut artifact = crate::artifact::image::build(&cx.loaded, &cx.stage, Some(&cx.target), true, r).await?;
        let image = format!("{}@{}", repo.name(), artifact.digest);
        let login = RegistryLogins::new(Some(repo.registry.clone())).credentials(&repo.registry).await?;
        artifact.payload = Arc::new(Built { image, login });
        Ok(artifact)
    }

    async fn current(&self, cx: &Cx) -> Result<Option<LegacyDeployed>> {
        let api = Api::from_env()?;
        let now = match read_now(cx, &api).await? {
            Ok(now) => now,
            Err(project) => {
                let environment = project.as_ref().is_some_and(|p| p.environments.iter().any(|(_, n)| *n == cx.stage.to_string()));
                *self.seen.lock().expect("seen") = Some(Seen { project, environment, project_token: api.kind == TokenKind::Project });
                return Ok(None);
            }
        };
        let live = now.live();
        let mut details = serde_json::Map::new();
        details.insert("project".into(), json!(format!("{} ({})", now.project.name, now.project.id)));
        details.insert("environment".into(), json!(now.environment.as_ref().map(|e| format!("{} ({})", e.name, e.id))));
        details.insert("service".into(), json!(now.service));
        details.insert("deployment".into(), json!(live.and_then(|d| d["id"].as_str())));
        details.insert("image".into(), json!(live.and_then(|d| d["meta"]["image"].as_str()).or(now.instance["source"]["image"].as_str())));
        if let Some(latest) = now.deployments.first().filter(|d| live.is_none_or(|l| l["id"] != d["id"])) {
            details.insert(
                "latest_deployment".into(),
                json!(format!("{} ({})", latest["id"].as_str().unwrap_or("?"), latest["status"].as_str().unwrap_or("?"))),
            );
        }
        Ok(Some(LegacyDeployed {
            digest: live.and_then(|d| now.digest_of(d)).unwrap_or_default(),
            url: now.url(),
            health: if live.is_some() { Health::Passed } else { Health::Failed },
            details,
            state: Arc::new(now),
        }))
    }

    fn plan(&self, cx: &Cx, now: Option<&LegacyDeployed>, artifact: &Artifact) -> Plan {
        let built = artifact.payload.downcast_ref::<Built>().expect("railway artifact");
        let base = cx.resource_base();
        let n = now.map(now_of);
        let mut plan = Plan::default();
        let seen = self.seen.lock().expect("seen").clone();
        let (project, environment) = match (n, &seen) {
            (Some(n), _) => (Some(n.project.name.clone()), n.environment.is_some()),
            (None, Some(s)) => (s.project.as_ref().map(|p| p.name.clone()), s.environment),
            (None, None) => (None, false),
        };
        if project.is_none() {
            plan.actions.push(Action::new(Op::Create, "project", project_name(cx)).because("a new Railway project, marked as aideploy's"));
        }
        if !environment && seen.as_ref().is_some_and(|s| s.project_token) {
            plan.warnings.push(format!(
                "{} is a project token: it cannot create the environment `{}`; deploy to one of its project's environments with --stage, or use {}",
                crate::envvars::RAILWAY_TOKEN,
                cx.stage,
                crate::envvars::RAILWAY_API_TOKEN
            ));
        }
        if !environment {
            plan.actions.push(Action::new(Op::Create, "environment", cx.stage.to_string()).because(match &project {
                Some(p) => format!("in project {p}"),
                None => "in the new project".into(),
            }));
        }
        let deploy = Action::new(Op::Create, "deployment", format!("@{}", short(&artifact.digest)));
        match n.filter(|n| n.service.is_some()) {
            None => {
                plan.actions.push(Action::new(Op::Create, "service", &base).because(format!("image @{}", short(&artifact.digest))));
                for k in desired_vars(cx).keys() {
                    plan.actions.push(Action::new(Op::Create, "variable", k).because(var_reason(cx, k)));
                }
                plan.actions.push(deploy.because("first deployment"));
                plan.actions.push(Action::new(Op::Create, "domain", NEW_DOMAIN).because("Railway domain"));
            }
            Some(n) => {
                let why = instance_changes(cx, built, &n.instance);
                plan.actions.push(if why.is_empty() {
                    Action::new(Op::Noop, "service", &base)
                } else {
                    Action::new(Op::Update, "service", &base).because(why.join(", "))
                });
                let vars = var_actions(cx, &n.vars);
                let live = n.live().and_then(|d| n.digest_of(d));
                let reason = if live.as_deref() != Some(artifact.digest.as_str()) {
                    Some(match &live {
                        Some(l) => format!("image {} -> {}", short(l), short(&artifact.digest)),
                        None => "no live deployment".into(),
                    })
                } else if !vars.is_empty() {
                    Some("variables changed".into())
                } else if !why.is_empty() {
                    Some("service settings changed".into())
                } else {
                    None
                };
                plan.actions.extend(vars);
                plan.actions.push(match reason {
                    Some(r) => deploy.because(r),
                    None => Action::new(Op::Noop, "deployment", format!("@{}", short(&artifact.digest))),
                });
                plan.actions.push(match &n.domain {
                    Some(d) => Action::new(Op::Noop, "domain", d),
                    None => Action::new(Op::Create, "domain", NEW_DOMAIN).because("Railway domain"),
                });
            }
        }
        plan
    }

    async fn apply(&self, cx: &Cx, plan: &Plan, now: Option<&LegacyDeployed>, artifact: &Artifact, r: &dyn Reporter) -> Result<Outcome> {
        let built = artifact.payload.downcast_ref::<Built>().expect("railway artifact");
        let api = Api::from_env()?;
        let base = cx.resource_base();
        let stage = cx.stage.to_string();
        let mut actions = plan.actions.clone();
        let fail = |e: anyhow::Error| redacted(cx, Some(built), e);

        // Re-read: a re-run after an interrupted deploy finds everything by name.
        let fresh;
        let (n, mut project) = match now {
            Some(d) => (Some(now_of(d)), Some(now_of(d).project.clone())),
            None => {
                fresh = read_now(cx, &api).await?;
                match &fresh {
                    Ok(n) => (Some(n), Some(n.project.clone())),
                    Err(p) => (None, p.clone()),
                }
            }
        };
        let mut created_env = None;
        if project.is_none() {
            let name = project_name(cx);
            r.step(&format!("creating Railway project {name}"));
            let description = format!(
                "Created by aideploy for the app {}; `aideploy destroy` deletes it with its last service. {}",
                cx.app_name(),
                marker(cx)
            );
            let mut input = json!({"name": name, "description": description, "defaultEnvironmentName": stage});
            if let Some(w) = workspace(cx) {
                input["workspaceId"] = json!(w);
            }
            let p = api.run(M_PROJECT_CREATE, json!({"input": input})).await?;
            let p = project_of(cx, &p["projectCreate"]);
            if !actions.iter().any(|a| a.resource == "project") {
                actions.insert(0, Action::new(Op::Create, "project", &name));
            }
            created_env = p.environments.iter().find(|(_, n)| *n == stage).map(|(id, _)| id.clone());
            project = Some(p);
            r.done();
        }
        let mut project = project.expect("found or created");

        // The stage's environment.
        let env_id = match project.environments.iter().find(|(_, n)| *n == stage) {
            Some((id, _)) => id.clone(),
            None => {
                if api.kind == TokenKind::Project {
                    return Err(UsageError::new(format!(
                        "Railway project {} has no environment `{stage}`, and a project token cannot create one",
                        project.name
                    ))
                    .hint(format!(
                        "deploy with --stage set to the token's environment, or use {} to let aideploy create `{stage}`",
                        crate::envvars::RAILWAY_API_TOKEN
                    ))
                    .into());
                }
                r.step(&format!("creating environment {stage}"));
                let e = api
                    .run(M_ENVIRONMENT_CREATE, json!({"input": {"projectId": project.id, "name": stage, "skipInitialDeploys": true}}))
                    .await?;
                let id = e["environmentCreate"]["id"].as_str().unwrap_or_default().to_string();
                if !actions.iter().any(|a| a.resource == "environment") {
                    actions.insert(0, Action::new(Op::Create, "environment", &stage));
                }
                project.environments.push((id.clone(), stage.clone()));
                created_env = Some(id.clone());
                r.done();
                id
            }
        };
        if let Some(env) = &created_env {
            // Mark it, so destroy knows it may delete it.
            api.run(
                M_VARIABLES,
                json!({"input": {"projectId": project.id, "environmentId": env, "variables": {ENV_MARKER: format!("created by aideploy; {}", marker(cx))}, "skipDeploys": true}}),
            )
            .await?;
        }

        // The service.
        let (service_id, instance, current_vars, live) = match n.and_then(|n| n.service.clone().map(|s| (s, n))) {
            Some((id, n)) => (id, n.instance.clone(), n.vars.clone(), n.live().and_then(|d| n.digest_of(d))),
            None => match project.services.iter().find(|(_, name)| *name == base) {
                Some((id, _)) => {
                    let inst = api
                        .lookup(Q_INSTANCE, json!({"serviceId": id, "environmentId": env_id}))
                        .await?
                        .map(|v| v["serviceInstance"].clone())
                        .unwrap_or(Value::Null);
                    let vars = read_vars(&api, &project.id, &env_id, id).await?;
                    (id.clone(), inst, vars, None)
                }
                None => {
                    r.step(&format!("creating service {base}"));
                    let s = api
                        .run(M_SERVICE_CREATE, json!({"input": {"projectId": project.id, "environmentId": env_id, "name": base}}))
                        .await?;
                    r.done();
                    let Some(id) = s["serviceCreate"]["id"].as_str().filter(|i| !i.is_empty()) else {
                        anyhow::bail!(
                            "Railway created service {base} but answered without its id; run the deploy again to pick it up by name"
                        );
                    };
                    (id.to_string(), Value::Null, BTreeMap::new(), None)
                }
            },
        };

        // Its settings: the image by digest, the health check, the registry login.
        let settings_changed = !instance_changes(cx, built, &instance).is_empty();
        if settings_changed {
            r.step(&format!("setting {base} to image @{}", short(&artifact.digest)));
            let mut input =
                json!({"source": {"image": built.image}, "healthcheckPath": health_path(cx), "healthcheckTimeout": health_timeout(cx)});
            if let Some(login) = &built.login {
                input["registryCredentials"] = json!({"username": login.username, "password": login.password});
            }
            api.run(M_INSTANCE_UPDATE, json!({"serviceId": service_id, "environmentId": env_id, "input": input})).await.map_err(fail)?;
            r.done();
        }

        // Variables: one upsert, only when one changed.
        let changes = var_actions(cx, &current_vars);
        if !changes.is_empty() {
            r.step(&format!("setting {} variable(s)", changes.len()));
            let mut vars = desired_vars(cx);
            let replace = changes.iter().any(|a| a.op == Op::Delete);
            if replace {
                // `replace` drops every variable not sent: keep the optional secrets with no value this time.
                for k in &cx.secrets.absent {
                    if let Some(v) = current_vars.get(k) {
                        vars.insert(k.clone(), v.clone());
                    }
                }
            } else {
                vars.retain(|k, _| changes.iter().any(|a| a.id == *k));
            }
            api.run(M_VARIABLES, json!({"input": {"projectId": project.id, "environmentId": env_id, "serviceId": service_id, "variables": vars, "replace": replace, "skipDeploys": true}}))
                .await
                .map_err(fail)?;
            r.done();
        }

        // The deployment.
        let deploy = live.as_deref() != Some(artifact.digest.as_str()) || settings_changed || !changes.is_empty();
        let deployment = if deploy {
            r.step(&format!("deploying @{}", short(&artifact.digest)));
            let d = api.run(M_DEPLOY, json!({"serviceId": service_id, "environmentId": env_id})).await?;
            r.done();
            d["serviceInstanceDeployV2"].as_str().map(str::to_string)
        } else {
            None
        };

        // A Railway domain, once.
        let domain = match n.and_then(|n| n.domain.clone()) {
            Some(d) => Some(d),
            None => match read_domain(&api, &project.id, &env_id, &service_id).await? {
                Some(d) => Some(d),
                None => {
                    r.step("creating a Railway domain");
                    let d = api
                        .run(M_DOMAIN_CREATE, json!({"input": {"environmentId": env_id, "serviceId": service_id, "targetPort": cx.loaded.manifest.app().port.0}}))
                        .await?;
                    r.done();
                    d["serviceDomainCreate"]["domain"].as_str().map(str::to_string)
                }
            },
        };
        let url = domain.map(|d| format!("https://{d}"));
        let Some(deployment) = deployment else {
            return Ok(Outcome { url, health: Health::Passed, actions, failure: None, pushed: None });
        };
        match wait_deployment(cx, &api, &deployment, r).await? {
            Ok(_) => Ok(Outcome { url, health: Health::Passed, actions, failure: None, pushed: None }),
            Err(why) => {
                // The service's source goes back to the image that serves, so a restart
                // or redeploy on Railway's side does not bring the failing image back.
                let serving = instance["source"]["image"].as_str().filter(|i| live.as_deref().is_some_and(|l| i.ends_with(l)));
                if let (Some(image), true) = (serving, settings_changed) {
                    let input = json!({"source": {"image": image}});
                    if let Err(e) =
                        api.run(M_INSTANCE_UPDATE, json!({"serviceId": service_id, "environmentId": env_id, "input": input})).await
                    {
                        r.warn(&format!("could not point {base} back at the serving image: {e:#}"));
                    }
                }
                let kept = if live.is_some() { "the previous deployment keeps serving" } else { "nothing is serving" };
                Ok(Outcome { url, health: Health::Failed, actions, failure: Some(format!("{why}\n({kept})")), pushed: None })
            }
        }
    }

    fn plan_rollback(&self, cx: &Cx, now: &LegacyDeployed) -> Result<Plan> {
        let n = now_of(now);
        let Some(prev) = previous_deployment(n) else {
            return Err(UsageError::new(format!(
                "{} ({}) has no earlier successful Railway deployment to roll back to",
                cx.app_name(),
                cx.stage
            ))
            .hint("rollback returns to the deployment before the live one; deploy at least twice first")
            .into());
        };
        let mut plan = Plan::default();
        plan.actions.push(
            Action::new(Op::Create, "deployment", format!("rollback to {}", prev["id"].as_str().unwrap_or("?")))
                .because(format!("back to @{}", n.digest_of(prev).as_deref().map(short).unwrap_or("?"))),
        );
        Ok(plan)
    }

    async fn rollback(&self, cx: &Cx, plan: &Plan, now: &LegacyDeployed, r: &dyn Reporter) -> Result<Outcome> {
        let n = now_of(now);
        let api = Api::from_env()?;
        let prev = previous_deployment(n).expect("checked by plan_rollback");
        let (Some(env), Some(service)) = (&n.environment, &n.service) else { anyhow::bail!("nothing is deployed to roll back") };
        r.step("rolling back on Railway");
        api.run(M_ROLLBACK, json!({"id": prev["id"]})).await?;
        r.done();
        // deploymentRollback answers a boolean: the new deployment is the newest one we did not know.
        let after = read_deployments(&api, &n.project.id, &env.id, service).await?;
        let Some(new) = after.iter().find(|d| !n.deployments.iter().any(|k| k["id"] == d["id"])) else {
            return Ok(Outcome { url: n.url(), health: Health::Passed, actions: plan.actions.clone(), failure: None, pushed: None });
        };
        let id = new["id"].as_str().unwrap_or_default().to_string();
        match wait_deployment(cx, &api, &id, r).await? {
            Ok(_) => Ok(Outcome { url: n.url(), health: Health::Passed, actions: plan.actions.clone(), failure: None, pushed: None }),
            Err(why) => Ok(Outcome {
                url: n.url(),
                health: Health::Failed,
                actions: plan.actions.clone(),
                failure: Some(format!("{why}\n(the current deployment keeps serving)")),
                pushed: None,
            }),
        }
    }

    fn plan_destroy(&self, cx: &Cx, now: &LegacyDeployed) -> Plan {
        let n = now_of(now);
        let mut plan = Plan::default();
        let others: Vec<&String> =
            n.project.services.iter().filter(|(id, _)| Some(id) != n.service.as_ref()).map(|(_, name)| name).collect();
        if let Some(s) = &n.service {
            plan.actions.push(Action::new(Op::Delete, "service", format!("{} ({s})", cx.resource_base())));
        }
        if n.project.ours && others.is_empty() {
            plan.actions
                .push(Action::new(Op::Delete, "project", format!("{} ({})", n.project.name, n.project.id)).because("created by aideploy"));
            return plan;
        }
        if let Some(env) = &n.environment {
            let others_here = env.services.iter().any(|s| Some(s) != n.service.as_ref());
            if env.ours && !others_here {
                plan.actions
                    .push(Action::new(Op::Delete, "environment", format!("{} ({})", env.name, env.id)).because("created by aideploy"));
            } else {
                plan.actions.push(Action::new(Op::Noop, "environment", &env.name).because(if env.ours {
                    "other services use it"
                } else {
                    "not created by aideploy"
                }));
            }
        }
        plan.actions.push(Action::new(Op::Noop, "project", &n.project.name).because(if n.project.ours {
            "other services remain"
        } else {
            "not created by aideploy"
        }));
        plan
    }

    async fn destroy(&self, cx: &Cx, now: &LegacyDeployed, r: &dyn Reporter) -> Result<Outcome> {
        let n = now_of(now);
        let api = Api::from_env()?;
        let plan = self.plan_destroy(cx, now);
        if let Some(s) = &n.service {
            r.step(&format!("deleting service {}", cx.resource_base()));
            api.run(M_SERVICE_DELETE, json!({"id": s})).await?;
            r.done();
        }
        for a in plan.actions.iter().filter(|a| a.op == Op::Delete) {
            match a.resource.as_str() {
                "environment" => {
                    let env = n.environment.as_ref().expect("planned");
                    r.step(&format!("deleting environment {}", env.name));
                    api.run(M_ENVIRONMENT_DELETE, json!({"id": env.id})).await?;
                    r.done();
                }
                "project" => {
                    r.step(&format!("deleting project {}", n.project.name));
                    api.run(M_PROJECT_DELETE, json!({"id": n.project.id})).await?;
                    r.done();
                }
                _ => {}
            }
        }
        Ok(Outcome { url: None, health: Health::Skipped, actions: plan.actions, failure: None, pushed: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(id: &str, digest: &str, status: &str, at: &str) -> Value {
        json!({"id": id, "status": status, "createdAt": at, "canRollback": status == "REMOVED" || status == "SUCCESS", "meta": {"image": format!("ghcr.io/a/b@{digest}")}})
    }

    #[test]
    fn rollback_target_is_the_last_removed_deployment_of_another_image() {
        let project = Project { id: "p".into(), name: "p".into(), ours: true, environments: vec![], services: vec![] };
        let now = Now {
            project,
            environment: None,
            service: Some("s".into()),
            instance: Value::Null,
            vars: BTreeMap::new(),
            deployments: vec![
                dep("d4", "sha256:cc", "FAILED", "4"),
                dep("d3", "sha256:bb", "SUCCESS", "3"),
                dep("d2", "sha256:bb", "REMOVED", "2"),
                dep("d1", "sha256:aa", "REMOVED", "1"),
            ],
            domain: None,
        };
        assert_eq!(previous_deployment(&now).unwrap()["id"], "d1");
        assert_eq!(now.digest_of(now.live().unwrap()).as_deref(), Some("sha256:bb"));
        let none = Now { deployments: vec![dep("d1", "sha256:aa", "SUCCESS", "1")], ..now };
        assert!(previous_deployment(&none).is_none());
        // A deployment without meta is no digest, not a panic.
        assert_eq!(deployment_digest(&json!({"id": "x"})), None);
        assert_eq!(
            deployment_digest(&json!({"meta": {"image": "ghcr.io/a/b:v1", "imageDigest": "sha256:dd"}})).as_deref(),
            Some("sha256:dd")
        );
    }

    #[test]
    fn ids_and_names() {
        assert!(looks_like_id("0a1b2c3d-0000-4000-8000-123456789abc"));
        assert!(!looks_like_id("my-railway-project"));
    }
}
