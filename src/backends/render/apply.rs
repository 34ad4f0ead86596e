//! Carrying out Render steps: push, the pull credential, service, variables, deploy and
//! the wait for it, credentials no longer used; rollback; destroy.

use std::time::Duration;

use anyhow::Result;
use serde_json::{json, Value};

use super::api::{q, Api, Created, WithId};
use super::observe::{self, find_credential, Observed};
use super::plan::Step;
use super::{desired_vars, health_timeout, plan_name, region, PRIVATE_SERVICE, WEB_SERVICE};
use crate::backends::paas::deploy::{self, DeployState};
use crate::backends::paas::image::{self, redacted, Image};
use crate::backends::paas::owner::{self, OWNER_VAR};
use crate::backends::paas::secrets::{self, SALT_VAR};
use crate::backends::paas::vars::{wanted_parts, PARTS_VAR};
use crate::backends::paas::{short, vars};
use crate::engine::{Change, Cx, Health, Outcome, Planned, Pushed, Reporter};

/// Render's name for the kind of registry a host is.
pub fn registry_kind(host: &str) -> &'static str {
    if host == "ghcr.io" {
        "GITHUB"
    } else if host.starts_with("registry.gitlab.com") {
        "GITLAB"
    } else if host.ends_with("-docker.pkg.dev") || host.ends_with("gcr.io") {
        "GOOGLE_ARTIFACT"
    } else if crate::cloud::registry_logins::ecr_region(host).is_some() {
        "AWS_ECR"
    } else {
        "DOCKER"
    }
}

/// Render's statuses, mapped.
fn state_of(status: &str) -> DeployState {
    match status {
        "live" => DeployState::Live,
        "build_failed" | "update_failed" | "pre_deploy_failed" | "canceled" | "deactivated" => DeployState::Failed(status.into()),
        other => DeployState::Going(other.into()),
    }
}

async fn wait(cx: &Cx, api: &Api, service: &str, id: &str, r: &dyn Reporter) -> Result<std::result::Result<(), String>> {
    let timeout = Duration::from_secs(health_timeout(cx));
    deploy::wait(
        cx,
        "Render deploy",
        id,
        timeout,
        r,
        || async move {
            let d = observe::read_deploy(api, service, id).await?;
            Ok(state_of(d.as_ref().map(|d| d.status.as_str()).unwrap_or("unknown")))
        },
        || async { String::new() },
    )
    .await
}

pub async fn apply(cx: &Cx, seen: &Observed, built: &Image, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let api = Api::from_env()?;
    let fail = |e: anyhow::Error| redacted(cx, Some(built), e);
    let owner = seen.owner.clone();
    let health_path = cx.loaded.manifest.app().health.to_string();
    let want = desired_vars(cx);
    let parts = wanted_parts(cx, &built.facts, &seen.service.as_ref().map(|s| s.env.clone()).unwrap_or_default()).encode();
    let mut pushed: Option<Pushed> = None;
    // The registry credential the service names: the pull credential's when it is
    // registered already (the plan then has no step for it), else the one made below.
    let mut credential = built.pull.as_ref().and_then(|p| {
        let fp = p.facts().fingerprint;
        seen.credentials.iter().find(|c| c.fingerprint.as_deref() == Some(fp.as_str())).map(|c| c.id.clone())
    });
    let mut service = seen.service.as_ref().map(|s| (s.id.clone(), s.url.clone()));
    let mut deploy_id = None;
    let mut vars_written = 0;
    // Our service was deleted to be created again as the other type.
    let mut replaced = false;
    for step in &plan.changes {
        match step {
            Step::Push(facts) if !facts.present => pushed = Some(image::push(cx, built, r).await?),
            Step::CreateCredential { name, .. } => {
                // A re-run after an interrupted deploy finds it by name.
                credential = find_credential(&api, &owner, name).await?;
                if let (None, Some(login)) = (&credential, &built.pull) {
                    r.step("registering the pull credential");
                    let body = json!({"registry": registry_kind(&login.host), "name": name, "username": login.username, "authToken": login.password(), "ownerId": owner});
                    credential = Some(api.post_as::<WithId>("/registrycredentials", &body).await.map_err(fail)?.id);
                    r.done();
                }
            }
            Step::UpdateCredential { id, name, .. } => {
                let Some(login) = &built.pull else { continue };
                r.step(&format!("putting the pull credential into registry credential {name}"));
                let body = json!({"registry": registry_kind(&login.host), "name": name, "username": login.username, "authToken": login.password()});
                api.patch(&format!("/registrycredentials/{id}"), &body).await.map_err(fail)?;
                r.done();
                credential = Some(id.clone());
            }
            Step::DeleteCredential { name, id, .. } => {
                r.step(&format!("deleting registry credential {name}"));
                api.delete(&format!("/registrycredentials/{id}")).await?;
                r.done();
            }
            Step::ReplaceService { name, id, from, .. } => {
                // Only ever our own service: observe refused one without the mark.
                r.step(&format!("deleting {from} {name} to create it again"));
                api.delete(&format!("/services/{id}")).await?;
                r.done();
                replaced = true;
                service = None;
            }
            Step::CreateService { name, private, .. } => {
                if let Some(found) = observe::find_service(&api, &owner, name).await? {
                    // Made meanwhile (a re-run): ours only with the mark.
                    let env = observe::read_env(&api, &found.id).await?;
                    if !owner::is_ours(cx, &env) {
                        return Err(owner::foreign("Render", name, &found.id, env.get(OWNER_VAR).map(String::as_str)).into());
                    }
                    anyhow::bail!("Render web service {name} appeared while deploying; run the deploy again to update it");
                }
                let kind = if *private { PRIVATE_SERVICE } else { WEB_SERVICE };
                r.step(&format!("creating {kind} {name}"));
                let mut env_vars: Vec<Value> = want.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
                env_vars.push(json!({"key": OWNER_VAR, "value": owner::mark(cx)}));
                // A service created again (replaced) keeps the stored values of the secrets
                // with no value this time, and the salt of their fingerprints; a new one
                // gets a salt (paas::secrets).
                let before = seen.service.as_ref().map(|s| &s.env).filter(|_| replaced);
                for k in &cx.secrets.absent {
                    if let Some(v) = before.and_then(|e| e.get(k)) {
                        env_vars.push(json!({"key": k, "value": v}));
                    }
                }
                let salt = before.and_then(|e| e.get(SALT_VAR)).cloned().unwrap_or_else(secrets::new_salt);
                env_vars.push(json!({"key": SALT_VAR, "value": salt}));
                env_vars.push(json!({"key": PARTS_VAR, "value": parts}));
                let mut details = json!({"runtime": "image", "plan": plan_name(cx), "region": region(cx)});
                if !*private {
                    // Render health-checks web services only.
                    details["healthCheckPath"] = json!(health_path);
                }
                let body = json!({
                    "type": kind,
                    "name": name,
                    "ownerId": owner,
                    "autoDeploy": "no",
                    "image": image_body(&owner, &built.facts.reference, &credential),
                    "envVars": env_vars,
                    "serviceDetails": details,
                });
                let created: Created = api.post_as("/services", &body).await.map_err(fail)?;
                r.done();
                let id = created.service.id.clone();
                deploy_id = match created.deploy_id {
                    Some(d) => Some(d),
                    None => Some(
                        api.post_as::<WithId>(&format!("/services/{id}/deploys"), &json!({"imageUrl": built.facts.reference})).await?.id,
                    ),
                };
                service = Some((id, created.service.service_details.url.filter(|_| !*private)));
            }
            Step::UpdateService { name, .. } => {
                let (id, _) = service.as_ref().expect("an update is planned for an observed service");
                r.step(&format!("updating service {name}"));
                let mut details = json!({"plan": plan_name(cx)});
                if !seen.service.as_ref().is_some_and(|s| s.private) {
                    details["healthCheckPath"] = json!(health_path);
                }
                let body = json!({"image": image_body(&owner, &built.facts.reference, &credential), "serviceDetails": details});
                api.patch(&format!("/services/{id}"), &body).await.map_err(fail)?;
                r.done();
            }
            Step::Var(v) => {
                // Variables of a new service went with its creation.
                let Some(id) = seen.service.as_ref().map(|s| &s.id).filter(|_| !replaced) else { continue };
                if vars_written == 0 {
                    r.step("setting variables");
                }
                vars_written += 1;
                match v {
                    vars::VarChange::Delete { key } => api.delete(&format!("/services/{id}/env-vars/{}", q(key))).await?,
                    _ => {
                        let value = want.get(v.key()).cloned().unwrap_or_default();
                        api.put(&format!("/services/{id}/env-vars/{}", q(v.key())), &json!({"value": value})).await.map_err(fail)?;
                    }
                }
            }
            Step::Deploy { digest, .. } => {
                let (id, _) = service.as_ref().expect("a deploy is planned for an observed service");
                // What this version is made of, for the next plan.
                api.put(&format!("/services/{id}/env-vars/{PARTS_VAR}"), &json!({"value": parts})).await.map_err(fail)?;
                r.step(&format!("deploying @{}", short(digest)));
                let d: WithId = api.post_as(&format!("/services/{id}/deploys"), &json!({"imageUrl": built.facts.reference})).await?;
                r.done();
                deploy_id = Some(d.id);
            }
            _ => {}
        }
    }
    let actions = plan.display().actions;
    let (service_id, url) = service.unwrap_or_default();
    let Some(deploy_id) = deploy_id else { return Ok(Outcome { url, health: Health::Passed, actions, failure: None, pushed }) };
    match wait(cx, &api, &service_id, &deploy_id, r).await? {
        Ok(()) => Ok(Outcome { url, health: Health::Passed, actions, failure: None, pushed }),
        Err(why) => {
            let kept = if !replaced && seen.service.as_ref().and_then(|s| s.live()).is_some() {
                "the previous deploy keeps serving"
            } else {
                "nothing is serving"
            };
            Ok(Outcome { url, health: Health::Failed, actions, failure: Some(format!("{why}\n({kept})")), pushed })
        }
    }
}

fn image_body(owner: &str, reference: &str, credential: &Option<String>) -> Value {
    let mut i = json!({"ownerId": owner, "imagePath": reference});
    if let Some(c) = credential {
        i["registryCredentialId"] = json!(c);
    }
    i
}

pub async fn rollback(cx: &Cx, seen: &Observed, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let api = Api::from_env()?;
    let Some(s) = &seen.service else { anyhow::bail!("nothing is deployed to roll back") };
    let mut outcome = Outcome { url: s.url.clone(), health: Health::Passed, actions: plan.display().actions, failure: None, pushed: None };
    for step in &plan.changes {
        let Step::Rollback { deploy, .. } = step else { continue };
        r.step("rolling back on Render");
        let d: WithId = api.post_as(&format!("/services/{}/rollback", s.id), &json!({"deployId": deploy})).await?;
        r.done();
        if let Err(why) = wait(cx, &api, &s.id, &d.id, r).await? {
            outcome.health = Health::Failed;
            outcome.failure = Some(format!("{why}\n(the current deploy keeps serving)"));
        }
    }
    Ok(outcome)
}

pub async fn destroy(plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let api = Api::from_env()?;
    for step in &plan.changes {
        match step {
            Step::DeleteService { name, id } => {
                r.step(&format!("deleting web service {name}"));
                api.delete(&format!("/services/{id}")).await?;
                r.done();
            }
            Step::DeleteCredential { name, id, .. } => {
                r.step(&format!("deleting registry credential {name}"));
                api.delete(&format!("/registrycredentials/{id}")).await?;
                r.done();
            }
            _ => {}
        }
    }
    Ok(Outcome { url: None, health: Health::Skipped, actions: plan.changes.iter().map(Change::row).collect(), failure: None, pushed: None })
}
