//! The pure plans of the Google Cloud side of `ci init` and `ci destroy`.

use super::*;
use crate::ci::{CiProvider, Spec};

fn spec(provider: CiProvider) -> Spec {
    Spec::for_tests(provider)
}

fn empty() -> Seen {
    Seen { project: "proj-1".into(), number: "123456".into(), ..Seen::default() }
}

/// What exists after `plan_init`'s steps were carried out on `seen`.
fn after_init(spec: &Spec, mut seen: Seen) -> Seen {
    for step in plan_init(spec, &seen).unwrap().changes {
        match step {
            Step::CreatePool { body, .. } => {
                seen.pool = Some(PoolSeen { description: body["description"].as_str().unwrap().into(), state: "ACTIVE".into() })
            }
            Step::UndeletePool { .. } => seen.pool.as_mut().unwrap().state = "ACTIVE".into(),
            Step::CreateProvider { body, .. } | Step::UpdateProvider { body, .. } => {
                seen.provider = Some(ProviderSeen { state: "ACTIVE".into(), body })
            }
            Step::UndeleteProvider { .. } => seen.provider.as_mut().unwrap().state = "ACTIVE".into(),
            Step::CreateAccount { id, description, .. } => {
                let email = email(&id, &seen.project);
                seen.accounts.insert(id, AccountSeen { email, description, trusted: vec![] });
            }
            Step::SetTrust { email, members } => {
                seen.accounts.values_mut().find(|a| a.email == email).unwrap().trusted = members;
            }
            Step::Grant { role, member } => seen.bindings.entry(role).or_default().push(member),
            Step::Revoke { role, member } => seen.bindings.get_mut(&role).unwrap().retain(|m| m != &member),
            Step::PoolOk { .. } | Step::ProviderOk { .. } | Step::AccountOk { .. } => {}
            other => panic!("init planned {other:?}"),
        }
    }
    seen
}

#[test]
fn roles_come_from_the_permissions_document() {
    let deploy = deploy_roles();
    assert_eq!(
        deploy,
        [
            "roles/run.admin",
            "roles/secretmanager.admin",
            "roles/artifactregistry.writer",
            "roles/iam.serviceAccountAdmin",
            "roles/iam.serviceAccountUser",
            "roles/logging.viewer",
            "roles/monitoring.viewer"
        ]
    );
    assert!(!deploy.iter().any(|r| r.starts_with("roles/billing.")), "billing roles are on the billing account, not the project");
    let plan = plan_roles();
    assert_eq!(
        plan,
        [
            "roles/run.viewer",
            "roles/secretmanager.viewer",
            "roles/secretmanager.secretAccessor",
            "roles/artifactregistry.reader",
            "roles/iam.serviceAccountViewer"
        ]
    );
    // The parser reads what a document says, not a fixed list.
    let md = "## cloudrun\n\nAs predefined roles on the project:\n\n- `roles/a.b` (x `roles/c.d`)\n- With y: `roles/e.f`\n\n\
              A plan-only identity: `roles/g.h` and\n`roles/i.j`.\n\n## appservice\n\nA plan-only identity: `roles/k.l`\n";
    assert_eq!(deploy_roles_in(md), ["roles/a.b"]);
    assert_eq!(plan_roles_in(md), ["roles/g.h", "roles/i.j"]);
    assert!(deploy_roles_in("## ec2\n").is_empty());
}

#[test]
fn ids_fit_google_clouds_limits() {
    assert_eq!(pool_id("rag"), "aideploy-ci-rag");
    assert_eq!(deploy_account("rag"), "aideploy-ci-rag");
    assert_eq!(plan_account("rag"), "aideploy-ci-rag-plan");
    let long = "a-very-long-application-name-x";
    for (id, max) in [(pool_id(long), 32), (deploy_account(long), 30), (plan_account(long), 30)] {
        assert!(id.len() >= 6 && id.len() <= max, "{id}");
        assert!(id.starts_with("aideploy-ci-") && !id.ends_with('-'), "{id}");
        assert!(id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{id}");
    }
    assert_ne!(deploy_account(long), plan_account(long));
    assert_ne!(deploy_account(long), deploy_account("a-very-long-application-name-y"));
}

#[test]
fn the_provider_admits_this_repository_only() {
    let g = provider_body(&spec(CiProvider::Github));
    assert_eq!(g["oidc"]["issuerUri"], "https://token.actions.githubusercontent.com");
    assert_eq!(g["attributeMapping"], json!({"google.subject": "assertion.sub", "attribute.repository": "assertion.repository"}));
    assert_eq!(g["attributeCondition"], "assertion.repository == 'acme/rag'");
    let l = provider_body(&spec(CiProvider::Gitlab));
    assert_eq!(l["oidc"]["issuerUri"], "https://gitlab.com");
    assert_eq!(l["attributeMapping"]["attribute.repository"], "assertion.project_path");
    assert_eq!(l["attributeCondition"], "assertion.project_path == 'acme/rag'");
}

#[test]
fn deploy_trusts_the_branch_and_plan_trusts_pull_requests() {
    let s = spec(CiProvider::Github);
    let w = wanted(&s, "proj-1", "123456");
    let base = "principal://iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/aideploy-ci-rag/subject/";
    assert_eq!(w[0].email, "aideploy-ci-rag@proj-1.iam.gserviceaccount.com");
    assert_eq!(w[0].trusted, [format!("{base}repo:acme/rag:ref:refs/heads/main"), format!("{base}repo:acme/rag:environment:preview")]);
    assert_eq!(w[1].trusted, [format!("{base}repo:acme/rag:pull_request")]);
    assert!(w[1].roles.iter().all(|r| !r.ends_with(".admin") && !r.ends_with(".writer")), "{:?}", w[1].roles);
    // GitLab names no merge request in the subject: its plan identity reads for the
    // whole repository, and its deploy identity still only for the branch.
    let l = wanted(&spec(CiProvider::Gitlab), "proj-1", "123456");
    assert_eq!(l[0].trusted, [format!("{base}project_path:acme/rag:ref_type:branch:ref:main")]);
    assert_eq!(
        l[1].trusted,
        ["principalSet://iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/aideploy-ci-rag/attribute.repository/acme/rag"]
    );
    assert_eq!(
        provider_name("123456", "aideploy-ci-rag", CiProvider::Github),
        "projects/123456/locations/global/workloadIdentityPools/aideploy-ci-rag/providers/github"
    );
}

#[test]
fn init_creates_everything_then_plans_no_change() {
    let s = spec(CiProvider::Github);
    let plan = plan_init(&s, &empty()).unwrap();
    assert!(plan.has_changes());
    let seen = after_init(&s, empty());
    let deploy = "serviceAccount:aideploy-ci-rag@proj-1.iam.gserviceaccount.com";
    assert!(seen.bindings["roles/run.admin"].contains(&deploy.to_string()));
    assert!(!seen.bindings.get("roles/run.viewer").unwrap().contains(&deploy.to_string()));
    assert_eq!(seen.accounts.len(), 2);
    let again = plan_init(&s, &seen).unwrap();
    assert!(!again.has_changes(), "{:?}", again.changes);
}

#[test]
fn a_changed_repository_or_document_is_updated() {
    let s = spec(CiProvider::Github);
    let mut seen = after_init(&s, empty());
    // A role the document no longer lists goes; a missing one comes back.
    let deploy = "serviceAccount:aideploy-ci-rag@proj-1.iam.gserviceaccount.com".to_string();
    seen.bindings.entry("roles/owner".into()).or_default().push(deploy.clone());
    seen.bindings.get_mut("roles/run.admin").unwrap().retain(|m| m != &deploy);
    let moved = Spec { repo: "acme/rag2".into(), ..s.clone() };
    let plan = plan_init(&moved, &seen).unwrap();
    assert!(plan.changes.contains(&Step::Revoke { role: "roles/owner".into(), member: deploy.clone() }));
    assert!(plan.changes.contains(&Step::Grant { role: "roles/run.admin".into(), member: deploy.clone() }));
    assert!(plan
        .changes
        .iter()
        .any(|c| matches!(c, Step::UpdateProvider { mask, .. } if mask.contains(&"attributeCondition".to_string()))));
    assert!(plan
        .changes
        .iter()
        .any(|c| matches!(c, Step::SetTrust { members, .. } if members[0].ends_with("repo:acme/rag2:ref:refs/heads/main"))));
    let seen = after_init(&moved, seen);
    assert!(!seen.bindings["roles/owner"].contains(&deploy));
    assert!(!plan_init(&moved, &seen).unwrap().has_changes());
}

#[test]
fn what_is_not_this_apps_is_refused() {
    let s = spec(CiProvider::Github);
    let mut seen = empty();
    seen.pool = Some(PoolSeen { description: "made by hand".into(), state: "ACTIVE".into() });
    let e = plan_init(&s, &seen).unwrap_err().to_string();
    assert!(e.contains("aideploy-ci-rag") && e.contains("not aideploy's"), "{e}");
    let mut seen = empty();
    seen.accounts.insert(
        "aideploy-ci-rag".into(),
        AccountSeen { email: email("aideploy-ci-rag", "proj-1"), description: "aideploy:app=rag2".into(), trusted: vec![] },
    );
    assert!(plan_init(&s, &seen).is_err());
    assert!(plan_destroy("rag", &seen).changes.is_empty(), "another app's account is kept");
}

#[test]
fn destroy_removes_only_this_apps_and_init_restores_a_deleted_pool() {
    let s = spec(CiProvider::Github);
    let mut seen = after_init(&s, empty());
    let other = "serviceAccount:someone@proj-1.iam.gserviceaccount.com".to_string();
    seen.bindings.entry("roles/run.admin".into()).or_default().push(other.clone());
    let plan = plan_destroy("rag", &seen);
    let revoked: Vec<&Step> = plan.changes.iter().filter(|c| matches!(c, Step::Revoke { .. })).collect();
    assert_eq!(revoked.len(), deploy_roles().len() + plan_roles().len());
    assert!(!plan.changes.iter().any(|c| matches!(c, Step::Revoke { member, .. } if member == &other)));
    assert_eq!(plan.changes.iter().filter(|c| matches!(c, Step::DeleteAccount { .. })).count(), 2);
    let last = plan.changes.last().unwrap();
    assert_eq!(last, &Step::DeletePool { id: "aideploy-ci-rag".into() });
    assert!(last.leaves().unwrap().contains("30 days"));
    assert!(plan_destroy("other", &seen).changes.is_empty());
    // After the destroy: the pool and its provider soft-deleted, the accounts gone.
    let mut gone = empty();
    gone.pool = Some(PoolSeen { state: "DELETED".into(), ..seen.pool.clone().unwrap() });
    gone.provider = Some(ProviderSeen { state: "DELETED".into(), ..seen.provider.clone().unwrap() });
    assert!(plan_destroy("rag", &gone).changes.is_empty());
    let plan = plan_init(&s, &gone).unwrap();
    assert_eq!(plan.changes[0], Step::UndeletePool { id: "aideploy-ci-rag".into() });
    assert!(plan.changes.contains(&Step::UndeleteProvider { pool: "aideploy-ci-rag".into(), id: "github".into() }));
    let back = after_init(&s, gone);
    assert!(!plan_init(&s, &back).unwrap().has_changes());
}

#[test]
fn logins_name_the_provider_and_accounts_in_plain_values() {
    let login = Login::of(&spec(CiProvider::Github), "proj-1", "123456");
    let provider = "projects/123456/locations/global/workloadIdentityPools/aideploy-ci-rag/providers/github";
    assert_eq!(login.provider, provider);
    let deploy = login.github_step(false);
    assert!(deploy.contains("uses: google-github-actions/auth@v2\n"), "{deploy}");
    assert!(deploy.contains(&format!("workload_identity_provider: {provider}\n")), "{deploy}");
    assert!(deploy.contains("service_account: aideploy-ci-rag@proj-1.iam.gserviceaccount.com\n"), "{deploy}");
    assert!(login.github_step(true).contains("service_account: aideploy-ci-rag-plan@proj-1.iam.gserviceaccount.com\n"));
    assert!(!deploy.contains("secrets."));
    let l = Login::of(&spec(CiProvider::Gitlab), "proj-1", "123456");
    let tokens = l.gitlab_tokens();
    assert!(tokens.contains(&format!("aud: https://iam.googleapis.com/{}\n", l.provider)), "{tokens}");
    assert!(l.gitlab_variables().contains("GOOGLE_APPLICATION_CREDENTIALS: $CI_PROJECT_DIR/.gcp-credentials.json"));
    // The credential configuration the script writes is JSON once the shell fills it in.
    let script = l.gitlab_script();
    let line = script.lines().nth(1).unwrap();
    let format = line.split('\'').nth(1).unwrap();
    let filled = format.replacen("%s", "/builds/t", 1).replacen("%s", &l.plan, 1);
    let config: Value = serde_json::from_str(&filled).unwrap_or_else(|e| panic!("{e}: {filled}"));
    assert_eq!(config["type"], "external_account");
    assert_eq!(config["audience"], format!("//iam.googleapis.com/{}", l.provider));
    assert_eq!(config["credential_source"]["file"], "/builds/t");
    assert!(config["service_account_impersonation_url"]
        .as_str()
        .unwrap()
        .ends_with("aideploy-ci-rag-plan@proj-1.iam.gserviceaccount.com:generateAccessToken"));
    assert_eq!(l.gitlab_variable(false), "    AIDEPLOY_GCP_SERVICE_ACCOUNT: aideploy-ci-rag@proj-1.iam.gserviceaccount.com\n");
}
