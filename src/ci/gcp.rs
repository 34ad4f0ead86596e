//! The Google Cloud side of keyless CI login, as pure plans (the calls are in
//! [`super::gcp_calls`]). A workload identity pool for the app with one
//! OIDC provider for the CI's issuer, whose attribute condition admits tokens of this
//! repository only; a deploy service account granted on the project the roles
//! docs/permissions.md lists for cloudrun, and a plan-only service account with the
//! read roles listed there. The deploy account trusts the token subjects of
//! [`Spec::deploy_subjects`] (the branch, and GitHub's preview environment) one by one,
//! so a pull request's job cannot deploy; the plan account trusts
//! [`Spec::plan_subject`], or the whole repository where that is a pattern.
//!
//! Pools and service accounts take no labels: what aideploy made says so in its
//! description ([`mark`]). Deleting a pool is a soft delete: its id stays taken for 30
//! days, and `ci init` within them restores it rather than making a new one.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{CiProvider, Spec};
use crate::engine::{Action, Change, Op, Planned};
use crate::error::UsageError;

const PERMISSIONS_MD: &str = include_str!("../../docs/permissions.md");

/// The role that lets a federated principal act as a service account.
pub const WORKLOAD_IDENTITY_USER: &str = "roles/iam.workloadIdentityUser";

/// The text of `## {section}` in a Markdown document, up to the next `## `.
fn section<'a>(md: &'a str, name: &str) -> &'a str {
    let mut start = None;
    let mut offset = 0;
    for line in md.split_inclusive('\n') {
        if let Some(h) = line.strip_prefix("## ") {
            if let Some(s) = start {
                return &md[s..offset];
            }
            if h.split_whitespace().next().unwrap_or("").trim_matches('`') == name {
                start = Some(offset + line.len());
            }
        }
        offset += line.len();
    }
    start.map_or("", |s| &md[s..])
}

/// Every `` `roles/...` `` in a piece of text, in order, without repeats.
fn roles_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 && part.starts_with("roles/") && !part.contains(char::is_whitespace) && !out.iter().any(|r| r == part) {
            out.push(part.to_string());
        }
    }
    out
}

/// The project roles of the deploy identity, from `## cloudrun` of docs/permissions.md:
/// the first role of each bullet under "As predefined roles on the project:" that starts
/// with one (the bullets about a billing account grant nothing on the project).
pub fn deploy_roles_in(md: &str) -> Vec<String> {
    let text = section(md, "cloudrun");
    let Some((_, rest)) = text.split_once("As predefined roles on the project:") else { return Vec::new() };
    let list = rest.split("\n\n").find(|p| !p.trim().is_empty()).unwrap_or("");
    list.lines().filter(|l| l.starts_with("- `roles/")).filter_map(|l| roles_in(l).into_iter().next()).collect()
}

/// The project roles of the plan-only identity: every role in the paragraph of
/// `## cloudrun` that starts "A plan-only identity:".
pub fn plan_roles_in(md: &str) -> Vec<String> {
    let text = section(md, "cloudrun");
    let Some((_, rest)) = text.split_once("A plan-only identity:") else { return Vec::new() };
    roles_in(rest.split("\n\n").next().unwrap_or(""))
}

pub fn deploy_roles() -> Vec<String> {
    deploy_roles_in(PERMISSIONS_MD)
}

pub fn plan_roles() -> Vec<String> {
    plan_roles_in(PERMISSIONS_MD)
}

/// `base` as a Google Cloud id of at most `max` characters (lowercase letters, digits,
/// hyphens; no hyphen at the end): when too long, cut and ended with 8 hex characters
/// of a hash of the whole, so two long names stay apart.
pub fn short_id(base: &str, max: usize) -> String {
    let clean: String = base.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect::<String>();
    if clean.len() <= max {
        return clean.trim_end_matches('-').to_string();
    }
    let hash = hex::encode(Sha256::digest(clean.as_bytes()));
    let head = clean[..max - 9].trim_end_matches('-');
    format!("{head}-{}", &hash[..8])
}

/// The app's workload identity pool: `aideploy-ci-{app}` (4-32 characters).
pub fn pool_id(app: &str) -> String {
    short_id(&super::deploy_identity(app), 32)
}

/// The provider in the pool: the CI's name (`github`, `gitlab`; 4-32 characters).
pub fn provider_id(provider: CiProvider) -> &'static str {
    provider.as_str()
}

/// The deploy service account's id (6-30 characters).
pub fn deploy_account(app: &str) -> String {
    short_id(&super::deploy_identity(app), 30)
}

/// The plan-only service account's id.
pub fn plan_account(app: &str) -> String {
    short_id(&super::plan_identity(app), 30)
}

pub fn email(account_id: &str, project: &str) -> String {
    format!("{account_id}@{project}.iam.gserviceaccount.com")
}

/// The claim of the CI's token that names the repository.
pub fn repository_claim(provider: CiProvider) -> &'static str {
    match provider {
        CiProvider::Github => "assertion.repository",
        CiProvider::Gitlab => "assertion.project_path",
    }
}

/// What aideploy writes in the description of what it made, and looks for.
pub fn mark(spec: &Spec) -> String {
    format!("aideploy:app={} aideploy:ci={}", spec.app, spec.tag())
}

/// Whether a description says the thing is aideploy's for `app`.
pub fn owned(description: &str, app: &str) -> bool {
    let want = format!("aideploy:app={app}");
    description.split_whitespace().any(|w| w == want)
}

/// The provider resource `ci init` wants (the fields it sets; `name` and `state` are
/// the API's).
pub fn provider_body(spec: &Spec) -> Value {
    let claim = repository_claim(spec.provider);
    json!({
        "displayName": format!("{} {}", spec.provider.as_str(), short_display(&spec.repo)),
        "description": mark(spec),
        "attributeMapping": {"google.subject": "assertion.sub", "attribute.repository": claim},
        "attributeCondition": format!("{claim} == '{}'", spec.repo),
        "oidc": {"issuerUri": spec.issuer},
    })
}

/// A display name holds at most 32 characters.
fn short_display(s: &str) -> String {
    let max = 32 - "github ".len();
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().skip(s.chars().count() - max).collect()
    }
}

pub fn pool_body(spec: &Spec) -> Value {
    json!({"displayName": short_display(&format!("aideploy {}", spec.app)), "description": mark(spec)})
}

fn pool_name(number: &str, pool: &str) -> String {
    format!("projects/{number}/locations/global/workloadIdentityPools/{pool}")
}

/// The identity of every token whose `sub` is `subject`.
pub fn principal(number: &str, pool: &str, subject: &str) -> String {
    format!("principal://iam.googleapis.com/{}/subject/{subject}", pool_name(number, pool))
}

/// The identities of every token of the repository.
pub fn principal_set(number: &str, pool: &str, repo: &str) -> String {
    format!("principalSet://iam.googleapis.com/{}/attribute.repository/{repo}", pool_name(number, pool))
}

/// The provider as the workflow's login names it.
pub fn provider_name(number: &str, pool: &str, provider: CiProvider) -> String {
    format!("{}/providers/{}", pool_name(number, pool), provider_id(provider))
}

/// A service account `ci init` wants.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountWant {
    pub id: String,
    pub email: String,
    pub purpose: String,
    /// The members of its `roles/iam.workloadIdentityUser` binding.
    pub trusted: Vec<String>,
    pub roles: Vec<String>,
}

pub fn wanted(spec: &Spec, project: &str, number: &str) -> Vec<AccountWant> {
    let pool = pool_id(&spec.app);
    let deploy = deploy_account(&spec.app);
    let plan = plan_account(&spec.app);
    let (plan_sub, pattern) = spec.plan_subject();
    let plan_trusted = if pattern { principal_set(number, &pool, &spec.repo) } else { principal(number, &pool, &plan_sub) };
    vec![
        AccountWant {
            email: email(&deploy, project),
            id: deploy,
            purpose: format!("deploys: {}", spec.deploy_subjects().join(", ")),
            trusted: spec.deploy_subjects().iter().map(|s| principal(number, &pool, s)).collect(),
            roles: deploy_roles(),
        },
        AccountWant {
            email: email(&plan, project),
            id: plan,
            purpose: format!("plan only: {plan_sub}"),
            trusted: vec![plan_trusted],
            roles: plan_roles(),
        },
    ]
}

/// The pool or provider, as read (`state`: `ACTIVE` or `DELETED`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolSeen {
    pub description: String,
    pub state: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderSeen {
    pub state: String,
    /// The resource as read; compared on the fields of [`provider_body`].
    pub body: Value,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountSeen {
    pub email: String,
    pub description: String,
    /// The members of its own `roles/iam.workloadIdentityUser` binding.
    pub trusted: Vec<String>,
}

/// What exists in the project.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub project: String,
    pub number: String,
    pub pool: Option<PoolSeen>,
    pub provider: Option<ProviderSeen>,
    /// By account id.
    pub accounts: BTreeMap<String, AccountSeen>,
    /// The project's IAM policy: role -> members.
    pub bindings: BTreeMap<String, Vec<String>>,
}

/// One step of `ci init` or `ci destroy` on Google Cloud.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    CreatePool {
        id: String,
        body: Value,
    },
    UndeletePool {
        id: String,
    },
    PoolOk {
        id: String,
    },
    DeletePool {
        id: String,
    },
    CreateProvider {
        pool: String,
        id: String,
        body: Value,
    },
    UndeleteProvider {
        pool: String,
        id: String,
    },
    /// The fields of `mask` set as in `body`.
    UpdateProvider {
        pool: String,
        id: String,
        body: Value,
        mask: Vec<String>,
    },
    ProviderOk {
        id: String,
    },
    CreateAccount {
        id: String,
        description: String,
        purpose: String,
    },
    AccountOk {
        id: String,
    },
    DeleteAccount {
        email: String,
    },
    /// The account's `roles/iam.workloadIdentityUser` binding set to exactly `members`.
    SetTrust {
        email: String,
        members: Vec<String>,
    },
    Grant {
        role: String,
        member: String,
    },
    Revoke {
        role: String,
        member: String,
    },
}

impl Change for Step {
    fn row(&self) -> Action {
        match self {
            Step::CreatePool { id, .. } => Action::new(Op::Create, "workload-identity-pool", id),
            Step::UndeletePool { id } => {
                Action::new(Op::Update, "workload-identity-pool", id).because("undelete (deleted less than 30 days ago)")
            }
            Step::PoolOk { id } => Action::new(Op::Noop, "workload-identity-pool", id),
            Step::DeletePool { id } => Action::new(Op::Delete, "workload-identity-pool", id),
            Step::CreateProvider { pool, id, body } => Action::new(Op::Create, "workload-identity-provider", format!("{pool}/{id}"))
                .because(body["attributeCondition"].as_str().unwrap_or("").to_string()),
            Step::UndeleteProvider { pool, id } => {
                Action::new(Op::Update, "workload-identity-provider", format!("{pool}/{id}")).because("undelete")
            }
            Step::UpdateProvider { pool, id, mask, .. } => {
                Action::new(Op::Update, "workload-identity-provider", format!("{pool}/{id}")).because(mask.join(", "))
            }
            Step::ProviderOk { id } => Action::new(Op::Noop, "workload-identity-provider", id),
            Step::CreateAccount { id, purpose, .. } => Action::new(Op::Create, "service-account", id).because(purpose.clone()),
            Step::AccountOk { id } => Action::new(Op::Noop, "service-account", id),
            Step::DeleteAccount { email } => Action::new(Op::Delete, "service-account", email),
            Step::SetTrust { email, members } => {
                Action::new(Op::Update, "service-account", email).because(format!("{WORKLOAD_IDENTITY_USER}: {}", members.join(", ")))
            }
            Step::Grant { role, member } => Action::new(Op::Update, "project-iam", role).because(format!("grant to {member}")),
            Step::Revoke { role, member } => Action::new(Op::Update, "project-iam", role).because(format!("revoke from {member}")),
        }
    }

    fn leaves(&self) -> Option<String> {
        match self {
            Step::DeletePool { id } => Some(format!(
                "the workload identity pool {id} stays soft-deleted for 30 days and keeps its id; `ci init` within them restores it"
            )),
            _ => None,
        }
    }
}

fn foreign(what: &str, name: &str, app: &str) -> anyhow::Error {
    UsageError::new(format!(
        "the {what} {name} exists but is not aideploy's for the app `{app}` (its description lacks aideploy:app={app})"
    ))
    .hint(format!("rename the app, or delete the {what} {name}"))
    .into()
}

/// The fields of the provider that differ from what `ci init` wants.
fn provider_diff(have: &Value, want: &Value) -> Vec<String> {
    ["displayName", "description", "attributeMapping", "attributeCondition", "oidc"]
        .into_iter()
        .filter(|f| match *f {
            "oidc" => have["oidc"]["issuerUri"] != want["oidc"]["issuerUri"],
            f => have[f] != want[f],
        })
        .map(String::from)
        .collect()
}

/// What `ci init` would do. An error, before anything is written, for a pool or service
/// account of the same id that is not this app's.
pub fn plan_init(spec: &Spec, seen: &Seen) -> Result<Planned<Step>> {
    let mut steps = Vec::new();
    let pool = pool_id(&spec.app);
    let provider = provider_id(spec.provider).to_string();
    let body = provider_body(spec);
    match &seen.pool {
        None => steps.push(Step::CreatePool { id: pool.clone(), body: pool_body(spec) }),
        Some(p) if !owned(&p.description, &spec.app) => return Err(foreign("workload identity pool", &pool, &spec.app)),
        Some(p) if p.state == "DELETED" => steps.push(Step::UndeletePool { id: pool.clone() }),
        Some(_) => steps.push(Step::PoolOk { id: pool.clone() }),
    }
    match &seen.provider {
        None => steps.push(Step::CreateProvider { pool: pool.clone(), id: provider.clone(), body: body.clone() }),
        Some(p) => {
            if p.state == "DELETED" {
                steps.push(Step::UndeleteProvider { pool: pool.clone(), id: provider.clone() });
            }
            let mask = provider_diff(&p.body, &body);
            if mask.is_empty() {
                steps.push(Step::ProviderOk { id: provider.clone() });
            } else {
                steps.push(Step::UpdateProvider { pool: pool.clone(), id: provider.clone(), body: body.clone(), mask });
            }
        }
    }
    for want in wanted(spec, &seen.project, &seen.number) {
        match seen.accounts.get(&want.id) {
            None => steps.push(Step::CreateAccount { id: want.id.clone(), description: mark(spec), purpose: want.purpose.clone() }),
            Some(a) if !owned(&a.description, &spec.app) => return Err(foreign("service account", &want.email, &spec.app)),
            Some(_) => steps.push(Step::AccountOk { id: want.id.clone() }),
        }
        let trusted = seen.accounts.get(&want.id).map(|a| a.trusted.clone()).unwrap_or_default();
        let (mut have, mut need) = (trusted.clone(), want.trusted.clone());
        have.sort();
        need.sort();
        if have != need {
            steps.push(Step::SetTrust { email: want.email.clone(), members: want.trusted.clone() });
        }
        let member = format!("serviceAccount:{}", want.email);
        for role in &want.roles {
            if !seen.bindings.get(role).is_some_and(|m| m.contains(&member)) {
                steps.push(Step::Grant { role: role.clone(), member: member.clone() });
            }
        }
        // A role no longer listed for it: revoked.
        for (role, members) in &seen.bindings {
            if members.contains(&member) && !want.roles.contains(role) {
                steps.push(Step::Revoke { role: role.clone(), member: member.clone() });
            }
        }
    }
    Ok(Planned::of(steps))
}

/// What `ci destroy` would do: the project roles of this app's service accounts
/// revoked, the accounts deleted, and the app's pool deleted (a soft delete).
pub fn plan_destroy(app: &str, seen: &Seen) -> Planned<Step> {
    let mut steps = Vec::new();
    for a in seen.accounts.values().filter(|a| owned(&a.description, app)) {
        let member = format!("serviceAccount:{}", a.email);
        for (role, members) in &seen.bindings {
            if members.contains(&member) {
                steps.push(Step::Revoke { role: role.clone(), member: member.clone() });
            }
        }
        steps.push(Step::DeleteAccount { email: a.email.clone() });
    }
    if let Some(p) = &seen.pool {
        if owned(&p.description, app) && p.state != "DELETED" {
            steps.push(Step::DeletePool { id: pool_id(app) });
        }
    }
    Planned::of(steps)
}

/// What a job needs to log in to Google Cloud: the provider's full resource name and
/// the two service accounts.
#[derive(Debug, Clone, PartialEq)]
pub struct Login {
    /// `projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER`.
    pub provider: String,
    pub project: String,
    pub deploy: String,
    pub plan: String,
}

impl Login {
    pub fn of(spec: &Spec, project: &str, number: &str) -> Login {
        Login {
            provider: provider_name(number, &pool_id(&spec.app), spec.provider),
            project: project.to_string(),
            deploy: email(&deploy_account(&spec.app), project),
            plan: email(&plan_account(&spec.app), project),
        }
    }

    fn account(&self, plan_only: bool) -> (&str, &str) {
        if plan_only {
            (&self.plan, "plan-only service account")
        } else {
            (&self.deploy, "deploy service account")
        }
    }

    /// The GitHub Actions step (the job has `id-token: write`): the official login
    /// action exchanges the job's token for the service account's; the token's audience
    /// is the action's default, the provider's URL, which the provider accepts.
    pub fn github_step(&self, plan_only: bool) -> String {
        let (account, who) = self.account(plan_only);
        format!(
            "      - name: Google Cloud login ({who}, from this job's OIDC token)
        uses: google-github-actions/auth@v2
        with:
          workload_identity_provider: {provider}
          service_account: {account}
          project_id: {project}
",
            provider = self.provider,
            project = self.project
        )
    }

    /// The GitLab lines of the shared job template: the ID token in a file, and an
    /// external account credential configuration naming it, which the Google Cloud
    /// clients read through GOOGLE_APPLICATION_CREDENTIALS. Each job sets
    /// AIDEPLOY_GCP_SERVICE_ACCOUNT ([`Login::gitlab_variable`]).
    pub fn gitlab_script(&self) -> String {
        format!(
            "    - printf '%s' \"$AIDEPLOY_GCP_ID_TOKEN\" > \"$CI_PROJECT_DIR/.gcp-id-token\"
    - printf '{{\"type\":\"external_account\",\"audience\":\"//iam.googleapis.com/{provider}\",\"subject_token_type\":\"urn:ietf:params:oauth:token-type:jwt\",\"token_url\":\"https://sts.googleapis.com/v1/token\",\"credential_source\":{{\"file\":\"%s\"}},\"service_account_impersonation_url\":\"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/%s:generateAccessToken\"}}' \"$CI_PROJECT_DIR/.gcp-id-token\" \"$AIDEPLOY_GCP_SERVICE_ACCOUNT\" > \"$GOOGLE_APPLICATION_CREDENTIALS\"
",
            provider = self.provider
        )
    }

    /// The entry of the shared job template's `id_tokens:`.
    pub fn gitlab_tokens(&self) -> String {
        format!("    AIDEPLOY_GCP_ID_TOKEN:\n      aud: https://iam.googleapis.com/{}\n", self.provider)
    }

    /// The entries of the shared job template's `variables:`.
    pub fn gitlab_variables(&self) -> String {
        format!("    GOOGLE_APPLICATION_CREDENTIALS: $CI_PROJECT_DIR/.gcp-credentials.json\n    GOOGLE_CLOUD_PROJECT: {}\n", self.project)
    }

    /// The variable line of one GitLab job (under its `variables:`).
    pub fn gitlab_variable(&self, plan_only: bool) -> String {
        format!("    AIDEPLOY_GCP_SERVICE_ACCOUNT: {}\n", self.account(plan_only).0)
    }
}

#[cfg(test)]
#[path = "gcp_tests.rs"]
mod tests;
