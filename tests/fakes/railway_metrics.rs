//! Railway's HTTP metrics queries, part of the fake in railway.rs, from Railway's
//! published schema: `httpMetricsGroupedByStatus` (per status code, samples `{ts, value}`:
//! requests per step) and `httpDurationMetrics` (samples `{ts, p50, p90, p95, p99}`: the
//! step's latency quantiles in milliseconds), both of one service in one environment,
//! `startDate`..`endDate`, `stepSeconds` per sample (default 60). Tests add requests with
//! [`HttpRequests::add`]; a step's quantile is the nearest rank of its latencies.
//! Refused like Railway's GraphQL errors: a date that is not a DateTime, a start after
//! the end, a step under one second.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::common;

#[derive(Debug, Clone)]
pub struct Request {
    pub service: String,
    pub environment: String,
    /// Milliseconds since the epoch.
    pub at_ms: i64,
    pub status: i64,
    pub latency_ms: f64,
}

#[derive(Debug, Default)]
pub struct HttpRequests {
    pub requests: Vec<Request>,
    /// How many metrics fields were resolved.
    pub calls: usize,
}

impl HttpRequests {
    /// Requests of `service` in `environment` at `at_ms`, answered with `status`, one per latency.
    pub fn add(&mut self, service: &str, environment: &str, at_ms: i64, status: i64, latencies_ms: &[f64]) {
        for l in latencies_ms {
            self.requests.push(Request { service: service.into(), environment: environment.into(), at_ms, status, latency_ms: *l });
        }
    }

    /// The requests in range by step start (ms), and the step in ms.
    fn steps(&mut self, a: &Map<String, Value>) -> Result<BTreeMap<i64, Vec<&Request>>, String> {
        let date = |k: &str| {
            let t = a.get(k).and_then(Value::as_str).unwrap_or_default();
            common::rfc3339_millis(t).ok_or_else(|| format!("Variable \"${k}\" got invalid value \"{t}\"; DateTime cannot represent it"))
        };
        let (start, end) = (date("startDate")?, date("endDate")?);
        if start > end {
            return Err("startDate must be before endDate".into());
        }
        let step = a.get("stepSeconds").and_then(Value::as_i64).unwrap_or(60);
        if step < 1 {
            return Err("stepSeconds must be at least 1".into());
        }
        self.calls += 1;
        let (service, env) = (a.get("serviceId").and_then(Value::as_str), a.get("environmentId").and_then(Value::as_str));
        let mut out: BTreeMap<i64, Vec<&Request>> = BTreeMap::new();
        for r in self.requests.iter().filter(|r| Some(r.service.as_str()) == service && Some(r.environment.as_str()) == env) {
            if r.at_ms >= start && r.at_ms < end {
                out.entry(start + (r.at_ms - start) / (step * 1000) * step * 1000).or_default().push(r);
            }
        }
        Ok(out)
    }
}

/// `httpMetricsGroupedByStatus`.
pub fn by_status(h: &mut HttpRequests, a: &Map<String, Value>) -> Result<Value, String> {
    let steps = h.steps(a)?;
    let mut codes: BTreeMap<i64, BTreeMap<i64, u64>> = BTreeMap::new();
    for (t, rs) in steps {
        for r in rs {
            *codes.entry(r.status).or_default().entry(t / 1000).or_default() += 1;
        }
    }
    Ok(Value::Array(
        codes
            .into_iter()
            .map(|(code, s)| json!({"statusCode": code, "samples": s.iter().map(|(ts, n)| json!({"ts": ts, "value": *n as f64})).collect::<Vec<_>>()}))
            .collect(),
    ))
}

/// `httpDurationMetrics`.
pub fn durations(h: &mut HttpRequests, a: &Map<String, Value>) -> Result<Value, String> {
    let steps = h.steps(a)?;
    let samples: Vec<Value> = steps
        .into_iter()
        .map(|(t, rs)| {
            let mut v: Vec<f64> = rs.iter().map(|r| r.latency_ms).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            let q = |x: f64| v[((x * v.len() as f64 - 1e-9).ceil() as usize).clamp(1, v.len()) - 1];
            json!({"ts": t / 1000, "p50": q(0.5), "p90": q(0.9), "p95": q(0.95), "p99": q(0.99)})
        })
        .collect();
    Ok(json!({"samples": samples}))
}
