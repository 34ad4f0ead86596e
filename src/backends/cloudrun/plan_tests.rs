//! The deploy plan from hand-made observed states: nothing there, all there, one
//! setting changed, new code, a half-done deploy, someone else's resources, the
//! runtime account (dedicated, named, someone else's, upgraded from the compute one); the
//! kept revisions and `rollback --to`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;
use crate::artifact::oci::{BlobFile, BuiltImage};
use crate::artifact::registry::Reference;
use crate::backends::cloudrun::account::{self, AccountNow};
use crate::backends::cloudrun::observe::SecretNow;
use crate::backends::cloudrun::{labels, CloudRunBackend, Site};
use crate::engine::Target;

const MANIFEST: &str = r#"version = 1
[app]
name = "rag"
runtime = "python3.11"
asgi = "app.main:app"
port = 8000
health = "/health"
[env]
LOG_LEVEL = "info"
[secrets]
API_KEY = {}
[targets.cloudrun]
project = "p"
region = "europe-west1"
cpu = 2
memory = "1Gi"
"#;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const OTHER: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const REPO: &str = "registry.example/team/rag";
/// The dedicated runtime account of `rag` (dev) in project `p`.
const ACCOUNT: &str = "aideploy-rag-dev@p.iam.gserviceaccount.com";
const COMPUTE: &str = "serviceAccount:123-compute@developer.gserviceaccount.com";

fn cx_with(text: &str, sets: &[&str]) -> Cx {
    crate::engine::testing::cx_with_secret(text, "cloudrun", sets, "API_KEY", "v1")
}

fn cx() -> Cx {
    cx_with(MANIFEST, &[])
}

fn image(digest: &str, to_upload: u64) -> Image {
    let config = BlobFile {
        digest: "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc".into(),
        size: 10,
        path: PathBuf::new(),
    };
    let built = BuiltImage {
        digest: digest.into(),
        manifest: serde_json::from_value(serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", "size": 10}, "layers": []})).unwrap(),
        manifest_bytes: Vec::new(),
        config,
        image_config: Default::default(),
        layers: Vec::new(),
        base: Reference::parse("registry.example/base:1").unwrap(),
        platform: crate::artifact::oci::Platform::amd64(),
    };
    Image { built, repo: Reference::parse(REPO).unwrap(), to_upload, inputs: Default::default() }
}

fn nothing() -> Observed {
    Observed {
        site: Site { project: "p".into(), region: "europe-west1".into() },
        repository: None,
        service: None,
        secrets: BTreeMap::new(),
        labelled_secrets: Vec::new(),
        account: None,
        named_missing: None,
    }
}

/// Everything deployed as `cx` and `digest` ask, with the secret's value current.
fn deployed(cx: &Cx, digest: &str) -> Observed {
    let mut seen = nothing();
    let account = account::runtime_account(cx, "p");
    if account::is_dedicated(cx) {
        seen.account = Some(AccountNow { email: account.clone(), ours: true });
    }
    seen.secrets.insert(
        "API_KEY".into(),
        SecretNow {
            latest: Some(("1".into(), true)),
            accessors: vec![format!("serviceAccount:{account}")],
            name: "projects/123/secrets/aideploy-rag-dev-API_KEY".into(),
            ours: true,
        },
    );
    seen.labelled_secrets.push("aideploy-rag-dev-API_KEY".into());
    let versions = BTreeMap::from([("API_KEY".to_string(), Some("1".to_string()))]);
    let spec = service::desired_service(cx, &format!("{REPO}@{digest}"), digest, &versions, &account);
    let rev = Revision {
        name: "rag-dev-00001".into(),
        image: Some(format!("{REPO}@{digest}")),
        digest: Some(digest.into()),
        ready: true,
        failure: None,
        created_at: None,
    };
    seen.service = Some(ServiceNow {
        spec,
        ours: true,
        uri: Some("https://rag-dev.run.app".into()),
        latest_created: rev.name.clone(),
        serving: Some(rev.clone()),
        revisions: vec![rev],
        public: false,
    });
    seen
}

fn rows(p: &Planned<Step>) -> Vec<String> {
    p.changes
        .iter()
        .map(|c| {
            let a = c.row();
            format!("{} {} {}{}", a.op.symbol(), a.resource, a.id, a.reason.map(|r| format!(" ({r})")).unwrap_or_default())
        })
        .collect()
}

#[test]
fn from_nothing_everything_is_created_and_the_image_pushed() {
    let cx = cx();
    let mut seen = nothing();
    seen.repository = Some(false);
    let p = deploy(&cx, &seen, &image(DIGEST, 3 * 1024 * 1024 + 300 * 1024));
    assert_eq!(
        rows(&p),
        [
            "+ repository europe-west1-docker.pkg.dev/p/aideploy (Artifact Registry, Docker)".to_string(),
            format!("+ push image {REPO}@sha256:111111111111 (3.3 MiB to upload)"),
            format!("+ service-account {ACCOUNT} (runtime identity: may read only this service's secrets)"),
            "+ secret aideploy-rag-dev-API_KEY ([secrets] API_KEY)".into(),
            format!("+ secret-access aideploy-rag-dev-API_KEY ({ACCOUNT} may read it)"),
            "+ service rag-dev (Cloud Run service, image @111111111111, startup CPU boost)".into(),
        ]
    );
    assert!(p.has_changes());
    // The service runs as that account.
    let versions = BTreeMap::from([("API_KEY".to_string(), None)]);
    let spec = service::desired_service(&cx, &format!("{REPO}@{DIGEST}"), DIGEST, &versions, ACCOUNT);
    assert_eq!(spec["template"]["serviceAccount"], ACCOUNT);
}

#[test]
fn a_named_service_account_is_used_as_given_never_created() {
    let cx = cx_with(MANIFEST, &["service_account=runner@p.iam.gserviceaccount.com"]);
    let p = deploy(&cx, &nothing(), &image(DIGEST, 0));
    assert!(!p.changes.iter().any(|c| matches!(c, Step::Account { .. })), "{:?}", rows(&p));
    assert!(p
        .changes
        .contains(&Step::SecretAccess { id: "aideploy-rag-dev-API_KEY".into(), account: "runner@p.iam.gserviceaccount.com".into() }));
    // Named as the compute account: its access is what the user asked for, kept.
    let cx = cx_with(MANIFEST, &["service_account=123-compute@developer.gserviceaccount.com"]);
    let seen = deployed(&cx, DIGEST);
    let p = deploy(&cx, &seen, &image(DIGEST, 0));
    assert!(!p.has_changes(), "{:?}", rows(&p));
    // A dedicated account of ours left from before: not deleted by a deploy, nor
    // refused; destroy removes it.
    let mut seen = deployed(&cx, DIGEST);
    seen.account = Some(AccountNow { email: ACCOUNT.into(), ours: true });
    assert!(!deploy(&cx, &seen, &image(DIGEST, 0)).has_changes());
    assert!(destroy(&cx, &seen).changes.contains(&Step::DeleteAccount { email: ACCOUNT.into() }));
    seen.account = Some(AccountNow { email: ACCOUNT.into(), ours: false });
    assert!(foreign(&cx, &seen).is_empty());
    assert!(!destroy(&cx, &seen).changes.iter().any(|c| matches!(c, Step::DeleteAccount { .. })));
}

#[test]
fn someone_elses_account_of_that_id_is_refused_and_kept() {
    let cx = cx();
    let mut seen = deployed(&cx, DIGEST);
    seen.account = Some(AccountNow { email: ACCOUNT.into(), ours: false });
    assert_eq!(foreign(&cx, &seen), [("service account", ACCOUNT.to_string(), LACKS_MARK)]);
    let p = deploy(&cx, &seen, &image(DIGEST, 0));
    assert!(p.warnings.iter().any(|w| w.contains(ACCOUNT) && w.contains("a deploy refuses it")), "{:?}", p.warnings);
    assert!(!p.changes.iter().any(|c| matches!(c, Step::Account { .. })));
    let d = destroy(&cx, &seen);
    assert!(!d.changes.iter().any(|c| matches!(c, Step::DeleteAccount { .. })), "{:?}", d.changes);
    assert!(d.warnings.iter().any(|w| w.contains(ACCOUNT) && w.contains("left alone")), "{:?}", d.warnings);
}

#[test]
fn an_upgrade_from_the_compute_account_moves_the_service_and_revokes_its_access() {
    // What an earlier aideploy left: the service on the compute account, which reads
    // the secret; no dedicated account.
    let cx = cx();
    let mut seen = deployed(&cx, DIGEST);
    seen.account = None;
    seen.secrets.get_mut("API_KEY").unwrap().accessors = vec![COMPUTE.into()];
    let old = seen.service.as_mut().unwrap();
    old.spec["template"]["serviceAccount"] = serde_json::json!(COMPUTE.trim_start_matches("serviceAccount:"));
    let p = deploy(&cx, &seen, &image(DIGEST, 0));
    let changed: Vec<String> = rows(&p).into_iter().filter(|r| !r.starts_with('=')).collect();
    assert_eq!(
        changed,
        [
            format!("+ service-account {ACCOUNT} (runtime identity: may read only this service's secrets)"),
            format!("+ secret-access aideploy-rag-dev-API_KEY ({ACCOUNT} may read it)"),
            "~ service rag-dev (settings)".into(),
            "- secret-access aideploy-rag-dev-API_KEY (123-compute@developer.gserviceaccount.com may no longer read it (granted by an earlier aideploy))".into(),
        ]
    );
    // The revoke comes after the service moved to the new account.
    let at = |f: fn(&Step) -> bool| p.changes.iter().position(f).unwrap();
    assert!(at(|c| matches!(c, Step::Service { .. })) < at(|c| matches!(c, Step::RevokeSecretAccess { .. })));
    // Converged: nothing left to do.
    let seen = deployed(&cx, DIGEST);
    assert!(!deploy(&cx, &seen, &image(DIGEST, 0)).has_changes());
}

#[test]
fn everything_matching_is_all_noop() {
    let cx = cx();
    let seen = deployed(&cx, DIGEST);
    let p = deploy(&cx, &seen, &image(DIGEST, 0));
    assert!(p.changes.iter().all(|c| c.row().op == Op::Noop), "{:?}", rows(&p));
    assert_eq!(
        rows(&p),
        [
            format!("= image {REPO}@sha256:111111111111 (already in the registry)"),
            "= secret aideploy-rag-dev-API_KEY".to_string(),
            "= service rag-dev".into(),
        ]
    );
    assert!(!p.has_changes());
}

#[test]
fn one_setting_changed_is_exactly_that_update() {
    let seen = deployed(&cx(), DIGEST);
    let cx = cx_with(MANIFEST, &["cpu=4"]);
    let p = deploy(&cx, &seen, &image(DIGEST, 0));
    let changed: Vec<_> = p.changes.iter().filter(|c| c.row().op != Op::Noop).collect();
    assert_eq!(changed, [&Step::Service { id: "rag-dev".into(), change: ServiceChange::Update { why: vec!["settings".into()] } }]);
    // Making it public is the invoker binding, nothing else.
    let cx = cx_with(MANIFEST, &["public=true"]);
    let p = deploy(&cx, &deployed(&cx, DIGEST), &image(DIGEST, 0));
    let changed: Vec<_> = p.changes.iter().filter(|c| c.row().op != Op::Noop).collect();
    assert_eq!(changed, [&Step::Invoker { public: true }]);
}

/// Startup CPU boost is on unless turned off, and minimum instances show in the plan; a
/// setting turned off (which Cloud Run's JSON leaves out) is still a change.
#[test]
fn cold_start_settings_show_and_turning_them_off_is_a_change() {
    let warm = cx_with(MANIFEST, &["min_instances=2"]);
    let p = deploy(&warm, &nothing(), &image(DIGEST, 0));
    assert!(
        rows(&p)
            .contains(&"+ service rag-dev (Cloud Run service, image @111111111111, startup CPU boost, 2 instances kept warm)".to_string()),
        "{:?}",
        rows(&p)
    );
    let versions = BTreeMap::from([("API_KEY".to_string(), Some("1".to_string()))]);
    let spec = service::desired_service(&warm, &format!("{REPO}@{DIGEST}"), DIGEST, &versions, ACCOUNT);
    assert_eq!(spec["template"]["containers"][0]["resources"]["startupCpuBoost"], true);
    assert_eq!(spec["template"]["containers"][0]["resources"]["cpuIdle"], true);

    let seen = deployed(&warm, DIGEST);
    let cold = cx_with(MANIFEST, &["startup_cpu_boost=false"]);
    let p = deploy(&cold, &seen, &image(DIGEST, 0));
    let changed: Vec<_> = p.changes.iter().filter(|c| c.row().op != Op::Noop).collect();
    assert_eq!(
        changed,
        [&Step::Service {
            id: "rag-dev".into(),
            change: ServiceChange::Update { why: vec!["startup CPU boost off".into(), "min instances 2 -> 0".into()] }
        }]
    );
    let spec = service::desired_service(&cold, &format!("{REPO}@{DIGEST}"), DIGEST, &versions, ACCOUNT);
    assert!(spec["template"]["containers"][0]["resources"].get("startupCpuBoost").is_none_or(|b| b == false));
    // Without limits or boost nothing asks for resources: CPU stays request-only.
    let bare = cx_with(&MANIFEST.replace("cpu = 2\n", "").replace("memory = \"1Gi\"\n", ""), &["startup_cpu_boost=false"]);
    let spec = service::desired_service(&bare, &format!("{REPO}@{DIGEST}"), DIGEST, &versions, ACCOUNT);
    assert!(spec["template"]["containers"][0].get("resources").is_none(), "{}", spec["template"]["containers"][0]);
}

#[test]
fn new_code_pushes_and_updates_the_image() {
    let cx = cx();
    let seen = deployed(&cx, DIGEST);
    let p = deploy(&cx, &seen, &image(OTHER, 2048));
    let changed: Vec<_> = p.changes.iter().filter(|c| c.row().op != Op::Noop).cloned().collect();
    assert_eq!(
        changed,
        [
            Step::Push { image: format!("{REPO}@{OTHER}"), to_upload: 2048 },
            Step::Service {
                id: "rag-dev".into(),
                change: ServiceChange::Update { why: vec!["image".into(), "settings".into(), "labels".into()] }
            },
        ]
    );
    assert_eq!(rows(&p)[0], format!("+ push image {REPO}@sha256:222222222222 (2.0 KiB to upload)"));
}

#[test]
fn a_changed_secret_is_a_new_version_and_a_service_update() {
    let cx = cx();
    let mut seen = deployed(&cx, DIGEST);
    seen.secrets.get_mut("API_KEY").unwrap().latest = Some(("1".into(), false));
    let p = deploy(&cx, &seen, &image(DIGEST, 0));
    let changed: Vec<_> = p.changes.iter().filter(|c| c.row().op != Op::Noop).cloned().collect();
    assert_eq!(
        changed,
        [
            Step::Secret { name: "API_KEY".into(), id: "aideploy-rag-dev-API_KEY".into(), change: SecretChange::NewVersion },
            Step::Service { id: "rag-dev".into(), change: ServiceChange::Update { why: vec!["env".into()] } },
        ]
    );
}

#[test]
fn a_half_done_deploy_creates_what_is_missing() {
    // The secret exists (a deploy stopped after it), no service yet.
    let cx = cx();
    let mut seen = deployed(&cx, DIGEST);
    seen.service = None;
    let p = deploy(&cx, &seen, &image(DIGEST, 0));
    let changed: Vec<_> = p.changes.iter().filter(|c| c.row().op != Op::Noop).cloned().collect();
    assert_eq!(
        changed,
        [Step::Service {
            id: "rag-dev".into(),
            change: ServiceChange::Create { digest: DIGEST.into(), cold_start: vec!["startup CPU boost".into()] }
        }]
    );
    // The repository exists: no row for it.
    seen.repository = Some(true);
    assert!(!deploy(&cx, &seen, &image(DIGEST, 0)).changes.iter().any(|c| matches!(c, Step::Repository { .. })));
}

#[test]
fn someone_elses_service_is_warned_about_and_never_destroyed() {
    let cx = cx();
    let mut seen = deployed(&cx, DIGEST);
    let theirs = seen.service.as_mut().unwrap();
    theirs.ours = false;
    theirs.spec["labels"] = serde_json::json!({"team": "other"});
    let p = deploy(&cx, &seen, &image(DIGEST, 0));
    assert!(
        p.warnings.iter().any(|w| w.contains("Cloud Run service rag-dev") && w.contains("rename the app or stage")),
        "{:?}",
        p.warnings
    );
    assert_eq!(foreign(&cx, &seen), [("Cloud Run service", "rag-dev".to_string(), LACKS_LABELS)]);
    let d = destroy(&cx, &seen);
    assert!(!d.changes.iter().any(|c| matches!(c, Step::DeleteService { .. })), "{:?}", d.changes);
    assert_eq!(d.changes, [Step::DeleteSecret { id: "aideploy-rag-dev-API_KEY".into() }, Step::DeleteAccount { email: ACCOUNT.into() }]);
    // Ours: destroyed, with the secret, then the account.
    let seen = deployed(&cx, DIGEST);
    let d = destroy(&cx, &seen);
    assert_eq!(d.changes[0], Step::DeleteService { id: "rag-dev".into() });
    assert_eq!(d.changes.last(), Some(&Step::DeleteAccount { email: ACCOUNT.into() }));
    assert_eq!(rows(&d).last().unwrap(), &format!("- service-account {ACCOUNT} (the service's runtime identity)"));
    assert_eq!(labels(&cx)["aideploy-target"], "cloudrun");
}

#[test]
fn rollback_goes_to_the_previous_ready_revision_of_another_image() {
    let cx = cx();
    let mut seen = deployed(&cx, OTHER);
    let s = seen.service.as_mut().unwrap();
    let rev = |n: &str, d: &str, ready: bool| Revision {
        name: n.into(),
        image: None,
        digest: Some(d.into()),
        ready,
        failure: None,
        created_at: None,
    };
    s.revisions =
        vec![rev("rag-dev-3", OTHER, true), rev("rag-dev-2", OTHER, true), rev("rag-dev-1", DIGEST, false), rev("rag-dev-0", DIGEST, true)];
    s.serving = Some(s.revisions[0].clone());
    let p = rollback(&cx, &seen).unwrap();
    assert_eq!(p.changes, [Step::Traffic { revision: "rag-dev-0".into(), digest: Some(DIGEST.into()) }]);
    s_only_one(&mut seen);
    assert!(rollback(&cx, &seen).is_err());
    assert!(rollback(&cx, &nothing()).is_err());
}

/// Four revisions, newest first: two ready ones of `OTHER` (the newest serving), one of
/// `DIGEST` that never became ready, and the first one, of `DIGEST`, ready.
fn four_revisions(cx: &Cx) -> Observed {
    let mut seen = deployed(cx, OTHER);
    let s = seen.service.as_mut().unwrap();
    let rev = |n: &str, d: &str, ready: bool, at: &str| Revision {
        name: n.into(),
        image: Some(format!("{REPO}@{d}")),
        digest: Some(d.into()),
        ready,
        failure: (!ready).then(|| "probe failed".to_string()),
        created_at: Some(at.into()),
    };
    s.revisions = vec![
        rev("rag-dev-00004-abc", OTHER, true, "2026-12-05T10:04:00Z"),
        rev("rag-dev-00003-def", OTHER, true, "2026-12-05T10:03:00Z"),
        rev("rag-dev-00002-ghi", DIGEST, false, "2026-12-05T10:02:00Z"),
        rev("rag-dev-00001-jkl", DIGEST, true, "2026-12-05T10:01:00Z"),
    ];
    s.serving = Some(s.revisions[0].clone());
    seen
}

#[test]
fn releases_are_the_ready_revisions_newest_first_with_the_serving_one_live() {
    let cx = cx();
    let seen = four_revisions(&cx);
    let kept = releases(&seen);
    let ids: Vec<(&str, bool)> = kept.iter().map(|k| (k.id.as_str(), k.live)).collect();
    assert_eq!(ids, [("rag-dev-00004-abc", true), ("rag-dev-00003-def", false), ("rag-dev-00001-jkl", false)]);
    assert_eq!(kept[2].digest, DIGEST);
    assert_eq!(kept[2].created_at.as_deref(), Some("2026-12-05T10:01:00Z"));
    // The serving revision's digest is the one status shows.
    let status = CloudRunBackend.deployed(&cx, &seen).unwrap();
    assert_eq!(kept[0].digest, status.digest);
    assert!(releases(&nothing()).is_empty());
}

#[test]
fn rollback_to_goes_to_the_named_revision_even_past_others() {
    let cx = cx();
    let seen = four_revisions(&cx);
    let p = rollback_to(&cx, &seen, "rag-dev-00001-jkl").unwrap();
    assert_eq!(p.changes, [Step::Traffic { revision: "rag-dev-00001-jkl".into(), digest: Some(DIGEST.into()) }]);
    assert_eq!(rows(&p), ["~ traffic 100% to rag-dev-00001-jkl (back to @111111111111)"]);
    // The adjacent one, of the same image as the serving one, is kept too.
    let p = rollback_to(&cx, &seen, "rag-dev-00003-def").unwrap();
    assert_eq!(p.changes, [Step::Traffic { revision: "rag-dev-00003-def".into(), digest: Some(OTHER.into()) }]);
    // Plain rollback is unchanged: the previous ready revision of another image.
    assert_eq!(rollback(&cx, &seen).unwrap().changes, rollback_to(&cx, &seen, "rag-dev-00001-jkl").unwrap().changes);
}

#[test]
fn rollback_to_an_unknown_unready_or_live_revision_is_an_error() {
    let cx = cx();
    let seen = four_revisions(&cx);
    let unknown = rollback_to(&cx, &seen, "rag-dev-00009-zzz").unwrap_err().to_string();
    assert!(unknown.contains("keeps no release `rag-dev-00009-zzz`"), "{unknown}");
    // Never ready: traffic cannot go there, so it is not kept.
    let unready = rollback_to(&cx, &seen, "rag-dev-00002-ghi").unwrap_err().to_string();
    assert!(unready.contains("keeps no release"), "{unready}");
    let live = rollback_to(&cx, &seen, "rag-dev-00004-abc").unwrap_err().to_string();
    assert!(live.contains("serving now"), "{live}");
    assert!(rollback_to(&cx, &nothing(), "rag-dev-00001-jkl").is_err());
}

fn s_only_one(seen: &mut Observed) {
    let s = seen.service.as_mut().unwrap();
    s.revisions.truncate(1);
}

/// An image of code `code` (its digest without the manifest): the manifest is in the
/// image, so an `[env]` edit changes `digest` and not `code`.
fn image_of(digest: &str, code: &str) -> Image {
    let mut i = image(digest, 0);
    i.inputs = crate::engine::Inputs { code: code.into(), dependencies: "deps-key".into() };
    i
}

/// Deployed by `old` from `built`, its revision labelled with the parts as apply does.
fn deployed_with_parts(old: &Cx, built: &Image) -> Observed {
    let mut seen = deployed(old, &built.built.digest);
    let versions = BTreeMap::from([("API_KEY".to_string(), Some("1".to_string()))]);
    let parts = service::parts(old, &built.built.digest, &built.inputs, &versions);
    service::set_parts(&mut seen.service.as_mut().unwrap().spec, &parts);
    seen
}

fn service_row(p: &Planned<Step>) -> String {
    rows(p).into_iter().find(|r| r.contains(" service rag-dev")).expect("a service row")
}

#[test]
fn an_env_only_change_says_env_changed() {
    let old = cx();
    let new = cx_with(&MANIFEST.replace("LOG_LEVEL = \"info\"", "LOG_LEVEL = \"debug\""), &[]);
    let seen = deployed_with_parts(&old, &image_of(DIGEST, "code-1"));
    let p = deploy(&new, &seen, &image_of(OTHER, "code-1"));
    assert_eq!(service_row(&p), "~ service rag-dev (env changed)");
}

#[test]
fn a_secrets_only_change_says_secrets_changed() {
    let cx = cx();
    let mut seen = deployed_with_parts(&cx, &image_of(DIGEST, "code-1"));
    seen.secrets.get_mut("API_KEY").unwrap().latest = Some(("1".into(), false));
    let p = deploy(&cx, &seen, &image_of(DIGEST, "code-1"));
    assert_eq!(service_row(&p), "~ service rag-dev (secrets changed)");
}

#[test]
fn a_code_change_says_code_changed() {
    let cx = cx();
    let seen = deployed_with_parts(&cx, &image_of(DIGEST, "code-1"));
    let p = deploy(&cx, &seen, &image_of(OTHER, "code-2"));
    assert_eq!(service_row(&p), "~ service rag-dev (code changed)");
}

#[test]
fn the_parts_label_alone_is_no_change_and_a_service_without_it_keeps_the_old_text() {
    let cx = cx();
    // Deployed before parts were recorded: same version, no update for the label alone.
    let p = deploy(&cx, &deployed(&cx, DIGEST), &image_of(DIGEST, "code-1"));
    assert_eq!(service_row(&p), "= service rag-dev");
    let p = deploy(&cx, &deployed(&cx, DIGEST), &image_of(OTHER, "code-1"));
    assert_eq!(service_row(&p), "~ service rag-dev (image, settings, labels)");
}

#[test]
fn a_stored_secret_with_no_local_value_is_referenced_and_made_readable() {
    // `aideploy secrets set` stored version 3; nothing here; the service's account may
    // not read it yet.
    let mut cx = cx();
    cx.secrets.values.clear();
    cx.secrets.absent.push("API_KEY".into());
    let mut seen = deployed(&cx, DIGEST);
    let s = seen.secrets.get_mut("API_KEY").unwrap();
    s.latest = Some(("3".into(), false));
    s.accessors.clear();
    let p = deploy(&cx, &seen, &image(DIGEST, 0));
    let rows = rows(&p);
    assert!(rows.contains(&"= secret aideploy-rag-dev-API_KEY".to_string()), "{rows:?}");
    assert!(rows.contains(&format!("+ secret-access aideploy-rag-dev-API_KEY ({ACCOUNT} may read it)")), "{rows:?}");
    assert!(!rows.iter().any(|r| r.starts_with("~ secret ") || r.starts_with("+ secret ")), "no value is written: {rows:?}");
    assert_eq!(secret_versions(&cx, &seen), BTreeMap::from([("API_KEY".to_string(), Some("3".to_string()))]));
}
