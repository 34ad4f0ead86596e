//! The app's log from CloudWatch Logs, for the AWS targets that write there (a Lambda
//! function's `/aws/lambda/{function}`, a SageMaker endpoint's
//! `/aws/sagemaker/Endpoints/{endpoint}`): the last lines of the look-back window, then,
//! when following, what arrives next, read with FilterLogEvents.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use anyhow::Result;
use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;

use crate::engine::{Cx, LineSink, LogLine, LogQuery};
use crate::error::Hinted;

/// How often a followed log is read again.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// A CloudWatch event as a log line: its time (to the second), text without the trailing
/// newline, and stream.
pub fn line_of(e: &FilteredLogEvent) -> LogLine {
    LogLine {
        timestamp: e.timestamp().map(|ms| crate::util::iso8601((ms.max(0) / 1000) as u64)),
        message: e.message().unwrap_or_default().trim_end_matches(['\n', '\r']).to_string(),
        source: e.log_stream_name().map(str::to_string),
    }
}

/// Every event of `group` from `start_ms` on, oldest first; `None` when the group does
/// not exist (yet).
async fn events_since(client: &aws_sdk_cloudwatchlogs::Client, group: &str, start_ms: i64) -> Result<Option<Vec<FilteredLogEvent>>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = match client.filter_log_events().log_group_name(group).start_time(start_ms).set_next_token(token).send().await {
            Ok(p) => p,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => return Ok(None),
            Err(e) => {
                return Err(super::aws::sdk_error(
                    "CloudWatch Logs FilterLogEvents",
                    &e,
                    &format!("check that the credentials may read the log group {group} (logs:FilterLogEvents)"),
                ))
            }
        };
        out.extend(page.events().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            out.sort_by_key(|e| e.timestamp().unwrap_or(0));
            return Ok(Some(out));
        }
    }
}

/// The last `query.lines` lines of `group` written within `query.since` (default
/// [`LogQuery::LOOK_BACK`]), then with `query.follow` what comes next, until interrupted. `what`
/// names who writes the group, for the message when it does not exist yet.
pub async fn tail(
    cx: &Cx,
    client: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    what: &str,
    query: &LogQuery,
    out: LineSink<'_>,
) -> Result<()> {
    let start = query.start_secs() as i64 * 1000;
    let first = events_since(client, group, start).await?;
    if first.is_none() && !query.follow {
        return Err(Hinted::new(
            format!("no log yet: CloudWatch Logs has no group {group}"),
            format!("{what} creates it when it first writes; call the app, then run logs again (or add -f to wait for it)"),
        )
        .into());
    }
    let events = first.unwrap_or_default();
    let mut last: VecDeque<&FilteredLogEvent> = VecDeque::with_capacity(query.lines.min(10_000));
    for e in &events {
        if last.len() == query.lines {
            last.pop_front();
        }
        if query.lines > 0 {
            last.push_back(e);
        }
    }
    for e in &last {
        out(&line_of(e));
    }
    if !query.follow {
        return Ok(());
    }
    // Following: from the newest time seen, skipping the events already printed there.
    let mut from = events.last().and_then(|e| e.timestamp()).unwrap_or(start);
    let mut printed: HashSet<String> =
        events.iter().filter(|e| e.timestamp() == Some(from)).filter_map(|e| e.event_id().map(str::to_string)).collect();
    loop {
        tokio::time::sleep(cx.poll.pause(FOLLOW_EVERY, FOLLOW_EVERY, 0)).await;
        let Some(events) = events_since(client, group, from).await? else { continue };
        for e in &events {
            let id = e.event_id().unwrap_or_default().to_string();
            if printed.contains(&id) {
                continue;
            }
            out(&line_of(e));
            let ts = e.timestamp().unwrap_or(from);
            if ts > from {
                from = ts;
                printed.clear();
            }
            printed.insert(id);
        }
    }
}

/// Days of events a log group aideploy creates keeps.
pub const RETENTION_DAYS: i32 = 30;

/// A log group found by name: whether it carries this app's, stage's and target's tags,
/// and how many days it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub ours: bool,
    pub retention_days: Option<i32>,
}

fn logs_error<E: aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata + std::error::Error>(what: &str, e: &E) -> anyhow::Error {
    super::aws::sdk_error(what, e, "check that the credentials may manage CloudWatch Logs groups named /aideploy/* in this region")
}

/// The log group `name`, if it exists, with its tags checked.
pub async fn read_group(cx: &Cx, client: &aws_sdk_cloudwatchlogs::Client, name: &str) -> Result<Option<Group>> {
    let out = client
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(|e| logs_error("CloudWatch Logs DescribeLogGroups", &e))?;
    let Some(g) = out.log_groups().iter().find(|g| g.log_group_name() == Some(name)) else { return Ok(None) };
    // `arn` ends in `:*`; tags are on the group's ARN without it.
    let arn = g.log_group_arn().map(str::to_string).unwrap_or_else(|| g.arn().unwrap_or_default().trim_end_matches(":*").to_string());
    let tags = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(|e| logs_error("CloudWatch Logs ListTagsForResource", &e))?;
    let found = tags.tags().cloned().unwrap_or_default();
    Ok(Some(Group { ours: super::aws::is_ours(cx, &found), retention_days: g.retention_in_days() }))
}

/// Creates the group with this target's tags when `found` is `None`, and keeps
/// [`RETENTION_DAYS`] of events.
pub async fn ensure_group(cx: &Cx, client: &aws_sdk_cloudwatchlogs::Client, name: &str, found: Option<&Group>) -> Result<()> {
    if found.is_none() {
        let created = client
            .create_log_group()
            .log_group_name(name)
            .set_tags(Some(super::aws::owner_tags(cx).into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_already_exists_exception()) => {}
            Err(e) => return Err(logs_error("CloudWatch Logs CreateLogGroup", &e)),
        }
    }
    if found.and_then(|g| g.retention_days) != Some(RETENTION_DAYS) {
        client
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(RETENTION_DAYS)
            .send()
            .await
            .map_err(|e| logs_error("CloudWatch Logs PutRetentionPolicy", &e))?;
    }
    Ok(())
}

/// Deletes the group with its events; gone already is fine.
pub async fn delete_group(client: &aws_sdk_cloudwatchlogs::Client, name: &str) -> Result<()> {
    match client.delete_log_group().log_group_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(()),
        Err(e) => Err(logs_error("CloudWatch Logs DeleteLogGroup", &e)),
    }
}

/// A CloudWatch Logs client for the target's region (`region` setting, else the AWS
/// chain's), with the same credentials and endpoint as the target's other clients.
pub async fn client_for(cx: &Cx) -> Result<aws_sdk_cloudwatchlogs::Client> {
    let region = cx.target.settings.region.as_ref().map(|r| r.get().as_str().to_string());
    let config = super::aws::load(region.as_deref(), super::aws::chosen_profile()).await?;
    Ok(crate::aws_client!(aws_sdk_cloudwatchlogs, &config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_a_line_with_its_time_and_stream() {
        let e = FilteredLogEvent::builder()
            .timestamp(1_764_918_000_123)
            .message("INFO answered /health\n")
            .log_stream_name("2026/12/05/[7]abc")
            .event_id("1")
            .build();
        let line = line_of(&e);
        assert_eq!(line.timestamp.as_deref(), Some("2025-12-05T07:00:00Z"));
        assert_eq!(line.message, "INFO answered /health");
        assert_eq!(line.source.as_deref(), Some("2026/12/05/[7]abc"));
    }
}
