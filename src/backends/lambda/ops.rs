//! The calls apply, rollback and destroy make on Lambda: create or update the function
//! (retrying while IAM propagates a new role), wait for updates to settle, publish and
//! gate versions, move the alias, prune old versions, push the image.

use std::time::Duration;

use anyhow::Result;
use aws_sdk_lambda::error::ProvideErrorMetadata;

use super::*;
use crate::artifact::registry::Reference;
use crate::cloud::ecr;
use crate::engine::wait::{Poll, Wait, Waited};
use crate::error::Hinted;

pub(super) fn function_code(code: &upload::Code) -> aws_sdk_lambda::types::FunctionCode {
    let b = aws_sdk_lambda::types::FunctionCode::builder();
    match code {
        upload::Code::Inline(blob) => b.zip_file(blob.clone()),
        upload::Code::S3 { bucket, key } => b.s3_bucket(bucket).s3_key(key),
        upload::Code::Image(uri) => b.image_uri(uri),
    }
    .build()
}

/// Pushes the function's image to its repository: the named one, or the target's own
/// ECR repository at `own_uri` (made by an earlier step). Returns the image's URI by
/// digest and the bytes uploaded.
pub(super) async fn push_image(cx: &Cx, c: &Clients, img: &LambdaImage, own_uri: Option<&str>, r: &dyn Reporter) -> Result<(String, u64)> {
    let repo = match (&img.push, own_uri) {
        (PushTo::Named(repo), _) => repo.clone(),
        (PushTo::OwnEcr, _) if !c.plane.ecr_registry => {
            return Err(Hinted::new(
                format!("{}: no image registry stands behind its ECR API", crate::cloud::aws::DataPlane::WHY_NOT),
                format!("set {}=HOST:PORT/REPOSITORY to push the image to a registry you run", crate::envvars::AIDEPLOY_REGISTRY),
            )
            .into())
        }
        (PushTo::OwnEcr, Some(uri)) => Reference::parse(uri)?,
        (PushTo::OwnEcr, None) => {
            let uri = ecr::ensure(&c.ecr, &repo_name(cx), &tags(cx), r).await?;
            Reference::parse(&uri)?
        }
    };
    r.step(&format!("pushing the image to {}", repo.name()));
    let (_, uploaded) = crate::artifact::image::push_built(&img.local.image, &repo, &cx.stage, r).await?;
    Ok((image_uri(&repo.name(), &img.sha), uploaded))
}

pub(super) async fn update_code(cx: &Cx, c: &Clients, fname: &str, code: &upload::Code) -> Result<()> {
    let req = c.lambda.update_function_code().function_name(fname).architectures(lambda_arch(cx));
    let req = match code {
        upload::Code::Inline(blob) => req.zip_file(blob.clone()),
        upload::Code::S3 { bucket, key } => req.s3_bucket(bucket).s3_key(key),
        upload::Code::Image(uri) => req.image_uri(uri),
    };
    req.send().await.map_err(|e| failed("Lambda UpdateFunctionCode", e, PERMS_HINT))?;
    Ok(())
}

/// Health-gates `version`: invokes it with an HTTP API v2 event for the health path.
/// An emulator (moto) cannot run code: reported as skipped.
pub(super) async fn gate(cx: &Cx, c: &Clients, fname: &str, version: u64, r: &dyn Reporter) -> Result<std::result::Result<Health, String>> {
    if !c.plane.runs_workloads {
        r.warn(&format!("health: skipped ({}: it runs no function); the alias moves unchecked", crate::cloud::aws::DataPlane::WHY_NOT));
        return Ok(Ok(Health::Skipped));
    }
    r.step(&format!("checking version {version} answers {}", cx.loaded.manifest.app().health));
    let path = cx.loaded.manifest.app().health.to_string();
    Ok(invoke::health(cx, c, fname, version, &path, health_timeout(cx), r).await?.map(|()| Health::Passed))
}

/// The versions to delete after a deploy: all but the newest [`KEEP_VERSIONS`], never
/// the live one.
pub(super) fn versions_to_prune(mut numbers: Vec<u64>, live: u64) -> Vec<u64> {
    numbers.sort_unstable();
    numbers.dedup();
    let excess = numbers.len().saturating_sub(KEEP_VERSIONS);
    numbers.into_iter().take(excess).filter(|v| *v != live).collect()
}

/// Deletes old versions so code storage does not grow with every deploy. Best effort: a
/// failure only leaves more. Only where version numbers are never reused (real Lambda;
/// moto numbers a new version by counting the existing ones, so after a delete it would
/// hand out a number twice).
pub(super) async fn prune_versions(c: &Clients, fname: &str, numbers: Vec<u64>, live: u64, r: &dyn Reporter) {
    if !c.plane.unique_versions {
        return;
    }
    for v in versions_to_prune(numbers, live) {
        if let Err(e) = c.lambda.delete_function().function_name(fname).qualifier(v.to_string()).send().await {
            r.detail(&format!("could not delete old version {v}: {}", aws::describe(&e)));
        }
    }
}

pub(super) async fn set_alias(c: &Clients, fname: &str, version: u64, exists: bool) -> Result<()> {
    let v = version.to_string();
    if exists {
        c.lambda
            .update_alias()
            .function_name(fname)
            .name(ALIAS)
            .function_version(&v)
            .send()
            .await
            .map_err(|e| failed("Lambda UpdateAlias", e, PERMS_HINT))?;
        return Ok(());
    }
    match c
        .lambda
        .create_alias()
        .function_name(fname)
        .name(ALIAS)
        .function_version(&v)
        .description("served by the HTTP API; moved by aideploy")
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_conflict_exception()) => {
            c.lambda
                .update_alias()
                .function_name(fname)
                .name(ALIAS)
                .function_version(&v)
                .send()
                .await
                .map_err(|e| failed("Lambda UpdateAlias", e, PERMS_HINT))?;
            Ok(())
        }
        Err(e) => Err(failed("Lambda CreateAlias", e, PERMS_HINT)),
    }
}

pub(super) async fn create_role(cx: &Cx, c: &Clients, rname: &str) -> Result<String> {
    let description = format!("aideploy: execution role of Lambda function {}", function_name(cx));
    crate::cloud::aws::create_role(&c.iam, cx, rname, &trust_policy(), &description, PERMS_HINT).await
}

/// CreateFunction, retrying while IAM has not yet propagated the new role to Lambda
/// ("The role defined for the function cannot be assumed by Lambda").
pub(super) async fn create_function(
    cx: &Cx,
    c: &Clients,
    fname: &str,
    want: &FnConf,
    code: upload::Code,
    sha: &str,
    r: &dyn Reporter,
) -> Result<String> {
    // IAM takes a while to show a new role to Lambda: retried while it "cannot be assumed".
    let waited = Wait::new("waiting for the new role to reach Lambda", Duration::from_millis(500), Duration::from_secs(60))
        .run(cx.poll, r, || async {
            let mut req = c
                .lambda
                .create_function()
                .function_name(fname)
                .package_type(aws_sdk_lambda::types::PackageType::from(want.package.as_str()))
                .role(&want.role)
                .memory_size(want.memory)
                .timeout(want.timeout)
                .architectures(lambda_arch(cx))
                .environment(
                    aws_sdk_lambda::types::Environment::builder().set_variables(Some(want.env.clone().into_iter().collect())).build(),
                )
                .code(function_code(&code))
                .description(format!("{} ({}), deployed by aideploy", cx.app_name(), cx.stage))
                .publish(false)
                .tags(TAG_DIGEST, format!("sha256:{sha}"));
            if want.package != PACKAGE_IMAGE {
                req = req.runtime(aws_sdk_lambda::types::Runtime::from(want.runtime.as_str())).handler(&want.handler);
            }
            if want.snapstart {
                req = req.snap_start(snap_start(true));
            }
            for (k, v) in tags(cx) {
                req = req.tags(k, v);
            }
            match req.send().await {
                Ok(out) => Ok(Poll::Ready(Some(out.function_arn().unwrap_or_default().to_string()))),
                // Created by an interrupted run: converge by updating instead (below).
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_conflict_exception()) => Ok(Poll::Ready(None)),
                Err(e) => {
                    let msg = e.as_service_error().and_then(|s| s.message()).unwrap_or_default().to_string();
                    if e.as_service_error().is_some_and(|s| s.is_invalid_parameter_value_exception()) && msg.contains("cannot be assumed") {
                        return Ok(Poll::Pending("the role cannot be assumed yet".into()));
                    }
                    Err(failed(
                        "Lambda CreateFunction",
                        e,
                        "re-run the deploy; if the role cannot be assumed, wait a minute for IAM to propagate",
                    ))
                }
            }
        })
        .await?;
    match waited {
        Waited::Ready(Some(arn)) => Ok(arn),
        Waited::Ready(None) => {
            let got = c.lambda.get_function().function_name(fname).send().await.map_err(|e| failed("Lambda GetFunction", e, PERMS_HINT))?;
            if !ours(cx, got.tags()) {
                return Err(Hinted::new(
                    format!("a Lambda function named {fname} was created meanwhile, not by aideploy for this app, stage and target"),
                    format!("rename the app or stage, or delete the function {fname}"),
                )
                .into());
            }
            update_config(c, fname, want, want.snapstart).await?;
            wait_settled(cx, c, fname, None, r).await?;
            update_code(cx, c, fname, &code).await?;
            Ok(got.configuration().and_then(|c| c.function_arn()).unwrap_or_default().to_string())
        }
        Waited::TimedOut { last, .. } => Err(Hinted::new(
            format!("Lambda CreateFunction failed: {last} after 60s"),
            "re-run the deploy in a minute: IAM is still propagating the new role",
        )
        .into()),
    }
}

/// SnapStart on published versions, or off.
fn snap_start(on: bool) -> aws_sdk_lambda::types::SnapStart {
    use aws_sdk_lambda::types::SnapStartApplyOn;
    aws_sdk_lambda::types::SnapStart::builder()
        .apply_on(if on { SnapStartApplyOn::PublishedVersions } else { SnapStartApplyOn::None })
        .build()
}

/// UpdateFunctionConfiguration to `want`. `snap`: send the SnapStart setting (only when it
/// is or was on: a runtime without SnapStart is never sent one).
pub(super) async fn update_config(c: &Clients, fname: &str, want: &FnConf, snap: bool) -> Result<()> {
    let mut req = c.lambda.update_function_configuration().function_name(fname);
    if want.package != PACKAGE_IMAGE {
        req = req.runtime(aws_sdk_lambda::types::Runtime::from(want.runtime.as_str())).handler(&want.handler);
    }
    if snap && want.package != PACKAGE_IMAGE {
        req = req.snap_start(snap_start(want.snapstart));
    }
    req.role(&want.role)
        .memory_size(want.memory)
        .timeout(want.timeout)
        .environment(aws_sdk_lambda::types::Environment::builder().set_variables(Some(want.env.clone().into_iter().collect())).build())
        .send()
        .await
        .map_err(|e| failed("Lambda UpdateFunctionConfiguration", e, PERMS_HINT))?;
    Ok(())
}

/// Waits until the function (or one published `version` of it) is Active and its last
/// update Successful. A version published with SnapStart is `Pending` while Lambda
/// initialises and snapshots it.
pub(super) async fn wait_settled(cx: &Cx, c: &Clients, fname: &str, version: Option<u64>, r: &dyn Reporter) -> Result<()> {
    use aws_sdk_lambda::types::{LastUpdateStatus, State};
    let what = match version {
        Some(v) => format!("waiting for Lambda to initialise and snapshot version {v} (SnapStart)"),
        None => format!("waiting for Lambda to finish updating {fname}"),
    };
    let waited = Wait::new(&what, Duration::from_millis(500), Duration::from_secs(600))
        .run(cx.poll, r, || async {
            let conf = c
                .lambda
                .get_function_configuration()
                .function_name(fname)
                .set_qualifier(version.map(|v| v.to_string()))
                .send()
                .await
                .map_err(|e| failed("Lambda GetFunctionConfiguration", e, PERMS_HINT))?;
            let state = conf.state().cloned();
            let update = conf.last_update_status().cloned();
            if matches!(state, Some(State::Failed)) || matches!(update, Some(LastUpdateStatus::Failed)) {
                let why = conf.last_update_status_reason().or(conf.state_reason()).unwrap_or("no reason given");
                return Err(Hinted::new(format!("Lambda could not update {fname}: {why}"), "fix the cause above and deploy again").into());
            }
            let active = state.is_none() || matches!(state, Some(State::Active) | Some(State::Inactive));
            let done = update.is_none() || matches!(update, Some(LastUpdateStatus::Successful));
            Ok(if active && done {
                Poll::Ready(())
            } else {
                Poll::Pending(format!(
                    "state {}, last update {}",
                    state.as_ref().map(|s| s.as_str()).unwrap_or("?"),
                    update.as_ref().map(|u| u.as_str()).unwrap_or("?")
                ))
            })
        })
        .await?;
    match waited {
        Waited::Ready(()) => Ok(()),
        Waited::TimedOut { last, waited } => {
            Err(Hinted::new(format!("{fname} is still updating after {}s ({last})", waited.as_secs()), "deploy again later; it resumes")
                .into())
        }
    }
}

/// Provisioned concurrency on alias `live`.
pub(super) async fn put_warm(c: &Clients, fname: &str, instances: u32) -> Result<()> {
    c.lambda
        .put_provisioned_concurrency_config()
        .function_name(fname)
        .qualifier(ALIAS)
        .provisioned_concurrent_executions(instances as i32)
        .send()
        .await
        .map_err(|e| {
            failed(
                "Lambda PutProvisionedConcurrencyConfig",
                e,
                "lower `warm_instances`, or ask AWS for a higher concurrency quota (the account keeps 100 unreserved); the new version serves meanwhile, without warm instances",
            )
        })?;
    Ok(())
}

/// Removes the alias's provisioned concurrency; none is fine.
pub(super) async fn delete_warm(c: &Clients, fname: &str) -> Result<()> {
    match c.lambda.delete_provisioned_concurrency_config().function_name(fname).qualifier(ALIAS).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(()),
        Err(e) => Err(failed("Lambda DeleteProvisionedConcurrencyConfig", e, PERMS_HINT)),
    }
}

/// The alias's provisioned concurrency, if any.
pub(super) async fn read_warm(c: &Clients, fname: &str) -> Result<Option<Warm>> {
    match c.lambda.get_provisioned_concurrency_config().function_name(fname).qualifier(ALIAS).send().await {
        Ok(o) => Ok(Some(Warm {
            requested: o.requested_provisioned_concurrent_executions().unwrap_or(0).max(0) as u32,
            allocated: o.allocated_provisioned_concurrent_executions().unwrap_or(0).max(0) as u32,
            status: o.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            reason: o.status_reason().map(str::to_string),
        })),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_provisioned_concurrency_config_not_found_exception() || s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(failed("Lambda GetProvisionedConcurrencyConfig", e, PERMS_HINT)),
    }
}

/// Waits until the alias's warm instances are allocated (`READY`); `FAILED` is an error
/// naming Lambda's reason. The version serves meanwhile, cold.
pub(super) async fn wait_warm(cx: &Cx, c: &Clients, fname: &str, r: &dyn Reporter) -> Result<()> {
    let what = format!("waiting for the warm instances of {fname}:{ALIAS}");
    let waited = Wait::new(&what, Duration::from_secs(2), Duration::from_secs(900))
        .run(cx.poll, r, || async {
            let Some(w) = read_warm(c, fname).await? else {
                return Err(Hinted::new(format!("the provisioned concurrency of {fname}:{ALIAS} is gone"), "deploy again").into());
            };
            match w.status.as_str() {
                WARM_READY => Ok(Poll::Ready(w)),
                WARM_FAILED => Err(Hinted::new(
                    format!("Lambda could not keep {} instances of {fname}:{ALIAS} warm: {}", w.requested, w.reason.as_deref().unwrap_or("no reason given")),
                    "lower `warm_instances`, or ask AWS for a higher concurrency quota; the version serves meanwhile, without warm instances",
                )
                .into()),
                _ => Ok(Poll::Pending(w.words())),
            }
        })
        .await?;
    match waited {
        Waited::Ready(w) => {
            r.detail(&format!("{fname}:{ALIAS}: {}", w.words()));
            Ok(())
        }
        Waited::TimedOut { last, waited } => Err(Hinted::new(
            format!("the warm instances of {fname}:{ALIAS} are not ready after {}s ({last})", waited.as_secs()),
            "Lambda keeps allocating them: `aideploy status` shows when they are ready; the version serves meanwhile",
        )
        .into()),
    }
}

/// Publishes a version of the function's current code and configuration; its number.
pub(super) async fn publish(c: &Clients, fname: &str, pkg: &Package) -> Result<u64> {
    let sha = pkg.sha();
    let req = c.lambda.publish_version().function_name(fname);
    let req = match pkg {
        Package::Zip(_) => req.code_sha256(b64_of_hex(sha)).description(format!("aideploy sha256:{}", &sha[..12.min(sha.len())])),
        Package::Image(_) => req.description(format!("{IMAGE_VERSION_PREFIX}{sha}")),
    };
    let out = req.send().await.map_err(|e| failed("Lambda PublishVersion", e, "re-run the deploy: it picks up where it stopped"))?;
    out.version()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Hinted::new("Lambda PublishVersion returned no version number", "re-run the deploy").into())
}

/// API Gateway may invoke the alias, from this API only (`source`); a statement with
/// another source is replaced.
pub(super) async fn permit(c: &Clients, fname: &str, source: &str, replace: bool) -> Result<()> {
    if replace {
        let _ = c.lambda.remove_permission().function_name(fname).qualifier(ALIAS).statement_id(PERMISSION_SID).send().await;
    }
    let added = c
        .lambda
        .add_permission()
        .function_name(fname)
        .qualifier(ALIAS)
        .statement_id(PERMISSION_SID)
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .source_arn(source)
        .send()
        .await;
    match added {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_conflict_exception()) => Ok(()),
        Err(e) => Err(failed("Lambda AddPermission", e, PERMS_HINT)),
    }
}

/// Deletes the function with its versions and alias; gone already is fine.
pub(super) async fn delete_function(c: &Clients, fname: &str) -> Result<()> {
    match c.lambda.delete_function().function_name(fname).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(()),
        Err(e) => Err(failed("Lambda DeleteFunction", e, PERMS_HINT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prunes_all_but_the_newest_five_never_the_live_one() {
        assert_eq!(versions_to_prune(vec![1, 2, 3], 3), Vec::<u64>::new());
        assert_eq!(versions_to_prune(vec![7, 1, 2, 3, 4, 5, 6], 7), vec![1, 2]);
        // After a rollback to 1, a deploy of 8: 1 is live and stays.
        assert_eq!(versions_to_prune(vec![1, 2, 3, 4, 5, 6, 7, 8], 1), vec![2, 3]);
    }
}
