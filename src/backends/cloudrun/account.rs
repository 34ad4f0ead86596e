//! The service's runtime identity: a service account of its own,
//! `aideploy-{app}-{stage}@{project}.iam.gserviceaccount.com`, unless the target names
//! one (`service_account`, used as given: never created, changed or deleted).
//!
//! Service accounts carry no labels: aideploy's mark is the description, which holds
//! the same `aideploy-app=`, `aideploy-stage=` and `aideploy-target=` pairs as the
//! labels of the service and secrets. An account of that id without them is someone
//! else's: a deploy refuses it and destroy leaves it.

use std::collections::BTreeMap;

use anyhow::Result;

use super::{fit, labels, Site};
use crate::cloud::gcp::{self, api_error, is_not_found, Clients};
use crate::engine::wait::{Poll, Wait, Waited};
use crate::engine::{Cx, Reporter};
use crate::error::UsageError;

/// Service account ids: 6-30 characters, `[a-z][a-z0-9-]*[a-z0-9]`.
const MAX_ACCOUNT_ID: usize = 30;
/// The longest display name IAM takes.
const MAX_DISPLAY_NAME: usize = 100;
/// What the description starts with, before the ownership pairs.
const MARK: &str = "Runtime identity of a Cloud Run service, made by aideploy:";

/// The dedicated account's id: `aideploy-{app}-{stage}`; past 30 characters, a prefix
/// and a short hash of the whole name, so two apps or stages never share one.
pub fn account_id(cx: &Cx) -> String {
    fit(&format!("aideploy-{}", cx.resource_base()), MAX_ACCOUNT_ID)
}

/// The dedicated account's email in `project`.
pub fn dedicated_email(cx: &Cx, project: &str) -> String {
    format!("{}@{project}.iam.gserviceaccount.com", account_id(cx))
}

/// Whether the service runs as the dedicated account (no `service_account` setting).
pub fn is_dedicated(cx: &Cx) -> bool {
    cx.target.settings.service_account.is_none()
}

/// The account the service runs as: `service_account`, else the dedicated one.
pub fn runtime_account(cx: &Cx, project: &str) -> String {
    match &cx.target.settings.service_account {
        Some(sa) => sa.get().clone(),
        None => dedicated_email(cx, project),
    }
}

/// The project's default compute account, named after the project number that Secret
/// Manager's names carry (`projects/{number}/secrets/...`): what aideploy ran services
/// as, and granted access to their secrets, before they had accounts of their own.
pub fn compute_account(secret_name: &str) -> Option<String> {
    let number = secret_name.strip_prefix("projects/")?.split('/').next()?;
    (!number.is_empty() && number.chars().all(|c| c.is_ascii_digit())).then(|| format!("{number}-compute@developer.gserviceaccount.com"))
}

/// The description that marks the account as aideploy's for this app, stage and target.
pub fn description(cx: &Cx) -> String {
    let pairs: Vec<String> = labels(cx).iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{MARK} {}", pairs.join(" "))
}

fn display_name(cx: &Cx) -> String {
    format!("aideploy {} ({}, {})", cx.app_name(), cx.stage, cx.target.name).chars().take(MAX_DISPLAY_NAME).collect()
}

/// Whether a description carries aideploy's pairs for this app, stage and target.
pub fn is_ours(cx: &Cx, description: &str) -> bool {
    let found: BTreeMap<&str, &str> = description.split_whitespace().filter_map(|w| w.split_once('=')).collect();
    labels(cx).iter().all(|(k, v)| found.get(k.as_str()) == Some(&v.as_str()))
}

/// The dedicated account as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountNow {
    pub email: String,
    /// Its description carries aideploy's mark for this app, stage and target.
    pub ours: bool,
}

fn resource(project: &str, email: &str) -> String {
    format!("projects/{project}/serviceAccounts/{email}")
}

/// Reads the dedicated account (whoever made it), read-only.
pub async fn read(cx: &Cx, clients: &Clients, site: &Site) -> Result<Option<AccountNow>> {
    let email = dedicated_email(cx, &site.project);
    match clients.iam.get_service_account().set_name(resource(&site.project, &email)).send().await {
        Ok(a) => Ok(Some(AccountNow { ours: is_ours(cx, &a.description), email })),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(api_error(&format!("cannot read service account {email}"), e)),
    }
}

/// Creates the dedicated account with aideploy's mark. One that exists already (a
/// create whose answer was lost, a run that stopped after it) is taken only when it
/// carries the mark.
pub async fn create(cx: &Cx, clients: &Clients, site: &Site, r: &dyn Reporter) -> Result<()> {
    let email = dedicated_email(cx, &site.project);
    r.step(&format!("creating service account {email}"));
    let account =
        google_cloud_iam_admin_v1::model::ServiceAccount::new().set_display_name(display_name(cx)).set_description(description(cx));
    let made = clients
        .iam
        .create_service_account()
        .set_name(format!("projects/{}", site.project))
        .set_account_id(account_id(cx))
        .set_service_account(account)
        .send()
        .await;
    match made {
        Ok(_) => {}
        Err(e) if gcp::is_conflict(&e) => match read(cx, clients, site).await? {
            Some(a) if a.ours => {}
            _ => {
                return Err(UsageError::new(format!(
                    "service account {email} was created by someone else while aideploy was creating it: its description lacks this app's aideploy mark; nothing of it was changed"
                ))
                .hint(format!("rename the app or stage, or set `service_account` in [targets.{}]", cx.target.name))
                .into())
            }
        },
        Err(e) => return Err(api_error(&format!("cannot create service account {email}"), e)),
    }
    r.done();
    Ok(())
}

/// Whether the account `service_account` names is known not to exist: IAM answers
/// NOT_FOUND for it. (Any other answer, such as no permission to read an account of
/// another project, leaves it to the deploy to find out.)
pub async fn named_missing(cx: &Cx, clients: &Clients) -> Result<Option<String>> {
    let Some(email) = cx.target.settings.service_account.as_ref().map(|s| s.get().clone()) else { return Ok(None) };
    match clients.iam.get_service_account().set_name(resource("-", &email)).send().await {
        Err(e) if is_not_found(&e) => Ok(Some(email)),
        _ => Ok(None),
    }
}

/// Refuses a named account that does not exist, before anything is changed.
pub fn refuse_missing(cx: &Cx, missing: Option<&str>) -> Result<()> {
    let Some(email) = missing else { return Ok(()) };
    Err(UsageError::new(format!("service_account = \"{email}\" in [targets.{}]: that service account does not exist; nothing was changed", cx.target.name))
        .hint("create it (gcloud iam service-accounts create), fix its email, or remove `service_account` to let aideploy make the service an account of its own")
        .into())
}

/// Deletes the dedicated account; one already gone is fine.
pub async fn delete(clients: &Clients, site: &Site, email: &str, r: &dyn Reporter) -> Result<()> {
    r.step(&format!("deleting service account {email}"));
    match clients.iam.delete_service_account().set_name(resource(&site.project, email)).send().await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(api_error(&format!("cannot delete service account {email}"), e)),
    }
    r.done();
    Ok(())
}

/// How long a new account may take to be accepted in IAM policies (IAM is eventually
/// consistent: a policy naming an account made seconds ago can be refused as naming
/// one that does not exist).
const PROPAGATION: std::time::Duration = std::time::Duration::from_secs(120);

/// Whether an error is IAM refusing `member` as unknown: INVALID_ARGUMENT naming it.
pub fn is_unknown_member(e: &google_cloud_gax::error::Error, email: &str) -> bool {
    use google_cloud_gax::error::rpc::Code;
    e.status().is_some_and(|s| s.code == Code::InvalidArgument && s.message.contains(email))
}

/// Runs `call` (a policy write naming `email`) until IAM knows the account, for at most
/// [`PROPAGATION`]; any other answer is returned at once.
pub async fn while_unknown<T, F, Fut>(cx: &Cx, email: &str, what: &str, r: &dyn Reporter, call: F) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, google_cloud_gax::error::Error>>,
{
    let call = &call;
    let waited = Wait::new(what, std::time::Duration::from_secs(2), PROPAGATION)
        .run(cx.poll, r, move || async move {
            Ok(match call().await {
                Err(e) if is_unknown_member(&e, email) => Poll::Pending(format!("IAM does not know {email} yet; asking again")),
                other => Poll::Ready(other),
            })
        })
        .await?;
    match waited {
        Waited::Ready(res) => res.map_err(|e| api_error(what, e)),
        Waited::TimedOut { waited, .. } => Err(crate::error::Hinted::new(
            format!("{what}: IAM still did not know {email} after {} s", waited.as_secs()),
            "run the deploy again in a minute (it is safe to re-run)",
        )
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(app: &str, stage: &str) -> Cx {
        let text = format!(
            "version = 1\n[app]\nname = \"{app}\"\nruntime = \"python3.11\"\nasgi = \"app.main:app\"\nport = 8000\n[targets.cloudrun]\nproject = \"p\"\nregion = \"europe-west1\"\n"
        );
        let mut cx = crate::engine::testing::cx_with_secret(&text, "cloudrun", &[], "K", "v1");
        cx.stage = stage.parse().unwrap();
        cx
    }

    #[test]
    fn account_ids_fit_iam_rules_and_never_meet() {
        let valid = |id: &str| {
            let b = id.as_bytes();
            (6..=30).contains(&b.len())
                && b[0].is_ascii_lowercase()
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[b.len() - 1].is_ascii_alphanumeric()
        };
        assert_eq!(account_id(&cx("rag", "dev")), "aideploy-rag-dev");
        let long = "a-very-long-application-name-for-testing";
        let a = account_id(&cx(long, "prod"));
        let b = account_id(&cx(long, "dev"));
        let c = account_id(&cx(&format!("{}z", &long[..39]), "prod"));
        for id in [&a, &b, &c] {
            assert!(valid(id), "{id}");
            assert!(id.starts_with("aideploy-a-very"), "{id}");
        }
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(dedicated_email(&cx("rag", "dev"), "p1"), "aideploy-rag-dev@p1.iam.gserviceaccount.com");
    }

    #[test]
    fn the_mark_is_this_app_stage_and_target() {
        let ours = cx("rag", "dev");
        let d = description(&ours);
        assert!(d.len() <= 256 && d.contains("aideploy-app=rag") && d.contains("aideploy-stage=dev"), "{d}");
        assert!(is_ours(&ours, &d));
        assert!(!is_ours(&cx("rag", "prod"), &d));
        assert!(!is_ours(&cx("rag2", "dev"), &d));
        assert!(!is_ours(&ours, ""));
        assert!(!is_ours(&ours, "the search team's runtime account"));
        assert!(display_name(&cx(&"a".repeat(40), "stage-name-twenty-ch")).chars().count() <= MAX_DISPLAY_NAME);
    }

    #[test]
    fn the_compute_account_comes_from_the_project_number() {
        assert_eq!(compute_account("projects/123/secrets/x").as_deref(), Some("123-compute@developer.gserviceaccount.com"));
        assert_eq!(compute_account("projects/my-project/secrets/x"), None);
        assert_eq!(compute_account("secrets/x"), None);
    }
}
