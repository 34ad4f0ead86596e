//! The deploy, rollback and destroy plans from hand-made observed states: nothing there,
//! all there, new code, a new secret value, a half-done deploy, a package type switch,
//! an image to push, a zip through S3.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::*;
use crate::artifact::image::LocalImage;
use crate::artifact::oci::{BlobFile, BuiltImage};
use crate::artifact::registry::Reference;
use crate::artifact::zip::LambdaZip;
use crate::cloud::ecr;
use crate::engine::{ArtifactInfo, Change};
use crate::secrets::aws::{SecretRef, Stored};

const MANIFEST: &str = r#"version = 1
[app]
name = "rag"
runtime = "python3.11"
asgi = "app.main:app"
health = "/health"
[env]
LOG_LEVEL = "info"
[secrets]
API_KEY = {}
[targets.lambda]
region = "eu-west-1"
memory = 256
timeout = 20
"#;

const SHA: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const OTHER: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/aideploy-rag-dev-eu-west-1";
const FN_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:rag-dev";
const SECRET_ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aideploy/rag/dev/API_KEY-abc";

fn cx_with(text: &str, sets: &[&str]) -> Cx {
    crate::engine::testing::cx_with_secret(text, "lambda", sets, "API_KEY", "v1")
}

fn cx() -> Cx {
    cx_with(MANIFEST, &[])
}

fn zip(sha: &str, bytes: u64) -> Built<Package> {
    let z = LambdaZip {
        path: PathBuf::from("/cache/lambda.zip"),
        sha256: sha.into(),
        bytes,
        unzipped_bytes: bytes * 3,
        entries: 12,
        needs_s3: bytes > 50 << 20,
        cached: false,
        inputs: Default::default(),
    };
    Built { info: ArtifactInfo::plain("zip", z.digest(), bytes), data: Package::Zip(z) }
}

fn image(sha: &str, push: PushTo, upload: Option<u64>) -> Built<Package> {
    let config = BlobFile {
        digest: "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc".into(),
        size: 10,
        path: PathBuf::new(),
    };
    let built = BuiltImage {
        digest: format!("sha256:{sha}"),
        manifest: serde_json::from_value(serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", "size": 10}, "layers": []})).unwrap(),
        manifest_bytes: vec![0; 300],
        config,
        image_config: Default::default(),
        layers: Vec::new(),
        base: Reference::parse("registry.example/base:1").unwrap(),
        platform: crate::artifact::oci::Platform::amd64(),
    };
    let img = LambdaImage {
        local: LocalImage { image: built, layers: Vec::new(), inputs: Default::default() },
        sha: sha.into(),
        reason: "[build] package = \"image\"".into(),
        push,
        upload,
    };
    Built { info: ArtifactInfo::plain("image", format!("sha256:{sha}"), 310), data: Package::Image(Box::new(img)) }
}

fn stored_secret() -> Stored {
    Stored {
        name: "API_KEY".into(),
        arn: SECRET_ARN.into(),
        last_changed: Some(1),
        target: Some("lambda".into()),
        version: Some("v-1".into()),
    }
}

/// Everything deployed as `cx` asks, running code `sha`, with the secret's value current.
fn deployed(cx: &Cx, sha: &str, package: &str) -> Now {
    let mut n = Now::empty(REGION);
    n.secrets.insert("API_KEY".into(), stored_secret());
    n.secret_same.insert("API_KEY".into(), true);
    let refs = BTreeMap::from([("API_KEY".to_string(), SecretRef { arn: SECRET_ARN.into(), version: "v-1".into() })]);
    let arns = BTreeMap::from([("API_KEY".to_string(), SECRET_ARN.to_string())]);
    n.role = Some((ROLE_ARN.into(), Some(role_policy(REGION, ACCOUNT, "rag-dev", &arns))));
    let conf = desired_conf(cx, ROLE_ARN, &refs, package);
    n.function = Some(FnNow {
        arn: FN_ARN.into(),
        sha: sha.into(),
        image: None,
        conf: conf.clone(),
        tags: HashMap::new(),
        last_modified: "2026-12-01T00:00:00.000+0000".into(),
    });
    n.versions = vec![Version { number: 1, sha: sha.into(), conf, published: "2026-12-01T00:00:00.000+0000".into() }];
    n.alias = Some(1);
    n.api = Some(ApiNow {
        id: "abc123".into(),
        cors: None,
        integration: Some(("int1".into(), format!("{FN_ARN}:live"), "2.0".into())),
        route: Some(RouteNow { id: "route1".into(), target: "integrations/int1".into(), authorization: AUTH_IAM.into() }),
        stage: Some((true, None)),
    });
    n.permission = Some(format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:abc123/*/*"));
    n
}

fn rows(p: &Planned<Step>) -> Vec<(String, Op)> {
    p.changes.iter().map(|s| s.row()).map(|a| (a.resource, a.op)).collect()
}

fn changed(p: &Planned<Step>) -> Vec<(String, Op)> {
    rows(p).into_iter().filter(|(_, op)| *op != Op::Noop).collect()
}

fn row(p: &Planned<Step>, resource: &str) -> crate::engine::Action {
    p.changes.iter().map(|s| s.row()).find(|a| a.resource == resource).unwrap_or_else(|| panic!("no {resource} row: {:?}", rows(p)))
}

fn owned(list: &[(&str, Op)]) -> Vec<(String, Op)> {
    list.iter().map(|(r, o)| (r.to_string(), *o)).collect()
}

#[test]
fn from_nothing_everything_is_created_the_zip_upload_with_its_size() {
    let cx = cx();
    let p = plan::plan(&cx, &Now::empty(REGION), &zip(SHA, 3 << 20));
    assert_eq!(
        rows(&p),
        owned(&[
            ("secret", Op::Create),
            ("role", Op::Create),
            ("upload zip", Op::Create),
            ("function", Op::Create),
            ("version", Op::Create),
            ("alias", Op::Create),
            ("http-api", Op::Create),
            ("integration", Op::Create),
            ("route", Op::Create),
            ("stage", Op::Create),
            ("permission", Op::Create),
        ])
    );
    assert_eq!(row(&p, "role").id, "aideploy-rag-dev-eu-west-1");
    assert_eq!(row(&p, "upload zip").reason.as_deref(), Some("3.0 MiB, in the request"));
    assert_eq!(row(&p, "function").reason.as_deref(), Some("python3.11 zip"));
    assert_eq!(row(&p, "permission").id, "rag-dev:live");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn all_there_is_all_noop() {
    let cx = cx();
    let p = plan::plan(&cx, &deployed(&cx, SHA, PACKAGE_ZIP), &zip(SHA, 3 << 20));
    assert_eq!(changed(&p), vec![], "{:?}", rows(&p));
    assert!(!p.has_changes());
    assert_eq!(row(&p, "version").id, "rag-dev:1");
    assert_eq!(row(&p, "permission").id, "rag-dev:live <- abc123");
}

#[test]
fn new_code_uploads_updates_publishes_and_moves_the_alias() {
    let cx = cx();
    let p = plan::plan(&cx, &deployed(&cx, SHA, PACKAGE_ZIP), &zip(OTHER, 3 << 20));
    assert_eq!(changed(&p), owned(&[("upload zip", Op::Create), ("function", Op::Update), ("version", Op::Create), ("alias", Op::Update)]));
    assert_eq!(row(&p, "alias").reason.as_deref(), Some("version 1 -> new"));
}

#[test]
fn a_new_secret_value_changes_the_config_not_the_code_or_policy() {
    let cx = cx();
    let mut n = deployed(&cx, SHA, PACKAGE_ZIP);
    n.secret_same.insert("API_KEY".into(), false);
    let p = plan::plan(&cx, &n, &zip(SHA, 3 << 20));
    assert_eq!(
        changed(&p),
        owned(&[("secret", Op::Update), ("function-config", Op::Update), ("version", Op::Create), ("alias", Op::Update)])
    );
    assert_eq!(row(&p, "secret").id, "aideploy/rag/dev/API_KEY");
}

#[test]
fn a_setting_change_names_what_differs() {
    let cx = cx_with(MANIFEST, &["memory=1024"]);
    let p = plan::plan(&cx, &deployed(&cx_with(MANIFEST, &[]), SHA, PACKAGE_ZIP), &zip(SHA, 3 << 20));
    assert_eq!(changed(&p), owned(&[("function-config", Op::Update), ("version", Op::Create), ("alias", Op::Update)]));
    assert_eq!(row(&p, "function-config").reason.as_deref(), Some("memory"));
}

#[test]
fn a_half_done_deploy_finishes_what_is_missing() {
    let cx = cx();
    let mut n = deployed(&cx, SHA, PACKAGE_ZIP);
    n.api = None;
    n.permission = None;
    let p = plan::plan(&cx, &n, &zip(SHA, 3 << 20));
    assert_eq!(
        changed(&p),
        owned(&[
            ("http-api", Op::Create),
            ("integration", Op::Create),
            ("route", Op::Create),
            ("stage", Op::Create),
            ("permission", Op::Create)
        ])
    );
    // A role with no function yet: the function and its first version come next.
    let mut n = Now::empty(REGION);
    n.role = deployed(&cx, SHA, PACKAGE_ZIP).role;
    n.secrets.insert("API_KEY".into(), stored_secret());
    n.secret_same.insert("API_KEY".into(), true);
    let p = plan::plan(&cx, &n, &zip(SHA, 3 << 20));
    assert_eq!(row(&p, "role").op, Op::Noop);
    assert_eq!(row(&p, "function").op, Op::Create);
    assert_eq!(row(&p, "alias").op, Op::Create);
}

#[test]
fn a_zip_over_50_mb_goes_through_the_artifact_bucket() {
    let cx = cx();
    let p = plan::plan(&cx, &deployed(&cx, SHA, PACKAGE_ZIP), &zip(OTHER, 60 << 20));
    let up = row(&p, "upload zip");
    assert_eq!(up.op, Op::Create);
    assert_eq!(up.id, format!("s3://aideploy-artifacts-{ACCOUNT}-{REGION}/lambda/rag/dev/lambda/{OTHER}.zip"));
    assert!(up.reason.unwrap().starts_with("60.0 MiB"));
    assert!(p.warnings.iter().any(|w| w.contains("through S3")), "{:?}", p.warnings);
    // Nothing deployed yet: the account is not known, the key is.
    let p = plan::plan(&cx, &Now::empty(REGION), &zip(OTHER, 60 << 20));
    assert_eq!(row(&p, "upload zip").id, format!("lambda/rag/dev/lambda/{OTHER}.zip"));
}

#[test]
fn an_image_for_the_targets_own_repository_makes_it_then_pushes() {
    let cx = cx();
    let p = plan::plan(&cx, &Now::empty(REGION), &image(SHA, PushTo::OwnEcr, Some(310)));
    let r = rows(&p);
    assert_eq!(r[1], ("ecr-repository".to_string(), Op::Create));
    assert_eq!(r[2], ("push image".to_string(), Op::Create));
    let push = row(&p, "push image");
    assert_eq!(push.id, format!("aideploy/rag-dev-lambda@sha256:{}", &SHA[..12]));
    assert_eq!(push.reason.as_deref(), Some("at most 310 B to upload"));
    assert!(row(&p, "function").reason.unwrap().contains("container image: [build] package = \"image\""));
    assert!(!r.iter().any(|(res, _)| res == "upload zip"));
    // A same-named repository that is not ours: the plan says the deploy will refuse it.
    let mut n = Now::empty(REGION);
    n.repo = Some(ecr::Repo { uri: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/aideploy/rag-dev-lambda".into(), ours: false });
    let p = plan::plan(&cx, &n, &image(SHA, PushTo::OwnEcr, Some(310)));
    assert!(p.warnings.iter().any(|w| w.contains("aideploy/rag-dev-lambda") && w.contains("not created by aideploy")), "{:?}", p.warnings);
    assert_eq!(row(&p, "ecr-repository").op, Op::Create);
}

#[test]
fn an_image_the_registry_has_is_not_pushed_again() {
    let cx = cx();
    let repo = Reference::parse("127.0.0.1:5000/team/rag").unwrap();
    let mut n = deployed(&cx, SHA, PACKAGE_IMAGE);
    // New code whose image is in the registry already: no push, the function is updated.
    let p = plan::plan(&cx, &n, &image(OTHER, PushTo::Named(repo.clone()), None));
    assert_eq!(row(&p, "image").op, Op::Noop);
    assert_eq!(row(&p, "function").op, Op::Update);
    // A missing one is pushed with the exact bytes.
    let p = plan::plan(&cx, &n, &image(OTHER, PushTo::Named(repo.clone()), Some(2048)));
    assert_eq!(row(&p, "push image").reason.as_deref(), Some("2.0 KiB to upload"));
    assert_eq!(row(&p, "push image").id, format!("127.0.0.1:5000/team/rag@sha256:{}", &OTHER[..12]));
    // What the function runs already: nothing to push, nothing to change.
    n.function.as_mut().unwrap().image = Some(image_uri("127.0.0.1:5000/team/rag", SHA));
    let p = plan::plan(&cx, &n, &image(SHA, PushTo::Named(repo), Some(2048)));
    assert!(!p.has_changes(), "{:?}", rows(&p));
}

#[test]
fn a_package_type_switch_replaces_the_function() {
    let cx = cx();
    let p = plan::plan(&cx, &deployed(&cx, SHA, PACKAGE_IMAGE), &zip(SHA, 3 << 20));
    let fn_ops: Vec<Op> = p.changes.iter().map(|s| s.row()).filter(|a| a.resource == "function").map(|a| a.op).collect();
    assert_eq!(fn_ops, vec![Op::Delete, Op::Create]);
    assert!(row(&p, "function").reason.unwrap().contains("package image -> zip"));
    assert_eq!(row(&p, "version").op, Op::Create);
    assert_eq!(row(&p, "alias").op, Op::Create);
    assert_eq!(row(&p, "permission").op, Op::Create);
    assert_eq!(row(&p, "http-api").op, Op::Noop);
}

#[test]
fn a_timeout_over_api_gateways_limit_is_warned_about() {
    let cx = cx_with(MANIFEST, &["timeout=120"]);
    let p = plan::plan(&cx, &Now::empty(REGION), &zip(SHA, 1000));
    assert!(p.warnings.iter().any(|w| w.contains("30 s") && w.contains("cloudrun")), "{:?}", p.warnings);
}

#[test]
fn the_route_is_private_unless_public_is_set_and_the_plan_says_which() {
    // New: AWS_IAM by default, NONE with `public = true`; the row says which.
    let p = plan::plan(&cx(), &Now::empty(REGION), &zip(SHA, 1000));
    assert!(p.changes.contains(&Step::Route { op: Op::Create, access: Access::Private, target_changed: false, access_changed: false }));
    let route = row(&p, "route");
    assert_eq!((route.op, route.id.as_str()), (Op::Create, "$default"));
    assert!(route.reason.as_deref().unwrap().starts_with("private: AWS_IAM"), "{route:?}");
    let open = cx_with(MANIFEST, &["public=true"]);
    let p = plan::plan(&open, &Now::empty(REGION), &zip(SHA, 1000));
    assert!(p.changes.contains(&Step::Route { op: Op::Create, access: Access::Public, target_changed: false, access_changed: false }));
    assert!(row(&p, "route").reason.as_deref().unwrap().starts_with("public"), "{:?}", row(&p, "route"));

    // Deployed private, now `public = true`: the route alone is updated, and says so.
    let private = deployed(&cx(), SHA, PACKAGE_ZIP);
    let p = plan::plan(&open, &private, &zip(SHA, 1000));
    assert_eq!(changed(&p), owned(&[("route", Op::Update)]), "{:?}", rows(&p));
    assert_eq!(row(&p, "route").reason.as_deref(), Some("private -> public: anyone may call it"));

    // Deployed open (before routes were private, or `public = true` dropped): back to AWS_IAM.
    let mut public = deployed(&cx(), SHA, PACKAGE_ZIP);
    public.api.as_mut().unwrap().route.as_mut().unwrap().authorization = AUTH_NONE.into();
    let p = plan::plan(&cx(), &public, &zip(SHA, 1000));
    assert_eq!(changed(&p), owned(&[("route", Op::Update)]));
    assert_eq!(row(&p, "route").reason.as_deref(), Some("public -> private: AWS_IAM, only SigV4-signed calls with execute-api:Invoke"));
    // ...and as it is with `public = true`: nothing to do; the row still says public.
    let p = plan::plan(&open, &public, &zip(SHA, 1000));
    assert!(!p.has_changes(), "{:?}", rows(&p));
    assert_eq!(row(&p, "route").reason.as_deref(), Some("public: anyone may call it"));

    // A route on another integration, access unchanged: the target only.
    let mut moved = deployed(&cx(), SHA, PACKAGE_ZIP);
    moved.api.as_mut().unwrap().route.as_mut().unwrap().target = "integrations/old".into();
    let p = plan::plan(&cx(), &moved, &zip(SHA, 1000));
    assert!(p.changes.contains(&Step::Route { op: Op::Update, access: Access::Private, target_changed: true, access_changed: false }));
    assert!(row(&p, "route").reason.as_deref().unwrap().starts_with("target changed, private"));
}

#[test]
fn rollback_moves_the_alias_to_the_version_before() {
    let cx = cx();
    let mut n = deployed(&cx, SHA, PACKAGE_ZIP);
    assert!(plan::plan_rollback(&cx, &n).unwrap_err().to_string().contains("no previous version"));
    let v1 = n.versions[0].clone();
    n.versions.push(Version { number: 3, ..v1 });
    n.alias = Some(3);
    let p = plan::plan_rollback(&cx, &n).unwrap();
    assert_eq!(p.changes, vec![Step::RollbackAlias { function: "rag-dev".into(), from: 3, to: 1 }]);
    let a = p.changes[0].row();
    assert_eq!((a.resource.as_str(), a.op, a.id.as_str()), ("alias", Op::Update, "rag-dev:live"));
    assert_eq!(a.reason.as_deref(), Some("version 3 -> 1"));
}

/// Versions 1 to 4 published, each of its own code, alias `live` on `live`.
fn four_versions(cx: &Cx, live: u64) -> Now {
    let mut n = deployed(cx, SHA, PACKAGE_ZIP);
    let v1 = n.versions[0].clone();
    n.versions = (1..=4u64)
        .map(|i| Version { number: i, sha: format!("{i}").repeat(64), published: format!("2026-12-0{i}T10:00:00.000+0000"), ..v1.clone() })
        .collect();
    n.alias = Some(live);
    n
}

#[test]
fn releases_are_the_published_versions_newest_first_with_their_own_digests() {
    let cx = cx();
    let n = four_versions(&cx, 3);
    let kept = plan::releases(&n);
    let ids: Vec<(&str, bool)> = kept.iter().map(|k| (k.id.as_str(), k.live)).collect();
    assert_eq!(ids, [("4", false), ("3", true), ("2", false), ("1", false)]);
    // The digest a deploy of that code built, and status shows while it serves.
    assert_eq!(kept[1].digest, format!("sha256:{}", "3".repeat(64)));
    assert_eq!(Some(kept[1].digest.clone()), LambdaTarget.deployed(&cx, &n).map(|d| d.digest));
    assert_eq!(zip(&"2".repeat(64), 10).info.digest, kept[2].digest);
    assert_eq!(kept[3].created_at.as_deref(), Some("2026-12-01T10:00:00Z"));
    // No alias: no deploy got as far as serving, nothing to move back to.
    let mut none = four_versions(&cx, 3);
    none.alias = None;
    assert!(plan::releases(&none).is_empty());
}

#[test]
fn rollback_to_moves_the_alias_to_the_version_named_older_or_newer() {
    let cx = cx();
    let n = four_versions(&cx, 3);
    let p = plan::plan_rollback_to(&cx, &n, "1").unwrap();
    assert_eq!(p.changes, vec![Step::RollbackAlias { function: "rag-dev".into(), from: 3, to: 1 }]);
    assert_eq!(p.changes[0].row().reason.as_deref(), Some("version 3 -> 1"));
    // A newer one (after an earlier rollback), named by its digest's prefix.
    let p = plan::plan_rollback_to(&cx, &n, "sha256:4444").unwrap();
    assert_eq!(p.changes, vec![Step::RollbackAlias { function: "rag-dev".into(), from: 3, to: 4 }]);
    // `rollback` without --to still goes to the version before the live one.
    assert_eq!(plan::plan_rollback(&cx, &n).unwrap().changes, vec![Step::RollbackAlias { function: "rag-dev".into(), from: 3, to: 2 }]);
}

#[test]
fn rollback_to_an_unknown_or_the_live_version_is_refused() {
    let cx = cx();
    let n = four_versions(&cx, 3);
    let e = plan::plan_rollback_to(&cx, &n, "9").unwrap_err().to_string();
    assert!(e.contains("keeps no release `9`"), "{e}");
    let e = plan::plan_rollback_to(&cx, &n, "3").unwrap_err().to_string();
    assert!(e.contains("is the one serving now"), "{e}");
    let e = plan::plan_rollback_to(&cx, &Now::empty(REGION), "1").unwrap_err().to_string();
    assert!(e.contains("keeps no release `1`"), "{e}");
}

#[test]
fn destroy_removes_only_ours_uploads_first() {
    let cx = cx();
    assert!(plan::plan_destroy(&cx, &Now::empty(REGION)).changes.is_empty());
    let mut n = deployed(&cx, SHA, PACKAGE_ZIP);
    n.repo = Some(ecr::Repo { uri: "x".into(), ours: false });
    let mut theirs = stored_secret();
    theirs.name = "OTHER".into();
    theirs.target = Some("gpu".into());
    n.secrets.insert("OTHER".into(), theirs);
    let p = plan::plan_destroy(&cx, &n);
    assert_eq!(
        rows(&p),
        owned(&[
            ("zip-uploads", Op::Delete),
            ("http-api", Op::Delete),
            ("function", Op::Delete),
            ("role", Op::Delete),
            ("secret", Op::Delete)
        ])
    );
    assert_eq!(row(&p, "zip-uploads").id, format!("s3://aideploy-artifacts-{ACCOUNT}-{REGION}/lambda/rag/dev/lambda/"));
    assert_eq!(row(&p, "secret").id, "aideploy/rag/dev/API_KEY");
}

/// A zip of code `code` (its digest without the manifest) whose file digest is `sha`:
/// the manifest is in the zip, so an `[env]` edit changes `sha` and not `code`.
fn zip_of(sha: &str, code: &str) -> Built<Package> {
    let mut b = zip(sha, 3 << 20);
    b.info.inputs = crate::engine::Inputs { code: code.into(), dependencies: "deps-key".into() };
    b
}

/// Deployed by `old` from `built`, with the parts recorded as apply tags them.
fn deployed_with_parts(old: &Cx, built: &Built<Package>) -> Now {
    let mut n = deployed(old, built.data.sha(), PACKAGE_ZIP);
    let parts = Parts::wanted(old, &built.info).encode();
    if let Some(f) = n.function.as_mut() {
        f.tags.insert(TAG_PARTS.into(), parts);
    }
    n
}

#[test]
fn an_env_only_change_says_env_changed_not_code() {
    let old = cx();
    let new = cx_with(&MANIFEST.replace("LOG_LEVEL = \"info\"", "LOG_LEVEL = \"debug\""), &[]);
    let n = deployed_with_parts(&old, &zip_of(SHA, "code-1"));
    let p = plan::plan(&new, &n, &zip_of(OTHER, "code-1"));
    assert_eq!(row(&p, "function").op, Op::Update);
    assert_eq!(row(&p, "function").reason.as_deref(), Some("env changed"));
    assert_eq!(row(&p, "function-config").reason.as_deref(), Some("env"));
}

#[test]
fn a_secrets_only_change_says_secrets_changed() {
    let old = cx();
    let text = MANIFEST.replace("API_KEY = {}", "API_KEY = {}\nOTHER_KEY = {}");
    let mut new = cx_with(&text, &[]);
    new.secrets.values.insert("OTHER_KEY".into(), crate::secrets::SecretValue::new("v2".into()));
    let n = deployed_with_parts(&old, &zip_of(SHA, "code-1"));
    let p = plan::plan(&new, &n, &zip_of(OTHER, "code-1"));
    assert_eq!(row(&p, "function").reason.as_deref(), Some("secrets changed"));
}

#[test]
fn a_code_change_says_code_changed() {
    let cx = cx();
    let n = deployed_with_parts(&cx, &zip_of(SHA, "code-1"));
    let p = plan::plan(&cx, &n, &zip_of(OTHER, "code-2"));
    assert_eq!(row(&p, "function").reason.as_deref(), Some("code changed"));
}

#[test]
fn a_function_without_recorded_parts_keeps_saying_code_changed() {
    let old = cx();
    let new = cx_with(&MANIFEST.replace("LOG_LEVEL = \"info\"", "LOG_LEVEL = \"debug\""), &[]);
    let p = plan::plan(&new, &deployed(&old, SHA, PACKAGE_ZIP), &zip_of(OTHER, "code-1"));
    assert_eq!(row(&p, "function").reason.as_deref(), Some("code changed"));
}

/// The manifest on a runtime SnapStart supports.
fn snap_manifest() -> String {
    MANIFEST.replace("python3.11", "python3.12")
}

/// SnapStart shows on the function and the version it publishes; turning it on for a
/// running function is a configuration change and a new version.
#[test]
fn snapstart_shows_in_the_plan_and_is_a_new_version() {
    let on = cx_with(&snap_manifest(), &["snapstart=true"]);
    let p = plan::plan(&on, &Now::empty(REGION), &zip(SHA, 1000));
    assert_eq!(row(&p, "function").reason.as_deref(), Some("python3.12 zip, SnapStart on published versions"));
    assert_eq!(row(&p, "version").reason.as_deref(), Some("SnapStart: initialised and snapshotted when published"));

    let off = cx_with(&snap_manifest(), &[]);
    let seen = deployed(&off, SHA, PACKAGE_ZIP);
    let p = plan::plan(&on, &seen, &zip(SHA, 1000));
    let config = row(&p, "function-config");
    assert_eq!((config.op, config.reason.as_deref()), (Op::Update, Some("snapstart")));
    assert_eq!(row(&p, "version").op, Op::Create);
    assert_eq!(row(&p, "alias").op, Op::Update);
    // Deployed with it: nothing to do.
    let p = plan::plan(&on, &deployed(&on, SHA, PACKAGE_ZIP), &zip(SHA, 1000));
    assert!(changed(&p).is_empty(), "{:?}", changed(&p));
}

/// What Lambda refuses is refused before anything is built or written: a runtime before
/// python3.12, a container-image function.
#[test]
fn snapstart_needs_python_312_and_a_zip() {
    let old = cx_with(MANIFEST, &["snapstart=true"]);
    let e = check_snapstart(&old, PACKAGE_ZIP).unwrap_err();
    assert!(e.message.contains("python3.12") && e.message.contains("python3.11"), "{}", e.message);
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("runtime = \"python3.12\"")), "{:?}", e.hint);
    let new = cx_with(&snap_manifest(), &["snapstart=true"]);
    assert!(check_snapstart(&new, PACKAGE_ZIP).is_ok());
    assert!(check_snapstart(&new, PACKAGE_IMAGE).unwrap_err().message.contains("container-image"));
    assert!(check_snapstart(&cx_with(MANIFEST, &[]), PACKAGE_IMAGE).is_ok());
    assert!(!desired_conf(&new, ROLE_ARN, &BTreeMap::new(), PACKAGE_IMAGE).snapstart);
}

fn warm(requested: u32, status: &str) -> Warm {
    let allocated = if status == WARM_READY { requested } else { 0 };
    Warm { requested, allocated, status: status.into(), reason: (status == WARM_FAILED).then(|| "over the account's limit".into()) }
}

/// `warm_instances` is provisioned concurrency on the alias: created, kept, allocated again
/// when the alias moves, resized, removed; one that failed is asked for again.
#[test]
fn warm_instances_follow_the_alias() {
    let two = cx_with(MANIFEST, &["warm_instances=2"]);
    let id = "rag-dev:live";
    let warm_row = |p: &Planned<Step>| {
        let a = row(p, "provisioned-concurrency");
        assert_eq!(a.id, id);
        (a.op, a.reason.unwrap_or_default())
    };
    let p = plan::plan(&two, &Now::empty(REGION), &zip(SHA, 1000));
    assert_eq!(warm_row(&p), (Op::Create, "2 warm instances, billed while idle".into()));

    let mut seen = deployed(&two, SHA, PACKAGE_ZIP);
    let p = plan::plan(&two, &seen, &zip(SHA, 1000));
    assert_eq!(warm_row(&p).0, Op::Create, "none configured yet");
    seen.warm = Some(warm(2, WARM_READY));
    let p = plan::plan(&two, &seen, &zip(SHA, 1000));
    assert!(changed(&p).is_empty(), "{:?}", changed(&p));
    let p = plan::plan(&two, &seen, &zip(OTHER, 1000));
    assert_eq!(warm_row(&p), (Op::Update, "2 warm instances again, for the new version".into()));
    let p = plan::plan(&cx_with(MANIFEST, &["warm_instances=1"]), &seen, &zip(SHA, 1000));
    assert_eq!(warm_row(&p), (Op::Update, "2 -> 1 warm instance".into()));
    let p = plan::plan(&cx(), &seen, &zip(SHA, 1000));
    assert_eq!(warm_row(&p), (Op::Delete, "2 warm instances no longer asked for".into()));
    seen.warm = Some(warm(2, WARM_FAILED));
    let p = plan::plan(&two, &seen, &zip(SHA, 1000));
    assert_eq!(warm_row(&p).0, Op::Create);
    assert_eq!(warm(2, WARM_FAILED).words(), "2 asked, failed: over the account's limit");
    assert_eq!(warm(3, "IN_PROGRESS").words(), "0 of 3 allocated (IN_PROGRESS)");
    // Without warm_instances and none configured: no row at all.
    assert!(!plan::plan(&cx(), &deployed(&cx(), SHA, PACKAGE_ZIP), &zip(SHA, 1000)).changes.iter().any(|s| matches!(s, Step::Warm { .. })));
}
