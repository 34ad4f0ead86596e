//! Layers built once and found again: the layer cache and the app, deps and model layers.

use super::*;

#[derive(Debug, Clone)]
pub(super) struct LayerCache {
    pub(super) dir: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct CachedLayer {
    digest: String,
    diff_id: String,
    size: u64,
}

impl LayerCache {
    pub(super) fn get(&self, store: &BlobStore, key: &str) -> Option<LayerBlob> {
        let text = fs_err::read(self.dir.join(format!("{key}.json"))).ok()?;
        let c: CachedLayer = serde_json::from_slice(&text).ok()?;
        let path = store.path(&c.digest).ok()?;
        let len = fs_err::metadata(&path).ok()?.len();
        if len != c.size {
            return None;
        }
        store.touch(&c.digest);
        Some(LayerBlob { digest: c.digest, diff_id: c.diff_id, size: c.size, path })
    }

    pub(super) fn put(&self, key: &str, l: &LayerBlob) -> Result<()> {
        fs_err::create_dir_all(&self.dir)?;
        let c = CachedLayer { digest: l.digest.clone(), diff_id: l.diff_id.clone(), size: l.size };
        crate::util::write_atomic(&self.dir.join(format!("{key}.json")), &serde_json::to_vec(&c)?)
    }
}

pub(super) fn cache_key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

pub(super) fn built(role: LayerRole, l: LayerBlob, cached: bool) -> BuiltLayer {
    BuiltLayer {
        role,
        media_type: MEDIA_LAYER_GZIP.into(),
        digest: l.digest,
        diff_id: l.diff_id,
        size: l.size,
        path: l.path,
        from: None,
        cached,
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn dir_layer(
    store: &BlobStore,
    cache: &LayerCache,
    role: LayerRole,
    dir: &Path,
    dest: &str,
    content_key: Option<String>,
    level: u8,
    epoch: u64,
    bytecode: Option<&Compiler>,
) -> Result<BuiltLayer> {
    if !dir.is_dir() {
        return Err(Hinted::new(
            format!("{} is not a directory", dir.display()),
            format!("the {role:?} layer is built from a directory; check the path").to_lowercase(),
        )
        .into());
    }
    let (entries, fingerprint) = layer::list_dir(dir, dest)?;
    let input = content_key.unwrap_or(fingerprint);
    let compiler_id = bytecode.map(|c| c.id()).unwrap_or_default();
    let key = cache_key(&[LAYER_FORMAT, &format!("{role:?}"), dest, &level.to_string(), &epoch.to_string(), &input, &compiler_id]);
    if let Some(hit) = cache.get(store, &key) {
        return Ok(built(role, hit, true));
    }
    let mut all = vec![Entry { path: dest.trim_start_matches('/').into(), kind: EntryKind::Dir }];
    all.extend(entries);
    if role == LayerRole::Deps {
        scripts::add_to_layer(&mut all, dir, dest)?;
        scripts::add_site_hook(&mut all, dest);
        layer::make_deps_portable(&mut all, dest)?;
    }
    let scratch = scratch_dir(cache)?;
    if let Some(c) = bytecode {
        add_bytecode(&mut all, c, scratch.path())?;
    }
    let blob = layer::write_layer(store, all, level, epoch)?;
    cache.put(&key, &blob)?;
    Ok(built(role, blob, false))
}

/// `TOOLS_DIR/python`: the image's `python3`, under the name Procfiles, READMEs and
/// `command = "python app.py"` use. Last on `PATH`, so a base image's own `python` wins.
const PYTHON_SHIM: &str = "#!/bin/sh\n# Written by aideploy: `python` is this image's python3.\nexec python3 \"$@\"\n";

pub(super) fn app_layer(
    store: &BlobStore,
    cache: &LayerCache,
    source: &SourceSet,
    extra: &[(String, Vec<u8>)],
    epoch: u64,
    bytecode: Option<&Compiler>,
) -> Result<BuiltLayer> {
    let mut extra_key = Sha256::new();
    for (path, data) in extra {
        extra_key.update(path.as_bytes());
        extra_key.update([0]);
        extra_key.update(Sha256::digest(data));
    }
    let extra_key = hex::encode(extra_key.finalize());
    let (level, epoch_s, digest) = (LEVEL_CODE.to_string(), epoch.to_string(), source.digest());
    let mut parts = vec![LAYER_FORMAT, "app", APP_DIR, &level, &epoch_s, &digest];
    if !extra.is_empty() {
        parts.push(&extra_key);
    }
    let compiler_id = bytecode.map(|c| format!("bytecode {}", c.id()));
    if let Some(id) = &compiler_id {
        parts.push(id);
    }
    let key = cache_key(&parts);
    if let Some(hit) = cache.get(store, &key) {
        return Ok(built(LayerRole::App, hit, true));
    }
    let prefix = APP_DIR.trim_start_matches('/');
    let mut entries = vec![Entry { path: prefix.into(), kind: EntryKind::Dir }];
    for f in &source.files {
        entries.push(Entry {
            path: format!("{prefix}/{}", f.rel),
            kind: EntryKind::File { src: f.abs.clone(), size: f.size, executable: f.executable },
        });
    }
    for (path, data) in extra {
        entries.push(Entry {
            path: path.trim_start_matches('/').to_string(),
            kind: EntryKind::Bytes { data: data.clone(), executable: false },
        });
    }
    entries.push(Entry {
        path: format!("{}/python", TOOLS_DIR.trim_start_matches('/')),
        kind: EntryKind::Bytes { data: PYTHON_SHIM.as_bytes().to_vec(), executable: true },
    });
    let scratch = scratch_dir(cache)?;
    if let Some(c) = bytecode {
        add_bytecode(&mut entries, c, scratch.path())?;
    }
    let blob = layer::write_layer(store, entries, LEVEL_CODE, epoch)?;
    cache.put(&key, &blob)?;
    Ok(built(LayerRole::App, blob, false))
}

/// A folder for a layer's bytecode while the layer is written, removed afterwards.
fn scratch_dir(cache: &LayerCache) -> Result<tempfile::TempDir> {
    fs_err::create_dir_all(&cache.dir)?;
    Ok(tempfile::Builder::new().prefix("pyc-").tempdir_in(&cache.dir)?)
}

/// Adds the bytecode of every `.py` among `entries` (files and in-memory files), each
/// recording its path in the image, beside it in `__pycache__`.
fn add_bytecode(entries: &mut Vec<Entry>, compiler: &Compiler, scratch: &Path) -> Result<()> {
    let mut sources = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if !e.path.ends_with(".py") {
            continue;
        }
        match &e.kind {
            EntryKind::File { src, .. } => sources.push((e.path.clone(), src.clone())),
            EntryKind::Bytes { data, .. } => {
                let path = scratch.join("in").join(i.to_string());
                fs_err::create_dir_all(path.parent().unwrap_or(scratch))?;
                fs_err::write(&path, data)?;
                sources.push((e.path.clone(), path));
            }
            _ => {}
        }
    }
    let present: std::collections::HashSet<String> = entries.iter().map(|e| e.path.clone()).collect();
    for pyc in compiler.compile(&sources, "/", &scratch.join("out"))? {
        // A `__pycache__` shipped in the folder itself stays as it is.
        if present.contains(&pyc.rel) {
            continue;
        }
        entries.push(Entry { path: pyc.rel, kind: EntryKind::File { src: pyc.abs, size: pyc.size, executable: false } });
    }
    Ok(())
}
