//! The ARM calls of `ci` on Azure: reading what exists ([`observe`]) and carrying out a
//! plan ([`apply`]), with the client appservice deploys use.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use super::azure::{
    self, IdentitySeen, Place, RoleDefSeen, Seen, Step, API_AUTHORIZATION, API_IDENTITY, API_RESOURCES, CONTRIBUTOR, RBAC_ADMIN, READER,
};
use crate::backends::appservice::arm::Arm;
use crate::engine::wait::{Poll, Wait, Waited};
use crate::engine::{Planned, Reporter};
use crate::error::Hinted;

fn tags(v: &Value) -> BTreeMap<String, String> {
    v["tags"].as_object().map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect()).unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect()
}

fn role_def(v: &Value) -> RoleDefSeen {
    let p = &v["properties"];
    let perms = p["permissions"].as_array().cloned().unwrap_or_default();
    let mut actions: Vec<String> = perms.iter().flat_map(|x| strings(&x["actions"])).collect();
    actions.sort();
    let more = perms.len() > 1
        || perms.iter().any(|x| ["notActions", "dataActions", "notDataActions"].iter().any(|k| !strings(&x[*k]).is_empty()));
    RoleDefSeen {
        name: p["roleName"].as_str().unwrap_or_default().to_string(),
        description: p["description"].as_str().unwrap_or_default().to_string(),
        kind: p["type"].as_str().unwrap_or_default().to_string(),
        actions,
        more,
        scopes: strings(&p["assignableScopes"]),
    }
}

/// The plan identity's custom role at its own id, and the ids of any other role
/// definitions of its name in the subscription.
async fn observe_plan_role(arm: &Arm, place: &Place, app: &str, seen: &mut Seen) -> Result<()> {
    let path = place.plan_role_path(app);
    seen.plan_role = arm.get(&path, API_AUTHORIZATION).await?.map(|v| role_def(&v));
    let name = azure::plan_role_name(app);
    let list = format!("{}/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName%20eq%20%27{name}%27", place.scope());
    if let Some(v) = arm.get(&list, API_AUTHORIZATION).await? {
        let own = place.plan_role_id(app);
        seen.plan_role_elsewhere = v["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["properties"]["roleName"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(&name)))
            .filter_map(|d| d["name"].as_str().or_else(|| d["id"].as_str().and_then(|i| i.rsplit('/').next())))
            .filter(|id| !id.eq_ignore_ascii_case(&own))
            .map(str::to_string)
            .collect();
    }
    Ok(())
}

/// The group, this app's two identities (their credentials and the role assignments
/// `ci` makes), its custom role, and how many other resources the group holds.
pub async fn observe(arm: &Arm, place: &Place, app: &str) -> Result<Seen> {
    let mut seen = Seen::default();
    observe_plan_role(arm, place, app, &mut seen).await?;
    let group = place.group_path(app);
    let Some(g) = arm.get(&group, API_RESOURCES).await? else { return Ok(seen) };
    seen.group = Some(tags(&g));
    let names = [super::deploy_identity(app), super::plan_identity(app)];
    for name in &names {
        let path = place.identity_path(app, name);
        let Some(v) = arm.get(&path, API_IDENTITY).await? else { continue };
        let p = &v["properties"];
        let mut i = IdentitySeen {
            tags: tags(&v),
            principal_id: p["principalId"].as_str().unwrap_or_default().to_string(),
            client_id: p["clientId"].as_str().unwrap_or_default().to_string(),
            ..Default::default()
        };
        if let Some(list) = arm.get(&format!("{path}/federatedIdentityCredentials"), API_IDENTITY).await? {
            for c in list["value"].as_array().into_iter().flatten() {
                let cp = &c["properties"];
                i.credentials.insert(
                    c["name"].as_str().unwrap_or_default().to_string(),
                    azure::CredentialSeen {
                        issuer: cp["issuer"].as_str().unwrap_or_default().to_string(),
                        subject: cp["subject"].as_str().unwrap_or_default().to_string(),
                        audiences: strings(&cp["audiences"]),
                    },
                );
            }
        }
        let custom = place.plan_role_id(app);
        for role in [CONTRIBUTOR, RBAC_ADMIN, READER, custom.as_str()] {
            let a = place.assignment_path(&i.principal_id, role);
            if arm.get(&a, API_AUTHORIZATION).await?.is_some() {
                i.assigned.insert(a, role.to_string());
            }
        }
        seen.identities.insert(name.clone(), i);
    }
    if let Some(list) = arm.get(&format!("{group}/resources"), API_RESOURCES).await? {
        seen.group_others = list["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| !names.iter().any(|n| r["name"] == n.as_str() && r["type"] == "Microsoft.ManagedIdentity/userAssignedIdentities"))
            .count();
    }
    Ok(seen)
}

/// Carries out `plan`, in order; returns the identities' client ids by name.
pub async fn apply(
    arm: &Arm,
    place: &Place,
    app: &str,
    issuer: &str,
    plan: &Planned<Step>,
    r: &dyn Reporter,
) -> Result<BTreeMap<String, String>> {
    let mut principals: BTreeMap<String, (String, String)> = BTreeMap::new();
    let ids = |v: &Value, name: &str, principals: &mut BTreeMap<String, (String, String)>| {
        let p = &v["properties"];
        principals.insert(
            name.to_string(),
            (p["principalId"].as_str().unwrap_or_default().to_string(), p["clientId"].as_str().unwrap_or_default().to_string()),
        );
    };
    for step in &plan.changes {
        match step {
            Step::CreateGroup { name, tags } => {
                let body = serde_json::json!({"location": place.location, "tags": tags});
                arm.put(&place.group_path(app), API_RESOURCES, &body, &format!("resource group {name}"), r).await?;
            }
            Step::KeepGroup { .. } | Step::CredentialOk { .. } | Step::AssignmentOk { .. } | Step::PlanRoleOk { .. } => {}
            Step::PutPlanRole { name, .. } => {
                arm.put(
                    &place.plan_role_path(app),
                    API_AUTHORIZATION,
                    &azure::plan_role_body(place, app),
                    &format!("custom role {name}"),
                    r,
                )
                .await?;
            }
            Step::DeletePlanRole { name } => {
                arm.delete(&place.plan_role_path(app), API_AUTHORIZATION, &format!("custom role {name}"), r).await.map_err(|e| {
                    if format!("{e:#}").contains("RoleDefinitionHasAssignments") {
                        Hinted::new(
                            format!("{e:#}"),
                            format!(
                                "the custom role {name} is still assigned outside aideploy's CI identities: remove those assignments (`az role assignment list --role {name} --all`), then run `aideploy ci destroy` again"
                            ),
                        )
                        .into()
                    } else {
                        e
                    }
                })?;
            }
            Step::DeleteGroup { name } => arm.delete(&place.group_path(app), API_RESOURCES, &format!("resource group {name}"), r).await?,
            Step::CreateIdentity { name, tags, .. } | Step::RetagIdentity { name, tags } => {
                let v = arm
                    .put(
                        &place.identity_path(app, name),
                        API_IDENTITY,
                        &azure::identity_body(&place.location, tags),
                        &format!("identity {name}"),
                        r,
                    )
                    .await?;
                ids(&v, name, &mut principals);
            }
            Step::IdentityOk { name } => {
                if let Some(v) = arm.get(&place.identity_path(app, name), API_IDENTITY).await? {
                    ids(&v, name, &mut principals);
                }
            }
            Step::DeleteIdentity { name, assignments } => {
                for a in assignments {
                    arm.delete(a, API_AUTHORIZATION, &format!("role assignment of {name}"), r).await?;
                }
                arm.delete(&place.identity_path(app, name), API_IDENTITY, &format!("identity {name}"), r).await?;
            }
            Step::PutCredential { identity, name, subject } => {
                let path = format!("{}/federatedIdentityCredentials/{name}", place.identity_path(app, identity));
                arm.put(&path, API_IDENTITY, &azure::credential_body(issuer, subject), &format!("credential {identity}/{name}"), r).await?;
            }
            Step::DeleteCredential { identity, name } => {
                let path = format!("{}/federatedIdentityCredentials/{name}", place.identity_path(app, identity));
                arm.delete(&path, API_IDENTITY, &format!("credential {identity}/{name}"), r).await?;
            }
            Step::Assign { identity, role } => {
                let Some((principal, _)) = principals.get(identity) else {
                    anyhow::bail!("the identity {identity} has no principal id to assign {} to", role.name);
                };
                assign(arm, place, principal, role, identity, r).await?;
            }
        }
    }
    Ok(principals.into_iter().map(|(k, (_, client))| (k, client)).collect())
}

/// Assigns `role` to `principal` on the subscription. A new identity, or a custom role
/// just made, takes a moment to reach every ARM region: `PrincipalNotFound` and
/// `RoleDefinitionDoesNotExist` are waited out, for two minutes at most.
async fn assign(arm: &Arm, place: &Place, principal: &str, role: &azure::Role, identity: &str, r: &dyn Reporter) -> Result<()> {
    let path = place.assignment_path(principal, &role.id);
    let body = azure::assignment_body(place, principal, role);
    let what = format!("{} for {identity}", role.name);
    let w = Wait::new(&what, Duration::from_secs(6), Duration::from_secs(120));
    let done = w
        .run(arm.poll(), r, || async {
            match arm.put(&path, API_AUTHORIZATION, &body, &what, r).await {
                Ok(_) => Ok(Poll::Ready(())),
                Err(e) => {
                    let text = format!("{e:#}");
                    if text.contains("PrincipalNotFound") || text.contains("RoleDefinitionDoesNotExist") {
                        Ok(Poll::Pending("waiting for the identity or role to propagate".into()))
                    } else {
                        Err(e)
                    }
                }
            }
        })
        .await?;
    match done {
        Waited::Ready(()) => Ok(()),
        Waited::TimedOut { last, .. } => Err(Hinted::new(
            format!("{what}: Azure still answered \"{last}\" after 2 minutes"),
            "run `aideploy ci init` again in a few minutes",
        )
        .into()),
    }
}
