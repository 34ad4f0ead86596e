//! IAM v1 workload identity federation (`projects.locations.workloadIdentityPools` and
//! their `providers`), the IAM policy of a service account (`serviceAccounts.getIamPolicy`,
//! `setIamPolicy`) and Cloud Resource Manager v1 `projects.get`, `getIamPolicy`,
//! `setIamPolicy`: part of the fake in gcp.rs, written from the API references.
//!
//! It rejects what the APIs reject: a pool or provider id that is not 4-32 lowercase
//! letters, digits and hyphens or starts with `gcp-`; fields the resources do not have;
//! a provider without `attributeMapping["google.subject"]`, without an `oidc.issuerUri`
//! on https, or in a pool that is missing or deleted; an id taken (409 ALREADY_EXISTS,
//! deleted pools included: deletion is soft, for 30 days); a PATCH without
//! `updateMask`; a policy write with a stale etag (409 ABORTED). Creates, deletes,
//! undeletes and patches answer a long-running operation, done on the second poll.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// Pools and providers by full name (`projects/NUMBER/locations/global/...`).
#[derive(Debug, Default)]
pub struct Wif {
    pub pools: BTreeMap<String, Value>,
    pub providers: BTreeMap<String, Value>,
    /// Service account IAM policies by email.
    pub account_policies: BTreeMap<String, Value>,
    /// The project's IAM policy.
    pub project_policy: Value,
}

const POOL_FIELDS: &[&str] = &["name", "displayName", "description", "state", "disabled", "expireTime", "mode", "sessionDuration"];
const PROVIDER_FIELDS: &[&str] = &[
    "name",
    "displayName",
    "description",
    "state",
    "disabled",
    "attributeMapping",
    "attributeCondition",
    "expireTime",
    "oidc",
    "aws",
    "saml",
    "x509",
];
const OIDC_FIELDS: &[&str] = &["issuerUri", "allowedAudiences", "jwksJson"];
const OUTPUT_ONLY: &[&str] = &["name", "state", "expireTime"];

pub fn valid_id(id: &str) -> bool {
    (4..=32).contains(&id.len())
        && !id.starts_with("gcp-")
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

fn unknown(v: &Value, fields: &[&str], at: &str) -> Result<(), String> {
    let Some(obj) = v.as_object() else { return Err(format!("Invalid value at '{at}': expected an object")) };
    for k in obj.keys() {
        if !fields.contains(&k.as_str()) {
            return Err(format!("Invalid JSON payload received. Unknown name \"{k}\" at '{at}': Cannot find field."));
        }
    }
    Ok(())
}

fn check_pool(v: &Value) -> Result<(), String> {
    unknown(v, POOL_FIELDS, "workload_identity_pool")?;
    if v["displayName"].as_str().is_some_and(|d| d.chars().count() > 32) {
        return Err("displayName: at most 32 characters".into());
    }
    if v["description"].as_str().is_some_and(|d| d.chars().count() > 256) {
        return Err("description: at most 256 characters".into());
    }
    Ok(())
}

fn check_provider(v: &Value) -> Result<(), String> {
    unknown(v, PROVIDER_FIELDS, "workload_identity_pool_provider")?;
    if v["displayName"].as_str().is_some_and(|d| d.chars().count() > 32) {
        return Err("displayName: at most 32 characters".into());
    }
    if v["description"].as_str().is_some_and(|d| d.chars().count() > 256) {
        return Err("description: at most 256 characters".into());
    }
    let mapping = &v["attributeMapping"];
    if !mapping.is_null() {
        let Some(m) = mapping.as_object() else { return Err("attributeMapping: expected a map".into()) };
        if m.values().any(|x| !x.is_string()) {
            return Err("attributeMapping: values must be CEL expressions (strings)".into());
        }
        for k in m.keys() {
            let ok = k == "google.subject"
                || k == "google.groups"
                || k == "google.display_name"
                || k == "google.profile_photo"
                || k.strip_prefix("attribute.")
                    .is_some_and(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            if !ok {
                return Err(format!("attributeMapping: invalid attribute name `{k}`"));
            }
        }
    }
    if !v["oidc"].is_null() {
        unknown(&v["oidc"], OIDC_FIELDS, "workload_identity_pool_provider.oidc")?;
    }
    Ok(())
}

/// A created provider must have these; an update may leave them as they are.
fn check_provider_complete(v: &Value) -> Result<(), String> {
    if v["attributeMapping"]["google.subject"].as_str().is_none_or(str::is_empty) {
        return Err("attribute_mapping must contain a mapping for google.subject".into());
    }
    let issuer = v["oidc"]["issuerUri"].as_str().unwrap_or("");
    if v["oidc"].is_null() && v["aws"].is_null() && v["saml"].is_null() && v["x509"].is_null() {
        return Err("a provider needs one of oidc, aws, saml, x509".into());
    }
    if !v["oidc"].is_null() && !issuer.starts_with("https://") {
        return Err(format!("oidc.issuer_uri `{issuer}` must be an https URL"));
    }
    Ok(())
}

type Answer = Result<Value, (u16, String)>;

fn err(code: u16, m: impl Into<String>) -> (u16, String) {
    (code, m.into())
}

impl Wif {
    pub fn pool(&self, number: &str, id: &str) -> Option<&Value> {
        self.pools.get(&pool_name(number, id))
    }

    pub fn provider(&self, number: &str, pool: &str, id: &str) -> Option<&Value> {
        self.providers.get(&format!("{}/providers/{id}", pool_name(number, pool)))
    }

    pub fn create_pool(&mut self, number: &str, id: &str, body: &Value) -> Answer {
        if !valid_id(id) {
            return Err(err(
                400,
                format!("workload_identity_pool_id `{id}` is invalid: 4-32 lowercase letters, digits, hyphens; not starting with gcp-"),
            ));
        }
        check_pool(body).map_err(|m| err(400, m))?;
        let name = pool_name(number, id);
        if self.pools.contains_key(&name) {
            return Err(err(409, format!("Requested entity already exists: {name}")));
        }
        let mut v = strip_output(body);
        v["name"] = json!(name);
        v["state"] = json!("ACTIVE");
        self.pools.insert(name, v.clone());
        Ok(v)
    }

    pub fn delete_pool(&mut self, number: &str, id: &str) -> Answer {
        let name = pool_name(number, id);
        match self.pools.get_mut(&name) {
            Some(p) if p["state"] == "ACTIVE" => {
                p["state"] = json!("DELETED");
                p["expireTime"] = json!("2027-01-04T00:00:00Z");
                Ok(p.clone())
            }
            Some(_) => Err(err(400, format!("{name} is already deleted"))),
            None => Err(err(404, format!("Requested entity was not found: {name}"))),
        }
    }

    pub fn undelete_pool(&mut self, number: &str, id: &str) -> Answer {
        let name = pool_name(number, id);
        match self.pools.get_mut(&name) {
            Some(p) if p["state"] == "DELETED" => {
                p["state"] = json!("ACTIVE");
                p.as_object_mut().map(|o| o.remove("expireTime"));
                Ok(p.clone())
            }
            Some(_) => Err(err(400, format!("{name} is not deleted"))),
            None => Err(err(404, format!("Requested entity was not found: {name}"))),
        }
    }

    pub fn create_provider(&mut self, number: &str, pool: &str, id: &str, body: &Value) -> Answer {
        if !valid_id(id) {
            return Err(err(400, format!("workload_identity_pool_provider_id `{id}` is invalid")));
        }
        match self.pool(number, pool) {
            None => return Err(err(404, format!("Requested entity was not found: {}", pool_name(number, pool)))),
            Some(p) if p["state"] != "ACTIVE" => return Err(err(400, "the pool is deleted: undelete it first")),
            Some(_) => {}
        }
        check_provider(body).map_err(|m| err(400, m))?;
        check_provider_complete(body).map_err(|m| err(400, m))?;
        let name = format!("{}/providers/{id}", pool_name(number, pool));
        if self.providers.contains_key(&name) {
            return Err(err(409, format!("Requested entity already exists: {name}")));
        }
        let mut v = strip_output(body);
        v["name"] = json!(name);
        v["state"] = json!("ACTIVE");
        self.providers.insert(name, v.clone());
        Ok(v)
    }

    pub fn patch_provider(&mut self, name: &str, mask: &str, body: &Value) -> Answer {
        check_provider(body).map_err(|m| err(400, m))?;
        if mask.is_empty() {
            return Err(err(400, "update_mask is required"));
        }
        let Some(current) = self.providers.get_mut(name) else {
            return Err(err(404, format!("Requested entity was not found: {name}")));
        };
        let mut next = current.clone();
        for field in mask.split(',').map(str::trim) {
            let top = field.split('.').next().unwrap_or("");
            if OUTPUT_ONLY.contains(&top) || !PROVIDER_FIELDS.contains(&top) {
                return Err(err(400, format!("update_mask path [{field}] cannot be updated")));
            }
            next[top] = body[top].clone();
        }
        check_provider_complete(&next).map_err(|m| err(400, m))?;
        *current = next;
        Ok(current.clone())
    }

    pub fn set_provider_state(&mut self, name: &str, from: &str, to: &str) -> Answer {
        match self.providers.get_mut(name) {
            Some(p) if p["state"] == from => {
                p["state"] = json!(to);
                Ok(p.clone())
            }
            Some(_) => Err(err(400, format!("{name} is not {from}"))),
            None => Err(err(404, format!("Requested entity was not found: {name}"))),
        }
    }
}

pub fn pool_name(number: &str, id: &str) -> String {
    format!("projects/{number}/locations/global/workloadIdentityPools/{id}")
}

fn strip_output(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        for k in OUTPUT_ONLY {
            o.remove(*k);
        }
    }
    v
}
