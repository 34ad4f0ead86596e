//! The `rollback` flow: the previous version (or a kept release) back, under the lease.

use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use super::super::release;
use super::super::target::{Kept, Target};
use super::super::{Action, Cx, Health, Reporter};
use super::{exit_for, header, lease, login};
use crate::ui::Ui;

#[derive(Debug, Serialize)]
pub struct RollbackReport {
    pub target: String,
    pub kind: String,
    pub stage: String,
    pub url: Option<String>,
    pub digest: Option<String>,
    pub actions: Vec<Action>,
    pub health: Health,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl RollbackReport {
    pub fn exit_code(&self) -> u8 {
        exit_for(Some(self.health))
    }
}

/// Puts the previous version back, or with `to` the kept release of that id: plan,
/// confirm, apply (health-gated by the backend). What served before is recorded as
/// rolled back.
pub async fn rollback<T: Target>(cx: &Cx, target: &T, ui: &Ui, to: Option<&str>) -> Result<RollbackReport> {
    login(cx, target).await?;
    let started = Instant::now();
    ui.info(&header(cx));
    let r = ui.reporter();
    r.step("reading what is deployed");
    let seen = target.observe(cx).await?;
    r.done();
    let Some(now) = target.deployed(cx, &seen) else {
        return Err(crate::error::UsageError::new(format!("{} ({}) is not deployed to {}", cx.app_name(), cx.stage, cx.target.name))
            .hint("there is nothing to roll back")
            .into());
    };
    let plan_for = |seen: &T::Observed| match to {
        Some(id) => target.plan_rollback_to(cx, seen, id),
        None => target.plan_rollback(cx, seen),
    };
    let plan = plan_for(&seen)?;
    ui.info(&plan.display().render());
    if target.needs_confirmation(&plan) && !ui.confirm("Roll back?")? {
        anyhow::bail!(crate::error::Hinted::new("cancelled: nothing was changed", "run again and answer yes, or pass --yes"));
    }
    let held = lease(cx, target, "rollback", ui, &r).await?;
    let rolled = async {
        let (seen, plan) = if held.is_some() {
            let confirmed = plan.display().actions;
            let seen = target.observe(cx).await?;
            let plan = plan_for(&seen)?;
            // A rollback is relative to what serves now: if another run changed that while
            // this one waited, the confirmed plan no longer means the same thing.
            let same = |a: &[Action], b: &[Action]| {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.op == y.op && x.resource == y.resource && x.id == y.id)
            };
            if !same(&confirmed, &plan.display().actions) {
                return Err(crate::error::Hinted::new(
                    "what is deployed changed while this rollback waited for another run",
                    "run `aideploy rollback` again to see the plan for what serves now",
                )
                .into());
            }
            (seen, plan)
        } else {
            (seen, plan)
        };
        let from: Option<Kept> = target.releases(cx, &seen).into_iter().find(|k| k.live);
        anyhow::Ok((target.rollback(cx, &seen, &plan, &r).await?, from))
    }
    .await;
    if let Some(mut h) = held {
        if let Ok((outcome, from)) = &rolled {
            if outcome.health != Health::Failed {
                if let Some(from) = from {
                    release::rolled_back(h.history_mut(), from);
                }
                super::restored(cx, target, &mut h).await;
            }
        }
        h.release(&r).await;
    }
    let (outcome, _) = rolled?;
    r.done();
    let digest = match outcome.health {
        Health::Failed => Some(now.digest.clone()),
        _ => target.deployed(cx, &target.observe(cx).await?).map(|d| d.digest),
    };
    Ok(RollbackReport {
        target: cx.target.name.clone(),
        kind: cx.target.kind.to_string(),
        stage: cx.stage.to_string(),
        url: outcome.url,
        digest,
        actions: outcome.actions,
        health: outcome.health,
        duration_ms: started.elapsed().as_millis() as u64,
        failure: outcome.failure.map(|f| cx.secrets.redact(&f)),
    })
}
