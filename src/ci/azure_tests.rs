//! Unit tests of the Azure plan (`azure.rs`).

use super::*;

fn spec(provider: CiProvider) -> Spec {
    Spec::for_tests(provider)
}

fn place() -> Place {
    Place { sub: "s1".into(), location: "westeurope".into() }
}

/// What exists after `ci init` with `spec` carried out.
fn done(spec: &Spec) -> Seen {
    let p = place();
    let mut identities = BTreeMap::new();
    for (n, w) in wanted(spec, &p).into_iter().enumerate() {
        let principal = format!("p{n}");
        let credentials = w
            .credentials
            .iter()
            .map(|(k, s)| (k.clone(), CredentialSeen { issuer: spec.issuer.clone(), subject: s.clone(), audiences: vec![AUDIENCE.into()] }))
            .collect();
        let assigned = w.roles.iter().map(|r| (p.assignment_path(&principal, &r.id), r.id.clone())).collect();
        identities.insert(
            w.name,
            IdentitySeen { tags: owner_tags(spec), principal_id: principal, client_id: format!("c{n}"), credentials, assigned },
        );
    }
    let mut group = owner_tags(spec);
    group.insert(TAG_CREATED.into(), "true".into());
    Seen { group: Some(group), group_others: 0, identities, plan_role: Some(role_as_made(&spec.app)), plan_role_elsewhere: vec![] }
}

/// The custom role as `plan_role_body` makes it, read back.
fn role_as_made(app: &str) -> RoleDefSeen {
    let body = plan_role_body(&place(), app);
    let p = &body["properties"];
    let mut actions: Vec<String> = p["permissions"][0]["actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().into()).collect();
    actions.sort();
    RoleDefSeen {
        name: p["roleName"].as_str().unwrap().into(),
        description: p["description"].as_str().unwrap().into(),
        kind: p["type"].as_str().unwrap().into(),
        actions,
        more: false,
        scopes: vec![p["assignableScopes"][0].as_str().unwrap().into()],
    }
}

#[test]
fn a_first_run_creates_everything_and_a_second_changes_nothing() {
    let s = spec(CiProvider::Github);
    let first = plan_init(&s, &place(), &Seen::default()).unwrap();
    let creates: Vec<String> = first.changes.iter().map(|st| st.row().id.clone()).collect();
    assert!(first.changes.iter().all(|st| st.row().op == Op::Create), "{creates:?}");
    assert!(first.changes.contains(&Step::PutCredential {
        identity: "aideploy-ci-rag".into(),
        name: "preview".into(),
        subject: "repo:acme/rag:environment:preview".into()
    }));
    assert!(first.changes.contains(&Step::PutCredential {
        identity: "aideploy-ci-rag-plan".into(),
        name: "pull-requests".into(),
        subject: "repo:acme/rag:pull_request".into()
    }));
    assert_eq!(first.changes.iter().filter(|st| matches!(st, Step::Assign { .. })).count(), 4);
    assert!(first.changes.contains(&Step::PutPlanRole { name: "aideploy-ci-rag-plan-read".into(), create: true }));
    let second = plan_init(&s, &place(), &done(&s)).unwrap();
    assert!(second.changes.iter().all(|st| st.row().op == Op::Noop), "{:?}", second.changes);
}

#[test]
fn a_changed_branch_or_provider_rewrites_the_trust() {
    let s = spec(CiProvider::Github);
    let mut other = s.clone();
    other.branch = "release".into();
    let p = plan_init(&other, &place(), &done(&s)).unwrap();
    let changed: Vec<&Step> = p.changes.iter().filter(|st| st.row().op != Op::Noop).collect();
    assert_eq!(
        changed,
        [&Step::PutCredential {
            identity: "aideploy-ci-rag".into(),
            name: "branch".into(),
            subject: "repo:acme/rag:ref:refs/heads/release".into()
        }]
    );
    // GitLab: no preview credential, and the plan identity trusts the branch only.
    let mut gl = spec(CiProvider::Gitlab);
    gl.repo = "acme/rag".into();
    let p = plan_init(&gl, &place(), &done(&s)).unwrap();
    assert!(p.changes.contains(&Step::DeleteCredential { identity: "aideploy-ci-rag".into(), name: "preview".into() }));
    assert!(p.changes.contains(&Step::DeleteCredential { identity: "aideploy-ci-rag-plan".into(), name: "pull-requests".into() }));
    assert!(p.changes.contains(&Step::PutCredential {
        identity: "aideploy-ci-rag-plan".into(),
        name: "branch".into(),
        subject: "project_path:acme/rag:ref_type:branch:ref:main".into()
    }));
}

#[test]
fn same_named_identities_that_are_not_ours_are_refused() {
    let s = spec(CiProvider::Github);
    let mut seen = done(&s);
    seen.identities.get_mut("aideploy-ci-rag").unwrap().tags.clear();
    let e = plan_init(&s, &place(), &seen).unwrap_err().to_string();
    assert!(e.contains("aideploy-ci-rag") && e.contains("not aideploy's"), "{e}");
}

#[test]
fn destroy_removes_ours_and_keeps_a_group_that_holds_more() {
    let s = spec(CiProvider::Github);
    let seen = done(&s);
    let p = plan_destroy("rag", &seen);
    assert_eq!(p.changes.iter().filter(|st| matches!(st, Step::DeleteIdentity { .. })).count(), 2);
    let deploy = p.changes.iter().find_map(|st| match st {
        Step::DeleteIdentity { name, assignments } if name == "aideploy-ci-rag" => Some(assignments.len()),
        _ => None,
    });
    assert_eq!(deploy, Some(2));
    assert!(p.changes.contains(&Step::DeleteGroup { name: "aideploy-ci-rag".into() }));
    let mut busy = seen.clone();
    busy.group_others = 1;
    assert!(!plan_destroy("rag", &busy).changes.iter().any(|st| matches!(st, Step::DeleteGroup { .. })));
    let mut theirs = seen;
    theirs.group = Some(BTreeMap::new());
    assert!(!plan_destroy("rag", &theirs).changes.iter().any(|st| matches!(st, Step::DeleteGroup { .. })));
    assert!(plan_destroy("other", &done(&s)).changes.is_empty());
}

#[test]
fn assignment_names_are_stable_guids() {
    let p = place();
    let a = p.assignment_path("p1", READER);
    assert_eq!(a, p.assignment_path("p1", READER));
    assert_ne!(a, p.assignment_path("p2", READER));
    let guid = a.rsplit('/').next().unwrap();
    assert_eq!(guid.len(), 36);
    assert!(a.starts_with("/subscriptions/s1/providers/Microsoft.Authorization/roleAssignments/"));
    let body = assignment_body(&p, "p1", &wanted(&spec(CiProvider::Github), &p)[0].roles[1]);
    assert_eq!(body["properties"]["conditionVersion"], "2.0");
    assert!(body["properties"]["condition"].as_str().unwrap().contains(ACR_PULL));
}

#[test]
fn the_plan_identity_gets_reader_and_a_custom_role_made_before_it_is_assigned() {
    let s = spec(CiProvider::Github);
    let p = place();
    let plan = &wanted(&s, &p)[1];
    let ids: Vec<&str> = plan.roles.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [READER, p.plan_role_id("rag").as_str()]);
    assert_eq!(plan.roles[1].name, "aideploy-ci-rag-plan-read");
    // A GUID, the same on every run, its own per app and per subscription.
    let id = p.plan_role_id("rag");
    assert_eq!(id.len(), 36);
    assert_eq!(id, place().plan_role_id("rag"));
    assert_ne!(id, p.plan_role_id("rag2"));
    assert_ne!(id, Place { sub: "s2".into(), ..place() }.plan_role_id("rag"));
    assert_eq!(p.plan_role_path("rag"), format!("/subscriptions/s1/providers/Microsoft.Authorization/roleDefinitions/{id}"));
    let body = plan_role_body(&p, "rag");
    assert_eq!(body["properties"]["type"], "CustomRole");
    assert_eq!(body["properties"]["assignableScopes"], json!(["/subscriptions/s1"]));
    assert!(body["properties"]["permissions"][0]["actions"].as_array().unwrap().contains(&json!("Microsoft.Web/sites/config/list/action")));
    assert!(role_as_made("rag").ours("rag") && !role_as_made("rag").ours("rag2"));
    // Made before the plan identity's assignment of it.
    let first = plan_init(&s, &p, &Seen::default()).unwrap();
    let at = |want: &dyn Fn(&Step) -> bool| first.changes.iter().position(want).unwrap();
    let made = at(&|st| matches!(st, Step::PutPlanRole { .. }));
    let assigned = at(&|st| matches!(st, Step::Assign { role, .. } if role.id == id));
    assert!(made < assigned);
}

#[test]
fn a_custom_role_with_other_permissions_is_rewritten_in_place() {
    let s = spec(CiProvider::Github);
    let mut seen = done(&s);
    seen.plan_role.as_mut().unwrap().actions.retain(|a| a != "Microsoft.Web/sites/slots/config/list/action");
    let p = plan_init(&s, &place(), &seen).unwrap();
    let changed: Vec<&Step> = p.changes.iter().filter(|st| st.row().op != Op::Noop).collect();
    assert_eq!(changed, [&Step::PutPlanRole { name: "aideploy-ci-rag-plan-read".into(), create: false }]);
    assert_eq!(changed[0].row().op, Op::Update);
    for edit in [
        (|r: &mut RoleDefSeen| r.more = true) as fn(&mut RoleDefSeen),
        |r| r.scopes = vec!["/subscriptions/s1/resourceGroups/g".into()],
        |r| r.description.push_str(" (edited)"),
    ] {
        let mut seen = done(&s);
        edit(seen.plan_role.as_mut().unwrap());
        let p = plan_init(&s, &place(), &seen).unwrap();
        assert!(p.changes.contains(&Step::PutPlanRole { name: "aideploy-ci-rag-plan-read".into(), create: false }));
    }
}

/// An error's message and its hint.
fn with_hint(e: anyhow::Error) -> String {
    let hint = crate::error::Failure::of(&e).and_then(|f| f.hint()).unwrap_or_default();
    format!("{e} (hint: {hint})")
}

#[test]
fn a_custom_role_of_that_name_that_is_not_ours_is_refused_and_kept() {
    let s = spec(CiProvider::Github);
    // At our id, but someone else's description.
    let mut seen = done(&s);
    seen.plan_role.as_mut().unwrap().description = "the platform team's".into();
    let text = with_hint(plan_init(&s, &place(), &seen).unwrap_err());
    assert!(text.contains("aideploy-ci-rag-plan-read") && text.contains("not aideploy's"), "{text}");
    assert!(text.contains("az role definition delete"), "the fix is named: {text}");
    assert!(!plan_destroy("rag", &seen).changes.iter().any(|st| matches!(st, Step::DeletePlanRole { .. })));
    // The same name under another id: ARM would refuse a second one.
    let mut seen = done(&s);
    seen.plan_role = None;
    seen.plan_role_elsewhere = vec!["0000-other".into()];
    let text = with_hint(plan_init(&s, &place(), &seen).unwrap_err());
    assert!(text.contains("0000-other") && text.contains("rename the app"), "{text}");
}

#[test]
fn destroy_deletes_the_custom_role_after_the_assignments() {
    let s = spec(CiProvider::Github);
    let p = plan_destroy("rag", &done(&s));
    let role = p.changes.iter().position(|st| matches!(st, Step::DeletePlanRole { .. })).expect("the role goes");
    let last_identity = p.changes.iter().rposition(|st| matches!(st, Step::DeleteIdentity { .. })).unwrap();
    assert!(last_identity < role);
    let plan_assignments = p.changes.iter().find_map(|st| match st {
        Step::DeleteIdentity { name, assignments } if name == "aideploy-ci-rag-plan" => Some(assignments.clone()),
        _ => None,
    });
    assert_eq!(plan_assignments.map(|a| a.len()), Some(2), "Reader and the custom role");
    let mut gone = done(&s);
    gone.plan_role = None;
    assert!(!plan_destroy("rag", &gone).changes.iter().any(|st| matches!(st, Step::DeletePlanRole { .. })));
}
