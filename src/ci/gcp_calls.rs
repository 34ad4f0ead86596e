//! The calls of the Google Cloud side of `ci`, over REST with the credentials the
//! cloudrun target uses (Application Default Credentials; none for an
//! `AIDEPLOY_GCP_ENDPOINT` on this machine): IAM v1 (workload identity pools and
//! providers, service accounts and their IAM policies) and Cloud Resource Manager v1
//! (the project's number and IAM policy, read-modify-write with its etag).

use std::time::Duration;

use anyhow::Result;
use reqwest::Method;
use serde_json::{json, Value};

use super::gcp::{self, AccountSeen, PoolSeen, ProviderSeen, Seen, Step, WORKLOAD_IDENTITY_USER};
use crate::ci::CiProvider;
use crate::cloud::gcp as cloud;
use crate::engine::{Planned, Reporter};
use crate::error::Hinted;

const IAM: &str = "https://iam.googleapis.com";
const CRM: &str = "https://cloudresourcemanager.googleapis.com";

pub struct Client {
    rest: cloud::Rest,
    /// The endpoint override, for every API.
    base: Option<String>,
    loopback: bool,
}

/// What the account running `ci` needs, for a 403.
const FORBIDDEN: &str = "the account running `ci init` needs roles/iam.workloadIdentityPoolAdmin, roles/iam.serviceAccountAdmin \
                         and roles/resourcemanager.projectIamAdmin on the project, and the IAM API enabled";

impl Client {
    pub async fn new() -> Result<Client> {
        let endpoint = cloud::endpoint_override()?;
        let loopback = cloud::is_loopback(endpoint.as_deref());
        // The same checks of the login as a deploy's, with their plain messages.
        crate::cloud::login::gcp().await?;
        Ok(Client { rest: cloud::Rest::new(loopback).await?, base: endpoint, loopback })
    }

    /// A client of an endpoint on this machine (tests, emulators): no credentials.
    pub fn loopback(base: &str) -> Result<Client> {
        Ok(Client { rest: cloud::Rest::anonymous()?, base: Some(base.to_string()), loopback: true })
    }

    /// `Ok(None)` for a 404; `what` names the call in errors.
    async fn call(&self, api: &str, method: Method, path: &str, body: Option<&Value>, what: &str) -> Result<Option<Value>> {
        let url = format!("{}/{path}", self.base.as_deref().unwrap_or(api));
        let idempotent = method != Method::POST || path.ends_with(":getIamPolicy");
        let what = format!("Google Cloud {what}");
        let (code, answer) = self.rest.send(method.clone(), &url, body, idempotent, &what).await?;
        if (200..300).contains(&code) {
            return Ok(Some(answer));
        }
        if code == 404 && method == Method::GET {
            return Ok(None);
        }
        Err(cloud::rest_error(&what, code, &answer, FORBIDDEN))
    }

    async fn must(&self, api: &str, method: Method, path: &str, body: Option<&Value>, what: &str) -> Result<Value> {
        self.call(api, method, path, body, what)
            .await?
            .ok_or_else(|| Hinted::new(format!("Google Cloud {what}: not found"), "run again").into())
    }

    /// Waits for an IAM long-running operation.
    async fn wait(&self, op: Value, what: &str) -> Result<()> {
        let mut op = op;
        let every = Duration::from_millis(if self.loopback { 50 } else { 2000 });
        for _ in 0..150 {
            if op["done"] == true {
                if !op["error"].is_null() {
                    let m = op["error"]["message"].as_str().unwrap_or("failed");
                    return Err(Hinted::new(format!("Google Cloud {what}: {m}"), "run again with -v for details").into());
                }
                return Ok(());
            }
            tokio::time::sleep(every).await;
            let name = op["name"].as_str().unwrap_or_default().to_string();
            op = self.must(IAM, Method::GET, &format!("v1/{name}"), None, what).await?;
        }
        Err(Hinted::new(format!("Google Cloud {what}: still running after 5 minutes"), "run again later: it is safe to re-run").into())
    }
}

fn pools(project: &str) -> String {
    format!("v1/projects/{project}/locations/global/workloadIdentityPools")
}

fn account_path(project: &str, email: &str) -> String {
    format!("v1/projects/{project}/serviceAccounts/{email}")
}

/// What exists of the app's pool, its provider for `provider` (`None` for a destroy,
/// which deletes the pool and so its providers), its two service accounts, and the
/// project's IAM policy.
pub async fn observe(c: &Client, project: &str, app: &str, provider: Option<CiProvider>) -> Result<Seen> {
    let p = c.must(CRM, Method::GET, &format!("v1/projects/{project}"), None, "projects.get").await?;
    let number = p["projectNumber"].as_str().unwrap_or_default().to_string();
    let pool_id = gcp::pool_id(app);
    let mut seen = Seen { project: project.to_string(), number, ..Seen::default() };
    if let Some(v) = c.call(IAM, Method::GET, &format!("{}/{pool_id}", pools(project)), None, "workloadIdentityPools.get").await? {
        seen.pool = Some(PoolSeen {
            description: v["description"].as_str().unwrap_or_default().to_string(),
            state: v["state"].as_str().unwrap_or_default().to_string(),
        });
        if let Some(provider) = provider {
            let path = format!("{}/{pool_id}/providers/{}", pools(project), gcp::provider_id(provider));
            if let Some(v) = c.call(IAM, Method::GET, &path, None, "providers.get").await? {
                seen.provider = Some(ProviderSeen { state: v["state"].as_str().unwrap_or_default().to_string(), body: v });
            }
        }
    }
    for id in [gcp::deploy_account(app), gcp::plan_account(app)] {
        let email = gcp::email(&id, project);
        let Some(v) = c.call(IAM, Method::GET, &account_path(project, &email), None, "serviceAccounts.get").await? else { continue };
        let policy = c
            .must(
                IAM,
                Method::POST,
                &format!("{}:getIamPolicy", account_path(project, &email)),
                Some(&json!({})),
                "serviceAccounts.getIamPolicy",
            )
            .await?;
        let trusted = members(&policy, WORKLOAD_IDENTITY_USER);
        seen.accounts.insert(id, AccountSeen { email, description: v["description"].as_str().unwrap_or_default().to_string(), trusted });
    }
    let policy = project_policy(c, project).await?;
    for b in policy["bindings"].as_array().into_iter().flatten() {
        if b["condition"].is_null() {
            let role = b["role"].as_str().unwrap_or_default().to_string();
            seen.bindings.entry(role).or_default().extend(strings(&b["members"]));
        }
    }
    Ok(seen)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

fn members(policy: &Value, role: &str) -> Vec<String> {
    policy["bindings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["role"] == role && b["condition"].is_null())
        .flat_map(|b| strings(&b["members"]))
        .collect()
}

async fn project_policy(c: &Client, project: &str) -> Result<Value> {
    c.must(CRM, Method::POST, &format!("v1/projects/{project}:getIamPolicy"), Some(&json!({})), "projects.getIamPolicy").await
}

/// `policy` with `member` added to (or removed from) the unconditional binding of `role`.
pub fn edited(mut policy: Value, role: &str, member: &str, add: bool) -> Value {
    let bindings = policy["bindings"].as_array().cloned().unwrap_or_default();
    let mut out: Vec<Value> = Vec::new();
    let mut found = false;
    for mut b in bindings {
        if b["role"] == role && b["condition"].is_null() {
            found = true;
            let mut m = strings(&b["members"]);
            m.retain(|x| x != member);
            if add {
                m.push(member.to_string());
            }
            if m.is_empty() {
                continue;
            }
            b["members"] = json!(m);
        }
        out.push(b);
    }
    if add && !found {
        out.push(json!({"role": role, "members": [member]}));
    }
    policy["bindings"] = json!(out);
    policy
}

/// The project's policy changed in one read-modify-write; retried when someone else
/// wrote in between (409).
async fn edit_project(c: &Client, project: &str, role: &str, member: &str, add: bool) -> Result<()> {
    let mut tries = 0;
    loop {
        let policy = edited(project_policy(c, project).await?, role, member, add);
        let path = format!("v1/projects/{project}:setIamPolicy");
        match c.call(CRM, Method::POST, &path, Some(&json!({"policy": policy})), "projects.setIamPolicy").await {
            Ok(_) => return Ok(()),
            Err(e) if tries < 3 && e.to_string().contains("HTTP 409") => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

pub async fn apply(c: &Client, seen: &Seen, plan: &Planned<Step>, r: &dyn Reporter) -> Result<()> {
    let project = &seen.project;
    for step in &plan.changes {
        match step {
            Step::CreatePool { id, body } => {
                r.step(&format!("Creating the workload identity pool {id}"));
                let op = c
                    .must(
                        IAM,
                        Method::POST,
                        &format!("{}?workloadIdentityPoolId={id}", pools(project)),
                        Some(body),
                        "workloadIdentityPools.create",
                    )
                    .await?;
                c.wait(op, "workloadIdentityPools.create").await?;
            }
            Step::UndeletePool { id } => {
                r.step(&format!("Restoring the workload identity pool {id}"));
                let op = c
                    .must(
                        IAM,
                        Method::POST,
                        &format!("{}/{id}:undelete", pools(project)),
                        Some(&json!({})),
                        "workloadIdentityPools.undelete",
                    )
                    .await?;
                c.wait(op, "workloadIdentityPools.undelete").await?;
            }
            Step::DeletePool { id } => {
                r.step(&format!("Deleting the workload identity pool {id}"));
                let op = c.must(IAM, Method::DELETE, &format!("{}/{id}", pools(project)), None, "workloadIdentityPools.delete").await?;
                c.wait(op, "workloadIdentityPools.delete").await?;
            }
            Step::CreateProvider { pool, id, body } => {
                r.step(&format!("Creating the workload identity provider {pool}/{id}"));
                let path = format!("{}/{pool}/providers?workloadIdentityPoolProviderId={id}", pools(project));
                let op = c.must(IAM, Method::POST, &path, Some(body), "providers.create").await?;
                c.wait(op, "providers.create").await?;
            }
            Step::UndeleteProvider { pool, id } => {
                r.step(&format!("Restoring the workload identity provider {pool}/{id}"));
                let path = format!("{}/{pool}/providers/{id}:undelete", pools(project));
                let op = c.must(IAM, Method::POST, &path, Some(&json!({})), "providers.undelete").await?;
                c.wait(op, "providers.undelete").await?;
            }
            Step::UpdateProvider { pool, id, body, mask } => {
                r.step(&format!("Updating the workload identity provider {pool}/{id}"));
                let path = format!("{}/{pool}/providers/{id}?updateMask={}", pools(project), mask.join(","));
                let op = c.must(IAM, Method::PATCH, &path, Some(body), "providers.patch").await?;
                c.wait(op, "providers.patch").await?;
            }
            Step::CreateAccount { id, description, .. } => {
                r.step(&format!("Creating the service account {id}"));
                let body = json!({"accountId": id, "serviceAccount": {"displayName": id, "description": description}});
                c.must(IAM, Method::POST, &format!("v1/projects/{project}/serviceAccounts"), Some(&body), "serviceAccounts.create").await?;
            }
            Step::DeleteAccount { email } => {
                r.step(&format!("Deleting the service account {email}"));
                c.must(IAM, Method::DELETE, &account_path(project, email), None, "serviceAccounts.delete").await?;
            }
            Step::SetTrust { email, members } => {
                r.step(&format!("Letting the CI's tokens act as {email}"));
                let path = account_path(project, email);
                let policy =
                    c.must(IAM, Method::POST, &format!("{path}:getIamPolicy"), Some(&json!({})), "serviceAccounts.getIamPolicy").await?;
                let mut bindings: Vec<Value> =
                    policy["bindings"].as_array().into_iter().flatten().filter(|b| b["role"] != WORKLOAD_IDENTITY_USER).cloned().collect();
                bindings.push(json!({"role": WORKLOAD_IDENTITY_USER, "members": members}));
                let mut policy = policy;
                policy["bindings"] = json!(bindings);
                c.must(
                    IAM,
                    Method::POST,
                    &format!("{path}:setIamPolicy"),
                    Some(&json!({"policy": policy})),
                    "serviceAccounts.setIamPolicy",
                )
                .await?;
            }
            Step::Grant { role, member } => {
                r.step(&format!("Granting {role} to {member}"));
                edit_project(c, project, role, member, true).await?;
            }
            Step::Revoke { role, member } => {
                r.step(&format!("Revoking {role} from {member}"));
                edit_project(c, project, role, member, false).await?;
            }
            Step::PoolOk { .. } | Step::ProviderOk { .. } | Step::AccountOk { .. } => {}
        }
    }
    Ok(())
}
