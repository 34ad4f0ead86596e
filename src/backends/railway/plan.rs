//! What a Railway deploy, rollback or destroy will do, as typed steps; `plan` is pure.

use anyhow::Result;

use crate::backends::paas::image::ImageFacts;
use crate::backends::paas::pull::{self, PULL_VAR};
use crate::backends::paas::short;
use crate::backends::paas::vars::{self, VarChange};
use crate::engine::target::pick_kept;
use crate::engine::{Action, Change, Cx, Kept, Op, Planned};

use super::observe::{Observed, SeenInstance};
use super::{desired_vars, health_path, health_timeout, is_public, private_note, project_name, PORT_REASON};

/// How a plan names the domain Railway will generate.
pub const NEW_DOMAIN: &str = "<service>.up.railway.app";

/// One step of apply, rollback or destroy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Push the image (a no-op row when the registry has it).
    Push(ImageFacts),
    /// A new project, marked as aideploy's in its description.
    CreateProject {
        name: String,
    },
    /// The stage's environment (made with a new project, or in an existing one), marked
    /// as aideploy's.
    CreateEnvironment {
        name: String,
        /// The existing project it goes in; None: the new one.
        project: Option<String>,
    },
    /// A new service carrying the owner mark, then set to the image.
    CreateService {
        name: String,
        digest: String,
    },
    UpdateService {
        name: String,
        why: Vec<String>,
    },
    KeepService {
        name: String,
    },
    Var(VarChange),
    /// Set the service instance's registry credentials to the configured pull
    /// credential (and record which in the service's `AIDEPLOY_PULL_CREDENTIAL`).
    SetPullCredential {
        username: String,
        why: &'static str,
        new: bool,
    },
    /// Clear the service instance's registry credentials (and record `none`).
    ClearPullCredential {
        name: String,
        why: &'static str,
    },
    /// A new deployment of the service.
    Deploy {
        digest: String,
        why: String,
    },
    KeepDeploy {
        digest: String,
    },
    CreateDomain,
    KeepDomain {
        domain: String,
    },
    /// Delete the Railway domain of our service: the manifest no longer says
    /// `public = true`.
    DeleteDomain {
        domain: String,
        id: String,
    },
    /// Railway's rollback to an earlier deployment.
    Rollback {
        deployment: String,
        digest: Option<String>,
    },
    DeleteService {
        name: String,
        id: String,
    },
    DeleteEnvironment {
        name: String,
        id: String,
    },
    KeepEnvironment {
        name: String,
        why: &'static str,
    },
    DeleteProject {
        name: String,
        id: String,
    },
    KeepProject {
        name: String,
        why: &'static str,
    },
}

impl Change for Step {
    fn row(&self) -> Action {
        match self {
            Step::Push(image) => image.push_row(),
            Step::CreateProject { name } => Action::new(Op::Create, "project", name).because("a new Railway project, marked as aideploy's"),
            Step::CreateEnvironment { name, project } => Action::new(Op::Create, "environment", name).because(match project {
                Some(p) => format!("in project {p}"),
                None => "in the new project".into(),
            }),
            Step::CreateService { name, digest } => Action::new(Op::Create, "service", name).because(format!("image @{}", short(digest))),
            Step::UpdateService { name, why } => Action::new(Op::Update, "service", name).because(why.join(", ")),
            Step::KeepService { name } => Action::new(Op::Noop, "service", name),
            Step::Var(v) => v.row(),
            Step::SetPullCredential { username, why, new } => {
                Action::new(if *new { Op::Create } else { Op::Update }, "registry-credentials", username).because(*why)
            }
            Step::ClearPullCredential { name, why } => Action::new(Op::Delete, "registry-credentials", name).because(*why),
            Step::Deploy { digest, why } => Action::new(Op::Create, "deployment", format!("@{}", short(digest))).because(why.clone()),
            Step::KeepDeploy { digest } => Action::new(Op::Noop, "deployment", format!("@{}", short(digest))),
            Step::CreateDomain => Action::new(Op::Create, "domain", NEW_DOMAIN).because("Railway domain"),
            Step::KeepDomain { domain } => Action::new(Op::Noop, "domain", domain),
            Step::DeleteDomain { domain, .. } => {
                Action::new(Op::Delete, "domain", domain).because("private: the target does not say `public = true`")
            }
            Step::Rollback { deployment, digest } => Action::new(Op::Create, "deployment", format!("rollback to {deployment}"))
                .because(format!("back to @{}", digest.as_deref().map(short).unwrap_or("?"))),
            Step::DeleteService { name, id } => Action::new(Op::Delete, "service", format!("{name} ({id})")),
            Step::DeleteEnvironment { name, id } => {
                Action::new(Op::Delete, "environment", format!("{name} ({id})")).because("created by aideploy")
            }
            Step::KeepEnvironment { name, why } => Action::new(Op::Noop, "environment", name).because(*why),
            Step::DeleteProject { name, id } => Action::new(Op::Delete, "project", format!("{name} ({id})")).because("created by aideploy"),
            Step::KeepProject { name, why } => Action::new(Op::Noop, "project", name).because(*why),
        }
    }
}

/// Why the service instance's settings must change, if they must.
pub fn instance_changes(cx: &Cx, image: &ImageFacts, instance: Option<&SeenInstance>) -> Vec<String> {
    let i = instance.cloned().unwrap_or_default();
    let mut why = Vec::new();
    if i.image.as_deref() != Some(image.reference.as_str()) {
        why.push("image".to_string());
    }
    if i.health_path.as_deref() != Some(health_path(cx).as_str()) {
        why.push("health check path".into());
    }
    if i.health_timeout != Some(i64::from(health_timeout(cx))) {
        why.push("health check timeout".into());
    }
    why
}

/// The registry credentials step for an existing service, decided from the pull mark
/// it carries: none when it matches the configured pull credential (or `none`).
pub fn pull_step(cx: &Cx, image: &ImageFacts, vars: &std::collections::BTreeMap<String, String>) -> Option<Step> {
    let want = pull::mark(image.pull.as_ref());
    let seen = vars.get(PULL_VAR);
    if seen == Some(&want) {
        return None;
    }
    Some(match &image.pull {
        Some(p) => Step::SetPullCredential {
            username: p.username.clone(),
            why: if seen.is_none() {
                "the configured pull credential replaces what an earlier aideploy set (it may be the push login)"
            } else {
                "the pull credential changed"
            },
            new: false,
        },
        None => Step::ClearPullCredential {
            name: cx.resource_base(),
            why: if seen.is_none() {
                "no pull credential is configured, and an earlier aideploy may have set the push login here"
            } else {
                "no pull credential is configured any more"
            },
        },
    })
}

/// Desired vs observed. Pure.
pub fn plan(cx: &Cx, seen: &Observed, image: &ImageFacts) -> Planned<Step> {
    let base = cx.resource_base();
    let stage = cx.stage.to_string();
    let mut out = Planned::of(vec![Step::Push(image.clone())]);
    if image.pull.is_none() {
        out.warnings.push(pull::anonymous_note(cx, "Railway", &image.repo));
    }
    match &seen.project {
        None => out.changes.push(Step::CreateProject { name: project_name(cx) }),
        Some(_) if seen.environment.is_some() => {}
        Some(p) => {
            if seen.project_token {
                out.warnings.push(format!(
                    "{} is a project token: it cannot create the environment `{stage}`; deploy to one of its project's environments with --stage, or use {}",
                    crate::envvars::RAILWAY_TOKEN,
                    crate::envvars::RAILWAY_API_TOKEN
                ));
            }
            out.changes.push(Step::CreateEnvironment { name: stage.clone(), project: Some(p.name.clone()) });
        }
    }
    if seen.project.is_none() {
        out.changes.push(Step::CreateEnvironment { name: stage, project: None });
    }
    let want = desired_vars(cx);
    let public = is_public(cx);
    if !public {
        out.warnings.push(private_note(cx, seen.service.as_ref().and_then(|s| s.private_domain.as_deref())));
    }
    let Some(s) = &seen.service else {
        out.changes.push(Step::CreateService { name: base, digest: image.digest.clone() });
        if let Some(p) = &image.pull {
            out.changes.push(Step::SetPullCredential { username: p.username.clone(), why: "the configured pull credential", new: true });
        }
        for k in want.keys() {
            out.changes.push(Step::Var(VarChange::Create { key: k.clone(), reason: vars::reason(cx, k, PORT_REASON) }));
        }
        out.changes.push(Step::Deploy { digest: image.digest.clone(), why: "first deployment".into() });
        if public {
            out.changes.push(Step::CreateDomain);
        }
        return out;
    };
    let why = instance_changes(cx, image, s.instance.as_ref());
    let settings = !why.is_empty();
    out.changes.push(if settings { Step::UpdateService { name: base, why } } else { Step::KeepService { name: base } });
    out.changes.extend(pull_step(cx, image, &s.vars));
    let changes = vars::diff(cx, &want, &s.vars, PORT_REASON);
    let live = s.live().and_then(|d| d.digest.clone());
    let why = if live.as_deref() != Some(image.digest.as_str()) {
        Some(match &live {
            Some(l) => format!("image {} -> {}", short(l), short(&image.digest)),
            None => "no live deployment".into(),
        })
    } else if !changes.is_empty() {
        Some("variables changed".into())
    } else if settings {
        Some("service settings changed".into())
    } else if vars::secrets_stale(cx, &s.vars, image) {
        Some("a stored secret has a new value".into())
    } else {
        None
    };
    // What changes, part by part, when the live deployment recorded its parts.
    let why = why.map(|w| vars::deploy_reason(cx, &s.vars, image, &changes).unwrap_or(w));
    out.changes.extend(changes.into_iter().map(Step::Var));
    out.changes.push(match why {
        Some(why) => Step::Deploy { digest: image.digest.clone(), why },
        None => Step::KeepDeploy { digest: image.digest.clone() },
    });
    match (&s.domain, public) {
        (Some(d), true) => out.changes.push(Step::KeepDomain { domain: d.domain.clone() }),
        (None, true) => out.changes.push(Step::CreateDomain),
        (Some(d), false) => out.changes.push(Step::DeleteDomain { domain: d.domain.clone(), id: d.id.clone() }),
        (None, false) => {}
    }
    out
}

/// The deployment a rollback returns to: the newest one before the live deployment
/// that Railway can roll back to and runs another image.
pub fn plan_rollback(seen: &Observed) -> Option<Step> {
    let s = seen.service.as_ref()?;
    let live = s.live()?;
    let at = s.deployments.iter().position(|d| d.id == live.id)?;
    let prev = s.deployments[at + 1..].iter().find(|d| d.can_rollback && d.status == "REMOVED" && d.digest != live.digest)?;
    Some(Step::Rollback { deployment: prev.id.clone(), digest: prev.digest.clone() })
}

/// The deployments a rollback can go back to, and the live one, newest first. Railway
/// rolls back only to a deployment that served and was replaced (`REMOVED`) and that it
/// says it still can (`canRollback`: it still has what the deployment ran); one that
/// never went live, or whose image Railway no longer keeps, is not listed. A deployment
/// whose image aideploy cannot tell is left out: it could not be named by digest.
pub fn releases(seen: &Observed) -> Vec<Kept> {
    let Some(s) = &seen.service else { return Vec::new() };
    let live = s.live().map(|d| d.id.as_str());
    s.deployments
        .iter()
        .filter(|d| Some(d.id.as_str()) == live || (d.can_rollback && d.status == "REMOVED"))
        .filter_map(|d| {
            Some(Kept { id: d.id.clone(), digest: d.digest.clone()?, created_at: d.created.clone(), live: Some(d.id.as_str()) == live })
        })
        .collect()
}

/// Railway's rollback to the kept deployment `id` (or a prefix of its id or digest).
pub fn plan_rollback_to(cx: &Cx, seen: &Observed, id: &str) -> Result<Planned<Step>> {
    let kept = releases(seen);
    let to = pick_kept(cx, &kept, id)?;
    Ok(Planned::of(vec![Step::Rollback { deployment: to.id.clone(), digest: Some(to.digest.clone()) }]))
}

/// What destroy removes: the service (ours by its mark), then the environment or the
/// project when aideploy created it and nothing else is in it.
pub fn plan_destroy(cx: &Cx, seen: &Observed) -> Planned<Step> {
    let mut out = Planned::default();
    let Some(project) = &seen.project else { return out };
    let service = seen.service.as_ref().map(|s| &s.id);
    if let Some(id) = service {
        out.changes.push(Step::DeleteService { name: cx.resource_base(), id: id.clone() });
    }
    let others = project.services.iter().any(|(id, _)| Some(id) != service);
    if project.ours && !others {
        out.changes.push(Step::DeleteProject { name: project.name.clone(), id: project.id.clone() });
        return out;
    }
    if service.is_none() {
        // Left by an interrupted first deploy: an empty environment aideploy made.
        if let Some(env) = seen.environment.as_ref().filter(|e| e.ours && e.services.is_empty()) {
            out.changes.push(Step::DeleteEnvironment { name: env.name.clone(), id: env.id.clone() });
        }
        return out;
    }
    if let Some(env) = &seen.environment {
        let others_here = env.services.iter().any(|s| Some(s) != service);
        out.changes.push(if env.ours && !others_here {
            Step::DeleteEnvironment { name: env.name.clone(), id: env.id.clone() }
        } else {
            Step::KeepEnvironment {
                name: env.name.clone(),
                why: if env.ours { "other services use it" } else { "not created by aideploy" },
            }
        });
    }
    out.changes.push(Step::KeepProject {
        name: project.name.clone(),
        why: if project.ours { "other services remain" } else { "not created by aideploy" },
    });
    out
}
