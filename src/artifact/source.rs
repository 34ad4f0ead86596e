//! The app's source set: the files under the manifest's folder, less what `.gitignore`,
//! `[build] exclude` and the built-in rules leave out. Sorted, hashed, and digested the
//! same way on every machine and checkout path.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ignore::overrides::OverrideBuilder;
use ignore::WalkBuilder;
use sha2::{Digest, Sha256};

/// Never part of an artifact: VCS data, local virtualenvs, caches, and `.env` (secret
/// values must not ship inside an artifact).
pub const ALWAYS_EXCLUDED: &[&str] = &[
    ".git/",
    ".hg/",
    ".svn/",
    ".venv/",
    "venv/",
    "env/",
    "__pycache__/",
    "*.pyc",
    "*.pyo",
    ".env",
    ".env.*",
    ".aideploy/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".DS_Store",
    "node_modules/",
    ".ipynb_checkpoints/",
];

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to the app folder, with `/` separators.
    pub rel: String,
    pub abs: PathBuf,
    pub size: u64,
    pub executable: bool,
    pub sha256: [u8; 32],
}

#[derive(Debug, Clone)]
pub struct SourceSet {
    pub root: PathBuf,
    pub files: Vec<SourceFile>,
}

impl SourceSet {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// A digest of paths, modes and contents; independent of mtimes and the root path.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for f in &self.files {
            h.update(f.rel.as_bytes());
            h.update([0, u8::from(f.executable)]);
            h.update(f.sha256);
        }
        hex::encode(h.finalize())
    }
}

/// Collects the source set under `root`.
pub fn collect(root: &Path, exclude: &[String]) -> Result<SourceSet> {
    let mut overrides = OverrideBuilder::new(root);
    for pattern in ALWAYS_EXCLUDED.iter().map(|s| s.to_string()).chain(exclude.iter().cloned()) {
        overrides.add(&format!("!{pattern}")).with_context(|| format!("bad exclude pattern `{pattern}`"))?;
    }
    let overrides = overrides.build()?;
    let walker = WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .ignore(false)
        .parents(false)
        .overrides(overrides)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    let mut files = Vec::new();
    for entry in walker {
        let entry = entry.context("cannot list the app's files")?;
        let Some(ft) = entry.file_type() else { continue };
        if !ft.is_file() {
            continue;
        }
        let abs = entry.path().to_path_buf();
        let rel = abs
            .strip_prefix(root)
            .expect("walk stays under root")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let meta = fs_err::metadata(&abs)?;
        files.push(SourceFile { sha256: hash_file(&abs)?, size: meta.len(), executable: is_executable(&meta), rel, abs });
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(SourceSet { root: root.to_path_buf(), files })
}

/// Whether any execute bit is set (never, off Unix).
#[cfg(unix)]
pub fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
pub fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

pub fn hash_file(path: &Path) -> Result<[u8; 32]> {
    let mut file = fs_err::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(p, text).unwrap();
    }

    #[test]
    fn honours_gitignore_exclude_and_builtins() {
        let a = tempfile::tempdir().unwrap();
        let root = a.path();
        write(root, "app/main.py", "x");
        write(root, ".gitignore", "data/\n");
        write(root, "data/big.bin", "y");
        write(root, ".env", "SECRET=1");
        write(root, "app/__pycache__/m.pyc", "z");
        write(root, "notes.ipynb", "{}");
        write(root, ".venv/bin/python", "");
        let set = collect(a.path(), &["*.ipynb".into()]).unwrap();
        let names: Vec<_> = set.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(names, vec![".gitignore", "app/main.py"]);
    }

    #[test]
    fn digest_ignores_location_and_mtime_but_not_content() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write(a.path(), "m.py", "print(1)");
        std::thread::sleep(std::time::Duration::from_millis(20));
        write(b.path(), "m.py", "print(1)");
        let da = collect(a.path(), &[]).unwrap().digest();
        assert_eq!(da, collect(b.path(), &[]).unwrap().digest());
        write(b.path(), "m.py", "print(2)");
        assert_ne!(da, collect(b.path(), &[]).unwrap().digest());
    }
}
