use anyhow::Result;
use serde_json::json;

use super::context;
use crate::cli::{GlobalArgs, TargetArgs};
use crate::ui::Ui;

pub async fn run(args: &TargetArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let (cx, backend) = context(args, g, ui, false)?;
    let report = backend.status(&cx).await?;
    if ui.json {
        ui.result_json(&json!(report));
        return Ok(report.exit_code());
    }
    if !report.deployed {
        ui.result(&format!("{} ({}) is not deployed to {}", cx.app_name(), cx.stage, cx.target.name));
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
    // A detail with no value (no previous version yet, ...) is left out, not `null`.
    for (k, v) in report.details.iter().filter(|(_, v)| !v.is_null()) {
        row(k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
    }
    ui.result(&lines.join("\n"));
    Ok(report.exit_code())
}
