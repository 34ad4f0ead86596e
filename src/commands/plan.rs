use anyhow::Result;
use serde_json::json;

use super::{check_ttl, context};
use crate::cli::{GlobalArgs, PlanArgs};
use crate::ui::Ui;

pub async fn run(args: &PlanArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let ttl = check_ttl(args.ttl, g)?;
    let (mut cx, backend) = context(&args.target, g, ui, true)?;
    cx.ttl = ttl;
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
        if let Some(at) = &report.expires_at {
            ui.result(&format!("Expires: {at} (a deploy with this --ttl records it; `aideploy gc` destroys the stage after that)"));
        }
    }
    Ok(0)
}
