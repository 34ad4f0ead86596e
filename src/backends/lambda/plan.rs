//! Desired vs observed, as steps: the deploy's, rollback's and destroy's plans. Pure.

use std::collections::BTreeMap;

use super::*;
use crate::engine::target::pick_kept;
use crate::engine::Kept;
use crate::secrets::aws::{self as store, known_refs, secret_refs};

/// What a deploy would change.
pub(super) fn plan(cx: &Cx, n: &Now, artifact: &Built<Package>) -> Planned<Step> {
    let pkg = &artifact.data;
    let fname = function_name(cx);
    let mut planned = Planned::default();
    let timeout = cx.target.values.timeout.map(|t| t.0).unwrap_or_default();
    if timeout > API_GATEWAY_LIMIT {
        planned.warnings.push(format!(
            "timeout = {timeout} s, but API Gateway HTTP APIs end every request at {API_GATEWAY_LIMIT} s: longer requests (streaming LLM answers) will fail there; deploy to cloudrun or ec2 for long requests"
        ));
    }
    let what = match pkg {
        Package::Zip(zip) => {
            if zip.needs_s3 {
                planned
                    .warnings
                    .push(format!("the zip is {} MB, over the 50 MB direct upload limit: it goes through S3", zip.bytes / (1024 * 1024)));
            }
            if wants_snapstart(cx) {
                format!("{} zip, SnapStart on published versions", cx.loaded.manifest.app().runtime)
            } else {
                format!("{} zip", cx.loaded.manifest.app().runtime)
            }
        }
        Package::Image(img) => format!("container image: {}", img.reason),
    };
    let steps = &mut planned.changes;

    // Secrets.
    let stored = &n.secrets;
    let mut changing = Vec::new();
    for name in cx.secrets.values.keys() {
        let id = store::secret_name(cx.app_name(), &cx.stage.to_string(), name);
        let op = match (stored.get(name), n.secret_same.get(name)) {
            (None, _) => Op::Create,
            (Some(_), Some(true)) => Op::Noop,
            (Some(_), _) => Op::Update,
        };
        if op != Op::Noop {
            changing.push(name.clone());
        }
        steps.push(Step::Secret { name: name.clone(), id, op });
    }
    let known = known_refs(&secret_refs(cx, stored, &changing));

    // What the function runs now, and whether it changes.
    let region = n.region.as_str();
    let account = n.account().unwrap_or_default();
    let want_conf = match (&n.role, &known) {
        (Some((arn, _)), Some(k)) => Some(desired_conf(cx, arn, k, pkg.kind())),
        _ => None,
    };
    let replace = n.function.as_ref().filter(|f| f.conf.package != pkg.kind());
    let code_same = n
        .function
        .as_ref()
        .is_some_and(|f| f.sha == pkg.sha() && f.conf.package == pkg.kind() && want_conf.as_ref().is_none_or(|w| w.arch == f.conf.arch));
    let needs_code = !code_same || replace.is_some();
    // Which parts of the version differ, as recorded with the running one.
    let wanted = Parts::wanted(cx, &artifact.info);
    let running = n.function.as_ref().and_then(|f| f.tags.get(TAG_PARTS)).and_then(|t| Parts::decode(t));
    let differing = Parts::differing(running.as_ref(), &wanted);

    // The image: its repository, then the push.
    if let Package::Image(img) = pkg {
        let mut repo_create = false;
        let reference = match &img.push {
            PushTo::Named(repo) => repo.name(),
            PushTo::OwnEcr => {
                if n.repo.as_ref().is_some_and(|r| !r.ours) {
                    let e = foreign_repo(cx);
                    planned.warnings.push(format!("{}: the deploy refuses it; {}", e.message, e.hint));
                }
                let exists = n.repo.as_ref().is_some_and(|r| r.ours);
                repo_create = !exists;
                steps.push(Step::EcrRepository { name: repo_name(cx), exists });
                n.repo.as_ref().filter(|r| r.ours).map(|r| r.uri.clone()).unwrap_or_else(|| repo_name(cx))
            }
        };
        let exact = matches!(img.push, PushTo::Named(_));
        let op = match img.upload {
            Some(_) if needs_code || repo_create => Op::Create,
            _ => Op::Noop,
        };
        steps.push(Step::PushImage {
            reference: format!("{reference}@sha256:{}", &img.sha[..12.min(img.sha.len())]),
            op,
            bytes: img.upload.unwrap_or(0),
            exact,
        });
    }

    // Role.
    let rname = role_name(cx, if region.is_empty() { "REGION" } else { region });
    // The policy names ARNs only: a new value of an existing secret does not change it.
    let arns_known: Option<BTreeMap<String, String>> =
        secret_refs(cx, stored, &[]).into_iter().map(|(k, v)| v.map(|v| (k, v.arn))).collect();
    let want_policy = arns_known.as_ref().map(|k| role_policy(region, &account, &fname, k));
    let op = match &n.role {
        None => Op::Create,
        Some((_, have)) if have.is_some() && have.as_ref() == want_policy.as_ref() => Op::Noop,
        Some(_) => Op::Update,
    };
    steps.push(Step::Role { name: rname, op });

    // The zip, then the function's code and configuration. Lambda cannot change a
    // function's package type: a switch between zip and image replaces the function.
    if let Package::Zip(zip) = pkg {
        let to = if zip.needs_s3 {
            let key = upload::key(cx, zip);
            let at = match n.account() {
                Some(a) => upload::bucket(&a, region).url(&key),
                None => key,
            };
            ZipTo::S3 { at }
        } else {
            ZipTo::Request
        };
        let op = if needs_code { Op::Create } else { Op::Noop };
        steps.push(Step::UploadZip { to, digest: zip.sha256.clone(), bytes: zip.bytes, op });
    }
    match (&n.function, replace) {
        (None, _) => steps.push(Step::Function { name: fname.clone(), op: Op::Create, what: what.clone() }),
        (Some(f), Some(_)) => {
            steps.push(Step::ReplaceFunction { name: fname.clone(), from: f.conf.package.to_lowercase(), to: pkg.kind().to_lowercase() });
            steps.push(Step::Function { name: fname.clone(), op: Op::Create, what: what.clone() });
        }
        (Some(f), None) => {
            let (op, what) =
                if code_same { (Op::Noop, what.clone()) } else { (Op::Update, Parts::reason(running.as_ref(), &wanted, "code changed")) };
            steps.push(Step::Function { name: fname.clone(), op, what });
            let (op, why) = match &want_conf {
                Some(w) if *w == f.conf => (Op::Noop, String::new()),
                Some(w) => (Op::Update, config_why(&f.conf.diff(w), differing.as_deref())),
                None => (Op::Update, "role or secrets changed".to_string()),
            };
            steps.push(Step::FunctionConfig { name: fname.clone(), op, why });
        }
    }

    // Version and alias.
    let ready = if replace.is_some() { None } else { n.matching_version(pkg.sha(), want_conf.as_ref()).map(|v| v.number) };
    let alias_now = if replace.is_some() { None } else { n.alias };
    let snapstart = want_conf.as_ref().map(|w| w.snapstart).unwrap_or_else(|| wants_snapstart(cx) && pkg.kind() == PACKAGE_ZIP);
    steps.push(Step::Version { function: fname.clone(), existing: ready, snapstart });
    steps.push(Step::Alias { function: fname.clone(), from: alias_now, to: ready });
    // Warm instances on the alias: a replaced function loses them with its alias.
    // One whose allocation failed is asked for again.
    let warm_now = if replace.is_some() { None } else { n.warm.as_ref().filter(|w| w.status != WARM_FAILED).map(|w| w.requested) };
    let warm_want = cx.target.values.warm_instances;
    if warm_now.is_some() || warm_want.is_some() {
        let follows = alias_now.is_some() && alias_now != ready;
        steps.push(Step::Warm { function: fname.clone(), from: warm_now, to: warm_want, follows });
    }

    // HTTP API.
    let alias_arn = n.function.as_ref().map(|f| format!("{}:{ALIAS}", f.arn));
    let access = desired_access(cx);
    match &n.api {
        None => {
            steps.push(Step::HttpApi { id: fname.clone(), op: Op::Create });
            steps.push(Step::Integration { id: fname.clone(), op: Op::Create });
            steps.push(Step::Route { op: Op::Create, access, target_changed: false, access_changed: false });
            steps.push(Step::Stage { op: Op::Create });
            steps.push(Step::Permission { function: fname.clone(), api: None, op: Op::Create });
        }
        Some(api) => {
            let id = api.id.clone();
            let op = if api.cors == desired_cors(cx) { Op::Noop } else { Op::Update };
            steps.push(Step::HttpApi { id: id.clone(), op });
            let op = match &api.integration {
                None => Op::Create,
                Some((_, uri, payload)) if Some(uri) == alias_arn.as_ref() && payload == "2.0" => Op::Noop,
                Some(_) => Op::Update,
            };
            steps.push(Step::Integration { id: id.clone(), op });
            steps.push(match &api.route {
                None => Step::Route { op: Op::Create, access, target_changed: false, access_changed: false },
                Some(route) => {
                    let target_changed = api.integration.as_ref().is_none_or(|(i, _, _)| route.target != format!("integrations/{i}"));
                    let access_changed = route.authorization != access.authorization();
                    let op = if target_changed || access_changed { Op::Update } else { Op::Noop };
                    Step::Route { op, access, target_changed, access_changed }
                }
            });
            let op = match &api.stage {
                None => Op::Create,
                Some((true, t)) if *t == desired_throttle(cx) => Op::Noop,
                Some(_) => Op::Update,
            };
            steps.push(Step::Stage { op });
            let want_source = format!("arn:aws:execute-api:{region}:{account}:{id}/*/*");
            let permission = if replace.is_some() { None } else { n.permission.as_ref() };
            let op = match permission {
                None => Op::Create,
                Some(s) if *s == want_source => Op::Noop,
                Some(_) => Op::Update,
            };
            steps.push(Step::Permission { function: fname.clone(), api: Some(id), op });
        }
    }
    planned
}

/// What differs in the function's configuration. Its environment carries both `[env]`
/// and the secrets' references: the recorded parts say which of them changed.
fn config_why(diff: &[&'static str], parts: Option<&[&'static str]>) -> String {
    let mut names: Vec<&str> = Vec::new();
    for d in diff {
        match (*d, parts) {
            ("env", Some(p)) if p.contains(&"env") || p.contains(&"secrets") => {
                names.extend(p.iter().filter(|n| **n == "env" || **n == "secrets"));
            }
            (d, _) => names.push(d),
        }
    }
    names.join(", ")
}

/// A same-named repository that is not this app's, stage's and target's: never adopted.
pub(super) fn foreign_repo(cx: &Cx) -> Hinted {
    let name = repo_name(cx);
    Hinted::new(
        format!("an ECR repository named {name} exists but was not created by aideploy for this app, stage and target"),
        format!("rename the app or stage, or delete the repository {name}"),
    )
}

/// The live version and the one before it.
pub(super) fn previous(cx: &Cx, n: &Now) -> Result<(u64, u64)> {
    let none = || {
        UsageError::new(format!("{} ({}) has no previous version to roll back to", cx.app_name(), cx.stage))
            .hint("rollback moves alias `live` to the version published before the live one; deploy a change first")
    };
    let live = n.alias.ok_or_else(none)?;
    let prev = n.versions.iter().filter(|v| v.number < live).map(|v| v.number).max().ok_or_else(none)?;
    Ok((live, prev))
}

pub(super) fn plan_rollback(cx: &Cx, n: &Now) -> Result<Planned<Step>> {
    let (live, prev) = previous(cx, n)?;
    Ok(Planned::of(vec![Step::RollbackAlias { function: function_name(cx), from: live, to: prev }]))
}

/// The published versions alias `live` can be moved to, and the one it is on, newest
/// first. Each version keeps its own code digest (a zip's CodeSha256, an image's in its
/// description), the same the deploy that published it built. A version whose health
/// gate failed is listed too: a rollback to it is gated again before the alias moves.
/// Without the alias (no deploy got as far as serving) there is nothing to move.
pub(super) fn releases(n: &Now) -> Vec<Kept> {
    let Some(live) = n.alias else { return Vec::new() };
    let mut versions: Vec<&Version> = n.versions.iter().collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.number));
    versions
        .into_iter()
        .map(|v| Kept {
            id: v.number.to_string(),
            digest: format!("sha256:{}", v.sha),
            created_at: crate::util::utc_time(&v.published),
            live: v.number == live,
        })
        .collect()
}

/// Alias `live` moved to the kept version `id`, older or newer than the live one.
pub(super) fn plan_rollback_to(cx: &Cx, n: &Now, id: &str) -> Result<Planned<Step>> {
    let kept = releases(n);
    let to = pick_kept(cx, &kept, id)?;
    match (n.alias, to.id.parse::<u64>()) {
        (Some(from), Ok(to)) => Ok(Planned::of(vec![Step::RollbackAlias { function: function_name(cx), from, to }])),
        _ => Err(UsageError::new(format!("{} ({}) has no version serving to roll back from", cx.app_name(), cx.stage))
            .hint("deploy first")
            .into()),
    }
}

/// Everything of this app, stage and target that `observe` found to be ours.
pub(super) fn plan_destroy(cx: &Cx, n: &Now) -> Planned<Step> {
    let mut steps = Vec::new();
    // Uploads first: once the role and function are gone, nothing says which account.
    if let Some(account) = n.account() {
        let at = upload::bucket(&account, &n.region).url(&upload::prefix(cx));
        steps.push(Step::DeleteUploads { account, at });
    }
    if let Some(api) = &n.api {
        steps.push(Step::DeleteApi { id: api.id.clone() });
    }
    if n.function.is_some() {
        steps.push(Step::DeleteFunction { name: function_name(cx), versions: n.versions.len() });
    }
    if n.role.is_some() {
        steps.push(Step::DeleteRole { name: role_name(cx, &n.region) });
    }
    if n.repo.as_ref().is_some_and(|r| r.ours) {
        steps.push(Step::DeleteRepository { name: repo_name(cx) });
    }
    for s in n.secrets.values().filter(|s| s.target.as_deref() == Some(&cx.target.name)) {
        steps.push(Step::DeleteSecret {
            id: store::secret_name(cx.app_name(), &cx.stage.to_string(), &s.name),
            arn: s.arn.clone(),
            name: s.name.clone(),
        });
    }
    Planned::of(steps)
}
