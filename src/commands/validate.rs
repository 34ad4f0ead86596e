use anyhow::Result;
use serde_json::json;

use super::load_manifest;
use crate::cli::GlobalArgs;
use crate::ui::Ui;

pub fn run(g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let loaded = load_manifest(g)?;
    let m = &loaded.manifest;
    let targets: Vec<_> = m
        .targets
        .iter()
        .map(|(name, s)| {
            let kind = s.get().kind.as_ref().map(|k| k.get().to_string()).unwrap_or_else(|| name.get().to_string());
            json!({ "name": name.get().as_str(), "kind": kind })
        })
        .collect();
    // Not errors: the manifest is valid; the app may still miss a dependency.
    let warnings = crate::artifact::imports::warnings(m, &loaded.dir);
    if ui.json {
        ui.result_json(&json!({
            "valid": true, "manifest": loaded.display_name, "app": m.app().name.as_str(), "targets": targets, "warnings": warnings
        }));
    } else {
        for w in &warnings {
            ui.warn(w);
        }
        let names: Vec<String> = targets.iter().map(|t| t["name"].as_str().unwrap_or_default().to_string()).collect();
        ui.result(&format!(
            "{} is valid: app {}, targets: {}",
            loaded.display_name,
            m.app().name,
            if names.is_empty() { "none".into() } else { names.join(", ") }
        ));
    }
    Ok(0)
}
