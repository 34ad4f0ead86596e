//! The HTTP layer every hand-written API client shares (ARM, Railway, Render, registry
//! token exchanges): connect and read timeouts, and retries of 408, 429, 5xx and dropped
//! connections with jittered exponential backoff that honours `Retry-After`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

/// How long to wait for a connection, and for each read of an answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A client with aideploy's user agent and the timeouts above.
pub fn client() -> Result<reqwest::Client> {
    builder().build().context("cannot set up the HTTP client")
}

/// [`client`]'s builder, for callers that add to it (redirect policy, pool size).
pub fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("aideploy/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .redirect(same_host_redirects())
}

/// Redirects are followed only within one scheme, host and port. API clients carry
/// tokens in headers of their own (Railway's `Project-Access-Token`), which the HTTP
/// client would carry to any host a redirect names.
pub fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|a| {
        let Some(first) = a.previous().first() else { return a.follow() };
        let to = a.url();
        let same = to.scheme() == first.scheme()
            && to.host_str() == first.host_str()
            && to.port_or_known_default() == first.port_or_known_default();
        if a.previous().len() > 5 {
            a.error("too many redirects")
        } else if same {
            a.follow()
        } else {
            let msg = format!(
                "redirected to another host ({}); not followed, so the credentials stay with {}",
                to.origin().ascii_serialization(),
                first.origin().ascii_serialization()
            );
            a.error(msg)
        }
    })
}

/// How many times to try and how long to back off.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { attempts: 6, base: Duration::from_millis(250), max: Duration::from_secs(20) }
    }
}

/// Whether an answer with this status is worth trying again.
pub fn retryable_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` in seconds or as an HTTP date, capped at `max`.
pub fn retry_after(resp: &Response, max: Duration) -> Option<Duration> {
    let v = resp.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    let d = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => httpdate_delay(v)?,
    };
    Some(d.min(max))
}

fn httpdate_delay(v: &str) -> Option<Duration> {
    let when = crate::util::parse_http_date(v)?;
    Some(when.duration_since(SystemTime::now()).unwrap_or_default())
}

static SEED: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);

/// A number in `0..n` that differs from call to call (for jitter, not for secrets).
fn jitter(n: u64) -> u64 {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let mut x = SEED.fetch_add(nanos | 1, Ordering::Relaxed) ^ nanos;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    if n == 0 {
        0
    } else {
        x % n
    }
}

impl Retry {
    /// The pause before attempt `n` (1-based retries): full jitter over an exponential
    /// ceiling.
    pub fn backoff(&self, n: u32) -> Duration {
        let ceiling = self.base.saturating_mul(1u32 << n.min(16)).min(self.max);
        let ms = ceiling.as_millis() as u64;
        Duration::from_millis(ms / 2 + jitter(ms / 2 + 1))
    }
}

/// Whether a request that failed to complete may be sent again: always when the
/// connection was never made; otherwise only when the method is idempotent (a POST that
/// was cut off mid-answer may have been carried out).
fn retryable_error(e: &reqwest::Error, method: &Method, idempotent: bool) -> bool {
    if e.is_connect() {
        return true;
    }
    let safe = idempotent || matches!(*method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS);
    safe && (e.is_timeout() || e.is_request() || e.is_body() || e.is_decode())
}

/// Sends the request `make` builds (once per attempt), retrying as [`Retry`] says. A
/// POST is treated as idempotent only when `idempotent` says so (a GraphQL query, a
/// token exchange). The last answer is returned whatever its status; the caller reads
/// errors from it.
pub async fn send(retry: Retry, idempotent: bool, make: impl Fn() -> RequestBuilder) -> Result<Response, reqwest::Error> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let req = make();
        let method = req.try_clone().and_then(|r| r.build().ok()).map(|r| r.method().clone()).unwrap_or(Method::POST);
        match req.send().await {
            Ok(resp) if attempt < retry.attempts && retryable_status(resp.status()) => {
                let pause = retry_after(&resp, retry.max).unwrap_or_else(|| retry.backoff(attempt));
                tracing::debug!("{} answered {}; trying again in {:?}", resp.url(), resp.status(), pause);
                tokio::time::sleep(pause).await;
            }
            Ok(resp) => return Ok(resp),
            Err(e) if attempt < retry.attempts && retryable_error(&e, &method, idempotent) => {
                tracing::debug!("request failed ({e}); trying again");
                tokio::time::sleep(retry.backoff(attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback server that answers each connection with the next of `answers`
    /// (raw status line and headers), the last one for ever; `None` drops the connection.
    async fn server(answers: Vec<Option<&'static str>>) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { return };
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let answer = answers[n.min(answers.len() - 1)];
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                if let Some(a) = answer {
                    let _ = sock.write_all(format!("{a}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").as_bytes()).await;
                }
            }
        });
        (format!("http://{addr}/"), count)
    }

    fn fast() -> Retry {
        Retry { attempts: 5, base: Duration::from_millis(1), max: Duration::from_millis(5) }
    }

    #[tokio::test]
    async fn retries_throttling_and_unavailable_until_an_answer() {
        let (url, count) = server(vec![
            Some("HTTP/1.1 429 Too Many Requests\r\nretry-after: 0"),
            Some("HTTP/1.1 503 Unavailable"),
            Some("HTTP/1.1 200 OK"),
        ])
        .await;
        let http = client().unwrap();
        let resp = send(fast(), false, || http.get(&url)).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_dropped_connection_is_retried_for_idempotent_calls_only() {
        let (url, count) = server(vec![None, Some("HTTP/1.1 200 OK")]).await;
        let http = client().unwrap();
        let resp = send(fast(), false, || http.put(&url)).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(count.load(Ordering::SeqCst), 2);

        let (url, count) = server(vec![None, Some("HTTP/1.1 200 OK")]).await;
        assert!(send(fast(), false, || http.post(&url)).await.is_err(), "a POST cut off mid-answer may have been carried out");
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn gives_up_after_the_attempts_with_the_last_answer() {
        let (url, count) = server(vec![Some("HTTP/1.1 502 Bad Gateway")]).await;
        let http = client().unwrap();
        let resp = send(fast(), false, || http.get(&url)).await.unwrap();
        assert_eq!(resp.status(), 502);
        assert_eq!(count.load(Ordering::SeqCst), 5);
        // A client error is the caller's to read, not retried.
        let (url, count) = server(vec![Some("HTTP/1.1 409 Conflict")]).await;
        assert_eq!(send(fast(), false, || http.get(&url)).await.unwrap().status(), 409);
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn backoff_stays_under_its_ceiling() {
        let r = Retry { attempts: 5, base: Duration::from_millis(100), max: Duration::from_secs(1) };
        for n in 1..10 {
            let d = r.backoff(n);
            assert!(d <= Duration::from_secs(1), "{d:?}");
            assert!(d >= Duration::from_millis(50).min(Duration::from_millis(100 * (1 << n) / 2).min(Duration::from_millis(500))));
        }
    }
}
