//! `apply`'s, `rollback`'s and `destroy`'s writes and waits: each a get -> create-or-update
//! that a re-run after any failure repeats safely.

use super::*;
use crate::engine::wait::{Poll, Wait, Waited};
use base64::Engine;

pub(super) async fn create_role(cx: &Cx, c: &Clients, rname: &str) -> Result<()> {
    let mut req = c
        .iam
        .create_role()
        .role_name(rname)
        .assume_role_policy_document(trust_policy())
        .description(format!("aideploy: instance role of {}", base_name(cx)));
    for (k, v) in tags(cx) {
        req = req.tags(aws_sdk_iam::types::Tag::builder().key(k).value(v).build().expect("key and value"));
    }
    match req.send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_already_exists_exception()) => Ok(()),
        Err(e) => Err(failed("IAM CreateRole", e)),
    }
}

pub(super) async fn create_profile(cx: &Cx, c: &Clients, rname: &str) -> Result<()> {
    let mut req = c.iam.create_instance_profile().instance_profile_name(rname);
    for (k, v) in tags(cx) {
        req = req.tags(aws_sdk_iam::types::Tag::builder().key(k).value(v).build().expect("key and value"));
    }
    match req.send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_already_exists_exception()) => Ok(()),
        Err(e) => Err(failed("IAM CreateInstanceProfile", e)),
    }
}

pub(super) async fn add_role_to_profile(c: &Clients, rname: &str) -> Result<()> {
    match c.iam.add_role_to_instance_profile().instance_profile_name(rname).role_name(rname).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_limit_exceeded_exception() || s.is_entity_already_exists_exception()) => Ok(()),
        Err(e) => Err(failed("IAM AddRoleToInstanceProfile", e)),
    }
}

pub(super) fn ip_permission(port: u16, cidr: &str) -> ec2t::IpPermission {
    let b = ec2t::IpPermission::builder().ip_protocol("tcp").from_port(i32::from(port)).to_port(i32::from(port));
    if cidr.starts_with("sg-") {
        b.user_id_group_pairs(ec2t::UserIdGroupPair::builder().group_id(cidr).build()).build()
    } else if cidr.contains(':') {
        b.ipv6_ranges(ec2t::Ipv6Range::builder().cidr_ipv6(cidr).build()).build()
    } else {
        b.ip_ranges(ec2t::IpRange::builder().cidr_ip(cidr).build()).build()
    }
}

/// The instance's security group with exactly the wanted ingress rules (`front`: the
/// load balancer's group, admitted to the app port). Returns its id.
pub(super) async fn ensure_sg(cx: &Cx, c: &Clients, have: Option<&Sg>, front: Option<&str>, r: &dyn Reporter) -> Result<String> {
    let group = Group { name: sg_name(cx), description: format!("aideploy: port {} of {}", port(cx), base_name(cx)), vpc: None };
    ensure_group(cx, c, have, &group, desired_ingress(cx, front), r).await
}

/// A security group to create: its name, description and VPC (`None`: the default VPC).
pub(super) struct Group {
    pub(super) name: String,
    pub(super) description: String,
    pub(super) vpc: Option<String>,
}

/// The group `g` (tagged on create) with exactly the ingress rules `want`. Returns its id.
pub(super) async fn ensure_group(
    cx: &Cx,
    c: &Clients,
    have: Option<&Sg>,
    g: &Group,
    want: BTreeSet<(u16, String)>,
    r: &dyn Reporter,
) -> Result<String> {
    let (id, current) = match have {
        Some(g) => (g.id.clone(), g.ingress.clone()),
        None => match read_sg_named(cx, c, &g.name).await? {
            Some(g) => (g.id, g.ingress),
            None => {
                r.step(&format!("creating security group {}", g.name));
                let mut spec = ec2t::TagSpecification::builder()
                    .resource_type(ec2t::ResourceType::SecurityGroup)
                    .tags(ec2t::Tag::builder().key("Name").value(&g.name).build());
                for (k, v) in tags(cx) {
                    spec = spec.tags(ec2t::Tag::builder().key(k).value(v).build());
                }
                let out = c
                    .ec2
                    .create_security_group()
                    .group_name(&g.name)
                    .description(&g.description)
                    .set_vpc_id(g.vpc.clone())
                    .tag_specifications(spec.build())
                    .send()
                    .await
                    .map_err(|e| failed("EC2 CreateSecurityGroup", e))?;
                (out.group_id().unwrap_or_default().to_string(), BTreeSet::new())
            }
        },
    };
    let add: Vec<&(u16, String)> = want.difference(&current).collect();
    let remove: Vec<&(u16, String)> = current.difference(&want).filter(|(p, _)| *p != 0).collect();
    if !add.is_empty() {
        let mut req = c.ec2.authorize_security_group_ingress().group_id(&id);
        for (p, cidr) in &add {
            req = req.ip_permissions(ip_permission(*p, cidr));
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("InvalidPermission.Duplicate") => {}
            Err(e) => return Err(failed("EC2 AuthorizeSecurityGroupIngress", e)),
        }
    }
    if !remove.is_empty() {
        let mut req = c.ec2.revoke_security_group_ingress().group_id(&id);
        for (p, cidr) in &remove {
            req = req.ip_permissions(ip_permission(*p, cidr));
        }
        req.send().await.map_err(|e| failed("EC2 RevokeSecurityGroupIngress", e))?;
    }
    Ok(id)
}

/// The AMI and its root device name (Ubuntu: /dev/sda1), checked to exist.
pub(super) async fn resolve_ami(cx: &Cx, c: &Clients, r: &dyn Reporter) -> Result<(String, String)> {
    let ami = find_ami(cx, c, r).await?;
    let missing = || -> anyhow::Error {
        UsageError::new(format!("AMI {ami} does not exist in {}", c.region))
            .hint("check `ami` in the manifest (AMIs are per region), or drop it to use the Deep Learning AMI")
            .into()
    };
    let images = match c.ec2.describe_images().image_ids(&ami).send().await {
        Ok(out) => out,
        Err(e) if e.as_service_error().and_then(|s| s.code()).is_some_and(|c| c.starts_with("InvalidAMIID")) => return Err(missing()),
        Err(e) => return Err(failed("EC2 DescribeImages", e)),
    };
    let Some(image) = images.images().first() else { return Err(missing()) };
    let root = image.root_device_name().unwrap_or("/dev/sda1").to_string();
    Ok((ami, root))
}

/// The AMI: the `ami` setting, else the region's current GPU Deep Learning Base AMI by
/// name through DescribeImages (the newest Amazon-owned image).
pub(super) async fn find_ami(cx: &Cx, c: &Clients, r: &dyn Reporter) -> Result<String> {
    if let Some(ami) = &cx.target.settings.ami {
        return Ok(ami.get().clone());
    }
    r.progress("looking up the GPU Deep Learning AMI");
    let out = c
        .ec2
        .describe_images()
        .owners("amazon")
        .filters(ec2t::Filter::builder().name("name").values(DLAMI_NAME).build())
        .filters(ec2t::Filter::builder().name("state").values("available").build())
        .filters(ec2t::Filter::builder().name("architecture").values("x86_64").build())
        .send()
        .await
        .map_err(|e| failed("EC2 DescribeImages", e))?;
    let images: Vec<(String, String)> = out
        .images()
        .iter()
        .map(|i| (i.creation_date().unwrap_or_default().to_string(), i.image_id().unwrap_or_default().to_string()))
        .collect();
    newest(images).ok_or_else(|| {
        UsageError::new(format!("no GPU Deep Learning AMI found in {} (no Amazon image named \"{DLAMI_NAME}\")", c.region))
            .hint(format!("set `ami = \"ami-...\"` in [targets.{}] to an AMI with Docker and the NVIDIA container runtime", cx.target.name))
            .into()
    })
}

/// The newest image of (creation date, id) pairs; ISO dates sort as text.
pub(super) fn newest(mut images: Vec<(String, String)>) -> Option<String> {
    images.retain(|(_, id)| !id.is_empty());
    images.into_iter().max().map(|(_, id)| id)
}

pub(super) struct Launch<'a> {
    /// The AMI and its root device name.
    pub(super) ami: &'a (String, String),
    pub(super) workload: &'a Workload,
    pub(super) script: &'a str,
    pub(super) config: &'a str,
    /// What the version is made of ([`crate::engine::Parts::encode`]); empty when not
    /// known (a rollback).
    pub(super) parts: &'a str,
    pub(super) sg_id: &'a str,
    pub(super) profile: &'a str,
    /// What ran before: (digest, image), kept on the new instance for `rollback`.
    pub(super) previous: Option<(String, String)>,
    /// The profile was just made: IAM may take a few seconds to let EC2 use it.
    pub(super) fresh_profile: bool,
}

pub(super) async fn run_instance(cx: &Cx, c: &Clients, l: &Launch<'_>, r: &dyn Reporter) -> Result<Inst> {
    let (ami, root) = (l.ami.0.as_str(), l.ami.1.as_str());
    let digest = workload_digest(l.workload);
    let mut all_tags: Vec<(String, String)> = tags(cx).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    all_tags.push(("Name".into(), base_name(cx)));
    all_tags.push((TAG_DIGEST.into(), digest.clone()));
    all_tags.push((TAG_CONFIG.into(), l.config.to_string()));
    if !l.parts.is_empty() {
        all_tags.push((TAG_PARTS.into(), l.parts.to_string()));
    }
    let mut image_tag = workload_image(l.workload);
    image_tag.truncate(256);
    all_tags.push((TAG_IMAGE.into(), image_tag));
    if let Some((d, i)) = &l.previous {
        all_tags.push((TAG_PREV_DIGEST.into(), d.clone()));
        all_tags.push((TAG_PREV_IMAGE.into(), i.clone()));
    }
    let spec = |rt: ec2t::ResourceType| {
        let mut s = ec2t::TagSpecification::builder().resource_type(rt);
        for (k, v) in &all_tags {
            s = s.tags(ec2t::Tag::builder().key(k).value(v).build());
        }
        s.build()
    };
    r.step(&format!("starting a {} instance from {ami} (@{})", instance_type(cx), short(&digest)));
    // The profile was just made: IAM may take a few seconds to let EC2 use it.
    let timeout = Duration::from_secs(if l.fresh_profile { 90 } else { 5 });
    let all_tags = &all_tags;
    let spec = &spec;
    let started = Wait::new("waiting for the new instance profile to reach EC2", Duration::from_secs(2), timeout)
        .run(cx.poll, r, move || async move {
            let out = c
                .ec2
                .run_instances()
                .image_id(ami)
                .instance_type(ec2t::InstanceType::from(instance_type(cx).as_str()))
                .min_count(1)
                .max_count(1)
                .iam_instance_profile(ec2t::IamInstanceProfileSpecification::builder().name(l.profile).build())
                .security_group_ids(l.sg_id)
                .user_data(base64::engine::general_purpose::STANDARD.encode(l.script))
                .metadata_options(
                    ec2t::InstanceMetadataOptionsRequest::builder()
                        .http_tokens(ec2t::HttpTokensState::Required)
                        .http_endpoint(ec2t::InstanceMetadataEndpointState::Enabled)
                        .http_put_response_hop_limit(1)
                        .build(),
                )
                .block_device_mappings(
                    ec2t::BlockDeviceMapping::builder()
                        .device_name(root)
                        .ebs(
                            ec2t::EbsBlockDevice::builder()
                                .volume_size(volume_gb(cx) as i32)
                                .volume_type(ec2t::VolumeType::Gp3)
                                .encrypted(true)
                                .delete_on_termination(true)
                                .build(),
                        )
                        .build(),
                )
                .tag_specifications(spec(ec2t::ResourceType::Instance))
                .tag_specifications(spec(ec2t::ResourceType::Volume))
                .send()
                .await;
            match out {
                Ok(out) => {
                    let Some(i) = out.instances().first() else {
                        return Err(Hinted::new("EC2 RunInstances answered without an instance", "run the deploy again").into());
                    };
                    Ok(Poll::Ready(Inst {
                        id: i.instance_id().unwrap_or_default().to_string(),
                        state: i.state().and_then(|s| s.name()).map(|s| s.as_str().to_string()).unwrap_or_default(),
                        public_ip: i.public_ip_address().map(str::to_string),
                        launched: i.launch_time().map(|t| t.secs()).unwrap_or_default(),
                        tags: all_tags.iter().cloned().collect(),
                    }))
                }
                Err(e) => {
                    let msg = e.as_service_error().and_then(|s| s.message()).unwrap_or_default().to_ascii_lowercase();
                    if msg.contains("instance profile") {
                        return Ok(Poll::Pending(msg));
                    }
                    if e.as_service_error().and_then(|s| s.code()) == Some("InsufficientInstanceCapacity") {
                        return Err(Hinted::new(
                            format!("EC2 has no {} capacity in {} right now", instance_type(cx), c.region),
                            "try again later, another region (--region), or another instance_type",
                        )
                        .into());
                    }
                    Err(failed("EC2 RunInstances", e))
                }
            }
        })
        .await?;
    match started {
        Waited::Ready(i) => Ok(i),
        Waited::TimedOut { last, waited } => Err(Hinted::new(
            format!("EC2 RunInstances still refused the instance profile {} after {}s: {last}", l.profile, waited.as_secs()),
            "run the deploy again; IAM changes can take a minute to reach EC2",
        )
        .into()),
    }
}

/// Waits until the instance runs and passes both status checks; shows elapsed time.
pub(super) async fn wait_ready(cx: &Cx, c: &Clients, id: &str, r: &dyn Reporter) -> Result<Inst> {
    r.step(&format!("waiting for {id} to run and pass its status checks"));
    let limit = Duration::from_secs(20 * 60);
    let what = format!("{id} status checks");
    let waited = Wait::new(&what, Duration::from_secs(5), limit)
        .run(cx.poll, r, move || async move {
            let out = c.ec2.describe_instances().instance_ids(id).send().await.map_err(|e| failed("EC2 DescribeInstances", e))?;
            let Some(i) = out.reservations().iter().flat_map(|r| r.instances()).next() else {
                anyhow::bail!("instance {id} is gone");
            };
            let state = i.state().and_then(|s| s.name()).map(|s| s.as_str().to_string()).unwrap_or_default();
            if matches!(state.as_str(), "terminated" | "shutting-down" | "stopped" | "stopping") {
                let why = i.state_reason().and_then(|s| s.message()).unwrap_or("no reason given");
                anyhow::bail!("instance {id} is {state} ({why})");
            }
            if state != "running" {
                return Ok(Poll::Pending(format!("{state}, status checks pending")));
            }
            let st = c.ec2.describe_instance_status().instance_ids(id).send().await.map_err(|e| failed("EC2 DescribeInstanceStatus", e))?;
            let s = st.instance_statuses().first();
            let sys = s
                .and_then(|s| s.system_status())
                .and_then(|s| s.status())
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "initializing".into());
            let ins = s
                .and_then(|s| s.instance_status())
                .and_then(|s| s.status())
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "initializing".into());
            if sys == "impaired" || ins == "impaired" {
                anyhow::bail!("instance {id} failed its status checks (system {sys}, instance {ins})");
            }
            if sys != "ok" || ins != "ok" {
                return Ok(Poll::Pending(format!("{state}, status checks system {sys}, instance {ins}")));
            }
            let tags = i.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect();
            Ok(Poll::Ready(Inst {
                id: id.to_string(),
                state,
                public_ip: i.public_ip_address().map(str::to_string),
                launched: i.launch_time().map(|t| t.secs()).unwrap_or_default(),
                tags,
            }))
        })
        .await?;
    match waited {
        Waited::Ready(i) => Ok(i),
        Waited::TimedOut { last, .. } => anyhow::bail!("instance {id} was not ready after {} minutes ({last})", limit.as_secs() / 60),
    }
}

/// Health-gates an instance: `Ok(health)` or why it failed.
pub(super) async fn gate(cx: &Cx, c: &Clients, i: &Inst, r: &dyn Reporter) -> std::result::Result<Health, String> {
    let Some(url) = health_url(cx, c.plane, i) else {
        if !c.plane.runs_workloads {
            r.warn(&format!(
                "health: skipped ({}: it runs no instance; set {} to check through another address)",
                crate::cloud::aws::DataPlane::WHY_NOT,
                crate::envvars::AIDEPLOY_EC2_HEALTH_HOST
            ));
            return Ok(Health::Skipped);
        }
        if alb::wanted(cx) {
            r.progress(&format!("{}: its port admits only the load balancer, whose health check gates it", i.id));
            return Ok(Health::Skipped);
        }
        if !access::is_open(cx) {
            r.warn(&format!(
                "health: skipped (port {} is private, so it cannot be checked from here; set {} to an address that reaches it, or check it through SSM port forwarding)",
                port(cx),
                crate::envvars::AIDEPLOY_EC2_HEALTH_HOST
            ));
            return Ok(Health::Skipped);
        }
        return Err("the instance has no public IP address to check (is the subnet's auto-assign public IP off?)".into());
    };
    r.step(&format!("waiting for {} to answer {url}", i.id));
    use crate::engine::health::{self, Front, Unhealthy};
    // The port is the container's own: every answer is the app's.
    let path = cx.loaded.manifest.app().health.to_string();
    match health::wait_healthy(&url, &path, Front::Direct, health_timeout(cx), r, || None).await {
        Ok(()) => Ok(Health::Passed),
        Err(Unhealthy::TimedOut { last }) => Err(format!(
            "GET {url} did not answer 2xx within {}s (last: {last}); the boot log is /var/log/aideploy.log on the instance",
            health_timeout(cx).as_secs()
        )),
        Err(Unhealthy::Failing(f)) => Err(format!("{}\nIts last answer: {}", f.why, health::shown_body(&cx.secrets.redact(&f.body)))),
        Err(Unhealthy::Exited(why)) => Err(why),
    }
}

pub(super) async fn terminate(c: &Clients, ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    match c.ec2.terminate_instances().set_instance_ids(Some(ids.to_vec())).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("InvalidInstanceID.NotFound") => Ok(()),
        Err(e) => Err(failed("EC2 TerminateInstances", e)),
    }
}

pub(super) async fn wait_terminated(cx: &Cx, c: &Clients, ids: &[String], r: &dyn Reporter) -> Result<()> {
    let waited = Wait::new("instances shutting down", Duration::from_secs(5), Duration::from_secs(600))
        .run(cx.poll, r, move || async move {
            let out = c
                .ec2
                .describe_instances()
                .set_instance_ids(Some(ids.to_vec()))
                .send()
                .await
                .map_err(|e| failed("EC2 DescribeInstances", e))?;
            let left = out
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .filter(|i| i.state().and_then(|s| s.name()).map(|s| s.as_str()) != Some("terminated"))
                .count();
            Ok(if left == 0 { Poll::Ready(()) } else { Poll::Pending(format!("{left} instance(s) left")) })
        })
        .await?;
    match waited {
        Waited::Ready(()) => Ok(()),
        Waited::TimedOut { last, .. } => {
            Err(Hinted::new(format!("instances still terminating after 10 minutes ({last})"), "run destroy again later; it resumes").into())
        }
    }
}

/// Deletes the group, retrying while a terminating instance still holds it.
pub(super) async fn delete_sg(cx: &Cx, c: &Clients, id: &str, r: &dyn Reporter) -> Result<()> {
    let waited = Wait::new("security group still in use", Duration::from_secs(10), Duration::from_secs(300))
        .run(cx.poll, r, move || async move {
            match c.ec2.delete_security_group().group_id(id).send().await {
                Ok(_) => Ok(Poll::Ready(())),
                Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("InvalidGroup.NotFound") => Ok(Poll::Ready(())),
                Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("DependencyViolation") => Ok(Poll::Pending(id.to_string())),
                Err(e) => Err(failed("EC2 DeleteSecurityGroup", e)),
            }
        })
        .await?;
    match waited {
        Waited::Ready(()) => Ok(()),
        Waited::TimedOut { .. } => {
            Err(Hinted::new(format!("security group {id} is still in use after 5 minutes"), "run destroy again later; it resumes").into())
        }
    }
}
