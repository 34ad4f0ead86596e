use anyhow::Result;
use serde_json::json;

use super::context;
use crate::cli::{GlobalArgs, TargetArgs};
use crate::ui::Ui;

pub async fn run(args: &TargetArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let (cx, backend) = context(args, g, ui, true)?;
    let report = backend.plan(&cx, ui).await?;
    for w in &report.warnings {
        ui.warn(w);
    }
    if ui.json {
        ui.result_json(&json!(report));
    } else {
        ui.result(&report.rendered);
    }
    Ok(0)
}
