//! A cloud's own budget alert for one app, stage and target, as `[cost] budget_usd`
//! asks for it: what aideploy wants and what it found, whatever the cloud.

use crate::engine::Cx;

/// The alert's name in every cloud: `aideploy-{app}-{stage}-{target}`. The target is in
/// it because two targets of one cloud (lambda and ec2 in one AWS account) would
/// otherwise share one name, and each target's budget is its own estimate's.
pub fn name(cx: &Cx) -> String {
    format!("aideploy-{}-{}", cx.resource_base(), cx.target.name)
}

/// The alert `[cost]` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Want {
    pub name: String,
    /// US dollars a month.
    pub amount_usd: f64,
    pub email: Option<String>,
}

impl Want {
    /// `None` without `budget_usd`.
    pub fn of(cx: &Cx) -> Option<Want> {
        let cost = &cx.loaded.manifest.cost;
        Some(Want { name: name(cx), amount_usd: cost.budget_usd()?, email: cost.alert_email().map(str::to_string) })
    }
}

/// An alert found under [`name`].
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub name: String,
    /// It carries this app, stage and target's owner marker: aideploy made it for them.
    pub ours: bool,
    pub amount_usd: f64,
    pub email: Option<String>,
    /// What the cloud needs again to update it (Azure: its start date and eTag).
    pub extra: serde_json::Value,
}

impl Found {
    /// Why it must change to be `want`; `None` when it is already.
    pub fn differs(&self, want: &Want) -> Option<String> {
        let cents = |x: f64| (x * 100.0).round() as i64;
        let mut why = Vec::new();
        if cents(self.amount_usd) != cents(want.amount_usd) {
            why.push(format!("amount {} -> {}", crate::cost::dollars(self.amount_usd), crate::cost::dollars(want.amount_usd)));
        }
        if self.email != want.email {
            why.push(match &want.email {
                Some(e) => format!("alert email -> {e}"),
                None => "alert email removed".to_string(),
            });
        }
        (!why.is_empty()).then(|| why.join(", "))
    }
}
