//! The app's log on Railway: the deployment logs of the service's live deployment,
//! read with `deploymentLogs` over a time window. Railway answers the newest `limit`
//! lines before `endDate`; following polls from the newest line seen, and moves to the
//! new live deployment when a deploy or rollback replaces the one it reads.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;
use serde_json::json;

use super::api::{field, Api};
use super::observe::{read_deployments, Observed};
use super::ops::Q_LOG_WINDOW;
use crate::backends::paas::logs::to_the_second;
use crate::engine::{Cx, LineSink, LogLine, LogQuery};
use crate::error::UsageError;
use crate::util::now_secs;

/// How often a followed log is read again: Railway limits requests per hour, so not
/// faster than this.
const FOLLOW_EVERY: Duration = Duration::from_secs(5);
/// Every this many polls, following checks which deployment is live.
const CHECK_LIVE_EVERY: u32 = 6;
/// The most lines one poll asks for while following.
const FOLLOW_LIMIT: usize = 500;

/// One line as Railway answers it.
#[derive(Debug, Clone, Deserialize)]
struct Log {
    message: String,
    timestamp: String,
}

/// Where the service lives, to find its live deployment again while following.
struct Place<'a> {
    project: &'a str,
    environment: &'a str,
    service: &'a str,
}

/// A Railway log line as a line of the app's log; its source is the deployment's id,
/// shortened as Railway's dashboard shows it.
fn line_of(log: &Log, deployment: &str) -> LogLine {
    LogLine {
        timestamp: Some(to_the_second(&log.timestamp)),
        message: log.message.trim_end_matches(['\n', '\r']).to_string(),
        source: Some(deployment.chars().take(8).collect()),
    }
}

/// The newest `limit` lines of `deployment` from `start` on, oldest first.
async fn window(api: &Api, deployment: &str, start: &str, limit: usize) -> Result<Vec<Log>> {
    let limit = i32::try_from(limit).unwrap_or(i32::MAX);
    let vars = json!({"deploymentId": deployment, "limit": limit, "startDate": start, "endDate": crate::util::iso8601(now_secs() + 1)});
    let mut logs: Vec<Log> = field(api.run(Q_LOG_WINDOW, vars).await?, "deploymentLogs")?;
    // Stable: lines of one instant keep Railway's order.
    logs.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    Ok(logs)
}

/// The live deployment's id now, when there is one.
async fn live_now(api: &Api, place: &Place<'_>) -> Result<Option<String>> {
    let list = read_deployments(api, place.project, place.environment, place.service, None).await?;
    Ok(list.into_iter().find(|d| super::SERVING.contains(&d.status.as_str())).map(|d| d.id))
}

/// The last `query.lines` lines of the live deployment's log written within
/// `query.since` (default an hour); with `query.follow`, then what comes next,
/// until interrupted.
pub async fn tail(cx: &Cx, api: &Api, seen: &Observed, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
    let nothing = || {
        UsageError::new(format!("{} ({}) has no live Railway deployment to read the log of", cx.app_name(), cx.stage))
            .hint(format!("deploy it first: aideploy deploy --target {}", cx.target.name))
    };
    let (Some(project), Some(environment), Some(service)) = (&seen.project, &seen.environment, &seen.service) else {
        return Err(nothing().into());
    };
    let Some(live) = service.live() else { return Err(nothing().into()) };
    let start = query.start();
    let first = if query.lines == 0 { Vec::new() } else { window(api, &live.id, &start, query.lines).await? };
    let skip = first.len().saturating_sub(query.lines);
    for log in &first[skip..] {
        out(&line_of(log, &live.id));
    }
    if !query.follow {
        return Ok(());
    }
    let place = Place { project: &project.id, environment: &environment.id, service: &service.id };
    // With `-n 0`, only what is written from now on.
    let from = if query.lines == 0 { crate::util::iso8601(now_secs()) } else { start };
    follow(cx, api, &place, live.id.clone(), first, from, out).await
}

/// Polls for lines newer than the newest seen, skipping those already printed at that
/// instant; switches to the new live deployment when one replaces it.
async fn follow(
    cx: &Cx,
    api: &Api,
    place: &Place<'_>,
    mut deployment: String,
    seen: Vec<Log>,
    start: String,
    out: LineSink<'_>,
) -> Result<()> {
    let mut from = seen.last().map(|l| l.timestamp.clone()).unwrap_or(start);
    let mut printed: HashSet<String> = seen.iter().filter(|l| l.timestamp == from).map(|l| l.message.clone()).collect();
    let mut polls: u32 = 0;
    loop {
        tokio::time::sleep(cx.poll.pause(FOLLOW_EVERY, FOLLOW_EVERY, 0)).await;
        polls = polls.wrapping_add(1);
        if polls % CHECK_LIVE_EVERY == 0 {
            if let Some(now) = live_now(api, place).await?.filter(|id| *id != deployment) {
                // The new deployment's lines from where the old one's ended.
                deployment = now;
                printed.clear();
            }
        }
        for log in window(api, &deployment, &from, FOLLOW_LIMIT).await? {
            if log.timestamp == from && printed.contains(&log.message) {
                continue;
            }
            out(&line_of(&log, &deployment));
            if log.timestamp != from {
                from = log.timestamp.clone();
                printed.clear();
            }
            printed.insert(log.message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_railway_log_is_a_line_to_the_second_from_its_deployment() {
        let log = Log { message: "INFO answered /health\n".into(), timestamp: "2026-12-05T07:00:00.123456789Z".into() };
        let line = line_of(&log, "7f3c2a10-0000-4000-8000-000000000001");
        assert_eq!(line.timestamp.as_deref(), Some("2026-12-05T07:00:00Z"));
        assert_eq!(line.message, "INFO answered /health");
        assert_eq!(line.source.as_deref(), Some("7f3c2a10"));
    }
}
