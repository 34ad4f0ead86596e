//! `status --metrics` for cloudrun: Cloud Monitoring's `projects.timeSeries.list` over the
//! service's revisions (resource type `cloud_run_revision`), two read calls:
//!
//! - `run.googleapis.com/request_count` (DELTA, INT64), summed over the window per
//!   `response_code_class`: every class is a request, `5xx` the server errors;
//! - `run.googleapis.com/request_latencies` (DELTA, DISTRIBUTION, ms), summed into one
//!   distribution over the window, whose p50 and p95 are read from its buckets
//!   (interpolated within the bucket the rank falls in).

use std::time::{Duration, SystemTime};

use anyhow::Result;
use google_cloud_api::model::distribution::bucket_options::Options;
use google_cloud_api::model::Distribution;
use google_cloud_monitoring_v3::model::aggregation::{Aligner, Reducer};
use google_cloud_monitoring_v3::model::{Aggregation, TimeInterval, TimeSeries};

use super::Site;
use crate::engine::Metrics;
use crate::error::Hinted;

const REQUEST_COUNT: &str = "run.googleapis.com/request_count";
const REQUEST_LATENCIES: &str = "run.googleapis.com/request_latencies";
const CLASS: &str = "metric.labels.response_code_class";

pub async fn read(site: &Site, service: &str, window: Duration) -> Result<Metrics> {
    let client = crate::cloud::gcp::monitoring().await?;
    let secs = window.as_secs().max(60) / 60 * 60;
    let now = SystemTime::now();
    let interval = TimeInterval::new()
        .set_start_time(google_cloud_wkt::Timestamp::try_from(now - Duration::from_secs(secs)).unwrap_or_default())
        .set_end_time(google_cloud_wkt::Timestamp::try_from(now).unwrap_or_default());
    let period = google_cloud_wkt::Duration::clamp(secs as i64, 0);
    let filter = |metric: &str| {
        format!(
            "metric.type = \"{metric}\" AND resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"{service}\" AND resource.labels.location = \"{}\"",
            site.region
        )
    };
    let list = |metric: &'static str, aggregation: Aggregation| {
        let client = client.clone();
        let interval = interval.clone();
        let filter = filter(metric);
        async move {
            let mut out: Vec<TimeSeries> = Vec::new();
            let mut token = String::new();
            loop {
                let page = client
                    .list_time_series()
                    .set_name(format!("projects/{}", site.project))
                    .set_filter(filter.clone())
                    .set_interval(interval.clone())
                    .set_aggregation(aggregation.clone())
                    .set_page_token(token)
                    .send()
                    .await
                    .map_err(|e| failed(metric, e))?;
                out.extend(page.time_series);
                token = page.next_page_token;
                if token.is_empty() {
                    return Ok::<_, anyhow::Error>(out);
                }
            }
        }
    };
    let counts = list(
        REQUEST_COUNT,
        Aggregation::new()
            .set_alignment_period(period)
            .set_per_series_aligner(Aligner::AlignDelta)
            .set_cross_series_reducer(Reducer::ReduceSum)
            .set_group_by_fields([CLASS]),
    )
    .await?;
    let latencies = list(
        REQUEST_LATENCIES,
        Aggregation::new()
            .set_alignment_period(period)
            .set_per_series_aligner(Aligner::AlignDelta)
            .set_cross_series_reducer(Reducer::ReduceSum),
    )
    .await?;

    let mut requests = 0u64;
    let mut errors = 0u64;
    for s in &counts {
        let class = s.metric.as_ref().and_then(|m| m.labels.get("response_code_class")).map(String::as_str).unwrap_or("");
        let n: i64 = s.points.iter().filter_map(|p| p.value.as_ref()?.int64_value().copied()).sum();
        let n = n.max(0) as u64;
        requests += n;
        if class == "5xx" {
            errors += n;
        }
    }
    let dists: Vec<&Distribution> =
        latencies.iter().flat_map(|s| &s.points).filter_map(|p| p.value.as_ref()?.distribution_value().map(|d| d.as_ref())).collect();
    let merged = merge(&dists);
    let source = format!("Cloud Monitoring {REQUEST_COUNT} (by response_code_class), {REQUEST_LATENCIES}");
    let mut m = Metrics::read(window, source, Some(requests), Some(errors));
    if let Some((bounds, counts)) = &merged {
        m.p50_ms = percentile(bounds, counts, 0.5);
        m.p95_ms = percentile(bounds, counts, 0.95);
    }
    Ok(m.with_note("latency percentiles from the summed request_latencies histogram, interpolated within a bucket"))
}

fn failed(metric: &str, e: google_cloud_gax::error::Error) -> anyhow::Error {
    use google_cloud_gax::error::rpc::Code;
    if e.status().is_some_and(|s| s.code == Code::PermissionDenied) {
        let msg = e.status().map(|s| s.message.clone()).unwrap_or_default();
        return Hinted::new(
            format!("Cloud Monitoring timeSeries.list ({metric}): {msg} (PERMISSION_DENIED)"),
            "grant the account behind Application Default Credentials the Monitoring Viewer role (roles/monitoring.viewer), or monitoring.timeSeries.list, in this project",
        )
        .into();
    }
    crate::cloud::gcp::api_error(&format!("Cloud Monitoring timeSeries.list ({metric})"), e)
}

/// The finite bucket bounds of a distribution: bucket 0 is below `bounds[0]`, bucket i
/// is `[bounds[i-1], bounds[i])`, the last is at or above the last bound.
fn bounds(d: &Distribution) -> Option<Vec<f64>> {
    let opts = d.bucket_options.as_ref()?.options.as_ref()?;
    Some(match opts {
        Options::LinearBuckets(l) => (0..=l.num_finite_buckets).map(|i| l.offset + l.width * f64::from(i)).collect(),
        Options::ExponentialBuckets(e) => (0..=e.num_finite_buckets).map(|i| e.scale * e.growth_factor.powi(i)).collect(),
        Options::ExplicitBuckets(x) => x.bounds.clone(),
        _ => return None,
    })
}

/// The distributions summed bucket by bucket (they share their buckets: one metric,
/// one aggregation), as bounds and counts.
fn merge(dists: &[&Distribution]) -> Option<(Vec<f64>, Vec<u64>)> {
    let first = dists.iter().find(|d| d.count > 0)?;
    let b = bounds(first)?;
    let mut counts = vec![0u64; b.len() + 1];
    for d in dists.iter().filter(|d| d.count > 0) {
        if bounds(d).as_ref() != Some(&b) {
            continue;
        }
        for (c, n) in counts.iter_mut().zip(&d.bucket_counts) {
            *c += (*n).max(0) as u64;
        }
    }
    Some((b, counts))
}

/// The `q`-quantile of a histogram: the bucket holding the rank, and the point in it at
/// the rank's share of the bucket's count (the underflow bucket reads as its upper
/// bound, the overflow bucket as its lower one).
fn percentile(bounds: &[f64], counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, &c) in counts.iter().enumerate() {
        if c == 0 || (below + c) as f64 + 1e-9 < rank {
            below += c;
            continue;
        }
        if i == 0 {
            return bounds.first().copied();
        }
        if i >= bounds.len() {
            return bounds.last().copied();
        }
        let (lo, hi) = (bounds[i - 1], bounds[i]);
        return Some(lo + (hi - lo) * ((rank - below as f64) / c as f64));
    }
    bounds.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_within_the_bucket() {
        // Buckets: <10, [10,20), [20,40), >=40.
        let bounds = [10.0, 20.0, 40.0];
        let counts = [0, 50, 40, 10];
        assert_eq!(percentile(&bounds, &counts, 0.5), Some(20.0));
        // Rank 95: 5 into the overflow bucket's 10 -> its lower bound.
        assert_eq!(percentile(&bounds, &counts, 0.95), Some(40.0));
        // Rank 25: half-way through [10, 20).
        assert_eq!(percentile(&bounds, &counts, 0.25), Some(15.0));
        assert_eq!(percentile(&bounds, &[0, 0, 0, 0], 0.5), None);
    }
}
