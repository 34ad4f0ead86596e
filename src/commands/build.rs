use anyhow::Result;
use serde_json::json;

use super::context;
use crate::cli::{GlobalArgs, TargetArgs};
use crate::engine;
use crate::ui::Ui;

pub async fn run(args: &TargetArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let (cx, backend) = context(args, g, ui, false)?;
    let artifact = engine::build(&cx, backend.as_ref(), ui).await?;
    if ui.json {
        ui.result_json(&json!({ "artifact": artifact }));
    } else {
        ui.result(&format!("{}  {}  {} bytes", artifact.kind, artifact.digest, artifact.bytes));
    }
    Ok(0)
}
