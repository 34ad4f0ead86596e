//! `status --metrics` for railway: one GraphQL read of the service in the stage's
//! environment over the window as one step: `httpMetricsGroupedByStatus` (requests per
//! status code: every code is a request, 5xx the server errors) and `httpDurationMetrics`
//! (the step's p50 and p95, in milliseconds).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde::Deserialize;
use serde_json::json;

use super::api::{field, Api};
use super::ops::Q_HTTP_METRICS;
use crate::engine::Metrics;

#[derive(Deserialize)]
struct ByStatus {
    #[serde(rename = "statusCode")]
    status_code: i64,
    samples: Vec<Sample>,
}

#[derive(Deserialize)]
struct Sample {
    value: f64,
}

#[derive(Deserialize)]
struct Durations {
    samples: Vec<DurationSample>,
}

#[derive(Deserialize)]
struct DurationSample {
    p50: f64,
    p95: f64,
}

pub async fn read(api: &Api, service: &str, environment: &str, window: Duration) -> Result<Metrics> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let end = now - now % 60;
    let secs = window.as_secs().max(60) / 60 * 60;
    let vars = json!({
        "serviceId": service,
        "environmentId": environment,
        "startDate": crate::util::iso8601(end - secs),
        "endDate": crate::util::iso8601(end),
        "stepSeconds": secs,
    });
    let data = api.run(Q_HTTP_METRICS, vars).await?;
    let by_status: Vec<ByStatus> = field(data.clone(), "httpMetricsGroupedByStatus")?;
    let durations: Durations = field(data, "httpDurationMetrics")?;
    let mut total = 0.0;
    let mut errors = 0.0;
    for s in &by_status {
        let n: f64 = s.samples.iter().map(|x| x.value).sum();
        total += n;
        if (500..600).contains(&s.status_code) {
            errors += n;
        }
    }
    let source = "Railway GraphQL httpMetricsGroupedByStatus, httpDurationMetrics";
    let mut m = Metrics::read(window, source, Some(total.round() as u64), Some(errors.round() as u64));
    // The window is one step: one sample (its latest, should Railway cut it in two).
    if let Some(last) = durations.samples.last() {
        m.p50_ms = Some(last.p50);
        m.p95_ms = Some(last.p95);
    }
    Ok(m)
}
