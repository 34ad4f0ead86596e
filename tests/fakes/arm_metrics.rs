//! Azure Monitor's metrics API on ARM, part of the fake in arm.rs, written from its REST
//! reference (Metrics - List) for the `Microsoft.Web/sites` metrics aideploy reads:
//! `GET {resourceUri}/providers/Microsoft.Insights/metrics?metricnames=&timespan=&interval=&aggregation=`.
//! Tests put per-minute samples in with [`Metrics::add`]; each minute keeps what Azure
//! Monitor keeps for a platform metric: total, count, minimum and maximum (an average is
//! total / count: there are no percentiles to ask for).
//!
//! It rejects what the API rejects: a resource that does not exist (404
//! ResourceNotFound), a metric name the resource type does not have (400 BadRequest
//! naming the valid ones), a `timespan` that is not `start/end` in ISO 8601 or ends before
//! it starts, an `interval` that is not a supported time grain or `FULL`, an aggregation
//! that is not one of Average, Count, Minimum, Maximum, Total, and a caller without
//! `Microsoft.Insights/metrics/read` (`denied`: 403 AuthorizationFailed).

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// The `Microsoft.Web/sites` metrics this fake serves, with their units.
const SITE_METRICS: &[(&str, &str)] = &[("Requests", "Count"), ("Http5xx", "Count"), ("Http4xx", "Count"), ("HttpResponseTime", "Seconds")];
const AGGREGATIONS: &[&str] = &["Average", "Count", "Minimum", "Maximum", "Total"];
const GRAINS: &[(&str, u64)] =
    &[("PT1M", 60), ("PT5M", 300), ("PT15M", 900), ("PT30M", 1800), ("PT1H", 3600), ("PT6H", 21600), ("PT12H", 43200), ("P1D", 86400)];

/// One minute of one metric.
#[derive(Debug, Clone)]
pub struct Minute {
    /// Seconds since the epoch, the minute's start.
    pub at: u64,
    pub total: f64,
    pub count: f64,
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// By lowercase resource id, then metric name.
    pub data: BTreeMap<String, BTreeMap<String, Vec<Minute>>>,
    /// Every metrics read is refused with 403 AuthorizationFailed.
    pub denied: bool,
    /// How many metrics reads were answered.
    pub calls: usize,
}

impl Metrics {
    /// The samples of `metric` recorded in the minute that holds `at` (seconds since the
    /// epoch): for `Requests`, one sample per request counted (a value of 1 each) or the
    /// minute's count as one value; for `HttpResponseTime`, each request's seconds.
    pub fn add(&mut self, resource_id: &str, metric: &str, at: u64, samples: &[f64]) {
        assert!(!samples.is_empty());
        let minute = Minute {
            at: at - at % 60,
            total: samples.iter().sum(),
            count: samples.len() as f64,
            min: samples.iter().copied().fold(f64::INFINITY, f64::min),
            max: samples.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        };
        self.data.entry(resource_id.to_ascii_lowercase()).or_default().entry(metric.to_string()).or_default().push(minute);
    }
}

fn err(status: u16, code: &str, message: impl Into<String>) -> (u16, Value) {
    (status, json!({"error": {"code": code, "message": message.into()}}))
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` as seconds since the epoch (the fake takes UTC only).
pub fn seconds(t: &str) -> Option<u64> {
    t.ends_with('Z').then(|| aideploy::util::parse_rfc3339(t)).flatten()
}

fn iso(secs: u64) -> String {
    aideploy::util::iso8601(secs)
}

/// `GET {resource}/providers/Microsoft.Insights/metrics`: `resource` is the lowercase
/// resource id, `display` as the caller spelled it; `exists` whether ARM has it.
pub fn list(m: &mut Metrics, resource: &str, display: &str, exists: bool, params: &BTreeMap<String, String>) -> (u16, Value) {
    if m.denied {
        return err(
            403,
            "AuthorizationFailed",
            format!("The client does not have authorization to perform action 'Microsoft.Insights/metrics/read' over scope '{display}' or the scope is invalid."),
        );
    }
    if !exists {
        return err(404, "ResourceNotFound", format!("The Resource '{display}' was not found."));
    }
    let names: Vec<&str> = params.get("metricnames").map(|n| n.split(',').map(str::trim).collect()).unwrap_or_else(|| vec!["Requests"]);
    let valid: Vec<&str> = SITE_METRICS.iter().map(|(n, _)| *n).collect();
    if let Some(bad) = names.iter().find(|n| !valid.iter().any(|v| v.eq_ignore_ascii_case(n))) {
        return err(
            400,
            "BadRequest",
            format!(
                "Failed to find metric configuration for provider: Microsoft.Web, resource Type: sites, metric: {bad}, Valid metrics: {}",
                valid.join(",")
            ),
        );
    }
    let Some(timespan) = params.get("timespan") else {
        return err(400, "BadRequest", "timespan is required by this fake (Azure defaults to the last hour)");
    };
    let Some((start, end)) = timespan.split_once('/').and_then(|(a, b)| Some((seconds(a)?, seconds(b)?))) else {
        return err(400, "BadRequest", format!("Invalid timespan '{timespan}': expected an ISO 8601 start/end"));
    };
    if start >= end {
        return err(400, "BadRequest", format!("Invalid timespan '{timespan}': the start must be before the end"));
    }
    let interval = params.get("interval").map(String::as_str).unwrap_or("PT1M");
    let grain = if interval.eq_ignore_ascii_case("FULL") {
        end - start
    } else {
        match GRAINS.iter().find(|(g, _)| g.eq_ignore_ascii_case(interval)) {
            Some((_, s)) => *s,
            None => {
                return err(
                    400,
                    "BadRequest",
                    format!(
                        "Invalid time grain '{interval}'. Supported time grains: {}, FULL",
                        GRAINS.iter().map(|(g, _)| *g).collect::<Vec<_>>().join(", ")
                    ),
                )
            }
        }
    };
    let aggregations: Vec<&str> =
        params.get("aggregation").map(|a| a.split(',').map(str::trim).collect()).unwrap_or_else(|| vec!["Average"]);
    if let Some(bad) = aggregations.iter().find(|a| !AGGREGATIONS.iter().any(|v| v.eq_ignore_ascii_case(a))) {
        return err(400, "BadRequest", format!("Invalid aggregation type '{bad}'. Valid values: {}", AGGREGATIONS.join(", ")));
    }
    m.calls += 1;
    let empty = BTreeMap::new();
    let by_metric = m.data.get(resource).unwrap_or(&empty);
    let value: Vec<Value> = names
        .iter()
        .map(|name| {
            let (canonical, unit) = SITE_METRICS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).copied().unwrap_or((name, "Count"));
            let minutes = by_metric.get(canonical).map(Vec::as_slice).unwrap_or(&[]);
            let mut data = Vec::new();
            let mut t = start;
            while t < end {
                let slot: Vec<&Minute> = minutes.iter().filter(|x| x.at >= t && x.at < (t + grain).min(end)).collect();
                let mut d = json!({"timeStamp": iso(t)});
                if !slot.is_empty() {
                    let total: f64 = slot.iter().map(|x| x.total).sum();
                    let count: f64 = slot.iter().map(|x| x.count).sum();
                    for a in &aggregations {
                        let v = match a.to_ascii_lowercase().as_str() {
                            "total" => total,
                            "count" => count,
                            "average" => total / count,
                            "minimum" => slot.iter().map(|x| x.min).fold(f64::INFINITY, f64::min),
                            _ => slot.iter().map(|x| x.max).fold(f64::NEG_INFINITY, f64::max),
                        };
                        d[a.to_ascii_lowercase()] = json!(v);
                    }
                }
                data.push(d);
                t += grain;
            }
            json!({
                "id": format!("{display}/providers/Microsoft.Insights/metrics/{canonical}"),
                "type": "Microsoft.Insights/metrics",
                "name": {"value": canonical, "localizedValue": canonical},
                "unit": unit,
                "timeseries": [{"metadatavalues": [], "data": data}],
                "errorCode": "Success",
            })
        })
        .collect();
    (
        200,
        json!({"cost": 0, "timespan": timespan, "interval": interval, "value": value, "namespace": "Microsoft.Web/sites", "resourceregion": "westeurope"}),
    )
}
