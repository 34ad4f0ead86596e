//! What exists on Render for this app and stage, read into plain data: the workspace,
//! the web service `{app}-{stage}` (only when it carries aideploy's mark), its variables
//! and deploys, and the registry credentials aideploy registered for it.

use std::collections::BTreeMap;

use anyhow::Result;

use super::api::{q, Api, Deploy, EnvVar, IdName, Owner, Service};
use super::{credential_of, PRIVATE_SERVICE};
use crate::backends::paas::{owner, secrets};
use crate::engine::Cx;
use crate::error::UsageError;

/// What Render has of this app and stage. Nothing (no service, no credential), part of
/// it (a credential left by an interrupted first deploy, a service without a live
/// deploy), or all of it.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The workspace (owner id) the service lives in.
    pub owner: String,
    pub service: Option<SeenService>,
    /// The registry credentials aideploy registered for this app and stage (one, as a
    /// rule).
    pub credentials: Vec<SeenCredential>,
}

/// A registry credential aideploy registered (its token cannot be read back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenCredential {
    pub id: String,
    pub name: String,
    /// The pull credential's fingerprint, from its name; `None`: registered by an
    /// earlier aideploy with the push login.
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SeenService {
    pub id: String,
    /// A private service (Render's `private_service`), not a web service.
    pub private: bool,
    /// Its internal hostname on the workspace's private network.
    pub slug: Option<String>,
    /// Its public URL (a web service's only).
    pub url: Option<String>,
    pub dashboard: Option<String>,
    pub health_path: Option<String>,
    pub plan: Option<String>,
    /// The registry credential it pulls with.
    pub registry_credential: Option<String>,
    /// Its variables, the owner mark included.
    pub env: BTreeMap<String, String>,
    /// Newest first.
    pub deploys: Vec<SeenDeploy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenDeploy {
    pub id: String,
    pub status: String,
    /// `repo@sha256:...`
    pub image: Option<String>,
    pub digest: Option<String>,
    /// When Render made it (RFC 3339, UTC): a rollback is a deploy of its own.
    pub created: Option<String>,
}

impl SeenService {
    pub fn live(&self) -> Option<&SeenDeploy> {
        self.deploys.iter().find(|d| d.status == "live")
    }
}

impl SeenDeploy {
    fn of(d: Deploy) -> SeenDeploy {
        let image = d.image.as_ref().and_then(|i| i.reference.clone());
        let digest = image.as_deref().and_then(|r| r.split_once('@').map(|(_, dg)| dg.to_string())).or_else(|| d.image.and_then(|i| i.sha));
        let created = d.created_at.as_deref().and_then(crate::util::utc_time);
        SeenDeploy { id: d.id, status: d.status.unwrap_or_else(|| "unknown".into()), image, digest, created }
    }
}

pub async fn owner_id(cx: &Cx, api: &Api) -> Result<String> {
    if let Some(o) = &cx.target.settings.owner {
        return Ok(o.get().clone());
    }
    let owners: Vec<Owner> = api.list("/owners?limit=100", "owner").await?;
    match owners.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => {
            Err(UsageError::new("the Render API key sees no workspace").hint("use a key of an account that belongs to a workspace").into())
        }
        many => {
            let ids: Vec<String> = many.iter().map(|o| format!("{} ({})", o.id, o.name)).collect();
            Err(UsageError::new("the Render API key sees several workspaces")
                .hint(format!("set `owner = \"...\"` in [targets.{}], one of: {}", cx.target.name, ids.join(", ")))
                .into())
        }
    }
}

pub async fn find_service(api: &Api, owner: &str, name: &str) -> Result<Option<Service>> {
    // Whichever of aideploy's two kinds it is (public: web, else private).
    let found: Vec<Service> =
        api.list(&format!("/services?name={}&ownerId={}&type=web_service,private_service&limit=100", q(name), q(owner)), "service").await?;
    Ok(found.into_iter().find(|s| s.name == name && s.owner_id == owner))
}

/// The registry credentials of this app and stage in the workspace.
pub async fn find_credentials(cx: &Cx, api: &Api, owner: &str) -> Result<Vec<SeenCredential>> {
    let found: Vec<IdName> = api.get_as(&format!("/registrycredentials?ownerId={}&limit=100", q(owner))).await?.unwrap_or_default();
    Ok(found
        .into_iter()
        .filter_map(|c| credential_of(cx, &c.name).map(|fingerprint| SeenCredential { id: c.id, name: c.name, fingerprint }))
        .collect())
}

pub async fn find_credential(api: &Api, owner: &str, name: &str) -> Result<Option<String>> {
    let found: Vec<IdName> =
        api.get_as(&format!("/registrycredentials?name={}&ownerId={}&limit=100", q(name), q(owner))).await?.unwrap_or_default();
    Ok(found.into_iter().find(|c| c.name == name).map(|c| c.id))
}

pub async fn read_env(api: &Api, id: &str) -> Result<BTreeMap<String, String>> {
    let vars: Vec<EnvVar> = api.list(&format!("/services/{id}/env-vars?limit=100"), "envVar").await?;
    Ok(vars.into_iter().map(|v| (v.key, v.value.unwrap_or_default())).collect())
}

pub async fn read_deploy(api: &Api, service: &str, deploy: &str) -> Result<Option<SeenDeploy>> {
    Ok(api.get_as::<Deploy>(&format!("/services/{service}/deploys/{deploy}")).await?.map(SeenDeploy::of))
}

/// Reads everything; refuses a same-named service without aideploy's mark, and a deploy
/// with a required secret that has no value here and none stored in the service.
pub async fn observe(cx: &Cx, api: &Api) -> Result<Observed> {
    let seen = read(cx, api).await?;
    secrets::check_required(cx, "Render", seen.service.as_ref().map(|s| &s.env))?;
    Ok(seen)
}

async fn read(cx: &Cx, api: &Api) -> Result<Observed> {
    let owner = owner_id(cx, api).await?;
    let credentials = find_credentials(cx, api, &owner).await?;
    let base = cx.resource_base();
    let Some(service) = find_service(api, &owner, &base).await? else { return Ok(Observed { owner, service: None, credentials }) };
    let env = read_env(api, &service.id).await?;
    if !owner::is_ours(cx, &env) {
        return Err(owner::foreign("Render", &base, &service.id, env.get(owner::OWNER_VAR).map(String::as_str)).into());
    }
    let deploys: Vec<Deploy> = api.list(&format!("/services/{}/deploys?limit=100", service.id), "deploy").await?;
    let private = service.kind == PRIVATE_SERVICE;
    let seen = SeenService {
        id: service.id,
        private,
        slug: service.slug,
        // A private service has no public URL, whatever Render puts there.
        url: service.service_details.url.filter(|_| !private),
        dashboard: service.dashboard_url,
        health_path: service.service_details.health_check_path,
        plan: service.service_details.plan,
        registry_credential: service.registry_credential.map(|c| c.id),
        env,
        deploys: deploys.into_iter().map(SeenDeploy::of).collect(),
    };
    Ok(Observed { owner, service: Some(seen), credentials })
}
