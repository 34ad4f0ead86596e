//! Carrying out Railway steps: push, project, environment, service, the pull credential,
//! variables, deployment and the wait for it, domain; rollback; destroy.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use super::api::{field, Api};
use super::observe::{self, project_of, Observed, SeenProject};
use super::ops::*;
use super::plan::Step;
use super::{desired_vars, health_path, health_timeout, is_public, marker, workspace, ENV_MARKER, FAILED, SERVING};
use crate::backends::paas::deploy::{self, DeployState};
use crate::backends::paas::image::{self, redacted, Image};
use crate::backends::paas::owner::{self, OWNER_VAR};
use crate::backends::paas::pull::{self, PULL_VAR};
use crate::backends::paas::secrets::{self, SALT_VAR};
use crate::backends::paas::vars::{wanted_parts, PARTS_VAR};
use crate::backends::paas::{short, vars::VarChange};
use crate::engine::{Change, Cx, Health, Outcome, Planned, Pushed, Reporter};
use crate::error::UsageError;

/// Railway's deployment statuses, mapped.
fn state_of(status: &str) -> DeployState {
    if SERVING.contains(&status) {
        DeployState::Live
    } else if FAILED.contains(&status) {
        DeployState::Failed(status.into())
    } else {
        DeployState::Going(status.into())
    }
}

/// The last log lines of a deployment, as Railway's reason for its failure.
async fn failure_logs(cx: &Cx, api: &Api, deployment: &str) -> String {
    match api.run(Q_LOGS, json!({"deploymentId": deployment})).await {
        Ok(v) => {
            let lines: Vec<String> =
                v["deploymentLogs"].as_array().into_iter().flatten().filter_map(|l| l["message"].as_str().map(str::to_string)).collect();
            let tail = lines[lines.len().saturating_sub(10)..].join("\n");
            cx.secrets.redact(&tail)
        }
        Err(e) => format!("(its logs could not be read: {e})"),
    }
}

/// Waits for a deployment to serve or end (paas::deploy); `Err` carries the failure,
/// with its last log lines.
async fn wait(cx: &Cx, api: &Api, id: &str, r: &dyn Reporter) -> Result<std::result::Result<(), String>> {
    let timeout = Duration::from_secs(u64::from(health_timeout(cx)) + 600);
    deploy::wait(
        cx,
        "Railway deployment",
        id,
        timeout,
        r,
        || async move {
            let d = api.run(Q_DEPLOYMENT, json!({"id": id})).await?;
            Ok(state_of(d["deployment"]["status"].as_str().unwrap_or("UNKNOWN")))
        },
        || failure_logs(cx, api, id),
    )
    .await
}

pub(super) fn no_environment(project: &str, stage: &str) -> UsageError {
    UsageError::new(format!("Railway project {project} has no environment `{stage}`, and a project token cannot create one")).hint(format!(
        "deploy with --stage set to the token's environment, or use {} to let aideploy create `{stage}`",
        crate::envvars::RAILWAY_API_TOKEN
    ))
}

pub async fn apply(cx: &Cx, seen: &Observed, built: &Image, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let api = Api::from_env()?;
    let fail = |e: anyhow::Error| redacted(cx, Some(built), e);
    let stage = cx.stage.to_string();
    if seen.project_token && plan.changes.iter().any(|s| matches!(s, Step::CreateEnvironment { .. })) {
        let name = seen.project.as_ref().map(|p| p.name.as_str()).unwrap_or("of the token");
        return Err(no_environment(name, &stage).into());
    }
    let mut pushed: Option<Pushed> = None;
    let mut project: Option<SeenProject> = seen.project.clone();
    let mut env_id = seen.environment.as_ref().map(|e| e.id.clone());
    let mut service_id = seen.service.as_ref().map(|s| s.id.clone());
    let current_vars = seen.service.as_ref().map(|s| s.vars.clone()).unwrap_or_default();
    let parts = wanted_parts(cx, &built.facts, &current_vars).encode();
    let mut domain = seen.service.as_ref().and_then(|s| s.domain.as_ref()).map(|d| d.domain.clone());
    let mut settings_changed = false;
    let mut vars_written = false;
    let mut deployment = None;
    let pull_mark = pull::mark(built.facts.pull.as_ref());
    let ids = |p: &Option<SeenProject>, e: &Option<String>, s: &Option<String>| -> Result<(String, String, String)> {
        match (p, e, s) {
            (Some(p), Some(e), Some(s)) => Ok((p.id.clone(), e.clone(), s.clone())),
            _ => anyhow::bail!("the Railway service is not there to change; run the deploy again"),
        }
    };
    for step in &plan.changes {
        match step {
            Step::Push(facts) if !facts.present => pushed = Some(image::push(cx, built, r).await?),
            Step::CreateProject { name } => {
                r.step(&format!("creating Railway project {name}"));
                let description = super::lease::project_description(cx);
                let mut input = json!({"name": name, "description": description, "defaultEnvironmentName": stage});
                if let Some(w) = workspace(cx) {
                    input["workspaceId"] = json!(w);
                }
                let p = api.run(M_PROJECT_CREATE, json!({"input": input})).await?;
                project = Some(project_of(cx, field(p, "projectCreate")?));
                r.done();
            }
            Step::CreateEnvironment { .. } => {
                let Some(p) = project.as_mut() else { anyhow::bail!("no Railway project to create the environment `{stage}` in") };
                // A new project comes with it (its default environment).
                let id = match p.environments.iter().find(|(_, n)| *n == stage) {
                    Some((id, _)) => id.clone(),
                    None => {
                        r.step(&format!("creating environment {stage}"));
                        let e = api
                            .run(M_ENVIRONMENT_CREATE, json!({"input": {"projectId": p.id, "name": stage, "skipInitialDeploys": true}}))
                            .await?;
                        r.done();
                        let id = e["environmentCreate"]["id"].as_str().unwrap_or_default().to_string();
                        p.environments.push((id.clone(), stage.clone()));
                        id
                    }
                };
                // Marked, so destroy knows it may delete it.
                api.run(
                    M_VARIABLES,
                    json!({"input": {"projectId": p.id, "environmentId": id, "variables": {ENV_MARKER: format!("created by aideploy; {}", marker(cx))}, "skipDeploys": true}}),
                )
                .await?;
                env_id = Some(id);
            }
            Step::CreateService { name, .. } => {
                let (Some(p), Some(env)) = (&project, &env_id) else { anyhow::bail!("no Railway environment for service {name}") };
                r.step(&format!("creating service {name}"));
                // Created with its owner mark, so it is never there without it, with
                // the pull mark its registry credentials will match (none yet), and with
                // the salt of its secrets' fingerprints (paas::secrets).
                let input = json!({"projectId": p.id, "environmentId": env, "name": name, "variables": {OWNER_VAR: owner::mark(cx), PULL_VAR: pull_mark, SALT_VAR: secrets::new_salt()}});
                let s = api.run(M_SERVICE_CREATE, json!({"input": input})).await?;
                r.done();
                let Some(id) = s["serviceCreate"]["id"].as_str().filter(|i| !i.is_empty()) else {
                    anyhow::bail!("Railway created service {name} but answered without its id; run the deploy again to pick it up by name");
                };
                service_id = Some(id.to_string());
                set_instance(cx, &api, built, id, env, r).await.map_err(fail)?;
                settings_changed = true;
            }
            Step::UpdateService { .. } => {
                let (_, env, id) = ids(&project, &env_id, &service_id)?;
                set_instance(cx, &api, built, &id, &env, r).await.map_err(fail)?;
                settings_changed = true;
            }
            Step::SetPullCredential { .. } | Step::ClearPullCredential { .. } => {
                let (p, env, id) = ids(&project, &env_id, &service_id)?;
                let credentials = match &built.pull {
                    Some(login) => json!({"username": login.username, "password": login.password()}),
                    None => serde_json::Value::Null,
                };
                r.step(if credentials.is_null() { "clearing the registry credentials" } else { "setting the pull credential" });
                let input = json!({"registryCredentials": credentials});
                api.run(M_INSTANCE_UPDATE, json!({"serviceId": id, "environmentId": env, "input": input})).await.map_err(fail)?;
                // Recorded only once the credentials are in place.
                let record =
                    json!({"projectId": p, "environmentId": env, "serviceId": id, "variables": {PULL_VAR: pull_mark}, "skipDeploys": true});
                api.run(M_VARIABLES, json!({"input": record})).await?;
                r.done();
            }
            Step::Var(_) if !vars_written => {
                // One upsert for every variable that changed.
                vars_written = true;
                let (p, env, id) = ids(&project, &env_id, &service_id)?;
                let changes: Vec<&VarChange> =
                    plan.changes.iter().filter_map(|s| if let Step::Var(v) = s { Some(v) } else { None }).collect();
                r.step(&format!("setting {} variable(s)", changes.len()));
                let mut vars = desired_vars(cx);
                let replace = changes.iter().any(|v| matches!(v, VarChange::Delete { .. }));
                if replace {
                    // `replace` drops every variable not sent: keep the mark, the secrets
                    // with no value this time (their stored values) and the salt.
                    for k in cx.secrets.absent.iter().map(String::as_str).chain([SALT_VAR]) {
                        if let Some(v) = current_vars.get(k) {
                            vars.insert(k.to_string(), v.clone());
                        }
                    }
                    vars.insert(OWNER_VAR.into(), owner::mark(cx));
                    vars.insert(PULL_VAR.into(), pull_mark.clone());
                } else {
                    vars.retain(|k, _| changes.iter().any(|v| v.key() == k.as_str()));
                }
                // What the version the deploy below starts is made of, in the same upsert.
                vars.insert(PARTS_VAR.into(), parts.clone());
                api.run(M_VARIABLES, json!({"input": {"projectId": p, "environmentId": env, "serviceId": id, "variables": vars, "replace": replace, "skipDeploys": true}}))
                    .await
                    .map_err(fail)?;
                r.done();
            }
            Step::Deploy { digest, .. } => {
                let (p, env, id) = ids(&project, &env_id, &service_id)?;
                // What this version is made of, for the next plan: with the variables when
                // they changed (above), else on its own, without a deploy of its own.
                if !vars_written && current_vars.get(PARTS_VAR) != Some(&parts) {
                    let record = json!({"projectId": p, "environmentId": env, "serviceId": id, "variables": {PARTS_VAR: parts}, "skipDeploys": true});
                    api.run(M_VARIABLES, json!({"input": record})).await.map_err(fail)?;
                }
                r.step(&format!("deploying @{}", short(digest)));
                let d = api.run(M_DEPLOY, json!({"serviceId": id, "environmentId": env})).await?;
                r.done();
                deployment = d["serviceInstanceDeployV2"].as_str().map(str::to_string);
            }
            Step::CreateDomain => {
                let (p, env, id) = ids(&project, &env_id, &service_id)?;
                // A re-run after an interrupted deploy finds the one it made.
                domain = match observe::read_domain(&api, &p, &env, &id).await? {
                    Some(d) => Some(d.domain),
                    None => {
                        r.step("creating a Railway domain");
                        let d = api
                            .run(
                                M_DOMAIN_CREATE,
                                json!({"input": {"environmentId": env, "serviceId": id, "targetPort": cx.loaded.manifest.app().port.0}}),
                            )
                            .await?;
                        r.done();
                        d["serviceDomainCreate"]["domain"].as_str().map(str::to_string)
                    }
                };
            }
            Step::DeleteDomain { domain: name, id } => {
                // Only ever on our own service: observe refused a service without the mark.
                r.step(&format!("deleting Railway domain {name}"));
                api.run(M_DOMAIN_DELETE, json!({"id": id})).await?;
                r.done();
                domain = None;
            }
            _ => {}
        }
    }
    let actions = plan.display().actions;
    // A private service has no public URL (plan's note says how it is reached).
    let url = domain.filter(|_| is_public(cx)).map(|d| format!("https://{d}"));
    let Some(deployment) = deployment else { return Ok(Outcome { url, health: Health::Passed, actions, failure: None, pushed }) };
    match wait(cx, &api, &deployment, r).await? {
        Ok(()) => Ok(Outcome { url, health: Health::Passed, actions, failure: None, pushed }),
        Err(why) => {
            let s = seen.service.as_ref();
            let live = s.and_then(|s| s.live()).and_then(|d| d.digest.clone());
            // The service's source goes back to the image that serves, so a restart or
            // redeploy on Railway's side does not bring the failing image back.
            let serving = s
                .and_then(|s| s.instance.as_ref())
                .and_then(|i| i.image.clone())
                .filter(|i| live.as_deref().is_some_and(|l| i.ends_with(l)));
            if let (Some(image), true, Some(env), Some(id)) = (serving, settings_changed, &env_id, &service_id) {
                let input = json!({"source": {"image": image}});
                if let Err(e) = api.run(M_INSTANCE_UPDATE, json!({"serviceId": id, "environmentId": env, "input": input})).await {
                    r.warn(&format!("could not point {} back at the serving image: {e:#}", cx.resource_base()));
                }
            }
            let kept = if live.is_some() { "the previous deployment keeps serving" } else { "nothing is serving" };
            Ok(Outcome { url, health: Health::Failed, actions, failure: Some(format!("{why}\n({kept})")), pushed })
        }
    }
}

/// The service instance's settings: the image by digest and the health check (the
/// registry credentials are their own step).
async fn set_instance(cx: &Cx, api: &Api, built: &Image, service: &str, env: &str, r: &dyn Reporter) -> Result<()> {
    r.step(&format!("setting {} to image @{}", cx.resource_base(), short(&built.facts.digest)));
    let input =
        json!({"source": {"image": built.facts.reference}, "healthcheckPath": health_path(cx), "healthcheckTimeout": health_timeout(cx)});
    api.run(M_INSTANCE_UPDATE, json!({"serviceId": service, "environmentId": env, "input": input})).await?;
    r.done();
    Ok(())
}

pub async fn rollback(cx: &Cx, seen: &Observed, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let api = Api::from_env()?;
    let (Some(p), Some(env), Some(s)) = (&seen.project, &seen.environment, &seen.service) else {
        anyhow::bail!("nothing is deployed to roll back")
    };
    let mut outcome = Outcome { url: s.url(), health: Health::Passed, actions: plan.display().actions, failure: None, pushed: None };
    for step in &plan.changes {
        let Step::Rollback { deployment, .. } = step else { continue };
        r.step("rolling back on Railway");
        api.run(M_ROLLBACK, json!({"id": deployment})).await?;
        r.done();
        // deploymentRollback answers a boolean: the new deployment is the newest one we did not know.
        let after = observe::read_deployments(&api, &p.id, &env.id, &s.id, None).await?;
        let Some(new) = after.iter().find(|d| !s.deployments.iter().any(|k| k.id == d.id)) else { continue };
        if let Err(why) = wait(cx, &api, &new.id, r).await? {
            outcome.health = Health::Failed;
            outcome.failure = Some(format!("{why}\n(the current deployment keeps serving)"));
        }
    }
    Ok(outcome)
}

pub async fn destroy(plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let api = Api::from_env()?;
    for step in &plan.changes {
        match step {
            Step::DeleteService { name, id } => {
                r.step(&format!("deleting service {name}"));
                api.run(M_SERVICE_DELETE, json!({"id": id})).await?;
                r.done();
            }
            Step::DeleteEnvironment { name, id } => {
                r.step(&format!("deleting environment {name}"));
                api.run(M_ENVIRONMENT_DELETE, json!({"id": id})).await?;
                r.done();
            }
            Step::DeleteProject { name, id } => {
                r.step(&format!("deleting project {name}"));
                api.run(M_PROJECT_DELETE, json!({"id": id})).await?;
                r.done();
            }
            _ => {}
        }
    }
    Ok(Outcome { url: None, health: Health::Skipped, actions: plan.changes.iter().map(Change::row).collect(), failure: None, pushed: None })
}
