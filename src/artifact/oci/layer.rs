//! Reproducible tar+gzip layers, streamed to the blob store.
//!
//! The rules that make the same inputs give the same digest on any machine and path:
//! entries sorted by path, parents before children; mtime fixed (`epoch`); uid/gid 0,
//! no user or group names; modes 0755 (dirs, executables) or 0644 (files); GNU headers
//! (long names as GNU long-name entries), so no pax records and no xattrs; gzip with a
//! fixed header (mtime 0, no file name, OS 255) and a fixed compression level.
//!
//! Bytes flow tar -> sha256 (diff_id) -> gzip -> sha256 (digest) -> file: a layer is
//! never held in memory, whatever its size.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest as _, Sha256};

use super::blobs::{BlobStore, BlobWriter};
use super::gzip::GzWriter;

/// What one tar entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File {
        src: PathBuf,
        size: u64,
        executable: bool,
    },
    /// Content given in memory (small files rewritten on the way, e.g. script shebangs).
    Bytes {
        data: Vec<u8>,
        executable: bool,
    },
    Symlink {
        target: String,
    },
}

/// One entry of a layer: `path` is relative to the image root (`app/main.py`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub kind: EntryKind,
}

/// A finished layer in the blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    /// `sha256:<hex>` of the compressed bytes.
    pub digest: String,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    /// Compressed size in bytes.
    pub size: u64,
    pub path: PathBuf,
}

/// A writer that hashes and counts what passes through it.
pub(crate) struct HashWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashWriter { inner, hasher: Sha256::new(), count: 0 }
    }
    pub(crate) fn finish(self) -> (W, String, u64) {
        (self.inner, format!("sha256:{}", hex::encode(self.hasher.finalize())), self.count)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads exactly `size` bytes of a file, failing if the file changed size meanwhile (a
/// short or long read would corrupt the tar stream).
struct ExactReader<R: Read> {
    inner: R,
    left: u64,
    path: PathBuf,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One more byte means the file grew since it was listed.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? != 0 {
                return Err(changed(&self.path));
            }
            return Ok(0);
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(changed(&self.path));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn changed(path: &Path) -> io::Error {
    io::Error::other(format!("{} changed while it was being packaged; build again", path.display()))
}

/// A deterministic tar stream over any writer. Used for layers and model archives.
pub(crate) struct TarStream<W: Write> {
    builder: tar::Builder<W>,
    epoch: u64,
}

impl<W: Write> TarStream<W> {
    pub(crate) fn new(out: W, epoch: u64) -> Self {
        TarStream { builder: tar::Builder::new(out), epoch }
    }

    fn header(&self, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(self.epoch);
        h.set_size(size);
        h
    }

    pub(crate) fn append(&mut self, entry: &Entry) -> Result<()> {
        match &entry.kind {
            EntryKind::Dir => {
                let mut h = self.header(tar::EntryType::Directory, 0o755, 0);
                let path = format!("{}/", entry.path.trim_end_matches('/'));
                self.builder.append_data(&mut h, path, io::empty())?;
            }
            EntryKind::File { src, size, executable } => {
                let mode = if *executable { 0o755 } else { 0o644 };
                let mut h = self.header(tar::EntryType::Regular, mode, *size);
                let file = fs_err::File::open(src)?;
                let reader = ExactReader { inner: file, left: *size, path: src.clone() };
                self.builder
                    .append_data(&mut h, &entry.path, reader)
                    .with_context(|| format!("cannot add {} to the archive", src.display()))?;
            }
            EntryKind::Bytes { data, executable } => {
                let mode = if *executable { 0o755 } else { 0o644 };
                let mut h = self.header(tar::EntryType::Regular, mode, data.len() as u64);
                self.builder.append_data(&mut h, &entry.path, &data[..])?;
            }
            EntryKind::Symlink { target } => {
                let mut h = self.header(tar::EntryType::Symlink, 0o777, 0);
                self.builder.append_link(&mut h, &entry.path, target)?;
            }
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<W> {
        Ok(self.builder.into_inner()?)
    }
}

/// The gzip encoder every artifact uses: fixed header, fixed level (see `gzip`).
pub(crate) fn gzip<W: Write>(out: W, level: u8) -> io::Result<GzWriter<W>> {
    GzWriter::new(out, level)
}

/// Sorts `entries` by path and adds every missing parent directory, so any listing
/// order gives the same stream. Duplicate paths are an error.
pub fn normalize(entries: Vec<Entry>) -> Result<Vec<Entry>> {
    let mut map: BTreeMap<String, Entry> = BTreeMap::new();
    for mut e in entries {
        let path = e.path.trim_matches('/').to_string();
        if path.is_empty() || path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            bail!("bad path in layer: `{}`", e.path);
        }
        let parts: Vec<&str> = path.split('/').collect();
        for i in 1..parts.len() {
            let parent = parts[..i].join("/");
            map.entry(parent.clone()).or_insert(Entry { path: parent, kind: EntryKind::Dir });
        }
        e.path = path.clone();
        if let Some(prev) = map.get(&path) {
            if !(prev.kind == EntryKind::Dir && e.kind == EntryKind::Dir) && prev.kind != EntryKind::Dir {
                bail!("two entries for `{path}` in one layer");
            }
        }
        map.insert(path, e);
    }
    // BTreeMap orders by bytes; a parent is a prefix of its children, so it comes first.
    Ok(map.into_values().collect())
}

/// Writes `entries` as a gzip-compressed layer into `store`.
pub fn write_layer(store: &BlobStore, entries: Vec<Entry>, level: u8, epoch: u64) -> Result<LayerBlob> {
    let entries = normalize(entries)?;
    let blob: BlobWriter = store.writer()?;
    let file = BufWriter::with_capacity(256 * 1024, blob);
    let compressed = HashWriter::new(file);
    let gz = gzip(compressed, level)?;
    let mut tar = TarStream::new(HashWriter::new(gz), epoch);
    for e in &entries {
        tar.append(e)?;
    }
    let (gz, diff_id, _) = tar.finish()?.finish();
    let (file, digest, size) = gz.finish()?.finish();
    let blob = file.into_inner().map_err(|e| e.into_error())?;
    let path = blob.commit(&digest)?;
    Ok(LayerBlob { digest, diff_id, size, path })
}

/// Lists a directory for a layer, below `prefix` in the image. `__pycache__` folders and
/// `*.pyc` files are left out: their bytes embed build-time mtimes. Returns the entries
/// and a fingerprint of what was listed (paths, kinds, sizes, mtimes, modes), the cache
/// key of a layer built from it.
pub fn list_dir(dir: &Path, prefix: &str) -> Result<(Vec<Entry>, String)> {
    let mut entries = Vec::new();
    let mut fp = Sha256::new();
    let prefix = prefix.trim_matches('/');
    walk(dir, dir, prefix, &mut entries, &mut fp).with_context(|| format!("cannot read {}", dir.display()))?;
    Ok((entries, hex::encode(fp.finalize())))
}

fn walk(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<Entry>, fp: &mut Sha256) -> Result<()> {
    let mut names: Vec<_> = fs_err::read_dir(dir)?.collect::<io::Result<Vec<_>>>()?;
    names.sort_by_key(|e| e.file_name());
    for de in names {
        let name = de.file_name();
        let name_str = name.to_str().with_context(|| format!("{} is not valid UTF-8", de.path().display()))?;
        let path = de.path();
        let meta = fs_err::symlink_metadata(&path)?;
        let ft = meta.file_type();
        if name_str == "__pycache__" || (ft.is_file() && name_str.ends_with(".pyc")) {
            continue;
        }
        let rel = path.strip_prefix(root).expect("walk stays under root");
        let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        let img = if prefix.is_empty() { rel.clone() } else { format!("{prefix}/{rel}") };
        fp.update(rel.as_bytes());
        fp.update([0]);
        fp.update(fingerprint(&meta).as_bytes());
        if ft.is_symlink() {
            let target = fs_err::read_link(&path)?;
            let target = target.to_str().with_context(|| format!("{} has a non-UTF-8 target", path.display()))?;
            fp.update(target.as_bytes());
            out.push(Entry { path: img, kind: EntryKind::Symlink { target: target.to_string() } });
        } else if ft.is_dir() {
            out.push(Entry { path: img, kind: EntryKind::Dir });
            walk(root, &path, prefix, out, fp)?;
        } else if ft.is_file() {
            out.push(Entry {
                path: img,
                kind: EntryKind::File { src: path, size: meta.len(), executable: crate::artifact::source::is_executable(&meta) },
            });
        }
        // Sockets, fifos and devices have no place in a layer: skipped.
    }
    Ok(())
}

/// Console scripts that pip and uv install with `--target` start with the build
/// machine's interpreter (`#!/root/.pyenv/versions/3.11.7/bin/python`): wrong inside
/// the image, and different on every machine. Rewrites such a first line to
/// `#!/usr/bin/env python3`; returns `None` when `content` is not such a script.
pub fn portable_python_script(content: &[u8]) -> Option<Vec<u8>> {
    let first_end = content.iter().position(|&b| b == b'\n').unwrap_or(content.len());
    let first = &content[..first_end];
    if !first.starts_with(b"#!") || first.windows(6).all(|w| w != b"python") {
        return None;
    }
    const PORTABLE: &[u8] = b"#!/usr/bin/env python3";
    if first == PORTABLE {
        return None;
    }
    let mut out = PORTABLE.to_vec();
    out.extend_from_slice(&content[first_end..]);
    Some(out)
}

/// Makes a `--target` package directory (at image path `root`, e.g.
/// `opt/aideploy/site-packages`) portable and installer-independent:
/// - console scripts in `bin/` get `#!/usr/bin/env python3` (`portable_python_script`),
///   and the `*.dist-info/RECORD` lines naming them get the new sha256 and size, so the
///   metadata stays true;
/// - uv's `*.dist-info/uv_cache.json` (the mtime of the wheel file uv installed from:
///   different on every machine, unused at run time) is left out.
///
/// Only small files (scripts, RECORDs) are read into memory.
pub fn make_deps_portable(entries: &mut Vec<Entry>, root: &str) -> Result<()> {
    use base64::Engine;
    let root = root.trim_matches('/');
    let bin = format!("{root}/bin/");
    let mut rewritten: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for e in entries.iter_mut() {
        let Some(name) = e.path.strip_prefix(&bin) else { continue };
        if name.contains('/') {
            continue;
        }
        if let EntryKind::File { src, size, executable } = &e.kind {
            if *size > 1024 * 1024 {
                continue;
            }
            let content = fs_err::read(src)?;
            if let Some(data) = portable_python_script(&content) {
                let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&data));
                rewritten.insert(format!("bin/{name}"), (hash, data.len()));
                e.kind = EntryKind::Bytes { data, executable: *executable };
            }
        }
    }
    let is_dist_info_file = |path: &str, file: &str| {
        path.strip_prefix(root)
            .and_then(|p| p.strip_prefix('/'))
            .and_then(|p| p.split_once('/'))
            .is_some_and(|(dir, f)| dir.ends_with(".dist-info") && f == file)
    };
    entries.retain(|e| !is_dist_info_file(&e.path, "uv_cache.json"));
    if rewritten.is_empty() {
        return Ok(());
    }
    for e in entries.iter_mut() {
        if !is_dist_info_file(&e.path, "RECORD") {
            continue;
        }
        let EntryKind::File { src, size, executable } = &e.kind else { continue };
        if *size > 16 * 1024 * 1024 {
            continue;
        }
        let text = fs_err::read(src)?;
        let Ok(text) = String::from_utf8(text) else { continue };
        let mut changed = false;
        let lines: Vec<String> = text
            .lines()
            .map(|line| {
                let path = line.split(',').next().unwrap_or("");
                match rewritten.get(path) {
                    Some((hash, len)) => {
                        changed = true;
                        format!("{path},sha256={hash},{len}")
                    }
                    None => line.to_string(),
                }
            })
            .collect();
        if changed {
            let mut data = lines.join("\n").into_bytes();
            if text.ends_with('\n') {
                data.push(b'\n');
            }
            e.kind = EntryKind::Bytes { data, executable: *executable };
        }
    }
    Ok(())
}

#[cfg(unix)]
fn fingerprint(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!("{}:{}:{}:{}:{}", meta.mode(), meta.len(), meta.mtime(), meta.mtime_nsec(), meta.ino())
}

#[cfg(not(unix))]
fn fingerprint(meta: &std::fs::Metadata) -> String {
    format!("{}:{:?}", meta.len(), meta.modified().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, src: &Path) -> Entry {
        let size = fs_err::metadata(src).unwrap().len();
        Entry { path: path.into(), kind: EntryKind::File { src: src.into(), size, executable: false } }
    }

    #[test]
    fn same_entries_in_any_order_give_the_same_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("blobs"));
        let a = dir.path().join("a.txt");
        let b = dir.path().join("b.txt");
        fs_err::write(&a, "alpha").unwrap();
        fs_err::write(&b, "beta").unwrap();
        let one = write_layer(&store, vec![file("x/a.txt", &a), file("x/y/b.txt", &b)], 6, 0).unwrap();
        let two = write_layer(&store, vec![file("x/y/b.txt", &b), file("x/a.txt", &a)], 6, 0).unwrap();
        assert_eq!(one, two);
        let three = write_layer(&store, vec![file("x/a.txt", &a)], 6, 0).unwrap();
        assert_ne!(one.digest, three.digest);
        // The stored blob is what the digest says.
        let bytes = fs_err::read(&one.path).unwrap();
        assert_eq!(format!("sha256:{}", hex::encode(Sha256::digest(&bytes))), one.digest);
        assert_eq!(bytes.len() as u64, one.size);
    }

    #[test]
    fn entries_are_sorted_with_parents_and_fixed_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("blobs"));
        let a = dir.path().join("a");
        fs_err::write(&a, "x").unwrap();
        let long = format!("opt/{}/f.py", "d".repeat(150));
        let layer = write_layer(&store, vec![file(&long, &a), file("app/m.py", &a)], 6, 42).unwrap();
        let gz = flate2::read::GzDecoder::new(fs_err::File::open(&layer.path).unwrap());
        let mut ar = tar::Archive::new(gz);
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!((h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()), (0, 0, 42));
            seen.push(e.path().unwrap().to_string_lossy().into_owned());
        }
        let want = vec!["app/".to_string(), "app/m.py".into(), "opt/".into(), format!("opt/{}/", "d".repeat(150)), long];
        assert_eq!(seen, want);
    }

    /// The bytes of a layer are part of aideploy's contract (a digest computed on one
    /// machine must match on any other). If this digest changes, a dependency or the
    /// format changed: bump LAYER_FORMAT in oci/mod.rs and update the golden value.
    #[test]
    fn golden_layer_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("blobs"));
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs_err::write(&a, "print('hello')\n".repeat(100)).unwrap();
        fs_err::write(&b, "#!/bin/sh\nexec true\n").unwrap();
        let entries = vec![
            file("app/main.py", &a),
            Entry { path: "app/run.sh".into(), kind: EntryKind::File { src: b.clone(), size: 20, executable: true } },
            Entry { path: "app/link".into(), kind: EntryKind::Symlink { target: "main.py".into() } },
        ];
        let layer = write_layer(&store, entries, 6, 0).unwrap();
        assert_eq!(layer.diff_id, "sha256:3f4452786c6d318c8710870722732874e9b938aeb4edf6aa1b6b119c5dd40c3f");
        assert_eq!(layer.digest, "sha256:b26d47c297fcffbf9cf68f1e59eb25284c4cec366d892f6994446920604121c3");
    }

    #[test]
    fn rewrites_host_python_shebangs_only() {
        let script = b"#!/root/.pyenv/versions/3.11.7/bin/python\nimport sys\n";
        assert_eq!(portable_python_script(script).unwrap(), b"#!/usr/bin/env python3\nimport sys\n");
        assert_eq!(portable_python_script(b"#!/bin/sh\necho\n"), None);
        assert_eq!(portable_python_script(b"#!/usr/bin/env python3\nx\n"), None);
        assert_eq!(portable_python_script(b"\x7fELF python"), None);
        assert_eq!(portable_python_script(b""), None);
    }

    #[test]
    fn deps_metadata_follows_rewritten_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("uvicorn");
        let record = dir.path().join("RECORD");
        let cache = dir.path().join("uv_cache.json");
        fs_err::write(&script, "#!/home/me/.venv/bin/python\nimport sys\n").unwrap();
        fs_err::write(&record, "uvicorn/__init__.py,sha256=abc,10\nbin/uvicorn,sha256=old,40\n").unwrap();
        fs_err::write(&cache, "{\"timestamp\":1}").unwrap();
        let mut entries = vec![
            file("opt/deps/bin/uvicorn", &script),
            file("opt/deps/uvicorn-1.0.dist-info/RECORD", &record),
            file("opt/deps/uvicorn-1.0.dist-info/uv_cache.json", &cache),
        ];
        make_deps_portable(&mut entries, "/opt/deps").unwrap();
        assert_eq!(entries.len(), 2, "uv_cache.json is left out");
        let EntryKind::Bytes { data, .. } = &entries[0].kind else { panic!("script not rewritten") };
        assert_eq!(data, b"#!/usr/bin/env python3\nimport sys\n");
        let EntryKind::Bytes { data: rec, .. } = &entries[1].kind else { panic!("RECORD not rewritten") };
        use base64::Engine;
        let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(data));
        assert_eq!(
            String::from_utf8(rec.clone()).unwrap(),
            format!("uvicorn/__init__.py,sha256=abc,10\nbin/uvicorn,sha256={hash},{}\n", data.len())
        );
    }

    #[test]
    fn rejects_bad_paths_and_duplicates() {
        let d = |p: &str| Entry { path: p.into(), kind: EntryKind::Dir };
        assert!(normalize(vec![d("a/../b")]).is_err());
        let f = Entry { path: "a".into(), kind: EntryKind::Symlink { target: "b".into() } };
        assert!(normalize(vec![f.clone(), f]).is_err());
    }
}
