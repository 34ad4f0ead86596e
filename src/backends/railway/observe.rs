//! What exists on Railway for this app and stage, read into plain data: the project it
//! goes to (ours by the marker in its description, or named by the target or a project
//! token), the stage's environment, the service `{app}-{stage}` (only when it carries
//! aideploy's mark), its instance settings, variables, deployments and domain.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{field, Api, Connection, TokenKind};
use super::ops::*;
use super::{looks_like_id, marker, workspace, ENV_MARKER, SERVING};
use crate::backends::paas::{owner, secrets};
use crate::engine::Cx;
use crate::error::UsageError;

/// What Railway has of this app and stage: nothing (no project), part of it (a project
/// or environment left by an interrupted first deploy, a service without a live
/// deployment), or all of it.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The token is a project token: one project, and it cannot create environments.
    pub project_token: bool,
    /// The project this app deploys to, when it exists.
    pub project: Option<SeenProject>,
    /// The stage's environment in it, when it exists.
    pub environment: Option<SeenEnvironment>,
    /// The service `{app}-{stage}`, aideploy's by its mark.
    pub service: Option<SeenService>,
}

#[derive(Debug, Clone, Default)]
pub struct SeenProject {
    pub id: String,
    pub name: String,
    /// aideploy created it (its description carries the marker).
    pub ours: bool,
    /// (id, name)
    pub environments: Vec<(String, String)>,
    /// (id, name)
    pub services: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct SeenEnvironment {
    pub id: String,
    pub name: String,
    /// aideploy created it (its shared variable `AIDEPLOY_ENVIRONMENT`).
    pub ours: bool,
    /// Services with an instance in it, ours included.
    pub services: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SeenService {
    pub id: String,
    /// Its settings in the stage's environment (None: no instance there yet).
    pub instance: Option<SeenInstance>,
    /// Its variables (the owner mark included; Railway's own `RAILWAY_*` left out).
    pub vars: BTreeMap<String, String>,
    /// Newest first.
    pub deployments: Vec<SeenDeployment>,
    /// Its Railway domain (public), if it has one.
    pub domain: Option<SeenDomain>,
    /// Its name on the project's private network (Railway's `RAILWAY_PRIVATE_DOMAIN`).
    pub private_domain: Option<String>,
}

/// A Railway-provided domain of the service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeenDomain {
    pub id: String,
    pub domain: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeenInstance {
    /// `repo@sha256:...`
    pub image: Option<String>,
    pub health_path: Option<String>,
    pub health_timeout: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenDeployment {
    pub id: String,
    pub status: String,
    /// `repo@sha256:...`, when its meta names it.
    pub image: Option<String>,
    pub digest: Option<String>,
    pub can_rollback: bool,
    /// When Railway made it (RFC 3339, UTC).
    pub created: Option<String>,
    /// Who made it: the user's email (or name), when Railway records one.
    pub creator: Option<String>,
}

impl SeenService {
    /// The deployment that serves.
    pub fn live(&self) -> Option<&SeenDeployment> {
        self.deployments.iter().find(|d| SERVING.contains(&d.status.as_str()))
    }
    /// Its public address: only when it has a Railway domain.
    pub fn url(&self) -> Option<String> {
        self.domain.as_ref().map(|d| format!("https://{}", d.domain))
    }
}

impl Observed {
    pub fn url(&self) -> Option<String> {
        self.service.as_ref().and_then(SeenService::url)
    }
}

/// A deployment as Railway answers it (its `meta` is untyped JSON).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Deployment {
    id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    meta: Value,
    #[serde(default)]
    can_rollback: Option<bool>,
    #[serde(default)]
    creator: Option<Creator>,
}

/// Who made a deployment, as Railway records it.
#[derive(Deserialize)]
struct Creator {
    name: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Instance {
    healthcheck_path: Option<String>,
    healthcheck_timeout: Option<i64>,
    source: Option<Source>,
}

#[derive(Deserialize)]
struct Source {
    image: Option<String>,
}

pub fn digest_of_image(image: &str) -> Option<String> {
    image.split_once('@').map(|(_, d)| d.to_string())
}

/// The digest a deployment runs: its meta's `imageDigest`, else the digest in its meta's
/// `image` (`...@sha256:...`).
pub fn deployment_digest(meta: &Value) -> Option<String> {
    meta["imageDigest"]
        .as_str()
        .filter(|s| s.starts_with("sha256:"))
        .map(str::to_string)
        .or_else(|| meta["image"].as_str().and_then(digest_of_image))
}

/// A project as Railway answers it.
#[derive(Deserialize)]
pub struct Project {
    id: String,
    #[serde(default)]
    name: String,
    description: Option<String>,
    #[serde(default, rename = "createdAt")]
    created_at: String,
    #[serde(default)]
    environments: Connection<IdName>,
    #[serde(default)]
    services: Connection<IdName>,
}

#[derive(Deserialize)]
struct IdName {
    id: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectToken {
    project_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Environment {
    #[serde(default)]
    service_instances: Connection<InstanceOf>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstanceOf {
    service_id: String,
}

impl Project {
    fn ours(&self, cx: &Cx) -> bool {
        self.description.as_deref().is_some_and(|d| d.contains(&marker(cx)))
    }
}

pub fn project_of(cx: &Cx, p: Project) -> SeenProject {
    let pairs = |c: Connection<IdName>| c.nodes().into_iter().map(|n| (n.id, n.name)).collect();
    SeenProject { ours: p.ours(cx), id: p.id, name: p.name, environments: pairs(p.environments), services: pairs(p.services) }
}

async fn read_project(cx: &Cx, api: &Api, id: &str) -> Result<Option<SeenProject>> {
    let Some(data) = api.lookup(Q_PROJECT, json!({"id": id})).await? else { return Ok(None) };
    Ok(Some(project_of(cx, field(data, "project")?)))
}

/// The project this app deploys to, if it exists. With no `project` in the target, a
/// project named like the app that aideploy did not create is refused, not adopted.
pub(super) async fn find_project(cx: &Cx, api: &Api) -> Result<Option<SeenProject>> {
    if api.kind == TokenKind::Project {
        let id = field::<ProjectToken>(api.run(Q_PROJECT_TOKEN, json!({})).await?, "projectToken")?.project_id;
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
    let list: Connection<Project> = field(api.run(Q_PROJECTS, json!({"workspaceId": workspace(cx)})).await?, "projects")?;
    let mut projects = list.nodes();
    // Railway does not keep names unique: the oldest is the one (the lease's too).
    projects.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    let found = match &wanted {
        Some(name) => projects.iter().find(|p| p.name == *name),
        None => {
            let named: Vec<&Project> = projects.iter().filter(|p| p.name == cx.app_name()).collect();
            match named.iter().copied().find(|p| p.ours(cx)) {
                Some(p) => Some(p),
                None => {
                    if let Some(theirs) = named.first() {
                        return Err(UsageError::new(format!(
                            "Railway project {} ({}) exists but was not created by aideploy for this app: its description lacks `{}`",
                            cx.app_name(),
                            theirs.id,
                            marker(cx)
                        ))
                        .hint(format!(
                            "to deploy into it, set `project = \"{}\"` in [targets.{}]; or rename the app; aideploy does not adopt it by name",
                            cx.app_name(),
                            cx.target.name
                        ))
                        .into());
                    }
                    None
                }
            }
        }
    };
    match found {
        Some(p) => read_project(cx, api, &p.id).await,
        None => Ok(None),
    }
}

async fn read_environment(cx: &Cx, api: &Api, project: &SeenProject) -> Result<Option<SeenEnvironment>> {
    let Some((id, name)) = project.environments.iter().find(|(_, n)| *n == cx.stage.to_string()).cloned() else { return Ok(None) };
    let shared = api.run(Q_VARIABLES, json!({"projectId": project.id, "environmentId": id, "serviceId": null})).await?;
    let ours = shared["variables"][ENV_MARKER].as_str().is_some_and(|v| v.contains(&marker(cx)));
    let e: Environment = field(api.run(Q_ENVIRONMENT, json!({"id": id})).await?, "environment")?;
    let services = e.service_instances.nodes().into_iter().map(|i| i.service_id).collect();
    Ok(Some(SeenEnvironment { id, name, ours, services }))
}

/// The service's variables (Railway's own `RAILWAY_*` left out), and its private
/// domain (Railway's `RAILWAY_PRIVATE_DOMAIN`).
pub async fn read_vars(api: &Api, project: &str, env: &str, service: &str) -> Result<(BTreeMap<String, String>, Option<String>)> {
    let v = api.run(Q_VARIABLES, json!({"projectId": project, "environmentId": env, "serviceId": service})).await?;
    let private = v["variables"]["RAILWAY_PRIVATE_DOMAIN"].as_str().filter(|d| !d.is_empty()).map(str::to_string);
    let vars = v["variables"]
        .as_object()
        .into_iter()
        .flatten()
        // Railway's own variables (RAILWAY_*) are not the app's.
        .filter(|(k, _)| !k.starts_with("RAILWAY_"))
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
        .collect();
    Ok((vars, private))
}

/// The deployments of a service, newest first; one whose meta names no image runs the
/// instance's image when it is the newest.
pub async fn read_deployments(
    api: &Api,
    project: &str,
    env: &str,
    service: &str,
    instance_image: Option<&str>,
) -> Result<Vec<SeenDeployment>> {
    let d = api.run(Q_DEPLOYMENTS, json!({"input": {"projectId": project, "environmentId": env, "serviceId": service}})).await?;
    let mut list = field::<Connection<Deployment>>(d, "deployments")?.nodes();
    list.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    Ok(list
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let image = d.meta["image"].as_str().map(str::to_string);
            let digest = deployment_digest(&d.meta).or_else(|| if i == 0 { instance_image.and_then(digest_of_image) } else { None });
            SeenDeployment {
                id: d.id,
                status: d.status.unwrap_or_else(|| "UNKNOWN".into()),
                image,
                digest,
                can_rollback: d.can_rollback.unwrap_or(false),
                created: d.created_at.as_deref().and_then(crate::util::utc_time),
                creator: d.creator.and_then(|c| c.email.filter(|e| !e.is_empty()).or(c.name)).filter(|c| !c.is_empty()),
            }
        })
        .collect())
}

pub async fn read_domain(api: &Api, project: &str, env: &str, service: &str) -> Result<Option<SeenDomain>> {
    let d = api.run(Q_DOMAINS, json!({"projectId": project, "environmentId": env, "serviceId": service})).await?;
    Ok(d["domains"]["serviceDomains"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|s| Some(SeenDomain { id: s["id"].as_str()?.to_string(), domain: s["domain"].as_str()?.to_string() })))
}

async fn read_instance(api: &Api, env: &str, service: &str) -> Result<Option<SeenInstance>> {
    let Some(v) = api.lookup(Q_INSTANCE, json!({"serviceId": service, "environmentId": env})).await? else { return Ok(None) };
    let i: Instance = serde_json::from_value(v["serviceInstance"].clone())
        .map_err(|e| anyhow::anyhow!("Railway API ServiceInstance answered what aideploy cannot read: {e}"))?;
    Ok(Some(SeenInstance { image: i.source.and_then(|s| s.image), health_path: i.healthcheck_path, health_timeout: i.healthcheck_timeout }))
}

/// Reads everything; refuses a same-named service without aideploy's mark, and a deploy
/// with a required secret that has no value here and none stored in the service.
pub async fn observe(cx: &Cx, api: &Api) -> Result<Observed> {
    let seen = read(cx, api).await?;
    secrets::check_required(cx, "Railway", seen.service.as_ref().map(|s| &s.vars))?;
    Ok(seen)
}

async fn read(cx: &Cx, api: &Api) -> Result<Observed> {
    let mut seen = Observed { project_token: api.kind == TokenKind::Project, ..Observed::default() };
    let Some(project) = find_project(cx, api).await? else { return Ok(seen) };
    seen.environment = read_environment(cx, api, &project).await?;
    let base = cx.resource_base();
    let service = project.services.iter().find(|(_, n)| *n == base).map(|(id, _)| id.clone());
    if let Some(id) = service {
        let Some(env) = &seen.environment else {
            return Err(owner::foreign("Railway", &base, &id, None).into());
        };
        let (vars, private_domain) = read_vars(api, &project.id, &env.id, &id).await?;
        if !owner::is_ours(cx, &vars) {
            return Err(owner::foreign("Railway", &base, &id, vars.get(owner::OWNER_VAR).map(String::as_str)).into());
        }
        let instance = read_instance(api, &env.id, &id).await?;
        let image = instance.as_ref().and_then(|i| i.image.clone());
        let deployments = read_deployments(api, &project.id, &env.id, &id, image.as_deref()).await?;
        let domain = read_domain(api, &project.id, &env.id, &id).await?;
        seen.service = Some(SeenService { id, instance, vars, deployments, domain, private_domain });
    }
    seen.project = Some(project);
    Ok(seen)
}
