//! Pushing an image: HEAD, mount or upload each blob (bounded, chunked, retried), then the manifest.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlobOutcome {
    /// The registry had it already (HEAD answered 200).
    Present,
    /// Mounted from another repository of the same registry: no bytes sent.
    Mounted,
    Uploaded,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BlobPush {
    pub digest: String,
    pub size: u64,
    pub outcome: BlobOutcome,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PushReport {
    /// `registry/repository@sha256:...`
    pub reference: String,
    /// The manifest digest.
    pub digest: String,
    /// Bytes actually sent: blob bodies and the manifest (0 when nothing changed).
    pub uploaded_bytes: u64,
    pub blobs: Vec<BlobPush>,
    /// Whether the manifest had to be put (false: the tag already named this digest).
    pub manifest_uploaded: bool,
}

impl Client {
    // --- push -----------------------------------------------------------------------

    /// Pushes `image` to `target` (`registry/repo[:tag]`): HEAD before each blob, mounts
    /// base layers from their repository when it is on the same registry, uploads the
    /// rest (chunked when large, `parallel` at a time), then puts the manifest unless
    /// the tag already names it.
    pub async fn push(&self, image: &BuiltImage, target: &Reference, r: &dyn Reporter) -> Result<PushReport> {
        self.push_with(image, target, &PushOptions::default(), r).await
    }

    /// `push`, also trying to mount our own blobs from `opts.mount_from` (e.g. the
    /// repository of another stage on the same registry) before uploading them.
    pub async fn push_with(&self, image: &BuiltImage, target: &Reference, opts: &PushOptions, r: &dyn Reporter) -> Result<PushReport> {
        if let Some(d) = &target.digest {
            if *d != image.digest {
                bail!("cannot push image {} to {target}: the reference pins another digest", image.digest);
            }
        }
        let target = Reference { digest: None, ..target.clone() };
        let sibling = opts
            .mount_from
            .iter()
            .find(|m| m.registry == target.registry && m.repository != target.repository)
            .map(|m| m.in_repository(&m.repository));
        let mounts: Vec<String> = image
            .layers
            .iter()
            .filter_map(|l| l.from.as_ref())
            .chain(sibling.as_ref())
            .filter(|f| f.registry == target.registry)
            .map(|f| f.repository.clone())
            .collect();
        let scope = Scope::push(&target, &mounts);

        // Config + layers, each once.
        let mut jobs: Vec<PushJob> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let config_job = PushJob {
            digest: image.config.digest.clone(),
            size: image.config.size,
            path: image.config.path.clone(),
            from: sibling.clone(),
        };
        for job in std::iter::once(config_job).chain(image.layers.iter().map(|l| PushJob {
            digest: l.digest.clone(),
            size: l.size,
            path: l.path.clone(),
            from: l.from.clone().or_else(|| sibling.clone()),
        })) {
            if seen.insert(job.digest.clone()) {
                jobs.push(job);
            }
        }
        r.progress(&format!("pushing {} blobs to {}", jobs.len(), target.name()));
        let total: u64 = jobs.iter().map(|j| j.size).sum();
        let sent = Arc::new(AtomicU64::new(0));
        let this = self.clone();
        let (t2, s2, c2) = (target.clone(), scope.clone(), sent.clone());
        let transfers = run_bounded(self.inner.opts.parallel, jobs, move |job| {
            let this = this.clone();
            let (target, scope, sent) = (t2.clone(), s2.clone(), c2.clone());
            async move { this.push_blob(&target, &scope, &job, &sent).await }
        });
        tokio::pin!(transfers);
        // Progress for long pushes (a model layer), from this task: the reporter is ours.
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.tick().await;
        let results = loop {
            tokio::select! {
                done = &mut transfers => break done?,
                _ = tick.tick() => r.progress(&format!(
                    "pushing to {}: {} of at most {} sent",
                    target.name(),
                    crate::util::human_bytes(sent.load(Ordering::Relaxed)),
                    crate::util::human_bytes(total)
                )),
            }
        };
        let mut uploaded_bytes: u64 = results.iter().map(|(_, sent)| *sent).sum();
        let blobs: Vec<BlobPush> = results.into_iter().map(|(b, _)| b).collect();
        for b in &blobs {
            r.detail(&format!("{} {:?} ({} bytes)", b.digest, b.outcome, b.size));
        }

        // The manifest: skip when the tag (or digest) already names it.
        let tag_or_digest = target.tag.clone().unwrap_or_else(|| image.digest.clone());
        let url = format!("{}/v2/{}/manifests/{tag_or_digest}", target.base_url(), target.repository);
        let head = self.send(&target, &scope, |h| h.head(&url).header(ACCEPT, ACCEPT_MANIFESTS)).await?;
        let current = head.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_string);
        let manifest_uploaded = !(head.status().is_success() && current.as_deref() == Some(image.digest.as_str()));
        if manifest_uploaded {
            let body = bytes::Bytes::from(image.manifest_bytes.clone());
            let resp = self.send(&target, &scope, |h| h.put(&url).header(CONTENT_TYPE, MEDIA_OCI_MANIFEST).body(body.clone())).await?;
            check_status(&target, resp.status(), "store the manifest").map_err(|e| with_body_hint(e, &image.digest))?;
            uploaded_bytes += image.manifest_bytes.len() as u64;
        }
        Ok(PushReport {
            reference: format!("{}@{}", target.name(), image.digest),
            digest: image.digest.clone(),
            uploaded_bytes,
            blobs,
            manifest_uploaded,
        })
    }

    /// One blob: returns its outcome and the bytes sent.
    pub(super) async fn push_blob(&self, target: &Reference, scope: &Scope, job: &PushJob, sent: &AtomicU64) -> Result<(BlobPush, u64)> {
        let base = target.base_url();
        let head_url = format!("{base}/v2/{}/blobs/{}", target.repository, job.digest);
        let done = |outcome| BlobPush { digest: job.digest.clone(), size: job.size, outcome };
        let head = self.send(target, scope, |h| h.head(&head_url)).await?;
        if head.status().is_success() {
            return Ok((done(BlobOutcome::Present), 0));
        }
        if head.status() != StatusCode::NOT_FOUND {
            check_status(target, head.status(), &format!("check blob {}", job.digest))?;
        }
        let mut attempt = 0;
        loop {
            match self.upload_once(target, scope, job, sent).await {
                Ok(r) => return Ok(r),
                Err(e)
                    if attempt < self.inner.opts.retries
                        && crate::error::Failure::of(&e).and_then(crate::error::Failure::as_hinted).is_none() =>
                {
                    attempt += 1;
                    tracing::debug!("upload of {} failed ({e:#}); retry {attempt}", job.digest);
                    tokio::time::sleep(self.inner.opts.backoff * 2u32.saturating_pow(attempt - 1)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub(super) async fn upload_once(
        &self,
        target: &Reference,
        scope: &Scope,
        job: &PushJob,
        progress: &AtomicU64,
    ) -> Result<(BlobPush, u64)> {
        let base = target.base_url();
        let done = |outcome| BlobPush { digest: job.digest.clone(), size: job.size, outcome };
        // Cross-repository mount: the registry links the blob without any bytes sent.
        let from = job.from.as_ref().filter(|f| f.registry == target.registry && f.repository != target.repository);
        let start_url = match from {
            Some(f) => format!("{base}/v2/{}/blobs/uploads/?mount={}&from={}", target.repository, job.digest, f.repository),
            None => format!("{base}/v2/{}/blobs/uploads/", target.repository),
        };
        let resp = self.send(target, scope, |h| h.post(&start_url).header(CONTENT_LENGTH, 0)).await?;
        if resp.status() == StatusCode::CREATED && from.is_some() {
            return Ok((done(BlobOutcome::Mounted), 0));
        }
        if resp.status() != StatusCode::ACCEPTED {
            check_status(target, resp.status(), "start a blob upload")?;
            return Err(garbage(target, &format!("it answered {} to an upload start", resp.status())));
        }
        let mut location = upload_location(target, resp.headers())?;

        // The bytes: a base layer not in the store yet comes from its own registry first.
        let path = if job.path.is_file() {
            job.path.clone()
        } else if let Some(src) = &job.from {
            self.fetch_blob(src, &job.digest, job.size).await?
        } else {
            bail!("blob {} is missing from {}; build the image again", job.digest, job.path.display());
        };
        let mut file = tokio::fs::File::open(&path).await.with_context(|| format!("cannot read {}", path.display()))?;
        let chunk = self.inner.opts.chunk_size.max(1);
        let mut sent = 0u64;
        if job.size > chunk {
            let mut offset = 0u64;
            while offset < job.size {
                let n = chunk.min(job.size - offset);
                let mut buf = vec![0u8; n as usize];
                file.read_exact(&mut buf).await.with_context(|| format!("cannot read {}", path.display()))?;
                let body = bytes::Bytes::from(buf);
                let range = format!("{}-{}", offset, offset + n - 1);
                let url = location.clone();
                let resp = self
                    .send(target, scope, |h| {
                        h.request(Method::PATCH, url.clone())
                            .header(CONTENT_TYPE, "application/octet-stream")
                            .header("Content-Range", &range)
                            .header(CONTENT_LENGTH, n)
                            .body(body.clone())
                    })
                    .await?;
                sent += n;
                progress.fetch_add(n, Ordering::Relaxed);
                if resp.status() != StatusCode::ACCEPTED {
                    check_status(target, resp.status(), "upload a chunk")?;
                    return Err(garbage(target, &format!("it answered {} to a chunk", resp.status())));
                }
                location = upload_location(target, resp.headers())?;
                offset += n;
            }
            let mut url = location;
            url.query_pairs_mut().append_pair("digest", &job.digest);
            let resp = self.send(target, scope, |h| h.put(url.clone()).header(CONTENT_LENGTH, 0)).await?;
            check_status(target, resp.status(), "finish a chunked upload")?;
        } else {
            let mut buf = Vec::with_capacity(job.size as usize);
            file.read_to_end(&mut buf).await?;
            if buf.len() as u64 != job.size {
                bail!("{} changed size since it was built; build the image again", path.display());
            }
            let body = bytes::Bytes::from(buf);
            let mut url = location;
            url.query_pairs_mut().append_pair("digest", &job.digest);
            let resp = self
                .send(target, scope, |h| {
                    h.put(url.clone()).header(CONTENT_TYPE, "application/octet-stream").header(CONTENT_LENGTH, job.size).body(body.clone())
                })
                .await?;
            sent += job.size;
            progress.fetch_add(job.size, Ordering::Relaxed);
            check_status(target, resp.status(), "upload a blob")?;
        }
        Ok((done(BlobOutcome::Uploaded), sent))
    }
}

/// Extra choices for `Client::push_with`.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Repositories of the same registry that may hold our blobs already: each blob
    /// missing from the target is mounted from the first of them before any upload.
    pub mount_from: Vec<Reference>,
}

#[derive(Debug, Clone)]
pub(super) struct PushJob {
    digest: String,
    size: u64,
    path: PathBuf,
    from: Option<Reference>,
}

/// Runs `f` over `items` with at most `n` in flight; the first error wins. Results
/// come back in the order of `items`.
pub(super) async fn run_bounded<T, R, F, Fut>(n: usize, items: Vec<T>, f: F) -> Result<Vec<R>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<R>> + Send + 'static,
{
    let total = items.len();
    let queue = Arc::new(Mutex::new(items.into_iter().enumerate().collect::<VecDeque<_>>()));
    let f = Arc::new(f);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n.max(1).min(total.max(1)) {
        let queue = queue.clone();
        let f = f.clone();
        set.spawn(async move {
            let mut out = Vec::new();
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                let Some((i, item)) = next else { break };
                out.push((i, f(item).await?));
            }
            Ok::<_, anyhow::Error>(out)
        });
    }
    let mut results: Vec<Option<R>> = (0..total).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(done)) => {
                for (i, r) in done {
                    results[i] = Some(r);
                }
            }
            Ok(Err(e)) => {
                set.abort_all();
                return Err(e);
            }
            Err(e) => {
                set.abort_all();
                return Err(anyhow!("a transfer task failed: {e}"));
            }
        }
    }
    results.into_iter().map(|r| r.ok_or_else(|| anyhow!("a transfer did not finish"))).collect()
}
