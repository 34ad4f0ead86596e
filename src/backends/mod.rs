//! One module per target kind, and the registry that maps a kind to its backend.

pub mod appservice;
pub mod budget;
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
    // Each one keeps the cloud's budget alert of `[cost] budget_usd` too (budget.rs).
    use budget::WithBudget as B;
    match kind {
        Kind::Local => Box::new(B(local::LocalTarget)),
        Kind::Lambda => Box::new(B(lambda::LambdaTarget)),
        Kind::Cloudrun => Box::new(B(cloudrun::CloudRunBackend)),
        Kind::Appservice => Box::new(B(appservice::AppServiceBackend)),
        Kind::Ec2 => Box::new(B(ec2::Ec2Backend)),
        Kind::Sagemaker => Box::new(B(sagemaker::SageMakerTarget)),
        Kind::Railway => Box::new(B(railway::RailwayTarget)),
        Kind::Render => Box::new(B(render::RenderTarget)),
    }
}
