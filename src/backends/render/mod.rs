//! The `render` target: the app's OCI image, pushed to the manifest's registry, run by
//! digest as a Render web service (`image` runtime) through Render's REST API v1.
//!
//! Found again by name: the service is `{app}-{stage}` in the workspace (`owner` in the
//! target, or the only one the key sees); the registry credential aideploy registers for
//! a private image is `aideploy-{app}-{stage}`. Nothing is kept locally.
//! Variables are the service's env vars, set and removed one key at a time so a deploy
//! moves only the ones that changed. A deploy is health-gated by Render itself (the
//! service's `healthCheckPath` is the app's health path): aideploy waits for the deploy
//! to go `live`; a failed one leaves the previous deploy serving and exits 3.

mod api;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use async_trait::async_trait;
use serde_json::{json, Value};

use crate::artifact::registry::{CredentialSource, Credentials, Reference};
use crate::cloud::registry_logins::RegistryLogins;
use crate::engine::legacy::LegacyBackend;
use crate::engine::{Action, Artifact, Capabilities, Cx, DefaultPackage, Health, LegacyDeployed, Op, Outcome, Plan, Provider, Reporter};
use crate::error::UsageError;
use crate::manifest::Kind;
use api::{q, Api};

pub struct RenderBackend;

const DEFAULT_HEALTH_TIMEOUT: u32 = 600;
const DEFAULT_PLAN: &str = "starter";
const DEFAULT_REGION: &str = "oregon";
/// The regions Render's API accepts for a new web service.
const RENDER_REGIONS: &[&str] = &["frankfurt", "oregon", "ohio", "singapore", "virginia"];

/// What `build` hands to `plan` and `apply`: the pushed image and the login the
/// platform needs to pull it, if the registry wants one.
struct Built {
    reference: String,
    login: Option<Credentials>,
}

/// What is deployed now.
struct Now {
    owner: String,
    service: Value,
    env: BTreeMap<String, String>,
    /// Newest first.
    deploys: Vec<Value>,
    credential: Option<String>,
}

impl Now {
    fn id(&self) -> &str {
        self.service["id"].as_str().unwrap_or_default()
    }
    fn live(&self) -> Option<&Value> {
        self.deploys.iter().find(|d| d["status"] == "live")
    }
    fn url(&self) -> Option<String> {
        self.service["serviceDetails"]["url"].as_str().map(str::to_string)
    }
}

fn now_of(d: &LegacyDeployed) -> &Now {
    d.state.downcast_ref::<Now>().expect("render state")
}

fn health_timeout(cx: &Cx) -> Duration {
    Duration::from_secs(u64::from(cx.target.settings.health_timeout.as_ref().map(|s| s.get().0).unwrap_or(DEFAULT_HEALTH_TIMEOUT)))
}

fn plan_name(cx: &Cx) -> String {
    cx.target.settings.plan.as_ref().map(|p| p.get().clone()).unwrap_or_else(|| DEFAULT_PLAN.into())
}

fn region(cx: &Cx) -> String {
    cx.target.settings.region.as_ref().map(|r| r.get().to_string()).unwrap_or_else(|| DEFAULT_REGION.into())
}

fn credential_name(cx: &Cx) -> String {
    format!("aideploy-{}", cx.resource_base())
}

/// The digest a deploy runs: from its image ref (`...@sha256:...`) or its `sha`.
fn deploy_digest(d: &Value) -> Option<String> {
    let image = &d["image"];
    image["ref"]
        .as_str()
        .and_then(|r| r.split_once('@').map(|(_, dg)| dg.to_string()))
        .or_else(|| image["sha"].as_str().map(str::to_string))
}

fn short(d: &str) -> &str {
    let d = d.trim_start_matches("sha256:");
    &d[..12.min(d.len())]
}

/// Render's name for the kind of registry a host is.
fn registry_kind(host: &str) -> &'static str {
    if host == "ghcr.io" {
        "GITHUB"
    } else if host.starts_with("registry.gitlab.com") {
        "GITLAB"
    } else if host.ends_with("-docker.pkg.dev") || host.ends_with("gcr.io") {
        "GOOGLE_ARTIFACT"
    } else if crate::cloud::registry_logins::ecr_region(host).is_some() {
        "AWS_ECR"
    } else {
        "DOCKER"
    }
}

/// `[env]` and the secrets that have a value: what the service's variables should be.
fn desired_vars(cx: &Cx) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = cx.loaded.manifest.env_pairs().into_iter().collect();
    for (k, v) in &cx.secrets.values {
        vars.insert(k.clone(), v.expose().to_string());
    }
    vars
}

fn is_secret(cx: &Cx, key: &str) -> bool {
    cx.secrets.values.contains_key(key) || cx.secrets.absent.iter().any(|a| a == key)
}

/// Per variable: create, update or delete; never the value.
fn var_actions(cx: &Cx, current: &BTreeMap<String, String>) -> Vec<Action> {
    let want = desired_vars(cx);
    let mut out = Vec::new();
    for (k, v) in &want {
        match current.get(k) {
            None => out.push(Action::new(Op::Create, "variable", k).because(if is_secret(cx, k) { "secret" } else { "env" })),
            Some(old) if old != v => out.push(Action::new(Op::Update, "variable", k).because("value changed")),
            Some(_) => {}
        }
    }
    for k in current.keys() {
        // An optional secret with no value this time keeps the value it has.
        if !want.contains_key(k) && !cx.secrets.absent.iter().any(|a| a == k) {
            out.push(Action::new(Op::Delete, "variable", k).because("not in the manifest"));
        }
    }
    out
}

async fn owner_id(cx: &Cx, api: &Api) -> Result<String> {
    if let Some(o) = &cx.target.settings.owner {
        return Ok(o.get().clone());
    }
    let owners = api.list("/owners?limit=100", "owner").await?;
    match owners.as_slice() {
        [one] => Ok(one["id"].as_str().unwrap_or_default().to_string()),
        [] => {
            Err(UsageError::new("the Render API key sees no workspace").hint("use a key of an account that belongs to a workspace").into())
        }
        many => {
            let ids: Vec<String> =
                many.iter().map(|o| format!("{} ({})", o["id"].as_str().unwrap_or("?"), o["name"].as_str().unwrap_or("?"))).collect();
            Err(UsageError::new("the Render API key sees several workspaces")
                .hint(format!("set `owner = \"...\"` in [targets.{}], one of: {}", cx.target.name, ids.join(", ")))
                .into())
        }
    }
}

async fn find_service(api: &Api, owner: &str, name: &str) -> Result<Option<Value>> {
    let found = api.list(&format!("/services?name={}&ownerId={}&type=web_service&limit=100", q(name), q(owner)), "service").await?;
    Ok(found.into_iter().find(|s| s["name"] == name && s["ownerId"] == owner))
}

async fn find_credential(api: &Api, owner: &str, name: &str) -> Result<Option<String>> {
    let found = api.get(&format!("/registrycredentials?name={}&ownerId={}&limit=100", q(name), q(owner))).await?.unwrap_or(Value::Null);
    Ok(found.as_array().into_iter().flatten().find(|c| c["name"] == name).and_then(|c| c["id"].as_str().map(str::to_string)))
}

async fn read_env(api: &Api, id: &str) -> Result<BTreeMap<String, String>> {
    let vars = api.list(&format!("/services/{id}/env-vars?limit=100"), "envVar").await?;
    Ok(vars
        .into_iter()
        .filter_map(|v| Some((v["key"].as_str()?.to_string(), v["value"].as_str().unwrap_or_default().to_string())))
        .collect())
}

/// Polls a deploy until it is `live` or has failed; `Err` carries the failure.
async fn wait_deploy(cx: &Cx, api: &Api, service: &str, deploy: &str, r: &dyn Reporter) -> Result<std::result::Result<Value, String>> {
    let started = Instant::now();
    let timeout = health_timeout(cx);
    let every = if api.loopback { Duration::from_millis(50) } else { Duration::from_secs(3) };
    r.step(&format!("waiting for deploy {deploy} to go live"));
    loop {
        let d = api.get(&format!("/services/{service}/deploys/{deploy}")).await?.unwrap_or(Value::Null);
        let status = d["status"].as_str().unwrap_or("unknown").to_string();
        match status.as_str() {
            "live" => return Ok(Ok(d)),
            "build_failed" | "update_failed" | "pre_deploy_failed" | "canceled" | "deactivated" => {
                return Ok(Err(format!(
                    "Render deploy {deploy} ended `{status}` (the health check on {} did not pass, or the image did not start)",
                    cx.loaded.manifest.app().health
                )));
            }
            _ => {}
        }
        let waited = started.elapsed();
        if waited >= timeout {
            return Ok(Err(format!("Render deploy {deploy} was still `{status}` after {}s (health_timeout)", timeout.as_secs())));
        }
        r.progress(&format!("deploy {deploy}: {status} ({}s of {}s)", waited.as_secs(), timeout.as_secs()));
        tokio::time::sleep(every).await;
    }
}

#[async_trait]
impl LegacyBackend for RenderBackend {
    fn kind(&self) -> Kind {
        Kind::Render
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: Provider::Render,
            secret_store: false,
            logs: false,
            rollback: true,
            default_package: DefaultPackage::Image,
            needs_registry: true,
        }
    }

    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Artifact> {
        let Some(repo) = crate::artifact::image::push_repository(&cx.loaded)? else {
            return Err(UsageError::new("the render target runs the app's image from a registry, and none is named")
                .hint(format!(
                    "set `registry = \"ghcr.io/you/app\"` in [build], or {}=REGISTRY/REPOSITORY",
                    crate::envvars::AIDEPLOY_REGISTRY
                ))
                .into());
        };
        // Fail on a missing key before building anything.
        Api::from_env()?;
        let mut artifact = crate::artifact::image::build(&cx.loaded, &cx.stage, Some(&cx.target), true, r).await?;
        let reference = artifact.reference.clone().unwrap_or_else(|| format!("{}@{}", repo.name(), artifact.digest));
        let login = RegistryLogins::new(Some(repo.registry.clone())).credentials(&repo.registry).await?;
        artifact.payload = Arc::new(Built { reference, login });
        Ok(artifact)
    }

    async fn current(&self, cx: &Cx) -> Result<Option<LegacyDeployed>> {
        let api = Api::from_env()?;
        let owner = owner_id(cx, &api).await?;
        let Some(service) = find_service(&api, &owner, &cx.resource_base()).await? else { return Ok(None) };
        let id = service["id"].as_str().unwrap_or_default().to_string();
        let env = read_env(&api, &id).await?;
        let deploys = api.list(&format!("/services/{id}/deploys?limit=100"), "deploy").await?;
        let credential = find_credential(&api, &owner, &credential_name(cx)).await?;
        let now = Now { owner, service, env, deploys, credential };
        let live = now.live();
        let mut details = serde_json::Map::new();
        details.insert("service".into(), json!(id));
        details.insert("deploy".into(), json!(live.and_then(|d| d["id"].as_str())));
        details.insert("image".into(), json!(live.and_then(|d| d["image"]["ref"].as_str())));
        details.insert("dashboard".into(), now.service["dashboardUrl"].clone());
        if let Some(latest) = now.deploys.first().filter(|d| d["status"] != "live") {
            details.insert(
                "latest_deploy".into(),
                json!(format!("{} ({})", latest["id"].as_str().unwrap_or("?"), latest["status"].as_str().unwrap_or("?"))),
            );
        }
        Ok(Some(LegacyDeployed {
            digest: live.and_then(deploy_digest).unwrap_or_default(),
            url: now.url(),
            health: if live.is_some() { Health::Passed } else { Health::Failed },
            details,
            state: Arc::new(now),
        }))
    }

    fn plan(&self, cx: &Cx, now: Option<&LegacyDeployed>, artifact: &Artifact) -> Plan {
        let built = artifact.payload.downcast_ref::<Built>().expect("render artifact");
        let base = cx.resource_base();
        let mut plan = Plan::default();
        let n = now.map(now_of);
        if n.is_none() && !RENDER_REGIONS.contains(&region(cx).as_str()) {
            plan.warnings.push(format!("Render has no region `{}`: it takes one of {}", region(cx), RENDER_REGIONS.join(", ")));
        }
        if built.login.is_some() && n.is_none_or(|n| n.credential.is_none()) {
            plan.actions.push(Action::new(Op::Create, "registry-credential", credential_name(cx)).because("private registry"));
        }
        match n {
            None => {
                plan.actions
                    .push(Action::new(Op::Create, "service", &base).because(format!("web service, image @{}", short(&artifact.digest))));
                for (k, _) in desired_vars(cx) {
                    let why = if is_secret(cx, &k) { "secret" } else { "env" };
                    plan.actions.push(Action::new(Op::Create, "variable", k).because(why));
                }
            }
            Some(n) => {
                let details = &n.service["serviceDetails"];
                let mut why = Vec::new();
                if details["healthCheckPath"].as_str() != Some(cx.loaded.manifest.app().health.as_str()) {
                    why.push("health check path".to_string());
                }
                if details["plan"].as_str().is_some_and(|p| p != plan_name(cx)) {
                    why.push(format!("plan -> {}", plan_name(cx)));
                }
                if built.login.is_some() && n.service["registryCredential"].is_null() {
                    why.push("registry credential".into());
                }
                plan.actions.push(if why.is_empty() {
                    Action::new(Op::Noop, "service", &base)
                } else {
                    Action::new(Op::Update, "service", &base).because(why.join(", "))
                });
                let vars = var_actions(cx, &n.env);
                let live = n.live().and_then(deploy_digest);
                let deploy = if live.as_deref() != Some(artifact.digest.as_str()) {
                    Some(match &live {
                        Some(l) => format!("image {} -> {}", short(l), short(&artifact.digest)),
                        None => "no live deploy".into(),
                    })
                } else if !vars.is_empty() {
                    Some("variables changed".into())
                } else {
                    None
                };
                plan.actions.extend(vars);
                plan.actions.push(match deploy {
                    Some(why) => Action::new(Op::Create, "deploy", format!("@{}", short(&artifact.digest))).because(why),
                    None => Action::new(Op::Noop, "deploy", format!("@{}", short(&artifact.digest))),
                });
            }
        }
        plan
    }

    async fn apply(&self, cx: &Cx, plan: &Plan, now: Option<&LegacyDeployed>, artifact: &Artifact, r: &dyn Reporter) -> Result<Outcome> {
        let built = artifact.payload.downcast_ref::<Built>().expect("render artifact");
        let api = Api::from_env()?;
        let n = now.map(now_of);
        let owner = match n {
            Some(n) => n.owner.clone(),
            None => owner_id(cx, &api).await?,
        };
        let base = cx.resource_base();
        let health_path = cx.loaded.manifest.app().health.to_string();

        // The registry credential, when the image is private: found by name, else registered.
        let mut credential = n.and_then(|n| n.credential.clone());
        if let (Some(login), None) = (&built.login, &credential) {
            credential = find_credential(&api, &owner, &credential_name(cx)).await?;
            if credential.is_none() {
                r.step("registering the registry credential");
                let host = Reference::parse(&built.reference)?.registry;
                let c = api
                    .post(
                        "/registrycredentials",
                        &json!({"registry": registry_kind(&host), "name": credential_name(cx), "username": login.username, "authToken": login.password, "ownerId": owner}),
                    )
                    .await
                    .map_err(|e| redacted(cx, built, e))?;
                credential = c["id"].as_str().map(str::to_string);
                r.done();
            }
        }
        let image = |cred: &Option<String>| {
            let mut i = json!({"ownerId": owner, "imagePath": built.reference});
            if let Some(c) = cred {
                i["registryCredentialId"] = json!(c);
            }
            i
        };

        // Re-read: a re-run after an interrupted create finds the service by name.
        let existing = match n {
            Some(n) => Some(n.service.clone()),
            None => find_service(&api, &owner, &base).await?,
        };
        let (service_id, deploy_id, url) = match existing {
            None => {
                r.step(&format!("creating web service {base}"));
                let env_vars: Vec<Value> = desired_vars(cx).into_iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
                let body = json!({
                    "type": "web_service",
                    "name": base,
                    "ownerId": owner,
                    "autoDeploy": "no",
                    "image": image(&credential),
                    "envVars": env_vars,
                    "serviceDetails": {"runtime": "image", "healthCheckPath": health_path, "plan": plan_name(cx), "region": region(cx)},
                });
                let created = api.post("/services", &body).await.map_err(|e| redacted(cx, built, e))?;
                r.done();
                let Some(id) = created["service"]["id"].as_str().filter(|i| !i.is_empty()).map(str::to_string) else {
                    anyhow::bail!(
                        "Render created web service {base} but answered without its id; run the deploy again to pick it up by name"
                    );
                };
                let url = created["service"]["serviceDetails"]["url"].as_str().map(str::to_string);
                let deploy = match created["deployId"].as_str() {
                    Some(d) => d.to_string(),
                    None => api.post(&format!("/services/{id}/deploys"), &json!({"imageUrl": built.reference})).await?["id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                };
                (id, Some(deploy), url)
            }
            Some(service) => {
                let id = service["id"].as_str().unwrap_or_default().to_string();
                let url = service["serviceDetails"]["url"].as_str().map(str::to_string);
                if plan.actions.iter().any(|a| a.resource == "service" && a.op == Op::Update) {
                    r.step(&format!("updating web service {base}"));
                    api.patch(
                        &format!("/services/{id}"),
                        &json!({"image": image(&credential), "serviceDetails": {"healthCheckPath": health_path, "plan": plan_name(cx)}}),
                    )
                    .await?;
                    r.done();
                }
                let current = match n {
                    Some(n) => n.env.clone(),
                    None => read_env(&api, &id).await?,
                };
                let want = desired_vars(cx);
                let changes = var_actions(cx, &current);
                if !changes.is_empty() {
                    r.step(&format!("setting {} variable(s)", changes.len()));
                    for a in &changes {
                        match a.op {
                            Op::Delete => api.delete(&format!("/services/{id}/env-vars/{}", q(&a.id))).await?,
                            _ => {
                                let value = want.get(&a.id).cloned().unwrap_or_default();
                                api.put(&format!("/services/{id}/env-vars/{}", q(&a.id)), &json!({"value": value}))
                                    .await
                                    .map_err(|e| redacted(cx, built, e))?;
                            }
                        }
                    }
                    r.done();
                }
                let deploy = if plan.actions.iter().any(|a| a.resource == "deploy" && a.op == Op::Create) || !changes.is_empty() {
                    r.step(&format!("deploying @{}", short(&artifact.digest)));
                    let d = api.post(&format!("/services/{id}/deploys"), &json!({"imageUrl": built.reference})).await?;
                    r.done();
                    d["id"].as_str().map(str::to_string)
                } else {
                    None
                };
                (id, deploy, url)
            }
        };
        let Some(deploy_id) = deploy_id else {
            return Ok(Outcome { url, health: Health::Passed, actions: plan.actions.clone(), failure: None, pushed: None });
        };
        match wait_deploy(cx, &api, &service_id, &deploy_id, r).await? {
            Ok(_) => Ok(Outcome { url, health: Health::Passed, actions: plan.actions.clone(), failure: None, pushed: None }),
            Err(why) => {
                let kept = if n.and_then(|n| n.live()).is_some() { "the previous deploy keeps serving" } else { "nothing is serving" };
                Ok(Outcome {
                    url,
                    health: Health::Failed,
                    actions: plan.actions.clone(),
                    failure: Some(format!("{why}\n({kept})")),
                    pushed: None,
                })
            }
        }
    }

    fn plan_rollback(&self, cx: &Cx, now: &LegacyDeployed) -> Result<Plan> {
        let n = now_of(now);
        let Some(prev) = previous_deploy(n) else {
            return Err(UsageError::new(format!(
                "{} ({}) has no earlier successful Render deploy to roll back to",
                cx.app_name(),
                cx.stage
            ))
            .hint("rollback returns to the deploy before the live one; deploy at least twice first")
            .into());
        };
        let mut plan = Plan::default();
        plan.actions.push(
            Action::new(Op::Create, "deploy", format!("rollback to {}", prev["id"].as_str().unwrap_or("?")))
                .because(format!("back to @{}", deploy_digest(prev).as_deref().map(short).unwrap_or("?"))),
        );
        Ok(plan)
    }

    async fn rollback(&self, cx: &Cx, plan: &Plan, now: &LegacyDeployed, r: &dyn Reporter) -> Result<Outcome> {
        let n = now_of(now);
        let api = Api::from_env()?;
        let prev = previous_deploy(n).expect("checked by plan_rollback");
        r.step("rolling back on Render");
        let d = api.post(&format!("/services/{}/rollback", n.id()), &json!({"deployId": prev["id"]})).await?;
        r.done();
        let deploy = d["id"].as_str().unwrap_or_default().to_string();
        match wait_deploy(cx, &api, n.id(), &deploy, r).await? {
            Ok(_) => Ok(Outcome { url: n.url(), health: Health::Passed, actions: plan.actions.clone(), failure: None, pushed: None }),
            Err(why) => Ok(Outcome {
                url: n.url(),
                health: Health::Failed,
                actions: plan.actions.clone(),
                failure: Some(format!("{why}\n(the current deploy keeps serving)")),
                pushed: None,
            }),
        }
    }

    fn plan_destroy(&self, cx: &Cx, now: &LegacyDeployed) -> Plan {
        let n = now_of(now);
        let mut plan = Plan::default();
        plan.actions.push(Action::new(Op::Delete, "service", format!("{} ({})", cx.resource_base(), n.id())));
        if let Some(c) = &n.credential {
            plan.actions.push(Action::new(Op::Delete, "registry-credential", format!("{} ({c})", credential_name(cx))));
        }
        plan
    }

    async fn destroy(&self, cx: &Cx, now: &LegacyDeployed, r: &dyn Reporter) -> Result<Outcome> {
        let n = now_of(now);
        let api = Api::from_env()?;
        r.step(&format!("deleting web service {}", cx.resource_base()));
        api.delete(&format!("/services/{}", n.id())).await?;
        if let Some(c) = &n.credential {
            api.delete(&format!("/registrycredentials/{c}")).await?;
        }
        r.done();
        Ok(Outcome { url: None, health: Health::Skipped, actions: self.plan_destroy(cx, now).actions, failure: None, pushed: None })
    }
}

/// An API error with every secret value and the registry password taken out: an API
/// may quote the body it rejected.
fn redacted(cx: &Cx, built: &Built, e: anyhow::Error) -> anyhow::Error {
    let original = format!("{e:#}");
    let mut text = cx.secrets.redact(&original);
    if let Some(login) = built.login.as_ref().filter(|l| l.password.len() >= 4) {
        text = text.replace(&login.password, "***");
    }
    if text == original {
        e
    } else {
        anyhow::anyhow!(text)
    }
}

/// The deploy a rollback returns to: the newest one before the live deploy that went
/// live itself (now `deactivated`) and runs another image.
fn previous_deploy(n: &Now) -> Option<&Value> {
    let live = n.live()?;
    let live_digest = deploy_digest(live);
    let at = n.deploys.iter().position(|d| d["id"] == live["id"])?;
    n.deploys[at + 1..].iter().find(|d| d["status"] == "deactivated" && deploy_digest(d) != live_digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(id: &str, digest: &str, status: &str) -> Value {
        json!({"id": id, "image": {"ref": format!("ghcr.io/a/b@{digest}")}, "status": status})
    }

    #[test]
    fn rollback_target_is_the_last_deploy_that_went_live_before_the_live_one() {
        let now = Now {
            owner: "tea-1".into(),
            service: json!({"id": "srv-1"}),
            env: BTreeMap::new(),
            deploys: vec![
                deploy("dep-4", "sha256:cc", "update_failed"),
                deploy("dep-3", "sha256:bb", "live"),
                deploy("dep-2", "sha256:bb", "deactivated"),
                deploy("dep-1", "sha256:aa", "deactivated"),
            ],
            credential: None,
        };
        assert_eq!(previous_deploy(&now).unwrap()["id"], "dep-1");
        assert_eq!(deploy_digest(now.live().unwrap()).as_deref(), Some("sha256:bb"));
        let none = Now { deploys: vec![deploy("dep-1", "sha256:aa", "live")], ..now };
        assert!(previous_deploy(&none).is_none());
        // A bad answer (no image at all) is no digest, not a panic.
        assert_eq!(deploy_digest(&json!({"id": "x"})), None);
    }

    #[test]
    fn registry_kinds() {
        assert_eq!(registry_kind("ghcr.io"), "GITHUB");
        assert_eq!(registry_kind("us-docker.pkg.dev"), "GOOGLE_ARTIFACT");
        assert_eq!(registry_kind("123456789012.dkr.ecr.eu-west-1.amazonaws.com"), "AWS_ECR");
        assert_eq!(registry_kind("docker.io"), "DOCKER");
    }
}
