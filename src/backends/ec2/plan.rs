//! Desired vs observed, as steps: the deploy's, rollback's and destroy's plans. Pure.

use super::*;
use crate::engine::Kept;

/// What a deploy would change.
pub(super) fn plan(cx: &Cx, n: &Now, artifact: &BuiltOf<Artifact>) -> Planned<Step> {
    let built = &artifact.data;
    let digest = &artifact.info.digest;
    let base = base_name(cx);
    let mut planned = Planned::default();
    if alb::wanted(cx) && !access::is_open(cx) {
        planned.warnings.push("the load balancer admits no address: set `public = true` or `allow_cidrs` to let people reach it".into());
    } else if !access::is_open(cx) {
        planned.warnings.push(access::private_note(cx, &n.region, n.live().map(|i| i.id.as_str())));
    } else if alb::wanted(cx) {
        if cx.target.settings.allow_cidrs.is_none() && alb::certificate(cx).is_none() {
            planned.warnings.push("the load balancer is open to the whole internet over plain HTTP: set `certificate_arn` for HTTPS, `allow_cidrs` to limit who may reach it".into());
        }
    } else if cx.target.settings.allow_cidrs.is_none() {
        planned
            .warnings
            .push(format!("port {} is open to the whole internet over plain HTTP: set `allow_cidrs` to limit who may reach it", port(cx)));
    }
    if let Some(host) = built.repository.as_deref().and_then(|r| r.split('/').next()) {
        if crate::cloud::registry_logins::ecr_region(host).is_none() && !crate::cloud::is_loopback_host(host) {
            planned.warnings.push(format!("the instance pulls the image from {host} without a login: the repository must be public (ECR, the default, is logged in to with the instance's role)"));
        }
    }
    let steps = &mut planned.changes;
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
    // A model server's API key: generated once, then kept.
    let key = access::model_key(cx, &built.workload);
    let key_stored = key.and_then(|k| stored.get(k));
    if let Some(k) = key {
        let id = store::secret_name(cx.app_name(), &cx.stage.to_string(), k);
        steps.push(Step::ApiKey { id, exists: key_stored.is_some(), region: n.region.clone() });
    }
    let with_key = |mut m: BTreeMap<String, (String, String)>| -> Option<BTreeMap<String, (String, String)>> {
        if let Some(k) = key {
            let s = key_stored?;
            m.insert(k.to_string(), (s.arn.clone(), s.version.clone().unwrap_or_default()));
        }
        Some(m)
    };
    if let Workload::Model { image, .. } = &built.workload {
        steps.push(Step::ServerImage { reference: image.clone(), from: super::build::server_image_setting(cx) });
    }
    if let Some(img) = &built.image {
        if let Some(name) = &img.ecr_repo {
            steps.push(Step::EcrRepository { name: name.clone(), exists: n.repo.as_ref().is_some_and(|r| r.ours) });
        }
        steps.push(Step::PushImage { reference: format!("{}@sha256:{}", img.repo.name(), short(digest)), bytes: img.upload });
    }
    let rname = role_name(cx, &n.region);

    // Role, profile, security group.
    let want_policy =
        secret_arns(cx, stored).map(|a| a.into_iter().map(|(k, arn)| (k, (arn, String::new()))).collect()).and_then(with_key).map(|refs| {
            let arns = refs.into_iter().map(|(k, (arn, _))| (k, arn)).collect();
            let group = log_group_name(cx);
            role_policy(
                Some((&n.region, &group)),
                built.repository.as_deref().and_then(ecr::repo_arn).as_deref(),
                &arns,
                !access::is_open(cx),
            )
        });
    let op = match &n.role {
        None => Op::Create,
        Some((_, have)) if want_policy.as_ref() == Some(have) => Op::Noop,
        Some(_) => Op::Update,
    };
    steps.push(Step::Role { name: rname.clone(), op });
    let op = match &n.profile {
        Some((_, true)) => Op::Noop,
        Some((_, false)) => Op::Update,
        None => Op::Create,
    };
    steps.push(Step::Profile { name: rname, op });
    // Behind a load balancer not made yet, its group is a rule to add once it exists.
    let front_sg = n.front.sg.as_ref().map(|g| g.id.as_str()).or(alb::wanted(cx).then_some(LB_GROUP));
    let ingress = desired_ingress(cx, front_sg);
    let rules = if ingress.is_empty() {
        "no inbound rules (private)".to_string()
    } else {
        ingress
            .iter()
            .map(
                |(p, c)| {
                    if c.starts_with("sg-") || c == LB_GROUP {
                        format!("{p} from the load balancer")
                    } else {
                        format!("{p} from {c}")
                    }
                },
            )
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (id, op) = match &n.sg {
        None => (None, Op::Create),
        Some(g) if g.ingress == ingress => (Some(g.id.clone()), Op::Noop),
        Some(g) => (Some(g.id.clone()), Op::Update),
    };
    steps.push(Step::SecurityGroup { name: sg_name(cx), id, op, rules });
    let op = match &n.log_group {
        None => Op::Create,
        Some(g) if g.retention_days == Some(crate::cloud::aws_logs::RETENTION_DAYS) => Op::Noop,
        Some(_) => Op::Update,
    };
    steps.push(Step::LogGroup { name: log_group_name(cx), op });

    // The instance.
    let refs = secret_refs(cx, stored, &changing).and_then(with_key);
    let config = refs.as_ref().map(|refs| launch_spec(cx, &n.region, &built.workload, refs).1);
    let matching = config.as_ref().and_then(|cfg| n.instances.iter().find(|i| i.tag(TAG_CONFIG) == Some(cfg.as_str())));
    match matching {
        Some(i) => steps.push(Step::Instance { op: Op::Noop, id: i.id.clone(), why: format!("@{}", short(digest)) }),
        None => {
            let why = match n.live() {
                None => format!("{}, @{}", instance_type(cx), short(digest)),
                Some(l) => {
                    // The parts recorded on the live instance say what the new one changes.
                    let running = l.tag(TAG_PARTS).and_then(Parts::decode);
                    let also: &[&str] = if changing.is_empty() { &[] } else { &["secrets"] };
                    match Parts::changed_also(running.as_ref(), &Parts::wanted(cx, &artifact.info), also) {
                        Some(text) => text,
                        None if l.tag(TAG_DIGEST) != Some(digest.as_str()) => {
                            format!("image {} -> {}", short(l.tag(TAG_DIGEST).unwrap_or("?")), short(digest))
                        }
                        None => "configuration changed".into(),
                    }
                }
            };
            steps.push(Step::Instance { op: Op::Create, id: base, why });
        }
    }
    for i in n.instances.iter().filter(|i| matching.is_none_or(|m| m.id != i.id)) {
        steps.push(Step::Terminate { id: i.id.clone(), why: "once the new one is healthy".into() });
    }
    steps.extend(address::rows(cx, n, matching.map(|m| m.id.as_str())));
    steps.extend(alb::rows(cx, n));
    planned
}

/// The load balancer's group before it exists (never a real group id).
const LB_GROUP: &str = "the load balancer's group";

/// A new instance with the image deployed before the live one, then the live one goes.
pub(super) fn plan_rollback(cx: &Cx, n: &Now) -> Result<Planned<Step>> {
    let (live, digest, image) = previous(cx, n)?;
    Ok(relaunch(cx, n, live, digest, image))
}

/// The same, to the kept image `id` names. The live instance keeps one image before
/// its own, so that is the only one there is to name.
pub(super) fn plan_rollback_to(cx: &Cx, n: &Now, id: &str) -> Result<Planned<Step>> {
    crate::engine::target::pick_kept(cx, &releases(n), id)?;
    plan_rollback(cx, n)
}

fn relaunch(cx: &Cx, n: &Now, live: &Inst, digest: String, image: String) -> Planned<Step> {
    let mut steps = vec![
        Step::Relaunch { name: base_name(cx), from: live.tag(TAG_DIGEST).unwrap_or("?").to_string(), digest, image },
        Step::Terminate { id: live.id.clone(), why: "once the new one is healthy".into() },
    ];
    steps.extend(address::rows(cx, n, None));
    // A rollback changes no part of the load balancer: the rows of those there are.
    steps.extend(alb::rows(cx, n).into_iter().filter(|s| matches!(s, Step::Front { op: Op::Noop, .. })));
    Planned::of(steps)
}

/// The live instance's image and the one it keeps from before (app images only: a
/// model server keeps none), newest first, by the digest's first 12 hex digits. The
/// registry keeps the last images (the repository's lifecycle policy), the previous one
/// among them.
pub(super) fn releases(n: &Now) -> Vec<Kept> {
    let Some(live) = n.live() else { return Vec::new() };
    let Some(digest) = live.tag(TAG_DIGEST).filter(|d| !d.is_empty()) else { return Vec::new() };
    let mut kept = vec![Kept {
        id: short(digest).to_string(),
        digest: digest.to_string(),
        created_at: (live.launched > 0).then(|| crate::util::iso8601(live.launched as u64)),
        live: true,
    }];
    if let Some(prev) = previous_of(live).filter(|(d, _)| d != digest) {
        kept.push(Kept { id: short(&prev.0).to_string(), digest: prev.0, created_at: None, live: false });
    }
    kept
}

/// Everything of this app, stage and target that exists.
pub(super) fn plan_destroy(cx: &Cx, n: &Now) -> Planned<Step> {
    let mut steps = Vec::new();
    for i in &n.instances {
        steps.push(Step::Terminate { id: i.id.clone(), why: i.state.clone() });
    }
    steps.extend(n.addresses.iter().map(address::release_step));
    steps.extend(alb::deletions(cx, &n.front, true));
    if let Some(g) = &n.sg {
        steps.push(Step::DeleteSecurityGroup { name: sg_name(cx), id: g.id.clone() });
    }
    // The load balancer's group after the instance's, whose rule names it.
    steps.extend(alb::sg_deletion(cx, &n.front));
    let rname = role_name(cx, &n.region);
    if let Some((_, has_role)) = &n.profile {
        steps.push(Step::DeleteProfile { name: rname.clone(), has_role: *has_role });
    }
    if n.role.is_some() {
        steps.push(Step::DeleteRole { name: rname });
    }
    if n.repo.as_ref().is_some_and(|r| r.ours) {
        steps.push(Step::DeleteRepository { name: repo_name(cx) });
    }
    if n.log_group.is_some() {
        steps.push(Step::DeleteLogGroup { name: log_group_name(cx) });
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

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
