//! The AWS side of keyless CI login: the IAM OIDC provider for the CI's issuer (reused
//! when the account has one), a deploy role trusting the branch (and GitHub's preview
//! environment), a plan-only role trusting pull requests, and one customer managed
//! policy per target kind and role, from docs/permissions.md ([`super::policy`]).
//! Read ([`observe`]), planned as data ([`plan_init`], [`plan_destroy`], pure), then
//! carried out ([`apply`]). Everything made carries `aideploy:app` and `aideploy:ci`.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use serde_json::{json, Value};

use super::{policy, Spec, AWS_AUDIENCE, TAG_CI};
use crate::cloud::aws::TAG_APP;
use crate::engine::{Action, Change, Op, Planned};
use crate::error::UsageError;

/// The clients `ci` uses.
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    /// The region the workflow's login uses (IAM itself is global).
    pub region: String,
}

impl Clients {
    /// Clients in `region`, else the region the environment or profile names.
    pub async fn load(region: Option<&str>) -> Result<Clients> {
        let config = crate::cloud::aws::load(region, crate::cloud::aws::chosen_profile()).await?;
        let region = config.region().map(|r| r.to_string()).unwrap_or_default();
        Ok(Clients { iam: crate::aws_client!(aws_sdk_iam, &config), sts: crate::aws_client!(aws_sdk_sts, &config), region })
    }
}

/// The IAM OIDC provider for an issuer, as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OidcSeen {
    pub arn: String,
    pub client_ids: Vec<String>,
    pub tags: HashMap<String, String>,
}

/// A role, as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoleSeen {
    pub arn: String,
    pub tags: HashMap<String, String>,
    pub trust: Value,
    /// Attached managed policies: name -> ARN.
    pub attached: BTreeMap<String, String>,
    pub inline: Vec<String>,
}

/// A customer managed policy, as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicySeen {
    pub arn: String,
    pub tags: HashMap<String, String>,
    pub document: Value,
    /// The versions that are not the default, oldest first.
    pub old_versions: Vec<String>,
}

/// What exists in the account.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub partition: String,
    pub account: String,
    /// The providers for the issuer (init) or tagged for this app (destroy), by ARN.
    pub providers: BTreeMap<String, OidcSeen>,
    pub roles: BTreeMap<String, RoleSeen>,
    pub policies: BTreeMap<String, PolicySeen>,
    /// Every other role in the account (another app's CI role or anyone's) and the
    /// providers it trusts, so a destroy keeps a provider some role still uses.
    pub other_roles: BTreeMap<String, Vec<String>>,
}

impl Seen {
    pub fn role_arn(&self, name: &str) -> String {
        format!("arn:{}:iam::{}:role/{name}", self.partition, self.account)
    }
    fn provider_arn(&self, host: &str) -> String {
        format!("arn:{}:iam::{}:oidc-provider/{host}", self.partition, self.account)
    }
}

/// One step of `ci init` or `ci destroy` on AWS.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    CreateProvider {
        url: String,
        tags: Vec<(String, String)>,
    },
    AddAudience {
        arn: String,
    },
    /// A provider that stays as it is; `why` says whose it is.
    KeepProvider {
        arn: String,
        why: String,
    },
    DeleteProvider {
        arn: String,
    },
    CreateRole {
        name: String,
        trust: Value,
        tags: Vec<(String, String)>,
        purpose: String,
    },
    UpdateTrust {
        name: String,
        trust: Value,
        tags: Vec<(String, String)>,
    },
    RoleOk {
        name: String,
    },
    DeleteRole {
        name: String,
        inline: Vec<String>,
    },
    CreatePolicy {
        name: String,
        document: Value,
        tags: Vec<(String, String)>,
        role: String,
    },
    UpdatePolicy {
        name: String,
        arn: String,
        document: Value,
        prune: Option<String>,
    },
    Attach {
        name: String,
        arn: String,
        role: String,
    },
    PolicyOk {
        name: String,
    },
    /// Detached from `roles`, its old versions deleted, then deleted.
    DeletePolicy {
        name: String,
        arn: String,
        old_versions: Vec<String>,
        roles: Vec<String>,
    },
}

fn host_of(arn: &str) -> &str {
    arn.split_once(":oidc-provider/").map_or(arn, |(_, h)| h)
}

impl Change for Step {
    fn row(&self) -> Action {
        match self {
            Step::CreateProvider { url, .. } => {
                Action::new(Op::Create, "oidc-provider", url.trim_start_matches("https://")).because(format!("audience {AWS_AUDIENCE}"))
            }
            Step::AddAudience { arn } => {
                Action::new(Op::Update, "oidc-provider", host_of(arn)).because(format!("add audience {AWS_AUDIENCE}"))
            }
            Step::KeepProvider { arn, why } => Action::new(Op::Noop, "oidc-provider", host_of(arn)).because(why.clone()),
            Step::DeleteProvider { arn } => Action::new(Op::Delete, "oidc-provider", host_of(arn)),
            Step::CreateRole { name, purpose, .. } => Action::new(Op::Create, "iam-role", name).because(purpose.clone()),
            Step::UpdateTrust { name, .. } => Action::new(Op::Update, "iam-role", name).because("trust policy"),
            Step::RoleOk { name } => Action::new(Op::Noop, "iam-role", name),
            Step::DeleteRole { name, .. } => Action::new(Op::Delete, "iam-role", name),
            Step::CreatePolicy { name, role, .. } => Action::new(Op::Create, "iam-policy", name).because(format!("attached to {role}")),
            Step::UpdatePolicy { name, .. } => Action::new(Op::Update, "iam-policy", name).because("permissions changed"),
            Step::Attach { name, role, .. } => Action::new(Op::Update, "iam-policy", name).because(format!("attach to {role}")),
            Step::PolicyOk { name } => Action::new(Op::Noop, "iam-policy", name),
            Step::DeletePolicy { name, .. } => Action::new(Op::Delete, "iam-policy", name),
        }
    }
}

/// The trust policy of a CI role: web identities from the provider, with the audience
/// and the subject pinned (`StringLike` only where the subject is a pattern).
pub fn trust_policy(provider_arn: &str, host: &str, subjects: &[String], pattern: bool) -> Value {
    let sub = if subjects.len() == 1 { json!(subjects[0]) } else { json!(subjects) };
    let condition = if pattern {
        json!({"StringEquals": {format!("{host}:aud"): AWS_AUDIENCE}, "StringLike": {format!("{host}:sub"): sub}})
    } else {
        json!({"StringEquals": {format!("{host}:aud"): AWS_AUDIENCE, format!("{host}:sub"): sub}})
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": condition
        }]
    })
}

/// The roles `ci init` wants: name, trust policy, purpose, and the managed policies
/// (name, document) attached to it.
pub struct RoleWant {
    pub name: String,
    pub trust: Value,
    pub purpose: String,
    pub policies: Vec<(String, Value)>,
}

pub fn wanted(spec: &Spec, provider_arn: &str) -> Vec<RoleWant> {
    let host = spec.issuer_host();
    let deploy = super::deploy_identity(&spec.app);
    let plan = super::plan_identity(&spec.app);
    let mut kinds: Vec<&str> = spec.aws_targets().iter().map(|t| t.kind.as_str()).collect();
    kinds.sort();
    kinds.dedup();
    let docs: Vec<(&str, Value)> =
        kinds.iter().map(|k| (*k, policy::document(k).expect("docs/permissions.md has a policy for every AWS target"))).collect();
    let (plan_sub, pattern) = spec.plan_subject();
    vec![
        RoleWant {
            name: crate::cloud::aws::role_name(&deploy),
            trust: trust_policy(provider_arn, host, &spec.deploy_subjects(), false),
            purpose: format!("deploys: {}", spec.deploy_subjects().join(", ")),
            policies: docs.iter().map(|(k, d)| (format!("{deploy}-{k}"), d.clone())).collect(),
        },
        RoleWant {
            name: crate::cloud::aws::role_name(&plan),
            trust: trust_policy(provider_arn, host, std::slice::from_ref(&plan_sub), pattern),
            purpose: format!("plan only: {plan_sub}"),
            policies: docs.iter().map(|(k, d)| (format!("{plan}-{k}"), policy::read_only(d))).collect(),
        },
    ]
}

fn owner_tags(spec: &Spec) -> Vec<(String, String)> {
    vec![(TAG_APP.to_string(), spec.app.clone()), (TAG_CI.to_string(), spec.tag())]
}

fn foreign(what: &str, name: &str, app: &str) -> anyhow::Error {
    UsageError::new(format!("the IAM {what} {name} exists but is not aideploy's for the app `{app}` (it lacks the tag {TAG_APP}={app})"))
        .hint(format!("rename the app, or delete the {what} {name}"))
        .into()
}

/// What `ci init` would do. An error, before anything is written, for a role or policy
/// of the same name that is not this app's.
pub fn plan_init(spec: &Spec, seen: &Seen) -> Result<Planned<Step>> {
    let mut steps = Vec::new();
    let tags = owner_tags(spec);
    let host = spec.issuer_host();
    let provider_arn = seen.provider_arn(host);
    match seen.providers.get(&provider_arn) {
        None => steps.push(Step::CreateProvider { url: spec.issuer.clone(), tags: tags.clone() }),
        Some(p) => {
            if !p.client_ids.iter().any(|c| c == AWS_AUDIENCE) {
                steps.push(Step::AddAudience { arn: p.arn.clone() });
            }
            let why = if p.tags.get(TAG_APP) == Some(&spec.app) {
                "made by aideploy for this app".to_string()
            } else {
                "exists already: reused, and kept by `ci destroy`".to_string()
            };
            steps.push(Step::KeepProvider { arn: p.arn.clone(), why });
        }
    }
    for want in wanted(spec, &provider_arn) {
        match seen.roles.get(&want.name) {
            None => steps.push(Step::CreateRole {
                name: want.name.clone(),
                trust: want.trust.clone(),
                tags: tags.clone(),
                purpose: want.purpose,
            }),
            Some(r) if r.tags.get(TAG_APP) != Some(&spec.app) => return Err(foreign("role", &want.name, &spec.app)),
            Some(r) if r.trust != want.trust || r.tags.get(TAG_CI) != Some(&spec.tag()) => {
                steps.push(Step::UpdateTrust { name: want.name.clone(), trust: want.trust.clone(), tags: tags.clone() })
            }
            Some(_) => steps.push(Step::RoleOk { name: want.name.clone() }),
        }
        let attached = seen.roles.get(&want.name).map(|r| r.attached.clone()).unwrap_or_default();
        for (name, document) in &want.policies {
            match seen.policies.get(name) {
                None => steps.push(Step::CreatePolicy {
                    name: name.clone(),
                    document: document.clone(),
                    tags: tags.clone(),
                    role: want.name.clone(),
                }),
                Some(p) if p.tags.get(TAG_APP) != Some(&spec.app) => return Err(foreign("policy", name, &spec.app)),
                Some(p) => {
                    if &p.document != document {
                        // IAM keeps at most 5 versions: the oldest goes first.
                        let prune = (p.old_versions.len() >= 4).then(|| p.old_versions[0].clone());
                        steps.push(Step::UpdatePolicy { name: name.clone(), arn: p.arn.clone(), document: document.clone(), prune });
                    }
                    if !attached.contains_key(name) {
                        steps.push(Step::Attach { name: name.clone(), arn: p.arn.clone(), role: want.name.clone() });
                    }
                    if &p.document == document && attached.contains_key(name) {
                        steps.push(Step::PolicyOk { name: name.clone() });
                    }
                }
            }
        }
        // A target kind no longer in --target: its policy goes.
        for (name, arn) in &attached {
            if want.policies.iter().all(|(n, _)| n != name)
                && seen.policies.get(name).is_some_and(|p| p.tags.get(TAG_APP) == Some(&spec.app))
            {
                let old_versions = seen.policies[name].old_versions.clone();
                steps.push(Step::DeletePolicy { name: name.clone(), arn: arn.clone(), old_versions, roles: vec![want.name.clone()] });
            }
        }
    }
    Ok(Planned::of(steps))
}

/// What `ci destroy` would do: this app's roles and policies, and the providers made
/// for it that no other role in the account trusts.
pub fn plan_destroy(app: &str, seen: &Seen) -> Planned<Step> {
    let mut steps = Vec::new();
    for (name, p) in &seen.policies {
        if p.tags.get(TAG_APP).map(String::as_str) != Some(app) {
            continue;
        }
        let roles = seen.roles.iter().filter(|(_, r)| r.attached.contains_key(name)).map(|(n, _)| n.clone()).collect();
        steps.push(Step::DeletePolicy { name: name.clone(), arn: p.arn.clone(), old_versions: p.old_versions.clone(), roles });
    }
    for (name, r) in &seen.roles {
        if r.tags.get(TAG_APP).map(String::as_str) == Some(app) {
            steps.push(Step::DeleteRole { name: name.clone(), inline: r.inline.clone() });
        }
    }
    for (arn, p) in &seen.providers {
        let users: Vec<&String> = seen.other_roles.iter().filter(|(_, trusted)| trusted.contains(arn)).map(|(n, _)| n).collect();
        if p.tags.get(TAG_APP).map(String::as_str) != Some(app) {
            continue;
        }
        if users.is_empty() {
            steps.push(Step::DeleteProvider { arn: arn.clone() });
        } else {
            let names = users.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
            steps.push(Step::KeepProvider { arn: arn.clone(), why: format!("made for this app, kept: {names} still trust it") });
        }
    }
    Planned::of(steps)
}

#[cfg(test)]
#[path = "aws_tests.rs"]
mod tests;
