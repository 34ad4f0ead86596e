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
//! - a security group `aideploy-{base}` opening the app port only to `allow_cidrs` (to
//!   anyone with `public = true`, to no address otherwise: reached through SSM port
//!   forwarding), and port 22 to `ssh_cidrs`, only when given;
//! - for a model server, its API key, generated once into Secrets Manager (see `access`);
//! - the log group `/aideploy/{base}` (30 days), where the container's output goes
//!   through Docker's `awslogs` driver, and which `logs` reads;
//! - one instance (IMDSv2 required, encrypted root volume) whose user data logs in to
//!   the registry, pulls the image by digest, reads the secrets with the instance
//!   profile and runs the container with `--gpus all --restart unless-stopped`;
//! - when the port is open, an Elastic IP (also tagged `Name` `aideploy-{base}`): the
//!   URL, the same after every deploy and rollback (see `address`); or, with
//!   `load_balancer = true`, an Application Load Balancer, its security group, target
//!   group and listener instead (see `alb`).
//!
//! A change starts a new instance, health-checks it at its own address, moves the Elastic
//! IP to it (or registers it with the load balancer and waits until it is healthy there),
//! then terminates the old one; a new instance that fails is terminated and the old one
//! keeps serving, with the address (exit 3). The
//! instance's `aideploy:config` tag is a digest of everything it was started with, so
//! an unchanged redeploy only reads.

mod access;
mod address;
mod alb;
mod alb_ops;
mod apply;
mod aws;
mod build;
mod change;
mod destroy;
mod ops;
mod plan;
mod policy;
mod read;
mod userdata;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use aws_sdk_ec2::types as ec2t;
use aws_sdk_iam::error::ProvideErrorMetadata;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::cloud::ecr;
use crate::engine::target::Built as BuiltOf;
use crate::engine::{
    Capabilities, Cx, DefaultPackage, Deployed, Health, LineSink, LogQuery, Op, Outcome, Parts, Planned, Provider, Reporter, Target,
};
use crate::error::{Hinted, UsageError};
use crate::manifest::values::ModelServer;
use crate::manifest::Kind;
use crate::secrets::aws::{self as store, Stored};
pub use aws::Clients;
pub use change::Step;
use ops::*;
use policy::{role_policy, trust_policy};
use read::*;
use userdata::{Script, Server, Workload};

pub struct Ec2Backend;

pub use crate::cloud::aws::{TAG_APP, TAG_DIGEST, TAG_PARTS, TAG_STAGE, TAG_TARGET};
/// A digest of everything an instance was started with (user data, type, volume, AMI).
const TAG_CONFIG: &str = "aideploy:config";
/// The image reference the instance runs, and what ran before it (for `rollback`).
const TAG_IMAGE: &str = "aideploy:image";
const TAG_PREV_DIGEST: &str = "aideploy:previous-digest";
const TAG_PREV_IMAGE: &str = "aideploy:previous-image";
const POLICY_NAME: &str = "aideploy";
/// A GPU instance boots, pulls a multi-gigabyte image and loads a model: minutes.
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

/// The container's CloudWatch log group.
pub fn log_group_name(cx: &Cx) -> String {
    fit(&format!("/aideploy/{}", base_name(cx)), 512)
}

fn sg_name(cx: &Cx) -> String {
    fit(&format!("aideploy-{}", base_name(cx)), 255)
}

/// IAM is global, the permissions regional: one role (and profile) per region.
fn role_name(cx: &Cx, region: &str) -> String {
    fit(&format!("aideploy-{}-{region}", base_name(cx)), 64)
}

/// `name` when it fits in `max` characters; else a prefix and a short hash of the whole
/// name, so two long names that share a prefix never end up the same.
pub fn fit(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let hash = hex::encode(Sha256::digest(name.as_bytes()));
    let keep = max.saturating_sub(9);
    let mut cut = keep;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{}", &name[..cut], &hash[..8])
}

pub fn repo_name(cx: &Cx) -> String {
    format!("aideploy/{}", base_name(cx))
}

use crate::cloud::aws::owner_tags as tags;

use crate::cloud::aws::is_ours as ours;

/// A cloud error as people read it: the operation, the service's code and message, the
/// request id, and the hint; an error with no service answer (a dropped connection, a
/// timeout) with its cause chain.
fn failed<E: ProvideErrorMetadata + std::error::Error>(what: &str, e: E) -> anyhow::Error {
    let meta = e.meta();
    let msg = match meta.code() {
        Some(code) => {
            let mut m = format!("{what} failed: {code}: {}", meta.message().unwrap_or("(no message)"));
            if let Some(id) = meta.extra("aws_request_id") {
                m.push_str(&format!(" (request id {id})"));
            }
            m
        }
        None => format!("{what} failed: {}", aws::describe(&e)),
    };
    Hinted::new(msg, PERMS_HINT).into()
}

fn short(d: &str) -> &str {
    let d = d.trim_start_matches("sha256:");
    &d[..12.min(d.len())]
}

fn instance_type(cx: &Cx) -> String {
    cx.target.values.instance_type.clone().unwrap_or_default()
}

fn volume_gb(cx: &Cx) -> u32 {
    cx.target.values.volume_gb.unwrap_or_default()
}

fn port(cx: &Cx) -> u16 {
    cx.loaded.manifest.app().port.0
}

fn health_timeout(cx: &Cx) -> Duration {
    cx.target.health_timeout()
}

/// The ingress rules the instance's security group should have: (port, cidr or group
/// id). Behind the load balancer the app port admits only its group (`front`, when it
/// exists), else the allowed networks.
fn desired_ingress(cx: &Cx, front: Option<&str>) -> BTreeSet<(u16, String)> {
    let mut out: BTreeSet<(u16, String)> = if alb::wanted(cx) {
        front.map(|g| (port(cx), g.to_string())).into_iter().collect()
    } else {
        access::allow_cidrs(cx).into_iter().map(|c| (port(cx), c)).collect()
    };
    if let Some(ssh) = &cx.target.settings.ssh_cidrs {
        out.extend(ssh.get().iter().map(|c| (22, c.to_string())));
    }
    out
}

fn model_of(cx: &Cx) -> Option<(Server, String)> {
    let model = cx.target.settings.model.as_ref()?.get().clone();
    let server = match cx.target.values.server {
        Some(ModelServer::Tgi) => Server::Tgi,
        Some(ModelServer::Vllm) | None => Server::Vllm,
    };
    Some((server, model))
}

/// What `build` made, on this machine: the workload an instance runs and, for the app's
/// own image, what apply pushes where.
pub struct Artifact {
    workload: Workload,
    /// The image's repository, by name (`host/path`), when it is the app's image.
    repository: Option<String>,
    image: Option<ImagePush>,
}

/// The app's image, built locally, and where apply pushes it.
pub struct ImagePush {
    local: crate::artifact::image::LocalImage,
    repo: crate::artifact::registry::Reference,
    /// This target's own ECR repository, by name, when the image goes there.
    ecr_repo: Option<String>,
    /// The bytes a push uploads; `None`: the image is in the registry already.
    upload: Option<u64>,
}

/// One of this target's instances.
#[derive(Debug, Clone)]
pub struct Inst {
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
pub struct Sg {
    id: String,
    ingress: BTreeSet<(u16, String)>,
}

/// Everything `observe` read: plain data, no clients.
pub struct Now {
    region: String,
    role: Option<(String, Option<serde_json::Value>)>,
    /// The profile's ARN and whether our role is in it.
    profile: Option<(String, bool)>,
    sg: Option<Sg>,
    /// Not terminated; oldest first.
    instances: Vec<Inst>,
    repo: Option<ecr::Repo>,
    /// The container's log group (only ever ours: a foreign one is refused by `observe`).
    log_group: Option<crate::cloud::aws_logs::Group>,
    secrets: BTreeMap<String, Stored>,
    secret_same: BTreeMap<String, bool>,
    /// The live instance's health, probed when it can be reached from here.
    health: Health,
    /// This target's Elastic IPs (one, unless someone made another with its tags).
    addresses: Vec<address::Eip>,
    /// The load balancer and its parts (see `alb`).
    front: alb::Front,
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
            && self.log_group.is_none()
            && self.addresses.is_empty()
            && self.front.is_empty()
    }
    /// The address this target keeps (see `address`).
    fn address(&self) -> Option<&address::Eip> {
        address::chosen(&self.addresses)
    }
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
    let group = log_group_name(cx);
    let script = Script { label: &label, region, workload, port: port(cx), env: &env, secrets: &arns, log_group: &group }.render();
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
        Workload::Model { model, image, .. } => format!("sha256:{}", hex::encode(Sha256::digest(format!("{image}\n{model}").as_bytes()))),
    }
}

fn workload_image(w: &Workload) -> String {
    match w {
        Workload::App { image, .. } => image.clone(),
        Workload::Model { model, image, .. } => format!("{image} ({model})"),
    }
}

/// The URL people reach the app at, served by `live`: the load balancer's when the
/// manifest asks for one, else the Elastic IP's (see `address::serving_url`).
fn serving_url(cx: &Cx, n: &Now, live: Option<&Inst>) -> Option<String> {
    if alb::wanted(cx) {
        return alb::url(cx, &n.front);
    }
    address::serving_url(cx, n.address(), live)
}

/// The instance's address on the app port; `None` when the port is private.
fn url_of(cx: &Cx, i: &Inst) -> Option<String> {
    if !access::is_open(cx) {
        return None;
    }
    i.public_ip.as_ref().map(|ip| format!("http://{ip}:{}", port(cx)))
}

/// Where the health check reaches an instance: `AIDEPLOY_EC2_HEALTH_HOST` when set,
/// else its public IP and the app port. `None`: not reachable from here (the endpoint runs
/// no instance, or the port is private).
fn health_url(cx: &Cx, plane: crate::cloud::aws::DataPlane, i: &Inst) -> Option<String> {
    let path = cx.loaded.manifest.app().health.to_string();
    if let Some(host) = std::env::var(crate::envvars::AIDEPLOY_EC2_HEALTH_HOST).ok().filter(|h| !h.is_empty()) {
        return Some(format!("http://{host}{path}"));
    }
    // Behind the load balancer the app port admits only the load balancer.
    if !plane.runs_workloads || !access::is_open(cx) || alb::wanted(cx) {
        return None;
    }
    i.public_ip.as_ref().map(|ip| format!("http://{ip}:{}{path}", port(cx)))
}

#[async_trait]
impl Target for Ec2Backend {
    type Artifact = Artifact;
    type Observed = Now;
    type Change = Step;

    /// `status --metrics`: nothing read yet (an Elastic IP counts no requests; the load
    /// balancer's CloudWatch metrics are not read yet).
    async fn metrics(&self, cx: &Cx, _seen: &Self::Observed, _window: std::time::Duration) -> Result<crate::engine::Metrics> {
        Ok(crate::engine::Metrics::not_available(if alb::wanted(cx) {
            "the load balancer's request metrics are not read yet"
        } else {
            "no load balancer: nothing in front of the instance counts its requests"
        }))
    }

    fn kind(&self) -> Kind {
        Kind::Ec2
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: Provider::Aws,
            secret_store: true,
            logs: true,
            rollback: true,
            default_package: DefaultPackage::Image,
            needs_registry: false,
            lease: true,
        }
    }

    async fn lease_store(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn crate::engine::lease::LeaseStore>>> {
        Ok(Some(crate::cloud::s3_lease::for_target(cx).await?))
    }

    async fn lease_record(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn crate::engine::lease::LeaseStore>>> {
        crate::cloud::s3_lease::existing(cx).await
    }

    async fn stages(&self, cx: &Cx) -> Result<Vec<crate::engine::lease::StageRecord>> {
        crate::cloud::s3_lease::stages(cx).await
    }

    async fn secret_store(&self, cx: &Cx) -> Result<Box<dyn crate::secrets::SecretStore>> {
        Ok(Box::new(crate::secrets::aws::AwsStore::for_target(cx).await?))
    }

    /// The container's output, from its CloudWatch log group (one stream per container).
    async fn logs(&self, cx: &Cx, _n: &Now, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
        let c = Clients::for_target(cx).await?;
        crate::cloud::aws_logs::tail(cx, &c.logs, &log_group_name(cx), "the instance's container", query, out).await
    }

    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<BuiltOf<Artifact>> {
        build::build(cx, r).await
    }

    async fn observe(&self, cx: &Cx) -> Result<Now> {
        let c = Clients::for_target(cx).await?;
        read(cx, &c).await
    }

    fn deployed(&self, cx: &Cx, n: &Now) -> Option<Deployed> {
        if n.is_empty() && !n.secrets.values().any(|s| s.target.as_deref() == Some(&cx.target.name)) {
            return None;
        }
        let live = n.live();
        let mut details = serde_json::Map::new();
        details.insert("region".into(), json!(n.region));
        details.insert("instance".into(), json!(live.map(|i| i.id.clone())));
        details.insert("state".into(), json!(live.map(|i| i.state.clone())));
        details.insert("image".into(), json!(live.and_then(|i| i.tag(TAG_IMAGE).map(str::to_string))));
        if let Some(p) = live.and_then(|i| i.tag(TAG_PREV_DIGEST)) {
            details.insert("previous".into(), json!(p));
        }
        if let Some(e) = n.address() {
            details.insert("elastic_ip".into(), json!(e.public_ip));
        }
        if let Some(lb) = &n.front.lb {
            details.insert("load_balancer".into(), json!(lb.dns));
        }
        details.insert("security_group".into(), json!(n.sg.as_ref().map(|s| s.id.clone())));
        details.insert("instances".into(), json!(n.instances.len()));
        if let Some((server, _)) = model_of(cx) {
            let key = access::server_key(cx, server).filter(|k| n.secrets.contains_key(*k));
            if let Some(k) = key {
                let id = store::secret_name(cx.app_name(), &cx.stage.to_string(), k);
                details.insert("api_key".into(), json!(access::key_hint(&n.region, &id)));
            }
        }
        Some(Deployed {
            digest: live.and_then(|i| i.tag(TAG_DIGEST)).unwrap_or_default().to_string(),
            url: serving_url(cx, n, live),
            health: n.health,
            // Every deploy and rollback launches the instance that serves it.
            deployed_at: live.filter(|i| i.launched > 0).map(|i| crate::util::iso8601(i.launched as u64)),
            deployed_by: None,
            details,
        })
    }

    fn plan(&self, cx: &Cx, n: &Now, artifact: &BuiltOf<Artifact>) -> Planned<Step> {
        plan::plan(cx, n, artifact)
    }

    async fn apply(&self, cx: &Cx, n: &Now, artifact: &BuiltOf<Artifact>, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        apply::apply(cx, n, artifact, plan, r).await
    }

    fn plan_rollback(&self, cx: &Cx, n: &Now) -> Result<Planned<Step>> {
        plan::plan_rollback(cx, n)
    }

    async fn rollback(&self, cx: &Cx, n: &Now, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        apply::rollback(cx, n, plan, r).await
    }

    fn releases(&self, _cx: &Cx, n: &Now) -> Vec<crate::engine::Kept> {
        plan::releases(n)
    }

    fn plan_rollback_to(&self, cx: &Cx, n: &Now, id: &str) -> Result<Planned<Step>> {
        plan::plan_rollback_to(cx, n, id)
    }

    fn plan_destroy(&self, cx: &Cx, n: &Now) -> Planned<Step> {
        plan::plan_destroy(cx, n)
    }

    async fn destroy(&self, cx: &Cx, n: &Now, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        destroy::destroy(cx, n, plan, r).await
    }
}

/// How the new instance is reached: through SSM when it is private, else plain HTTP.
pub(super) fn plain_http_note(cx: &Cx, region: &str, i: &Inst, r: &dyn Reporter) {
    if alb::wanted(cx) {
        if !access::is_open(cx) {
            r.warn("the load balancer admits no address: set `public = true` or `allow_cidrs` to let people reach it");
        } else if alb::certificate(cx).is_none() {
            r.warn("the URL is plain HTTP (no TLS): anyone on the path can read requests and answers; set `certificate_arn` to an ACM certificate for HTTPS on port 443");
        }
        return;
    }
    if !access::is_open(cx) {
        r.warn(&access::private_note(cx, region, Some(&i.id)));
        return;
    }
    r.warn("the URL is plain HTTP (no TLS): anyone on the path can read requests and answers; put a TLS proxy or load balancer in front for anything private");
}

/// The live instance and what ran before it (digest, image).
pub(super) fn previous<'a>(cx: &Cx, n: &'a Now) -> Result<(&'a Inst, String, String)> {
    let none = || {
        UsageError::new(format!("{} ({}) has no previous image to roll back to", cx.app_name(), cx.stage)).hint(
            "rollback starts an instance with the image deployed before the live one; deploy a change first (model servers have none)",
        )
    };
    let live = n.live().ok_or_else(none)?;
    let (d, i) = previous_of(live).ok_or_else(none)?;
    Ok((live, d, i))
}

/// The (digest, image) an instance keeps from before it, when that was an app image a
/// new instance can run again: `repository@sha256:...`. A model server's image tag
/// (`image (model)`) is not one.
fn previous_of(i: &Inst) -> Option<(String, String)> {
    match (i.tag(TAG_PREV_DIGEST), i.tag(TAG_PREV_IMAGE)) {
        (Some(d), Some(img)) if !d.is_empty() && img.contains('@') && !img.contains(char::is_whitespace) => {
            Some((d.to_string(), img.to_string()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_with_a_hash() {
        assert_eq!(fit("aideploy-app-dev-eu-west-1", 64), "aideploy-app-dev-eu-west-1");
        let a = fit(&format!("aideploy-{}-dev-eu-west-1", "x".repeat(60)), 64);
        let b = fit(&format!("aideploy-{}-dev-us-east-1", "x".repeat(60)), 64);
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(a.starts_with("aideploy-xxx"));
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
