//! The health gate for HTTP endpoints: poll GET <url> until it answers 2xx.

use std::time::{Duration, Instant};

use super::Reporter;

/// The client health checks use: no proxy, a 5 s timeout per request.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().expect("http client")
}

/// One GET; true on 2xx.
pub async fn probe(url: &str) -> bool {
    matches!(client().get(url).send().await, Ok(resp) if resp.status().is_success())
}

/// One GET with `client`: `Ok` on 2xx, else what answered ("HTTP 503", "connection
/// refused"), for a wait's status line.
pub async fn check(client: &reqwest::Client, url: &str) -> Result<(), String> {
    match client.get(url).send().await {
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => Err(format!("HTTP {}", resp.status().as_u16())),
        Err(e) if e.is_connect() => Err("connection refused".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Why a version did not become healthy.
#[derive(Debug)]
pub enum Unhealthy {
    /// The process behind it ended; with its exit description.
    Exited(String),
    /// No 2xx within the time; with the last answer seen.
    TimedOut { last: String },
}

/// Polls `url` until 2xx, `timeout` passes, or `gone()` says the server has ended.
pub async fn wait_healthy(
    url: &str,
    timeout: Duration,
    r: &dyn Reporter,
    mut gone: impl FnMut() -> Option<String>,
) -> Result<(), Unhealthy> {
    let client = client();
    let started = Instant::now();
    let mut last;
    loop {
        if let Some(why) = gone() {
            return Err(Unhealthy::Exited(why));
        }
        match check(&client, url).await {
            Ok(()) => return Ok(()),
            Err(seen) => last = seen,
        }
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(Unhealthy::TimedOut { last });
        }
        r.progress(&format!("GET {url}: {last} ({}s of {}s)", waited.as_secs(), timeout.as_secs()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
