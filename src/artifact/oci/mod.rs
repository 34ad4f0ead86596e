//! OCI images without a Docker daemon: a base image (pulled by digest) plus a deps
//! layer (`/opt/aideploy/site-packages`), an optional model layer (`/opt/aideploy/model`) and
//! an app layer (`/app`), with an image config that runs the app as a non-root user.
//!
//! Every layer is reproducible (see `layer`), and cached by a key of its input, so an
//! unchanged deps dir is not tarred again and a code change moves only the app layer.

pub mod blobs;
pub mod export;
pub mod gzip;
pub mod layer;
pub mod scripts;

mod cached;
mod config;
use cached::*;
pub use config::canonical_json;
use config::*;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use oci_spec::image::{ImageConfiguration, ImageManifest};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::artifact::bytecode::Compiler;
use crate::artifact::registry::{Client, PulledImage, Reference, MEDIA_OCI_MANIFEST};
use crate::artifact::source::SourceSet;
use crate::engine::Reporter;
use crate::envvars;
use crate::error::{Hinted, UsageError};
use blobs::{sha256_digest, BlobStore};
use layer::{Entry, EntryKind, LayerBlob};

pub const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Where the deps layer puts the Python packages (on PYTHONPATH).
/// Named like one (Streamlit, for one, turns on its development mode for packages that
/// are not under a `site-packages`).
pub const DEPS_DIR: &str = "/opt/aideploy/site-packages";
/// Where the model layer puts the weights (`AIDEPLOY_MODEL_DIR` in the image).
pub const MODEL_DIR: &str = "/opt/aideploy/model";
pub const APP_DIR: &str = "/app";
/// aideploy's own commands in the image, last on `PATH`: a `python` for base images
/// that have only `python3` (Debian's), so `command = "python app.py"` runs anywhere.
pub const TOOLS_DIR: &str = "/opt/aideploy/bin";
/// The image's user: numeric, so no /etc/passwd entry is needed.
pub const DEFAULT_USER: &str = "10001:10001";
/// gzip levels: code and packages compress well; weights barely do, so go fast.
const LEVEL_CODE: u8 = 6;
const LEVEL_MODEL: u8 = 1;
/// Bump when the layer format changes, to invalidate the layer cache.
const LAYER_FORMAT: &str = "aideploy-layer-v6";

/// `linux/amd64`, `linux/arm64[/v8]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn amd64() -> Platform {
        Platform { os: "linux".into(), architecture: "amd64".into(), variant: None }
    }
    pub fn arm64() -> Platform {
        Platform { os: "linux".into(), architecture: "arm64".into(), variant: Some("v8".into()) }
    }

    /// Parses `linux/amd64`, `linux/arm64`, `linux/arm64/v8` (also `x86_64`, `aarch64`).
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, v] => (*os, *arch, Some(v.to_string())),
            _ => (s, "", None),
        };
        let arch = match arch {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            a => a,
        };
        match (os, arch) {
            ("linux", "amd64") => Ok(Platform { variant, ..Platform::amd64() }),
            ("linux", "arm64") => Ok(Platform { variant: variant.or(Some("v8".into())), ..Platform::arm64() }),
            _ => Err(UsageError::new(format!("unsupported platform `{s}`")).hint("use linux/amd64 (the default) or linux/arm64").into()),
        }
    }

    /// Whether an index entry's platform is this one (a missing arm64 variant is v8).
    pub fn matches(&self, p: &oci_spec::image::Platform) -> bool {
        let os = p.os().to_string();
        let arch = p.architecture().to_string();
        if os != self.os || arch != self.architecture {
            return false;
        }
        match (&self.variant, p.variant()) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            if self.architecture != "arm64" || v != "v8" {
                write!(f, "/{v}")?;
            }
        }
        Ok(())
    }
}

/// How the container starts the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entrypoint {
    /// `module:attr` of an ASGI app, served by uvicorn.
    Asgi(String),
    /// A shell command (it listens on $PORT).
    Command(String),
    /// An exec-form ENTRYPOINT and CMD, as given (e.g. a Lambda runtime interface
    /// client and the handler it loads).
    Exec { entrypoint: Vec<String>, cmd: Vec<String> },
}

/// Everything an image is built from.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// The base image; a tag is resolved to a digest at build time.
    pub base: Reference,
    pub platform: Platform,
    pub source: SourceSet,
    /// Python packages installed `--target`-style, for the image's platform.
    pub deps: Option<PathBuf>,
    /// A content key of `deps` (e.g. the hash its installer cached it under); when
    /// absent, a fingerprint of the directory listing (paths, sizes, mtimes) is used.
    pub deps_key: Option<String>,
    /// A directory of model weights, put at `MODEL_DIR`.
    pub model: Option<PathBuf>,
    /// Files aideploy adds (absolute path in the image, content), written into the app
    /// layer next to the source (e.g. the Lambda adapter).
    pub extra_files: Vec<(String, Vec<u8>)>,
    pub entrypoint: Entrypoint,
    pub port: u16,
    /// Extra environment (non-secret values only), after the built-in entries.
    pub env: Vec<(String, String)>,
    /// `uid:gid`, numeric.
    pub user: String,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// `org.opencontainers.image.revision`: the source commit (see `git_revision`).
    pub revision: Option<String>,
    /// `dev.aideploy.manifest-digest`: see `manifest_digest`.
    pub manifest_digest: Option<String>,
    /// Timestamp of every file and of the image (SOURCE_DATE_EPOCH, default 0).
    pub epoch: u64,
    /// Compiles the deps' and the app's `.py` files to bytecode in their layers (a
    /// CPython of the image's Python version); `None`: no bytecode.
    pub bytecode: Option<crate::artifact::bytecode::Compiler>,
}

impl ImageSpec {
    pub fn new(base: Reference, source: SourceSet, entrypoint: Entrypoint, port: u16) -> ImageSpec {
        ImageSpec {
            base,
            platform: Platform::amd64(),
            source,
            deps: None,
            deps_key: None,
            model: None,
            extra_files: Vec::new(),
            entrypoint,
            port,
            env: Vec::new(),
            user: DEFAULT_USER.into(),
            labels: BTreeMap::new(),
            revision: None,
            manifest_digest: None,
            epoch: 0,
            bytecode: None,
        }
    }
}

impl ImageSpec {
    /// The spec for the app of a loaded manifest: entrypoint and port from `[app]`,
    /// `base` (default `python:<runtime version>-slim`), the manifest's digest, the git
    /// revision of its folder and SOURCE_DATE_EPOCH. `[env]` is not baked in: targets
    /// set it at deploy time, with the secrets.
    pub fn for_app(
        loaded: &crate::manifest::Loaded,
        source: SourceSet,
        deps: Option<PathBuf>,
        base: Option<&str>,
        platform: Platform,
    ) -> Result<ImageSpec> {
        let app = loaded.manifest.app();
        let entrypoint = match (&app.asgi, &app.command) {
            (Some(asgi), _) => Entrypoint::Asgi(asgi.value.to_string()),
            (None, Some(cmd)) => Entrypoint::Command(cmd.value.clone()),
            (None, None) => bail!("[app] needs `asgi` or `command` to build an image"),
        };
        let base = match base {
            Some(b) => b.to_string(),
            None => default_base_image(app.runtime.version()),
        };
        let mut spec = ImageSpec::new(Reference::parse(&base)?, source, entrypoint, app.port.0);
        spec.platform = platform;
        spec.deps = deps;
        spec.manifest_digest = Some(sha256_digest(loaded.text.as_bytes()));
        spec.revision = git_revision(&loaded.dir);
        spec.epoch = source_date_epoch()?;
        Ok(spec)
    }
}

/// The default base image for a Python version (`3.11` -> `python:3.11-slim`).
pub fn default_base_image(python_version: &str) -> String {
    format!("python:{python_version}-slim")
}

/// `SOURCE_DATE_EPOCH` when set to a number, else 0.
pub fn source_date_epoch() -> Result<u64> {
    match std::env::var(envvars::SOURCE_DATE_EPOCH) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| {
            UsageError::new(format!("{}=`{v}` is not a number of seconds", envvars::SOURCE_DATE_EPOCH))
                .hint("set it to a Unix time, e.g. $(git log -1 --format=%ct), or unset it")
                .into()
        }),
        _ => Ok(0),
    }
}

/// The commit checked out in the git repository holding `dir`, if any (with `-dirty`
/// appended when tracked files changed).
pub fn git_revision(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git").arg("-C").arg(dir).args(["rev-parse", "HEAD"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let rev = String::from_utf8(out.stdout).ok()?.trim().to_string();
    let dirty = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|o| o.status.success() && !o.stdout.is_empty());
    Some(if dirty { format!("{rev}-dirty") } else { rev })
}

/// `sha256:` of the manifest file's bytes.
pub fn manifest_digest(path: &Path) -> Result<String> {
    Ok(sha256_digest(&fs_err::read(path)?))
}

/// Which part of the image a layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerRole {
    Base,
    Deps,
    Model,
    App,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BuiltLayer {
    pub role: LayerRole,
    pub media_type: String,
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
    /// Where the blob is (or, for a base layer not downloaded yet, will be) on disk.
    #[serde(skip)]
    pub path: PathBuf,
    /// For base layers: the repository they come from (mounted or fetched on push).
    #[serde(skip)]
    pub from: Option<Reference>,
    /// Taken from the layer cache rather than written now.
    pub cached: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BlobFile {
    pub digest: String,
    pub size: u64,
    #[serde(skip)]
    pub path: PathBuf,
}

/// A built image: every blob but the base layers is in the blob store.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// The manifest digest, `sha256:...`.
    pub digest: String,
    pub manifest: ImageManifest,
    pub manifest_bytes: Vec<u8>,
    pub config: BlobFile,
    pub image_config: ImageConfiguration,
    pub layers: Vec<BuiltLayer>,
    /// The base image, pinned by digest.
    pub base: Reference,
    pub platform: Platform,
}

impl BuiltImage {
    /// Compressed bytes of the whole image: layers, config and manifest.
    pub fn bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum::<u64>() + self.config.size + self.manifest_bytes.len() as u64
    }

    pub fn layer(&self, role: LayerRole) -> Option<&BuiltLayer> {
        self.layers.iter().find(|l| l.role == role)
    }
}

/// Builds the image described by `spec`: pulls the base image's manifest and config
/// (by digest; layers are fetched only if a push needs them), writes or reuses the
/// deps, model and app layers, and writes the config and manifest.
pub async fn build_image(spec: &ImageSpec, client: &Client, r: &dyn Reporter) -> Result<BuiltImage> {
    validate(spec)?;
    r.progress(&format!("resolving base image {}", spec.base));
    let base = client.pull_metadata(&spec.base, &spec.platform).await.map_err(|e| {
        // Whatever went wrong (no network, a denied pull), the fix may be another base.
        let why = crate::report::hint_of(&e).map(|h| format!("; or: {h}")).unwrap_or_default();
        e.context(crate::error::Failure::Hinted(Hinted::new(
            format!("cannot read base image {}", spec.base),
            format!("set `base_image` in [build] to an image this machine can pull (a mirror, or a loopback registry){why}"),
        )))
    })?;
    let arch = base.config.architecture().to_string();
    if arch != spec.platform.architecture {
        return Err(Hinted::new(
            format!("base image {} is {arch}, not {}", spec.base, spec.platform),
            "pick a base image for the target platform, or a multi-platform one",
        )
        .into());
    }

    let store = client.store().clone();
    let cache = LayerCache { dir: store.root().parent().unwrap_or(store.root()).join("layers") };
    let epoch = spec.epoch;

    // The layers, built side by side off the async runtime.
    let mut tasks = Vec::new();
    if let Some(deps) = spec.deps.clone() {
        let (store, cache, key, bytecode) = (store.clone(), cache.clone(), spec.deps_key.clone(), spec.bytecode.clone());
        r.progress("deps layer");
        tasks.push(tokio::task::spawn_blocking(move || {
            dir_layer(&store, &cache, LayerRole::Deps, &deps, DEPS_DIR, key, LEVEL_CODE, epoch, bytecode.as_ref())
        }));
    }
    if let Some(model) = spec.model.clone() {
        let (store, cache) = (store.clone(), cache.clone());
        r.progress("model layer");
        tasks.push(tokio::task::spawn_blocking(move || {
            dir_layer(&store, &cache, LayerRole::Model, &model, MODEL_DIR, None, LEVEL_MODEL, epoch, None)
        }));
    }
    {
        let (store, cache, source, extra) = (store.clone(), cache.clone(), spec.source.clone(), spec.extra_files.clone());
        let bytecode = spec.bytecode.clone();
        r.progress("app layer");
        tasks.push(tokio::task::spawn_blocking(move || app_layer(&store, &cache, &source, &extra, epoch, bytecode.as_ref())));
    }
    let mut ours = Vec::new();
    for t in tasks {
        ours.push(t.await.map_err(|e| anyhow!("a layer build failed: {e}"))??);
    }

    let mut layers: Vec<BuiltLayer> = Vec::new();
    for (d, diff_id) in base.layers().iter().zip(base.config.rootfs().diff_ids()) {
        layers.push(BuiltLayer {
            role: LayerRole::Base,
            media_type: oci_layer_media_type(d.media_type().as_ref()),
            digest: d.digest().to_string(),
            diff_id: diff_id.clone(),
            size: d.size(),
            path: store.path(d.digest().as_ref())?,
            from: Some(base.reference.clone()),
            cached: true,
        });
    }
    layers.extend(ours);

    let config_bytes = image_config(spec, &base, &layers)?;
    let config_digest = sha256_digest(&config_bytes);
    let config_path = store.put(&config_digest, &config_bytes)?;
    let image_config: ImageConfiguration = serde_json::from_slice(&config_bytes).context("the image config does not parse back")?;
    let config = BlobFile { digest: config_digest, size: config_bytes.len() as u64, path: config_path };

    let manifest_bytes = image_manifest(&config, &layers, &base)?;
    let digest = sha256_digest(&manifest_bytes);
    store.put(&digest, &manifest_bytes)?;
    let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes).context("the manifest does not parse back")?;
    Ok(BuiltImage {
        digest,
        manifest,
        manifest_bytes,
        config,
        image_config,
        layers,
        base: base.reference.clone(),
        platform: spec.platform.clone(),
    })
}

fn validate(spec: &ImageSpec) -> Result<()> {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match spec.user.split_once(':') {
        Some((u, g)) if numeric(u) && numeric(g) && u != "0" => {}
        _ => {
            return Err(UsageError::new(format!("image user `{}` is not a numeric non-root uid:gid", spec.user))
                .hint("use e.g. 10001:10001")
                .into())
        }
    }
    if let Entrypoint::Asgi(app) = &spec.entrypoint {
        let ok = app.split_once(':').is_some_and(|(m, a)| !m.is_empty() && !a.is_empty()) && !app.contains(char::is_whitespace);
        if !ok {
            return Err(UsageError::new(format!("asgi app `{app}` is not module:attribute"))
                .hint("write it as in uvicorn, e.g. asgi = \"app.main:app\"")
                .into());
        }
    }
    for (k, _) in &spec.env {
        if k.is_empty() || k.contains('=') {
            bail!("bad environment variable name `{k}`");
        }
    }
    Ok(())
}

/// Docker media types of base layers, in the OCI names (same bytes).
fn oci_layer_media_type(mt: &str) -> String {
    match mt {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => MEDIA_LAYER_GZIP.into(),
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip".into()
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys() {
        let v = json!({"b": 1, "a": {"d": [1, {"z": 0, "y": "x"}], "c": null}});
        assert_eq!(String::from_utf8(canonical_json(&v)).unwrap(), r#"{"a":{"c":null,"d":[1,{"y":"x","z":0}]},"b":1}"#);
    }

    #[test]
    fn spec_for_the_example_app() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fastapi-rag");
        let loaded = crate::manifest::load(&dir.join("aideploy.toml")).unwrap();
        let source = crate::artifact::source::collect(&dir, &[]).unwrap();
        let spec = ImageSpec::for_app(&loaded, source, None, None, Platform::arm64()).unwrap();
        assert_eq!(spec.entrypoint, Entrypoint::Asgi("app.main:app".into()));
        assert_eq!(spec.port, 8000);
        assert_eq!(spec.base.to_string(), "docker.io/library/python:3.11-slim");
        assert_eq!(spec.platform.to_string(), "linux/arm64");
        assert_eq!(spec.manifest_digest, Some(manifest_digest(&dir.join("aideploy.toml")).unwrap()));
        assert_eq!(spec.user, DEFAULT_USER);
    }

    #[test]
    fn parses_platforms() {
        assert_eq!(Platform::parse("linux/amd64").unwrap(), Platform::amd64());
        assert_eq!(Platform::parse("linux/arm64").unwrap(), Platform::arm64());
        assert_eq!(Platform::parse("linux/aarch64").unwrap().to_string(), "linux/arm64");
        assert!(Platform::parse("windows/amd64").is_err());
        assert!(Platform::parse("amd64").is_err());
    }
}
