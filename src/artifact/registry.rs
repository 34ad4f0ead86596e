//! An OCI distribution client: push and pull images, with dedup, cross-repository
//! mounts, chunked uploads, retries and bounded parallel uploads.
//!
//! Why not `oci-client`: its push takes every layer as an in-memory buffer
//! (`ImageLayer { data }`), which a multi-gigabyte model layer cannot be; it does not
//! expose the cross-repository mount we need to avoid re-uploading a base image to a
//! sibling repository; and it does not report the bytes it actually sent, which is how
//! aideploy proves an unchanged redeploy uploads nothing. The wire protocol (the OCI
//! distribution spec) is small, so the client is written here on reqwest, with
//! `oci-spec` for the manifest, index and config types.
//!
//! Transport: registries on loopback (`127.0.0.0/8`, `localhost`, `[::1]`) are spoken
//! to over plain HTTP, every other registry over HTTPS only.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use async_trait::async_trait;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt;

use crate::artifact::oci::blobs::{sha256_digest, sha256_hex, BlobStore};
use crate::artifact::oci::{BuiltImage, Platform};
use crate::engine::Reporter;
use crate::error::Hinted;

pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// Manifests and configs larger than this are refused (the spec suggests 4 MiB).
const MAX_DOCUMENT: u64 = 4 * 1024 * 1024;

// ---------------------------------------------------------------------------------------
// References

/// `registry/repository[:tag][@sha256:...]`. Names without a registry are Docker Hub's
/// (`python:3.11-slim` is `docker.io/library/python:3.11-slim`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]`, as written (`docker.io`, `127.0.0.1:5000`, `[::1]:5000`).
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference> {
        s.parse()
    }

    /// The same repository, pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference { digest: Some(digest.to_string()), ..self.clone() }
    }

    /// The same registry, another repository.
    pub fn in_repository(&self, repository: &str) -> Reference {
        Reference { repository: repository.to_string(), tag: None, digest: None, registry: self.registry.clone() }
    }

    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What goes after `/manifests/`: the digest when pinned, else the tag (`latest`).
    pub fn manifest_ref(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// A registry on this machine's loopback: spoken to over plain HTTP.
    pub fn is_loopback(&self) -> bool {
        crate::cloud::is_loopback_host(&self.registry)
    }

    /// `http(s)://host[:port]`, where the API lives.
    fn base_url(&self) -> String {
        let scheme = if self.is_loopback() { "http" } else { "https" };
        let host = if self.registry == "docker.io" { "registry-1.docker.io" } else { &self.registry };
        format!("{scheme}://{host}")
    }
}

impl FromStr for Reference {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Reference> {
        let bad = |why: &str| {
            anyhow!(Hinted::new(
                format!("`{s}` is not an image reference: {why}"),
                "write it as registry/repository[:tag][@sha256:digest], e.g. ghcr.io/acme/app:1.0"
            ))
        };
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                sha256_hex(d).map_err(|_| bad("the digest is not sha256: + 64 hex digits"))?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, path)) if first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('[') => {
                (first.to_string(), path.to_string())
            }
            _ => ("docker.io".to_string(), rest.to_string()),
        };
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), Some(tag.to_string())),
            _ => (path, None),
        };
        let repository = if registry == "docker.io" && !repository.contains('/') { format!("library/{repository}") } else { repository };
        if repository.is_empty()
            || repository.split('/').any(|c| c.is_empty())
            || !repository.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b))
        {
            return Err(bad("a repository is lowercase letters, digits and . _ - / separators"));
        }
        if let Some(tag) = &tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && !tag.starts_with(['.', '-'])
                && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !ok {
                return Err(bad("a tag is up to 128 letters, digits, . _ -"));
            }
        }
        if registry.is_empty() || registry.contains(char::is_whitespace) {
            return Err(bad("empty registry"));
        }
        Ok(Reference { registry, repository, tag, digest })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Credentials

/// A user name and secret for a registry's Basic auth or token endpoint. ECR
/// (`AWS` + GetAuthorizationToken), Artifact Registry (`oauth2accesstoken` + an access
/// token) and ACR (a refresh token exchanged from an AAD token) all reduce to this.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

/// Where credentials for a registry come from; the cloud backends plug in their flows.
#[async_trait]
pub trait CredentialSource: Send + Sync {
    /// Credentials for `registry` (`host[:port]`), or `None` to go anonymous.
    async fn credentials(&self, registry: &str) -> Result<Option<Credentials>>;
}

/// No credentials: public images, loopback registries, anonymous tokens.
pub struct Anonymous;

#[async_trait]
impl CredentialSource for Anonymous {
    async fn credentials(&self, _registry: &str) -> Result<Option<Credentials>> {
        Ok(None)
    }
}

/// Fixed credentials per registry host.
#[derive(Default)]
pub struct StaticCredentials(pub HashMap<String, Credentials>);

#[async_trait]
impl CredentialSource for StaticCredentials {
    async fn credentials(&self, registry: &str) -> Result<Option<Credentials>> {
        Ok(self.0.get(registry).cloned())
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Eq)]
pub enum Challenge {
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
    Basic,
}

/// Parses `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut map = HashMap::new();
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (quoted[..end].to_string(), &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        map.insert(key, value);
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer { realm: map.remove("realm")?, service: map.remove("service"), scope: map.remove("scope") })
}

#[derive(Clone)]
enum Auth {
    Bearer(String),
    Basic(Credentials),
}

// ---------------------------------------------------------------------------------------
// The client

/// Tunables; the defaults suit cloud registries.
#[derive(Debug, Clone)]
pub struct Options {
    /// Blobs larger than this go up in PATCH chunks of this size.
    pub chunk_size: u64,
    /// Blob uploads (and downloads) in flight at once.
    pub parallel: usize,
    /// Extra attempts after a 5xx, 429 or a connection error.
    pub retries: u32,
    /// First backoff delay; doubles each attempt.
    pub backoff: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options { chunk_size: 16 * 1024 * 1024, parallel: 3, retries: 4, backoff: Duration::from_millis(250) }
    }
}

/// What became of one blob during a push.
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

#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    creds: Arc<dyn CredentialSource>,
    /// Auth per (registry, scope).
    auth: Mutex<HashMap<(String, String), Auth>>,
    store: BlobStore,
    opts: Options,
}

/// The `scope` of a token request: repositories and the actions wanted on each.
#[derive(Debug, Clone)]
struct Scope(Vec<String>);

impl Scope {
    fn pull(repo: &Reference) -> Scope {
        Scope(vec![format!("repository:{}:pull", repo.repository)])
    }
    fn push(repo: &Reference, mount_from: &[String]) -> Scope {
        let mut s = vec![format!("repository:{}:pull,push", repo.repository)];
        s.extend(mount_from.iter().filter(|m| **m != repo.repository).map(|m| format!("repository:{m}:pull")));
        s.sort();
        s.dedup();
        Scope(s)
    }
    fn key(&self) -> String {
        self.0.join(" ")
    }
}

impl Client {
    pub fn new(creds: Arc<dyn CredentialSource>, store: BlobStore, opts: Options) -> Result<Client> {
        // Uploads go in chunks of at most `chunk_size`, so no one request waits long for
        // its answer: a stalled connection is noticed after two minutes.
        let http = crate::cloud::http::builder().read_timeout(Duration::from_secs(120)).build().context("cannot set up the HTTP client")?;
        Ok(Client { inner: Arc::new(Inner { http, creds, auth: Mutex::new(HashMap::new()), store, opts }) })
    }

    /// Anonymous, default options, the default blob store.
    pub fn anonymous() -> Result<Client> {
        Client::new(Arc::new(Anonymous), BlobStore::open_default()?, Options::default())
    }

    pub fn store(&self) -> &BlobStore {
        &self.inner.store
    }

    // --- transport ------------------------------------------------------------------

    fn auth_header(&self, registry: &str, scope: &Scope) -> Option<String> {
        let auth = self.inner.auth.lock().unwrap_or_else(|e| e.into_inner());
        match auth.get(&(registry.to_string(), scope.key()))? {
            Auth::Bearer(t) => Some(format!("Bearer {t}")),
            Auth::Basic(c) => Some(basic_header(c)),
        }
    }

    /// Sends a request built by `make` (called again for each attempt), answering an
    /// auth challenge once and retrying 5xx/429/connection errors with backoff.
    async fn send<F>(&self, reg: &Reference, scope: &Scope, make: F) -> Result<reqwest::Response>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let mut challenged = false;
        let mut attempt = 0u32;
        loop {
            let mut rb = make(&self.inner.http);
            if let Some(h) = self.auth_header(&reg.registry, scope) {
                rb = rb.header(AUTHORIZATION, h);
            }
            let transient = match rb.send().await {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !challenged => {
                    challenged = true;
                    let header = resp.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).map(str::to_string);
                    self.authenticate(reg, scope, header.as_deref()).await?;
                    continue;
                }
                Ok(resp) if resp.status().is_server_error() || resp.status() == StatusCode::TOO_MANY_REQUESTS => {
                    if attempt >= self.inner.opts.retries {
                        return Ok(resp);
                    }
                    format!("HTTP {}", resp.status())
                }
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    if attempt >= self.inner.opts.retries {
                        return Err(unreachable(reg, e));
                    }
                    e.to_string()
                }
            };
            attempt += 1;
            let delay = self.inner.opts.backoff * 2u32.saturating_pow(attempt - 1);
            tracing::debug!("registry {}: {transient}; retry {attempt} in {delay:?}", reg.registry);
            tokio::time::sleep(delay).await;
        }
    }

    async fn authenticate(&self, reg: &Reference, scope: &Scope, header: Option<&str>) -> Result<()> {
        let creds = self.inner.creds.credentials(&reg.registry).await?;
        let auth = match header.and_then(parse_challenge) {
            Some(Challenge::Basic) => match creds {
                Some(c) => Auth::Basic(c),
                None => return Err(denied(reg, "it asks for a login and no credentials were found")),
            },
            Some(Challenge::Bearer { realm, service, scope: asked }) => {
                let realm = Url::parse(&realm).map_err(|_| anyhow!("registry {} sent a bad token realm `{realm}`", reg.registry))?;
                if realm.scheme() != "https" && !(realm.scheme() == "http" && reg.is_loopback()) {
                    bail!("registry {} asks for a token from {realm}, which is not HTTPS; refusing", reg.registry);
                }
                let mut url = realm;
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = &service {
                        q.append_pair("service", s);
                    }
                    for s in &scope.0 {
                        q.append_pair("scope", s);
                    }
                    // A scope the registry asks for that we did not think of.
                    for s in asked.iter().flat_map(|a| a.split(' ')).filter(|s| !s.is_empty() && !scope.0.iter().any(|o| o == s)) {
                        q.append_pair("scope", s);
                    }
                }
                let mut rb = self.inner.http.get(url);
                if let Some(c) = &creds {
                    rb = rb.header(AUTHORIZATION, basic_header(c));
                }
                let resp = rb.send().await.map_err(|e| unreachable(reg, e))?;
                if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
                    return Err(denied(reg, "its token service refused the credentials"));
                }
                if !resp.status().is_success() {
                    bail!("registry {}: the token service answered HTTP {}", reg.registry, resp.status());
                }
                let body = read_limited(resp, MAX_DOCUMENT).await?;
                #[derive(serde::Deserialize)]
                struct Token {
                    token: Option<String>,
                    access_token: Option<String>,
                }
                let t: Token = serde_json::from_slice(&body)
                    .map_err(|e| anyhow!("registry {}: the token service sent no token ({e})", reg.registry))?;
                match t.token.or(t.access_token).filter(|t| !t.is_empty()) {
                    Some(token) => Auth::Bearer(token),
                    None => bail!("registry {}: the token service sent an empty token", reg.registry),
                }
            }
            None => return Err(denied(reg, "it answered 401 without a usable WWW-Authenticate challenge")),
        };
        self.inner.auth.lock().unwrap_or_else(|e| e.into_inner()).insert((reg.registry.clone(), scope.key()), auth);
        Ok(())
    }

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
    async fn fetch_manifest(&self, repo: &Reference, reference: &str) -> Result<(Vec<u8>, String, String)> {
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
    async fn push_blob(&self, target: &Reference, scope: &Scope, job: &PushJob, sent: &AtomicU64) -> Result<(BlobPush, u64)> {
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
                Err(e) if attempt < self.inner.opts.retries && e.downcast_ref::<Hinted>().is_none() => {
                    attempt += 1;
                    tracing::debug!("upload of {} failed ({e:#}); retry {attempt}", job.digest);
                    tokio::time::sleep(self.inner.opts.backoff * 2u32.saturating_pow(attempt - 1)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn upload_once(&self, target: &Reference, scope: &Scope, job: &PushJob, progress: &AtomicU64) -> Result<(BlobPush, u64)> {
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

/// Extra choices for `Client::push_with`.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Repositories of the same registry that may hold our blobs already: each blob
    /// missing from the target is mounted from the first of them before any upload.
    pub mount_from: Vec<Reference>,
}

#[derive(Debug, Clone)]
struct PushJob {
    digest: String,
    size: u64,
    path: PathBuf,
    from: Option<Reference>,
}

/// Runs `f` over `items` with at most `n` in flight; the first error wins. Results
/// come back in the order of `items`.
async fn run_bounded<T, R, F, Fut>(n: usize, items: Vec<T>, f: F) -> Result<Vec<R>>
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

fn basic_header(c: &Credentials) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password)))
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_string())
        .filter(|s| !s.is_empty())
}

fn media_type_of(bytes: &[u8]) -> Option<String> {
    // `mediaType` is optional in OCI documents: without it, the shape tells.
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
    }
    let p: Probe = serde_json::from_slice(bytes).ok()?;
    p.media_type.or_else(|| p.manifests.map(|_| MEDIA_OCI_INDEX.to_string())).or_else(|| p.config.map(|_| MEDIA_OCI_MANIFEST.to_string()))
}

fn is_index(media_type: &str, bytes: &[u8]) -> bool {
    media_type == MEDIA_OCI_INDEX
        || media_type == MEDIA_DOCKER_LIST
        || (media_type.is_empty() && media_type_of(bytes).as_deref() == Some(MEDIA_OCI_INDEX))
}

fn upload_location(reg: &Reference, headers: &HeaderMap) -> Result<Url> {
    let loc = headers.get(LOCATION).and_then(|v| v.to_str().ok()).ok_or_else(|| garbage(reg, "an upload answer had no Location header"))?;
    let base = Url::parse(&format!("{}/", reg.base_url())).map_err(|e| anyhow!("bad registry address {}: {e}", reg.registry))?;
    let url = base.join(loc).map_err(|_| garbage(reg, &format!("bad upload Location `{loc}`")))?;
    if url.scheme() != "https" && !(url.scheme() == "http" && reg.is_loopback()) {
        return Err(garbage(reg, &format!("it sent an upload Location that is not HTTPS ({url})")));
    }
    Ok(url)
}

async fn read_limited(mut resp: reqwest::Response, limit: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.context("the registry connection broke")? {
        if out.len() as u64 + chunk.len() as u64 > limit {
            bail!("the registry sent a document larger than {} bytes", limit);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn check_status(reg: &Reference, status: StatusCode, what: &str) -> Result<()> {
    if status.is_success() {
        return Ok(());
    }
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(denied(reg, &format!("it answered {status} to: {what}"))),
        StatusCode::NOT_FOUND => Err(Hinted::new(
            format!("registry {}: {what} on {} answered 404", reg.registry, reg.repository),
            "check the repository name; some registries need the repository created first (ECR)",
        )
        .into()),
        s => Err(anyhow!("registry {}: could not {what} in {} (HTTP {s})", reg.registry, reg.repository)),
    }
}

fn with_body_hint(e: anyhow::Error, digest: &str) -> anyhow::Error {
    e.context(format!("pushing manifest {digest}"))
}

fn denied(reg: &Reference, why: &str) -> anyhow::Error {
    Hinted::new(
        format!("registry {} denied access to {}: {why}", reg.registry, reg.repository),
        "log in to the registry (the target's credentials must allow pull and push on this repository)",
    )
    .into()
}

fn unreachable(reg: &Reference, e: reqwest::Error) -> anyhow::Error {
    let transport = if reg.is_loopback() { "plain HTTP (loopback)" } else { "HTTPS" };
    anyhow!(Hinted::new(
        format!("cannot reach registry {} over {transport}: {e}", reg.registry),
        "check the registry address and that it is running; only loopback registries are spoken to over plain HTTP",
    ))
}

fn garbage(reg: &Reference, what: &str) -> anyhow::Error {
    anyhow!("registry {} sent a bad answer for {}: {what}", reg.registry, reg.repository)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = Reference::parse("python:3.11-slim").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()), ("docker.io", "library/python", Some("3.11-slim")));
        assert_eq!(r.base_url(), "https://registry-1.docker.io");
        let r = Reference::parse("127.0.0.1:5000/base/python:3.11").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str()), ("127.0.0.1:5000", "base/python"));
        assert!(r.is_loopback());
        assert_eq!(r.base_url(), "http://127.0.0.1:5000");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("[::1]:5000/app@{d}")).unwrap();
        assert!(r.is_loopback() && r.tag.is_none() && r.digest.as_deref() == Some(d.as_str()));
        assert_eq!(r.to_string(), format!("[::1]:5000/app@{d}"));
        let r = Reference::parse("localhost:80/a/b").unwrap();
        assert_eq!(r.manifest_ref(), "latest");
        assert!(r.is_loopback());
        let r = Reference::parse("ghcr.io/acme/app:1.0").unwrap();
        assert!(!r.is_loopback());
        assert_eq!(r.base_url(), "https://ghcr.io");
        // Look-alikes are not loopback: they get HTTPS.
        for remote in ["127.example.com/x", "localhost.example.com/x", "10.0.0.1:5000/x", "[2001:db8::1]:443/x"] {
            assert!(!Reference::parse(remote).unwrap().is_loopback(), "{remote}");
        }
        assert!(Reference::parse("127.1.2.3:80/x").unwrap().is_loopback());
        for bad in ["", "UPPER/case", "a//b", "x@sha256:zz", "ghcr.io/a:-bad", "ghcr.io/"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_challenges() {
        let c = parse_challenge(r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#);
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull".into())
            })
        );
        assert_eq!(parse_challenge(r#"Basic realm="x""#), Some(Challenge::Basic));
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge(r#"Bearer realm="unterminated"#), None);
    }

    /// Mutations of valid inputs (a small xorshift fuzzer, no extra crates): the parsers
    /// of untrusted registry answers and user references return errors, never panic.
    #[test]
    fn fuzzed_inputs_do_not_panic() {
        let seeds: [&[u8]; 5] = [
            br#"Bearer realm="https://auth.example/token",service="r",scope="repository:a:pull""#,
            b"127.0.0.1:5000/base/python:3.11@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":1,"platform":{"os":"linux","architecture":"amd64"}}]}"#,
            br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":2},"layers":[]}"#,
            b"[::1]:5000/x",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..20_000 {
            let mut input = seeds[round % seeds.len()].to_vec();
            for _ in 0..(next() % 6) {
                let i = (next() as usize) % (input.len() + 1);
                match next() % 3 {
                    0 if i < input.len() => input[i] = next() as u8,
                    1 => input.insert(i, b"\"{}[]:@/,= \xff"[(next() % 12) as usize]),
                    _ if i < input.len() => {
                        input.remove(i);
                    }
                    _ => {}
                }
            }
            let text = String::from_utf8_lossy(&input);
            let _ = parse_challenge(&text);
            let _ = Reference::parse(&text);
            let _ = media_type_of(&input);
            let _ = is_index("", &input);
            let _ = serde_json::from_slice::<ImageManifest>(&input);
            let _ = serde_json::from_slice::<ImageIndex>(&input);
        }
    }

    #[test]
    fn media_type_from_the_document_shape() {
        assert_eq!(media_type_of(br#"{"schemaVersion":2,"config":{},"layers":[]}"#).as_deref(), Some(MEDIA_OCI_MANIFEST));
        assert_eq!(media_type_of(br#"{"schemaVersion":2,"manifests":[]}"#).as_deref(), Some(MEDIA_OCI_INDEX));
        assert_eq!(media_type_of(br#"{"mediaType":"x","config":{}}"#).as_deref(), Some("x"));
        assert_eq!(media_type_of(br#"{"schemaVersion":1}"#), None);
    }

    #[test]
    fn garbage_documents_do_not_panic() {
        for junk in [&b""[..], b"{", b"[]", b"{\"mediaType\":5}", b"\xff\xfe"] {
            let _ = media_type_of(junk);
            let _ = serde_json::from_slice::<ImageManifest>(junk);
            let _ = is_index("", junk);
        }
    }
}
