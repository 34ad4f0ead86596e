//! What the lambda target reads and wants, as plain data: a function's configuration, its
//! published versions, the HTTP API, and the role's policy. No clients: `plan` and its
//! unit tests work from these alone.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::*;
use crate::artifact::zip::{HANDLER, SECRET_ARNS_ENV};
use crate::cloud::ecr;
use crate::secrets::aws::{arns_of, SecretRef, Stored};

/// The part of a function's configuration aideploy sets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FnConf {
    /// `Zip` or `Image`.
    pub package: String,
    pub runtime: String,
    pub handler: String,
    pub role: String,
    pub memory: i32,
    pub timeout: i32,
    pub arch: String,
    pub env: BTreeMap<String, String>,
    /// SnapStart on published versions (a zip function only).
    pub snapstart: bool,
}

impl FnConf {
    pub fn of(c: &aws_sdk_lambda::types::FunctionConfiguration) -> FnConf {
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
            snapstart: c
                .snap_start()
                .and_then(|s| s.apply_on())
                .is_some_and(|a| *a == aws_sdk_lambda::types::SnapStartApplyOn::PublishedVersions),
        }
    }

    /// What differs, for people (names only: values may be long).
    pub fn diff(&self, want: &FnConf) -> Vec<&'static str> {
        [
            ("package", self.package != want.package),
            ("runtime", self.runtime != want.runtime),
            ("handler", self.handler != want.handler),
            ("role", self.role != want.role),
            ("memory", self.memory != want.memory),
            ("timeout", self.timeout != want.timeout),
            ("env", self.env != want.env),
            ("arch", self.arch != want.arch),
            ("snapstart", self.snapstart != want.snapstart),
        ]
        .into_iter()
        .filter_map(|(name, differs)| differs.then_some(name))
        .collect()
    }
}

/// A published version: its number, code identity (hex) and configuration.
#[derive(Debug, Clone)]
pub struct Version {
    pub number: u64,
    pub sha: String,
    pub conf: FnConf,
    /// When it was published, as Lambda wrote it (`2026-12-05T09:12:30.000+0000`).
    pub published: String,
}

/// The function as it is now.
#[derive(Debug, Clone)]
pub struct FnNow {
    pub arn: String,
    /// Hex of the code: the zip's sha256, or the image manifest's digest.
    pub sha: String,
    /// A container-image function's `ImageUri`.
    pub image: Option<String>,
    pub conf: FnConf,
    pub tags: HashMap<String, String>,
    pub last_modified: String,
}

/// Provisioned concurrency on alias `live`, as Lambda reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Warm {
    pub requested: u32,
    pub allocated: u32,
    /// `IN_PROGRESS`, `READY` or `FAILED`.
    pub status: String,
    pub reason: Option<String>,
}

pub const WARM_READY: &str = "READY";
pub const WARM_FAILED: &str = "FAILED";

impl Warm {
    /// For `status`: `2 ready`, `1 of 2 allocated (IN_PROGRESS)`, `FAILED: why`.
    pub fn words(&self) -> String {
        match self.status.as_str() {
            WARM_READY => format!("{} ready", self.allocated),
            WARM_FAILED => format!("{} asked, failed: {}", self.requested, self.reason.as_deref().unwrap_or("no reason given")),
            s => format!("{} of {} allocated ({s})", self.allocated, self.requested),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Throttle {
    pub rps: f64,
    pub burst: i32,
}

/// The HTTP API tagged for this app, stage and target, with what hangs off it.
#[derive(Debug, Clone)]
pub struct ApiNow {
    pub id: String,
    pub cors: Option<CorsConf>,
    /// (id, uri, payload format version)
    pub integration: Option<(String, String, String)>,
    /// The `$default` route.
    pub route: Option<RouteNow>,
    /// (auto deploy, throttling)
    pub stage: Option<(bool, Option<Throttle>)>,
}

/// The `$default` route: where it sends requests and who may call it.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteNow {
    pub id: String,
    /// `integrations/{id}`.
    pub target: String,
    /// `AWS_IAM` (SigV4-signed calls with `execute-api:Invoke` only) or `NONE` (anyone).
    pub authorization: String,
}

/// Who may call the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `public = true`: the route takes unsigned calls (authorization `NONE`).
    Public,
    /// The default: the route is `AWS_IAM`, so only SigV4-signed calls by an identity
    /// holding `execute-api:Invoke` on the API get through.
    Private,
}

impl Access {
    /// The route's `AuthorizationType` for this access.
    pub fn authorization(self) -> &'static str {
        match self {
            Access::Public => AUTH_NONE,
            Access::Private => AUTH_IAM,
        }
    }
    /// What an observed `AuthorizationType` means (anything but `NONE` is not public).
    pub fn of(authorization: &str) -> Access {
        if authorization == AUTH_NONE {
            Access::Public
        } else {
            Access::Private
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Private => "private",
        }
    }
}

pub const AUTH_IAM: &str = "AWS_IAM";
pub const AUTH_NONE: &str = "NONE";

/// `public = true` in the target, else private.
pub fn desired_access(cx: &Cx) -> Access {
    if cx.target.settings.public.as_ref().is_some_and(|p| *p.get()) {
        Access::Public
    } else {
        Access::Private
    }
}

/// How to call a private endpoint and how to open it, for the deploy's end and `status`.
pub fn private_note(cx: &Cx, region: &str, url: &str) -> String {
    format!(
        "the HTTP API is private (AWS_IAM): callers sign requests with SigV4 and need execute-api:Invoke on it, e.g.\n  awscurl --service execute-api --region {region} {url}{}\n(or any SigV4 client; set `public = true` in [targets.{}] to let anyone call it)",
        cx.loaded.manifest.app().health,
        cx.target.name
    )
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CorsConf {
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub max_age: Option<i32>,
}

/// Everything `observe` read: plain data, no clients. Any part may be missing (a deploy
/// stopped half-way leaves, say, a role and no function).
#[derive(Debug, Clone)]
pub struct Now {
    pub region: String,
    /// The role's ARN and its inline policy.
    pub role: Option<(String, Option<serde_json::Value>)>,
    pub function: Option<FnNow>,
    pub versions: Vec<Version>,
    /// The version alias `live` points at.
    pub alias: Option<u64>,
    pub api: Option<ApiNow>,
    /// The permission's source ARN, when the statement exists.
    pub permission: Option<String>,
    /// Provisioned concurrency on the alias, when it is configured.
    pub warm: Option<Warm>,
    pub secrets: BTreeMap<String, Stored>,
    /// For each secret with a value now: whether the stored one equals it.
    pub secret_same: BTreeMap<String, bool>,
    /// The ECR repository named for this target, if it exists.
    pub repo: Option<ecr::Repo>,
    /// What the live URL answered on the health path (skipped when it cannot be reached).
    pub health: Health,
}

impl Now {
    /// Nothing at all, in `region`.
    pub fn empty(region: &str) -> Now {
        Now {
            region: region.to_string(),
            role: None,
            function: None,
            versions: Vec::new(),
            alias: None,
            api: None,
            permission: None,
            warm: None,
            secrets: BTreeMap::new(),
            secret_same: BTreeMap::new(),
            repo: None,
            health: Health::Skipped,
        }
    }
    pub fn account(&self) -> Option<String> {
        self.role.as_ref().and_then(|(arn, _)| account_of(arn)).or_else(|| self.function.as_ref().and_then(|f| account_of(&f.arn)))
    }
    pub fn version(&self, n: u64) -> Option<&Version> {
        self.versions.iter().find(|v| v.number == n)
    }
    /// Nothing of the function's own resources exists (secrets and a repository may).
    pub fn nothing_deployed(&self) -> bool {
        self.function.is_none() && self.role.is_none() && self.api.is_none()
    }
    /// The published version that already is what we want: same code and configuration.
    pub fn matching_version(&self, sha: &str, want: Option<&FnConf>) -> Option<&Version> {
        let want = want?;
        self.versions.iter().filter(|v| v.sha == sha && &v.conf == want).max_by_key(|v| v.number)
    }
}

/// The role's trust policy: Lambda may assume it.
pub fn trust_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    })
    .to_string()
}

/// The role's only permissions: its own log group, and this app's secrets.
pub fn role_policy(region: &str, account: &str, function: &str, secret_arns: &BTreeMap<String, String>) -> serde_json::Value {
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

/// The configuration the function should have, with the role and secrets given.
pub fn desired_conf(cx: &Cx, role_arn: &str, refs: &BTreeMap<String, SecretRef>, package: &str) -> FnConf {
    let arns = arns_of(refs);
    let mut env: BTreeMap<String, String> = cx.loaded.manifest.env_pairs().into_iter().collect();
    let (var, value) = crate::artifact::zip::LambdaEntry::of(cx.loaded.manifest.app()).env();
    env.insert(var.into(), value);
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
        memory: cx.target.values.memory.map(|m| m.mib).unwrap_or_default() as i32,
        timeout: cx.target.values.timeout.map(|t| t.0).unwrap_or_default() as i32,
        arch: lambda_arch(cx).as_str().to_string(),
        env,
        snapstart: !image && wants_snapstart(cx),
    }
}

/// `snapstart = true` in the target.
pub fn wants_snapstart(cx: &Cx) -> bool {
    cx.target.values.snapstart.unwrap_or(false)
}

use crate::manifest::SNAPSTART_MIN_PYTHON_MINOR;

/// SnapStart's limits that the manifest alone cannot check: the runtime, and a zip (not
/// an image) function.
pub fn check_snapstart(cx: &Cx, package: &str) -> Result<(), UsageError> {
    if !wants_snapstart(cx) {
        return Ok(());
    }
    let runtime = &cx.loaded.manifest.app().runtime;
    let minor = runtime.version().strip_prefix("3.").and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
    if minor < SNAPSTART_MIN_PYTHON_MINOR {
        return Err(UsageError::new(format!("Lambda SnapStart needs python3.12 or later; [app] runtime is {runtime}"))
            .hint(format!("set `runtime = \"python3.12\"` (or later) in [app], or drop `snapstart` from [targets.{}]", cx.target.name)));
    }
    if package == PACKAGE_IMAGE {
        return Err(UsageError::new("Lambda SnapStart does not support container-image functions, and this one deploys as an image").hint(
            format!("drop `snapstart` from [targets.{}] (or `warm_instances = N` keeps instances initialised instead)", cx.target.name),
        ));
    }
    Ok(())
}

pub fn desired_cors(cx: &Cx) -> Option<CorsConf> {
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

pub fn desired_throttle(cx: &Cx) -> Option<Throttle> {
    cx.target.settings.rate_limit.as_ref().map(|r| Throttle { rps: f64::from(r.get().rps), burst: r.get().burst as i32 })
}

/// The image's URI by digest in `repo` (`host/path`).
pub fn image_uri(repo: &str, sha: &str) -> String {
    format!("{repo}@sha256:{sha}")
}

/// The digest's hex in an `...@sha256:<hex>` image URI.
pub fn sha_of_uri(uri: &str) -> Option<String> {
    uri.rsplit_once("@sha256:").map(|(_, h)| h.to_string()).filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A version's code identity: for an image, the digest its description names (else its
/// CodeSha256, which real Lambda gives as the image digest's hex); for a zip, the
/// CodeSha256 Lambda computed (base64).
pub fn version_sha(v: &aws_sdk_lambda::types::FunctionConfiguration) -> String {
    if v.package_type().is_some_and(|p| p.as_str() == PACKAGE_IMAGE) {
        if let Some(h) = v.description().and_then(|d| d.strip_prefix(IMAGE_VERSION_PREFIX)) {
            return h.to_string();
        }
        return v.code_sha256().unwrap_or_default().to_string();
    }
    hex_of_b64(v.code_sha256().unwrap_or_default())
}

/// The account id in an ARN (`arn:aws:iam::123456789012:role/x`).
pub fn account_of(arn: &str) -> Option<String> {
    arn.split(':').nth(4).filter(|a| !a.is_empty()).map(str::to_string)
}

pub fn hex_of_b64(b64: &str) -> String {
    base64::engine::general_purpose::STANDARD.decode(b64).map(hex::encode).unwrap_or_else(|_| b64.to_string())
}

pub fn b64_of_hex(h: &str) -> String {
    hex::decode(h).map(|b| base64::engine::general_purpose::STANDARD.encode(b)).unwrap_or_default()
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
