//! The AWS clients the lambda target uses, built once per run from aws-config, each
//! with an interceptor that logs every API call (`-vv`, or `AIDEPLOY_LOG=aideploy=debug`)
//! and counts reads and writes, so a deploy can say how many mutating calls it made.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use anyhow::Result;
use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_sdk_lambda::config::{ConfigBag, RuntimeComponents};

use crate::engine::Cx;

/// Reads and writes made through these clients.
#[derive(Debug, Default)]
pub struct Calls {
    pub reads: AtomicU32,
    pub writes: AtomicU32,
}

impl Calls {
    pub fn counts(&self) -> (u32, u32) {
        (self.reads.load(Ordering::Relaxed), self.writes.load(Ordering::Relaxed))
    }
}

/// A call is a read when its operation's name says so.
pub fn is_read(operation: &str) -> bool {
    ["Get", "List", "Describe"].iter().any(|p| operation.starts_with(p))
}

#[derive(Debug, Clone)]
struct CallLog(Arc<Calls>);

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "aideploy-call-log"
    }

    fn read_before_serialization(&self, _ctx: &BeforeSerializationInterceptorContextRef<'_>, _rc: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            let read = is_read(m.name());
            let counter = if read { &self.0.reads } else { &self.0.writes };
            counter.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(target: "aideploy::aws", "aws call {}.{} ({})", m.service(), m.name(), if read { "read" } else { "write" });
        }
        Ok(())
    }
}

/// One client per service, sharing the configuration and the call log.
#[derive(Clone)]
pub struct Clients {
    pub region: String,
    pub lambda: aws_sdk_lambda::Client,
    pub apigw: aws_sdk_apigatewayv2::Client,
    pub iam: aws_sdk_iam::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub s3: aws_sdk_s3::Client,
    /// For a container-image function's repository.
    pub ecr: aws_sdk_ecr::Client,
    pub calls: Arc<Calls>,
    /// The endpoint is a loopback emulator (moto): Lambda cannot run code there.
    pub emulated: bool,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Clients {
        let calls = Arc::new(Calls::default());
        let log = CallLog(calls.clone());
        let emulated = endpoint_is_loopback();
        Clients {
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
            lambda: aws_sdk_lambda::Client::from_conf(aws_sdk_lambda::config::Builder::from(config).interceptor(log.clone()).build()),
            apigw: aws_sdk_apigatewayv2::Client::from_conf(aws_sdk_apigatewayv2::config::Builder::from(config).interceptor(log.clone()).build()),
            iam: aws_sdk_iam::Client::from_conf(aws_sdk_iam::config::Builder::from(config).interceptor(log.clone()).build()),
            secrets: aws_sdk_secretsmanager::Client::from_conf(aws_sdk_secretsmanager::config::Builder::from(config).interceptor(log.clone()).build()),
            ecr: aws_sdk_ecr::Client::from_conf(aws_sdk_ecr::config::Builder::from(config).interceptor(log.clone()).build()),
            // An emulator on loopback has no per-bucket host names.
            s3: aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(emulated).interceptor(log).build()),
            calls,
            emulated,
        }
    }

    /// Clients for the target's region (`region` setting, else the AWS chain's).
    pub async fn for_target(cx: &Cx) -> Result<Clients> {
        let region = cx.target.settings.region.as_ref().map(|r| r.get().as_str().to_string());
        let config = crate::cloud::aws::load(region.as_deref(), crate::cloud::aws::chosen_profile()).await?;
        Ok(Clients::new(&config))
    }
}

/// `AWS_ENDPOINT_URL` (or Lambda's own override) points at this machine.
pub fn endpoint_is_loopback() -> bool {
    ["AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL"].iter().find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty())).is_some_and(|url| {
        let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(&url);
        let host = rest.split('/').next().unwrap_or("");
        crate::cloud::is_loopback_host(host)
    })
}

/// The message of an SDK error, with its cause chain.
pub fn describe<E: std::error::Error>(e: &E) -> String {
    aws_sdk_lambda::error::DisplayErrorContext(e).to_string()
}
