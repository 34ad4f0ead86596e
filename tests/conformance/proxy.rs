//! A recording, fault-injecting HTTP/1.1 proxy between aideploy and one peer (moto, the
//! Distribution registry or an in-process fake). Every request is recorded with its body
//! and classified as a read or a write by the peer's protocol; faults are drawn from a
//! seed; and the proxy can hold the answer to the k-th write until the test has killed
//! the client, to crash a deploy right after a mutating call succeeded at the peer.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};

/// How a peer says what a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// AWS: the operation from `X-Amz-Target` or a query-protocol `Action=`, else the
    /// HTTP method (REST services: Lambda, API Gateway v2, S3).
    Aws,
    /// GraphQL: a `mutation` document writes, a `query` reads.
    GraphQl,
    /// REST (Google, ARM, Render, the registry): GET/HEAD read, and so do the POSTs that
    /// only read (`:getIamPolicy`, `:testIamPermissions`, ARM `.../list*` actions).
    Rest,
}

/// One request as the proxy saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body as sent (image layers are gzip: `body` cannot show what is inside).
    pub raw: Bytes,
    /// The operation (AWS operation name, GraphQL document's first line, or method+path).
    pub op: String,
    pub write: bool,
    /// The fault injected instead of forwarding, if any.
    pub fault: Option<&'static str>,
    /// The peer's status (0 when not forwarded or the peer did not answer).
    pub status: u16,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    /// A write the peer accepted (2xx/3xx).
    pub fn accepted_write(&self) -> bool {
        self.write && self.fault.is_none() && (200..400).contains(&self.status)
    }
}

struct Inner {
    upstream: String,
    origin: String,
    protocol: Protocol,
    log: Mutex<Vec<Seen>>,
    /// Seed of the fault draw; `None`: no faults.
    faults: Mutex<Option<u64>>,
    drawn: AtomicU64,
    /// Hold the answer to this accepted write (1-based); 0: never.
    hold_at: AtomicUsize,
    accepted_writes: AtomicUsize,
    held: AtomicBool,
    released: AtomicBool,
    client: reqwest::Client,
}

#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

impl Proxy {
    /// A proxy to `upstream` (`http://host:port`, no path) on a free loopback port.
    pub fn start(upstream: &str, protocol: Protocol) -> Proxy {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let origin = format!("http://{}", std_listener.local_addr().unwrap());
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(300))
            .build()
            .unwrap();
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_string(),
            origin,
            protocol,
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(None),
            drawn: AtomicU64::new(0),
            hold_at: AtomicUsize::new(0),
            accepted_writes: AtomicUsize::new(0),
            held: AtomicBool::new(false),
            released: AtomicBool::new(false),
            client,
        });
        let serving = inner.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else { continue };
                    let inner = serving.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| handle(inner.clone(), req));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Proxy { inner }
    }

    /// `http://127.0.0.1:port` of the proxy.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// `host:port` of the proxy (for registry references).
    pub fn host(&self) -> &str {
        self.inner.origin.trim_start_matches("http://")
    }

    /// A URL of the peer (`http://upstream/...`) as the same URL through the proxy.
    pub fn via(&self, url: &str) -> String {
        url.replacen(&self.inner.upstream, &self.inner.origin, 1)
    }

    /// Number of requests seen so far (a mark for `since`).
    pub fn mark(&self) -> usize {
        self.inner.log.lock().unwrap().len()
    }

    pub fn since(&self, mark: usize) -> Vec<Seen> {
        self.inner.log.lock().unwrap()[mark..].to_vec()
    }

    /// Answer a seeded ~10% of requests with 429/503 (with and without Retry-After) or a
    /// dropped connection; `None` stops.
    pub fn faults(&self, seed: Option<u64>) {
        *self.inner.faults.lock().unwrap() = seed;
        self.inner.drawn.store(0, Ordering::SeqCst);
    }

    /// Hold the answer to the k-th write the peer accepts from now on (1-based).
    pub fn hold_after_write(&self, k: usize) {
        self.inner.accepted_writes.store(0, Ordering::SeqCst);
        self.inner.held.store(false, Ordering::SeqCst);
        self.inner.released.store(false, Ordering::SeqCst);
        self.inner.hold_at.store(k, Ordering::SeqCst);
    }

    /// Whether the held write has been reached (its answer is being held).
    pub fn holding(&self) -> bool {
        self.inner.held.load(Ordering::SeqCst)
    }

    /// Lets held answers go (to a client that is dead by now) and stops holding.
    pub fn release(&self) {
        self.inner.hold_at.store(0, Ordering::SeqCst);
        self.inner.released.store(true, Ordering::SeqCst);
    }
}

/// splitmix64: a deterministic draw from (seed, n).
fn draw(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const READ_PREFIXES: [&str; 6] = ["Get", "List", "Describe", "Head", "BatchGet", "Query"];

/// (operation, is it a write) for a request.
pub fn classify(protocol: Protocol, method: &str, path: &str, headers: &[(String, String)], body: &str) -> (String, bool) {
    let read_method = method == "GET" || method == "HEAD";
    match protocol {
        Protocol::Aws => {
            let target = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("x-amz-target")).map(|(_, v)| v.clone());
            let action = target
                .map(|t| t.rsplit('.').next().unwrap_or("").to_string())
                .or_else(|| body.split('&').chain(path.split(['?', '&'])).find_map(|kv| kv.strip_prefix("Action=")).map(str::to_string));
            match action {
                Some(op) => {
                    let write = !READ_PREFIXES.iter().any(|p| op.starts_with(p));
                    (op, write)
                }
                None => (format!("{method} {}", path.split('?').next().unwrap_or("")), !read_method),
            }
        }
        Protocol::GraphQl => {
            let doc = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["query"].as_str().map(str::to_string))
                .unwrap_or_default();
            let first = doc.trim_start().lines().next().unwrap_or("").trim().to_string();
            let write = doc.trim_start().starts_with("mutation");
            (first, write)
        }
        Protocol::Rest => {
            let p = path.split('?').next().unwrap_or("");
            let last = p.rsplit('/').next().unwrap_or("");
            let read_post =
                method == "POST" && (p.ends_with(":getIamPolicy") || p.ends_with(":testIamPermissions") || last.starts_with("list"));
            (format!("{method} {p}"), !(read_method || read_post))
        }
    }
}

type Answer = Response<Full<Bytes>>;

fn plain(status: u16, retry_after: Option<&str>, body: &'static str) -> Answer {
    let mut r = Response::builder().status(status).header("content-type", "application/json");
    if let Some(s) = retry_after {
        r = r.header("retry-after", s);
    }
    r.body(Full::new(Bytes::from_static(body.as_bytes()))).unwrap()
}

async fn handle(inner: Arc<Inner>, req: Request<Incoming>) -> Result<Answer, std::io::Error> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let headers: Vec<(String, String)> =
        req.headers().iter().map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let text = String::from_utf8_lossy(&body).into_owned();
    let (op, write) = classify(inner.protocol, &method, &path, &headers, &text);
    let mut seen = Seen {
        method: method.clone(),
        path: path.clone(),
        headers: headers.clone(),
        body: text,
        raw: body.clone(),
        op,
        write,
        fault: None,
        status: 0,
    };

    let seed = *inner.faults.lock().unwrap();
    if let Some(seed) = seed {
        let n = inner.drawn.fetch_add(1, Ordering::SeqCst);
        let d = draw(seed, n);
        if d % 10 == 0 {
            let (fault, answer): (&'static str, Option<Answer>) = match (d >> 8) % 5 {
                0 => ("429", Some(plain(429, None, r#"{"message":"Too Many Requests"}"#))),
                1 => ("429 Retry-After: 1", Some(plain(429, Some("1"), r#"{"message":"Too Many Requests"}"#))),
                2 => ("503", Some(plain(503, None, r#"{"message":"Service Unavailable"}"#))),
                3 => ("503 Retry-After: 1", Some(plain(503, Some("1"), r#"{"message":"Service Unavailable"}"#))),
                _ => ("dropped connection", None),
            };
            seen.fault = Some(fault);
            inner.log.lock().unwrap().push(seen);
            return answer.ok_or_else(|| std::io::Error::other("connection dropped by the conformance proxy"));
        }
    }

    let url = format!("{}{}", inner.upstream, path);
    let mut out = inner.client.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), &url);
    for (k, v) in &headers {
        if !matches!(k.as_str(), "host" | "content-length" | "connection" | "transfer-encoding" | "expect") {
            out = out.header(k, v);
        }
    }
    let forwarded = out.body(body).send().await;
    let resp = match forwarded {
        Ok(r) => r,
        Err(e) => {
            inner.log.lock().unwrap().push(seen);
            return Err(std::io::Error::other(format!("peer did not answer: {e}")));
        }
    };
    let status = resp.status().as_u16();
    let mut answer = Response::builder().status(status);
    for (k, v) in resp.headers() {
        let name = k.as_str();
        if matches!(name, "transfer-encoding" | "connection") || (name == "content-length" && method != "HEAD") {
            continue;
        }
        if matches!(name, "location" | "azure-asyncoperation" | "operation-location") {
            let loc = String::from_utf8_lossy(v.as_bytes()).replacen(&inner.upstream, &inner.origin, 1);
            answer = answer.header(k, loc);
        } else {
            answer = answer.header(k, v);
        }
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    seen.status = status;
    let accepted = seen.accepted_write();
    inner.log.lock().unwrap().push(seen);

    if accepted {
        let k = inner.accepted_writes.fetch_add(1, Ordering::SeqCst) + 1;
        if k == inner.hold_at.load(Ordering::SeqCst) {
            inner.held.store(true, Ordering::SeqCst);
            while !inner.released.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            return Err(std::io::Error::other("held answer: the client was killed"));
        }
    }
    Ok(answer.body(Full::new(bytes)).unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_reads_and_writes() {
        let h = |t: &str| vec![("x-amz-target".to_string(), t.to_string())];
        assert_eq!(classify(Protocol::Aws, "POST", "/", &h("secretsmanager.GetSecretValue"), "{}"), ("GetSecretValue".into(), false));
        assert!(classify(Protocol::Aws, "POST", "/", &h("secretsmanager.PutSecretValue"), "{}").1);
        assert!(!classify(Protocol::Aws, "POST", "/", &[], "Action=DescribeInstances&Version=2016-11-15").1);
        assert!(classify(Protocol::Aws, "POST", "/", &[], "Action=RunInstances&Version=2016-11-15").1);
        assert!(!classify(Protocol::Aws, "GET", "/2015-03-31/functions/f", &[], "").1);
        assert!(classify(Protocol::Aws, "PUT", "/bucket/key", &[], "").1);
        assert!(classify(Protocol::GraphQl, "POST", "/graphql/v2", &[], r#"{"query":"mutation X { a }"}"#).1);
        assert!(!classify(Protocol::GraphQl, "POST", "/graphql/v2", &[], r#"{"query":"query X { a }"}"#).1);
        assert!(!classify(Protocol::Rest, "POST", "/v1/projects/p/secrets/s:getIamPolicy", &[], "").1);
        assert!(!classify(Protocol::Rest, "POST", "/subscriptions/s/sites/x/config/appsettings/list?api-version=1", &[], "").1);
        assert!(classify(Protocol::Rest, "PATCH", "/v1/services/x", &[], "").1);
        assert!(!classify(Protocol::Rest, "HEAD", "/v2/r/blobs/sha256:ab", &[], "").1);
    }

    #[test]
    fn the_fault_draw_is_deterministic_and_near_ten_percent() {
        let faulted = (0..10_000).filter(|&n| draw(7, n) % 10 == 0).count();
        assert!((800..1200).contains(&faulted), "{faulted}");
        assert_eq!(draw(7, 42), draw(7, 42));
    }
}
