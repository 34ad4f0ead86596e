//! The health gate for a new Lambda version: invoke it directly (no public URL needed)
//! with the event API Gateway's HTTP API sends for `GET {health}` (payload format 2.0),
//! until it answers 2xx or the time is up.

use std::time::Duration;

use super::Clients;
use crate::engine::health::{shown_body, Answer, Front, Steady};
use crate::engine::wait::{Poll, Wait, Waited};
use crate::engine::{Cx, Reporter};

/// Ok when `version` answered 2xx within `timeout`; otherwise why not.
pub async fn health(
    cx: &Cx,
    c: &Clients,
    fname: &str,
    version: u64,
    path: &str,
    timeout: Duration,
    r: &dyn Reporter,
) -> anyhow::Result<Result<(), String>> {
    let what = format!("waiting for version {version} to answer {path}");
    // Invoked directly, every answer is the function's own: a steady error stops early.
    let steady = std::sync::Mutex::new(Steady::new(Front::Direct));
    let give_up = |code: u16, body: &str| {
        let answer = Answer::Status { code, body: body.to_string() };
        steady
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .feed(path, &answer)
            .map(|f| Poll::Ready(Err(format!("{}\nIts last answer: {}", f.why, shown_body(&cx.secrets.redact(&f.body))))))
    };
    let waited = Wait::new(&what, Duration::from_secs(2), timeout)
        .run(cx.poll, r, || async {
            Ok(match once(c, fname, &version.to_string(), path).await {
                Ok(()) => Poll::Ready(Ok(())),
                Err(miss) => match miss.answer {
                    Some((code, body)) => give_up(code, &body).unwrap_or(Poll::Pending(miss.why)),
                    None => Poll::Pending(miss.why),
                },
            })
        })
        .await?;
    Ok(match waited {
        Waited::Ready(verdict) => verdict,
        Waited::TimedOut { last, .. } => Err(last),
    })
}

/// Why one invoke did not answer 2xx.
pub struct Miss {
    /// For a status line.
    pub why: String,
    /// The HTTP status the app answered (500 for an unhandled error, as API Gateway would
    /// answer it) and the response body, when the function answered at all.
    pub answer: Option<(u16, String)>,
}

/// One `GET {path}` to `qualifier` (a version or the alias): Ok on 2xx, else why not.
/// `status` reads a private API's health this way, since an unsigned call to its URL is
/// refused.
pub async fn once(c: &Clients, fname: &str, qualifier: &str, path: &str) -> Result<(), Miss> {
    let payload = crate::artifact::zip::http_event("GET", path, None).to_string();
    let out = c
        .lambda
        .invoke()
        .function_name(fname)
        .qualifier(qualifier)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload.into_bytes()))
        .send()
        .await
        .map_err(|e| Miss { why: crate::cloud::aws::sdk_message("Lambda Invoke", &e), answer: None })?;
    let body = out.payload().map(|b| String::from_utf8_lossy(b.as_ref()).into_owned()).unwrap_or_default();
    if let Some(err) = out.function_error() {
        let why = format!("the function raised an error ({err}): {}", truncate(&body));
        return Err(Miss { why, answer: Some((500, body)) });
    }
    let response = serde_json::from_str::<serde_json::Value>(&body).ok();
    let status = response.as_ref().and_then(|v| v.get("statusCode").and_then(|s| s.as_u64()));
    match status {
        Some(s) if (200..300).contains(&s) => Ok(()),
        Some(s) => {
            let inner = response.as_ref().and_then(|v| v.get("body").and_then(|b| b.as_str())).unwrap_or_default().to_string();
            Err(Miss { why: format!("GET {path} answered {s}"), answer: Some((s as u16, inner)) })
        }
        None => Err(Miss { why: format!("the function's answer is not an HTTP response: {}", truncate(&body)), answer: None }),
    }
}

fn truncate(s: &str) -> String {
    if s.len() > 300 {
        let mut end = 300;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s.to_string()
    }
}
