//! The `lambda` target: the app's zip as an AWS Lambda function behind an API Gateway
//! HTTP API.
//!
//! Resources, all named from `{app}-{stage}` (plus `-{target}` for a target whose name is
//! not `lambda`) and tagged `aideploy:app`, `aideploy:stage`, `aideploy:target` (the
//! function also `aideploy:digest`), so a fresh clone finds them:
//!
//! - secrets `aideploy/{app}/{stage}/{NAME}` in Secrets Manager (see `secrets::aws`);
//! - an execution role `aideploy-{function}-{region}` whose one inline policy allows CloudWatch
//!   Logs on the function's own log group and `secretsmanager:GetSecretValue` on exactly
//!   this app's secret ARNs;
//! - the function (handler `aideploy_lambda.handler`), a published version per code or
//!   configuration change, and the alias `live`, moved only after the new version
//!   answered its health path (invoked directly with an HTTP API v2 event);
//! - for a container-image function (`[build] package = "image"`, or a zip over
//!   Lambda's 250 MB unzipped limit): the ECR repository `aideploy/{app}-{stage}-{target}`
//!   (see `cloud::ecr`) holding the image, which runs Lambda's runtime interface client
//!   and the same adapter as the zip; the function takes it by digest, never by tag.
//!   Lambda cannot change a function's package type, so a switch between zip and image
//!   deletes and recreates the function (and with it its versions and alias);
//! - an HTTP API: `$default` route -> AWS_PROXY integration (payload 2.0) on the alias,
//!   stage `$default` with auto-deploy and throttling, and a `lambda:InvokeFunction`
//!   permission on the alias scoped to this API's ARN.
//!
//! `current` only reads; `plan` is pure; `apply` is get -> create-or-update in
//! dependency order, so a re-run after any failure converges.

mod api;
mod aws;
mod invoke;
mod read;
mod upload;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use aws_sdk_lambda::error::ProvideErrorMetadata;
use base64::Engine;
use serde_json::json;

use crate::artifact::oci::BuiltImage;
use crate::artifact::registry::Reference;
use crate::artifact::zip::{lambda_zip_for, too_big_reason, LambdaZip, ASGI_ENV, HANDLER, SECRET_ARNS_ENV};
use crate::cloud::ecr;
use crate::engine::legacy::LegacyBackend;
use crate::engine::wait::{Poll, Wait, Waited};
use crate::engine::{Action, Artifact, Capabilities, Cx, DefaultPackage, Health, LegacyDeployed, Op, Outcome, Plan, Provider, Reporter};
use crate::error::{Hinted, UsageError};
use crate::manifest::values::Arch as ManifestArch;
use crate::manifest::Kind;
use crate::secrets::aws::{self as store, arns_of, known_refs, secret_refs, SecretRef, Stored};
pub use aws::Clients;
use sha2::{Digest, Sha256};

pub struct LambdaBackend;

pub use crate::cloud::aws::{TAG_APP, TAG_DIGEST, TAG_STAGE, TAG_TARGET};
pub const ALIAS: &str = "live";
const POLICY_NAME: &str = "aideploy";
/// The function's environment variable naming the secrets' current versions (a digest
/// of version ids, not of values): a new secret value changes it, so the function gets
/// a new version and no warm instance keeps serving the old value.
pub const SECRETS_REV_ENV: &str = "AIDEPLOY_SECRETS_REV";
const PERMISSION_SID: &str = "aideploy-http-api";
const DEFAULT_MEMORY: u32 = 512;
/// Published versions kept for `rollback` (older ones are deleted after a deploy).
const KEEP_VERSIONS: usize = 5;
const DEFAULT_TIMEOUT: u32 = 30;
const DEFAULT_HEALTH_TIMEOUT: u32 = 60;
/// API Gateway HTTP APIs end every request at 30 s.
const API_GATEWAY_LIMIT: u32 = 30;

/// A published version of an image function says which image in its description
/// (an emulator's CodeSha256 for an image is not the image's digest).
const IMAGE_VERSION_PREFIX: &str = "aideploy image sha256:";
const PACKAGE_ZIP: &str = "Zip";
const PACKAGE_IMAGE: &str = "Image";

/// The ECR repository of a container-image function: `aideploy/{app}-{stage}-{target}`.
pub fn repo_name(cx: &Cx) -> String {
    format!("aideploy/{}-{}", cx.resource_base(), cx.target.name)
}

/// The function's name: `{app}-{stage}`, with the target's name when it is not `lambda`.
pub fn function_name(cx: &Cx) -> String {
    if cx.target.name == Kind::Lambda.as_str() {
        cx.resource_base()
    } else {
        format!("{}-{}", cx.resource_base(), cx.target.name)
    }
}

/// IAM is global and the role's permissions are regional (its log group, its secrets):
/// one role per region, `aideploy-{function}-{region}`.
/// Cut names keep a prefix and end in a hash of the full name, so two never collide.
fn role_name(cx: &Cx, region: &str) -> String {
    crate::cloud::aws::role_name(&format!("aideploy-{}-{region}", function_name(cx)))
}

/// The region a plan with nothing deployed will use, for display.
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

fn ours(cx: &Cx, found: Option<&HashMap<String, String>>) -> bool {
    found.is_some_and(|t| crate::cloud::aws::is_ours(cx, t))
}

fn arch(cx: &Cx) -> crate::artifact::pydeps::Arch {
    match cx.target.settings.arch.as_ref().map(|a| *a.get()) {
        Some(ManifestArch::Arm64) => crate::artifact::pydeps::Arch::Arm64,
        _ => crate::artifact::pydeps::Arch::X86_64,
    }
}

fn lambda_arch(cx: &Cx) -> aws_sdk_lambda::types::Architecture {
    match arch(cx) {
        crate::artifact::pydeps::Arch::Arm64 => aws_sdk_lambda::types::Architecture::Arm64,
        crate::artifact::pydeps::Arch::X86_64 => aws_sdk_lambda::types::Architecture::X8664,
    }
}

fn url(api_id: &str, region: &str) -> String {
    format!("https://{api_id}.execute-api.{region}.amazonaws.com")
}

fn hex_of_b64(b64: &str) -> String {
    base64::engine::general_purpose::STANDARD.decode(b64).map(hex::encode).unwrap_or_else(|_| b64.to_string())
}

fn b64_of_hex(h: &str) -> String {
    hex::decode(h).map(|b| base64::engine::general_purpose::STANDARD.encode(b)).unwrap_or_default()
}

/// The account id in an ARN (`arn:aws:iam::123456789012:role/x`).
fn account_of(arn: &str) -> Option<String> {
    arn.split(':').nth(4).filter(|a| !a.is_empty()).map(str::to_string)
}

/// An AWS error as operation, code, message, request id and hint (`cloud::aws::sdk_error`).
fn failed<E: ProvideErrorMetadata + std::error::Error>(what: &str, e: E, hint: &str) -> anyhow::Error {
    crate::cloud::aws::sdk_error(what, &e, hint)
}

const PERMS_HINT: &str = "check that the credentials may manage Lambda, API Gateway, IAM roles and Secrets Manager in this region";

/// The part of a function's configuration aideploy sets.
#[derive(Debug, Clone, PartialEq, Default)]
struct FnConf {
    /// `Zip` or `Image`.
    package: String,
    runtime: String,
    handler: String,
    role: String,
    memory: i32,
    timeout: i32,
    arch: String,
    env: BTreeMap<String, String>,
}

impl FnConf {
    fn of(c: &aws_sdk_lambda::types::FunctionConfiguration) -> FnConf {
        FnConf {
            package: c.package_type().map(|p| p.as_str().to_string()).unwrap_or_else(|| PACKAGE_ZIP.into()),
            runtime: c.runtime().map(|r| r.as_str().to_string()).unwrap_or_default(),
            handler: c.handler().unwrap_or_default().to_string(),
            role: c.role().unwrap_or_default().to_string(),
            memory: c.memory_size().unwrap_or(128),
            timeout: c.timeout().unwrap_or(3),
            arch: c.architectures().first().map(|a| a.as_str().to_string()).unwrap_or_else(|| "x86_64".into()),
            env: c
                .environment()
                .and_then(|e| e.variables())
                .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        }
    }

    /// What differs, for people (names only: values may be long).
    fn diff(&self, want: &FnConf) -> Vec<&'static str> {
        [
            ("package", self.package != want.package),
            ("runtime", self.runtime != want.runtime),
            ("handler", self.handler != want.handler),
            ("role", self.role != want.role),
            ("memory", self.memory != want.memory),
            ("timeout", self.timeout != want.timeout),
            ("env", self.env != want.env),
            ("arch", self.arch != want.arch),
        ]
        .into_iter()
        .filter_map(|(name, differs)| differs.then_some(name))
        .collect()
    }
}

#[derive(Debug, Clone)]
struct Version {
    number: u64,
    sha: String,
    conf: FnConf,
}

#[derive(Debug, Clone)]
struct FnNow {
    arn: String,
    sha: String,
    /// A container-image function's `ImageUri`.
    image: Option<String>,
    conf: FnConf,
    tags: HashMap<String, String>,
    last_modified: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Throttle {
    rps: f64,
    burst: i32,
}

#[derive(Debug, Clone)]
struct ApiNow {
    id: String,
    cors: Option<CorsConf>,
    /// (id, uri, payload format version)
    integration: Option<(String, String, String)>,
    /// (id, target)
    route: Option<(String, String)>,
    /// (auto deploy, throttling)
    stage: Option<(bool, Option<Throttle>)>,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct CorsConf {
    origins: Vec<String>,
    methods: Vec<String>,
    headers: Vec<String>,
    max_age: Option<i32>,
}

/// Everything `current` read.
struct Now {
    clients: Clients,
    role: Option<(String, Option<serde_json::Value>)>,
    function: Option<FnNow>,
    versions: Vec<Version>,
    alias: Option<u64>,
    api: Option<ApiNow>,
    /// The permission's source ARN, when the statement exists.
    permission: Option<String>,
    secrets: BTreeMap<String, Stored>,
    /// For each secret with a value now: whether the stored one equals it.
    secret_same: BTreeMap<String, bool>,
    /// The ECR repository named for this target, if it exists.
    repo: Option<ecr::Repo>,
}

impl Now {
    fn account(&self) -> Option<String> {
        self.role.as_ref().and_then(|(arn, _)| account_of(arn)).or_else(|| self.function.as_ref().and_then(|f| account_of(&f.arn)))
    }
    fn version(&self, n: u64) -> Option<&Version> {
        self.versions.iter().find(|v| v.number == n)
    }
}

fn now_of(d: &LegacyDeployed) -> &Now {
    d.state.downcast_ref::<Now>().expect("lambda state")
}

/// The role's trust policy: Lambda may assume it.
fn trust_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    })
    .to_string()
}

/// The role's only permissions: its own log group, and this app's secrets.
fn role_policy(region: &str, account: &str, function: &str, secret_arns: &BTreeMap<String, String>) -> serde_json::Value {
    let group = format!("arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function}");
    let mut statements = vec![json!({
        "Sid": "OwnLogGroup",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [group.clone(), format!("{group}:*")]
    })];
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

fn desired_conf(cx: &Cx, role_arn: &str, refs: &BTreeMap<String, SecretRef>, package: &str) -> FnConf {
    let arns = arns_of(refs);
    let s = &cx.target.settings;
    let mut env: BTreeMap<String, String> = cx.loaded.manifest.env_pairs().into_iter().collect();
    if let Some(asgi) = &cx.loaded.manifest.app().asgi {
        env.insert(ASGI_ENV.into(), asgi.get().to_string());
    }
    if !arns.is_empty() {
        env.insert(SECRET_ARNS_ENV.into(), serde_json::to_string(&arns).expect("json"));
        let mut h = Sha256::new();
        for (name, r) in refs {
            h.update(format!("{name}={}\n", r.version).as_bytes());
        }
        env.insert(SECRETS_REV_ENV.into(), hex::encode(h.finalize())[..16].to_string());
    }
    // An image carries its runtime and handler (ENTRYPOINT and CMD): Lambda refuses both.
    let image = package == PACKAGE_IMAGE;
    FnConf {
        package: package.into(),
        runtime: if image { String::new() } else { cx.loaded.manifest.app().runtime.to_string() },
        handler: if image { String::new() } else { HANDLER.into() },
        role: role_arn.into(),
        memory: s.memory.as_ref().map(|m| m.get().mib).unwrap_or(DEFAULT_MEMORY) as i32,
        timeout: s.timeout.as_ref().map(|t| t.get().0).unwrap_or(DEFAULT_TIMEOUT) as i32,
        arch: lambda_arch(cx).as_str().to_string(),
        env,
    }
}

fn desired_cors(cx: &Cx) -> Option<CorsConf> {
    cx.target.settings.cors.as_ref().map(|c| {
        let c = c.get();
        CorsConf {
            origins: c.allow_origins.clone(),
            methods: c.allow_methods.clone(),
            headers: c.allow_headers.clone(),
            max_age: c.max_age.map(|m| m as i32),
        }
    })
}

fn desired_throttle(cx: &Cx) -> Option<Throttle> {
    cx.target.settings.rate_limit.as_ref().map(|r| Throttle { rps: f64::from(r.get().rps), burst: r.get().burst as i32 })
}

fn health_timeout(cx: &Cx) -> Duration {
    Duration::from_secs(u64::from(cx.target.settings.health_timeout.as_ref().map(|s| s.get().0).unwrap_or(DEFAULT_HEALTH_TIMEOUT)))
}

/// Where a container image for the function is pushed.
#[derive(Debug, Clone)]
enum PushTo {
    /// `AIDEPLOY_REGISTRY` / `[build] registry`: an ECR repository, or (on an emulator) a
    /// loopback registry.
    Named(Reference),
    /// The target's own ECR repository, [`repo_name`], created on first need.
    OwnEcr,
}

/// A container image for the function, built and not yet pushed.
struct LambdaImage {
    built: BuiltImage,
    /// Hex of the image's manifest digest.
    sha: String,
    /// Why an image rather than a zip, for people.
    reason: String,
    push: PushTo,
}

/// What `build` hands to `plan` and `apply`: the code as a zip or as an image.
enum Package {
    Zip(LambdaZip),
    Image(Box<LambdaImage>),
}

impl Package {
    /// Hex sha256 of the code: the zip's, or the image manifest's.
    fn sha(&self) -> &str {
        match self {
            Package::Zip(z) => &z.sha256,
            Package::Image(i) => &i.sha,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            Package::Zip(_) => PACKAGE_ZIP,
            Package::Image(_) => PACKAGE_IMAGE,
        }
    }
}

fn package_of(artifact: &Artifact) -> &Package {
    artifact.payload.downcast_ref::<Package>().expect("lambda artifact")
}

/// The image's URI by digest in `repo` (`host/path`).
fn image_uri(repo: &str, sha: &str) -> String {
    format!("{repo}@sha256:{sha}")
}

/// The digest's hex in an `...@sha256:<hex>` image URI.
fn sha_of_uri(uri: &str) -> Option<String> {
    uri.rsplit_once("@sha256:").map(|(_, h)| h.to_string()).filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A version's code identity: for an image, the digest its description names (else its
/// CodeSha256, which real Lambda gives as the image digest's hex); for a zip, the
/// CodeSha256 Lambda computed (base64).
fn version_sha(v: &aws_sdk_lambda::types::FunctionConfiguration) -> String {
    if v.package_type().is_some_and(|p| p.as_str() == PACKAGE_IMAGE) {
        if let Some(h) = v.description().and_then(|d| d.strip_prefix(IMAGE_VERSION_PREFIX)) {
            return h.to_string();
        }
        return v.code_sha256().unwrap_or_default().to_string();
    }
    hex_of_b64(v.code_sha256().unwrap_or_default())
}

/// The published version that already is what we want: same code and configuration.
fn matching_version<'a>(now: &'a Now, sha: &str, want: Option<&FnConf>) -> Option<&'a Version> {
    let want = want?;
    now.versions.iter().filter(|v| v.sha == sha && &v.conf == want).max_by_key(|v| v.number)
}

#[async_trait]
impl LegacyBackend for LambdaBackend {
    fn kind(&self) -> Kind {
        Kind::Lambda
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: Provider::Aws,
            secret_store: true,
            logs: false,
            rollback: true,
            default_package: DefaultPackage::Zip,
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
        if cx.loaded.manifest.app().asgi.is_none() {
            return Err(UsageError::new("the lambda target runs ASGI apps, and this app gives a `command`")
                .hint("set `asgi = \"module:app\"` in [app], or deploy the command to a container target (cloudrun, ec2)")
                .into());
        }
        let fname = function_name(cx);
        if fname.len() > 64 {
            return Err(UsageError::new(format!("the function name `{fname}` is {} characters; Lambda allows 64", fname.len()))
                .hint("use a shorter app name, --stage or target name")
                .into());
        }
        let asked = cx.loaded.manifest.build.package.as_ref().map(|p| *p.get()) == Some(crate::manifest::values::Package::Image);
        let reason = if asked {
            "[build] package = \"image\"".to_string()
        } else {
            r.step("building the Lambda zip");
            let loaded = cx.loaded.clone();
            let arch = arch(cx);
            match tokio::task::block_in_place(|| lambda_zip_for(&loaded, arch, r)) {
                Ok(zip) => {
                    r.detail(&format!("{} ({} bytes, {} entries)", zip.path.display(), zip.bytes, zip.entries));
                    r.done();
                    let mut artifact = zip.clone().into_artifact();
                    artifact.payload = Arc::new(Package::Zip(zip));
                    return Ok(artifact);
                }
                Err(e) => match too_big_reason(&e) {
                    Some(why) => {
                        r.done();
                        r.warn(&format!("{why}: deploying a container image instead (up to 10 GB)"));
                        why
                    }
                    None => return Err(e),
                },
            }
        };
        let push = image_destination(cx)?;
        r.step(&format!("building a container image for Lambda ({reason})"));
        let artifact =
            crate::artifact::image::build_flavor(&cx.loaded, &cx.stage, Some(&cx.target), None, crate::artifact::image::Flavor::Lambda, r)
                .await?;
        let built = artifact.payload.downcast_ref::<BuiltImage>().expect("image artifact").clone();
        let sha = built.digest.trim_start_matches("sha256:").to_string();
        let mut artifact = artifact;
        if let PushTo::Named(repo) = &push {
            artifact.reference = Some(image_uri(&repo.name(), &sha));
        }
        artifact.payload = Arc::new(Package::Image(Box::new(LambdaImage { built, sha, reason, push })));
        Ok(artifact)
    }

    async fn current(&self, cx: &Cx) -> Result<Option<LegacyDeployed>> {
        let c = Clients::for_target(cx).await?;
        let now = read::read(cx, c).await?;
        if now.function.is_none()
            && now.role.is_none()
            && now.api.is_none()
            && !now.repo.as_ref().is_some_and(|r| r.ours)
            && !now.secrets.values().any(|s| s.target.as_deref() == Some(&cx.target.name))
        {
            return Ok(None);
        }
        let live = now.alias.and_then(|n| now.version(n));
        let digest = live
            .map(|v| v.sha.clone())
            .or_else(|| now.function.as_ref().map(|f| f.sha.clone()))
            .map(|s| format!("sha256:{s}"))
            .unwrap_or_default();
        let url = now.api.as_ref().map(|a| url(&a.id, &now.clients.region));
        let health = match (&url, live) {
            (Some(u), Some(_)) if !now.clients.emulated => {
                if crate::engine::health::probe(&format!("{u}{}", cx.loaded.manifest.app().health)).await {
                    Health::Passed
                } else {
                    Health::Failed
                }
            }
            _ => Health::Skipped,
        };
        let mut details = serde_json::Map::new();
        details.insert("region".into(), json!(now.clients.region));
        details.insert("function".into(), json!(now.function.as_ref().map(|_| function_name(cx))));
        details.insert("package".into(), json!(now.function.as_ref().map(|f| f.conf.package.to_lowercase())));
        if let Some(image) = now.function.as_ref().and_then(|f| f.image.clone()) {
            details.insert("image".into(), json!(image));
        }
        details.insert("version".into(), json!(now.alias));
        let previous = now.alias.and_then(|a| now.versions.iter().filter(|v| v.number < a).map(|v| v.number).max());
        if let Some(p) = previous {
            details.insert("previous".into(), json!(p));
        }
        details.insert("api".into(), json!(now.api.as_ref().map(|a| a.id.clone())));
        details.insert("last_modified".into(), json!(now.function.as_ref().map(|f| f.last_modified.clone())));
        details.insert("secrets".into(), json!(now.secrets.keys().cloned().collect::<Vec<_>>().join(", ")));
        Ok(Some(LegacyDeployed { digest, url, health, details, state: Arc::new(now) }))
    }

    fn plan(&self, cx: &Cx, now: Option<&LegacyDeployed>, artifact: &Artifact) -> Plan {
        let pkg = package_of(artifact);
        let fname = function_name(cx);
        let mut plan = Plan::default();
        let timeout = cx.target.settings.timeout.as_ref().map(|t| t.get().0).unwrap_or(DEFAULT_TIMEOUT);
        if timeout > API_GATEWAY_LIMIT {
            plan.warnings.push(format!(
                "timeout = {timeout} s, but API Gateway HTTP APIs end every request at {API_GATEWAY_LIMIT} s: longer requests (streaming LLM answers) will fail there; deploy to cloudrun or ec2 for long requests"
            ));
        }
        let what = match pkg {
            Package::Zip(zip) => {
                if zip.needs_s3 {
                    plan.warnings.push(format!(
                        "the zip is {} MB, over the 50 MB direct upload limit: it goes through S3",
                        zip.bytes / (1024 * 1024)
                    ));
                }
                format!("{} zip", cx.loaded.manifest.app().runtime)
            }
            Package::Image(img) => format!("container image: {}", img.reason),
        };
        let now = now.map(now_of);
        let empty = BTreeMap::new();
        let stored = now.map(|n| &n.secrets).unwrap_or(&empty);
        for name in cx.secrets.values.keys() {
            let id = store::secret_name(cx.app_name(), &cx.stage.to_string(), name);
            let op = match (stored.get(name), now.and_then(|n| n.secret_same.get(name))) {
                (None, _) => Action::new(Op::Create, "secret", id),
                (Some(_), Some(true)) => Action::new(Op::Noop, "secret", id),
                (Some(_), _) => Action::new(Op::Update, "secret", id).because("value changed"),
            };
            plan.actions.push(op);
        }
        let changing: Vec<String> = plan
            .actions
            .iter()
            .filter(|a| a.resource == "secret" && a.op != Op::Noop)
            .map(|a| a.id.rsplit('/').next().unwrap_or_default().to_string())
            .collect();
        let refs = secret_refs(cx, stored, &changing);
        let known = known_refs(&refs);
        let own_repo = matches!(pkg, Package::Image(i) if matches!(i.push, PushTo::OwnEcr));
        if own_repo {
            plan.actions.push(match now.and_then(|n| n.repo.as_ref()) {
                Some(r) if r.ours => Action::new(Op::Noop, "ecr-repository", repo_name(cx)),
                _ => Action::new(Op::Create, "ecr-repository", repo_name(cx))
                    .because(format!("scan on push, keeps the last {} images", ecr::KEEP_IMAGES)),
            });
        }
        let Some(n) = now.filter(|n| n.function.is_some() || n.role.is_some() || n.api.is_some()) else {
            plan.actions.push(Action::new(Op::Create, "role", role_name(cx, &planned_region(cx))));
            plan.actions.push(Action::new(Op::Create, "function", &fname).because(what));
            plan.actions.push(Action::new(Op::Create, "version", &fname));
            plan.actions.push(Action::new(Op::Create, "alias", format!("{fname}:{ALIAS}")));
            for (res, id) in api_resources(&fname) {
                plan.actions.push(Action::new(Op::Create, res, id));
            }
            return plan;
        };

        // Role.
        let region = &n.clients.region;
        let account = n.account().unwrap_or_default();
        // The policy names ARNs only: a new value of an existing secret does not change it.
        let arns_known: Option<BTreeMap<String, String>> =
            secret_refs(cx, stored, &[]).into_iter().map(|(k, v)| v.map(|v| (k, v.arn))).collect();
        let want_policy = arns_known.as_ref().map(|k| role_policy(region, &account, &fname, k));
        plan.actions.push(match &n.role {
            None => Action::new(Op::Create, "role", role_name(cx, region)),
            Some((_, have)) if have.is_some() && have.as_ref() == want_policy.as_ref() => {
                Action::new(Op::Noop, "role", role_name(cx, region))
            }
            Some(_) => Action::new(Op::Update, "role", role_name(cx, region)).because("permissions changed"),
        });

        // Function code and configuration. Lambda cannot change a function's package
        // type: a switch between zip and image replaces the function.
        let want_conf = match (&n.role, &known) {
            (Some((arn, _)), Some(k)) => Some(desired_conf(cx, arn, k, pkg.kind())),
            _ => None,
        };
        let replace = n.function.as_ref().filter(|f| f.conf.package != pkg.kind());
        let code_same = n.function.as_ref().is_some_and(|f| {
            f.sha == pkg.sha() && f.conf.package == pkg.kind() && want_conf.as_ref().is_none_or(|w| w.arch == f.conf.arch)
        });
        match &n.function {
            None => plan.actions.push(Action::new(Op::Create, "function", &fname).because(what)),
            Some(f) if replace.is_some() => {
                let (from, to) = (f.conf.package.to_lowercase(), pkg.kind().to_lowercase());
                plan.actions.push(Action::new(Op::Delete, "function", &fname).because(format!(
                    "package {from} -> {to}: Lambda cannot change a function's package type, so it is recreated with a new alias (the old versions go, so rollback starts over; requests fail for the seconds in between)"
                )));
                plan.actions.push(Action::new(Op::Create, "function", &fname).because(what));
            }
            Some(f) => {
                plan.actions.push(if code_same {
                    Action::new(Op::Noop, "function", &fname)
                } else {
                    Action::new(Op::Update, "function", &fname).because("code changed")
                });
                let conf_op = match &want_conf {
                    Some(w) if *w == f.conf => Action::new(Op::Noop, "function-config", &fname),
                    Some(w) => Action::new(Op::Update, "function-config", &fname).because(f.conf.diff(w).join(", ")),
                    None => Action::new(Op::Update, "function-config", &fname).because("role or secrets changed"),
                };
                plan.actions.push(conf_op);
            }
        }

        // Version and alias.
        let ready = if replace.is_some() { None } else { matching_version(n, pkg.sha(), want_conf.as_ref()).map(|v| v.number) };
        let alias_now = if replace.is_some() { None } else { n.alias };
        plan.actions.push(match ready {
            Some(v) => Action::new(Op::Noop, "version", format!("{fname}:{v}")),
            None => Action::new(Op::Create, "version", &fname),
        });
        let alias_id = format!("{fname}:{ALIAS}");
        plan.actions.push(match (alias_now, ready) {
            (None, _) => Action::new(Op::Create, "alias", &alias_id),
            (Some(a), Some(v)) if a == v => Action::new(Op::Noop, "alias", &alias_id),
            (Some(a), Some(v)) => Action::new(Op::Update, "alias", &alias_id).because(format!("version {a} -> {v}")),
            (Some(a), None) => Action::new(Op::Update, "alias", &alias_id).because(format!("version {a} -> new")),
        });

        // HTTP API.
        let alias_arn = n.function.as_ref().map(|f| format!("{}:{ALIAS}", f.arn));
        match &n.api {
            None => {
                for (res, id) in api_resources(&fname) {
                    plan.actions.push(Action::new(Op::Create, res, id));
                }
            }
            Some(api) => {
                let id = api.id.clone();
                plan.actions.push(if api.cors == desired_cors(cx) {
                    Action::new(Op::Noop, "http-api", &id)
                } else {
                    Action::new(Op::Update, "http-api", &id).because("cors changed")
                });
                plan.actions.push(match &api.integration {
                    None => Action::new(Op::Create, "integration", &id),
                    Some((_, uri, payload)) if Some(uri) == alias_arn.as_ref() && payload == "2.0" => {
                        Action::new(Op::Noop, "integration", &id)
                    }
                    Some(_) => Action::new(Op::Update, "integration", &id).because("target changed"),
                });
                plan.actions.push(match &api.route {
                    None => Action::new(Op::Create, "route", "$default"),
                    Some((_, target)) if api.integration.as_ref().is_some_and(|(i, _, _)| *target == format!("integrations/{i}")) => {
                        Action::new(Op::Noop, "route", "$default")
                    }
                    Some(_) => Action::new(Op::Update, "route", "$default").because("target changed"),
                });
                plan.actions.push(match &api.stage {
                    None => Action::new(Op::Create, "stage", "$default"),
                    Some((true, t)) if *t == desired_throttle(cx) => Action::new(Op::Noop, "stage", "$default"),
                    Some(_) => Action::new(Op::Update, "stage", "$default").because("throttling changed"),
                });
                let want_source = format!("arn:aws:execute-api:{region}:{account}:{id}/*/*");
                let permission = if replace.is_some() { None } else { n.permission.as_ref() };
                plan.actions.push(match permission {
                    None => Action::new(Op::Create, "permission", format!("{alias_id} <- {id}")),
                    Some(s) if *s == want_source => Action::new(Op::Noop, "permission", format!("{alias_id} <- {id}")),
                    Some(_) => Action::new(Op::Update, "permission", format!("{alias_id} <- {id}")).because("source changed"),
                });
            }
        }
        plan
    }

    async fn apply(&self, cx: &Cx, plan: &Plan, now: Option<&LegacyDeployed>, artifact: &Artifact, r: &dyn Reporter) -> Result<Outcome> {
        let now = now.map(now_of);
        let c = match now {
            Some(n) => n.clients.clone(),
            None => Clients::for_target(cx).await?,
        };
        let op = |res: &str| plan.actions.iter().find(|a| a.resource == res).map(|a| a.op).unwrap_or(Op::Noop);
        let pkg = package_of(artifact);
        // A package type switch: the function is deleted and made anew, with nothing of
        // the old one (versions, alias, permission) kept.
        let replace = plan.actions.iter().any(|a| a.resource == "function" && a.op == Op::Delete);
        let fname = function_name(cx);

        // 1. Secrets: values to Secrets Manager; only ARNs go further.
        let empty = BTreeMap::new();
        let stored = now.map(|n| &n.secrets).unwrap_or(&empty);
        let refs = store::store_planned(&c.secrets, cx, plan, stored, r).await?;
        let arns = arns_of(&refs);

        // 2. The execution role.
        let rname = role_name(cx, &c.region);
        let role_arn = match now.and_then(|n| n.role.as_ref()) {
            Some((arn, _)) => arn.clone(),
            None => {
                r.step(&format!("creating role {rname}"));
                create_role(cx, &c, &rname).await?
            }
        };
        let account = account_of(&role_arn).unwrap_or_default();
        if op("role") != Op::Noop {
            let policy = role_policy(&c.region, &account, &fname, &arns).to_string();
            c.iam
                .put_role_policy()
                .role_name(&rname)
                .policy_name(POLICY_NAME)
                .policy_document(policy)
                .send()
                .await
                .map_err(|e| failed("IAM PutRolePolicy", e, PERMS_HINT))?;
        }

        // 3. An image: into its repository, before anything about the function changes.
        let fn_now = if replace { None } else { now.and_then(|n| n.function.as_ref()) };
        let needs_code = fn_now.is_none() || op("function") != Op::Noop;
        let image = match pkg {
            Package::Image(img) if needs_code || op("ecr-repository") == Op::Create => Some(push_image(cx, &c, img, r).await?),
            _ => None,
        };

        // 4. The function: configuration, then code.
        let want = desired_conf(cx, &role_arn, &refs, pkg.kind());
        if replace {
            r.step(&format!("deleting function {fname}: its package type changes"));
            match c.lambda.delete_function().function_name(&fname).send().await {
                Ok(_) => {}
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {}
                Err(e) => return Err(failed("Lambda DeleteFunction", e, PERMS_HINT)),
            }
        }
        let function_arn = match fn_now {
            None => {
                r.step(&format!("creating function {fname}"));
                let code = code_for(cx, &c, &account, pkg, image.as_deref(), r).await?;
                let arn = create_function(cx, &c, &fname, &want, code, pkg.sha(), r).await?;
                wait_updated(cx, &c, &fname, r).await?;
                arn
            }
            Some(f) => {
                if f.conf != want {
                    r.step("updating the function's configuration");
                    update_config(&c, &fname, &want).await?;
                    wait_updated(cx, &c, &fname, r).await?;
                }
                if op("function") != Op::Noop {
                    r.step("uploading the new code");
                    let code = code_for(cx, &c, &account, pkg, image.as_deref(), r).await?;
                    update_code(cx, &c, &fname, &code).await?;
                    wait_updated(cx, &c, &fname, r).await?;
                    c.lambda
                        .tag_resource()
                        .resource(&f.arn)
                        .tags(TAG_DIGEST, format!("sha256:{}", pkg.sha()))
                        .send()
                        .await
                        .map_err(|e| failed("Lambda TagResource", e, PERMS_HINT))?;
                }
                f.arn.clone()
            }
        };
        let alias_arn = format!("{function_arn}:{ALIAS}");

        // 5. A version of exactly this code and configuration.
        let ready = if replace { None } else { now.and_then(|n| matching_version(n, pkg.sha(), Some(&want))).map(|v| v.number) };
        let version = match ready {
            Some(v) => v,
            None => {
                r.step("publishing a version");
                let sha = pkg.sha();
                let req = c.lambda.publish_version().function_name(&fname);
                let req = match pkg {
                    Package::Zip(_) => {
                        req.code_sha256(b64_of_hex(sha)).description(format!("aideploy sha256:{}", &sha[..12.min(sha.len())]))
                    }
                    Package::Image(_) => req.description(format!("{IMAGE_VERSION_PREFIX}{sha}")),
                };
                let out =
                    req.send().await.map_err(|e| failed("Lambda PublishVersion", e, "re-run the deploy: it picks up where it stopped"))?;
                out.version()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| Hinted::new("Lambda PublishVersion returned no version number", "re-run the deploy"))?
            }
        };

        // 6. Health, then the alias.
        let alias_now = if replace { None } else { now.and_then(|n| n.alias) };
        let mut health = Health::Skipped;
        if alias_now != Some(version) {
            match gate(cx, &c, &fname, version, r).await? {
                Ok(h) => health = h,
                Err(why) => {
                    let kept = if alias_now.is_some() { "the previous version keeps serving" } else { "nothing is serving" };
                    let url = now.and_then(|n| n.api.as_ref()).map(|a| url(&a.id, &c.region));
                    return Ok(Outcome {
                        url,
                        health: Health::Failed,
                        actions: plan.actions.clone(),
                        failure: Some(format!("version {version}: {why}\n({kept})")),
                        pushed: None,
                    });
                }
            }
            r.step(&format!("moving alias {ALIAS} to version {version}"));
            set_alias(&c, &fname, version, alias_now.is_some()).await?;
            let mut numbers: Vec<u64> = now.filter(|_| !replace).map(|n| n.versions.iter().map(|v| v.number).collect()).unwrap_or_default();
            numbers.push(version);
            prune_versions(&c, &fname, numbers, version, r).await;
        }

        // 7. The HTTP API in front of the alias.
        let api_id = api::ensure_api(cx, &c, now.and_then(|n| n.api.as_ref()), &fname, &alias_arn, r).await?;
        let source = format!("arn:aws:execute-api:{}:{account}:{api_id}/*/*", c.region);
        let permission = if replace { None } else { now.and_then(|n| n.permission.as_ref()) };
        if permission != Some(&source) {
            if permission.is_some() {
                let _ = c.lambda.remove_permission().function_name(&fname).qualifier(ALIAS).statement_id(PERMISSION_SID).send().await;
            }
            let added = c
                .lambda
                .add_permission()
                .function_name(&fname)
                .qualifier(ALIAS)
                .statement_id(PERMISSION_SID)
                .action("lambda:InvokeFunction")
                .principal("apigateway.amazonaws.com")
                .source_arn(&source)
                .send()
                .await;
            if let Err(e) = added {
                if !e.as_service_error().is_some_and(|s| s.is_resource_conflict_exception()) {
                    return Err(failed("Lambda AddPermission", e, PERMS_HINT));
                }
            }
        }
        r.done();
        Ok(Outcome { url: Some(url(&api_id, &c.region)), health, actions: plan.actions.clone(), failure: None, pushed: None })
    }

    fn plan_rollback(&self, cx: &Cx, now: &LegacyDeployed) -> Result<Plan> {
        let n = now_of(now);
        let (live, prev) = previous(cx, n)?;
        let mut plan = Plan::default();
        plan.actions
            .push(Action::new(Op::Update, "alias", format!("{}:{ALIAS}", function_name(cx))).because(format!("version {live} -> {prev}")));
        Ok(plan)
    }

    async fn rollback(&self, cx: &Cx, plan: &Plan, now: &LegacyDeployed, r: &dyn Reporter) -> Result<Outcome> {
        let n = now_of(now);
        let (_, prev) = previous(cx, n)?;
        let fname = function_name(cx);
        let health = match gate(cx, &n.clients, &fname, prev, r).await? {
            Ok(h) => h,
            Err(why) => {
                return Ok(Outcome {
                    url: now.url.clone(),
                    health: Health::Failed,
                    actions: plan.actions.clone(),
                    failure: Some(format!("version {prev}: {why}\n(the current version keeps serving)")),
                    pushed: None,
                })
            }
        };
        r.step(&format!("moving alias {ALIAS} to version {prev}"));
        set_alias(&n.clients, &fname, prev, true).await?;
        r.done();
        Ok(Outcome { url: now.url.clone(), health, actions: plan.actions.clone(), failure: None, pushed: None })
    }

    fn plan_destroy(&self, cx: &Cx, now: &LegacyDeployed) -> Plan {
        let n = now_of(now);
        let fname = function_name(cx);
        let mut plan = Plan::default();
        if let Some(api) = &n.api {
            plan.actions.push(Action::new(Op::Delete, "http-api", &api.id).because("with its routes, integration and stage"));
        }
        if n.function.is_some() {
            plan.actions
                .push(Action::new(Op::Delete, "function", &fname).because(format!("{} versions and alias {ALIAS}", n.versions.len())));
        }
        if n.role.is_some() {
            plan.actions.push(Action::new(Op::Delete, "role", role_name(cx, &n.clients.region)).because("and its policy"));
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
        let fname = function_name(cx);
        // Uploads first: once the role and function are gone, nothing finds them.
        let mut actions = self.plan_destroy(cx, now).actions;
        if let Some(account) = n.account() {
            let deleted = upload::delete_uploads(cx, c, &account).await?;
            if deleted > 0 {
                let where_ = upload::bucket(&account, &c.region).url(&upload::prefix(cx));
                actions.push(Action::new(Op::Delete, "zip-uploads", where_).because(format!("{deleted} zips")));
            }
        }
        if let Some(api) = &n.api {
            r.step(&format!("deleting HTTP API {}", api.id));
            match c.apigw.delete_api().api_id(&api.id).send().await {
                Ok(_) => {}
                Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found_exception()) => {}
                Err(e) => return Err(failed("API Gateway DeleteApi", e, PERMS_HINT)),
            }
        }
        if n.function.is_some() {
            r.step(&format!("deleting function {fname}"));
            match c.lambda.delete_function().function_name(&fname).send().await {
                Ok(_) => {}
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {}
                Err(e) => return Err(failed("Lambda DeleteFunction", e, PERMS_HINT)),
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
                Ok(_) => {}
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
                Err(e) => return Err(failed("IAM DeleteRole", e, PERMS_HINT)),
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

/// Where the function's image goes: a repository named by `AIDEPLOY_REGISTRY` or
/// `[build] registry` when it is in ECR (Lambda runs images from ECR only), or a loopback
/// one when AWS is an emulator; otherwise the target's own ECR repository.
fn image_destination(cx: &Cx) -> Result<PushTo> {
    let Some(repo) = crate::artifact::image::push_repository(&cx.loaded)? else { return Ok(PushTo::OwnEcr) };
    let name = repo.name();
    if ecr::is_ecr(&name) || (crate::cloud::is_loopback_host(&repo.registry) && aws::endpoint_is_loopback()) {
        return Ok(PushTo::Named(repo));
    }
    Err(UsageError::new(format!("Lambda runs container images only from Amazon ECR, and {name} is not an ECR repository"))
        .hint(format!(
            "unset {} (or drop `registry` from [build]) and the lambda target pushes to its own ECR repository {}",
            crate::envvars::AIDEPLOY_REGISTRY,
            repo_name(cx)
        ))
        .into())
}

fn api_resources(fname: &str) -> Vec<(&'static str, String)> {
    vec![
        ("http-api", fname.to_string()),
        ("integration", fname.to_string()),
        ("route", "$default".into()),
        ("stage", "$default".into()),
        ("permission", format!("{fname}:{ALIAS}")),
    ]
}

/// The live version and the one before it.
fn previous(cx: &Cx, n: &Now) -> Result<(u64, u64)> {
    let none = || {
        UsageError::new(format!("{} ({}) has no previous version to roll back to", cx.app_name(), cx.stage))
            .hint("rollback moves alias `live` to the version published before the live one; deploy a change first")
    };
    let live = n.alias.ok_or_else(none)?;
    let prev = n.versions.iter().filter(|v| v.number < live).map(|v| v.number).max().ok_or_else(none)?;
    Ok((live, prev))
}

fn function_code(code: &upload::Code) -> aws_sdk_lambda::types::FunctionCode {
    let b = aws_sdk_lambda::types::FunctionCode::builder();
    match code {
        upload::Code::Inline(blob) => b.zip_file(blob.clone()),
        upload::Code::S3 { bucket, key } => b.s3_bucket(bucket).s3_key(key),
        upload::Code::Image(uri) => b.image_uri(uri),
    }
    .build()
}

/// The code to give Lambda: the zip (inline or through S3), or the pushed image.
async fn code_for(cx: &Cx, c: &Clients, account: &str, pkg: &Package, image: Option<&str>, r: &dyn Reporter) -> Result<upload::Code> {
    match pkg {
        Package::Zip(zip) => upload::code(cx, c, account, zip, r).await,
        Package::Image(_) => Ok(upload::Code::Image(image.expect("the image is pushed before the function changes").to_string())),
    }
}

/// Pushes the function's image to its repository (the target's own ECR repository is
/// created first when missing). Returns the image's URI by digest.
async fn push_image(cx: &Cx, c: &Clients, img: &LambdaImage, r: &dyn Reporter) -> Result<String> {
    let repo = match &img.push {
        PushTo::Named(repo) => repo.clone(),
        PushTo::OwnEcr => {
            r.step(&format!("checking ECR repository {}", repo_name(cx)));
            let uri = ecr::ensure(&c.ecr, &repo_name(cx), &tags(cx), r).await?;
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
    r.step(&format!("pushing the image to {}", repo.name()));
    crate::artifact::image::push_built(&img.built, &repo, &cx.stage, r).await?;
    Ok(image_uri(&repo.name(), &img.sha))
}

async fn update_code(cx: &Cx, c: &Clients, fname: &str, code: &upload::Code) -> Result<()> {
    let req = c.lambda.update_function_code().function_name(fname).architectures(lambda_arch(cx));
    let req = match code {
        upload::Code::Inline(blob) => req.zip_file(blob.clone()),
        upload::Code::S3 { bucket, key } => req.s3_bucket(bucket).s3_key(key),
        upload::Code::Image(uri) => req.image_uri(uri),
    };
    req.send().await.map_err(|e| failed("Lambda UpdateFunctionCode", e, PERMS_HINT))?;
    Ok(())
}

/// Health-gates `version`: invokes it with an HTTP API v2 event for the health path.
/// An emulator (moto) cannot run code: reported as skipped.
async fn gate(cx: &Cx, c: &Clients, fname: &str, version: u64, r: &dyn Reporter) -> Result<std::result::Result<Health, String>> {
    if c.emulated {
        r.warn(
            "health: skipped (AWS_ENDPOINT_URL is a loopback emulator, which cannot invoke a Lambda function); the alias moves unchecked",
        );
        return Ok(Ok(Health::Skipped));
    }
    r.step(&format!("checking version {version} answers {}", cx.loaded.manifest.app().health));
    let path = cx.loaded.manifest.app().health.to_string();
    Ok(invoke::health(cx, c, fname, version, &path, health_timeout(cx), r).await?.map(|()| Health::Passed))
}

/// The versions to delete after a deploy: all but the newest [`KEEP_VERSIONS`], never
/// the live one.
fn versions_to_prune(mut numbers: Vec<u64>, live: u64) -> Vec<u64> {
    numbers.sort_unstable();
    numbers.dedup();
    let excess = numbers.len().saturating_sub(KEEP_VERSIONS);
    numbers.into_iter().take(excess).filter(|v| *v != live).collect()
}

/// Deletes old versions so code storage does not grow with every deploy. Best effort: a
/// failure only leaves more. Not on an emulator: moto numbers a new version by counting
/// the existing ones, so after a delete it hands out a number twice (real Lambda never
/// reuses one).
async fn prune_versions(c: &Clients, fname: &str, numbers: Vec<u64>, live: u64, r: &dyn Reporter) {
    if c.emulated {
        return;
    }
    for v in versions_to_prune(numbers, live) {
        if let Err(e) = c.lambda.delete_function().function_name(fname).qualifier(v.to_string()).send().await {
            r.detail(&format!("could not delete old version {v}: {}", aws::describe(&e)));
        }
    }
}

async fn set_alias(c: &Clients, fname: &str, version: u64, exists: bool) -> Result<()> {
    let v = version.to_string();
    if exists {
        c.lambda
            .update_alias()
            .function_name(fname)
            .name(ALIAS)
            .function_version(&v)
            .send()
            .await
            .map_err(|e| failed("Lambda UpdateAlias", e, PERMS_HINT))?;
        return Ok(());
    }
    match c
        .lambda
        .create_alias()
        .function_name(fname)
        .name(ALIAS)
        .function_version(&v)
        .description("served by the HTTP API; moved by aideploy")
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_conflict_exception()) => {
            c.lambda
                .update_alias()
                .function_name(fname)
                .name(ALIAS)
                .function_version(&v)
                .send()
                .await
                .map_err(|e| failed("Lambda UpdateAlias", e, PERMS_HINT))?;
            Ok(())
        }
        Err(e) => Err(failed("Lambda CreateAlias", e, PERMS_HINT)),
    }
}

async fn create_role(cx: &Cx, c: &Clients, rname: &str) -> Result<String> {
    let description = format!("aideploy: execution role of Lambda function {}", function_name(cx));
    crate::cloud::aws::create_role(&c.iam, cx, rname, &trust_policy(), &description, PERMS_HINT).await
}

/// CreateFunction, retrying while IAM has not yet propagated the new role to Lambda
/// ("The role defined for the function cannot be assumed by Lambda").
async fn create_function(
    cx: &Cx,
    c: &Clients,
    fname: &str,
    want: &FnConf,
    code: upload::Code,
    sha: &str,
    r: &dyn Reporter,
) -> Result<String> {
    // IAM takes a while to show a new role to Lambda: retried while it "cannot be assumed".
    let waited = Wait::new("waiting for the new role to reach Lambda", Duration::from_millis(500), Duration::from_secs(60))
        .run(cx.poll, r, || async {
            let mut req = c
                .lambda
                .create_function()
                .function_name(fname)
                .package_type(aws_sdk_lambda::types::PackageType::from(want.package.as_str()))
                .role(&want.role)
                .memory_size(want.memory)
                .timeout(want.timeout)
                .architectures(lambda_arch(cx))
                .environment(
                    aws_sdk_lambda::types::Environment::builder().set_variables(Some(want.env.clone().into_iter().collect())).build(),
                )
                .code(function_code(&code))
                .description(format!("{} ({}), deployed by aideploy", cx.app_name(), cx.stage))
                .publish(false)
                .tags(TAG_DIGEST, format!("sha256:{sha}"));
            if want.package != PACKAGE_IMAGE {
                req = req.runtime(aws_sdk_lambda::types::Runtime::from(want.runtime.as_str())).handler(&want.handler);
            }
            for (k, v) in tags(cx) {
                req = req.tags(k, v);
            }
            match req.send().await {
                Ok(out) => Ok(Poll::Ready(Some(out.function_arn().unwrap_or_default().to_string()))),
                // Created by an interrupted run: converge by updating instead (below).
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_conflict_exception()) => Ok(Poll::Ready(None)),
                Err(e) => {
                    let msg = e.as_service_error().and_then(|s| s.message()).unwrap_or_default().to_string();
                    if e.as_service_error().is_some_and(|s| s.is_invalid_parameter_value_exception()) && msg.contains("cannot be assumed") {
                        return Ok(Poll::Pending("the role cannot be assumed yet".into()));
                    }
                    Err(failed(
                        "Lambda CreateFunction",
                        e,
                        "re-run the deploy; if the role cannot be assumed, wait a minute for IAM to propagate",
                    ))
                }
            }
        })
        .await?;
    match waited {
        Waited::Ready(Some(arn)) => Ok(arn),
        Waited::Ready(None) => {
            let got = c.lambda.get_function().function_name(fname).send().await.map_err(|e| failed("Lambda GetFunction", e, PERMS_HINT))?;
            if !ours(cx, got.tags()) {
                return Err(Hinted::new(
                    format!("a Lambda function named {fname} was created meanwhile, not by aideploy for this app, stage and target"),
                    format!("rename the app or stage, or delete the function {fname}"),
                )
                .into());
            }
            update_config(c, fname, want).await?;
            wait_updated(cx, c, fname, r).await?;
            update_code(cx, c, fname, &code).await?;
            Ok(got.configuration().and_then(|c| c.function_arn()).unwrap_or_default().to_string())
        }
        Waited::TimedOut { last, .. } => Err(Hinted::new(
            format!("Lambda CreateFunction failed: {last} after 60s"),
            "re-run the deploy in a minute: IAM is still propagating the new role",
        )
        .into()),
    }
}

async fn update_config(c: &Clients, fname: &str, want: &FnConf) -> Result<()> {
    let mut req = c.lambda.update_function_configuration().function_name(fname);
    if want.package != PACKAGE_IMAGE {
        req = req.runtime(aws_sdk_lambda::types::Runtime::from(want.runtime.as_str())).handler(&want.handler);
    }
    req.role(&want.role)
        .memory_size(want.memory)
        .timeout(want.timeout)
        .environment(aws_sdk_lambda::types::Environment::builder().set_variables(Some(want.env.clone().into_iter().collect())).build())
        .send()
        .await
        .map_err(|e| failed("Lambda UpdateFunctionConfiguration", e, PERMS_HINT))?;
    Ok(())
}

/// Waits until the function is Active and its last update Successful.
async fn wait_updated(cx: &Cx, c: &Clients, fname: &str, r: &dyn Reporter) -> Result<()> {
    use aws_sdk_lambda::types::{LastUpdateStatus, State};
    let what = format!("waiting for Lambda to finish updating {fname}");
    let waited = Wait::new(&what, Duration::from_millis(500), Duration::from_secs(600))
        .run(cx.poll, r, || async {
            let conf = c
                .lambda
                .get_function_configuration()
                .function_name(fname)
                .send()
                .await
                .map_err(|e| failed("Lambda GetFunctionConfiguration", e, PERMS_HINT))?;
            let state = conf.state().cloned();
            let update = conf.last_update_status().cloned();
            if matches!(state, Some(State::Failed)) || matches!(update, Some(LastUpdateStatus::Failed)) {
                let why = conf.last_update_status_reason().or(conf.state_reason()).unwrap_or("no reason given");
                return Err(Hinted::new(format!("Lambda could not update {fname}: {why}"), "fix the cause above and deploy again").into());
            }
            let active = state.is_none() || matches!(state, Some(State::Active) | Some(State::Inactive));
            let done = update.is_none() || matches!(update, Some(LastUpdateStatus::Successful));
            Ok(if active && done {
                Poll::Ready(())
            } else {
                Poll::Pending(format!(
                    "state {}, last update {}",
                    state.as_ref().map(|s| s.as_str()).unwrap_or("?"),
                    update.as_ref().map(|u| u.as_str()).unwrap_or("?")
                ))
            })
        })
        .await?;
    match waited {
        Waited::Ready(()) => Ok(()),
        Waited::TimedOut { last, waited } => {
            Err(Hinted::new(format!("{fname} is still updating after {}s ({last})", waited.as_secs()), "deploy again later; it resumes")
                .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_round_trips_between_hex_and_lambdas_base64() {
        let hex = "d9819b67f5bd33f6bd38e1a50b6a08aa2401ea6b52d0ed8a5e54849f1da2ae76";
        assert_eq!(hex_of_b64(&b64_of_hex(hex)), hex);
        assert_eq!(b64_of_hex(hex), "2YGbZ/W9M/a9OOGlC2oIqiQB6mtS0O2KXlSEnx2irnY=");
    }

    #[test]
    fn image_digests_come_from_the_uri_or_the_version_description() {
        let hex = "d9819b67f5bd33f6bd38e1a50b6a08aa2401ea6b52d0ed8a5e54849f1da2ae76";
        let uri = image_uri("123456789012.dkr.ecr.us-east-1.amazonaws.com/aideploy/a-dev-lambda", hex);
        assert_eq!(sha_of_uri(&uri).as_deref(), Some(hex));
        assert_eq!(sha_of_uri("127.0.0.1:5000/x:latest"), None);
        assert_eq!(sha_of_uri("x@sha256:abc"), None);
        use aws_sdk_lambda::types::{FunctionConfiguration, PackageType};
        let image = FunctionConfiguration::builder()
            .package_type(PackageType::Image)
            .description(format!("{IMAGE_VERSION_PREFIX}{hex}"))
            .code_sha256("c2hhIG9mIHRoZSB1cmk=")
            .build();
        assert_eq!(version_sha(&image), hex);
        let zip = FunctionConfiguration::builder()
            .package_type(PackageType::Zip)
            .code_sha256(b64_of_hex(hex))
            .description("aideploy sha256:d9819b67f5bd")
            .build();
        assert_eq!(version_sha(&zip), hex);
    }

    #[test]
    fn prunes_all_but_the_newest_five_never_the_live_one() {
        assert_eq!(versions_to_prune(vec![1, 2, 3], 3), Vec::<u64>::new());
        assert_eq!(versions_to_prune(vec![7, 1, 2, 3, 4, 5, 6], 7), vec![1, 2]);
        // After a rollback to 1, a deploy of 8: 1 is live and stays.
        assert_eq!(versions_to_prune(vec![1, 2, 3, 4, 5, 6, 7, 8], 1), vec![2, 3]);
    }

    #[test]
    fn policies_scope() {
        let mut arns = BTreeMap::new();
        let p = role_policy("us-east-1", "123", "app-dev", &arns);
        assert_eq!(p["Statement"].as_array().unwrap().len(), 1);
        arns.insert("K".into(), "arn:aws:secretsmanager:us-east-1:123:secret:aideploy/app/dev/K-abc".into());
        let p = role_policy("us-east-1", "123", "app-dev", &arns);
        assert_eq!(p["Statement"][1]["Resource"], json!(["arn:aws:secretsmanager:us-east-1:123:secret:aideploy/app/dev/K-abc"]));
        assert_eq!(p["Statement"][0]["Resource"][0], "arn:aws:logs:us-east-1:123:log-group:/aws/lambda/app-dev");
        assert_eq!(account_of("arn:aws:iam::123456789012:role/x").as_deref(), Some("123456789012"));
    }
}
