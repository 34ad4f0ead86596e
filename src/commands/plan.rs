use anyhow::Result;
use serde_json::json;

use super::context;
use crate::cli::{GlobalArgs, TargetArgs};
use crate::ui::Ui;

pub async fn run(args: &TargetArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let (cx, backend) = context(args, g, ui, true)?;
    let mut report = backend.plan(&cx, ui).await?;
    // Over `[cost] budget_usd`: a plan only warns; `deploy` is what refuses.
    if let Some(w) = crate::cost::budget(&cx.loaded.manifest.cost, &report.cost).warning(&cx.target.name) {
        report.warnings.push(w);
    }
    for w in &report.warnings {
        ui.warn(w);
    }
    if ui.json {
        ui.result_json(&json!(report));
    } else {
        ui.result(&report.rendered);
        ui.result(&format!(
            "Estimated cost: {} (prices as of {}; `aideploy cost --json` says what it assumes)",
            report.cost.words(),
            report.cost.prices_as_of
        ));
    }
    Ok(0)
}
