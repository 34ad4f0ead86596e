//! `apply` and `rollback`: the plan's steps, in dependency order, each get ->
//! create-or-update, so a re-run after any failure converges. A new version takes the
//! alias only after it answered its health path.

use std::collections::BTreeMap;

use anyhow::Result;

use super::ops::*;
use super::*;
use crate::cloud::ecr;
use crate::engine::Pushed;
use crate::secrets::aws::arns_of;
use crate::secrets::aws::{self as store, secret_refs, SecretRef};

/// What the plan asks of apply, gathered from its steps.
#[derive(Default)]
struct Todo<'a> {
    secrets: Vec<&'a str>,
    repo: bool,
    push: bool,
    role: bool,
    replace: bool,
    code: bool,
    api: bool,
    permission: Option<Op>,
    /// Provisioned concurrency: (configured now, asked for).
    warm: Option<(Option<u32>, Option<u32>)>,
}

impl<'a> Todo<'a> {
    fn of(steps: &'a [Step]) -> Todo<'a> {
        let mut t = Todo::default();
        for s in steps {
            match s {
                Step::Secret { name, op, .. } if *op != Op::Noop => t.secrets.push(name),
                Step::EcrRepository { exists: false, .. } => t.repo = true,
                Step::PushImage { op: Op::Create, .. } => t.push = true,
                Step::Role { op, .. } if *op != Op::Noop => t.role = true,
                Step::ReplaceFunction { .. } => t.replace = true,
                Step::Function { op, .. } if *op != Op::Noop => t.code = true,
                Step::HttpApi { op, .. } | Step::Integration { op, .. } | Step::Route { op, .. } | Step::Stage { op }
                    if *op != Op::Noop =>
                {
                    t.api = true
                }
                Step::Permission { op, .. } => t.permission = Some(*op),
                Step::Warm { from, to, .. } => t.warm = Some((*from, *to)),
                _ => {}
            }
        }
        t
    }
}

/// Writes the secrets the plan changes (their values go nowhere else); every `[secrets]`
/// reference, written now or stored before.
async fn store_secrets(cx: &Cx, c: &Clients, n: &Now, names: &[&str], r: &dyn Reporter) -> Result<BTreeMap<String, SecretRef>> {
    let (app, stage) = (cx.app_name().to_string(), cx.stage.to_string());
    let mut refs: BTreeMap<String, SecretRef> =
        secret_refs(cx, &n.secrets, &[]).into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
    for name in names {
        let Some(value) = cx.secrets.values.get(*name) else { continue };
        r.step(&format!("storing secret {name}"));
        let w = store::put(&c.secrets, &app, &stage, &cx.target.name, name, value, n.secrets.get(*name)).await?;
        refs.insert(name.to_string(), SecretRef { arn: w.arn, version: w.version.unwrap_or_default() });
    }
    Ok(refs)
}

pub(super) async fn apply(cx: &Cx, n: &Now, artifact: &Built<Package>, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let c = Clients::for_target(cx).await?;
    let todo = Todo::of(&plan.changes);
    let actions = plan.display().actions;
    let pkg = &artifact.data;
    let fname = function_name(cx);
    let mut pushed = None;
    // Someone else's repository: refused before anything is written.
    if let Package::Image(img) = pkg {
        if matches!(img.push, PushTo::OwnEcr) && n.repo.as_ref().is_some_and(|r| !r.ours) {
            return Err(plan::foreign_repo(cx).into());
        }
    }

    // 1. Secrets: values to Secrets Manager; only ARNs go further.
    let refs = store_secrets(cx, &c, n, &todo.secrets, r).await?;
    let arns = arns_of(&refs);

    // 2. An image: its repository, then the push, before anything about the function
    // changes.
    let mut image = None;
    if let Package::Image(img) = pkg {
        let mut own_uri = n.repo.as_ref().filter(|r| r.ours).map(|r| r.uri.clone());
        if todo.repo {
            r.step(&format!("creating ECR repository {}", repo_name(cx)));
            own_uri = Some(ecr::ensure(&c.ecr, &repo_name(cx), &tags(cx), r).await?);
        }
        let at = match &img.push {
            PushTo::Named(repo) => image_uri(&repo.name(), &img.sha),
            PushTo::OwnEcr => own_uri.as_deref().map(|u| image_uri(u, &img.sha)).unwrap_or_default(),
        };
        image = Some(if todo.push || at.is_empty() {
            let (uri, uploaded_bytes) = push_image(cx, &c, img, own_uri.as_deref(), r).await?;
            pushed = Some(Pushed { reference: Some(uri.clone()), uploaded_bytes });
            uri
        } else {
            at
        });
    }

    // 3. The execution role.
    let rname = role_name(cx, &c.region);
    let role_arn = match &n.role {
        Some((arn, _)) => arn.clone(),
        None => {
            r.step(&format!("creating role {rname}"));
            create_role(cx, &c, &rname).await?
        }
    };
    let account = account_of(&role_arn).unwrap_or_default();
    if todo.role {
        let policy = role_policy(&c.region, &account, &fname, &arns).to_string();
        c.iam
            .put_role_policy()
            .role_name(&rname)
            .policy_name(POLICY_NAME)
            .policy_document(policy)
            .send()
            .await
            .map_err(|e| failed("IAM PutRolePolicy", e, PERMS_HINT))?;
    }

    // 4. The function: configuration, then code. A package type switch deletes it first,
    // and nothing of the old one (versions, alias, permission) is kept.
    let want = desired_conf(cx, &role_arn, &refs, pkg.kind());
    if todo.replace {
        r.step(&format!("deleting function {fname}: its package type changes"));
        delete_function(&c, &fname).await?;
    }
    let fn_now = if todo.replace { None } else { n.function.as_ref() };
    let function_arn = match fn_now {
        None => {
            r.step(&format!("creating function {fname}"));
            let (code, sent) = code_for(cx, &c, &account, pkg, image.as_deref(), r).await?;
            pushed = pushed.or_else(|| zip_pushed(cx, pkg, &account, &c.region, sent));
            let arn = create_function(cx, &c, &fname, &want, code, pkg.sha(), r).await?;
            wait_settled(cx, &c, &fname, None, r).await?;
            arn
        }
        Some(f) => {
            if f.conf != want {
                r.step("updating the function's configuration");
                update_config(&c, &fname, &want, want.snapstart || f.conf.snapstart).await?;
                wait_settled(cx, &c, &fname, None, r).await?;
            }
            if todo.code {
                r.step("uploading the new code");
                let (code, sent) = code_for(cx, &c, &account, pkg, image.as_deref(), r).await?;
                pushed = pushed.or_else(|| zip_pushed(cx, pkg, &account, &c.region, sent));
                update_code(cx, &c, &fname, &code).await?;
                wait_settled(cx, &c, &fname, None, r).await?;
                c.lambda
                    .tag_resource()
                    .resource(&f.arn)
                    .tags(TAG_DIGEST, format!("sha256:{}", pkg.sha()))
                    .send()
                    .await
                    .map_err(|e| failed("Lambda TagResource", e, PERMS_HINT))?;
            }
            f.arn.clone()
        }
    };
    // What this version is made of, for the next plan's "(env changed)".
    let parts = Parts::wanted(cx, &artifact.info).encode();
    if fn_now.and_then(|f| f.tags.get(TAG_PARTS)) != Some(&parts) {
        c.lambda
            .tag_resource()
            .resource(&function_arn)
            .tags(TAG_PARTS, parts)
            .send()
            .await
            .map_err(|e| failed("Lambda TagResource", e, PERMS_HINT))?;
    }
    let alias_arn = format!("{function_arn}:{ALIAS}");

    // 5. A version of exactly this code and configuration.
    let ready = if todo.replace { None } else { n.matching_version(pkg.sha(), Some(&want)).map(|v| v.number) };
    let version = match ready {
        Some(v) => v,
        None => {
            r.step("publishing a version");
            let v = publish(&c, &fname, pkg).await?;
            if want.snapstart {
                // Lambda initialises the version and snapshots it before it can be invoked.
                wait_settled(cx, &c, &fname, Some(v), r).await?;
            }
            v
        }
    };

    // 6. Health, then the alias.
    let alias_now = if todo.replace { None } else { n.alias };
    let mut health = Health::Skipped;
    if alias_now != Some(version) {
        match gate(cx, &c, &fname, version, r).await? {
            Ok(h) => health = h,
            Err(why) => {
                let kept = if alias_now.is_some() { "the previous version keeps serving" } else { "nothing is serving" };
                return Ok(Outcome {
                    url: n.api.as_ref().map(|a| url(&a.id, &c.region)),
                    health: Health::Failed,
                    actions,
                    failure: Some(format!("version {version}: {why}\n({kept})")),
                    pushed,
                });
            }
        }
        r.step(&format!("moving alias {ALIAS} to version {version}"));
        set_alias(&c, &fname, version, alias_now.is_some()).await?;
        let mut numbers: Vec<u64> = if todo.replace { Vec::new() } else { n.versions.iter().map(|v| v.number).collect() };
        numbers.push(version);
        prune_versions(&c, &fname, numbers, version, r).await;
    }

    // 6b. Warm instances on the alias, for the version it now points at.
    match todo.warm {
        Some((from, Some(to))) => {
            if from != Some(to) {
                r.step(&format!("asking for {to} warm instance(s) on {fname}:{ALIAS}"));
                put_warm(&c, &fname, to).await?;
            }
            if from != Some(to) || alias_now != Some(version) {
                wait_warm(cx, &c, &fname, r).await?;
            }
        }
        Some((Some(_), None)) => {
            r.step(&format!("removing the warm instances of {fname}:{ALIAS}"));
            delete_warm(&c, &fname).await?;
        }
        _ => {}
    }

    // 7. The HTTP API in front of the alias, and its permission to invoke it.
    let api_id = match &n.api {
        Some(a) if !todo.api => a.id.clone(),
        api => api::ensure_api(cx, &c, api.as_ref(), &fname, &alias_arn, r).await?,
    };
    let source = format!("arn:aws:execute-api:{}:{account}:{api_id}/*/*", c.region);
    match todo.permission {
        Some(Op::Noop) => {}
        op => permit(&c, &fname, &source, op == Some(Op::Update)).await?,
    }
    r.done();
    if desired_access(cx) == Access::Private {
        r.warn(&private_note(cx, &c.region, &url(&api_id, &c.region)));
    }
    Ok(Outcome { url: Some(url(&api_id, &c.region)), health, actions, failure: None, pushed })
}

/// The code to give Lambda: the zip (inline or through S3, with the bytes sent there), or
/// the pushed image.
async fn code_for(
    cx: &Cx,
    c: &Clients,
    account: &str,
    pkg: &Package,
    image: Option<&str>,
    r: &dyn Reporter,
) -> Result<(upload::Code, Option<u64>)> {
    match pkg {
        Package::Zip(zip) => upload::code(cx, c, account, zip, r).await,
        Package::Image(_) => Ok((upload::Code::Image(image.unwrap_or_default().to_string()), None)),
    }
}

/// A zip sent through S3, as reports show it.
fn zip_pushed(cx: &Cx, pkg: &Package, account: &str, region: &str, sent: Option<u64>) -> Option<Pushed> {
    let (Package::Zip(zip), Some(sent)) = (pkg, sent) else { return None };
    Some(Pushed { reference: Some(upload::bucket(account, region).url(&upload::key(cx, zip))), uploaded_bytes: sent })
}

pub(super) async fn rollback(cx: &Cx, n: &Now, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let c = Clients::for_target(cx).await?;
    let actions = plan.display().actions;
    let live_url = n.api.as_ref().map(|a| url(&a.id, &n.region));
    for step in &plan.changes {
        let Step::RollbackAlias { function, to, .. } = step else { continue };
        let health = match gate(cx, &c, function, *to, r).await? {
            Ok(h) => h,
            Err(why) => {
                return Ok(Outcome {
                    url: live_url,
                    health: Health::Failed,
                    actions,
                    failure: Some(format!("version {to}: {why}\n(the current version keeps serving)")),
                    pushed: None,
                })
            }
        };
        r.step(&format!("moving alias {ALIAS} to version {to}"));
        set_alias(&c, function, *to, true).await?;
        // Warm instances follow the alias: allocated again for the version it is on now.
        if n.warm.is_some() {
            wait_warm(cx, &c, function, r).await?;
        }
        r.done();
        return Ok(Outcome { url: live_url, health, actions, failure: None, pushed: None });
    }
    Ok(Outcome { url: live_url, health: Health::Skipped, actions, failure: None, pushed: None })
}
