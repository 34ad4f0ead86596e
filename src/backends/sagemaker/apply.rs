//! `apply` and `rollback`: the plan's steps in order, each get -> create-or-update, so a
//! re-run after any failure repeats safely. SageMaker itself keeps the previous config
//! serving until the new instances answer `/ping`.

use super::*;
use crate::cloud::aws_bucket;
use crate::engine::Pushed;

pub(super) async fn apply(cx: &Cx, n: &Now, artifact: &Built<SmArtifact>, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    let art = &artifact.data;
    let ep = endpoint_name(cx);
    let actions = plan.display().actions;
    // Refused before anything changes: a release name taken by someone else's model or
    // config, or a bucket of the artifact bucket's name that is not aideploy's.
    for step in &plan.changes {
        if let Step::Model { name: Some(name), .. } | Step::Config { name: Some(name), .. } = step {
            refuse_foreign(cx, n, name)?;
        }
    }
    let b = upload::bucket(&n.account, &n.region);
    if art.archive.is_some() {
        if let Some(e) = n.bucket.refusal(&b) {
            return Err(e);
        }
    }
    let c = Clients::for_target(cx).await?;

    // 1. Secrets: values to Secrets Manager; only ARNs go further.
    let (app, stage) = (cx.app_name().to_string(), cx.stage.to_string());
    let mut refs: BTreeMap<String, SecretRef> =
        secret_refs(cx, &n.secrets, &[]).into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
    for step in &plan.changes {
        let Step::Secret { name, op, .. } = step else { continue };
        let Some(value) = cx.secrets.values.get(name).filter(|_| *op != Op::Noop) else { continue };
        r.step(&format!("storing secret {name}"));
        let w = store::put(&c.secrets, &app, &stage, &cx.target.name, name, value, n.secrets.get(name)).await?;
        refs.insert(name.clone(), SecretRef { arn: w.arn, version: w.version.unwrap_or_default() });
    }

    // 2. The execution role and its policy.
    let rname = role_name(cx, &c.region);
    let role_arn = match &n.role {
        Some(role) => role.arn.clone(),
        None => {
            r.step(&format!("creating role {rname}"));
            let description = format!("aideploy: execution role of SageMaker endpoint {ep}");
            crate::cloud::aws::create_role(&c.iam, cx, &rname, &trust_policy(), &description, PERMS_HINT).await?
        }
    };
    let image = cx.target.settings.image.as_ref().map(|i| i.get().as_str());
    let policy = role_policy(cx, &c.region, &n.account, image, &arns_of(&refs));
    if n.role.as_ref().and_then(|role| role.policy.as_ref()) != Some(&policy) {
        c.iam
            .put_role_policy()
            .role_name(&rname)
            .policy_name(POLICY_NAME)
            .policy_document(policy.to_string())
            .send()
            .await
            .map_err(|e| failed("IAM PutRolePolicy", e, PERMS_HINT))?;
    }

    // 3. The release: bucket and archive, model, endpoint config.
    let (id, model, variant) = desired_release(cx, art, &c.region, &n.account, &role_arn, &refs)?;
    let name = release_name(&ep, &id);
    refuse_foreign(cx, n, &name)?;
    let digest = artifact.info.digest.clone();
    let mut pushed = None;
    for step in &plan.changes {
        match step {
            Step::Bucket { name, .. } => {
                r.step(&format!("preparing the artifact bucket {name}"));
                aws_bucket::ensure(&c.s3, &b, &n.bucket).await?;
            }
            Step::Archive { bytes: Some(_), .. } => {
                let Some(a) = &art.archive else { continue };
                let key = upload::key(cx, &art_sha(a));
                let sent = upload::upload_archive(cx, &c.s3, &b, &key, &a.path, a.bytes, r).await?;
                pushed = Some(Pushed { reference: Some(b.url(&key)), uploaded_bytes: sent });
            }
            _ => {}
        }
    }
    if !n.has_model(&name) {
        r.step(&format!("creating model {name}"));
        let parts = plan::wanted_parts(cx, artifact).encode();
        create_model(cx, &c, &name, &model, &digest, &parts, r).await?;
    }
    if !n.has_config(&name) {
        r.step(&format!("creating endpoint config {name} ({})", variant.describe()));
        create_config(cx, &c, &name, &variant, &digest).await?;
    }

    // 4. The endpoint: created, or updated to the new config.
    let ep_now = n.endpoint.as_ref();
    let previous_config = ep_now.filter(|e| e.status != "Failed").map(|e| e.config.clone());
    let switched = switch_endpoint(cx, &c, ep_now.map(|e| e.status.as_str()), previous_config.as_deref(), &name, &digest, r).await?;
    let url = Some(invocation_url(&c.region, &ep));
    if let Err(why) = switched {
        return Ok(Outcome { url, health: Health::Failed, actions, failure: Some(why), pushed });
    }
    let health = health_after_switch(&c, r);
    prune(cx, &c, n, &name, r).await;
    r.done();
    Ok(Outcome { url, health, actions, failure: None, pushed })
}

/// The refusal of a release name held by a model or config that is not this target's.
fn refuse_foreign(cx: &Cx, n: &Now, name: &str) -> Result<()> {
    if n.foreign_models.contains(name) {
        return Err(not_ours(cx, "SageMaker model", name));
    }
    if n.foreign_configs.contains(name) {
        return Err(not_ours(cx, "SageMaker endpoint config", name));
    }
    Ok(())
}

pub(super) async fn rollback(cx: &Cx, n: &Now, plan: &Planned<Step>, r: &dyn Reporter) -> Result<Outcome> {
    // The config the plan names (`rollback --to`, or the one before the live one).
    let named = plan.changes.iter().find_map(|s| if let Step::Endpoint { to: Some(to), .. } = s { Some(to.clone()) } else { None });
    let to = match named {
        Some(to) => to,
        None => rollback_pair(cx, n)?.1,
    };
    let live = n.endpoint.as_ref().map(|e| e.config.as_str());
    let c = Clients::for_target(cx).await?;
    let digest = model_digest(&c, &to).await?;
    let status = n.endpoint.as_ref().map(|e| e.status.as_str());
    let switched = switch_endpoint(cx, &c, status, live, &to, digest.as_deref().unwrap_or(""), r).await?;
    let url = Some(invocation_url(&c.region, &endpoint_name(cx)));
    let actions = plan.display().actions;
    if let Err(why) = switched {
        return Ok(Outcome { url, health: Health::Failed, actions, failure: Some(why), pushed: None });
    }
    let health = health_after_switch(&c, r);
    r.done();
    Ok(Outcome { url, health, actions, failure: None, pushed: None })
}
