//! `aideploy cost`: every target's monthly estimate side by side, from the manifest and
//! the price table alone (no cloud is asked anything, so no login is needed).

use anyhow::Result;
use serde::Serialize;
use serde_json::json;

use super::load_manifest;
use crate::cli::{CostArgs, GlobalArgs};
use crate::cost::{self, Budget, Estimate, Traffic};
use crate::manifest::Kind;
use crate::ui::Ui;

#[derive(Debug, Serialize)]
struct Row {
    target: String,
    kind: Kind,
    #[serde(flatten)]
    estimate: Estimate,
}

pub fn run(args: &CostArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let loaded = load_manifest(g)?;
    let m = &loaded.manifest;
    let names: Vec<String> = if !args.target.is_empty() {
        args.target.clone()
    } else if !m.targets.is_empty() {
        m.target_names()
    } else {
        ui.info("The manifest declares no target: every kind with its defaults.");
        Kind::ALL.iter().map(|k| k.to_string()).collect()
    };
    let mut rows = Vec::new();
    for name in &names {
        let target = m.target(Some(name), &[])?;
        rows.push(Row { estimate: cost::estimate(m, &target), kind: target.kind, target: target.name });
    }
    if ui.json {
        ui.result_json(&json!({ "targets": rows }));
        return Ok(0);
    }
    let budget_of = |row: &Row| cost::budget(&m.cost, &row.estimate);
    let table: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            let (low, high) = match r.estimate.monthly_usd {
                Some(s) => (cost::dollars(s.low), cost::dollars(s.high)),
                None => ("no price".to_string(), "no price".to_string()),
            };
            let note = match budget_of(r) {
                Budget::Over { .. } => "over budget",
                Budget::Unknown { .. } => "budget not checked",
                Budget::Within => "",
            };
            [r.target.clone(), r.kind.to_string(), format!("{low:>10}  {high:>10}"), note.to_string()]
        })
        .collect();
    let head = ["TARGET".to_string(), "KIND".to_string(), format!("{:>10}  {:>10}", "LOW/MONTH", "HIGH/MONTH"), String::new()];
    let width = |i: usize| std::iter::once(&head).chain(&table).map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w0, w1) = (width(0), width(1));
    let mut out = Vec::new();
    for r in std::iter::once(&head).chain(&table) {
        out.push(format!("{:w0$}  {:w1$}  {}  {}", r[0], r[1], r[2], r[3]).trim_end().to_string());
    }
    ui.result(&out.join("\n"));
    let t = Traffic::of(&m.cost);
    ui.info(&format!(
        "Traffic: {} requests a day, {} ms each, instances up {} h a day ([cost] in {}); list prices as of {}, US East regions.",
        t.requests_per_day,
        t.avg_duration_ms,
        t.hours_per_day,
        crate::manifest::FILE_NAME,
        cost::prices::PRICES_AS_OF
    ));
    ui.info("What each figure assumes (free tiers, memory, hours): aideploy cost --json");
    for r in rows.iter().filter(|r| r.estimate.monthly_usd.is_none()) {
        if let Some(why) = r.estimate.assumptions.get("no_price").and_then(|v| v.as_str()) {
            ui.warn(&format!("{}: {why}", r.target));
        }
    }
    Ok(0)
}
