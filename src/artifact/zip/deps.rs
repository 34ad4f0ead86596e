//! The dependencies' half of a Lambda zip: compressed once per deps folder, in parallel,
//! and reused as stored entries by every zip built on it.

use super::*;

/// One file of the deps folder.
#[derive(Debug, Clone)]
pub(super) struct DepFile {
    pub(super) rel: String,
    pub(super) abs: PathBuf,
    pub(super) size: u64,
    pub(super) executable: bool,
}

/// Every regular file under `dir`, sorted by its `/`-separated relative path; bytecode
/// caches are left out (the installers write none; a stray one would be host-specific).
pub(super) fn list_files(dir: &Path) -> Result<Vec<DepFile>> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((abs, rel)) = stack.pop() {
        for entry in fs_err::read_dir(&abs)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child_rel = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let path = entry.path();
            // Follows symlinks: a wheel has none, a hand-made folder might.
            let meta = fs_err::metadata(&path)?;
            if meta.is_dir() {
                if name != "__pycache__" {
                    stack.push((path, child_rel));
                }
            } else if meta.is_file() && !name.ends_with(".pyc") {
                out.push(DepFile {
                    rel: child_rel,
                    abs: path,
                    size: meta.len(),
                    executable: crate::artifact::source::is_executable(&meta),
                });
            }
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

pub(super) fn options(executable: bool) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(COMPRESSION_LEVEL))
        .last_modified_time(DateTime::default())
        .unix_permissions(if executable { 0o755 } else { 0o644 })
        .large_file(false)
}

/// The deps-only zip for `deps` and its bytecode `pycs`, built once per dependency set
/// and bytecode (the caller's `path` names both).
pub(super) fn ensure_deps_zip(path: &Path, deps: &DepsDir, pycs: &[Pyc], r: &dyn Reporter) -> Result<()> {
    if path.is_file() {
        return Ok(());
    }
    let _lock = FileLock::acquire(&path.with_extension("lock"))?;
    if path.is_file() {
        return Ok(());
    }
    let mut files = list_files(&deps.dir)?;
    files.extend(pycs.iter().map(|p| DepFile { rel: p.rel.clone(), abs: p.abs.clone(), size: p.size, executable: false }));
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    r.progress(&format!("compressing {} dependency files", files.len()));
    let started = std::time::Instant::now();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    let tmp = path.with_extension(format!("zip.tmp-{}", std::process::id()));
    let result = write_deps_zip(&tmp, &files, threads);
    if let Err(e) = result {
        let _ = fs_err::remove_file(&tmp);
        return Err(e);
    }
    fs_err::rename(&tmp, path)?;
    r.detail(&format!(
        "compressed {} dependency files ({}) in {:.2}s on {threads} threads",
        files.len(),
        mib(files.iter().map(|f| f.size).sum()),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Deflates `files` in `threads` contiguous chunks at once, each into its own zip, then
/// joins the chunks' entries raw, in order. The bytes do not depend on `threads`.
pub(super) fn write_deps_zip(dest: &Path, files: &[DepFile], threads: usize) -> Result<()> {
    let chunks = split_by_size(files, threads.max(1));
    let parts: Vec<Result<Vec<u8>>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                s.spawn(move || -> Result<Vec<u8>> {
                    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
                    for f in *chunk {
                        w.start_file(f.rel.as_str(), options(f.executable))?;
                        let mut file = BufReader::new(File::open(&f.abs).with_context(|| format!("cannot read {}", f.abs.display()))?);
                        std::io::copy(&mut file, &mut w)?;
                    }
                    Ok(w.finish()?.into_inner())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a compression thread panicked")))).collect()
    });
    let mut out = ZipWriter::new(BufWriter::new(File::create(dest).with_context(|| format!("cannot create {}", dest.display()))?));
    for part in parts {
        let mut archive = ZipArchive::new(Cursor::new(part?))?;
        for i in 0..archive.len() {
            out.raw_copy_file(archive.by_index_raw(i)?)?;
        }
    }
    out.finish()?.flush()?;
    Ok(())
}

/// Contiguous chunks of roughly equal byte size.
pub(super) fn split_by_size(files: &[DepFile], n: usize) -> Vec<&[DepFile]> {
    let total: u64 = files.iter().map(|f| f.size.max(1)).sum();
    let target = total / n as u64 + 1;
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut acc = 0u64;
    for (i, f) in files.iter().enumerate() {
        acc += f.size.max(1);
        if acc >= target && chunks.len() + 1 < n {
            chunks.push(&files[start..=i]);
            start = i + 1;
            acc = 0;
        }
    }
    if start < files.len() {
        chunks.push(&files[start..]);
    }
    chunks
}

/// The dependencies' bytecode for `compiler`, compiled once per dependency set into a
/// cache folder beside the deps zips (`/var/task/...` recorded as each file's path).
pub(super) fn ensure_deps_bytecode(
    root: &Path,
    deps: &DepsDir,
    files: &[DepFile],
    compiler: &Compiler,
    r: &dyn Reporter,
) -> Result<Vec<Pyc>> {
    let dir = root.join(format!("pyc-{}-{}", deps.key, compiler.id()));
    let index = dir.join("index.json");
    let read = |index: &Path| -> Option<Vec<Pyc>> {
        let listed: Vec<(String, u64)> = serde_json::from_slice(&fs_err::read(index).ok()?).ok()?;
        listed.into_iter().map(|(rel, size)| Some(Pyc { abs: dir.join(&rel), rel, size })).collect()
    };
    if let Some(pycs) = read(&index) {
        return Ok(pycs);
    }
    let _lock = FileLock::acquire(&dir.with_extension("lock"))?;
    if let Some(pycs) = read(&index) {
        return Ok(pycs);
    }
    let sources: Vec<(String, PathBuf)> = files.iter().map(|f| (f.rel.clone(), f.abs.clone())).collect();
    r.progress(&format!("compiling the dependencies' bytecode with python{}", compiler.version));
    let started = std::time::Instant::now();
    let _ = fs_err::remove_dir_all(&dir);
    let pycs = compiler.compile(&sources, LAMBDA_TASK_ROOT, &dir)?;
    let listed: Vec<(&str, u64)> = pycs.iter().map(|p| (p.rel.as_str(), p.size)).collect();
    write_atomic(&index, &serde_json::to_vec(&listed)?)?;
    r.detail(&format!("compiled {} dependency modules in {:.2}s", pycs.len(), started.elapsed().as_secs_f64()));
    Ok(pycs)
}
