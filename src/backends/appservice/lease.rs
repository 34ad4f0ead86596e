//! The appservice target's deploy lease: an empty resource group of its own per app,
//! stage and target, `aideploy-lease-{app}-{stage}-{target}`, whose tags hold the lease
//! record (in chunks: a tag value holds at most 256 characters).
//!
//! Nothing aideploy can write through ARM takes a precondition (resource groups and the
//! resources this target makes have no ETag to send in `If-Match`, and no create-only
//! PUT), so the group is a plain register under the engine's settled lease
//! (`engine::settled`): write the claim, wait, read it back. A group of its own rather
//! than tags on the app's group: that group may be the user's (`resource_group`), and a
//! deploy rewrites its tags. Destroy deletes the lease group last.

use std::collections::BTreeMap;

use anyhow::Result;
use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::arm::{Arm, API_RESOURCES};
use super::names::fit;
use super::{TAG_APP, TAG_STAGE, TAG_TARGET};
use crate::engine::lease::{LeaseRecord, StageRecord};
use crate::engine::settled::{Register, Settled};
use crate::engine::{Cx, Silent};
use crate::error::Hinted;

/// The tag marking the group as a lease, and the prefix of the record's chunks.
const TAG_LEASE: &str = "aideploy-lease";
/// ARM's longest tag value.
const CHUNK: usize = 256;
/// ARM's longest resource group name.
const MAX_GROUP: usize = 90;

pub struct GroupRegister {
    arm: Arm,
    sub: String,
    group: String,
    /// This app's, stage's and target's tags.
    tags: BTreeMap<String, String>,
    /// Where the group is (as last read), else where to create it.
    location: Mutex<String>,
}

/// The lease of `cx`'s app, stage and target.
pub fn store(cx: &Cx, sub: &str, location: String) -> Result<Settled<GroupRegister>> {
    let tags = super::tags(cx).into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string())).collect();
    let group = group_name(cx);
    Ok(Settled::new(GroupRegister { arm: Arm::from_env(cx.poll)?, sub: sub.to_string(), group, tags, location: Mutex::new(location) }))
}

/// The lease group's name for `cx`'s app, stage and target.
fn group_name(cx: &Cx) -> String {
    fit(&format!("aideploy-lease-{}-{}", cx.resource_base(), cx.target.name), MAX_GROUP, "-")
}

/// The stage a listed resource group is the lease of: its `aideploy-stage` tag, when the
/// group carries this app's and target's tags and the lease mark, and its name is the
/// lease group's name for that stage (the name alone cannot tell app `a-b` stage `c`
/// from app `a` stage `b-c`; the tags can). `None` for any other group.
fn stage_of(cx: &Cx, name: &str, tags: &BTreeMap<String, String>) -> Option<crate::manifest::Stage> {
    let is = |k: &str, v: &str| tags.get(k).is_some_and(|t| t == v);
    if !is(TAG_APP, cx.app_name()) || !is(TAG_TARGET, &cx.target.name) || !is(TAG_LEASE, "true") {
        return None;
    }
    let stage: crate::manifest::Stage = tags.get(TAG_STAGE)?.parse().ok()?;
    let mut other = cx.clone();
    other.stage = stage.clone();
    // Resource group names are case-insensitive.
    group_name(&other).eq_ignore_ascii_case(name).then_some(stage)
}

/// The first page of the subscription's resource groups carrying this app's tag (ARM's
/// `$filter` takes one tag name and value); the target and the lease mark are checked
/// on each group.
fn stages_url(cx: &Cx, sub: &str) -> String {
    let filter = format!("tagName eq '{TAG_APP}' and tagValue eq '{}'", cx.app_name()).replace(' ', "%20").replace('\'', "%27");
    format!("/subscriptions/{sub}/resourcegroups?$filter={filter}&api-version={API_RESOURCES}")
}

/// Every stage of `cx`'s app and target with a lease group in subscription `sub`, with
/// its record, following `nextLink`. Reads only; a subscription with none has none.
pub async fn stages(cx: &Cx, sub: &str) -> Result<Vec<StageRecord>> {
    let arm = Arm::from_env(cx.poll)?;
    let mut out = Vec::new();
    let mut next = Some(stages_url(cx, sub));
    while let Some(url) = next.take() {
        let a = arm.send(reqwest::Method::GET, &url, None).await?;
        if a.status == 404 {
            break;
        }
        if !(200..=299).contains(&a.status) {
            let code = a.body["error"]["code"].as_str().unwrap_or("?");
            let message = a.body["error"]["message"].as_str().unwrap_or("");
            return Err(Hinted::new(
                format!("Azure Resource Manager GET /subscriptions/{sub}/resourcegroups answered {} {code}: {message}", a.status),
                "your identity needs Reader (Microsoft.Resources/subscriptions/resourceGroups/read) on the subscription",
            )
            .into());
        }
        for g in a.body["value"].as_array().into_iter().flatten() {
            let tags: BTreeMap<String, String> =
                g["tags"].as_object().into_iter().flatten().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect();
            let Some(stage) = stage_of(cx, g["name"].as_str().unwrap_or_default(), &tags) else { continue };
            let record = serde_json::from_str(&joined(&tags)).unwrap_or_else(|_| LeaseRecord::unreadable());
            out.push(StageRecord { stage: stage.to_string(), record });
        }
        next = a.body["nextLink"].as_str().filter(|l| !l.is_empty()).map(str::to_string);
    }
    out.sort_by(|a, b| a.stage.cmp(&b.stage));
    Ok(out)
}

impl GroupRegister {
    fn path(&self) -> String {
        format!("/subscriptions/{}/resourceGroups/{}", self.sub, self.group)
    }
}

/// The record split into tag-sized chunks, `aideploy-lease-0`, `-1`...
fn chunks(text: &str) -> Vec<(String, String)> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(CHUNK).enumerate().map(|(i, c)| (format!("{TAG_LEASE}-{i}"), c.iter().collect())).collect()
}

/// The record the chunks hold, back in one piece.
fn joined(tags: &BTreeMap<String, String>) -> String {
    (0..).map_while(|i| tags.get(&format!("{TAG_LEASE}-{i}"))).map(String::as_str).collect()
}

#[async_trait]
impl Register for GroupRegister {
    fn location(&self) -> String {
        format!("resource group {}", self.group)
    }

    async fn load(&self) -> Result<Option<String>> {
        let Some(g) = self.arm.get(&self.path(), API_RESOURCES).await? else { return Ok(None) };
        let tags: BTreeMap<String, String> =
            g["tags"].as_object().into_iter().flatten().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect();
        if !self.tags.iter().all(|(k, v)| tags.get(k) == Some(v)) || tags.get(TAG_LEASE).map(String::as_str) != Some("true") {
            return Err(Hinted::new(
                format!("resource group {} exists and is not aideploy's deploy lease for this app, stage and target", self.group),
                format!("delete resource group {} if nothing in it is needed, or rename the app or stage", self.group),
            )
            .into());
        }
        if let Some(l) = g["location"].as_str().filter(|l| !l.is_empty()) {
            *self.location.lock().await = l.to_string();
        }
        Ok(Some(joined(&tags)))
    }

    async fn store(&self, text: &str) -> Result<()> {
        let mut tags: serde_json::Map<String, Value> = self.tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        tags.insert(TAG_LEASE.into(), json!("true"));
        for (k, v) in chunks(text) {
            tags.insert(k, json!(v));
        }
        let location = self.location.lock().await.clone();
        self.arm
            .put(&self.path(), API_RESOURCES, &json!({"location": location, "tags": tags}), "the deploy lease's resource group", &Silent)
            .await?;
        Ok(())
    }

    async fn delete(&self) -> Result<()> {
        self.arm.delete(&self.path(), API_RESOURCES, "deleting the deploy lease's resource group", &Silent).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(app: &str, stage: &str) -> Cx {
        let text = format!(
            "version = 1\n[app]\nname = \"{app}\"\nruntime = \"python3.11\"\nasgi = \"app.main:app\"\nport = 8000\n[targets.appservice]\nregion = \"westeurope\"\n"
        );
        let mut cx = crate::engine::testing::cx(&text, "appservice", &[]);
        cx.stage = stage.parse().unwrap();
        cx
    }

    fn lease_tags(cx: &Cx) -> BTreeMap<String, String> {
        let mut t: BTreeMap<String, String> =
            super::super::tags(cx).into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string())).collect();
        t.insert(TAG_LEASE.into(), "true".into());
        t
    }

    /// App `a-b` stage `c` and app `a` stage `b-c` have the same lease group name; the
    /// stage comes from the tags, and each app finds only its own.
    #[test]
    fn a_listed_lease_group_names_its_stage_by_tag_never_by_name() {
        let (ab_c, a_bc) = (cx("a-b", "c"), cx("a", "b-c"));
        let name = group_name(&ab_c);
        assert_eq!(name, group_name(&a_bc));
        assert_eq!(stage_of(&ab_c, &name, &lease_tags(&ab_c)).map(|s| s.to_string()), Some("c".into()));
        assert_eq!(stage_of(&a_bc, &name.to_uppercase(), &lease_tags(&a_bc)).map(|s| s.to_string()), Some("b-c".into()));
        assert_eq!(stage_of(&ab_c, &name, &lease_tags(&a_bc)), None);
        assert_eq!(stage_of(&a_bc, &name, &lease_tags(&ab_c)), None);
        assert_eq!(stage_of(&cx("a-b", "prod"), &name, &lease_tags(&ab_c)).map(|s| s.to_string()), Some("c".into()));
        // The app's own group (no lease mark), a stage tag the name does not match.
        let mut t = lease_tags(&ab_c);
        t.remove(TAG_LEASE);
        assert_eq!(stage_of(&ab_c, &name, &t), None);
        t.insert(TAG_LEASE.into(), "true".into());
        t.insert(TAG_STAGE.into(), "d".into());
        assert_eq!(stage_of(&ab_c, &name, &t), None);
        assert_eq!(
            stages_url(&ab_c, "s"),
            "/subscriptions/s/resourcegroups?$filter=tagName%20eq%20%27aideploy-app%27%20and%20tagValue%20eq%20%27a-b%27&api-version=2025-04-01"
        );
    }

    #[test]
    fn a_long_record_fits_in_tags_and_reads_back_whole() {
        let text = "x".repeat(600) + "é";
        let parts = chunks(&text);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|(_, v)| v.chars().count() <= CHUNK));
        let tags: BTreeMap<String, String> = parts.into_iter().collect();
        assert_eq!(joined(&tags), text);
        assert_eq!(joined(&BTreeMap::new()), "");
    }

    /// ARM allows 50 tags on a resource group: the app's three, the lease mark and the
    /// chunks of a record holding the most releases it keeps, each with long fields.
    #[test]
    fn a_record_with_a_full_history_stays_within_arms_tag_count() {
        use crate::engine::lease::LeaseRecord;
        use crate::engine::release::{Ended, Release, KEEP};
        let digest = format!("sha256:{}", "a".repeat(64));
        let release = Release {
            id: Some("aaaaaaaaaaaa".into()),
            digest: digest.clone(),
            at: "2026-12-05T10:04:00Z".into(),
            by: format!("{}@{}", "u".repeat(32), "h".repeat(64)),
            commit: Some("c".repeat(40)),
            dirty: true,
            aideploy: "10.20.30-beta.4".into(),
            manifest: digest,
            ended: Ended::RolledBack,
            restores: Some("b".repeat(36)),
        };
        let mut record = LeaseRecord::unreadable();
        record.holder = format!("{}@{}", "u".repeat(32), "h".repeat(64));
        record.host = "h".repeat(64);
        record.id = "f".repeat(24);
        record.command = "rollback".into();
        record.releases = vec![release; KEEP];
        let tags = 4 + chunks(&serde_json::to_string(&record).unwrap()).len();
        assert!(tags <= 50, "{tags} tags");
    }
}
