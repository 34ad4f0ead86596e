//! What a Render deploy, rollback or destroy will do, as typed steps; `plan` is pure.

use crate::backends::paas::image::ImageFacts;
use crate::backends::paas::short;
use crate::backends::paas::vars::{self, VarChange};
use crate::engine::{Action, Change, Cx, Op, Planned};

use super::observe::{Observed, SeenService};
use super::{credential_name, plan_name, region, RENDER_REGIONS};

/// One step of apply, rollback or destroy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Push the image (a no-op row when the registry has it).
    Push(ImageFacts),
    /// Register the registry login as a Render registry credential.
    CreateCredential {
        name: String,
    },
    /// A new web service running the image, with every variable (and the owner mark).
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
    /// A new deploy of the image.
    Deploy {
        digest: String,
        why: String,
    },
    KeepDeploy {
        digest: String,
    },
    /// Render's rollback to an earlier deploy.
    Rollback {
        deploy: String,
        digest: Option<String>,
    },
    DeleteService {
        name: String,
        id: String,
    },
    DeleteCredential {
        name: String,
        id: String,
    },
}

impl Change for Step {
    fn row(&self) -> Action {
        match self {
            Step::Push(image) => image.push_row(),
            Step::CreateCredential { name } => Action::new(Op::Create, "registry-credential", name).because("private registry"),
            Step::CreateService { name, digest } => {
                Action::new(Op::Create, "service", name).because(format!("web service, image @{}", short(digest)))
            }
            Step::UpdateService { name, why } => Action::new(Op::Update, "service", name).because(why.join(", ")),
            Step::KeepService { name } => Action::new(Op::Noop, "service", name),
            Step::Var(v) => v.row(),
            Step::Deploy { digest, why } => Action::new(Op::Create, "deploy", format!("@{}", short(digest))).because(why.clone()),
            Step::KeepDeploy { digest } => Action::new(Op::Noop, "deploy", format!("@{}", short(digest))),
            Step::Rollback { deploy, digest } => Action::new(Op::Create, "deploy", format!("rollback to {deploy}"))
                .because(format!("back to @{}", digest.as_deref().map(short).unwrap_or("?"))),
            Step::DeleteService { name, id } => Action::new(Op::Delete, "service", format!("{name} ({id})")),
            Step::DeleteCredential { name, id } => Action::new(Op::Delete, "registry-credential", format!("{name} ({id})")),
        }
    }
}

/// Why the service's settings must change, if they must.
fn service_changes(cx: &Cx, s: &SeenService, image: &ImageFacts) -> Vec<String> {
    let mut why = Vec::new();
    if s.health_path.as_deref() != Some(cx.loaded.manifest.app().health.as_str()) {
        why.push("health check path".to_string());
    }
    if s.plan.as_deref().is_some_and(|p| p != plan_name(cx)) {
        why.push(format!("plan -> {}", plan_name(cx)));
    }
    if image.private && s.registry_credential.is_none() {
        why.push("registry credential".into());
    }
    why
}

/// Desired vs observed. Pure.
pub fn plan(cx: &Cx, seen: &Observed, image: &ImageFacts) -> Planned<Step> {
    let base = cx.resource_base();
    let mut out = Planned::of(vec![Step::Push(image.clone())]);
    if image.private && seen.credential.is_none() {
        out.changes.push(Step::CreateCredential { name: credential_name(cx) });
    }
    let want = vars::desired(cx, &[]);
    match &seen.service {
        None => {
            if !RENDER_REGIONS.contains(&region(cx).as_str()) {
                out.warnings.push(format!("Render has no region `{}`: it takes one of {}", region(cx), RENDER_REGIONS.join(", ")));
            }
            out.changes.push(Step::CreateService { name: base, digest: image.digest.clone() });
            for k in want.keys() {
                out.changes.push(Step::Var(VarChange::Create { key: k.clone(), reason: vars::reason(cx, k, &[]) }));
            }
        }
        Some(s) => {
            let why = service_changes(cx, s, image);
            out.changes.push(if why.is_empty() { Step::KeepService { name: base } } else { Step::UpdateService { name: base, why } });
            let changes = vars::diff(cx, &want, &s.env, &[]);
            let live = s.live().and_then(|d| d.digest.clone());
            let why = if live.as_deref() != Some(image.digest.as_str()) {
                Some(match &live {
                    Some(l) => format!("image {} -> {}", short(l), short(&image.digest)),
                    None => "no live deploy".into(),
                })
            } else if !changes.is_empty() {
                Some("variables changed".into())
            } else {
                None
            };
            out.changes.extend(changes.into_iter().map(Step::Var));
            out.changes.push(match why {
                Some(why) => Step::Deploy { digest: image.digest.clone(), why },
                None => Step::KeepDeploy { digest: image.digest.clone() },
            });
        }
    }
    out
}

/// What destroy removes: the service (ours by its mark) and aideploy's credential.
pub fn plan_destroy(cx: &Cx, seen: &Observed) -> Planned<Step> {
    let mut out = Planned::default();
    if let Some(s) = &seen.service {
        out.changes.push(Step::DeleteService { name: cx.resource_base(), id: s.id.clone() });
    }
    if let Some(c) = &seen.credential {
        out.changes.push(Step::DeleteCredential { name: credential_name(cx), id: c.clone() });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::observe::SeenDeploy;
    use super::*;
    use crate::backends::paas::owner::{self, OWNER_VAR};
    use crate::backends::paas::testing;

    const MANIFEST: &str =
        "version = 1\n[app]\nname = \"rag\"\nruntime = \"python3.11\"\nasgi = \"app.main:app\"\nport = 8000\nhealth = \"/health\"\n\
        [env]\nLOG_LEVEL = \"info\"\n[targets.render]\nregion = \"frankfurt\"\n";

    fn rows(p: &Planned<Step>) -> Vec<String> {
        p.changes.iter().map(|c| c.row()).map(|a| format!("{} {} {}", a.op.symbol(), a.resource, a.id)).collect()
    }

    fn deployed(cx: &Cx, digest: &str) -> Observed {
        let mut env = BTreeMap::from([("LOG_LEVEL".to_string(), "info".to_string())]);
        env.insert(OWNER_VAR.into(), owner::mark(cx));
        Observed {
            owner: "tea-1".into(),
            credential: Some("rgc-1".into()),
            service: Some(SeenService {
                id: "srv-1".into(),
                url: Some("https://rag-dev.onrender.com".into()),
                dashboard: None,
                health_path: Some("/health".into()),
                plan: Some("starter".into()),
                registry_credential: Some("rgc-1".into()),
                env,
                deploys: vec![SeenDeploy {
                    id: "dep-1".into(),
                    status: "live".into(),
                    image: Some(format!("ghcr.io/you/app@{digest}")),
                    digest: Some(digest.into()),
                }],
            }),
        }
    }

    #[test]
    fn plans() {
        let cx = testing::cx(MANIFEST, "render");
        let a = "sha256:aaaaaaaaaaaaaaaa";
        let b = "sha256:bbbbbbbbbbbbbbbb";
        let pushed = ImageFacts { present: true, to_upload: 0, ..ImageFacts::example(a) };

        // Nothing deployed: push, credential, service and its variables.
        let p = plan(&cx, &Observed::default(), &ImageFacts::example(a));
        assert_eq!(
            rows(&p),
            [
                "+ push image ghcr.io/you/app@sha256:aaaaaaaaaaaa",
                "+ registry-credential aideploy-rag-dev",
                "+ service rag-dev",
                "+ variable LOG_LEVEL"
            ]
        );
        assert_eq!(p.display().actions[0].reason.as_deref(), Some("3.0 MiB to upload"));

        // Everything matching: all no-ops.
        let p = plan(&cx, &deployed(&cx, a), &pushed);
        assert!(!p.has_changes(), "{:?}", rows(&p));
        assert_eq!(rows(&p), ["= image ghcr.io/you/app@sha256:aaaaaaaaaaaa", "= service rag-dev", "= deploy @aaaaaaaaaaaa"]);

        // One variable changed: exactly that update and a deploy.
        let mut seen = deployed(&cx, a);
        seen.service.as_mut().unwrap().env.insert("LOG_LEVEL".into(), "debug".into());
        seen.service.as_mut().unwrap().env.insert("OLD".into(), "x".into());
        let p = plan(&cx, &seen, &pushed);
        assert_eq!(rows(&p)[1..], ["= service rag-dev", "~ variable LOG_LEVEL", "- variable OLD", "+ deploy @aaaaaaaaaaaa"]);

        // A setting changed: the service update only.
        let mut seen = deployed(&cx, a);
        seen.service.as_mut().unwrap().health_path = Some("/".into());
        let p = plan(&cx, &seen, &pushed);
        assert_eq!(rows(&p)[1..], ["~ service rag-dev", "= deploy @aaaaaaaaaaaa"]);

        // The code changed: push and deploy.
        let p = plan(&cx, &deployed(&cx, a), &ImageFacts::example(b));
        assert_eq!(rows(&p), ["+ push image ghcr.io/you/app@sha256:bbbbbbbbbbbb", "= service rag-dev", "+ deploy @bbbbbbbbbbbb"]);

        // Partly there: a credential from an interrupted first deploy is reused.
        let seen = Observed { credential: Some("rgc-1".into()), ..Observed::default() };
        assert_eq!(
            rows(&plan(&cx, &seen, &pushed)),
            ["= image ghcr.io/you/app@sha256:aaaaaaaaaaaa", "+ service rag-dev", "+ variable LOG_LEVEL"]
        );
        assert_eq!(rows(&plan_destroy(&cx, &seen)), ["- registry-credential aideploy-rag-dev (rgc-1)"]);
        assert_eq!(rows(&plan_destroy(&cx, &deployed(&cx, a))).len(), 2);
        assert!(plan_destroy(&cx, &Observed::default()).changes.is_empty());
    }
}
