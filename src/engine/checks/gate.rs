//! The checks as a deploy runs them: after the target switched to the new release and
//! it passed its health check, still under the deploy's lease; a failure rolls back at
//! once where the target can, and says what serves otherwise.

use anyhow::Result;

use super::{client, run, CheckResult};
use crate::engine::target::Target;
use crate::engine::{Cx, Health, Outcome, Reporter};

/// What the checks of one deploy came to.
#[derive(Debug, Default)]
pub struct Gate {
    pub results: Vec<CheckResult>,
    /// A check failed and the previous release was put back (and passed its health
    /// check).
    pub rolled_back: bool,
    /// What the rollback's outcome says of the live app, when one ran.
    pub rollback: Option<Outcome>,
    /// For the report's `failure`: which checks failed, and what serves now.
    pub failure: Option<String>,
    /// Why the checks did not run, when they did not.
    pub skipped: Option<String>,
}

impl Gate {
    pub fn failed(&self) -> bool {
        self.results.iter().any(|r| !r.passed)
    }
}

/// Runs the manifest's checks against the live URL of `outcome` (a deploy that made a
/// release). Never an error: what goes wrong is in the gate's `failure`.
pub async fn after_apply<T: Target>(cx: &Cx, target: &T, outcome: &Outcome, r: &dyn Reporter) -> Gate {
    let checks = &cx.loaded.manifest.checks;
    if checks.is_empty() || outcome.health == Health::Failed {
        // A failed health check has said why already; nothing took the traffic.
        return Gate::default();
    }
    let url = match outcome.health {
        Health::Skipped => Err("the health check of this deploy was skipped, so nothing shows the app serves at its URL".to_string()),
        _ => target.check_url(cx, outcome),
    };
    let url = match url {
        Ok(url) => url,
        Err(why) => {
            r.warn(&format!("checks: skipped: {why} ({} check(s) not run)", checks.len()));
            return Gate { skipped: Some(why), ..Gate::default() };
        }
    };
    r.step(&format!("running {} check(s) against {url}", checks.len()));
    let results = run(&client(), &url, checks, &cx.secrets).await;
    r.done();
    let failed: Vec<String> = results.iter().filter(|c| !c.passed).map(|c| format!("`{}`", c.name)).collect();
    if failed.is_empty() {
        return Gate { results, ..Gate::default() };
    }
    let mut gate = Gate { results, ..Gate::default() };
    let what = format!("check {} failed against the new release", failed.join(", "));
    let destroy = format!("`aideploy destroy --target {} --stage {}`", cx.target.name, cx.stage);
    if !target.capabilities().rollback {
        gate.failure = Some(format!(
            "{what}; `{}` targets cannot roll back: the failing version is serving. Fix it and deploy again, or remove it with {destroy}",
            cx.target.kind
        ));
        return gate;
    }
    r.warn(&format!("{what}: rolling back to the previous release"));
    gate.failure = Some(match roll_back(cx, target, r).await {
        Ok(Ok(o)) if o.health != Health::Failed => {
            gate.rolled_back = true;
            gate.rollback = Some(o);
            format!("{what}; rolled back: the previous release serves again")
        }
        Ok(Ok(o)) => {
            let why = o.failure.clone().unwrap_or_else(|| "its health check failed".into());
            gate.rollback = Some(o);
            format!("{what}; the rollback to the previous release failed ({why}): the failing version is serving")
        }
        Ok(Err(none)) => format!(
            "{what}; nothing to go back to ({none}): the failing version is serving. Fix it and deploy again, or remove it with {destroy}"
        ),
        Err(e) => format!("{what}; the rollback failed: {e:#}. The failing version may be serving: see `aideploy status`"),
    });
    gate
}

/// The previous release back: `Ok(Err(why))` when there is none to go back to.
async fn roll_back<T: Target>(cx: &Cx, target: &T, r: &dyn Reporter) -> Result<std::result::Result<Outcome, String>> {
    let seen = target.observe(cx).await?;
    let plan = match target.plan_rollback(cx, &seen) {
        Ok(plan) => plan,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let outcome = target.rollback(cx, &seen, &plan, r).await?;
    r.done();
    Ok(Ok(outcome))
}
