//! What a Render deploy, rollback or destroy will do, as typed steps; `plan` is pure.

use crate::backends::paas::image::ImageFacts;
use crate::backends::paas::short;
use crate::backends::paas::vars::{self, VarChange};
use crate::engine::{Action, Change, Cx, Op, Planned};

use super::observe::{Observed, SeenCredential, SeenService};
use super::{
    credential_name, desired_vars, is_public, plan_name, port, private_note, region, PORT_REASON, PRIVATE_SERVICE, RENDER_REGIONS,
    RESERVED_PORTS, WEB_SERVICE,
};
use crate::backends::paas::pull::{self, PullFacts};

/// One step of apply, rollback or destroy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Push the image (a no-op row when the registry has it).
    Push(ImageFacts),
    /// Register the configured pull credential as a Render registry credential.
    CreateCredential {
        name: String,
        username: String,
    },
    /// Put the configured pull credential into a registry credential aideploy
    /// registered before (an earlier aideploy's, which may hold the push login, or one
    /// of a pull credential that changed), under its new name.
    UpdateCredential {
        id: String,
        name: String,
        username: String,
        /// Registered by an earlier aideploy with the push login.
        legacy: bool,
    },
    /// A new service running the image, with every variable (and the owner mark): a
    /// private service, or a web service when public.
    CreateService {
        name: String,
        digest: String,
        private: bool,
    },
    /// Delete our service to create it again as the other type (Render cannot change a
    /// service's type in place).
    ReplaceService {
        name: String,
        id: String,
        /// The type it has now -> the one it gets.
        from: &'static str,
        to: &'static str,
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
        /// Why a deploy deletes it; none for destroy.
        why: Option<&'static str>,
    },
}

impl Change for Step {
    fn row(&self) -> Action {
        match self {
            Step::Push(image) => image.push_row(),
            Step::CreateCredential { name, username } => {
                Action::new(Op::Create, "registry-credential", name).because(format!("the configured pull credential ({username})"))
            }
            Step::UpdateCredential { name, username, legacy, .. } => {
                Action::new(Op::Update, "registry-credential", name).because(if *legacy {
                    format!("the configured pull credential ({username}) replaces the login an earlier aideploy registered (it may be the push login)")
                } else {
                    format!("the pull credential ({username}) changed")
                })
            }
            Step::CreateService { name, digest, private } => Action::new(Op::Create, "service", name).because(format!(
                "{}, image @{}",
                if *private { "private service (no public URL)" } else { "web service (public URL)" },
                short(digest)
            )),
            Step::ReplaceService { name, id, from, to } => Action::new(Op::Delete, "service", format!("{name} ({id})"))
                .because(format!("replaced: Render cannot change a {from} into a {to}; created again below")),
            Step::UpdateService { name, why } => Action::new(Op::Update, "service", name).because(why.join(", ")),
            Step::KeepService { name } => Action::new(Op::Noop, "service", name),
            Step::Var(v) => v.row(),
            Step::Deploy { digest, why } => Action::new(Op::Create, "deploy", format!("@{}", short(digest))).because(why.clone()),
            Step::KeepDeploy { digest } => Action::new(Op::Noop, "deploy", format!("@{}", short(digest))),
            Step::Rollback { deploy, digest } => Action::new(Op::Create, "deploy", format!("rollback to {deploy}"))
                .because(format!("back to @{}", digest.as_deref().map(short).unwrap_or("?"))),
            Step::DeleteService { name, id } => Action::new(Op::Delete, "service", format!("{name} ({id})")),
            Step::DeleteCredential { name, id, why } => {
                let row = Action::new(Op::Delete, "registry-credential", format!("{name} ({id})"));
                match why {
                    Some(why) => row.because(*why),
                    None => row,
                }
            }
        }
    }
}

/// The registry credential steps: those before the service is created or updated (the
/// configured pull credential registered, or put in place of an older one), those after
/// (the ones no longer used, deleted once the service no longer names them), and the id
/// of the credential the service should name (`None` for one still to be made, or none).
fn credentials(cx: &Cx, seen: &Observed, pull: Option<&PullFacts>) -> (Vec<Step>, Vec<Step>, Option<String>) {
    let (mut first, mut last) = (Vec::new(), Vec::new());
    let mut rest: Vec<&SeenCredential> = seen.credentials.iter().collect();
    let mut keep = None;
    if let Some(p) = pull {
        let name = credential_name(cx, &p.fingerprint);
        if let Some(at) = rest.iter().position(|c| c.fingerprint.as_deref() == Some(p.fingerprint.as_str())) {
            keep = Some(rest.remove(at).id.clone());
        } else if !rest.is_empty() {
            // The one the service names, if any, is updated in place: it never pulls without.
            let named = seen.service.as_ref().and_then(|s| s.registry_credential.as_ref());
            let old = rest.remove(rest.iter().position(|c| Some(&c.id) == named).unwrap_or(0));
            keep = Some(old.id.clone());
            first.push(Step::UpdateCredential {
                id: old.id.clone(),
                name,
                username: p.username.clone(),
                legacy: old.fingerprint.is_none(),
            });
        } else {
            first.push(Step::CreateCredential { name, username: p.username.clone() });
        }
    }
    for c in rest {
        let why = match (pull, &c.fingerprint) {
            (Some(_), _) => "another credential of this app and stage: one is kept",
            (None, None) => "no pull credential is configured, and an earlier aideploy registered this one (it may hold the push login)",
            (None, Some(_)) => "no pull credential is configured any more",
        };
        last.push(Step::DeleteCredential { name: c.name.clone(), id: c.id.clone(), why: Some(why) });
    }
    (first, last, keep)
}

/// Why the service's settings must change, if they must. `credential`: the id of the
/// registry credential it should name, when known.
fn service_changes(cx: &Cx, s: &SeenService, image: &ImageFacts, credential: Option<&String>) -> Vec<String> {
    let mut why = Vec::new();
    // Render health-checks web services only.
    if !s.private && s.health_path.as_deref() != Some(cx.loaded.manifest.app().health.as_str()) {
        why.push("health check path".to_string());
    }
    if s.plan.as_deref().is_some_and(|p| p != plan_name(cx)) {
        why.push(format!("plan -> {}", plan_name(cx)));
    }
    match (&image.pull, &s.registry_credential) {
        (Some(_), named) if named.is_none() || named.as_ref() != credential => why.push("registry credential".into()),
        (None, Some(_)) => why.push("no registry credential".into()),
        _ => {}
    }
    why
}

/// Desired vs observed. Pure.
pub fn plan(cx: &Cx, seen: &Observed, image: &ImageFacts) -> Planned<Step> {
    let base = cx.resource_base();
    let mut out = Planned::of(vec![Step::Push(image.clone())]);
    if image.pull.is_none() {
        out.warnings.push(pull::anonymous_note(cx, "Render", &image.repo));
    }
    let (first, last, credential) = credentials(cx, seen, image.pull.as_ref());
    out.changes.extend(first);
    let want = desired_vars(cx);
    let private = !is_public(cx);
    if private {
        out.warnings.push(private_note(cx, seen.service.as_ref().filter(|s| s.private).and_then(|s| s.slug.as_deref())));
        if RESERVED_PORTS.contains(&port(cx)) {
            out.warnings.push(format!(
                "Render keeps port {} for itself: its private network does not reach it; set [app] port to another",
                port(cx)
            ));
        }
    }
    // A service of the other type is replaced: Render cannot change a service's type.
    let current = match &seen.service {
        Some(s) if s.private != private => {
            let (from, to) = if private { (WEB_SERVICE, PRIVATE_SERVICE) } else { (PRIVATE_SERVICE, WEB_SERVICE) };
            out.changes.push(Step::ReplaceService { name: base.clone(), id: s.id.clone(), from, to });
            None
        }
        other => other.as_ref(),
    };
    match current {
        None => {
            if !RENDER_REGIONS.contains(&region(cx).as_str()) {
                out.warnings.push(format!("Render has no region `{}`: it takes one of {}", region(cx), RENDER_REGIONS.join(", ")));
            }
            out.changes.push(Step::CreateService { name: base, digest: image.digest.clone(), private });
            for k in want.keys() {
                out.changes.push(Step::Var(VarChange::Create { key: k.clone(), reason: vars::reason(cx, k, PORT_REASON) }));
            }
        }
        Some(s) => {
            let why = service_changes(cx, s, image, credential.as_ref());
            out.changes.push(if why.is_empty() { Step::KeepService { name: base } } else { Step::UpdateService { name: base, why } });
            let changes = vars::diff(cx, &want, &s.env, PORT_REASON);
            let live = s.live().and_then(|d| d.digest.clone());
            let why = if live.as_deref() != Some(image.digest.as_str()) {
                Some(match &live {
                    Some(l) => format!("image {} -> {}", short(l), short(&image.digest)),
                    None => "no live deploy".into(),
                })
            } else if !changes.is_empty() {
                Some("variables changed".into())
            } else if vars::secrets_stale(cx, &s.env, image) {
                Some("a stored secret has a new value".into())
            } else {
                None
            };
            // What changes, part by part, when the live deploy recorded its parts.
            let why = why.map(|w| vars::deploy_reason(cx, &s.env, image, &changes).unwrap_or(w));
            out.changes.extend(changes.into_iter().map(Step::Var));
            out.changes.push(match why {
                Some(why) => Step::Deploy { digest: image.digest.clone(), why },
                None => Step::KeepDeploy { digest: image.digest.clone() },
            });
        }
    }
    out.changes.extend(last);
    out
}

/// What destroy removes: the service (ours by its mark) and aideploy's credential.
pub fn plan_destroy(cx: &Cx, seen: &Observed) -> Planned<Step> {
    let mut out = Planned::default();
    if let Some(s) = &seen.service {
        out.changes.push(Step::DeleteService { name: cx.resource_base(), id: s.id.clone() });
    }
    for c in &seen.credentials {
        out.changes.push(Step::DeleteCredential { name: c.name.clone(), id: c.id.clone(), why: None });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::observe::SeenDeploy;
    use super::*;
    use crate::backends::paas::owner::{self, OWNER_VAR};
    use crate::backends::paas::pull::PullFacts;
    use crate::backends::paas::testing;

    const MANIFEST: &str =
        "version = 1\n[app]\nname = \"rag\"\nruntime = \"python3.11\"\nasgi = \"app.main:app\"\nport = 8000\nhealth = \"/health\"\n\
        [env]\nLOG_LEVEL = \"info\"\n[targets.render]\nregion = \"frankfurt\"\npublic = true\n";

    fn rows(p: &Planned<Step>) -> Vec<String> {
        p.changes.iter().map(|c| c.row()).map(|a| format!("{} {} {}", a.op.symbol(), a.resource, a.id)).collect()
    }

    fn ours(cx: &Cx, id: &str, username: &str) -> SeenCredential {
        let fp = PullFacts::example(username).fingerprint;
        SeenCredential { id: id.into(), name: credential_name(cx, &fp), fingerprint: Some(fp) }
    }

    fn deployed(cx: &Cx, digest: &str) -> Observed {
        let mut env = BTreeMap::from([("LOG_LEVEL".to_string(), "info".to_string())]);
        env.insert(OWNER_VAR.into(), owner::mark(cx));
        Observed {
            owner: "tea-1".into(),
            credentials: vec![ours(cx, "rgc-1", "reader")],
            service: Some(SeenService {
                id: "srv-1".into(),
                private: false,
                slug: Some("rag-dev".into()),
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
                    created: None,
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

        // Nothing deployed: push, the pull credential, service and its variables.
        let p = plan(&cx, &Observed::default(), &ImageFacts::example(a));
        let name = credential_name(&cx, &PullFacts::example("reader").fingerprint);
        assert_eq!(
            rows(&p),
            [
                "+ push image ghcr.io/you/app@sha256:aaaaaaaaaaaa",
                &format!("+ registry-credential {name}"),
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
        let seen = Observed { credentials: vec![ours(&cx, "rgc-1", "reader")], ..Observed::default() };
        assert_eq!(
            rows(&plan(&cx, &seen, &pushed)),
            ["= image ghcr.io/you/app@sha256:aaaaaaaaaaaa", "+ service rag-dev", "+ variable LOG_LEVEL"]
        );
        assert_eq!(rows(&plan_destroy(&cx, &seen)), [format!("- registry-credential {name} (rgc-1)")]);
        assert_eq!(rows(&plan_destroy(&cx, &deployed(&cx, a))).len(), 2);
        assert!(plan_destroy(&cx, &Observed::default()).changes.is_empty());
    }

    /// What an earlier aideploy registered (`aideploy-{app}-{stage}`, which may hold the
    /// push login) is replaced with the configured pull credential, or deleted when none
    /// is configured; a changed pull credential is put in place; extras go.
    #[test]
    fn pull_credential_rows() {
        let cx = testing::cx(MANIFEST, "render");
        let a = "sha256:aaaaaaaaaaaaaaaa";
        let with = ImageFacts { present: true, to_upload: 0, ..ImageFacts::example(a) };
        let without = ImageFacts { pull: None, ..with.clone() };
        let legacy = SeenCredential { id: "rgc-0".into(), name: "aideploy-rag-dev".into(), fingerprint: None };
        let name = credential_name(&cx, &PullFacts::example("reader").fingerprint);
        let shown = |p: &Planned<Step>| -> Vec<String> {
            p.display()
                .actions
                .into_iter()
                .filter(|a| a.resource == "registry-credential" || a.resource == "service")
                .map(|a| format!("{} {} {} ({})", a.op.symbol(), a.resource, a.id, a.reason.unwrap_or_default()))
                .collect()
        };
        let service_names = |seen: &mut Observed, id: &str| seen.service.as_mut().unwrap().registry_credential = Some(id.into());

        // The service pulls with an earlier aideploy's credential: updated in place.
        let mut seen = Observed { credentials: vec![legacy.clone()], ..deployed(&cx, a) };
        service_names(&mut seen, "rgc-0");
        let p = plan(&cx, &seen, &with);
        assert_eq!(
            shown(&p),
            [
                format!("~ registry-credential {name} (the configured pull credential (reader) replaces the login an earlier aideploy registered (it may be the push login))"),
                "= service rag-dev ()".to_string()
            ]
        );
        assert!(p.warnings.is_empty());
        // ... and none configured: the service stops naming it, then it is deleted.
        let p = plan(&cx, &seen, &without);
        assert_eq!(
            shown(&p),
            [
                "~ service rag-dev (no registry credential)",
                "- registry-credential aideploy-rag-dev (rgc-0) (no pull credential is configured, and an earlier aideploy registered this one (it may hold the push login))"
            ]
        );
        assert!(matches!(p.changes.last(), Some(Step::DeleteCredential { .. })), "deleted last");
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("pulls ghcr.io/you/app anonymously, so the image must be public"), "{:?}", p.warnings);

        // A changed pull credential is put into the one the service names.
        let mut seen = Observed { credentials: vec![ours(&cx, "rgc-2", "old-reader")], ..deployed(&cx, a) };
        service_names(&mut seen, "rgc-2");
        assert_eq!(
            shown(&plan(&cx, &seen, &with)),
            [format!("~ registry-credential {name} (the pull credential (reader) changed)"), "= service rag-dev ()".to_string()]
        );

        // The current one and a leftover: the current one stays, the leftover goes.
        let mut seen = deployed(&cx, a);
        seen.credentials.push(legacy.clone());
        assert_eq!(
            shown(&plan(&cx, &seen, &with)),
            [
                "= service rag-dev ()",
                "- registry-credential aideploy-rag-dev (rgc-0) (another credential of this app and stage: one is kept)"
            ]
        );
        // Matching: nothing.
        assert!(!plan(&cx, &deployed(&cx, a), &with).has_changes());
    }

    /// Without `public = true`: a private service (no health check path, `PORT` set);
    /// a web service of ours is replaced, and back.
    #[test]
    fn private_unless_public() {
        let cx = testing::cx(&MANIFEST.replace("public = true\n", ""), "render");
        let a = "sha256:aaaaaaaaaaaaaaaa";
        let pushed = ImageFacts { present: true, to_upload: 0, ..ImageFacts::example(a) };
        let p = plan(&cx, &Observed::default(), &ImageFacts::example(a));
        assert!(matches!(&p.changes[2], Step::CreateService { private: true, .. }), "{:?}", rows(&p));
        assert!(rows(&p).contains(&"+ variable PORT".to_string()), "{:?}", rows(&p));
        let note = p.warnings.iter().find(|w| w.contains("private service")).expect("a note on how to reach it");
        assert!(note.contains("/health is not checked") && note.contains("public = true"), "{note}");
        // Our web service: replaced (deleted, created), its variables written with it.
        let p = plan(&cx, &deployed(&cx, a), &pushed);
        assert_eq!(rows(&p)[1..4], ["- service rag-dev (srv-1)", "+ service rag-dev", "+ variable LOG_LEVEL"]);
        assert!(p.display().actions[1].reason.as_deref().unwrap().contains("cannot change a web_service into a private_service"));
        // A private service that matches: nothing to do, the health path is not compared.
        let mut seen = deployed(&cx, a);
        let s = seen.service.as_mut().unwrap();
        (s.private, s.health_path, s.url) = (true, None, None);
        s.env.insert("PORT".into(), "8000".into());
        assert!(!plan(&cx, &seen, &pushed).has_changes(), "{:?}", rows(&plan(&cx, &seen, &pushed)));
        // ... and public again: replaced by a web service.
        let public = testing::cx(MANIFEST, "render");
        let p = plan(&public, &seen, &pushed);
        assert!(matches!(&p.changes[1], Step::ReplaceService { from: "private_service", to: "web_service", .. }), "{:?}", rows(&p));
        assert!(matches!(&p.changes[2], Step::CreateService { private: false, .. }));
    }

    /// The image of `digest` whose code (without the manifest) is `code`.
    fn image_of(digest: &str, code: &str) -> ImageFacts {
        let inputs = crate::engine::Inputs { code: code.into(), dependencies: "deps-key".into() };
        ImageFacts { present: true, to_upload: 0, inputs, ..ImageFacts::example(digest) }
    }

    /// Deployed by `old` from `image`, with the parts variable a deploy writes.
    fn deployed_with_parts(old: &Cx, image: &ImageFacts) -> Observed {
        let mut seen = deployed(old, &image.digest);
        let s = seen.service.as_mut().unwrap();
        s.env.insert(vars::PARTS_VAR.into(), vars::wanted_parts(old, image, &Default::default()).encode());
        for (k, v) in &old.secrets.values {
            s.env.insert(k.clone(), v.expose().to_string());
        }
        seen
    }

    fn deploy_reason(p: &Planned<Step>) -> Option<String> {
        p.changes.iter().map(|c| c.row()).find(|a| a.resource == "deploy").and_then(|a| a.reason)
    }

    #[test]
    fn the_deploy_row_says_which_part_changed() {
        let (a, b) = ("sha256:aaaaaaaaaaaaaaaa", "sha256:bbbbbbbbbbbbbbbb");
        let old = testing::cx(MANIFEST, "render");
        let new = testing::cx(&MANIFEST.replace("\"info\"", "\"debug\""), "render");
        let seen = deployed_with_parts(&old, &image_of(a, "code-1"));
        assert_eq!(deploy_reason(&plan(&new, &seen, &image_of(b, "code-1"))).as_deref(), Some("env changed"));
        assert!(!plan(&old, &seen, &image_of(a, "code-1")).has_changes(), "the parts variable is never diffed");
        assert_eq!(deploy_reason(&plan(&old, &seen, &image_of(b, "code-2"))).as_deref(), Some("code changed"));
        let bare = deployed(&old, a);
        assert_eq!(deploy_reason(&plan(&new, &bare, &image_of(b, "code-1"))).as_deref(), Some("image aaaaaaaaaaaa -> bbbbbbbbbbbb"));
    }

    #[test]
    fn a_secrets_only_change_says_secrets_changed() {
        let a = "sha256:aaaaaaaaaaaaaaaa";
        let text = MANIFEST.replace("[targets.render]", "[secrets]\nAPI_KEY = {}\n[targets.render]");
        let old = crate::engine::testing::cx_with_secret(&text, "render", &[], "API_KEY", "v1");
        let new = crate::engine::testing::cx_with_secret(&text, "render", &[], "API_KEY", "v2");
        let seen = deployed_with_parts(&old, &image_of(a, "code-1"));
        assert!(!plan(&old, &seen, &image_of(a, "code-1")).has_changes());
        assert_eq!(deploy_reason(&plan(&new, &seen, &image_of(a, "code-1"))).as_deref(), Some("secrets changed"));
    }
}
