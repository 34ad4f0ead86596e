//! The pure plans of `ci init` and `ci destroy`, from observed state.

use std::collections::HashMap;

use super::*;
use crate::ci::{CiProvider, Spec};

fn spec() -> Spec {
    let cx = crate::engine::testing::cx(
        "version = 1\n[app]\nname = \"rag\"\nruntime = \"python3.11\"\nasgi = \"main:app\"\n[targets.lambda]\nregion = \"us-east-1\"\n",
        "lambda",
        &[],
    );
    Spec {
        provider: CiProvider::Github,
        repo: "acme/rag".into(),
        branch: "main".into(),
        issuer: CiProvider::Github.default_issuer().into(),
        app: "rag".into(),
        targets: vec![cx.target],
        manifest: None,
        install: Spec::default_install(),
    }
}

fn empty() -> Seen {
    Seen { partition: "aws".into(), account: "123456789012".into(), ..Seen::default() }
}

fn tags(app: &str) -> HashMap<String, String> {
    HashMap::from([(TAG_APP.to_string(), app.to_string()), (TAG_CI.to_string(), "github:acme/rag".to_string())])
}

const PROVIDER: &str = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";

/// What exists after `plan_init`'s steps were carried out on `seen`.
fn after_init(spec: &Spec, mut seen: Seen) -> Seen {
    for step in plan_init(spec, &seen).unwrap().changes {
        match step {
            Step::CreateProvider { .. } => {
                seen.providers
                    .insert(PROVIDER.into(), OidcSeen { arn: PROVIDER.into(), client_ids: vec![AWS_AUDIENCE.into()], tags: tags("rag") });
            }
            Step::CreateRole { name, trust, .. } | Step::UpdateTrust { name, trust, .. } => {
                let r = seen.roles.entry(name.clone()).or_default();
                r.trust = trust;
                r.tags = tags("rag");
                r.arn = format!("arn:aws:iam::123456789012:role/{name}");
            }
            Step::CreatePolicy { name, document, role, .. } => {
                let arn = format!("arn:aws:iam::123456789012:policy/{name}");
                seen.policies.insert(name.clone(), PolicySeen { arn: arn.clone(), tags: tags("rag"), document, old_versions: vec![] });
                seen.roles.get_mut(&role).unwrap().attached.insert(name, arn);
            }
            _ => {}
        }
    }
    seen
}

#[test]
fn a_first_run_creates_everything_and_a_second_changes_nothing() {
    let s = spec();
    let planned = plan_init(&s, &empty()).unwrap();
    let rows: Vec<(Op, String, String)> = planned.display().actions.into_iter().map(|a| (a.op, a.resource, a.id)).collect();
    assert_eq!(
        rows,
        [
            (Op::Create, "oidc-provider".into(), "token.actions.githubusercontent.com".into()),
            (Op::Create, "iam-role".into(), "aideploy-ci-rag".into()),
            (Op::Create, "iam-policy".into(), "aideploy-ci-rag-lambda".into()),
            (Op::Create, "iam-role".into(), "aideploy-ci-rag-plan".into()),
            (Op::Create, "iam-policy".into(), "aideploy-ci-rag-plan-lambda".into()),
        ]
    );
    let done = after_init(&s, empty());
    let again = plan_init(&s, &done).unwrap();
    assert!(!again.has_changes(), "{:?}", again.changes);
    // The plan role's document holds the read statements only.
    let Step::CreatePolicy { document, .. } = &planned.changes[4] else { panic!() };
    assert!(document["Statement"].as_array().unwrap().iter().all(|s| s["Sid"].as_str().unwrap().starts_with("Read")));
}

#[test]
fn a_changed_branch_updates_the_trust_and_a_foreign_role_is_refused() {
    let s = spec();
    let done = after_init(&s, empty());
    let mut moved = s.clone();
    moved.branch = "release".into();
    let planned = plan_init(&moved, &done).unwrap();
    let Step::UpdateTrust { name, trust, .. } = &planned.changes[1] else { panic!("{:?}", planned.changes) };
    assert_eq!(name, "aideploy-ci-rag");
    assert_eq!(
        trust["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"][0],
        "repo:acme/rag:ref:refs/heads/release"
    );
    assert_eq!(planned.changes.iter().filter(|c| c.row().op != Op::Noop).count(), 1);

    let mut foreign = done.clone();
    foreign.roles.get_mut("aideploy-ci-rag").unwrap().tags = HashMap::new();
    let err = plan_init(&s, &foreign).unwrap_err();
    assert_eq!(crate::report::exit_code(&err), 2);
    assert!(err.to_string().contains("aideploy-ci-rag exists but is not aideploy's"), "{err}");
}

#[test]
fn a_changed_document_is_a_new_version_and_a_dropped_kind_is_deleted() {
    let s = spec();
    let mut seen = after_init(&s, empty());
    let p = seen.policies.get_mut("aideploy-ci-rag-lambda").unwrap();
    p.document = json!({"Version": "2012-10-17", "Statement": []});
    p.old_versions = vec!["v1".into(), "v2".into(), "v3".into(), "v4".into()];
    // An ec2 policy from an earlier run with --target ec2.
    let arn = "arn:aws:iam::123456789012:policy/aideploy-ci-rag-ec2".to_string();
    seen.policies.insert(
        "aideploy-ci-rag-ec2".into(),
        PolicySeen { arn: arn.clone(), tags: tags("rag"), document: json!({}), old_versions: vec![] },
    );
    seen.roles.get_mut("aideploy-ci-rag").unwrap().attached.insert("aideploy-ci-rag-ec2".into(), arn.clone());
    let changes = plan_init(&s, &seen).unwrap().changes;
    assert!(changes.contains(&Step::UpdatePolicy {
        name: "aideploy-ci-rag-lambda".into(),
        arn: "arn:aws:iam::123456789012:policy/aideploy-ci-rag-lambda".into(),
        document: policy::document("lambda").unwrap(),
        prune: Some("v1".into()),
    }));
    assert!(changes.contains(&Step::DeletePolicy {
        name: "aideploy-ci-rag-ec2".into(),
        arn,
        old_versions: vec![],
        roles: vec!["aideploy-ci-rag".into()]
    }));
}

#[test]
fn a_provider_not_made_for_this_app_is_reused_and_kept() {
    let s = spec();
    let mut seen = empty();
    seen.providers.insert(PROVIDER.into(), OidcSeen { arn: PROVIDER.into(), client_ids: vec!["other".into()], tags: HashMap::new() });
    let changes = plan_init(&s, &seen).unwrap().changes;
    assert_eq!(changes[0], Step::AddAudience { arn: PROVIDER.into() });
    assert!(matches!(&changes[1], Step::KeepProvider { why, .. } if why.contains("reused")));

    // Destroy: this app's roles and policies go; a provider made for it goes only when
    // no other role (another app's CI role, or any role at all) trusts it.
    let done = after_init(&s, empty());
    let rows = |seen: &Seen| plan_destroy("rag", seen).display().actions.into_iter().map(|a| (a.op, a.id)).collect::<Vec<_>>();
    let all = rows(&done);
    assert_eq!(all.iter().filter(|(op, _)| *op == Op::Delete).count(), 5, "{all:?}");
    let mut shared = done.clone();
    shared.other_roles.insert("aideploy-ci-other".into(), vec![PROVIDER.into()]);
    assert!(rows(&shared).contains(&(Op::Noop, "token.actions.githubusercontent.com".into())));
    let mut anyone = done.clone();
    anyone.other_roles.insert("deploy-bot".into(), vec![PROVIDER.into()]);
    let kept = rows(&anyone);
    assert!(kept.contains(&(Op::Noop, "token.actions.githubusercontent.com".into())), "{kept:?}");
    assert!(!kept.contains(&(Op::Delete, "token.actions.githubusercontent.com".into())), "{kept:?}");
    assert!(plan_destroy("other-app", &done).changes.is_empty());
}
