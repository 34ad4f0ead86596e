//! `[cost]`: the traffic a month's bill is estimated from, and the budget a deploy
//! keeps to. Each value is a validating newtype, so a bad one fails while the file is
//! parsed and its error points at the value's line and column.

use schemars::JsonSchema;
use serde::{de::Error as _, Deserialize, Deserializer, Serialize};

use super::values::with_help;

/// Requests a day when `[cost]` does not say (about one every nine seconds).
pub const DEFAULT_REQUESTS_PER_DAY: u64 = 10_000;
/// Time per request when `[cost]` does not say.
pub const DEFAULT_AVG_DURATION_MS: u32 = 200;
/// Hours a day an always-on instance runs when `[cost]` does not say.
pub const DEFAULT_HOURS_PER_DAY: f64 = 24.0;
/// The longest request worth estimating: Lambda's own limit, 15 minutes.
const MAX_DURATION_MS: u32 = 900_000;
/// A ceiling that catches a misplaced digit (a million requests a second).
const MAX_REQUESTS_PER_DAY: u64 = 86_400_000_000;

/// `[cost]`: what `plan`, `deploy` and `aideploy cost` estimate a month's bill from.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cost {
    /// Requests the app serves a day (default 10000).
    pub requests_per_day: Option<RequestsPerDay>,
    /// Average time a request takes, in milliseconds (default 200).
    pub avg_duration_ms: Option<DurationMs>,
    /// Hours a day the app's instances run, for targets billed while an instance runs
    /// (ec2, sagemaker instances, railway, render; default 24).
    pub hours_per_day: Option<HoursPerDay>,
    /// A monthly budget in US dollars: `plan` warns and `deploy` refuses (unless
    /// `--over-budget`) when the estimate's low end is above it.
    pub budget_usd: Option<BudgetUsd>,
    /// Where the cloud's budget alert writes when spending nears `budget_usd` (AWS
    /// Budgets and Azure send their alerts to it; AWS sends none without it).
    pub alert_email: Option<AlertEmail>,
    /// The Google Cloud billing account (`XXXXXX-XXXXXX-XXXXXX`) that pays for the
    /// cloudrun project: with `budget_usd`, a deploy creates a budget on it.
    pub billing_account: Option<BillingAccount>,
}

impl Cost {
    pub fn requests_per_day(&self) -> u64 {
        self.requests_per_day.map_or(DEFAULT_REQUESTS_PER_DAY, |r| r.0)
    }
    pub fn avg_duration_ms(&self) -> u32 {
        self.avg_duration_ms.map_or(DEFAULT_AVG_DURATION_MS, |d| d.0)
    }
    pub fn hours_per_day(&self) -> f64 {
        self.hours_per_day.map_or(DEFAULT_HOURS_PER_DAY, |h| h.0)
    }
    pub fn budget_usd(&self) -> Option<f64> {
        self.budget_usd.map(|b| b.0)
    }
    pub fn alert_email(&self) -> Option<&str> {
        self.alert_email.as_ref().map(|e| e.0.as_str())
    }
}

/// Requests a day, 0 or more.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct RequestsPerDay(#[schemars(range(min = 0, max = 86_400_000_000u64))] pub u64);

impl<'de> Deserialize<'de> for RequestsPerDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        match u64::try_from(n) {
            Ok(r) if r <= MAX_REQUESTS_PER_DAY => Ok(RequestsPerDay(r)),
            _ => Err(D::Error::custom(with_help(
                format!("requests_per_day {n} is out of range"),
                "give the requests the app serves in a day, from 0 to 86400000000, e.g. 10000",
            ))),
        }
    }
}

/// Milliseconds per request, 1 to 900000.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct DurationMs(#[schemars(range(min = 1, max = 900_000))] pub u32);

impl<'de> Deserialize<'de> for DurationMs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        match u32::try_from(n) {
            Ok(ms) if (1..=MAX_DURATION_MS).contains(&ms) => Ok(DurationMs(ms)),
            _ => Err(D::Error::custom(with_help(
                format!("avg_duration_ms {n} is out of range"),
                "give the average milliseconds a request takes, from 1 to 900000, e.g. 200",
            ))),
        }
    }
}

/// Hours a day, 0 to 24 (fractions allowed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct HoursPerDay(#[schemars(range(min = 0, max = 24))] pub f64);

impl<'de> Deserialize<'de> for HoursPerDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let h = f64::deserialize(d)?;
        if (0.0..=24.0).contains(&h) {
            Ok(HoursPerDay(h))
        } else {
            Err(D::Error::custom(with_help(
                format!("hours_per_day {h} is out of range"),
                "give the hours a day the instance runs, from 0 to 24, e.g. 8 for office hours",
            )))
        }
    }
}

/// US dollars a month, more than 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct BudgetUsd(#[schemars(extend("exclusiveMinimum" = 0))] pub f64);

impl<'de> Deserialize<'de> for BudgetUsd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = f64::deserialize(d)?;
        if b.is_finite() && b > 0.0 {
            Ok(BudgetUsd(b))
        } else {
            Err(D::Error::custom(with_help(
                format!("budget_usd {b} is not a budget"),
                "give US dollars a month, more than 0, e.g. `budget_usd = 50`; remove the key for no budget",
            )))
        }
    }
}

/// An email address: one `@`, a local part, and a domain with a dot.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct AlertEmail(#[schemars(regex(pattern = r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"), length(max = 254))] pub String);

impl AlertEmail {
    fn valid(s: &str) -> bool {
        let Some((local, domain)) = s.split_once('@') else { return false };
        let labels: Vec<&str> = domain.split('.').collect();
        s.len() <= 254
            && !local.is_empty()
            && local.len() <= 64
            && !local.chars().any(|c| c.is_whitespace() || c == '@')
            && labels.len() >= 2
            && labels.iter().all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    }
}

impl<'de> Deserialize<'de> for AlertEmail {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if AlertEmail::valid(&s) {
            Ok(AlertEmail(s))
        } else {
            Err(D::Error::custom(with_help(
                format!("alert_email `{s}` is not an email address"),
                "give the address budget alerts go to, e.g. `alert_email = \"ops@example.com\"`",
            )))
        }
    }
}

/// A Google Cloud billing account id: three groups of six hex digits (`01A2B3-C4D5E6-F7A8B9`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct BillingAccount(#[schemars(regex(pattern = r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$"))] pub String);

impl<'de> Deserialize<'de> for BillingAccount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ok = s.len() == 20
            && s.split('-').count() == 3
            && s.split('-').all(|g| g.len() == 6 && g.chars().all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
        if ok {
            Ok(BillingAccount(s))
        } else {
            Err(D::Error::custom(with_help(
                format!("billing_account `{s}` is not a billing account id"),
                "give the id `gcloud billing accounts list` shows: three groups of six digits and capital letters A-F, e.g. `01A2B3-C4D5E6-F7A8B9`",
            )))
        }
    }
}

#[cfg(test)]
mod budget_key_tests {
    use super::*;

    #[test]
    fn emails_and_billing_accounts_are_checked() {
        for ok in ["ops@example.com", "a.b+c@sub.example.co"] {
            assert!(AlertEmail::valid(ok), "{ok}");
        }
        for bad in ["ops", "ops@example", "@example.com", "o ps@example.com", "ops@exa_mple.com", "ops@.com"] {
            assert!(!AlertEmail::valid(bad), "{bad}");
        }
        let parse = |s: &str| serde_json::from_value::<BillingAccount>(serde_json::json!(s)).is_ok();
        assert!(parse("01A2B3-C4D5E6-F7A8B9"));
        for bad in ["01a2b3-c4d5e6-f7a8b9", "01A2B3C4D5E6F7A8B9", "01A2B3-C4D5E6-F7A8B", "01A2B3-C4D5E6-F7A8BG"] {
            assert!(!parse(bad), "{bad}");
        }
    }
}
