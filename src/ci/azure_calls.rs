//! The ARM calls of `ci` on Azure: reading what exists ([`observe`]) and carrying out a
//! plan ([`apply`]), with the client appservice deploys use.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::Value;

use super::azure::{
    self, IdentitySeen, Place, Seen, Step, API_AUTHORIZATION, API_IDENTITY, API_RESOURCES, CONTRIBUTOR, RBAC_ADMIN, READER,
};
use crate::backends::appservice::arm::Arm;
use crate::engine::{Planned, Reporter};

fn tags(v: &Value) -> BTreeMap<String, String> {
    v["tags"].as_object().map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect()).unwrap_or_default()
}

/// The group, this app's two identities (their credentials and the role assignments
/// `ci` makes), and how many other resources the group holds.
pub async fn observe(arm: &Arm, place: &Place, app: &str) -> Result<Seen> {
    let mut seen = Seen::default();
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
                let strings = |v: &Value| v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect();
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
        for role in [CONTRIBUTOR, RBAC_ADMIN, READER] {
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
            Step::KeepGroup { .. } | Step::CredentialOk { .. } | Step::AssignmentOk { .. } => {}
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
                let path = place.assignment_path(principal, role.id);
                let body = azure::assignment_body(place, principal, role);
                arm.put(&path, API_AUTHORIZATION, &body, &format!("{} for {identity}", role.name), r).await?;
            }
        }
    }
    Ok(principals.into_iter().map(|(k, (_, client))| (k, client)).collect())
}
