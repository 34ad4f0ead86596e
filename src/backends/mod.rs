//! One module per target kind, and the registry that maps a kind to its backend.

pub mod appservice;
pub mod cloudrun;
pub mod ec2;
pub mod lambda;
pub mod local;
pub mod paas;
pub mod railway;
pub mod render;
pub mod sagemaker;

use crate::engine::Backend;
use crate::manifest::Kind;

/// The backend for `kind`.
pub fn for_kind(kind: Kind) -> Box<dyn Backend> {
    match kind {
        Kind::Local => Box::new(local::LocalTarget),
        Kind::Lambda => Box::new(lambda::LambdaTarget),
        Kind::Cloudrun => Box::new(cloudrun::CloudRunBackend),
        Kind::Appservice => Box::new(appservice::AppServiceBackend),
        Kind::Ec2 => Box::new(ec2::Ec2Backend),
        Kind::Sagemaker => Box::new(sagemaker::SageMakerTarget),
        Kind::Railway => Box::new(railway::RailwayTarget),
        Kind::Render => Box::new(render::RenderTarget),
    }
}
