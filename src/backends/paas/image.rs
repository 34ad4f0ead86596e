//! The app's image for a PaaS target: built on this machine by `build` (with the bytes a
//! push would upload, found by read-only registry checks, and the configured pull
//! credential the platform will get, pull.rs), pushed by `apply` with the push login,
//! which never leaves this machine.

use anyhow::Result;

use super::pull::{self, PullFacts, PullLogin};
use super::short;
use crate::artifact::oci::BuiltImage;
use crate::artifact::registry::Reference;
use crate::engine::{Action, ArtifactInfo, Built, Cx, Op, Pushed, Reporter};
use crate::error::UsageError;

/// What `build` made for a PaaS target.
pub struct Image {
    pub built: BuiltImage,
    /// The repository it goes to.
    pub repo: Reference,
    /// The configured pull credential the platform gets (never the push login); none:
    /// the platform pulls anonymously.
    pub pull: Option<PullLogin>,
    pub facts: ImageFacts,
}

/// What a plan needs to know of the image: plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    /// `registry/repository`
    pub repo: String,
    pub digest: String,
    /// `repo@sha256:...`: what the platform runs.
    pub reference: String,
    /// Bytes a push would upload now.
    pub to_upload: u64,
    /// The registry holds the manifest and every blob already.
    pub present: bool,
    /// The configured pull credential, without its password; none: anonymous pulls.
    pub pull: Option<PullFacts>,
    /// What went into the image, for the plan's "(env changed)".
    pub inputs: crate::engine::Inputs,
}

impl ImageFacts {
    /// The plan row of the push: `+ push image  REPO@sha256:abcd (3.3 MiB to upload)`,
    /// or `= image ... (already in the registry)`.
    pub fn push_row(&self) -> Action {
        let id = format!("{}@sha256:{}", self.repo, short(&self.digest));
        if self.present {
            Action::new(Op::Noop, "image", id).because("already in the registry")
        } else {
            Action::new(Op::Create, "push image", id).because(format!("{} to upload", crate::util::human_bytes(self.to_upload)))
        }
    }

    /// For unit tests: an image of `digest` that still has to be pushed.
    #[cfg(test)]
    pub fn example(digest: &str) -> ImageFacts {
        ImageFacts {
            repo: "ghcr.io/you/app".into(),
            digest: digest.into(),
            reference: format!("ghcr.io/you/app@{digest}"),
            to_upload: 3 << 20,
            present: false,
            pull: Some(PullFacts::example("reader")),
            inputs: Default::default(),
        }
    }
}

/// Builds the image locally and reads (never writes) what the registry has of it. The
/// pull credential is settled first: a cloud registry without one is refused before
/// anything is built or any registry is asked.
pub async fn build(cx: &Cx, platform: &str, r: &dyn Reporter) -> Result<Built<Image>> {
    let Some(repo) = crate::artifact::image::push_repository(&cx.loaded)? else {
        return Err(UsageError::new(format!("the {platform} target runs the app's image from a registry, and none is named"))
            .hint(format!("set `registry = \"ghcr.io/you/app\"` in [build], or {}=REGISTRY/REPOSITORY", crate::envvars::AIDEPLOY_REGISTRY))
            .into());
    };
    let pull = pull::configured(cx, &repo.registry)?;
    pull::check_cloud_registry(cx, &repo, platform, pull.as_ref())?;
    let local = crate::artifact::image::build_local(&cx.loaded, Some(&cx.target), crate::artifact::image::Flavor::Server, r).await?;
    let built = local.image;
    r.step(&format!("checking what {} has of the image", repo.registry));
    let (to_upload, manifest) = crate::artifact::image::upload_needed(&built, &repo).await?;
    r.done();
    let facts = ImageFacts {
        repo: repo.name(),
        digest: built.digest.clone(),
        reference: format!("{}@{}", repo.name(), built.digest),
        to_upload,
        present: manifest && to_upload == 0,
        pull: pull.as_ref().map(PullLogin::facts),
        inputs: local.inputs.clone(),
    };
    let mut info = ArtifactInfo::plain("image", built.digest.clone(), built.bytes());
    info.inputs = local.inputs;
    info.layers = local.layers;
    Ok(Built { info, data: Image { built, repo, pull, facts } })
}

/// Pushes the image (apply's first step), tagged `{stage}-{digest prefix}`.
pub async fn push(cx: &Cx, image: &Image, r: &dyn Reporter) -> Result<Pushed> {
    r.step(&format!("pushing to {}", image.repo.name()));
    let (reference, uploaded_bytes) = crate::artifact::image::push_built(&image.built, &image.repo, &cx.stage, r).await?;
    r.done();
    Ok(Pushed { reference: Some(reference), uploaded_bytes })
}

/// An API error with every secret value and the pull password taken out (in each form
/// redaction knows): an API may quote the input it rejected.
pub fn redacted(cx: &Cx, image: Option<&Image>, e: anyhow::Error) -> anyhow::Error {
    let original = format!("{e:#}");
    let mut text = cx.secrets.redact(&original);
    if let Some(login) = image.and_then(|i| i.pull.as_ref()) {
        text = crate::secrets::redact::apply(&crate::secrets::redact::forms(login.password()), &text);
    }
    if text == original {
        e
    } else {
        anyhow::anyhow!(text)
    }
}
