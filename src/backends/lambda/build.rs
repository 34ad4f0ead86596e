//! `build`: the app as a Lambda zip, or (asked for, or over the zip limits) as a container
//! image, on this machine only. Nothing is created, uploaded or pushed here: for an image
//! in a named registry, what a push would upload is read with HEAD requests.

use anyhow::Result;

use super::*;
use crate::artifact::image::{self, LocalImage};
use crate::artifact::registry::Reference;
use crate::artifact::zip::{lambda_zip_for, too_big_reason, LambdaZip};
use crate::cloud::ecr;
use crate::engine::ArtifactInfo;

/// Where a container image for the function is pushed.
#[derive(Debug, Clone)]
pub enum PushTo {
    /// `AIDEPLOY_REGISTRY` / `[build] registry`: an ECR repository, or (on an emulator) a
    /// loopback registry.
    Named(Reference),
    /// The target's own ECR repository, [`repo_name`], created on first need.
    OwnEcr,
}

/// A container image for the function, built and not yet pushed.
pub struct LambdaImage {
    pub local: LocalImage,
    /// Hex of the image's manifest digest.
    pub sha: String,
    /// Why an image rather than a zip, for people.
    pub reason: String,
    pub push: PushTo,
    /// What a push uploads: `None` when the registry has the image already; for the
    /// target's own repository, the whole image (an upper bound).
    pub upload: Option<u64>,
}

/// What `build` hands to `plan` and `apply`: the code as a zip or as an image.
pub enum Package {
    Zip(LambdaZip),
    Image(Box<LambdaImage>),
}

impl Package {
    /// Hex sha256 of the code: the zip's, or the image manifest's.
    pub fn sha(&self) -> &str {
        match self {
            Package::Zip(z) => &z.sha256,
            Package::Image(i) => &i.sha,
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            Package::Zip(_) => PACKAGE_ZIP,
            Package::Image(_) => PACKAGE_IMAGE,
        }
    }
}

pub(super) async fn build(cx: &Cx, r: &dyn Reporter) -> Result<Built<Package>> {
    let entry = crate::artifact::zip::LambdaEntry::of(cx.loaded.manifest.app());
    let fname = function_name(cx);
    if fname.len() > 64 {
        return Err(UsageError::new(format!("the function name `{fname}` is {} characters; Lambda allows 64", fname.len()))
            .hint("use a shorter app name, --stage or target name")
            .into());
    }
    // The runtime first: a zip is not worth building for a deploy that cannot take it.
    if wants_snapstart(cx) {
        check_snapstart(cx, "")?;
    }
    let asked = cx.loaded.manifest.build.package.as_ref().map(|p| *p.get()) == Some(crate::manifest::values::Package::Image);
    let reason = if asked {
        "[build] package = \"image\"".to_string()
    } else if !entry.in_process() {
        // A server of the app's own runs in an image, where the adapter starts it.
        "the app's `command` starts a server of its own".to_string()
    } else {
        r.step("building the Lambda zip");
        let loaded = cx.loaded.clone();
        let arch = arch(cx);
        match tokio::task::block_in_place(|| lambda_zip_for(&loaded, arch, r)) {
            Ok(zip) => {
                check_snapstart(cx, PACKAGE_ZIP)?;
                r.detail(&format!("{} ({} bytes, {} entries)", zip.path.display(), zip.bytes, zip.entries));
                r.done();
                let mut info = ArtifactInfo::plain("zip", zip.digest(), zip.bytes);
                info.path = Some(zip.path.clone());
                info.inputs = zip.inputs.clone();
                return Ok(Built { info, data: Package::Zip(zip) });
            }
            Err(e) => match too_big_reason(&e) {
                Some(why) => {
                    r.done();
                    r.warn(&format!("{why}: deploying a container image instead (up to 10 GB)"));
                    why
                }
                None => return Err(e),
            },
        }
    };
    check_snapstart(cx, PACKAGE_IMAGE)?;
    let push = image_destination(cx)?;
    r.step(&format!("building a container image for Lambda ({reason})"));
    let local = image::build_local(&cx.loaded, Some(&cx.target), image::Flavor::Lambda, r).await?;
    let sha = local.image.digest.trim_start_matches("sha256:").to_string();
    let mut info = ArtifactInfo::plain("image", local.image.digest.clone(), local.image.bytes());
    info.layers = local.layers.clone();
    info.inputs = local.inputs.clone();
    let upload = match &push {
        PushTo::Named(repo) => {
            info.reference = Some(image_uri(&repo.name(), &sha));
            r.step(&format!("checking what {} already has", repo.name()));
            let (bytes, present) = image::upload_needed(&local.image, repo).await?;
            r.done();
            (!present).then_some(bytes)
        }
        PushTo::OwnEcr => Some(local.image.bytes()),
    };
    Ok(Built { info, data: Package::Image(Box::new(LambdaImage { local, sha, reason, push, upload })) })
}

/// Where the function's image goes: a repository named by `AIDEPLOY_REGISTRY` or
/// `[build] registry` when it is in ECR (Lambda runs images from ECR only), or one on this
/// machine when the ECR endpoint has no registry behind it; otherwise the target's own
/// ECR repository.
fn image_destination(cx: &Cx) -> Result<PushTo> {
    let Some(repo) = image::push_repository(&cx.loaded)? else { return Ok(PushTo::OwnEcr) };
    let name = repo.name();
    if ecr::is_ecr(&name) || (crate::cloud::is_loopback_host(&repo.registry) && !crate::cloud::aws::DataPlane::of("ECR").ecr_registry) {
        return Ok(PushTo::Named(repo));
    }
    Err(UsageError::new(format!("Lambda runs container images only from Amazon ECR, and {name} is not an ECR repository"))
        .hint(format!(
            "unset {} (or drop `registry` from [build]) and the lambda target pushes to its own ECR repository {}",
            crate::envvars::AIDEPLOY_REGISTRY,
            repo_name(cx)
        ))
        .into())
}
