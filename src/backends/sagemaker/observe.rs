//! `observe`'s reads: the endpoint, its live release, this endpoint's models and
//! configs, the role, the secrets and the artifact bucket, found by deterministic names
//! and checked by tags. Independent reads go out together. What it returns is plain data.

use std::collections::BTreeSet;

use anyhow::Result;

use super::*;
use crate::cloud::aws::RoleSeen;
use crate::cloud::aws_bucket::{self, Seen};
use crate::engine::Kept;

/// The endpoint, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointNow {
    pub arn: String,
    pub status: String,
    pub config: String,
    pub failure: Option<String>,
    /// When it last changed (a new or rolled-back config), seconds since the epoch.
    pub changed: Option<i64>,
}

/// The live release, as read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveNow {
    pub variant: Option<VariantSpec>,
    pub model: Option<ModelSpec>,
    pub digest: Option<String>,
    /// What the live release is made of, as its model's tag records it.
    pub parts: Option<String>,
}

/// A model or endpoint config of this endpoint, as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub name: String,
    pub arn: String,
    /// When SageMaker created it, milliseconds since the epoch.
    pub created: i64,
    /// Its `aideploy:digest` tag: the artifact the release was made from.
    pub digest: Option<String>,
}

/// Everything `observe` read: plain data, no clients.
#[derive(Debug, Clone)]
pub struct Now {
    pub region: String,
    /// The account the credentials belong to (owner of the artifact bucket).
    pub account: String,
    /// The endpoint runs model containers: `InService` means serving (else no health is
    /// known).
    pub runs_workloads: bool,
    /// The execution role (always this target's: a foreign one is refused).
    pub role: Option<RoleSeen>,
    pub endpoint: Option<EndpointNow>,
    pub live: Option<LiveNow>,
    /// This endpoint's configs and models (tagged for this target), oldest first.
    pub configs: Vec<Listed>,
    pub models: Vec<Listed>,
    /// Configs and models named like one of this endpoint's releases but not tagged for
    /// this app, stage and target: never used, changed or deleted.
    pub foreign_configs: BTreeSet<String>,
    pub foreign_models: BTreeSet<String>,
    pub secrets: BTreeMap<String, Stored>,
    pub secret_same: BTreeMap<String, bool>,
    /// The shared artifact bucket, and this target's archive keys in it.
    pub bucket: Seen,
    pub archives: BTreeSet<String>,
    /// The bucket this target kept its archives in before the shared one
    /// (`aideploy-{account}-{region}`), when it still holds some of them: destroy
    /// empties that prefix there too.
    pub legacy_bucket: Option<String>,
}

impl Now {
    pub fn has_model(&self, name: &str) -> bool {
        self.models.iter().any(|m| m.name == name)
    }
    pub fn has_config(&self, name: &str) -> bool {
        self.configs.iter().any(|m| m.name == name)
    }
    pub fn own_secrets<'a>(&'a self, cx: &'a Cx) -> impl Iterator<Item = &'a Stored> + 'a {
        self.secrets.values().filter(move |s| s.target.as_deref() == Some(&cx.target.name))
    }
    pub fn anything(&self, cx: &Cx) -> bool {
        self.endpoint.is_some()
            || self.role.is_some()
            || !self.configs.is_empty()
            || !self.models.is_empty()
            || self.own_secrets(cx).next().is_some()
    }
    /// The configs the endpoint can be moved to (their model still exists) and the one
    /// it is on, newest first; none without an endpoint. The live one's digest is the
    /// one `status` shows (its model's tag); the others', their own tag.
    pub fn releases(&self) -> Vec<Kept> {
        let Some(live) = self.endpoint.as_ref().map(|e| e.config.as_str()) else { return Vec::new() };
        let mut kept: Vec<&Listed> = self.configs.iter().filter(|c| c.name == live || self.has_model(&c.name)).collect();
        kept.sort_by_key(|c| std::cmp::Reverse(c.created));
        kept.into_iter()
            .map(|c| {
                let is_live = c.name == live;
                let model = self.models.iter().find(|m| m.name == c.name).and_then(|m| m.digest.clone());
                let digest = if is_live { self.live.as_ref().and_then(|l| l.digest.clone()) } else { None };
                Kept {
                    id: c.name.clone(),
                    digest: digest.or(model).or_else(|| c.digest.clone()).unwrap_or_default(),
                    created_at: (c.created > 0).then(|| crate::util::iso8601(c.created as u64 / 1000)),
                    live: is_live,
                }
            })
            .collect()
    }
    /// The endpoint config created before `live`, when its model still exists.
    pub fn previous(&self, live: &str) -> Option<String> {
        let live_created = self.configs.iter().find(|c| c.name == live)?.created;
        self.configs
            .iter()
            .filter(|c| c.created < live_created && self.has_model(&c.name))
            .max_by_key(|c| c.created)
            .map(|c| c.name.clone())
    }
}

pub(super) async fn read(cx: &Cx, c: &Clients) -> Result<Now> {
    let ep = endpoint_name(cx);
    let rname = role_name(cx, &c.region);
    let app = cx.app_name().to_string();
    let stage = cx.stage.to_string();
    // The account names the artifact bucket; everything else goes out together.
    let account = c.account().await?;
    let (endpoint, configs, models, role, secrets, bucket, legacy_bucket) = tokio::join!(
        read_endpoint(c, &ep),
        list_configs(c, &ep),
        list_models(c, &ep),
        crate::cloud::aws::observe_role(&c.iam, &rname, Some(POLICY_NAME), PERMS_HINT),
        store::list(&c.secrets, &app, &stage),
        read_bucket(cx, c, &account),
        read_legacy_bucket(cx, c, &account)
    );
    let ((bucket, archives), legacy_bucket) = (bucket?, legacy_bucket?);
    let role = role?;
    if role.as_ref().is_some_and(|r| !r.is_ours(cx)) {
        return Err(crate::cloud::aws::foreign_role(&rname));
    }
    let endpoint = endpoint?;
    if let Some(e) = &endpoint {
        let found = tags_of(c, &e.arn).await?.unwrap_or_default();
        if !ours(cx, &found) {
            return Err(not_ours(cx, "SageMaker endpoint", &ep));
        }
    }
    // Names like a release of ours are not enough: only those tagged for this target.
    let (mut configs, mut models) = (configs?, models?);
    let (mut foreign_configs, mut foreign_models) = (BTreeSet::new(), BTreeSet::new());
    for (list, foreign) in [(&mut configs, &mut foreign_configs), (&mut models, &mut foreign_models)] {
        let mut kept = Vec::with_capacity(list.len());
        for l in list.drain(..) {
            match tags_of(c, &l.arn).await? {
                Some(t) if ours(cx, &t) => kept.push(Listed { digest: t.get(TAG_DIGEST).cloned(), ..l }),
                Some(_) => {
                    foreign.insert(l.name);
                }
                None => {}
            }
        }
        *list = kept;
    }
    let live = match &endpoint {
        Some(e) => Some(read_live(c, &e.config).await?),
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
    Ok(Now {
        region: c.region.clone(),
        account,
        runs_workloads: c.plane.runs_workloads,
        role,
        endpoint,
        live,
        configs,
        models,
        foreign_configs,
        foreign_models,
        secrets,
        secret_same,
        bucket,
        archives,
        legacy_bucket,
    })
}

/// The artifact bucket, and this target's archive keys in it when it is aideploy's.
async fn read_bucket(cx: &Cx, c: &Clients, account: &str) -> Result<(Seen, BTreeSet<String>)> {
    let b = upload::bucket(account, &c.region);
    let seen = aws_bucket::observe(&c.s3, &b).await?;
    let archives = match &seen {
        Seen::Ours { .. } => aws_bucket::list_prefix(&c.s3, &b, &upload::prefix(cx)).await?.into_iter().collect(),
        _ => BTreeSet::new(),
    };
    Ok((seen, archives))
}

/// The pre-shared bucket's name, when it exists in this account, carries the tag
/// aideploy gave it and holds archives of this target.
async fn read_legacy_bucket(cx: &Cx, c: &Clients, account: &str) -> Result<Option<String>> {
    let b = upload::legacy_bucket(account, &c.region);
    if c.s3.head_bucket().bucket(&b.name).expected_bucket_owner(&b.account).send().await.is_err() {
        return Ok(None);
    }
    let tagged = match c.s3.get_bucket_tagging().bucket(&b.name).expected_bucket_owner(&b.account).send().await {
        Ok(t) => t.tag_set().iter().any(|t| t.key() == upload::LEGACY_BUCKET_TAG.0 && t.value() == upload::LEGACY_BUCKET_TAG.1),
        Err(_) => false,
    };
    if !tagged || aws_bucket::list_prefix(&c.s3, &b, &upload::prefix(cx)).await?.is_empty() {
        return Ok(None);
    }
    Ok(Some(b.name))
}

/// A same-named resource without this target's tags: refused, never adopted.
pub(super) fn not_ours(cx: &Cx, what: &str, name: &str) -> anyhow::Error {
    UsageError::new(format!(
        "the {what} {name} exists but was not created by aideploy for {} ({}) on {}: it lacks this target's aideploy:app, aideploy:stage and aideploy:target tags",
        cx.app_name(),
        cx.stage,
        cx.target.name
    ))
    .hint(format!("rename the app or stage (--stage), or delete the {what} {name}"))
    .into()
}

pub(super) async fn read_endpoint(c: &Clients, ep: &str) -> Result<Option<EndpointNow>> {
    match c.sagemaker.describe_endpoint().endpoint_name(ep).send().await {
        Ok(d) => Ok(Some(EndpointNow {
            arn: d.endpoint_arn().unwrap_or_default().to_string(),
            status: d.endpoint_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            config: d.endpoint_config_name().unwrap_or_default().to_string(),
            failure: d.failure_reason().filter(|s| !s.is_empty()).map(str::to_string),
            changed: d.last_modified_time().or(d.creation_time()).map(|t| t.secs()),
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
    let (model, (digest, parts)) = match &model_name {
        Some(m) => match c.sagemaker.describe_model().model_name(m).send().await {
            Ok(d) => {
                let spec = d.primary_container().map(|pc| ModelSpec {
                    image: pc.image().unwrap_or_default().to_string(),
                    model_data_url: pc.model_data_url().map(str::to_string),
                    env: pc.environment().map(|e| e.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default(),
                    role: d.execution_role_arn().unwrap_or_default().to_string(),
                });
                let tags = match d.model_arn() {
                    Some(arn) => tags_of(c, arn).await?.unwrap_or_default(),
                    None => HashMap::new(),
                };
                (spec, (tags.get(TAG_DIGEST).cloned(), tags.get(crate::cloud::aws::TAG_PARTS).cloned()))
            }
            Err(e) if is_not_found(&e) => (None, (None, None)),
            Err(e) => return Err(failed("SageMaker DescribeModel", e, PERMS_HINT)),
        },
        None => (None, (None, None)),
    };
    Ok(LiveNow { variant, model, digest, parts })
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
                    digest: None,
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
                    digest: None,
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
