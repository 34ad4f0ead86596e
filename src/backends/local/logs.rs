//! `logs` for the local target: the serving version's log file, then (with `follow`)
//! what it writes next, switching to the new log when a deploy replaces the version.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use super::run;
use super::state::{read_state, Observed};
use crate::engine::target::{LineSink, LogLine, LogQuery};
use crate::engine::Cx;
use crate::error::UsageError;

/// How often a followed log is read again (tests make it faster with
/// `AIDEPLOY_POLL_INTERVAL_MS`, through `cx.poll`).
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

pub async fn logs(cx: &Cx, seen: &Observed, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
    let Some(n) = seen.now() else {
        return Err(UsageError::new(format!("{} ({}) is not deployed to {}", cx.app_name(), cx.stage, cx.target.name)).into());
    };
    if query.since.is_some() {
        return Err(UsageError::new(
            "the local target's log is the app's own output, with no timestamps: --since cannot pick lines from it",
        )
        .hint("use -n N for the last N lines")
        .into());
    }
    let (lines, follow) = (query.lines, query.follow);
    let mut log = n.state.serving.log.clone();
    let (first, mut offset) = run::last_lines(&log, lines)?;
    for line in &first {
        out(&LogLine::plain(line));
    }
    if !follow {
        return Ok(());
    }
    let dir = log.parent().and_then(Path::parent).map(Path::to_path_buf).context("log outside its deployment")?;
    let mut pending = String::new();
    loop {
        tokio::time::sleep(cx.poll.pause(FOLLOW_EVERY, FOLLOW_EVERY, 0)).await;
        // A deploy in the meantime starts a new log: follow the serving version.
        match read_state(&dir) {
            Ok(Some(state)) if state.serving.log != log => {
                log = state.serving.log;
                offset = 0;
                pending.clear();
            }
            Ok(Some(_)) => {}
            _ => return Ok(()),
        }
        let Ok(mut f) = fs_err::File::open(&log) else { continue };
        let len = f.metadata()?.len();
        if len < offset {
            offset = 0;
        }
        if len == offset {
            continue;
        }
        f.seek(SeekFrom::Start(offset))?;
        let mut chunk = Vec::new();
        f.by_ref().take(len - offset).read_to_end(&mut chunk)?;
        offset = len;
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(i) = pending.find('\n') {
            let line: String = pending.drain(..=i).collect();
            out(&LogLine::plain(line.trim_end_matches('\n')));
        }
    }
}
