//! The AWS clients the sagemaker target uses, built once per run from aws-config, each
//! with the shared call log and retry classifier (`crate::cloud::aws`); S3 is the shared
//! artifact bucket's client (`crate::cloud::aws_bucket::client`).

use anyhow::Result;
use aws_config::SdkConfig;

use crate::engine::Cx;

pub use crate::cloud::aws::describe;

#[derive(Clone)]
pub struct Clients {
    pub region: String,
    pub sagemaker: aws_sdk_sagemaker::Client,
    pub iam: aws_sdk_iam::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
    /// What the endpoint serves beyond the API (model containers run).
    pub plane: crate::cloud::aws::DataPlane,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Clients {
        Clients {
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
            sagemaker: crate::aws_client!(aws_sdk_sagemaker, config),
            iam: crate::aws_client!(aws_sdk_iam, config),
            secrets: crate::aws_client!(aws_sdk_secretsmanager, config),
            s3: crate::cloud::aws_bucket::client(config),
            sts: crate::aws_client!(aws_sdk_sts, config),
            plane: crate::cloud::aws::DataPlane::of("SAGEMAKER"),
        }
    }

    /// Clients for the target's region (`region` setting, else the AWS chain's).
    pub async fn for_target(cx: &Cx) -> Result<Clients> {
        let region = cx.target.settings.region.as_ref().map(|r| r.get().as_str().to_string());
        let config = crate::cloud::aws::load(region.as_deref(), crate::cloud::aws::chosen_profile()).await?;
        Ok(Clients::new(&config))
    }

    /// The account the credentials belong to (STS GetCallerIdentity: a read).
    pub async fn account(&self) -> Result<String> {
        let who = self.sts.get_caller_identity().send().await.map_err(|e| {
            crate::cloud::aws::sdk_error(
                "STS GetCallerIdentity",
                &e,
                "check the AWS credentials: `aws sts get-caller-identity` should answer",
            )
        })?;
        Ok(who.account().unwrap_or_default().to_string())
    }
}
