//! The `sagemaker` target: a model directory (or the app's own image) as a SageMaker
//! real-time endpoint.
//!
//! Resources, all named from `{app}-{stage}` (plus `-{target}` for a target whose name
//! is not `sagemaker`), tagged `aideploy:app`, `aideploy:stage`, `aideploy:target` (and
//! `aideploy:digest`), so a fresh clone finds them; a same-named model, endpoint config,
//! endpoint or role without those tags is refused, never used, changed or deleted:
//!
//! - the model archive (`model.tar.gz`, built from `model_dir`) in the account's one
//!   artifact bucket for the region (`cloud::aws_bucket`), stored once per digest (see
//!   `upload`); the bucket also keeps this target's deploy lease (`cloud::s3_lease`);
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
//! `rollback` updates the endpoint to the endpoint config created before the live one;
//! `rollback --to` to any kept config (`history` lists them).
//! Files: `observe` (reads), `plan` (pure, `change::Step`), `apply`, `endpoint`
//! (SageMaker calls), `destroy`, `spec` (what the manifest asks for), `upload`.

mod apply;
mod aws;
mod change;
mod destroy;
mod endpoint;
mod image;
mod observe;
mod plan;
#[cfg(test)]
mod plan_tests;
mod spec;
pub mod upload;

use std::collections::{BTreeMap, HashMap};
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
use crate::cloud::aws::is_ours as ours;
use crate::cloud::aws::TAG_DIGEST;
use crate::cloud::aws_bucket::{Seen, Setting};
use crate::engine::{
    Action, ArtifactInfo, Built, Capabilities, Cx, DefaultPackage, Deployed, Health, LineSink, LogQuery, Op, Outcome, Parts, Planned,
    Provider, Reporter, Target,
};
use crate::error::{Hinted, UsageError};
use crate::manifest::Kind;
use crate::secrets::aws::{self as store, arns_of, known_refs, secret_refs, SecretRef, Stored};
pub use aws::Clients;
pub use change::Step;
use endpoint::*;
use observe::*;
use plan::*;
use spec::*;

pub struct SageMakerTarget;

const POLICY_NAME: &str = "aideploy";
const VARIANT: &str = "AllTraffic";
/// Releases (model + endpoint config) kept for `rollback`.
const KEEP_RELEASES: usize = 5;
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

/// One role per region (its permissions name regional ARNs); a name over IAM's limit
/// is cut with a hash of the whole.
fn role_name(cx: &Cx, region: &str) -> String {
    crate::cloud::aws::role_name(&format!("aideploy-{}-{region}", endpoint_name(cx)))
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

fn sm_tags(cx: &Cx, digest: Option<&str>) -> Vec<aws_sdk_sagemaker::types::Tag> {
    let mut all = crate::cloud::aws::owner_tags(cx);
    if let Some(d) = digest {
        all.push((TAG_DIGEST, d.to_string()));
    }
    all.into_iter().map(|(k, v)| aws_sdk_sagemaker::types::Tag::builder().key(k).value(v).build()).collect()
}

fn failed(what: &str, e: impl std::error::Error, hint: &str) -> anyhow::Error {
    Hinted::new(format!("{what} failed: {}", aws::describe(&e)), hint).into()
}

/// The archive's sha256, hex.
fn art_sha(a: &ModelArchive) -> String {
    a.digest.trim_start_matches("sha256:").to_string()
}

/// What the build produced, on this machine: the archive, and the image the model runs
/// when the manifest names one.
#[derive(Debug, Clone)]
pub struct SmArtifact {
    pub archive: Option<ModelArchive>,
    pub image: Option<String>,
}

impl SmArtifact {
    fn sha256(&self) -> String {
        match &self.archive {
            Some(a) => art_sha(a),
            None => hex::encode(Sha256::digest(self.image.clone().unwrap_or_default().as_bytes())),
        }
    }
}

/// The model archive from `model_dir` (cached per endpoint), and the image.
fn build(cx: &Cx, r: &dyn Reporter) -> Result<Built<SmArtifact>> {
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
    let data = SmArtifact { archive, image };
    let digest = format!("sha256:{}", data.sha256());
    let mut info = match &data.archive {
        Some(a) => {
            let mut info = ArtifactInfo::plain("model-archive", digest, a.bytes);
            info.path = Some(a.path.clone());
            info
        }
        None => ArtifactInfo::plain("image", digest, 0),
    };
    info.reference = data.image.clone();
    Ok(Built { info, data })
}

/// What `status` shows.
fn deployed(cx: &Cx, n: &Now) -> Option<Deployed> {
    if !n.anything(cx) {
        return None;
    }
    let ep = endpoint_name(cx);
    let url = n.endpoint.as_ref().map(|_| invocation_url(&n.region, &ep));
    let health = match n.endpoint.as_ref().map(|e| e.status.as_str()) {
        Some("InService") if n.runs_workloads => Health::Passed,
        Some("Failed") | Some("OutOfService") | Some("UpdateRollbackFailed") => Health::Failed,
        _ => Health::Skipped,
    };
    let digest = n.live.as_ref().and_then(|l| l.digest.clone()).unwrap_or_default();
    let mut details = serde_json::Map::new();
    details.insert("region".into(), json!(n.region));
    details.insert("endpoint".into(), json!(n.endpoint.as_ref().map(|_| ep.clone())));
    details.insert("status".into(), json!(n.endpoint.as_ref().map(|e| e.status.clone())));
    details.insert("config".into(), json!(n.endpoint.as_ref().map(|e| e.config.clone())));
    if let Some(why) = n.endpoint.as_ref().and_then(|e| e.failure.clone()) {
        details.insert("last_failure".into(), json!(why));
    }
    if let Some(v) = n.live.as_ref().and_then(|l| l.variant.as_ref()) {
        details.insert("instances".into(), json!(v.describe()));
    }
    if let Some(m) = n.live.as_ref().and_then(|l| l.model.as_ref()) {
        details.insert("image".into(), json!(m.image));
        details.insert("model_data".into(), json!(m.model_data_url));
    }
    if let Some(p) = n.endpoint.as_ref().and_then(|e| n.previous(&e.config)) {
        details.insert("previous".into(), json!(p));
    }
    details.insert("releases".into(), json!(n.configs.len()));
    details.insert("secrets".into(), json!(n.secrets.keys().cloned().collect::<Vec<_>>().join(", ")));
    Some(Deployed {
        digest,
        url,
        health,
        // The endpoint's last change: the update that put the live config in place.
        deployed_at: n.endpoint.as_ref().and_then(|e| e.changed).map(|t| crate::util::iso8601(t.max(0) as u64)),
        deployed_by: None,
        details,
    })
}

#[async_trait]
impl Target for SageMakerTarget {
    type Artifact = SmArtifact;
    type Observed = Now;
    type Change = Step;

    fn kind(&self) -> Kind {
        Kind::Sagemaker
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: Provider::Aws,
            secret_store: true,
            logs: true,
            rollback: true,
            default_package: DefaultPackage::ModelArchive,
            needs_registry: false,
            lease: true,
        }
    }

    fn check_url(&self, _cx: &Cx, _live: &Outcome) -> std::result::Result<String, String> {
        Err("a SageMaker endpoint takes SigV4-signed InvokeEndpoint calls only, not plain HTTP requests".into())
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

    async fn build(&self, cx: &Cx, r: &dyn Reporter) -> Result<Built<SmArtifact>> {
        build(cx, r)
    }

    /// The endpoint's CloudWatch log group, `/aws/sagemaker/Endpoints/{endpoint}` (one
    /// stream per variant and instance).
    async fn logs(&self, cx: &Cx, _n: &Now, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
        let client = crate::cloud::aws_logs::client_for(cx).await?;
        let group = format!("/aws/sagemaker/Endpoints/{}", endpoint_name(cx));
        crate::cloud::aws_logs::tail(cx, &client, &group, "SageMaker", query, out).await
    }

    /// The endpoint variant's `AWS/SageMaker` invocation metrics.
    async fn metrics(&self, cx: &Cx, n: &Now, window: Duration) -> Result<crate::engine::Metrics> {
        use crate::cloud::aws_metrics::{self, Query};
        if n.endpoint.is_none() {
            return Ok(crate::engine::Metrics::not_available("no endpoint yet"));
        }
        let client = aws_metrics::client_for(cx).await?;
        let endpoint = endpoint_name(cx);
        let q = Query {
            namespace: "AWS/SageMaker",
            dimensions: &[("EndpointName", endpoint.as_str()), ("VariantName", VARIANT)],
            requests: "Invocations",
            errors: "Invocation5XXErrors",
            latency: "ModelLatency",
            latency_ms_per_unit: 0.001,
        };
        let m = aws_metrics::read(&client, &q, window).await?;
        Ok(m.with_note("latency is ModelLatency: the model container's time, without SageMaker's overhead"))
    }

    async fn observe(&self, cx: &Cx) -> Result<Now> {
        check_settings(cx)?;
        let c = Clients::for_target(cx).await?;
        observe::read(cx, &c).await
    }

    fn deployed(&self, cx: &Cx, n: &Now) -> Option<Deployed> {
        deployed(cx, n)
    }

    fn plan(&self, cx: &Cx, n: &Now, artifact: &Built<SmArtifact>) -> Planned<Step> {
        plan::plan(cx, n, artifact)
    }

    async fn apply(&self, cx: &Cx, n: &Now, artifact: &Built<SmArtifact>, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        apply::apply(cx, n, artifact, plan, r).await
    }

    fn plan_rollback(&self, cx: &Cx, n: &Now) -> Result<Planned<Step>> {
        plan::plan_rollback(cx, n)
    }

    async fn rollback(&self, cx: &Cx, n: &Now, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
        apply::rollback(cx, n, plan, r).await
    }

    fn releases(&self, _cx: &Cx, n: &Now) -> Vec<crate::engine::Kept> {
        n.releases()
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
    }
}
