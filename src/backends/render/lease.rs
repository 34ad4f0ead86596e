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

/// The most groups one page of `GET /env-groups` holds.
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

/// Every stage of `cx`'s app and target with a lease group in workspace `owner`, with its
/// record (of the oldest group of the name, as the lease reads it). Reads only.
pub async fn stages(cx: &Cx, api: &Api, owner: &str) -> Result<Vec<StageRecord>> {
    let path = format!("/env-groups?ownerId={}&limit={PAGE}", q(owner));
    let mut groups: Vec<GroupMeta> = api.get_as(&path).await?.unwrap_or_default();
    // The list's items carry no cursor to ask for the next page with: rather than miss a
    // stage, a full page is an error.
    if groups.len() >= PAGE {
        return Err(Hinted::new(
            format!("Render workspace {owner} has {PAGE} or more environment groups; aideploy reads one page of them"),
            "delete environment groups that are no longer needed, or destroy the expired stages one by one with `aideploy destroy --stage NAME`",
        )
        .into());
    }
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
