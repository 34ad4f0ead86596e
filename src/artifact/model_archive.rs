//! `model.tar.gz` for SageMaker, from a local model directory: streamed file by file
//! through a fixed 64 KiB buffer (memory stays flat however large the weights are),
//! and deterministic by the same rules as image layers (sorted entries, fixed mtime,
//! uid/gid 0, fixed modes, fixed gzip header and level).
//!
//! Layout, per the Hugging Face inference toolkit: the model files at the archive
//! root, custom handler code under `code/` (`code/inference.py`, optional
//! `code/requirements.txt`). The handler comes from, in order: an explicit code dir
//! (its files go under `code/`), a `code/` dir inside the model dir (kept as is), or an
//! `inference.py` at the model dir's root (moved to `code/inference.py`, together with a
//! `requirements.txt` beside it).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::artifact::oci::layer::{self, gzip, Entry, EntryKind, HashWriter, TarStream};
use crate::error::Hinted;

/// gzip level of model archives: weights barely compress, so favour speed. Fixed, so
/// the digest is reproducible.
pub const LEVEL: u8 = 1;

#[derive(Debug, Clone)]
pub struct ModelArchiveSpec {
    pub model_dir: PathBuf,
    /// A directory whose files go under `code/` (e.g. the app's `code/` dir).
    pub code_dir: Option<PathBuf>,
    /// mtime of every entry (SOURCE_DATE_EPOCH, default 0).
    pub epoch: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelArchive {
    pub path: PathBuf,
    /// `sha256:` of the archive bytes.
    pub digest: String,
    pub bytes: u64,
    /// Where the handler ended up, if there is one (`code/inference.py`).
    pub handler: Option<String>,
    pub files: usize,
}

/// Writes the archive to `out` (atomically: a temp file beside it, then a rename).
pub fn build_model_archive(spec: &ModelArchiveSpec, out: &Path) -> Result<ModelArchive> {
    let entries = plan(spec)?;
    let handler =
        entries.iter().find(|e| e.path == "code/inference.py" && matches!(e.kind, EntryKind::File { .. })).map(|e| e.path.clone());
    let entries = layer::normalize(entries)?;
    let files = entries.iter().filter(|e| matches!(e.kind, EntryKind::File { .. })).count();

    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs_err::create_dir_all(dir)?;
    let tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    let file = BufWriter::with_capacity(256 * 1024, tmp);
    let gz = gzip(HashWriter::new(file), LEVEL)?;
    let mut tar = TarStream::new(gz, spec.epoch);
    for e in &entries {
        tar.append(e)?;
    }
    let (file, digest, bytes) = tar.finish()?.finish()?.finish();
    let mut tmp = file.into_inner().map_err(|e| e.into_error())?;
    tmp.flush()?;
    tmp.persist(out).map_err(|e| e.error).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(ModelArchive { path: out.to_path_buf(), digest, bytes, handler, files })
}

/// The archive's entries, handler placement applied.
fn plan(spec: &ModelArchiveSpec) -> Result<Vec<Entry>> {
    if !spec.model_dir.is_dir() {
        return Err(Hinted::new(
            format!("the model directory {} does not exist", spec.model_dir.display()),
            "point the manifest's model path at a local directory of weights",
        )
        .into());
    }
    let (entries, _) = layer::list_dir(&spec.model_dir, "")?;
    let mut entries = leave_out_credentials(&spec.model_dir, "", entries)?;
    let has = |entries: &[Entry], p: &str| entries.iter().any(|e| e.path == p);
    let has_code_dir = entries.iter().any(|e| e.path == "code" || e.path.starts_with("code/"));

    if let Some(code) = &spec.code_dir {
        if has_code_dir {
            return Err(Hinted::new(
                format!("both {} and {}/code hold handler code", code.display(), spec.model_dir.display()),
                "keep the handler in one place: remove one of the two code directories",
            )
            .into());
        }
        if !code.is_dir() {
            return Err(Hinted::new(format!("{} is not a directory", code.display()), "check the code dir path").into());
        }
        let (code_entries, _) = layer::list_dir(code, "code")?;
        let code_entries = leave_out_credentials(code, "code", code_entries)?;
        entries.push(Entry { path: "code".into(), kind: EntryKind::Dir });
        entries.extend(code_entries);
    } else if !has_code_dir && has(&entries, "inference.py") {
        for e in entries.iter_mut() {
            if e.path == "inference.py" || e.path == "requirements.txt" {
                e.path = format!("code/{}", e.path);
            }
        }
    }
    Ok(entries)
}

/// `entries` (listed from `dir`, under `prefix`) less what the source set's rules leave
/// out: credentials, caches, and what `.gitignore` files up to the repository root say.
fn leave_out_credentials(dir: &Path, prefix: &str, entries: Vec<Entry>) -> Result<Vec<Entry>> {
    let mut rules = crate::artifact::source::Rules::new(dir, &[])?;
    let root = rules.root().to_path_buf();
    let mut out = Vec::with_capacity(entries.len());
    let mut left_dirs: Vec<String> = Vec::new();
    for e in entries {
        let rel = e.path.strip_prefix(prefix).map_or(e.path.as_str(), |r| r.trim_start_matches('/')).to_string();
        if left_dirs.iter().any(|d| rel.starts_with(&format!("{d}/"))) {
            continue;
        }
        let is_dir = matches!(e.kind, EntryKind::Dir);
        if rules.excluded(&root.join(&rel), &rel, is_dir)?.is_some() {
            if is_dir {
                left_dirs.push(rel);
            }
            continue;
        }
        out.push(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, data: &[u8]) {
        let p = root.join(rel);
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(p, data).unwrap();
    }

    fn names(archive: &Path) -> Vec<String> {
        let gz = flate2::read::GzDecoder::new(fs_err::File::open(archive).unwrap());
        let mut ar = tar::Archive::new(gz);
        ar.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn deterministic_across_paths_and_mtimes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for (root, pause) in [(a.path(), false), (b.path(), true)] {
            if pause {
                std::thread::sleep(std::time::Duration::from_millis(1100));
            }
            write(root, "m/config.json", b"{}");
            write(root, "m/weights/model.safetensors", &vec![7u8; 300_000]);
            write(root, "m/inference.py", b"def model_fn(d): ...");
        }
        let spec = |root: &Path| ModelArchiveSpec { model_dir: root.join("m"), code_dir: None, epoch: 0 };
        let one = build_model_archive(&spec(a.path()), &a.path().join("out/model.tar.gz")).unwrap();
        let two = build_model_archive(&spec(b.path()), &b.path().join("model.tar.gz")).unwrap();
        assert_eq!(one.digest, two.digest);
        assert_eq!(fs_err::read(&one.path).unwrap(), fs_err::read(&two.path).unwrap());
        assert_eq!(one.handler.as_deref(), Some("code/inference.py"));
        assert_eq!(names(&one.path), vec!["code/", "code/inference.py", "config.json", "weights/", "weights/model.safetensors"]);
        write(b.path(), "m/config.json", b"{\"a\":1}");
        let three = build_model_archive(&spec(b.path()), &b.path().join("model.tar.gz")).unwrap();
        assert_ne!(three.digest, one.digest);
    }

    #[test]
    fn code_dir_goes_under_code_and_conflicts_are_errors() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "m/w.bin", b"w");
        write(d.path(), "handler/inference.py", b"x");
        write(d.path(), "handler/requirements.txt", b"torch");
        let spec = ModelArchiveSpec { model_dir: d.path().join("m"), code_dir: Some(d.path().join("handler")), epoch: 0 };
        let out = build_model_archive(&spec, &d.path().join("model.tar.gz")).unwrap();
        assert_eq!(names(&out.path), vec!["code/", "code/inference.py", "code/requirements.txt", "w.bin"]);
        write(d.path(), "m/code/inference.py", b"y");
        let err = build_model_archive(&spec, &d.path().join("x.tar.gz")).unwrap_err();
        assert!(err.to_string().contains("hold handler code"), "{err}");
        let missing = ModelArchiveSpec { model_dir: d.path().join("nope"), code_dir: None, epoch: 0 };
        assert!(build_model_archive(&missing, &d.path().join("y.tar.gz")).is_err());
    }

    #[test]
    fn credentials_stay_out_of_the_model_archive() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "m/config.json", b"{}");
        write(d.path(), "m/.env", b"HF_TOKEN=hf_x");
        write(d.path(), "m/.aws/credentials", b"[default]");
        write(d.path(), "m/sa.json", br#"{"type": "service_account", "private_key": "k"}"#);
        write(d.path(), "m/tls.key", b"k");
        write(d.path(), "m/.gitignore", b"*.tmp\n!.env\n");
        write(d.path(), "m/scratch.tmp", b"t");
        let spec = ModelArchiveSpec { model_dir: d.path().join("m"), code_dir: None, epoch: 0 };
        let out = build_model_archive(&spec, &d.path().join("model.tar.gz")).unwrap();
        assert_eq!(names(&out.path), vec![".gitignore", "config.json"]);
    }
}
