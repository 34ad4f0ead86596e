//! `aideploy history`: the releases of one target, newest first.

use anyhow::Result;
use serde_json::json;

use super::context;
use super::status::short_digest as short;
use crate::cli::{GlobalArgs, TargetArgs};
use crate::engine::release::Row;
use crate::ui::Ui;

pub async fn run(args: &TargetArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let (cx, backend) = context(args, g, ui, false)?;
    let report = backend.history(&cx).await?;
    if ui.json {
        ui.result_json(&json!(report));
        return Ok(0);
    }
    if report.releases.is_empty() {
        ui.result(&format!("{} ({}) has no releases on {}", cx.app_name(), cx.stage, cx.target.name));
        return Ok(0);
    }
    ui.result(&table(&report.releases));
    let gone = report.releases.iter().filter(|r| !r.kept).count();
    if gone > 0 {
        ui.info(&format!(
            "{gone} release(s) marked `-` under ID are recorded but no longer kept by the platform: no rollback can go there."
        ));
    }
    if let Some(at) = &report.recorded_in {
        ui.info(&format!("Recorded in {at}."));
    }
    Ok(0)
}

/// One line per release, columns aligned.
fn table(rows: &[Row]) -> String {
    let dash = || "-".to_string();
    let mut cells = vec![["ID", "DIGEST", "DEPLOYED", "BY", "COMMIT", "AIDEPLOY", "MANIFEST", "OUTCOME"].map(String::from).to_vec()];
    for r in rows {
        let commit = r.commit.as_deref().map(|c| format!("{}{}", &c[..c.len().min(12)], if r.dirty == Some(true) { "+" } else { "" }));
        cells.push(vec![
            r.id.clone().filter(|_| r.kept).unwrap_or_else(dash),
            short(&r.digest),
            r.deployed_at.clone().unwrap_or_else(dash),
            r.deployed_by.clone().unwrap_or_else(dash),
            commit.unwrap_or_else(dash),
            r.aideploy.clone().unwrap_or_else(dash),
            r.manifest.as_deref().map(short).unwrap_or_else(dash),
            match &r.restores {
                Some(id) => format!("{} (a copy of {id})", r.outcome),
                None => r.outcome.to_string(),
            },
        ]);
    }
    let mut width = vec![0usize; cells[0].len()];
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    cells
        .iter()
        .map(|row| row.iter().zip(&width).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
