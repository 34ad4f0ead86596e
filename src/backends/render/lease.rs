//! The render target's deploy lease: an environment group of its own per app, stage and
//! target in the workspace, `aideploy-lease-{app}-{stage}-{target}`, holding the lease
//! record in its variable `AIDEPLOY_LEASE` and aideploy's owner mark in
//! `AIDEPLOY_OWNER`. Linked to no service.
//!
//! Why an environment group: the lease must exist before the service does (a first
//! deploy creates the service, and two first deploys must not both create one), and it
//! must not be something the service's own deploys rewrite. Render's API has no write
//! with a precondition, so the group is a plain register under the engine's settled
//! lease (`engine::settled`). Render does not keep group names unique: when two first
//! runs both create one, the oldest group (by `createdAt`, then id) is the register for
//! everyone, and each run deletes the newer one it created itself once its claim has
//! settled. Destroy deletes the group last.

use anyhow::Result;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use super::api::{q, Api, EnvVar};
use crate::backends::paas::owner::{mark, OWNER_VAR};
use crate::engine::lease::{LeaseRecord, StageRecord};
use crate::engine::settled::{Register, Settled};
use crate::engine::Cx;
use crate::error::Hinted;

/// The variable holding the record.
const LEASE_VAR: &str = "AIDEPLOY_LEASE";

pub struct EnvGroupRegister {
    api: Api,
    owner: String,
    name: String,
    /// `AIDEPLOY_OWNER`'s value for this app, stage and target.
    mark: String,
    /// Groups this run created (a concurrent first run may have created the register).
    created: Mutex<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupMeta {
    id: String,
    name: String,
    owner_id: String,
    #[serde(default)]
    created_at: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Group {
    #[serde(default)]
    env_vars: Vec<EnvVar>,
}

/// The lease of `cx`'s app, stage and target in workspace `owner`.
pub fn store(cx: &Cx, api: Api, owner: String) -> Settled<EnvGroupRegister> {
    Settled::new(EnvGroupRegister { api, owner, name: group_name(cx), mark: mark(cx), created: Mutex::new(Vec::new()) })
}

/// The lease group's name for `cx`'s app, stage and target.
fn group_name(cx: &Cx) -> String {
    format!("aideploy-lease-{}-{}", cx.resource_base(), cx.target.name)
}

/// The most groups one page of `GET /env-groups` holds (its `limit`'s maximum).
const PAGE: usize = 100;

/// The stage a listed group is the lease of: the one its owner mark
/// (`{app}/{stage}/{target}`: names hold no `/`) names for this app and target, when the
/// group's name is that stage's lease name. The name alone cannot tell app `a-b` stage `c`
/// from app `a` stage `b-c`; the mark can.
fn stage_of(cx: &Cx, name: &str, owner_mark: Option<&str>) -> Option<crate::manifest::Stage> {
    let mut parts = owner_mark?.split('/');
    let (app, stage, target) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || app != cx.app_name() || target != cx.target.name {
        return None;
    }
    let stage: crate::manifest::Stage = stage.parse().ok()?;
    let mut other = cx.clone();
    other.stage = stage.clone();
    (group_name(&other) == name && mark(&other) == owner_mark?).then_some(stage)
}

/// A creation window (seconds since the epoch), `createdAfter`..`createdBefore`.
type Window = (u64, u64);

/// Every group a listing finds: `fetch(None)` is the first page of the whole list,
/// `fetch(Some(window))` the first page of the groups created in that window. A page holds
/// at most [`PAGE`] and its items carry no cursor to ask for the next one with, so a full
/// page's window is split in two, overlapping by a second (neither bound is documented as
/// inclusive or not), until each part fits in a page; groups met twice count once.
async fn all_groups<F, Fut>(now: u64, fetch: F) -> Result<Vec<GroupMeta>>
where
    F: Fn(Option<Window>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<GroupMeta>>>,
{
    let mut found: std::collections::BTreeMap<String, GroupMeta> = std::collections::BTreeMap::new();
    let mut todo: Vec<Option<Window>> = vec![None];
    while let Some(window) = todo.pop() {
        let page = fetch(window).await?;
        let full = page.len() >= PAGE;
        found.extend(page.into_iter().map(|g| (g.id.clone(), g)));
        if !full {
            continue;
        }
        let (after, before) = window.unwrap_or((0, now + 86_400));
        if before - after < 4 {
            anyhow::bail!(
                "Render lists more than {PAGE} environment groups created between {} and {}; aideploy cannot page through them",
                crate::util::iso8601(after),
                crate::util::iso8601(before)
            );
        }
        let mid = after + (before - after) / 2;
        todo.push(Some((after, mid + 1)));
        todo.push(Some((mid - 1, before)));
    }
    Ok(found.into_values().collect())
}

/// Every stage of `cx`'s app and target with a lease group in workspace `owner`, with its
/// record (of the oldest group of the name, as the lease reads it). Reads only.
pub async fn stages(cx: &Cx, api: &Api, owner: &str) -> Result<Vec<StageRecord>> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut groups = all_groups(now, |window| async move {
        let mut path = format!("/env-groups?ownerId={}&limit={PAGE}", q(owner));
        if let Some((after, before)) = window {
            let at = |t: u64| q(&crate::util::iso8601(t));
            path.push_str(&format!("&createdAfter={}&createdBefore={}", at(after), at(before)));
        }
        Ok(api.get_as::<Vec<GroupMeta>>(&path).await?.unwrap_or_default())
    })
    .await?;
    let prefix = format!("aideploy-lease-{}-", cx.app_name());
    let suffix = format!("-{}", cx.target.name);
    groups.retain(|g| g.owner_id == owner && g.name.starts_with(&prefix) && g.name.ends_with(&suffix));
    groups.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    let mut out: Vec<StageRecord> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for g in groups {
        // The oldest group of a name is the lease.
        if !seen.insert(g.name.clone()) {
            continue;
        }
        let Some(group) = api.get_as::<Group>(&format!("/env-groups/{}", q(&g.id))).await? else { continue };
        let Some(stage) = stage_of(cx, &g.name, var(&group.env_vars, OWNER_VAR)) else { continue };
        let record =
            serde_json::from_str(var(&group.env_vars, LEASE_VAR).unwrap_or_default()).unwrap_or_else(|_| LeaseRecord::unreadable());
        out.push(StageRecord { stage: stage.to_string(), record });
    }
    out.sort_by(|a, b| a.stage.cmp(&b.stage));
    Ok(out)
}

impl EnvGroupRegister {
    /// The workspace's groups of this name, oldest first.
    async fn groups(&self) -> Result<Vec<GroupMeta>> {
        let path = format!("/env-groups?name={}&ownerId={}&limit=100", q(&self.name), q(&self.owner));
        let mut found: Vec<GroupMeta> = self.api.get_as(&path).await?.unwrap_or_default();
        found.retain(|g| g.name == self.name && g.owner_id == self.owner);
        found.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(found)
    }

    async fn vars(&self, id: &str) -> Result<Option<Vec<EnvVar>>> {
        Ok(self.api.get_as::<Group>(&format!("/env-groups/{}", q(id))).await?.map(|g| g.env_vars))
    }
}

fn var<'a>(vars: &'a [EnvVar], key: &str) -> Option<&'a str> {
    vars.iter().find(|v| v.key == key).map(|v| v.value.as_deref().unwrap_or_default())
}

#[async_trait]
impl Register for EnvGroupRegister {
    fn location(&self) -> String {
        format!("Render environment group {}", self.name)
    }

    async fn load(&self) -> Result<Option<String>> {
        let Some(oldest) = self.groups().await?.into_iter().next() else { return Ok(None) };
        let Some(vars) = self.vars(&oldest.id).await? else { return Ok(None) };
        if var(&vars, OWNER_VAR) != Some(self.mark.as_str()) {
            return Err(Hinted::new(
                format!(
                    "Render environment group {} ({}) exists but is not aideploy's deploy lease for this app, stage and target (no {OWNER_VAR}={})",
                    self.name, oldest.id, self.mark
                ),
                format!("rename or delete environment group {} yourself, or rename the app or stage", self.name),
            )
            .into());
        }
        Ok(Some(var(&vars, LEASE_VAR).unwrap_or_default().to_string()))
    }

    async fn store(&self, text: &str) -> Result<()> {
        match self.groups().await?.into_iter().next() {
            Some(g) => {
                self.api.put(&format!("/env-groups/{}/env-vars/{LEASE_VAR}", q(&g.id)), &json!({"value": text})).await?;
            }
            None => {
                let body = json!({
                    "name": self.name,
                    "ownerId": self.owner,
                    "envVars": [{"key": OWNER_VAR, "value": self.mark}, {"key": LEASE_VAR, "value": text}],
                });
                // Sent again after a cut connection: a second group is what a concurrent
                // first run makes too (the oldest is the register; tidy deletes ours).
                let made = self.api.call_with(reqwest::Method::POST, "/env-groups", Some(&body), true).await?.unwrap_or_default();
                let made: GroupMeta = serde_json::from_value(made)
                    .map_err(|e| anyhow::anyhow!("Render API POST /env-groups answered what aideploy cannot read: {e}"))?;
                self.created.lock().await.push(made.id);
            }
        }
        Ok(())
    }

    async fn delete(&self) -> Result<()> {
        for g in self.groups().await? {
            if self.vars(&g.id).await?.is_some_and(|v| var(&v, OWNER_VAR) == Some(self.mark.as_str())) {
                self.api.delete(&format!("/env-groups/{}", q(&g.id))).await?;
            }
        }
        Ok(())
    }

    async fn tidy(&self) -> Result<()> {
        let mine = std::mem::take(&mut *self.created.lock().await);
        if mine.is_empty() {
            return Ok(());
        }
        let oldest = self.groups().await?.into_iter().next().map(|g| g.id);
        for id in mine.into_iter().filter(|id| Some(id) != oldest.as_ref()) {
            self.api.delete(&format!("/env-groups/{}", q(&id))).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(app: &str, stage: &str) -> Cx {
        let text = format!(
            "version = 1\n[app]\nname = \"{app}\"\nruntime = \"python3.11\"\nasgi = \"app.main:app\"\nport = 8000\n[targets.render]\nregion = \"frankfurt\"\n"
        );
        let mut cx = crate::engine::testing::cx(&text, "render", &[]);
        cx.stage = stage.parse().unwrap();
        cx
    }

    fn meta(id: usize, at: u64) -> GroupMeta {
        GroupMeta { id: format!("evg-{id}"), name: "g".into(), owner_id: "tea".into(), created_at: crate::util::iso8601(at) }
    }

    /// 250 groups, many made in the same second, listed newest first a page of 100 at a
    /// time: splitting the creation window finds each once; more than a page made within
    /// a few seconds is an error, never a short list.
    #[tokio::test]
    async fn every_group_is_found_though_pages_carry_no_cursor() {
        let now = 1_800_000_000;
        let all: Vec<(usize, u64)> = (0..250).map(|i| (i, 1_700_000_000 + (i as u64 / 7) * 13)).collect();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let list = |groups: Vec<(usize, u64)>| {
            let calls = &calls;
            move |window: Option<Window>| {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut page: Vec<GroupMeta> =
                    groups.iter().filter(|(_, t)| window.is_none_or(|(a, b)| a < *t && *t < b)).map(|(i, t)| meta(*i, *t)).collect();
                page.reverse();
                page.truncate(PAGE);
                async move { Ok(page) }
            }
        };
        let found = all_groups(now, list(all.clone())).await.unwrap();
        let mut ids: Vec<String> = found.iter().map(|g| g.id.clone()).collect();
        ids.sort();
        let mut want: Vec<String> = all.iter().map(|(i, _)| format!("evg-{i}")).collect();
        want.sort();
        assert_eq!(ids, want);
        assert!(calls.load(std::sync::atomic::Ordering::Relaxed) < 100, "a bounded number of pages");
        // Fewer than a page: one call.
        calls.store(0, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(all_groups(now, list(all[..99].to_vec())).await.unwrap().len(), 99);
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
        let crowded: Vec<(usize, u64)> = (0..150).map(|i| (i, 1_700_000_000)).collect();
        let err = all_groups(now, list(crowded)).await.unwrap_err();
        assert!(format!("{err}").contains("more than 100 environment groups"), "{err}");
    }

    /// App `a-b` stage `c` and app `a` stage `b-c` have the same lease group name; the
    /// stage comes from the owner mark, and each app finds only its own.
    #[test]
    fn a_listed_lease_group_names_its_stage_by_its_owner_mark_never_by_name() {
        let (ab_c, a_bc) = (cx("a-b", "c"), cx("a", "b-c"));
        let name = group_name(&ab_c);
        assert_eq!(name, group_name(&a_bc));
        assert_eq!(stage_of(&ab_c, &name, Some("a-b/c/render")).map(|s| s.to_string()), Some("c".into()));
        assert_eq!(stage_of(&a_bc, &name, Some("a/b-c/render")).map(|s| s.to_string()), Some("b-c".into()));
        assert_eq!(stage_of(&ab_c, &name, Some("a/b-c/render")), None);
        assert_eq!(stage_of(&a_bc, &name, Some("a-b/c/render")), None);
        assert_eq!(stage_of(&cx("a-b", "prod"), &name, Some("a-b/c/render")).map(|s| s.to_string()), Some("c".into()));
        // No mark, another target's, a stage whose lease name this is not, not a stage.
        assert_eq!(stage_of(&ab_c, &name, None), None);
        assert_eq!(stage_of(&ab_c, &name, Some("a-b/c/other")), None);
        assert_eq!(stage_of(&ab_c, &name, Some("a-b/d/render")), None);
        assert_eq!(stage_of(&ab_c, &name, Some("a-b/c/render/x")), None);
        assert_eq!(stage_of(&ab_c, "aideploy-lease-a-b-C-render", Some("a-b/C/render")), None);
    }
}
