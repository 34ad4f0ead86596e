//! `aideploy secrets set|list|rm`: the app's secrets in the target's own secret store
//! (the targets whose capabilities say they have one). Values are read from stdin (`--stdin`), the local
//! environment or `.env`, or a hidden prompt, and are never printed.

use std::io::Read;

use anyhow::Result;
use serde_json::json;

use super::context;
use crate::cli::{GlobalArgs, SecretsArgs, SecretsCommand, TargetArgs};
use crate::engine::Cx;
use crate::error::UsageError;
use crate::secrets::{SecretStore, SecretValue, Secrets};
use crate::ui::Ui;

pub async fn run(args: &SecretsArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    match &args.command {
        SecretsCommand::Set { name, stdin, target } => set(name, *stdin, target, g, ui).await,
        SecretsCommand::List { target } => list(target, g, ui).await,
        SecretsCommand::Rm { name, target } => rm(name, target, g, ui).await,
    }
}

/// The target's context and its secret store.
async fn store_context(args: &TargetArgs, g: &GlobalArgs, ui: &Ui) -> Result<(Cx, Box<dyn SecretStore>)> {
    let (cx, backend) = context(args, g, ui, false)?;
    let store = backend.secret_store(&cx).await?;
    Ok((cx, store))
}

fn declared(cx: &Cx, name: &str) -> Result<()> {
    if cx.loaded.manifest.secrets.keys().any(|k| k.get() == name) {
        return Ok(());
    }
    let names: Vec<String> = cx.loaded.manifest.secrets.keys().map(|k| k.get().clone()).collect();
    Err(UsageError::new(format!("`{name}` is not in the manifest's [secrets]"))
        .hint(if names.is_empty() {
            format!("add `{name} = {{}}` to [secrets] in aideploy.toml first, so the app gets it")
        } else {
            format!("declared secrets: {}; or add `{name} = {{}}` to [secrets]", names.join(", "))
        })
        .into())
}

/// The value: stdin with `--stdin`, else the local environment or `.env`, else a
/// hidden prompt at a terminal.
fn value_for(cx: &Cx, name: &str, stdin: bool, ui: &Ui) -> Result<SecretValue> {
    let raw = if stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        let trimmed = s.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&s).to_string();
        Some(trimmed)
    } else if let Some(v) = Secrets::available(&cx.loaded).values.get(name) {
        Some(v.expose().to_string())
    } else {
        ui.ask_secret(&format!("Value for secret {name} (not echoed)"))?
    };
    let var = cx
        .loaded
        .manifest
        .secrets
        .iter()
        .find(|(k, _)| k.get() == name)
        .and_then(|(_, spec)| spec.get().env.as_ref().map(|e| e.get().clone()))
        .unwrap_or_else(|| name.to_string());
    match raw.filter(|v| !v.is_empty()) {
        Some(v) => Ok(SecretValue::new(v)),
        None => Err(UsageError::new(format!("no value for secret `{name}`"))
            .hint(format!("pipe it in with --stdin (`printf %s \"$VALUE\" | aideploy secrets set {name} --stdin`), or set ${var} in the environment or .env"))
            .into()),
    }
}

async fn set(name: &str, stdin: bool, args: &TargetArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let (cx, store) = store_context(args, g, ui).await?;
    declared(&cx, name)?;
    let value = value_for(&cx, name, stdin, ui)?;
    let (op, stored) = store.put(name, &value).await?;
    let (op, arn) = (op.as_str(), stored.id);
    let secret = store.location(name);
    if ui.json {
        ui.result_json(&json!({"name": name, "secret": secret, "arn": arn, "op": op}));
    } else {
        ui.result(&format!("{name}: {op} ({secret})"));
        if op != "unchanged" {
            ui.info(&format!(
                "The app reads it from the next `aideploy deploy --target {}` on (a new version, so no instance keeps the old value).",
                cx.target.name
            ));
        }
    }
    Ok(0)
}

async fn list(args: &TargetArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let (cx, store) = store_context(args, g, ui).await?;
    let (app, stage) = (cx.app_name().to_string(), cx.stage.to_string());
    let stored = store.list().await?;
    let mut names: Vec<String> = cx.loaded.manifest.secrets.keys().map(|k| k.get().clone()).collect();
    names.extend(stored.keys().cloned());
    names.sort();
    names.dedup();
    let rows: Vec<serde_json::Value> = names
        .iter()
        .map(|n| {
            let s = stored.get(n);
            json!({
                "name": n,
                "secret": store.location(n),
                "stored": s.is_some(),
                "in_manifest": cx.loaded.manifest.secrets.keys().any(|k| k.get() == n),
                "last_changed": s.and_then(|s| s.last_changed).map(|t| crate::util::iso8601(t.max(0) as u64)),
                "arn": s.map(|s| s.id.clone()),
            })
        })
        .collect();
    if ui.json {
        ui.result_json(&json!({"target": cx.target.name, "stage": stage, "secrets": rows}));
        return Ok(0);
    }
    if rows.is_empty() {
        ui.result(&format!("{app} ({stage}) declares no secrets and has none stored"));
        return Ok(0);
    }
    let width = names.iter().map(String::len).max().unwrap_or(4).max(4);
    let mut lines = vec![format!("{:width$}  LAST CHANGED", "NAME")];
    for r in &rows {
        let when = r["last_changed"].as_str().map(str::to_string).unwrap_or_else(|| "not stored".into());
        let note = if r["in_manifest"] == json!(false) { "  (not in the manifest)" } else { "" };
        lines.push(format!("{:width$}  {when}{note}", r["name"].as_str().unwrap_or_default()));
    }
    ui.result(&lines.join("\n"));
    Ok(0)
}

async fn rm(name: &str, args: &TargetArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let (cx, store) = store_context(args, g, ui).await?;
    let (app, stage) = (cx.app_name().to_string(), cx.stage.to_string());
    if !store.list().await?.contains_key(name) {
        return Err(UsageError::new(format!("no stored secret `{name}` for {app} ({stage})"))
            .hint(format!("`aideploy secrets list --target {}` shows what is stored", cx.target.name))
            .into());
    }
    if !ui.confirm(&format!("Remove secret {name}?"))? {
        anyhow::bail!(crate::error::Hinted::new("cancelled: nothing was removed", "run again and answer yes, or pass --yes"));
    }
    store.delete(name).await?;
    let secret = store.location(name);
    if ui.json {
        ui.result_json(&json!({"name": name, "secret": secret, "op": "delete"}));
    } else {
        ui.result(&format!("{name}: removed ({secret}; {})", store.removal_note()));
    }
    Ok(0)
}
