//! `aideploy ci init` and `aideploy ci destroy`: see src/ci/.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use super::load_manifest;
use crate::backends::appservice::arm::Arm;
use crate::ci::workflow::{self, AwsLogin, AzureLogin, Existing, Logins};
use crate::ci::{self, aws, aws_calls, azure, azure_calls, gcp, gcp_calls, CiProvider, Spec};
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
    let mut planned_aws = None;
    let mut aws_seen = None;
    let mut logins = Logins::default();
    if !aws_targets.is_empty() {
        let region = aws_region(&aws_targets);
        let clients = aws::Clients::load(region.as_deref()).await?;
        let mut kinds: Vec<&str> = aws_targets.iter().map(|t| t.kind.as_str()).collect();
        kinds.sort();
        kinds.dedup();
        let deploy = crate::cloud::aws::role_name(&ci::deploy_identity(&app));
        let plan_role = crate::cloud::aws::role_name(&ci::plan_identity(&app));
        let host = spec.issuer_host().to_string();
        let keep = move |arn: &str, _: &aws::OidcSeen| arn.ends_with(&format!(":oidc-provider/{host}"));
        let seen = aws_calls::observe(
            &clients.iam,
            &clients.sts,
            &keep,
            &[deploy.clone(), plan_role.clone()],
            &aws_policy_names(&app, &kinds),
            false,
        )
        .await?;
        planned_aws = Some((aws::plan_init(&spec, &seen)?, clients.region.clone(), clients));
        logins.aws = Some(AwsLogin {
            deploy_role: seen.role_arn(&deploy),
            plan_role: seen.role_arn(&plan_role),
            region: planned_aws.as_ref().map(|p| p.1.clone()).unwrap_or_default(),
        });
        aws_seen = Some(seen);
    }
    // Azure: the identities' client ids are known once they exist (a first run learns
    // them when it creates them, and writes the workflow after).
    let mut azure_side = None;
    if let Some(t) = spec.targets.iter().find(|t| ci::provider_of(t) == crate::engine::Provider::Azure) {
        let (arm, place, tenant) = azure_place(t, true).await?;
        let seen = azure_calls::observe(&arm, &place, &app).await?;
        let planned = azure::plan_init(&spec, &place, &seen)?;
        let client = |n: String| seen.identities.get(&n).map(|i| i.client_id.clone()).unwrap_or_else(|| "(created)".into());
        logins.azure = Some(AzureLogin {
            deploy_client_id: client(ci::deploy_identity(&app)),
            plan_client_id: client(ci::plan_identity(&app)),
            tenant_id: tenant,
            subscription_id: place.sub.clone(),
        });
        azure_side = Some((arm, place, planned));
    }
    let mut gcp_side = None;
    let gcp_targets: Vec<&Target> = spec.targets.iter().filter(|t| ci::provider_of(t) == crate::engine::Provider::Gcp).collect();
    if !gcp_targets.is_empty() {
        let project = gcp_project(&gcp_targets)?;
        let client = gcp_calls::Client::new().await?;
        let seen = gcp_calls::observe(&client, &project, &app, Some(provider)).await?;
        let planned = gcp::plan_init(&spec, &seen)?;
        let repos = gcp_repositories(&loaded, &gcp_targets).await?;
        logins.gcp = Some(gcp::Login::of(&spec, &project, &seen.number));
        gcp_side = Some((client, seen, planned, repos));
    }
    let text = workflow::render(&spec, &logins);
    let wf_op = match &found {
        Existing::None => Op::Create,
        Existing::Ours(t) if *t == text => Op::Noop,
        _ => Op::Update,
    };
    let mut plan = Plan::default();
    if let Some((planned, _, _)) = &planned_aws {
        plan.actions.extend(planned.display().actions);
    }
    if let Some((_, _, planned)) = &azure_side {
        plan.actions.extend(planned.display().actions);
    }
    if let Some((_, _, planned, repos)) = &gcp_side {
        plan.actions.extend(planned.display().actions);
        plan.actions.extend(repos.iter().map(|r| r.row()));
    }
    plan.actions.push(Action::new(wf_op, "workflow", shown));
    ui.info(&plan.render());
    confirm(ui, &plan, "Apply these changes?")?;
    if let Some((planned, _, clients)) = &planned_aws {
        aws_calls::apply(clients, planned, &ui.reporter()).await?;
    }
    if let Some((client, seen, planned, repos)) = &gcp_side {
        gcp_calls::apply(client, seen, planned, &ui.reporter()).await?;
        create_repositories(repos, ui).await?;
    }
    let mut text = text;
    if let Some((arm, place, planned)) = &azure_side {
        let clients = azure_calls::apply(arm, place, &app, &spec.issuer, planned, &ui.reporter()).await?;
        if let Some(az) = logins.azure.as_mut() {
            az.deploy_client_id = clients.get(&ci::deploy_identity(&app)).cloned().unwrap_or_default();
            az.plan_client_id = clients.get(&ci::plan_identity(&app)).cloned().unwrap_or_default();
        }
        text = workflow::render(&spec, &logins);
    }
    if wf_op != Op::Noop {
        if let Some(parent) = wf_path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        fs_err::write(&wf_path, &text)?;
    }

    let mut next = vec![format!("commit {shown} and push it")];
    match provider {
        CiProvider::Github => next.push(format!(
            "create the `{}` environment with required reviewers (Settings > Environments): previews deploy from it",
            ci::PREVIEW_ENVIRONMENT
        )),
        CiProvider::Gitlab => next.push(format!("add a pipeline schedule on {} (CI/CD > Schedules) for `gc`", spec.branch)),
    }
    if ui.json {
        let mut identities = serde_json::Map::new();
        if let (Some(aws), Some(seen)) = (logins.aws.as_ref(), aws_seen.as_ref()) {
            identities.insert(
                "aws".into(),
                json!({"deploy_role": aws.deploy_role, "plan_role": aws.plan_role, "region": aws.region,
                "oidc_provider": format!("arn:{}:iam::{}:oidc-provider/{}", seen.partition, seen.account, spec.issuer_host())}),
            );
        }
        if let Some(g) = &logins.gcp {
            identities.insert(
                "gcp".into(),
                json!({"workload_identity_provider": g.provider, "deploy_service_account": g.deploy,
                "plan_service_account": g.plan, "project": g.project}),
            );
        }
        if let Some(az) = &logins.azure {
            identities.insert(
                "azure".into(),
                json!({"deploy_client_id": az.deploy_client_id, "plan_client_id": az.plan_client_id, "tenant_id": az.tenant_id,
                "subscription_id": az.subscription_id, "resource_group": azure::group_name(&app)}),
            );
        }
        ui.result_json(&json!({
            "provider": provider,
            "repo": spec.repo,
            "branch": spec.branch,
            "workflow": shown,
            "changed": plan.has_changes(),
            "actions": plan.actions,
            "identities": identities,
            "next": next,
        }));
    } else {
        let mut lines = vec![if plan.has_changes() {
            format!("CI set up for {} ({}): {shown}", spec.repo, provider.as_str())
        } else {
            "No changes: CI is set up as asked.".into()
        }];
        if let Some(aws) = &logins.aws {
            lines.push(format!("  deploy role  {}  ({})", aws.deploy_role, spec.deploy_subjects().join(", ")));
            lines.push(format!("  plan role    {}  ({}, read only)", aws.plan_role, spec.plan_subject().0));
        }
        if let Some(az) = &logins.azure {
            lines.push(format!("  deploy identity  {} (client id {})", ci::deploy_identity(&app), az.deploy_client_id));
            lines.push(format!("  plan identity    {} (client id {}, read only)", ci::plan_identity(&app), az.plan_client_id));
        }
        if let Some(g) = &logins.gcp {
            lines.push(format!("  deploy service account  {}", g.deploy));
            lines.push(format!("  plan service account    {}  (read only)", g.plan));
            lines.push(format!("  workload identity provider  {}", g.provider));
        }
        lines.extend(next.iter().enumerate().map(|(i, n)| format!("Next ({}): {n}", i + 1)));
        ui.result(&lines.join("\n"));
    }
    Ok(0)
}

/// The ARM client, where the CI identities go (the target's subscription and region)
/// and the subscription's tenant.
/// (`ci destroy` needs no region: it only deletes.)
async fn azure_place(t: &Target, need_region: bool) -> Result<(Arm, azure::Place, String)> {
    let sub = crate::cloud::azure::subscription(t.settings.subscription.as_ref().map(|s| s.get().as_str()), &t.name)?;
    let region = t.values.region.as_ref().map(|r| r.to_string()).or_else(|| (!need_region).then(String::new));
    let Some(location) = region else {
        return Err(crate::error::UsageError::new(format!("target `{}` names no region: `ci init` needs one for its identities", t.name))
            .hint(format!("set region = \"westeurope\" (or another Azure region) in [targets.{}]", t.name))
            .into());
    };
    let arm = Arm::from_env(crate::engine::wait::PollPolicy::from_env())?;
    let tenant = arm
        .get(&format!("/subscriptions/{sub}"), crate::backends::appservice::arm::API_SUBSCRIPTIONS)
        .await?
        .and_then(|v| v["tenantId"].as_str().map(str::to_string))
        .ok_or_else(|| Hinted::new(format!("the Azure subscription {sub} was not found"), crate::cloud::azure::FIX))?;
    Ok((arm, azure::Place { sub, location }, tenant))
}

/// The project of the Google Cloud targets: one for all of them (the CI's pool and
/// service accounts live there).
fn gcp_project(targets: &[&Target]) -> Result<String> {
    let mut projects: Vec<(String, &str)> = Vec::new();
    for t in targets {
        projects.push((crate::backends::cloudrun::site_of(t)?.project, t.name.as_str()));
    }
    let (first, name) = projects[0].clone();
    if let Some((other, other_name)) = projects.iter().find(|(p, _)| *p != first) {
        return Err(crate::error::UsageError::new(format!(
            "targets `{name}` and `{other_name}` are in different Google Cloud projects ({first}, {other}): `ci init` sets up one project"
        ))
        .hint("run `ci init` once per project, with --target naming that project's targets")
        .into());
    }
    Ok(first)
}

/// The Artifact Registry repository a cloudrun target pushes to, in its region: the
/// deploy service account may push to it but not create it, so `ci init` (run by
/// someone who may) creates it when missing. `ci destroy` keeps it: it holds the app's
/// images.
struct Repository {
    site: crate::backends::cloudrun::Site,
    exists: bool,
}

impl Repository {
    fn row(&self) -> Action {
        let id = format!("{}/{}", self.site.region, crate::backends::cloudrun::REPOSITORY);
        if self.exists {
            Action::new(Op::Noop, "artifact-registry-repository", id)
        } else {
            Action::new(Op::Create, "artifact-registry-repository", id).because("the deploy service account may push to it, not create it")
        }
    }
}

async fn gcp_repositories(loaded: &crate::manifest::Loaded, targets: &[&Target]) -> Result<Vec<Repository>> {
    // A manifest that names its own registry pushes there: no repository to make.
    if crate::artifact::image::push_repository(loaded)?.is_some() {
        return Ok(Vec::new());
    }
    let clients = crate::cloud::gcp::Clients::new().await?;
    let mut out: Vec<Repository> = Vec::new();
    for t in targets {
        let site = crate::backends::cloudrun::site_of(t)?;
        if out.iter().any(|r| r.site == site) {
            continue;
        }
        let exists = match clients.registry.get_repository().set_name(site.repository()).send().await {
            Ok(_) => true,
            Err(e) if crate::cloud::gcp::is_not_found(&e) => false,
            Err(e) => {
                return Err(crate::cloud::gcp::api_error(&format!("cannot read Artifact Registry repository {}", site.repository()), e))
            }
        };
        out.push(Repository { site, exists });
    }
    Ok(out)
}

async fn create_repositories(repos: &[Repository], ui: &Ui) -> Result<()> {
    if repos.iter().all(|r| r.exists) {
        return Ok(());
    }
    let clients = crate::cloud::gcp::Clients::new().await?;
    for r in repos.iter().filter(|r| !r.exists) {
        crate::backends::cloudrun::ensure_repository(&clients, &r.site, crate::engine::wait::PollPolicy::from_env(), &ui.reporter())
            .await?;
    }
    Ok(())
}

async fn destroy(args: &CiDestroyArgs, g: &GlobalArgs, ui: &Ui) -> Result<u8> {
    let loaded = load_manifest(g)?;
    let app = loaded.manifest.app().name.as_str().to_string();
    let (_, root, _) = places(&loaded);
    let all: Vec<Target> = if args.targets.is_empty() {
        loaded.manifest.target_names().iter().filter_map(|n| loaded.manifest.target(Some(n), &[]).ok()).collect()
    } else {
        args.targets.iter().map(|n| loaded.manifest.target(Some(n), &[])).collect::<Result<_>>()?
    };
    // Every cloud of the manifest is read unless --target narrows it: say so when one
    // cannot be.
    let narrow = |e: anyhow::Error, cloud: &str| -> anyhow::Error {
        if !args.targets.is_empty() {
            return e;
        }
        let hint = crate::report::hint_of(&e).map(|h| format!("{h}; or ")).unwrap_or_default();
        Hinted::new(
            format!("`ci destroy` reads every cloud of the manifest's targets and cannot read {cloud}: {e}"),
            format!("{hint}pass --target for only the targets whose CI `ci init` set up"),
        )
        .into()
    };
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
    let mut azure_side = None;
    if let Some(t) = all.iter().find(|t| ci::provider_of(t) == crate::engine::Provider::Azure) {
        let (arm, place, _) = azure_place(t, false).await.map_err(|e| narrow(e, "Azure"))?;
        let seen = azure_calls::observe(&arm, &place, &app).await?;
        let planned = azure::plan_destroy(&app, &seen);
        plan.actions.extend(planned.display().actions);
        azure_side = Some((arm, place, planned));
    }
    let mut gcp_side = None;
    let gcp_targets: Vec<&Target> = all.iter().filter(|t| ci::provider_of(t) == crate::engine::Provider::Gcp).collect();
    if !gcp_targets.is_empty() {
        let project = gcp_project(&gcp_targets)?;
        let client = gcp_calls::Client::new().await.map_err(|e| narrow(e, "Google Cloud"))?;
        let seen = gcp_calls::observe(&client, &project, &app, None).await?;
        let planned = gcp::plan_destroy(&app, &seen);
        plan.actions.extend(planned.display().actions);
        gcp_side = Some((client, seen, planned));
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
    if let Some((arm, place, planned)) = &azure_side {
        azure_calls::apply(arm, place, &app, "", planned, &ui.reporter()).await?;
    }
    if let Some((client, seen, planned)) = &gcp_side {
        gcp_calls::apply(client, seen, planned, &ui.reporter()).await?;
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
