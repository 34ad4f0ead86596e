//! The Google Cloud budget alert of `[cost] budget_usd`: a Cloud Billing budget on
//! `[cost] billing_account` (Cloud Billing Budget API v1, over REST: four calls, no
//! client crate of their own), monthly, at `budget_usd` US dollars, counting the cost of
//! the target's project, with threshold rules at 80% of actual and 100% of forecast
//! spend. Google sends its alerts to the billing account's administrators and users
//! (not to `[cost] alert_email`: an address of one's own needs a Cloud Monitoring
//! notification channel). Budgets carry no labels: aideploy's is the one named
//! `aideploy-{app}-{stage}-{target}` whose filter is this project alone.

use anyhow::Result;
use reqwest::Method;
use serde_json::{json, Value};

use crate::cloud::budget::{Found, Want};
use crate::cloud::gcp;
use crate::engine::Cx;

const API: &str = "https://billingbudgets.googleapis.com";

/// The billing account `[cost]` names, if it does.
pub fn account(cx: &Cx) -> Option<String> {
    cx.loaded.manifest.cost.billing_account.as_ref().map(|a| a.0.clone())
}

struct Client {
    rest: gcp::Rest,
    base: String,
}

/// What the credentials need, for a 403.
const FORBIDDEN: &str = "the account behind Application Default Credentials needs the Billing Account Costs Manager role \
                         (roles/billing.costsManager) on the billing account, and the Cloud Billing Budget API must be enabled \
                         (`gcloud services enable billingbudgets.googleapis.com`); check `[cost] billing_account` with `gcloud billing accounts list`";

impl Client {
    async fn new() -> Result<Client> {
        let endpoint = gcp::endpoint_override()?;
        let rest = gcp::Rest::new(gcp::is_loopback(endpoint.as_deref())).await?;
        Ok(Client { rest, base: endpoint.unwrap_or_else(|| API.to_string()) })
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>, what: &str) -> Result<Value> {
        let url = format!("{}/v1/{path}", self.base);
        let what = format!("Cloud Billing Budget {what}");
        let (code, answer) = self.rest.send(method.clone(), &url, body, method != Method::POST, &what).await?;
        if (200..300).contains(&code) {
            return Ok(answer);
        }
        Err(gcp::rest_error(&what, code, &answer, FORBIDDEN))
    }
}

fn project_filter(cx: &Cx) -> Result<String> {
    Ok(format!("projects/{}", super::site(cx)?.project))
}

/// The budget of this target on the billing account, found by its display name.
pub async fn read(cx: &Cx, account: &str) -> Result<Option<Found>> {
    let c = Client::new().await?;
    let name = crate::cloud::budget::name(cx);
    let project = project_filter(cx)?;
    let mut token: Option<String> = None;
    loop {
        let page = match &token {
            Some(t) => format!("billingAccounts/{account}/budgets?pageToken={t}"),
            None => format!("billingAccounts/{account}/budgets"),
        };
        let answer = c.call(Method::GET, &page, None, "budgets.list").await?;
        for b in answer["budgets"].as_array().into_iter().flatten() {
            if b["displayName"] != name.as_str() {
                continue;
            }
            let projects = b["budgetFilter"]["projects"].as_array().cloned().unwrap_or_default();
            let money = &b["amount"]["specifiedAmount"];
            let units = money["units"].as_str().and_then(|u| u.parse::<f64>().ok()).or_else(|| money["units"].as_f64()).unwrap_or(0.0);
            let nanos = money["nanos"].as_f64().unwrap_or(0.0);
            return Ok(Some(Found {
                name: name.clone(),
                ours: projects.len() == 1 && projects[0] == project.as_str(),
                amount_usd: units + nanos / 1e9,
                email: None,
                extra: json!({"name": b["name"], "etag": b["etag"]}),
            }));
        }
        token = answer["nextPageToken"].as_str().filter(|t| !t.is_empty()).map(str::to_string);
        if token.is_none() {
            return Ok(None);
        }
    }
}

fn body(cx: &Cx, want: &Want) -> Result<Value> {
    let cents = (want.amount_usd * 100.0).round() as i64;
    Ok(json!({
        "displayName": want.name,
        "budgetFilter": {"projects": [project_filter(cx)?], "calendarPeriod": "MONTH"},
        "amount": {"specifiedAmount": {"currencyCode": "USD", "units": (cents / 100).to_string(), "nanos": (cents % 100) * 10_000_000}},
        "thresholdRules": [
            {"thresholdPercent": 0.8, "spendBasis": "CURRENT_SPEND"},
            {"thresholdPercent": 1.0, "spendBasis": "FORECASTED_SPEND"},
        ],
    }))
}

pub async fn put(cx: &Cx, account: &str, want: &Want, found: Option<&Found>) -> Result<()> {
    let c = Client::new().await?;
    let mut b = body(cx, want)?;
    match found.and_then(|f| f.extra["name"].as_str()) {
        Some(name) => {
            if let Some(tag) = found.and_then(|f| f.extra["etag"].as_str()) {
                b["etag"] = json!(tag);
            }
            c.call(Method::PATCH, &format!("{name}?updateMask=displayName,budgetFilter,amount,thresholdRules"), Some(&b), "budgets.patch")
                .await?;
        }
        None => {
            c.call(Method::POST, &format!("billingAccounts/{account}/budgets"), Some(&b), "budgets.create").await?;
        }
    }
    Ok(())
}

pub async fn delete(found: &Found) -> Result<()> {
    let Some(name) = found.extra["name"].as_str() else { return Ok(()) };
    Client::new().await?.call(Method::DELETE, name, None, "budgets.delete").await?;
    Ok(())
}
