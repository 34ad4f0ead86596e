//! `aideploy ci init` and `aideploy ci destroy`: see src/ci/.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use super::load_manifest;
use crate::ci::workflow::{self, AwsLogin, Existing, Logins};
use crate::ci::{self, aws, aws_calls, CiProvider, Spec};
use crate::cli::{CiArgs, CiCommand, CiDestroyArgs, CiInitArgs, GlobalArgs};
use crate::engine::{Action, Op, Plan};
use crate::error::Hinted;
use crate::manifest::{Kind, Target};
use crate::ui::Ui;

pub async fn run(args: &CiArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    match &args.command {
        CiCommand::Init(a) => init(a, g, ui).await,
        CiCommand::Destroy(a) => destroy(a, g, ui).await,
    }
}

/// The manifest's folder, absolute, and the root of the repository holding it.
fn places(loaded: &crate::manifest::Loaded) -> (PathBuf, PathBuf, PathBuf) {
    let dir = if loaded.dir.as_os_str().is_empty() { PathBuf::from(".") } else { loaded.dir.clone() };
    let dir = fs_err::canonicalize(&dir).unwrap_or(dir);
    let root = ci::repo_root(&dir).and_then(|r| fs_err::canonicalize(r).ok()).unwrap_or_else(|| dir.clone());
    let file = dir.join(loaded.path.file_name().unwrap_or_default());
    (dir, root, file)
}

/// The region of the first AWS target that names one (IAM is global; the SDK needs one).
fn aws_region(targets: &[&Target]) -> Option<String> {
    targets.iter().find_map(|t| t.values.region.as_ref().map(|r| r.to_string()))
}

fn aws_policy_names(app: &str, kinds: &[&str]) -> Vec<String> {
    kinds.iter().flat_map(|k| [format!("{}-{k}", ci::deploy_identity(app)), format!("{}-{k}", ci::plan_identity(app))]).collect()
}

fn confirm(ui: &Ui, plan: &Plan, question: &str) -> Result<()> {
    if plan.has_changes() && !ui.confirm(question)? {
        anyhow::bail!(Hinted::new("cancelled: nothing was changed", "run again and answer yes, or pass --yes"));
    }
    Ok(())
}

async fn init(args: &CiInitArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let loaded = load_manifest(g)?;
    let mut targets: Vec<Target> = Vec::new();
    for name in &args.targets {
        let t = loaded.manifest.target(Some(name), &[])?;
        if !targets.iter().any(|x| x.name == t.name) {
            targets.push(t);
        }
    }
    ci::check_supported(&targets)?;
    let provider = args.provider;
    let issuer = ci::parse_issuer(args.issuer.as_deref(), provider)?;
    let branch = ci::parse_branch(&args.branch)?;
    let install = ci::parse_install(args.install.as_deref())?;
    let (dir, root, file) = places(&loaded);
    let repo = ci::resolve_repo(args.repo.as_deref(), &dir, provider)?;
    let manifest = match file.strip_prefix(&root) {
        Ok(rel) if rel == Path::new(crate::manifest::FILE_NAME) => None,
        Ok(rel) => Some(rel.to_string_lossy().replace('\\', "/")),
        Err(_) => None,
    };
    let app = loaded.manifest.app().name.as_str().to_string();
    let spec = Spec { provider, repo, branch, issuer, app: app.clone(), targets, manifest, install };
    let shown = provider.workflow_path();
    let wf_path = root.join(shown);
    let found = workflow::check_overwrite(&wf_path, shown, args.force)?;

    let aws_targets = spec.aws_targets();
    let region = aws_region(&aws_targets);
    let clients = aws::Clients::load(region.as_deref()).await?;
    let mut kinds: Vec<&str> = aws_targets.iter().map(|t| t.kind.as_str()).collect();
    kinds.sort();
    kinds.dedup();
    let deploy = crate::cloud::aws::role_name(&ci::deploy_identity(&app));
    let plan_role = crate::cloud::aws::role_name(&ci::plan_identity(&app));
    let host = spec.issuer_host().to_string();
    let keep = move |arn: &str, _: &aws::OidcSeen| arn.ends_with(&format!(":oidc-provider/{host}"));
    let seen =
        aws_calls::observe(&clients.iam, &clients.sts, &keep, &[deploy.clone(), plan_role.clone()], &aws_policy_names(&app, &kinds), false)
            .await?;
    let planned = aws::plan_init(&spec, &seen)?;
    let logins = Logins {
        aws: Some(AwsLogin { deploy_role: seen.role_arn(&deploy), plan_role: seen.role_arn(&plan_role), region: clients.region.clone() }),
    };
    let text = workflow::render(&spec, &logins);
    let wf_op = match &found {
        Existing::None => Op::Create,
        Existing::Ours(t) if *t == text => Op::Noop,
        _ => Op::Update,
    };
    let mut plan = planned.display();
    plan.actions.push(Action::new(wf_op, "workflow", shown));
    ui.info(&plan.render());
    confirm(ui, &plan, "Apply these changes?")?;
    aws_calls::apply(&clients, &planned, &ui.reporter()).await?;
    if wf_op != Op::Noop {
        if let Some(parent) = wf_path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        fs_err::write(&wf_path, &text)?;
    }

    let aws = logins.aws.as_ref().expect("an AWS login");
    let mut next = vec![format!("commit {shown} and push it")];
    match provider {
        CiProvider::Github => next.push(format!(
            "create the `{}` environment with required reviewers (Settings > Environments): previews deploy from it",
            ci::PREVIEW_ENVIRONMENT
        )),
        CiProvider::Gitlab => next.push(format!("add a pipeline schedule on {} (CI/CD > Schedules) for `gc`", spec.branch)),
    }
    if ui.json {
        ui.result_json(&json!({
            "provider": provider,
            "repo": spec.repo,
            "branch": spec.branch,
            "workflow": shown,
            "changed": plan.has_changes(),
            "actions": plan.actions,
            "identities": {"aws": {"deploy_role": aws.deploy_role, "plan_role": aws.plan_role, "region": aws.region,
                "oidc_provider": format!("arn:{}:iam::{}:oidc-provider/{}", seen.partition, seen.account, spec.issuer_host())}},
            "next": next,
        }));
    } else {
        let mut lines = vec![
            if plan.has_changes() {
                format!("CI set up for {} ({}): {shown}", spec.repo, provider.as_str())
            } else {
                "No changes: CI is set up as asked.".into()
            },
            format!("  deploy role  {}  ({})", aws.deploy_role, spec.deploy_subjects().join(", ")),
            format!("  plan role    {}  ({}, read only)", aws.plan_role, spec.plan_subject().0),
        ];
        lines.extend(next.iter().enumerate().map(|(i, n)| format!("Next ({}): {n}", i + 1)));
        ui.result(&lines.join("\n"));
    }
    Ok(0)
}

async fn destroy(_args: &CiDestroyArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let loaded = load_manifest(g)?;
    let app = loaded.manifest.app().name.as_str().to_string();
    let (_, root, _) = places(&loaded);
    let all: Vec<Target> = loaded.manifest.target_names().iter().filter_map(|n| loaded.manifest.target(Some(n), &[]).ok()).collect();
    let aws_targets: Vec<&Target> = all.iter().filter(|t| ci::provider_of(t) == crate::engine::Provider::Aws).collect();
    let mut plan = Plan::default();
    let mut aws_side = None;
    if !aws_targets.is_empty() {
        let clients = aws::Clients::load(aws_region(&aws_targets).as_deref()).await?;
        let kinds = [Kind::Lambda, Kind::Ec2, Kind::Sagemaker].map(Kind::as_str);
        let roles = [crate::cloud::aws::role_name(&ci::deploy_identity(&app)), crate::cloud::aws::role_name(&ci::plan_identity(&app))];
        let mine = app.clone();
        let keep = move |_: &str, p: &aws::OidcSeen| p.tags.get(crate::cloud::aws::TAG_APP) == Some(&mine);
        let seen = aws_calls::observe(&clients.iam, &clients.sts, &keep, &roles, &aws_policy_names(&app, &kinds), true).await?;
        let planned = aws::plan_destroy(&app, &seen);
        plan.actions.extend(planned.display().actions);
        aws_side = Some((clients, planned));
    }
    let mut files = Vec::new();
    for p in CiProvider::ALL {
        let path = root.join(p.workflow_path());
        if matches!(workflow::existing(&path)?, Existing::Ours(_)) {
            plan.actions.push(Action::new(Op::Delete, "workflow", p.workflow_path()));
            files.push(path);
        }
    }
    if !plan.has_changes() {
        if ui.json {
            ui.result_json(&json!({"app": app, "changed": false, "actions": plan.actions}));
        } else {
            ui.result(&format!("Nothing to destroy: `ci init` set up nothing for {app} that is still there"));
        }
        return Ok(0);
    }
    ui.info(&plan.render());
    confirm(ui, &plan, "Destroy these resources?")?;
    if let Some((clients, planned)) = &aws_side {
        aws_calls::apply(clients, planned, &ui.reporter()).await?;
    }
    for f in &files {
        fs_err::remove_file(f)?;
    }
    if ui.json {
        ui.result_json(&json!({"app": app, "changed": true, "actions": plan.actions}));
    } else {
        let kept: Vec<String> = plan
            .actions
            .iter()
            .filter(|a| a.op == Op::Noop)
            .map(|a| format!("Kept: {} {} ({})", a.resource, a.id, a.reason.clone().unwrap_or_default()))
            .collect();
        let mut lines = vec![format!("Destroyed what `ci init` set up for {app}")];
        lines.extend(kept);
        ui.result(&lines.join("\n"));
    }
    Ok(0)
}
