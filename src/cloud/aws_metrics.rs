//! Request metrics from CloudWatch, for the AWS targets whose platform records them (an
//! HTTP API's `AWS/ApiGateway` metrics, a Lambda function's `AWS/Lambda`, a SageMaker
//! endpoint variant's `AWS/SageMaker`): one GetMetricData call over the window as a
//! single period, with Sum for the counts and the p50/p95 statistics for the latency.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

use crate::engine::{Cx, Metrics};

/// Which metrics of one resource stand for requests, server errors and latency.
pub struct Query<'a> {
    pub namespace: &'a str,
    pub dimensions: &'a [(&'a str, &'a str)],
    pub requests: &'a str,
    pub errors: &'a str,
    pub latency: &'a str,
    /// Milliseconds per unit of the latency metric (SageMaker's ModelLatency is in
    /// microseconds: 0.001).
    pub latency_ms_per_unit: f64,
}

/// A CloudWatch client for the target's region (`region` setting, else the AWS chain's).
pub async fn client_for(cx: &Cx) -> Result<aws_sdk_cloudwatch::Client> {
    let region = cx.target.settings.region.as_ref().map(|r| r.get().as_str().to_string());
    let config = super::aws::load(region.as_deref(), super::aws::chosen_profile()).await?;
    Ok(crate::aws_client!(aws_sdk_cloudwatch, &config))
}

fn stat(id: &str, q: &Query, name: &str, statistic: &str, period: i32) -> MetricDataQuery {
    let dimensions = q.dimensions.iter().map(|(k, v)| Dimension::builder().name(*k).value(*v).build()).collect();
    let metric = Metric::builder().namespace(q.namespace).metric_name(name).set_dimensions(Some(dimensions)).build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(MetricStat::builder().metric(metric).period(period).stat(statistic).build())
        .return_data(true)
        .build()
}

/// The metrics of `q` over the last `window` (whole minutes, up to the last full one).
pub async fn read(client: &aws_sdk_cloudwatch::Client, q: &Query<'_>, window: Duration) -> Result<Metrics> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let end = now - now % 60;
    let secs = window.as_secs().max(60) / 60 * 60;
    let start = end - secs;
    let period = secs as i32;
    let queries = vec![
        stat("requests", q, q.requests, "Sum", period),
        stat("errors", q, q.errors, "Sum", period),
        stat("p50", q, q.latency, "p50", period),
        stat("p95", q, q.latency, "p95", period),
    ];
    let mut values: std::collections::HashMap<String, Vec<f64>> = Default::default();
    let mut token = None;
    loop {
        let page = client
            .get_metric_data()
            .set_metric_data_queries(Some(queries.clone()))
            .start_time(DateTime::from_secs(start as i64))
            .end_time(DateTime::from_secs(end as i64))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                super::aws::sdk_error(
                    "CloudWatch GetMetricData",
                    &e,
                    &format!("check that the credentials may read CloudWatch metrics ({}: cloudwatch:GetMetricData)", q.namespace),
                )
            })?;
        for r in page.metric_data_results() {
            values.entry(r.id().unwrap_or_default().to_string()).or_default().extend(r.values());
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let sum = |id: &str| values.get(id).filter(|v| !v.is_empty()).map(|v| v.iter().sum::<f64>().round() as u64);
    // One period covers the window, so a percentile is one value (none without requests).
    let one = |id: &str| values.get(id).and_then(|v| v.first()).map(|v| v * q.latency_ms_per_unit);
    // No datapoint for a count is no request in the window: CloudWatch records none.
    let requests = Some(sum("requests").unwrap_or(0));
    let errors = Some(sum("errors").unwrap_or(0));
    let dims: Vec<String> = q.dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let source = format!("CloudWatch {} {}, {}, {} ({})", q.namespace, q.requests, q.errors, q.latency, dims.join(", "));
    let mut m = Metrics::read(window, source, requests, errors);
    m.p50_ms = one("p50");
    m.p95_ms = one("p95");
    Ok(m)
}
