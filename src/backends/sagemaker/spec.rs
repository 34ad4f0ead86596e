//! What the manifest asks for, as plain values: the model (image, archive, environment,
//! role), the endpoint config's variant, the release id that digests both, the role's
//! policy, and the settings checked before anything is built or read.

use super::*;

/// What a model holds, as aideploy sets it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSpec {
    pub image: String,
    pub model_data_url: Option<String>,
    pub env: BTreeMap<String, String>,
    pub role: String,
}

/// The endpoint config's one production variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantSpec {
    pub instance_type: Option<String>,
    pub count: Option<i32>,
    /// (memory MiB, max concurrency)
    pub serverless: Option<(i32, i32)>,
}

impl VariantSpec {
    pub(super) fn describe(&self) -> String {
        match (&self.serverless, &self.instance_type) {
            (Some((m, c)), _) => format!("serverless {m} MB, concurrency {c}"),
            (None, Some(t)) => format!("{} x {t}", self.count.unwrap_or(1)),
            _ => "unknown".into(),
        }
    }
}

/// The release id: a digest of the model and its instances.
pub(super) fn release_id(model: &ModelSpec, variant: &VariantSpec) -> String {
    let text = serde_json::to_string(&json!({"model": model, "variant": variant})).expect("json");
    hex::encode(Sha256::digest(text.as_bytes()))[..12].to_string()
}

pub(super) fn trust_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    })
    .to_string()
}

/// The role's only permissions.
pub(super) fn role_policy(
    cx: &Cx,
    region: &str,
    account: &str,
    image: Option<&str>,
    secret_arns: &BTreeMap<String, String>,
) -> serde_json::Value {
    let ep = endpoint_name(cx);
    let bucket = upload::bucket(account, region).name;
    let group = format!("arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{ep}");
    let mut statements = vec![
        json!({
            "Sid": "OwnModelArchives",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/{}*", upload::prefix(cx))
        }),
        json!({
            "Sid": "OwnLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [group.clone(), format!("{group}:*")]
        }),
        json!({"Sid": "Metrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"}),
    ];
    if let Some((acct, reg, repo)) = image.and_then(image::ecr_repository) {
        statements.push(json!({
            "Sid": "OwnImage",
            "Effect": "Allow",
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            "Resource": format!("arn:aws:ecr:{reg}:{acct}:repository/{repo}")
        }));
        statements.push(json!({"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}));
    }
    if !secret_arns.is_empty() {
        statements.push(json!({
            "Sid": "OwnSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": secret_arns.values().collect::<Vec<_>>()
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The image the model runs: `image`, else the Hugging Face container for the region.
pub(super) fn model_image(cx: &Cx, region: &str) -> Result<String> {
    if let Some(i) = &cx.target.settings.image {
        return Ok(i.get().clone());
    }
    let gpu = cx.target.settings.serverless.is_none() && image::is_gpu(Some(&instance_type(cx)));
    image::huggingface_image(region, gpu).ok_or_else(|| {
        UsageError::new(format!("aideploy does not know the Hugging Face inference container for region {region}"))
            .hint("set `image` in the target's section to the inference image URI for that region")
            .into()
    })
}

pub(super) fn instance_type(cx: &Cx) -> String {
    cx.target.values.instance_type.clone().unwrap_or_default()
}

pub(super) fn desired_variant(cx: &Cx) -> VariantSpec {
    let s = &cx.target.settings;
    match &s.serverless {
        Some(sv) => VariantSpec {
            instance_type: None,
            count: None,
            serverless: Some((sv.get().memory.mib as i32, sv.get().max_concurrency as i32)),
        },
        None => VariantSpec {
            instance_type: Some(instance_type(cx)),
            count: Some(cx.target.values.instance_count.unwrap_or(1) as i32),
            serverless: None,
        },
    }
}

pub(super) fn desired_model(
    cx: &Cx,
    art: &SmArtifact,
    region: &str,
    account: &str,
    role_arn: &str,
    refs: &BTreeMap<String, SecretRef>,
) -> Result<ModelSpec> {
    let mut env: BTreeMap<String, String> = cx.loaded.manifest.env_pairs().into_iter().collect();
    let arns = arns_of(refs);
    if !arns.is_empty() {
        env.insert(SECRET_ARNS_ENV.into(), serde_json::to_string(&arns).expect("json"));
        let mut h = Sha256::new();
        for (name, r) in refs {
            h.update(format!("{name}={}\n", r.version).as_bytes());
        }
        env.insert(SECRETS_REV_ENV.into(), hex::encode(h.finalize())[..16].to_string());
    }
    let model_data_url = art.archive.as_ref().map(|a| upload::bucket(account, region).url(&upload::key(cx, &art_sha(a))));
    Ok(ModelSpec { image: model_image(cx, region)?, model_data_url, env, role: role_arn.to_string() })
}

/// The release the manifest asks for: (id, model, variant).
pub(super) fn desired_release(
    cx: &Cx,
    art: &SmArtifact,
    region: &str,
    account: &str,
    role_arn: &str,
    refs: &BTreeMap<String, SecretRef>,
) -> Result<(String, ModelSpec, VariantSpec)> {
    let model = desired_model(cx, art, region, account, role_arn, refs)?;
    let variant = desired_variant(cx);
    Ok((release_id(&model, &variant), model, variant))
}

/// Checks the settings offline, before anything is built or read.
pub(super) fn check_settings(cx: &Cx) -> Result<()> {
    let s = &cx.target.settings;
    let ep = endpoint_name(cx);
    // Room for `-{12 hex}` in the model and config names (63 characters at most).
    if ep.len() > 50 {
        return Err(UsageError::new(format!("the endpoint name `{ep}` is {} characters; aideploy needs it within 50", ep.len()))
            .hint("use a shorter app name, --stage or target name")
            .into());
    }
    if s.model_dir.is_none() && s.image.is_none() {
        return Err(UsageError::new(
            "the sagemaker target needs a model: `model_dir` (a folder with the weights and code/inference.py) or `image`",
        )
        .hint("add `model_dir = \"model\"` to the target's section")
        .into());
    }
    if let Some(sv) = &s.serverless {
        let m = sv.get().memory.mib;
        if !(1024..=6144).contains(&m) || m % 1024 != 0 {
            return Err(UsageError::new(format!("serverless memory {m} MiB is not one SageMaker offers"))
                .hint("give 1024, 2048, 3072, 4096, 5120 or 6144")
                .into());
        }
        if !(1..=200).contains(&sv.get().max_concurrency) {
            return Err(UsageError::new("serverless max_concurrency must be 1 to 200")
                .hint("e.g. `serverless = { memory = 2048, max_concurrency = 5 }`")
                .into());
        }
        if s.instance_type.is_some() || s.instance_count.is_some() {
            return Err(UsageError::new("`serverless` and `instance_type`/`instance_count` exclude each other")
                .hint("keep one of them")
                .into());
        }
    }
    if let Some(c) = &s.instance_count {
        if *c.get() == 0 {
            return Err(UsageError::new("instance_count must be at least 1").hint("or use `serverless` to scale with traffic").into());
        }
    }
    if let Some(t) = &s.instance_type {
        if !t.get().starts_with("ml.") {
            return Err(UsageError::new(format!("`{}` is not a SageMaker instance type", t.get()))
                .hint("SageMaker types start with `ml.`, e.g. `ml.g5.xlarge`")
                .into());
        }
    }
    Ok(())
}

/// What differs between two models, for people.
pub(super) fn model_diff(have: &ModelSpec, want: &ModelSpec) -> String {
    [
        ("model data", have.model_data_url != want.model_data_url),
        ("image", have.image != want.image),
        ("env", have.env != want.env),
        ("role", have.role != want.role),
    ]
    .into_iter()
    .filter_map(|(n, d)| d.then_some(n))
    .collect::<Vec<_>>()
    .join(", ")
}
