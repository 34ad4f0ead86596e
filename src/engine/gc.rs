//! `gc`: the preview stages whose time to live (`deploy --ttl`) has passed, as each
//! target's cloud records it in the stage's lease record, and what removes them (the
//! destroy flow, stage by stage, then the expiry is forgotten).

use anyhow::Result;

use super::lease::{self, LeaseRecord, StageRecord};
use super::target::Target;
use super::{Cx, Plan};
use crate::ui::Ui;

/// What `gc` makes of one stage's record at `now` (seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Its expiry has passed and nobody holds its lease: `gc` destroys it.
    Expired { at: u64 },
    /// Its expiry has passed, but a run holds its lease now (a deploy extending it, a
    /// destroy): left alone this time.
    Held { at: u64, by: String },
    /// No expiry, or one still to come.
    Kept { expires: Option<u64> },
}

/// What a `gc` destroy answers when, by the time it held the stage's lease, a deploy
/// had given the stage a new time to live (or none): the stage is kept.
#[derive(Debug)]
pub struct Extended {
    pub stage: String,
}

impl std::fmt::Display for Extended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stage {} was deployed again with a new time to live since gc listed it: kept", self.stage)
    }
}

impl std::error::Error for Extended {}

pub fn verdict(record: &LeaseRecord, now: u64) -> Verdict {
    match record.stage_expires {
        Some(at) if at <= now && !record.is_stale(now) => Verdict::Held { at, by: record.describe() },
        Some(at) if at <= now => Verdict::Expired { at },
        expires => Verdict::Kept { expires },
    }
}

/// Every stage of the app on `target`, from its cloud (read calls only).
pub async fn stages<T: Target>(cx: &Cx, target: &T) -> Result<Vec<StageRecord>> {
    super::flow::login(cx, target).await?;
    let mut found = target.stages(cx).await?;
    found.sort_by(|a, b| a.stage.cmp(&b.stage));
    Ok(found)
}

/// What destroying the stage of `cx` would remove (read calls only).
pub async fn destroy_plan<T: Target>(cx: &Cx, target: &T) -> Result<Plan> {
    let seen = target.observe(cx).await?;
    Ok(target.plan_destroy(cx, &seen).display())
}

/// After the stage of `cx` was destroyed: a record left with an expiry (a store that
/// keeps its records in a shared place, and a destroy that found nothing to remove and
/// so took no lease) loses it, so the next `gc` does not list the stage again. Writes
/// nothing when there is no such record.
pub async fn forget<T: Target>(cx: &Cx, target: &T, ui: &Ui) -> Result<()> {
    let Some(store) = target.lease_record(cx).await? else { return Ok(()) };
    if !matches!(store.read().await?, Some((rec, _)) if rec.stage_expires.is_some()) {
        return Ok(());
    }
    let r = ui.reporter();
    let mut held = lease::acquire(store, "gc", ui.lock_timeout, &r).await?;
    *held.stage_expires_mut() = None;
    held.history_mut().clear();
    held.release_and_remove(&r).await;
    Ok(())
}

#[cfg(test)]
#[path = "gc_tests.rs"]
mod flow_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn record(stage_expires: Option<u64>, released: bool, expires: u64) -> LeaseRecord {
        LeaseRecord {
            id: "x".into(),
            holder: "ci@elsewhere".into(),
            host: "elsewhere".into(),
            pid: 1,
            command: "deploy".into(),
            since: 100,
            expires,
            released,
            releases: Vec::new(),
            stage_expires,
        }
    }

    #[test]
    fn a_passed_expiry_is_expired_unless_the_lease_is_held() {
        let now = 1_000;
        // Given back, expiry passed (and exactly now): expired.
        assert_eq!(verdict(&record(Some(900), true, 200), now), Verdict::Expired { at: 900 });
        assert_eq!(verdict(&record(Some(1_000), true, 200), now), Verdict::Expired { at: 1_000 });
        // Not given back, but the lease itself lapsed (its run died): expired too.
        assert_eq!(verdict(&record(Some(900), false, 999), now), Verdict::Expired { at: 900 });
        // A run of another machine holds it now: skipped, naming the holder.
        match verdict(&record(Some(900), false, 1_100), now) {
            Verdict::Held { at: 900, by } => assert!(by.contains("deploy by ci@elsewhere"), "{by}"),
            other => panic!("a held lease: {other:?}"),
        }
        // Still to come, or no time to live at all: kept.
        assert_eq!(verdict(&record(Some(1_001), true, 200), now), Verdict::Kept { expires: Some(1_001) });
        assert_eq!(verdict(&record(None, true, 200), now), Verdict::Kept { expires: None });
        assert_eq!(verdict(&record(None, false, 1_100), now), Verdict::Kept { expires: None });
    }
}
