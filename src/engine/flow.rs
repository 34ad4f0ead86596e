//! The flows behind `deploy`, `plan`, `build`, `status` and `destroy`.

use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use super::release::{self, Ended, Release};
use super::target::{LineSink, LogQuery, Target};
use super::{Action, ArtifactInfo, Cx, Health, Op, Reporter};
use crate::error::exit;
use crate::ui::Ui;

mod rollback;
pub use rollback::{rollback, RollbackReport};

#[derive(Debug, Serialize)]
pub struct DeployReport {
    pub target: String,
    pub kind: String,
    pub stage: String,
    pub url: Option<String>,
    pub changed: bool,
    pub artifact: ArtifactInfo,
    pub actions: Vec<Action>,
    pub health: Health,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// What the target costs a month by aideploy's price table (src/cost).
    pub cost: crate::cost::Estimate,
    /// `deploy --ttl`: when `gc` may destroy this stage (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// `[[checks]]` as they ran against the live URL after the switch.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<super::checks::CheckResult>,
    /// A check failed and the previous release was put back.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rolled_back: bool,
    /// Why the manifest's checks did not run (an endpoint they cannot call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks_skipped: Option<String>,
}

impl DeployReport {
    /// 3 when health or a check failed, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.checks.iter().any(|c| !c.passed) {
            exit::UNHEALTHY
        } else {
            exit_for(Some(self.health))
        }
    }
}

/// 3 when what is serving (or was just deployed) failed its health check, else 0.
fn exit_for(health: Option<Health>) -> u8 {
    if health == Some(Health::Failed) {
        exit::UNHEALTHY
    } else {
        exit::OK
    }
}

fn header(cx: &Cx) -> String {
    format!(
        "{} {} (stage {}) on {}",
        console::style("aideploy").bold().for_stderr(),
        cx.app_name(),
        cx.stage,
        if cx.target.name == cx.target.kind.as_str() { cx.target.name.clone() } else { format!("{} ({})", cx.target.name, cx.target.kind) }
    )
}

/// The target's cloud login, checked before anything is built or read: a missing or
/// expired one fails at once with exit 2 and the command that logs in.
pub(super) async fn login<T: Target>(cx: &Cx, target: &T) -> Result<()> {
    crate::cloud::login::check(cx, target.capabilities().provider).await
}

/// Takes this app, stage and target's lease when the target keeps one; `None` when it
/// keeps none.
async fn lease<T: Target>(cx: &Cx, target: &T, command: &str, ui: &Ui, r: &dyn Reporter) -> Result<Option<super::lease::Held>> {
    let Some(store) = target.lease_store(cx).await? else { return Ok(None) };
    r.step("taking the deploy lease");
    let held = super::lease::acquire(store, command, ui.lock_timeout, r).await?;
    r.done();
    Ok(Some(held))
}

/// `deploy --ttl`: when the stage expires (now + ttl, seconds since the epoch), `None`
/// without `--ttl`. An error when the target keeps no lease record to hold it.
pub(super) fn stage_expiry<T: Target>(cx: &Cx, target: &T) -> Result<Option<u64>> {
    let Some(ttl) = cx.ttl else { return Ok(None) };
    if !target.capabilities().lease {
        return Err(crate::error::UsageError::new(format!("`{}` targets keep no record a time to live could be kept in", cx.target.kind))
            .hint("deploy without --ttl, and remove the stage with `aideploy destroy --stage NAME`")
            .into());
    }
    Ok(Some(crate::util::now_secs() + ttl.as_secs()))
}

/// The deploy: build, read, plan, confirm, apply, report. `Ok` carries the report even
/// when health failed; its exit code says so. With `--ttl`, the stage's expiry is written
/// into its lease record, also when the deploy fails (a half-made preview is collected
/// by `gc` too) or has nothing to change.
pub async fn deploy<T: Target>(cx: &Cx, target: &T, ui: &Ui) -> Result<DeployReport> {
    let expires = stage_expiry(cx, target)?;
    login(cx, target).await?;
    let started = Instant::now();
    ui.info(&header(cx));
    let r = ui.reporter();
    let artifact = target.build(cx, &r).await?;
    r.step("reading what is deployed");
    let seen = target.observe(cx).await?;
    r.done();
    let now = target.deployed(cx, &seen);
    let plan = target.plan(cx, &seen, &artifact);
    let shown = plan.display();
    for w in &shown.warnings {
        r.warn(w);
    }
    ui.info(&shown.render());
    if plan.makes_release() {
        if let Some(note) = super::checks::plan_note(&cx.loaded.manifest.checks) {
            ui.info(&note);
        }
    }

    let mut report = DeployReport {
        target: cx.target.name.clone(),
        kind: cx.target.kind.to_string(),
        stage: cx.stage.to_string(),
        url: now.as_ref().and_then(|d| d.url.clone()),
        changed: false,
        artifact: artifact.info.clone(),
        actions: shown.actions,
        health: now.as_ref().map(|d| d.health).unwrap_or(Health::Skipped),
        duration_ms: 0,
        failure: None,
        cost: crate::cost::estimate(&cx.loaded.manifest, &cx.target),
        expires_at: expires.map(crate::util::iso8601),
        checks: Vec::new(),
        rolled_back: false,
        checks_skipped: None,
    };
    if plan.has_changes() {
        target.preflight(cx, &seen)?;
        if target.needs_confirmation(&plan) && !ui.confirm("Apply these changes?")? {
            anyhow::bail!(crate::error::Hinted::new("cancelled: nothing was changed", "run again and answer yes, or pass --yes"));
        }
        let held = lease(cx, target, "deploy", ui, &r).await?;
        let applied = async {
            // Another run may have changed things while this one waited: plan again from
            // what is there now, and apply only what is still to do.
            // What the build read of the registry (what a push would upload) is stale too
            // when another run held the lease first: build again (a cache hit) to read it anew.
            let rebuilt = match &held {
                Some(h) if h.waited => Some(target.build(cx, &r).await?),
                _ => None,
            };
            let artifact = rebuilt.as_ref().unwrap_or(&artifact);
            let (seen, plan) = if held.is_some() {
                let seen = target.observe(cx).await?;
                let plan = target.plan(cx, &seen, artifact);
                (seen, plan)
            } else {
                (seen, plan)
            };
            if !plan.has_changes() {
                ui.info("Nothing left to do: another run already applied these changes.");
                return Ok(None);
            }
            let outcome = target.apply(cx, &seen, artifact, &plan, &r).await?;
            // Checks run while the lease is held, so a rollback they call for is this run's.
            let gate = match plan.makes_release() {
                true => super::checks::after_apply(cx, target, &outcome, &r).await,
                false => Default::default(),
            };
            anyhow::Ok(Some((outcome, plan.makes_release(), gate)))
        }
        .await;
        if let Some(mut h) = held {
            if expires.is_some() {
                *h.stage_expires_mut() = expires;
            }
            // Not when another run had already applied it all (this run made nothing),
            // nor when only what stands beside the app changed (a budget alert).
            if !matches!(applied, Ok(None) | Ok(Some((_, false, _)))) {
                let ended = match &applied {
                    Ok(Some((o, _, gate))) if o.health != Health::Failed && !gate.failed() => Ended::Released,
                    _ => Ended::Failed,
                };
                let release = made(cx, target, &artifact.info.digest, ended, h.holder()).await;
                release::record(h.history_mut(), release);
                if matches!(&applied, Ok(Some((_, _, gate))) if gate.rolled_back) {
                    restored(cx, target, &mut h).await;
                }
            }
            h.release(&r).await;
        }
        let Some((outcome, _, gate)) = applied? else {
            report.actions = target.plan(cx, &target.observe(cx).await?, &artifact).display().actions;
            report.duration_ms = started.elapsed().as_millis() as u64;
            return Ok(report);
        };
        r.done();
        report.changed = outcome.actions.iter().any(|a| a.op != Op::Noop);
        report.url = outcome.url;
        report.health = outcome.health;
        report.actions = outcome.actions;
        // Health-check answers and log tails shown on failure: redacted like all output.
        report.failure = outcome.failure.map(|f| cx.secrets.redact(&f));
        if gate.failed() {
            report.failure = gate.failure.map(|f| cx.secrets.redact(&f));
            report.rolled_back = gate.rolled_back;
            if let Some(url) = gate.rollback.and_then(|o| o.url) {
                report.url = Some(url);
            }
        }
        report.checks = gate.results;
        report.checks_skipped = gate.skipped;
        if let Some(p) = outcome.pushed {
            report.artifact.reference = p.reference.or(report.artifact.reference);
            report.artifact.uploaded_bytes = p.uploaded_bytes;
        }
    } else if expires.is_some() {
        // Nothing to change, but a new time to live to record.
        if let Some(mut h) = lease(cx, target, "deploy", ui, &r).await? {
            *h.stage_expires_mut() = expires;
            h.release(&r).await;
        }
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// The record of the release a deploy just made: the platform's newest kept release of
/// the artifact is the one (a failed one too, when the platform keeps it), read anew.
async fn made<T: Target>(cx: &Cx, target: &T, digest: &str, ended: Ended, by: &str) -> Release {
    let kept = match target.observe(cx).await {
        Ok(seen) => target.releases(cx, &seen),
        Err(e) => {
            tracing::debug!("reading the release just made failed: {e:#}");
            Vec::new()
        }
    };
    let id = kept.into_iter().find(|k| k.digest == digest).map(|k| k.id);
    Release::new(cx, digest, id, ended, by)
}

/// Where a platform's rollback made a release of its own (a new deployment copying the
/// old one), that is what serves now: recorded as such.
async fn restored<T: Target>(cx: &Cx, target: &T, h: &mut super::lease::Held) {
    let by = h.holder().to_string();
    match target.observe(cx).await {
        Ok(seen) => {
            if let Some(live) = target.releases(cx, &seen).into_iter().find(|k| k.live) {
                release::restored(h.history_mut(), &live, &by);
            }
        }
        Err(e) => tracing::debug!("reading what serves after the rollback failed: {e:#}"),
    }
}

#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub target: String,
    pub kind: String,
    pub stage: String,
    pub actions: Vec<Action>,
    pub warnings: Vec<String>,
    /// What the target costs a month by aideploy's price table (src/cost).
    pub cost: crate::cost::Estimate,
    /// `plan --ttl`: the expiry a `deploy --ttl` now would record (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip)]
    pub rendered: String,
}

/// What a deploy would do. Builds locally and reads; changes nothing anywhere.
pub async fn plan<T: Target>(cx: &Cx, target: &T, ui: &Ui) -> Result<PlanReport> {
    let expires = stage_expiry(cx, target)?;
    login(cx, target).await?;
    ui.info(&header(cx));
    let r = ui.reporter();
    let artifact = target.build(cx, &r).await?;
    r.step("reading what is deployed");
    let seen = target.observe(cx).await?;
    r.done();
    let planned = target.plan(cx, &seen, &artifact);
    let plan = planned.display();
    let mut rendered = plan.render();
    if let Some(note) = planned.makes_release().then(|| super::checks::plan_note(&cx.loaded.manifest.checks)).flatten() {
        rendered.push_str(&format!("\n{note}"));
    }
    Ok(PlanReport {
        target: cx.target.name.clone(),
        kind: cx.target.kind.to_string(),
        stage: cx.stage.to_string(),
        rendered,
        warnings: plan.warnings,
        actions: plan.actions,
        cost: crate::cost::estimate(&cx.loaded.manifest, &cx.target),
        expires_at: expires.map(crate::util::iso8601),
    })
}

pub async fn build<T: Target>(cx: &Cx, target: &T, ui: &Ui) -> Result<ArtifactInfo> {
    ui.info(&header(cx));
    let r = ui.reporter();
    let artifact = target.build(cx, &r).await?;
    r.done();
    Ok(artifact.info)
}

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub target: String,
    pub kind: String,
    pub stage: String,
    pub deployed: bool,
    pub url: Option<String>,
    pub health: Option<Health>,
    pub digest: Option<String>,
    /// When the serving version was made, as the cloud records it (RFC 3339, UTC).
    pub deployed_at: Option<String>,
    /// Who made it, when the cloud records that.
    pub deployed_by: Option<String>,
    pub details: serde_json::Map<String, serde_json::Value>,
    /// `status --metrics`: requests, errors and latency (deployed targets only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<super::Metrics>,
    /// When `gc` may destroy this stage (`deploy --ttl`), from its lease record in the
    /// target's cloud (RFC 3339, UTC); `null` when it has no time to live.
    pub expires_at: Option<String>,
}

impl StatusReport {
    pub fn exit_code(&self) -> u8 {
        exit_for(self.health)
    }
}

pub async fn status<T: Target>(cx: &Cx, target: &T, metrics: Option<std::time::Duration>) -> Result<StatusReport> {
    login(cx, target).await?;
    let seen = target.observe(cx).await?;
    let now = target.deployed(cx, &seen);
    // Metrics that cannot be read (no permission) say why; the status still shows.
    let metrics = match metrics {
        Some(window) if now.is_some() => {
            Some(target.metrics(cx, &seen, window).await.unwrap_or_else(|e| super::Metrics::failed(window, &e)))
        }
        _ => None,
    };
    Ok(StatusReport {
        expires_at: stage_expires(cx, target).await.map(crate::util::iso8601),
        target: cx.target.name.clone(),
        kind: cx.target.kind.to_string(),
        stage: cx.stage.to_string(),
        deployed: now.is_some(),
        url: now.as_ref().and_then(|d| d.url.clone()),
        health: now.as_ref().map(|d| d.health),
        digest: now.as_ref().map(|d| d.digest.clone()),
        deployed_at: now.as_ref().and_then(|d| d.deployed_at.clone()),
        deployed_by: now.as_ref().and_then(|d| d.deployed_by.clone()),
        details: now.map(|d| d.details).unwrap_or_default(),
        metrics,
    })
}

/// The stage's expiry its lease record holds, read only (no bucket or record is made).
/// A record that cannot be read shows as no expiry: the status still shows.
async fn stage_expires<T: Target>(cx: &Cx, target: &T) -> Option<u64> {
    let read = async {
        let Some(store) = target.lease_record(cx).await? else { return anyhow::Ok(None) };
        Ok(store.read().await?.and_then(|(rec, _)| rec.stage_expires))
    };
    read.await.unwrap_or_else(|e| {
        tracing::debug!("reading the stage's expiry failed: {e:#}");
        None
    })
}

#[derive(Debug, Serialize)]
pub struct DestroyReport {
    pub target: String,
    pub kind: String,
    pub stage: String,
    pub actions: Vec<Action>,
    /// What is left behind on purpose (a soft-deleted store holding its name) and how to
    /// remove it for good.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leaves: Vec<String>,
    pub duration_ms: u64,
}

/// Removes everything of this app, stage and target: every resource is listed before
/// the question; a purge (irreversible) gets a second question of its own, default no,
/// which `--yes` answers too.
pub async fn destroy<T: Target>(cx: &Cx, target: &T, ui: &Ui) -> Result<DestroyReport> {
    login(cx, target).await?;
    let started = Instant::now();
    ui.info(&header(cx));
    let r = ui.reporter();
    r.step("reading what is deployed");
    let seen = target.observe(cx).await?;
    r.done();
    let mut report = DestroyReport {
        target: cx.target.name.clone(),
        kind: cx.target.kind.to_string(),
        stage: cx.stage.to_string(),
        actions: Vec::new(),
        leaves: Vec::new(),
        duration_ms: 0,
    };
    let mut plan = target.plan_destroy(cx, &seen);
    // The run's context without `--purge`, when the purge question is answered no.
    let unpurged: Cx;
    let mut cx = cx;
    if plan.has_changes() {
        ui.info(&plan.display().render());
        if target.capabilities().lease {
            // Not a row of the target's plan, but deleted all the same.
            ui.info("  and, last, this app's deploy lease record (what keeps two runs apart)");
        }
        if !ui.confirm("Destroy these resources?")? {
            anyhow::bail!(crate::error::Hinted::new("cancelled: nothing was removed", "run again and answer yes, or pass --yes"));
        }
        let purges = plan.irreversible();
        if !purges.is_empty() {
            let list: Vec<String> = purges.iter().map(|a| format!("  {} {}", a.resource, a.id)).collect();
            ui.info(&format!("Purging cannot be undone:\n{}", list.join("\n")));
            if !ui.confirm("Also purge (no: deleted, but kept soft-deleted and recoverable)?")? {
                unpurged = Cx { purge: false, ..cx.clone() };
                cx = &unpurged;
                plan = target.plan_destroy(cx, &seen);
            }
        }
        let held = lease(cx, target, "destroy", ui, &r).await?;
        let destroyed = async {
            if let Some(h) = held.as_ref().filter(|_| cx.expired_only) {
                if h.stage_expires().is_none_or(|at| at > crate::util::now_secs()) {
                    return Err(super::gc::Extended { stage: cx.stage.to_string() }.into());
                }
            }
            let (seen, plan) = if held.is_some() {
                let seen = target.observe(cx).await?;
                let plan = target.plan_destroy(cx, &seen);
                (seen, plan)
            } else {
                (seen, plan)
            };
            if !plan.has_changes() {
                return Ok(None);
            }
            let outcome = target.destroy(cx, &seen, &plan, &r).await?;
            anyhow::Ok(Some((outcome, plan.leaves())))
        }
        .await;
        match held {
            // Everything else is gone: the lease record goes last.
            Some(mut h) if destroyed.is_ok() => {
                // Its releases are gone with it, and there is no stage left to expire.
                h.history_mut().clear();
                *h.stage_expires_mut() = None;
                h.release_and_remove(&r).await
            }
            Some(h) => h.release(&r).await,
            None => {}
        }
        if let Some((outcome, leaves)) = destroyed? {
            r.done();
            report.actions = outcome.actions;
            report.leaves = leaves;
        }
    } else {
        // Nothing to remove, but maybe something kept on purpose (a soft-deleted store).
        report.leaves = plan.leaves();
        // Nothing else left: a free lease record a failed run left goes too. Only a
        // warning when that fails: nothing of the app depends on it.
        let leftover = async {
            let Some(store) = target.lease_leftover(cx).await? else { return anyhow::Ok(None) };
            let location = store.location();
            Ok(super::lease::remove_if_free(store).await?.then_some(location))
        };
        match leftover.await {
            Ok(Some(location)) => ui.info(&format!("Deleted the deploy lease a previous run left at {location}.")),
            Ok(None) => {}
            Err(e) => r.warn(&format!("could not check for a deploy lease left behind: {e:#}")),
        }
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

#[derive(Debug, Serialize)]
pub struct HistoryReport {
    pub target: String,
    pub kind: String,
    pub stage: String,
    /// Newest first.
    pub releases: Vec<release::Row>,
    /// Where aideploy's record of them is kept, when there is one.
    pub recorded_in: Option<String>,
}

/// The releases of this app, stage and target: aideploy's record joined with what the
/// platform keeps. Read calls only.
pub async fn history<T: Target>(cx: &Cx, target: &T) -> Result<HistoryReport> {
    login(cx, target).await?;
    let seen = target.observe(cx).await?;
    let kept = target.releases(cx, &seen);
    let (recorded, recorded_in) = match target.lease_record(cx).await? {
        Some(store) => (store.read().await?.map(|(rec, _)| rec.releases).unwrap_or_default(), Some(store.location())),
        None => (Vec::new(), None),
    };
    Ok(HistoryReport {
        target: cx.target.name.clone(),
        kind: cx.target.kind.to_string(),
        stage: cx.stage.to_string(),
        releases: release::rows(&recorded, &kept),
        recorded_in,
    })
}

/// The deployed app's log, through `out`.
pub async fn logs<T: Target>(cx: &Cx, target: &T, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
    login(cx, target).await?;
    let seen = target.observe(cx).await?;
    if target.deployed(cx, &seen).is_none() {
        return Err(crate::error::UsageError::new(format!("{} ({}) is not deployed to {}", cx.app_name(), cx.stage, cx.target.name))
            .hint(format!("deploy it first: aideploy deploy --target {}", cx.target.name))
            .into());
    }
    target.logs(cx, &seen, query, out).await
}
