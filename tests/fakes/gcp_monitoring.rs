//! Cloud Monitoring API v3's `projects.timeSeries.list` (GET
//! `/v3/projects/{project}/timeSeries`), part of the fake in gcp.rs, written from the API
//! reference (ListTimeSeriesRequest, Aggregation, the filter syntax) for the Cloud Run
//! metrics aideploy reads: `run.googleapis.com/request_count` (DELTA, INT64, labels
//! `response_code`, `response_code_class`) and `run.googleapis.com/request_latencies`
//! (DELTA, DISTRIBUTION, ms) on `cloud_run_revision` resources. Tests put points in with
//! [`Monitoring::add_count`] and [`Monitoring::add_latencies`].
//!
//! It rejects what the API rejects: no `filter`, a filter without `metric.type` or with a
//! term it cannot parse, no `interval.endTime`, a start after the end, a cross-series
//! reducer without a per-series aligner and an alignment period, an alignment period
//! under 60 s, an aligner that does not fit the metric (`ALIGN_DELTA` and `ALIGN_SUM`
//! take DELTA metrics), and a project the caller may not read (`denied`: 403
//! PERMISSION_DENIED, as for a caller without `monitoring.timeSeries.list`). Enum values
//! come as names or numbers, as the REST mapping allows. With an aligner, each series'
//! points within the interval become one point per alignment period ending at the
//! interval's end; `REDUCE_SUM` adds the series of each `groupByFields` group (counts,
//! or distributions bucket by bucket).

use std::collections::BTreeMap;

use serde_json::{json, Value};

pub const REQUEST_COUNT: &str = "run.googleapis.com/request_count";
pub const REQUEST_LATENCIES: &str = "run.googleapis.com/request_latencies";
const RESOURCE: &str = "cloud_run_revision";

#[derive(Debug, Clone)]
pub enum Datum {
    Int(i64),
    /// Explicit bucket bounds and the count in each bucket (one more than the bounds).
    Dist(Vec<f64>, Vec<i64>),
}

#[derive(Debug, Clone)]
pub struct Series {
    pub metric: String,
    pub metric_labels: BTreeMap<String, String>,
    pub resource_labels: BTreeMap<String, String>,
    /// (end time RFC 3339, value)
    pub points: Vec<(String, Datum)>,
}

#[derive(Debug, Default)]
pub struct Monitoring {
    pub series: Vec<Series>,
    /// Every list call is refused with 403 PERMISSION_DENIED.
    pub denied: bool,
    /// How many list calls were answered.
    pub calls: usize,
}

fn resource_labels(project: &str, service: &str, region: &str, revision: &str) -> BTreeMap<String, String> {
    [("project_id", project), ("service_name", service), ("location", region), ("revision_name", revision), ("configuration_name", service)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Monitoring {
    /// `n` requests answered with `code` by a revision of `service`, in the minute ending at `at`.
    #[allow(clippy::too_many_arguments)] // one point: where (4 labels), what, how many, when
    pub fn add_count(&mut self, project: &str, service: &str, region: &str, revision: &str, code: u16, n: i64, at: &str) {
        let labels = [("response_code", code.to_string()), ("response_code_class", format!("{}xx", code / 100))]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        self.series.push(Series {
            metric: REQUEST_COUNT.into(),
            metric_labels: labels,
            resource_labels: resource_labels(project, service, region, revision),
            points: vec![(at.into(), Datum::Int(n))],
        });
    }

    /// A latency histogram (explicit `bounds`, `counts` per bucket) in the minute ending at `at`.
    #[allow(clippy::too_many_arguments)]
    pub fn add_latencies(&mut self, project: &str, service: &str, region: &str, revision: &str, bounds: &[f64], counts: &[i64], at: &str) {
        assert_eq!(counts.len(), bounds.len() + 1, "a histogram has one bucket more than bounds");
        self.series.push(Series {
            metric: REQUEST_LATENCIES.into(),
            metric_labels: BTreeMap::new(),
            resource_labels: resource_labels(project, service, region, revision),
            points: vec![(at.into(), Datum::Dist(bounds.to_vec(), counts.to_vec()))],
        });
    }
}

fn error(code: u16, status: &str, message: impl Into<String>) -> (u16, String) {
    (code, json!({"error": {"code": code, "message": message.into(), "status": status}}).to_string())
}

fn bad(message: impl Into<String>) -> (u16, String) {
    error(400, "INVALID_ARGUMENT", message)
}

/// An RFC 3339 UTC time as seconds since the epoch (fraction kept).
fn seconds(t: &str) -> Option<f64> {
    let t = t.strip_suffix('Z')?;
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let n = |a: usize, b: usize| whole.get(a..b)?.parse::<i64>().ok();
    if whole.len() != 19 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (y, mo, d, h, mi, s) = (n(0, 4)?, n(5, 7)?, n(8, 10)?, n(11, 13)?, n(14, 16)?, n(17, 19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let fraction = if frac.is_empty() { 0.0 } else { format!("0.{frac}").parse::<f64>().ok()? };
    Some((days * 86_400 + h * 3600 + mi * 60 + s) as f64 + fraction)
}

/// `key = "value"` terms joined by AND.
fn terms(filter: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for t in filter.split(" AND ") {
        let (k, v) = t.split_once('=').ok_or_else(|| format!("Could not parse filter term '{}'", t.trim()))?;
        let (k, v) = (k.trim(), v.trim());
        let v =
            v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).ok_or_else(|| format!("Could not parse filter term '{}'", t.trim()))?;
        let known = k == "metric.type" || k == "resource.type" || k.starts_with("resource.labels.") || k.starts_with("metric.labels.");
        if !known {
            return Err(format!("Could not parse filter term '{}': unknown field {k}", t.trim()));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

fn label<'a>(s: &'a Series, key: &str) -> Option<&'a str> {
    if key == "metric.type" {
        return Some(&s.metric);
    }
    if key == "resource.type" {
        return Some(RESOURCE);
    }
    if let Some(k) = key.strip_prefix("resource.labels.") {
        return s.resource_labels.get(k).map(String::as_str);
    }
    key.strip_prefix("metric.labels.").and_then(|k| s.metric_labels.get(k).map(String::as_str))
}

fn aligner(v: Option<&String>) -> Result<&'static str, String> {
    Ok(match v.map(String::as_str).unwrap_or("") {
        "" | "0" | "ALIGN_NONE" => "ALIGN_NONE",
        "1" | "ALIGN_DELTA" => "ALIGN_DELTA",
        "14" | "ALIGN_SUM" => "ALIGN_SUM",
        other => return Err(format!("aggregation.perSeriesAligner {other} is not one this fake implements")),
    })
}

fn reducer(v: Option<&String>) -> Result<&'static str, String> {
    Ok(match v.map(String::as_str).unwrap_or("") {
        "" | "0" | "REDUCE_NONE" => "REDUCE_NONE",
        "4" | "REDUCE_SUM" => "REDUCE_SUM",
        other => return Err(format!("aggregation.crossSeriesReducer {other} is not one this fake implements")),
    })
}

fn add(a: &mut Datum, b: &Datum) -> Result<(), String> {
    match (a, b) {
        (Datum::Int(x), Datum::Int(y)) => *x += y,
        (Datum::Dist(b1, c1), Datum::Dist(b2, c2)) if b1 == b2 => c1.iter_mut().zip(c2).for_each(|(x, y)| *x += y),
        _ => return Err("the series to reduce have different bucket options".into()),
    }
    Ok(())
}

fn value_json(d: &Datum) -> Value {
    match d {
        Datum::Int(n) => json!({"int64Value": n.to_string()}),
        Datum::Dist(bounds, counts) => {
            let count: i64 = counts.iter().sum();
            json!({"distributionValue": {
                "count": count.to_string(),
                "bucketOptions": {"explicitBuckets": {"bounds": bounds}},
                "bucketCounts": counts.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            }})
        }
    }
}

/// `GET /v3/projects/{project}/timeSeries`.
pub fn list(m: &mut Monitoring, known_project: &str, project: &str, q: &BTreeMap<String, String>) -> (u16, String) {
    let given = |k: &str| q.get(k).filter(|v| !v.is_empty());
    if m.denied || project != known_project {
        return error(
            403,
            "PERMISSION_DENIED",
            format!("Permission monitoring.timeSeries.list denied (or the resource may not exist) on projects/{project}."),
        );
    }
    let Some(filter) = given("filter") else { return bad("Field filter had an invalid value of \"\": must not be empty") };
    let terms = match terms(filter) {
        Ok(t) => t,
        Err(e) => return bad(e),
    };
    let Some(metric) = terms.iter().find(|(k, _)| k == "metric.type").map(|(_, v)| v.clone()) else {
        return bad("A filter must specify a metric type (metric.type = \"...\")");
    };
    if metric != REQUEST_COUNT && metric != REQUEST_LATENCIES {
        return error(404, "NOT_FOUND", format!("Cannot find metric(s) that match type = \"{metric}\"."));
    }
    let Some(end) = given("interval.endTime") else { return bad("Field interval.endTime had an invalid value of \"\": must be set") };
    let Some(end) = seconds(end) else { return bad(format!("Field interval.endTime had an invalid value of \"{end}\"")) };
    let start = match given("interval.startTime") {
        None => end,
        Some(s) => match seconds(s) {
            Some(s) => s,
            None => return bad(format!("Field interval.startTime had an invalid value of \"{s}\"")),
        },
    };
    if start > end {
        return bad("The start time must be before the end time");
    }
    let (aligner, reducer) = match (aligner(q.get("aggregation.perSeriesAligner")), reducer(q.get("aggregation.crossSeriesReducer"))) {
        (Ok(a), Ok(r)) => (a, r),
        (Err(e), _) | (_, Err(e)) => return bad(e),
    };
    let period = match given("aggregation.alignmentPeriod") {
        None => None,
        Some(p) => match p.strip_suffix('s').and_then(|s| s.parse::<f64>().ok()) {
            Some(s) if s >= 60.0 => Some(s),
            _ => return bad(format!("Field aggregation.alignmentPeriod had an invalid value of \"{p}\": must be at least 60s")),
        },
    };
    if reducer != "REDUCE_NONE" && (aligner == "ALIGN_NONE" || period.is_none()) {
        return bad("When a crossSeriesReducer is specified, perSeriesAligner must not be ALIGN_NONE and alignmentPeriod must be set");
    }
    if aligner != "ALIGN_NONE" && period.is_none() {
        return bad("Field aggregation.alignmentPeriod must be set when perSeriesAligner is set");
    }
    m.calls += 1;
    let matching: Vec<&Series> = m.series.iter().filter(|s| terms.iter().all(|(k, v)| label(s, k) == Some(v.as_str()))).collect();
    // Points within (start, end]; with an aligner, one point per series for the period
    // ending at `end` (the periods before it are empty for the windows tests use).
    let within = |t: &str| seconds(t).is_some_and(|t| t > start && t <= end);
    let kind = if metric == REQUEST_COUNT { "INT64" } else { "DISTRIBUTION" };
    let unit = if metric == REQUEST_COUNT { "1" } else { "ms" };
    let mut out: Vec<Value> = Vec::new();
    if aligner == "ALIGN_NONE" {
        for s in matching {
            let points: Vec<Value> = s
                .points
                .iter()
                .filter(|(t, _)| within(t))
                .map(|(t, d)| json!({"interval": {"endTime": t}, "value": value_json(d)}))
                .collect();
            if !points.is_empty() {
                out.push(json!({"metric": {"type": s.metric, "labels": s.metric_labels}, "resource": {"type": RESOURCE, "labels": s.resource_labels}, "metricKind": "DELTA", "valueType": kind, "points": points, "unit": unit}));
            }
        }
    } else {
        let period = period.unwrap_or(60.0);
        let group_by: Vec<&str> = q.get("aggregation.groupByFields").map(|g| g.split(',').collect()).unwrap_or_default();
        let mut groups: BTreeMap<Vec<String>, (Datum, &Series)> = BTreeMap::new();
        for s in matching {
            let key: Vec<String> = if reducer == "REDUCE_NONE" {
                vec![format!("{:?}{:?}", s.resource_labels, s.metric_labels)]
            } else {
                group_by.iter().map(|g| label(s, g).unwrap_or("").to_string()).collect()
            };
            for (_, d) in s.points.iter().filter(|(t, _)| within(t) && seconds(t).is_some_and(|t| t > end - period)) {
                match groups.get_mut(&key) {
                    Some((sum, _)) => {
                        if let Err(e) = add(sum, d) {
                            return bad(e);
                        }
                    }
                    None => {
                        groups.insert(key.clone(), (d.clone(), s));
                    }
                }
            }
        }
        let end_text = q.get("interval.endTime").cloned().unwrap_or_default();
        let start_text = q.get("interval.startTime").cloned().unwrap_or_else(|| end_text.clone());
        for (key, (sum, s)) in groups {
            let (metric_labels, resource_labels): (BTreeMap<String, String>, BTreeMap<String, String>) = if reducer == "REDUCE_NONE" {
                (s.metric_labels.clone(), s.resource_labels.clone())
            } else {
                let pick = |prefix: &str| {
                    group_by
                        .iter()
                        .zip(&key)
                        .filter_map(|(g, v)| g.strip_prefix(prefix).map(|k| (k.to_string(), v.clone())))
                        .collect::<BTreeMap<_, _>>()
                };
                (pick("metric.labels."), pick("resource.labels."))
            };
            out.push(json!({
                "metric": {"type": s.metric, "labels": metric_labels},
                "resource": {"type": RESOURCE, "labels": resource_labels},
                "metricKind": "DELTA",
                "valueType": kind,
                "points": [{"interval": {"startTime": start_text, "endTime": end_text}, "value": value_json(&sum)}],
                "unit": unit,
            }));
        }
    }
    (200, json!({"timeSeries": out, "unit": unit}).to_string())
}
