//! What a target will cost a month, before anything is deployed: from the target's own
//! settings (memory, instance type, plan, ...), the traffic in `[cost]`, and the price
//! table shipped with aideploy (prices.rs). Nothing is read from any cloud, so `plan`,
//! `deploy` and `aideploy cost` give the same figure on any machine.
//!
//! An estimate is a span: `low` and `high` bracket what the model cannot know (a free
//! tier used up elsewhere, how much memory an app really holds, whether an instance
//! sleeps), and `assumptions` says, per target, what each end assumed.

mod estimate;
pub mod prices;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::manifest::{cost::Cost, Kind, Manifest, Target};
use prices::HOURS_PER_MONTH;

/// A month's cost of one target.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    /// `None` (JSON `null`) when the price table has no price for what the target uses;
    /// `assumptions.no_price` says which.
    pub monthly_usd: Option<Span>,
    pub assumptions: BTreeMap<String, Value>,
    pub prices_as_of: &'static str,
}

/// US dollars a month, rounded to cents.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Span {
    pub low: f64,
    pub high: f64,
}

impl Span {
    fn new(low: f64, high: f64) -> Span {
        Span { low: cents(low), high: cents(high) }
    }
    fn fixed(amount: f64) -> Span {
        Span::new(amount, amount)
    }
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The traffic of `[cost]`, defaults filled in.
#[derive(Debug, Clone, Copy)]
pub struct Traffic {
    pub requests_per_day: f64,
    pub avg_duration_ms: f64,
    pub hours_per_day: f64,
}

impl Traffic {
    pub fn of(cost: &Cost) -> Traffic {
        Traffic {
            requests_per_day: cost.requests_per_day() as f64,
            avg_duration_ms: f64::from(cost.avg_duration_ms()),
            hours_per_day: cost.hours_per_day(),
        }
    }

    /// Requests in a 730-hour month.
    fn requests_per_month(&self) -> f64 {
        self.requests_per_day * HOURS_PER_MONTH / 24.0
    }

    /// Seconds of request handling in a month.
    fn busy_seconds(&self) -> f64 {
        self.requests_per_month() * self.avg_duration_ms / 1000.0
    }

    /// Hours an always-on instance runs in a month.
    fn running_hours(&self) -> f64 {
        self.hours_per_day * HOURS_PER_MONTH / 24.0
    }
}

/// What a target's estimate writes down besides the figure.
pub(crate) struct Notes(BTreeMap<String, Value>);

impl Notes {
    fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(key.to_string(), value.into());
    }
}

/// The estimate for `target` with the traffic of `manifest`'s `[cost]`.
pub fn estimate(manifest: &Manifest, target: &Target) -> Estimate {
    estimate_with(&Traffic::of(&manifest.cost), target)
}

pub fn estimate_with(traffic: &Traffic, target: &Target) -> Estimate {
    let mut notes = Notes(BTreeMap::new());
    notes.set(
        "prices",
        "list prices on demand, without discounts, credits or taxes: AWS us-east-1, Google Cloud Tier 1 regions, Azure East US, \
         Railway and Render list prices; the target's own region is not priced separately",
    );
    notes.set("month", "730 hours");
    notes.set("requests_per_day", traffic.requests_per_day);
    notes.set("avg_duration_ms", traffic.avg_duration_ms);
    let figure = match target.kind {
        Kind::Local => {
            notes.set("low", "runs on this machine: no cloud bill");
            notes.set("high", "runs on this machine: no cloud bill");
            Ok(Span::fixed(0.0))
        }
        Kind::Lambda => estimate::lambda(traffic, target, &mut notes),
        Kind::Cloudrun => estimate::cloudrun(traffic, target, &mut notes),
        Kind::Appservice => estimate::appservice(traffic, target, &mut notes),
        Kind::Ec2 => estimate::ec2(traffic, target, &mut notes),
        Kind::Sagemaker => estimate::sagemaker(traffic, target, &mut notes),
        Kind::Railway => estimate::railway(traffic, target, &mut notes),
        Kind::Render => estimate::render(traffic, target, &mut notes),
    };
    if target.kind != Kind::Local {
        notes.set("not_included", "data transfer, logs and metrics, image and artifact storage, secret stores, taxes");
    }
    let monthly_usd = match figure {
        Ok(span) => Some(span),
        Err(why) => {
            notes.set("no_price", why);
            None
        }
    };
    Estimate { monthly_usd, assumptions: notes.0, prices_as_of: prices::PRICES_AS_OF }
}

impl Estimate {
    /// One line for people: `$3.10–$4.20 a month`.
    pub fn words(&self) -> String {
        match self.monthly_usd {
            Some(s) if s.low == s.high => format!("{} a month", dollars(s.low)),
            Some(s) => format!("{}–{} a month", dollars(s.low), dollars(s.high)),
            None => "no price (see `aideploy cost --json`)".to_string(),
        }
    }
}

/// `$0`, `$4.20`, `$1,023.50`.
pub fn dollars(x: f64) -> String {
    if x == 0.0 {
        return "$0".into();
    }
    let s = format!("{x:.2}");
    let (int, frac) = s.split_once('.').unwrap_or((&s, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("${grouped}.{frac}")
}

/// How the estimate stands against `[cost] budget_usd`.
#[derive(Debug, Clone, PartialEq)]
pub enum Budget {
    /// No budget, or the estimate's low end is within it.
    Within,
    /// The low end is above the budget.
    Over { budget: f64, low: f64 },
    /// A budget is set but the target has no price to compare with it.
    Unknown { budget: f64 },
}

pub fn budget(cost: &Cost, estimate: &Estimate) -> Budget {
    let Some(budget) = cost.budget_usd() else { return Budget::Within };
    match estimate.monthly_usd {
        Some(s) if s.low > budget => Budget::Over { budget, low: s.low },
        Some(_) => Budget::Within,
        None => Budget::Unknown { budget },
    }
}

impl Budget {
    /// The warning `plan` prints (and `deploy --over-budget`), if any.
    pub fn warning(&self, target: &str) -> Option<String> {
        match self {
            Budget::Within => None,
            Budget::Over { budget, low } => Some(format!(
                "`{target}` costs at least {} a month by aideploy's estimate, over `[cost] budget_usd` ({}); `deploy` refuses it without --over-budget",
                dollars(*low),
                dollars(*budget)
            )),
            Budget::Unknown { budget } => Some(format!(
                "`{target}` has no price in aideploy's table, so `[cost] budget_usd` ({}) cannot be checked for it",
                dollars(*budget)
            )),
        }
    }
}
