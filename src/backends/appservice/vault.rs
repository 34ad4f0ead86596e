//! The app's Key Vault and its secrets: made, written and listed through ARM (what a
//! deploy does), and, for what ARM does not offer (a value, a delete, a recovery), Key
//! Vault's own data plane (REST 7.4) at the vault's `vaultUri`. The appservice target's
//! [`SecretStore`] (`aideploy secrets`) is built from both.
//!
//! A secret is aideploy's when it carries the value-hash tag aideploy writes (and, from
//! this version on, the app, stage and target tags too); a same-named secret in the
//! vault without it is refused, never overwritten.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use azure_core::credentials::TokenCredential;
use reqwest::Method;
use serde_json::{json, Value};

use super::arm::{Arm, API_KEYVAULT, API_RESOURCES, API_SUBSCRIPTIONS};
use super::names::{kv_name, value_hash, Names};
use super::observe::{self, DeletedVault, Group, Observed, StoredSecret};
use super::{subscription, tags, tags_are_ours, TAG_CREATED_GROUP, TAG_VALUE};
use crate::engine::wait::{Poll, Wait, Waited};
use crate::engine::{Cx, Reporter};
use crate::envvars;
use crate::error::{Hinted, UsageError};
use crate::secrets::{PutOutcome, SecretStore, SecretValue};

/// The data plane's api-version.
const API_DATA: &str = "7.4";
/// Sent to a loopback vault URL (fakes, emulators): never a real token.
const PLACEHOLDER_TOKEN: &str = "aideploy-placeholder-token";

/// Whether ARM's tags mark a Key Vault secret as aideploy's.
pub fn secret_is_ours(cx: &Cx, tags: &BTreeMap<String, String>) -> bool {
    tags.contains_key(TAG_VALUE) || tags_are_ours(cx, tags)
}

/// Creates the resource group, tagged as made by aideploy (so destroy deletes it).
pub async fn create_group(cx: &Cx, arm: &Arm, n: &Names, location: &str, r: &dyn Reporter) -> Result<()> {
    let mut tg = tags(cx);
    tg.insert(TAG_CREATED_GROUP.into(), json!("true"));
    arm.put(&n.group_path(), API_RESOURCES, &json!({"location": location, "tags": tg}), "resource group", r).await?;
    Ok(())
}

/// Creates the vault (RBAC mode, tagged), or recovers ours from soft delete.
pub async fn put_vault(cx: &Cx, arm: &Arm, n: &Names, location: &str, deleted: Option<&DeletedVault>, r: &dyn Reporter) -> Result<()> {
    let sub = arm.get(&format!("/subscriptions/{}", n.sub), API_SUBSCRIPTIONS).await?.unwrap_or_default();
    let tenant = sub["tenantId"].as_str().unwrap_or_default();
    let mut body = json!({"location": location, "tags": tags(cx), "properties": {
        "tenantId": tenant, "sku": {"family": "A", "name": "standard"}, "enableRbacAuthorization": true}});
    if let Some(d) = deleted {
        // Ours, deleted by a destroy without --purge: back with its secrets.
        body["location"] = json!(d.location);
        body["properties"]["createMode"] = json!("recover");
    }
    let name = &n.vault;
    arm.put(&n.vault_path(), API_KEYVAULT, &body, "Key Vault", r).await.map_err(|e| {
        if format!("{e}").contains("deleted state") || format!("{e}").contains("ConflictError") {
            e.context(format!(
                "a soft-deleted vault named {name} holds the name: `aideploy destroy --purge` (or `az keyvault purge --name {name}`) removes it for good, or set another resource_group"
            ))
        } else {
            e
        }
    })?;
    Ok(())
}

/// The tags a secret is written with: aideploy's, and the salted hash of its value.
fn secret_tags(cx: &Cx, n: &Names, kv: &str, value: &SecretValue) -> (String, Value) {
    let hash = value_hash(n, kv, value.expose());
    let mut tg = tags(cx);
    tg.insert(TAG_VALUE.into(), json!(hash));
    (hash, Value::Object(tg))
}

/// Writes `value` as the secret's new version through ARM. A secret of that name
/// deleted earlier (`aideploy secrets rm`, kept soft-deleted) is recovered first.
pub async fn write_secret(cx: &Cx, arm: &Arm, n: &Names, kv: &str, value: &SecretValue, r: &dyn Reporter) -> Result<StoredSecret> {
    let (hash, tg) = secret_tags(cx, n, kv, value);
    let body = json!({"tags": tg, "properties": {"value": value.expose(), "contentType": "text/plain"}});
    let hide = |e: anyhow::Error| {
        anyhow::anyhow!(crate::secrets::redact::apply(&crate::secrets::redact::forms(value.expose()), &format!("{e:#}")))
    };
    let written = match arm.put(&n.secret_path(kv), API_KEYVAULT, &body, "Key Vault secret", r).await {
        Ok(w) => w,
        Err(e) if format!("{e:#}").contains("deleted but recoverable") => {
            let data = DataPlane::for_vault(arm, n).await?;
            data.recover(kv, r).await?;
            arm.put(&n.secret_path(kv), API_KEYVAULT, &body, "Key Vault secret", r).await.map_err(hide)?
        }
        Err(e) => return Err(hide(e)),
    };
    Ok(StoredSecret {
        value_hash: Some(hash),
        uri_with_version: written["properties"]["secretUriWithVersion"].as_str().unwrap_or_default().to_string(),
        ours: true,
        updated: written["properties"]["attributes"]["updated"].as_i64(),
    })
}

/// Every secret in the vault, by Key Vault name, as ARM lists them (never values).
pub async fn list_secrets(cx: &Cx, arm: &Arm, n: &Names) -> Result<BTreeMap<String, StoredSecret>> {
    let mut out = BTreeMap::new();
    let mut next = Some(format!("{}/secrets?api-version={API_KEYVAULT}", n.vault_path()));
    while let Some(url) = next.take() {
        let a = arm.send(Method::GET, &url, None).await?;
        if a.status == 404 {
            break;
        }
        if !(200..=299).contains(&a.status) {
            let code = a.body["error"]["code"].as_str().unwrap_or("?");
            let message = a.body["error"]["message"].as_str().unwrap_or("");
            return Err(Hinted::new(
                format!("Azure Resource Manager GET {}/secrets answered {} {code}: {message}", n.vault_path(), a.status),
                "your identity needs Contributor (Microsoft.KeyVault/vaults/secrets/read) on the resource group",
            )
            .into());
        }
        for s in a.body["value"].as_array().into_iter().flatten() {
            let name = s["name"].as_str().unwrap_or_default().to_string();
            out.insert(name, observe::stored_secret(cx, s));
        }
        next = a.body["nextLink"].as_str().filter(|l| !l.is_empty()).map(str::to_string);
    }
    Ok(out)
}

/// Key Vault's data plane for one vault.
struct DataPlane {
    /// `https://{vault}.vault.azure.net` (or the template's URL), no trailing slash.
    base: String,
    http: reqwest::Client,
    credential: Option<(Arc<dyn TokenCredential>, String)>,
    poll: crate::engine::wait::PollPolicy,
}

/// What a data-plane call answered.
struct Answer {
    status: u16,
    body: Value,
}

impl DataPlane {
    /// The vault's data plane, at the `vaultUri` ARM gives it (or where
    /// AIDEPLOY_AZURE_VAULT_URL_TEMPLATE sends it).
    async fn for_vault(arm: &Arm, n: &Names) -> Result<DataPlane> {
        let vault = arm.get(&n.vault_path(), API_KEYVAULT).await?.with_context(|| format!("Key Vault {} is gone", n.vault))?;
        let uri = vault["properties"]["vaultUri"].as_str().filter(|u| !u.is_empty()).context("the Key Vault has no vaultUri yet")?;
        let host = uri.split("://").nth(1).unwrap_or("").trim_end_matches('/').to_string();
        let base = match std::env::var(envvars::AIDEPLOY_AZURE_VAULT_URL_TEMPLATE).ok().filter(|t| t.contains("{host}")) {
            Some(t) => t.trim_end_matches('/').replace("{host}", &host),
            None => format!("https://{host}"),
        };
        let base_host = base.split("://").nth(1).unwrap_or("").split('/').next().unwrap_or("").to_string();
        let credential = if crate::cloud::is_loopback_host(&base_host) {
            None
        } else {
            // The data plane's audience is the vault's DNS suffix: vault.azure.net, or a
            // sovereign cloud's.
            let suffix = host.split_once('.').map(|(_, s)| s).unwrap_or("vault.azure.net");
            Some((crate::cloud::azure::credential()?, format!("https://{suffix}/.default")))
        };
        Ok(DataPlane { base, http: crate::cloud::http::client()?, credential, poll: arm.poll() })
    }

    async fn send(&self, method: Method, path: &str) -> Result<Answer> {
        let bearer = match &self.credential {
            None => PLACEHOLDER_TOKEN.to_string(),
            Some((c, scope)) => c
                .get_token(&[scope.as_str()], None)
                .await
                .map_err(|e| Hinted::new(format!("cannot get an Azure AD token for Key Vault: {e}"), crate::cloud::azure::FIX))?
                .token
                .secret()
                .to_string(),
        };
        let url = format!("{}{path}?api-version={API_DATA}", self.base);
        let make = || {
            let req = self.http.request(method.clone(), &url).bearer_auth(&bearer).header("accept", "application/json");
            if method == Method::POST {
                req.header("content-length", "0")
            } else {
                req
            }
        };
        let resp = crate::cloud::http::send(crate::cloud::http::Retry::default(), method == Method::GET, make)
            .await
            .with_context(|| format!("cannot reach Key Vault at {}", self.base))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    fn fail(&self, what: &str, a: &Answer) -> anyhow::Error {
        let code = a.body["error"]["code"].as_str().unwrap_or("?");
        let message = a.body["error"]["message"].as_str().unwrap_or("");
        let hint = match a.status {
            401 | 403 => format!(
                "the vault uses Azure RBAC: your identity needs the Key Vault Secrets Officer role on it (`az role assignment create --role \"Key Vault Secrets Officer\" --assignee <you> --scope <the vault's id>`); {}",
                crate::cloud::azure::FIX
            ),
            429 | 500..=599 => "Key Vault is throttling or failing this call: run the command again in a minute".to_string(),
            _ => "run the command again; if it keeps failing, report this with the message".to_string(),
        };
        Hinted::new(format!("Key Vault {what} at {} answered {} {code}: {message}", self.base, a.status), hint).into()
    }

    /// The current value of `kv`; `None` when there is no such secret.
    async fn value(&self, kv: &str) -> Result<Option<String>> {
        let a = self.send(Method::GET, &format!("/secrets/{kv}")).await?;
        match a.status {
            404 => Ok(None),
            200 => Ok(a.body["value"].as_str().map(str::to_string)),
            _ => Err(self.fail("GetSecret", &a)),
        }
    }

    /// Deletes `kv` (Key Vault keeps it soft-deleted); false when there was none.
    async fn delete(&self, kv: &str) -> Result<bool> {
        let a = self.send(Method::DELETE, &format!("/secrets/{kv}")).await?;
        match a.status {
            404 => Ok(false),
            200..=299 => Ok(true),
            _ => Err(self.fail("DeleteSecret", &a)),
        }
    }

    /// Recovers the soft-deleted `kv` and waits until it can be read again.
    async fn recover(&self, kv: &str, r: &dyn Reporter) -> Result<()> {
        let a = self.send(Method::POST, &format!("/deletedsecrets/{kv}/recover")).await?;
        if !(200..=299).contains(&a.status) && a.status != 409 {
            return Err(self.fail("RecoverDeletedSecret", &a));
        }
        let what = format!("recovering secret {kv}");
        let w = Wait::new(&what, Duration::from_secs(2), Duration::from_secs(120));
        let done = w
            .run(self.poll, r, || async {
                let a = self.send(Method::GET, &format!("/secrets/{kv}")).await?;
                Ok(match a.status {
                    200 => Poll::Ready(()),
                    404 => Poll::Pending("still being recovered".into()),
                    _ => return Err(self.fail("GetSecret", &a)),
                })
            })
            .await?;
        match done {
            Waited::Ready(()) => Ok(()),
            Waited::TimedOut { .. } => {
                Err(Hinted::new(format!("Key Vault did not finish recovering secret {kv}"), "run the command again in a minute").into())
            }
        }
    }
}

/// Key Vault as the appservice target's secret store, for one app, stage and target.
pub struct KeyVaultStore {
    cx: Cx,
    arm: Arm,
    sub: String,
    /// The names as found when the store was opened (the vault's, by tag).
    names: Names,
}

impl KeyVaultStore {
    pub async fn for_target(cx: &Cx) -> Result<KeyVaultStore> {
        let sub = subscription(cx)?;
        let arm = Arm::from_env(cx.poll)?;
        let names = observe::read_vault(cx, &arm, &sub).await?.names;
        Ok(KeyVaultStore { cx: cx.clone(), arm, sub, names })
    }

    async fn seen(&self) -> Result<Observed> {
        observe::read_vault(&self.cx, &self.arm, &self.sub).await
    }

    /// The stored secret `kv`, when there is one; an error when it is not aideploy's.
    async fn ours(&self, n: &Names, kv: &str) -> Result<Option<StoredSecret>> {
        // 404 when the vault (or its group) is not there either.
        let Some(found) = self.arm.get(&n.secret_path(kv), API_KEYVAULT).await? else { return Ok(None) };
        let s = observe::stored_secret(&self.cx, &found);
        if !s.ours {
            return Err(UsageError::new(format!(
                "Key Vault secret {kv} in vault {} exists without aideploy's tags: aideploy does not read, change or delete it",
                n.vault
            ))
            .hint(format!("delete or rename that secret in vault {} (aideploy did not write it), then run this again", n.vault))
            .into());
        }
        Ok(Some(s))
    }

    fn about(&self, s: &StoredSecret) -> crate::secrets::StoredSecret {
        crate::secrets::StoredSecret { id: s.uri_with_version.clone(), last_changed: s.updated, version: s.version() }
    }
}

#[async_trait::async_trait]
impl SecretStore for KeyVaultStore {
    fn location(&self, name: &str) -> String {
        format!("{}/{}", self.names.vault, kv_name(name))
    }

    fn removal_note(&self) -> &'static str {
        "soft-deleted: recoverable for the vault's retention period (90 days unless set otherwise); `aideploy secrets set` recovers it"
    }

    async fn list(&self) -> Result<BTreeMap<String, crate::secrets::StoredSecret>> {
        let seen = self.seen().await?;
        if seen.vault.is_none() {
            return Ok(BTreeMap::new());
        }
        let declared: BTreeMap<String, String> =
            self.cx.loaded.manifest.secrets.keys().map(|k| (kv_name(k.get()), k.get().clone())).collect();
        Ok(list_secrets(&self.cx, &self.arm, &seen.names)
            .await?
            .into_iter()
            .filter(|(_, s)| s.ours)
            .map(|(kv, s)| (declared.get(&kv).cloned().unwrap_or(kv), self.about(&s)))
            .collect())
    }

    async fn put(&self, name: &str, value: &SecretValue) -> Result<(PutOutcome, crate::secrets::StoredSecret)> {
        let seen = self.seen().await?;
        super::apply::refuse_foreign(&self.cx, &seen)?;
        let r = crate::engine::Silent;
        let n = &seen.names;
        if seen.vault.is_none() {
            // Before the first deploy: the group and vault a deploy would make, tagged.
            if seen.group == Group::Absent {
                if seen.location.is_empty() {
                    return Err(UsageError::new("no Azure region for the appservice target")
                        .hint(format!("set `region = \"westeurope\"` in [targets.{}]", self.cx.target.name))
                        .into());
                }
                create_group(&self.cx, &self.arm, n, &seen.location, &r).await?;
            }
            put_vault(&self.cx, &self.arm, n, &seen.location, seen.deleted_vault.as_ref(), &r).await?;
        }
        let kv = kv_name(name);
        let existing = self.ours(n, &kv).await?;
        if let Some(s) = &existing {
            if s.value_hash.as_deref() == Some(value_hash(n, &kv, value.expose()).as_str()) {
                return Ok((PutOutcome::Unchanged, self.about(s)));
            }
        }
        let written = write_secret(&self.cx, &self.arm, n, &kv, value, &r).await?;
        let op = if existing.is_some() { PutOutcome::Updated } else { PutOutcome::Created };
        Ok((op, self.about(&written)))
    }

    async fn delete(&self, name: &str) -> Result<bool> {
        let seen = self.seen().await?;
        let kv = kv_name(name);
        if self.ours(&seen.names, &kv).await?.is_none() {
            return Ok(false);
        }
        DataPlane::for_vault(&self.arm, &seen.names).await?.delete(&kv).await
    }

    async fn get(&self, name: &str) -> Result<Option<(SecretValue, crate::secrets::StoredSecret)>> {
        let seen = self.seen().await?;
        let kv = kv_name(name);
        let Some(s) = self.ours(&seen.names, &kv).await? else { return Ok(None) };
        let Some(value) = DataPlane::for_vault(&self.arm, &seen.names).await?.value(&kv).await? else { return Ok(None) };
        crate::secrets::redact::remember(&value);
        Ok(Some((SecretValue::new(value), self.about(&s))))
    }
}
