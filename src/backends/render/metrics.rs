//! `status --metrics` for render: Render's REST metrics API, two reads over the window
//! as one bucket (`resolutionSeconds`): `GET /metrics/http-requests` aggregated by
//! status code (every code is a request, `5xx` the server errors) and `GET
//! /metrics/http-latency` for the 0.5 and 0.95 quantiles.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde::Deserialize;

use super::api::{q, Api};
use crate::engine::Metrics;

/// One time series of Render's metrics API.
#[derive(Deserialize)]
struct Series {
    #[serde(default)]
    labels: Vec<Label>,
    #[serde(default)]
    values: Vec<Point>,
    #[serde(default)]
    unit: String,
}

#[derive(Deserialize)]
struct Label {
    field: String,
    value: String,
}

#[derive(Deserialize)]
struct Point {
    value: f64,
}

impl Series {
    fn label(&self, field: &str) -> Option<&str> {
        self.labels.iter().find(|l| l.field == field).map(|l| l.value.as_str())
    }
}

pub async fn read(api: &Api, service: &str, window: Duration) -> Result<Metrics> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let end = now - now % 60;
    let secs = window.as_secs().max(60) / 60 * 60;
    let start = end - secs;
    let range = format!(
        "resource={}&startTime={}&endTime={}&resolutionSeconds={secs}",
        q(service),
        q(&crate::util::iso8601(start)),
        q(&crate::util::iso8601(end))
    );
    let requests: Vec<Series> = api.get_as(&format!("/metrics/http-requests?{range}&aggregateBy=statusCode")).await?.unwrap_or_default();
    let latency: Vec<Series> = api.get_as(&format!("/metrics/http-latency?{range}&quantile=0.5&quantile=0.95")).await?.unwrap_or_default();
    let mut total = 0.0;
    let mut errors = 0.0;
    for s in &requests {
        let n: f64 = s.values.iter().map(|p| p.value).sum();
        total += n;
        if s.label("statusCode").is_some_and(|c| c.starts_with('5')) {
            errors += n;
        }
    }
    // The window is one bucket: each quantile's series has one value (its latest, should
    // Render cut the window in two).
    let quantile = |want: f64| {
        latency.iter().find(|s| s.label("quantile").and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| (v - want).abs() < 1e-9)).and_then(
            |s| {
                let scale = if s.unit == "s" || s.unit == "seconds" { 1000.0 } else { 1.0 };
                s.values.last().map(|p| p.value * scale)
            },
        )
    };
    let source = "Render API /metrics/http-requests (by statusCode), /metrics/http-latency (quantiles 0.5, 0.95)";
    let mut m = Metrics::read(window, source, Some(total.round() as u64), Some(errors.round() as u64));
    m.p50_ms = quantile(0.5);
    m.p95_ms = quantile(0.95);
    Ok(m)
}
