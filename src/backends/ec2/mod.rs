//! The `ec2` target: a GPU instance running the app's container image by digest (or an
//! open model behind vLLM / TGI), from the GPU Deep Learning AMI, which has Docker and
//! the NVIDIA container runtime.
//!
//! Resources, named from `{app}-{stage}` (plus `-{target}` for a target whose name is
//! not `ec2`) and tagged `aideploy:app`, `aideploy:stage`, `aideploy:target` (instances
//! also `aideploy:digest`), so a fresh clone finds them:
//!
//! - secrets `aideploy/{app}/{stage}/{NAME}` in Secrets Manager (see `secrets::aws`);
//! - the ECR repository `aideploy/{base}` (scan on push, a lifecycle policy keeping the
//!   last images; see `cloud::ecr`), unless `AIDEPLOY_REGISTRY` / `[build] registry`
//!   names another;
//! - a role and instance profile `aideploy-{base}-{region}` allowed to pull from that
//!   repository and to read exactly this app's secrets;
//! - a security group `aideploy-{base}` opening only the app port to `allow_cidrs`
//!   (and port 22 to `ssh_cidrs`, only when given);
//! - one instance (IMDSv2 required, encrypted root volume) whose user data logs in to
//!   the registry, pulls the image by digest, reads the secrets with the instance
//!   profile and runs the container with `--gpus all --restart unless-stopped`.
//!
//! A change starts a new instance, health-checks it, then terminates the old one; a new
//! instance that fails is terminated and the old one keeps serving (exit 3). The
//! instance's `aideploy:config` tag is a digest of everything it was started with, so
//! an unchanged redeploy only reads.

mod aws;
mod ops;
mod read;
mod userdata;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use async_trait::async_trait;
use aws_sdk_ec2::types as ec2t;
use aws_sdk_iam::error::ProvideErrorMetadata;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::artifact::registry::Reference;
use crate::cloud::ecr;
use crate::engine::legacy::LegacyBackend;
use crate::engine::{Action, Artifact, Capabilities, Cx, DefaultPackage, Health, LegacyDeployed, Op, Outcome, Plan, Provider, Reporter};
use crate::error::{Hinted, UsageError};
use crate::manifest::values::ModelServer;
use crate::manifest::Kind;
use crate::secrets::aws::{self as store, Stored};
pub use aws::Clients;
use ops::*;
use read::*;
use userdata::{Script, Server, Workload};

pub struct Ec2Backend;

pub use crate::cloud::aws::{TAG_APP, TAG_DIGEST, TAG_STAGE, TAG_TARGET};
/// A digest of everything an instance was started with (user data, type, volume, AMI).
const TAG_CONFIG: &str = "aideploy:config";
/// The image reference the instance runs, and what ran before it (for `rollback`).
const TAG_IMAGE: &str = "aideploy:image";
const TAG_PREV_DIGEST: &str = "aideploy:previous-digest";
const TAG_PREV_IMAGE: &str = "aideploy:previous-image";
const POLICY_NAME: &str = "aideploy";
const DEFAULT_INSTANCE_TYPE: &str = "g4dn.xlarge";
const DEFAULT_VOLUME_GB: u32 = 100;
/// A GPU instance boots, pulls a multi-gigabyte image and loads a model: minutes.
const DEFAULT_HEALTH_TIMEOUT: u32 = 900;
/// The name of the GPU Deep Learning Base AMI (Ubuntu 22.04; Docker and the NVIDIA
/// container toolkit installed), one image per release: the newest Amazon-owned one is
/// the region's current. (AWS also publishes its id as a public SSM parameter; reading
/// it would need another permission and a whole SDK client for one call.)
pub const DLAMI_NAME: &str = "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *";
const PERMS_HINT: &str = "check that the credentials may manage EC2 instances and security groups, IAM roles and instance profiles, ECR and Secrets Manager in this region";

/// `{app}-{stage}`, with the target's name when it is not `ec2`.
pub fn base_name(cx: &Cx) -> String {
    if cx.target.name == Kind::Ec2.as_str() {
        cx.resource_base()
    } else {
        format!("{}-{}", cx.resource_base(), cx.target.name)
    }
}

fn sg_name(cx: &Cx) -> String {
    format!("aideploy-{}", base_name(cx))
}

/// IAM is global, the permissions regional: one role (and profile) per region.
fn role_name(cx: &Cx, region: &str) -> String {
    let mut n = format!("aideploy-{}-{region}", base_name(cx));
    n.truncate(64);
    n
}

pub fn repo_name(cx: &Cx) -> String {
    format!("aideploy/{}", base_name(cx))
}

fn planned_region(cx: &Cx) -> String {
    cx.target
        .settings
        .region
        .as_ref()
        .map(|r| r.get().as_str().to_string())
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "REGION".into())
}

use crate::cloud::aws::owner_tags as tags;

use crate::cloud::aws::is_ours as ours;

fn failed(what: &str, e: impl std::error::Error) -> anyhow::Error {
    Hinted::new(format!("{what} failed: {}", aws::describe(&e)), PERMS_HINT).into()
}

fn short(d: &str) -> &str {
    let d = d.trim_start_matches("sha256:");
    &d[..12.min(d.len())]
}

fn instance_type(cx: &Cx) -> String {
    cx.target.settings.instance_type.as_ref().map(|t| t.get().clone()).unwrap_or_else(|| DEFAULT_INSTANCE_TYPE.into())
}

fn volume_gb(cx: &Cx) -> u32 {
    cx.target.settings.volume_gb.as_ref().map(|v| *v.get()).unwrap_or(DEFAULT_VOLUME_GB)
}

fn port(cx: &Cx) -> u16 {
    cx.loaded.manifest.app().port.0
}

fn health_timeout(cx: &Cx) -> Duration {
    Duration::from_secs(u64::from(cx.target.settings.health_timeout.as_ref().map(|s| s.get().0).unwrap_or(DEFAULT_HEALTH_TIMEOUT)))
}

/// Who may reach the app port: `allow_cidrs`, default anyone.
fn allow_cidrs(cx: &Cx) -> Vec<String> {
    match &cx.target.settings.allow_cidrs {
        Some(c) => c.get().iter().map(|c| c.to_string()).collect(),
        None => vec!["0.0.0.0/0".into()],
    }
}

/// The ingress rules the security group should have: (port, cidr).
fn desired_ingress(cx: &Cx) -> BTreeSet<(u16, String)> {
    let mut out: BTreeSet<(u16, String)> = allow_cidrs(cx).into_iter().map(|c| (port(cx), c)).collect();
    if let Some(ssh) = &cx.target.settings.ssh_cidrs {
        out.extend(ssh.get().iter().map(|c| (22, c.to_string())));
    }
    out
}

fn model_of(cx: &Cx) -> Option<(Server, String)> {
    let model = cx.target.settings.model.as_ref()?.get().clone();
    let server = match cx.target.settings.server.as_ref().map(|s| *s.get()) {
        Some(ModelServer::Tgi) => Server::Tgi,
        _ => Server::Vllm,
    };
    Some((server, model))
}

/// What `build` hands to `plan` and `apply`.
#[derive(Debug, Clone)]
struct Built {
    workload: Workload,
    /// The pushed image's repository, by name (`host/path`), when it is the app's image.
    repository: Option<String>,
}

/// One of this target's instances.
#[derive(Debug, Clone)]
struct Inst {
    id: String,
    state: String,
    public_ip: Option<String>,
    launched: i64,
    tags: HashMap<String, String>,
}

impl Inst {
    fn tag(&self, k: &str) -> Option<&str> {
        self.tags.get(k).map(String::as_str)
    }
}

#[derive(Debug, Clone)]
struct Sg {
    id: String,
    ingress: BTreeSet<(u16, String)>,
}

/// Everything `current` read.
struct Now {
    clients: Clients,
    role: Option<(String, Option<serde_json::Value>)>,
    /// The profile's ARN and whether our role is in it.
    profile: Option<(String, bool)>,
    sg: Option<Sg>,
    /// Not terminated; oldest first.
    instances: Vec<Inst>,
    repo: Option<ecr::Repo>,
    secrets: BTreeMap<String, Stored>,
    secret_same: BTreeMap<String, bool>,
}

impl Now {
    /// The instance serving now: the oldest one (a newer one exists only while a deploy
    /// has not finished health-checking it).
    fn live(&self) -> Option<&Inst> {
        self.instances.iter().find(|i| i.state == "running").or(self.instances.first())
    }
    fn is_empty(&self) -> bool {
        self.role.is_none()
            && self.profile.is_none()
            && self.sg.is_none()
            && self.instances.is_empty()
            && !self.repo.as_ref().is_some_and(|r| r.ours)
    }
}

fn now_of(d: &LegacyDeployed) -> &Now {
    d.state.downcast_ref::<Now>().expect("ec2 state")
}

fn trust_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    })
    .to_string()
}

/// The role's only permissions: pull from its ECR repository, read this app's secrets.
/// `None` when it needs none (an image from elsewhere and no secrets).
fn role_policy(repo_arn: Option<&str>, secret_arns: &BTreeMap<String, String>) -> Option<serde_json::Value> {
    let mut statements = Vec::new();
    if let Some(arn) = repo_arn {
        statements.push(json!({"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}));
        statements.push(json!({
            "Sid": "EcrPull",
            "Effect": "Allow",
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Resource": [arn]
        }));
    }
    if !secret_arns.is_empty() {
        statements.push(json!({"Sid": "OwnSecrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arns.values().collect::<Vec<_>>()}));
    }
    (!statements.is_empty()).then(|| json!({"Version": "2012-10-17", "Statement": statements}))
}

/// Secret name -> (ARN, current version) for the secrets stored now; `None` when one is
/// about to be created or given a new value.
fn secret_refs(cx: &Cx, stored: &BTreeMap<String, Stored>, changing: &[String]) -> Option<BTreeMap<String, (String, String)>> {
    let mut out = BTreeMap::new();
    for name in cx.loaded.manifest.secrets.keys().map(|k| k.get().clone()) {
        match stored.get(&name) {
            Some(_) if changing.contains(&name) => return None,
            Some(s) => {
                out.insert(name, (s.arn.clone(), s.version.clone().unwrap_or_default()));
            }
            None if cx.secrets.values.contains_key(&name) => return None,
            None => {}
        }
    }
    Some(out)
}

/// The secrets' ARNs only (what the policy names: a new value does not change them).
fn secret_arns(cx: &Cx, stored: &BTreeMap<String, Stored>) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for name in cx.loaded.manifest.secrets.keys().map(|k| k.get().clone()) {
        match stored.get(&name) {
            Some(s) => {
                out.insert(name, s.arn.clone());
            }
            None if cx.secrets.values.contains_key(&name) => return None,
            None => {}
        }
    }
    Some(out)
}

/// The user data and the `aideploy:config` digest for a workload.
fn launch_spec(cx: &Cx, region: &str, workload: &Workload, refs: &BTreeMap<String, (String, String)>) -> (String, String) {
    let env: BTreeMap<String, String> = cx.loaded.manifest.env_pairs().into_iter().collect();
    let arns: BTreeMap<String, String> = refs.iter().map(|(k, (a, _))| (k.clone(), a.clone())).collect();
    let label = format!("{} ({}) on {}", cx.app_name(), cx.stage, cx.target.name);
    let script = Script { label: &label, region, workload, port: port(cx), env: &env, secrets: &arns }.render();
    let mut h = Sha256::new();
    h.update(script.as_bytes());
    // A new secret value needs a new container: the versions are part of the config.
    for (name, (_, version)) in refs {
        h.update(format!("\nsecret {name}={version}").as_bytes());
    }
    h.update(format!("\ntype={}\nvolume={}\n", instance_type(cx), volume_gb(cx)).as_bytes());
    if let Some(ami) = &cx.target.settings.ami {
        h.update(format!("ami={}\n", ami.get()).as_bytes());
    }
    (script, hex::encode(h.finalize())[..32].to_string())
}

fn workload_digest(w: &Workload) -> String {
    match w {
        Workload::App { image, .. } => image.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default(),
        Workload::Model { server, model } => {
            format!("sha256:{}", hex::encode(Sha256::digest(format!("{}\n{model}", server.image()).as_bytes())))
        }
    }
}

fn workload_image(w: &Workload) -> String {
    match w {
        Workload::App { image, .. } => image.clone(),
        Workload::Model { server, model } => format!("{} ({model})", server.image()),
    }
}

fn url_of(cx: &Cx, i: &Inst) -> Option<String> {
    i.public_ip.as_ref().map(|ip| format!("http://{ip}:{}", port(cx)))
}

/// Where the health check reaches an instance: `AIDEPLOY_EC2_HEALTH_HOST` when set,
/// else its public IP and the app port. `None`: not reachable from here (an emulator).
fn health_url(cx: &Cx, c: &Clients, i: &Inst) -> Option<String> {
    let path = cx.loaded.manifest.app().health.to_string();
    if let Some(host) = std::env::var(crate::envvars::AIDEPLOY_EC2_HEALTH_HOST).ok().filter(|h| !h.is_empty()) {
        return Some(format!("http://{host}{path}"));
    }
    if c.emulated {
        return None;
    }
    i.public_ip.as_ref().map(|ip| format!("http://{ip}:{}{path}", port(cx)))
}

#[async_trait]
impl LegacyBackend for Ec2Backend {
    fn kind(&self) -> Kind {
        Kind::Ec2
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: Provider::Aws,
            secret_store: true,
            logs: false,
            rollback: true,
            default_package: DefaultPackage::Image,
            needs_registry: false,
        }
    }

    async fn secret_store(&self, cx: &Cx) -> Result<Box<dyn crate::secrets::SecretStore>> {
        Ok(Box::new(crate::secrets::aws::AwsStore::for_target(cx).await?))
    }

    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Artifact> {
        if cx.target.settings.server.is_some() && cx.target.settings.model.is_none() {
            return Err(UsageError::new("`server` is set but `model` is not")
                .hint(format!("add `model = \"org/name\"` (a Hugging Face id) to [targets.{}], or drop `server`", cx.target.name))
                .into());
        }
        if let Some((server, model)) = model_of(cx) {
            if model.split('/').count() != 2 || model.contains(char::is_whitespace) || model.starts_with('/') || model.ends_with('/') {
                return Err(UsageError::new(format!("`model = \"{model}\"` is not a Hugging Face model id"))
                    .hint("give it as `org/name`, e.g. \"TheBloke/Llama-2-7B-Chat-AWQ\"")
                    .into());
            }
            let workload = Workload::Model { server, model };
            let digest = workload_digest(&workload);
            let mut a = Artifact::plain("model-server", digest, 0, Arc::new(Built { workload: workload.clone(), repository: None }));
            a.reference = Some(workload_image(&workload));
            return Ok(a);
        }
        let repo = match crate::artifact::image::push_repository(&cx.loaded)? {
            Some(repo) => repo,
            None => {
                let c = Clients::for_target(cx).await?;
                r.step(&format!("checking ECR repository {}", repo_name(cx)));
                let uri = ecr::ensure(&c.ecr, &repo_name(cx), &tags(cx), r).await?;
                r.done();
                if c.emulated {
                    return Err(Hinted::new(
                        "AWS_ENDPOINT_URL is a loopback emulator, which serves no image registry behind its ECR API",
                        format!("set {}=HOST:PORT/REPOSITORY to push the image to a registry you run", crate::envvars::AIDEPLOY_REGISTRY),
                    )
                    .into());
                }
                Reference::parse(&uri)?
            }
        };
        let mut artifact = crate::artifact::image::build_to(&cx.loaded, &cx.stage, Some(&cx.target), Some(repo.clone()), r).await?;
        let name = repo.name();
        let ecr_host = crate::cloud::registry_logins::ecr_region(&repo.registry).map(|_| repo.registry.clone());
        let image = format!("{name}@{}", artifact.digest);
        artifact.reference = Some(image.clone());
        artifact.payload =
            Arc::new(Built { workload: Workload::App { image, ecr_host, container_port: port(cx) }, repository: Some(name) });
        Ok(artifact)
    }

    async fn current(&self, cx: &Cx) -> Result<Option<LegacyDeployed>> {
        let c = Clients::for_target(cx).await?;
        let now = read(cx, c).await?;
        if now.is_empty() && !now.secrets.values().any(|s| s.target.as_deref() == Some(&cx.target.name)) {
            return Ok(None);
        }
        let live = now.live().cloned();
        let url = live.as_ref().and_then(|i| url_of(cx, i));
        let health = match live.as_ref().and_then(|i| health_url(cx, &now.clients, i)) {
            Some(u) => {
                if crate::engine::health::probe(&u).await {
                    Health::Passed
                } else {
                    Health::Failed
                }
            }
            None => Health::Skipped,
        };
        let mut details = serde_json::Map::new();
        details.insert("region".into(), json!(now.clients.region));
        details.insert("instance".into(), json!(live.as_ref().map(|i| i.id.clone())));
        details.insert("state".into(), json!(live.as_ref().map(|i| i.state.clone())));
        details.insert("image".into(), json!(live.as_ref().and_then(|i| i.tag(TAG_IMAGE).map(str::to_string))));
        if let Some(p) = live.as_ref().and_then(|i| i.tag(TAG_PREV_DIGEST)) {
            details.insert("previous".into(), json!(p));
        }
        details.insert("security_group".into(), json!(now.sg.as_ref().map(|s| s.id.clone())));
        details.insert("instances".into(), json!(now.instances.len()));
        Ok(Some(LegacyDeployed {
            digest: live.as_ref().and_then(|i| i.tag(TAG_DIGEST)).unwrap_or_default().to_string(),
            url,
            health,
            details,
            state: Arc::new(now),
        }))
    }

    fn plan(&self, cx: &Cx, now: Option<&LegacyDeployed>, artifact: &Artifact) -> Plan {
        let built = artifact.payload.downcast_ref::<Built>().expect("ec2 artifact");
        let base = base_name(cx);
        let mut plan = Plan::default();
        if cx.target.settings.allow_cidrs.is_none() {
            plan.warnings.push(format!(
                "port {} is open to the whole internet over plain HTTP: set `allow_cidrs` to limit who may reach it",
                port(cx)
            ));
        }
        if let Some(host) = built.repository.as_deref().and_then(|r| r.split('/').next()) {
            if crate::cloud::registry_logins::ecr_region(host).is_none() && !crate::cloud::is_loopback_host(host) {
                plan.warnings.push(format!("the instance pulls the image from {host} without a login: the repository must be public (ECR, the default, is logged in to with the instance's role)"));
            }
        }
        let n = now.map(now_of);
        let empty = BTreeMap::new();
        let stored = n.map(|n| &n.secrets).unwrap_or(&empty);
        for name in cx.secrets.values.keys() {
            let id = store::secret_name(cx.app_name(), &cx.stage.to_string(), name);
            plan.actions.push(match (stored.get(name), n.and_then(|n| n.secret_same.get(name))) {
                (None, _) => Action::new(Op::Create, "secret", id),
                (Some(_), Some(true)) => Action::new(Op::Noop, "secret", id),
                (Some(_), _) => Action::new(Op::Update, "secret", id).because("value changed"),
            });
        }
        let changing: Vec<String> = plan
            .actions
            .iter()
            .filter(|a| a.resource == "secret" && a.op != Op::Noop)
            .map(|a| a.id.rsplit('/').next().unwrap_or_default().to_string())
            .collect();
        if built.repository.as_deref().is_some_and(|r| r.ends_with(&format!("/{}", repo_name(cx)))) {
            plan.actions.push(Action::new(Op::Noop, "ecr-repository", repo_name(cx)));
        }
        let region = n.map(|n| n.clients.region.clone()).unwrap_or_else(|| planned_region(cx));
        let rname = role_name(cx, &region);

        // Role, profile, security group.
        let want_policy =
            secret_arns(cx, stored).map(|arns| role_policy(built.repository.as_deref().and_then(ecr::repo_arn).as_deref(), &arns));
        plan.actions.push(match n.and_then(|n| n.role.as_ref()) {
            None => Action::new(Op::Create, "role", &rname),
            Some((_, have)) if want_policy.as_ref() == Some(have) => Action::new(Op::Noop, "role", &rname),
            Some(_) => Action::new(Op::Update, "role", &rname).because("permissions changed"),
        });
        plan.actions.push(match n.and_then(|n| n.profile.as_ref()) {
            Some((_, true)) => Action::new(Op::Noop, "instance-profile", &rname),
            Some((_, false)) => Action::new(Op::Update, "instance-profile", &rname).because("role missing"),
            None => Action::new(Op::Create, "instance-profile", &rname),
        });
        let sg = sg_name(cx);
        let ingress = desired_ingress(cx);
        let rules = ingress.iter().map(|(p, c)| format!("{p} from {c}")).collect::<Vec<_>>().join(", ");
        plan.actions.push(match n.and_then(|n| n.sg.as_ref()) {
            None => Action::new(Op::Create, "security-group", &sg).because(rules),
            Some(g) if g.ingress == ingress => Action::new(Op::Noop, "security-group", format!("{sg} ({})", g.id)),
            Some(g) => Action::new(Op::Update, "security-group", format!("{sg} ({})", g.id)).because(rules),
        });

        // The instance.
        let refs = secret_refs(cx, stored, &changing);
        let config = refs.as_ref().map(|refs| launch_spec(cx, &region, &built.workload, refs).1);
        let instances = n.map(|n| n.instances.as_slice()).unwrap_or_default();
        let matching = config.as_ref().and_then(|cfg| instances.iter().find(|i| i.tag(TAG_CONFIG) == Some(cfg.as_str())));
        match matching {
            Some(i) => plan.actions.push(Action::new(Op::Noop, "instance", &i.id).because(format!("@{}", short(&artifact.digest)))),
            None => {
                let live = n.and_then(Now::live);
                let why = match live {
                    None => format!("{}, @{}", instance_type(cx), short(&artifact.digest)),
                    Some(l) if l.tag(TAG_DIGEST) != Some(artifact.digest.as_str()) => {
                        format!("image {} -> {}", short(l.tag(TAG_DIGEST).unwrap_or("?")), short(&artifact.digest))
                    }
                    Some(_) => "configuration changed".into(),
                };
                plan.actions.push(Action::new(Op::Create, "instance", &base).because(why));
            }
        }
        for i in instances.iter().filter(|i| matching.is_none_or(|m| m.id != i.id)) {
            plan.actions.push(Action::new(Op::Delete, "instance", &i.id).because("once the new one is healthy"));
        }
        plan
    }

    async fn apply(&self, cx: &Cx, plan: &Plan, now: Option<&LegacyDeployed>, artifact: &Artifact, r: &dyn Reporter) -> Result<Outcome> {
        let built = artifact.payload.downcast_ref::<Built>().expect("ec2 artifact");
        let n = now.map(now_of);
        let c = match n {
            Some(n) => n.clients.clone(),
            None => Clients::for_target(cx).await?,
        };
        let app = cx.app_name().to_string();
        let stage = cx.stage.to_string();
        // The AMI first: a region without one fails before anything is created.
        let ami = if plan.actions.iter().any(|a| a.resource == "instance" && a.op == Op::Create) {
            Some(resolve_ami(cx, &c, r).await?)
        } else {
            None
        };

        // 1. Secrets: values to Secrets Manager; only ARNs go further.
        let empty = BTreeMap::new();
        let stored = n.map(|n| &n.secrets).unwrap_or(&empty);
        let mut refs: BTreeMap<String, (String, String)> = BTreeMap::new();
        for name in cx.loaded.manifest.secrets.keys().map(|k| k.get().clone()) {
            let changing =
                plan.actions.iter().any(|a| a.resource == "secret" && a.op != Op::Noop && a.id.rsplit('/').next() == Some(name.as_str()));
            match (cx.secrets.values.get(&name), stored.get(&name)) {
                (Some(value), existing) if changing || existing.is_none() => {
                    r.step(&format!("storing secret {name}"));
                    let w = store::put(&c.secrets, &app, &stage, &cx.target.name, &name, value, existing).await?;
                    refs.insert(name, (w.arn, w.version.unwrap_or_default()));
                }
                (_, Some(s)) => {
                    refs.insert(name, (s.arn.clone(), s.version.clone().unwrap_or_default()));
                }
                (_, None) => {}
            }
        }
        let arns: BTreeMap<String, String> = refs.iter().map(|(k, (a, _))| (k.clone(), a.clone())).collect();

        // 2. Role, its policy, the instance profile.
        let rname = role_name(cx, &c.region);
        if n.and_then(|n| n.role.as_ref()).is_none() {
            r.step(&format!("creating role {rname}"));
            create_role(cx, &c, &rname).await?;
        }
        let policy = role_policy(built.repository.as_deref().and_then(ecr::repo_arn).as_deref(), &arns);
        if n.and_then(|n| n.role.as_ref()).and_then(|(_, p)| p.clone()) != policy {
            match &policy {
                Some(p) => {
                    c.iam
                        .put_role_policy()
                        .role_name(&rname)
                        .policy_name(POLICY_NAME)
                        .policy_document(p.to_string())
                        .send()
                        .await
                        .map_err(|e| failed("IAM PutRolePolicy", e))?;
                }
                None => {
                    let _ = c.iam.delete_role_policy().role_name(&rname).policy_name(POLICY_NAME).send().await;
                }
            }
        }
        let fresh_profile = match n.and_then(|n| n.profile.as_ref()) {
            Some((_, true)) => false,
            Some((_, false)) => {
                add_role_to_profile(&c, &rname).await?;
                true
            }
            None => {
                r.step(&format!("creating instance profile {rname}"));
                create_profile(cx, &c, &rname).await?;
                add_role_to_profile(&c, &rname).await?;
                true
            }
        };

        // 3. The security group.
        let sg_id = ensure_sg(cx, &c, n.and_then(|n| n.sg.as_ref()), r).await?;

        // 4. The instance: the one already started with exactly this, or a new one.
        let (script, config) = launch_spec(cx, &c.region, &built.workload, &refs);
        let instances: Vec<Inst> = n.map(|n| n.instances.clone()).unwrap_or_default();
        let live = n.and_then(Now::live).cloned();
        let (inst, created) = match instances.iter().find(|i| i.tag(TAG_CONFIG) == Some(config.as_str())) {
            Some(i) => (i.clone(), false),
            None => {
                let previous = live.as_ref().and_then(|l| match l.tag(TAG_DIGEST) {
                    Some(d) if d != artifact.digest => Some((d.to_string(), l.tag(TAG_IMAGE).unwrap_or_default().to_string())),
                    _ => l.tag(TAG_PREV_DIGEST).map(|d| (d.to_string(), l.tag(TAG_PREV_IMAGE).unwrap_or_default().to_string())),
                });
                let ami = match &ami {
                    Some(a) => a.clone(),
                    None => resolve_ami(cx, &c, r).await?,
                };
                let launch = Launch {
                    ami: &ami,
                    workload: &built.workload,
                    script: &script,
                    config: &config,
                    sg_id: &sg_id,
                    profile: &rname,
                    previous,
                    fresh_profile,
                };
                (run_instance(cx, &c, &launch, r).await?, true)
            }
        };
        let others: Vec<&Inst> = instances.iter().filter(|i| i.id != inst.id).collect();
        if !created && others.is_empty() {
            r.done();
            return Ok(Outcome {
                url: url_of(cx, &inst),
                health: now.map(|d| d.health).unwrap_or(Health::Skipped),
                actions: plan.actions.clone(),
                failure: None,
                pushed: None,
            });
        }

        // 5. Running, status checks, health; then the old instances go.
        let gated = match wait_ready(&c, &inst.id, r).await {
            Ok(ready) => gate(cx, &c, &ready, r).await.map(|h| (ready, h)),
            Err(e) => Err(format!("{e:#}")),
        };
        match gated {
            Ok((ready, health)) => {
                if !others.is_empty() {
                    r.step(&format!(
                        "terminating the previous instance{} {}",
                        if others.len() > 1 { "s" } else { "" },
                        others.iter().map(|i| i.id.as_str()).collect::<Vec<_>>().join(", ")
                    ));
                    terminate(&c, &others.iter().map(|i| i.id.clone()).collect::<Vec<_>>()).await?;
                }
                r.done();
                plain_http_note(r);
                Ok(Outcome { url: url_of(cx, &ready), health, actions: plan.actions.clone(), failure: None, pushed: None })
            }
            Err(why) => {
                r.step(&format!("terminating the unhealthy instance {}", inst.id));
                terminate(&c, std::slice::from_ref(&inst.id)).await?;
                r.done();
                let kept = if others.is_empty() { "nothing is serving" } else { "the previous instance keeps serving" };
                Ok(Outcome {
                    url: live.as_ref().filter(|l| l.id != inst.id).and_then(|l| url_of(cx, l)),
                    health: Health::Failed,
                    actions: plan.actions.clone(),
                    failure: Some(format!("instance {}: {why}\n({kept})", inst.id)),
                    pushed: None,
                })
            }
        }
    }

    fn plan_rollback(&self, cx: &Cx, now: &LegacyDeployed) -> Result<Plan> {
        let n = now_of(now);
        let (live, prev_digest, _) = previous(cx, n)?;
        let mut plan = Plan::default();
        plan.actions.push(Action::new(Op::Create, "instance", base_name(cx)).because(format!(
            "image {} -> {}",
            short(live.tag(TAG_DIGEST).unwrap_or("?")),
            short(&prev_digest)
        )));
        plan.actions.push(Action::new(Op::Delete, "instance", &live.id).because("once the new one is healthy"));
        Ok(plan)
    }

    async fn rollback(&self, cx: &Cx, plan: &Plan, now: &LegacyDeployed, r: &dyn Reporter) -> Result<Outcome> {
        let n = now_of(now);
        let c = &n.clients;
        let (live, prev_digest, prev_image) = previous(cx, n)?;
        let declared: Vec<String> = cx.loaded.manifest.secrets.keys().map(|k| k.get().clone()).collect();
        let refs: BTreeMap<String, (String, String)> = n
            .secrets
            .iter()
            .filter(|(k, _)| declared.contains(k))
            .map(|(k, s)| (k.clone(), (s.arn.clone(), s.version.clone().unwrap_or_default())))
            .collect();
        let ecr_host = prev_image.split('/').next().filter(|h| crate::cloud::registry_logins::ecr_region(h).is_some()).map(str::to_string);
        let workload = Workload::App { image: prev_image, ecr_host, container_port: port(cx) };
        let (script, config) = launch_spec(cx, &c.region, &workload, &refs);
        let Some(sg) = &n.sg else {
            return Err(Hinted::new(format!("the security group {} is gone", sg_name(cx)), "deploy again to recreate it").into());
        };
        let back = Some((live.tag(TAG_DIGEST).unwrap_or_default().to_string(), live.tag(TAG_IMAGE).unwrap_or_default().to_string()));
        let ami = resolve_ami(cx, c, r).await?;
        let launch = Launch {
            ami: &ami,
            workload: &workload,
            script: &script,
            config: &config,
            sg_id: &sg.id,
            profile: &role_name(cx, &c.region),
            previous: back,
            fresh_profile: false,
        };
        let inst = run_instance(cx, c, &launch, r).await?;
        let gated = match wait_ready(c, &inst.id, r).await {
            Ok(ready) => gate(cx, c, &ready, r).await.map(|h| (ready, h)),
            Err(e) => Err(format!("{e:#}")),
        };
        match gated {
            Ok((ready, health)) => {
                let old: Vec<String> = n.instances.iter().map(|i| i.id.clone()).collect();
                r.step(&format!("terminating {}", old.join(", ")));
                terminate(c, &old).await?;
                r.done();
                plain_http_note(r);
                let _ = prev_digest;
                Ok(Outcome { url: url_of(cx, &ready), health, actions: plan.actions.clone(), failure: None, pushed: None })
            }
            Err(why) => {
                terminate(c, std::slice::from_ref(&inst.id)).await?;
                Ok(Outcome {
                    url: now.url.clone(),
                    health: Health::Failed,
                    actions: plan.actions.clone(),
                    failure: Some(format!("instance {}: {why}\n(the current instance keeps serving)", inst.id)),
                    pushed: None,
                })
            }
        }
    }

    fn plan_destroy(&self, cx: &Cx, now: &LegacyDeployed) -> Plan {
        let n = now_of(now);
        let mut plan = Plan::default();
        for i in &n.instances {
            plan.actions.push(Action::new(Op::Delete, "instance", &i.id).because(i.state.clone()));
        }
        if let Some(g) = &n.sg {
            plan.actions.push(Action::new(Op::Delete, "security-group", format!("{} ({})", sg_name(cx), g.id)));
        }
        let rname = role_name(cx, &n.clients.region);
        if n.profile.is_some() {
            plan.actions.push(Action::new(Op::Delete, "instance-profile", &rname));
        }
        if n.role.is_some() {
            plan.actions.push(Action::new(Op::Delete, "role", &rname).because("and its policy"));
        }
        if n.repo.as_ref().is_some_and(|r| r.ours) {
            plan.actions.push(Action::new(Op::Delete, "ecr-repository", repo_name(cx)).because("and its images"));
        }
        for s in n.secrets.values().filter(|s| s.target.as_deref() == Some(&cx.target.name)) {
            plan.actions.push(
                Action::new(Op::Delete, "secret", store::secret_name(cx.app_name(), &cx.stage.to_string(), &s.name))
                    .because("recoverable for 7 days"),
            );
        }
        plan
    }

    async fn destroy(&self, cx: &Cx, now: &LegacyDeployed, r: &dyn Reporter) -> Result<Outcome> {
        let n = now_of(now);
        let c = &n.clients;
        let actions = self.plan_destroy(cx, now).actions;
        let ids: Vec<String> = n.instances.iter().map(|i| i.id.clone()).collect();
        if !ids.is_empty() {
            r.step(&format!("terminating {}", ids.join(", ")));
            terminate(c, &ids).await?;
            wait_terminated(c, &ids, r).await?;
        }
        if let Some(g) = &n.sg {
            r.step(&format!("deleting security group {}", g.id));
            delete_sg(c, &g.id, r).await?;
        }
        let rname = role_name(cx, &c.region);
        if n.profile.is_some() {
            r.step(&format!("deleting instance profile {rname}"));
            if n.profile.as_ref().is_some_and(|(_, has)| *has) {
                match c.iam.remove_role_from_instance_profile().instance_profile_name(&rname).role_name(&rname).send().await {
                    Ok(_) => {}
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
                    Err(e) => return Err(failed("IAM RemoveRoleFromInstanceProfile", e)),
                }
            }
            match c.iam.delete_instance_profile().instance_profile_name(&rname).send().await {
                Ok(_) => {}
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
                Err(e) => return Err(failed("IAM DeleteInstanceProfile", e)),
            }
        }
        if n.role.is_some() {
            r.step(&format!("deleting role {rname}"));
            let policies = c.iam.list_role_policies().role_name(&rname).send().await.map_err(|e| failed("IAM ListRolePolicies", e))?;
            for p in policies.policy_names() {
                c.iam.delete_role_policy().role_name(&rname).policy_name(p).send().await.map_err(|e| failed("IAM DeleteRolePolicy", e))?;
            }
            match c.iam.delete_role().role_name(&rname).send().await {
                Ok(_) => {}
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
                Err(e) => return Err(failed("IAM DeleteRole", e)),
            }
        }
        if n.repo.as_ref().is_some_and(|r| r.ours) {
            r.step(&format!("deleting ECR repository {}", repo_name(cx)));
            ecr::delete(&c.ecr, &repo_name(cx)).await?;
        }
        for s in n.secrets.values().filter(|s| s.target.as_deref() == Some(&cx.target.name)) {
            r.step(&format!("deleting secret {}", s.name));
            store::delete(&c.secrets, &s.arn).await?;
        }
        r.done();
        Ok(Outcome { url: None, health: Health::Skipped, actions, failure: None, pushed: None })
    }
}

fn plain_http_note(r: &dyn Reporter) {
    r.warn("the URL is plain HTTP (no TLS): anyone on the path can read requests and answers; put a TLS proxy or load balancer in front for anything private");
}

/// The live instance and what ran before it (digest, image).
fn previous<'a>(cx: &Cx, n: &'a Now) -> Result<(&'a Inst, String, String)> {
    let none = || {
        UsageError::new(format!("{} ({}) has no previous image to roll back to", cx.app_name(), cx.stage)).hint(
            "rollback starts an instance with the image deployed before the live one; deploy a change first (model servers have none)",
        )
    };
    let live = n.live().ok_or_else(none)?;
    match (live.tag(TAG_PREV_DIGEST), live.tag(TAG_PREV_IMAGE)) {
        (Some(d), Some(i)) if !d.is_empty() && i.contains('@') => Ok((live, d.to_string(), i.to_string())),
        _ => Err(none().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_scopes_to_the_repository_and_secrets() {
        assert_eq!(role_policy(None, &BTreeMap::new()), None);
        let arn = ecr::repo_arn("123456789012.dkr.ecr.eu-west-1.amazonaws.com/aideploy/app-dev").unwrap();
        assert_eq!(arn, "arn:aws:ecr:eu-west-1:123456789012:repository/aideploy/app-dev");
        assert_eq!(ecr::repo_arn("ghcr.io/a/b"), None);
        let secrets = BTreeMap::from([("K".to_string(), "arn:aws:secretsmanager:eu-west-1:1:secret:aideploy/app/dev/K-x".to_string())]);
        let p = role_policy(Some(&arn), &secrets).unwrap();
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 3);
        assert_eq!(st[1]["Resource"], json!([arn]));
        assert_eq!(st[2]["Resource"], json!(["arn:aws:secretsmanager:eu-west-1:1:secret:aideploy/app/dev/K-x"]));
    }

    #[test]
    fn newest_image_wins() {
        let imgs = vec![
            ("2024-01-02T00:00:00.000Z".to_string(), "ami-b".to_string()),
            ("2024-03-01T00:00:00.000Z".to_string(), "ami-c".to_string()),
            ("2023-12-31T00:00:00.000Z".to_string(), "ami-a".to_string()),
        ];
        assert_eq!(newest(imgs).as_deref(), Some("ami-c"));
        assert_eq!(newest(vec![]), None);
    }
}
