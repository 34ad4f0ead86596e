//! `aideploy secrets set|list|get|rm`: the app's secrets in the target's own secret
//! store (the targets whose capabilities say they have one). Values are read from stdin
//! (`--stdin`), the local environment or `.env`, or a hidden prompt; one is printed only
//! by `get`, at a terminal or with `--reveal`.

use std::io::{IsTerminal, Read};

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
        SecretsCommand::Set { name, stdin, deploy, target } => set(name, *stdin, *deploy, target, g, ui).await,
        SecretsCommand::List { target } => list(target, g, ui).await,
        SecretsCommand::Get { name, reveal, target } => get(name, *reveal, target, g, ui).await,
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

async fn set(name: &str, stdin: bool, deploy: bool, args: &TargetArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let (cx, store) = store_context(args, g, ui).await?;
    declared(&cx, name)?;
    let value = value_for(&cx, name, stdin, ui)?;
    if deploy {
        // A deploy over budget is refused before the value is stored, not after.
        super::deploy::refuse_over_budget(&cx, false)?;
    }
    let (op, stored) = store.put(name, &value).await?;
    let op = op.as_str();
    let secret = store.location(name);
    let done = json!({"name": name, "secret": secret, "arn": stored.id, "version": stored.version, "op": op});
    if !ui.json {
        let version = stored.version.as_deref().map(|v| format!(", version {}", short_version(v))).unwrap_or_default();
        ui.result(&format!("{name}: {op} ({secret}{version})"));
    }
    if deploy {
        // A normal deploy, with the value just stored (not an older one in $NAME or .env).
        let (mut cx, backend) = super::context(args, g, ui, true)?;
        cx.secrets.values.insert(name.to_string(), value);
        ui.info(&format!("Deploying {} to {} so the app reads the new value:", cx.app_name(), cx.target.name));
        return super::deploy::deploy(&cx, &*backend, ui, Some(("secret", done)), false).await;
    }
    if ui.json {
        ui.result_json(&done);
    } else if op != "unchanged" {
        ui.info(&format!(
            "The running app still has the old value: it reads the new one from the next deploy \
             (`aideploy deploy --target {}`, health-gated like any deploy), or run this again with --deploy.",
            cx.target.name
        ));
    }
    Ok(0)
}

/// A long version id (a UUID) cut for a table; numbers stay whole.
fn short_version(v: &str) -> &str {
    match v.get(..8) {
        Some(head) if v.len() > 12 => head,
        _ => v,
    }
}

async fn get(name: &str, reveal: bool, args: &TargetArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    // Refused before any cloud call: a value printed to a pipe or a CI log is a leak.
    if !reveal && !std::io::stdout().is_terminal() {
        return Err(UsageError::new(format!("not printing the value of `{name}`: stdout is not a terminal"))
            .hint(format!(
                "pass --reveal to print it anyway (`aideploy secrets get {name} --target {} --reveal`)",
                args.target.as_deref().unwrap_or("T")
            ))
            .into());
    }
    let (cx, store) = store_context(args, g, ui).await?;
    let Some((value, about)) = store.get(name).await? else {
        return Err(UsageError::new(format!("no stored secret `{name}` for {} ({})", cx.app_name(), cx.stage))
            .hint(format!("`aideploy secrets list --target {}` shows what is stored", cx.target.name))
            .into());
    };
    if ui.json {
        ui.result_json(&json!({
            "name": name,
            "secret": store.location(name),
            "version": about.version,
            "last_changed": about.last_changed.map(|t| crate::util::iso8601(t.max(0) as u64)),
            "value": value.expose(),
        }));
    } else {
        ui.result(value.expose());
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
                "version": s.and_then(|s| s.version.clone()),
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
    let mut lines = vec![format!("{:width$}  {:8}  LAST CHANGED", "NAME", "VERSION")];
    for r in &rows {
        let version = r["version"].as_str().map(short_version).unwrap_or("-");
        let when = match (r["stored"].as_bool(), r["last_changed"].as_str()) {
            (Some(false), _) => "not stored".to_string(),
            (_, Some(t)) => t.to_string(),
            (_, None) => "-".to_string(),
        };
        let note = if r["in_manifest"] == json!(false) { "  (not in the manifest)" } else { "" };
        lines.push(format!("{:width$}  {version:8}  {when}{note}", r["name"].as_str().unwrap_or_default()));
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
