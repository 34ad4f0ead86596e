//! `apply` and `rollback`: the plan's steps, in order, each a get -> create-or-update a
//! re-run after any failure repeats safely; a new instance is health-gated before the old
//! ones go.

use super::*;
use crate::engine::{Change, Pushed};

pub(super) async fn apply(cx: &Cx, n: &Now, artifact: &BuiltOf<Artifact>, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let built = &artifact.data;
    let c = Clients::for_target(cx).await?;
    let app = cx.app_name().to_string();
    let stage = cx.stage.to_string();
    let actions = plan.display().actions;

    // 1. The image: its repository, then the push.
    let mut pushed = None;
    for step in &plan.changes {
        match step {
            Step::EcrRepository { name, exists: false } => {
                r.step(&format!("creating ECR repository {name}"));
                ecr::ensure(&c.ecr, name, &tags(cx), r).await?;
                r.done();
            }
            Step::PushImage { bytes: Some(_), .. } => {
                let Some(img) = &built.image else { continue };
                if img.ecr_repo.is_some() && !c.plane.ecr_registry {
                    return Err(Hinted::new(
                        format!("{}: no image registry stands behind its ECR API", crate::cloud::aws::DataPlane::WHY_NOT),
                        format!("set {}=HOST:PORT/REPOSITORY to push the image to a registry you run", crate::envvars::AIDEPLOY_REGISTRY),
                    )
                    .into());
                }
                r.step(&format!("pushing to {}", img.repo.name()));
                let (reference, uploaded_bytes) = crate::artifact::image::push_built(&img.local.image, &img.repo, &cx.stage, r).await?;
                r.done();
                pushed = Some(Pushed { reference: Some(reference), uploaded_bytes });
            }
            _ => {}
        }
    }
    // The AMI next: a region without one fails before any instance resource is made.
    let starts = plan.changes.iter().any(|s| matches!(s, Step::Instance { op: Op::Create, .. }));
    let ami = if starts { Some(resolve_ami(cx, &c, r).await?) } else { None };

    // 2. Secrets: values to Secrets Manager; only ARNs go further.
    let mut refs: BTreeMap<String, (String, String)> = BTreeMap::new();
    for name in cx.loaded.manifest.secrets.keys().map(|k| k.get().clone()) {
        let changing = plan.changes.iter().any(|s| matches!(s, Step::Secret { name: n, op, .. } if *n == name && *op != Op::Noop));
        match (cx.secrets.values.get(&name), n.secrets.get(&name)) {
            (Some(value), existing) if changing || existing.is_none() => {
                r.step(&format!("storing secret {name}"));
                let w = store::put(&c.secrets, &app, &stage, &cx.target.name, &name, value, existing).await?;
                refs.insert(name, (w.arn, w.version.unwrap_or_default()));
            }
            (_, Some(s)) => {
                refs.insert(name, (s.arn.clone(), s.version.clone().unwrap_or_default()));
            }
            (_, None) => {}
        }
    }
    if let Some(k) = access::model_key(cx, &built.workload) {
        refs.insert(k.to_string(), access::ensure_key(cx, &c, k, n.secrets.get(k), r).await?);
    }
    let arns: BTreeMap<String, String> = refs.iter().map(|(k, (a, _))| (k.clone(), a.clone())).collect();

    // 3. Role, its policy, the instance profile.
    let rname = role_name(cx, &c.region);
    if n.role.is_none() {
        r.step(&format!("creating role {rname}"));
        create_role(cx, &c, &rname).await?;
    }
    let group = log_group_name(cx);
    let logs = Some((c.region.as_str(), group.as_str()));
    let policy = role_policy(logs, built.repository.as_deref().and_then(ecr::repo_arn).as_deref(), &arns, !access::is_open(cx));
    if n.role.as_ref().and_then(|(_, p)| p.clone()) != policy {
        match &policy {
            Some(p) => {
                c.iam
                    .put_role_policy()
                    .role_name(&rname)
                    .policy_name(POLICY_NAME)
                    .policy_document(p.to_string())
                    .send()
                    .await
                    .map_err(|e| failed("IAM PutRolePolicy", e))?;
            }
            None => {
                let _ = c.iam.delete_role_policy().role_name(&rname).policy_name(POLICY_NAME).send().await;
            }
        }
    }
    let fresh_profile = match &n.profile {
        Some((_, true)) => false,
        Some((_, false)) => {
            add_role_to_profile(&c, &rname).await?;
            true
        }
        None => {
            r.step(&format!("creating instance profile {rname}"));
            create_profile(cx, &c, &rname).await?;
            add_role_to_profile(&c, &rname).await?;
            true
        }
    };

    // 4. The load balancer (`load_balancer = true`) first, as the instance's security
    // group admits its group; then that security group, and the log group the container
    // writes to.
    let front = if alb::wanted(cx) { Some(alb_ops::ensure(cx, &c, &n.front, r).await?) } else { None };
    let sg_id = ensure_sg(cx, &c, n.sg.as_ref(), front.as_ref().map(|f| f.sg_id.as_str()), r).await?;
    if plan.changes.iter().any(|s| matches!(s, Step::LogGroup { op: Op::Create | Op::Update, .. })) {
        r.step(&format!("creating log group {group}"));
        crate::cloud::aws_logs::ensure_group(cx, &c.logs, &group, n.log_group.as_ref()).await?;
    }

    // The address, allocated before any instance so a failure after this still leaves
    // it findable (by its tags) for the next run and for destroy; and any extra of ours.
    let mut eip = address_of(cx, &c, n, &plan.changes, r).await?;

    // 5. The instance: the one already started with exactly this, or a new one.
    let (script, config) = launch_spec(cx, &c.region, &built.workload, &refs);
    let parts = Parts::wanted(cx, &artifact.info).encode();
    let live = n.live().cloned();
    let (inst, created) = match n.instances.iter().find(|i| i.tag(TAG_CONFIG) == Some(config.as_str())) {
        Some(i) => (i.clone(), false),
        None => {
            let previous = live.as_ref().and_then(|l| match l.tag(TAG_DIGEST) {
                Some(d) if d != artifact.info.digest => Some((d.to_string(), l.tag(TAG_IMAGE).unwrap_or_default().to_string())),
                _ => l.tag(TAG_PREV_DIGEST).map(|d| (d.to_string(), l.tag(TAG_PREV_IMAGE).unwrap_or_default().to_string())),
            });
            let ami = match &ami {
                Some(a) => a.clone(),
                None => resolve_ami(cx, &c, r).await?,
            };
            let launch = Launch {
                ami: &ami,
                workload: &built.workload,
                script: &script,
                config: &config,
                parts: &parts,
                sg_id: &sg_id,
                profile: &rname,
                previous,
                fresh_profile,
            };
            (run_instance(cx, &c, &launch, r).await?, true)
        }
    };
    // Only the instances this run read before it started (and that the plan showed) go.
    let others: Vec<&Inst> = n.instances.iter().filter(|i| i.id != inst.id).collect();
    if !created && others.is_empty() {
        // The instance serving already: the address goes (back) on it if it is not there,
        // or it is the load balancer's one target.
        if let Some(e) = eip.as_mut() {
            address::associate(&c, e, &inst.id, r).await?;
        }
        let mut health = n.health;
        if let Some(f) = &front {
            if !f.targets.contains(&inst.id) {
                if let Err(why) = alb_ops::register_healthy(cx, &c, &f.tg_arn, &inst.id, r).await? {
                    r.done();
                    let failure = Some(format!("instance {}: {why}", inst.id));
                    return Ok(Outcome { url: Some(f.url.clone()), health: Health::Failed, actions, failure, pushed });
                }
                health = Health::Passed;
            }
            let strays: Vec<String> = f.targets.iter().filter(|t| **t != inst.id).cloned().collect();
            alb_ops::deregister(cx, &c, &f.tg_arn, &strays, r).await?;
        }
        retire_front(cx, &c, &plan.changes, r).await?;
        r.done();
        return Ok(Outcome { url: url_now(cx, front.as_ref(), eip.as_ref(), Some(&inst)), health, actions, failure: None, pushed });
    }

    // 6. Running, status checks, health; then the old instances go.
    let gated = match wait_ready(cx, &c, &inst.id, r).await {
        Ok(ready) => gate(cx, &c, &ready, r).await.map(|h| (ready, h)),
        Err(e) => Err(format!("{e:#}")),
    };
    let gated = match gated {
        Ok((ready, health)) => front_door(cx, &c, front.as_ref(), &mut eip, &ready.id, health, r).await?.map(|h| (ready, h)),
        Err(why) => Err(why),
    };
    match gated {
        Ok((ready, health)) => {
            if !others.is_empty() {
                r.step(&format!(
                    "terminating the previous instance{} {}",
                    if others.len() > 1 { "s" } else { "" },
                    others.iter().map(|i| i.id.as_str()).collect::<Vec<_>>().join(", ")
                ));
                retire(cx, &c, front.as_ref(), &others.iter().map(|i| i.id.clone()).collect::<Vec<_>>(), r).await?;
            }
            retire_front(cx, &c, &plan.changes, r).await?;
            r.done();
            plain_http_note(cx, &c.region, &ready, r);
            Ok(Outcome { url: url_now(cx, front.as_ref(), eip.as_ref(), Some(&ready)), health, actions, failure: None, pushed })
        }
        Err(why) => {
            r.step(&format!("terminating the unhealthy instance {}", inst.id));
            terminate(&c, std::slice::from_ref(&inst.id)).await?;
            r.done();
            let kept = if others.is_empty() { "nothing is serving" } else { "the previous instance keeps serving" };
            Ok(Outcome {
                url: url_now(cx, front.as_ref(), eip.as_ref(), live.as_ref().filter(|l| l.id != inst.id)),
                health: Health::Failed,
                actions,
                failure: Some(format!("instance {}: {why}\n({kept})", inst.id)),
                pushed,
            })
        }
    }
}

/// Starts an instance with the image the plan names, health-gates it, then retires the
/// rest.
pub(super) async fn rollback(cx: &Cx, n: &Now, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let to = plan.changes.iter().find_map(|s| if let Step::Relaunch { image, .. } = s { Some(image.clone()) } else { None });
    let (Some(prev_image), Some(live)) = (to, n.live()) else {
        return Err(UsageError::new(format!("{} ({}) has no previous image to roll back to", cx.app_name(), cx.stage))
            .hint("deploy a change first")
            .into());
    };
    let c = Clients::for_target(cx).await?;
    let declared: Vec<String> = cx.loaded.manifest.secrets.keys().map(|k| k.get().clone()).collect();
    let refs: BTreeMap<String, (String, String)> = n
        .secrets
        .iter()
        .filter(|(k, _)| declared.contains(k))
        .map(|(k, s)| (k.clone(), (s.arn.clone(), s.version.clone().unwrap_or_default())))
        .collect();
    let ecr_host = prev_image.split('/').next().filter(|h| crate::cloud::registry_logins::ecr_region(h).is_some()).map(str::to_string);
    let workload = Workload::App { image: prev_image, ecr_host, container_port: port(cx) };
    let (script, config) = launch_spec(cx, &c.region, &workload, &refs);
    let Some(sg) = &n.sg else {
        return Err(Hinted::new(format!("the security group {} is gone", sg_name(cx)), "deploy again to recreate it").into());
    };
    let back = Some((live.tag(TAG_DIGEST).unwrap_or_default().to_string(), live.tag(TAG_IMAGE).unwrap_or_default().to_string()));
    let front = match alb::wanted(cx) {
        false => None,
        true => Some(alb_ops::ready_of(cx, &n.front).ok_or_else(|| {
            Hinted::new(format!("the load balancer {} (or a part of it) is gone", alb::name(cx)), "deploy again to recreate it")
        })?),
    };
    let ami = resolve_ami(cx, &c, r).await?;
    let mut eip = address_of(cx, &c, n, &plan.changes, r).await?;
    let launch = Launch {
        ami: &ami,
        workload: &workload,
        script: &script,
        config: &config,
        parts: "",
        sg_id: &sg.id,
        profile: &role_name(cx, &c.region),
        previous: back,
        fresh_profile: false,
    };
    let inst = run_instance(cx, &c, &launch, r).await?;
    let gated = match wait_ready(cx, &c, &inst.id, r).await {
        Ok(ready) => gate(cx, &c, &ready, r).await.map(|h| (ready, h)),
        Err(e) => Err(format!("{e:#}")),
    };
    let gated = match gated {
        Ok((ready, health)) => front_door(cx, &c, front.as_ref(), &mut eip, &ready.id, health, r).await?.map(|h| (ready, h)),
        Err(why) => Err(why),
    };
    let actions: Vec<_> = plan.changes.iter().map(Change::row).collect();
    match gated {
        Ok((ready, health)) => {
            let old: Vec<String> = n.instances.iter().map(|i| i.id.clone()).collect();
            r.step(&format!("terminating {}", old.join(", ")));
            retire(cx, &c, front.as_ref(), &old, r).await?;
            r.done();
            plain_http_note(cx, &c.region, &ready, r);
            Ok(Outcome { url: url_now(cx, front.as_ref(), eip.as_ref(), Some(&ready)), health, actions, failure: None, pushed: None })
        }
        Err(why) => {
            terminate(&c, std::slice::from_ref(&inst.id)).await?;
            Ok(Outcome {
                url: url_now(cx, front.as_ref(), eip.as_ref(), Some(live)),
                health: Health::Failed,
                actions,
                failure: Some(format!("instance {}: {why}\n(the current instance keeps serving)", inst.id)),
                pushed: None,
            })
        }
    }
}

/// The address the plan keeps (allocated now when it says `Create`), after releasing the
/// extra ones it names. `None`: the port is private, no address.
async fn address_of(cx: &Cx, c: &Clients, n: &Now, steps: &[Step], r: &dyn Reporter) -> Result<Option<address::Eip>> {
    let mut keep = None;
    for step in steps {
        match step {
            Step::Address { op: Op::Create, .. } => keep = Some(address::allocate(cx, c, r).await?),
            Step::Address { .. } => keep = n.address().cloned(),
            Step::ReleaseAddress { allocation_id, ip, association_id } => {
                r.step(&format!("releasing the extra Elastic IP {ip}"));
                address::release(c, allocation_id, association_id.as_deref()).await?;
            }
            _ => {}
        }
    }
    Ok(keep)
}

/// The URL serving now: the load balancer's, else the address's (see `address`).
fn url_now(cx: &Cx, front: Option<&alb_ops::Ready>, eip: Option<&address::Eip>, on: Option<&Inst>) -> Option<String> {
    match front {
        Some(f) => Some(f.url.clone()),
        None => address::serving_url(cx, eip, on),
    }
}

/// A new instance that passed its own health check takes the traffic: registered with the
/// load balancer and healthy there, or the address moved to it. `Ok(Err(why))`: the load
/// balancer did not find it healthy; it is deregistered again, never having served.
async fn front_door(
    cx: &Cx,
    c: &Clients,
    front: Option<&alb_ops::Ready>,
    eip: &mut Option<address::Eip>,
    id: &str,
    health: Health,
    r: &dyn Reporter,
) -> Result<std::result::Result<Health, String>> {
    if let Some(f) = front {
        return Ok(match alb_ops::register_healthy(cx, c, &f.tg_arn, id, r).await? {
            Ok(()) => Ok(Health::Passed),
            Err(why) => {
                alb_ops::deregister(cx, c, &f.tg_arn, &[id.to_string()], r).await?;
                Err(why)
            }
        });
    }
    if let Some(e) = eip.as_mut() {
        address::associate(c, e, id, r).await?;
    }
    Ok(Ok(health))
}

/// The instances a healthy new one replaces: out of the load balancer (drained), then
/// terminated.
async fn retire(cx: &Cx, c: &Clients, front: Option<&alb_ops::Ready>, old: &[String], r: &dyn Reporter) -> Result<()> {
    if let Some(f) = front {
        alb_ops::deregister(cx, c, &f.tg_arn, old, r).await?;
        alb_ops::wait_drained(cx, c, &f.tg_arn, old, r).await?;
    }
    terminate(c, old).await
}

/// The load balancer's parts the plan deletes (`load_balancer` turned off), once the
/// instance serves without it.
async fn retire_front(cx: &Cx, c: &Clients, steps: &[Step], r: &dyn Reporter) -> Result<()> {
    for step in steps {
        if let Step::DeleteFront { part, id, name } = step {
            r.step(&format!("deleting {} {name}", part.resource()));
            alb_ops::delete(cx, c, *part, id, r).await?;
        }
    }
    Ok(())
}
