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
//!   answered its health path (invoked directly with an HTTP API v2 event); with
//!   `snapstart = true` each version is published with SnapStart (python3.12 and later,
//!   zip functions), and with `warm_instances = N` the alias carries provisioned
//!   concurrency, allocated again for each version the alias moves to;
//! - for a container-image function (`[build] package = "image"`, or a zip over
//!   Lambda's 250 MB unzipped limit): the ECR repository `aideploy/{app}-{stage}-{target}`
//!   (see `cloud::ecr`) holding the image, which runs Lambda's runtime interface client
//!   and the same adapter as the zip; the function takes it by digest, never by tag.
//!   Lambda cannot change a function's package type, so a switch between zip and image
//!   deletes and recreates the function (and with it its versions and alias);
//! - an HTTP API: `$default` route -> AWS_PROXY integration (payload 2.0) on the alias,
//!   stage `$default` with auto-deploy and throttling, and a `lambda:InvokeFunction`
//!   permission on the alias scoped to this API's ARN. The route is private (`AWS_IAM`:
//!   only SigV4-signed calls by an identity with `execute-api:Invoke`) unless the target
//!   says `public = true` (`NONE`).
//!
//! `build` works on this machine only (the zip, or the image); uploading the zip (inline
//! or through the account's artifact bucket) and pushing the image are steps of `apply`,
//! shown in the plan with their sizes. `observe` only reads; `plan` is pure; `apply` is
//! get -> create-or-update in dependency order, so a re-run after any failure converges.

mod api;
mod apply;
mod aws;
mod build;
mod change;
mod destroy;
mod invoke;
mod model;
mod ops;
mod plan;
#[cfg(test)]
mod plan_tests;
mod read;
mod upload;

use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use aws_sdk_lambda::error::ProvideErrorMetadata;
use serde_json::json;

use crate::engine::target::Built;
use crate::engine::{
    Capabilities, Cx, DefaultPackage, Deployed, Health, LineSink, LogQuery, Op, Outcome, Parts, Planned, Provider, Reporter, Target,
};
use crate::error::{Hinted, UsageError};
use crate::manifest::values::Arch as ManifestArch;
use crate::manifest::Kind;
pub use aws::Clients;
pub use build::{LambdaImage, Package, PushTo};
pub use change::{Step, ZipTo};
pub use model::*;

/// The lambda target, on the typed contract.
pub struct LambdaTarget;

pub use crate::cloud::aws::{TAG_APP, TAG_DIGEST, TAG_PARTS, TAG_STAGE, TAG_TARGET};
pub const ALIAS: &str = "live";
const POLICY_NAME: &str = "aideploy";
/// The function's environment variable naming the secrets' current versions (a digest
/// of version ids, not of values): a new secret value changes it, so the function gets
/// a new version and no warm instance keeps serving the old value.
pub const SECRETS_REV_ENV: &str = "AIDEPLOY_SECRETS_REV";
const PERMISSION_SID: &str = "aideploy-http-api";
/// Published versions kept for `rollback` (older ones are deleted after a deploy).
const KEEP_VERSIONS: usize = 5;
/// API Gateway HTTP APIs end every request at 30 s.
const API_GATEWAY_LIMIT: u32 = 30;

/// A published version of an image function says which image in its description
/// (an emulator's CodeSha256 for an image is not the image's digest).
const IMAGE_VERSION_PREFIX: &str = "aideploy image sha256:";
const PACKAGE_ZIP: &str = "Zip";
const PACKAGE_IMAGE: &str = "Image";

const PERMS_HINT: &str = "check that the credentials may manage Lambda, API Gateway, IAM roles and Secrets Manager in this region";

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

use crate::cloud::aws::owner_tags as tags;

fn ours(cx: &Cx, found: Option<&std::collections::HashMap<String, String>>) -> bool {
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

/// An AWS error as operation, code, message, request id and hint (`cloud::aws::sdk_error`).
fn failed<E: ProvideErrorMetadata + std::error::Error>(what: &str, e: E, hint: &str) -> anyhow::Error {
    crate::cloud::aws::sdk_error(what, &e, hint)
}

fn health_timeout(cx: &Cx) -> Duration {
    cx.target.health_timeout()
}

#[async_trait]
impl Target for LambdaTarget {
    type Artifact = Package;
    type Observed = Now;
    type Change = Step;

    fn kind(&self) -> Kind {
        Kind::Lambda
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: Provider::Aws,
            secret_store: true,
            logs: true,
            rollback: true,
            default_package: DefaultPackage::Zip,
            needs_registry: false,
            lease: true,
        }
    }

    fn check_url(&self, cx: &Cx, live: &crate::engine::Outcome) -> std::result::Result<String, String> {
        match (model::desired_access(cx), &live.url) {
            (model::Access::Public, Some(url)) => Ok(url.clone()),
            (model::Access::Public, None) => Err("the deploy made no HTTP API".into()),
            (model::Access::Private, _) => Err(format!(
                "the HTTP API is private (AWS_IAM: SigV4-signed calls only); set `public = true` in [targets.{}] to check it",
                cx.target.name
            )),
        }
    }

    async fn lease_store(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn crate::engine::lease::LeaseStore>>> {
        Ok(Some(crate::cloud::s3_lease::for_target(cx).await?))
    }

    async fn lease_record(&self, cx: &Cx) -> Result<Option<std::sync::Arc<dyn crate::engine::lease::LeaseStore>>> {
        crate::cloud::s3_lease::existing(cx).await
    }

    /// The stages with a lease record in the account's artifact bucket (`gc`).
    async fn stages(&self, cx: &Cx) -> Result<Vec<crate::engine::lease::StageRecord>> {
        crate::cloud::s3_lease::stages(cx).await
    }

    async fn secret_store(&self, cx: &Cx) -> Result<Box<dyn crate::secrets::SecretStore>> {
        Ok(Box::new(crate::secrets::aws::AwsStore::for_target(cx).await?))
    }

    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Built<Package>> {
        build::build(cx, r).await
    }

    /// The function's CloudWatch log group, `/aws/lambda/{function}` (every version).
    async fn logs(&self, cx: &Cx, _n: &Now, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
        let client = crate::cloud::aws_logs::client_for(cx).await?;
        let group = format!("/aws/lambda/{}", function_name(cx));
        crate::cloud::aws_logs::tail(cx, &client, &group, "Lambda", query, out).await
    }

    /// The HTTP API's `AWS/ApiGateway` metrics on its `$default` stage (every request
    /// that reached the API); without an API, the function's `AWS/Lambda` invocations.
    async fn metrics(&self, cx: &Cx, n: &Now, window: Duration) -> Result<crate::engine::Metrics> {
        use crate::cloud::aws_metrics::{self, Query};
        let client = aws_metrics::client_for(cx).await?;
        if let Some(api) = &n.api {
            let q = Query {
                namespace: "AWS/ApiGateway",
                dimensions: &[("ApiId", api.id.as_str()), ("Stage", "$default")],
                requests: "Count",
                errors: "5xx",
                latency: "Latency",
                latency_ms_per_unit: 1.0,
            };
            let m = aws_metrics::read(&client, &q, window).await?;
            return Ok(m.with_note("latency as API Gateway measures it: from request received to response sent"));
        }
        let function = function_name(cx);
        let q = Query {
            namespace: "AWS/Lambda",
            dimensions: &[("FunctionName", function.as_str())],
            requests: "Invocations",
            errors: "Errors",
            latency: "Duration",
            latency_ms_per_unit: 1.0,
        };
        let m = aws_metrics::read(&client, &q, window).await?;
        Ok(m.with_note("no HTTP API: function invocations; errors are failed invocations, latency the function's duration"))
    }

    async fn observe(&self, cx: &Cx) -> Result<Now> {
        let c = Clients::for_target(cx).await?;
        read::read(cx, &c).await
    }

    fn deployed(&self, cx: &Cx, n: &Now) -> Option<Deployed> {
        if n.nothing_deployed()
            && !n.repo.as_ref().is_some_and(|r| r.ours)
            && !n.secrets.values().any(|s| s.target.as_deref() == Some(&cx.target.name))
        {
            return None;
        }
        let live = n.alias.and_then(|v| n.version(v));
        let digest = live
            .map(|v| v.sha.clone())
            .or_else(|| n.function.as_ref().map(|f| f.sha.clone()))
            .map(|s| format!("sha256:{s}"))
            .unwrap_or_default();
        let mut details = serde_json::Map::new();
        details.insert("region".into(), json!(n.region));
        details.insert("function".into(), json!(n.function.as_ref().map(|_| function_name(cx))));
        details.insert("package".into(), json!(n.function.as_ref().map(|f| f.conf.package.to_lowercase())));
        if let Some(image) = n.function.as_ref().and_then(|f| f.image.clone()) {
            details.insert("image".into(), json!(image));
        }
        details.insert("version".into(), json!(n.alias));
        let previous = n.alias.and_then(|a| n.versions.iter().filter(|v| v.number < a).map(|v| v.number).max());
        if let Some(p) = previous {
            details.insert("previous".into(), json!(p));
        }
        details.insert("api".into(), json!(n.api.as_ref().map(|a| a.id.clone())));
        if let Some(route) = n.api.as_ref().and_then(|a| a.route.as_ref().map(|r| (a, r))) {
            let (api, route) = route;
            let access = match Access::of(&route.authorization) {
                Access::Public => "public: anyone may call it".to_string(),
                Access::Private => format!(
                    "private (AWS_IAM): sign calls with SigV4, e.g. awscurl --service execute-api --region {} {}{}; `public = true` opens it",
                    n.region,
                    url(&api.id, &n.region),
                    cx.loaded.manifest.app().health
                ),
            };
            details.insert("access".into(), json!(access));
        }
        if n.function.as_ref().is_some_and(|f| f.conf.snapstart) {
            details.insert("snapstart".into(), json!("on published versions"));
        }
        if let Some(w) = &n.warm {
            details.insert("warm_instances".into(), json!(w.words()));
        }
        details.insert("last_modified".into(), json!(n.function.as_ref().map(|f| f.last_modified.clone())));
        details.insert("secrets".into(), json!(n.secrets.keys().cloned().collect::<Vec<_>>().join(", ")));
        Some(Deployed {
            digest,
            url: n.api.as_ref().map(|a| url(&a.id, &n.region)),
            health: n.health,
            // The live version's publication; Lambda does not record who published it
            // (CloudTrail does).
            deployed_at: live.and_then(|v| crate::util::utc_time(&v.published)),
            deployed_by: None,
            details,
        })
    }

    fn plan(&self, cx: &Cx, n: &Now, artifact: &Built<Package>) -> Planned<Step> {
        plan::plan(cx, n, artifact)
    }

    async fn apply(&self, cx: &Cx, n: &Now, artifact: &Built<Package>, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
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

    async fn destroy(&self, cx: &Cx, _n: &Now, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        destroy::destroy(cx, plan, r).await
    }
}
