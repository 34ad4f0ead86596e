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

mod auth;
mod pull;
mod push;
mod reference;

use auth::Auth;
pub use auth::{parse_challenge, Anonymous, Challenge, CredentialSource, Credentials, StaticCredentials};
pub use pull::PulledImage;
use push::run_bounded;
pub use push::{BlobOutcome, BlobPush, PushOptions, PushReport};
pub use reference::Reference;

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
        // Blob downloads are sent on to storage hosts: follow those redirects (the HTTP client
        // drops `Authorization` when a redirect changes host; tests/credential_hops.rs).
        let http = crate::cloud::http::builder()
            .read_timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::limited(10))
            .build()
            .context("cannot set up the HTTP client")?;
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
            let mut req = make(&self.inner.http).build().context("cannot build a registry request")?;
            // The login goes to the registry that asked for it and nowhere else: an upload
            // Location on another host (a storage bucket, a CDN) gets the request bare.
            if same_host(req.url(), reg) {
                if let Some(h) = self.auth_header(&reg.registry, scope) {
                    req.headers_mut().insert(AUTHORIZATION, h.parse().context("a registry token is not a valid header")?);
                }
            }
            let transient = match self.inner.http.execute(req).await {
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
                let realm_local = realm.host_str().is_some_and(crate::cloud::is_loopback_host);
                if realm.scheme() != "https" && !(realm.scheme() == "http" && reg.is_loopback() && realm_local) {
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
}

/// Whether `url` is on the registry's own host and port (what its login is for).
fn same_host(url: &Url, reg: &Reference) -> bool {
    let Ok(base) = Url::parse(&reg.base_url()) else { return false };
    url.scheme() == base.scheme()
        && url.host_str().map(str::to_ascii_lowercase) == base.host_str().map(str::to_ascii_lowercase)
        && url.port_or_known_default() == base.port_or_known_default()
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
    fn logins_go_to_the_registry_host_only() {
        let reg = Reference::parse("127.0.0.1:5000/app").unwrap();
        assert!(same_host(&Url::parse("http://127.0.0.1:5000/v2/app/blobs/uploads/x").unwrap(), &reg));
        for other in ["http://127.0.0.1:5001/v2/", "http://localhost:5000/v2/", "https://127.0.0.1:5000/v2/", "http://127.0.0.2:5000/"] {
            assert!(!same_host(&Url::parse(other).unwrap(), &reg), "{other}");
        }
        let hub = Reference::parse("python:3.11").unwrap();
        assert!(same_host(&Url::parse("https://registry-1.docker.io/v2/library/python/manifests/3.11").unwrap(), &hub));
        assert!(!same_host(&Url::parse("https://production.cloudflare.docker.com/blob").unwrap(), &hub));
        let ghcr = Reference::parse("ghcr.io/a/b").unwrap();
        assert!(same_host(&Url::parse("https://GHCR.io:443/v2/").unwrap(), &ghcr));
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
