//! `aideploy.toml`: serde types, validating newtypes, and checks whose errors point at
//! the offending span.

pub mod checks;
pub mod cost;
mod diag;
pub mod infer;
mod recover;
mod schema;
mod secret_entry;
mod secret_like;
mod settings;
mod spanned;
mod target;
pub mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

pub use diag::{did_you_mean, ManifestError, ManifestErrors};
pub use settings::markdown_table as settings_markdown_table;
pub use spanned::Sp;
pub use target::{Resolved, Target, TargetSettings, VarName, SNAPSTART_MIN_PYTHON_MINOR};
pub use values::*;

pub const FILE_NAME: &str = "aideploy.toml";

/// The whole manifest, `aideploy.toml`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "aideploy.toml", description = "The aideploy manifest: one app, many targets.")]
pub struct Manifest {
    /// Manifest format version. Always `1`.
    #[schemars(extend("const" = 1))]
    pub version: Sp<u32>,
    /// What the app is and how it starts.
    pub app: Sp<App>,
    /// How artifacts are built.
    #[serde(default)]
    pub build: Build,
    /// Plain environment variables for the app. Secret values go in `[secrets]`.
    #[serde(default)]
    #[schemars(schema_with = "schema::env_map")]
    pub env: BTreeMap<Sp<String>, Sp<EnvValue>>,
    /// Secrets by name. Values come from the local environment or `.env` at deploy
    /// time and go to the target's secret store; only references reach the config.
    #[serde(default)]
    #[schemars(schema_with = "schema::secrets_map")]
    pub secrets: BTreeMap<Sp<String>, Sp<SecretEntry>>,
    /// Deployment targets. `[targets.NAME]`; `kind` is implied when NAME is a kind.
    #[serde(default)]
    #[schemars(schema_with = "schema::targets_map")]
    pub targets: BTreeMap<Sp<TargetName>, Sp<TargetSettings>>,
    /// The traffic a month's bill is estimated from (`plan`, `deploy`, `aideploy cost`),
    /// and a budget.
    #[serde(default)]
    pub cost: cost::Cost,
    /// Requests sent to the live app right after each deploy, and what the answers must
    /// be (`[[checks]]`); a failing one rolls the deploy back where the target can.
    #[serde(default)]
    pub checks: Vec<checks::Check>,
}

/// `[app]`: what the app is and how it starts.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{ "required": ["asgi"] }, { "required": ["command"] }]))]
pub struct App {
    /// The app's name; part of every resource name.
    pub name: AppName,
    /// Python runtime, e.g. `python3.11`.
    #[serde(default)]
    pub runtime: Runtime,
    /// The ASGI app object (`module:attribute`), served by uvicorn.
    pub asgi: Option<Sp<AsgiRef>>,
    /// Or: a command that starts an HTTP server listening on `$PORT`.
    #[schemars(extend("pattern" = "\\S"))]
    pub command: Option<Sp<String>>,
    /// The requirements file, relative to the manifest. Default: `requirements.txt`
    /// when it exists, else the `[project] dependencies` of `pyproject.toml`.
    pub requirements: Option<Sp<String>>,
    /// The port the app listens on inside its container or process (`$PORT`).
    #[serde(default)]
    pub port: Port,
    /// The path that answers 2xx once the app is ready.
    #[serde(default)]
    pub health: HealthPath,
}

/// `[build]`: how artifacts are built.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// Gitignore-style patterns of files left out of every artifact (in addition to
    /// `.gitignore`, `.git/`, `.env`, virtualenvs and `__pycache__`).
    #[serde(default)]
    pub exclude: Vec<Sp<String>>,
    /// `zip` or `image`. The lambda target deploys a zip by default and a container-image
    /// function from ECR with `image` (or when the zip is over Lambda's 250 MB unzipped
    /// limit); container targets always use `image`.
    pub package: Option<Sp<Package>>,
    /// The base image for OCI images (default `python:<version>-slim`).
    pub base_image: Option<Sp<ImageName>>,
    /// The repository images are pushed to when the target does not imply one
    /// (e.g. `ghcr.io/acme/rag`); `AIDEPLOY_REGISTRY` overrides it.
    pub registry: Option<Sp<Repository>>,
    /// The image platform, `linux/amd64` (default) or `linux/arm64`.
    pub platform: Option<Sp<Platform>>,
}

/// One secret. `NAME = {}` reads `$NAME`; `env` names another variable to read.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// The local variable (or `.env` key) holding the value. Default: the secret's name.
    #[schemars(extend("pattern" = schema::ENV_NAME_PATTERN))]
    pub env: Option<Sp<String>>,
    /// When true, a missing value is not an error: the app runs without the variable.
    #[serde(default)]
    pub optional: bool,
}

/// A `[secrets]` entry as written: a table (`SecretSpec`), or a value, which is refused
/// with its own error that never quotes it (see `secret_entry`).
#[derive(Debug, Clone)]
pub struct SecretEntry(pub SecretSpec);

impl std::ops::Deref for SecretEntry {
    type Target = SecretSpec;
    fn deref(&self) -> &SecretSpec {
        &self.0
    }
}

impl JsonSchema for SecretEntry {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        SecretSpec::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        SecretSpec::json_schema(generator)
    }
}

impl<'de> Deserialize<'de> for SecretEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(secret_entry::Visitor)
    }
}

/// A manifest read from disk, with what is needed to point at its lines.
#[derive(Debug)]
pub struct Loaded {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub display_name: String,
    pub text: String,
    pub manifest: Manifest,
}

/// Why no manifest could be loaded. Travels as [`crate::error::Failure::Load`].
#[derive(Debug)]
pub enum LoadError {
    NotFound(String),
    Read { path: String, source: std::io::Error },
    Invalid(ManifestErrors),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::NotFound(dir) => write!(f, "no {FILE_NAME} in {dir}"),
            LoadError::Read { path, source } => write!(f, "cannot read {path}: {source}"),
            LoadError::Invalid(e) => write!(f, "{e}"),
        }
    }
}

impl From<ManifestErrors> for LoadError {
    fn from(e: ManifestErrors) -> Self {
        LoadError::Invalid(e)
    }
}

impl LoadError {
    pub fn hint(&self) -> Option<String> {
        match self {
            LoadError::NotFound(_) => Some("run `aideploy init` to write one, or point at it with -C/--manifest PATH".into()),
            _ => None,
        }
    }
}

/// Finds the manifest: `-C PATH` may name the file or its folder; default `./aideploy.toml`.
pub fn locate(arg: Option<&Path>) -> PathBuf {
    match arg {
        Some(p) if p.is_dir() => p.join(FILE_NAME),
        Some(p) => p.to_path_buf(),
        None => PathBuf::from(FILE_NAME),
    }
}

pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let bytes = match fs_err::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            return Err(LoadError::NotFound(dir.display().to_string()));
        }
        Err(e) => return Err(LoadError::Read { path: path.display().to_string(), source: e }),
    };
    let display_name = path.display().to_string();
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => return Err(ManifestErrors::from(not_utf8(e.as_bytes(), e.utf8_error(), &display_name)).into()),
    };
    let (manifest, mut errors) = parse_all(&text, &display_name);
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let dir = dir.canonicalize().unwrap_or(dir);
    if let Some(m) = &manifest {
        errors.extend(check_files(m, &dir, &display_name, &text));
    }
    errors.sort_by_key(|e| e.span.start);
    let mut manifest = match manifest {
        Some(m) if errors.is_empty() => m,
        _ => return Err(ManifestErrors(errors).into()),
    };
    // No `runtime` in [app]: the one the project names elsewhere, else the default.
    let given = toml::from_str::<toml::Table>(&text).ok().is_some_and(|t| t.get("app").and_then(|a| a.get("runtime")).is_some());
    if !given {
        if let Some((runtime, _)) = infer::runtime(&dir) {
            manifest.app.value.runtime = runtime;
        }
    }
    Ok(Loaded { path: path.to_path_buf(), dir, display_name, text, manifest })
}

/// A file that is not UTF-8: the first bad byte, by line and column, on its line quoted
/// with the bad bytes replaced.
fn not_utf8(bytes: &[u8], e: std::str::Utf8Error, name: &str) -> ManifestError {
    let at = e.valid_up_to();
    let shown = String::from_utf8_lossy(bytes);
    let before = &shown[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    // U+FFFD stands for the bad bytes in the quoted line.
    let span = at..at + '\u{fffd}'.len_utf8();
    ManifestError::new(
        name,
        &shown,
        span,
        "aideploy::manifest::not_utf8",
        format!("{name} is not UTF-8: byte 0x{:02X} at line {line}, column {column}", bytes[at]),
    )
    .label("not UTF-8")
    .help("TOML files are UTF-8: save the file as UTF-8 in your editor, or convert it (e.g. `iconv -f WINDOWS-1252 -t UTF-8`)")
}

/// Parses and checks everything that needs no file system.
pub fn parse(text: &str, name: &str) -> Result<Manifest, ManifestErrors> {
    match parse_all(text, name) {
        (Some(m), errors) if errors.is_empty() => Ok(m),
        (_, errors) => Err(ManifestErrors(errors)),
    }
}

/// Every problem of the file, in file order, and the manifest as far as it could be
/// read (entries with a problem left out), for the checks that need the file system:
/// one run reports them all.
fn parse_all(text: &str, name: &str) -> (Option<Manifest>, Vec<ManifestError>) {
    let read = recover::read::<Manifest>(text, name);
    let mut errors = read.errors;
    let Some(manifest) = read.value else {
        errors.sort_by_key(|e| e.span.start);
        return (None, errors);
    };
    let written = |path: &[&str]| recover::written(read.written.as_ref(), path);
    let err = |span: std::ops::Range<usize>, code, msg: String| ManifestError::new(name, text, span, code, msg);

    if *manifest.version.get() != 1 {
        errors.push(
            err(
                manifest.version.span.clone(),
                "aideploy::manifest::version",
                format!("unsupported manifest version {}", manifest.version.get()),
            )
            .label("this aideploy reads version 1")
            .help("set `version = 1`, or upgrade aideploy if this file was written for a newer one"),
        );
    }

    let app = manifest.app.get();
    match (&app.asgi, &app.command) {
        // An `asgi` or `command` that was written but is wrong has its own error.
        (None, None) if written(&["app", "asgi"]) || written(&["app", "command"]) => {}
        (None, None) => errors.push(
            err(manifest.app.span.clone(), "aideploy::manifest::no_entrypoint", "[app] says neither how to serve the app".into())
                .label("needs `asgi` or `command`")
                .help("add `asgi = \"app.main:app\"` for a FastAPI/ASGI app, or `command = \"python server.py\"` for a server that listens on $PORT"),
        ),
        (Some(_), Some(c)) => errors.push(
            err(c.span.clone(), "aideploy::manifest::two_entrypoints", "[app] has both `asgi` and `command`".into())
                .label("remove one of them")
                .help("`asgi` runs the app object under uvicorn; `command` runs your own server; keep the one you mean"),
        ),
        (None, Some(c)) if c.get().trim().is_empty() => errors.push(
            err(c.span.clone(), "aideploy::manifest::invalid_value", "`command` is empty".into())
                .label("empty command")
                .help("give the command that starts your server, e.g. `python server.py`"),
        ),
        _ => {}
    }

    for pattern in &manifest.build.exclude {
        if let Err(e) = globset::Glob::new(pattern.get()) {
            errors.push(
                err(pattern.span.clone(), "aideploy::manifest::invalid_value", format!("`{}` is not a valid pattern", pattern.get()))
                    .label(e.kind().to_string())
                    .help("patterns are gitignore-style, e.g. `tests/` or `*.ipynb`"),
            );
        }
    }

    for (key, value) in &manifest.env {
        if let Err(msg) = check_env_name(key.get()) {
            errors.push(
                err(key.span.clone(), "aideploy::manifest::env_name", msg)
                    .label("invalid name")
                    .help("environment variable names are letters, digits and `_`, not starting with a digit"),
            );
        } else if is_reserved(key.get()) {
            errors.push(
                err(key.span.clone(), "aideploy::manifest::env_reserved", format!("`{}` is set by aideploy", key.get()))
                    .label("reserved")
                    .help("PORT comes from `[app] port`; remove it from [env]"),
            );
        }
        if let Some(what) = secret_like::detect(key.get(), &value.get().0) {
            errors.push(
                err(value.span.clone(), "aideploy::manifest::secret_in_env", format!("`{}` in [env] looks like a secret ({what})", key.get()))
                    .label("plaintext secret")
                    .help(format!(
                        "move it to [secrets] as `{0} = {{}}` and put the value in your environment or .env; [env] values end up in plain config",
                        key.get()
                    )),
            );
        }
    }

    for (key, spec) in &manifest.secrets {
        if let Err(msg) = check_env_name(key.get()) {
            errors.push(
                err(key.span.clone(), "aideploy::manifest::env_name", msg)
                    .label("invalid name")
                    .help("secret names are environment variable names: letters, digits and `_`"),
            );
        }
        if let Some((env_key, _)) = manifest.env.iter().find(|(k, _)| k.get() == key.get()) {
            errors.push(
                err(env_key.span.clone(), "aideploy::manifest::env_and_secret", format!("`{}` is in both [env] and [secrets]", key.get()))
                    .label("also a secret")
                    .help("keep it in [secrets] only"),
            );
        }
        if let Some(from) = &spec.get().env {
            if let Err(msg) = check_env_name(from.get()) {
                errors.push(
                    err(from.span.clone(), "aideploy::manifest::env_name", msg)
                        .label("invalid name")
                        .help("`env` names the local variable holding the value, e.g. `env = \"MY_KEY\"`"),
                );
            }
        }
    }

    for (target_name, settings) in &manifest.targets {
        let kind_written = written(&["targets", target_name.get().as_str(), "kind"]);
        errors.extend(target::check_declared(target_name, settings, kind_written, name, text));
        // A runtime written in [app] that Lambda SnapStart does not take (one inferred
        // from the project is checked when the zip is built).
        if written(&["app", "runtime"]) {
            errors.extend(target::check_snapstart_runtime(target_name, settings, &manifest.app.get().runtime, name, text));
        }
    }

    errors.extend(checks::check_all(&manifest.checks, name, text));

    errors.sort_by_key(|e| e.span.start);
    (Some(manifest), errors)
}

fn check_files(m: &Manifest, dir: &Path, name: &str, text: &str) -> Vec<ManifestError> {
    let mut errors = Vec::new();
    if let Some(req) = &m.app.get().requirements {
        if !dir.join(req.get()).is_file() {
            errors.push(
                ManifestError::new(
                    name,
                    text,
                    req.span.clone(),
                    "aideploy::manifest::missing_file",
                    format!("`{}` does not exist", req.get()),
                )
                .label("no such file next to the manifest")
                .help("the path is relative to the folder holding aideploy.toml"),
            );
        }
    }
    errors
}

fn check_env_name(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let ok = matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic()) && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!("`{s}` is not a valid environment variable name"))
    }
}

fn is_reserved(key: &str) -> bool {
    key == "PORT" || key.starts_with("AIDEPLOY_")
}

impl Manifest {
    pub fn app(&self) -> &App {
        self.app.get()
    }

    /// Declared target names, in file order of their names.
    pub fn target_names(&self) -> Vec<String> {
        self.targets.keys().map(|k| k.get().to_string()).collect()
    }

    pub fn env_pairs(&self) -> Vec<(String, String)> {
        self.env.iter().map(|(k, v)| (k.get().clone(), v.get().0.clone())).collect()
    }
}

/// The manifest's JSON Schema, for editors.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Manifest)).expect("schema serializes")
}
