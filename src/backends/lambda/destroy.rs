//! `destroy`: the plan's deletions, each of a resource `observe` found to be ours.

use anyhow::Result;

use super::*;
use crate::cloud::ecr;
use crate::engine::{Action, Change};
use crate::secrets::aws as store;

pub(super) async fn destroy(cx: &Cx, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let mut actions = Vec::new();
    if plan.changes.is_empty() {
        return Ok(Outcome { url: None, health: Health::Skipped, actions, failure: None, pushed: None });
    }
    let c = Clients::for_target(cx).await?;
    for step in &plan.changes {
        match step {
            Step::DeleteUploads { account, at } => {
                let deleted = upload::delete_uploads(cx, &c, account).await?;
                // Only what was there: most deploys never upload a zip.
                if deleted > 0 {
                    actions.push(Action::new(Op::Delete, "zip-uploads", at).because(format!("{deleted} zips")));
                }
                continue;
            }
            Step::DeleteApi { id } => {
                r.step(&format!("deleting HTTP API {id}"));
                match c.apigw.delete_api().api_id(id).send().await {
                    Ok(_) => {}
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found_exception()) => {}
                    Err(e) => return Err(failed("API Gateway DeleteApi", e, PERMS_HINT)),
                }
            }
            Step::DeleteFunction { name, .. } => {
                r.step(&format!("deleting function {name}"));
                ops::delete_function(&c, name).await?;
            }
            Step::DeleteRole { name } => {
                r.step(&format!("deleting role {name}"));
                let policies =
                    c.iam.list_role_policies().role_name(name).send().await.map_err(|e| failed("IAM ListRolePolicies", e, PERMS_HINT))?;
                for p in policies.policy_names() {
                    c.iam
                        .delete_role_policy()
                        .role_name(name)
                        .policy_name(p)
                        .send()
                        .await
                        .map_err(|e| failed("IAM DeleteRolePolicy", e, PERMS_HINT))?;
                }
                match c.iam.delete_role().role_name(name).send().await {
                    Ok(_) => {}
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
                    Err(e) => return Err(failed("IAM DeleteRole", e, PERMS_HINT)),
                }
            }
            Step::DeleteRepository { name } => {
                r.step(&format!("deleting ECR repository {name}"));
                ecr::delete(&c.ecr, name).await?;
            }
            Step::DeleteSecret { arn, name, .. } => {
                r.step(&format!("deleting secret {name}"));
                store::delete(&c.secrets, arn).await?;
            }
            _ => continue,
        }
        actions.push(step.row());
    }
    r.done();
    Ok(Outcome { url: None, health: Health::Skipped, actions, failure: None, pushed: None })
}
