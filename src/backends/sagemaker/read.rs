//! `current`'s reads: the endpoint, its live release, this endpoint's models and
//! configs, the role and the secrets, found by deterministic names and checked by tags.
//! Independent reads go out together.

use anyhow::Result;

use super::*;

pub(super) async fn read(cx: &Cx, c: Clients) -> Result<Now> {
    let ep = endpoint_name(cx);
    let rname = role_name(cx, &c.region);
    let app = cx.app_name().to_string();
    let stage = cx.stage.to_string();
    let (endpoint, configs, models, role, secrets) = tokio::join!(
        read_endpoint(&c, &ep),
        list_configs(&c, &ep),
        list_models(&c, &ep),
        crate::cloud::aws::read_role(&c.iam, &rname, POLICY_NAME, PERMS_HINT),
        store::list(&c.secrets, &app, &stage)
    );
    let endpoint = endpoint?;
    if let Some(e) = &endpoint {
        let found = tags_of(&c, &e.arn).await?.unwrap_or_default();
        if !ours(cx, &found) {
            return Err(Hinted::new(
                format!("a SageMaker endpoint named {ep} exists but was not created by aideploy for this app, stage and target"),
                "delete or rename it, or deploy with another --stage",
            )
            .into());
        }
    }
    // Names like a release of ours are not enough: only those tagged for this app.
    let mut configs = configs?;
    let mut models = models?;
    for list in [&mut configs, &mut models] {
        let mut kept = Vec::with_capacity(list.len());
        for l in list.drain(..) {
            if tags_of(&c, &l.arn).await?.is_some_and(|t| ours(cx, &t)) {
                kept.push(l);
            }
        }
        *list = kept;
    }
    let live = match &endpoint {
        Some(e) => Some(read_live(&c, &e.config).await?),
        None => None,
    };
    let secrets = secrets?;
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
    Ok(Now { clients: c, role: role?, endpoint, live, configs, models, secrets, secret_same })
}

async fn read_endpoint(c: &Clients, ep: &str) -> Result<Option<EndpointNow>> {
    match c.sagemaker.describe_endpoint().endpoint_name(ep).send().await {
        Ok(d) => Ok(Some(EndpointNow {
            arn: d.endpoint_arn().unwrap_or_default().to_string(),
            status: d.endpoint_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            config: d.endpoint_config_name().unwrap_or_default().to_string(),
            failure: d.failure_reason().filter(|s| !s.is_empty()).map(str::to_string),
        })),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(failed("SageMaker DescribeEndpoint", e, PERMS_HINT)),
    }
}

/// The live config's variant and model, and the model's digest tag.
async fn read_live(c: &Clients, config: &str) -> Result<LiveNow> {
    let cfg = match c.sagemaker.describe_endpoint_config().endpoint_config_name(config).send().await {
        Ok(d) => Some(d),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(failed("SageMaker DescribeEndpointConfig", e, PERMS_HINT)),
    };
    let pv = cfg.as_ref().and_then(|d| d.production_variants().first().cloned());
    let variant = pv.as_ref().map(|pv| VariantSpec {
        instance_type: pv.instance_type().map(|t| t.as_str().to_string()),
        count: pv.initial_instance_count(),
        serverless: pv.serverless_config().map(|s| (s.memory_size_in_mb().unwrap_or_default(), s.max_concurrency().unwrap_or_default())),
    });
    let model_name = pv.as_ref().and_then(|pv| pv.model_name().map(str::to_string));
    let (model, digest) = match &model_name {
        Some(m) => match c.sagemaker.describe_model().model_name(m).send().await {
            Ok(d) => {
                let spec = d.primary_container().map(|pc| ModelSpec {
                    image: pc.image().unwrap_or_default().to_string(),
                    model_data_url: pc.model_data_url().map(str::to_string),
                    env: pc.environment().map(|e| e.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default(),
                    role: d.execution_role_arn().unwrap_or_default().to_string(),
                });
                let digest = match d.model_arn() {
                    Some(arn) => tags_of(c, arn).await?.and_then(|t| t.get(TAG_DIGEST).cloned()),
                    None => None,
                };
                (spec, digest)
            }
            Err(e) if is_not_found(&e) => (None, None),
            Err(e) => return Err(failed("SageMaker DescribeModel", e, PERMS_HINT)),
        },
        None => (None, None),
    };
    Ok(LiveNow { variant, model, digest })
}

/// The `aideploy:digest` tag of a model, by name.
pub(super) async fn model_digest(c: &Clients, name: &str) -> Result<Option<String>> {
    let d = match c.sagemaker.describe_model().model_name(name).send().await {
        Ok(d) => d,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(failed("SageMaker DescribeModel", e, PERMS_HINT)),
    };
    match d.model_arn() {
        Some(arn) => Ok(tags_of(c, arn).await?.and_then(|t| t.get(TAG_DIGEST).cloned())),
        None => Ok(None),
    }
}

/// A resource's tags, `None` when it is gone.
pub(super) async fn tags_of(c: &Clients, arn: &str) -> Result<Option<HashMap<String, String>>> {
    let mut out = HashMap::new();
    let mut token = None;
    loop {
        let page = match c.sagemaker.list_tags().resource_arn(arn).set_next_token(token).send().await {
            Ok(p) => p,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(failed("SageMaker ListTags", e, PERMS_HINT)),
        };
        for t in page.tags() {
            if let (Some(k), Some(v)) = (t.key(), t.value()) {
                out.insert(k.to_string(), v.to_string());
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(Some(out));
        }
    }
}

fn millis(t: Option<&aws_sdk_sagemaker::primitives::DateTime>) -> i64 {
    t.map(|t| t.secs() * 1000 + i64::from(t.subsec_nanos() / 1_000_000)).unwrap_or(0)
}

async fn list_configs(c: &Clients, ep: &str) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .sagemaker
            .list_endpoint_configs()
            .name_contains(ep)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| failed("SageMaker ListEndpointConfigs", e, PERMS_HINT))?;
        for s in page.endpoint_configs() {
            let name = s.endpoint_config_name().unwrap_or_default();
            if is_release_of(ep, name) {
                out.push(Listed {
                    name: name.to_string(),
                    arn: s.endpoint_config_arn().unwrap_or_default().to_string(),
                    created: millis(s.creation_time()),
                });
            }
        }
        token = page.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        if token.is_none() {
            out.sort_by_key(|l| l.created);
            return Ok(out);
        }
    }
}

async fn list_models(c: &Clients, ep: &str) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .sagemaker
            .list_models()
            .name_contains(ep)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| failed("SageMaker ListModels", e, PERMS_HINT))?;
        for s in page.models() {
            let name = s.model_name().unwrap_or_default();
            if is_release_of(ep, name) {
                out.push(Listed {
                    name: name.to_string(),
                    arn: s.model_arn().unwrap_or_default().to_string(),
                    created: millis(s.creation_time()),
                });
            }
        }
        token = page.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        if token.is_none() {
            out.sort_by_key(|l| l.created);
            return Ok(out);
        }
    }
}
