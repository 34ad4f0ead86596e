//! Building (and pushing) the app's OCI image: dependencies for the image's platform,
//! layers, and the registry the manifest or `AIDEPLOY_REGISTRY` names.

use std::sync::Arc;

use anyhow::Result;

use super::build::arch_for;
use crate::build::oci::blobs::BlobStore;
use crate::build::oci::{self, ImageSpec, LayerRole, Platform};
use crate::build::pydeps::{self, Arch, TargetPlatform};
use crate::build::registry::{Client, Options, Reference};
use crate::build::{python, source};
use crate::cloud::registry_logins::RegistryLogins;
use crate::engine::{Artifact, Layer, Reporter};
use crate::envvars;
use crate::error::UsageError;
use crate::manifest::{Loaded, Stage, Target};

/// The repository to push to: `$AIDEPLOY_REGISTRY`, else `[build] registry`.
pub fn push_repository(loaded: &Loaded) -> Result<Option<Reference>> {
    let named = std::env::var(envvars::AIDEPLOY_REGISTRY)
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| loaded.manifest.build.registry.as_ref().map(|r| r.get().to_string()));
    let Some(repo) = named else { return Ok(None) };
    let parsed = repo.parse::<crate::manifest::Repository>().map_err(|e| {
        let (msg, help) = e.split_once(crate::manifest::values::HELP_SEP).unwrap_or((&e, ""));
        UsageError::new(format!("{}: {msg}", envvars::AIDEPLOY_REGISTRY)).hint(help.to_string())
    });
    if std::env::var_os(envvars::AIDEPLOY_REGISTRY).is_some() {
        parsed?;
    }
    Ok(Some(Reference::parse(&repo)?))
}

pub async fn build(loaded: &Loaded, stage: &Stage, target: Option<&Target>, push: bool, r: &dyn Reporter) -> Result<Artifact> {
    let push_to = if push {
        Some(push_repository(loaded)?.ok_or_else(|| {
            UsageError::new("--push needs a registry to push to")
                .hint(format!("set `registry = \"ghcr.io/you/app\"` in [build], or {}=REGISTRY/REPOSITORY", envvars::AIDEPLOY_REGISTRY))
        })?)
    } else {
        None
    };
    build_to(loaded, stage, target, push_to, r).await
}

/// Builds the image and, with `push_to`, pushes it there (a target's own registry).
pub async fn build_to(loaded: &Loaded, stage: &Stage, target: Option<&Target>, push_to: Option<Reference>, r: &dyn Reporter) -> Result<Artifact> {
    let manifest = &loaded.manifest;
    let arch = arch_for(loaded, target);
    let platform = match arch {
        Arch::X86_64 => Platform::amd64(),
        Arch::Arm64 => Platform::arm64(),
    };
    r.step(&format!("installing the dependencies for {platform}"));
    let reqs = python::requirements(manifest, &loaded.dir)?;
    let deps = if reqs.lines.is_empty() {
        None
    } else {
        let target_platform = TargetPlatform::new(arch, manifest.app().runtime.version());
        Some(tokio::task::block_in_place(|| pydeps::install_for_target(&reqs, &target_platform, r))?)
    };
    r.done();
    r.step("building the image");
    let excludes: Vec<String> = manifest.build.exclude.iter().map(|e| e.get().clone()).collect();
    let sources = tokio::task::block_in_place(|| source::collect(&loaded.dir, &excludes))?;
    let base = manifest.build.base_image.as_ref().map(|b| b.get().to_string());
    let mut spec = ImageSpec::for_app(loaded, sources, deps.as_ref().map(|d| d.dir.clone()), base.as_deref(), platform)?;
    spec.deps_key = deps.as_ref().map(|d| d.key.clone());
    let logins = RegistryLogins::new(push_to.as_ref().map(|p| p.registry.clone()));
    let client = Client::new(Arc::new(logins), BlobStore::open_default()?, Options::default())?;
    let built = oci::build_image(&spec, &client, r).await?;
    r.done();
    let layers = built
        .layers
        .iter()
        .map(|l| Layer { role: role_name(l.role).into(), digest: l.digest.clone(), bytes: l.size })
        .collect();
    let mut artifact = Artifact::plain("image", built.digest.clone(), built.bytes(), Arc::new(built.clone()));
    artifact.layers = layers;
    if let Some(repo) = push_to {
        r.step(&format!("pushing to {}", repo.name()));
        let tag = format!("{stage}-{}", &built.digest.trim_start_matches("sha256:")[..12]);
        let dest = Reference::parse(&format!("{}:{tag}", repo.name()))?;
        let report = client.push(&built, &dest, r).await?;
        r.done();
        artifact.reference = Some(report.reference);
        artifact.uploaded_bytes = report.uploaded_bytes;
    }
    Ok(artifact)
}

fn role_name(role: LayerRole) -> &'static str {
    match role {
        LayerRole::Base => "base",
        LayerRole::Deps => "deps",
        LayerRole::Model => "model",
        LayerRole::App => "app",
    }
}
