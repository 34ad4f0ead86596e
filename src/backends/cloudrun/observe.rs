//! What exists in Google Cloud now, read-only, as plain data: the Artifact Registry
//! repository, the service with its revisions and invoker policy, the secrets and the
//! service's own runtime account.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::Value;

use super::account::AccountNow;
use super::iam::{policy_members, to_value, ACCESSOR, ALL_USERS, INVOKER};
use super::{is_ours, labels, named_registry, secret_id, service_id, Site};
use crate::cloud::gcp::{api_error, is_not_found, Clients};
use crate::engine::Cx;
use crate::error::UsageError;

/// Everything `plan`, `status`, `rollback` and `destroy` need.
#[derive(Debug, Clone)]
pub struct Observed {
    pub site: Site,
    /// Whether the Artifact Registry repository must be created first: `None` when a
    /// registry is named (`[build] registry`, `AIDEPLOY_REGISTRY`), else whether the
    /// `aideploy` repository exists.
    pub repository: Option<bool>,
    /// The service of this app and stage's name, whoever made it.
    pub service: Option<ServiceNow>,
    /// By manifest name: the `[secrets]` entries that exist in Secret Manager.
    pub secrets: BTreeMap<String, SecretNow>,
    /// Secrets labelled as this app's, stage's and target's, by id (what destroy removes).
    pub labelled_secrets: Vec<String>,
    /// The dedicated runtime account `aideploy-{app}-{stage}`, whoever made it (read
    /// also when `service_account` names another: destroy removes ours).
    pub account: Option<AccountNow>,
    /// The account `service_account` names, when IAM says it does not exist.
    pub named_missing: Option<String>,
}

/// A Cloud Run service as it is now.
#[derive(Debug, Clone)]
pub struct ServiceNow {
    /// The service in Cloud Run's JSON: compared, field by field, with the service the
    /// manifest asks for (only the fields aideploy sets), and sent back by a rollback.
    pub spec: Value,
    /// It carries aideploy's labels for this app, stage and target.
    pub ours: bool,
    pub uri: Option<String>,
    /// The newest revision's short name.
    pub latest_created: String,
    /// The revision serving all (or most) of the traffic.
    pub serving: Option<Revision>,
    /// Every revision, newest first.
    pub revisions: Vec<Revision>,
    /// allUsers may invoke it.
    pub public: bool,
}

/// One revision of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// Short name: `{service}-00002-abc`.
    pub name: String,
    pub image: Option<String>,
    /// The image's digest, `sha256:...`.
    pub digest: Option<String>,
    pub ready: bool,
    /// The message of its failed condition.
    pub failure: Option<String>,
    /// When Cloud Run made it (RFC 3339, UTC).
    pub created_at: Option<String>,
}

/// One `[secrets]` entry as it is in Secret Manager now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretNow {
    /// The latest version's number, and whether its value is the local one.
    pub latest: Option<(String, bool)>,
    /// Members holding secretAccessor on it.
    pub accessors: Vec<String>,
    /// `projects/{number}/secrets/...`, as Secret Manager names it.
    pub name: String,
    /// It carries aideploy's labels for this app, stage and target.
    pub ours: bool,
}

impl Revision {
    fn of(v: &Value) -> Revision {
        let image = v["containers"][0]["image"].as_str().map(str::to_string);
        Revision {
            name: revision_short(v["name"].as_str().unwrap_or_default()).to_string(),
            digest: image.as_deref().and_then(|i| i.split_once('@')).map(|(_, d)| d.to_string()),
            image,
            ready: is_ready(v),
            failure: failure_message(v),
            created_at: v["createTime"].as_str().and_then(crate::util::utc_time),
        }
    }
}

pub(super) fn revision_short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn is_ready(revision: &Value) -> bool {
    revision["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && (c["state"] == "CONDITION_SUCCEEDED" || c["state"] == 4))
}

/// The message of a revision's failed condition, if it has one.
pub(super) fn failure_message(revision: &Value) -> Option<String> {
    revision["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| (c["state"] == "CONDITION_FAILED" || c["state"] == 3) && c["message"].as_str().is_some_and(|m| !m.is_empty()))
        .and_then(|c| c["message"].as_str().map(str::to_string))
}

pub(super) fn serving_revision_name(service: &Value) -> Option<String> {
    let statuses = service["trafficStatuses"].as_array().cloned().unwrap_or_default();
    statuses
        .iter()
        .filter(|t| t["revision"].as_str().is_some_and(|r| !r.is_empty()))
        .max_by_key(|t| t["percent"].as_i64().unwrap_or(0))
        .and_then(|t| t["revision"].as_str().map(str::to_string))
        .or_else(|| service["latestReadyRevision"].as_str().filter(|r| !r.is_empty()).map(|r| revision_short(r).to_string()))
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object().into_iter().flatten().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect()
}

pub(super) async fn read_secret(cx: &Cx, clients: &Clients, site: &Site, id: &str, value: Option<&str>) -> Result<Option<SecretNow>> {
    let secret = match clients.secrets.get_secret().set_name(site.secret(id)).send().await {
        Ok(s) => s,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(api_error(&format!("cannot read secret {id}"), e)),
    };
    let found: BTreeMap<String, String> = secret.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let ours = is_ours(cx, &found);
    if !ours {
        // Someone else's: its value and policy are not read (a deploy refuses it).
        return Ok(Some(SecretNow { latest: None, accessors: Vec::new(), name: secret.name.clone(), ours }));
    }
    let latest = match clients.secrets.access_secret_version().set_name(format!("{}/versions/latest", site.secret(id))).send().await {
        Ok(v) => {
            let number = v.name.rsplit('/').next().unwrap_or_default().to_string();
            let same = value.is_some_and(|val| v.payload.as_ref().is_some_and(|p| p.data.as_ref() == val.as_bytes()));
            Some((number, same))
        }
        Err(e) if is_not_found(&e) || e.status().is_some_and(|s| s.code == google_cloud_gax::error::rpc::Code::FailedPrecondition) => None,
        Err(e) => return Err(api_error(&format!("cannot read the latest version of secret {id}"), e)),
    };
    let policy = clients
        .secrets
        .get_iam_policy()
        .set_resource(site.secret(id))
        .send()
        .await
        .map_err(|e| api_error(&format!("cannot read the IAM policy of secret {id}"), e))?;
    Ok(Some(SecretNow { latest, accessors: policy_members(&to_value(&policy), ACCESSOR), name: secret.name.clone(), ours }))
}

/// Reads everything: the repository (when aideploy's own), the secrets, the service.
pub async fn read(cx: &Cx, clients: &Clients, site: &Site) -> Result<Observed> {
    let repository = match named_registry(cx)? {
        Some(_) => None,
        None => Some(match clients.registry.get_repository().set_name(site.repository()).send().await {
            Ok(_) => true,
            Err(e) if is_not_found(&e) => false,
            Err(e) => return Err(api_error(&format!("cannot read Artifact Registry repository {}", site.repository()), e)),
        }),
    };
    let mut secrets = BTreeMap::new();
    for name in cx.loaded.manifest.secrets.keys() {
        let name = name.get().to_string();
        let value = cx.secrets.values.get(&name).map(|v| v.expose().to_string());
        if let Some(s) = read_secret(cx, clients, site, &secret_id(cx, &name), value.as_deref()).await? {
            secrets.insert(name, s);
        }
    }
    missing_secrets(cx, &secrets)?;
    let labelled_secrets = list_labelled_secrets(cx, clients, site).await?;
    let service = read_service(cx, clients, site).await?;
    let account = super::account::read(cx, clients, site).await?;
    let named_missing = super::account::named_missing(cx, clients).await?;
    Ok(Observed { site: site.clone(), repository, service, secrets, labelled_secrets, account, named_missing })
}

/// A required `[secrets]` entry with no value here (`$VAR`, .env) and none stored as
/// ours is an error naming both ways to give it, found before anything changes.
fn missing_secrets(cx: &Cx, stored: &BTreeMap<String, SecretNow>) -> Result<()> {
    for (name, spec) in &cx.loaded.manifest.secrets {
        let (name, spec) = (name.get(), spec.get());
        let has_version = stored.get(name).is_some_and(|s| s.ours && s.latest.is_some());
        if !spec.optional && cx.secrets.absent.contains(name) && !has_version {
            let var = spec.env.as_ref().map(|e| e.get().clone()).unwrap_or_else(|| name.clone());
            return Err(UsageError::new(format!("secret `{name}` has no value here and none is stored in Secret Manager"))
                .hint(format!(
                    "set ${var} (or `{var}=...` in .env) for this deploy, or store it once: aideploy secrets set {name} --target {}",
                    cx.target.name
                ))
                .into());
        }
    }
    Ok(())
}

async fn read_service(cx: &Cx, clients: &Clients, site: &Site) -> Result<Option<ServiceNow>> {
    let spec = match clients.services.get_service().set_name(site.service(cx)).send().await {
        Ok(s) => to_value(&s),
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(api_error(&format!("cannot read Cloud Run service {}", service_id(cx)), e)),
    };
    let ours = is_ours(cx, &string_map(&spec["labels"]));
    let uri = spec["uri"].as_str().filter(|u| !u.is_empty()).map(str::to_string);
    let latest_created = spec["latestCreatedRevision"].as_str().map(revision_short).unwrap_or_default().to_string();
    if !ours {
        // Someone else's: only its existence matters (a deploy refuses it).
        return Ok(Some(ServiceNow { spec, ours, uri, latest_created, serving: None, revisions: Vec::new(), public: false }));
    }
    let mut raw = Vec::new();
    let mut page = String::new();
    loop {
        let list = clients
            .revisions
            .list_revisions()
            .set_parent(site.service(cx))
            .set_page_token(page.clone())
            .send()
            .await
            .map_err(|e| api_error("cannot list the service's revisions", e))?;
        raw.extend(list.revisions.iter().map(to_value));
        if list.next_page_token.is_empty() {
            break;
        }
        page = list.next_page_token;
    }
    raw.sort_by(|a, b| b["createTime"].as_str().cmp(&a["createTime"].as_str()).then(b["name"].as_str().cmp(&a["name"].as_str())));
    let revisions: Vec<Revision> = raw.iter().map(Revision::of).collect();
    let serving = serving_revision_name(&spec).and_then(|name| revisions.iter().find(|r| r.name == name).cloned());
    let policy = clients
        .services
        .get_iam_policy()
        .set_resource(site.service(cx))
        .send()
        .await
        .map_err(|e| api_error("cannot read the service's IAM policy", e))?;
    let public = policy_members(&to_value(&policy), INVOKER).iter().any(|m| m == ALL_USERS);
    Ok(Some(ServiceNow { spec, ours, uri, latest_created, serving, revisions, public }))
}

async fn list_labelled_secrets(cx: &Cx, clients: &Clients, site: &Site) -> Result<Vec<String>> {
    let want = labels(cx);
    let filter = format!("labels.aideploy-app={} AND labels.aideploy-stage={}", want["aideploy-app"], want["aideploy-stage"]);
    let mut out = Vec::new();
    let mut page = String::new();
    loop {
        let list = clients
            .secrets
            .list_secrets()
            .set_parent(format!("projects/{}", site.project))
            .set_filter(filter.clone())
            .set_page_token(page.clone())
            .send()
            .await
            .map_err(|e| api_error("cannot list secrets", e))?;
        for s in &list.secrets {
            // The deploy lease is not one of the app's secrets: the engine keeps it.
            let lease = s.labels.get(super::lease::LEASE_LABEL).is_some_and(|v| v == "true");
            if want.iter().all(|(k, v)| s.labels.get(k) == Some(v)) && !lease {
                out.push(s.name.rsplit('/').next().unwrap_or_default().to_string());
            }
        }
        if list.next_page_token.is_empty() {
            break;
        }
        page = list.next_page_token;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serving_revision_is_the_one_with_most_traffic() {
        let s = json!({"trafficStatuses": [{"revision": "a-1", "percent": 0}, {"revision": "a-2", "percent": 100}], "latestReadyRevision": "x/revisions/a-3"});
        assert_eq!(serving_revision_name(&s).as_deref(), Some("a-2"));
        let s = json!({"latestReadyRevision": "projects/p/locations/r/services/a/revisions/a-3"});
        assert_eq!(serving_revision_name(&s).as_deref(), Some("a-3"));
    }

    #[test]
    fn a_revision_reads_its_image_and_readiness() {
        let r = Revision::of(&json!({
            "name": "projects/p/locations/r/services/a/revisions/a-2",
            "containers": [{"image": "reg/app@sha256:ab"}],
            "conditions": [{"type": "Ready", "state": "CONDITION_FAILED", "message": "probe failed"}],
        }));
        assert_eq!(r.name, "a-2");
        assert_eq!(r.digest.as_deref(), Some("sha256:ab"));
        assert!(!r.ready);
        assert_eq!(r.failure.as_deref(), Some("probe failed"));
        assert_eq!(r.created_at, None);
        let r = Revision::of(&json!({"name": "a-1", "createTime": "2026-12-05T09:30:00.123456Z"}));
        assert_eq!(r.created_at.as_deref(), Some("2026-12-05T09:30:00Z"));
    }
}
