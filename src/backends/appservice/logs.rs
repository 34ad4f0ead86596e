//! `logs` for appservice: the tail of the site's Docker log, as App Service keeps it,
//! through ARM's `POST .../containerlogs` with the identity every other call uses (no
//! Kudu credentials, no SCM host). The log is plain text, each line led by its time
//! (`2026-12-05T07:00:01.123456789Z message`); following reads it again and prints
//! what is newer than the last line printed.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use super::arm::{Arm, API_WEB};
use crate::engine::{Cx, LineSink, LogLine, LogQuery};

/// How often a followed log is read again.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// A line of the Docker log: its time to the second (`YYYY-MM-DDTHH:MM:SSZ`, which
/// sorts as text) when it starts with one, and the rest.
pub fn parse(line: &str) -> LogLine {
    let (first, rest) = line.split_once(' ').unwrap_or((line, ""));
    let b = first.as_bytes();
    let stamped = first.len() >= 20 && first.ends_with('Z') && b[4] == b'-' && b[10] == b'T' && b[13] == b':';
    if !stamped {
        return LogLine::plain(line);
    }
    LogLine { timestamp: Some(format!("{}Z", &first[..19])), message: rest.trim_start().to_string(), source: None }
}

/// The log's lines, oldest first (an empty answer when there is none yet).
async fn fetch(arm: &Arm, site_path: &str) -> Result<Vec<LogLine>> {
    let body = arm.list_action(&format!("{site_path}/containerlogs"), API_WEB).await?;
    let text = match body {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    };
    Ok(text.lines().filter(|l| !l.trim().is_empty()).map(parse).collect())
}

/// Lines at or after `cutoff` (a line without a time goes with the one before it).
fn since(lines: Vec<LogLine>, cutoff: &str) -> Vec<LogLine> {
    let mut keep = false;
    lines
        .into_iter()
        .filter(|l| {
            if let Some(t) = &l.timestamp {
                keep = t.as_str() >= cutoff;
            }
            keep
        })
        .collect()
}

pub async fn logs(cx: &Cx, arm: &Arm, site_path: &str, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
    let lines = since(fetch(arm, site_path).await?, &query.start());
    let skip = lines.len().saturating_sub(query.lines);
    for l in &lines[skip..] {
        out(l);
    }
    if !query.follow {
        return Ok(());
    }
    // What was printed at the newest second seen, so a second read does not print it
    // again; anything newer is new.
    let mut newest =
        lines.iter().filter_map(|l| l.timestamp.clone()).max().unwrap_or_else(|| crate::util::iso8601(crate::util::now_secs()));
    let mut seen: HashSet<String> = lines.iter().filter(|l| l.timestamp.as_ref() == Some(&newest)).map(|l| l.message.clone()).collect();
    loop {
        tokio::time::sleep(cx.poll.pause(FOLLOW_EVERY, FOLLOW_EVERY, 0)).await;
        let mut printing = false;
        for l in fetch(arm, site_path).await? {
            match &l.timestamp {
                Some(t) if *t > newest => {
                    newest = t.clone();
                    seen.clear();
                    printing = true;
                }
                Some(t) if *t == newest => printing = !seen.contains(&l.message),
                Some(_) => printing = false,
                None => {}
            }
            if printing {
                if l.timestamp.as_ref() == Some(&newest) {
                    seen.insert(l.message.clone());
                }
                out(&l);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_time_and_untimed_lines_follow_the_one_before() {
        let l = parse("2026-12-05T07:00:01.123456789Z INFO:     Uvicorn running on http://0.0.0.0:8000");
        assert_eq!(l.timestamp.as_deref(), Some("2026-12-05T07:00:01Z"));
        assert_eq!(l.message, "INFO:     Uvicorn running on http://0.0.0.0:8000");
        assert_eq!(parse("Traceback (most recent call last):"), LogLine::plain("Traceback (most recent call last):"));
        let lines =
            vec![parse("2026-12-05T05:00:00Z old"), parse("  continued old"), parse("2026-12-05T07:00:00Z new"), parse("  continued new")];
        let kept: Vec<String> = since(lines, "2026-12-05T06:00:00Z").into_iter().map(|l| l.message).collect();
        assert_eq!(kept, ["new", "  continued new"]);
    }
}
