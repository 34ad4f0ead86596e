//! The app's log on Render: what the service's instances write (log type `app`), read
//! with `GET /logs`. The last lines are read backward from now, a page of at most 100 at
//! a time; following reads forward from the newest line seen.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;

use super::api::{q, Api};
use super::observe::Observed;
use crate::backends::paas::logs::to_the_second;
use crate::engine::{Cx, LineSink, LogLine, LogQuery};
use crate::error::UsageError;
use crate::util::now_secs;

/// How often a followed log is read again: Render limits how often its logs may be
/// read (tens of requests a minute), so not faster than this.
const FOLLOW_EVERY: Duration = Duration::from_secs(5);
/// The most lines Render answers in one page.
const PAGE: usize = 100;

/// One page of `GET /logs`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    has_more: bool,
    next_start_time: Option<String>,
    next_end_time: Option<String>,
    #[serde(default)]
    logs: Vec<Entry>,
}

#[derive(Debug, Clone, Deserialize)]
struct Entry {
    id: String,
    timestamp: String,
    message: String,
    #[serde(default)]
    labels: Vec<Label>,
}

#[derive(Debug, Clone, Deserialize)]
struct Label {
    name: String,
    value: String,
}

/// Which way a read goes: newest first from the end of the window, or oldest first
/// from its start.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Backward,
    Forward,
}

/// A Render log entry as a line of the app's log; its source is the instance that wrote
/// it, when Render says.
fn line_of(e: &Entry) -> LogLine {
    LogLine {
        timestamp: Some(to_the_second(&e.timestamp)),
        message: e.message.trim_end_matches(['\n', '\r']).to_string(),
        source: e.labels.iter().find(|l| l.name == "instance").map(|l| l.value.clone()),
    }
}

/// Reads the service's app log between `start` and `end`, page after page in
/// `direction`, until `want` entries not in `known` were read or the window is done.
/// Entries come in the order read; `known` gains their ids.
async fn read(
    api: &Api,
    owner: &str,
    service: &str,
    (mut start, mut end): (String, String),
    direction: Direction,
    want: usize,
    known: &mut HashSet<String>,
) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    while out.len() < want {
        // One more than needed: a page may start with the last one's edge again.
        let limit = (want - out.len()).saturating_add(1).min(PAGE);
        let way = if direction == Direction::Backward { "backward" } else { "forward" };
        let path = format!(
            "/logs?ownerId={}&resource={}&type=app&direction={way}&limit={limit}&startTime={}&endTime={}",
            q(owner),
            q(service),
            q(&start),
            q(&end)
        );
        let page: Page = api.get_as(&path).await?.unwrap_or_default();
        let before = out.len();
        for e in page.logs {
            if known.insert(e.id.clone()) {
                out.push(e);
            }
        }
        // Pages may overlap at their edge: a page with nothing new ends the read.
        let (Some(next_start), Some(next_end)) = (page.next_start_time, page.next_end_time) else { break };
        if !page.has_more || out.len() == before {
            break;
        }
        (start, end) = (next_start, next_end);
    }
    out.truncate(want);
    Ok(out)
}

/// The last `query.lines` lines of the service's app log written within `query.since`
/// (default an hour), oldest first; with `query.follow`, then what comes next, until
/// interrupted.
pub async fn tail(cx: &Cx, api: &Api, seen: &Observed, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
    let Some(service) = seen.service.as_ref().filter(|s| s.live().is_some()) else {
        return Err(UsageError::new(format!("{} ({}) has no live Render deploy to read the log of", cx.app_name(), cx.stage))
            .hint(format!("deploy it first: aideploy deploy --target {}", cx.target.name))
            .into());
    };
    let now = crate::util::iso8601(now_secs() + 1);
    let mut known = HashSet::new();
    let mut last = read(api, &seen.owner, &service.id, (query.start(), now.clone()), Direction::Backward, query.lines, &mut known).await?;
    last.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    for e in &last {
        out(&line_of(e));
    }
    if !query.follow {
        return Ok(());
    }
    // From the newest line printed (or now): what is there and not yet printed.
    let mut from = last.last().map(|e| e.timestamp.clone()).unwrap_or(now);
    loop {
        tokio::time::sleep(cx.poll.pause(FOLLOW_EVERY, FOLLOW_EVERY, 0)).await;
        let end = crate::util::iso8601(now_secs() + 1);
        let next = read(api, &seen.owner, &service.id, (from.clone(), end), Direction::Forward, usize::MAX, &mut known).await?;
        for e in &next {
            out(&line_of(e));
        }
        if let Some(newest) = next.iter().map(|e| e.timestamp.clone()).max() {
            // Only the ids at the new edge can come again.
            known = next.iter().filter(|e| e.timestamp == newest).map(|e| e.id.clone()).collect();
            from = newest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_a_line_from_its_instance() {
        let e: Entry = serde_json::from_value(serde_json::json!({
            "id": "1", "timestamp": "2026-12-05T07:00:00.123Z", "message": "INFO ready\n",
            "labels": [{"name": "resource", "value": "srv-1"}, {"name": "instance", "value": "srv-1-abcde"}],
        }))
        .unwrap();
        let line = line_of(&e);
        assert_eq!(line.timestamp.as_deref(), Some("2026-12-05T07:00:00Z"));
        assert_eq!(line.message, "INFO ready");
        assert_eq!(line.source.as_deref(), Some("srv-1-abcde"));
    }
}
