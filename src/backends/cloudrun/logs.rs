//! The service's log from Cloud Logging: what Cloud Run records for every revision of
//! the service (the container's stdout and stderr, its request log) under the resource
//! type `cloud_run_revision`, read with the Logging API's `entries.list` over REST (no
//! client crate of its own: one read-only call), with the target's credentials and
//! `AIDEPLOY_GCP_ENDPOINT`. The last lines of the look-back window come newest first
//! and are turned around; following asks again, oldest first, from the newest time seen.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{json, Value};

use super::Site;
use crate::cloud::{gcp, http};
use crate::engine::{Cx, LineSink, LogLine, LogQuery};
use crate::error::Hinted;

/// How often a followed log is read again (Cloud Logging allows 60 reads a minute per
/// project).
const FOLLOW_EVERY: Duration = Duration::from_secs(2);
/// The most entries one `entries.list` call may ask for.
const MAX_PAGE: usize = 1000;
/// Access tokens live an hour; a long follow takes a new one well before.
const TOKEN_AGE: Duration = Duration::from_secs(30 * 60);
const API: &str = "https://logging.googleapis.com";
const WHAT: &str = "Cloud Logging entries.list";

/// One service's entries, as read by one caller.
struct Reader {
    client: reqwest::Client,
    url: String,
    project: String,
    /// Everything but the time: the service's revisions in its region.
    filter: String,
    /// `None` for an endpoint on this machine, which is sent no credentials.
    token: Option<(String, Instant)>,
}

impl Reader {
    async fn new(site: &Site, service: &str) -> Result<Reader> {
        let endpoint = gcp::endpoint_override()?;
        let token = if gcp::is_loopback(endpoint.as_deref()) { None } else { Some((gcp::access_token().await?, Instant::now())) };
        Ok(Reader {
            client: http::client()?,
            url: format!("{}/v2/entries:list", endpoint.as_deref().unwrap_or(API)),
            project: site.project.clone(),
            filter: format!(
                "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"{service}\" AND resource.labels.location=\"{}\"",
                site.region
            ),
            token,
        })
    }

    /// The bearer token, renewed when it is old.
    async fn bearer(&mut self) -> Result<Option<String>> {
        if self.token.as_ref().is_some_and(|(_, at)| at.elapsed() > TOKEN_AGE) {
            self.token = Some((gcp::access_token().await?, Instant::now()));
        }
        Ok(self.token.as_ref().map(|(t, _)| t.clone()))
    }

    /// One page of the entries written at or after `since` (RFC 3339), in `order`
    /// (`asc` or `desc`), and the token of the next page when there may be more.
    async fn page(&mut self, since: &str, order: &str, size: usize, token: Option<&str>) -> Result<(Vec<Value>, Option<String>)> {
        let mut body = json!({
            "resourceNames": [format!("projects/{}", self.project)],
            "filter": format!("{} AND timestamp>=\"{since}\"", self.filter),
            "orderBy": format!("timestamp {order}"),
            "pageSize": size.clamp(1, MAX_PAGE),
        });
        if let Some(t) = token {
            body["pageToken"] = json!(t);
        }
        let bearer = self.bearer().await?;
        let resp = http::send(http::Retry::default(), true, || {
            let req = self.client.post(&self.url).json(&body);
            match &bearer {
                Some(t) => req.bearer_auth(t),
                None => req,
            }
        })
        .await
        .map_err(|e| Hinted::new(format!("{WHAT}: {e}"), "check the network connection to Google Cloud, then run logs again"))?;
        if !resp.status().is_success() {
            return Err(refused(resp).await);
        }
        let answer: Value =
            resp.json().await.map_err(|e| Hinted::new(format!("{WHAT}: an answer that is not JSON ({e})"), "run logs again"))?;
        let entries = answer["entries"].as_array().cloned().unwrap_or_default();
        let next = answer["nextPageToken"].as_str().filter(|t| !t.is_empty()).map(str::to_string);
        Ok((entries, next))
    }

    /// The newest `n` entries written at or after `since`, newest first.
    async fn newest(&mut self, since: &str, n: usize) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut token = None;
        while out.len() < n {
            let (entries, next) = self.page(since, "desc", n - out.len(), token.as_deref()).await?;
            out.extend(entries);
            token = next;
            if token.is_none() {
                break;
            }
        }
        out.truncate(n);
        Ok(out)
    }

    /// Every entry written at or after `since`, oldest first.
    async fn all_since(&mut self, since: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let (entries, next) = self.page(since, "asc", MAX_PAGE, token.as_deref()).await?;
            out.extend(entries);
            token = next;
            if token.is_none() {
                return Ok(out);
            }
        }
    }
}

/// An error answer as a message with the fix: Google's `{"error": {message, status}}`.
async fn refused(resp: reqwest::Response) -> anyhow::Error {
    let code = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let status = body["error"]["status"].as_str().unwrap_or_default().to_string();
    let message: String = body["error"]["message"].as_str().unwrap_or("no message").chars().take(300).collect();
    let hint = match (code, status.as_str()) {
        (401, _) => gcp::FIX,
        (403, _) | (_, "PERMISSION_DENIED") => "the account behind Application Default Credentials needs the Logs Viewer role (roles/logging.viewer) in the project, and the Cloud Logging API must be enabled (`gcloud services enable logging.googleapis.com`)",
        (429, _) | (_, "RESOURCE_EXHAUSTED") => "Cloud Logging's read quota was reached: wait a minute and run logs again",
        _ => "run logs again with -v for details; it is safe to re-run",
    };
    Hinted::new(format!("{WHAT}: {message} (HTTP {code} {status})"), hint).into()
}

/// The last `query.lines` lines of the service's log written within `query.since`
/// (default [`LogQuery::LOOK_BACK`]), oldest first, then with `query.follow` what comes next,
/// until interrupted. No entries is no output.
pub async fn tail(cx: &Cx, site: &Site, service: &str, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
    let mut reader = Reader::new(site, service).await?;
    let start = query.start();
    // Following starts after the newest entry, so it is read even when no line is asked for.
    let newest = reader.newest(&start, if query.follow { query.lines.max(1) } else { query.lines }).await?;
    for e in newest.iter().take(query.lines).rev() {
        out(&line_of(e));
    }
    if !query.follow {
        return Ok(());
    }
    // From the newest time seen, skipping the entries already printed there.
    let mut from = newest.first().and_then(|e| e["timestamp"].as_str()).map(str::to_string).unwrap_or(start);
    let mut printed: HashSet<String> = newest.iter().filter(|e| e["timestamp"].as_str() == Some(&from)).map(id).collect();
    loop {
        tokio::time::sleep(cx.poll.pause(FOLLOW_EVERY, FOLLOW_EVERY, 0)).await;
        for e in reader.all_since(&from).await? {
            let key = id(&e);
            if printed.contains(&key) {
                continue;
            }
            out(&line_of(&e));
            // Oldest first: a different time is a newer one.
            if let Some(t) = e["timestamp"].as_str().filter(|t| *t != from) {
                from = t.to_string();
                printed.clear();
            }
            printed.insert(key);
        }
    }
}

/// What tells one entry from another: its `insertId`, which Cloud Logging always sets.
fn id(e: &Value) -> String {
    e["insertId"].as_str().map(str::to_string).unwrap_or_else(|| e.to_string())
}

/// An entry as a log line: its time to the second, its text, and its revision.
fn line_of(e: &Value) -> LogLine {
    LogLine {
        timestamp: e["timestamp"].as_str().map(to_second),
        message: message_of(e),
        source: e["resource"]["labels"]["revision_name"].as_str().map(str::to_string),
    }
}

/// `2026-12-05T07:00:00.123456789Z` -> `2026-12-05T07:00:00Z`, as the other targets print.
fn to_second(t: &str) -> String {
    match t.split_once('.') {
        Some((whole, frac)) if frac.ends_with('Z') => format!("{whole}Z"),
        _ => t.to_string(),
    }
}

/// The text of an entry: its text payload; a structured payload's `message`, else the
/// payload as JSON; a request log as one line.
fn message_of(e: &Value) -> String {
    let text = |s: &str| s.trim_end_matches(['\n', '\r']).to_string();
    if let Some(t) = e["textPayload"].as_str() {
        return text(t);
    }
    if let Some(p) = e.get("jsonPayload") {
        return p["message"].as_str().map(text).unwrap_or_else(|| p.to_string());
    }
    if let Some(r) = e.get("httpRequest") {
        return request_line(r);
    }
    e.get("protoPayload").map(Value::to_string).unwrap_or_default()
}

/// `GET https://.../predict 200 12ms`: method, URL, status and latency, those known.
fn request_line(r: &Value) -> String {
    let status = r["status"].as_i64().map(|s| s.to_string()).or_else(|| r["status"].as_str().map(str::to_string));
    let latency = r["latency"].as_str().map(latency);
    [r["requestMethod"].as_str().map(str::to_string), r["requestUrl"].as_str().map(str::to_string), status, latency]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A protobuf duration (`0.012345s`) in milliseconds below a second, else in seconds.
fn latency(d: &str) -> String {
    match d.strip_suffix('s').and_then(|s| s.parse::<f64>().ok()) {
        Some(s) if s < 1.0 => format!("{}ms", (s * 1000.0).round() as u64),
        Some(s) => format!("{s:.2}s"),
        None => d.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_lines_with_their_time_text_and_revision() {
        let text = json!({"timestamp": "2026-12-05T07:00:00.123456789Z", "textPayload": "INFO ready\n",
            "resource": {"type": "cloud_run_revision", "labels": {"revision_name": "rag-dev-00002-abc"}}});
        let line = line_of(&text);
        assert_eq!(line.timestamp.as_deref(), Some("2026-12-05T07:00:00Z"));
        assert_eq!(line.message, "INFO ready");
        assert_eq!(line.source.as_deref(), Some("rag-dev-00002-abc"));
        assert_eq!(message_of(&json!({"jsonPayload": {"message": "answered", "severity": "INFO"}})), "answered");
        assert_eq!(message_of(&json!({"jsonPayload": {"n": 1}})), r#"{"n":1}"#);
        let request =
            json!({"httpRequest": {"requestMethod": "POST", "requestUrl": "https://rag.run.app/ask", "status": 200, "latency": "0.0125s"}});
        assert_eq!(message_of(&request), "POST https://rag.run.app/ask 200 13ms");
        assert_eq!(latency("2.5s"), "2.50s");
        assert_eq!(to_second("2026-12-05T07:00:00Z"), "2026-12-05T07:00:00Z");
    }
}
