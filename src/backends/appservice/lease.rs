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
    let group = fit(&format!("aideploy-lease-{}-{}", cx.resource_base(), cx.target.name), MAX_GROUP, "-");
    Ok(Settled::new(GroupRegister { arm: Arm::from_env(cx.poll)?, sub: sub.to_string(), group, tags, location: Mutex::new(location) }))
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
