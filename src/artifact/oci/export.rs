//! A built image as a `docker load` archive, for running the very image the clouds get
//! in a local Docker or Podman without any registry.
//!
//! The archive is the `docker save` layout: `manifest.json` (config file, repo tags,
//! layer files), the config as `<hex>.json`, and each layer as `<hex>/layer.tar`
//! holding the layer blob as is (gzip: `docker load` and `podman load` decompress
//! layers themselves). Base layers not in the blob store yet are fetched first.

use std::io::BufWriter;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use super::blobs::sha256_hex;
use super::layer::HashWriter;
use super::BuiltImage;
use crate::artifact::registry::Client;

/// Writes `image` to `out` as a `docker load` archive tagged `tag` (e.g.
/// `aideploy/app:dev`). Returns the archive's size in bytes.
pub async fn write_docker_archive(image: &BuiltImage, client: &Client, tag: &str, out: &Path) -> Result<u64> {
    // Every layer must be local: base layers come from their registry.
    let mut paths = Vec::new();
    for l in &image.layers {
        let path = if l.path.is_file() {
            l.path.clone()
        } else if let Some(from) = &l.from {
            client.fetch_blob(from, &l.digest, l.size).await?
        } else {
            anyhow::bail!("layer {} is missing from the blob store; build the image again", l.digest);
        };
        paths.push((sha256_hex(&l.digest)?.to_string(), path, l.size));
    }
    let config_name = format!("{}.json", sha256_hex(&image.config.digest)?);
    let config_bytes = fs_err::read(&image.config.path)?;
    let manifest = json!([{
        "Config": config_name,
        "RepoTags": [tag],
        "Layers": paths.iter().map(|(hex, _, _)| format!("{hex}/layer.tar")).collect::<Vec<_>>(),
    }]);
    let manifest_bytes = serde_json::to_vec(&manifest)?;

    let out = out.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<u64> {
        let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs_err::create_dir_all(dir)?;
        let tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
        let mut tar = tar::Builder::new(HashWriter::new(BufWriter::with_capacity(256 * 1024, tmp)));
        let mut add = |name: &str, size: u64, data: &mut dyn std::io::Read, dir: bool| -> Result<()> {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(if dir { tar::EntryType::Directory } else { tar::EntryType::Regular });
            h.set_mode(if dir { 0o755 } else { 0o644 });
            h.set_mtime(0);
            h.set_size(size);
            tar.append_data(&mut h, name, data)?;
            Ok(())
        };
        add(&config_name, config_bytes.len() as u64, &mut &config_bytes[..], false)?;
        let mut seen = std::collections::HashSet::new();
        for (hex, path, size) in &paths {
            if !seen.insert(hex.clone()) {
                continue;
            }
            add(&format!("{hex}/"), 0, &mut std::io::empty(), true)?;
            let mut f = fs_err::File::open(path)?;
            add(&format!("{hex}/layer.tar"), *size, &mut f, false)?;
        }
        add("manifest.json", manifest_bytes.len() as u64, &mut &manifest_bytes[..], false)?;
        let (file, _, bytes) = tar.into_inner()?.finish();
        let tmp = file.into_inner().map_err(|e| e.into_error())?;
        tmp.persist(&out).map_err(|e| e.error).with_context(|| format!("cannot write {}", out.display()))?;
        Ok(bytes)
    })
    .await
    .map_err(|e| anyhow::anyhow!("writing the archive failed: {e}"))?
}
