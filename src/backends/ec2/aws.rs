//! The AWS clients the ec2 target uses, built once per run from aws-config, each with the
//! shared call log (`crate::cloud::aws::CallLog`).

use anyhow::Result;
use aws_config::SdkConfig;

use crate::engine::Cx;

pub use crate::cloud::aws::describe;

/// One client per service, sharing the configuration.
#[derive(Clone)]
pub struct Clients {
    pub region: String,
    pub ec2: aws_sdk_ec2::Client,
    pub iam: aws_sdk_iam::Client,
    pub ecr: aws_sdk_ecr::Client,
    /// The load balancer (`load_balancer = true`).
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// The container's log group.
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// What the endpoint serves beyond the API (instances run, ECR takes pushes).
    pub plane: crate::cloud::aws::DataPlane,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Clients {
        Clients {
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
            ec2: crate::aws_client!(aws_sdk_ec2, config),
            iam: crate::aws_client!(aws_sdk_iam, config),
            ecr: crate::aws_client!(aws_sdk_ecr, config),
            elb: crate::aws_client!(aws_sdk_elasticloadbalancingv2, config),
            secrets: crate::aws_client!(aws_sdk_secretsmanager, config),
            logs: crate::aws_client!(aws_sdk_cloudwatchlogs, config),
            plane: crate::cloud::aws::DataPlane::of("EC2"),
        }
    }

    /// Clients for the target's region (`region` setting or --region, else the chain's).
    pub async fn for_target(cx: &Cx) -> Result<Clients> {
        let region = cx.target.settings.region.as_ref().map(|r| r.get().as_str().to_string());
        let config = crate::cloud::aws::load(region.as_deref(), crate::cloud::aws::chosen_profile()).await?;
        Ok(Clients::new(&config))
    }
}
