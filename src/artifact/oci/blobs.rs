//! The content-addressed blob store: `<cache>/oci/blobs/sha256/<hex>`, shared by built
//! layers, pulled base images and the layer cache index beside it.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::util::cache_dir;

#[derive(Debug, Clone)]
pub struct BlobStore {
    /// `.../oci/blobs`
    root: PathBuf,
}

impl BlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        BlobStore { root: root.into() }
    }

    /// The store under the user's cache dir (`AIDEPLOY_CACHE_DIR` overrides it).
    pub fn open_default() -> Result<Self> {
        Ok(BlobStore::new(cache_dir()?.join("oci").join("blobs")))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with `digest` (`sha256:<hex>`) lives (whether or not it exists).
    pub fn path(&self, digest: &str) -> Result<PathBuf> {
        let hex = sha256_hex(digest)?;
        Ok(self.root.join("sha256").join(hex))
    }

    pub fn contains(&self, digest: &str) -> bool {
        self.path(digest).map(|p| p.is_file()).unwrap_or(false)
    }

    /// A temporary file in the store, renamed into place by `commit`.
    pub fn writer(&self) -> Result<BlobWriter> {
        let tmp_dir = self.root.join("tmp");
        fs_err::create_dir_all(&tmp_dir)?;
        fs_err::create_dir_all(self.root.join("sha256"))?;
        let file = tempfile::NamedTempFile::new_in(&tmp_dir).with_context(|| format!("cannot create a file in {}", tmp_dir.display()))?;
        Ok(BlobWriter { file, store: self.clone() })
    }

    /// Stores `bytes` (small blobs: configs, manifests) and returns their path.
    pub fn put(&self, digest: &str, bytes: &[u8]) -> Result<PathBuf> {
        let path = self.path(digest)?;
        if !path.is_file() {
            let mut w = self.writer()?;
            w.write_all(bytes)?;
            w.commit(digest)?;
        }
        Ok(path)
    }

    /// Reads a small blob fully, checking its digest.
    pub fn read_verified(&self, digest: &str) -> Result<Vec<u8>> {
        let bytes = fs_err::read(self.path(digest)?)?;
        if sha256_digest(&bytes) != digest {
            bail!("the cached blob {digest} is corrupt; delete {} and retry", self.root.display());
        }
        Ok(bytes)
    }
}

/// What `BlobStore::prune` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    pub blobs: usize,
    pub bytes: u64,
}

impl BlobStore {
    /// Marks a blob as used now (its mtime), so `prune` keeps it.
    pub fn touch(&self, digest: &str) {
        if let Ok(path) = self.path(digest) {
            if let Ok(f) = std::fs::File::options().append(true).open(&path) {
                let _ = f.set_modified(std::time::SystemTime::now());
            }
        }
    }

    /// Removes blobs not used (written or `touch`ed) for `unused_for`, except those in
    /// `keep`, and temporary files left by interrupted builds. Model layers make this
    /// store grow by gigabytes per weights change; call it after a build.
    pub fn prune(&self, keep: &std::collections::HashSet<String>, unused_for: std::time::Duration) -> Result<Pruned> {
        let mut out = Pruned::default();
        let cutoff = std::time::SystemTime::now().checked_sub(unused_for).unwrap_or(std::time::UNIX_EPOCH);
        for (dir, prefix) in [(self.root.join("sha256"), "sha256:"), (self.root.join("tmp"), "")] {
            let Ok(entries) = fs_err::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !prefix.is_empty() && keep.contains(&format!("{prefix}{name}")) {
                    continue;
                }
                let Ok(meta) = entry.metadata() else { continue };
                if !meta.is_file() || meta.modified().map_or(true, |m| m > cutoff) {
                    continue;
                }
                if fs_err::remove_file(entry.path()).is_ok() {
                    out.blobs += 1;
                    out.bytes += meta.len();
                }
            }
        }
        Ok(out)
    }
}

/// A blob being written; dropped without `commit`, it leaves nothing behind.
pub struct BlobWriter {
    file: tempfile::NamedTempFile,
    store: BlobStore,
}

impl BlobWriter {
    /// Moves the finished file to its content address. The caller computed `digest`
    /// over exactly the bytes written.
    pub fn commit(mut self, digest: &str) -> Result<PathBuf> {
        self.file.flush()?;
        let path = self.store.path(digest)?;
        self.file.persist(&path).map_err(|e| e.error).with_context(|| format!("cannot store {}", path.display()))?;
        Ok(path)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The hex part of a `sha256:` digest, validated (so it is safe in a path).
pub fn sha256_hex(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => Ok(hex),
        _ => bail!("`{digest}` is not a sha256 digest (sha256: and 64 lowercase hex digits)"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use super::*;

    #[test]
    fn prune_keeps_what_is_listed_or_recent() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path());
        let (a, b, c) = (b"a".as_slice(), b"b".as_slice(), b"c".as_slice());
        let (da, db, dc) = (sha256_digest(a), sha256_digest(b), sha256_digest(c));
        for (d, bytes) in [(&da, a), (&db, b), (&dc, c)] {
            store.put(d, bytes).unwrap();
        }
        // Nothing is old enough yet.
        assert_eq!(store.prune(&HashSet::new(), Duration::from_secs(3600)).unwrap(), Pruned::default());
        std::thread::sleep(Duration::from_millis(50));
        store.touch(&dc);
        let keep: HashSet<String> = [da.clone()].into();
        let pruned = store.prune(&keep, Duration::from_millis(30)).unwrap();
        assert_eq!(pruned, Pruned { blobs: 1, bytes: 1 });
        assert!(store.contains(&da) && !store.contains(&db) && store.contains(&dc));
    }
}
