//! Reading from a registry: manifests, configs and blobs, digests verified.

use super::*;

/// An image read from a registry: its manifest for one platform and its config, with
/// the config (and, for `pull`, every layer) in the blob store, digests verified.
#[derive(Debug, Clone)]
pub struct PulledImage {
    /// The image, pinned by the digest of the platform manifest.
    pub reference: Reference,
    pub manifest_digest: String,
    pub manifest_media_type: String,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
    pub config_bytes: Vec<u8>,
    pub store: BlobStore,
}

impl PulledImage {
    pub fn layers(&self) -> &[Descriptor] {
        self.manifest.layers()
    }

    /// Where a layer of this image is (or will be) in the blob store.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        self.store.path(digest)
    }
}

impl Client {
    // --- pull -----------------------------------------------------------------------

    /// Resolves `image` for `platform` and fetches its manifest, config and layers into
    /// the blob store, verifying every digest.
    pub async fn pull(&self, image: &Reference, platform: &Platform) -> Result<PulledImage> {
        let pulled = self.pull_metadata(image, platform).await?;
        let layers: Vec<Descriptor> = pulled.layers().to_vec();
        let this = self.clone();
        let repo = pulled.reference.clone();
        run_bounded(self.inner.opts.parallel, layers, move |d| {
            let this = this.clone();
            let repo = repo.clone();
            async move { this.fetch_blob(&repo, d.digest().as_ref(), d.size()).await.map(|_| ()) }
        })
        .await?;
        Ok(pulled)
    }

    /// Like `pull`, without the layers: what building on top of an image needs.
    pub async fn pull_metadata(&self, image: &Reference, platform: &Platform) -> Result<PulledImage> {
        let (bytes, media_type, digest) = self.fetch_manifest(image, image.manifest_ref()).await?;
        let (bytes, media_type, digest) = if is_index(&media_type, &bytes) {
            let index: ImageIndex =
                serde_json::from_slice(&bytes).map_err(|e| garbage(image, &format!("its image index does not parse ({e})")))?;
            let chosen =
                index.manifests().iter().find(|m| m.platform().as_ref().is_some_and(|p| platform.matches(p))).ok_or_else(|| {
                    let have: Vec<String> = index
                        .manifests()
                        .iter()
                        .filter_map(|m| m.platform().as_ref())
                        .map(|p| format!("{}/{}", p.os(), p.architecture()))
                        .collect();
                    anyhow!(Hinted::new(
                        format!("{image} has no {platform} image (it has: {})", have.join(", ")),
                        "pick another base image or platform ([build] base_image, [build] platform)"
                    ))
                })?;
            self.fetch_manifest(image, chosen.digest().as_ref()).await?
        } else {
            (bytes, media_type, digest)
        };
        if is_index(&media_type, &bytes) {
            return Err(garbage(image, "an image index points to another index"));
        }
        if media_type != MEDIA_OCI_MANIFEST && media_type != MEDIA_DOCKER_MANIFEST {
            return Err(garbage(image, &format!("unsupported manifest type `{media_type}` (Docker schema 1 is not supported)")));
        }
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| garbage(image, &format!("its manifest does not parse ({e})")))?;
        let resolved = image.with_digest(&digest);
        let cfg = manifest.config();
        if cfg.size() > MAX_DOCUMENT {
            return Err(garbage(image, "its config is larger than 4 MiB"));
        }
        let cfg_path = self.fetch_blob(&resolved, cfg.digest().as_ref(), cfg.size()).await?;
        let config_bytes = fs_err::read(&cfg_path)?;
        let config: ImageConfiguration =
            serde_json::from_slice(&config_bytes).map_err(|e| garbage(image, &format!("its config does not parse ({e})")))?;
        if config.rootfs().diff_ids().len() != manifest.layers().len() {
            return Err(garbage(image, "its config and manifest disagree on the number of layers"));
        }
        Ok(PulledImage {
            reference: resolved,
            manifest_digest: digest,
            manifest_media_type: media_type,
            manifest,
            config,
            config_bytes,
            store: self.inner.store.clone(),
        })
    }

    /// GETs a manifest (by tag or digest). Manifests fetched by digest are cached in the
    /// blob store, so a pinned base image costs no request the second time.
    pub(super) async fn fetch_manifest(&self, repo: &Reference, reference: &str) -> Result<(Vec<u8>, String, String)> {
        let by_digest = reference.starts_with("sha256:");
        if by_digest && self.inner.store.contains(reference) {
            if let Ok(bytes) = self.inner.store.read_verified(reference) {
                let mt = media_type_of(&bytes).unwrap_or_default();
                return Ok((bytes, mt, reference.to_string()));
            }
        }
        let url = format!("{}/v2/{}/manifests/{reference}", repo.base_url(), repo.repository);
        let resp = self.send(repo, &Scope::pull(repo), |h| h.get(&url).header(ACCEPT, ACCEPT_MANIFESTS)).await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Err(Hinted::new(
                format!("{}:{reference} was not found in {}", repo.name(), repo.registry),
                "check the image name and tag ([build] base_image)",
            )
            .into());
        }
        check_status(repo, status, "read the manifest")?;
        let header_type = content_type(resp.headers());
        let header_digest = resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = read_limited(resp, MAX_DOCUMENT).await?;
        let digest = sha256_digest(&bytes);
        if by_digest && digest != reference {
            return Err(garbage(repo, &format!("it sent a manifest whose digest is {digest}, not {reference}")));
        }
        if let Some(h) = header_digest.filter(|h| h.starts_with("sha256:")) {
            if h != digest {
                return Err(garbage(repo, &format!("its Docker-Content-Digest {h} does not match the manifest ({digest})")));
            }
        }
        let media_type = media_type_of(&bytes).or(header_type).unwrap_or_default();
        self.inner.store.put(&digest, &bytes)?;
        Ok((bytes, media_type, digest))
    }

    /// Downloads a blob into the store (unless there already), verifying size and digest.
    pub async fn fetch_blob(&self, repo: &Reference, digest: &str, size: u64) -> Result<PathBuf> {
        let store = &self.inner.store;
        let path = store.path(digest)?;
        if path.is_file() {
            return Ok(path);
        }
        let url = format!("{}/v2/{}/blobs/{digest}", repo.base_url(), repo.repository);
        let mut resp = self.send(repo, &Scope::pull(repo), |h| h.get(&url)).await?;
        check_status(repo, resp.status(), &format!("download blob {digest}"))?;
        let mut w = store.writer()?;
        let mut h = Sha256::new();
        let mut got = 0u64;
        while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable(repo, e))? {
            got += chunk.len() as u64;
            if got > size {
                return Err(garbage(repo, &format!("blob {digest} is larger than its descriptor says ({size} bytes)")));
            }
            h.update(&chunk);
            std::io::Write::write_all(&mut w, &chunk)?;
        }
        let actual = format!("sha256:{}", hex::encode(h.finalize()));
        if got != size || actual != digest {
            return Err(garbage(repo, &format!("blob {digest} arrived as {actual} ({got} of {size} bytes)")));
        }
        w.commit(digest)
    }

    /// The digest `image`'s tag points to now (an image index for a multi-platform
    /// image), verified against the bytes the registry sent. A pinned reference answers
    /// its own digest after the same check. A read: for plans.
    pub async fn resolve(&self, image: &Reference) -> Result<String> {
        let (_, _, digest) = self.fetch_manifest(image, image.manifest_ref()).await?;
        Ok(digest)
    }

    /// Whether `repo` holds the manifest `digest` (HEAD). A read: for plans.
    pub async fn has_manifest(&self, repo: &Reference, digest: &str) -> Result<bool> {
        let url = format!("{}/v2/{}/manifests/{digest}", repo.base_url(), repo.repository);
        let resp = self.send(repo, &Scope::pull(repo), |h| h.head(&url).header(ACCEPT, ACCEPT_MANIFESTS)).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => check_status(repo, s, "check a manifest").map(|_| false),
        }
    }

    /// Whether `repo` holds blob `digest` (HEAD).
    pub async fn has_blob(&self, repo: &Reference, digest: &str) -> Result<bool> {
        let url = format!("{}/v2/{}/blobs/{digest}", repo.base_url(), repo.repository);
        let resp = self.send(repo, &Scope::pull(repo), |h| h.head(&url)).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => check_status(repo, s, "check a blob").map(|_| false),
        }
    }
}
