//! The `sagemaker` target: a model directory (or the app's own image) as a SageMaker
//! real-time endpoint.
//!
//! Resources, all named from `{app}-{stage}` (plus `-{target}` for a target whose name
//! is not `sagemaker`), tagged `aideploy:app`, `aideploy:stage`, `aideploy:target` (and
//! `aideploy:digest`), so a fresh clone finds them:
//!
//! - the model archive (`model.tar.gz`, built from `model_dir`) in the account's private,
//!   encrypted, versioned bucket, stored once per digest (see `upload`);
//! - secrets `aideploy/{app}/{stage}/{NAME}` in Secrets Manager (see `secrets::aws`); the
//!   model's environment holds their ARNs only (`AIDEPLOY_SECRET_ARNS`);
//! - an execution role `aideploy-{endpoint}-{region}` whose one inline policy allows
//!   reading this target's archives, writing the endpoint's own log group, pulling the
//!   app's own ECR image (when `image` names one) and `secretsmanager:GetSecretValue` on
//!   exactly this app's secret ARNs;
//! - per release, a model and an endpoint config both named `{endpoint}-{release}`, where
//!   the release id is a digest of everything they hold (image, archive, environment,
//!   role, instances): an unchanged deploy finds its release and changes nothing;
//! - the endpoint, created or updated to the release's config. SageMaker itself keeps
//!   the previous config serving until the new instances answer `/ping`; a failed update
//!   leaves the previous config in service and reports `FailureReason`.
//!
//! `rollback` updates the endpoint to the endpoint config created before the live one.

mod aws;
mod image;
mod read;
pub mod upload;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::artifact::model_archive::{build_model_archive, ModelArchive, ModelArchiveSpec};
use crate::artifact::zip::SECRET_ARNS_ENV;
use crate::backends::lambda::SECRETS_REV_ENV;
use crate::cloud::aws::TAG_DIGEST;
use crate::engine::legacy::LegacyBackend;
use crate::engine::wait::{Poll, Wait, Waited};
use crate::engine::{Action, Artifact, Capabilities, Cx, DefaultPackage, Health, LegacyDeployed, Op, Outcome, Plan, Provider, Reporter};
use crate::error::{Hinted, UsageError};
use crate::manifest::Kind;
use crate::secrets::aws::{self as store, arns_of, known_refs, secret_refs, SecretRef, Stored};
pub use aws::Clients;

pub struct SageMakerBackend;

const POLICY_NAME: &str = "aideploy";
const VARIANT: &str = "AllTraffic";
/// The product's default: one GPU instance, enough for a 7B model in half precision.
pub const DEFAULT_INSTANCE_TYPE: &str = "ml.g5.xlarge";
/// Releases (model + endpoint config) kept for `rollback`.
const KEEP_RELEASES: usize = 5;
/// Real endpoint creation takes about 10 minutes; give up waiting after an hour.
const WAIT_LIMIT: Duration = Duration::from_secs(3600);
const PERMS_HINT: &str = "check that the credentials may manage SageMaker models, endpoint configs and endpoints, IAM roles, S3 and Secrets Manager in this region";

/// The endpoint's name: `{app}-{stage}`, with the target's name when it is not
/// `sagemaker`.
pub fn endpoint_name(cx: &Cx) -> String {
    if cx.target.name == Kind::Sagemaker.as_str() {
        cx.resource_base()
    } else {
        format!("{}-{}", cx.resource_base(), cx.target.name)
    }
}

/// One role per region (its permissions name regional ARNs).
fn role_name(cx: &Cx, region: &str) -> String {
    crate::backends::ec2::fit(&format!("aideploy-{}-{region}", endpoint_name(cx)), 64)
}

fn release_name(endpoint: &str, id: &str) -> String {
    format!("{endpoint}-{id}")
}

/// Whether `name` is one of this endpoint's release names (`{endpoint}-{12 hex}`).
fn is_release_of(endpoint: &str, name: &str) -> bool {
    name.strip_prefix(endpoint)
        .and_then(|r| r.strip_prefix('-'))
        .is_some_and(|id| id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit()))
}

pub fn invocation_url(region: &str, endpoint: &str) -> String {
    format!("https://runtime.sagemaker.{region}.amazonaws.com/endpoints/{endpoint}/invocations")
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

fn sm_tags(cx: &Cx, digest: Option<&str>) -> Vec<aws_sdk_sagemaker::types::Tag> {
    let mut all = tags(cx);
    if let Some(d) = digest {
        all.push((TAG_DIGEST, d.to_string()));
    }
    all.into_iter().map(|(k, v)| aws_sdk_sagemaker::types::Tag::builder().key(k).value(v).build()).collect()
}

fn account_of(arn: &str) -> Option<String> {
    arn.split(':').nth(4).filter(|a| !a.is_empty()).map(str::to_string)
}

fn failed(what: &str, e: impl std::error::Error, hint: &str) -> anyhow::Error {
    Hinted::new(format!("{what} failed: {}", aws::describe(&e)), hint).into()
}

/// What the build produced: the archive, and the image the model runs when the
/// manifest names one.
#[derive(Debug, Clone)]
pub struct SmArtifact {
    pub archive: Option<ModelArchive>,
    pub image: Option<String>,
}

impl SmArtifact {
    fn sha256(&self) -> String {
        match &self.archive {
            Some(a) => a.digest.trim_start_matches("sha256:").to_string(),
            None => hex::encode(Sha256::digest(self.image.clone().unwrap_or_default().as_bytes())),
        }
    }
}

fn artifact_of(a: &Artifact) -> &SmArtifact {
    a.payload.downcast_ref::<SmArtifact>().expect("sagemaker artifact")
}

/// What a model holds, as aideploy sets it.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct ModelSpec {
    image: String,
    model_data_url: Option<String>,
    env: BTreeMap<String, String>,
    role: String,
}

/// The endpoint config's one production variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct VariantSpec {
    instance_type: Option<String>,
    count: Option<i32>,
    /// (memory MiB, max concurrency)
    serverless: Option<(i32, i32)>,
}

impl VariantSpec {
    fn describe(&self) -> String {
        match (&self.serverless, &self.instance_type) {
            (Some((m, c)), _) => format!("serverless {m} MB, concurrency {c}"),
            (None, Some(t)) => format!("{} x {t}", self.count.unwrap_or(1)),
            _ => "unknown".into(),
        }
    }
}

/// The release id: a digest of the model and its instances.
fn release_id(model: &ModelSpec, variant: &VariantSpec) -> String {
    let text = serde_json::to_string(&json!({"model": model, "variant": variant})).expect("json");
    hex::encode(Sha256::digest(text.as_bytes()))[..12].to_string()
}

struct EndpointNow {
    arn: String,
    status: String,
    config: String,
    failure: Option<String>,
}

/// The live release, as read.
struct LiveNow {
    variant: Option<VariantSpec>,
    model: Option<ModelSpec>,
    digest: Option<String>,
}

/// A model or endpoint config of this endpoint, as listed.
#[derive(Debug, Clone)]
struct Listed {
    name: String,
    arn: String,
    created: i64,
}

/// Everything `current` read.
struct Now {
    clients: Clients,
    role: Option<(String, Option<serde_json::Value>)>,
    endpoint: Option<EndpointNow>,
    live: Option<LiveNow>,
    /// This endpoint's configs and models by name, oldest first.
    configs: Vec<Listed>,
    models: Vec<Listed>,
    secrets: BTreeMap<String, Stored>,
    secret_same: BTreeMap<String, bool>,
}

impl Now {
    fn account(&self) -> Option<String> {
        self.role.as_ref().and_then(|(arn, _)| account_of(arn)).or_else(|| self.endpoint.as_ref().and_then(|e| account_of(&e.arn)))
    }
    fn has_model(&self, name: &str) -> bool {
        self.models.iter().any(|m| m.name == name)
    }
    fn has_config(&self, name: &str) -> bool {
        self.configs.iter().any(|m| m.name == name)
    }
    fn anything(&self, cx: &Cx) -> bool {
        self.endpoint.is_some()
            || self.role.is_some()
            || !self.configs.is_empty()
            || !self.models.is_empty()
            || self.secrets.values().any(|s| s.target.as_deref() == Some(&cx.target.name))
    }
}

fn now_of(d: &LegacyDeployed) -> &Now {
    d.state.downcast_ref::<Now>().expect("sagemaker state")
}

fn trust_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    })
    .to_string()
}

/// The role's only permissions.
fn role_policy(cx: &Cx, region: &str, account: &str, image: Option<&str>, secret_arns: &BTreeMap<String, String>) -> serde_json::Value {
    let ep = endpoint_name(cx);
    let bucket = upload::bucket_name(account, region);
    let group = format!("arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{ep}");
    let mut statements = vec![
        json!({
            "Sid": "OwnModelArchives",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/{}*", upload::prefix(cx))
        }),
        json!({
            "Sid": "OwnLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [group.clone(), format!("{group}:*")]
        }),
        json!({"Sid": "Metrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"}),
    ];
    if let Some((acct, reg, repo)) = image.and_then(image::ecr_repository) {
        statements.push(json!({
            "Sid": "OwnImage",
            "Effect": "Allow",
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            "Resource": format!("arn:aws:ecr:{reg}:{acct}:repository/{repo}")
        }));
        statements.push(json!({"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}));
    }
    if !secret_arns.is_empty() {
        statements.push(json!({
            "Sid": "OwnSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": secret_arns.values().collect::<Vec<_>>()
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The image the model runs: `image`, else the Hugging Face container for the region.
fn model_image(cx: &Cx, region: &str) -> Result<String> {
    if let Some(i) = &cx.target.settings.image {
        return Ok(i.get().clone());
    }
    let gpu = cx.target.settings.serverless.is_none() && image::is_gpu(Some(&instance_type(cx)));
    image::huggingface_image(region, gpu).ok_or_else(|| {
        UsageError::new(format!("aideploy does not know the Hugging Face inference container for region {region}"))
            .hint("set `image` in the target's section to the inference image URI for that region")
            .into()
    })
}

fn instance_type(cx: &Cx) -> String {
    cx.target.settings.instance_type.as_ref().map(|t| t.get().clone()).unwrap_or_else(|| DEFAULT_INSTANCE_TYPE.into())
}

fn desired_variant(cx: &Cx) -> VariantSpec {
    let s = &cx.target.settings;
    match &s.serverless {
        Some(sv) => VariantSpec {
            instance_type: None,
            count: None,
            serverless: Some((sv.get().memory.mib as i32, sv.get().max_concurrency as i32)),
        },
        None => VariantSpec {
            instance_type: Some(instance_type(cx)),
            count: Some(s.instance_count.as_ref().map(|c| *c.get()).unwrap_or(1) as i32),
            serverless: None,
        },
    }
}

fn desired_model(
    cx: &Cx,
    art: &SmArtifact,
    region: &str,
    account: &str,
    role_arn: &str,
    refs: &BTreeMap<String, SecretRef>,
) -> Result<ModelSpec> {
    let mut env: BTreeMap<String, String> = cx.loaded.manifest.env_pairs().into_iter().collect();
    let arns = arns_of(refs);
    if !arns.is_empty() {
        env.insert(SECRET_ARNS_ENV.into(), serde_json::to_string(&arns).expect("json"));
        let mut h = Sha256::new();
        for (name, r) in refs {
            h.update(format!("{name}={}\n", r.version).as_bytes());
        }
        env.insert(SECRETS_REV_ENV.into(), hex::encode(h.finalize())[..16].to_string());
    }
    let model_data_url = art
        .archive
        .as_ref()
        .map(|a| upload::s3_url(&upload::bucket_name(account, region), &upload::key(cx, a.digest.trim_start_matches("sha256:"))));
    Ok(ModelSpec { image: model_image(cx, region)?, model_data_url, env, role: role_arn.to_string() })
}

/// The release the manifest asks for, when everything it depends on is known.
fn desired_release(
    cx: &Cx,
    n: &Now,
    art: &SmArtifact,
    refs: &Option<BTreeMap<String, SecretRef>>,
) -> Option<(String, ModelSpec, VariantSpec)> {
    let (role_arn, _) = n.role.as_ref()?;
    let account = n.account()?;
    let refs = refs.as_ref()?;
    let model = desired_model(cx, art, &n.clients.region, &account, role_arn, refs).ok()?;
    let variant = desired_variant(cx);
    Some((release_id(&model, &variant), model, variant))
}

/// Checks the settings offline, before anything is built or read.
fn check_settings(cx: &Cx) -> Result<()> {
    let s = &cx.target.settings;
    let ep = endpoint_name(cx);
    // Room for `-{12 hex}` in the model and config names (63 characters at most).
    if ep.len() > 50 {
        return Err(UsageError::new(format!("the endpoint name `{ep}` is {} characters; aideploy needs it within 50", ep.len()))
            .hint("use a shorter app name, --stage or target name")
            .into());
    }
    if s.model_dir.is_none() && s.image.is_none() {
        return Err(UsageError::new(
            "the sagemaker target needs a model: `model_dir` (a folder with the weights and code/inference.py) or `image`",
        )
        .hint("add `model_dir = \"model\"` to the target's section")
        .into());
    }
    if let Some(sv) = &s.serverless {
        let m = sv.get().memory.mib;
        if !(1024..=6144).contains(&m) || m % 1024 != 0 {
            return Err(UsageError::new(format!("serverless memory {m} MiB is not one SageMaker offers"))
                .hint("give 1024, 2048, 3072, 4096, 5120 or 6144")
                .into());
        }
        if !(1..=200).contains(&sv.get().max_concurrency) {
            return Err(UsageError::new("serverless max_concurrency must be 1 to 200")
                .hint("e.g. `serverless = { memory = 2048, max_concurrency = 5 }`")
                .into());
        }
        if s.instance_type.is_some() || s.instance_count.is_some() {
            return Err(UsageError::new("`serverless` and `instance_type`/`instance_count` exclude each other")
                .hint("keep one of them")
                .into());
        }
    }
    if let Some(c) = &s.instance_count {
        if *c.get() == 0 {
            return Err(UsageError::new("instance_count must be at least 1").hint("or use `serverless` to scale with traffic").into());
        }
    }
    if let Some(t) = &s.instance_type {
        if !t.get().starts_with("ml.") {
            return Err(UsageError::new(format!("`{}` is not a SageMaker instance type", t.get()))
                .hint(format!("SageMaker types start with `ml.`, e.g. `{DEFAULT_INSTANCE_TYPE}`"))
                .into());
        }
    }
    Ok(())
}

#[async_trait]
impl LegacyBackend for SageMakerBackend {
    fn kind(&self) -> Kind {
        Kind::Sagemaker
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: Provider::Aws,
            secret_store: true,
            logs: false,
            rollback: true,
            default_package: DefaultPackage::ModelArchive,
            needs_registry: false,
            lease: true,
        }
    }

    async fn lease_store(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn crate::engine::lease::LeaseStore>>> {
        Ok(Some(crate::cloud::s3_lease::for_target(cx).await?))
    }

    async fn secret_store(&self, cx: &Cx) -> Result<Box<dyn crate::secrets::SecretStore>> {
        Ok(Box::new(crate::secrets::aws::AwsStore::for_target(cx).await?))
    }

    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Artifact> {
        check_settings(cx)?;
        let s = &cx.target.settings;
        let image = s.image.as_ref().map(|i| i.get().clone());
        let archive = match &s.model_dir {
            Some(dir) => {
                r.step("building the model archive");
                let spec = ModelArchiveSpec {
                    model_dir: crate::artifact::source::inside_project(cx.project_dir(), "model_dir", dir.get())?,
                    code_dir: None,
                    epoch: std::env::var(crate::envvars::SOURCE_DATE_EPOCH).ok().and_then(|v| v.parse().ok()).unwrap_or(0),
                };
                let out = crate::util::cache_dir()?.join("sagemaker").join(endpoint_name(cx)).join("model.tar.gz");
                let archive = tokio::task::block_in_place(|| build_model_archive(&spec, &out))?;
                if archive.handler.is_none() && image.is_none() {
                    r.warn("the model has no code/inference.py: the Hugging Face container serves it with its default handler (set HF_TASK in [env])");
                }
                r.detail(&format!("{} ({} bytes, {} files)", archive.path.display(), archive.bytes, archive.files));
                r.done();
                Some(archive)
            }
            None => None,
        };
        let art = SmArtifact { archive: archive.clone(), image: image.clone() };
        let digest = format!("sha256:{}", art.sha256());
        let mut artifact = match &archive {
            Some(a) => {
                let mut x = Artifact::plain("model-archive", digest, a.bytes, Arc::new(art));
                x.path = Some(a.path.clone());
                x
            }
            None => Artifact::plain("image", digest, 0, Arc::new(art)),
        };
        artifact.reference = image;
        Ok(artifact)
    }

    async fn current(&self, cx: &Cx) -> Result<Option<LegacyDeployed>> {
        check_settings(cx)?;
        let c = Clients::for_target(cx).await?;
        let now = read::read(cx, c).await?;
        if !now.anything(cx) {
            return Ok(None);
        }
        let ep = endpoint_name(cx);
        let region = now.clients.region.clone();
        let url = now.endpoint.as_ref().map(|_| invocation_url(&region, &ep));
        let health = match now.endpoint.as_ref().map(|e| e.status.as_str()) {
            Some("InService") if !now.clients.emulated => Health::Passed,
            Some("Failed") | Some("OutOfService") | Some("UpdateRollbackFailed") => Health::Failed,
            _ => Health::Skipped,
        };
        let digest = now.live.as_ref().and_then(|l| l.digest.clone()).unwrap_or_default();
        let mut details = serde_json::Map::new();
        details.insert("region".into(), json!(region));
        details.insert("endpoint".into(), json!(now.endpoint.as_ref().map(|_| ep.clone())));
        details.insert("status".into(), json!(now.endpoint.as_ref().map(|e| e.status.clone())));
        details.insert("config".into(), json!(now.endpoint.as_ref().map(|e| e.config.clone())));
        if let Some(why) = now.endpoint.as_ref().and_then(|e| e.failure.clone()) {
            details.insert("last_failure".into(), json!(why));
        }
        if let Some(v) = now.live.as_ref().and_then(|l| l.variant.as_ref()) {
            details.insert("instances".into(), json!(v.describe()));
        }
        if let Some(m) = now.live.as_ref().and_then(|l| l.model.as_ref()) {
            details.insert("image".into(), json!(m.image));
            details.insert("model_data".into(), json!(m.model_data_url));
        }
        if let Some(p) = now.endpoint.as_ref().and_then(|e| previous(&now, &e.config)) {
            details.insert("previous".into(), json!(p));
        }
        details.insert("releases".into(), json!(now.configs.len()));
        details.insert("secrets".into(), json!(now.secrets.keys().cloned().collect::<Vec<_>>().join(", ")));
        Ok(Some(LegacyDeployed { digest, url, health, details, state: Arc::new(now) }))
    }

    fn plan(&self, cx: &Cx, now: Option<&LegacyDeployed>, artifact: &Artifact) -> Plan {
        let art = artifact_of(artifact);
        let ep = endpoint_name(cx);
        let mut plan = Plan::default();
        let now = now.map(now_of);
        let empty = BTreeMap::new();
        let stored = now.map(|n| &n.secrets).unwrap_or(&empty);
        for name in cx.secrets.values.keys() {
            let id = store::secret_name(cx.app_name(), &cx.stage.to_string(), name);
            plan.actions.push(match (stored.get(name), now.and_then(|n| n.secret_same.get(name))) {
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
        let known = known_refs(&secret_refs(cx, stored, &changing));
        let archive_id = |account: Option<&str>, region: &str| match &art.archive {
            Some(a) => upload::s3_url(
                &upload::bucket_name(account.unwrap_or("ACCOUNT"), region),
                &upload::key(cx, a.digest.trim_start_matches("sha256:")),
            ),
            None => String::new(),
        };

        let Some(n) = now.filter(|n| n.endpoint.is_some() || n.role.is_some()) else {
            let region = planned_region(cx);
            plan.actions.push(Action::new(Op::Create, "role", role_name(cx, &region)));
            if art.archive.is_some() {
                plan.actions.push(Action::new(Op::Create, "model-archive", archive_id(None, &region)));
            }
            plan.actions.push(Action::new(Op::Create, "model", &ep).because(if art.image.is_some() {
                "own image"
            } else {
                "Hugging Face inference container"
            }));
            plan.actions.push(Action::new(Op::Create, "endpoint-config", &ep).because(desired_variant(cx).describe()));
            plan.actions.push(Action::new(Op::Create, "endpoint", &ep).because("takes about 10 minutes"));
            return plan;
        };
        let region = n.clients.region.clone();
        let account = n.account();

        // Role: the policy names ARNs only.
        let arns_known: Option<BTreeMap<String, String>> =
            secret_refs(cx, stored, &[]).into_iter().map(|(k, v)| v.map(|v| (k, v.arn))).collect();
        let want_policy = match (&account, &arns_known) {
            (Some(a), Some(k)) => Some(role_policy(cx, &region, a, cx.target.settings.image.as_ref().map(|i| i.get().as_str()), k)),
            _ => None,
        };
        let rname = role_name(cx, &region);
        plan.actions.push(match &n.role {
            None => Action::new(Op::Create, "role", &rname),
            Some((_, have)) if have.is_some() && have.as_ref() == want_policy.as_ref() => Action::new(Op::Noop, "role", &rname),
            Some(_) => Action::new(Op::Update, "role", &rname).because("permissions changed"),
        });

        let release = desired_release(cx, n, art, &known);
        let (model_op, name) = match &release {
            Some((id, _, _)) if n.has_model(&release_name(&ep, id)) => (Op::Noop, release_name(&ep, id)),
            Some((id, _, _)) => (Op::Create, release_name(&ep, id)),
            None => (Op::Create, ep.clone()),
        };
        if art.archive.is_some() {
            // Stored once per digest: the live model's archive is not uploaded again.
            let url = archive_id(account.as_deref(), &region);
            let live_url = n.live.as_ref().and_then(|l| l.model.as_ref()).and_then(|m| m.model_data_url.as_deref());
            let op = if live_url == Some(url.as_str()) { Op::Noop } else { model_op };
            plan.actions.push(Action::new(op, "model-archive", url));
        }
        let why_model = match (n.live.as_ref().and_then(|l| l.model.as_ref()), &release) {
            (Some(have), Some((_, want, _))) => model_diff(have, want),
            _ => String::new(),
        };
        let mut model_action = Action::new(model_op, "model", &name);
        if model_op == Op::Create && !why_model.is_empty() {
            model_action = model_action.because(why_model);
        }
        plan.actions.push(model_action);
        let config_exists = release.as_ref().is_some_and(|(id, _, _)| n.has_config(&release_name(&ep, id)));
        let want_variant = desired_variant(cx);
        plan.actions.push(if config_exists {
            Action::new(Op::Noop, "endpoint-config", &name)
        } else {
            Action::new(Op::Create, "endpoint-config", &name).because(want_variant.describe())
        });
        plan.actions.push(match &n.endpoint {
            None => Action::new(Op::Create, "endpoint", &ep).because("takes about 10 minutes"),
            Some(e) if e.status == "Failed" => Action::new(Op::Update, "endpoint", &ep).because("failed: replaced"),
            Some(e) if release.is_some() && e.config == name => Action::new(Op::Noop, "endpoint", &ep),
            Some(e) => Action::new(Op::Update, "endpoint", &ep).because(format!(
                "config {} -> {}",
                e.config,
                if release.is_some() { name.as_str() } else { "new" }
            )),
        });
        plan
    }

    async fn apply(&self, cx: &Cx, plan: &Plan, now: Option<&LegacyDeployed>, artifact: &Artifact, r: &dyn Reporter) -> Result<Outcome> {
        let now = now.map(now_of);
        let c = match now {
            Some(n) => n.clients.clone(),
            None => Clients::for_target(cx).await?,
        };
        let art = artifact_of(artifact);
        let ep = endpoint_name(cx);

        // 1. Secrets: values to Secrets Manager; only ARNs go further.
        let empty = BTreeMap::new();
        let stored = now.map(|n| &n.secrets).unwrap_or(&empty);
        let refs = store::store_planned(&c.secrets, cx, plan, stored, r).await?;

        // 2. The execution role and its policy.
        let rname = role_name(cx, &c.region);
        let role_arn = match now.and_then(|n| n.role.as_ref()) {
            Some((arn, _)) => arn.clone(),
            None => {
                r.step(&format!("creating role {rname}"));
                create_role(cx, &c, &rname).await?
            }
        };
        let account = account_of(&role_arn)
            .ok_or_else(|| Hinted::new(format!("IAM returned no account in the role ARN `{role_arn}`"), "re-run the deploy"))?;
        let policy = role_policy(cx, &c.region, &account, cx.target.settings.image.as_ref().map(|i| i.get().as_str()), &arns_of(&refs));
        if now.and_then(|n| n.role.as_ref()).and_then(|(_, p)| p.as_ref()) != Some(&policy) {
            c.iam
                .put_role_policy()
                .role_name(&rname)
                .policy_name(POLICY_NAME)
                .policy_document(policy.to_string())
                .send()
                .await
                .map_err(|e| failed("IAM PutRolePolicy", e, PERMS_HINT))?;
        }

        // 3. The release: archive, model, endpoint config.
        let model = desired_model(cx, art, &c.region, &account, &role_arn, &refs)?;
        let variant = desired_variant(cx);
        let name = release_name(&ep, &release_id(&model, &variant));
        let digest = artifact.digest.clone();
        let has_model = now.is_some_and(|n| n.has_model(&name));
        if !has_model {
            if let Some(a) = &art.archive {
                let bucket = upload::bucket_name(&account, &c.region);
                let key = upload::key(cx, a.digest.trim_start_matches("sha256:"));
                upload::upload_archive(cx, &c, &bucket, &key, &a.path, a.bytes, r).await?;
            }
            r.step(&format!("creating model {name}"));
            create_model(cx, &c, &name, &model, &digest, r).await?;
        }
        if !now.is_some_and(|n| n.has_config(&name)) {
            r.step(&format!("creating endpoint config {name} ({})", variant.describe()));
            create_config(cx, &c, &name, &variant, &digest).await?;
        }

        // 4. The endpoint: created, or updated to the new config.
        let ep_now = now.and_then(|n| n.endpoint.as_ref());
        let previous_config = ep_now.filter(|e| e.status != "Failed").map(|e| e.config.clone());
        let switched = switch_endpoint(cx, &c, ep_now.map(|e| e.status.as_str()), previous_config.as_deref(), &name, &digest, r).await?;
        let url = Some(invocation_url(&c.region, &ep));
        if let Err(why) = switched {
            return Ok(Outcome { url, health: Health::Failed, actions: plan.actions.clone(), failure: Some(why), pushed: None });
        }
        let health = health_after_switch(&c, r);
        if let Some(n) = now {
            prune(cx, &c, n, &name, r).await;
        }
        r.done();
        Ok(Outcome { url, health, actions: plan.actions.clone(), failure: None, pushed: None })
    }

    fn plan_rollback(&self, cx: &Cx, now: &LegacyDeployed) -> Result<Plan> {
        let n = now_of(now);
        let (live, prev) = rollback_pair(cx, n)?;
        let mut plan = Plan::default();
        plan.actions.push(Action::new(Op::Update, "endpoint", endpoint_name(cx)).because(format!("config {live} -> {prev}")));
        Ok(plan)
    }

    async fn rollback(&self, cx: &Cx, plan: &Plan, now: &LegacyDeployed, r: &dyn Reporter) -> Result<Outcome> {
        let n = now_of(now);
        let (live, prev) = rollback_pair(cx, n)?;
        let c = &n.clients;
        let digest = read::model_digest(c, &prev).await?;
        let status = n.endpoint.as_ref().map(|e| e.status.as_str());
        let switched = switch_endpoint(cx, c, status, Some(&live), &prev, digest.as_deref().unwrap_or(""), r).await?;
        if let Err(why) = switched {
            return Ok(Outcome {
                url: now.url.clone(),
                health: Health::Failed,
                actions: plan.actions.clone(),
                failure: Some(why),
                pushed: None,
            });
        }
        let health = health_after_switch(c, r);
        r.done();
        Ok(Outcome { url: now.url.clone(), health, actions: plan.actions.clone(), failure: None, pushed: None })
    }

    fn plan_destroy(&self, cx: &Cx, now: &LegacyDeployed) -> Plan {
        let n = now_of(now);
        let ep = endpoint_name(cx);
        let mut plan = Plan::default();
        if n.endpoint.is_some() {
            plan.actions.push(Action::new(Op::Delete, "endpoint", &ep));
        }
        for cfg in &n.configs {
            plan.actions.push(Action::new(Op::Delete, "endpoint-config", &cfg.name));
        }
        for m in &n.models {
            plan.actions.push(Action::new(Op::Delete, "model", &m.name));
        }
        if let Some(account) = n.account() {
            plan.actions.push(
                Action::new(
                    Op::Delete,
                    "model-archives",
                    format!("s3://{}/{}", upload::bucket_name(&account, &n.clients.region), upload::prefix(cx)),
                )
                .because("every version"),
            );
        }
        if n.role.is_some() {
            plan.actions.push(Action::new(Op::Delete, "role", role_name(cx, &n.clients.region)).because("and its policy"));
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
        let sm = &c.sagemaker;
        let ep = endpoint_name(cx);
        let mut actions = Vec::new();
        if n.endpoint.is_some() {
            r.step(&format!("deleting endpoint {ep}"));
            match sm.delete_endpoint().endpoint_name(&ep).send().await {
                Ok(_) => actions.push(Action::new(Op::Delete, "endpoint", &ep)),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(failed("SageMaker DeleteEndpoint", e, PERMS_HINT)),
            }
        }
        // Configs and models: only those tagged for this app, stage and target.
        for cfg in &n.configs {
            if !read::tags_of(c, &cfg.arn).await?.is_some_and(|t| ours(cx, &t)) {
                r.detail(&format!("endpoint config {} is not tagged for this app: left alone", cfg.name));
                continue;
            }
            r.step(&format!("deleting endpoint config {}", cfg.name));
            match sm.delete_endpoint_config().endpoint_config_name(&cfg.name).send().await {
                Ok(_) => actions.push(Action::new(Op::Delete, "endpoint-config", &cfg.name)),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(failed("SageMaker DeleteEndpointConfig", e, PERMS_HINT)),
            }
        }
        for m in &n.models {
            if !read::tags_of(c, &m.arn).await?.is_some_and(|t| ours(cx, &t)) {
                r.detail(&format!("model {} is not tagged for this app: left alone", m.name));
                continue;
            }
            r.step(&format!("deleting model {}", m.name));
            match sm.delete_model().model_name(&m.name).send().await {
                Ok(_) => actions.push(Action::new(Op::Delete, "model", &m.name)),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(failed("SageMaker DeleteModel", e, PERMS_HINT)),
            }
        }
        if let Some(account) = n.account() {
            let bucket = upload::bucket_name(&account, &c.region);
            r.step(&format!("deleting the model archives in s3://{bucket}/{}", upload::prefix(cx)));
            let (deleted, bucket_gone) = upload::delete_archives(cx, c, &bucket).await?;
            if deleted > 0 {
                actions.push(
                    Action::new(Op::Delete, "model-archives", format!("s3://{bucket}/{}", upload::prefix(cx)))
                        .because(format!("{deleted} object versions")),
                );
            }
            if bucket_gone {
                actions.push(Action::new(Op::Delete, "bucket", &bucket).because("empty"));
            }
        }
        if n.role.is_some() {
            let rname = role_name(cx, &c.region);
            r.step(&format!("deleting role {rname}"));
            let policies =
                c.iam.list_role_policies().role_name(&rname).send().await.map_err(|e| failed("IAM ListRolePolicies", e, PERMS_HINT))?;
            for p in policies.policy_names() {
                c.iam
                    .delete_role_policy()
                    .role_name(&rname)
                    .policy_name(p)
                    .send()
                    .await
                    .map_err(|e| failed("IAM DeleteRolePolicy", e, PERMS_HINT))?;
            }
            match c.iam.delete_role().role_name(&rname).send().await {
                Ok(_) => actions.push(Action::new(Op::Delete, "role", &rname)),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
                Err(e) => return Err(failed("IAM DeleteRole", e, PERMS_HINT)),
            }
        }
        for s in n.secrets.values().filter(|s| s.target.as_deref() == Some(&cx.target.name)) {
            r.step(&format!("deleting secret {}", s.name));
            store::delete(&c.secrets, &s.arn).await?;
            actions.push(Action::new(Op::Delete, "secret", store::secret_name(cx.app_name(), &cx.stage.to_string(), &s.name)));
        }
        r.done();
        Ok(Outcome { url: None, health: Health::Skipped, actions, failure: None, pushed: None })
    }
}

/// SageMaker answers a missing resource with a ValidationException "Could not find ...".
fn is_not_found<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.message().is_some_and(|m| m.contains("Could not find") || m.contains("does not exist")) || e.code() == Some("ResourceNotFound")
}

/// What differs between two models, for people.
fn model_diff(have: &ModelSpec, want: &ModelSpec) -> String {
    [
        ("model data", have.model_data_url != want.model_data_url),
        ("image", have.image != want.image),
        ("env", have.env != want.env),
        ("role", have.role != want.role),
    ]
    .into_iter()
    .filter_map(|(n, d)| d.then_some(n))
    .collect::<Vec<_>>()
    .join(", ")
}

/// The endpoint config created before `live`, when its model still exists.
fn previous(n: &Now, live: &str) -> Option<String> {
    let live_created = n.configs.iter().find(|c| c.name == live)?.created;
    n.configs.iter().filter(|c| c.created < live_created && n.has_model(&c.name)).max_by_key(|c| c.created).map(|c| c.name.clone())
}

fn rollback_pair(cx: &Cx, n: &Now) -> Result<(String, String)> {
    let none = || {
        UsageError::new(format!("{} ({}) has no previous endpoint config to roll back to", cx.app_name(), cx.stage))
            .hint("rollback updates the endpoint to the config created before the live one; deploy a change first")
    };
    let live = n.endpoint.as_ref().map(|e| e.config.clone()).ok_or_else(none)?;
    let prev = previous(n, &live).ok_or_else(none)?;
    Ok((live, prev))
}

fn health_after_switch(c: &Clients, r: &dyn Reporter) -> Health {
    if c.emulated {
        r.warn("health: skipped (AWS_ENDPOINT_URL is a loopback emulator, which runs no model container)");
        Health::Skipped
    } else {
        // SageMaker moves traffic to new instances only after they answer GET /ping.
        Health::Passed
    }
}

async fn create_role(cx: &Cx, c: &Clients, rname: &str) -> Result<String> {
    let mut req = c
        .iam
        .create_role()
        .role_name(rname)
        .assume_role_policy_document(trust_policy())
        .description(format!("aideploy: execution role of SageMaker endpoint {}", endpoint_name(cx)));
    for (k, v) in tags(cx) {
        req = req.tags(aws_sdk_iam::types::Tag::builder().key(k).value(v).build().expect("key and value"));
    }
    match req.send().await {
        Ok(out) => Ok(out.role().map(|r| r.arn().to_string()).unwrap_or_default()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_already_exists_exception()) => {
            let got = c.iam.get_role().role_name(rname).send().await.map_err(|e| failed("IAM GetRole", e, PERMS_HINT))?;
            Ok(got.role().map(|r| r.arn().to_string()).unwrap_or_default())
        }
        Err(e) => Err(failed("IAM CreateRole", e, PERMS_HINT)),
    }
}

/// CreateModel, retrying while IAM has not yet propagated a new role to SageMaker.
async fn create_model(cx: &Cx, c: &Clients, name: &str, m: &ModelSpec, digest: &str, r: &dyn Reporter) -> Result<()> {
    use aws_sdk_sagemaker::types::ContainerDefinition;
    let container = ContainerDefinition::builder()
        .image(&m.image)
        .set_model_data_url(m.model_data_url.clone())
        .set_environment((!m.env.is_empty()).then(|| m.env.clone().into_iter().collect()))
        .build();
    let container = &container;
    let waited = Wait::new("waiting for the new role to reach SageMaker", Duration::from_millis(500), Duration::from_secs(90))
        .run(cx.poll, r, move || async move {
            let sent = c
                .sagemaker
                .create_model()
                .model_name(name)
                .execution_role_arn(&m.role)
                .primary_container(container.clone())
                .set_tags(Some(sm_tags(cx, Some(digest))))
                .send()
                .await;
            match sent {
                Ok(_) => Ok(Poll::Ready(())),
                Err(e) => {
                    let msg = e.message().unwrap_or_default().to_string();
                    if msg.contains("Cannot create already existing model") || msg.contains("already exist") {
                        return Ok(Poll::Ready(()));
                    }
                    if msg.contains("assume") {
                        return Ok(Poll::Pending(msg));
                    }
                    Err(failed(
                        "SageMaker CreateModel",
                        e,
                        "re-run the deploy; if the role cannot be assumed, wait a minute for IAM to propagate",
                    ))
                }
            }
        })
        .await?;
    match waited {
        Waited::Ready(()) => Ok(()),
        Waited::TimedOut { last, waited } => Err(Hinted::new(
            format!("SageMaker CreateModel could not assume the role {} after {}s: {last}", m.role, waited.as_secs()),
            "re-run the deploy; IAM changes can take a minute to reach SageMaker",
        )
        .into()),
    }
}

async fn create_config(cx: &Cx, c: &Clients, name: &str, v: &VariantSpec, digest: &str) -> Result<()> {
    use aws_sdk_sagemaker::types::{ProductionVariant, ProductionVariantInstanceType, ProductionVariantServerlessConfig};
    let mut pv = ProductionVariant::builder().variant_name(VARIANT).model_name(name);
    pv = match (&v.serverless, &v.instance_type) {
        (Some((mem, conc)), _) => {
            pv.serverless_config(ProductionVariantServerlessConfig::builder().memory_size_in_mb(*mem).max_concurrency(*conc).build())
        }
        (None, Some(t)) => pv
            .instance_type(ProductionVariantInstanceType::from(t.as_str()))
            .initial_instance_count(v.count.unwrap_or(1))
            .initial_variant_weight(1.0),
        _ => pv,
    };
    let pv = pv.build();
    match c
        .sagemaker
        .create_endpoint_config()
        .endpoint_config_name(name)
        .production_variants(pv)
        .set_tags(Some(sm_tags(cx, Some(digest))))
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.message().is_some_and(|m| m.contains("already existing")) => Ok(()),
        Err(e) => Err(failed(
            "SageMaker CreateEndpointConfig",
            e,
            "check the instance type and count are offered in this region and within the account's quota",
        )),
    }
}

/// Creates the endpoint or updates it to `config`, waiting until SageMaker is done.
/// `Ok(Err(why))` when SageMaker could not bring the new config into service (the
/// previous one, if any, keeps serving).
async fn switch_endpoint(
    cx: &Cx,
    c: &Clients,
    status: Option<&str>,
    previous: Option<&str>,
    config: &str,
    digest: &str,
    r: &dyn Reporter,
) -> Result<std::result::Result<(), String>> {
    let ep = endpoint_name(cx);
    let sm = &c.sagemaker;
    let mut status = status.map(str::to_string);
    // An interrupted run may have left it busy: wait for SageMaker first.
    if status.as_deref().is_some_and(busy) {
        status = wait(cx, c, &ep, r).await?.map(|(s, _, _)| s);
    }
    if status.as_deref() == Some("Failed") {
        // DeleteEndpoint is the only operation a failed endpoint takes.
        r.step(&format!("deleting failed endpoint {ep}"));
        sm.delete_endpoint().endpoint_name(&ep).send().await.map_err(|e| failed("SageMaker DeleteEndpoint", e, PERMS_HINT))?;
        wait(cx, c, &ep, r).await?;
        status = None;
    }
    let current = match status {
        None => {
            r.step(&format!("creating endpoint {ep}"));
            sm.create_endpoint()
                .endpoint_name(&ep)
                .endpoint_config_name(config)
                .set_tags(Some(sm_tags(cx, Some(digest))))
                .send()
                .await
                .map_err(|e| failed("SageMaker CreateEndpoint", e, PERMS_HINT))?;
            None
        }
        Some(_) => {
            let live = describe(c, &ep).await?.map(|(_, cfg, _)| cfg);
            if live.as_deref() == Some(config) {
                return Ok(Ok(()));
            }
            r.step(&format!("updating endpoint {ep} to {config}"));
            sm.update_endpoint()
                .endpoint_name(&ep)
                .endpoint_config_name(config)
                .send()
                .await
                .map_err(|e| failed("SageMaker UpdateEndpoint", e, PERMS_HINT))?;
            live.or(previous.map(str::to_string))
        }
    };
    let after = wait(cx, c, &ep, r).await?;
    match after {
        Some((s, cfg, _)) if s == "InService" && cfg == config => {
            let arn = describe_arn(c, &ep).await?;
            if !digest.is_empty() {
                sm.add_tags()
                    .resource_arn(&arn)
                    .tags(aws_sdk_sagemaker::types::Tag::builder().key(TAG_DIGEST).value(digest).build())
                    .send()
                    .await
                    .map_err(|e| failed("SageMaker AddTags", e, PERMS_HINT))?;
            }
            Ok(Ok(()))
        }
        Some((s, cfg, why)) => {
            let why = why.unwrap_or_else(|| format!("the endpoint is {s}"));
            let kept = match (&current, s.as_str()) {
                (Some(_), "InService") => format!("the previous config {cfg} keeps serving"),
                (None, _) => "nothing is serving; fix the cause and deploy again (the failed endpoint is replaced)".to_string(),
                (Some(_), _) => format!("the endpoint is {s}"),
            };
            Ok(Err(format!("endpoint config {config}: {why}\n({kept})")))
        }
        None => Ok(Err(format!("endpoint {ep} disappeared while it was being updated"))),
    }
}

fn busy(status: &str) -> bool {
    matches!(status, "Creating" | "Updating" | "SystemUpdating" | "RollingBack" | "Deleting")
}

/// (status, config, failure reason), or `None` when there is no such endpoint.
async fn describe(c: &Clients, ep: &str) -> Result<Option<(String, String, Option<String>)>> {
    match c.sagemaker.describe_endpoint().endpoint_name(ep).send().await {
        Ok(d) => Ok(Some((
            d.endpoint_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            d.endpoint_config_name().unwrap_or_default().to_string(),
            d.failure_reason().filter(|s| !s.is_empty()).map(str::to_string),
        ))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(failed("SageMaker DescribeEndpoint", e, PERMS_HINT)),
    }
}

async fn describe_arn(c: &Clients, ep: &str) -> Result<String> {
    let d =
        c.sagemaker.describe_endpoint().endpoint_name(ep).send().await.map_err(|e| failed("SageMaker DescribeEndpoint", e, PERMS_HINT))?;
    Ok(d.endpoint_arn().unwrap_or_default().to_string())
}

fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Polls the endpoint until SageMaker is done with it, showing status and elapsed time.
async fn wait(cx: &Cx, c: &Clients, ep: &str, r: &dyn Reporter) -> Result<Option<(String, String, Option<String>)>> {
    let shown = std::sync::Mutex::new(String::new());
    let shown = &shown;
    let started = std::time::Instant::now();
    let what = format!("endpoint {ep} (SageMaker takes about 10 minutes to bring up instances)");
    let waited = Wait { what: &what, every: Duration::from_secs(2), max_every: Duration::from_secs(15), timeout: WAIT_LIMIT }
        .run(cx.poll, r, move || async move {
            let Some(d) = describe(c, ep).await? else { return Ok(Poll::Ready(None)) };
            if !busy(&d.0) {
                return Ok(Poll::Ready(Some(d)));
            }
            // A line per status (CI logs), the elapsed time on the spinner (or with -v).
            let mut last = shown.lock().unwrap_or_else(|e| e.into_inner());
            if *last != d.0 {
                r.step(&format!("endpoint {ep}: {}", d.0));
                *last = d.0.clone();
            }
            Ok(Poll::Pending(format!("{}, {} elapsed", d.0, elapsed(started.elapsed()))))
        })
        .await?;
    match waited {
        Waited::Ready(d) => Ok(d),
        Waited::TimedOut { last, waited } => Err(Hinted::new(
            format!("endpoint {ep} is not in service after {}s ({last})", waited.as_secs()),
            "deploy again later: it waits for SageMaker and resumes",
        )
        .into()),
    }
}

/// Deletes releases beyond the newest [`KEEP_RELEASES`], never the live one. Best
/// effort: a failure only leaves more.
async fn prune(cx: &Cx, c: &Clients, n: &Now, live: &str, r: &dyn Reporter) {
    let ep = endpoint_name(cx);
    let mut names: Vec<&Listed> = n.configs.iter().filter(|l| l.name != live).collect();
    names.sort_by_key(|l| std::cmp::Reverse(l.created));
    for old in names.into_iter().skip(KEEP_RELEASES - 1) {
        if !is_release_of(&ep, &old.name) {
            continue;
        }
        let a = c.sagemaker.delete_endpoint_config().endpoint_config_name(&old.name).send().await;
        let b = c.sagemaker.delete_model().model_name(&old.name).send().await;
        if a.is_err() || b.is_err() {
            r.detail(&format!("could not delete old release {}", old.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_and_ids() {
        assert!(is_release_of("app-dev", "app-dev-0123456789ab"));
        assert!(!is_release_of("app-dev", "app-dev-extra-0123456789ab"));
        assert!(!is_release_of("app-dev", "app-dev-0123"));
        let m = ModelSpec { image: "i".into(), model_data_url: Some("s3://b/k".into()), env: BTreeMap::new(), role: "r".into() };
        let v = VariantSpec { instance_type: Some("ml.g5.xlarge".into()), count: Some(1), serverless: None };
        let id = release_id(&m, &v);
        assert_eq!(id.len(), 12);
        assert_eq!(id, release_id(&m.clone(), &v.clone()));
        let v2 = VariantSpec { count: Some(2), ..v.clone() };
        assert_ne!(id, release_id(&m, &v2));
        assert_eq!(invocation_url("eu-west-1", "x-dev"), "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/x-dev/invocations");
        assert_eq!(elapsed(Duration::from_secs(754)), "12m 34s");
    }
}
