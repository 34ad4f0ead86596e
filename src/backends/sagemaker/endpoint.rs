//! The SageMaker calls apply, rollback and destroy make: models and endpoint configs
//! created (a same-named one without this target's tags refused), the endpoint created
//! or moved to a config and waited for, old releases pruned.

use super::*;
use crate::engine::wait::{Poll, Wait, Waited};

/// SageMaker answers a missing resource with a ValidationException "Could not find ...".
pub(super) fn is_not_found<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.message().is_some_and(|m| m.contains("Could not find") || m.contains("does not exist")) || e.code() == Some("ResourceNotFound")
}

pub(super) fn health_after_switch(c: &Clients, r: &dyn Reporter) -> Health {
    if !c.plane.runs_workloads {
        r.warn(&format!("health: skipped ({}: it runs no model container)", crate::cloud::aws::DataPlane::WHY_NOT));
        Health::Skipped
    } else {
        // SageMaker moves traffic to new instances only after they answer GET /ping.
        Health::Passed
    }
}

/// CreateModel, retrying while IAM has not yet propagated a new role to SageMaker.
/// `parts`: what the release is made of ([`crate::engine::Parts::encode`]), tagged on the
/// model for the next plan.
pub(super) async fn create_model(
    cx: &Cx,
    c: &Clients,
    name: &str,
    m: &ModelSpec,
    digest: &str,
    parts: &str,
    r: &dyn Reporter,
) -> Result<()> {
    use aws_sdk_sagemaker::types::ContainerDefinition;
    let container = ContainerDefinition::builder()
        .image(&m.image)
        .set_model_data_url(m.model_data_url.clone())
        .set_environment((!m.env.is_empty()).then(|| m.env.clone().into_iter().collect()))
        .build();
    let container = &container;
    let mut tags = sm_tags(cx, Some(digest));
    tags.push(aws_sdk_sagemaker::types::Tag::builder().key(crate::cloud::aws::TAG_PARTS).value(parts).build());
    let tags = &tags;
    let waited = Wait::new("waiting for the new role to reach SageMaker", Duration::from_millis(500), Duration::from_secs(90))
        .run(cx.poll, r, move || async move {
            let sent = c
                .sagemaker
                .create_model()
                .model_name(name)
                .execution_role_arn(&m.role)
                .primary_container(container.clone())
                .set_tags(Some(tags.clone()))
                .send()
                .await;
            match sent {
                Ok(_) => Ok(Poll::Ready(())),
                Err(e) => {
                    let msg = e.message().unwrap_or_default().to_string();
                    if msg.contains("Cannot create already existing model") || msg.contains("already exist") {
                        // Made a moment ago by an interrupted run of this target, or
                        // someone else's: only the first is used.
                        return match model_tags(c, name).await? {
                            Some(t) if ours(cx, &t) => Ok(Poll::Ready(())),
                            _ => Err(not_ours(cx, "SageMaker model", name)),
                        };
                    }
                    if msg.contains("assume") {
                        return Ok(Poll::Pending(msg));
                    }
                    Err(failed(
                        "SageMaker CreateModel",
                        e,
                        "re-run the deploy; if the role cannot be assumed, wait a minute for IAM to propagate",
                    ))
                }
            }
        })
        .await?;
    match waited {
        Waited::Ready(()) => Ok(()),
        Waited::TimedOut { last, waited } => Err(Hinted::new(
            format!("SageMaker CreateModel could not assume the role {} after {}s: {last}", m.role, waited.as_secs()),
            "re-run the deploy; IAM changes can take a minute to reach SageMaker",
        )
        .into()),
    }
}

pub(super) async fn create_config(cx: &Cx, c: &Clients, name: &str, v: &VariantSpec, digest: &str) -> Result<()> {
    use aws_sdk_sagemaker::types::{ProductionVariant, ProductionVariantInstanceType, ProductionVariantServerlessConfig};
    let mut pv = ProductionVariant::builder().variant_name(VARIANT).model_name(name);
    pv = match (&v.serverless, &v.instance_type) {
        (Some((mem, conc)), _) => {
            pv.serverless_config(ProductionVariantServerlessConfig::builder().memory_size_in_mb(*mem).max_concurrency(*conc).build())
        }
        (None, Some(t)) => pv
            .instance_type(ProductionVariantInstanceType::from(t.as_str()))
            .initial_instance_count(v.count.unwrap_or(1))
            .initial_variant_weight(1.0),
        _ => pv,
    };
    let pv = pv.build();
    match c
        .sagemaker
        .create_endpoint_config()
        .endpoint_config_name(name)
        .production_variants(pv)
        .set_tags(Some(sm_tags(cx, Some(digest))))
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.message().is_some_and(|m| m.contains("already exist")) => {
            let arn = c
                .sagemaker
                .describe_endpoint_config()
                .endpoint_config_name(name)
                .send()
                .await
                .map_err(|e| failed("SageMaker DescribeEndpointConfig", e, PERMS_HINT))?
                .endpoint_config_arn()
                .unwrap_or_default()
                .to_string();
            match tags_of(c, &arn).await? {
                Some(t) if ours(cx, &t) => Ok(()),
                _ => Err(not_ours(cx, "SageMaker endpoint config", name)),
            }
        }
        Err(e) => Err(failed(
            "SageMaker CreateEndpointConfig",
            e,
            "check the instance type and count are offered in this region and within the account's quota",
        )),
    }
}

/// Creates the endpoint or updates it to `config`, waiting until SageMaker is done.
/// `Ok(Err(why))` when SageMaker could not bring the new config into service (the
/// previous one, if any, keeps serving).
pub(super) async fn switch_endpoint(
    cx: &Cx,
    c: &Clients,
    status: Option<&str>,
    previous: Option<&str>,
    config: &str,
    digest: &str,
    r: &dyn Reporter,
) -> Result<std::result::Result<(), String>> {
    let ep = endpoint_name(cx);
    let sm = &c.sagemaker;
    let mut status = status.map(str::to_string);
    // An interrupted run may have left it busy: wait for SageMaker first.
    if status.as_deref().is_some_and(busy) {
        status = wait(cx, c, &ep, r).await?.map(|(s, _, _)| s);
    }
    if status.as_deref() == Some("Failed") {
        // DeleteEndpoint is the only operation a failed endpoint takes.
        r.step(&format!("deleting failed endpoint {ep}"));
        sm.delete_endpoint().endpoint_name(&ep).send().await.map_err(|e| failed("SageMaker DeleteEndpoint", e, PERMS_HINT))?;
        wait(cx, c, &ep, r).await?;
        status = None;
    }
    let current = match status {
        None => {
            r.step(&format!("creating endpoint {ep}"));
            sm.create_endpoint()
                .endpoint_name(&ep)
                .endpoint_config_name(config)
                .set_tags(Some(sm_tags(cx, Some(digest))))
                .send()
                .await
                .map_err(|e| failed("SageMaker CreateEndpoint", e, PERMS_HINT))?;
            None
        }
        Some(_) => {
            let live = describe(c, &ep).await?.map(|(_, cfg, _)| cfg);
            if live.as_deref() == Some(config) {
                return Ok(Ok(()));
            }
            r.step(&format!("updating endpoint {ep} to {config}"));
            sm.update_endpoint()
                .endpoint_name(&ep)
                .endpoint_config_name(config)
                .send()
                .await
                .map_err(|e| failed("SageMaker UpdateEndpoint", e, PERMS_HINT))?;
            live.or(previous.map(str::to_string))
        }
    };
    let after = wait(cx, c, &ep, r).await?;
    match after {
        Some((s, cfg, _)) if s == "InService" && cfg == config => {
            let arn = describe_arn(c, &ep).await?;
            if !digest.is_empty() {
                sm.add_tags()
                    .resource_arn(&arn)
                    .tags(aws_sdk_sagemaker::types::Tag::builder().key(TAG_DIGEST).value(digest).build())
                    .send()
                    .await
                    .map_err(|e| failed("SageMaker AddTags", e, PERMS_HINT))?;
            }
            Ok(Ok(()))
        }
        Some((s, cfg, why)) => {
            let why = why.unwrap_or_else(|| format!("the endpoint is {s}"));
            let kept = match (&current, s.as_str()) {
                (Some(_), "InService") => format!("the previous config {cfg} keeps serving"),
                (None, _) => "nothing is serving; fix the cause and deploy again (the failed endpoint is replaced)".to_string(),
                (Some(_), _) => format!("the endpoint is {s}"),
            };
            Ok(Err(format!("endpoint config {config}: {why}\n({kept})")))
        }
        None => Ok(Err(format!("endpoint {ep} disappeared while it was being updated"))),
    }
}

pub(super) fn busy(status: &str) -> bool {
    matches!(status, "Creating" | "Updating" | "SystemUpdating" | "RollingBack" | "Deleting")
}

/// (status, config, failure reason), or `None` when there is no such endpoint.
pub(super) async fn describe(c: &Clients, ep: &str) -> Result<Option<(String, String, Option<String>)>> {
    match c.sagemaker.describe_endpoint().endpoint_name(ep).send().await {
        Ok(d) => Ok(Some((
            d.endpoint_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            d.endpoint_config_name().unwrap_or_default().to_string(),
            d.failure_reason().filter(|s| !s.is_empty()).map(str::to_string),
        ))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(failed("SageMaker DescribeEndpoint", e, PERMS_HINT)),
    }
}

pub(super) async fn describe_arn(c: &Clients, ep: &str) -> Result<String> {
    let d =
        c.sagemaker.describe_endpoint().endpoint_name(ep).send().await.map_err(|e| failed("SageMaker DescribeEndpoint", e, PERMS_HINT))?;
    Ok(d.endpoint_arn().unwrap_or_default().to_string())
}

pub(super) fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Polls the endpoint until SageMaker is done with it, showing status and elapsed time.
pub(super) async fn wait(cx: &Cx, c: &Clients, ep: &str, r: &dyn Reporter) -> Result<Option<(String, String, Option<String>)>> {
    let shown = std::sync::Mutex::new(String::new());
    let shown = &shown;
    let started = std::time::Instant::now();
    let what = format!("endpoint {ep} (SageMaker takes about 10 minutes to bring up instances)");
    let waited =
        Wait { what: &what, every: Duration::from_secs(2), max_every: Duration::from_secs(15), timeout: cx.target.health_timeout() }
            .run(cx.poll, r, move || async move {
                let Some(d) = describe(c, ep).await? else { return Ok(Poll::Ready(None)) };
                if !busy(&d.0) {
                    return Ok(Poll::Ready(Some(d)));
                }
                // A line per status (CI logs), the elapsed time on the spinner (or with -v).
                let mut last = shown.lock().unwrap_or_else(|e| e.into_inner());
                if *last != d.0 {
                    r.step(&format!("endpoint {ep}: {}", d.0));
                    *last = d.0.clone();
                }
                Ok(Poll::Pending(format!("{}, {} elapsed", d.0, elapsed(started.elapsed()))))
            })
            .await?;
    match waited {
        Waited::Ready(d) => Ok(d),
        Waited::TimedOut { last, waited } => Err(Hinted::new(
            format!("endpoint {ep} is not in service after {}s ({last})", waited.as_secs()),
            "deploy again later: it waits for SageMaker and resumes",
        )
        .into()),
    }
}

/// Deletes releases beyond the newest [`KEEP_RELEASES`], never the live one. Best
/// effort: a failure only leaves more.
pub(super) async fn prune(cx: &Cx, c: &Clients, n: &Now, live: &str, r: &dyn Reporter) {
    let ep = endpoint_name(cx);
    let mut names: Vec<&Listed> = n.configs.iter().filter(|l| l.name != live).collect();
    names.sort_by_key(|l| std::cmp::Reverse(l.created));
    for old in names.into_iter().skip(KEEP_RELEASES - 1) {
        if !is_release_of(&ep, &old.name) {
            continue;
        }
        let a = c.sagemaker.delete_endpoint_config().endpoint_config_name(&old.name).send().await;
        // The model of the same name, when it is this target's too.
        let b = if n.has_model(&old.name) { c.sagemaker.delete_model().model_name(&old.name).send().await.map(|_| ()) } else { Ok(()) };
        if a.is_err() || b.is_err() {
            r.detail(&format!("could not delete old release {}", old.name));
        }
    }
}

/// A model's tags by name; `None` when there is no such model.
async fn model_tags(c: &Clients, name: &str) -> Result<Option<HashMap<String, String>>> {
    match c.sagemaker.describe_model().model_name(name).send().await {
        Ok(d) => match d.model_arn() {
            Some(arn) => tags_of(c, arn).await,
            None => Ok(None),
        },
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(failed("SageMaker DescribeModel", e, PERMS_HINT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_reads_as_minutes() {
        assert_eq!(elapsed(Duration::from_secs(754)), "12m 34s");
        assert_eq!(elapsed(Duration::from_secs(9)), "9s");
        assert!(busy("Updating") && !busy("InService") && !busy("Failed"));
    }
}
