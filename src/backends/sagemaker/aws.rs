//! The AWS clients the sagemaker target uses, built once per run from aws-config, each
//! with the shared call log (`crate::cloud::aws::CallLog`).

use anyhow::Result;
use aws_config::SdkConfig;

use crate::cloud::aws::CallLog;
use crate::engine::Cx;

pub use crate::cloud::aws::describe;

#[derive(Clone)]
pub struct Clients {
    pub region: String,
    pub sagemaker: aws_sdk_sagemaker::Client,
    pub iam: aws_sdk_iam::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub s3: aws_sdk_s3::Client,
    /// The endpoint is a loopback emulator (moto): it runs no container.
    pub emulated: bool,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Clients {
        let emulated = endpoint_is_loopback();
        Clients {
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
            sagemaker: aws_sdk_sagemaker::Client::from_conf(
                aws_sdk_sagemaker::config::Builder::from(config)
                    .interceptor(CallLog)
                    .retry_classifier(crate::cloud::aws::RetryStatus)
                    .build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(config).interceptor(CallLog).retry_classifier(crate::cloud::aws::RetryStatus).build(),
            ),
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(config)
                    .interceptor(CallLog)
                    .retry_classifier(crate::cloud::aws::RetryStatus)
                    .build(),
            ),
            // An emulator on loopback has no per-bucket host names.
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(config)
                    .force_path_style(emulated)
                    .interceptor(CallLog)
                    .retry_classifier(crate::cloud::aws::RetryStatus)
                    .build(),
            ),
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

/// `AWS_ENDPOINT_URL` (or SageMaker's own override) points at this machine.
pub fn endpoint_is_loopback() -> bool {
    crate::cloud::aws::endpoint_is_loopback("SAGEMAKER")
}
