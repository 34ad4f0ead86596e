//! The health gate for a new Lambda version: invoke it directly (no public URL needed)
//! with the event API Gateway's HTTP API sends for `GET {health}` (payload format 2.0),
//! until it answers 2xx or the time is up.

use std::time::Duration;

use super::Clients;
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
    let waited = Wait::new(&what, Duration::from_secs(2), timeout)
        .run(cx.poll, r, || async {
            Ok(match once(c, fname, &version.to_string(), path).await {
                Ok(()) => Poll::Ready(()),
                Err(why) => Poll::Pending(why),
            })
        })
        .await?;
    Ok(match waited {
        Waited::Ready(()) => Ok(()),
        Waited::TimedOut { last, .. } => Err(last),
    })
}

/// One `GET {path}` to `qualifier` (a version or the alias): Ok on 2xx, else why not.
/// `status` reads a private API's health this way, since an unsigned call to its URL is
/// refused.
pub async fn once(c: &Clients, fname: &str, qualifier: &str, path: &str) -> Result<(), String> {
    let payload = crate::artifact::zip::http_event("GET", path, None).to_string();
    let out = c
        .lambda
        .invoke()
        .function_name(fname)
        .qualifier(qualifier)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload.into_bytes()))
        .send()
        .await
        .map_err(|e| crate::cloud::aws::sdk_message("Lambda Invoke", &e))?;
    let body = out.payload().map(|b| String::from_utf8_lossy(b.as_ref()).into_owned()).unwrap_or_default();
    if let Some(err) = out.function_error() {
        return Err(format!("the function raised an error ({err}): {}", truncate(&body)));
    }
    let status = serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|v| v.get("statusCode").and_then(|s| s.as_u64()));
    match status {
        Some(s) if (200..300).contains(&s) => Ok(()),
        Some(s) => Err(format!("GET {path} answered {s}")),
        None => Err(format!("the function's answer is not an HTTP response: {}", truncate(&body))),
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
