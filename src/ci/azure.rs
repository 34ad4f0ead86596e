//! The Azure side of keyless CI login, all through ARM: a resource group
//! `aideploy-ci-{app}` holding two user-assigned managed identities (deploy and plan
//! only), federated identity credentials on them that trust exactly this repository's
//! token subjects, and role assignments at subscription scope (a deploy creates resource
//! groups: one per stage and the lease's, see docs/permissions.md "## appservice").
//! Read ([`super::azure_calls::observe`]), planned as data ([`plan_init`],
//! [`plan_destroy`], pure), then carried out ([`super::azure_calls::apply`]).
//!
//! Why a group of its own rather than the app's: the app's group is per stage, exists
//! only after the first deploy, and `aideploy destroy` deletes it, which would delete the
//! CI's identities with it.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{CiProvider, Spec, PREVIEW_ENVIRONMENT};
use crate::engine::{Action, Change, Op, Planned};
use crate::error::UsageError;

pub const API_IDENTITY: &str = "2023-01-31";
pub const API_AUTHORIZATION: &str = "2022-04-01";
pub const API_RESOURCES: &str = "2025-04-01";
/// The audience Microsoft Entra ID expects in a federated token.
pub const AUDIENCE: &str = "api://AzureADTokenExchange";
pub const TAG_APP: &str = "aideploy-app";
pub const TAG_CI: &str = "aideploy-ci";
/// On the group, when `ci init` created it (so `ci destroy` may delete it).
pub const TAG_CREATED: &str = "aideploy-created-group";

pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7108f3b1c";
pub const RBAC_ADMIN: &str = "f58310d9-a9f6-439a-9e8d-f62e7b41a168";
pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
const KV_SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";

/// Where the identities live.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub sub: String,
    pub location: String,
}

impl Place {
    pub fn scope(&self) -> String {
        format!("/subscriptions/{}", self.sub)
    }
    pub fn group_path(&self, app: &str) -> String {
        format!("/subscriptions/{}/resourceGroups/{}", self.sub, group_name(app))
    }
    pub fn identity_path(&self, app: &str, name: &str) -> String {
        format!("{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}", self.group_path(app))
    }
    pub fn role_definition(&self, role: &str) -> String {
        format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{role}", self.sub)
    }
    /// The assignment's path: its name is a GUID hashed from scope, principal and role,
    /// so a second run finds (and ARM refuses a duplicate of) the same one.
    pub fn assignment_path(&self, principal: &str, role: &str) -> String {
        let scope = self.scope();
        let mut h = Sha256::new();
        for part in [scope.to_ascii_lowercase().as_str(), principal, role] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        let h = hex::encode(h.finalize());
        let guid = format!("{}-{}-5{}-8{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32]);
        format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}")
    }
}

pub fn group_name(app: &str) -> String {
    format!("aideploy-ci-{app}")
}

/// A role: its name (for the plan) and definition GUID, and an ABAC condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: &'static str,
    pub id: &'static str,
    pub condition: Option<String>,
}

/// RBAC Administrator may only assign or remove the two roles a deploy gives the site's
/// own identity (AcrPull on the registry, Key Vault Secrets User on the vault).
pub fn rbac_condition() -> String {
    let ids = format!("{ACR_PULL}, {KV_SECRETS_USER}");
    format!(
        "((!(ActionMatches{{'Microsoft.Authorization/roleAssignments/write'}})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {{{ids}}})) AND ((!(ActionMatches{{'Microsoft.Authorization/roleAssignments/delete'}})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {{{ids}}}))"
    )
}

/// One identity `ci init` wants: its federated credentials (name -> subject) and roles.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityWant {
    pub name: String,
    pub purpose: String,
    pub credentials: BTreeMap<String, String>,
    pub roles: Vec<Role>,
}

pub fn wanted(spec: &Spec) -> Vec<IdentityWant> {
    let subjects = spec.deploy_subjects();
    let mut deploy_creds = BTreeMap::from([("branch".to_string(), subjects[0].clone())]);
    if spec.previews() {
        deploy_creds.insert(PREVIEW_ENVIRONMENT.to_string(), subjects[1].clone());
    }
    // Azure matches a subject exactly (no patterns): GitLab's plan identity trusts the
    // deploy branch only.
    let plan_subject = match spec.provider {
        CiProvider::Github => spec.plan_subject().0,
        CiProvider::Gitlab => subjects[0].clone(),
    };
    let plan_cred = match spec.provider {
        CiProvider::Github => "pull-requests",
        CiProvider::Gitlab => "branch",
    };
    vec![
        IdentityWant {
            name: super::deploy_identity(&spec.app),
            purpose: format!("deploys: {}", deploy_creds.values().cloned().collect::<Vec<_>>().join(", ")),
            credentials: deploy_creds,
            roles: vec![
                Role { name: "Contributor", id: CONTRIBUTOR, condition: None },
                Role { name: "Role Based Access Control Administrator", id: RBAC_ADMIN, condition: Some(rbac_condition()) },
            ],
        },
        IdentityWant {
            name: super::plan_identity(&spec.app),
            purpose: format!("plan only: {plan_subject}"),
            credentials: BTreeMap::from([(plan_cred.to_string(), plan_subject)]),
            roles: vec![Role { name: "Reader", id: READER, condition: None }],
        },
    ]
}

/// A federated identity credential, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialSeen {
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
}

/// An identity, as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdentitySeen {
    pub tags: BTreeMap<String, String>,
    pub principal_id: String,
    pub client_id: String,
    pub credentials: BTreeMap<String, CredentialSeen>,
    /// Role GUIDs assigned to it at subscription scope, among those `ci` assigns, by
    /// their assignment's path.
    pub assigned: BTreeMap<String, String>,
}

/// What exists in the subscription.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// The group's tags, when it exists.
    pub group: Option<BTreeMap<String, String>>,
    /// Resources in the group other than this app's two identities.
    pub group_others: usize,
    pub identities: BTreeMap<String, IdentitySeen>,
}

/// One step of `ci init` or `ci destroy` on Azure.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    CreateGroup { name: String, tags: BTreeMap<String, String> },
    KeepGroup { name: String, why: String },
    DeleteGroup { name: String },
    CreateIdentity { name: String, tags: BTreeMap<String, String>, purpose: String },
    RetagIdentity { name: String, tags: BTreeMap<String, String> },
    IdentityOk { name: String },
    DeleteIdentity { name: String, assignments: Vec<String> },
    PutCredential { identity: String, name: String, subject: String },
    DeleteCredential { identity: String, name: String },
    CredentialOk { identity: String, name: String },
    Assign { identity: String, role: Role },
    AssignmentOk { identity: String, role: &'static str },
}

impl Change for Step {
    fn row(&self) -> Action {
        match self {
            Step::CreateGroup { name, .. } => Action::new(Op::Create, "resource-group", name).because("holds the CI identities"),
            Step::KeepGroup { name, why } => Action::new(Op::Noop, "resource-group", name).because(why.clone()),
            Step::DeleteGroup { name } => Action::new(Op::Delete, "resource-group", name),
            Step::CreateIdentity { name, purpose, .. } => Action::new(Op::Create, "managed-identity", name).because(purpose.clone()),
            Step::RetagIdentity { name, .. } => Action::new(Op::Update, "managed-identity", name).because("tags"),
            Step::IdentityOk { name } => Action::new(Op::Noop, "managed-identity", name),
            Step::DeleteIdentity { name, .. } => Action::new(Op::Delete, "managed-identity", name),
            Step::PutCredential { identity, name, subject } => {
                Action::new(Op::Create, "federated-credential", format!("{identity}/{name}")).because(format!("trusts {subject}"))
            }
            Step::DeleteCredential { identity, name } => Action::new(Op::Delete, "federated-credential", format!("{identity}/{name}")),
            Step::CredentialOk { identity, name } => Action::new(Op::Noop, "federated-credential", format!("{identity}/{name}")),
            Step::Assign { identity, role } => {
                Action::new(Op::Create, "role-assignment", format!("{identity}: {}", role.name)).because("on the subscription")
            }
            Step::AssignmentOk { identity, role } => Action::new(Op::Noop, "role-assignment", format!("{identity}: {role}")),
        }
    }
}

pub fn owner_tags(spec: &Spec) -> BTreeMap<String, String> {
    BTreeMap::from([(TAG_APP.to_string(), spec.app.clone()), (TAG_CI.to_string(), spec.tag())])
}

/// The body of an identity's PUT.
pub fn identity_body(location: &str, tags: &BTreeMap<String, String>) -> Value {
    json!({"location": location, "tags": tags})
}

/// The body of a federated identity credential's PUT.
pub fn credential_body(issuer: &str, subject: &str) -> Value {
    json!({"properties": {"issuer": issuer, "subject": subject, "audiences": [AUDIENCE]}})
}

/// The body of a role assignment's PUT.
pub fn assignment_body(place: &Place, principal: &str, role: &Role) -> Value {
    let mut p = json!({"roleDefinitionId": place.role_definition(role.id), "principalId": principal, "principalType": "ServicePrincipal"});
    if let Some(c) = &role.condition {
        p["condition"] = json!(c);
        p["conditionVersion"] = json!("2.0");
    }
    json!({"properties": p})
}

fn foreign(what: &str, name: &str, app: &str) -> anyhow::Error {
    UsageError::new(format!("the Azure {what} {name} exists but is not aideploy's for the app `{app}` (it lacks the tag {TAG_APP}={app})"))
        .hint(format!("rename the app, or delete the {what} {name}"))
        .into()
}

/// What `ci init` would do. An error, before anything is written, for an identity of
/// the same name that is not this app's.
pub fn plan_init(spec: &Spec, place: &Place, seen: &Seen) -> Result<Planned<Step>> {
    let mut steps = Vec::new();
    let tags = owner_tags(spec);
    let group = group_name(&spec.app);
    match &seen.group {
        None => {
            let mut t = tags.clone();
            t.insert(TAG_CREATED.into(), "true".into());
            steps.push(Step::CreateGroup { name: group.clone(), tags: t });
        }
        Some(t) if t.get(TAG_CREATED).map(String::as_str) == Some("true") && t.get(TAG_APP) == Some(&spec.app) => {
            steps.push(Step::KeepGroup { name: group.clone(), why: "made by aideploy for this app".into() })
        }
        Some(_) => steps.push(Step::KeepGroup { name: group.clone(), why: "exists already: used, and kept by `ci destroy`".into() }),
    }
    for want in wanted(spec) {
        let seen_id = seen.identities.get(&want.name);
        match seen_id {
            None => steps.push(Step::CreateIdentity { name: want.name.clone(), tags: tags.clone(), purpose: want.purpose.clone() }),
            Some(i) if i.tags.get(TAG_APP) != Some(&spec.app) => return Err(foreign("managed identity", &want.name, &spec.app)),
            Some(i) if i.tags.get(TAG_CI) != Some(&spec.tag()) => {
                steps.push(Step::RetagIdentity { name: want.name.clone(), tags: tags.clone() })
            }
            Some(_) => steps.push(Step::IdentityOk { name: want.name.clone() }),
        }
        let creds = seen_id.map(|i| i.credentials.clone()).unwrap_or_default();
        for (name, subject) in &want.credentials {
            let ok = creds.get(name).is_some_and(|c| c.issuer == spec.issuer && &c.subject == subject && c.audiences == [AUDIENCE]);
            if ok {
                steps.push(Step::CredentialOk { identity: want.name.clone(), name: name.clone() });
            } else {
                steps.push(Step::PutCredential { identity: want.name.clone(), name: name.clone(), subject: subject.clone() });
            }
        }
        // Credentials it no longer wants (another --provider, previews off) go: the
        // identity trusts nothing else.
        for name in creds.keys().filter(|n| !want.credentials.contains_key(*n)) {
            steps.push(Step::DeleteCredential { identity: want.name.clone(), name: name.clone() });
        }
        for role in &want.roles {
            let done = seen_id.is_some_and(|i| i.assigned.contains_key(&place.assignment_path(&i.principal_id, role.id)));
            if done {
                steps.push(Step::AssignmentOk { identity: want.name.clone(), role: role.name });
            } else {
                steps.push(Step::Assign { identity: want.name.clone(), role: role.clone() });
            }
        }
    }
    Ok(Planned::of(steps))
}

/// What `ci destroy` would do: this app's identities (their credentials go with them,
/// their role assignments first), and the group when `ci init` made it and nothing
/// else is in it.
pub fn plan_destroy(app: &str, seen: &Seen) -> Planned<Step> {
    let mut steps = Vec::new();
    let mut kept = seen.group_others;
    for (name, i) in &seen.identities {
        if i.tags.get(TAG_APP).map(String::as_str) == Some(app) {
            steps.push(Step::DeleteIdentity { name: name.clone(), assignments: i.assigned.keys().cloned().collect() });
        } else {
            kept += 1;
        }
    }
    if let Some(t) = &seen.group {
        let ours = t.get(TAG_CREATED).map(String::as_str) == Some("true") && t.get(TAG_APP).map(String::as_str) == Some(app);
        let name = group_name(app);
        if ours && kept == 0 {
            steps.push(Step::DeleteGroup { name });
        } else if ours {
            steps.push(Step::KeepGroup { name, why: format!("made for this app, kept: {kept} other resource(s) in it") });
        }
    }
    Planned::of(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(provider: CiProvider) -> Spec {
        Spec::for_tests(provider)
    }

    fn place() -> Place {
        Place { sub: "s1".into(), location: "westeurope".into() }
    }

    /// What exists after `ci init` with `spec` carried out.
    fn done(spec: &Spec) -> Seen {
        let p = place();
        let mut identities = BTreeMap::new();
        for (n, w) in wanted(spec).into_iter().enumerate() {
            let principal = format!("p{n}");
            let credentials = w
                .credentials
                .iter()
                .map(|(k, s)| {
                    (k.clone(), CredentialSeen { issuer: spec.issuer.clone(), subject: s.clone(), audiences: vec![AUDIENCE.into()] })
                })
                .collect();
            let assigned = w.roles.iter().map(|r| (p.assignment_path(&principal, r.id), r.id.to_string())).collect();
            identities.insert(
                w.name,
                IdentitySeen { tags: owner_tags(spec), principal_id: principal, client_id: format!("c{n}"), credentials, assigned },
            );
        }
        let mut group = owner_tags(spec);
        group.insert(TAG_CREATED.into(), "true".into());
        Seen { group: Some(group), group_others: 0, identities }
    }

    #[test]
    fn a_first_run_creates_everything_and_a_second_changes_nothing() {
        let s = spec(CiProvider::Github);
        let first = plan_init(&s, &place(), &Seen::default()).unwrap();
        let creates: Vec<String> = first.changes.iter().map(|st| st.row().id.clone()).collect();
        assert!(first.changes.iter().all(|st| st.row().op == Op::Create), "{creates:?}");
        assert!(first.changes.contains(&Step::PutCredential {
            identity: "aideploy-ci-rag".into(),
            name: "preview".into(),
            subject: "repo:acme/rag:environment:preview".into()
        }));
        assert!(first.changes.contains(&Step::PutCredential {
            identity: "aideploy-ci-rag-plan".into(),
            name: "pull-requests".into(),
            subject: "repo:acme/rag:pull_request".into()
        }));
        assert_eq!(first.changes.iter().filter(|st| matches!(st, Step::Assign { .. })).count(), 3);
        let second = plan_init(&s, &place(), &done(&s)).unwrap();
        assert!(second.changes.iter().all(|st| st.row().op == Op::Noop), "{:?}", second.changes);
    }

    #[test]
    fn a_changed_branch_or_provider_rewrites_the_trust() {
        let s = spec(CiProvider::Github);
        let mut other = s.clone();
        other.branch = "release".into();
        let p = plan_init(&other, &place(), &done(&s)).unwrap();
        let changed: Vec<&Step> = p.changes.iter().filter(|st| st.row().op != Op::Noop).collect();
        assert_eq!(
            changed,
            [&Step::PutCredential {
                identity: "aideploy-ci-rag".into(),
                name: "branch".into(),
                subject: "repo:acme/rag:ref:refs/heads/release".into()
            }]
        );
        // GitLab: no preview credential, and the plan identity trusts the branch only.
        let mut gl = spec(CiProvider::Gitlab);
        gl.repo = "acme/rag".into();
        let p = plan_init(&gl, &place(), &done(&s)).unwrap();
        assert!(p.changes.contains(&Step::DeleteCredential { identity: "aideploy-ci-rag".into(), name: "preview".into() }));
        assert!(p.changes.contains(&Step::DeleteCredential { identity: "aideploy-ci-rag-plan".into(), name: "pull-requests".into() }));
        assert!(p.changes.contains(&Step::PutCredential {
            identity: "aideploy-ci-rag-plan".into(),
            name: "branch".into(),
            subject: "project_path:acme/rag:ref_type:branch:ref:main".into()
        }));
    }

    #[test]
    fn same_named_identities_that_are_not_ours_are_refused() {
        let s = spec(CiProvider::Github);
        let mut seen = done(&s);
        seen.identities.get_mut("aideploy-ci-rag").unwrap().tags.clear();
        let e = plan_init(&s, &place(), &seen).unwrap_err().to_string();
        assert!(e.contains("aideploy-ci-rag") && e.contains("not aideploy's"), "{e}");
    }

    #[test]
    fn destroy_removes_ours_and_keeps_a_group_that_holds_more() {
        let s = spec(CiProvider::Github);
        let seen = done(&s);
        let p = plan_destroy("rag", &seen);
        assert_eq!(p.changes.iter().filter(|st| matches!(st, Step::DeleteIdentity { .. })).count(), 2);
        let deploy = p.changes.iter().find_map(|st| match st {
            Step::DeleteIdentity { name, assignments } if name == "aideploy-ci-rag" => Some(assignments.len()),
            _ => None,
        });
        assert_eq!(deploy, Some(2));
        assert!(p.changes.contains(&Step::DeleteGroup { name: "aideploy-ci-rag".into() }));
        let mut busy = seen.clone();
        busy.group_others = 1;
        assert!(!plan_destroy("rag", &busy).changes.iter().any(|st| matches!(st, Step::DeleteGroup { .. })));
        let mut theirs = seen;
        theirs.group = Some(BTreeMap::new());
        assert!(!plan_destroy("rag", &theirs).changes.iter().any(|st| matches!(st, Step::DeleteGroup { .. })));
        assert!(plan_destroy("other", &done(&s)).changes.is_empty());
    }

    #[test]
    fn assignment_names_are_stable_guids() {
        let p = place();
        let a = p.assignment_path("p1", READER);
        assert_eq!(a, p.assignment_path("p1", READER));
        assert_ne!(a, p.assignment_path("p2", READER));
        let guid = a.rsplit('/').next().unwrap();
        assert_eq!(guid.len(), 36);
        assert!(a.starts_with("/subscriptions/s1/providers/Microsoft.Authorization/roleAssignments/"));
        let body = assignment_body(&p, "p1", &wanted(&spec(CiProvider::Github))[0].roles[1]);
        assert_eq!(body["properties"]["conditionVersion"], "2.0");
        assert!(body["properties"]["condition"].as_str().unwrap().contains(ACR_PULL));
    }
}
