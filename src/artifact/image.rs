//! Building (and pushing) the app's OCI image: dependencies for the image's platform,
//! layers, and the registry the manifest or `AIDEPLOY_REGISTRY` names.

use std::sync::Arc;

use anyhow::{Context, Result};

use crate::artifact::oci::blobs::BlobStore;
use crate::artifact::oci::{self, Entrypoint, ImageSpec, LayerRole, Platform};
use crate::artifact::pydeps::{self, Arch, TargetPlatform};
use crate::artifact::registry::{Client, Options, Reference};
use crate::artifact::{python, source};
use crate::cloud::registry_logins::RegistryLogins;
use crate::engine::{ArtifactInfo, Layer, Reporter};
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

/// Builds the image for `aideploy build`: pushed with `push`, written as a `docker load`
/// archive to `output` when given.
pub async fn build(
    loaded: &Loaded,
    stage: &Stage,
    target: Option<&Target>,
    push: bool,
    output: Option<&std::path::Path>,
    r: &dyn Reporter,
) -> Result<ArtifactInfo> {
    let push_to = if push {
        Some(push_repository(loaded)?.ok_or_else(|| {
            UsageError::new("--push needs a registry to push to")
                .hint(format!("set `registry = \"ghcr.io/you/app\"` in [build], or {}=REGISTRY/REPOSITORY", envvars::AIDEPLOY_REGISTRY))
        })?)
    } else {
        None
    };
    // A lambda target's image is a Lambda function's (the runtime interface client).
    let flavor = if target.is_some_and(|t| t.kind == crate::manifest::Kind::Lambda) { Flavor::Lambda } else { Flavor::Server };
    let local = build_local(loaded, target, flavor, r).await?;
    let mut artifact = ArtifactInfo::plain("image", local.image.digest.clone(), local.image.bytes());
    artifact.inputs = local.inputs.clone();
    artifact.layers = local.layers.clone();
    if let Some(out) = output {
        let tag = format!("aideploy/{}:{stage}", loaded.manifest.app().name.as_str());
        r.step(&format!("writing {} (tagged {tag})", out.display()));
        let client = Client::new(Arc::new(RegistryLogins::new(None)), BlobStore::open_default()?, Options::default())?;
        crate::artifact::oci::export::write_docker_archive(&local.image, &client, &tag, out)
            .await
            .with_context(|| format!("cannot write the image to {}", out.display()))?;
        r.done();
        artifact.path = Some(out.to_path_buf());
    }
    if let Some(repo) = push_to {
        let (reference, uploaded) = push_with_report(&local.image, &repo, stage, r).await?;
        artifact.reference = Some(reference);
        artifact.uploaded_bytes = uploaded;
    }
    Ok(artifact)
}

async fn push_with_report(built: &oci::BuiltImage, repo: &Reference, stage: &Stage, r: &dyn Reporter) -> Result<(String, u64)> {
    r.step(&format!("pushing to {}", repo.name()));
    let pushed = push_built(built, repo, stage, r).await?;
    r.done();
    Ok(pushed)
}

/// Pushes an image built earlier (its blobs are in the local store) to `repo`, tagged
/// `{stage}-{digest prefix}`. Returns the pushed reference and the bytes uploaded.
pub async fn push_built(built: &oci::BuiltImage, repo: &Reference, stage: &Stage, r: &dyn Reporter) -> Result<(String, u64)> {
    let logins = RegistryLogins::new(Some(repo.registry.clone()));
    let client = Client::new(Arc::new(logins), BlobStore::open_default()?, Options::default())?;
    let tag = format!("{stage}-{}", &built.digest.trim_start_matches("sha256:")[..12]);
    let dest = Reference::parse(&format!("{}:{tag}", repo.name()))?;
    let report = client.push(built, &dest, r).await?;
    Ok((report.reference, report.uploaded_bytes))
}

/// The platform an artifact is built for: the target's `arch`, else `[build] platform`.
pub fn arch_for(loaded: &Loaded, target: Option<&Target>) -> Arch {
    let from_target = target.and_then(|t| t.settings.arch.as_ref()).map(|a| *a.get());
    let from_build = loaded.manifest.build.platform.as_ref().map(|p| p.get().arch());
    match from_target.or(from_build) {
        Some(crate::manifest::Arch::Arm64) => Arch::Arm64,
        _ => Arch::X86_64,
    }
}

/// What the image's container runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// The app as a server on its port: uvicorn for `asgi`, else the `command`.
    Server,
    /// An ASGI app as an AWS Lambda container-image function: Lambda's runtime
    /// interface client (`awslambdaric`, added to the deps) loads aideploy's adapter,
    /// the same one the zip carries, which runs the app for each API Gateway event.
    Lambda,
}

/// Where a Lambda image keeps aideploy's adapter (on PYTHONPATH; the app stays in /app).
pub const LAMBDA_ADAPTER_DIR: &str = "/opt/aideploy/lambda";
/// The requirement a Lambda image adds when the app's list lacks it.
pub const LAMBDA_RIC: &str = "awslambdaric";

/// An image built on this machine (its blobs in the local store), not pushed anywhere.
#[derive(Debug, Clone)]
pub struct LocalImage {
    pub image: oci::BuiltImage,
    /// Its layers, as reports show them.
    pub layers: Vec<Layer>,
    /// Its code and dependencies, for plans (see [`crate::engine::Parts`]).
    pub inputs: crate::engine::Inputs,
}

/// Builds the image locally, without pushing it: [`push_built`] pushes it later.
pub async fn build_local(loaded: &Loaded, target: Option<&Target>, flavor: Flavor, r: &dyn Reporter) -> Result<LocalImage> {
    let manifest = &loaded.manifest;
    let arch = arch_for(loaded, target);
    let platform = match arch {
        Arch::X86_64 => Platform::amd64(),
        Arch::Arm64 => Platform::arm64(),
    };
    r.step(&format!("installing the dependencies for {platform}"));
    let mut reqs = python::requirements(manifest, &loaded.dir)?;
    if flavor == Flavor::Lambda {
        reqs.add_extra(LAMBDA_RIC);
        // The adapter reads secrets with boto3, which Lambda's own Python runtime ships
        // and an image does not.
        if !manifest.secrets.is_empty() {
            reqs.add_extra("boto3");
        }
    }
    let target_platform = TargetPlatform::new(arch, manifest.app().runtime.version());
    // As in a zip: a uv project's lock when `[app] requirements` is not set, unless the
    // image needs a package the lock cannot add (uvicorn for an ASGI app whose project
    // lacks it, Lambda's runtime client): then the project's declared dependencies.
    let locked = manifest.app().requirements.is_none() && pydeps::has_uv_lock(&loaded.dir) && reqs.extra.is_empty();
    let deps = if locked {
        Some(tokio::task::block_in_place(|| pydeps::install_locked_for_target(&loaded.dir, &target_platform, r))?)
    } else if reqs.lines.is_empty() {
        None
    } else {
        Some(tokio::task::block_in_place(|| pydeps::install_for_target(&reqs, &target_platform, r))?)
    };
    r.done();
    r.step("building the image");
    let excludes: Vec<String> = manifest.build.exclude.iter().map(|e| e.get().clone()).collect();
    let sources = tokio::task::block_in_place(|| source::collect(&loaded.dir, &excludes))?;
    let inputs = crate::engine::Inputs {
        code: sources.code_digest(&manifest_rel(loaded)),
        dependencies: deps.as_ref().map(|d| d.key.clone()).unwrap_or_else(|| "none".into()),
    };
    let base = manifest.build.base_image.as_ref().map(|b| b.get().to_string());
    let mut spec = ImageSpec::for_app(loaded, sources, deps.as_ref().map(|d| d.dir.clone()), base.as_deref(), platform)?;
    spec.deps_key = deps.as_ref().map(|d| d.key.clone());
    spec.bytecode = crate::artifact::bytecode::compiler_or_say(manifest.app().runtime.version(), r);
    if flavor == Flavor::Lambda {
        lambda_spec(&mut spec, loaded)?;
    } else if let Some(src) = src_dir(loaded) {
        // As on the local target: a src-layout project imports from `src/`.
        let mut path: Vec<String> = spec.deps.as_ref().map(|_| oci::DEPS_DIR.to_string()).into_iter().collect();
        path.push(src);
        spec.env.push(("PYTHONPATH".into(), path.join(":")));
    }
    let logins = RegistryLogins::new(None);
    let client = Client::new(Arc::new(logins), BlobStore::open_default()?, Options::default())?;
    let built = oci::build_image(&spec, &client, r).await?;
    r.done();
    let layers = layers_of(&built);
    Ok(LocalImage { image: built, layers, inputs })
}

/// The manifest file's path as a source set names it (it sits at the top of the app folder).
pub fn manifest_rel(loaded: &Loaded) -> String {
    loaded.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The layers of a built image, as reports show them.
pub fn layers_of(built: &oci::BuiltImage) -> Vec<Layer> {
    built.layers.iter().map(|l| Layer { role: role_name(l.role).into(), digest: l.digest.clone(), bytes: l.size }).collect()
}

/// The digest `image` points to now, read from its registry with this machine's logins.
pub async fn resolve_digest(image: &Reference) -> Result<String> {
    let client = Client::new(Arc::new(RegistryLogins::new(None)), BlobStore::open_default()?, Options::default())?;
    client.resolve(image).await
}

/// What pushing `image` to `repo` would upload, read with HEAD requests only: the bytes
/// of the blobs the repository lacks, and whether its manifest is there already.
pub async fn upload_needed(image: &oci::BuiltImage, repo: &Reference) -> Result<(u64, bool)> {
    let logins = RegistryLogins::new(Some(repo.registry.clone()));
    let client = Client::new(Arc::new(logins), BlobStore::open_default()?, Options::default())?;
    if client.has_manifest(repo, &image.digest).await? {
        return Ok((0, true));
    }
    let mut missing = 0;
    // Base layers from the same registry are mounted, not uploaded.
    let blobs = image.layers.iter().filter(|l| l.from.as_ref().is_none_or(|f| f.registry != repo.registry)).map(|l| (&l.digest, l.size));
    for (digest, size) in blobs.chain([(&image.config.digest, image.config.size)]) {
        if !client.has_blob(repo, digest).await? {
            missing += size;
        }
    }
    Ok((missing + image.manifest_bytes.len() as u64, false))
}

/// Turns a server image's spec into a Lambda function's: the runtime interface client as
/// ENTRYPOINT with aideploy's handler as CMD, the adapter beside the deps, the app's
/// folder as LAMBDA_TASK_ROOT and the working directory.
fn lambda_spec(spec: &mut ImageSpec, loaded: &Loaded) -> Result<()> {
    let (entry_var, entry_value) = crate::artifact::zip::LambdaEntry::of(loaded.manifest.app()).env();
    spec.entrypoint = Entrypoint::Exec {
        entrypoint: vec!["python3".into(), "-m".into(), LAMBDA_RIC.into()],
        cmd: vec![crate::artifact::zip::HANDLER.into()],
    };
    spec.extra_files = crate::artifact::zip::ADAPTER_FILES
        .iter()
        .map(|(name, text)| (format!("{LAMBDA_ADAPTER_DIR}/{name}"), text.as_bytes().to_vec()))
        .collect();
    let mut pythonpath = vec![LAMBDA_ADAPTER_DIR.to_string()];
    if spec.deps.is_some() {
        pythonpath.push(oci::DEPS_DIR.into());
    }
    pythonpath.extend(src_dir(loaded));
    spec.env.push(("PYTHONPATH".into(), pythonpath.join(":")));
    spec.env.push(("LAMBDA_TASK_ROOT".into(), oci::APP_DIR.into()));
    spec.env.push((entry_var.into(), entry_value));
    Ok(())
}

/// `/app/src` for a src-layout project (a `src/` folder that is not itself a package),
/// which the local target puts on `PYTHONPATH` too.
fn src_dir(loaded: &Loaded) -> Option<String> {
    let src = loaded.dir.join("src");
    (src.is_dir() && !src.join("__init__.py").exists()).then(|| format!("{}/src", oci::APP_DIR))
}

fn role_name(role: LayerRole) -> &'static str {
    match role {
        LayerRole::Base => "base",
        LayerRole::Deps => "deps",
        LayerRole::Model => "model",
        LayerRole::App => "app",
    }
}
