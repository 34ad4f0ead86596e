//! The Lambda deployment zip: the app's source set, its dependencies for the target
//! platform, and aideploy's adapter + secrets shim (handler [`HANDLER`]), all at the
//! root of the archive.
//!
//! Reproducible: every entry has the same timestamp (1980-01-01 00:00, the zip epoch),
//! mode 0644 (0755 when executable), no extra fields, and the entries are sorted by
//! name, so the same inputs give the same sha256 on any machine and checkout path.
//! (No directory entries are written: Lambda, Python and unzip need none.)
//!
//! Fast: the dependencies are deflated once per dependency set into a cached deps-only
//! zip (in parallel chunks); a build copies those entries raw, already compressed, and
//! deflates only the app's files. An unchanged build is a hash check: the finished zip
//! is cached by the hash of everything that goes into it.
//!
//! The zip crate writes the format (maintained, and its `raw_copy_file` copies a
//! compressed entry between archives without inflating it, which the reuse above needs);
//! its deflate backend is compiled in (flate2 + zlib-rs), so the compressed bytes do not
//! depend on a zlib found on the machine.

mod deps;
mod entry;
use deps::*;
pub use entry::{LambdaEntry, COMMAND_ENV, WSGI_ENV};

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Cursor, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::artifact::bytecode::{self, Compiler, Pyc};
use crate::artifact::pydeps::{has_uv_lock, install_for_target, install_locked_for_target, Arch, DepsDir, TargetPlatform};
use crate::artifact::python;
use crate::artifact::source::{self, SourceSet};
use crate::engine::{ArtifactInfo, Reporter};
use crate::error::Hinted;
use crate::manifest::Loaded;
use crate::util::{cache_dir, write_atomic, FileLock};

/// The handler to configure on the function.
pub const HANDLER: &str = "aideploy_lambda.handler";
/// The function's environment variable naming the ASGI app (`module:attribute`).
pub const ASGI_ENV: &str = "AIDEPLOY_ASGI";
/// The function's environment variable holding `{"NAME": "<secret ARN>", ...}`.
pub const SECRET_ARNS_ENV: &str = "AIDEPLOY_SECRET_ARNS";

/// aideploy's own files at the root of every Lambda zip.
pub const ADAPTER_FILES: &[(&str, &str)] = &[
    ("aideploy_lambda.py", include_str!("../../../assets/lambda/aideploy_lambda.py")),
    ("aideploy_secrets.py", include_str!("../../../assets/lambda/aideploy_secrets.py")),
];

/// Where Lambda unpacks the zip: the path bytecode records for its source files.
const LAMBDA_TASK_ROOT: &str = "/var/task";

/// Bumped whenever the bytes this module writes for the same inputs change.
const FORMAT: &str = "aideploy-lambda-zip-v1";
const MIB: u64 = 1024 * 1024;
/// zlib's default. Measured on the benchmark's deps (77 MiB): level 4 compresses in 63%
/// of the time but the zip is 2% larger, and every deploy uploads the whole zip, while
/// the deps are compressed once per dependency set.
const COMPRESSION_LEVEL: i64 = 6;
/// I/O buffer size for writing archives.
const BUF: usize = 256 * 1024;

/// Lambda's size limits for a deployment package.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Above this the zip must be uploaded through S3 (`UpdateFunctionCode` takes 50 MB
    /// inline).
    pub max_direct_upload: u64,
    /// Above this Lambda refuses the package, however it is uploaded (250 MB unzipped).
    pub max_unzipped: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_direct_upload: 50 * MIB, max_unzipped: 250 * MIB }
    }
}

/// A built zip.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LambdaZip {
    pub path: PathBuf,
    /// Hex sha256 of the zip file.
    pub sha256: String,
    /// Size of the zip file.
    pub bytes: u64,
    /// Sum of the entries' uncompressed sizes.
    pub unzipped_bytes: u64,
    pub entries: usize,
    /// Over the direct-upload limit: upload through S3.
    pub needs_s3: bool,
    /// Found in the cache: nothing was built.
    #[serde(skip)]
    pub cached: bool,
    /// Its code and dependencies, for plans (see [`crate::engine::Parts`]).
    #[serde(skip)]
    pub inputs: crate::engine::Inputs,
}

impl LambdaZip {
    /// `sha256:<hex>`, the artifact digest in `--json` output.
    pub fn digest(&self) -> String {
        format!("sha256:{}", self.sha256)
    }

    /// The zip's sha256 as Lambda reports it (`CodeSha256` in GetFunction: base64), so a
    /// backend can tell an unchanged function without uploading anything.
    pub fn code_sha256(&self) -> String {
        let raw = hex::decode(&self.sha256).unwrap_or_default();
        base64(&raw)
    }

    /// What reports show of it: kind `zip`, its digest, size and path.
    pub fn info(&self) -> ArtifactInfo {
        let mut artifact = ArtifactInfo::plain("zip", self.digest(), self.bytes);
        artifact.path = Some(self.path.clone());
        artifact.inputs = self.inputs.clone();
        artifact
    }
}

/// A synthetic API Gateway HTTP API payload 2.0 event, for invoking a new function
/// version directly (e.g. its health path) before any route or alias points at it.
/// `target` is a path with an optional query (`/health`, `/items?id=3`).
pub fn http_event(method: &str, target: &str, body: Option<&[u8]>) -> serde_json::Value {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
    let mut headers = serde_json::json!({"host": "lambda.invoke", "user-agent": "aideploy", "x-forwarded-proto": "https"});
    if body.is_some() {
        headers["content-type"] = serde_json::json!("application/json");
    }
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "domainName": "lambda.invoke",
            "http": {"method": method.to_ascii_uppercase(), "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "aideploy"},
            "routeKey": "$default",
            "stage": "$default"
        },
        "body": body.map(base64),
        "isBase64Encoded": body.is_some()
    })
}

/// Standard base64 with padding (RFC 4648).
fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            s.push(if i <= c.len() { T[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    s
}

/// The whole Lambda artifact for a loaded manifest: its requirements installed for
/// `arch` and the manifest's Python (cached), its source set, the adapter; zipped (cached).
pub fn lambda_zip_for(loaded: &Loaded, arch: Arch, r: &dyn Reporter) -> Result<LambdaZip> {
    let manifest = &loaded.manifest;
    // The zip's adapter runs an ASGI or WSGI app in-process: a server of the app's own
    // (a `command` that is not `gunicorn module:app` and the like) needs an image.
    if let LambdaEntry::Command(command) = LambdaEntry::of(manifest.app()) {
        return Err(crate::error::UsageError::new(format!(
            "`command = \"{command}\"` starts a server of its own, and a Lambda zip runs an ASGI or WSGI app in-process"
        ))
        .hint("build a container image instead: `--package image`, or `package = \"image\"` in [build] (the adapter starts the command there and sends each request to $PORT); or name the app in [app]: asgi = \"module:app\"")
        .into());
    }
    let platform = TargetPlatform::new(arch, manifest.app().runtime.version());
    // `[app] requirements` when given, else a uv project's lock, else requirements.txt
    // or pyproject.toml's dependencies.
    let deps = if manifest.app().requirements.is_none() && has_uv_lock(&loaded.dir) {
        Some(install_locked_for_target(&loaded.dir, &platform, r)?)
    } else {
        let reqs = python::requirements(manifest, &loaded.dir)?;
        if reqs.lines.is_empty() {
            None
        } else {
            Some(install_for_target(&reqs, &platform, r)?)
        }
    };
    let excludes: Vec<String> = manifest.build.exclude.iter().map(|e| e.get().clone()).collect();
    let sources = source::collect(&loaded.dir, &excludes)?;
    let mut zip = build_lambda_zip_compiled(&sources, deps.as_ref(), manifest.app().runtime.version(), &Limits::default(), r)?;
    zip.inputs = crate::engine::Inputs {
        code: sources.code_digest(&crate::artifact::image::manifest_rel(loaded)),
        dependencies: deps.as_ref().map(|d| d.key.clone()).unwrap_or_else(|| "none".into()),
    };
    Ok(zip)
}

/// Builds (or finds in the cache) the zip for `source` + `deps` + the adapter, without
/// bytecode.
pub fn build_lambda_zip(source: &SourceSet, deps: Option<&DepsDir>, r: &dyn Reporter) -> Result<LambdaZip> {
    build_lambda_zip_with(source, deps, &Limits::default(), r)
}

/// [`build_lambda_zip`] with other size limits.
pub fn build_lambda_zip_with(source: &SourceSet, deps: Option<&DepsDir>, limits: &Limits, r: &dyn Reporter) -> Result<LambdaZip> {
    build_in(&cache_dir()?.join("zip"), source, deps, limits, None, r)
}

/// The zip with bytecode for CPython `python` (`3.11`) when a compiler of that version is
/// on this machine ([`bytecode::compiler_for`]); without it, and says so, when none is.
pub fn build_lambda_zip_compiled(
    source: &SourceSet,
    deps: Option<&DepsDir>,
    python: &str,
    limits: &Limits,
    r: &dyn Reporter,
) -> Result<LambdaZip> {
    let compiler = bytecode::compiler_or_say(python, r);
    build_in(&cache_dir()?.join("zip"), source, deps, limits, compiler.as_ref(), r)
}

/// The build, with its cache folder given.
fn build_in(
    root: &Path,
    source: &SourceSet,
    deps: Option<&DepsDir>,
    limits: &Limits,
    compiler: Option<&Compiler>,
    r: &dyn Reporter,
) -> Result<LambdaZip> {
    fs_err::create_dir_all(root)?;
    let key = final_key(source, deps, compiler);
    let out = root.join(format!("lambda-{key}.zip"));
    let meta_path = root.join(format!("lambda-{key}.json"));
    if let Some(hit) = cached_zip(&out, &meta_path, limits) {
        r.detail(&format!("Lambda zip {} is cached", &hit.sha256[..12]));
        return Ok(hit);
    }

    // Sizes first: an oversized package fails before anything is compressed.
    let dep_files = match deps {
        Some(d) => list_files(&d.dir)?,
        None => Vec::new(),
    };
    let dep_sizes: Vec<(String, u64)> = dep_files.iter().map(|f| (f.rel.clone(), f.size)).collect();
    let adapter_bytes: u64 = ADAPTER_FILES.iter().map(|(_, t)| t.len() as u64).sum();
    let mut unzipped = source.bytes() + adapter_bytes + dep_sizes.iter().map(|f| f.1).sum::<u64>();
    if unzipped > limits.max_unzipped {
        return Err(too_big(unzipped, limits, &dep_sizes, source.bytes()).into());
    }

    // Bytecode: the app's and the adapter's compiled for this build, the dependencies'
    // once per dependency set; within Lambda's unzipped limit, the largest packages'
    // left out first when all of it does not fit.
    let scratch = tempfile::Builder::new().prefix("pyc-app-").tempdir_in(root)?;
    let (app_pycs, dep_pycs, deps_variant) = match compiler {
        None => (Vec::new(), Vec::new(), String::new()),
        Some(c) => {
            let app_pycs = app_bytecode(c, source, scratch.path())?;
            let all = match deps {
                Some(d) => ensure_deps_bytecode(root, d, &dep_files, c, r)?,
                None => Vec::new(),
            };
            let budget = limits.max_unzipped.saturating_sub(unzipped + app_pycs.iter().map(|p| p.size).sum::<u64>());
            let (kept, left_out) = fit_bytecode(all, &dep_sizes, budget);
            if !left_out.is_empty() {
                r.warn(&format!(
                    "left out the bytecode of {} (the largest packages first): with it the zip would be over Lambda's {} unzipped limit, so those modules compile at each cold start",
                    left_out.join(", "),
                    mib(limits.max_unzipped)
                ));
            }
            let variant = format!("-bc{}-{}", c.id(), &hex::encode(Sha256::digest(left_out.join(",").as_bytes()))[..8]);
            (app_pycs, kept, variant)
        }
    };
    unzipped += app_pycs.iter().chain(&dep_pycs).map(|p| p.size).sum::<u64>();
    let deps_zip = deps.map(|d| root.join(format!("deps-{}-{FORMAT}{deps_variant}.zip", d.key)));
    if let (Some(d), Some(p)) = (deps, &deps_zip) {
        ensure_deps_zip(p, d, &dep_pycs, r)?;
    }
    let _lock = FileLock::acquire(&root.join(format!("lambda-{key}.lock")))?;
    if let Some(hit) = cached_zip(&out, &meta_path, limits) {
        return Ok(hit);
    }
    r.progress("writing the Lambda zip");
    let started = std::time::Instant::now();
    let tmp = out.with_extension(format!("zip.tmp-{}", std::process::id()));
    let written = write_final(&tmp, source, &app_pycs, deps_zip.as_deref());
    let entries = match written {
        Ok(n) => n,
        Err(e) => {
            let _ = fs_err::remove_file(&tmp);
            return Err(e);
        }
    };
    r.detail(&format!("wrote {entries} entries in {:.2}s", started.elapsed().as_secs_f64()));
    let sha256 = hex::encode(source::hash_file(&tmp)?);
    let bytes = fs_err::metadata(&tmp)?.len();
    fs_err::rename(&tmp, &out)?;
    let zip = LambdaZip {
        path: out,
        sha256,
        bytes,
        unzipped_bytes: unzipped,
        entries,
        needs_s3: bytes > limits.max_direct_upload,
        cached: false,
        inputs: Default::default(),
    };
    write_atomic(&meta_path, &serde_json::to_vec(&zip)?)?;
    if zip.needs_s3 {
        r.detail(&format!(
            "the zip is {:.1} MiB, over Lambda's {} MiB direct upload: it goes through S3",
            zip.bytes as f64 / MIB as f64,
            limits.max_direct_upload / MIB
        ));
    }
    prune(root, 8);
    Ok(zip)
}

/// The bytecode of the app's files and of aideploy's adapter, written under `scratch`.
fn app_bytecode(compiler: &Compiler, source: &SourceSet, scratch: &Path) -> Result<Vec<Pyc>> {
    let mut files: Vec<(String, PathBuf)> = source.files.iter().map(|f| (f.rel.clone(), f.abs.clone())).collect();
    let adapter = scratch.join("adapter");
    fs_err::create_dir_all(&adapter)?;
    for (name, text) in ADAPTER_FILES {
        let path = adapter.join(name);
        fs_err::write(&path, text)?;
        files.push((name.to_string(), path));
    }
    compiler.compile(&files, LAMBDA_TASK_ROOT, &scratch.join("out"))
}

/// Keeps the dependencies' bytecode within `budget` bytes: when all of it does not fit,
/// the bytecode of the largest packages (by installed size) is left out first. Returns
/// what is kept and the packages left out.
fn fit_bytecode(pycs: Vec<Pyc>, dep_sizes: &[(String, u64)], budget: u64) -> (Vec<Pyc>, Vec<String>) {
    let mut total: u64 = pycs.iter().map(|p| p.size).sum();
    if total <= budget {
        return (pycs, Vec::new());
    }
    let mut installed: BTreeMap<String, u64> = BTreeMap::new();
    for (rel, size) in dep_sizes {
        *installed.entry(package_of(rel)).or_default() += size;
    }
    let mut compiled: BTreeMap<String, u64> = BTreeMap::new();
    for p in &pycs {
        *compiled.entry(package_of(&p.rel)).or_default() += p.size;
    }
    let mut ranked: Vec<(&String, u64)> = compiled.keys().map(|k| (k, installed.get(k).copied().unwrap_or(0))).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut left_out = Vec::new();
    for (name, _) in ranked {
        if total <= budget {
            break;
        }
        total -= compiled[name];
        left_out.push(name.clone());
    }
    let kept = pycs.into_iter().filter(|p| !left_out.contains(&package_of(&p.rel))).collect();
    (kept, left_out)
}

/// Everything that decides the zip's bytes.
fn final_key(source: &SourceSet, deps: Option<&DepsDir>, compiler: Option<&Compiler>) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT.as_bytes());
    h.update(compiler.map(|c| c.id()).unwrap_or_else(|| "no-bytecode".into()).as_bytes());
    for (name, text) in ADAPTER_FILES {
        h.update(name.as_bytes());
        h.update(Sha256::digest(text.as_bytes()));
    }
    h.update(deps.map(|d| d.key.as_str()).unwrap_or("no-deps").as_bytes());
    h.update(source.digest().as_bytes());
    hex::encode(h.finalize())[..32].to_string()
}

fn cached_zip(out: &Path, meta: &Path, limits: &Limits) -> Option<LambdaZip> {
    let text = fs_err::read(meta).ok()?;
    let mut zip: LambdaZip = serde_json::from_slice(&text).ok()?;
    // The zip file is still there and whole (its size matches what was recorded).
    if fs_err::metadata(out).ok()?.len() != zip.bytes {
        return None;
    }
    zip.path = out.to_path_buf();
    zip.needs_s3 = zip.bytes > limits.max_direct_upload;
    zip.cached = true;
    Some(zip)
}

/// Keeps the `keep` most recently built zips (and their deps zips' inputs untouched).
fn prune(root: &Path, keep: usize) {
    let Ok(read) = fs_err::read_dir(root) else { return };
    let mut zips: Vec<(std::time::SystemTime, PathBuf)> = read
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("lambda-") && name.ends_with(".zip")
        })
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .collect();
    zips.sort_by_key(|z| std::cmp::Reverse(z.0));
    for (_, p) in zips.into_iter().skip(keep) {
        let _ = fs_err::remove_file(p.with_extension("json"));
        let _ = fs_err::remove_file(p.with_extension("lock"));
        let _ = fs_err::remove_file(&p);
    }
}

enum Item<'a> {
    Adapter(&'a str),
    App(&'a crate::artifact::source::SourceFile),
    /// Bytecode of the app's or the adapter's files.
    Pyc(&'a Pyc),
    Dep(usize),
}

/// Writes the final zip: all entries sorted by name; deps copied raw from `deps_zip`.
fn write_final(dest: &Path, source: &SourceSet, pycs: &[Pyc], deps_zip: Option<&Path>) -> Result<usize> {
    // In memory: entries are read in name order, not file order, and a BufReader
    // would drop its buffer on each seek. A deps zip is under 250 MB by Lambda's rules.
    let mut deps = match deps_zip {
        Some(p) => Some(ZipArchive::new(Cursor::new(fs_err::read(p).with_context(|| format!("cannot read {}", p.display()))?))?),
        None => None,
    };
    let mut items: Vec<(String, Item)> = Vec::new();
    for (name, text) in ADAPTER_FILES {
        items.push((name.to_string(), Item::Adapter(text)));
    }
    for f in &source.files {
        items.push((f.rel.clone(), Item::App(f)));
    }
    for p in pycs {
        items.push((p.rel.clone(), Item::Pyc(p)));
    }
    if let Some(archive) = &deps {
        for i in 0..archive.len() {
            let name = archive.name_for_index(i).context("a deps zip entry has no name")?;
            items.push((name.to_string(), Item::Dep(i)));
        }
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    for pair in items.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(collision(&pair[0].0, &pair[0].1, &pair[1].1).into());
        }
    }
    let file = File::create(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let mut out = ZipWriter::new(BufWriter::with_capacity(BUF, file));
    for (name, item) in &items {
        match item {
            Item::Adapter(text) => {
                out.start_file(name.as_str(), options(false))?;
                out.write_all(text.as_bytes())?;
            }
            Item::App(f) => {
                out.start_file(name.as_str(), options(f.executable))?;
                let mut file = BufReader::new(File::open(&f.abs).with_context(|| format!("cannot read {}", f.abs.display()))?);
                std::io::copy(&mut file, &mut out)?;
            }
            Item::Pyc(p) => {
                out.start_file(name.as_str(), options(false))?;
                let mut file = BufReader::new(File::open(&p.abs).with_context(|| format!("cannot read {}", p.abs.display()))?);
                std::io::copy(&mut file, &mut out)?;
            }
            Item::Dep(i) => {
                let archive = deps.as_mut().expect("Dep items come from the deps archive");
                out.raw_copy_file(archive.by_index_raw(*i)?)?;
            }
        }
    }
    // No fsync: this is a cache, and a torn file fails `cached_zip`'s size check.
    out.finish()?.flush()?;
    Ok(items.len())
}

fn collision(name: &str, a: &Item, b: &Item) -> Hinted {
    let what = |i: &Item| match i {
        Item::Adapter(_) => "aideploy's Lambda adapter",
        Item::App(_) | Item::Pyc(_) => "the app's files",
        Item::Dep(_) => "the dependencies",
    };
    Hinted::new(
        format!("`{name}` is in both {} and {}: the zip can hold only one", what(a), what(b)),
        "rename or move the app's file, or leave it out with `[build] exclude`",
    )
}

/// The > 250 MB error, with the ten largest packages.
fn too_big(unzipped: u64, limits: &Limits, deps: &[(String, u64)], app_bytes: u64) -> Hinted {
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    for (rel, size) in deps {
        *sizes.entry(package_of(rel)).or_default() += size;
    }
    let mut ranked: Vec<(String, u64)> = sizes.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut message = format!(
        "{TOO_BIG_PREFIX}{} unzipped, {TOO_BIG_LIMIT}{} ({} bytes) for a zip\nlargest packages:",
        mib(unzipped),
        mib(limits.max_unzipped),
        limits.max_unzipped
    );
    let width = ranked.iter().take(10).map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, size) in ranked.iter().take(10) {
        message.push_str(&format!("\n  {name:<width$}  {:>10}", mib(*size)));
    }
    message.push_str(&format!("\nthe app's own files: {}", mib(app_bytes)));
    Hinted::new(
        message,
        "set `package = \"image\"` under [build] to deploy this app as a container image (up to 10 GB), \
         or drop dependencies it does not need",
    )
}

/// For an error from building a zip: when it is the "over Lambda's 250 MB unzipped"
/// refusal (which [`too_big`] writes), its first line, the sizes, so a caller can deploy
/// a container image instead and say why.
pub fn too_big_reason(e: &anyhow::Error) -> Option<String> {
    let h = crate::error::Failure::of(e).and_then(crate::error::Failure::as_hinted)?;
    let first = h.message.lines().next()?;
    (first.starts_with(TOO_BIG_PREFIX) && first.contains(TOO_BIG_LIMIT)).then(|| first.to_string())
}

const TOO_BIG_PREFIX: &str = "the Lambda package would be ";
const TOO_BIG_LIMIT: &str = "over Lambda's limit of ";

/// The package a deps path belongs to: its top-level folder or module, with
/// `numpy.libs` and `numpy-2.2.6.dist-info` counted as `numpy`.
fn package_of(rel: &str) -> String {
    let top = rel.split('/').next().unwrap_or(rel);
    let top = top.strip_suffix(".libs").unwrap_or(top);
    let top = if top.ends_with(".dist-info") || top.ends_with(".data") { top.split('-').next().unwrap_or(top) } else { top };
    let top = if rel.contains('/') { top } else { top.strip_suffix(".py").unwrap_or(top) };
    top.to_ascii_lowercase().replace('-', "_")
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

/// Reads a zip's entries (name, uncompressed size); for tests and `aideploy build`.
pub fn list_entries(path: &Path) -> Result<Vec<(String, u64)>> {
    let mut archive = ZipArchive::new(BufReader::new(File::open(path).with_context(|| format!("cannot open {}", path.display()))?))?;
    let mut out = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let f = archive.by_index_raw(i)?;
        out.push((f.name().to_string(), f.size()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
