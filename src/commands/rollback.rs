use anyhow::Result;
use serde_json::json;

use super::context;
use crate::cli::{GlobalArgs, RollbackArgs};
use crate::engine::Health;
use crate::ui::Ui;

pub async fn run(args: &RollbackArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let (cx, backend) = context(&args.target, g, ui, true)?;
    let report = backend.rollback(&cx, ui, args.to.as_deref()).await?;
    if ui.json {
        ui.result_json(&json!(report));
        return Ok(report.exit_code());
    }
    if report.health == Health::Failed {
        eprintln!(
            "{} {} of {} is unhealthy: {}",
            console::style("error:").red().bold().for_stderr(),
            args.to.as_deref().map(|id| format!("release {id}")).unwrap_or_else(|| "the previous version".into()),
            cx.app_name(),
            report.failure.as_deref().unwrap_or("health check failed")
        );
    } else {
        ui.info(&format!(
            "{} Rolled back in {:.1}s to {}, health {}",
            console::style("✓").green().for_stderr(),
            report.duration_ms as f64 / 1000.0,
            report.digest.as_deref().unwrap_or("the previous version"),
            report.health
        ));
    }
    if let Some(url) = &report.url {
        ui.result(url);
    }
    Ok(report.exit_code())
}
