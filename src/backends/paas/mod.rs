//! What the image PaaS pair (`railway`, `render`) share: the image built here and
//! pushed from `apply` (image.rs), the only credential the platform pulls it with
//! (pull.rs), the variables
//! a service should have and their diff (vars.rs), the deploy wait over a per-platform
//! status mapping (deploy.rs), the mark that says a service is aideploy's (owner.rs), the
//! look-back window of `logs` (logs.rs), and `aideploy secrets` over the service's
//! variables (secrets.rs).
//! Each target keeps only its own API calls.
//!
//! A folder under backends/ rather than cloud/: cloud/ sets up one provider's clients;
//! this is deploy logic two targets share, and it names no provider.

pub mod deploy;
pub mod image;
pub mod logs;
pub mod owner;
pub mod pull;
pub mod secrets;
pub mod vars;

/// The first 12 hex digits of a digest, for plan rows.
pub fn short(d: &str) -> &str {
    let d = d.trim_start_matches("sha256:");
    &d[..12.min(d.len())]
}

/// A `Cx` for unit tests, from a manifest's text and a target name.
#[cfg(test)]
pub mod testing {
    pub fn cx(manifest: &str, target: &str) -> crate::engine::Cx {
        crate::engine::testing::cx(manifest, target, &[])
    }
}
