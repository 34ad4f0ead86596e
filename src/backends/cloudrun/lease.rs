//! The cloudrun target's deploy lease: a Secret Manager secret per app, stage and
//! target, `aideploy-lease-{app}-{stage}-{target}`, with the lease record in its
//! `aideploy-lease` annotation and no versions (the record is no secret; the secret is
//! only the project's one resource with both a create-only write and an ETag).
//!
//! Taking a free lease creates the secret (CreateSecret fails with ALREADY_EXISTS when
//! another run created it first); taking over, renewing and giving it back update the
//! annotation with the secret's `etag` (UpdateSecret fails with FAILED_PRECONDITION when
//! the secret changed since it was read). The secret carries the app's labels plus
//! `aideploy-lease=true`, so the target's own secrets never include it; destroy deletes
//! it last, with the etag it gave it back with.

use std::collections::BTreeMap;

use anyhow::Result;
use async_trait::async_trait;
use google_cloud_gax::error::rpc::Code;
use google_cloud_gax::options::RequestOptionsBuilder;
use serde_json::json;

use super::{fit, label_value, labels, Site, MAX_SECRET_ID};
use crate::cloud::gcp::{api_error, is_conflict, is_not_found, Clients};
use crate::engine::lease::{LeaseRecord, LeaseStore, StageRecord};
use crate::engine::Cx;
use crate::error::Hinted;

/// The annotation holding the record.
const ANNOTATION: &str = "aideploy-lease";
/// The label that sets the lease secret apart from the app's secrets.
pub const LEASE_LABEL: &str = "aideploy-lease";

/// The lease secret's id.
pub fn lease_secret_id(cx: &Cx) -> String {
    fit(&format!("aideploy-lease-{}-{}", cx.resource_base(), label_value(&cx.target.name)), MAX_SECRET_ID)
}

/// The filter that finds the lease secrets of `cx`'s app and target, every stage.
fn stages_filter(cx: &Cx) -> String {
    let want = labels(cx);
    format!(
        "labels.aideploy-app={} AND labels.aideploy-target={} AND labels.{LEASE_LABEL}=true",
        want["aideploy-app"], want["aideploy-target"]
    )
}

/// The stage a listed lease secret is the lease of: its `aideploy-stage` label, when that
/// is a stage name and the secret's id is the lease id of that stage (so a label can never
/// name another app's or stage's secret). `None` for anything else.
fn stage_of(cx: &Cx, id: &str, found: &BTreeMap<String, String>) -> Option<crate::manifest::Stage> {
    if !labels(cx).iter().filter(|(k, _)| *k != "aideploy-stage").all(|(k, v)| found.get(k) == Some(v))
        || found.get(LEASE_LABEL).map(String::as_str) != Some("true")
    {
        return None;
    }
    let stage: crate::manifest::Stage = found.get("aideploy-stage")?.parse().ok()?;
    let mut other = cx.clone();
    other.stage = stage.clone();
    (lease_secret_id(&other) == id).then_some(stage)
}

/// Every stage of `cx`'s app and target with a lease secret in the project, with its
/// record: ListSecrets filtered by aideploy's labels, page by page. Reads only; a project
/// that does not exist has none.
pub async fn stages(cx: &Cx, site: &Site) -> Result<Vec<StageRecord>> {
    let clients = Clients::new().await?;
    let mut out = Vec::new();
    let mut page = String::new();
    loop {
        let sent = clients
            .secrets
            .list_secrets()
            .set_parent(format!("projects/{}", site.project))
            .set_filter(stages_filter(cx))
            .set_page_token(page.clone())
            .send()
            .await;
        let list = match sent {
            Ok(l) => l,
            Err(e) if is_not_found(&e) => return Ok(Vec::new()),
            Err(e) => return Err(api_error("cannot list the deploy leases (Secret Manager secrets)", e)),
        };
        for s in &list.secrets {
            let found: BTreeMap<String, String> = s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let id = s.name.rsplit('/').next().unwrap_or_default();
            let Some(stage) = stage_of(cx, id, &found) else { continue };
            let record = s.annotations.get(ANNOTATION).and_then(|t| serde_json::from_str(t).ok()).unwrap_or_else(LeaseRecord::unreadable);
            out.push(StageRecord { stage: stage.to_string(), record });
        }
        if list.next_page_token.is_empty() {
            break;
        }
        page = list.next_page_token;
    }
    out.sort_by(|a, b| a.stage.cmp(&b.stage));
    Ok(out)
}

pub struct SecretLease {
    clients: Clients,
    site: Site,
    id: String,
    /// The labels that make it this app's, stage's and target's lease.
    labels: BTreeMap<String, String>,
}

impl SecretLease {
    pub async fn new(cx: &Cx, site: Site) -> Result<SecretLease> {
        let clients = Clients::new().await?;
        let mut labels = labels(cx);
        labels.insert(LEASE_LABEL.into(), "true".into());
        Ok(SecretLease { clients, site, id: lease_secret_id(cx), labels })
    }

    fn name(&self) -> String {
        self.site.secret(&self.id)
    }
}

/// An UpdateSecret or DeleteSecret refused because the etag no longer matches
/// (FAILED_PRECONDITION, HTTP 400), or the secret is gone.
fn lost_race(e: &google_cloud_gax::error::Error) -> bool {
    is_not_found(e) || e.status().is_some_and(|s| matches!(s.code, Code::FailedPrecondition | Code::Aborted))
}

#[async_trait]
impl LeaseStore for SecretLease {
    fn location(&self) -> String {
        format!("Secret Manager secret {} (project {})", self.id, self.site.project)
    }

    async fn read(&self) -> Result<Option<(LeaseRecord, String)>> {
        let secret = match self.clients.secrets.get_secret().set_name(self.name()).send().await {
            Ok(s) => s,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(api_error(&format!("cannot read the deploy lease (secret {})", self.id), e)),
        };
        let found: BTreeMap<String, String> = secret.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if !self.labels.iter().all(|(k, v)| found.get(k) == Some(v)) {
            return Err(Hinted::new(
                format!(
                    "secret {} exists and is not aideploy's deploy lease for this app, stage and target (it lacks aideploy's labels)",
                    self.id
                ),
                format!("delete or rename secret {} in project {}, or rename the app or stage", self.id, self.site.project),
            )
            .into());
        }
        let record = secret.annotations.get(ANNOTATION).and_then(|t| serde_json::from_str(t).ok()).unwrap_or_else(LeaseRecord::unreadable);
        Ok(Some((record, secret.etag.clone())))
    }

    async fn write(&self, record: &LeaseRecord, expected: Option<&str>) -> Result<bool> {
        let text = serde_json::to_string(record)?;
        match expected {
            None => {
                let secret: google_cloud_secretmanager_v1::model::Secret = serde_json::from_value(json!({
                    "replication": {"automatic": {}},
                    "labels": self.labels,
                    "annotations": {ANNOTATION: text},
                }))?;
                // Safe to send again: a second create of the same id fails ALREADY_EXISTS,
                // and the lease then reads its own claim back.
                let sent = self
                    .clients
                    .secrets
                    .create_secret()
                    .set_parent(format!("projects/{}", self.site.project))
                    .set_secret_id(&self.id)
                    .set_secret(secret)
                    .with_idempotency(true)
                    .send()
                    .await;
                match sent {
                    Ok(_) => Ok(true),
                    Err(e) if is_conflict(&e) => Ok(false),
                    Err(e) => Err(api_error(&format!("cannot create the deploy lease (secret {})", self.id), e)),
                }
            }
            Some(etag) => {
                let request: google_cloud_secretmanager_v1::model::UpdateSecretRequest = serde_json::from_value(json!({
                    "secret": {"name": self.name(), "etag": etag, "annotations": {ANNOTATION: text}},
                    "updateMask": "annotations",
                }))?;
                // Safe to send again: with the etag it changes nothing a second time.
                let sent = self.clients.secrets.update_secret().with_request(request).with_idempotency(true).send().await;
                match sent {
                    Ok(_) => Ok(true),
                    Err(e) if lost_race(&e) => Ok(false),
                    Err(e) => Err(api_error(&format!("cannot update the deploy lease (secret {})", self.id), e)),
                }
            }
        }
    }

    fn removable(&self) -> bool {
        true
    }

    async fn remove(&self, version: &str) -> Result<()> {
        let sent = self.clients.secrets.delete_secret().set_name(self.name()).set_etag(version).with_idempotency(true).send().await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if lost_race(&e) => Ok(()),
            Err(e) => Err(api_error(&format!("cannot delete the deploy lease (secret {})", self.id), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(app: &str, stage: &str) -> Cx {
        let text = format!(
            "version = 1\n[app]\nname = \"{app}\"\nruntime = \"python3.11\"\nasgi = \"app.main:app\"\nport = 8000\n[targets.cloudrun]\nproject = \"p\"\nregion = \"europe-west1\"\n"
        );
        let mut cx = crate::engine::testing::cx(&text, "cloudrun", &[]);
        cx.stage = stage.parse().unwrap();
        cx
    }

    fn lease_labels(cx: &Cx) -> BTreeMap<String, String> {
        let mut l = labels(cx);
        l.insert(LEASE_LABEL.into(), "true".into());
        l
    }

    /// App `a-b` stage `c` and app `a` stage `b-c` share the lease secret's id; the stage
    /// comes from the labels, and each app finds only its own.
    #[test]
    fn a_listed_lease_names_its_stage_by_label_never_by_id() {
        let (ab_c, a_bc) = (cx("a-b", "c"), cx("a", "b-c"));
        let id = lease_secret_id(&ab_c);
        assert_eq!(id, lease_secret_id(&a_bc), "the ids meet; the labels tell them apart");
        assert_eq!(stage_of(&ab_c, &id, &lease_labels(&ab_c)).map(|s| s.to_string()), Some("c".into()));
        assert_eq!(stage_of(&a_bc, &id, &lease_labels(&a_bc)).map(|s| s.to_string()), Some("b-c".into()));
        assert_eq!(stage_of(&ab_c, &id, &lease_labels(&a_bc)), None, "another app's lease");
        assert_eq!(stage_of(&a_bc, &id, &lease_labels(&ab_c)), None, "another app's lease");
        // Any stage of the app: the listing's cx.stage does not matter.
        let other = cx("a-b", "prod");
        assert_eq!(stage_of(&other, &id, &lease_labels(&ab_c)).map(|s| s.to_string()), Some("c".into()));
        // Not a lease (the app's own secrets), a label naming a stage whose lease this is
        // not, a stage label that is no stage name.
        let mut plain = labels(&ab_c);
        assert_eq!(stage_of(&ab_c, &id, &plain), None);
        plain.insert(LEASE_LABEL.into(), "true".into());
        plain.insert("aideploy-stage".into(), "d".into());
        assert_eq!(stage_of(&ab_c, &id, &plain), None);
        plain.insert("aideploy-stage".into(), "Not_A_Stage".into());
        assert_eq!(stage_of(&ab_c, &id, &plain), None);
        assert_eq!(stages_filter(&ab_c), "labels.aideploy-app=a-b AND labels.aideploy-target=cloudrun AND labels.aideploy-lease=true");
    }
}
