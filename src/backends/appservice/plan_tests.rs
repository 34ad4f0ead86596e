//! `plan` from hand-made observed states: nothing there, all there, one setting
//! changed, the code changed, what destroy takes, and the digests a rollback goes back to.

use std::collections::BTreeMap;

use super::super::access::Access;
use super::super::names::{assignment_path, kv_name, value_hash, Names, ROLE_ACR_PULL, ROLE_KV_SECRETS_USER};
use super::super::observe::{DeletedVault, Foreign, Group, Observed, Site, SiteConfig};
use super::*;
use crate::engine::Change as _;

const MANIFEST: &str = r#"
version = 1

[app]
name = "rag"
runtime = "python3.11"
asgi = "app.main:app"
port = 8000
health = "/health"

[env]
LOG_LEVEL = "info"

[secrets]
OPENAI_API_KEY = { optional = true }

[targets.appservice]
subscription = "sub-1"
region = "westeurope"
"#;

const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// A run's context from a manifest string (no secret values), with `--set` pairs.
fn cx(sets: &[&str]) -> Cx {
    crate::engine::testing::cx(MANIFEST, "appservice", sets)
}

fn nothing(cx: &Cx) -> Observed {
    Observed { names: Names::derive(cx, "sub-1"), location: "westeurope".into(), ..Observed::default() }
}

/// Everything deployed as the manifest wants it, running `digest` on `sku`.
fn deployed(cx: &Cx, digest: &str, sku: &str) -> Observed {
    let names = Names::derive(cx, "sub-1");
    let login = "ragdev.azurecr.io".to_string();
    let t = super::super::tier_of(sku).unwrap();
    let mut seen = nothing(cx);
    seen.group = Group::Ours { created: true };
    seen.plan = Some(sku.into());
    seen.acr = Some(login.clone());
    seen.vault = Some("westeurope".into());
    let settings = desired_settings(cx, &secret_refs(cx, &names, &BTreeMap::new()));
    let config = SiteConfig {
        linux_fx_version: format!("DOCKER|{login}/rag@{digest}"),
        health_check_path: Some("/health".into()),
        always_on: Some(t.always_on),
        min_tls_version: Some("1.2".into()),
        ftps_state: Some("Disabled".into()),
        acr_use_managed_identity_creds: Some(true),
        ..with_access(&Access::wanted(cx))
    };
    seen.site = Some(Site {
        host: "rag.example".into(),
        principal: Some("p1".into()),
        https_only: true,
        tags: BTreeMap::new(),
        config,
        settings,
        changed: None,
    });
    seen.assignments.insert(assignment_path(&names.acr_path(), ROLE_ACR_PULL, "p1"));
    seen.assignments.insert(assignment_path(&names.vault_path(), ROLE_KV_SECRETS_USER, "p1"));
    seen.names = names;
    seen
}

/// A site configuration holding only the access restrictions that say `a`, as written.
fn with_access(a: &Access) -> SiteConfig {
    serde_json::from_value(serde_json::Value::Object(a.site_config())).unwrap()
}

static NO_INPUTS: Inputs = Inputs { code: String::new(), dependencies: String::new() };

fn want(digest: &str) -> Want<'_> {
    Want { digest, override_repo: None, to_upload: 3_460_000, inputs: &NO_INPUTS }
}

/// `op resource` of each row that is not a no-op.
fn changed(p: &Planned<Change>) -> Vec<String> {
    p.changes.iter().map(|c| c.row()).filter(|a| a.op != Op::Noop).map(|a| format!("{} {}", a.op.symbol(), a.resource)).collect()
}

#[test]
fn plans_from_hand_made_states() {
    let b1 = cx(&[]);
    let s1 = cx(&["sku=S1"]);
    let b2 = cx(&["sku=B2"]);
    let cases: Vec<(&str, &Cx, Observed, &str, Vec<&str>)> = vec![
        (
            "nothing deployed: everything is made",
            &b1,
            nothing(&b1),
            NEW,
            vec![
                "+ resource-group",
                "+ app-service-plan",
                "+ container-registry",
                "+ push image",
                "+ key-vault",
                "+ web-app",
                "+ access",
                "+ role-assignment",
                "+ role-assignment",
            ],
        ),
        ("all there and matching: nothing to do", &b1, deployed(&b1, NEW, "B1"), NEW, vec![]),
        ("the SKU changed: the plan only", &b2, deployed(&b2, NEW, "B1"), NEW, vec!["~ app-service-plan"]),
        ("the code changed on B1: push, update in place", &b1, deployed(&b1, OLD, "B1"), NEW, vec!["+ push image", "~ web-app"]),
        ("the code changed on S1: push, slot, swap", &s1, deployed(&s1, OLD, "S1"), NEW, vec!["+ push image", "+ slot", "~ swap"]),
    ];
    for (what, cx, seen, digest, expected) in cases {
        let p = plan_of(cx, &seen, &want(digest));
        assert_eq!(changed(&p), expected, "{what}");
    }
}

/// Whether the tier keeps the app loaded (Always On, no cold starts) shows on the plan row.
#[test]
fn always_on_shows_in_the_plan() {
    let plan_row = |cx: &Cx| {
        let p = plan_of(cx, &nothing(cx), &want(NEW));
        p.changes.iter().map(|c| c.row()).find(|a| a.resource == "app-service-plan").and_then(|a| a.reason).unwrap()
    };
    assert_eq!(plan_row(&cx(&[])), "Linux, B1, Always On");
    assert_eq!(plan_row(&cx(&["sku=F1"])), "Linux, F1, no Always On: the app unloads when idle");
    let b2 = cx(&["sku=B2"]);
    let p = plan_of(&b2, &deployed(&b2, NEW, "B1"), &want(NEW));
    let row = p.changes.iter().map(|c| c.row()).find(|a| a.resource == "app-service-plan").unwrap();
    assert_eq!(row.reason.as_deref(), Some("B1 -> B2, Always On"));
}

/// Who may reach the site: private unless `public = true`, `allow_cidrs` when given; a
/// change is an update of its own, also on tiers with slots (restrictions do not swap).
#[test]
fn access_is_planned_apart_and_shown() {
    let row = |p: &Planned<Change>| p.changes.iter().map(|c| c.row()).find(|a| a.resource == "access").unwrap();
    let private = cx(&[]);
    let p = plan_of(&private, &nothing(&private), &want(NEW));
    assert_eq!((row(&p).op, row(&p).reason.as_deref()), (Op::Create, Some("private")));
    assert!(p.warnings.iter().any(|w| w.contains("the site is private")), "{:?}", p.warnings);

    // Deployed open (before aideploy made sites private): the update says from what.
    let mut open = deployed(&private, NEW, "B1");
    let site = open.site.as_mut().unwrap();
    site.config.ip_security_restrictions = None;
    site.config.ip_security_restrictions_default_action = None;
    let p = plan_of(&private, &open, &want(NEW));
    assert_eq!(changed(&p), vec!["~ access"]);
    assert_eq!(row(&p).reason.as_deref(), Some("public -> private"));

    // allow_cidrs (public or not): only those networks; on S1 no slot or swap for it.
    let manifest = format!("{MANIFEST}allow_cidrs = [\"203.0.113.0/24\"]\npublic = true\n");
    let allowed = crate::engine::testing::cx(&manifest, "appservice", &["sku=S1"]);
    assert_eq!(Access::wanted(&allowed), Access::Restricted(vec!["203.0.113.0/24".into()]));
    let p = plan_of(&allowed, &deployed(&private, NEW, "S1"), &want(NEW));
    assert_eq!(changed(&p), vec!["~ access"]);
    assert_eq!(row(&p).reason.as_deref(), Some("private -> allowed: 203.0.113.0/24"));
    assert!(p.warnings.iter().any(|w| w.contains("answers only 203.0.113.0/24")), "{:?}", p.warnings);

    // public = true alone: every address, no note; the same as deployed: nothing to do.
    let public = crate::engine::testing::cx(&format!("{MANIFEST}public = true\n"), "appservice", &[]);
    assert_eq!(Access::wanted(&public), Access::Public);
    let p = plan_of(&public, &deployed(&public, NEW, "B1"), &want(NEW));
    assert_eq!(changed(&p), Vec::<String>::new());
    assert_eq!(row(&p).reason.as_deref(), Some("public"));
    assert!(!p.warnings.iter().any(|w| w.contains("private") || w.contains("answers only")), "{:?}", p.warnings);

    // A staging slot left open while production is private: updated too.
    let mut slot_open = deployed(&private, NEW, "S1");
    let mut slot = slot_open.site.clone().unwrap();
    slot.config = SiteConfig { ip_security_restrictions: None, ip_security_restrictions_default_action: None, ..slot.config };
    slot_open.slot = Some(slot);
    let p = plan_of(&cx(&["sku=S1"]), &slot_open, &want(NEW));
    assert_eq!(changed(&p), vec!["~ access"]);
}

#[test]
fn rows_say_what_is_pushed_and_why() {
    let cx = cx(&[]);
    let p = plan_of(&cx, &nothing(&cx), &want(NEW));
    let push = p.changes.iter().map(|c| c.row()).find(|a| a.resource == "push image").unwrap();
    let n = Names::derive(&cx, "sub-1");
    assert_eq!(push.id, format!("{}.azurecr.io/rag@sha256:222222222222", n.acr));
    assert_eq!(push.reason.as_deref(), Some("3.3 MiB to upload"));
    assert!(p.warnings.iter().any(|w| w.contains("230 s")), "{:?}", p.warnings);

    let seen = deployed(&cx, NEW, "B1");
    let p = plan_of(&cx, &seen, &want(NEW));
    let image = p.changes.iter().map(|c| c.row()).find(|a| a.resource == "image").unwrap();
    assert_eq!((image.op, image.reason.as_deref()), (Op::Noop, Some("already in the registry")));

    // A registry override: no registry, no AcrPull, and the site's identity flag drifts.
    let p = plan_of(&cx, &seen, &Want { digest: NEW, override_repo: Some("ghcr.io/me/rag"), to_upload: 10, inputs: &NO_INPUTS });
    let rows: Vec<_> = p.changes.iter().map(|c| c.row()).collect();
    assert!(!rows.iter().any(|a| a.resource == "container-registry" || a.id.starts_with("AcrPull")), "{rows:?}");
    let site = rows.iter().find(|a| a.resource == "web-app").unwrap();
    assert_eq!((site.op, site.reason.as_deref()), (Op::Update, Some("registry identity")));
}

#[test]
fn foreign_resources_are_named_in_the_plan() {
    let cx = cx(&[]);
    let mut seen = nothing(&cx);
    seen.foreign.push(Foreign { resource: "web-app", name: "rag-dev-abc123".into() });
    let p = plan_of(&cx, &seen, &want(NEW));
    assert!(p.warnings.iter().any(|w| w.contains("web-app rag-dev-abc123 exists without aideploy's tags")), "{:?}", p.warnings);
    assert!(super::super::apply::refuse_foreign(&cx, &seen).is_err());
    assert!(super::super::apply::refuse_foreign(&cx, &nothing(&cx)).is_ok());
}

#[test]
fn destroy_takes_only_ours() {
    let cx = cx(&[]);
    assert!(plan_destroy(&cx, &nothing(&cx)).changes.is_empty());
    let seen = deployed(&cx, NEW, "B1");
    let rows: Vec<String> = changed(&plan_destroy(&cx, &seen));
    assert_eq!(rows[0], "- resource-group");
    assert!(plan_destroy(&cx, &seen).changes.iter().skip(1).all(|c| matches!(c, Change::Delete { with_group: true, .. })));

    // The group holds something else: each of ours goes, the group stays.
    let mut shared = seen.clone();
    shared.group_shared = true;
    let p = plan_destroy(&cx, &shared);
    assert_eq!(p.changes[0].row().op, Op::Noop);
    assert!(p.changes.iter().skip(1).all(|c| matches!(c, Change::Delete { with_group: false, .. })));
    assert!(p.changes.iter().any(|c| matches!(c, Change::Delete { doomed: Doomed::Vault { .. }, .. })));

    // A group named in the target and not aideploy's: kept.
    let mut named = seen;
    named.group = Group::Named;
    assert_eq!(plan_destroy(&cx, &named).changes[0].row().reason.as_deref(), Some("not created by aideploy: kept"));
}

fn vault_row(p: &Planned<Change>) -> crate::engine::Action {
    p.changes.iter().map(|c| c.row()).find(|a| a.resource == "key-vault").expect("a key-vault row")
}

#[test]
fn destroy_keeps_the_vault_soft_deleted_unless_purge() {
    let plain = cx(&[]);
    let mut purging = cx(&[]);
    purging.purge = true;
    let seen = deployed(&plain, NEW, "B1");
    let vault = seen.names.vault.clone();

    // Without --purge: deleted, kept soft-deleted; the row and the report say so and how
    // to purge it; nothing irreversible to ask about.
    let p = plan_destroy(&plain, &seen);
    let row = vault_row(&p);
    assert_eq!((row.op, row.id.as_str()), (Op::Delete, vault.as_str()));
    let why = row.reason.unwrap();
    assert!(why.contains("kept soft-deleted") && why.contains("aideploy destroy --purge"), "{why}");
    assert!(why.contains(&format!("az keyvault purge --name {vault}")), "{why}");
    assert!(p.irreversible().is_empty());
    let leaves = p.leaves();
    assert_eq!(leaves.len(), 1, "{leaves:?}");
    assert!(
        leaves[0].contains(&format!("Key Vault {vault} is deleted but soft-deleted")) && leaves[0].contains("recovers it"),
        "{leaves:?}"
    );

    // With --purge: the row says it is irreversible, and the engine asks about it apart.
    let p = plan_destroy(&purging, &seen);
    assert_eq!(vault_row(&p).id, format!("{vault} (and purged: irreversible)"));
    assert_eq!(p.irreversible().len(), 1);
    assert!(p.leaves().is_empty());
    assert!(p.changes.iter().any(|c| matches!(c, Change::Delete { doomed: Doomed::Vault { purge: true, .. }, .. })));

    // Only the soft-deleted vault is left (a destroy ran without --purge).
    let mut left = nothing(&plain);
    left.deleted_vault = Some(DeletedVault { location: "westeurope".into(), purge_date: Some("2027-03-04T21:00:00Z".into()) });
    let p = plan_destroy(&plain, &left);
    assert!(!p.has_changes(), "kept, not changed");
    assert_eq!(p.changes, vec![Change::KeepDeleted { name: vault.clone(), purge_date: Some("2027-03-04T21:00:00Z".into()) }]);
    assert!(p.leaves()[0].contains("until 2027-03-04T21:00:00Z"), "{:?}", p.leaves());
    let p = plan_destroy(&purging, &left);
    assert_eq!(p.changes, vec![Change::PurgeDeleted { name: vault.clone(), location: "westeurope".into() }]);
    let row = vault_row(&p);
    assert_eq!(
        (row.op, row.id.as_str(), row.reason.as_deref()),
        (Op::Delete, format!("{vault} (soft-deleted)").as_str(), Some("purged: irreversible"))
    );
    assert_eq!(p.irreversible().len(), 1);
}

#[test]
fn a_deploy_recovers_our_soft_deleted_vault() {
    let cx = cx(&[]);
    let mut seen = nothing(&cx);
    seen.deleted_vault = Some(DeletedVault { location: "westeurope".into(), purge_date: None });
    let p = plan_of(&cx, &seen, &want(NEW));
    assert!(p.changes.iter().any(|c| matches!(c, Change::Vault { op: Op::Create, recover: true, .. })));
    assert_eq!(vault_row(&p).reason.as_deref(), Some("recovered from soft delete, with its secrets"));
    // No deleted vault: made new.
    let p = plan_of(&cx, &nothing(&cx), &want(NEW));
    assert!(p.changes.iter().any(|c| matches!(c, Change::Vault { op: Op::Create, recover: false, .. })));
    assert_eq!(vault_row(&p).reason, None);
    // Someone else's soft-deleted vault under the name: refused before anything changes.
    let mut theirs = nothing(&cx);
    theirs.foreign.push(Foreign { resource: "key-vault", name: format!("{} (soft-deleted)", theirs.names.vault) });
    let e = super::super::apply::refuse_foreign(&cx, &theirs).unwrap_err().to_string();
    assert!(e.contains("is soft-deleted and not aideploy's"), "{e}");
}

fn inputs(code: &str) -> Inputs {
    Inputs { code: code.into(), dependencies: "deps-key".into() }
}

/// Deployed by `old` (`digest`, code `code`), with the OPENAI_API_KEY value `old` has
/// in the vault and the parts tagged on the site as a release does.
fn deployed_with_parts(old: &Cx, digest: &str, code: &str) -> Observed {
    let mut seen = deployed(old, digest, "B1");
    if let Some(v) = old.secrets.values.get("OPENAI_API_KEY") {
        let kv = kv_name("OPENAI_API_KEY");
        let hash = value_hash(&seen.names, &kv, v.expose());
        seen.secrets.insert(
            kv,
            super::super::observe::StoredSecret {
                value_hash: Some(hash),
                uri_with_version: "https://kv/secrets/x/1".into(),
                ours: true,
                updated: None,
            },
        );
    }
    let refs = secret_refs(old, &seen.names, &seen.secrets);
    let site = seen.site.as_mut().unwrap();
    site.settings = desired_settings(old, &refs);
    site.tags.insert(TAG_PARTS.into(), parts(old, digest, &inputs(code), &refs).encode());
    seen
}

fn site_reason(cx: &Cx, seen: &Observed, digest: &str, code: &str) -> Option<String> {
    let i = inputs(code);
    let p = plan_of(cx, seen, &Want { digest, override_repo: None, to_upload: 0, inputs: &i });
    p.changes.iter().map(|c| c.row()).find(|a| a.resource == "web-app").and_then(|a| a.reason)
}

#[test]
fn an_env_only_change_says_env_changed() {
    let old = cx(&[]);
    let new = crate::engine::testing::cx(&MANIFEST.replace("LOG_LEVEL = \"info\"", "LOG_LEVEL = \"debug\""), "appservice", &[]);
    let seen = deployed_with_parts(&old, OLD, "code-1");
    assert_eq!(site_reason(&new, &seen, NEW, "code-1").as_deref(), Some("env changed"));
}

#[test]
fn a_secrets_only_change_says_secrets_changed() {
    let with = |v: &str| crate::engine::testing::cx_with_secret(MANIFEST, "appservice", &[], "OPENAI_API_KEY", v);
    let seen = deployed_with_parts(&with("v1"), NEW, "code-1");
    assert_eq!(site_reason(&with("v1"), &seen, NEW, "code-1"), None, "the same version is no change");
    assert_eq!(site_reason(&with("v2"), &seen, NEW, "code-1").as_deref(), Some("secrets changed"));
}

#[test]
fn a_code_change_says_code_changed_and_an_untagged_site_keeps_the_image_text() {
    let cx = cx(&[]);
    let seen = deployed_with_parts(&cx, OLD, "code-1");
    assert_eq!(site_reason(&cx, &seen, NEW, "code-2").as_deref(), Some("code changed"));
    let untagged = deployed(&cx, OLD, "B1");
    assert_eq!(site_reason(&cx, &untagged, NEW, "code-2").as_deref(), Some("image 111111111111 -> 222222222222"));
}

/// Deployed `NEW` on `sku`, the site's tags keeping `previous` as the digest before it.
fn deployed_after(cx: &Cx, sku: &str, previous: &str) -> Observed {
    let mut seen = deployed(cx, NEW, sku);
    let site = seen.site.as_mut().unwrap();
    site.tags.insert(super::super::TAG_DIGEST.into(), NEW.into());
    site.tags.insert(super::super::TAG_PREVIOUS.into(), previous.into());
    seen
}

/// Each row as people see it.
fn rows(p: &Planned<Change>) -> Vec<String> {
    p.changes
        .iter()
        .map(|c| c.row())
        .map(|a| format!("{} {} {}{}", a.op.symbol(), a.resource, a.id, a.reason.map(|r| format!(" ({r})")).unwrap_or_default()))
        .collect()
}

#[test]
fn releases_are_the_serving_digest_and_the_one_before_it() {
    use super::super::rollback::releases;
    use crate::engine::Target;
    let cx = cx(&[]);
    let seen = deployed_after(&cx, "B1", OLD);
    let kept = releases(&seen);
    let listed: Vec<(&str, &str, bool)> = kept.iter().map(|k| (k.id.as_str(), k.digest.as_str(), k.live)).collect();
    assert_eq!(listed, [("222222222222", NEW, true), ("111111111111", OLD, false)]);
    // The live one's digest is the one status shows.
    assert_eq!(kept[0].digest, super::super::AppServiceBackend.deployed(&cx, &seen).unwrap().digest);
    // The same image before and now: nothing else to go back to.
    assert_eq!(releases(&deployed_after(&cx, "B1", NEW)).len(), 1);
    assert_eq!(releases(&deployed(&cx, NEW, "B1")).len(), 1);
    assert!(releases(&nothing(&cx)).is_empty());
}

#[test]
fn rollback_to_goes_back_to_the_named_digest_in_place_or_through_the_slot() {
    use super::super::rollback::{plan_rollback, plan_rollback_to, target_of};
    let b1 = cx(&[]);
    let seen = deployed_after(&b1, "B1", OLD);
    let site = seen.names.site.clone();
    let to = plan_rollback_to(&b1, &seen, "111111111111").unwrap();
    assert_eq!(target_of(&to), Some(OLD));
    assert_eq!(rows(&to), [format!("~ web-app {site} (back to @111111111111)")]);
    // A prefix of the digest names it too; plain rollback makes the same plan.
    assert_eq!(plan_rollback_to(&b1, &seen, "sha256:1111").unwrap().changes, to.changes);
    assert_eq!(plan_rollback(&b1, &seen).unwrap().changes, to.changes);

    let s1 = cx(&["sku=S1"]);
    let mut seen = deployed_after(&s1, "S1", OLD);
    let to = plan_rollback_to(&s1, &seen, "111111111111").unwrap();
    assert_eq!(
        rows(&to),
        [
            format!("~ slot {site}/staging (back to @111111111111)"),
            "~ swap staging -> production (after the slot passes its health check)".to_string()
        ]
    );
    // The slot holds the old digest after a swap: the swap alone.
    let mut slot = seen.site.clone().unwrap();
    slot.config.linux_fx_version = format!("DOCKER|ragdev.azurecr.io/rag@{OLD}");
    seen.slot = Some(slot);
    let to = plan_rollback_to(&s1, &seen, "111111111111").unwrap();
    assert_eq!(rows(&to), ["~ swap staging -> production (slot staging holds @111111111111)"]);
    assert_eq!(target_of(&to), Some(OLD));
}

#[test]
fn rollback_to_an_unknown_or_the_live_digest_is_an_error() {
    use super::super::rollback::plan_rollback_to;
    let cx = cx(&[]);
    let seen = deployed_after(&cx, "B1", OLD);
    let unknown = plan_rollback_to(&cx, &seen, "333333333333").unwrap_err().to_string();
    assert!(unknown.contains("keeps no release `333333333333`"), "{unknown}");
    let live = plan_rollback_to(&cx, &seen, "222222222222").unwrap_err().to_string();
    assert!(live.contains("serving now"), "{live}");
    assert!(plan_rollback_to(&cx, &nothing(&cx), "111111111111").is_err());
    // Nothing kept before the serving digest: no release to name.
    assert!(plan_rollback_to(&cx, &deployed(&cx, NEW, "B1"), "111111111111").is_err());
}
