//! The `cloudrun` target: the app's OCI image, pushed to Artifact Registry
//! (`{region}-docker.pkg.dev/{project}/aideploy/{app}`, or the registry override), run
//! by digest as a Cloud Run service through the official Google Cloud clients
//! (`google-cloud-run-v2`, `-secretmanager-v1`, `-artifactregistry-v1`).
//!
//! Found again by name and labels: the service is `{app}-{stage}` in the project's
//! region; secrets are `aideploy-{app}-{stage}-{NAME}` labelled `aideploy-app`,
//! `aideploy-stage`, `aideploy-target`. Nothing is kept locally.
//!
//! Health-gated: traffic goes to the latest *ready* revision, so a revision whose
//! startup probe (the app's health path) fails never takes traffic; the update's
//! operation fails with the revision's condition message and the deploy exits 3.
//! `rollback` pins 100% of the traffic to the previous ready revision; the next deploy
//! hands it back to the latest one.

mod service;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use google_cloud_lro::{Poller, PollingResult};
use serde_json::{json, Value};

use crate::artifact::registry::Reference;
use crate::cloud::gcp::{self, api_error, is_not_found, Clients};
use crate::engine::legacy::LegacyBackend;
use crate::engine::{Action, Artifact, Capabilities, Cx, DefaultPackage, Health, LegacyDeployed, Op, Outcome, Plan, Provider, Reporter};
use crate::envvars;
use crate::error::UsageError;
use crate::manifest::Kind;

pub use service::desired_service;

pub struct CloudRunBackend;

/// The Docker repository aideploy creates in Artifact Registry.
pub const REPOSITORY: &str = "aideploy";
const ACCESSOR: &str = "roles/secretmanager.secretAccessor";
const INVOKER: &str = "roles/run.invoker";
const ALL_USERS: &str = "allUsers";

/// Where the service lives.
#[derive(Debug, Clone)]
pub struct Site {
    pub project: String,
    pub region: String,
}

impl Site {
    pub fn parent(&self) -> String {
        format!("projects/{}/locations/{}", self.project, self.region)
    }
    fn service(&self, cx: &Cx) -> String {
        format!("{}/services/{}", self.parent(), cx.resource_base())
    }
    fn secret(&self, id: &str) -> String {
        format!("projects/{}/secrets/{id}", self.project)
    }
    /// The image repository Artifact Registry serves for this project and region.
    pub fn image_repository(&self, app: &str) -> String {
        format!("{}-docker.pkg.dev/{}/{REPOSITORY}/{app}", self.region, self.project)
    }
}

/// Project and region: the target's settings, else gcloud's variables and active
/// configuration, else an error naming the setting.
pub fn site(cx: &Cx) -> Result<Site> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let s = &cx.target.settings;
    let project = s
        .project
        .as_ref()
        .map(|p| p.get().clone())
        .or_else(|| env(envvars::GOOGLE_CLOUD_PROJECT))
        .or_else(|| env(envvars::CLOUDSDK_CORE_PROJECT))
        .or_else(|| gcp::gcloud_config("core", "project"))
        .ok_or_else(|| {
            UsageError::new("no Google Cloud project for the cloudrun target").hint(format!(
                "set `project = \"my-project\"` in [targets.{}], or run `gcloud config set project my-project`",
                cx.target.name
            ))
        })?;
    let region = s
        .region
        .as_ref()
        .map(|r| r.get().to_string())
        .or_else(|| env(envvars::CLOUDSDK_RUN_REGION))
        .or_else(|| gcp::gcloud_config("run", "region"))
        .ok_or_else(|| {
            UsageError::new("no Cloud Run region for the cloudrun target").hint(format!(
                "set `region = \"europe-west1\"` in [targets.{}], or run `gcloud config set run/region europe-west1`",
                cx.target.name
            ))
        })?;
    Ok(Site { project, region })
}

/// A GCP label value: lowercase letters, digits, `_` and `-`, at most 63 characters.
fn label_value(s: &str) -> String {
    s.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).take(63).collect()
}

/// The digest label: GCP labels allow no colon and 63 characters, so `sha256-` and the
/// first 56 hex digits (the image itself is referenced by its full digest).
fn digest_label(digest: &str) -> String {
    label_value(&digest.replacen(':', "-", 1))
}

fn labels(cx: &Cx) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("aideploy-app".into(), label_value(cx.app_name())),
        ("aideploy-stage".into(), label_value(&cx.stage.to_string())),
        ("aideploy-target".into(), label_value(&cx.target.name)),
    ])
}

pub fn secret_id(cx: &Cx, name: &str) -> String {
    format!("aideploy-{}-{name}", cx.resource_base())
}

fn short(d: &str) -> &str {
    let d = d.trim_start_matches("sha256:");
    &d[..12.min(d.len())]
}

fn is_public(cx: &Cx) -> bool {
    cx.target.settings.public.as_ref().is_some_and(|p| *p.get())
}

/// What `build` hands to `plan` and `apply`.
struct Built {
    reference: String,
}

/// One `[secrets]` entry as it is in Secret Manager now.
#[derive(Debug, Clone)]
struct SecretNow {
    /// The latest version's number, and whether its value is the local one.
    latest: Option<(String, bool)>,
    /// Members holding secretAccessor on it.
    accessors: Vec<String>,
    /// `projects/{number}/secrets/...`, as Secret Manager names it.
    name: String,
}

/// What is deployed now.
struct Now {
    service: Option<Value>,
    /// The revision serving 100% (or most) of the traffic, and its image.
    serving: Option<Value>,
    /// Every revision of the service, newest first.
    revisions: Vec<Value>,
    public: bool,
    /// By manifest name; absent = no such secret.
    secrets: BTreeMap<String, SecretNow>,
    /// Labelled secrets of this app and stage, by id (for destroy).
    labelled_secrets: Vec<String>,
}

fn now_of(d: &LegacyDeployed) -> &Now {
    d.state.downcast_ref::<Now>().expect("cloudrun state")
}

fn to_value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

fn image_digest(revision: &Value) -> Option<String> {
    revision["containers"][0]["image"].as_str().and_then(|i| i.split_once('@')).map(|(_, d)| d.to_string())
}

fn is_ready(revision: &Value) -> bool {
    revision["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && (c["state"] == "CONDITION_SUCCEEDED" || c["state"] == 4))
}

/// The message of a revision's failed condition, if it has one.
fn failure_message(revision: &Value) -> Option<String> {
    revision["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| (c["state"] == "CONDITION_FAILED" || c["state"] == 3) && c["message"].as_str().is_some_and(|m| !m.is_empty()))
        .and_then(|c| c["message"].as_str().map(str::to_string))
}

fn serving_revision_name(service: &Value) -> Option<String> {
    let statuses = service["trafficStatuses"].as_array().cloned().unwrap_or_default();
    statuses
        .iter()
        .filter(|t| t["revision"].as_str().is_some_and(|r| !r.is_empty()))
        .max_by_key(|t| t["percent"].as_i64().unwrap_or(0))
        .and_then(|t| t["revision"].as_str().map(str::to_string))
        .or_else(|| {
            service["latestReadyRevision"].as_str().filter(|r| !r.is_empty()).map(|r| r.rsplit('/').next().unwrap_or(r).to_string())
        })
}

fn revision_short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Awaits a long-running operation, reporting progress.
async fn await_op<R, M>(
    mut poller: impl Poller<R, M>,
    what: &str,
    fast: bool,
    r: &dyn Reporter,
) -> std::result::Result<R, google_cloud_gax::error::Error> {
    let every = if fast { Duration::from_millis(50) } else { Duration::from_secs(2) };
    let started = std::time::Instant::now();
    loop {
        match poller.poll().await {
            None => {
                return Err(google_cloud_gax::error::Error::io("the operation ended without a result"));
            }
            Some(PollingResult::Completed(res)) => return res,
            Some(PollingResult::PollingError(e)) => return Err(e),
            Some(PollingResult::InProgress(_)) => {
                r.progress(&format!("{what} ({}s)", started.elapsed().as_secs()));
                tokio::time::sleep(every).await;
            }
        }
    }
}

fn policy_members(policy: &Value, role: &str) -> Vec<String> {
    policy["bindings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["role"] == role)
        .flat_map(|b| b["members"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect()
}

/// `policy` with `member` added to (or removed from) `role`.
fn edit_policy(policy: &Value, role: &str, member: &str, add: bool) -> Value {
    let mut p = policy.clone();
    if !p.is_object() {
        p = json!({});
    }
    let mut bindings = p["bindings"].as_array().cloned().unwrap_or_default();
    if add {
        match bindings.iter_mut().find(|b| b["role"] == role && b.get("condition").is_none_or(Value::is_null)) {
            Some(b) => b["members"].as_array_mut().expect("members").push(json!(member)),
            None => bindings.push(json!({"role": role, "members": [member]})),
        }
    } else {
        for b in bindings.iter_mut().filter(|b| b["role"] == role) {
            if let Some(m) = b["members"].as_array_mut() {
                m.retain(|x| x != member);
            }
        }
        bindings.retain(|b| b["members"].as_array().is_some_and(|m| !m.is_empty()));
    }
    p["bindings"] = json!(bindings);
    p
}

fn to_policy(v: Value) -> Result<google_cloud_iam_v1::model::Policy> {
    serde_json::from_value(v).context("IAM policy")
}

/// The runtime service account: `service_account`, else the project's default compute
/// account, whose name needs the project number (Secret Manager names use it).
fn service_account(cx: &Cx, secret_name: Option<&str>) -> Option<String> {
    if let Some(sa) = &cx.target.settings.service_account {
        return Some(sa.get().clone());
    }
    let number = secret_name?.strip_prefix("projects/")?.split('/').next()?;
    number.chars().all(|c| c.is_ascii_digit()).then(|| format!("{number}-compute@developer.gserviceaccount.com"))
}

/// Ensures the `aideploy` Docker repository exists in Artifact Registry, waiting for
/// its creation to finish.
pub async fn ensure_repository(clients: &Clients, site: &Site, r: &dyn Reporter) -> Result<bool> {
    let name = format!("{}/repositories/{REPOSITORY}", site.parent());
    match clients.registry.get_repository().set_name(&name).send().await {
        Ok(_) => return Ok(false),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(api_error(&format!("cannot read Artifact Registry repository {name}"), e)),
    }
    r.step(&format!("creating Artifact Registry repository {REPOSITORY} in {}", site.region));
    let repo: google_cloud_artifactregistry_v1::model::Repository = serde_json::from_value(json!({
        "format": "DOCKER",
        "description": "Images deployed by aideploy",
        "labels": {"aideploy-managed": "true"},
    }))?;
    let poller = clients.registry.create_repository().set_parent(site.parent()).set_repository_id(REPOSITORY).set_repository(repo).poller();
    match await_op(poller, "creating the repository", clients.loopback, r).await {
        Ok(_) => {}
        Err(e) if gcp::is_conflict(&e) => {}
        Err(e) => return Err(api_error(&format!("cannot create Artifact Registry repository {name}"), e)),
    }
    r.done();
    Ok(true)
}

async fn read_secret(clients: &Clients, site: &Site, id: &str, value: Option<&str>) -> Result<Option<SecretNow>> {
    let secret = match clients.secrets.get_secret().set_name(site.secret(id)).send().await {
        Ok(s) => s,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(api_error(&format!("cannot read secret {id}"), e)),
    };
    let latest = match clients.secrets.access_secret_version().set_name(format!("{}/versions/latest", site.secret(id))).send().await {
        Ok(v) => {
            let number = v.name.rsplit('/').next().unwrap_or_default().to_string();
            let same = value.is_some_and(|val| v.payload.as_ref().is_some_and(|p| p.data.as_ref() == val.as_bytes()));
            Some((number, same))
        }
        Err(e) if is_not_found(&e) || e.status().is_some_and(|s| s.code == google_cloud_gax::error::rpc::Code::FailedPrecondition) => None,
        Err(e) => return Err(api_error(&format!("cannot read the latest version of secret {id}"), e)),
    };
    let policy = clients
        .secrets
        .get_iam_policy()
        .set_resource(site.secret(id))
        .send()
        .await
        .map_err(|e| api_error(&format!("cannot read the IAM policy of secret {id}"), e))?;
    Ok(Some(SecretNow { latest, accessors: policy_members(&to_value(&policy), ACCESSOR), name: secret.name.clone() }))
}

async fn read_now(cx: &Cx, clients: &Clients, site: &Site) -> Result<Now> {
    let mut secrets = BTreeMap::new();
    for name in cx.loaded.manifest.secrets.keys() {
        let name = name.get().to_string();
        let value = cx.secrets.values.get(&name).map(|v| v.expose().to_string());
        if let Some(s) = read_secret(clients, site, &secret_id(cx, &name), value.as_deref()).await? {
            secrets.insert(name, s);
        }
    }
    let labelled_secrets = list_labelled_secrets(cx, clients, site).await?;
    let service = match clients.services.get_service().set_name(site.service(cx)).send().await {
        Ok(s) => Some(to_value(&s)),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(api_error(&format!("cannot read Cloud Run service {}", cx.resource_base()), e)),
    };
    let mut revisions = Vec::new();
    let mut serving = None;
    let mut public = false;
    if let Some(s) = &service {
        let mut page = String::new();
        loop {
            let list = clients
                .revisions
                .list_revisions()
                .set_parent(site.service(cx))
                .set_page_token(page.clone())
                .send()
                .await
                .map_err(|e| api_error("cannot list the service's revisions", e))?;
            revisions.extend(list.revisions.iter().map(to_value));
            if list.next_page_token.is_empty() {
                break;
            }
            page = list.next_page_token;
        }
        revisions.sort_by(|a, b| b["createTime"].as_str().cmp(&a["createTime"].as_str()).then(b["name"].as_str().cmp(&a["name"].as_str())));
        if let Some(name) = serving_revision_name(s) {
            serving = revisions.iter().find(|r| r["name"].as_str().map(revision_short) == Some(name.as_str())).cloned();
        }
        let policy = clients
            .services
            .get_iam_policy()
            .set_resource(site.service(cx))
            .send()
            .await
            .map_err(|e| api_error("cannot read the service's IAM policy", e))?;
        public = policy_members(&to_value(&policy), INVOKER).iter().any(|m| m == ALL_USERS);
    }
    Ok(Now { service, serving, revisions, public, secrets, labelled_secrets })
}

async fn list_labelled_secrets(cx: &Cx, clients: &Clients, site: &Site) -> Result<Vec<String>> {
    let want = labels(cx);
    let filter = format!("labels.aideploy-app={} AND labels.aideploy-stage={}", want["aideploy-app"], want["aideploy-stage"]);
    let mut out = Vec::new();
    let mut page = String::new();
    loop {
        let list = clients
            .secrets
            .list_secrets()
            .set_parent(format!("projects/{}", site.project))
            .set_filter(filter.clone())
            .set_page_token(page.clone())
            .send()
            .await
            .map_err(|e| api_error("cannot list secrets", e))?;
        for s in &list.secrets {
            if want.iter().all(|(k, v)| s.labels.get(k) == Some(v)) {
                out.push(s.name.rsplit('/').next().unwrap_or_default().to_string());
            }
        }
        if list.next_page_token.is_empty() {
            break;
        }
        page = list.next_page_token;
    }
    Ok(out)
}

/// Secret versions the service should reference: the current one where the value is
/// unchanged, `None` where a new version will be added.
/// An optional secret with no local value this time keeps the version it has.
fn secret_versions(cx: &Cx, n: Option<&Now>) -> BTreeMap<String, Option<String>> {
    let mut out: BTreeMap<String, Option<String>> = cx
        .secrets
        .values
        .keys()
        .map(|k| {
            let v = n.and_then(|n| n.secrets.get(k)).and_then(|s| s.latest.clone()).and_then(|(num, same)| same.then_some(num));
            (k.clone(), v)
        })
        .collect();
    for k in &cx.secrets.absent {
        if let Some((num, _)) = n.and_then(|n| n.secrets.get(k)).and_then(|s| s.latest.clone()) {
            out.insert(k.clone(), Some(num));
        }
    }
    out
}

/// Keeps in `current` only the keys `desired` has, recursively: what aideploy manages.
fn projection(desired: &Value, current: &Value) -> Value {
    match (desired, current) {
        (Value::Object(d), Value::Object(c)) => {
            Value::Object(d.keys().map(|k| (k.clone(), projection(&d[k], c.get(k).unwrap_or(&Value::Null)))).collect())
        }
        (Value::Array(d), Value::Array(c)) if d.len() == c.len() => Value::Array(d.iter().zip(c).map(|(a, b)| projection(a, b)).collect()),
        _ => current.clone(),
    }
}

/// What differs between the desired service and the current one, for people.
fn service_changes(desired: &Value, current: &Value) -> Vec<String> {
    let mut why = Vec::new();
    let dt = &desired["template"];
    let ct = &current["template"];
    if projection(&dt["containers"][0]["image"], &ct["containers"][0]["image"]) != dt["containers"][0]["image"] {
        why.push("image".to_string());
    }
    if projection(&dt["containers"][0]["env"], &ct["containers"][0]["env"]) != dt["containers"][0]["env"] {
        why.push("env".into());
    }
    let mut rest_d = dt.clone();
    let mut rest_c = projection(dt, ct);
    for v in [&mut rest_d, &mut rest_c] {
        v["containers"][0]["image"] = Value::Null;
        v["containers"][0]["env"] = Value::Null;
    }
    if rest_d != rest_c {
        why.push("settings".into());
    }
    for key in ["labels", "traffic", "ingress", "launchStage"] {
        if desired.get(key).is_some() && projection(&desired[key], &current[key]) != desired[key] {
            why.push(if key == "traffic" { "traffic to the latest revision".into() } else { key.to_string() });
        }
    }
    why
}

fn health_timeout(cx: &Cx) -> u32 {
    cx.target.settings.health_timeout.as_ref().map(|s| s.get().0).unwrap_or(240)
}

#[async_trait]
impl LegacyBackend for CloudRunBackend {
    fn kind(&self) -> Kind {
        Kind::Cloudrun
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: Provider::Gcp,
            secret_store: false,
            logs: false,
            rollback: true,
            default_package: DefaultPackage::Image,
            needs_registry: false,
        }
    }

    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Artifact> {
        let site = site(cx)?;
        let clients = Clients::new().await?;
        let repo = match crate::artifact::image::push_repository(&cx.loaded)? {
            Some(repo) => repo,
            None => {
                ensure_repository(&clients, &site, r).await?;
                Reference::parse(&site.image_repository(cx.app_name()))?
            }
        };
        let mut artifact = crate::artifact::image::build_to(&cx.loaded, &cx.stage, Some(&cx.target), Some(repo.clone()), r).await?;
        let reference = artifact.reference.clone().unwrap_or_else(|| format!("{}@{}", repo.name(), artifact.digest));
        artifact.payload = Arc::new(Built { reference });
        Ok(artifact)
    }

    async fn current(&self, cx: &Cx) -> Result<Option<LegacyDeployed>> {
        let site = site(cx)?;
        let clients = Clients::new().await?;
        let now = read_now(cx, &clients, &site).await?;
        if now.service.is_none() && now.labelled_secrets.is_empty() {
            return Ok(None);
        }
        let mut details = serde_json::Map::new();
        details.insert("project".into(), json!(site.project));
        details.insert("region".into(), json!(site.region));
        details.insert("service".into(), json!(cx.resource_base()));
        details.insert("revision".into(), json!(now.serving.as_ref().and_then(|r| r["name"].as_str()).map(revision_short)));
        details.insert("image".into(), json!(now.serving.as_ref().and_then(|r| r["containers"][0]["image"].as_str())));
        details.insert("public".into(), json!(now.public));
        if let Some(s) = &now.service {
            let latest = s["latestCreatedRevision"].as_str().map(revision_short).unwrap_or_default().to_string();
            let serving = now.serving.as_ref().and_then(|r| r["name"].as_str()).map(revision_short).unwrap_or_default().to_string();
            if !latest.is_empty() && latest != serving {
                let failed = now
                    .revisions
                    .iter()
                    .find(|r| r["name"].as_str().map(revision_short) == Some(latest.as_str()))
                    .and_then(failure_message);
                details.insert(
                    "latest_revision".into(),
                    json!(match failed {
                        Some(m) => format!("{latest} (not ready: {m})"),
                        None => latest,
                    }),
                );
            }
        }
        let url = now.service.as_ref().and_then(|s| s["uri"].as_str()).filter(|u| !u.is_empty()).map(str::to_string);
        let health = match &now.serving {
            Some(r) if is_ready(r) => Health::Passed,
            _ => Health::Failed,
        };
        Ok(Some(LegacyDeployed {
            digest: now.serving.as_ref().and_then(image_digest).unwrap_or_default(),
            url,
            health,
            details,
            state: Arc::new(now),
        }))
    }

    fn plan(&self, cx: &Cx, now: Option<&LegacyDeployed>, artifact: &Artifact) -> Plan {
        let built = artifact.payload.downcast_ref::<Built>().expect("cloudrun artifact");
        let n = now.map(now_of);
        let mut plan = Plan { warnings: service::warnings(cx), ..Plan::default() };
        let sa = service_account(cx, n.and_then(|n| n.secrets.values().next()).map(|s| s.name.as_str()));
        for (name, _) in cx.secrets.values.iter() {
            let id = secret_id(cx, name);
            match n.and_then(|n| n.secrets.get(name)) {
                None => {
                    plan.actions.push(Action::new(Op::Create, "secret", &id).because(format!("[secrets] {name}")));
                    plan.actions.push(Action::new(Op::Create, "secret-access", &id).because("service account may read it"));
                }
                Some(s) => {
                    match &s.latest {
                        Some((_, true)) => plan.actions.push(Action::new(Op::Noop, "secret", &id)),
                        _ => plan.actions.push(Action::new(Op::Update, "secret", &id).because("new version: value changed")),
                    }
                    let has = sa.as_ref().is_some_and(|sa| s.accessors.contains(&format!("serviceAccount:{sa}")));
                    if !has {
                        plan.actions.push(Action::new(Op::Create, "secret-access", &id).because("service account may read it"));
                    }
                }
            }
        }
        let versions = secret_versions(cx, n);
        let desired = desired_service(cx, &built.reference, &artifact.digest, &versions);
        match n.and_then(|n| n.service.as_ref()) {
            None => plan.actions.push(
                Action::new(Op::Create, "service", cx.resource_base())
                    .because(format!("Cloud Run service, image @{}", short(&artifact.digest))),
            ),
            Some(current) => {
                let mut why = service_changes(&desired, current);
                if versions.values().any(Option::is_none) && !why.iter().any(|w| w == "env") {
                    why.push("secret version".into());
                }
                plan.actions.push(if why.is_empty() {
                    Action::new(Op::Noop, "service", cx.resource_base())
                } else {
                    Action::new(Op::Update, "service", cx.resource_base()).because(why.join(", "))
                });
            }
        }
        let public_now = n.is_some_and(|n| n.public);
        if is_public(cx) && !public_now {
            plan.actions.push(Action::new(Op::Create, "invoker", ALL_USERS).because("public = true"));
        } else if !is_public(cx) && public_now {
            plan.actions.push(Action::new(Op::Delete, "invoker", ALL_USERS).because("public is not set"));
        }
        plan
    }

    async fn apply(&self, cx: &Cx, plan: &Plan, now: Option<&LegacyDeployed>, artifact: &Artifact, r: &dyn Reporter) -> Result<Outcome> {
        let built = artifact.payload.downcast_ref::<Built>().expect("cloudrun artifact");
        let site = site(cx)?;
        let clients = Clients::new().await?;
        let n = now.map(now_of);
        let fast = clients.loopback;

        // Secrets first: the revision reads them when it starts.
        let mut versions = secret_versions(cx, n);
        let mut secret_names = Vec::new();
        for (name, value) in &cx.secrets.values {
            let id = secret_id(cx, name);
            let existing = match n.and_then(|n| n.secrets.get(name)) {
                Some(s) => Some(s.clone()),
                None => read_secret(&clients, &site, &id, Some(value.expose())).await?,
            };
            let full = match &existing {
                Some(s) => s.name.clone(),
                None => {
                    r.step(&format!("creating secret {id}"));
                    let secret: google_cloud_secretmanager_v1::model::Secret =
                        serde_json::from_value(json!({"replication": {"automatic": {}}, "labels": labels(cx)}))?;
                    let created = clients
                        .secrets
                        .create_secret()
                        .set_parent(format!("projects/{}", site.project))
                        .set_secret_id(&id)
                        .set_secret(secret)
                        .send()
                        .await
                        .map_err(|e| api_error(&format!("cannot create secret {id}"), e))?;
                    r.done();
                    created.name
                }
            };
            if existing.as_ref().and_then(|s| s.latest.as_ref()).is_none_or(|(_, same)| !same) {
                r.step(&format!("adding a version to secret {id}"));
                let payload: google_cloud_secretmanager_v1::model::SecretPayload = Default::default();
                let payload = payload.set_data(bytes::Bytes::from(value.expose().as_bytes().to_vec()));
                let v = clients
                    .secrets
                    .add_secret_version()
                    .set_parent(site.secret(&id))
                    .set_payload(payload)
                    .send()
                    .await
                    .map_err(|e| redacted(cx, api_error(&format!("cannot add a version to secret {id}"), e)))?;
                r.done();
                versions.insert(name.clone(), Some(v.name.rsplit('/').next().unwrap_or_default().to_string()));
            }
            secret_names.push((id, full, existing));
        }
        let sa = service_account(cx, secret_names.first().map(|(_, full, _)| full.as_str()));
        if let Some(sa) = &sa {
            let member = format!("serviceAccount:{sa}");
            for (id, _, existing) in &secret_names {
                if existing.as_ref().is_some_and(|s| s.accessors.contains(&member)) {
                    continue;
                }
                r.step(&format!("letting {sa} read secret {id}"));
                let policy = clients
                    .secrets
                    .get_iam_policy()
                    .set_resource(site.secret(id))
                    .send()
                    .await
                    .map_err(|e| api_error(&format!("cannot read the IAM policy of secret {id}"), e))?;
                let policy = to_value(&policy);
                if !policy_members(&policy, ACCESSOR).contains(&member) {
                    clients
                        .secrets
                        .set_iam_policy()
                        .set_resource(site.secret(id))
                        .set_policy(to_policy(edit_policy(&policy, ACCESSOR, &member, true))?)
                        .send()
                        .await
                        .map_err(|e| api_error(&format!("cannot grant {ACCESSOR} on secret {id}"), e))?;
                }
                r.done();
            }
        }

        // The service: create, or update in place when it differs.
        let versions: BTreeMap<String, Option<String>> = versions;
        let desired = desired_service(cx, &built.reference, &artifact.digest, &versions);
        let existing = match n.and_then(|n| n.service.clone()) {
            Some(s) => Some(s),
            None => match clients.services.get_service().set_name(site.service(cx)).send().await {
                Ok(s) => Some(to_value(&s)),
                Err(e) if is_not_found(&e) => None,
                Err(e) => return Err(api_error("cannot read the Cloud Run service", e)),
            },
        };
        let result = match &existing {
            None => {
                r.step(&format!("creating Cloud Run service {} in {}", cx.resource_base(), site.region));
                let service: google_cloud_run_v2::model::Service = serde_json::from_value(desired.clone()).context("service")?;
                let poller = clients
                    .services
                    .create_service()
                    .set_parent(site.parent())
                    .set_service_id(cx.resource_base())
                    .set_service(service)
                    .poller();
                Some(await_op(poller, "waiting for the first revision to be ready", fast, r).await)
            }
            Some(current) if !service_changes(&desired, current).is_empty() => {
                r.step(&format!("updating Cloud Run service {}", cx.resource_base()));
                let mut body = desired.clone();
                body["name"] = json!(site.service(cx));
                let service: google_cloud_run_v2::model::Service = serde_json::from_value(body).context("service")?;
                let poller = clients.services.update_service().set_service(service).poller();
                Some(await_op(poller, "waiting for the new revision to be ready", fast, r).await)
            }
            Some(_) => None,
        };
        let failure = match result {
            None | Some(Ok(_)) => None,
            // The operation failed after Cloud Run took the request: when its new revision
            // did not become ready, that is a failed health check, not a failed call.
            Some(Err(e)) => match latest_revision_failure(cx, &clients, &site).await {
                Some((rev, m)) => {
                    let op = e.status().map(|s| s.message.clone()).unwrap_or_default();
                    Some(if op.contains(&m) {
                        op
                    } else if op.is_empty() {
                        format!("revision {rev}: {m}")
                    } else {
                        format!("{op}\nrevision {rev}: {m}")
                    })
                }
                None => return Err(redacted(cx, api_error(&format!("cannot deploy Cloud Run service {}", cx.resource_base()), e))),
            },
        };
        r.done();

        // Who may call it.
        let mut url = None;
        match clients.services.get_service().set_name(site.service(cx)).send().await {
            Ok(s) => {
                url = Some(s.uri.clone()).filter(|u| !u.is_empty());
                let want_public = is_public(cx);
                let public_now = n.is_some_and(|n| n.public);
                if want_public != public_now {
                    let policy = clients
                        .services
                        .get_iam_policy()
                        .set_resource(site.service(cx))
                        .send()
                        .await
                        .map_err(|e| api_error("cannot read the service's IAM policy", e))?;
                    let policy = to_value(&policy);
                    let has = policy_members(&policy, INVOKER).iter().any(|m| m == ALL_USERS);
                    if has != want_public {
                        r.step(if want_public { "making the service public (allUsers may invoke)" } else { "making the service private" });
                        clients
                            .services
                            .set_iam_policy()
                            .set_resource(site.service(cx))
                            .set_policy(to_policy(edit_policy(&policy, INVOKER, ALL_USERS, want_public))?)
                            .send()
                            .await
                            .map_err(|e| api_error("cannot set the service's IAM policy", e))?;
                        r.done();
                    }
                }
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(api_error("cannot read the Cloud Run service", e)),
        }
        if !is_public(cx) {
            if let Some(u) = &url {
                r.warn(&format!(
                    "the service is private: call it with an identity token, e.g. curl -H \"Authorization: Bearer $(gcloud auth print-identity-token)\" {u}{}\n(set `public = true` in [targets.{}] to let anyone call it)",
                    cx.loaded.manifest.app().health,
                    cx.target.name
                ));
            }
        }
        match failure {
            None => Ok(Outcome { url, health: Health::Passed, actions: plan.actions.clone(), failure: None, pushed: None }),
            Some(why) => {
                let message = why;
                let service = clients.services.get_service().set_name(site.service(cx)).send().await.ok().map(|s| to_value(&s));
                let kept = if service.as_ref().and_then(serving_revision_name).is_some() {
                    "the previous revision keeps serving"
                } else {
                    "nothing is serving"
                };
                Ok(Outcome {
                    url,
                    health: Health::Failed,
                    actions: plan.actions.clone(),
                    failure: Some(cx.secrets.redact(&format!("{message}\n({kept})"))),
                    pushed: None,
                })
            }
        }
    }

    fn plan_rollback(&self, cx: &Cx, now: &LegacyDeployed) -> Result<Plan> {
        let n = now_of(now);
        let Some(prev) = previous_revision(n) else {
            return Err(UsageError::new(format!(
                "{} ({}) has no earlier ready Cloud Run revision to roll back to",
                cx.app_name(),
                cx.stage
            ))
            .hint("rollback returns to the ready revision before the serving one; deploy at least twice first")
            .into());
        };
        let mut plan = Plan::default();
        plan.actions.push(
            Action::new(Op::Update, "traffic", format!("100% to {}", revision_short(prev["name"].as_str().unwrap_or("?"))))
                .because(format!("back to @{}", image_digest(prev).as_deref().map(short).unwrap_or("?"))),
        );
        Ok(plan)
    }

    async fn rollback(&self, _cx: &Cx, plan: &Plan, now: &LegacyDeployed, r: &dyn Reporter) -> Result<Outcome> {
        let n = now_of(now);
        let clients = Clients::new().await?;
        let prev = previous_revision(n).expect("checked by plan_rollback");
        let rev = revision_short(prev["name"].as_str().unwrap_or_default()).to_string();
        let mut body = n.service.clone().unwrap_or(Value::Null);
        body["traffic"] = json!([{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": rev, "percent": 100}]);
        let service: google_cloud_run_v2::model::Service = serde_json::from_value(body).context("service")?;
        r.step(&format!("sending all traffic to revision {rev}"));
        let poller = clients.services.update_service().set_service(service).poller();
        let url = n.service.as_ref().and_then(|s| s["uri"].as_str()).map(str::to_string);
        match await_op(poller, "moving traffic", clients.loopback, r).await {
            Ok(_) => Ok(Outcome { url, health: Health::Passed, actions: plan.actions.clone(), failure: None, pushed: None }),
            Err(e) if e.status().is_some() => Ok(Outcome {
                url,
                health: Health::Failed,
                actions: plan.actions.clone(),
                failure: Some(format!(
                    "{}\n(the current revision keeps serving)",
                    e.status().map(|s| s.message.clone()).unwrap_or_default()
                )),
                pushed: None,
            }),
            Err(e) => Err(api_error("cannot move the service's traffic", e)),
        }
    }

    fn plan_destroy(&self, cx: &Cx, now: &LegacyDeployed) -> Plan {
        let n = now_of(now);
        let mut plan = Plan::default();
        if n.service.is_some() {
            plan.actions.push(Action::new(Op::Delete, "service", cx.resource_base()).because("with its revisions and IAM policy"));
        }
        for id in &n.labelled_secrets {
            plan.actions.push(Action::new(Op::Delete, "secret", id).because("with its versions and IAM policy"));
        }
        plan
    }

    async fn destroy(&self, cx: &Cx, now: &LegacyDeployed, r: &dyn Reporter) -> Result<Outcome> {
        let n = now_of(now);
        let site = site(cx)?;
        let clients = Clients::new().await?;
        if n.service.is_some() {
            r.step(&format!("deleting Cloud Run service {}", cx.resource_base()));
            let poller = clients.services.delete_service().set_name(site.service(cx)).poller();
            match await_op(poller, "deleting the service", clients.loopback, r).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(api_error("cannot delete the Cloud Run service", e)),
            }
            r.done();
        }
        for id in &n.labelled_secrets {
            r.step(&format!("deleting secret {id}"));
            match clients.secrets.delete_secret().set_name(site.secret(id)).send().await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(api_error(&format!("cannot delete secret {id}"), e)),
            }
            r.done();
        }
        Ok(Outcome { url: None, health: Health::Skipped, actions: self.plan_destroy(cx, now).actions, failure: None, pushed: None })
    }
}

/// Why the service's newest revision did not start, when it did not: its failed
/// condition's message.
async fn latest_revision_failure(cx: &Cx, clients: &Clients, site: &Site) -> Option<(String, String)> {
    let service = clients.services.get_service().set_name(site.service(cx)).send().await.ok()?;
    let latest = service.latest_created_revision;
    let rev = clients.revisions.get_revision().set_name(&latest).send().await.ok()?;
    failure_message(&to_value(&rev)).map(|m| (revision_short(&latest).to_string(), m))
}

/// An error with every secret value taken out: an API may quote what it rejected.
fn redacted(cx: &Cx, e: anyhow::Error) -> anyhow::Error {
    let original = format!("{e:#}");
    let text = cx.secrets.redact(&original);
    if text == original {
        e
    } else {
        anyhow::anyhow!(text)
    }
}

/// The revision a rollback returns to: the newest ready revision created before the
/// serving one, running another image.
fn previous_revision(n: &Now) -> Option<&Value> {
    let serving = n.serving.as_ref()?;
    let at = n.revisions.iter().position(|r| r["name"] == serving["name"])?;
    let digest = image_digest(serving);
    n.revisions[at + 1..].iter().find(|r| is_ready(r) && image_digest(r) != digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_edits_keep_other_members() {
        let p = json!({"bindings": [{"role": INVOKER, "members": ["user:a@example.com"]}], "etag": "BwX="});
        let added = edit_policy(&p, INVOKER, ALL_USERS, true);
        assert_eq!(policy_members(&added, INVOKER), ["user:a@example.com", ALL_USERS]);
        let removed = edit_policy(&added, INVOKER, ALL_USERS, false);
        assert_eq!(policy_members(&removed, INVOKER), ["user:a@example.com"]);
        assert_eq!(removed["etag"], "BwX=");
        let fresh = edit_policy(&json!({}), ACCESSOR, "serviceAccount:x", true);
        assert_eq!(policy_members(&fresh, ACCESSOR), ["serviceAccount:x"]);
    }

    #[test]
    fn labels_fit_gcp_rules() {
        let d = digest_label("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        assert!(d.len() <= 63 && !d.contains(':') && d.starts_with("sha256-0123"), "{d}");
        assert_eq!(label_value("Prod.EU"), "prod_eu");
    }

    #[test]
    fn serving_revision_is_the_one_with_most_traffic() {
        let s = json!({"trafficStatuses": [{"revision": "a-1", "percent": 0}, {"revision": "a-2", "percent": 100}], "latestReadyRevision": "x/revisions/a-3"});
        assert_eq!(serving_revision_name(&s).as_deref(), Some("a-2"));
        let s = json!({"latestReadyRevision": "projects/p/locations/r/services/a/revisions/a-3"});
        assert_eq!(serving_revision_name(&s).as_deref(), Some("a-3"));
    }
}
