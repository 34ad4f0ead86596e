//! The load balancer's writes and waits (see `alb`): each a get -> create-or-update from
//! what `observe` found, safe to re-run after any failure.

use super::alb::{self, Front, Part, IDLE_KEY, MATCHER};
use super::*;
use crate::engine::wait::{Poll, Wait, Waited};
use aws_sdk_elasticloadbalancingv2::types as elbt;

/// The front door, ready for targets.
pub(super) struct Ready {
    pub(super) sg_id: String,
    pub(super) tg_arn: String,
    pub(super) url: String,
    /// The instances registered now.
    pub(super) targets: Vec<String>,
}

/// The front door as it is, when every part a deploy needs exists (rollback makes none).
pub(super) fn ready_of(cx: &Cx, f: &Front) -> Option<Ready> {
    Some(Ready {
        sg_id: f.sg.as_ref()?.id.clone(),
        tg_arn: f.tg.as_ref()?.arn.clone(),
        url: alb::url(cx, f)?,
        targets: f.tg.as_ref()?.targets.clone(),
    })
}

fn elb_tags(cx: &Cx) -> Vec<elbt::Tag> {
    let mut out = vec![elbt::Tag::builder().key("Name").value(alb::name(cx)).build()];
    out.extend(tags(cx).into_iter().map(|(k, v)| elbt::Tag::builder().key(k).value(v).build()));
    out
}

fn code<E: ProvideErrorMetadata, R>(e: &aws_sdk_iam::error::SdkError<E, R>) -> Option<&str> {
    e.as_service_error().and_then(|s| s.code())
}

/// Every part of the front door as the manifest says: its security group, the load
/// balancer (with its idle timeout), the target group and the listener.
pub(super) async fn ensure(cx: &Cx, c: &Clients, f: &Front, r: &dyn Reporter) -> Result<Ready> {
    let (vpc, subnets) = default_subnets(c).await?;
    let group =
        Group { name: alb::sg_name(cx), description: format!("aideploy: the load balancer of {}", base_name(cx)), vpc: Some(vpc.clone()) };
    let sg_id = ensure_group(cx, c, f.sg.as_ref(), &group, alb::desired_ingress(cx), r).await?;
    let lb = match &f.lb {
        Some(lb) => lb.clone(),
        None => create_lb(cx, c, &sg_id, &subnets, r).await?,
    };
    let idle = alb::idle_timeout(cx);
    if lb.idle != Some(idle) {
        c.elb
            .modify_load_balancer_attributes()
            .load_balancer_arn(&lb.arn)
            .attributes(elbt::LoadBalancerAttribute::builder().key(IDLE_KEY).value(idle.to_string()).build())
            .send()
            .await
            .map_err(|e| failed("ELB ModifyLoadBalancerAttributes", e))?;
    }
    let path = cx.loaded.manifest.app().health.to_string();
    let (tg_arn, targets) = match &f.tg {
        Some(tg) => {
            if tg.path != path || tg.matcher != MATCHER {
                c.elb
                    .modify_target_group()
                    .target_group_arn(&tg.arn)
                    .health_check_path(&path)
                    .matcher(elbt::Matcher::builder().http_code(MATCHER).build())
                    .send()
                    .await
                    .map_err(|e| failed("ELB ModifyTargetGroup", e))?;
            }
            (tg.arn.clone(), tg.targets.clone())
        }
        None => (create_tg(cx, c, &vpc, &path, r).await?, Vec::new()),
    };
    let (lport, cert) = (alb::listener_port(cx), alb::certificate(cx));
    let protocol = if cert.is_some() { elbt::ProtocolEnum::Https } else { elbt::ProtocolEnum::Http };
    let forward = elbt::Action::builder().r#type(elbt::ActionTypeEnum::Forward).target_group_arn(&tg_arn).build();
    let certs = cert.as_ref().map(|c| vec![elbt::Certificate::builder().certificate_arn(c).build()]);
    match &f.listener {
        Some(l) if l.port == lport && l.certificate == cert => {}
        Some(l) => {
            r.step(&format!("changing the listener to {}:{lport}", protocol.as_str()));
            c.elb
                .modify_listener()
                .listener_arn(&l.arn)
                .port(i32::from(lport))
                .protocol(protocol)
                .set_certificates(certs)
                .default_actions(forward)
                .send()
                .await
                .map_err(|e| failed("ELB ModifyListener", e))?;
        }
        None => {
            r.step(&format!("creating the {}:{lport} listener", protocol.as_str()));
            c.elb
                .create_listener()
                .load_balancer_arn(&lb.arn)
                .port(i32::from(lport))
                .protocol(protocol.clone())
                .set_certificates(certs)
                .default_actions(forward)
                .set_tags(Some(elb_tags(cx)))
                .send()
                .await
                .map_err(|e| failed("ELB CreateListener", e))?;
        }
    }
    let https = cert.is_some();
    Ok(Ready { sg_id, tg_arn, url: format!("{}://{}", if https { "https" } else { "http" }, lb.dns), targets })
}

/// The default VPC and one of its default subnets per Availability Zone (at least two:
/// an ALB spans two zones or more).
pub(super) async fn default_subnets(c: &Clients) -> Result<(String, Vec<String>)> {
    let vpcs = c
        .ec2
        .describe_vpcs()
        .filters(ec2t::Filter::builder().name("is-default").values("true").build())
        .send()
        .await
        .map_err(|e| failed("EC2 DescribeVpcs", e))?;
    let Some(vpc) = vpcs.vpcs().first().and_then(|v| v.vpc_id()).map(str::to_string) else {
        return Err(Hinted::new(
            format!("{} has no default VPC for the load balancer", c.region),
            format!("create one (aws ec2 create-default-vpc --region {}), or drop `load_balancer`", c.region),
        )
        .into());
    };
    let out = c
        .ec2
        .describe_subnets()
        .filters(ec2t::Filter::builder().name("vpc-id").values(&vpc).build())
        .filters(ec2t::Filter::builder().name("default-for-az").values("true").build())
        .send()
        .await
        .map_err(|e| failed("EC2 DescribeSubnets", e))?;
    let mut by_zone: BTreeMap<String, String> = BTreeMap::new();
    for s in out.subnets() {
        if let (Some(zone), Some(id)) = (s.availability_zone(), s.subnet_id()) {
            let e = by_zone.entry(zone.to_string()).or_insert_with(|| id.to_string());
            if id < e.as_str() {
                *e = id.to_string();
            }
        }
    }
    if by_zone.len() < 2 {
        return Err(Hinted::new(
            format!("the default VPC {vpc} has default subnets in {} Availability Zone(s); a load balancer needs two", by_zone.len()),
            format!(
                "create a default subnet in another zone (aws ec2 create-default-subnet --availability-zone ZONE --region {})",
                c.region
            ),
        )
        .into());
    }
    Ok((vpc, by_zone.into_values().collect()))
}

async fn create_lb(cx: &Cx, c: &Clients, sg_id: &str, subnets: &[String], r: &dyn Reporter) -> Result<alb::Lb> {
    r.step(&format!("creating load balancer {}", alb::name(cx)));
    let out = c
        .elb
        .create_load_balancer()
        .name(alb::name(cx))
        .r#type(elbt::LoadBalancerTypeEnum::Application)
        .scheme(elbt::LoadBalancerSchemeEnum::InternetFacing)
        .security_groups(sg_id)
        .set_subnets(Some(subnets.to_vec()))
        .set_tags(Some(elb_tags(cx)))
        .send()
        .await
        .map_err(|e| failed("ELB CreateLoadBalancer", e))?;
    let Some(lb) = out.load_balancers().first() else {
        return Err(Hinted::new("ELB CreateLoadBalancer answered without a load balancer", "run the deploy again").into());
    };
    Ok(alb::Lb {
        arn: lb.load_balancer_arn().unwrap_or_default().to_string(),
        dns: lb.dns_name().unwrap_or_default().to_string(),
        idle: None,
    })
}

async fn create_tg(cx: &Cx, c: &Clients, vpc: &str, path: &str, r: &dyn Reporter) -> Result<String> {
    r.step(&format!("creating target group {}", alb::name(cx)));
    let out = c
        .elb
        .create_target_group()
        .name(alb::name(cx))
        .protocol(elbt::ProtocolEnum::Http)
        .port(i32::from(port(cx)))
        .vpc_id(vpc)
        .target_type(elbt::TargetTypeEnum::Instance)
        .health_check_path(path)
        .health_check_interval_seconds(10)
        .healthy_threshold_count(2)
        .matcher(elbt::Matcher::builder().http_code(MATCHER).build())
        .set_tags(Some(elb_tags(cx)))
        .send()
        .await
        .map_err(|e| failed("ELB CreateTargetGroup", e))?;
    out.target_groups()
        .first()
        .and_then(|g| g.target_group_arn())
        .map(str::to_string)
        .ok_or_else(|| Hinted::new("ELB CreateTargetGroup answered without a target group", "run the deploy again").into())
}

fn target(cx: &Cx, id: &str) -> elbt::TargetDescription {
    elbt::TargetDescription::builder().id(id).port(i32::from(port(cx))).build()
}

/// Registers `id` and waits until the target group calls it `healthy` (within the
/// target's `health_timeout`): `Ok(())`, or why not.
pub(super) async fn register_healthy(
    cx: &Cx,
    c: &Clients,
    tg_arn: &str,
    id: &str,
    r: &dyn Reporter,
) -> Result<std::result::Result<(), String>> {
    r.step(&format!("registering {id} with the load balancer"));
    c.elb.register_targets().target_group_arn(tg_arn).targets(target(cx, id)).send().await.map_err(|e| failed("ELB RegisterTargets", e))?;
    let what = format!("{id} healthy in the target group");
    let limit = health_timeout(cx);
    let waited = Wait::new(&what, Duration::from_secs(5), limit)
        .run(cx.poll, r, move || async move {
            let out = c
                .elb
                .describe_target_health()
                .target_group_arn(tg_arn)
                .targets(target(cx, id))
                .send()
                .await
                .map_err(|e| failed("ELB DescribeTargetHealth", e))?;
            let h = out.target_health_descriptions().first().and_then(|d| d.target_health());
            let state = h.and_then(|h| h.state()).map(|s| s.as_str().to_string()).unwrap_or_else(|| "unknown".into());
            if state == "healthy" {
                return Ok(Poll::Ready(()));
            }
            let why = h.and_then(|h| h.description()).map(|d| format!(": {d}")).unwrap_or_default();
            Ok(Poll::Pending(format!("{state}{why}")))
        })
        .await?;
    Ok(match waited {
        Waited::Ready(()) => Ok(()),
        Waited::TimedOut { last, .. } => {
            Err(format!("the load balancer did not find {id} healthy within {}s (last: {last})", limit.as_secs()))
        }
    })
}

/// Takes instances out of the target group; one not registered is out already.
pub(super) async fn deregister(cx: &Cx, c: &Clients, tg_arn: &str, ids: &[String], r: &dyn Reporter) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    r.step(&format!("deregistering {} from the load balancer", ids.join(", ")));
    let mut req = c.elb.deregister_targets().target_group_arn(tg_arn);
    for id in ids {
        req = req.targets(target(cx, id));
    }
    match req.send().await {
        Ok(_) => Ok(()),
        Err(e) if code(&e) == Some("InvalidTarget") => {
            // One of them was not registered: take the others out one by one.
            for id in ids {
                match c.elb.deregister_targets().target_group_arn(tg_arn).targets(target(cx, id)).send().await {
                    Ok(_) => {}
                    Err(e) if code(&e) == Some("InvalidTarget") => {}
                    Err(e) => return Err(failed("ELB DeregisterTargets", e)),
                }
            }
            Ok(())
        }
        Err(e) => Err(failed("ELB DeregisterTargets", e)),
    }
}

/// Waits while the load balancer drains `ids` (finishing the requests they were serving,
/// streamed answers included: the target group's deregistration delay, 300 s unless
/// changed), so terminating them cuts no answer short. After 10 minutes it warns and
/// lets them go.
pub(super) async fn wait_drained(cx: &Cx, c: &Clients, tg_arn: &str, ids: &[String], r: &dyn Reporter) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let limit = Duration::from_secs(600);
    let waited = Wait::new("the load balancer draining the previous instance", Duration::from_secs(5), limit)
        .run(cx.poll, r, move || async move {
            let mut req = c.elb.describe_target_health().target_group_arn(tg_arn);
            for id in ids {
                req = req.targets(target(cx, id));
            }
            let out = req.send().await.map_err(|e| failed("ELB DescribeTargetHealth", e))?;
            let draining = out
                .target_health_descriptions()
                .iter()
                .filter(|d| d.target_health().and_then(|h| h.state()) == Some(&elbt::TargetHealthStateEnum::Draining))
                .count();
            Ok(if draining == 0 { Poll::Ready(()) } else { Poll::Pending(format!("{draining} draining")) })
        })
        .await?;
    if let Waited::TimedOut { last, .. } = waited {
        r.warn(&format!("the load balancer was still draining after {} minutes ({last}); terminating anyway", limit.as_secs() / 60));
    }
    Ok(())
}

/// Deletes one part of the front door (gone already is done), waiting where AWS needs
/// it: a load balancer is gone before its target group can go; a security group is
/// retried while the load balancer's network interfaces still hold it.
pub(super) async fn delete(cx: &Cx, c: &Clients, part: Part, id: &str, r: &dyn Reporter) -> Result<()> {
    match part {
        Part::Listener => match c.elb.delete_listener().listener_arn(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("ListenerNotFound") => Ok(()),
            Err(e) => Err(failed("ELB DeleteListener", e)),
        },
        Part::LoadBalancer => {
            match c.elb.delete_load_balancer().load_balancer_arn(id).send().await {
                Ok(_) => {}
                Err(e) if code(&e) == Some("LoadBalancerNotFound") => return Ok(()),
                Err(e) => return Err(failed("ELB DeleteLoadBalancer", e)),
            }
            let waited = Wait::new("load balancer deleting", Duration::from_secs(5), Duration::from_secs(600))
                .run(cx.poll, r, move || async move {
                    match c.elb.describe_load_balancers().load_balancer_arns(id).send().await {
                        Ok(out) if out.load_balancers().is_empty() => Ok(Poll::Ready(())),
                        Ok(_) => Ok(Poll::Pending("still there".into())),
                        Err(e) if code(&e) == Some("LoadBalancerNotFound") => Ok(Poll::Ready(())),
                        Err(e) => Err(failed("ELB DescribeLoadBalancers", e)),
                    }
                })
                .await?;
            match waited {
                Waited::Ready(()) => Ok(()),
                Waited::TimedOut { .. } => {
                    Err(Hinted::new(format!("load balancer {id} still exists after 10 minutes"), "run destroy again later; it resumes")
                        .into())
                }
            }
        }
        Part::TargetGroup => {
            let waited = Wait::new("target group still in use", Duration::from_secs(5), Duration::from_secs(300))
                .run(cx.poll, r, move || async move {
                    match c.elb.delete_target_group().target_group_arn(id).send().await {
                        Ok(_) => Ok(Poll::Ready(())),
                        Err(e) if code(&e) == Some("TargetGroupNotFound") => Ok(Poll::Ready(())),
                        Err(e) if code(&e) == Some("ResourceInUse") => Ok(Poll::Pending(id.to_string())),
                        Err(e) => Err(failed("ELB DeleteTargetGroup", e)),
                    }
                })
                .await?;
            match waited {
                Waited::Ready(()) => Ok(()),
                Waited::TimedOut { .. } => {
                    Err(Hinted::new(format!("target group {id} is still in use after 5 minutes"), "run destroy again later; it resumes")
                        .into())
                }
            }
        }
        Part::SecurityGroup => delete_sg(cx, c, id, r).await,
    }
}
