//! The pure Railway plan, from plain observed data.

use std::collections::BTreeMap;

use serde_json::json;

use super::observe::{deployment_digest, Observed, SeenDeployment, SeenDomain, SeenEnvironment, SeenInstance, SeenProject, SeenService};
use super::plan::{plan, plan_destroy, plan_rollback, plan_rollback_to, releases, Step};
use super::*;
use crate::backends::paas::image::ImageFacts;
use crate::backends::paas::owner::{self, OWNER_VAR};
use crate::backends::paas::pull::{PullFacts, PULL_VAR};
use crate::backends::paas::testing;
use crate::engine::Change;

const MANIFEST: &str =
    "version = 1\n[app]\nname = \"rag\"\nruntime = \"python3.11\"\nasgi = \"app.main:app\"\nport = 8000\nhealth = \"/health\"\n\
    [env]\nLOG_LEVEL = \"info\"\n[targets.railway]\nhealth_timeout = 30\npublic = true\n";

fn rows(p: &Planned<Step>) -> Vec<String> {
    p.changes.iter().map(|c| c.row()).map(|a| format!("{} {} {}", a.op.symbol(), a.resource, a.id)).collect()
}

fn dep(id: &str, digest: &str, status: &str) -> SeenDeployment {
    SeenDeployment {
        id: id.into(),
        status: status.into(),
        image: Some(format!("ghcr.io/you/app@{digest}")),
        digest: Some(digest.into()),
        can_rollback: status == "REMOVED",
        created: None,
        creator: None,
    }
}

fn project(ours: bool, services: &[&str]) -> SeenProject {
    SeenProject {
        id: "p-1".into(),
        name: "rag".into(),
        ours,
        environments: vec![("e-1".into(), "dev".into())],
        services: services.iter().map(|s| (s.to_string(), format!("name-{s}"))).collect(),
    }
}

fn deployed(cx: &Cx, digest: &str) -> Observed {
    let mut vars = BTreeMap::from([("LOG_LEVEL".to_string(), "info".to_string()), ("PORT".to_string(), "8000".to_string())]);
    vars.insert(OWNER_VAR.into(), owner::mark(cx));
    vars.insert(PULL_VAR.into(), PullFacts::example("reader").mark());
    Observed {
        project_token: false,
        project: Some(project(true, &["s-1"])),
        environment: Some(SeenEnvironment { id: "e-1".into(), name: "dev".into(), ours: true, services: vec!["s-1".into()] }),
        service: Some(SeenService {
            id: "s-1".into(),
            instance: Some(SeenInstance {
                image: Some(format!("ghcr.io/you/app@{digest}")),
                health_path: Some("/health".into()),
                health_timeout: Some(30),
            }),
            vars,
            deployments: vec![dep("d-1", digest, "SUCCESS")],
            domain: Some(SeenDomain { id: "dom-1".into(), domain: "rag-dev-dev.up.railway.app".into() }),
            private_domain: Some("rag-dev.railway.internal".into()),
        }),
    }
}

#[test]
fn plans() {
    let cx = testing::cx(MANIFEST, "railway");
    let a = "sha256:aaaaaaaaaaaaaaaa";
    let b = "sha256:bbbbbbbbbbbbbbbb";
    let pushed = ImageFacts { present: true, to_upload: 0, ..ImageFacts::example(a) };

    // Nothing there: the push (with its size), project, environment, service, its variables, a deployment, a domain.
    let p = plan(&cx, &Observed::default(), &ImageFacts::example(a));
    assert_eq!(
        rows(&p),
        [
            "+ push image ghcr.io/you/app@sha256:aaaaaaaaaaaa",
            "+ project rag",
            "+ environment dev",
            "+ service rag-dev",
            "+ registry-credentials reader",
            "+ variable LOG_LEVEL",
            "+ variable PORT",
            "+ deployment @aaaaaaaaaaaa",
            "+ domain <service>.up.railway.app"
        ]
    );
    assert_eq!(p.display().actions[0].reason.as_deref(), Some("3.0 MiB to upload"));
    assert!(p.warnings.is_empty());

    // Everything matching: all no-ops, the owner mark is not a variable to delete.
    let p = plan(&cx, &deployed(&cx, a), &pushed);
    assert!(!p.has_changes(), "{:?}", rows(&p));
    assert_eq!(
        rows(&p),
        [
            "= image ghcr.io/you/app@sha256:aaaaaaaaaaaa",
            "= service rag-dev",
            "= deployment @aaaaaaaaaaaa",
            "= domain rag-dev-dev.up.railway.app"
        ]
    );

    // One variable changed, one gone from the manifest: exactly those and a deployment.
    let mut seen = deployed(&cx, a);
    let s = seen.service.as_mut().unwrap();
    s.vars.insert("LOG_LEVEL".into(), "debug".into());
    s.vars.insert("OLD".into(), "x".into());
    let p = plan(&cx, &seen, &pushed);
    assert_eq!(rows(&p)[1..4], ["= service rag-dev", "~ variable LOG_LEVEL", "- variable OLD"]);
    assert_eq!(p.display().actions[4].reason.as_deref(), Some("variables changed"));

    // A setting changed: the service and a deployment.
    let mut seen = deployed(&cx, a);
    seen.service.as_mut().unwrap().instance.as_mut().unwrap().health_timeout = Some(300);
    let p = plan(&cx, &seen, &pushed);
    assert_eq!(rows(&p)[1..3], ["~ service rag-dev", "+ deployment @aaaaaaaaaaaa"]);
    assert_eq!(p.display().actions[1].reason.as_deref(), Some("health check timeout"));

    // The code changed: push, the service's image, a deployment.
    let p = plan(&cx, &deployed(&cx, a), &ImageFacts::example(b));
    assert_eq!(rows(&p)[..3], ["+ push image ghcr.io/you/app@sha256:bbbbbbbbbbbb", "~ service rag-dev", "+ deployment @bbbbbbbbbbbb"]);
    assert_eq!(p.display().actions[2].reason.as_deref(), Some("image aaaaaaaaaaaa -> bbbbbbbbbbbb"));

    // Partly there: the project from an interrupted first deploy is reused; a failed
    // deployment is no live one.
    let seen = Observed { project: Some(project(true, &[])), ..Observed::default() };
    let p = plan(&cx, &seen, &pushed);
    assert_eq!(rows(&p)[..3], ["= image ghcr.io/you/app@sha256:aaaaaaaaaaaa", "+ environment dev", "+ service rag-dev"]);
    assert_eq!(p.display().actions[1].reason.as_deref(), Some("in project rag"));
    let mut seen = deployed(&cx, a);
    seen.service.as_mut().unwrap().deployments = vec![dep("d-1", a, "FAILED")];
    let p = plan(&cx, &seen, &pushed);
    assert_eq!(p.display().actions[2].reason.as_deref(), Some("no live deployment"));

    // A project token cannot create the environment: the plan warns.
    let seen = Observed { project_token: true, project: Some(project(false, &[])), ..Observed::default() };
    let p = plan(&cx, &seen, &pushed);
    assert!(p.warnings[0].contains("cannot create the environment `dev`"), "{:?}", p.warnings);
}

/// Railway cannot show a service's registry credentials: the service's pull mark says
/// which aideploy set. Without one (an earlier aideploy's service, which may hold the
/// push login) they are replaced with the configured pull credential, or cleared.
#[test]
fn pull_credential_rows() {
    let cx = testing::cx(MANIFEST, "railway");
    let a = "sha256:aaaaaaaaaaaaaaaa";
    let with = ImageFacts { present: true, to_upload: 0, ..ImageFacts::example(a) };
    let without = ImageFacts { pull: None, ..with.clone() };
    let row = |p: &Planned<Step>| {
        p.display()
            .actions
            .into_iter()
            .find(|a| a.resource == "registry-credentials")
            .map(|a| (format!("{} {} {}", a.op.symbol(), a.resource, a.id), a.reason.unwrap_or_default()))
    };
    let legacy = || {
        let mut seen = deployed(&cx, a);
        seen.service.as_mut().unwrap().vars.remove(PULL_VAR);
        seen
    };

    // An earlier aideploy's service: replaced with the configured one, or cleared.
    let p = plan(&cx, &legacy(), &with);
    let (r, why) = row(&p).expect("a registry-credentials row");
    assert_eq!(r, "~ registry-credentials reader");
    assert!(why.contains("earlier aideploy") && why.contains("push login"), "{why}");
    assert_eq!(rows(&p)[2], "~ registry-credentials reader", "before the variables and the deployment");
    let p = plan(&cx, &legacy(), &without);
    let (r, why) = row(&p).expect("a registry-credentials row");
    assert_eq!(r, "- registry-credentials rag-dev");
    assert!(why.contains("no pull credential is configured") && why.contains("push login"), "{why}");
    assert!(p.has_changes());

    // The configured one changed, or was dropped.
    let mut seen = deployed(&cx, a);
    seen.service.as_mut().unwrap().vars.insert(PULL_VAR.into(), PullFacts::example("someone-else").mark());
    assert_eq!(
        row(&plan(&cx, &seen, &with)).unwrap(),
        ("~ registry-credentials reader".to_string(), "the pull credential changed".to_string())
    );
    let p = plan(&cx, &deployed(&cx, a), &without);
    assert_eq!(row(&p).unwrap().0, "- registry-credentials rag-dev");

    // As recorded: nothing to do; with none, the plan says in one line that the image must be public.
    assert!(row(&plan(&cx, &deployed(&cx, a), &with)).is_none());
    let mut seen = deployed(&cx, a);
    seen.service.as_mut().unwrap().vars.insert(PULL_VAR.into(), "none".into());
    let p = plan(&cx, &seen, &without);
    assert!(row(&p).is_none() && !p.has_changes(), "{:?}", rows(&p));
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].contains("pulls ghcr.io/you/app anonymously") && p.warnings[0].contains("pull_username"), "{:?}", p.warnings);
    // A new service gets no credentials row without one.
    assert!(row(&plan(&cx, &Observed::default(), &without)).is_none());
}

#[test]
fn destroy_plans() {
    let cx = testing::cx(MANIFEST, "railway");
    let a = "sha256:aaaaaaaaaaaaaaaa";
    // Ours and alone: the service, then the project.
    assert_eq!(rows(&plan_destroy(&cx, &deployed(&cx, a))), ["- service rag-dev (s-1)", "- project rag (p-1)"]);
    // In a project aideploy did not create: the environment it made goes, the project stays.
    let mut seen = deployed(&cx, a);
    seen.project = Some(project(false, &["s-1", "s-2"]));
    assert_eq!(rows(&plan_destroy(&cx, &seen)), ["- service rag-dev (s-1)", "- environment dev (e-1)", "= project rag"]);
    // ... unless another service uses it.
    seen.environment.as_mut().unwrap().services.push("s-2".into());
    assert_eq!(rows(&plan_destroy(&cx, &seen)), ["- service rag-dev (s-1)", "= environment dev", "= project rag"]);
    // Left by an interrupted first deploy: the empty project aideploy made; an empty environment it made.
    assert_eq!(rows(&plan_destroy(&cx, &Observed { project: Some(project(true, &[])), ..Observed::default() })), ["- project rag (p-1)"]);
    let seen = Observed {
        project: Some(project(false, &["s-2"])),
        environment: Some(SeenEnvironment { id: "e-1".into(), name: "dev".into(), ours: true, services: vec![] }),
        ..Observed::default()
    };
    assert_eq!(rows(&plan_destroy(&cx, &seen)), ["- environment dev (e-1)"]);
    // Nothing of ours: nothing.
    assert!(plan_destroy(&cx, &Observed::default()).changes.is_empty());
    assert!(plan_destroy(&cx, &Observed { project: Some(project(false, &["s-2"])), ..Observed::default() }).changes.is_empty());
}

#[test]
fn rollback_target_is_the_last_removed_deployment_of_another_image() {
    let cx = testing::cx(MANIFEST, "railway");
    let mut seen = deployed(&cx, "sha256:bb");
    seen.service.as_mut().unwrap().deployments = vec![
        dep("d4", "sha256:cc", "FAILED"),
        dep("d3", "sha256:bb", "SUCCESS"),
        dep("d2", "sha256:bb", "REMOVED"),
        dep("d1", "sha256:aa", "REMOVED"),
    ];
    assert_eq!(plan_rollback(&seen), Some(Step::Rollback { deployment: "d1".into(), digest: Some("sha256:aa".into()) }));
    let s = seen.service.as_ref().unwrap();
    assert_eq!(s.live().unwrap().digest.as_deref(), Some("sha256:bb"));
    seen.service.as_mut().unwrap().deployments = vec![dep("d1", "sha256:aa", "SUCCESS")];
    assert!(plan_rollback(&seen).is_none());
    assert!(plan_rollback(&Observed::default()).is_none());
    // A deployment without meta is no digest, not a panic.
    assert_eq!(deployment_digest(&json!(null)), None);
    assert_eq!(deployment_digest(&json!({"image": "ghcr.io/a/b:v1", "imageDigest": "sha256:dd"})).as_deref(), Some("sha256:dd"));
    assert_eq!(deployment_digest(&json!({"image": "ghcr.io/a/b@sha256:ee"})).as_deref(), Some("sha256:ee"));
}

/// The message and hint of a usage error.
fn usage(e: anyhow::Error) -> (String, String) {
    let u = crate::error::Failure::of(&e).and_then(crate::error::Failure::as_usage).unwrap_or_else(|| panic!("not a usage error: {e:#}"));
    (u.message.clone(), u.hint.clone().unwrap_or_default())
}

#[test]
fn releases_are_the_live_deployment_and_those_railway_can_roll_back_to() {
    let cx = testing::cx(MANIFEST, "railway");
    let mut seen = deployed(&cx, "sha256:bb");
    let gone = SeenDeployment { can_rollback: false, ..dep("d1", "sha256:99", "REMOVED") };
    let dated = |d: SeenDeployment, at: &str| SeenDeployment { created: Some(at.into()), ..d };
    seen.service.as_mut().unwrap().deployments = vec![
        dep("d6", "sha256:dd", "BUILDING"),
        dep("d5", "sha256:cc", "FAILED"),
        dated(dep("d4", "sha256:bb", "SUCCESS"), "2026-12-05T10:00:00Z"),
        dep("d3", "sha256:aa", "REMOVED"),
        dep("d2", "sha256:bb", "REMOVED"),
        gone,
        dated(dep("d0", "sha256:00", "REMOVED"), "2026-12-01T08:00:00Z"),
    ];
    let kept = releases(&seen);
    let shown: Vec<(&str, &str, bool)> = kept.iter().map(|k| (k.id.as_str(), k.digest.as_str(), k.live)).collect();
    // Not the one under way, not the failed one, not the one Railway no longer keeps.
    assert_eq!(shown, [("d4", "sha256:bb", true), ("d3", "sha256:aa", false), ("d2", "sha256:bb", false), ("d0", "sha256:00", false)]);
    assert_eq!(kept[0].created_at.as_deref(), Some("2026-12-05T10:00:00Z"));
    assert_eq!(kept[3].created_at.as_deref(), Some("2026-12-01T08:00:00Z"));

    // To an older one than the one before: exactly that deployment.
    let p = plan_rollback_to(&cx, &seen, "d0").unwrap();
    assert_eq!(p.changes, [Step::Rollback { deployment: "d0".into(), digest: Some("sha256:00".into()) }]);
    assert_eq!(rows(&p), ["+ deployment rollback to d0"]);
    // One of the live image with the variables it had then is a release of its own.
    assert_eq!(
        plan_rollback_to(&cx, &seen, "d2").unwrap().changes,
        [Step::Rollback { deployment: "d2".into(), digest: Some("sha256:bb".into()) }]
    );
    // ... while a plain rollback still goes to the newest one of another image.
    assert_eq!(plan_rollback(&seen), Some(Step::Rollback { deployment: "d3".into(), digest: Some("sha256:aa".into()) }));

    // Unknown, not kept any more, never live: an error that names what is kept.
    for id in ["d9", "d1", "d5"] {
        let (message, hint) = usage(plan_rollback_to(&cx, &seen, id).unwrap_err());
        assert!(message.contains(&format!("keeps no release `{id}`")), "{message}");
        assert!(hint.contains("d3, d2, d0") && hint.contains("aideploy history --target railway"), "{hint}");
    }
    // The live one: refused, naming the others.
    let (message, hint) = usage(plan_rollback_to(&cx, &seen, "d4").unwrap_err());
    assert!(message.contains("d4 is the one serving now"), "{message}");
    assert!(hint.contains("d3, d2, d0"), "{hint}");

    // Nothing deployed: nothing kept, and nothing to go back to.
    assert!(releases(&Observed::default()).is_empty());
    let (_, hint) = usage(plan_rollback_to(&cx, &Observed::default(), "d0").unwrap_err());
    assert!(hint.contains("no earlier release"), "{hint}");
}

#[test]
fn ids_and_names() {
    assert!(looks_like_id("0a1b2c3d-0000-4000-8000-123456789abc"));
    assert!(!looks_like_id("my-railway-project"));
}

/// Without `public = true`: no domain is made, ours is deleted, and the plan says how
/// the service is reached.
#[test]
fn private_unless_public() {
    let cx = testing::cx(&MANIFEST.replace("public = true\n", ""), "railway");
    let a = "sha256:aaaaaaaaaaaaaaaa";
    let pushed = ImageFacts { present: true, to_upload: 0, ..ImageFacts::example(a) };
    let p = plan(&cx, &Observed::default(), &ImageFacts::example(a));
    assert!(!rows(&p).iter().any(|r| r.contains("domain")), "{:?}", rows(&p));
    let note = p.warnings.iter().find(|w| w.contains("is private")).expect("a note on how to reach it");
    assert!(note.contains("http://rag-dev.railway.internal:8000") && note.contains("public = true"), "{note}");
    // Deployed with a domain an earlier public deploy made: deleted, nothing else moves.
    let p = plan(&cx, &deployed(&cx, a), &pushed);
    assert_eq!(rows(&p).last().unwrap(), "- domain rag-dev-dev.up.railway.app");
    assert_eq!(p.changes.last(), Some(&Step::DeleteDomain { domain: "rag-dev-dev.up.railway.app".into(), id: "dom-1".into() }));
    assert_eq!(p.changes.iter().filter(|c| c.row().op != crate::engine::Op::Noop).count(), 1, "{:?}", rows(&p));
    // Without one: nothing to do.
    let mut seen = deployed(&cx, a);
    seen.service.as_mut().unwrap().domain = None;
    assert!(!plan(&cx, &seen, &pushed).has_changes());
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
    s.vars.insert(
        crate::backends::paas::vars::PARTS_VAR.into(),
        crate::backends::paas::vars::wanted_parts(old, image, &Default::default()).encode(),
    );
    for (k, v) in &old.secrets.values {
        s.vars.insert(k.clone(), v.expose().to_string());
    }
    seen
}

fn deploy_reason(p: &Planned<Step>) -> Option<String> {
    p.changes.iter().map(|c| c.row()).find(|a| a.resource == "deployment").and_then(|a| a.reason)
}

#[test]
fn the_deploy_row_says_which_part_changed() {
    let (a, b) = ("sha256:aaaaaaaaaaaaaaaa", "sha256:bbbbbbbbbbbbbbbb");
    let old = testing::cx(MANIFEST, "railway");
    // `[env]` only: the image moves (the manifest is in it) but the code does not.
    let new = testing::cx(&MANIFEST.replace("\"info\"", "\"debug\""), "railway");
    let seen = deployed_with_parts(&old, &image_of(a, "code-1"));
    assert_eq!(deploy_reason(&plan(&new, &seen, &image_of(b, "code-1"))).as_deref(), Some("env changed"));
    // Not a change of its own: the parts variable is never diffed.
    assert!(!plan(&old, &seen, &image_of(a, "code-1")).has_changes());
    // The code.
    assert_eq!(deploy_reason(&plan(&old, &seen, &image_of(b, "code-2"))).as_deref(), Some("code changed"));
    // A service deployed before parts were recorded: today's words.
    let bare = deployed(&old, a);
    assert_eq!(deploy_reason(&plan(&new, &bare, &image_of(b, "code-1"))).as_deref(), Some("image aaaaaaaaaaaa -> bbbbbbbbbbbb"));
}

#[test]
fn a_secrets_only_change_says_secrets_changed() {
    let a = "sha256:aaaaaaaaaaaaaaaa";
    let text = MANIFEST.replace("[targets.railway]", "[secrets]\nAPI_KEY = {}\n[targets.railway]");
    let old = crate::engine::testing::cx_with_secret(&text, "railway", &[], "API_KEY", "v1");
    let new = crate::engine::testing::cx_with_secret(&text, "railway", &[], "API_KEY", "v2");
    let seen = deployed_with_parts(&old, &image_of(a, "code-1"));
    assert!(!plan(&old, &seen, &image_of(a, "code-1")).has_changes());
    assert_eq!(deploy_reason(&plan(&new, &seen, &image_of(a, "code-1"))).as_deref(), Some("secrets changed"));
}

#[test]
fn a_value_stored_since_the_running_deployment_rolls_a_new_one() {
    let a = "sha256:aaaaaaaaaaaaaaaa";
    let text = MANIFEST.replace("[targets.railway]", "[secrets]\nAPI_KEY = {}\n[targets.railway]");
    let old = crate::engine::testing::cx_with_secret(&text, "railway", &[], "API_KEY", "v1");
    let mut seen = deployed_with_parts(&old, &image_of(a, "code-1"));
    let vars = &mut seen.service.as_mut().unwrap().vars;
    vars.insert(crate::backends::paas::secrets::SALT_VAR.into(), "salt".into());
    // A deploy with no local value (a secret store's deploy marks it absent) keeps it.
    let mut none_here = testing::cx(&text, "railway");
    none_here.secrets.absent = vec!["API_KEY".into()];
    let p = plan(&none_here, &seen, &image_of(a, "code-1"));
    assert!(!p.has_changes(), "{:?}", rows(&p));
    // `secrets set` stored another value without deploying: the deploy rolls one.
    seen.service.as_mut().unwrap().vars.insert("API_KEY".into(), "v2".into());
    let p = plan(&none_here, &seen, &image_of(a, "code-1"));
    assert_eq!(deploy_reason(&p).as_deref(), Some("secrets changed"), "{:?}", rows(&p));
    assert!(!p.changes.iter().any(|c| matches!(c, Step::Var(_))), "the variable holds it already: {:?}", rows(&p));
    // A service from before the salt records names only: nothing to compare.
    seen.service.as_mut().unwrap().vars.remove(crate::backends::paas::secrets::SALT_VAR);
    assert!(!plan(&none_here, &seen, &image_of(a, "code-1")).has_changes());
}
