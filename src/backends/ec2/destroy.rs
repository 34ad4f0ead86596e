//! `destroy`: the plan's deletions, each of a resource `observe` found to be ours.

use super::*;
use crate::engine::Change;

pub(super) async fn destroy(cx: &Cx, _n: &Now, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    if plan.changes.is_empty() {
        return Ok(Outcome { url: None, health: Health::Skipped, actions: Vec::new(), failure: None, pushed: None });
    }
    let c = Clients::for_target(cx).await?;
    let ids: Vec<String> =
        plan.changes.iter().filter_map(|s| if let Step::Terminate { id, .. } = s { Some(id.clone()) } else { None }).collect();
    if !ids.is_empty() {
        r.step(&format!("terminating {}", ids.join(", ")));
        terminate(&c, &ids).await?;
        wait_terminated(cx, &c, &ids, r).await?;
    }
    for step in &plan.changes {
        match step {
            Step::ReleaseAddress { allocation_id, ip, association_id } => {
                r.step(&format!("releasing Elastic IP {ip}"));
                address::release(&c, allocation_id, association_id.as_deref()).await?;
            }
            Step::DeleteFront { part, id, name } => {
                r.step(&format!("deleting {} {name}", part.resource()));
                alb_ops::delete(cx, &c, *part, id, r).await?;
            }
            Step::DeleteSecurityGroup { id, .. } => {
                r.step(&format!("deleting security group {id}"));
                delete_sg(cx, &c, id, r).await?;
            }
            Step::DeleteProfile { name, has_role } => {
                r.step(&format!("deleting instance profile {name}"));
                if *has_role {
                    match c.iam.remove_role_from_instance_profile().instance_profile_name(name).role_name(name).send().await {
                        Ok(_) => {}
                        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
                        Err(e) => return Err(failed("IAM RemoveRoleFromInstanceProfile", e)),
                    }
                }
                match c.iam.delete_instance_profile().instance_profile_name(name).send().await {
                    Ok(_) => {}
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
                    Err(e) => return Err(failed("IAM DeleteInstanceProfile", e)),
                }
            }
            Step::DeleteRole { name } => {
                r.step(&format!("deleting role {name}"));
                let policies = c.iam.list_role_policies().role_name(name).send().await.map_err(|e| failed("IAM ListRolePolicies", e))?;
                for p in policies.policy_names() {
                    c.iam
                        .delete_role_policy()
                        .role_name(name)
                        .policy_name(p)
                        .send()
                        .await
                        .map_err(|e| failed("IAM DeleteRolePolicy", e))?;
                }
                match c.iam.delete_role().role_name(name).send().await {
                    Ok(_) => {}
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
                    Err(e) => return Err(failed("IAM DeleteRole", e)),
                }
            }
            Step::DeleteRepository { name } => {
                r.step(&format!("deleting ECR repository {name}"));
                ecr::delete(&c.ecr, name).await?;
            }
            Step::DeleteLogGroup { name } => {
                r.step(&format!("deleting log group {name}"));
                crate::cloud::aws_logs::delete_group(&c.logs, name).await?;
            }
            Step::DeleteSecret { arn, name, .. } => {
                r.step(&format!("deleting secret {name}"));
                store::delete(&c.secrets, arn).await?;
            }
            _ => {}
        }
    }
    r.done();
    Ok(Outcome { url: None, health: Health::Skipped, actions: plan.changes.iter().map(Change::row).collect(), failure: None, pushed: None })
}
