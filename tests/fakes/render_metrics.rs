//! Render's metrics API, part of the fake in render.rs, written from Render's OpenAPI
//! document: `GET /metrics/http-requests` (`aggregateBy` `statusCode` or `host`) and `GET
//! /metrics/http-latency` (`quantile`, repeatable), both with `resource` (repeatable,
//! ORed), `startTime`/`endTime` (date-time; default the last hour) and
//! `resolutionSeconds` (at least 30, default 60). The answer is a list of time series
//! `{labels: [{field, value}], values: [{timestamp, value}], unit}`, one value per
//! resolution bucket that has data. Tests add requests with [`HttpMetrics::add`]; a
//! bucket's quantile is the nearest rank of its requests' latencies.
//!
//! It rejects what the API rejects (400): no `resource`, a time that is not a
//! date-time, a start after the end, a resolution under 30 s, an `aggregateBy` or
//! `quantile` outside its schema.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::common;

/// One request a service answered.
#[derive(Debug, Clone)]
pub struct Request {
    pub service: String,
    /// Milliseconds since the epoch.
    pub at_ms: i64,
    pub status: u16,
    pub latency_ms: f64,
}

#[derive(Debug, Default)]
pub struct HttpMetrics {
    pub requests: Vec<Request>,
    /// How many metrics reads were answered.
    pub calls: usize,
}

impl HttpMetrics {
    /// `n` requests of `service` at `at_ms`, answered with `status` in `latency_ms` each.
    pub fn add(&mut self, service: &str, at_ms: i64, status: u16, latencies_ms: &[f64]) {
        for l in latencies_ms {
            self.requests.push(Request { service: service.into(), at_ms, status, latency_ms: *l });
        }
    }
}

fn error(message: impl Into<String>) -> (u16, String) {
    (400, json!({"id": "invalid_request", "message": message.into()}).to_string())
}

struct Query {
    resources: Vec<String>,
    start: i64,
    end: i64,
    resolution_ms: i64,
    pairs: Vec<(String, String)>,
}

fn parse(raw: &str) -> Result<Query, (u16, String)> {
    let pairs: Vec<(String, String)> = raw
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%3A", ":").replace("%2B", "+").replace("%2C", ",")))
        .collect();
    let all = |k: &str| -> Vec<String> {
        pairs.iter().filter(|(n, _)| n == k).flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>()).collect()
    };
    let resources = all("resource");
    if resources.is_empty() {
        return Err(error("at least one resource is required"));
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let time = |k: &str, default: i64| match all(k).first() {
        None => Ok(default),
        Some(t) => common::rfc3339_millis(t).ok_or_else(|| error(format!("{k} must be a date-time, not {t}"))),
    };
    let end = time("endTime", now)?;
    let start = time("startTime", end - 3_600_000)?;
    if start > end {
        return Err(error("startTime must be before endTime"));
    }
    let resolution = match all("resolutionSeconds").first().map(|r| r.parse::<f64>()) {
        None => 60.0,
        Some(Ok(r)) if r >= 30.0 => r,
        Some(_) => return Err(error("resolutionSeconds must be a number of at least 30")),
    };
    Ok(Query { resources, start, end, resolution_ms: (resolution * 1000.0) as i64, pairs })
}

fn all<'a>(q: &'a Query, k: &str) -> Vec<&'a str> {
    q.pairs.iter().filter(|(n, _)| n == k).map(|(_, v)| v.as_str()).collect()
}

/// The requests within the range, by bucket start (ms), for the resources asked.
fn buckets<'a>(m: &'a HttpMetrics, q: &Query) -> BTreeMap<i64, Vec<&'a Request>> {
    let mut out: BTreeMap<i64, Vec<&Request>> = BTreeMap::new();
    for r in m.requests.iter().filter(|r| q.resources.contains(&r.service) && r.at_ms >= q.start && r.at_ms < q.end) {
        let b = q.start + (r.at_ms - q.start) / q.resolution_ms * q.resolution_ms;
        out.entry(b).or_default().push(r);
    }
    out
}

fn iso(ms: i64) -> String {
    aideploy::util::iso8601((ms / 1000) as u64)
}

/// `GET /metrics/http-requests`.
pub fn http_requests(m: &mut HttpMetrics, raw: &str) -> (u16, String) {
    let q = match parse(raw) {
        Ok(q) => q,
        Err(e) => return e,
    };
    let by = all(&q, "aggregateBy");
    if let Some(bad) = by.iter().find(|b| !matches!(**b, "statusCode" | "host")) {
        return error(format!("aggregateBy must be statusCode or host, not {bad}"));
    }
    m.calls += 1;
    let by_status = by.contains(&"statusCode");
    let mut series: BTreeMap<String, BTreeMap<i64, u64>> = BTreeMap::new();
    for (b, rs) in buckets(m, &q) {
        for r in rs {
            let key = if by_status { r.status.to_string() } else { String::new() };
            *series.entry(key).or_default().entry(b).or_default() += 1;
        }
    }
    let out: Vec<Value> = series
        .into_iter()
        .map(|(key, points)| {
            let mut labels = vec![json!({"field": "resource", "value": q.resources.join(",")})];
            if by_status {
                labels.push(json!({"field": "statusCode", "value": key}));
            }
            json!({"labels": labels, "values": points.iter().map(|(t, n)| json!({"timestamp": iso(*t), "value": n})).collect::<Vec<_>>(), "unit": "count"})
        })
        .collect();
    (200, Value::Array(out).to_string())
}

/// `GET /metrics/http-latency`.
pub fn http_latency(m: &mut HttpMetrics, raw: &str) -> (u16, String) {
    let q = match parse(raw) {
        Ok(q) => q,
        Err(e) => return e,
    };
    let mut quantiles = Vec::new();
    for v in all(&q, "quantile") {
        match v.parse::<f64>() {
            Ok(x) if x > 0.0 && x <= 1.0 => quantiles.push((v.to_string(), x)),
            _ => return error(format!("quantile must be a number in (0, 1], not {v}")),
        }
    }
    if quantiles.is_empty() {
        quantiles.push(("0.95".into(), 0.95));
    }
    m.calls += 1;
    let b = buckets(m, &q);
    let out: Vec<Value> = quantiles
        .iter()
        .map(|(label, x)| {
            let values: Vec<Value> = b
                .iter()
                .map(|(t, rs)| {
                    let mut v: Vec<f64> = rs.iter().map(|r| r.latency_ms).collect();
                    v.sort_by(|a, b| a.total_cmp(b));
                    let rank = ((x * v.len() as f64 - 1e-9).ceil() as usize).clamp(1, v.len());
                    json!({"timestamp": iso(*t), "value": v[rank - 1]})
                })
                .collect();
            json!({"labels": [{"field": "resource", "value": q.resources.join(",")}, {"field": "quantile", "value": label}], "values": values, "unit": "ms"})
        })
        .collect();
    (200, Value::Array(out).to_string())
}
