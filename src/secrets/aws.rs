//! Secrets on AWS: each `[secrets]` value is a Secrets Manager secret named
//! `aideploy/{app}/{stage}/{NAME}`, tagged with the app, stage and target. A new version
//! is written only when the value changed (compared in memory, never printed); what the
//! function gets is the secret's ARN.

use std::collections::BTreeMap;

use anyhow::Result;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use aws_sdk_secretsmanager::Client;

use super::SecretValue;
use crate::error::Hinted;

pub use crate::cloud::aws::{TAG_APP, TAG_STAGE, TAG_TARGET};

impl SecretValue {
    /// A value given on purpose (`aideploy secrets set`), not resolved from `[secrets]`.
    pub fn new(value: String) -> SecretValue {
        SecretValue(value)
    }
}

/// A secret as Secrets Manager lists it: no value.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The manifest's name (`OPENAI_API_KEY`).
    pub name: String,
    pub arn: String,
    /// Seconds since the epoch.
    pub last_changed: Option<i64>,
    pub target: Option<String>,
    /// The id of the current (`AWSCURRENT`) version: changes with every new value.
    pub version: Option<String>,
}

/// What a write left behind: the secret's ARN and its new current version.
#[derive(Debug, Clone)]
pub struct Written {
    pub arn: String,
    pub version: Option<String>,
}

pub fn prefix(app: &str, stage: &str) -> String {
    format!("aideploy/{app}/{stage}/")
}

pub fn secret_name(app: &str, stage: &str, name: &str) -> String {
    format!("{}{name}", prefix(app, stage))
}

fn failed(what: &str, e: impl std::error::Error) -> anyhow::Error {
    Hinted::new(
        format!("Secrets Manager {what} failed: {}", crate::cloud::aws::describe(&e)),
        "check the credentials may use secretsmanager:* on aideploy/* secrets in this region",
    )
    .into()
}

/// Every secret of this app and stage, by name.
pub async fn list(client: &Client, app: &str, stage: &str) -> Result<BTreeMap<String, Stored>> {
    let prefix = prefix(app, stage);
    let mut out = BTreeMap::new();
    let mut token = None;
    loop {
        let page = client
            .list_secrets()
            .filters(Filter::builder().key(FilterNameStringType::Name).values(&prefix).build())
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| failed("ListSecrets", e))?;
        for s in page.secret_list() {
            let (Some(full), Some(arn)) = (s.name(), s.arn()) else { continue };
            // The name filter matches prefixes of words too: keep exact children only.
            let Some(name) = full.strip_prefix(&prefix).filter(|n| !n.contains('/')) else { continue };
            let tag = |k: &str| s.tags().iter().find(|t| t.key() == Some(k)).and_then(|t| t.value()).map(str::to_string);
            out.insert(
                name.to_string(),
                Stored {
                    name: name.to_string(),
                    arn: arn.to_string(),
                    last_changed: s.last_changed_date().or(s.created_date()).map(|d| d.secs()),
                    target: tag(TAG_TARGET),
                    version: s
                        .secret_versions_to_stages()
                        .and_then(|m| m.iter().find(|(_, stages)| stages.iter().any(|st| st == "AWSCURRENT")).map(|(v, _)| v.clone())),
                },
            );
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// One secret of this app and stage, by name, read with one DescribeSecret (not a
/// listing of them all); `None` when there is none, or it is scheduled for deletion (as
/// `list` leaves those out).
pub async fn describe(client: &Client, app: &str, stage: &str, name: &str) -> Result<Option<Stored>> {
    let s = match client.describe_secret().secret_id(secret_name(app, stage, name)).send().await {
        Ok(s) => s,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => return Ok(None),
        Err(e) => return Err(failed("DescribeSecret", e)),
    };
    if s.deleted_date().is_some() {
        return Ok(None);
    }
    let Some(arn) = s.arn() else { return Ok(None) };
    let tag = |k: &str| s.tags().iter().find(|t| t.key() == Some(k)).and_then(|t| t.value()).map(str::to_string);
    Ok(Some(Stored {
        name: name.to_string(),
        arn: arn.to_string(),
        last_changed: s.last_changed_date().or(s.created_date()).map(|d| d.secs()),
        target: tag(TAG_TARGET),
        version: s
            .version_ids_to_stages()
            .and_then(|m| m.iter().find(|(_, stages)| stages.iter().any(|st| st == "AWSCURRENT")).map(|(v, _)| v.clone())),
    }))
}

/// Whether the stored current value equals `value`.
pub async fn same_value(client: &Client, arn: &str, value: &SecretValue) -> Result<bool> {
    let out = client.get_secret_value().secret_id(arn).send().await.map_err(|e| failed("GetSecretValue", e))?;
    Ok(out.secret_string() == Some(value.expose()))
}

/// Writes `value` as the secret's current version, creating the secret (or restoring
/// one scheduled for deletion by an earlier destroy) when needed.
pub async fn put(
    client: &Client,
    app: &str,
    stage: &str,
    target: &str,
    name: &str,
    value: &SecretValue,
    existing: Option<&Stored>,
) -> Result<Written> {
    if let Some(s) = existing {
        let out = client
            .put_secret_value()
            .secret_id(&s.arn)
            .secret_string(value.expose())
            .send()
            .await
            .map_err(|e| failed("PutSecretValue", e))?;
        return Ok(Written { arn: s.arn.clone(), version: out.version_id().map(str::to_string) });
    }
    let id = secret_name(app, stage, name);
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    let created = client
        .create_secret()
        .name(&id)
        .secret_string(value.expose())
        .description(format!("aideploy secret {name} of {app} ({stage})"))
        .tags(tag(TAG_APP, app))
        .tags(tag(TAG_STAGE, stage))
        .tags(tag(TAG_TARGET, target))
        .send()
        .await;
    match created {
        Ok(out) => Ok(Written { arn: out.arn().unwrap_or_default().to_string(), version: out.version_id().map(str::to_string) }),
        Err(e) => {
            // Exists but not listed: scheduled for deletion by a destroy. Bring it back.
            let exists = e.as_service_error().is_some_and(|s| s.is_resource_exists_exception() || s.is_invalid_request_exception());
            if !exists {
                return Err(failed("CreateSecret", e));
            }
            let described = client.describe_secret().secret_id(&id).send().await.map_err(|e| failed("DescribeSecret", e))?;
            if described.deleted_date().is_some() {
                client.restore_secret().secret_id(&id).send().await.map_err(|e| failed("RestoreSecret", e))?;
            }
            let out = client
                .put_secret_value()
                .secret_id(&id)
                .secret_string(value.expose())
                .send()
                .await
                .map_err(|e| failed("PutSecretValue", e))?;
            client
                .tag_resource()
                .secret_id(&id)
                .tags(tag(TAG_APP, app))
                .tags(tag(TAG_STAGE, stage))
                .tags(tag(TAG_TARGET, target))
                .send()
                .await
                .map_err(|e| failed("TagResource", e))?;
            Ok(Written {
                arn: out.arn().or(described.arn()).unwrap_or_default().to_string(),
                version: out.version_id().map(str::to_string),
            })
        }
    }
}

/// Schedules the secret's deletion (recoverable for 7 days; a later `put` restores it).
pub async fn delete(client: &Client, arn: &str) -> Result<()> {
    match client.delete_secret().secret_id(arn).recovery_window_in_days(7).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(()),
        Err(e) => Err(failed("DeleteSecret", e)),
    }
}

/// A secret as a deployed function or model refers to it: ARN and current version id.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretRef {
    pub arn: String,
    pub version: String,
}

/// The secrets a deploy wires in: every `[secrets]` name stored now or about to be;
/// `None` for one not known before apply (a secret to create or to give a new value).
pub fn secret_refs(cx: &crate::engine::Cx, stored: &BTreeMap<String, Stored>, changing: &[String]) -> BTreeMap<String, Option<SecretRef>> {
    cx.loaded
        .manifest
        .secrets
        .keys()
        .map(|k| k.get().clone())
        .filter_map(|name| match stored.get(&name) {
            Some(_) if changing.contains(&name) => Some((name, None)),
            Some(s) => Some((name, Some(SecretRef { arn: s.arn.clone(), version: s.version.clone().unwrap_or_default() }))),
            None if cx.secrets.values.contains_key(&name) => Some((name, None)),
            None => None,
        })
        .collect()
}

/// The references, when every one is known (no secret left to write).
pub fn known_refs(refs: &BTreeMap<String, Option<SecretRef>>) -> Option<BTreeMap<String, SecretRef>> {
    refs.iter().map(|(k, v)| v.clone().map(|v| (k.clone(), v))).collect()
}

/// Name -> ARN: what an IAM policy names (a new value does not change it).
pub fn arns_of(refs: &BTreeMap<String, SecretRef>) -> BTreeMap<String, String> {
    refs.iter().map(|(k, r)| (k.clone(), r.arn.clone())).collect()
}

/// Secrets Manager as a [`super::SecretStore`] for one app, stage and target.
pub struct AwsStore {
    pub client: Client,
    pub app: String,
    pub stage: String,
    pub target: String,
}

impl AwsStore {
    /// The store in the target's region (`region` setting, else the AWS chain's).
    pub async fn for_target(cx: &crate::engine::Cx) -> Result<AwsStore> {
        let region = cx.target.settings.region.as_ref().map(|r| r.get().as_str().to_string());
        let config = crate::cloud::aws::load(region.as_deref(), crate::cloud::aws::chosen_profile()).await?;
        let client = crate::aws_client!(aws_sdk_secretsmanager, &config);
        Ok(AwsStore { client, app: cx.app_name().to_string(), stage: cx.stage.to_string(), target: cx.target.name.clone() })
    }
}

#[async_trait::async_trait]
impl super::SecretStore for AwsStore {
    fn location(&self, name: &str) -> String {
        secret_name(&self.app, &self.stage, name)
    }
    fn removal_note(&self) -> &'static str {
        "recoverable for 7 days"
    }
    async fn list(&self) -> Result<BTreeMap<String, super::StoredSecret>> {
        Ok(list(&self.client, &self.app, &self.stage)
            .await?
            .into_iter()
            .map(|(k, s)| (k, super::StoredSecret { id: s.arn, last_changed: s.last_changed, version: s.version }))
            .collect())
    }
    async fn put(&self, name: &str, value: &SecretValue) -> Result<(super::PutOutcome, super::StoredSecret)> {
        let stored = describe(&self.client, &self.app, &self.stage, name).await?;
        let existing = stored.as_ref();
        if let Some(s) = existing {
            if same_value(&self.client, &s.arn, value).await? {
                let same = super::StoredSecret { id: s.arn.clone(), last_changed: s.last_changed, version: s.version.clone() };
                return Ok((super::PutOutcome::Unchanged, same));
            }
        }
        let written = put(&self.client, &self.app, &self.stage, &self.target, name, value, existing).await?;
        let op = if existing.is_some() { super::PutOutcome::Updated } else { super::PutOutcome::Created };
        Ok((op, super::StoredSecret { id: written.arn, last_changed: None, version: written.version }))
    }
    async fn delete(&self, name: &str) -> Result<bool> {
        match describe(&self.client, &self.app, &self.stage, name).await? {
            Some(s) => delete(&self.client, &s.arn).await.map(|()| true),
            None => Ok(false),
        }
    }
    async fn get(&self, name: &str) -> Result<Option<(SecretValue, super::StoredSecret)>> {
        let Some(s) = describe(&self.client, &self.app, &self.stage, name).await? else { return Ok(None) };
        let out = self.client.get_secret_value().secret_id(&s.arn).send().await.map_err(|e| failed("GetSecretValue", e))?;
        let Some(value) = out.secret_string() else { return Ok(None) };
        super::redact::remember(value);
        let about = super::StoredSecret {
            id: s.arn.clone(),
            last_changed: s.last_changed,
            version: out.version_id().map(str::to_string).or_else(|| s.version.clone()),
        };
        Ok(Some((SecretValue::new(value.to_string()), about)))
    }
}
