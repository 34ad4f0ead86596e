//! What the source set leaves out, and why: credentials (always, whatever any ignore
//! file says), built-in clutter, `[build] exclude`, `.dockerignore` and `.gcloudignore`
//! at the project root, and every `.gitignore` from the repository root down (the
//! nearest folder at or above the project holding `.git`; without one, the project's
//! own). Ignore files are read with gitignore rules. The model directory of a sagemaker
//! target goes through the same rules.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;

/// Credentials and what leads to them: never in an artifact, whatever `.gitignore`,
/// `[build] exclude` or a `!pattern` says. Google service-account key files are found
/// by their content (`is_service_account_key`).
pub const CREDENTIALS: &[&str] = &[
    ".env*",
    ".envrc",
    ".netrc",
    ".npmrc",
    ".pypirc",
    "*.pem",
    "*.key",
    "id_rsa*",
    ".aws/",
    ".azure/",
    "**/.config/gcloud/",
    "**/.streamlit/secrets.toml",
    ".git",
];

/// Never part of an artifact either: other VCS data, local virtualenvs and caches.
pub const ALWAYS_EXCLUDED: &[&str] = &[
    ".hg/",
    ".svn/",
    ".venv/",
    "venv/",
    "env/",
    "__pycache__/",
    "*.pyc",
    "*.pyo",
    ".aideploy/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".DS_Store",
    "node_modules/",
    ".ipynb_checkpoints/",
];

/// The ignore files honoured at the project root, besides `.gitignore`.
pub const IGNORE_FILES: &[&str] = &[".dockerignore", ".gcloudignore"];

/// A path left out of an artifact, and the rule that left it out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Excluded {
    /// Relative to the folder walked, `/`-separated; a folder ends with `/`.
    pub path: String,
    pub reason: String,
}

pub struct Rules {
    root: PathBuf,
    credentials: Gitignore,
    builtin: Gitignore,
    manifest: Gitignore,
    files: Vec<(&'static str, Gitignore)>,
    /// `.gitignore` of each folder from the repository root down to the project's
    /// parent (the project's own and those below are read as the walk reaches them).
    above: Vec<(PathBuf, Gitignore)>,
    below: HashMap<PathBuf, Option<Gitignore>>,
}

fn matcher(root: &Path, patterns: impl IntoIterator<Item = String>) -> Result<Gitignore> {
    let mut b = GitignoreBuilder::new(root);
    for p in patterns {
        b.add_line(None, &p).with_context(|| format!("bad exclude pattern `{p}`"))?;
    }
    Ok(b.build()?)
}

fn ignore_file(dir: &Path, name: &str) -> Result<Option<Gitignore>> {
    let path = dir.join(name);
    if !path.is_file() {
        return Ok(None);
    }
    let mut b = GitignoreBuilder::new(dir);
    if let Some(e) = b.add(&path) {
        return Err(anyhow::Error::new(e).context(format!("cannot read {}", path.display())));
    }
    Ok(Some(b.build().with_context(|| format!("cannot read {}", path.display()))?))
}

fn verdict(m: Match<&ignore::gitignore::Glob>) -> Option<Option<String>> {
    match m {
        Match::Ignore(g) => Some(Some(g.original().to_string())),
        Match::Whitelist(_) => Some(None),
        Match::None => None,
    }
}

impl Rules {
    pub fn new(root: &Path, exclude: &[String]) -> Result<Rules> {
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        let credentials = matcher(&root, CREDENTIALS.iter().map(|s| s.to_string()))?;
        let builtin = matcher(&root, ALWAYS_EXCLUDED.iter().map(|s| s.to_string()))?;
        let manifest = matcher(&root, exclude.iter().cloned())?;
        let mut files = Vec::new();
        for name in IGNORE_FILES {
            if let Some(g) = ignore_file(&root, name)? {
                files.push((*name, g));
            }
        }
        let mut above = Vec::new();
        if let Some(repo) = root.ancestors().find(|d| d.join(".git").exists()) {
            for dir in root.ancestors().skip(1).take_while(|d| d.starts_with(repo)) {
                if let Some(g) = ignore_file(dir, ".gitignore")? {
                    above.push((dir.to_path_buf(), g));
                }
            }
        }
        Ok(Rules { root, credentials, builtin, manifest, files, above, below: HashMap::new() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Why `abs` (under the root; `rel` its relative path) is left out, or `None`.
    pub fn excluded(&mut self, abs: &Path, rel: &str, is_dir: bool) -> Result<Option<String>> {
        if let Match::Ignore(g) = self.credentials.matched(abs, is_dir) {
            return Ok(Some(format!("credentials: `{}` is never shipped", g.original())));
        }
        if let Match::Ignore(g) = self.builtin.matched(abs, is_dir) {
            return Ok(Some(format!("built-in: `{}`", g.original())));
        }
        if let Match::Ignore(g) = self.manifest.matched(abs, is_dir) {
            return Ok(Some(format!("[build] exclude: `{}`", g.original())));
        }
        for (name, g) in &self.files {
            if let Match::Ignore(p) = g.matched(abs, is_dir) {
                return Ok(Some(format!("{name}: `{}`", p.original())));
            }
        }
        // The deepest .gitignore with a say decides (a `!pattern` deeper down wins).
        let parent = abs.parent().unwrap_or(&self.root).to_path_buf();
        let dirs: Vec<PathBuf> = parent.ancestors().take_while(|d| d.starts_with(&self.root)).map(Path::to_path_buf).collect();
        for dir in &dirs {
            if !self.below.contains_key(dir) {
                let g = ignore_file(dir, ".gitignore")?;
                self.below.insert(dir.clone(), g);
            }
            if let Some(Some(g)) = self.below.get(dir) {
                if let Some(v) = verdict(g.matched(abs, is_dir)) {
                    return Ok(v.map(|p| format!("{}: `{p}`", self.gitignore_name(dir))));
                }
            }
        }
        for (dir, g) in &self.above {
            if let Some(v) = verdict(g.matched(abs, is_dir)) {
                return Ok(v.map(|p| format!("{}: `{p}`", self.gitignore_name(dir))));
            }
        }
        if !is_dir && rel.ends_with(".json") && is_service_account_key(abs) {
            return Ok(Some("credentials: a Google service-account key (\"type\": \"service_account\")".into()));
        }
        Ok(None)
    }

    fn gitignore_name(&self, dir: &Path) -> String {
        match dir.strip_prefix(&self.root) {
            Ok(r) if r.as_os_str().is_empty() => ".gitignore".into(),
            Ok(r) => format!("{}/.gitignore", r.to_string_lossy().replace('\\', "/")),
            Err(_) => {
                let up = self.root.ancestors().position(|a| a == dir).unwrap_or(1);
                format!("{}.gitignore", "../".repeat(up))
            }
        }
    }
}

/// Whether `path` is a Google service-account key: a small JSON object whose `type` is
/// `service_account`.
pub fn is_service_account_key(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else { return false };
    if meta.len() > 64 * 1024 {
        return false;
    }
    let Ok(text) = std::fs::read(path) else { return false };
    serde_json::from_slice::<serde_json::Value>(&text).is_ok_and(|v| v.get("type").and_then(|t| t.as_str()) == Some("service_account"))
}

/// `rel` inside `project`: the folder a manifest setting such as `model_dir` names,
/// which must resolve (links followed) inside the project, so that nothing outside the
/// folder a user reviews can end up in an artifact.
pub fn inside_project(project: &Path, setting: &str, rel: &str) -> Result<PathBuf, crate::error::UsageError> {
    let project = project.canonicalize().unwrap_or_else(|_| project.to_path_buf());
    let joined = project.join(rel);
    let resolved = joined.canonicalize().unwrap_or_else(|_| lexical(&joined));
    if resolved.starts_with(&project) {
        Ok(resolved)
    } else {
        Err(crate::error::UsageError::new(format!(
            "`{setting} = \"{rel}\"` resolves to {}, outside the project folder {}",
            resolved.display(),
            project.display()
        ))
        .hint(format!("move it into the project folder and give `{setting}` relative to aideploy.toml, e.g. `{setting} = \"model\"`")))
    }
}

/// `a/b/../c` as `a/c`, for a path that does not exist (yet).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
