//! The app's source set: the files under the manifest's folder, less what the rules in
//! `source_rules` leave out (credentials always; built-ins; `[build] exclude`;
//! `.dockerignore`, `.gcloudignore`; `.gitignore` files up to the repository root).
//! Sorted, hashed, and digested the same way on every machine and checkout path; what
//! was left out is listed with the reason.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

pub use super::source_rules::{inside_project, Excluded, Rules, ALWAYS_EXCLUDED, CREDENTIALS};

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
    /// What was left out and why (a left-out folder once, not each file in it).
    pub excluded: Vec<Excluded>,
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

    /// The same digest without the manifest file (`manifest`, relative like `rel`): the
    /// app's code alone, so that an edit of `[env]` is not a code change.
    pub fn code_digest(&self, manifest: &str) -> String {
        let mut h = Sha256::new();
        for f in self.files.iter().filter(|f| f.rel != manifest) {
            h.update(f.rel.as_bytes());
            h.update([0, u8::from(f.executable)]);
            h.update(f.sha256);
        }
        hex::encode(h.finalize())
    }
}

/// Collects the source set under `root`.
pub fn collect(root: &Path, exclude: &[String]) -> Result<SourceSet> {
    let (paths, excluded) = walk(root, exclude)?;
    let mut files = Vec::with_capacity(paths.len());
    for (rel, abs) in paths {
        let meta = fs_err::metadata(&abs)?;
        files.push(SourceFile { sha256: hash_file(&abs)?, size: meta.len(), executable: is_executable(&meta), rel, abs });
    }
    Ok(SourceSet { root: root.to_path_buf(), files, excluded })
}

/// What `collect` leaves out under `root`, without reading the files it keeps.
pub fn excluded(root: &Path, exclude: &[String]) -> Result<Vec<Excluded>> {
    Ok(walk(root, exclude)?.1)
}

/// Files kept by a walk: (relative path, absolute path).
pub type Kept = Vec<(String, PathBuf)>;

/// The files kept, sorted by relative path, and what was left out. Symbolic links are
/// not followed, and not shipped.
pub fn walk(root: &Path, exclude: &[String]) -> Result<(Kept, Vec<Excluded>)> {
    let mut rules = Rules::new(root, exclude)?;
    let mut kept = Vec::new();
    let mut left = Vec::new();
    let top = rules.root().to_path_buf();
    walk_dir(&mut rules, &top, "", &mut kept, &mut left).context("cannot list the app's files")?;
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    left.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((kept, left))
}

fn walk_dir(rules: &mut Rules, dir: &Path, prefix: &str, kept: &mut Kept, left: &mut Vec<Excluded>) -> Result<()> {
    let mut entries: Vec<_> = fs_err::read_dir(dir)?.collect::<std::io::Result<Vec<_>>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let abs = e.path();
        let ft = e.file_type()?;
        if ft.is_symlink() {
            left.push(Excluded { path: rel, reason: "a symbolic link (not followed)".into() });
            continue;
        }
        if !ft.is_dir() && !ft.is_file() {
            continue;
        }
        if let Some(reason) = rules.excluded(&abs, &rel, ft.is_dir())? {
            let path = if ft.is_dir() { format!("{rel}/") } else { rel };
            left.push(Excluded { path, reason });
        } else if ft.is_dir() {
            walk_dir(rules, &abs, &rel, kept, left)?;
        } else {
            kept.push((rel, abs));
        }
    }
    Ok(())
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
    fn credentials_are_left_out_whatever_the_ignore_files_say() {
        let a = tempfile::tempdir().unwrap();
        let repo = a.path();
        fs_err::create_dir_all(repo.join(".git")).unwrap();
        write(repo, ".gitignore", "*.log\n");
        let root = repo.join("svc");
        write(&root, "main.py", "x");
        write(&root, ".gitignore", "!.env\n!*.pem\n!.aws/\n");
        write(&root, ".env", "K=v");
        write(&root, "sub/.env.local", "K=v");
        write(&root, "tls.pem", "k");
        write(&root, ".aws/credentials", "k");
        write(&root, "sa.json", r#"{"type": "service_account"}"#);
        write(&root, "data.json", r#"{"type": "other"}"#);
        write(&root, "run.log", "l");
        let set = collect(&root, &["!.env".into()]).unwrap();
        let names: Vec<_> = set.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(names, vec![".gitignore", "data.json", "main.py"]);
        let left: Vec<_> = set.excluded.iter().map(|e| (e.path.as_str(), e.reason.as_str())).collect();
        assert_eq!(
            left,
            vec![
                (".aws/", "credentials: `.aws/` is never shipped"),
                (".env", "credentials: `.env*` is never shipped"),
                ("run.log", "../.gitignore: `*.log`"),
                ("sa.json", "credentials: a Google service-account key (\"type\": \"service_account\")"),
                ("sub/.env.local", "credentials: `.env*` is never shipped"),
                ("tls.pem", "credentials: `*.pem` is never shipped"),
            ]
        );
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
