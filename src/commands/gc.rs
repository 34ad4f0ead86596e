//! `aideploy gc`: destroys every preview stage of this app whose time to live (`deploy
//! --ttl`) has passed, on every target of the manifest (or `--target`), as each target's
//! cloud records it. `--dry-run` lists them and what destroying them would remove.

use anyhow::Result;
use serde_json::{json, Value};

use super::{context, load_manifest};
use crate::cli::{GcArgs, GlobalArgs};
use crate::engine::gc::{verdict, Verdict};
use crate::engine::{Backend, Cx, Provider};
use crate::error::exit;
use crate::manifest::Stage;
use crate::ui::Ui;
use crate::util::{iso8601, now_secs};

/// One expired stage: where, since when, and what destroying it removes.
struct Expired {
    target: String,
    cx: Cx,
    backend: std::sync::Arc<dyn Backend>,
    at: u64,
    plan: std::result::Result<crate::engine::Plan, String>,
    destroyed: bool,
    error: Option<String>,
}

pub async fn run(args: &GcArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let loaded = load_manifest(g)?;
    let names = match &args.target.target {
        Some(t) => vec![t.clone()],
        None => loaded.manifest.target_names(),
    };
    let now = now_secs();
    let mut expired: Vec<Expired> = Vec::new();
    let mut kept: Vec<Value> = Vec::new();
    let mut skipped: Vec<Value> = Vec::new();
    let mut failed = false;
    for name in &names {
        let mut one = args.target.clone();
        one.target = Some(name.clone());
        // `--profile` names an AWS profile: it applies to the AWS targets only.
        let kind = loaded.manifest.target(Some(name), &[]).ok().map(|t| t.kind);
        if args.target.target.is_none() && !kind.is_some_and(|k| crate::backends::for_kind(k).capabilities().provider == Provider::Aws) {
            one.profile = None;
        }
        let (cx, backend) = context(&one, g, ui, false)?;
        let backend: std::sync::Arc<dyn Backend> = backend.into();
        let target = cx.target.name.clone();
        let stages = match backend.stages(&cx).await {
            Ok(s) => s,
            Err(e) => {
                // A target that cannot list its stages yet says so; the others go on.
                let why = crate::report::one_line(&e);
                if crate::engine::target::is_unsupported(&e) {
                    ui.warn(&format!("{target}: {why}; its stages are skipped"));
                } else {
                    failed = true;
                    ui.warn(&format!("{target}: cannot list its stages: {why}; skipped"));
                }
                skipped.push(json!({"target": target, "why": why}));
                continue;
            }
        };
        for s in stages {
            let stage: Stage = match s.stage.parse() {
                Ok(st) => st,
                Err(_) => continue,
            };
            // The main stage is never collected, whatever its record says.
            let v = if s.stage == crate::cli::DEFAULT_STAGE {
                Verdict::Kept { expires: s.record.stage_expires }
            } else {
                verdict(&s.record, now)
            };
            match v {
                Verdict::Expired { at } => {
                    let cx = Cx { stage, expired_only: true, ..cx.clone() };
                    let plan = backend.destroy_plan(&cx).await.map_err(|e| crate::report::one_line(&e));
                    expired.push(Expired { target: target.clone(), cx, backend: backend.clone(), at, plan, destroyed: false, error: None });
                }
                Verdict::Held { at, by } => {
                    ui.warn(&format!(
                        "{target}: stage {} expired at {}, but {by} holds its lease: skipped this time",
                        s.stage,
                        iso8601(at)
                    ));
                    kept.push(json!({"target": target, "stage": s.stage, "expires_at": iso8601(at), "held_by": by}));
                }
                // A stage with no time to live is no preview: not listed.
                Verdict::Kept { expires: Some(at) } => {
                    kept.push(json!({"target": target, "stage": s.stage, "expires_at": iso8601(at)}));
                }
                Verdict::Kept { expires: None } => {}
            }
        }
    }

    if !ui.json {
        ui.info(&listing(&expired, &kept));
    }
    if !args.dry_run && !expired.is_empty() {
        if !ui.confirm(&format!("Destroy {} expired stage(s)?", expired.len()))? {
            anyhow::bail!(crate::error::Hinted::new("cancelled: nothing was removed", "run again and answer yes, or pass --yes"));
        }
        // Confirmed once for all of them.
        let yes = Ui { yes: true, ..ui.clone() };
        for e in &mut expired {
            let done = async {
                e.backend.destroy(&e.cx, &yes).await?;
                e.backend.forget_expiry(&e.cx, &yes).await
            };
            match done.await {
                Ok(()) => e.destroyed = true,
                // Deployed again with a new time to live since it was listed: kept, and
                // not a failure.
                Err(err) if err.downcast_ref::<crate::engine::gc::Extended>().is_some() => {
                    ui.warn(&format!("{}: {err}", e.target));
                    e.error = Some(err.to_string());
                }
                Err(err) => {
                    failed = true;
                    ui.warn(&format!("destroying stage {} on {} failed: {}", e.cx.stage, e.target, crate::report::one_line(&err)));
                    e.error = Some(crate::report::one_line(&err));
                }
            }
        }
    }

    if ui.json {
        let rows: Vec<Value> = expired
            .iter()
            .map(|e| {
                let mut row = json!({
                    "target": e.target,
                    "stage": e.cx.stage.to_string(),
                    "expired_at": iso8601(e.at),
                    "destroyed": e.destroyed,
                    "removes": e.plan.as_ref().map(|p| json!(p.actions)).unwrap_or(Value::Null),
                });
                if let Some(err) = e.error.as_ref().or(e.plan.as_ref().err()) {
                    row["error"] = json!(err);
                }
                row
            })
            .collect();
        ui.result_json(&json!({"expired": rows, "kept": kept, "skipped": skipped, "dry_run": args.dry_run}));
    } else if expired.is_empty() {
        ui.result("No expired stages: nothing to remove.");
    } else if args.dry_run {
        ui.result(&format!(
            "Dry run: {} expired stage(s) found, nothing was changed. Run `aideploy gc --yes` to destroy them.",
            expired.len()
        ));
    } else {
        let lines: Vec<String> = expired
            .iter()
            .map(|e| match &e.error {
                None => format!("Destroyed {} ({}) on {}", e.cx.app_name(), e.cx.stage, e.target),
                Some(err) => format!("Not destroyed: {} ({}) on {}: {err}", e.cx.app_name(), e.cx.stage, e.target),
            })
            .collect();
        ui.result(&lines.join("\n"));
    }
    Ok(if failed { exit::FAILED } else { exit::OK })
}

/// What was found, for people: each expired stage with what destroying it removes, then
/// the stages kept and until when.
fn listing(expired: &[Expired], kept: &[Value]) -> String {
    let mut lines = Vec::new();
    if !expired.is_empty() {
        lines.push("Expired stages:".to_string());
        for e in expired {
            lines.push(format!("  {} on {}: expired {}", e.cx.stage, e.target, iso8601(e.at)));
            match &e.plan {
                Ok(p) if p.has_changes() => {
                    lines.extend(p.render().lines().filter(|l| !l.starts_with("Plan:")).map(|l| format!("  {l}")));
                }
                Ok(_) => lines.push("      nothing left to remove but its record".into()),
                Err(why) => lines.push(format!("      cannot read what it has: {why}")),
            }
        }
    }
    if !kept.is_empty() {
        lines.push("Kept:".to_string());
        for k in kept {
            let at = k["expires_at"].as_str().unwrap_or_default();
            let until = if k.get("held_by").is_some() { format!("expired {at}, lease held") } else { format!("expires {at}") };
            lines.push(format!("  {} on {}: {until}", k["stage"].as_str().unwrap_or_default(), k["target"].as_str().unwrap_or_default()));
        }
    }
    lines.join("\n")
}
