use anyhow::Result;
use serde_json::json;

use super::context;
use crate::cli::{GlobalArgs, TargetArgs};
use crate::ui::Ui;

pub async fn run(args: &TargetArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let (cx, backend) = context(args, g, ui, false)?;
    let report = backend.destroy(&cx, ui).await?;
    if ui.json {
        ui.result_json(&json!(report));
    } else if report.actions.is_empty() {
        ui.result(&format!("Nothing to destroy: {} ({}) is not deployed to {}", cx.app_name(), cx.stage, cx.target.name));
    } else {
        ui.result(&format!("Destroyed {} ({}) on {}", cx.app_name(), cx.stage, cx.target.name));
    }
    Ok(0)
}
