//! What `status --metrics` shows for one target: requests, error rate and latency over a
//! recent window, read from the platform's own metrics API (read calls only). A target
//! whose platform has no such metrics says so and why; one whose metrics cannot be read
//! (no permission) carries the reason, and the rest of the status still shows.

use std::time::Duration;

use serde::Serialize;

/// How far back `status --metrics` looks.
pub const WINDOW: Duration = Duration::from_secs(3600);

/// Request metrics of the deployed app over `window_s` seconds up to now.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Whether the platform has these metrics for this target at all (`note` says why not).
    pub available: bool,
    pub window_s: u64,
    /// Requests served in the window (`None`: the platform did not say).
    pub requests: Option<u64>,
    /// Of those, answered with a server error (5xx).
    pub errors: Option<u64>,
    /// `errors / requests`, 0.0 to 1.0; `None` without requests.
    pub error_rate: Option<f64>,
    /// Latency percentiles in milliseconds, when the platform gives percentiles.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    /// Average latency in milliseconds, when that is all the platform gives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_ms: Option<f64>,
    /// Where the numbers come from: the metrics API, namespace and metric names.
    pub source: String,
    /// What the numbers mean beyond their names, or why there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Why the metrics could not be read (the rest of the status still shows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Metrics {
    /// The platform has no such metrics for this target; `why` in one phrase.
    pub fn not_available(why: impl Into<String>) -> Metrics {
        Metrics { note: Some(why.into()), ..Metrics::default() }
    }

    /// Metrics that were read: requests and errors give the error rate.
    pub fn read(window: Duration, source: impl Into<String>, requests: Option<u64>, errors: Option<u64>) -> Metrics {
        let error_rate = match (requests, errors) {
            (Some(r), Some(e)) if r > 0 => Some(e as f64 / r as f64),
            _ => None,
        };
        Metrics { available: true, window_s: window.as_secs(), requests, errors, error_rate, source: source.into(), ..Metrics::default() }
    }

    /// The metrics could not be read: the error's first line and its hint.
    pub fn failed(window: Duration, e: &anyhow::Error) -> Metrics {
        let text = format!("{e:#}");
        let mut why = text.lines().next().unwrap_or_default().to_string();
        if let Some(h) = crate::report::hint_of(e) {
            why = format!("{why} ({h})");
        }
        Metrics { available: true, window_s: window.as_secs(), error: Some(why), ..Metrics::default() }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Metrics {
        self.note = Some(note.into());
        self
    }

    /// The cells of a table row: requests, error rate, p50, p95 (an average stands in for
    /// p50 with an `avg` mark when that is all there is).
    pub fn cells(&self) -> [String; 4] {
        if self.error.is_some() {
            return ["unreadable".into(), String::new(), String::new(), String::new()];
        }
        if !self.available {
            return ["n/a".into(), String::new(), String::new(), String::new()];
        }
        let n = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        let ms = |v: Option<f64>| v.map(format_ms).unwrap_or_else(|| "-".into());
        let p50 = match (self.p50_ms, self.avg_ms) {
            (None, Some(avg)) => format!("{} avg", format_ms(avg)),
            (p, _) => ms(p),
        };
        [n(self.requests), self.error_rate.map(format_rate).unwrap_or_else(|| "-".into()), p50, ms(self.p95_ms)]
    }

    /// The lines of the single-target view, `(label, value)`.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let window = format_window(self.window_s);
        if let Some(e) = &self.error {
            return vec![("metrics", format!("cannot be read: {e}"))];
        }
        if !self.available {
            return vec![("metrics", format!("not available: {}", self.note.as_deref().unwrap_or("the platform has none")))];
        }
        let mut rows = vec![("metrics", format!("last {window}, from {}", self.source))];
        let requests = match (self.requests, self.errors) {
            (Some(r), Some(e)) => format!("{r} ({e} server errors)"),
            (Some(r), None) => r.to_string(),
            (None, _) => "-".into(),
        };
        rows.push(("requests", requests));
        rows.push(("error rate", self.error_rate.map(format_rate).unwrap_or_else(|| "-".into())));
        if self.p50_ms.is_some() || self.p95_ms.is_some() || self.avg_ms.is_none() {
            let ms = |v: Option<f64>| v.map(format_ms).unwrap_or_else(|| "-".into());
            rows.push(("latency", format!("p50 {}, p95 {}", ms(self.p50_ms), ms(self.p95_ms))));
        }
        if let Some(avg) = self.avg_ms {
            rows.push(("latency avg", format_ms(avg)));
        }
        if let Some(n) = &self.note {
            rows.push(("note", n.clone()));
        }
        rows
    }
}

fn format_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

fn format_rate(r: f64) -> String {
    format!("{:.2}%", r * 100.0)
}

fn format_window(s: u64) -> String {
    match s {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The `q`-quantile (0.0-1.0) of `values` by nearest rank: the smallest value that at
/// least `q` of them are at or below. `None` for no values.
pub fn nearest_rank(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rate_is_errors_over_requests_and_absent_without_requests() {
        let m = Metrics::read(WINDOW, "x", Some(200), Some(5));
        assert_eq!(m.error_rate, Some(0.025));
        assert_eq!(Metrics::read(WINDOW, "x", Some(0), Some(0)).error_rate, None);
        assert_eq!(Metrics::read(WINDOW, "x", None, Some(1)).error_rate, None);
    }

    #[test]
    fn cells_say_what_is_missing_and_mark_an_average() {
        let mut m = Metrics::read(WINDOW, "x", Some(10), Some(1));
        m.avg_ms = Some(42.0);
        assert_eq!(m.cells(), ["10".to_string(), "10.00%".into(), "42.0 ms avg".into(), "-".into()]);
        assert_eq!(Metrics::not_available("no load balancer yet").cells()[0], "n/a");
        let rows = Metrics::not_available("no load balancer yet").rows();
        assert_eq!(rows, vec![("metrics", "not available: no load balancer yet".to_string())]);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(nearest_rank(&v, 0.5), Some(50.0));
        assert_eq!(nearest_rank(&v, 0.95), Some(95.0));
        assert_eq!(nearest_rank(&[7.0], 0.95), Some(7.0));
        assert_eq!(nearest_rank(&[], 0.5), None);
    }
}
