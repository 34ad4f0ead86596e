//! `aideploy build`: the artifact a target runs (or, with no target, the app's
//! default), without deploying it.

use anyhow::Result;
use serde_json::json;

use super::{context, load_manifest, parse_stage};
use crate::artifact::image::arch_for;
use crate::artifact::source::{self, Excluded};
use crate::artifact::zip;
use crate::cli::{BuildArgs, GlobalArgs};
use crate::engine::{ArtifactInfo, DefaultPackage, Reporter};
use crate::error::UsageError;
use crate::manifest::{Loaded, Package, Target};
use crate::ui::Ui;
use crate::util::human_bytes;

pub async fn run(args: &BuildArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let stage = parse_stage(g)?;
    let loaded = load_manifest(g)?;
    for w in crate::artifact::imports::warnings(&loaded.manifest, &loaded.dir) {
        ui.warn(&w);
    }
    let target = match &args.target.target {
        Some(name) => Some(loaded.manifest.target(Some(name), &args.target.set)?),
        None if !args.target.set.is_empty() => {
            return Err(UsageError::new("--set changes a target's settings; name the target").hint("pass --target NAME").into())
        }
        None => None,
    };
    let package = match args.package.as_deref() {
        Some("zip") => Some(Package::Zip),
        Some(_) => Some(Package::Image),
        None => loaded.manifest.build.package.as_ref().map(|p| *p.get()),
    };
    // The local target's own artifact (its environment and source set), and the
    // sagemaker target's model archive.
    let default = target.as_ref().map(|t| crate::backends::for_kind(t.kind).capabilities().default_package);
    let image_only = |flag: &str| {
        UsageError::new(format!("{flag} applies to images")).hint(format!("pass --package image {flag} to build an image and write it"))
    };
    if package.is_none() && matches!(default, Some(DefaultPackage::Source | DefaultPackage::ModelArchive)) {
        if args.output.is_some() {
            return Err(image_only("--output").into());
        }
        if args.push {
            return Err(UsageError::new(format!(
                "the {} target builds nothing to push",
                target.as_ref().map(|t| t.kind.as_str()).unwrap_or("local")
            ))
            .hint("pass --package image to build and push an image")
            .into());
        }
        let (cx, backend) = context(&args.target, g, ui, false)?;
        let artifact = backend.build(&cx, ui).await?;
        return print(ui, &artifact, &left_out(&loaded, target.as_ref())?);
    }
    // A zip runs the app in-process; a server of the app's own goes in an image.
    let in_process = crate::artifact::zip::LambdaEntry::of(loaded.manifest.app()).in_process();
    let package = package.unwrap_or(match default {
        Some(DefaultPackage::Zip) if in_process => Package::Zip,
        _ => Package::Image,
    });
    let r = ui.reporter();
    let artifact = match package {
        Package::Zip => {
            if args.push {
                return Err(UsageError::new("--push applies to images")
                    .hint("a zip is uploaded by the lambda target's deploy; pass --package image to push an image")
                    .into());
            }
            if args.output.is_some() {
                return Err(image_only("--output").into());
            }
            build_zip(&loaded, target.as_ref(), &r)?
        }
        Package::Image => crate::artifact::image::build(&loaded, &stage, target.as_ref(), args.push, args.output.as_deref(), &r).await?,
    };
    r.done();
    print(ui, &artifact, &left_out(&loaded, target.as_ref())?)
}

/// What the artifact left out and why: the app's source set, or the model directory of
/// a target that ships one.
fn left_out(loaded: &Loaded, target: Option<&Target>) -> Result<Vec<Excluded>> {
    if let Some(dir) = target.and_then(|t| t.settings.model_dir.as_ref()) {
        let root = source::inside_project(&loaded.dir, "model_dir", dir.get())?;
        let prefix = dir.get().trim_end_matches('/');
        let mut list = source::excluded(&root, &[])?;
        for e in &mut list {
            e.path = format!("{prefix}/{}", e.path);
        }
        return Ok(list);
    }
    let excludes: Vec<String> = loaded.manifest.build.exclude.iter().map(|e| e.get().clone()).collect();
    source::excluded(&loaded.dir, &excludes)
}

fn print(ui: &Ui, artifact: &ArtifactInfo, excluded: &[Excluded]) -> Result<u8> {
    if ui.json {
        ui.result_json(&json!({ "artifact": artifact, "excluded": excluded }));
        return Ok(0);
    }
    let mut lines = vec![format!("{}  {}  {}", artifact.kind, artifact.digest, human_bytes(artifact.bytes))];
    for l in &artifact.layers {
        lines.push(format!("  layer {:<5} {}  {}", l.role, l.digest, human_bytes(l.bytes)));
    }
    if let Some(p) = &artifact.path {
        lines.push(format!("  file      {}", p.display()));
    }
    if let Some(reference) = &artifact.reference {
        lines.push(format!("  pushed    {reference} ({} uploaded)", human_bytes(artifact.uploaded_bytes)));
    }
    let credentials = excluded.iter().filter(|e| e.reason.starts_with("credentials")).count();
    if !excluded.is_empty() {
        lines.push(format!("  left out  {} paths, {credentials} of them credentials (`build --json` lists them)", excluded.len()));
    }
    ui.result(&lines.join("\n"));
    Ok(0)
}

fn build_zip(loaded: &Loaded, target: Option<&Target>, r: &dyn Reporter) -> Result<ArtifactInfo> {
    r.step("building the Lambda zip");
    let built = tokio::task::block_in_place(|| zip::lambda_zip_for(loaded, arch_for(loaded, target), r))?;
    if built.needs_s3 {
        r.warn(&format!(
            "the zip is {} (over Lambda's 50 MB direct upload): the lambda target uploads it through S3",
            human_bytes(built.bytes)
        ));
    }
    Ok(built.info())
}
