//! Secret Manager as the cloudrun target's [`SecretStore`] (`aideploy secrets`): the
//! same secrets a deploy writes, `aideploy-{app}-{stage}-{NAME}` labelled as this app's,
//! stage's and target's, so a deploy references them and destroy deletes them. A
//! same-named secret without those labels is someone else's: refused, never read or
//! written.

use std::collections::BTreeMap;

use anyhow::Result;

use super::observe::{read_secret, SecretNow};
use super::{apply, is_ours, labels, secret_id, site, Site};
use crate::cloud::gcp::{api_error, is_not_found, Clients};
use crate::engine::Cx;
use crate::error::UsageError;
use crate::secrets::{PutOutcome, SecretStore, SecretValue, StoredSecret};

pub struct SecretManagerStore {
    cx: Cx,
    site: Site,
    clients: Clients,
}

impl SecretManagerStore {
    pub async fn for_target(cx: &Cx) -> Result<SecretManagerStore> {
        let site = site(cx)?;
        let clients = Clients::new().await?;
        Ok(SecretManagerStore { cx: cx.clone(), site, clients })
    }

    /// The secret of `name` as it is now; an error when it is someone else's.
    async fn ours(&self, name: &str, value: Option<&str>) -> Result<Option<SecretNow>> {
        let id = secret_id(&self.cx, name);
        match read_secret(&self.cx, &self.clients, &self.site, &id, value).await? {
            Some(s) if !s.ours => Err(UsageError::new(format!(
                "secret {id} exists in project {} and was not made by aideploy for {} ({}) on {}: {}; nothing was changed",
                self.site.project,
                self.cx.app_name(),
                self.cx.stage,
                self.cx.target.name,
                super::plan::LACKS_LABELS
            ))
            .hint(format!("rename the app or stage, or delete secret {id} if it is no longer needed"))
            .into()),
            other => Ok(other),
        }
    }

    /// A version's number and when it was made (seconds since the epoch).
    async fn version(&self, id: &str, version: &str) -> Result<Option<(String, Option<i64>)>> {
        let name = format!("{}/versions/{version}", self.site.secret(id));
        match self.clients.secrets.get_secret_version().set_name(&name).send().await {
            Ok(v) => Ok(Some((v.name.rsplit('/').next().unwrap_or_default().to_string(), v.create_time.map(|t| t.seconds())))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(api_error(&format!("cannot read version {version} of secret {id}"), e)),
        }
    }

    async fn stored(&self, id: &str, version: &str) -> Result<StoredSecret> {
        let v = self.version(id, version).await?;
        Ok(StoredSecret { id: self.site.secret(id), last_changed: v.as_ref().and_then(|(_, t)| *t), version: v.map(|(n, _)| n) })
    }
}

#[async_trait::async_trait]
impl SecretStore for SecretManagerStore {
    fn location(&self, name: &str) -> String {
        self.site.secret(&secret_id(&self.cx, name))
    }

    fn removal_note(&self) -> &'static str {
        "deleted at once with all its versions: Secret Manager keeps no copy to recover"
    }

    async fn list(&self) -> Result<BTreeMap<String, StoredSecret>> {
        let want = labels(&self.cx);
        let filter = format!("labels.aideploy-app={} AND labels.aideploy-stage={}", want["aideploy-app"], want["aideploy-stage"]);
        // Ids are `aideploy-{app}-{stage}-{NAME}`, cut with a hash past 255 characters:
        // found by the manifest's names, and by that prefix for names no longer in it.
        let by_id: BTreeMap<String, String> =
            self.cx.loaded.manifest.secrets.keys().map(|k| (secret_id(&self.cx, k.get()), k.get().clone())).collect();
        let prefix = format!("aideploy-{}-", self.cx.resource_base());
        let mut out = BTreeMap::new();
        let mut page = String::new();
        loop {
            let list = self
                .clients
                .secrets
                .list_secrets()
                .set_parent(format!("projects/{}", self.site.project))
                .set_filter(filter.clone())
                .set_page_token(page.clone())
                .send()
                .await
                .map_err(|e| api_error("cannot list secrets", e))?;
            for s in &list.secrets {
                let found: BTreeMap<String, String> = s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                // The deploy lease is the engine's, not one of the app's secrets.
                if !is_ours(&self.cx, &found) || found.get(super::lease::LEASE_LABEL).is_some_and(|v| v == "true") {
                    continue;
                }
                let id = s.name.rsplit('/').next().unwrap_or_default().to_string();
                let Some(name) = by_id.get(&id).cloned().or_else(|| id.strip_prefix(&prefix).map(str::to_string)) else { continue };
                out.insert(name, self.stored(&id, "latest").await?);
            }
            if list.next_page_token.is_empty() {
                break;
            }
            page = list.next_page_token;
        }
        Ok(out)
    }

    async fn put(&self, name: &str, value: &SecretValue) -> Result<(PutOutcome, StoredSecret)> {
        let id = secret_id(&self.cx, name);
        let op = match self.ours(name, Some(value.expose())).await? {
            Some(SecretNow { latest: Some((number, true)), .. }) => {
                return Ok((PutOutcome::Unchanged, self.stored(&id, &number).await?));
            }
            Some(_) => PutOutcome::Updated,
            None => {
                apply::create_secret(&self.cx, &self.clients, &self.site, &id).await?;
                PutOutcome::Created
            }
        };
        let number = apply::add_version(&self.clients, &self.site, &id, value).await?;
        Ok((op, self.stored(&id, &number).await?))
    }

    async fn delete(&self, name: &str) -> Result<bool> {
        if self.ours(name, None).await?.is_none() {
            return Ok(false);
        }
        let id = secret_id(&self.cx, name);
        match self.clients.secrets.delete_secret().set_name(self.site.secret(&id)).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(api_error(&format!("cannot delete secret {id}"), e)),
        }
    }

    async fn get(&self, name: &str) -> Result<Option<(SecretValue, StoredSecret)>> {
        if self.ours(name, None).await?.is_none() {
            return Ok(None);
        }
        let id = secret_id(&self.cx, name);
        let latest = format!("{}/versions/latest", self.site.secret(&id));
        let v = match self.clients.secrets.access_secret_version().set_name(latest).send().await {
            Ok(v) => v,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(api_error(&format!("cannot read the latest version of secret {id}"), e)),
        };
        let number = v.name.rsplit('/').next().unwrap_or_default().to_string();
        let Some(data) = v.payload.map(|p| p.data) else { return Ok(None) };
        let value = String::from_utf8(data.to_vec()).map_err(|_| {
            UsageError::new(format!("secret {id} holds bytes that are not UTF-8 text")).hint("aideploy stores and prints text values only")
        })?;
        crate::secrets::redact::remember(&value);
        Ok(Some((SecretValue::new(value), self.stored(&id, &number).await?)))
    }
}
