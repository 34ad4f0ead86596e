//! Carrying out a local plan: start the new version, switch the stable port to it once
//! healthy, stop what served before; rollback and destroy.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::plan::{self, starts_app, starts_proxy, Step};
use super::process;
use super::run::{self, STOP_GRACE};
use super::state::{self, changed_since, Now, Observed, State};
use super::{deployment_dir, desired, front_port, health_timeout, new_salt, url, Source};
use crate::engine::{health, Action, Built, Change, Cx, Health, Outcome, Planned, Reporter};
use crate::error::Hinted;
use crate::util::{write_atomic, FileLock};

pub async fn apply(cx: &Cx, seen: &Observed, artifact: &Built<Source>, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let dir = deployment_dir(cx)?;
    fs_err::create_dir_all(dir.join("logs"))?;
    let _lock = FileLock::acquire(&dir.join("lock"))?;
    // Another command (a second deploy started at the same time) may have changed the
    // deployment while this one built and planned: plan again from what is there now.
    let fresh;
    let (seen, plan) = if changed_since(&dir, seen)? {
        r.warn("another aideploy command changed this deployment meanwhile; planning again from its result");
        let current = state::observe(&dir).await?;
        let replanned = plan::plan(cx, &current, artifact);
        fresh = (current, replanned);
        (&fresh.0, &fresh.1)
    } else {
        (seen, plan)
    };
    let now = seen.now();
    let front = front_port(cx);
    let restart_proxy = starts_proxy(plan);
    check_front_port(cx, now, front, restart_proxy)?;

    let salt = now.map(|n| n.state.salt.clone()).unwrap_or_else(new_salt);
    let serving = if starts_app(plan) {
        let release = run::ensure_release(&dir, &artifact.info.digest, &artifact.data.sources)?;
        let version = desired(cx, artifact, release.clone(), &salt);
        match run::start(&dir, &version, &cx.secrets, health_timeout(cx), cx.poll, r).await? {
            Ok(s) => Some(s),
            Err(why) => {
                let keeps = now.is_some_and(|n| n.app_alive);
                if now.is_none_or(|n| {
                    n.state.serving.version.release != release && n.state.previous.as_ref().is_none_or(|p| p.release != release)
                }) {
                    let _ = fs_err::remove_dir_all(&release);
                }
                let kept = if keeps { "the previous version keeps serving" } else { "nothing is serving" };
                return Ok(failed(now, plan, format!("{why}\n({kept})")));
            }
        }
    } else {
        None
    };
    let state = match (now, serving) {
        (Some(n), Some(s)) => {
            // A restart of the same version keeps the older one for rollback.
            let (previous, previous_since) =
                if n.state.serving.version.artifact != s.version.artifact || n.state.serving.version.config != s.version.config {
                    (Some(n.state.serving.version.clone()), Some(n.state.serving.since))
                } else {
                    (n.state.previous.clone(), n.state.previous_since)
                };
            State { previous, previous_since, serving: s, ..n.state.clone() }
        }
        (Some(n), None) => n.state.clone(),
        (None, Some(s)) => State {
            app: cx.app_name().into(),
            stage: cx.stage.to_string(),
            front_port: front,
            proxy: None,
            salt,
            serving: s,
            previous: None,
            previous_since: None,
        },
        (None, None) => {
            return Err(
                Hinted::new("the plan for a first deploy starts no process", "run the deploy again; if it persists, report it").into()
            )
        }
    };
    let state = switch(&dir, now, state, front, restart_proxy, cx, r).await?;
    verified(&state, rows(plan), &dir).await
}

pub async fn rollback(cx: &Cx, seen: &Observed, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let dir = deployment_dir(cx)?;
    let _lock = FileLock::acquire(&dir.join("lock"))?;
    unchanged_since(cx, &dir, seen)?;
    let Some((n, prev)) = seen.now().and_then(|n| n.state.previous.clone().map(|p| (n, p))) else {
        return Err(
            Hinted::new(format!("{} ({}) has no previous version to roll back to", cx.app_name(), cx.stage), "deploy it first").into()
        );
    };
    // The plan names the version it goes back to: the state is unchanged since (above),
    // so this is the one it named.
    let named = plan.changes.iter().find_map(|c| if let Step::RestoreApp { to, .. } = c { Some(to.as_str()) } else { None });
    if named.is_some_and(|to| to != super::release_id(&prev)) {
        return Err(Hinted::new(
            format!("{} ({}) no longer keeps the version the rollback plan named", cx.app_name(), cx.stage),
            "run the command again: it plans from what is deployed now",
        )
        .into());
    }
    if !prev.release.join(run::COMPLETE).is_file() {
        return Err(Hinted::new("the previous version's snapshot is gone", "deploy the version you want from source instead").into());
    }
    match run::start(&dir, &prev, &cx.secrets, health_timeout(cx), cx.poll, r).await? {
        Err(why) => Ok(failed(Some(n), plan, format!("{why}\n(the current version keeps serving)"))),
        Ok(s) => {
            let state = State {
                previous: Some(n.state.serving.version.clone()),
                previous_since: Some(n.state.serving.since),
                serving: s,
                ..n.state.clone()
            };
            let state = switch(&dir, Some(n), state, n.state.front_port, starts_proxy(plan), cx, r).await?;
            verified(&state, rows(plan), &dir).await
        }
    }
}

pub async fn destroy(cx: &Cx, seen: &Observed, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let dir = deployment_dir(cx)?;
    let Some(n) = seen.now() else {
        if !plan.changes.iter().any(|c| matches!(c, Step::RemoveFiles { .. })) {
            return Ok(Outcome { url: None, health: Health::Skipped, actions: Vec::new(), failure: None, pushed: None });
        }
        // What a failed first deploy left. A deploy still under way holds the lock: wait
        // for it, and keep what it made if it recorded a deployment meanwhile.
        let lock = FileLock::acquire(&dir.join("lock"))?;
        if dir.join("state.json").exists() {
            return Err(Hinted::new(
                format!("{} ({}) was deployed by another aideploy command while this one was planning", cx.app_name(), cx.stage),
                "run the command again: it plans from what is deployed now",
            )
            .into());
        }
        r.step("removing the files a failed deploy left");
        drop(lock);
        fs_err::remove_dir_all(&dir)?;
        r.done();
        return Ok(Outcome { url: None, health: Health::Skipped, actions: rows(plan), failure: None, pushed: None });
    };
    let lock = FileLock::acquire(&dir.join("lock"))?;
    unchanged_since(cx, &dir, seen)?;
    r.step("stopping processes");
    // Without its upstream file the proxy exits by itself, too.
    let _ = fs_err::remove_file(dir.join("upstream"));
    for step in &plan.changes {
        match step {
            // `stop` signals only a process that is still the one aideploy started.
            Step::StopApp { .. } => tokio::task::block_in_place(|| n.state.serving.proc.stop(STOP_GRACE)),
            Step::StopProxy { .. } => {
                if let Some(p) = n.state.proxy {
                    tokio::task::block_in_place(|| p.stop(STOP_GRACE));
                }
            }
            _ => {}
        }
    }
    r.done();
    drop(lock);
    if plan.changes.iter().any(|c| matches!(c, Step::RemoveFiles { .. })) {
        fs_err::remove_dir_all(&dir)?;
    }
    Ok(Outcome { url: None, health: Health::Skipped, actions: rows(plan), failure: None, pushed: None })
}

fn rows(plan: &Planned<Step>) -> Vec<Action> {
    plan.changes.iter().map(Change::row).collect()
}

/// Rollback and destroy act on the version they showed: refuse when it changed meanwhile.
fn unchanged_since(cx: &Cx, dir: &Path, seen: &Observed) -> Result<()> {
    if changed_since(dir, seen)? {
        return Err(Hinted::new(
            format!("{} ({}) was changed by another aideploy command while this one was planning", cx.app_name(), cx.stage),
            "run the command again: it plans from what is deployed now",
        )
        .into());
    }
    Ok(())
}

/// A front port that another program holds is an error before anything starts.
fn check_front_port(cx: &Cx, now: Option<&Now>, front: u16, restart_proxy: bool) -> Result<()> {
    let ours = now.is_some_and(|n| n.proxy_alive && n.state.front_port == front);
    // A public proxy binds every interface: a program on any of them is in the way.
    let taken = process::port_in_use(front) || (super::public(cx) && std::net::TcpListener::bind(("0.0.0.0", front)).is_err());
    if restart_proxy && !ours && taken {
        return Err(Hinted::new(format!("port {front} is in use by another program"), run::port_hint(front, &cx.target.name)).into());
    }
    Ok(())
}

fn failed(now: Option<&Now>, plan: &Planned<Step>, failure: String) -> Outcome {
    Outcome { url: now.map(|n| url(n.state.front_port)), health: Health::Failed, actions: rows(plan), failure: Some(failure), pushed: None }
}

/// Points the stable port at `state.serving` (starting the proxy when asked), records
/// the state, then stops what served before and prunes old snapshots and logs.
async fn switch(
    dir: &Path,
    now: Option<&Now>,
    mut state: State,
    front: u16,
    restart_proxy: bool,
    cx: &Cx,
    r: &dyn Reporter,
) -> Result<State> {
    let upstream = dir.join("upstream");
    write_atomic(&upstream, state.serving.port.to_string().as_bytes())?;
    if restart_proxy {
        let public = state.serving.version.public;
        r.step(&format!("serving on {}", run::front_address(public, front)));
        if let Some(old) = now.and_then(|n| n.state.proxy) {
            tokio::task::block_in_place(|| old.stop(STOP_GRACE));
        }
        state.proxy = Some(run::start_proxy(dir, front, public, &upstream, &cx.target.name, cx.poll, r).await?);
        state.front_port = front;
        r.done();
    }
    write_atomic(&dir.join("state.json"), &serde_json::to_vec_pretty(&state)?)?;
    if let Some(old) = now.filter(|n| n.app_alive).map(|n| n.state.serving.proc).filter(|p| *p != state.serving.proc) {
        r.step("stopping the previous version");
        tokio::task::block_in_place(|| old.stop(STOP_GRACE));
        r.done();
    }
    prune(dir, &state);
    Ok(state)
}

/// Checks the stable URL answers, and reports.
async fn verified(state: &State, actions: Vec<Action>, dir: &Path) -> Result<Outcome> {
    let front_url = url(state.front_port);
    let ok = health::probe(&format!("{front_url}{}", state.serving.version.health)).await;
    let failure = (!ok).then(|| {
        format!("the app answered directly, but not through 127.0.0.1:{}; see {}", state.front_port, dir.join("proxy.log").display())
    });
    Ok(Outcome { url: Some(front_url), health: if ok { Health::Passed } else { Health::Failed }, actions, failure, pushed: None })
}

/// Removes snapshots other than the serving and the previous one, and all but the
/// newest logs.
fn prune(dir: &Path, state: &State) {
    let keep: Vec<&PathBuf> = std::iter::once(&state.serving.version.release).chain(state.previous.as_ref().map(|p| &p.release)).collect();
    if let Ok(entries) = std::fs::read_dir(dir.join("releases")) {
        for e in entries.flatten() {
            if !keep.contains(&&e.path()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir.join("logs")) {
        let mut logs: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        logs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        let n = logs.len();
        for p in logs.into_iter().take(n.saturating_sub(5)) {
            if p != state.serving.log {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}
