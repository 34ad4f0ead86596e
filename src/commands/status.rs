use std::time::Duration;

use anyhow::Result;
use serde_json::{json, Value};

use super::{context, load_manifest};
use crate::cli::{GlobalArgs, StatusArgs};
use crate::engine::{Health, Metrics, StatusReport};
use crate::report::one_line;
use crate::ui::Ui;

/// How long one target's status may take in `status` without `--target`: a cloud that
/// does not answer shows as such, and the other targets still show.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(status: &StatusArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let args = &status.target;
    let metrics = status.metrics.then_some(crate::engine::metrics::WINDOW);
    if args.target.is_none() {
        return all(status, g, ui).await;
    }
    let (cx, backend) = context(args, g, ui, false)?;
    let report = backend.status(&cx, metrics).await?;
    if ui.json {
        ui.result_json(&json!(report));
        return Ok(report.exit_code());
    }
    if !report.deployed {
        ui.result(&format!("{} ({}) is not deployed to {}", cx.app_name(), cx.stage, cx.target.name));
        if let Some(at) = &report.expires_at {
            ui.result(&format!("  {:<12} {} (`aideploy gc` removes what is left of the stage)", "expires", when(at)));
        }
        return Ok(0);
    }
    let mut lines = vec![format!("{} ({}) on {}", cx.app_name(), cx.stage, cx.target.name)];
    let mut row = |k: &str, v: String| lines.push(format!("  {k:<12} {v}"));
    if let Some(url) = &report.url {
        row("url", url.clone());
    }
    if let Some(h) = report.health {
        row("health", h.to_string());
    }
    if let Some(d) = &report.digest {
        row("digest", d.clone());
    }
    if let Some(when) = deployed_words(&report) {
        row("deployed", when);
    }
    if let Some(at) = &report.expires_at {
        row("expires", format!("{} (`aideploy gc` destroys the stage after that)", when(at)));
    }
    // A detail with no value (no previous version yet, ...) is left out, not `null`.
    for (k, v) in report.details.iter().filter(|(_, v)| !v.is_null()) {
        row(k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
    }
    for (k, v) in report.metrics.iter().flat_map(Metrics::rows) {
        row(k, v);
    }
    ui.result(&lines.join("\n"));
    Ok(report.exit_code())
}

/// One row of `status` without `--target`: the target's report, or why it could not be
/// read (and the exit code that error has).
struct Row {
    name: String,
    kind: String,
    read: std::result::Result<StatusReport, (String, u8)>,
}

/// `status` without `--target`: every target of the manifest, read at once (read calls
/// only), one row each; a target that cannot be read says why and the rest still show.
async fn all(status: &StatusArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let args = &status.target;
    let metrics = status.metrics.then_some(crate::engine::metrics::WINDOW);
    let loaded = load_manifest(g)?;
    let names = loaded.manifest.target_names();
    if names.is_empty() {
        ui.result(&format!(
            "{} has no targets: add one under [targets.NAME] (e.g. `aideploy init --target local`)",
            loaded.manifest.app().name.as_str()
        ));
        return Ok(0);
    }
    let mut tasks = tokio::task::JoinSet::new();
    let mut rows: Vec<Row> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut one = args.clone();
        one.target = Some(name.clone());
        let kind = loaded.manifest.target(Some(name), &[]).ok().map(|t| t.kind);
        // `--profile` names an AWS profile: it applies to the AWS targets only.
        if !kind.is_some_and(|k| crate::backends::for_kind(k).capabilities().provider == crate::engine::Provider::Aws) {
            one.profile = None;
        }
        let kind = kind.map(|k| k.to_string()).unwrap_or_default();
        match context(&one, g, ui, false) {
            Ok((cx, backend)) => {
                tasks.spawn(async move {
                    let read = match tokio::time::timeout(READ_TIMEOUT, backend.status(&cx, metrics)).await {
                        Ok(Ok(report)) => Ok(report),
                        Ok(Err(e)) => Err((one_line(&e), crate::report::exit_code(&e))),
                        Err(_) => Err((format!("no answer within {} s", READ_TIMEOUT.as_secs()), crate::error::exit::FAILED)),
                    };
                    (i, read)
                });
                rows.push(Row { name: name.clone(), kind, read: Err((String::new(), 0)) });
            }
            Err(e) => rows.push(Row { name: name.clone(), kind, read: Err((one_line(&e), crate::report::exit_code(&e))) }),
        }
    }
    while let Some(done) = tasks.join_next().await {
        let (i, read) = done.map_err(|e| anyhow::anyhow!("reading a target's status failed: {e}"))?;
        rows[i].read = read;
    }
    let code = rows
        .iter()
        .map(|r| match &r.read {
            Ok(report) => report.exit_code(),
            Err((_, code)) => *code,
        })
        .max()
        .unwrap_or(0);
    if ui.json {
        let targets: Vec<Value> = rows
            .iter()
            .map(|r| match &r.read {
                Ok(report) => json!(report),
                Err((why, _)) => json!({"target": r.name, "kind": r.kind, "error": why}),
            })
            .collect();
        ui.result_json(&json!({"app": loaded.manifest.app().name.as_str(), "targets": targets}));
        return Ok(code);
    }
    ui.result(&table(&rows));
    if status.metrics {
        ui.result(&format!("\n{}", metrics_table(&rows)));
    }
    Ok(code)
}

/// `2026-12-05 09:12 UTC`, from an RFC 3339 UTC time.
fn when(t: &str) -> String {
    t.replacen('T', " ", 1).trim_end_matches('Z').get(..16).unwrap_or(t).to_string() + " UTC"
}

/// `2026-12-05 09:12 UTC by dana@example.com`: when the serving version was made and,
/// when the cloud records it, by whom.
fn deployed_words(s: &StatusReport) -> Option<String> {
    match (s.deployed_at.as_deref().map(when), &s.deployed_by) {
        (Some(w), Some(by)) => Some(format!("{w} by {by}")),
        (Some(w), None) => Some(w),
        (None, Some(by)) => Some(format!("by {by}")),
        (None, None) => None,
    }
}

/// One row per target; an EXPIRES column when a stage has a time to live.
fn table(rows: &[Row]) -> String {
    let expiring = rows.iter().any(|r| matches!(&r.read, Ok(s) if s.expires_at.is_some()));
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let (state, url, version, deployed) = match &r.read {
                Ok(s) if !s.deployed => ("not deployed".to_string(), String::new(), String::new(), String::new()),
                Ok(s) => {
                    let state = match s.health {
                        Some(Health::Passed) => "healthy",
                        Some(Health::Failed) => "unhealthy",
                        Some(Health::Skipped) | None => "deployed",
                    };
                    let version = match s.details.get("version").filter(|v| !v.is_null()) {
                        Some(v) => v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
                        None => s.digest.as_deref().map(short_digest).unwrap_or_default(),
                    };
                    (state.to_string(), s.url.clone().unwrap_or_default(), version, deployed_words(s).unwrap_or_default())
                }
                Err((why, _)) => (format!("unreadable: {why}"), String::new(), String::new(), String::new()),
            };
            let mut row = vec![r.name.clone(), r.kind.clone(), state, url, version, deployed];
            if expiring {
                row.push(r.read.as_ref().ok().and_then(|s| s.expires_at.as_deref()).map(when).unwrap_or_default());
            }
            row
        })
        .collect();
    let mut header: Vec<String> = ["TARGET", "KIND", "STATE", "URL", "VERSION", "DEPLOYED"].map(str::to_string).to_vec();
    if expiring {
        header.push("EXPIRES".into());
    }
    let mut width = vec![0usize; header.len()];
    for row in std::iter::once(&header).chain(&cells) {
        for (w, c) in width.iter_mut().zip(row) {
            // A long reason does not widen the columns after it.
            *w = (*w).max(c.chars().count().min(40));
        }
    }
    std::iter::once(&header)
        .chain(&cells)
        .map(|row| {
            let mut line = String::new();
            for (i, (c, w)) in row.iter().zip(width.iter().copied()).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(c);
                } else {
                    line.push_str(&format!("{c:<w$}  "));
                }
            }
            line.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `status --metrics` without `--target`: a second table, one row per deployed target,
/// and under it what each note says (why a target has none, what a number means).
fn metrics_table(rows: &[Row]) -> String {
    let mut cells: Vec<Vec<String>> = vec![["TARGET", "REQUESTS", "ERRORS", "P50", "P95", "SOURCE"].map(str::to_string).to_vec()];
    let mut notes = Vec::new();
    for r in rows {
        let Ok(s) = &r.read else { continue };
        let Some(m) = &s.metrics else { continue };
        let mut row = vec![r.name.clone()];
        row.extend(m.cells());
        row.push(m.source.clone());
        cells.push(row);
        if let Some(why) = m.error.as_ref().or(m.note.as_ref()) {
            notes.push(format!("{}: {why}", r.name));
        }
    }
    if cells.len() == 1 {
        return "metrics: no target is deployed".into();
    }
    let mut width = vec![0usize; cells[0].len()];
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut lines: Vec<String> = cells
        .iter()
        .map(|row| row.iter().zip(&width).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_string())
        .collect();
    lines.extend(notes);
    lines.join("\n")
}

/// `sha256:` and the first 12 hex digits (`history` too).
pub(super) fn short_digest(d: &str) -> String {
    match d.strip_prefix("sha256:") {
        Some(hex) => format!("sha256:{}", &hex[..hex.len().min(12)]),
        None => d.to_string(),
    }
}
