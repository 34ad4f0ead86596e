//! The AWS clients the lambda target uses, built once per run from aws-config, each with
//! the shared call log (`crate::cloud::aws::CallLog`).

use anyhow::Result;
use aws_config::SdkConfig;

use crate::cloud::aws::DataPlane;
use crate::engine::Cx;

pub use crate::cloud::aws::describe;

/// One client per service, sharing the configuration.
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
    /// What the endpoint serves beyond the API (functions run, ECR takes pushes).
    pub plane: DataPlane,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Clients {
        Clients {
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
            lambda: crate::aws_client!(aws_sdk_lambda, config),
            apigw: crate::aws_client!(aws_sdk_apigatewayv2, config),
            iam: crate::aws_client!(aws_sdk_iam, config),
            secrets: crate::aws_client!(aws_sdk_secretsmanager, config),
            ecr: crate::aws_client!(aws_sdk_ecr, config),
            s3: crate::cloud::aws_bucket::client(config),
            plane: DataPlane::of("LAMBDA"),
        }
    }

    /// Clients for the target's region (`region` setting, else the AWS chain's).
    pub async fn for_target(cx: &Cx) -> Result<Clients> {
        let region = cx.target.settings.region.as_ref().map(|r| r.get().as_str().to_string());
        let config = crate::cloud::aws::load(region.as_deref(), crate::cloud::aws::chosen_profile()).await?;
        Ok(Clients::new(&config))
    }
}
