use anyhow::Result;
use serde_json::json;

use super::{check_ttl, context, init};
use crate::cli::{DeployArgs, GlobalArgs, InitArgs};
use crate::cost::Budget;
use crate::engine::{Backend, Cx, Health};
use crate::error::UsageError;
use crate::manifest;
use crate::ui::Ui;

pub async fn run(args: &DeployArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let ttl = check_ttl(args.ttl, g)?;
    let (mut cx, backend) = context(&args.target, g, ui, true)?;
    cx.ttl = ttl;
    deploy(&cx, &*backend, ui, None, args.over_budget).await
}

/// Refuses a deploy whose estimated cost starts above `[cost] budget_usd` (exit 2),
/// before anything is built or written; `over_budget` (`--over-budget`) lets it through.
/// `Ok` carries how the estimate stands, for a warning.
pub fn refuse_over_budget(cx: &Cx, over_budget: bool) -> Result<Budget> {
    let estimate = crate::cost::estimate(&cx.loaded.manifest, &cx.target);
    match crate::cost::budget(&cx.loaded.manifest.cost, &estimate) {
        Budget::Over { budget, low } if !over_budget => Err(UsageError::new(format!(
            "`{}` is estimated at {} a month at least, over `[cost] budget_usd` ({}): nothing was deployed",
            cx.target.name,
            crate::cost::dollars(low),
            crate::cost::dollars(budget)
        ))
        .hint("pass --over-budget to deploy anyway, pick a smaller size or plan for the target, or raise `budget_usd`; `aideploy cost` shows every target's estimate")
        .into()),
        other => Ok(other),
    }
}

/// Deploys and prints the report. With `before` (what a command did first, e.g.
/// `secrets set --deploy`), `--json` prints `{KEY: what it did, "deploy": report}`.
pub async fn deploy(cx: &Cx, backend: &dyn Backend, ui: &Ui, before: Option<(&str, serde_json::Value)>, over_budget: bool) -> Result<u8> {
    if let Some(w) = refuse_over_budget(cx, over_budget)?.warning(&cx.target.name) {
        ui.warn(&w);
    }
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
        if !report.checks.is_empty() {
            ui.info(&crate::engine::checks::render(&report.checks));
        }
        let checks_failed = report.checks.iter().any(|c| !c.passed);
        match report.health {
            _ if checks_failed => {
                eprintln!(
                    "{} deploy of {} failed its checks: {}",
                    console::style("error:").red().bold().for_stderr(),
                    cx.app_name(),
                    report.failure.as_deref().unwrap_or("a check failed")
                );
            }
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
        if let Some(at) = &report.expires_at {
            ui.info(&format!("Stage {} expires at {at}: `aideploy gc` destroys it after that.", cx.stage));
        }
    }
    Ok(report.exit_code())
}

/// `up`: `init` when there is no manifest yet, then `deploy`.
pub async fn up(args: &DeployArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    check_ttl(args.ttl, g)?;
    let path = manifest::locate(g.manifest.as_deref());
    if !path.exists() {
        ui.info(&format!("No {} here yet: writing one first.", manifest::FILE_NAME));
        let init_args = InitArgs { target: args.target.target.clone(), name: None, force: false };
        init::run(&init_args, g, ui)?;
    }
    run(args, g, ui).await
}
