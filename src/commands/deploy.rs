use anyhow::Result;
use serde_json::json;

use super::{context, init};
use crate::cli::{DeployArgs, GlobalArgs, InitArgs, TargetArgs};
use crate::engine::{Backend, Cx, Health};
use crate::manifest;
use crate::ui::Ui;

pub async fn run(args: &TargetArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let (cx, backend) = context(args, g, ui, true)?;
    deploy(&cx, &*backend, ui, None).await
}

/// Deploys and prints the report. With `before` (what a command did first, e.g.
/// `secrets set --deploy`), `--json` prints `{KEY: what it did, "deploy": report}`.
pub async fn deploy(cx: &Cx, backend: &dyn Backend, ui: &Ui, before: Option<(&str, serde_json::Value)>) -> Result<u8> {
    if let Some(w) = cx.secrets.short_warning() {
        ui.warn(&w);
    }
    let report = backend.deploy(cx, ui).await?;
    if ui.json {
        match before {
            Some((key, done)) => ui.result_json(&json!({key: done, "deploy": report})),
            None => ui.result_json(&json!(report)),
        }
    } else {
        let secs = report.duration_ms as f64 / 1000.0;
        match report.health {
            Health::Failed => {
                eprintln!(
                    "{} deploy of {} is unhealthy: {}",
                    console::style("error:").red().bold().for_stderr(),
                    cx.app_name(),
                    report.failure.as_deref().unwrap_or("health check failed")
                );
            }
            _ if !report.changed => {
                ui.info(&format!("{} Up to date ({secs:.1}s), health {}", console::style("✓").green().for_stderr(), report.health))
            }
            _ => ui.info(&format!("{} Deployed in {secs:.1}s, health {}", console::style("✓").green().for_stderr(), report.health)),
        }
        if let Some(url) = &report.url {
            ui.result(url);
        }
    }
    Ok(report.exit_code())
}

/// `up`: `init` when there is no manifest yet, then `deploy`.
pub async fn up(args: &DeployArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let path = manifest::locate(g.manifest.as_deref());
    if !path.exists() {
        ui.info(&format!("No {} here yet: writing one first.", manifest::FILE_NAME));
        let init_args = InitArgs { target: args.target.target.clone(), name: None, force: false };
        init::run(&init_args, g, ui)?;
    }
    run(&args.target, g, ui).await
}
