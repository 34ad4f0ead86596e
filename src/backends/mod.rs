//! One module per target kind, and the registry that maps a kind to its backend.

pub mod lambda;
pub mod local;
pub mod render;

use crate::engine::Backend;
use crate::error::UsageError;
use crate::manifest::Kind;

/// The backend for `kind`, or a plain statement that it is not built yet.
pub fn for_kind(kind: Kind) -> Result<Box<dyn Backend>, UsageError> {
    match kind {
        Kind::Local => Ok(Box::new(local::LocalBackend)),
        Kind::Lambda => Ok(Box::new(lambda::LambdaBackend)),
        Kind::Render => Ok(Box::new(render::RenderBackend)),
        other => Err(UsageError::new(format!(
            "the `{other}` target is not supported yet by aideploy {}",
            env!("CARGO_PKG_VERSION")
        ))
        .hint(format!("targets that deploy today: {}; the manifest may already declare `{other}` for later", supported().join(", ")))),
    }
}

pub fn supported() -> Vec<&'static str> {
    Kind::ALL.iter().filter(|k| matches!(k, Kind::Local | Kind::Lambda | Kind::Render)).map(|k| k.as_str()).collect()
}
