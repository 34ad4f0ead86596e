//! `observe`'s reads: everything this target may have created, found by tags and
//! deterministic names, checked to be ours. Independent reads go out together.

use super::*;

pub(super) async fn read(cx: &Cx, c: &Clients) -> Result<Now> {
    let rname = role_name(cx, &c.region);
    let app = cx.app_name().to_string();
    let stage = cx.stage.to_string();
    let (repo_name, owner) = (repo_name(cx), tags(cx));
    let group = log_group_name(cx);
    let (instances, sg, role, profile, repo, secrets, log_group, addresses, front) = tokio::join!(
        read_instances(cx, c),
        read_sg(cx, c),
        read_own_role(cx, c, &rname),
        read_profile(cx, c, &rname),
        ecr::read(&c.ecr, &repo_name, &owner),
        store::list(&c.secrets, &app, &stage),
        crate::cloud::aws_logs::read_group(cx, &c.logs, &group),
        address::read(cx, c),
        alb::read(cx, c),
    );
    let (instances, sg, role, profile, repo, secrets, addresses, front) =
        (instances?, sg?, role?, profile?, repo?, secrets?, addresses?, front?);
    // A same-named group without this target's tags is never written to or deleted.
    let log_group = match log_group? {
        Some(g) if !g.ours => return Err(not_ours(cx, "CloudWatch log group", &group)),
        other => other,
    };
    for (name, spec) in &cx.loaded.manifest.secrets {
        let (name, spec) = (name.get(), spec.get());
        if !spec.optional && cx.secrets.absent.contains(name) && !secrets.contains_key(name) {
            let var = spec.env.as_ref().map(|e| e.get().clone()).unwrap_or_else(|| name.clone());
            return Err(UsageError::new(format!("secret `{name}` has no value here and none is stored in Secrets Manager"))
                .hint(format!(
                    "set ${var} (or `{var}=...` in .env) for this deploy, or store it once: aideploy secrets set {name} --target {}",
                    cx.target.name
                ))
                .into());
        }
    }
    let mut secret_same = BTreeMap::new();
    for (name, value) in &cx.secrets.values {
        if let Some(s) = secrets.get(name) {
            secret_same.insert(name.clone(), store::same_value(&c.secrets, &s.arn, value).await?);
        }
    }
    let mut now = Now {
        region: c.region.clone(),
        role,
        profile,
        sg,
        instances,
        repo,
        log_group,
        secrets,
        secret_same,
        health: Health::Skipped,
        addresses,
        front,
    };
    let through_lb = || {
        let url = alb::url(cx, &now.front).filter(|_| alb::wanted(cx) && c.plane.runs_workloads && now.live().is_some())?;
        Some(format!("{url}{}", cx.loaded.manifest.app().health))
    };
    if let Some(url) = now.live().and_then(|i| health_url(cx, c.plane, i)).or_else(through_lb) {
        now.health = if crate::engine::health::probe(&url).await { Health::Passed } else { Health::Failed };
    }
    Ok(now)
}

/// A same-named resource without this target's tags: refused, never adopted.
pub(super) fn not_ours(cx: &Cx, what: &str, name: &str) -> anyhow::Error {
    Hinted::new(
        format!("{what} {name} exists but was not created by aideploy for {} ({}) on {}", cx.app_name(), cx.stage, cx.target.name),
        format!("rename the app or stage, or delete the {what} {name}"),
    )
    .into()
}

/// The role and its policy, when it exists and carries this target's tags.
async fn read_own_role(cx: &Cx, c: &Clients, rname: &str) -> Result<Option<(String, Option<serde_json::Value>)>> {
    let Some(role) = crate::cloud::aws::read_role(&c.iam, rname, POLICY_NAME, PERMS_HINT).await? else { return Ok(None) };
    let out = c.iam.list_role_tags().role_name(rname).send().await.map_err(|e| failed("IAM ListRoleTags", e))?;
    let found: HashMap<String, String> = out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
    if !ours(cx, &found) {
        return Err(not_ours(cx, "IAM role", rname));
    }
    Ok(Some(role))
}

pub(super) fn tag_filter(k: &str, v: &str) -> ec2t::Filter {
    ec2t::Filter::builder().name(format!("tag:{k}")).values(v).build()
}

pub(super) async fn read_instances(cx: &Cx, c: &Clients) -> Result<Vec<Inst>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let mut req = c.ec2.describe_instances().filters(
            ec2t::Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .values("stopping")
                .values("stopped")
                .build(),
        );
        for (k, v) in tags(cx) {
            req = req.filters(tag_filter(k, &v));
        }
        let page = req.set_next_token(token).send().await.map_err(|e| failed("EC2 DescribeInstances", e))?;
        for res in page.reservations() {
            for i in res.instances() {
                let tags: HashMap<String, String> =
                    i.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect();
                if !ours(cx, &tags) {
                    continue;
                }
                out.push(Inst {
                    id: i.instance_id().unwrap_or_default().to_string(),
                    state: i.state().and_then(|s| s.name()).map(|s| s.as_str().to_string()).unwrap_or_default(),
                    public_ip: i.public_ip_address().map(str::to_string),
                    launched: i.launch_time().map(|t| t.secs()).unwrap_or_default(),
                    tags,
                });
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out.sort_by(|a, b| (a.launched, &a.id).cmp(&(b.launched, &b.id)));
    Ok(out)
}

pub(super) async fn read_sg(cx: &Cx, c: &Clients) -> Result<Option<Sg>> {
    read_sg_named(cx, c, &sg_name(cx)).await
}

/// The security group `name` with its ingress rules (a rule admitting another group is
/// `(port, group id)`); refused when it exists without this target's tags.
pub(super) async fn read_sg_named(cx: &Cx, c: &Clients, name: &str) -> Result<Option<Sg>> {
    let out = c
        .ec2
        .describe_security_groups()
        .filters(ec2t::Filter::builder().name("group-name").values(name).build())
        .send()
        .await
        .map_err(|e| failed("EC2 DescribeSecurityGroups", e))?;
    let mut found = None;
    for g in out.security_groups() {
        let tags: HashMap<String, String> = g.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect();
        if !ours(cx, &tags) {
            return Err(not_ours(cx, "security group", name));
        }
        let mut ingress = BTreeSet::new();
        for p in g.ip_permissions() {
            let port = p.from_port().unwrap_or(-1);
            let port =
                if port == p.to_port().unwrap_or(-2) && p.ip_protocol() == Some("tcp") { u16::try_from(port).unwrap_or(0) } else { 0 };
            for range in p.ip_ranges() {
                ingress.insert((port, range.cidr_ip().unwrap_or_default().to_string()));
            }
            for range in p.ipv6_ranges() {
                ingress.insert((port, range.cidr_ipv6().unwrap_or_default().to_string()));
            }
            for pair in p.user_id_group_pairs() {
                ingress.insert((port, pair.group_id().unwrap_or_default().to_string()));
            }
        }
        found = Some(Sg { id: g.group_id().unwrap_or_default().to_string(), ingress });
    }
    Ok(found)
}

/// The instance profile's ARN and whether our role is in it; refused when it exists
/// without this target's tags.
pub(super) async fn read_profile(cx: &Cx, c: &Clients, rname: &str) -> Result<Option<(String, bool)>> {
    match c.iam.get_instance_profile().instance_profile_name(rname).send().await {
        Ok(out) => {
            let Some(p) = out.instance_profile() else { return Ok(None) };
            let found: HashMap<String, String> = p.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
            if !ours(cx, &found) {
                return Err(not_ours(cx, "instance profile", rname));
            }
            Ok(Some((p.arn().to_string(), p.roles().iter().any(|r| r.role_name() == rname))))
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => Ok(None),
        Err(e) => Err(failed("IAM GetInstanceProfile", e)),
    }
}
