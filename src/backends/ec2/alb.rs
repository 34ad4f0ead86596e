//! The target's Application Load Balancer (`load_balancer = true`): the other front door
//! besides the Elastic IP. An internet-facing ALB in the default VPC's subnets (one per
//! Availability Zone, at least two), its own security group (80 or 443 from
//! `allow_cidrs`, or from anywhere with `public = true`), a target group of instances on
//! the app port checking `[app] health` (200-399), and one listener: HTTPS on 443 with
//! `certificate_arn`, else plain HTTP on 80. The instance's security group then admits
//! the app port only from the load balancer's group.
//!
//! Each is found by its name and checked to carry this target's tags (a same-named one
//! without them is refused, never adopted); the listener is the one on our ALB. A new
//! instance is registered only after it passed its own health check, and the old one is
//! deregistered and terminated only once the target group says the new one is
//! `healthy`; the URL, `http(s)://{ALB DNS name}`, never changes.

use super::*;
use crate::engine::Action;
use aws_sdk_elasticloadbalancingv2 as elb;

/// Whether the manifest asks for the load balancer.
pub(super) fn wanted(cx: &Cx) -> bool {
    cx.target.values.load_balancer == Some(true)
}

/// The load balancer's and target group's name: at most 32 characters, letters, digits
/// and hyphens (both kinds of name share the rule; they live in separate namespaces).
pub(super) fn name(cx: &Cx) -> String {
    fit(&format!("aideploy-{}", base_name(cx)), 32)
}

/// The load balancer's security group.
pub(super) fn sg_name(cx: &Cx) -> String {
    fit(&format!("aideploy-{}-lb", base_name(cx)), 255)
}

/// The HTTPS listener's certificate, when given.
pub(super) fn certificate(cx: &Cx) -> Option<String> {
    cx.target.settings.certificate_arn.as_ref().map(|a| a.get().clone())
}

/// The listener's port: 443 with a certificate, else 80.
pub(super) fn listener_port(cx: &Cx) -> u16 {
    if certificate(cx).is_some() {
        443
    } else {
        80
    }
}

pub(super) fn idle_timeout(cx: &Cx) -> u32 {
    cx.target.values.idle_timeout.map(|s| s.0).unwrap_or(300)
}

/// The ingress rules of the load balancer's group: the listener's port from the allowed
/// networks.
pub(super) fn desired_ingress(cx: &Cx) -> BTreeSet<(u16, String)> {
    access::allow_cidrs(cx).into_iter().map(|c| (listener_port(cx), c)).collect()
}

/// `http://DNS` or `https://DNS`, from the listener there is (else the one wanted).
pub(super) fn url(cx: &Cx, f: &Front) -> Option<String> {
    let lb = f.lb.as_ref()?;
    let https = match &f.listener {
        Some(l) => l.protocol == "HTTPS",
        None => certificate(cx).is_some(),
    };
    Some(format!("{}://{}", if https { "https" } else { "http" }, lb.dns))
}

/// Everything of the front door `observe` found (each part ours).
#[derive(Debug, Clone, Default)]
pub struct Front {
    pub sg: Option<Sg>,
    pub lb: Option<Lb>,
    pub tg: Option<Tg>,
    pub listener: Option<Listener>,
}

impl Front {
    pub(super) fn is_empty(&self) -> bool {
        self.sg.is_none() && self.lb.is_none() && self.tg.is_none() && self.listener.is_none()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Lb {
    pub arn: String,
    pub dns: String,
    /// `idle_timeout.timeout_seconds`.
    pub idle: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tg {
    pub arn: String,
    pub path: String,
    pub matcher: String,
    /// The instances registered (not those deregistered or draining).
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub arn: String,
    pub port: u16,
    pub protocol: String,
    pub certificate: Option<String>,
}

/// The parts of the front door, each a plan row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    SecurityGroup,
    LoadBalancer,
    TargetGroup,
    Listener,
}

impl Part {
    pub(super) fn resource(self) -> &'static str {
        match self {
            Part::SecurityGroup => "lb-security-group",
            Part::LoadBalancer => "load-balancer",
            Part::TargetGroup => "target-group",
            Part::Listener => "listener",
        }
    }
}

pub(super) fn row(part: Part, op: Op, id: &str, why: &str) -> Action {
    let a = Action::new(op, part.resource(), id);
    if why.is_empty() {
        a
    } else {
        a.because(why.to_string())
    }
}

fn rules_text(rules: &BTreeSet<(u16, String)>) -> String {
    if rules.is_empty() {
        return "no inbound rules: set `public = true` or `allow_cidrs` to let anyone reach it".into();
    }
    rules.iter().map(|(p, c)| format!("{p} from {c}")).collect::<Vec<_>>().join(", ")
}

/// The plan's rows for the front door: each part created, kept or brought to what the
/// manifest says; with `load_balancer` off, the parts that exist are deleted.
pub(super) fn rows(cx: &Cx, n: &Now) -> Vec<Step> {
    let f = &n.front;
    if !wanted(cx) {
        return deletions(cx, f, false);
    }
    let step = |part, op, id: String, why: String| Step::Front { part, op, id, why };
    let mut out = Vec::new();
    let want = desired_ingress(cx);
    out.push(match &f.sg {
        None => step(Part::SecurityGroup, Op::Create, sg_name(cx), rules_text(&want)),
        Some(g) if g.ingress == want => step(Part::SecurityGroup, Op::Noop, format!("{} ({})", sg_name(cx), g.id), String::new()),
        Some(g) => step(Part::SecurityGroup, Op::Update, format!("{} ({})", sg_name(cx), g.id), rules_text(&want)),
    });
    let idle = idle_timeout(cx);
    out.push(match &f.lb {
        None => step(
            Part::LoadBalancer,
            Op::Create,
            name(cx),
            format!("internet-facing, in the default VPC; idle timeout {idle}s; the app's fixed URL"),
        ),
        Some(lb) if lb.idle == Some(idle) => step(Part::LoadBalancer, Op::Noop, lb.dns.clone(), String::new()),
        Some(lb) => step(
            Part::LoadBalancer,
            Op::Update,
            lb.dns.clone(),
            format!("idle timeout {}s -> {idle}s", lb.idle.map(|i| i.to_string()).unwrap_or_else(|| "?".into())),
        ),
    });
    let path = cx.loaded.manifest.app().health.to_string();
    out.push(match &f.tg {
        None => step(Part::TargetGroup, Op::Create, name(cx), format!("instances on port {}, health {path} (200-399)", port(cx))),
        Some(tg) if tg.path == path && tg.matcher == MATCHER => step(Part::TargetGroup, Op::Noop, name(cx), String::new()),
        Some(_) => step(Part::TargetGroup, Op::Update, name(cx), format!("health {path} (200-399)")),
    });
    let (lport, cert) = (listener_port(cx), certificate(cx));
    let what = match &cert {
        Some(c) => format!("HTTPS:443 with {c}"),
        None => "HTTP:80 (plain HTTP: set `certificate_arn` for HTTPS)".to_string(),
    };
    out.push(match &f.listener {
        None => step(Part::Listener, Op::Create, format!("{}:{lport}", name(cx)), what),
        Some(l) if l.port == lport && l.certificate == cert => {
            step(Part::Listener, Op::Noop, format!("{}:{}", name(cx), l.port), String::new())
        }
        Some(l) => step(Part::Listener, Op::Update, format!("{}:{}", name(cx), l.port), what),
    });
    out
}

/// The steps deleting every part that exists, in the order AWS takes them: the listener,
/// the load balancer, the target group; its security group last (with `sg_separately`,
/// left to the caller: on destroy it goes after the instance's group, whose rule names it).
pub(super) fn deletions(cx: &Cx, f: &Front, sg_separately: bool) -> Vec<Step> {
    let mut out = Vec::new();
    if let Some(l) = &f.listener {
        out.push(Step::DeleteFront { part: Part::Listener, id: l.arn.clone(), name: format!("{}:{}", name(cx), l.port) });
    }
    if let Some(lb) = &f.lb {
        out.push(Step::DeleteFront { part: Part::LoadBalancer, id: lb.arn.clone(), name: lb.dns.clone() });
    }
    if let Some(tg) = &f.tg {
        out.push(Step::DeleteFront { part: Part::TargetGroup, id: tg.arn.clone(), name: name(cx) });
    }
    if !sg_separately {
        out.extend(sg_deletion(cx, f));
    }
    out
}

pub(super) fn sg_deletion(cx: &Cx, f: &Front) -> Option<Step> {
    f.sg.as_ref().map(|g| Step::DeleteFront { part: Part::SecurityGroup, id: g.id.clone(), name: format!("{} ({})", sg_name(cx), g.id) })
}

/// What the target group answers a health check with to count as healthy.
pub(super) const MATCHER: &str = "200-399";

fn code<E: ProvideErrorMetadata, R>(e: &aws_sdk_iam::error::SdkError<E, R>) -> Option<&str> {
    e.as_service_error().and_then(|s| s.code())
}

/// The front door's parts that exist, each checked to carry this target's tags.
pub(super) async fn read(cx: &Cx, c: &Clients) -> Result<Front> {
    let (group, own) = (sg_name(cx), name(cx));
    let (sg, lb, tg) = tokio::join!(read::read_sg_named(cx, c, &group), read_lb(c, &own), read_tg(c, &own));
    let (sg, lb, tg) = (sg?, lb?, tg?);
    let arns: Vec<String> = lb.iter().map(|(a, _)| a.clone()).chain(tg.iter().map(|t| t.arn.clone())).collect();
    if !arns.is_empty() {
        let out = c.elb.describe_tags().set_resource_arns(Some(arns)).send().await.map_err(|e| failed("ELB DescribeTags", e))?;
        for d in out.tag_descriptions() {
            let found: HashMap<String, String> =
                d.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect();
            if !ours(cx, &found) {
                let arn = d.resource_arn().unwrap_or_default();
                let what = if arn.contains(":targetgroup/") { "target group" } else { "load balancer" };
                return Err(read::not_ours(cx, what, &name(cx)));
            }
        }
    }
    let mut front = Front { sg, tg, ..Front::default() };
    if let Some((arn, dns)) = lb {
        let (idle, listener) = tokio::join!(read_idle(c, &arn), read_listener(c, &arn));
        front.listener = listener?;
        front.lb = Some(Lb { arn, dns, idle: idle? });
    }
    Ok(front)
}

async fn read_lb(c: &Clients, name: &str) -> Result<Option<(String, String)>> {
    match c.elb.describe_load_balancers().names(name).send().await {
        Ok(out) => Ok(out
            .load_balancers()
            .first()
            .map(|l| (l.load_balancer_arn().unwrap_or_default().to_string(), l.dns_name().unwrap_or_default().to_string()))),
        Err(e) if code(&e) == Some("LoadBalancerNotFound") => Ok(None),
        Err(e) => Err(failed("ELB DescribeLoadBalancers", e)),
    }
}

async fn read_idle(c: &Clients, arn: &str) -> Result<Option<u32>> {
    let out = c
        .elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(arn)
        .send()
        .await
        .map_err(|e| failed("ELB DescribeLoadBalancerAttributes", e))?;
    Ok(out.attributes().iter().find(|a| a.key() == Some(IDLE_KEY)).and_then(|a| a.value()).and_then(|v| v.parse().ok()))
}

pub(super) const IDLE_KEY: &str = "idle_timeout.timeout_seconds";

async fn read_listener(c: &Clients, lb_arn: &str) -> Result<Option<Listener>> {
    let out = c.elb.describe_listeners().load_balancer_arn(lb_arn).send().await.map_err(|e| failed("ELB DescribeListeners", e))?;
    Ok(out.listeners().iter().find(|l| matches!(l.port(), Some(80 | 443))).map(|l| Listener {
        arn: l.listener_arn().unwrap_or_default().to_string(),
        port: l.port().and_then(|p| u16::try_from(p).ok()).unwrap_or_default(),
        protocol: l.protocol().map(|p| p.as_str().to_string()).unwrap_or_default(),
        certificate: l.certificates().first().and_then(|c| c.certificate_arn()).map(str::to_string),
    }))
}

async fn read_tg(c: &Clients, name: &str) -> Result<Option<Tg>> {
    let out = match c.elb.describe_target_groups().names(name).send().await {
        Ok(out) => out,
        Err(e) if code(&e) == Some("TargetGroupNotFound") => return Ok(None),
        Err(e) => return Err(failed("ELB DescribeTargetGroups", e)),
    };
    let Some(g) = out.target_groups().first() else { return Ok(None) };
    let arn = g.target_group_arn().unwrap_or_default().to_string();
    let targets = registered(c, &arn).await?;
    Ok(Some(Tg {
        arn,
        path: g.health_check_path().unwrap_or_default().to_string(),
        matcher: g.matcher().and_then(|m| m.http_code()).unwrap_or_default().to_string(),
        targets,
    }))
}

/// The instances registered in the target group (draining and unused ones are not).
pub(super) async fn registered(c: &Clients, tg_arn: &str) -> Result<Vec<String>> {
    let out = c.elb.describe_target_health().target_group_arn(tg_arn).send().await.map_err(|e| failed("ELB DescribeTargetHealth", e))?;
    let mut ids: Vec<String> = out
        .target_health_descriptions()
        .iter()
        .filter(|d| {
            !matches!(
                d.target_health().and_then(|h| h.state()),
                Some(elb::types::TargetHealthStateEnum::Draining | elb::types::TargetHealthStateEnum::Unused)
            )
        })
        .filter_map(|d| d.target().and_then(|t| t.id()).map(str::to_string))
        .collect();
    ids.sort();
    Ok(ids)
}
