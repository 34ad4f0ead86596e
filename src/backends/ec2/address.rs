//! The target's Elastic IP: the one public address a deploy prints, the same after every
//! deploy and rollback. Allocated once (tagged on create with this target's tags, so a
//! fresh clone and `destroy` find it by tags even when it never got associated), moved to
//! a new instance only after that instance passed its health check at its own address,
//! released by `destroy`. An address without this target's tags (even one carrying the
//! same `Name`) is never read as ours, so never moved or released.
//!
//! Only an open port has one: a private instance (reached through SSM) prints no URL, and
//! a public IPv4 address would cost by the hour for nothing.

use super::*;
use crate::engine::Action;

/// One of this target's Elastic IPs.
#[derive(Debug, Clone, PartialEq)]
pub struct Eip {
    pub allocation_id: String,
    pub public_ip: String,
    /// The instance it is associated with, if any.
    pub instance_id: Option<String>,
    pub association_id: Option<String>,
}

/// Whether this target keeps an address: only when its port is open.
/// Behind a load balancer there is none: the load balancer's name is the address.
pub(super) fn wanted(cx: &Cx) -> bool {
    access::is_open(cx) && !alb::wanted(cx)
}

/// The address's `Name` tag (for people; it is found by the ownership tags).
pub(super) fn name(cx: &Cx) -> String {
    fit(&format!("aideploy-{}", base_name(cx)), 255)
}

/// `http://IP:port`.
pub(super) fn url(cx: &Cx, ip: &str) -> String {
    format!("http://{ip}:{}", port(cx))
}

/// The address to keep among those found: the associated one, else the first.
pub(super) fn chosen(found: &[Eip]) -> Option<&Eip> {
    found.iter().find(|e| e.instance_id.is_some()).or(found.first())
}

/// The URL people reach the app at, serving from `on`: the address when it is on that
/// instance, else the instance's own. `None` when the port is private.
pub(super) fn serving_url(cx: &Cx, eip: Option<&Eip>, on: Option<&Inst>) -> Option<String> {
    if !access::is_open(cx) {
        return None;
    }
    let on = on?;
    match eip {
        Some(e) if e.instance_id.as_deref() == Some(on.id.as_str()) => Some(url(cx, &e.public_ip)),
        _ => url_of(cx, on),
    }
}

/// The plan's rows for the address: created when there is none, kept (and moved to the
/// new instance once it is healthy) when there is one, associated again when it is off
/// the instance that keeps serving (`serving`: the instance the plan keeps, `None` when a
/// new one starts); a second one of ours (never made by one run: left by hand) released.
pub(super) fn rows(cx: &Cx, n: &Now, serving: Option<&str>) -> Vec<Step> {
    if !wanted(cx) {
        // The addresses of before (the port closed, or a load balancer in front now).
        return n.addresses.iter().map(release_step).collect();
    }
    let keep = chosen(&n.addresses);
    let mut steps = vec![match (keep, serving) {
        (None, _) => Step::Address {
            op: Op::Create,
            id: name(cx),
            why: "the app's fixed public address, moved to each new instance once it is healthy".into(),
        },
        (Some(e), None) => {
            Step::Address { op: Op::Noop, id: e.public_ip.clone(), why: "moves to the new instance once it is healthy".into() }
        }
        (Some(e), Some(i)) if e.instance_id.as_deref() == Some(i) => {
            Step::Address { op: Op::Noop, id: e.public_ip.clone(), why: format!("on {i}") }
        }
        (Some(e), Some(i)) => Step::Address { op: Op::Update, id: e.public_ip.clone(), why: format!("associated with {i}") },
    }];
    for e in n.addresses.iter().filter(|e| keep.is_some_and(|k| k.allocation_id != e.allocation_id)) {
        steps.push(release_step(e));
    }
    steps
}

pub(super) fn release_step(e: &Eip) -> Step {
    Step::ReleaseAddress { allocation_id: e.allocation_id.clone(), ip: e.public_ip.clone(), association_id: e.association_id.clone() }
}

pub(super) fn row(op: Op, id: &str, why: &str) -> Action {
    Action::new(op, "elastic-ip", id).because(why.to_string())
}

/// This target's addresses: those carrying all of its tags.
pub(super) async fn read(cx: &Cx, c: &Clients) -> Result<Vec<Eip>> {
    let mut req = c.ec2.describe_addresses();
    for (k, v) in tags(cx) {
        req = req.filters(read::tag_filter(k, &v));
    }
    let out = req.send().await.map_err(|e| failed("EC2 DescribeAddresses", e))?;
    let mut found = Vec::new();
    for a in out.addresses() {
        let tags: HashMap<String, String> = a.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect();
        let (Some(id), Some(ip)) = (a.allocation_id(), a.public_ip()) else { continue };
        if !ours(cx, &tags) {
            continue;
        }
        found.push(Eip {
            allocation_id: id.to_string(),
            public_ip: ip.to_string(),
            instance_id: a.instance_id().filter(|i| !i.is_empty()).map(str::to_string),
            association_id: a.association_id().filter(|i| !i.is_empty()).map(str::to_string),
        });
    }
    found.sort_by(|a, b| a.allocation_id.cmp(&b.allocation_id));
    Ok(found)
}

/// A new address, tagged in the same call (so no run leaves an untagged one behind).
pub(super) async fn allocate(cx: &Cx, c: &Clients, r: &dyn Reporter) -> Result<Eip> {
    r.step(&format!("allocating Elastic IP {}", name(cx)));
    let mut spec = ec2t::TagSpecification::builder()
        .resource_type(ec2t::ResourceType::ElasticIp)
        .tags(ec2t::Tag::builder().key("Name").value(name(cx)).build());
    for (k, v) in tags(cx) {
        spec = spec.tags(ec2t::Tag::builder().key(k).value(v).build());
    }
    let out = match c.ec2.allocate_address().domain(ec2t::DomainType::Vpc).tag_specifications(spec.build()).send().await {
        Ok(out) => out,
        Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("AddressLimitExceeded") => {
            return Err(Hinted::new(
                format!("EC2 AllocateAddress failed: the account has all the Elastic IPs {} allows", c.region),
                "release an unused Elastic IP in this region, or ask AWS for a higher Elastic IP quota",
            )
            .into())
        }
        Err(e) => return Err(failed("EC2 AllocateAddress", e)),
    };
    Ok(Eip {
        allocation_id: out.allocation_id().unwrap_or_default().to_string(),
        public_ip: out.public_ip().unwrap_or_default().to_string(),
        instance_id: None,
        association_id: None,
    })
}

/// Puts the address on `instance` (taking it off the one it is on in the same call).
pub(super) async fn associate(c: &Clients, eip: &mut Eip, instance: &str, r: &dyn Reporter) -> Result<()> {
    if eip.instance_id.as_deref() == Some(instance) {
        return Ok(());
    }
    r.step(&format!("moving {} to {instance}", eip.public_ip));
    let out = c
        .ec2
        .associate_address()
        .allocation_id(&eip.allocation_id)
        .instance_id(instance)
        .allow_reassociation(true)
        .send()
        .await
        .map_err(|e| failed("EC2 AssociateAddress", e))?;
    eip.instance_id = Some(instance.to_string());
    eip.association_id = out.association_id().map(str::to_string);
    Ok(())
}

/// Takes the address off its instance and gives it back to AWS; gone already is done.
pub(super) async fn release(c: &Clients, allocation_id: &str, association_id: Option<&str>) -> Result<()> {
    if let Some(assoc) = association_id {
        match c.ec2.disassociate_address().association_id(assoc).send().await {
            Ok(_) => {}
            // Terminating the instance took it off already.
            Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("InvalidAssociationID.NotFound") => {}
            Err(e) => return Err(failed("EC2 DisassociateAddress", e)),
        }
    }
    match c.ec2.release_address().allocation_id(allocation_id).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("InvalidAllocationID.NotFound") => Ok(()),
        Err(e) => Err(failed("EC2 ReleaseAddress", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eip(id: &str, on: Option<&str>) -> Eip {
        Eip {
            allocation_id: id.into(),
            public_ip: format!("198.51.100.{}", id.len()),
            instance_id: on.map(str::to_string),
            association_id: on.map(|i| format!("eipassoc-{i}")),
        }
    }

    #[test]
    fn the_associated_address_is_kept() {
        assert_eq!(chosen(&[]), None);
        let (a, b) = (eip("eipalloc-a", None), eip("eipalloc-b", Some("i-1")));
        assert_eq!(chosen(&[a.clone(), b.clone()]), Some(&b));
        assert_eq!(chosen(std::slice::from_ref(&a)), Some(&a));
    }
}
