//! What a rollback can go back to, and the plan to go back. App Service keeps no
//! versions of its own: the site's tags hold the digest serving now (`aideploy-digest`)
//! and the one that served before it (`aideploy-previous-digest`), whose image stays in
//! the registry. Those two are the releases `history` lists and `rollback --to` takes,
//! by the first 12 hex digits of the digest.

use anyhow::Result;

use super::names::{short, SLOT};
use super::observe::Observed;
use super::plan::{Change, Via};
use super::{not_deployed, tier};
use crate::engine::target::pick_kept;
use crate::engine::{Cx, Kept, Planned};
use crate::error::UsageError;

/// The serving digest, then the one before it (left out when it is the same image:
/// going back to it would change nothing the tags keep). App Service records neither's
/// creation time.
pub fn releases(seen: &Observed) -> Vec<Kept> {
    let Some(site) = &seen.site else { return Vec::new() };
    let live = site.config.digest();
    let kept = |digest: &str, live: bool| Kept { id: short(digest).to_string(), digest: digest.to_string(), created_at: None, live };
    let mut out: Vec<Kept> = live.iter().map(|d| kept(d, true)).collect();
    if let Some(prev) = site.previous().filter(|p| live.as_deref() != Some(*p)) {
        out.push(kept(prev, false));
    }
    out
}

/// `rollback`: back to the digest that served before the current one.
pub fn plan_rollback(cx: &Cx, seen: &Observed) -> Result<Planned<Change>> {
    let site = seen.site.as_ref().ok_or_else(|| not_deployed(cx))?;
    let Some(prev) = site.previous() else {
        return Err(UsageError::new(format!("{} ({}) has no earlier version on App Service to roll back to", cx.app_name(), cx.stage))
            .hint("rollback returns to the digest that served before the current one; deploy at least twice first")
            .into());
    };
    back_to(cx, seen, prev)
}

/// `rollback --to ID`: back to the kept release `id` names.
pub fn plan_rollback_to(cx: &Cx, seen: &Observed, id: &str) -> Result<Planned<Change>> {
    seen.site.as_ref().ok_or_else(|| not_deployed(cx))?;
    let kept = releases(seen);
    let to = pick_kept(cx, &kept, id)?;
    back_to(cx, seen, &to.digest)
}

/// The steps that put `digest` into service: a swap alone when slot `staging` holds it,
/// else the slot and a swap on tiers with slots, else the site in place.
fn back_to(cx: &Cx, seen: &Observed, digest: &str) -> Result<Planned<Change>> {
    let t = tier(cx)?;
    let to = digest.to_string();
    let changes = if t.slots && seen.slot_digest().as_deref() == Some(digest) {
        vec![Change::Back { to, via: Via::Swap { held: true } }]
    } else if t.slots {
        vec![
            Change::Back { to: to.clone(), via: Via::Slot(format!("{}/{SLOT}", seen.names.site)) },
            Change::Back { to, via: Via::Swap { held: false } },
        ]
    } else {
        vec![Change::Back { to, via: Via::Site(seen.names.site.clone()) }]
    };
    Ok(Planned::of(changes))
}

/// The digest a rollback plan goes back to.
pub fn target_of(plan: &Planned<Change>) -> Option<&str> {
    plan.changes.iter().find_map(|c| match c {
        Change::Back { to, .. } => Some(to.as_str()),
        _ => None,
    })
}
