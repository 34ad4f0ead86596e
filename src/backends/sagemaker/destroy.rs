//! `destroy`: the plan's deletions, each of a resource `observe` found to be this
//! target's (a same-named one without its tags is never in the plan). The shared
//! artifact bucket stays: it holds other targets' artifacts and the deploy leases.

use super::*;
use crate::cloud::aws_bucket;
use crate::engine::Change;

pub(super) async fn destroy(cx: &Cx, n: &Now, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let mut actions = Vec::new();
    if plan.changes.is_empty() {
        return Ok(Outcome { url: None, health: Health::Skipped, actions, failure: None, pushed: None });
    }
    let c = Clients::for_target(cx).await?;
    let sm = &c.sagemaker;
    for step in &plan.changes {
        let done = match step {
            Step::DeleteEndpoint { name } => {
                r.step(&format!("deleting endpoint {name}"));
                match sm.delete_endpoint().endpoint_name(name).send().await {
                    Ok(_) => true,
                    Err(e) if is_not_found(&e) => false,
                    Err(e) => return Err(failed("SageMaker DeleteEndpoint", e, PERMS_HINT)),
                }
            }
            Step::DeleteConfig { name } => {
                r.step(&format!("deleting endpoint config {name}"));
                match sm.delete_endpoint_config().endpoint_config_name(name).send().await {
                    Ok(_) => true,
                    Err(e) if is_not_found(&e) => false,
                    Err(e) => return Err(failed("SageMaker DeleteEndpointConfig", e, PERMS_HINT)),
                }
            }
            Step::DeleteModel { name } => {
                r.step(&format!("deleting model {name}"));
                match sm.delete_model().model_name(name).send().await {
                    Ok(_) => true,
                    Err(e) if is_not_found(&e) => false,
                    Err(e) => return Err(failed("SageMaker DeleteModel", e, PERMS_HINT)),
                }
            }
            Step::DeleteArchives { prefix, .. } => {
                let b = upload::bucket(&n.account, &n.region);
                r.step(&format!("deleting the model archives in {}", b.url(prefix)));
                let deleted = aws_bucket::delete_prefix(&c.s3, &b, prefix).await?;
                if deleted > 0 {
                    actions.push(
                        Action::new(Op::Delete, "model-archives", b.url(prefix)).because(format!("{deleted} archives, every version")),
                    );
                }
                false
            }
            Step::DeleteLegacyArchives { prefix, .. } => {
                let b = upload::legacy_bucket(&n.account, &n.region);
                r.step(&format!("deleting the model archives in {}", b.url(prefix)));
                let (deleted, gone) = upload::delete_legacy(cx, &c.s3, &b).await?;
                if deleted > 0 {
                    actions.push(
                        Action::new(Op::Delete, "model-archives", b.url(prefix)).because(format!("{deleted} archives, every version")),
                    );
                }
                if gone {
                    actions.push(Action::new(Op::Delete, "bucket", &b.name).because("empty"));
                }
                false
            }
            Step::DeleteRole { name } => {
                r.step(&format!("deleting role {name}"));
                delete_role(&c, name).await?
            }
            Step::DeleteSecret { arn, name, .. } => {
                r.step(&format!("deleting secret {name}"));
                store::delete(&c.secrets, arn).await?;
                true
            }
            _ => false,
        };
        if done {
            actions.push(step.row());
        }
    }
    r.done();
    Ok(Outcome { url: None, health: Health::Skipped, actions, failure: None, pushed: None })
}

/// The role and its inline policies; `false` when it was gone already.
async fn delete_role(c: &Clients, name: &str) -> Result<bool> {
    let policies = match c.iam.list_role_policies().role_name(name).send().await {
        Ok(p) => p,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => return Ok(false),
        Err(e) => return Err(failed("IAM ListRolePolicies", e, PERMS_HINT)),
    };
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
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => Ok(false),
        Err(e) => Err(failed("IAM DeleteRole", e, PERMS_HINT)),
    }
}
