//! The health gate for HTTP endpoints: poll GET <url> until it answers 2xx, and stop
//! early when the answers say waiting longer will not help (a steady server error, or a
//! health path the app does not serve).

use std::time::{Duration, Instant};

use super::Reporter;
use crate::envvars;

/// The client health checks use: no proxy, a 5 s timeout per request.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().expect("http client")
}

/// One GET; true on 2xx.
pub async fn probe(url: &str) -> bool {
    matches!(client().get(url).send().await, Ok(resp) if resp.status().is_success())
}

/// What one GET of the health path got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Healthy,
    /// Any other status, with the start of the body (at most 2 KiB).
    Status {
        code: u16,
        body: String,
    },
    /// No HTTP answer: "connection refused", a timeout, ...
    Nothing(String),
}

impl Answer {
    /// For a wait's status line: "HTTP 503", "connection refused".
    pub fn describe(&self) -> String {
        match self {
            Answer::Healthy => "HTTP 2xx".into(),
            Answer::Status { code, .. } => format!("HTTP {code}"),
            Answer::Nothing(why) => why.clone(),
        }
    }
}

const BODY_LIMIT: usize = 2048;

/// One GET with `client`.
pub async fn answer(client: &reqwest::Client, url: &str) -> Answer {
    match client.get(url).send().await {
        Ok(resp) if resp.status().is_success() => Answer::Healthy,
        Ok(mut resp) => {
            let code = resp.status().as_u16();
            let mut body = Vec::new();
            while body.len() < BODY_LIMIT {
                match resp.chunk().await {
                    Ok(Some(c)) => body.extend_from_slice(&c),
                    _ => break,
                }
            }
            body.truncate(BODY_LIMIT);
            Answer::Status { code, body: String::from_utf8_lossy(&body).trim().to_string() }
        }
        Err(e) if e.is_connect() => Answer::Nothing("connection refused".into()),
        Err(e) if e.is_timeout() => Answer::Nothing("no answer within 5s".into()),
        Err(e) => Answer::Nothing(e.to_string()),
    }
}

/// One GET with `client`: `Ok` on 2xx, else what answered ("HTTP 503", "connection
/// refused"), for a wait's status line.
pub async fn check(client: &reqwest::Client, url: &str) -> Result<(), String> {
    match answer(client, url).await {
        Answer::Healthy => Ok(()),
        other => Err(other.describe()),
    }
}

/// Who answers the health check: the app itself, or a platform's front end that says
/// 502/503/504 of its own while the app starts (App Service, a load balancer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    Direct,
    Proxy,
}

/// Watches the answers of one health wait and says when the same failure has gone on
/// long enough (15 s, or `AIDEPLOY_HEALTH_STEADY_SECS`) that waiting out the whole
/// timeout would only delay the bad news: the app answers a server error every time, or
/// 404 for the health path (it is up, and has no such route).
#[derive(Debug)]
pub struct Steady {
    front: Front,
    limit: Duration,
    /// The failing kind seen on every probe since the instant given.
    run: Option<(Kind, Instant)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ServerError,
    NotFound,
}

/// Why a health wait stopped before its timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    /// What happened and what to do, in one sentence or two.
    pub why: String,
    /// The last answer's body (not yet redacted: callers redact it).
    pub body: String,
}

impl Steady {
    pub fn new(front: Front) -> Steady {
        let secs = std::env::var(envvars::AIDEPLOY_HEALTH_STEADY_SECS).ok().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(15);
        Steady { front, limit: Duration::from_secs(secs), run: None }
    }

    #[cfg(test)]
    fn with_limit(front: Front, limit: Duration) -> Steady {
        Steady { front, limit, run: None }
    }

    /// Takes the answer to `GET {path}`; `Some` when it is time to stop.
    pub fn feed(&mut self, path: &str, a: &Answer) -> Option<Failing> {
        self.feed_at(path, a, Instant::now())
    }

    fn feed_at(&mut self, path: &str, a: &Answer, now: Instant) -> Option<Failing> {
        let kind = match a {
            Answer::Status { code: 502..=504, .. } if self.front == Front::Proxy => None,
            Answer::Status { code: 500..=599, .. } => Some(Kind::ServerError),
            Answer::Status { code: 404, .. } => Some(Kind::NotFound),
            _ => None,
        };
        let Some(kind) = kind else {
            self.run = None;
            return None;
        };
        let since = match self.run {
            Some((k, since)) if k == kind => since,
            _ => {
                self.run = Some((kind, now));
                now
            }
        };
        let lasted = now.saturating_duration_since(since);
        if lasted < self.limit {
            return None;
        }
        let Answer::Status { code, body } = a else { return None };
        let secs = lasted.as_secs();
        let why = match kind {
            Kind::ServerError => format!(
                "GET {path} answered HTTP {code} on every try for {secs}s: the app is running but failing; fix the error its log or answer shows, then deploy again"
            ),
            Kind::NotFound => format!(
                "GET {path} answered 404 on every try for {secs}s: the app is up but serves no `{path}`; set `[app] health` to a path it answers with 2xx (e.g. \"/\"), or add that route"
            ),
        };
        Some(Failing { why, body: body.clone() })
    }
}

/// Why a version did not become healthy.
#[derive(Debug)]
pub enum Unhealthy {
    /// The process behind it ended; with its exit description.
    Exited(String),
    /// No 2xx within the time; with the last answer seen.
    TimedOut { last: String },
    /// The same failing answer for long enough that waiting on is pointless.
    Failing(Failing),
}

/// Polls `url` (the health path `path` of a version) until 2xx, `timeout` passes, the
/// answers settle on a failure ([`Steady`]), or `gone()` says the server has ended.
pub async fn wait_healthy(
    url: &str,
    path: &str,
    front: Front,
    timeout: Duration,
    r: &dyn Reporter,
    mut gone: impl FnMut() -> Option<String>,
) -> Result<(), Unhealthy> {
    let client = client();
    let started = Instant::now();
    let mut steady = Steady::new(front);
    loop {
        if let Some(why) = gone() {
            return Err(Unhealthy::Exited(why));
        }
        let got = answer(&client, url).await;
        if got == Answer::Healthy {
            return Ok(());
        }
        if let Some(f) = steady.feed(path, &got) {
            return Err(Unhealthy::Failing(f));
        }
        let last = got.describe();
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(Unhealthy::TimedOut { last });
        }
        r.progress(&format!("GET {url}: {last} ({}s of {}s)", waited.as_secs(), timeout.as_secs()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A failing answer's body for a message: redacted by the caller first, then shortened.
pub fn shown_body(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return "(empty)".into();
    }
    if body.len() <= 500 {
        return body.to_string();
    }
    let mut end = 500;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &body[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Answer {
        Answer::Status { code, body: format!("body {code}") }
    }

    #[test]
    fn a_steady_server_error_stops_the_wait() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut s = Steady::with_limit(Front::Direct, Duration::from_secs(15));
        assert_eq!(s.feed_at("/health", &Answer::Nothing("connection refused".into()), at(0)), None);
        assert_eq!(s.feed_at("/health", &status(500), at(1)), None);
        assert_eq!(s.feed_at("/health", &status(503), at(10)), None, "5xx of any kind is one run");
        let f = s.feed_at("/health", &status(500), at(16)).expect("15 s of 5xx");
        assert!(f.why.contains("HTTP 500 on every try for 15s"), "{}", f.why);
        assert_eq!(f.body, "body 500");
        // A good answer in between starts the count again.
        let mut s = Steady::with_limit(Front::Direct, Duration::from_secs(15));
        s.feed_at("/health", &status(500), at(0));
        s.feed_at("/health", &Answer::Nothing("connection refused".into()), at(8));
        assert_eq!(s.feed_at("/health", &status(500), at(16)), None);
        assert!(s.feed_at("/health", &status(500), at(31)).is_some());
    }

    #[test]
    fn a_missing_health_route_names_the_setting() {
        let t0 = Instant::now();
        let mut s = Steady::with_limit(Front::Proxy, Duration::from_secs(15));
        assert_eq!(s.feed_at("/healthz", &status(404), t0), None);
        let f = s.feed_at("/healthz", &status(404), t0 + Duration::from_secs(15)).unwrap();
        assert!(f.why.contains("serves no `/healthz`") && f.why.contains("[app] health"), "{}", f.why);
    }

    #[test]
    fn a_front_end_starting_up_is_waited_for() {
        // Behind a platform's front end, 502/503/504 mean "not there yet".
        let t0 = Instant::now();
        let mut s = Steady::with_limit(Front::Proxy, Duration::from_secs(15));
        for secs in [0, 10, 20, 300] {
            assert_eq!(s.feed_at("/health", &status(503), t0 + Duration::from_secs(secs)), None);
        }
        // A 500 is the app's own.
        s.feed_at("/health", &status(500), t0 + Duration::from_secs(301));
        assert!(s.feed_at("/health", &status(500), t0 + Duration::from_secs(316)).is_some());
    }

    #[test]
    fn bodies_are_shortened_for_messages() {
        assert_eq!(shown_body("  "), "(empty)");
        assert_eq!(shown_body(&"é".repeat(400)).chars().count(), 250 + 3);
    }
}
