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
    let payload = crate::artifact::zip::http_event("GET", path, None).to_string();
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
            let out = c
                .lambda
                .invoke()
                .function_name(fname)
                .qualifier(version.to_string())
                .payload(aws_sdk_lambda::primitives::Blob::new(payload.clone().into_bytes()))
                .send()
                .await;
            Ok(match out {
                Ok(o) => {
                    let body = o.payload().map(|b| String::from_utf8_lossy(b.as_ref()).into_owned()).unwrap_or_default();
                    if let Some(err) = o.function_error() {
                        // An unhandled error (an import that fails, say) is a 500 as API
                        // Gateway would answer it.
                        give_up(500, &body)
                            .unwrap_or_else(|| Poll::Pending(format!("the function raised an error ({err}): {}", truncate(&body))))
                    } else {
                        let status = serde_json::from_str::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| v.get("statusCode").and_then(|s| s.as_u64()));
                        match status {
                            Some(s) if (200..300).contains(&s) => Poll::Ready(Ok(())),
                            Some(s) => {
                                let inner = serde_json::from_str::<serde_json::Value>(&body)
                                    .ok()
                                    .and_then(|v| v.get("body").and_then(|b| b.as_str()).map(str::to_string))
                                    .unwrap_or_default();
                                give_up(s as u16, &inner).unwrap_or_else(|| Poll::Pending(format!("GET {path} answered {s}")))
                            }
                            None => Poll::Pending(format!("the function's answer is not an HTTP response: {}", truncate(&body))),
                        }
                    }
                }
                Err(e) => Poll::Pending(crate::cloud::aws::sdk_message("Lambda Invoke", &e)),
            })
        })
        .await?;
    Ok(match waited {
        Waited::Ready(verdict) => verdict,
        Waited::TimedOut { last, .. } => Err(last),
    })
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
