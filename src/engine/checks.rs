//! `[[checks]]`: requests sent to the live app right after a deploy switched to it, and
//! whether each answer is what the manifest says (status, JSON values, body, latency,
//! a stream's first bytes and events). One at a time, each with a time limit, so a
//! hung app cannot hang a deploy. What comes back from the app is redacted with the
//! run's secret values before it is shown anywhere.

mod gate;
mod matching;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use serde::Serialize;

pub(super) use gate::after_apply;
pub use matching::{glob, lookup, text_of, SseCounter};

use crate::manifest::checks::{Check, DEFAULT_TIMEOUT_MS};
use crate::secrets::Secrets;

/// How much of a body is kept to match against.
const BODY_KEEP: usize = 1024 * 1024;
/// How much of a failing check's body is shown.
const BODY_SHOWN: usize = 2048;

/// How one check went.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: String,
    /// `POST /query`.
    pub request: String,
    pub passed: bool,
    /// The answer's HTTP status; `None` when there was no answer.
    pub status: Option<u16>,
    /// From sending the request to the end of the answer (or to the time limit).
    pub latency_ms: u64,
    /// Streams: from sending the request to the answer's first body bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_byte_ms: Option<u64>,
    /// Streams: the server-sent events (`data:` events) or, for a chunked answer, the
    /// chunks that arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<u64>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A failing check's answer: its start, with secret values redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// The client checks use: no proxy, no overall timeout (each check has its own).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().connect_timeout(Duration::from_secs(10)).build().expect("http client")
}

/// Runs `checks` against `base_url` (the app's live URL), one after the other.
pub async fn run(client: &reqwest::Client, base_url: &str, checks: &[Check], secrets: &Secrets) -> Vec<CheckResult> {
    let mut out = Vec::with_capacity(checks.len());
    for check in checks {
        out.push(run_one(client, base_url, check, secrets).await);
    }
    out
}

/// What came back, as far as it came.
#[derive(Default)]
struct Seen {
    status: Option<u16>,
    first_byte: Option<Duration>,
    sse: bool,
    chunks: u64,
    events: SseCounter,
    body: Vec<u8>,
    cut: bool,
}

impl Seen {
    fn events(&self) -> u64 {
        if self.sse {
            self.events.events
        } else {
            self.chunks
        }
    }
}

async fn run_one(client: &reqwest::Client, base_url: &str, check: &Check, secrets: &Secrets) -> CheckResult {
    let url = format!("{}{}", base_url.trim_end_matches('/'), check.path.get());
    let limit = check.timeout_ms();
    let started = Instant::now();
    let mut seen = Seen::default();
    let exchanged = tokio::time::timeout(Duration::from_millis(limit), exchange(client, &url, check, started, &mut seen)).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let reason = match exchanged {
        Err(_) => Some(match check.max_latency_ms {
            Some(_) => format!("no complete answer within max_latency_ms ({limit} ms)"),
            None => format!("no complete answer within {} s (the limit of a check without max_latency_ms)", DEFAULT_TIMEOUT_MS / 1000),
        }),
        Ok(Err(e)) => Some(format!("the request failed: {}", describe(&e))),
        Ok(Ok(())) => judge(check, &seen),
    };
    let passed = reason.is_none();
    CheckResult {
        name: check.name.get().clone(),
        request: check.describe(),
        passed,
        status: seen.status,
        latency_ms,
        first_byte_ms: check.stream.then(|| seen.first_byte.map(|d| d.as_millis() as u64)).flatten(),
        events: check.stream.then(|| seen.events()),
        reason: reason.map(|r| secrets.redact(&r)),
        body: (!passed && !seen.body.is_empty()).then(|| shown_body(&seen, secrets)),
    }
}

/// Sends the request and reads the answer into `seen`, piece by piece (so what arrived
/// before a time limit cut it short is still there).
async fn exchange(client: &reqwest::Client, url: &str, check: &Check, started: Instant, seen: &mut Seen) -> reqwest::Result<()> {
    let method = reqwest::Method::from_bytes(check.method.as_str().as_bytes()).expect("a method");
    let mut req = client.request(method, url);
    for (k, v) in &check.headers {
        req = req.header(k.get().as_str(), v.get().as_str());
    }
    if let Some(json) = &check.json {
        req = req.json(json.get());
    } else if let Some(body) = &check.body {
        req = req.body(body.get().clone());
    }
    let mut resp = req.send().await?;
    seen.status = Some(resp.status().as_u16());
    seen.sse = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/event-stream"));
    while let Some(chunk) = resp.chunk().await? {
        if chunk.is_empty() {
            continue;
        }
        seen.first_byte.get_or_insert_with(|| started.elapsed());
        seen.chunks += 1;
        if seen.sse {
            seen.events.feed(&chunk);
        }
        let room = BODY_KEEP - seen.body.len();
        seen.cut |= chunk.len() > room;
        seen.body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok(())
}

/// Why a complete answer fails the check, or `None` when it passes. A wrong status says
/// only that (the body of an error page would fail everything else too).
fn judge(check: &Check, seen: &Seen) -> Option<String> {
    let want = check.status();
    match seen.status {
        Some(s) if s != want => return Some(format!("answered HTTP {s}, expected {want}")),
        None => return Some("no answer".into()),
        _ => {}
    }
    let mut why = Vec::new();
    if check.stream {
        let unit = if seen.sse { "events" } else { "chunks" };
        if let Some(max) = &check.max_first_byte_ms {
            match seen.first_byte {
                Some(t) if t.as_millis() as u64 > *max.get() => {
                    why.push(format!("the first bytes came after {} ms, over max_first_byte_ms ({} ms)", t.as_millis(), max.get()))
                }
                None => why.push("the answer has no body".into()),
                _ => {}
            }
        }
        if let Some(min) = &check.min_events {
            if seen.events() < u64::from(*min.get()) {
                why.push(format!("{} {unit} arrived, fewer than min_events ({})", seen.events(), min.get()));
            }
        }
    }
    let text = String::from_utf8_lossy(&seen.body);
    if let Some(pattern) = &check.expect_body {
        if !glob(pattern.get(), &text) {
            why.push(format!("the body does not match expect_body `{}`", pattern.get()));
        }
    }
    if !check.expect_json.is_empty() {
        match serde_json::from_slice::<serde_json::Value>(&seen.body) {
            Err(_) if seen.cut => why.push(format!("the answer is over {} MiB: too big to read as JSON", BODY_KEEP / (1024 * 1024))),
            Err(e) => why.push(format!("the answer is not JSON ({e})")),
            Ok(doc) => {
                for (path, want) in &check.expect_json {
                    let pattern = want.get().pattern();
                    match lookup(&doc, path.get()) {
                        None => why.push(format!("`{}` is not in the answer", path.get())),
                        Some(v) if !glob(&pattern, &text_of(v)) => {
                            why.push(format!("`{}` is {}, which does not match `{pattern}`", path.get(), shorten(&v.to_string(), 200)))
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// The start of the body, redacted before it is cut (so no piece of a value survives a
/// cut through it).
fn shown_body(seen: &Seen, secrets: &Secrets) -> String {
    let redacted = secrets.redact(&String::from_utf8_lossy(&seen.body));
    let mut out = shorten(&redacted, BODY_SHOWN);
    if seen.cut && out.len() == redacted.len() {
        out.push('…');
    }
    out
}

/// At most `max` bytes of `s`, cut at a character's edge, with `…` when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A request error and its causes ("error sending request: connection refused").
fn describe(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// One line per check for people: `✓ answers a question  POST /query  HTTP 200, 120 ms`.
pub fn render(results: &[CheckResult]) -> String {
    let width = results.iter().map(|r| r.name.chars().count()).max().unwrap_or(0);
    let mut out = Vec::new();
    for r in results {
        let mark = if r.passed { console::style("✓").green().for_stderr() } else { console::style("✗").red().for_stderr() };
        let mut facts = vec![r.status.map_or("no answer".to_string(), |s| format!("HTTP {s}")), format!("{} ms", r.latency_ms)];
        if let Some(t) = r.first_byte_ms {
            facts.push(format!("first bytes {t} ms"));
        }
        if let Some(n) = r.events {
            facts.push(format!("{n} events"));
        }
        let mut line = format!("  {mark} check {:width$}  {}  {}", r.name, r.request, facts.join(", "));
        if let Some(why) = &r.reason {
            line.push_str(&format!("\n      {why}"));
        }
        if let Some(body) = &r.body {
            line.push_str(&format!("\n      answer: {}", body.replace('\n', "\n      ")));
        }
        out.push(line);
    }
    out.join("\n")
}

/// The note a plan shows: which checks a deploy would run after the switch.
pub fn plan_note(checks: &[Check]) -> Option<String> {
    if checks.is_empty() {
        return None;
    }
    let list: Vec<String> = checks.iter().map(|c| format!("`{}` ({})", c.name.get(), c.describe())).collect();
    Some(format!("After the switch, the deploy runs {} check(s) against the live URL: {}.", checks.len(), list.join(", ")))
}
