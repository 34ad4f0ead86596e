//! The Azure budget alert of `[cost] budget_usd`: a `Microsoft.Consumption/budgets`
//! resource on the target's resource group, monthly, on cost, at `budget_usd`, counting
//! only the cost of resources carrying this app, stage and target's tags (a filter on
//! them, which is also how aideploy knows the budget for its own: Azure budgets carry no
//! tags). With `[cost] alert_email`, it notifies that address when actual cost passes 80%
//! and when the forecast passes 100%; Azure wants an email (or action group) for a
//! notification at this scope, so without one the budget has none.

use std::collections::BTreeSet;

use anyhow::Result;
use serde_json::{json, Value};

use super::arm::Arm;
use super::names::Names;
use super::{TAG_APP, TAG_STAGE, TAG_TARGET};
use crate::cloud::budget::{Found, Want};
use crate::engine::{Cx, Reporter};

/// Microsoft.Consumption's current api-version.
pub const API_CONSUMPTION: &str = "2024-08-01";

fn path(cx: &Cx) -> Result<String> {
    let n = Names::derive(cx, &super::subscription(cx)?);
    Ok(format!("{}/providers/Microsoft.Consumption/budgets/{}", n.group_path(), crate::cloud::budget::name(cx)))
}

fn owner(cx: &Cx) -> BTreeSet<(String, String)> {
    [(TAG_APP, cx.app_name().to_string()), (TAG_STAGE, cx.stage.to_string()), (TAG_TARGET, cx.target.name.clone())]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// The budget's filter: the cost of resources with every owner tag.
fn filter(cx: &Cx) -> Value {
    let and: Vec<Value> = owner(cx).into_iter().map(|(k, v)| json!({"tags": {"name": k, "operator": "In", "values": [v]}})).collect();
    json!({ "and": and })
}

/// The owner tags a found budget's filter names.
fn filtered_on(p: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for e in p["filter"]["and"].as_array().into_iter().flatten() {
        let t = &e["tags"];
        if let (Some(k), Some([v])) = (t["name"].as_str(), t["values"].as_array().map(Vec::as_slice)) {
            out.insert((k.to_string(), v.as_str().unwrap_or("").to_string()));
        }
    }
    out
}

pub async fn read(cx: &Cx) -> Result<Option<Found>> {
    let arm = Arm::from_env(cx.poll)?;
    let Some(b) = arm.get(&path(cx)?, API_CONSUMPTION).await? else { return Ok(None) };
    let p = &b["properties"];
    let email = p["notifications"]
        .as_object()
        .and_then(|n| n.values().find_map(|x| x["contactEmails"].as_array().and_then(|e| e.first()).and_then(Value::as_str)))
        .map(str::to_string);
    Ok(Some(Found {
        name: b["name"].as_str().unwrap_or_default().to_string(),
        ours: filtered_on(p) == owner(cx),
        amount_usd: p["amount"].as_f64().unwrap_or(0.0),
        email,
        // An update keeps the start date and names the version it replaces.
        extra: json!({"startDate": p["timePeriod"]["startDate"], "eTag": b["eTag"]}),
    }))
}

pub async fn put(cx: &Cx, want: &Want, found: Option<&Found>, r: &dyn Reporter) -> Result<()> {
    let start = match found.and_then(|f| f.extra["startDate"].as_str()) {
        Some(s) => s.to_string(),
        None => format!("{}01T00:00:00Z", &crate::util::iso8601(crate::util::now_secs())[..8]),
    };
    let mut notifications = serde_json::Map::new();
    if let Some(email) = &want.email {
        for (key, kind, threshold) in [("actual_over_80_percent", "Actual", 80), ("forecast_over_100_percent", "Forecasted", 100)] {
            notifications.insert(
                key.into(),
                json!({"enabled": true, "operator": "GreaterThan", "threshold": threshold, "thresholdType": kind, "contactEmails": [email]}),
            );
        }
    }
    let mut body = json!({"properties": {
        "category": "Cost",
        "amount": want.amount_usd,
        "timeGrain": "Monthly",
        "timePeriod": {"startDate": start},
        "filter": filter(cx),
        "notifications": notifications,
    }});
    if let Some(tag) = found.and_then(|f| f.extra["eTag"].as_str()) {
        body["eTag"] = json!(tag);
    }
    Arm::from_env(cx.poll)?.put(&path(cx)?, API_CONSUMPTION, &body, "budget alert", r).await?;
    Ok(())
}

pub async fn delete(cx: &Cx, r: &dyn Reporter) -> Result<()> {
    Arm::from_env(cx.poll)?.delete(&path(cx)?, API_CONSUMPTION, "budget alert", r).await
}
