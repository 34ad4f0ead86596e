//! `plan`, `plan_rollback` and `plan_destroy` from plain observed data: no cloud.

use super::*;
use crate::cloud::aws::RoleSeen;
use crate::engine::Change;
use std::collections::BTreeSet;

const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "123456789012";

fn cx(extra: &str) -> Cx {
    let text = format!(
        "version = 1\n\n[app]\nname = \"snt\"\nruntime = \"python3.11\"\ncommand = \"python serve.py\"\nport = 8080\nhealth = \"/ping\"\n\n[env]\nLOG_LEVEL = \"info\"\n\n[targets.sagemaker]\nregion = \"{REGION}\"\nmodel_dir = \"model\"\ninstance_type = \"ml.m5.xlarge\"\n{extra}"
    );
    crate::engine::testing::cx(&text, "sagemaker", &[])
}

fn archive(sha: &str, bytes: u64) -> Built<SmArtifact> {
    let a = ModelArchive { path: "/tmp/model.tar.gz".into(), digest: format!("sha256:{sha}"), bytes, handler: None, files: 1 };
    Built { info: ArtifactInfo::plain("model-archive", format!("sha256:{sha}"), bytes), data: SmArtifact { archive: Some(a), image: None } }
}

fn nothing() -> Now {
    Now {
        region: REGION.into(),
        account: ACCOUNT.into(),
        runs_workloads: true,
        role: None,
        endpoint: None,
        live: None,
        configs: Vec::new(),
        models: Vec::new(),
        foreign_configs: BTreeSet::new(),
        foreign_models: BTreeSet::new(),
        secrets: BTreeMap::new(),
        secret_same: BTreeMap::new(),
        bucket: Seen::Missing,
        archives: BTreeSet::new(),
        legacy_bucket: None,
    }
}

fn listed(name: &str, created: i64) -> Listed {
    Listed { name: name.into(), arn: format!("arn:aws:sagemaker:{REGION}:{ACCOUNT}:x/{name}"), created, digest: None }
}

/// A release's config and model as observe lists them, tagged with the digest it was
/// made from.
fn release(n: &mut Now, name: &str, created: i64, digest: &str, with_model: bool) {
    let l = Listed { digest: Some(digest.into()), ..listed(name, created) };
    if with_model {
        n.models.push(l.clone());
    }
    n.configs.push(l);
}

/// What exists after a deploy of `a` with this manifest (no secrets).
fn deployed(cx: &Cx, a: &Built<SmArtifact>) -> Now {
    let rname = role_name(cx, REGION);
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/{rname}");
    let (id, model, variant) = desired_release(cx, &a.data, REGION, ACCOUNT, &arn, &BTreeMap::new()).unwrap();
    let name = release_name(&endpoint_name(cx), &id);
    let policy = role_policy(cx, REGION, ACCOUNT, None, &BTreeMap::new());
    let key = upload::key(cx, &art_sha(a.data.archive.as_ref().unwrap()));
    Now {
        role: Some(RoleSeen { name: rname, arn, tags: HashMap::new(), policy: Some(policy) }),
        endpoint: Some(EndpointNow {
            arn: "arn:ep".into(),
            status: "InService".into(),
            config: name.clone(),
            failure: None,
            changed: None,
        }),
        live: Some(LiveNow { variant: Some(variant), model: Some(model), digest: Some(a.info.digest.clone()), parts: None }),
        configs: vec![listed(&name, 10)],
        models: vec![listed(&name, 10)],
        bucket: Seen::Ours { missing: Vec::new() },
        archives: BTreeSet::from([key]),
        ..nothing()
    }
}

fn rows(p: &Planned<Step>) -> Vec<(Op, String)> {
    p.changes.iter().map(|c| (c.row().op, c.row().resource)).collect()
}

fn changed(p: &Planned<Step>) -> Vec<(Op, String)> {
    rows(p).into_iter().filter(|(op, _)| *op != Op::Noop).collect()
}

fn pairs(list: &[(Op, &str)]) -> Vec<(Op, String)> {
    list.iter().map(|(op, r)| (*op, r.to_string())).collect()
}

#[test]
fn from_nothing_everything_is_created_and_named() {
    let cx = cx("");
    let a = archive("ab", 3 << 20);
    let p = plan(&cx, &nothing(), &a);
    assert_eq!(
        rows(&p),
        pairs(&[
            (Op::Create, "bucket"),
            (Op::Create, "role"),
            (Op::Create, "model-archive"),
            (Op::Create, "model"),
            (Op::Create, "endpoint-config"),
            (Op::Create, "endpoint")
        ])
    );
    assert_eq!(
        p.changes[0],
        Step::Bucket { name: format!("aideploy-artifacts-{ACCOUNT}-{REGION}"), create: true, missing: Setting::ALL.to_vec() }
    );
    assert_eq!(p.changes[1], Step::Role { name: format!("aideploy-snt-dev-{REGION}"), op: Op::Create });
    let archive_row = p.changes[2].row();
    assert_eq!(archive_row.id, format!("s3://aideploy-artifacts-{ACCOUNT}-{REGION}/sagemaker/snt/dev/sagemaker/ab/model.tar.gz"));
    assert_eq!(archive_row.reason.as_deref(), Some("3.0 MiB to upload"));
    // The release is known from nothing: the role's ARN is predictable.
    let Step::Model { name: Some(name), .. } = &p.changes[3] else { panic!("{:?}", p.changes[3]) };
    assert!(is_release_of("snt-dev", name), "{name}");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn all_there_and_matching_is_all_noop() {
    let cx = cx("");
    let a = archive("ab", 100);
    let n = deployed(&cx, &a);
    let p = plan(&cx, &n, &a);
    assert!(!p.has_changes(), "{:?}", p.changes);
    // A ready bucket is no row at all.
    assert!(!rows(&p).iter().any(|(_, r)| r == "bucket"));
}

#[test]
fn new_weights_are_a_new_release_and_an_endpoint_update() {
    let cx = cx("");
    let n = deployed(&cx, &archive("ab", 100));
    let p = plan(&cx, &n, &archive("cd", 200));
    assert_eq!(
        changed(&p),
        pairs(&[(Op::Create, "model-archive"), (Op::Create, "model"), (Op::Create, "endpoint-config"), (Op::Update, "endpoint")])
    );
    let Step::Model { why, .. } = p.changes.iter().find(|s| matches!(s, Step::Model { .. })).unwrap() else { unreachable!() };
    assert_eq!(why, "model data");
}

#[test]
fn the_same_archive_is_not_uploaded_again() {
    let two = cx("instance_count = 2\n");
    let cx = cx("");
    let a = archive("ab", 100);
    let n = deployed(&cx, &a);
    // Another instance count: a new release, the archive already in the bucket.
    let p = plan(&two, &n, &a);
    assert_eq!(changed(&p), pairs(&[(Op::Create, "model"), (Op::Create, "endpoint-config"), (Op::Update, "endpoint")]));
    assert!(p.changes.iter().any(|s| matches!(s, Step::Archive { bytes: None, .. })));
}

#[test]
fn a_bucket_missing_a_setting_is_repaired_and_a_foreign_one_is_warned_of() {
    let cx = cx("");
    let a = archive("ab", 100);
    let mut n = deployed(&cx, &a);
    n.bucket = Seen::Ours { missing: vec![Setting::Versioning] };
    let p = plan(&cx, &n, &a);
    assert_eq!(changed(&p), pairs(&[(Op::Update, "bucket")]));
    assert_eq!(p.changes[0].row().reason.as_deref(), Some("set versioning"));
    n.bucket = Seen::Foreign { why: "it has no tag".into() };
    let p = plan(&cx, &n, &a);
    assert!(p.warnings.iter().any(|w| w.contains(&format!("aideploy-artifacts-{ACCOUNT}-{REGION}"))), "{:?}", p.warnings);
}

#[test]
fn a_failed_endpoint_is_replaced() {
    let cx = cx("");
    let a = archive("ab", 100);
    let mut n = deployed(&cx, &a);
    n.endpoint.as_mut().unwrap().status = "Failed".into();
    let p = plan(&cx, &n, &a);
    assert_eq!(changed(&p), pairs(&[(Op::Update, "endpoint")]));
    assert_eq!(p.changes.last().unwrap().row().reason.as_deref(), Some("failed: replaced"));
}

#[test]
fn a_release_name_held_by_someone_else_is_warned_of() {
    let cx = cx("");
    let a = archive("ab", 100);
    let mut n = nothing();
    n.bucket = Seen::Ours { missing: Vec::new() };
    let p = plan(&cx, &n, &a);
    let Step::Model { name: Some(name), .. } = p.changes.iter().find(|s| matches!(s, Step::Model { .. })).unwrap() else { panic!() };
    n.foreign_models.insert(name.clone());
    let p = plan(&cx, &n, &a);
    assert!(p.warnings.iter().any(|w| w.contains(name.as_str()) && w.contains("refuses")), "{:?}", p.warnings);
}

#[test]
fn a_changed_secret_leaves_the_release_to_apply() {
    let mut cx = cx("\n[secrets]\nAPI_KEY = {}\n");
    cx.secrets.values.insert("API_KEY".into(), crate::secrets::SecretValue::new("sk-a-long-enough-value".into()));
    let a = archive("ab", 100);
    let p = plan(&cx, &nothing(), &a);
    assert_eq!(p.changes[0], Step::Secret { name: "API_KEY".into(), id: "aideploy/snt/dev/API_KEY".into(), op: Op::Create });
    assert!(p.changes.iter().any(|s| matches!(s, Step::Model { name: None, op: Op::Create, .. })));
}

#[test]
fn rollback_goes_to_the_config_before_the_live_one() {
    let cx = cx("");
    let a = archive("ab", 100);
    let mut n = deployed(&cx, &a);
    assert!(plan_rollback(&cx, &n).is_err(), "one release: nothing to go back to");
    let live = n.endpoint.as_ref().unwrap().config.clone();
    n.configs.insert(0, listed("snt-dev-000000000001", 5));
    n.models.insert(0, listed("snt-dev-000000000001", 5));
    n.configs.insert(0, listed("snt-dev-000000000000", 1));
    let p = plan_rollback(&cx, &n).unwrap();
    assert_eq!(
        p.changes,
        [Step::Endpoint {
            name: "snt-dev".into(),
            op: Op::Update,
            why: Some(format!("config {live} -> snt-dev-000000000001")),
            to: Some("snt-dev-000000000001".into())
        }]
    );
}

/// The live release (made at 2026-12-05T10:00:00Z) with two older ones kept, one whose
/// model is gone, and a newer one left by a rollback.
fn with_releases(cx: &Cx, a: &Built<SmArtifact>) -> Now {
    let mut n = deployed(cx, a);
    let t = |secs: i64| 1_796_464_800_000 + secs * 1000;
    for c in n.configs.iter_mut().chain(n.models.iter_mut()) {
        *c = Listed { created: t(0), digest: Some(a.info.digest.clone()), ..c.clone() };
    }
    release(&mut n, "snt-dev-000000000000", t(-400), "sha256:00", false);
    release(&mut n, "snt-dev-000000000001", t(-300), "sha256:01", true);
    release(&mut n, "snt-dev-000000000003", t(-100), "sha256:03", true);
    release(&mut n, "snt-dev-000000000002", t(500), "sha256:02", true);
    n
}

#[test]
fn releases_are_the_configs_with_their_models_newest_first() {
    let cx = cx("");
    let a = archive("ab", 100);
    let n = with_releases(&cx, &a);
    let live = n.endpoint.as_ref().unwrap().config.clone();
    let kept = n.releases();
    let ids: Vec<(&str, bool)> = kept.iter().map(|k| (k.id.as_str(), k.live)).collect();
    assert_eq!(
        ids,
        [("snt-dev-000000000002", false), (live.as_str(), true), ("snt-dev-000000000003", false), ("snt-dev-000000000001", false)]
    );
    assert_eq!(kept[1].digest, a.info.digest);
    assert_eq!(Some(kept[1].digest.clone()), deployed(&cx, &a).live.and_then(|l| l.digest));
    assert_eq!(kept[3].digest, "sha256:01");
    assert_eq!(kept[1].created_at.as_deref(), Some("2026-12-05T10:00:00Z"));
    // No endpoint: nothing to move.
    assert!(Now { endpoint: None, ..with_releases(&cx, &a) }.releases().is_empty());
}

#[test]
fn rollback_to_moves_the_endpoint_to_the_config_named() {
    let cx = cx("");
    let n = with_releases(&cx, &archive("ab", 100));
    let live = n.endpoint.as_ref().unwrap().config.clone();
    let to = |name: &str| Step::Endpoint {
        name: "snt-dev".into(),
        op: Op::Update,
        why: Some(format!("config {live} -> {name}")),
        to: Some(name.into()),
    };
    // Past the one before the live one.
    assert_eq!(plan_rollback_to(&cx, &n, "snt-dev-000000000001").unwrap().changes, [to("snt-dev-000000000001")]);
    // Newer than the live one, by its digest.
    assert_eq!(plan_rollback_to(&cx, &n, "sha256:02").unwrap().changes, [to("snt-dev-000000000002")]);
    // Without --to: still the config before the live one.
    assert_eq!(plan_rollback(&cx, &n).unwrap().changes, [to("snt-dev-000000000003")]);
}

#[test]
fn rollback_to_a_config_without_its_model_or_the_live_one_is_refused() {
    let cx = cx("");
    let n = with_releases(&cx, &archive("ab", 100));
    let e = plan_rollback_to(&cx, &n, "snt-dev-000000000000").unwrap_err().to_string();
    assert!(e.contains("keeps no release `snt-dev-000000000000`"), "{e}");
    let live = n.endpoint.as_ref().unwrap().config.clone();
    let e = plan_rollback_to(&cx, &n, &live).unwrap_err().to_string();
    assert!(e.contains("is the one serving now"), "{e}");
}

#[test]
fn destroy_lists_what_is_ours_and_nothing_else() {
    let cx = cx("");
    assert!(plan_destroy(&cx, &nothing()).changes.is_empty());
    let mut n = deployed(&cx, &archive("ab", 100));
    n.foreign_models.insert("snt-dev-aaaaaaaaaaaa".into());
    n.foreign_configs.insert("snt-dev-aaaaaaaaaaaa".into());
    let p = plan_destroy(&cx, &n);
    let rows: Vec<_> = p.changes.iter().map(|c| c.row().resource).collect();
    assert_eq!(rows, ["endpoint", "endpoint-config", "model", "model-archives", "role"]);
    assert!(!p.changes.iter().any(|s| s.row().id.contains("aaaaaaaaaaaa")));
    assert_eq!(p.changes[3].row().id, format!("s3://aideploy-artifacts-{ACCOUNT}-{REGION}/sagemaker/snt/dev/sagemaker/"));
    // Archives left in the bucket of before the shared one go too, even with nothing
    // else left.
    let old = format!("aideploy-{ACCOUNT}-{REGION}");
    let p = plan_destroy(&cx, &Now { legacy_bucket: Some(old.clone()), ..nothing() });
    assert_eq!(p.changes, [Step::DeleteLegacyArchives { bucket: old, prefix: "sagemaker/snt/dev/sagemaker/".into() }]);
}

/// Deployed by `old` from `a`, its model tagged with the parts as apply does.
fn deployed_with_parts(old: &Cx, a: &Built<SmArtifact>) -> Now {
    let mut n = deployed(old, a);
    n.live.as_mut().unwrap().parts = Some(plan::wanted_parts(old, a).encode());
    n
}

fn endpoint_why(p: &Planned<Step>) -> Option<String> {
    p.changes.iter().map(|c| c.row()).find(|r| r.resource == "endpoint" && r.op == Op::Update).and_then(|r| r.reason)
}

#[test]
fn an_env_only_change_says_env_changed() {
    let old = cx("");
    let new = crate::engine::testing::cx(&old.loaded.text.replace("\"info\"", "\"debug\""), "sagemaker", &[]);
    let a = archive(&"a".repeat(64), 100);
    let p = plan::plan(&new, &deployed_with_parts(&old, &a), &a);
    assert_eq!(endpoint_why(&p).as_deref(), Some("env changed"));
    // Without recorded parts: today's words.
    let p = plan::plan(&new, &deployed(&old, &a), &a);
    assert!(endpoint_why(&p).unwrap_or_default().starts_with("config "), "{:?}", endpoint_why(&p));
}

#[test]
fn a_secrets_only_change_says_secrets_changed() {
    let text = cx("").loaded.text.replace("[targets.sagemaker]", "[secrets]\nHF_TOKEN = {}\n\n[targets.sagemaker]");
    let old = crate::engine::testing::cx_with_secret(&text, "sagemaker", &[], "HF_TOKEN", "v1");
    let a = archive(&"a".repeat(64), 100);
    let mut n = deployed_with_parts(&old, &a);
    let stored = crate::secrets::aws::Stored {
        name: "HF_TOKEN".into(),
        arn: "arn:hf".into(),
        last_changed: None,
        target: Some("sagemaker".into()),
        version: Some("v1".into()),
    };
    n.secrets.insert("HF_TOKEN".into(), stored);
    n.secret_same.insert("HF_TOKEN".into(), false);
    let new = crate::engine::testing::cx_with_secret(&text, "sagemaker", &[], "HF_TOKEN", "v2");
    assert_eq!(endpoint_why(&plan::plan(&new, &n, &a)).as_deref(), Some("secrets changed"));
}

#[test]
fn a_code_change_says_code_changed() {
    let cx = cx("");
    let n = deployed_with_parts(&cx, &archive(&"a".repeat(64), 100));
    let p = plan::plan(&cx, &n, &archive(&"b".repeat(64), 100));
    assert_eq!(endpoint_why(&p).as_deref(), Some("code changed"));
}
