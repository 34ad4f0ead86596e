//! The health gate for a new Lambda version: invoke it directly (no public URL needed)
//! with the event API Gateway's HTTP API sends for `GET {health}` (payload format 2.0),
//! until it answers 2xx or the time is up.

use std::time::{Duration, Instant};

use super::Clients;

/// Ok when `version` answered 2xx within `timeout`; otherwise why not.
pub async fn health(c: &Clients, fname: &str, version: u64, path: &str, timeout: Duration) -> Result<(), String> {
    let payload = crate::artifact::zip::http_event("GET", path, None).to_string();
    let deadline = Instant::now() + timeout;
    let mut last;
    loop {
        let out = c
            .lambda
            .invoke()
            .function_name(fname)
            .qualifier(version.to_string())
            .payload(aws_sdk_lambda::primitives::Blob::new(payload.clone().into_bytes()))
            .send()
            .await;
        last = match out {
            Ok(o) => {
                let body = o.payload().map(|b| String::from_utf8_lossy(b.as_ref()).into_owned()).unwrap_or_default();
                if let Some(err) = o.function_error() {
                    format!("the function raised an error ({err}): {}", truncate(&body))
                } else {
                    let status =
                        serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|v| v.get("statusCode").and_then(|s| s.as_u64()));
                    match status {
                        Some(s) if (200..300).contains(&s) => return Ok(()),
                        Some(s) => format!("GET {path} answered {s}"),
                        None => format!("the function's answer is not an HTTP response: {}", truncate(&body)),
                    }
                }
            }
            Err(e) => format!("invoke failed: {}", super::aws::describe(&e)),
        };
        if Instant::now() + Duration::from_secs(2) > deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
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
