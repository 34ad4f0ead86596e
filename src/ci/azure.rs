//! The Azure side of keyless CI login, all through ARM: a resource group
//! `aideploy-ci-{app}` holding two user-assigned managed identities (deploy and plan
//! only), federated identity credentials on them that trust exactly this repository's
//! token subjects, and role assignments at subscription scope (a deploy creates resource
//! groups: one per stage and the lease's, see docs/permissions.md "## appservice").
//! The plan identity gets Reader and a custom role of aideploy's, [`PLAN_READS`]: the
//! reads of `aideploy plan` and `status` that are not GETs, which Reader lacks.
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

/// What `aideploy plan` and `status` call on an appservice target beyond Reader's
/// `*/read`: the app settings of the site and of its staging slot are read through
/// `POST .../config/appsettings/list` (`backends/appservice/observe.rs`, `read_site`),
/// and `build` reads the registry (`artifact/image.rs`, `upload_needed`: HEAD of
/// manifests and blobs after the ACR token exchange), which Reader's `*/read` covers
/// and is named here so the role says all a plan needs. Everything else a plan or
/// status reads is a GET (group, resources, plan, site, `config/web`, registry, vault,
/// secrets through ARM, deleted vault, role assignments, budget, metrics).
pub const PLAN_READS: [&str; 3] = [
    "Microsoft.Web/sites/config/list/action",
    "Microsoft.Web/sites/slots/config/list/action",
    "Microsoft.ContainerRegistry/registries/pull/read",
];

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
        let guid = guid(&[scope.to_ascii_lowercase().as_str(), principal, role]);
        format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}")
    }
    /// The GUID of the plan identity's custom role: hashed from the subscription and the
    /// app, so each app has its own and a second run finds it.
    pub fn plan_role_id(&self, app: &str) -> String {
        let scope = self.scope();
        guid(&[scope.to_ascii_lowercase().as_str(), "aideploy-ci-plan-role", app])
    }
    pub fn plan_role_path(&self, app: &str) -> String {
        self.role_definition(&self.plan_role_id(app))
    }
}

/// A version-5-shaped GUID from the hash of `parts`.
fn guid(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let h = hex::encode(h.finalize());
    format!("{}-{}-5{}-8{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

/// The plan identity's custom role's name: `aideploy-ci-{app}-plan-read`.
pub fn plan_role_name(app: &str) -> String {
    format!("{}-read", super::plan_identity(app))
}

/// Its description, which says whose it is: `ci destroy` deletes only a role that
/// carries it.
pub fn plan_role_description(app: &str) -> String {
    format!(
        "aideploy's for the app `{app}` ({TAG_APP}={app}): what `aideploy plan` and `status` read beyond Reader (app settings, registry); made by `aideploy ci init`, deleted by `ci destroy`"
    )
}

/// The body of the custom role's PUT.
pub fn plan_role_body(place: &Place, app: &str) -> Value {
    json!({"properties": {
        "roleName": plan_role_name(app),
        "description": plan_role_description(app),
        "type": "CustomRole",
        "permissions": [{"actions": PLAN_READS, "notActions": [], "dataActions": [], "notDataActions": []}],
        "assignableScopes": [place.scope()],
    }})
}

pub fn group_name(app: &str) -> String {
    format!("aideploy-ci-{app}")
}

/// A role: its name (for the plan) and definition GUID, and an ABAC condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: String,
    pub id: String,
    pub condition: Option<String>,
}

impl Role {
    fn built_in(name: &str, id: &str, condition: Option<String>) -> Role {
        Role { name: name.into(), id: id.into(), condition }
    }
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

pub fn wanted(spec: &Spec, place: &Place) -> Vec<IdentityWant> {
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
                Role::built_in("Contributor", CONTRIBUTOR, None),
                Role::built_in("Role Based Access Control Administrator", RBAC_ADMIN, Some(rbac_condition())),
            ],
        },
        IdentityWant {
            name: super::plan_identity(&spec.app),
            purpose: format!("plan only: {plan_subject}"),
            credentials: BTreeMap::from([(plan_cred.to_string(), plan_subject)]),
            roles: vec![
                Role::built_in("Reader", READER, None),
                Role { name: plan_role_name(&spec.app), id: place.plan_role_id(&spec.app), condition: None },
            ],
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

/// A custom role definition, as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoleDefSeen {
    pub name: String,
    pub description: String,
    /// `CustomRole` or `BuiltInRole`.
    pub kind: String,
    /// Its `actions`, sorted (ARM keeps one permissions entry for a custom role).
    pub actions: Vec<String>,
    /// Whether it has notActions, dataActions or notDataActions.
    pub more: bool,
    pub scopes: Vec<String>,
}

impl RoleDefSeen {
    /// Made by `ci init` for `app`: its name and the description's tag say so.
    pub fn ours(&self, app: &str) -> bool {
        self.name == plan_role_name(app) && self.description.contains(&format!("({TAG_APP}={app})"))
    }
}

/// What exists in the subscription.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// The group's tags, when it exists.
    pub group: Option<BTreeMap<String, String>>,
    /// Resources in the group other than this app's two identities.
    pub group_others: usize,
    pub identities: BTreeMap<String, IdentitySeen>,
    /// The role definition at [`Place::plan_role_path`], when it exists.
    pub plan_role: Option<RoleDefSeen>,
    /// The ids of other role definitions named [`plan_role_name`] (role names are unique
    /// in a tenant: ARM refuses a second).
    pub plan_role_elsewhere: Vec<String>,
}

/// One step of `ci init` or `ci destroy` on Azure.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    CreateGroup {
        name: String,
        tags: BTreeMap<String, String>,
    },
    KeepGroup {
        name: String,
        why: String,
    },
    DeleteGroup {
        name: String,
    },
    CreateIdentity {
        name: String,
        tags: BTreeMap<String, String>,
        purpose: String,
    },
    RetagIdentity {
        name: String,
        tags: BTreeMap<String, String>,
    },
    IdentityOk {
        name: String,
    },
    DeleteIdentity {
        name: String,
        assignments: Vec<String>,
    },
    PutCredential {
        identity: String,
        name: String,
        subject: String,
    },
    DeleteCredential {
        identity: String,
        name: String,
    },
    CredentialOk {
        identity: String,
        name: String,
    },
    Assign {
        identity: String,
        role: Role,
    },
    AssignmentOk {
        identity: String,
        role: String,
    },
    /// Creates (`create`) or rewrites the plan identity's custom role.
    PutPlanRole {
        name: String,
        create: bool,
    },
    PlanRoleOk {
        name: String,
    },
    /// After the assignments of it are gone (ARM refuses it before).
    DeletePlanRole {
        name: String,
    },
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
            Step::PutPlanRole { name, create } => Action::new(if *create { Op::Create } else { Op::Update }, "role-definition", name)
                .because(if *create { "what plan and status read beyond Reader" } else { "its permissions or scope differ" }),
            Step::PlanRoleOk { name } => Action::new(Op::Noop, "role-definition", name),
            Step::DeletePlanRole { name } => Action::new(Op::Delete, "role-definition", name),
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
    let mut p = json!({"roleDefinitionId": place.role_definition(&role.id), "principalId": principal, "principalType": "ServicePrincipal"});
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

/// The custom role's step: an error for a role of that name (here or elsewhere in the
/// tenant) that is not this app's, which is never changed.
fn plan_role_step(app: &str, place: &Place, seen: &Seen) -> Result<Step> {
    let name = plan_role_name(app);
    let refuse = |why: String| -> anyhow::Error {
        UsageError::new(format!("the Azure custom role {name} {why}, and is not aideploy's for the app `{app}`"))
            .hint(format!(
                "delete that role (`az role definition delete --name {name}`) if nothing uses it, or rename the app in aideploy.toml"
            ))
            .into()
    };
    if let Some(id) = seen.plan_role_elsewhere.first() {
        return Err(refuse(format!("exists already (id {id})")));
    }
    let want_actions: Vec<String> = {
        let mut a: Vec<String> = PLAN_READS.iter().map(|s| s.to_string()).collect();
        a.sort();
        a
    };
    Ok(match &seen.plan_role {
        None => Step::PutPlanRole { name, create: true },
        Some(r) if !r.ours(app) => return Err(refuse(format!("is at {} under another name or description", place.plan_role_path(app)))),
        Some(r)
            if r.actions != want_actions
                || r.more
                || r.kind != "CustomRole"
                || r.scopes != [place.scope()]
                || r.description != plan_role_description(app) =>
        {
            Step::PutPlanRole { name, create: false }
        }
        Some(_) => Step::PlanRoleOk { name },
    })
}

/// What `ci init` would do. An error, before anything is written, for an identity or
/// custom role of the same name that is not this app's.
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
    // Before the assignment that names it.
    steps.push(plan_role_step(&spec.app, place, seen)?);
    for want in wanted(spec, place) {
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
            let done = seen_id.is_some_and(|i| i.assigned.contains_key(&place.assignment_path(&i.principal_id, &role.id)));
            if done {
                steps.push(Step::AssignmentOk { identity: want.name.clone(), role: role.name.clone() });
            } else {
                steps.push(Step::Assign { identity: want.name.clone(), role: role.clone() });
            }
        }
    }
    Ok(Planned::of(steps))
}

/// What `ci destroy` would do: this app's identities (their credentials go with them,
/// their role assignments first), then its custom role (only when it is this app's:
/// another of that name is left as it is), and the group when `ci init` made it and
/// nothing else is in it.
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
    if let Some(r) = seen.plan_role.as_ref().filter(|r| r.ours(app)) {
        steps.push(Step::DeletePlanRole { name: r.name.clone() });
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
#[path = "azure_tests.rs"]
mod tests;
