//! `status --metrics` for appservice: Azure Monitor's metrics of the production site
//! (`Microsoft.Web/sites`), one ARM read: `GET {site}/providers/Microsoft.Insights/metrics`
//! with `Requests` and `Http5xx` (Total) and `HttpResponseTime` (Average, seconds), over
//! the window as one data point (`interval=FULL`). Azure Monitor keeps no percentiles of
//! the response time, so the latency shown is its average, labelled as such.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde::Deserialize;

use super::arm::Arm;
use crate::engine::Metrics;
use crate::error::Hinted;

/// The Azure Monitor metrics API version.
pub const API_INSIGHTS: &str = "2023-10-01";
const REQUESTS: &str = "Requests";
const ERRORS: &str = "Http5xx";
const RESPONSE_TIME: &str = "HttpResponseTime";

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    value: Vec<MetricJson>,
}

#[derive(Deserialize)]
struct MetricJson {
    name: Name,
    #[serde(default)]
    timeseries: Vec<Series>,
}

#[derive(Deserialize)]
struct Name {
    value: String,
}

#[derive(Deserialize)]
struct Series {
    #[serde(default)]
    data: Vec<Datum>,
}

#[derive(Deserialize)]
struct Datum {
    total: Option<f64>,
    average: Option<f64>,
    count: Option<f64>,
}

pub async fn read(arm: &Arm, site_path: &str, window: Duration) -> Result<Metrics> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let end = now - now % 60;
    let start = end - window.as_secs().max(60) / 60 * 60;
    let timespan = format!("{}/{}", crate::util::iso8601(start), crate::util::iso8601(end));
    let path = format!(
        "{site_path}/providers/Microsoft.Insights/metrics?metricnames={REQUESTS},{ERRORS},{RESPONSE_TIME}&timespan={timespan}&interval=FULL&aggregation=Total,Average,Count"
    );
    let body = arm.get(&path, API_INSIGHTS).await.map_err(|e| {
        let text = format!("{e}");
        if text.contains(" answered 403 ") {
            Hinted::new(
                text,
                "your identity needs the Monitoring Reader role (Microsoft.Insights/metrics/read) on the site, its resource group or the subscription",
            )
            .into()
        } else {
            e
        }
    })?;
    let Some(body) = body else {
        return Ok(Metrics::not_available("the site is gone"));
    };
    let response: Response =
        serde_json::from_value(body).map_err(|e| anyhow::anyhow!("Azure Monitor answered metrics aideploy cannot read: {e}"))?;
    let data = |name: &str| -> Vec<&Datum> {
        response
            .value
            .iter()
            .filter(|m| m.name.value.eq_ignore_ascii_case(name))
            .flat_map(|m| &m.timeseries)
            .flat_map(|s| &s.data)
            .collect()
    };
    let total = |name: &str| data(name).iter().filter_map(|d| d.total).sum::<f64>().round().max(0.0) as u64;
    // The average over the window: each point's average weighted by its sample count.
    let (weighted, samples) = data(RESPONSE_TIME)
        .iter()
        .filter_map(|d| Some((d.average?, d.count.unwrap_or(1.0))))
        .fold((0.0, 0.0), |(w, n), (avg, count)| (w + avg * count, n + count));
    let source = format!("Azure Monitor Microsoft.Web/sites {REQUESTS}, {ERRORS} (Total), {RESPONSE_TIME} (Average)");
    let mut m = Metrics::read(window, source, Some(total(REQUESTS)), Some(total(ERRORS)));
    if samples > 0.0 {
        m.avg_ms = Some(weighted / samples * 1000.0);
    }
    Ok(m.with_note("Azure Monitor keeps HttpResponseTime as an average, no percentiles: latency is the average"))
}
