//! The AWS clients the ec2 target uses, built once per run from aws-config, each with an
//! interceptor that logs every API call (`-vv`) as a read or a write, so an unchanged
//! redeploy can be shown to make only reads.

use anyhow::Result;
use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_sdk_ec2::config::{ConfigBag, RuntimeComponents};

use crate::backends::lambda::is_read;
use crate::engine::Cx;

#[derive(Debug, Clone)]
struct CallLog;

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "aideploy-ec2-call-log"
    }

    fn read_before_serialization(&self, _ctx: &BeforeSerializationInterceptorContextRef<'_>, _rc: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            let read = is_read(m.name());
            tracing::debug!(target: "aideploy::aws", "aws call {}.{} ({})", m.service(), m.name(), if read { "read" } else { "write" });
        }
        Ok(())
    }
}

/// One client per service, sharing the configuration.
#[derive(Clone)]
pub struct Clients {
    pub region: String,
    pub ec2: aws_sdk_ec2::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub iam: aws_sdk_iam::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// The endpoint is a loopback emulator (moto): it runs no instance and serves no
    /// registry.
    pub emulated: bool,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Clients {
        Clients {
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
            ec2: aws_sdk_ec2::Client::from_conf(aws_sdk_ec2::config::Builder::from(config).interceptor(CallLog).build()),
            ssm: aws_sdk_ssm::Client::from_conf(aws_sdk_ssm::config::Builder::from(config).interceptor(CallLog).build()),
            iam: aws_sdk_iam::Client::from_conf(aws_sdk_iam::config::Builder::from(config).interceptor(CallLog).build()),
            ecr: aws_sdk_ecr::Client::from_conf(aws_sdk_ecr::config::Builder::from(config).interceptor(CallLog).build()),
            secrets: aws_sdk_secretsmanager::Client::from_conf(aws_sdk_secretsmanager::config::Builder::from(config).interceptor(CallLog).build()),
            emulated: endpoint_is_loopback(),
        }
    }

    /// Clients for the target's region (`region` setting or --region, else the chain's).
    pub async fn for_target(cx: &Cx) -> Result<Clients> {
        let region = cx.target.settings.region.as_ref().map(|r| r.get().as_str().to_string());
        let config = crate::cloud::aws::load(region.as_deref(), crate::cloud::aws::chosen_profile()).await?;
        Ok(Clients::new(&config))
    }
}

/// `AWS_ENDPOINT_URL` (or EC2's own override) points at this machine.
pub fn endpoint_is_loopback() -> bool {
    ["AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL"].iter().find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty())).is_some_and(|url| {
        let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(&url);
        crate::cloud::is_loopback_host(rest.split('/').next().unwrap_or(""))
    })
}

/// The message of an SDK error, with its cause chain.
pub fn describe<E: std::error::Error>(e: &E) -> String {
    aws_sdk_ec2::error::DisplayErrorContext(e).to_string()
}
