use anyhow::Result;
use serde_json::json;

use super::context;
use crate::cli::{DestroyArgs, GlobalArgs};
use crate::ui::Ui;

pub async fn run(args: &DestroyArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let (mut cx, backend) = context(&args.target, g, ui, false)?;
    cx.purge = args.purge;
    let report = backend.destroy(&cx, ui).await?;
    if ui.json {
        ui.result_json(&json!(report));
        return Ok(0);
    }
    let mut lines = vec![if report.actions.is_empty() {
        format!("Nothing to destroy: {} ({}) is not deployed to {}", cx.app_name(), cx.stage, cx.target.name)
    } else {
        format!("Destroyed {} ({}) on {}", cx.app_name(), cx.stage, cx.target.name)
    }];
    // Kept on purpose (a soft-deleted Key Vault): what it is and how to remove it.
    lines.extend(report.leaves.iter().map(|l| format!("Kept: {l}")));
    ui.result(&lines.join("\n"));
    Ok(0)
}
