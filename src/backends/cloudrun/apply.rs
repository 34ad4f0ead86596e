//! Carrying out a plan: the repository, the push, the runtime account, the secrets, the
//! service and who may call it; rollback's traffic move; destroy. Each step is the one
//! its `Step` names.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::account::{self, runtime_account};
use super::iam::{edit_policy, policy_members, to_policy, to_value, ACCESSOR, ALL_USERS, INVOKER};
use super::observe::{failure_message, revision_short, serving_revision_name, Observed};
use super::ops::{await_op, service_timeout, SHORT_TIMEOUT};
use super::plan::{foreign, secret_versions, SecretChange, ServiceChange, Step};
use super::{health_timeout, is_public, labels, service, service_id, Image, Site, REPOSITORY};
use crate::cloud::gcp::{self, api_error, is_not_found, Clients};
use crate::engine::wait::PollPolicy;
use crate::engine::{Change, Cx, Health, Outcome, Planned, Pushed, Reporter};
use crate::error::UsageError;

/// Creates the `aideploy` Docker repository in Artifact Registry unless it exists,
/// waiting for its creation to finish. True when it created it.
pub async fn ensure_repository(clients: &Clients, site: &Site, poll: PollPolicy, r: &dyn Reporter) -> Result<bool> {
    let name = site.repository();
    match clients.registry.get_repository().set_name(&name).send().await {
        Ok(_) => return Ok(false),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(api_error(&format!("cannot read Artifact Registry repository {name}"), e)),
    }
    r.step(&format!("creating Artifact Registry repository {REPOSITORY} in {}", site.region));
    let repo: google_cloud_artifactregistry_v1::model::Repository = serde_json::from_value(json!({
        "format": "DOCKER",
        "description": "Images deployed by aideploy",
        "labels": {"aideploy-managed": "true"},
    }))?;
    let poller = clients.registry.create_repository().set_parent(site.parent()).set_repository_id(REPOSITORY).set_repository(repo).poller();
    match await_op(poller, "creating the repository", SHORT_TIMEOUT, poll, r).await? {
        Ok(_) => {}
        Err(e) if gcp::is_conflict(&e) => {}
        Err(e) => return Err(api_error(&format!("cannot create Artifact Registry repository {name}"), e)),
    }
    r.done();
    Ok(true)
}

/// Refuses same-named resources that are not this app's, stage's and target's, before
/// anything is changed.
pub(super) fn refuse_foreign(cx: &Cx, seen: &Observed) -> Result<()> {
    account::refuse_missing(cx, seen.named_missing.as_deref())?;
    let found = foreign(cx, seen);
    let Some((kind, id, lacks)) = found.first() else { return Ok(()) };
    let others: Vec<String> = found[1..].iter().map(|(k, i, _)| format!("{k} {i}")).collect();
    Err(UsageError::new(format!(
        "{kind} {id} exists and was not made by aideploy for {} ({}) on {}: {lacks}{}; nothing was changed",
        cx.app_name(),
        cx.stage,
        cx.target.name,
        if others.is_empty() { String::new() } else { format!(" (so do {})", others.join(", ")) }
    ))
    .hint(format!("rename the app or stage, or delete {id} if it is no longer needed"))
    .into())
}

/// An error with every secret value taken out: an API may quote what it rejected.
fn redacted(cx: &Cx, e: anyhow::Error) -> anyhow::Error {
    let original = format!("{e:#}");
    let text = cx.secrets.redact(&original);
    if text == original {
        e
    } else {
        anyhow::anyhow!(text)
    }
}

/// Creates or adds a version to each secret the plan names; returns the version numbers
/// added.
async fn apply_secrets(
    cx: &Cx,
    clients: &Clients,
    site: &Site,
    plan: &Planned<Step>,
    r: &dyn Reporter,
) -> Result<BTreeMap<String, String>> {
    let mut added = BTreeMap::new();
    for step in &plan.changes {
        let Step::Secret { name, id, change } = step else { continue };
        if *change == SecretChange::Same {
            continue;
        }
        let Some(value) = cx.secrets.values.get(name) else { continue };
        if *change == SecretChange::Create {
            r.step(&format!("creating secret {id}"));
            create_secret(cx, clients, site, id).await?;
            r.done();
        }
        r.step(&format!("adding a version to secret {id}"));
        let number = add_version(clients, site, id, value).await?;
        r.done();
        added.insert(name.clone(), number);
    }
    Ok(added)
}

/// Creates the secret `id`, with no version yet, labelled as this app's, stage's and
/// target's (what destroy looks for).
pub(super) async fn create_secret(cx: &Cx, clients: &Clients, site: &Site, id: &str) -> Result<()> {
    let secret: google_cloud_secretmanager_v1::model::Secret =
        serde_json::from_value(json!({"replication": {"automatic": {}}, "labels": labels(cx)}))?;
    clients
        .secrets
        .create_secret()
        .set_parent(format!("projects/{}", site.project))
        .set_secret_id(id)
        .set_secret(secret)
        .send()
        .await
        .map_err(|e| api_error(&format!("cannot create secret {id}"), e))?;
    Ok(())
}

/// Adds `value` as the secret's newest version; its number. An error never quotes it.
pub(super) async fn add_version(clients: &Clients, site: &Site, id: &str, value: &crate::secrets::SecretValue) -> Result<String> {
    let payload =
        google_cloud_secretmanager_v1::model::SecretPayload::default().set_data(bytes::Bytes::from(value.expose().as_bytes().to_vec()));
    let v = clients.secrets.add_secret_version().set_parent(site.secret(id)).set_payload(payload).send().await.map_err(|e| {
        let e = api_error(&format!("cannot add a version to secret {id}"), e);
        let original = format!("{e:#}");
        let text = crate::secrets::redact::apply(&crate::secrets::redact::forms(value.expose()), &original);
        if text == original {
            e
        } else {
            anyhow::anyhow!(text)
        }
    })?;
    Ok(v.name.rsplit('/').next().unwrap_or_default().to_string())
}

/// A change to who may read a secret.
#[derive(Clone, Copy)]
enum Access<'a> {
    /// `serviceAccount:...` may read it; `fresh`: the account was made by this deploy,
    /// and IAM may not know it yet (it is waited for).
    Grant {
        member: &'a str,
        fresh: bool,
    },
    Revoke {
        member: &'a str,
    },
}

/// Adds a member to or removes it from the secret's accessors, unless that is so
/// already.
async fn edit_access(cx: &Cx, clients: &Clients, site: &Site, id: &str, change: Access<'_>, r: &dyn Reporter) -> Result<()> {
    let (member, add, fresh) = match change {
        Access::Grant { member, fresh } => (member, true, fresh),
        Access::Revoke { member } => (member, false, false),
    };
    let policy = clients
        .secrets
        .get_iam_policy()
        .set_resource(site.secret(id))
        .send()
        .await
        .map_err(|e| api_error(&format!("cannot read the IAM policy of secret {id}"), e))?;
    let policy = to_value(&policy);
    if policy_members(&policy, ACCESSOR).iter().any(|m| m == member) == add {
        return Ok(());
    }
    let edited = to_policy(edit_policy(&policy, ACCESSOR, member, add))?;
    let what = format!("cannot {} {ACCESSOR} on secret {id}", if add { "grant" } else { "revoke" });
    let set = || clients.secrets.set_iam_policy().set_resource(site.secret(id)).set_policy(edited.clone()).send();
    if fresh {
        account::while_unknown(cx, member.trim_start_matches("serviceAccount:"), &what, r, set).await?;
    } else {
        set().await.map_err(|e| api_error(&what, e))?;
    }
    Ok(())
}

async fn set_invoker(cx: &Cx, clients: &Clients, site: &Site, public: bool, r: &dyn Reporter) -> Result<()> {
    let policy = clients
        .services
        .get_iam_policy()
        .set_resource(site.service(cx))
        .send()
        .await
        .map_err(|e| api_error("cannot read the service's IAM policy", e))?;
    let policy = to_value(&policy);
    if policy_members(&policy, INVOKER).iter().any(|m| m == ALL_USERS) == public {
        return Ok(());
    }
    r.step(if public { "making the service public (allUsers may invoke)" } else { "making the service private" });
    clients
        .services
        .set_iam_policy()
        .set_resource(site.service(cx))
        .set_policy(to_policy(edit_policy(&policy, INVOKER, ALL_USERS, public))?)
        .send()
        .await
        .map_err(|e| api_error("cannot set the service's IAM policy", e))?;
    r.done();
    Ok(())
}

pub async fn deploy(cx: &Cx, seen: &Observed, image: &Image, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    refuse_foreign(cx, seen)?;
    let site = &seen.site;
    let clients = Clients::new().await?;
    let mut pushed = None;

    // The image first, then the secrets: the revision reads both when it starts.
    for step in &plan.changes {
        match step {
            Step::Repository { .. } => {
                ensure_repository(&clients, site, cx.poll, r).await?;
            }
            Step::Push { .. } => {
                // Also when nothing is to upload: it checks the tag and puts only what is missing.
                let (reference, uploaded_bytes) = crate::artifact::image::push_built(&image.built, &image.repo, &cx.stage, r).await?;
                pushed = Some(Pushed { reference: Some(reference), uploaded_bytes });
            }
            Step::Account { .. } => account::create(cx, &clients, site, r).await?,
            _ => {}
        }
    }
    let added = apply_secrets(cx, &clients, site, plan, r).await?;
    let fresh = plan.changes.iter().any(|c| matches!(c, Step::Account { .. }));
    for step in &plan.changes {
        if let Step::SecretAccess { id, account } = step {
            r.step(&format!("letting {account} read secret {id}"));
            edit_access(cx, &clients, site, id, Access::Grant { member: &format!("serviceAccount:{account}"), fresh }, r).await?;
            r.done();
        }
    }

    // The service: create, or update in place.
    let mut versions: BTreeMap<String, Option<String>> = secret_versions(cx, seen);
    for (name, number) in added {
        versions.insert(name, Some(number));
    }
    let runtime = runtime_account(cx, &site.project);
    let mut desired = service::desired_service(cx, &image.reference(), &image.built.digest, &versions, &runtime);
    service::set_parts(&mut desired, &service::parts(cx, &image.built.digest, &image.inputs, &versions));
    let mut result = None;
    for step in &plan.changes {
        let Step::Service { id, change } = step else { continue };
        let create = match change {
            ServiceChange::Same => continue,
            ServiceChange::Create { .. } => {
                r.step(&format!("creating Cloud Run service {id} in {}", site.region));
                true
            }
            ServiceChange::Update { .. } => {
                r.step(&format!("updating Cloud Run service {id}"));
                false
            }
        };
        let pinned = seen.service.as_ref().filter(|s| s.ours && !create).map(|s| &s.spec["traffic"]).filter(|t| is_pinned(t));
        result = Some(match pinned {
            // After a rollback the traffic is pinned to a revision. Handing it to the
            // latest at once would, were the new revision to fail, send it to the latest
            // *ready* revision: the one rolled back from. So the new revision starts with
            // the traffic left where it is, and takes it once it is ready.
            Some(traffic) => {
                let mut held = desired.clone();
                held["traffic"] = traffic.clone();
                match put_service(cx, &clients, site, id, &held, false, r).await? {
                    Ok(_) => {
                        r.progress("the new revision is ready: all traffic to it");
                        put_service(cx, &clients, site, id, &desired, false, r).await?
                    }
                    Err(e) => Err(e),
                }
            }
            None => put_service(cx, &clients, site, id, &desired, create, r).await?,
        });
    }
    let failure = match result {
        None | Some(Ok(_)) => None,
        // The operation failed after Cloud Run took the request: when its new revision
        // did not become ready, that is a failed health check, not a failed call.
        Some(Err(e)) => match latest_revision_failure(cx, &clients, site).await {
            Some((rev, m)) => {
                let op = e.status().map(|s| s.message.clone()).unwrap_or_default();
                Some(if op.contains(&m) {
                    op
                } else if op.is_empty() {
                    format!("revision {rev}: {m}")
                } else {
                    format!("{op}\nrevision {rev}: {m}")
                })
            }
            None => return Err(redacted(cx, api_error(&format!("cannot deploy Cloud Run service {}", service_id(cx)), e))),
        },
    };
    r.done();

    // The compute account's old grants go once the service runs as its own account; a
    // revision that failed leaves the previous one serving (as that account): kept.
    if failure.is_none() {
        for step in &plan.changes {
            if let Step::RevokeSecretAccess { id, member } = step {
                r.step(&format!("taking {} off secret {id}", member.trim_start_matches("serviceAccount:")));
                edit_access(cx, &clients, site, id, Access::Revoke { member }, r).await?;
                r.done();
            }
        }
    }

    // Who may call it.
    for step in &plan.changes {
        if let Step::Invoker { public } = step {
            set_invoker(cx, &clients, site, *public, r).await?;
        }
    }
    let now = match clients.services.get_service().set_name(site.service(cx)).send().await {
        Ok(s) => Some(to_value(&s)),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(api_error("cannot read the Cloud Run service", e)),
    };
    let url = now.as_ref().and_then(|s| s["uri"].as_str()).filter(|u| !u.is_empty()).map(str::to_string);
    if !is_public(cx) {
        if let Some(u) = &url {
            r.warn(&format!(
                "the service is private: call it with an identity token, e.g. curl -H \"Authorization: Bearer $(gcloud auth print-identity-token)\" {u}{}\n(set `public = true` in [targets.{}] to let anyone call it)",
                cx.loaded.manifest.app().health,
                cx.target.name
            ));
        }
    }
    let actions = plan.changes.iter().map(Change::row).collect();
    Ok(match failure {
        None => Outcome { url, health: Health::Passed, actions, failure: None, pushed },
        Some(why) => {
            let kept = if now.as_ref().and_then(serving_revision_name).is_some() {
                "the previous revision keeps serving"
            } else {
                "nothing is serving"
            };
            Outcome { url, health: Health::Failed, actions, failure: Some(cx.secrets.redact(&format!("{why}\n({kept})"))), pushed }
        }
    })
}

/// Whether the service's traffic goes to a named revision (a rollback pinned it) rather
/// than to the latest ready one.
fn is_pinned(traffic: &Value) -> bool {
    traffic.as_array().is_some_and(|a| a.iter().any(|t| t["revision"].as_str().is_some_and(|r| !r.is_empty())))
}

/// How many times a create or update of the service is sent when the service refused
/// it or the connection failed.
const START_ATTEMPTS: u32 = 5;

/// Creates (`create`) or updates the service to `desired` and waits for its revision:
/// the operation's own result. A call refused (429, 503, UNAVAILABLE,
/// RESOURCE_EXHAUSTED), cut off, answered "already exists", or refused because IAM does
/// not know the runtime account yet (just made), is sent again after a pause,
/// at most [`START_ATTEMPTS`] times, and a create only after reading whether the
/// service exists now: one that landed after all (this app's labels on it) goes on as
/// an update to the same body, which makes no second service and no new revision.
async fn put_service(
    cx: &Cx,
    clients: &Clients,
    site: &Site,
    id: &str,
    desired: &Value,
    mut create: bool,
    r: &dyn Reporter,
) -> Result<std::result::Result<google_cloud_run_v2::model::Service, google_cloud_gax::error::Error>> {
    let timeout = service_timeout(health_timeout(cx));
    let account = runtime_account(cx, &site.project);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let res = if create {
            let service: google_cloud_run_v2::model::Service = serde_json::from_value(desired.clone()).context("service")?;
            let poller = clients.services.create_service().set_parent(site.parent()).set_service_id(id).set_service(service).poller();
            await_op(poller, "waiting for the first revision to be ready", timeout, cx.poll, r).await?
        } else {
            let mut body = desired.clone();
            body["name"] = json!(site.service(cx));
            let service: google_cloud_run_v2::model::Service = serde_json::from_value(body).context("service")?;
            let poller = clients.services.update_service().set_service(service).poller();
            await_op(poller, "waiting for the new revision to be ready", timeout, cx.poll, r).await?
        };
        let again = match &res {
            Err(e) => gcp::is_transient(e) || (create && gcp::is_conflict(e)) || account::is_unknown_member(e, &account),
            Ok(_) => false,
        };
        if !again || attempt >= START_ATTEMPTS {
            return Ok(res);
        }
        let why = res.err().map(|e| e.to_string()).unwrap_or_default();
        r.progress(
            &cx.secrets
                .redact(&format!("Cloud Run did not take the {} ({why}); sending it again", if create { "create" } else { "update" })),
        );
        tokio::time::sleep(cx.poll.pause(std::time::Duration::from_secs(1), std::time::Duration::from_secs(20), attempt)).await;
        if create {
            create = !landed(cx, clients, site, id).await?;
        }
    }
}

/// Whether the service exists now, as this app's (a create that landed although its
/// answer was lost); an error when a service by that name exists that is not.
async fn landed(cx: &Cx, clients: &Clients, site: &Site, id: &str) -> Result<bool> {
    let mut attempt = 0;
    let service = loop {
        attempt += 1;
        match clients.services.get_service().set_name(site.service(cx)).send().await {
            Ok(s) => break s,
            Err(e) if is_not_found(&e) => return Ok(false),
            Err(e) if gcp::is_transient(&e) && attempt < START_ATTEMPTS => {
                tokio::time::sleep(cx.poll.pause(std::time::Duration::from_secs(1), std::time::Duration::from_secs(20), attempt)).await;
            }
            Err(e) => return Err(api_error("cannot read the Cloud Run service", e)),
        }
    };
    if labels(cx).iter().all(|(k, v)| service.labels.get(k) == Some(v)) {
        return Ok(true);
    }
    Err(UsageError::new(format!(
        "Cloud Run service {id} was created by someone else while aideploy was creating it: it lacks this app's aideploy labels; nothing of it was changed"
    ))
    .hint(format!("rename the app or stage, or delete {id} if it is no longer needed, then deploy again"))
    .into())
}

/// Why the service's newest revision did not start, when it did not: its failed
/// condition's message.
async fn latest_revision_failure(cx: &Cx, clients: &Clients, site: &Site) -> Option<(String, String)> {
    let service = clients.services.get_service().set_name(site.service(cx)).send().await.ok()?;
    let latest = service.latest_created_revision;
    let rev = clients.revisions.get_revision().set_name(&latest).send().await.ok()?;
    failure_message(&to_value(&rev)).map(|m| (revision_short(&latest).to_string(), m))
}

pub async fn rollback(cx: &Cx, seen: &Observed, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let service = seen.service.as_ref().filter(|s| s.ours).context("rollback without a service")?;
    let clients = Clients::new().await?;
    let url = service.uri.clone();
    let actions: Vec<_> = plan.changes.iter().map(Change::row).collect();
    for step in &plan.changes {
        let Step::Traffic { revision, .. } = step else { continue };
        let mut body: Value = service.spec.clone();
        body["traffic"] = json!([{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": revision, "percent": 100}]);
        let body: google_cloud_run_v2::model::Service = serde_json::from_value(body).context("service")?;
        r.step(&format!("sending all traffic to revision {revision}"));
        let poller = clients.services.update_service().set_service(body).poller();
        match await_op(poller, "moving traffic", service_timeout(health_timeout(cx)), cx.poll, r).await? {
            Ok(_) => {}
            Err(e) if e.status().is_some() => {
                return Ok(Outcome {
                    url,
                    health: Health::Failed,
                    actions,
                    failure: Some(format!(
                        "{}\n(the current revision keeps serving)",
                        e.status().map(|s| s.message.clone()).unwrap_or_default()
                    )),
                    pushed: None,
                })
            }
            Err(e) => return Err(api_error("cannot move the service's traffic", e)),
        }
    }
    Ok(Outcome { url, health: Health::Passed, actions, failure: None, pushed: None })
}

pub async fn destroy(cx: &Cx, seen: &Observed, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let site = &seen.site;
    let clients = Clients::new().await?;
    for step in &plan.changes {
        match step {
            Step::DeleteService { id } => {
                r.step(&format!("deleting Cloud Run service {id}"));
                let poller = clients.services.delete_service().set_name(site.service(cx)).poller();
                match await_op(poller, "deleting the service", SHORT_TIMEOUT, cx.poll, r).await? {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(api_error("cannot delete the Cloud Run service", e)),
                }
                r.done();
            }
            Step::DeleteSecret { id } => {
                r.step(&format!("deleting secret {id}"));
                match clients.secrets.delete_secret().set_name(site.secret(id)).send().await {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(api_error(&format!("cannot delete secret {id}"), e)),
                }
                r.done();
            }
            Step::DeleteAccount { email } => account::delete(&clients, site, email, r).await?,
            _ => {}
        }
    }
    Ok(Outcome { url: None, health: Health::Skipped, actions: plan.changes.iter().map(Change::row).collect(), failure: None, pushed: None })
}
