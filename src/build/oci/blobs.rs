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
        let file = tempfile::NamedTempFile::new_in(&tmp_dir)
            .with_context(|| format!("cannot create a file in {}", tmp_dir.display()))?;
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
