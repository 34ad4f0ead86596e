//! A fake of the Azure Resource Manager endpoints aideploy's `appservice` target uses,
//! written from ARM's REST reference and its request/response examples: the same
//! paths (`/subscriptions/{id}/resourceGroups/{rg}/providers/{ns}/{type}/{name}`),
//! `api-version` required on every call and checked per provider, errors as
//! `{"error":{"code","message"}}`, 201/202 answers whose `Azure-AsyncOperation` /
//! `Location` operations are still running on the first poll, server-filled fields
//! (`defaultHostName`, identity `principalId`, `loginServer`, `vaultUri`,
//! `secretUriWithVersion`). It rejects what ARM rejects: unknown properties, wrong
//! types, missing required fields, a site on a missing plan, a slot on a tier without
//! slots, `alwaysOn` on Free/Shared, a site or registry name taken anywhere, a vault
//! name held by a soft-deleted vault, a role assignment for an unknown principal.
//!
//! Key Vault soft delete as its management REST reference describes it: a deleted vault
//! (DELETE, or its resource group's) is kept under
//! `/subscriptions/{s}/providers/Microsoft.KeyVault/locations/{l}/deletedVaults/{name}`
//! (GET: `vaultId`, `location`, `tags`, `deletionDate`, `scheduledPurgeDate`) and holds
//! its name: a PUT of that name answers 409 `ConflictError` unless its
//! `properties.createMode` is `recover`, which restores it, secrets and all, in its own
//! resource group; `POST .../deletedVaults/{name}/purge` removes it for good (202 and an
//! operation to poll).
//!
//! It also stands in for the sites' front ends: `GET /sites/{host}/{path}` answers
//! 403 when the access restrictions of the site (or slot) with that `defaultHostName`
//! keep the caller's address out (first matching rule by priority, else the default
//! action), else 200 when it runs a digest-pinned image that is not in `bad`, else 503
//! (the test points AIDEPLOY_AZURE_SITE_URL_TEMPLATE at it). Access restrictions are
//! checked as ARM checks them (see `check_restrictions`), listed with ARM's implicit
//! last rule, and stay with a slot in a swap. Registries report `registry_host` as their login server, so images really
//! go to the loopback Distribution registry. Azure Monitor's metrics API (`GET
//! {resource}/providers/Microsoft.Insights/metrics`) is in arm_metrics.rs; role
//! definitions (built-in and custom, `.../providers/Microsoft.Authorization/roleDefinitions`)
//! are in arm_roles.rs.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};

pub const SUB: &str = "11111111-2222-3333-4444-555555555555";
pub const TENANT: &str = "99999999-8888-7777-6666-555555555555";
pub const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
pub const KV_SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";
pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7108f3b1c";
pub const RBAC_ADMIN: &str = "f58310d9-a9f6-439a-9e8d-f62e7b41a168";

/// A soft-deleted vault: what it was, and what recovery brings back.
#[derive(Debug, Clone)]
pub struct DeletedVault {
    /// The vault as ARM returned it (its `id` names its resource group).
    pub vault: Value,
    /// Its secrets (lowercase id -> resource) and their values.
    pub secrets: BTreeMap<String, Value>,
    pub values: BTreeMap<String, String>,
    pub deletion_date: String,
}

impl DeletedVault {
    pub fn location(&self) -> &str {
        self.vault["location"].as_str().unwrap_or("")
    }
    pub fn tags(&self) -> &Value {
        &self.vault["tags"]
    }
}

#[derive(Debug, Default)]
pub struct State {
    /// Resource groups by lowercase name.
    pub groups: BTreeMap<String, Value>,
    /// Every other resource by lowercase id (sites, slots, plans, registries, vaults,
    /// secrets, role assignments), as ARM returns it.
    pub resources: BTreeMap<String, Value>,
    /// App settings per site/slot id (lowercase).
    pub settings: BTreeMap<String, BTreeMap<String, String>>,
    /// The container log (Docker's, as App Service keeps it) per site id (lowercase):
    /// what `POST .../containerlogs` answers.
    pub container_logs: BTreeMap<String, String>,
    /// Secret values per secret id (lowercase): only the fake sees them.
    pub secret_values: BTreeMap<String, String>,
    /// Azure Monitor's metrics of the resources (`arm_metrics.rs`).
    pub metrics: super::arm_metrics::Metrics,
    /// Soft-deleted vaults by lowercase name.
    pub deleted_vaults: BTreeMap<String, DeletedVault>,
    /// Secrets deleted through the Key Vault data plane (soft delete): by lowercase
    /// secret id, the resource and its value. Their names stay taken until recovered.
    pub deleted_secrets: BTreeMap<String, (Value, String)>,
    /// Site names taken in other subscriptions (global uniqueness).
    pub taken_names: BTreeSet<String>,
    /// Image digests whose containers never become healthy.
    pub bad: BTreeSet<String>,
    /// The most resource groups a list page holds whatever `$top` asks (0: no limit):
    /// ARM may answer fewer with a `nextLink`.
    pub group_page_limit: usize,
    /// What registries report as their login server.
    pub registry_host: String,
    /// Custom role definitions by lowercase id (arm_roles.rs).
    pub role_definitions: BTreeMap<String, Value>,
    /// Accepted PUT/PATCH/DELETE/POST (not list actions).
    pub mutations: usize,
    /// Rejected requests (4xx), with the reason.
    pub rejected: Vec<String>,
    /// Every ARM request (reads, writes and operation polls; not the sites' front ends).
    pub requests: usize,
    /// The Authorization headers ARM requests carried.
    pub tokens: BTreeSet<String>,
    ops: BTreeMap<String, (u32, Value)>,
    /// Operation id -> the resource (lowercase id) it is still provisioning, and since
    /// when: other writes that depend on it are refused until a poll has seen it finish,
    /// or, as ARM finishes operations nobody polls, until a moment has passed.
    pending: BTreeMap<String, (String, std::time::Instant)>,
    next: u64,
}

/// How long an operation nobody polls keeps its resource busy (ARM finishes it all the
/// same; a run that was stopped half-way finds it done a moment later).
const UNPOLLED_OPERATION: std::time::Duration = std::time::Duration::from_millis(500);

pub(crate) fn err(status: u16, code: &str, message: impl Into<String>) -> Reply {
    Reply::json(status, json!({"error": {"code": code, "message": message.into()}}))
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub(crate) fn json(status: u16, v: Value) -> Reply {
        Reply { status, headers: Vec::new(), body: if v.is_null() { String::new() } else { v.to_string() } }
    }
    fn header(mut self, k: &str, v: String) -> Reply {
        self.headers.push((k.into(), v));
        self
    }
}

/// Checks `v` against a shape: an object of allowed keys (`"!key"` = required), with
/// leaf types "string", "bool", "int", "object" (anything), "[string]"...
pub(crate) fn check(v: &Value, shape: &Value, at: &str) -> Result<(), String> {
    match shape {
        Value::String(t) => {
            let ok = match t.as_str() {
                "string" => v.is_string(),
                "bool" => v.is_boolean(),
                "int" => v.is_i64(),
                "number" => v.is_number(),
                "any" => true,
                "tags" => v.as_object().is_some_and(|o| o.values().all(Value::is_string)),
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(format!("The value at '{at}' is not a valid {t}."))
            }
        }
        Value::Array(items) => {
            let arr = v.as_array().ok_or(format!("The value at '{at}' must be an array."))?;
            for (i, x) in arr.iter().enumerate() {
                check(x, &items[0], &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        Value::Object(keys) => {
            let obj = v.as_object().ok_or(format!("The value at '{at}' must be an object."))?;
            for k in obj.keys() {
                if !keys.contains_key(k) && !keys.contains_key(&format!("!{k}")) {
                    return Err(format!("Could not find member '{k}' on object of type '{at}'."));
                }
            }
            for (k, sub) in keys {
                let (name, required) = match k.strip_prefix('!') {
                    Some(n) => (n, true),
                    None => (k.as_str(), false),
                };
                match obj.get(name) {
                    Some(x) if !x.is_null() => check(x, sub, &format!("{at}.{name}"))?,
                    _ if required => return Err(format!("The required property '{at}.{name}' is missing.")),
                    _ => {}
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn budget_shape() -> Value {
    let filter = json!({"name": "string", "operator": "string", "!values": ["string"]});
    json!({"eTag": "string",
        "!properties": {"!category": "string", "!amount": "number", "!timeGrain": "string",
            "!timePeriod": {"!startDate": "string", "endDate": "string"},
            "filter": {"and": [{"dimensions": filter, "tags": filter}], "dimensions": filter, "tags": filter},
            "notifications": "any"}})
}
fn notification_shape() -> Value {
    json!({"!enabled": "bool", "!operator": "string", "!threshold": "number", "contactEmails": ["string"], "contactRoles": ["string"],
        "contactGroups": ["string"], "thresholdType": "string", "locale": "string"})
}
fn group_shape() -> Value {
    json!({"!location": "string", "tags": "tags", "managedBy": "string", "properties": {}})
}
fn plan_shape() -> Value {
    json!({"!location": "string", "kind": "string", "tags": "tags",
        "!sku": {"!name": "string", "tier": "string", "size": "string", "family": "string", "capacity": "int"},
        "properties": {"reserved": "bool", "perSiteScaling": "bool", "zoneRedundant": "bool", "maximumElasticWorkerCount": "int"}})
}
fn site_shape() -> Value {
    json!({"!location": "string", "kind": "string", "tags": "tags",
        "identity": {"!type": "string"},
        "!properties": {"!serverFarmId": "string", "httpsOnly": "bool", "keyVaultReferenceIdentity": "string", "reserved": "bool", "clientAffinityEnabled": "bool",
            "siteConfig": {"linuxFxVersion": "string", "acrUseManagedIdentityCreds": "bool", "alwaysOn": "bool", "healthCheckPath": "string",
                "minTlsVersion": "string", "ftpsState": "string", "http20Enabled": "bool", "numberOfWorkers": "int", "appCommandLine": "string",
                "appSettings": [{"!name": "string", "!value": "string"}],
                "ipSecurityRestrictions": [restriction_shape()], "ipSecurityRestrictionsDefaultAction": "string",
                "scmIpSecurityRestrictions": [restriction_shape()], "scmIpSecurityRestrictionsDefaultAction": "string",
                "scmIpSecurityRestrictionsUseMain": "bool"}}})
}
/// `IpSecurityRestriction`: one access rule of a site (or of its SCM site).
fn restriction_shape() -> Value {
    json!({"ipAddress": "string", "subnetMask": "string", "vnetSubnetResourceId": "string", "vnetTrafficTag": "int", "subnetTrafficTag": "int",
        "action": "string", "tag": "string", "priority": "int", "name": "string", "description": "string", "headers": "any"})
}
/// The properties of a `Microsoft.Web/sites/config` (web) PATCH: the siteConfig fields.
fn site_config_shape() -> Value {
    site_shape()["!properties"]["siteConfig"].clone()
}

/// siteConfig fields that stay with a slot in a swap.
const STICKY: [&str; 5] = [
    "ipSecurityRestrictions",
    "ipSecurityRestrictionsDefaultAction",
    "scmIpSecurityRestrictions",
    "scmIpSecurityRestrictionsDefaultAction",
    "scmIpSecurityRestrictionsUseMain",
];

/// The last rule ARM lists: what happens to an address no rule matches.
const IMPLICIT_PRIORITY: i64 = 2_147_483_647;

fn implicit(rule: &Value) -> bool {
    rule["ipAddress"].as_str().is_some_and(|a| a.eq_ignore_ascii_case("any")) && rule["priority"] == IMPLICIT_PRIORITY
}

/// Whether `cidr` (`a.b.c.d/n`, an IPv6 block, a plain address, or `Any`) holds `ip`.
fn holds(cidr: &str, ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    if cidr.eq_ignore_ascii_case("any") {
        return true;
    }
    let (addr, bits) = match cidr.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (cidr, None),
    };
    match (addr.parse::<IpAddr>(), ip) {
        (Ok(IpAddr::V4(n)), IpAddr::V4(i)) => {
            let b = bits.unwrap_or(32).min(32);
            let mask = if b == 0 { 0 } else { u32::MAX << (32 - b) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (Ok(IpAddr::V6(n)), IpAddr::V6(i)) => {
            let b = bits.unwrap_or(128).min(128);
            let mask = if b == 0 { 0 } else { u128::MAX << (128 - b) };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Rejects access rules as ARM does: an action other than Allow or Deny, a tag it does
/// not know, a priority outside 1..=2147483647, an address that is not a CIDR block (or
/// a plain IPv4 address with `subnetMask`, or a service tag with tag `ServiceTag`), a
/// subnet mask next to a CIDR block, neither or both of an address and a subnet id,
/// and a default action other than Allow or Deny.
fn check_restrictions(config: &Value) -> Result<(), String> {
    for (field, default) in [
        ("ipSecurityRestrictions", "ipSecurityRestrictionsDefaultAction"),
        ("scmIpSecurityRestrictions", "scmIpSecurityRestrictionsDefaultAction"),
    ] {
        if let Some(a) = config[default].as_str() {
            if !a.eq_ignore_ascii_case("allow") && !a.eq_ignore_ascii_case("deny") {
                return Err(format!("'{a}' is not a valid value for {default}; valid values are Allow, Deny."));
            }
        }
        for (i, r) in config[field].as_array().into_iter().flatten().enumerate() {
            let at = format!("{field}[{i}]");
            match r["action"].as_str() {
                None => {}
                Some(a) if a.eq_ignore_ascii_case("allow") || a.eq_ignore_ascii_case("deny") => {}
                Some(a) => return Err(format!("{at}.action '{a}' is invalid: an access restriction either Allows or Denies.")),
            }
            if let Some(p) = r["priority"].as_i64() {
                if !(1..=IMPLICIT_PRIORITY).contains(&p) {
                    return Err(format!("{at}.priority {p} is out of range: use 1 to {IMPLICIT_PRIORITY}."));
                }
            }
            let tag = r["tag"].as_str().unwrap_or("Default");
            if !matches!(tag, "Default" | "XffProxy" | "ServiceTag") {
                return Err(format!("{at}.tag '{tag}' is invalid: use Default, XffProxy or ServiceTag."));
            }
            let (ip, subnet) = (r["ipAddress"].as_str(), r["vnetSubnetResourceId"].as_str());
            let ip = match (ip, subnet) {
                (Some(ip), None) => ip,
                (None, Some(_)) => continue,
                _ => return Err(format!("{at}: give either ipAddress or vnetSubnetResourceId.")),
            };
            if tag == "ServiceTag" {
                if ip.is_empty() {
                    return Err(format!("{at}.ipAddress must name a service tag."));
                }
                continue;
            }
            let mask = r["subnetMask"].as_str();
            let ok = match ip.split_once('/') {
                _ if ip.eq_ignore_ascii_case("any") => true,
                Some((a, b)) => {
                    mask.is_none()
                        && match (a.parse::<std::net::IpAddr>(), b.parse::<u8>()) {
                            (Ok(std::net::IpAddr::V4(_)), Ok(b)) => b <= 32,
                            (Ok(std::net::IpAddr::V6(_)), Ok(b)) => b <= 128,
                            _ => false,
                        }
                }
                None => match ip.parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V4(_)) => mask.is_some_and(|m| m.parse::<std::net::Ipv4Addr>().is_ok()),
                    Ok(std::net::IpAddr::V6(_)) => mask.is_none(),
                    Err(_) => false,
                },
            };
            if !ok {
                return Err(format!("{at}.ipAddress '{ip}' is not a valid IP address range (write a CIDR block such as 203.0.113.0/24)."));
            }
        }
    }
    Ok(())
}

/// A stored config as ARM returns it: each rule list ends with the implicit rule for
/// the default action (`Allow all` / `Deny all`).
fn with_implicit_rules(stored: &mut Value) {
    for (field, default) in [
        ("ipSecurityRestrictions", "ipSecurityRestrictionsDefaultAction"),
        ("scmIpSecurityRestrictions", "scmIpSecurityRestrictionsDefaultAction"),
    ] {
        let mut rules: Vec<Value> = stored[field].as_array().cloned().unwrap_or_default().into_iter().filter(|r| !implicit(r)).collect();
        let action = stored[default].as_str().unwrap_or(if rules.is_empty() { "Allow" } else { "Deny" }).to_string();
        stored[default] = json!(action);
        rules.push(json!({"ipAddress": "Any", "action": action, "priority": IMPLICIT_PRIORITY, "name": format!("{action} all"),
            "description": format!("{action} all access")}));
        stored[field] = Value::Array(rules);
    }
}

/// Whether a site's front end lets `peer` in: the first rule by priority that holds it
/// decides, else the default action.
fn admits(config: &Value, peer: std::net::IpAddr) -> bool {
    let mut rules: Vec<&Value> = config["ipSecurityRestrictions"].as_array().into_iter().flatten().filter(|r| !implicit(r)).collect();
    rules.sort_by_key(|r| r["priority"].as_i64().unwrap_or(IMPLICIT_PRIORITY));
    for r in &rules {
        if r["tag"] == "ServiceTag" || !r["vnetSubnetResourceId"].is_null() {
            continue;
        }
        if r["ipAddress"].as_str().is_some_and(|a| holds(a, peer)) {
            return !r["action"].as_str().is_some_and(|a| a.eq_ignore_ascii_case("deny"));
        }
    }
    config["ipSecurityRestrictionsDefaultAction"]
        .as_str()
        .unwrap_or(if rules.is_empty() { "Allow" } else { "Deny" })
        .eq_ignore_ascii_case("allow")
}
fn registry_shape() -> Value {
    json!({"!location": "string", "tags": "tags", "!sku": {"!name": "string"}, "properties": {"adminUserEnabled": "bool", "publicNetworkAccess": "string", "anonymousPullEnabled": "bool"}})
}
fn vault_shape() -> Value {
    json!({"!location": "string", "tags": "tags", "!properties": {"!tenantId": "string", "!sku": {"!family": "string", "!name": "string"},
        "enableRbacAuthorization": "bool", "accessPolicies": ["any"], "enableSoftDelete": "bool", "softDeleteRetentionInDays": "int", "enablePurgeProtection": "bool", "publicNetworkAccess": "string", "createMode": "string"}})
}
fn secret_shape() -> Value {
    json!({"tags": "tags", "!properties": {"!value": "string", "contentType": "string", "attributes": {"enabled": "bool", "nbf": "int", "exp": "int"}}})
}
fn role_shape() -> Value {
    json!({"!properties": {"!roleDefinitionId": "string", "!principalId": "string", "principalType": "string", "description": "string", "condition": "string", "conditionVersion": "string"}})
}

fn identity_shape() -> Value {
    json!({"!location": "string", "tags": "tags", "properties": {}})
}

fn federated_shape() -> Value {
    json!({"!properties": {"!issuer": "string", "!subject": "string", "!audiences": ["string"]}})
}

/// (tier, slots allowed, alwaysOn allowed) of a SKU name; None when unknown.
fn tier(sku: &str) -> Option<(&'static str, bool, bool)> {
    let s = sku.to_ascii_uppercase();
    Some(match s.as_str() {
        "F1" | "FREE" => ("Free", false, false),
        "D1" | "SHARED" => ("Shared", false, false),
        "B1" | "B2" | "B3" => ("Basic", false, true),
        "S1" | "S2" | "S3" => ("Standard", true, true),
        "P1V2" | "P2V2" | "P3V2" => ("PremiumV2", true, true),
        "P0V3" | "P1V3" | "P2V3" | "P3V3" | "P1MV3" | "P2MV3" | "P3MV3" | "P4MV3" | "P5MV3" => ("PremiumV3", true, true),
        _ => return None,
    })
}

/// Supported api-versions per provider namespace (lowercase).
fn versions(ns: &str) -> &'static [&'static str] {
    match ns {
        "microsoft.web" => {
            &["2022-09-01", "2023-01-01", "2023-12-01", "2024-04-01", "2024-11-01", "2025-03-01", "2026-03-15", "2026-07-15", "2026-09-01"]
        }
        "microsoft.containerregistry" => &["2023-07-01", "2023-11-01-preview", "2025-04-01"],
        "microsoft.keyvault" => &["2023-02-01", "2023-07-01", "2024-11-01"],
        "microsoft.authorization" => &["2020-04-01-preview", "2022-04-01"],
        "microsoft.managedidentity" => &["2023-01-31", "2024-11-30"],
        "subscriptions" => &["2016-06-01", "2020-01-01", "2022-12-01"],
        "microsoft.insights" => &["2018-01-01", "2019-07-01", "2021-05-01", "2023-10-01", "2024-02-01"],
        "microsoft.consumption" => &["2023-05-01", "2023-11-01", "2024-08-01"],
        _ => &["2021-04-01", "2022-09-01", "2024-03-01", "2025-04-01"],
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(x) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn tags_of(v: &Value) -> Map<String, Value> {
    v["tags"].as_object().cloned().unwrap_or_default()
}

impl State {
    fn id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
    fn guid(&mut self) -> String {
        let n = self.id();
        format!("{:08x}-0000-4000-8000-{:012x}", n, n * 7919)
    }
    fn op(&mut self, base: &str, polls: u32, result: Value) -> String {
        self.op_for(base, polls, result, None)
    }
    fn op_for(&mut self, base: &str, polls: u32, result: Value, resource: Option<&str>) -> String {
        let id = self.guid();
        self.ops.insert(id.clone(), (polls, result));
        if let Some(r) = resource {
            self.pending.insert(id.clone(), (r.to_ascii_lowercase(), std::time::Instant::now()));
        }
        format!("{base}/subscriptions/{SUB}/providers/Microsoft.Resources/operations/{id}?api-version=2025-04-01")
    }

    /// Every resource (not group) whose tags name this app.
    /// Deletes the vault `key` (lowercase id) softly: it and its secrets go to
    /// `deleted_vaults`; role assignments on it go for good.
    fn soft_delete_vault(&mut self, key: &str) {
        let Some(vault) = self.resources.remove(key) else { return };
        let prefix = format!("{key}/");
        let secrets: BTreeMap<String, Value> = self
            .resources
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{prefix}secrets/")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let values: BTreeMap<String, String> =
            self.secret_values.iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(k, v)| (k.clone(), v.clone())).collect();
        self.resources.retain(|k, _| !k.starts_with(&prefix));
        self.secret_values.retain(|k, _| !k.starts_with(&prefix));
        let name = vault["name"].as_str().unwrap_or("").to_ascii_lowercase();
        let deletion_date = format!("2026-12-04T00:00:{:02}Z", self.id() % 60);
        self.deleted_vaults.insert(name, DeletedVault { vault, secrets, values, deletion_date });
    }

    pub fn tagged(&self, app: &str) -> Vec<&Value> {
        let groups = self.groups.values().filter(|g| g["tags"]["aideploy-app"] == app);
        groups.chain(self.resources.values().filter(|r| r["tags"]["aideploy-app"] == app)).collect()
    }
    pub fn by_type(&self, ty: &str) -> Vec<&Value> {
        self.resources.values().filter(|r| r["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(ty))).collect()
    }
    pub fn site_settings(&self, site_id: &str) -> BTreeMap<String, String> {
        self.settings.get(&site_id.to_ascii_lowercase()).cloned().unwrap_or_default()
    }
    pub fn site_config(&self, site_id: &str) -> Value {
        self.resources.get(&format!("{}/config/web", site_id.to_ascii_lowercase())).map(|c| c["properties"].clone()).unwrap_or_default()
    }
    /// A resource group with one resource aideploy did not make (left alone).
    pub fn add_foreign_group(&mut self, name: &str) {
        self.groups.insert(name.to_ascii_lowercase(), json!({"id": format!("/subscriptions/{SUB}/resourceGroups/{name}"), "name": name, "location": "westeurope", "tags": {"team": "data"}, "properties": {"provisioningState": "Succeeded"}}));
        let id = format!("/subscriptions/{SUB}/resourceGroups/{name}/providers/Microsoft.Web/serverfarms/their-plan");
        self.resources.insert(id.to_ascii_lowercase(), json!({"id": id, "name": "their-plan", "type": "Microsoft.Web/serverfarms", "location": "westeurope", "kind": "linux", "tags": {}, "sku": {"name": "P1V3", "tier": "PremiumV3"}, "properties": {"reserved": true}}));
    }
    /// A group someone made by hand (no aideploy tags).
    pub fn add_group(&mut self, name: &str, location: &str) {
        self.groups.insert(name.to_ascii_lowercase(), json!({"id": format!("/subscriptions/{SUB}/resourceGroups/{name}"), "name": name, "location": location, "tags": {}, "properties": {"provisioningState": "Succeeded"}}));
    }

    /// A web app (and its plan) someone made by hand in group `group`: no aideploy tags.
    pub fn add_site(&mut self, group: &str, name: &str) -> String {
        let g = format!("/subscriptions/{SUB}/resourceGroups/{group}");
        let farm = format!("{g}/providers/Microsoft.Web/serverfarms/hand-made-plan");
        self.resources.insert(farm.to_ascii_lowercase(), json!({"id": farm, "name": "hand-made-plan", "type": "Microsoft.Web/serverfarms", "location": "westeurope", "kind": "linux", "tags": {}, "sku": {"name": "B1", "tier": "Basic"}, "properties": {"reserved": true}}));
        let id = format!("{g}/providers/Microsoft.Web/sites/{name}");
        self.resources.insert(id.to_ascii_lowercase(), json!({"id": id, "name": name, "type": "Microsoft.Web/sites", "location": "westeurope", "kind": "app,linux,container", "tags": {"owner": "web-team"}, "properties": {"serverFarmId": farm, "defaultHostName": format!("{name}.azurewebsites.net"), "httpsOnly": false}}));
        id
    }
    /// A resource whose creation has not been seen to finish yet (ARM answers 409
    /// AnotherOperationInProgress to writes that need it).
    fn busy(&self, key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        self.pending.values().any(|(p, since)| *p == key && since.elapsed() < UNPOLLED_OPERATION)
    }

    fn principals(&self) -> BTreeSet<String> {
        let sites = self.resources.values().filter_map(|r| r["identity"]["principalId"].as_str().map(str::to_string));
        let identities = self.by_type("Microsoft.ManagedIdentity/userAssignedIdentities");
        sites.chain(identities.iter().filter_map(|r| r["properties"]["principalId"].as_str().map(str::to_string))).collect()
    }

    fn site_names_elsewhere(&self, name: &str, id: &str) -> bool {
        self.taken_names.contains(&name.to_ascii_lowercase())
            || self.by_type("Microsoft.Web/sites").iter().any(|s| {
                s["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)) && !s["id"].as_str().unwrap_or("").eq_ignore_ascii_case(id)
            })
    }

    fn running_digest(&self, host: &str) -> Option<String> {
        let site = self.resources.values().find(|r| r["properties"]["defaultHostName"] == host)?;
        let config = self.site_config(site["id"].as_str()?);
        let fx = config["linuxFxVersion"].as_str()?;
        fx.rsplit_once('@').map(|(_, d)| d.to_string())
    }
}

/// A site's front end, for a request from `peer`: 403 when the site's access
/// restrictions keep `peer` out (before the app is asked), else 200 when it runs a
/// digest-pinned image that is not in `bad`, else 503.
pub fn front(st: &State, target: &str, peer: std::net::IpAddr) -> Reply {
    let path = target.split('?').next().unwrap_or(target);
    let host = path.trim_matches('/').split('/').nth(1).unwrap_or("");
    let Some(site) = st.resources.values().find(|r| r["properties"]["defaultHostName"] == host) else {
        return Reply::json(404, json!({"error": "no such site"}));
    };
    let config = st.site_config(site["id"].as_str().unwrap_or(""));
    if !admits(&config, peer) {
        return Reply {
            status: 403,
            headers: Vec::new(),
            body: format!("403 Forbidden: {peer} may not reach this web app (access restrictions)"),
        };
    }
    match st.running_digest(host) {
        Some(d) if !st.bad.contains(&d) => Reply::json(200, json!({"status": "ok"})),
        Some(_) => Reply::json(503, json!({"error": "the container did not start"})),
        None => Reply::json(503, json!({"error": "no image"})),
    }
}

/// Key Vault's data plane (REST 7.4), for the vault whose `vaultUri` host is the first
/// segment: `/vaults/{host}/secrets/{name}[/{version}]` (GET: the value; DELETE: soft
/// delete, the name kept until recovered), `/vaults/{host}/deletedsecrets/{name}/recover`
/// (POST). A bearer token and `api-version` are required; errors are Key Vault's
/// `{"error":{"code","message"}}`. The test points AIDEPLOY_AZURE_VAULT_URL_TEMPLATE at it.
pub fn vault_plane(st: &mut State, method: &str, target: &str, headers: &[(String, String)]) -> Reply {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let auth = headers.iter().find(|(k, _)| k == "authorization").map(|(_, v)| v.as_str()).unwrap_or("");
    if !auth.starts_with("Bearer ") || auth.len() <= 7 {
        return err(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.");
    }
    let version = query.split('&').find_map(|p| p.strip_prefix("api-version="));
    if !matches!(version, Some("7.4" | "7.5" | "7.6")) {
        return err(400, "BadParameter", "The request URI contains an invalid or missing api-version query parameter.");
    }
    let host = segs.get(1).copied().unwrap_or("");
    let Some(vault) = st.resources.values().find(|r| {
        r["type"] == "Microsoft.KeyVault/vaults"
            && r["properties"]["vaultUri"]
                .as_str()
                .is_some_and(|u| u.trim_end_matches('/').eq_ignore_ascii_case(&format!("https://{host}")))
    }) else {
        return Reply::json(404, json!({"error": "no such vault"}));
    };
    let vault_key = vault["id"].as_str().unwrap_or("").to_ascii_lowercase();
    let uri = vault["properties"]["vaultUri"].as_str().unwrap_or("").to_string();
    let bundle = |r: &Value| {
        let p = &r["properties"];
        let mut attributes = p["attributes"].clone();
        attributes["recoveryLevel"] = json!("Recoverable+Purgeable");
        attributes["recoverableDays"] = json!(90);
        json!({"id": p["secretUriWithVersion"], "attributes": attributes, "tags": r["tags"], "contentType": p["contentType"]})
    };
    match (method, &segs[2..]) {
        ("GET", ["secrets", name] | ["secrets", name, _]) => {
            let key = format!("{vault_key}/secrets/{}", name.to_ascii_lowercase());
            let wanted = segs.get(4).copied();
            match st.resources.get(&key) {
                Some(r) if wanted.is_none_or(|v| r["properties"]["secretUriWithVersion"].as_str().is_some_and(|u| u.ends_with(v))) => {
                    let mut b = bundle(r);
                    b["value"] = json!(st.secret_values.get(&key).cloned().unwrap_or_default());
                    Reply::json(200, b)
                }
                _ => err(404, "SecretNotFound", format!("A secret with (name/id) {name} was not found in this key vault.")),
            }
        }
        ("DELETE", ["secrets", name]) => {
            let key = format!("{vault_key}/secrets/{}", name.to_ascii_lowercase());
            let Some(r) = st.resources.remove(&key) else {
                return err(404, "SecretNotFound", format!("A secret with (name/id) {name} was not found in this key vault."));
            };
            let value = st.secret_values.remove(&key).unwrap_or_default();
            let now = unix_now();
            let mut b = bundle(&r);
            b["recoveryId"] = json!(format!("{uri}deletedsecrets/{name}"));
            b["deletedDate"] = json!(now);
            b["scheduledPurgeDate"] = json!(now + 90 * 86400);
            st.deleted_secrets.insert(key, (r, value));
            st.mutations += 1;
            Reply::json(200, b)
        }
        ("POST", ["deletedsecrets", name, "recover"]) => {
            let key = format!("{vault_key}/secrets/{}", name.to_ascii_lowercase());
            let Some((r, value)) = st.deleted_secrets.remove(&key) else {
                return err(404, "SecretNotFound", format!("Deleted Secret not found: {name}"));
            };
            let b = bundle(&r);
            st.resources.insert(key.clone(), r);
            st.secret_values.insert(key, value);
            st.mutations += 1;
            Reply::json(200, b)
        }
        _ => err(405, "MethodNotAllowed", format!("no route {method} {path}")),
    }
}

/// Resource Groups - List: the subscription's groups in name order, filtered by
/// `$filter` (`tagName eq 'K' and tagValue eq 'V'`, or `tagName eq 'K'`; tag names match
/// without regard to case, values exactly; any other filter is a 400), at most `$top`
/// (a positive integer) a page, the rest behind `nextLink` (a `$skiptoken`).
fn list_groups(st: &State, base: &str, params: &BTreeMap<String, String>) -> Reply {
    let filter = params.get("$filter").map(String::as_str).unwrap_or_default().trim();
    let quoted = |s: &str| s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')).filter(|s| !s.contains('\'')).map(str::to_string);
    let want: Option<(String, Option<String>)> = if filter.is_empty() {
        None
    } else {
        let parsed = filter.strip_prefix("tagName eq ").and_then(|rest| match rest.split_once(" and tagValue eq ") {
            Some((k, v)) => Some((quoted(k)?, Some(quoted(v)?))),
            None => Some((quoted(rest)?, None)),
        });
        match parsed {
            Some(w) => Some(w),
            None => return err(400, "InvalidFilterInQueryString", format!("Invalid $filter '{filter}' specified in the query string.")),
        }
    };
    let top = match params.get("$top").map(|t| t.parse::<usize>()) {
        None => usize::MAX,
        Some(Ok(n)) if n > 0 => n,
        _ => return err(400, "InvalidTopInQueryString", format!("Invalid $top '{}' specified in the query string.", params["$top"])),
    };
    let size = if st.group_page_limit > 0 { top.min(st.group_page_limit) } else { top };
    let from = match params.get("$skiptoken").map(|t| t.parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return err(400, "InvalidSkipToken", "The skip token is not valid."),
    };
    let matching: Vec<&Value> = st
        .groups
        .values()
        .filter(|g| {
            want.as_ref().is_none_or(|(k, v)| {
                let tags = g["tags"].as_object();
                let found = tags.and_then(|t| t.iter().find(|(name, _)| name.eq_ignore_ascii_case(k)));
                found.is_some_and(|(_, value)| v.as_ref().is_none_or(|v| value == v.as_str()))
            })
        })
        .collect();
    let page: Vec<Value> = matching.iter().skip(from).take(size).map(|g| (*g).clone()).collect();
    let mut answer = json!({"value": page});
    if from.saturating_add(size) < matching.len() {
        let mut next =
            format!("{base}/subscriptions/{SUB}/resourcegroups?api-version={}&$skiptoken={}", params["api-version"], from + size);
        if !filter.is_empty() {
            next.push_str(&format!("&$filter={}", filter.replace(' ', "%20").replace('\'', "%27")));
        }
        if let Some(t) = params.get("$top") {
            next.push_str(&format!("&$top={t}"));
        }
        answer["nextLink"] = json!(next);
    }
    Reply::json(200, answer)
}

/// The answer to one request. `base` is the fake's own URL (for operation URLs).
pub fn answer(st: &mut State, base: &str, method: &str, target: &str, headers: &[(String, String)], body: &str) -> Reply {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params: BTreeMap<String, String> =
        query.split('&').filter(|p| !p.is_empty()).filter_map(|p| p.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();

    let auth = headers.iter().find(|(k, _)| k == "authorization").map(|(_, v)| v.as_str()).unwrap_or("");
    if !auth.starts_with("Bearer ") || auth.len() <= 7 {
        return err(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.");
    }
    if segs.len() < 2 || !segs[0].eq_ignore_ascii_case("subscriptions") {
        return err(404, "NotFound", format!("no route {path}"));
    }
    if segs[1] != SUB {
        return err(404, "SubscriptionNotFound", format!("The subscription '{}' could not be found.", segs[1]));
    }
    // Provider namespace: of the last `providers/{ns}` segment pair; the subscription
    // itself and resource groups belong to Microsoft.Resources.
    let ns = segs.iter().rposition(|s| s.eq_ignore_ascii_case("providers")).and_then(|i| segs.get(i + 1)).map(|s| s.to_ascii_lowercase());
    let ns = ns.unwrap_or_else(|| if segs.len() == 2 { "subscriptions".into() } else { "microsoft.resources".into() });
    match params.get("api-version") {
        None => {
            return err(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
        }
        Some(v) if !versions(&ns).contains(&v.as_str()) => {
            return err(
                400,
                "InvalidApiVersionParameter",
                format!("The api-version '{v}' is invalid. The supported versions are '{}'.", versions(&ns).join(",")),
            );
        }
        _ => {}
    }
    let parsed: Value = if body.trim().is_empty() {
        Value::Null
    } else {
        match serde_json::from_str(body) {
            Ok(v) => v,
            Err(e) => {
                return err(400, "InvalidRequestContent", format!("The request content was invalid and could not be deserialized: {e}"))
            }
        }
    };
    // ARM's tag limits (resource groups and resources alike): names up to 512
    // characters, values up to 256.
    if let Some(tags) = parsed.get("tags").and_then(Value::as_object) {
        if let Some(v) = tags.values().filter_map(Value::as_str).find(|v| v.chars().count() > 256) {
            return err(
                400,
                "InvalidTagValueLength",
                format!("Tag value too large.  Following tag value '{v}' exceeded the maximum length. Maximum allowed length for tag value - '256' characters."),
            );
        }
        if let Some(k) = tags.keys().find(|k| k.chars().count() > 512) {
            return err(
                400,
                "InvalidTagNameLength",
                format!("Tag name too large. Following tag name '{k}' exceeded the maximum length. Maximum allowed length for tag name - '512' characters."),
            );
        }
    }
    macro_rules! valid {
        ($shape:expr) => {
            if let Err(why) = check(&parsed, &$shape, "body") {
                return err(400, "InvalidRequestContent", why);
            }
        };
    }
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();

    // Azure Monitor metrics of a resource (arm_metrics.rs).
    if l.len() > 5 && l[l.len() - 3..] == ["providers", "microsoft.insights", "metrics"] {
        if method != "GET" {
            return err(405, "MethodNotAllowed", "method not allowed");
        }
        let display = format!("/{}", segs[..segs.len() - 3].join("/"));
        let key = display.to_ascii_lowercase();
        let exists = st.resources.contains_key(&key);
        let (status, v) = super::arm_metrics::list(&mut st.metrics, &key, &display, exists, &params);
        return Reply::json(status, v);
    }
    // Operations.
    if l.len() == 6 && l[2] == "providers" && l[4] == "operations" {
        let Some((left, result)) = st.ops.get_mut(segs[5]) else { return err(404, "NotFound", "operation not found") };
        let location = result["kind"] == "location";
        let running = *left > 0;
        if running {
            *left -= 1;
        } else {
            st.pending.remove(segs[5]);
        }
        return match (running, location) {
            (true, true) => Reply::json(202, Value::Null).header("retry-after", "1".into()),
            (true, false) => Reply::json(200, json!({"status": "InProgress"})),
            (false, true) => Reply::json(200, Value::Null),
            (false, false) => Reply::json(200, json!({"status": "Succeeded"})),
        };
    }
    if l.len() == 2 && method == "GET" {
        return Reply::json(
            200,
            json!({"id": format!("/subscriptions/{SUB}"), "subscriptionId": SUB, "tenantId": TENANT, "displayName": "fake", "state": "Enabled"}),
        );
    }
    // Key Vault: a soft-deleted vault (GET), and its purge (POST .../purge), in the
    // vault's own location.
    if (8..=9).contains(&l.len()) && l[2] == "providers" && l[3] == "microsoft.keyvault" && l[4] == "locations" && l[6] == "deletedvaults" {
        let found = st.deleted_vaults.get(l[7]).filter(|d| d.location().eq_ignore_ascii_case(&decode(segs[5])));
        let Some(d) = found.cloned() else {
            return err(404, "ResourceNotFound", format!("The deleted vault '{}' was not found in location '{}'.", segs[7], segs[5]));
        };
        return match (l.len(), l.get(8).copied(), method) {
            (8, None, "GET") => Reply::json(
                200,
                json!({"id": format!("/subscriptions/{SUB}/providers/Microsoft.KeyVault/locations/{}/deletedVaults/{}", d.location(), d.vault["name"].as_str().unwrap_or("")),
                    "name": d.vault["name"], "type": "Microsoft.KeyVault/deletedVaults",
                    "properties": {"vaultId": d.vault["id"], "location": d.location(), "tags": d.tags(), "deletionDate": d.deletion_date,
                        "scheduledPurgeDate": d.deletion_date.replacen("2026-12-04", "2027-03-04", 1), "purgeProtectionEnabled": false}}),
            ),
            (9, Some("purge"), "POST") => {
                if let Some(d) = st.deleted_vaults.remove(l[7]) {
                    let prefix = format!("{}/secrets/", d.vault["id"].as_str().unwrap_or("").to_ascii_lowercase());
                    st.deleted_secrets.retain(|k, _| !k.starts_with(&prefix));
                }
                st.mutations += 1;
                let loc = st.op(base, 1, json!({"kind": "location"}));
                Reply::json(202, Value::Null).header("location", loc)
            }
            _ => err(405, "MethodNotAllowed", "method not allowed"),
        };
    }
    if l.len() == 3 && l[2] == "resourcegroups" {
        if method != "GET" {
            return err(405, "MethodNotAllowed", "method not allowed");
        }
        return list_groups(st, base, &params);
    }
    // Role definitions at the subscription (arm_roles.rs).
    if (5..=6).contains(&l.len()) && l[2] == "providers" && l[3] == "microsoft.authorization" && l[4] == "roledefinitions" {
        return super::arm_roles::role_definition(st, method, &segs, &parsed, &params);
    }
    // Role assignments at the subscription.
    if l.len() == 6 && l[2] == "providers" && l[3] == "microsoft.authorization" && l[4] == "roleassignments" {
        return role_assignment(st, method, &segs, &parsed, None);
    }
    if l.len() < 4 || l[2] != "resourcegroups" {
        return err(404, "NotFound", format!("no route {method} {path}"));
    }
    let group = l[3].to_string();
    let group_id = format!("/subscriptions/{SUB}/resourceGroups/{}", segs[3]);
    if l.len() == 4 {
        return match method {
            "GET" => match st.groups.get(&group) {
                Some(g) => Reply::json(200, g.clone()),
                None => err(404, "ResourceGroupNotFound", format!("Resource group '{}' could not be found.", segs[3])),
            },
            "PUT" => {
                valid!(group_shape());
                let existed = st.groups.contains_key(&group);
                let g = json!({"id": group_id, "name": segs[3], "type": "Microsoft.Resources/resourceGroups", "location": parsed["location"], "tags": parsed["tags"].as_object().cloned().unwrap_or_default(), "properties": {"provisioningState": "Succeeded"}});
                st.groups.insert(group.clone(), g.clone());
                st.mutations += 1;
                Reply::json(if existed { 200 } else { 201 }, g)
            }
            "DELETE" => {
                if st.groups.remove(&group).is_none() {
                    return err(404, "ResourceGroupNotFound", format!("Resource group '{}' could not be found.", segs[3]));
                }
                let prefix = format!("{}/", group_id.to_ascii_lowercase());
                // Vaults in the group are soft-deleted, their secrets with them.
                let vaults: Vec<String> = st
                    .resources
                    .iter()
                    .filter(|(k, r)| k.starts_with(&prefix) && r["type"] == "Microsoft.KeyVault/vaults")
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in vaults {
                    st.soft_delete_vault(&k);
                }
                let gone: Vec<String> = st.resources.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
                for k in gone {
                    st.resources.remove(&k);
                    st.settings.remove(&k);
                    st.secret_values.remove(&k);
                }
                st.mutations += 1;
                let loc = st.op(base, 2, json!({"kind": "location"}));
                Reply::json(202, Value::Null).header("location", loc).header("retry-after", "1".into())
            }
            _ => err(405, "MethodNotAllowed", "method not allowed"),
        };
    }
    if !st.groups.contains_key(&group) {
        return err(404, "ResourceGroupNotFound", format!("Resource group '{}' could not be found.", segs[3]));
    }
    if l.len() == 5 && l[4] == "resources" && method == "GET" {
        let filter = params.get("$filter").cloned().unwrap_or_default();
        let want = filter
            .strip_prefix("tagName eq '")
            .and_then(|r| r.split_once("' and tagValue eq '"))
            .map(|(k, v)| (k.to_string(), v.trim_end_matches('\'').to_string()));
        let prefix = format!("{}/providers/", group_id.to_ascii_lowercase());
        let list: Vec<Value> = st
            .resources
            .iter()
            .filter(|(k, r)| {
                k.starts_with(&prefix)
                    && !r["type"].as_str().unwrap_or("").starts_with("Microsoft.Authorization")
                    && r["type"] != "Microsoft.Consumption/budgets"
                    && !k.contains("/config/")
                    && !k.contains("/secrets/")
                    && !k.contains("/federatedidentitycredentials/")
            })
            .filter(|(_, r)| want.as_ref().is_none_or(|(k, v)| r["tags"][k.as_str()] == v.as_str()))
            .map(|(_, r)| json!({"id": r["id"], "name": r["name"], "type": r["type"], "location": r["location"], "tags": r["tags"]}))
            .collect();
        return Reply::json(200, json!({"value": list}));
    }
    // Role assignments at the group or any scope under it.
    if l.len() >= 4 && l[l.len() - 3] == "microsoft.authorization" && l[l.len() - 2] == "roleassignments" {
        return role_assignment(st, method, &segs, &parsed, Some(&group_id));
    }
    if l.len() < 8 || l[4] != "providers" {
        return err(404, "NotFound", format!("no route {method} {path}"));
    }
    let ty = format!("{}/{}", segs[5], segs[6]);
    let name = segs[7];
    let rid = format!("{group_id}/providers/{}/{}/{name}", segs[5], segs[6]);
    let rkey = rid.to_ascii_lowercase();
    let rest: Vec<&str> = l[8..].to_vec();
    let location_of_group = st.groups[&group]["location"].as_str().unwrap_or("").to_string();
    let _ = location_of_group;
    match (ns.as_str(), l[6], rest.as_slice()) {
        ("microsoft.web", "serverfarms", []) => match method {
            "GET" => st.resources.get(&rkey).map(|r| Reply::json(200, r.clone())).unwrap_or_else(|| {
                err(404, "ResourceNotFound", format!("The Resource '{ty}/{name}' under resource group '{}' was not found.", segs[3]))
            }),
            "PUT" => {
                valid!(plan_shape());
                let sku = parsed["sku"]["name"].as_str().unwrap();
                let Some((tier_name, _, always_on)) = tier(sku) else {
                    return err(400, "BadRequest", format!("The SKU '{sku}' is not valid."));
                };
                let linux = parsed["kind"].as_str().is_some_and(|k| k.contains("linux"));
                if linux != (parsed["properties"]["reserved"] == true) {
                    return err(
                        400,
                        "BadRequest",
                        "A Linux App Service plan must have properties.reserved = true (and only a Linux plan may).",
                    );
                }
                // Down to a tier without alwaysOn while a site has it: refused, like ARM.
                let sites_on: Vec<&Value> = st
                    .by_type("Microsoft.Web/sites")
                    .into_iter()
                    .filter(|s| s["properties"]["serverFarmId"].as_str().is_some_and(|f| f.eq_ignore_ascii_case(&rid)))
                    .collect();
                if !always_on && sites_on.iter().any(|s| st.site_config(s["id"].as_str().unwrap())["alwaysOn"] == true) {
                    return err(409, "Conflict", "Cannot change to a tier without AlwaysOn while a site has it on.");
                }
                let existed = st.resources.contains_key(&rkey);
                let r = json!({"id": rid, "name": name, "type": "Microsoft.Web/serverfarms", "kind": parsed["kind"], "location": parsed["location"], "tags": tags_of(&parsed),
                    "sku": {"name": sku.to_ascii_uppercase(), "tier": tier_name, "capacity": 1},
                    "properties": {"reserved": linux, "status": "Ready", "provisioningState": "Succeeded", "numberOfSites": sites_on.len()}});
                st.resources.insert(rkey.clone(), r.clone());
                st.mutations += 1;
                if existed {
                    Reply::json(200, r)
                } else {
                    let op = st.op_for(base, 1, json!({"kind": "async"}), Some(&rkey));
                    Reply::json(202, r).header("azure-asyncoperation", op.clone()).header("location", op)
                }
            }
            "DELETE" => {
                if st
                    .by_type("Microsoft.Web/sites")
                    .iter()
                    .any(|s| s["properties"]["serverFarmId"].as_str().is_some_and(|f| f.eq_ignore_ascii_case(&rid)))
                {
                    return err(
                        409,
                        "Conflict",
                        format!("Server farm '{name}' cannot be deleted because it has web app(s) assigned to it."),
                    );
                }
                match st.resources.remove(&rkey) {
                    Some(_) => {
                        st.mutations += 1;
                        Reply::json(200, Value::Null)
                    }
                    None => Reply::json(204, Value::Null),
                }
            }
            _ => err(405, "MethodNotAllowed", "method not allowed"),
        },
        ("microsoft.web", "sites", _) => web_site(st, base, method, &rid, name, &rest, &segs[8..], &parsed, body),
        ("microsoft.containerregistry", "registries", []) => match method {
            "GET" => st
                .resources
                .get(&rkey)
                .map(|r| Reply::json(200, r.clone()))
                .unwrap_or_else(|| err(404, "ResourceNotFound", format!("The Resource '{ty}/{name}' was not found."))),
            "PUT" => {
                valid!(registry_shape());
                if name.len() < 5 || name.len() > 50 || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return err(400, "RegistryNameInvalid", "The registry name must be 5-50 alphanumeric characters.");
                }
                if !["Basic", "Standard", "Premium"].contains(&parsed["sku"]["name"].as_str().unwrap()) {
                    return err(400, "InvalidSku", "The sku must be Basic, Standard or Premium.");
                }
                let elsewhere = st.by_type("Microsoft.ContainerRegistry/registries").iter().any(|r| {
                    r["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name))
                        && !r["id"].as_str().unwrap().eq_ignore_ascii_case(&rid)
                });
                if elsewhere {
                    return err(409, "AlreadyInUse", format!("The registry {name} is already in use."));
                }
                let existed = st.resources.contains_key(&rkey);
                let login = if st.registry_host.is_empty() {
                    format!("{}.azurecr.io", name.to_ascii_lowercase())
                } else {
                    st.registry_host.clone()
                };
                let r = json!({"id": rid, "name": name, "type": "Microsoft.ContainerRegistry/registries", "location": parsed["location"], "tags": tags_of(&parsed),
                    "sku": {"name": parsed["sku"]["name"], "tier": parsed["sku"]["name"]},
                    "properties": {"loginServer": login, "adminUserEnabled": parsed["properties"]["adminUserEnabled"].as_bool().unwrap_or(false), "provisioningState": "Succeeded"}});
                st.resources.insert(rkey.clone(), r.clone());
                st.mutations += 1;
                if existed {
                    Reply::json(200, r)
                } else {
                    let mut creating = r.clone();
                    creating["properties"]["provisioningState"] = json!("Creating");
                    let op = st.op_for(base, 2, json!({"kind": "async"}), Some(&rkey));
                    Reply::json(201, creating).header("azure-asyncoperation", op)
                }
            }
            "DELETE" => match st.resources.remove(&rkey) {
                Some(_) => {
                    st.mutations += 1;
                    Reply::json(200, Value::Null)
                }
                None => Reply::json(204, Value::Null),
            },
            _ => err(405, "MethodNotAllowed", "method not allowed"),
        },
        // A budget on the resource group (Microsoft.Consumption/budgets, 2024-08-01):
        // category Cost, an amount, a time grain, a period starting on the first of a
        // month; each notification enabled, with an operator, a threshold (0-1000), and
        // an email or action group (at a resource group's scope roles alone do not do).
        // Synchronous; an eTag that is not the stored one is refused.
        ("microsoft.consumption", "budgets", []) => match method {
            "GET" => st
                .resources
                .get(&rkey)
                .map(|r| Reply::json(200, r.clone()))
                .unwrap_or_else(|| err(404, "NotFound", format!("Budget '{name}' not found under scope '{group_id}'."))),
            "PUT" => {
                valid!(budget_shape());
                if !parsed["properties"]["notifications"].is_null() && !parsed["properties"]["notifications"].is_object() {
                    return err(400, "InvalidRequestContent", "The value at 'body.properties.notifications' must be an object.");
                }
                for (key, n) in parsed["properties"]["notifications"].as_object().into_iter().flatten() {
                    if let Err(why) = check(n, &notification_shape(), &format!("properties.notifications.{key}")) {
                        return err(400, "InvalidRequestContent", why);
                    }
                }
                let p = &parsed["properties"];
                if p["category"] != "Cost" {
                    return err(400, "BadRequest", "Invalid category: only 'Cost' is supported.");
                }
                if !["Monthly", "Quarterly", "Annually", "BillingMonth", "BillingQuarter", "BillingAnnual"]
                    .contains(&p["timeGrain"].as_str().unwrap())
                {
                    return err(400, "BadRequest", format!("Invalid timeGrain '{}'.", p["timeGrain"]));
                }
                if p["amount"].as_f64().is_none_or(|a| a <= 0.0) {
                    return err(400, "BadRequest", "The budget amount must be greater than 0.");
                }
                let start = p["timePeriod"]["startDate"].as_str().unwrap();
                if start.len() < 10 || &start[8..10] != "01" || !start[..4].bytes().all(|b| b.is_ascii_digit()) {
                    return err(400, "BadRequest", "Start date must be the first day of a month.");
                }
                for (key, n) in p["notifications"].as_object().into_iter().flatten() {
                    if !["EqualTo", "GreaterThan", "GreaterThanOrEqualTo"].contains(&n["operator"].as_str().unwrap()) {
                        return err(400, "BadRequest", format!("Invalid operator in notification '{key}'."));
                    }
                    if n["thresholdType"].as_str().is_some_and(|t| !["Actual", "Forecasted"].contains(&t)) {
                        return err(400, "BadRequest", format!("Invalid thresholdType in notification '{key}'."));
                    }
                    if n["threshold"].as_f64().is_none_or(|t| !(0.0..=1000.0).contains(&t)) {
                        return err(400, "BadRequest", format!("Threshold of notification '{key}' must be between 0 and 1000."));
                    }
                    let some = |k: &str| n[k].as_array().is_some_and(|a| !a.is_empty());
                    if !some("contactEmails") && !some("contactGroups") {
                        return err(
                            400,
                            "BadRequest",
                            format!("Notification '{key}' needs at least one contact email or contact group at this scope."),
                        );
                    }
                }
                if p["notifications"].as_object().is_some_and(|n| n.len() > 5) {
                    return err(400, "BadRequest", "A budget has at most 5 notifications.");
                }
                let old = st.resources.get(&rkey).cloned();
                if let (Some(old), Some(tag)) = (&old, parsed["eTag"].as_str()) {
                    if old["eTag"] != tag {
                        return err(412, "PreconditionFailed", "The eTag does not match the budget's current version.");
                    }
                }
                let n = st.id();
                let mut props = p.clone();
                props["currentSpend"] = json!({"amount": 0, "unit": "USD"});
                let r = json!({"id": rid, "name": name, "type": "Microsoft.Consumption/budgets", "eTag": format!("\"{n:x}\""), "properties": props});
                st.resources.insert(rkey, r.clone());
                st.mutations += 1;
                Reply::json(if old.is_some() { 200 } else { 201 }, r)
            }
            "DELETE" => match st.resources.remove(&rkey) {
                Some(_) => {
                    st.mutations += 1;
                    Reply::json(200, Value::Null)
                }
                None => err(404, "NotFound", format!("Budget '{name}' not found under scope '{group_id}'.")),
            },
            _ => err(405, "MethodNotAllowed", "method not allowed"),
        },
        ("microsoft.keyvault", "vaults", []) => match method {
            "GET" => st
                .resources
                .get(&rkey)
                .map(|r| Reply::json(200, r.clone()))
                .unwrap_or_else(|| err(404, "ResourceNotFound", format!("The Resource '{ty}/{name}' was not found."))),
            "PUT" => {
                valid!(vault_shape());
                let ok_name = (3..=24).contains(&name.len())
                    && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !name.contains("--")
                    && !name.ends_with('-');
                if !ok_name {
                    return err(400, "VaultNameNotValid", format!("The vault name '{name}' is invalid."));
                }
                let p = &parsed["properties"];
                let recover = match p["createMode"].as_str() {
                    None | Some("default") => false,
                    Some("recover") => true,
                    Some(other) => return err(400, "BadRequest", format!("The createMode '{other}' is invalid: default or recover.")),
                };
                if let Some(d) = st.deleted_vaults.get(&name.to_ascii_lowercase()).cloned() {
                    if !recover {
                        return err(409, "ConflictError", format!("A vault with the same name already exists in deleted state. You need to either recover or purge existing key vault ({name})."));
                    }
                    if !d.vault["id"].as_str().unwrap_or("").eq_ignore_ascii_case(&rid) {
                        return err(
                            400,
                            "BadRequest",
                            format!(
                                "The deleted vault '{name}' belongs to '{}': recover it in its own resource group.",
                                d.vault["id"].as_str().unwrap_or("")
                            ),
                        );
                    }
                    st.deleted_vaults.remove(&name.to_ascii_lowercase());
                    st.resources.insert(rkey, d.vault.clone());
                    st.resources.extend(d.secrets);
                    st.secret_values.extend(d.values);
                    st.mutations += 1;
                    return Reply::json(200, d.vault);
                }
                if recover {
                    return err(404, "ResourceNotFound", format!("No deleted vault named '{name}' was found to recover."));
                }
                if p["tenantId"] != TENANT {
                    return err(400, "BadRequest", "The tenant id is not the subscription's tenant.");
                }
                if p["enableRbacAuthorization"] != true && p["accessPolicies"].is_null() {
                    return err(400, "BadRequest", "The parameter accessPolicies is not specified.");
                }
                let r = json!({"id": rid, "name": name, "type": "Microsoft.KeyVault/vaults", "location": parsed["location"], "tags": tags_of(&parsed),
                    "properties": {"tenantId": TENANT, "sku": p["sku"], "enableRbacAuthorization": p["enableRbacAuthorization"].as_bool().unwrap_or(false),
                        "vaultUri": format!("https://{name}.vault.azure.net/"), "enableSoftDelete": true, "provisioningState": "Succeeded"}});
                st.resources.insert(rkey, r.clone());
                st.mutations += 1;
                Reply::json(200, r)
            }
            "DELETE" => match st.resources.contains_key(&rkey) {
                true => {
                    st.soft_delete_vault(&rkey);
                    st.mutations += 1;
                    Reply::json(200, Value::Null)
                }
                false => Reply::json(204, Value::Null),
            },
            _ => err(405, "MethodNotAllowed", "method not allowed"),
        },
        // The management plane lists secrets (never their values).
        ("microsoft.keyvault", "vaults", ["secrets"]) => {
            if !st.resources.contains_key(&rkey) {
                return err(404, "ResourceNotFound", format!("The vault '{name}' was not found."));
            }
            if method != "GET" {
                return err(405, "MethodNotAllowed", "method not allowed");
            }
            let prefix = format!("{rkey}/secrets/");
            let list: Vec<Value> = st.resources.iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(_, r)| r.clone()).collect();
            Reply::json(200, json!({"value": list}))
        }
        ("microsoft.keyvault", "vaults", ["secrets", secret]) => {
            let Some(vault) = st.resources.get(&rkey).cloned() else {
                return err(404, "ResourceNotFound", format!("The vault '{name}' was not found."));
            };
            let sname = segs[9];
            let sid = format!("{rid}/secrets/{sname}");
            let skey = format!("{rkey}/secrets/{secret}");
            match method {
                "GET" => st
                    .resources
                    .get(&skey)
                    .map(|r| Reply::json(200, r.clone()))
                    .unwrap_or_else(|| err(404, "SecretNotFound", format!("Secret not found: {sname}"))),
                "PUT" => {
                    valid!(secret_shape());
                    if sname.is_empty() || sname.len() > 127 || !sname.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                        return err(400, "BadRequest", format!("The secret name '{sname}' is invalid."));
                    }
                    if st.deleted_secrets.contains_key(&skey) {
                        return err(409, "Conflict", format!("Secret {sname} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."));
                    }
                    let version = format!("{:032x}", st.id() * 104729);
                    let uri = format!("{}secrets/{sname}", vault["properties"]["vaultUri"].as_str().unwrap());
                    let existed = st.resources.contains_key(&skey);
                    let now = unix_now();
                    let created = st.resources.get(&skey).and_then(|r| r["properties"]["attributes"]["created"].as_i64()).unwrap_or(now);
                    let r = json!({"id": sid, "name": sname, "type": "Microsoft.KeyVault/vaults/secrets", "location": vault["location"], "tags": tags_of(&parsed),
                        "properties": {"secretUri": uri, "secretUriWithVersion": format!("{uri}/{version}"), "contentType": parsed["properties"]["contentType"],
                            "attributes": {"enabled": true, "created": created, "updated": now}}});
                    st.resources.insert(skey.clone(), r.clone());
                    st.secret_values.insert(skey, parsed["properties"]["value"].as_str().unwrap().to_string());
                    st.mutations += 1;
                    Reply::json(if existed { 200 } else { 201 }, r)
                }
                _ => err(405, "MethodNotAllowed", "method not allowed"),
            }
        }
        ("microsoft.managedidentity", "userassignedidentities", []) => match method {
            "GET" => st.resources.get(&rkey).map(|r| Reply::json(200, r.clone())).unwrap_or_else(|| {
                err(404, "ResourceNotFound", format!("The Resource '{ty}/{name}' under resource group '{}' was not found.", segs[3]))
            }),
            "PUT" => {
                valid!(identity_shape());
                let ok_name = (3..=128).contains(&name.len())
                    && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !ok_name {
                    return err(400, "InvalidResourceName", format!("The resource name '{name}' is invalid."));
                }
                let (principal, client) = match st.resources.get(&rkey) {
                    Some(r) => (r["properties"]["principalId"].clone(), r["properties"]["clientId"].clone()),
                    None => (json!(st.guid()), json!(st.guid())),
                };
                let r = json!({"id": rid, "name": name, "type": "Microsoft.ManagedIdentity/userAssignedIdentities", "location": parsed["location"], "tags": tags_of(&parsed),
                    "properties": {"tenantId": TENANT, "principalId": principal, "clientId": client}});
                let existed = st.resources.insert(rkey.clone(), r.clone()).is_some();
                st.mutations += 1;
                Reply::json(if existed { 200 } else { 201 }, r)
            }
            "DELETE" => match st.resources.remove(&rkey) {
                Some(_) => {
                    let prefix = format!("{rkey}/federatedidentitycredentials/");
                    st.resources.retain(|k, _| !k.starts_with(&prefix));
                    st.mutations += 1;
                    Reply::json(200, Value::Null)
                }
                None => Reply::json(204, Value::Null),
            },
            _ => err(405, "MethodNotAllowed", "method not allowed"),
        },
        ("microsoft.managedidentity", "userassignedidentities", ["federatedidentitycredentials"]) => {
            if method != "GET" {
                return err(405, "MethodNotAllowed", "method not allowed");
            }
            if !st.resources.contains_key(&rkey) {
                return err(404, "ParentResourceNotFound", format!("The parent resource '{rid}' was not found."));
            }
            let prefix = format!("{rkey}/federatedidentitycredentials/");
            let list: Vec<Value> = st.resources.iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(_, v)| v.clone()).collect();
            Reply::json(200, json!({"value": list}))
        }
        ("microsoft.managedidentity", "userassignedidentities", ["federatedidentitycredentials", _]) => {
            let fname = segs[9];
            let fid = format!("{rid}/federatedIdentityCredentials/{fname}");
            let fkey = fid.to_ascii_lowercase();
            if !st.resources.contains_key(&rkey) {
                return err(404, "ParentResourceNotFound", format!("The parent resource '{rid}' was not found."));
            }
            match method {
                "GET" => st
                    .resources
                    .get(&fkey)
                    .map(|r| Reply::json(200, r.clone()))
                    .unwrap_or_else(|| err(404, "NotFound", format!("The federated identity credential '{fname}' was not found."))),
                "PUT" => {
                    valid!(federated_shape());
                    let ok_name = (3..=120).contains(&fname.len())
                        && fname.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                        && fname.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                    if !ok_name {
                        return err(400, "BadRequest", format!("The federated identity credential name '{fname}' is invalid."));
                    }
                    let p = &parsed["properties"];
                    let issuer = p["issuer"].as_str().unwrap();
                    let subject = p["subject"].as_str().unwrap();
                    if !issuer.starts_with("https://") {
                        return err(400, "BadRequest", "The issuer must be an https URL.");
                    }
                    if p["audiences"].as_array().map_or(0, Vec::len) != 1 {
                        return err(400, "BadRequest", "Exactly one audience is allowed.");
                    }
                    let prefix = format!("{rkey}/federatedidentitycredentials/");
                    let siblings: Vec<&Value> =
                        st.resources.iter().filter(|(k, _)| k.starts_with(&prefix) && **k != fkey).map(|(_, v)| v).collect();
                    if siblings.iter().any(|f| f["properties"]["issuer"] == issuer && f["properties"]["subject"] == subject) {
                        return err(
                            400,
                            "BadRequest",
                            "A federated identity credential with the same issuer and subject already exists on this identity.",
                        );
                    }
                    if siblings.len() >= 20 {
                        return err(400, "BadRequest", "An identity holds at most 20 federated identity credentials.");
                    }
                    let r = json!({"id": fid, "name": fname, "type": "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
                        "properties": {"issuer": issuer, "subject": subject, "audiences": p["audiences"]}});
                    let existed = st.resources.insert(fkey, r.clone()).is_some();
                    st.mutations += 1;
                    Reply::json(if existed { 200 } else { 201 }, r)
                }
                "DELETE" => match st.resources.remove(&fkey) {
                    Some(_) => {
                        st.mutations += 1;
                        Reply::json(200, Value::Null)
                    }
                    None => Reply::json(204, Value::Null),
                },
                _ => err(405, "MethodNotAllowed", "method not allowed"),
            }
        }
        _ => err(404, "NotFound", format!("no route {method} {path}")),
    }
}

/// A role assignment (GET/PUT/DELETE `{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}`)
/// at the subscription, a resource group (`group_id`) or a resource in it.
fn role_assignment(st: &mut State, method: &str, segs: &[&str], parsed: &Value, group_id: Option<&str>) -> Reply {
    let scope = segs[..segs.len() - 4].join("/");
    let scope = format!("/{scope}");
    let id = format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{}", segs[segs.len() - 1]);
    let key = id.to_ascii_lowercase();
    match method {
        "GET" => match st.resources.get(&key) {
            Some(r) => Reply::json(200, r.clone()),
            None => err(404, "RoleAssignmentNotFound", "The role assignment does not exist."),
        },
        "DELETE" => match st.resources.remove(&key) {
            Some(r) => {
                st.mutations += 1;
                Reply::json(200, r)
            }
            None => Reply::json(204, Value::Null),
        },
        "PUT" => {
            if let Err(why) = check(parsed, &role_shape(), "body") {
                return err(400, "InvalidRequestContent", why);
            }
            let scope_key = scope.to_ascii_lowercase();
            let is_group = group_id.is_some_and(|g| g.eq_ignore_ascii_case(&scope_key)) || scope_key == format!("/subscriptions/{SUB}");
            if !is_group && !st.resources.contains_key(&scope_key) {
                return err(404, "ResourceNotFound", format!("The scope '{scope}' does not exist."));
            }
            if st.busy(&scope) {
                return err(409, "AnotherOperationInProgress", format!("The resource '{scope}' is still being provisioned."));
            }
            let p = &parsed["properties"];
            let role = p["roleDefinitionId"].as_str().unwrap();
            let role_guid = role.rsplit('/').next().unwrap_or("");
            if !super::arm_roles::assignable(st, role, &scope) {
                return err(
                    400,
                    "RoleDefinitionDoesNotExist",
                    format!("The specified role definition with ID '{role_guid}' does not exist."),
                );
            }
            let principal = p["principalId"].as_str().unwrap();
            if !st.principals().contains(principal) {
                return err(400, "PrincipalNotFound", format!("Principal {principal} does not exist in the directory {TENANT}."));
            }
            let dup = st.resources.iter().any(|(k, r)| {
                *k != key
                    && r["properties"]["principalId"] == principal
                    && r["properties"]["roleDefinitionId"] == role
                    && r["properties"]["scope"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(&scope))
            });
            if dup {
                return err(409, "RoleAssignmentExists", "The role assignment already exists.");
            }
            if p.get("condition").is_some() != p.get("conditionVersion").is_some()
                || p["conditionVersion"].as_str().is_some_and(|v| v != "2.0")
            {
                return err(
                    400,
                    "InvalidConditionVersion",
                    "A condition needs conditionVersion 2.0, and conditionVersion needs a condition.",
                );
            }
            let r = json!({"id": id, "name": segs[segs.len() - 1], "type": "Microsoft.Authorization/roleAssignments",
                    "properties": {"roleDefinitionId": role, "principalId": principal, "principalType": p["principalType"].as_str().unwrap_or("ServicePrincipal"), "scope": scope,
                        "condition": p["condition"], "conditionVersion": p["conditionVersion"]}});
            let existed = st.resources.insert(key, r.clone()).is_some();
            st.mutations += 1;
            Reply::json(if existed { 200 } else { 201 }, r)
        }
        _ => err(405, "MethodNotAllowed", "method not allowed"),
    }
}

#[allow(clippy::too_many_arguments)]
fn web_site(
    st: &mut State,
    base: &str,
    method: &str,
    rid: &str,
    name: &str,
    rest: &[&str],
    raw_rest: &[&str],
    parsed: &Value,
    _body: &str,
) -> Reply {
    let site_key = rid.to_ascii_lowercase();
    macro_rules! valid {
        ($shape:expr) => {
            if let Err(why) = check(parsed, &$shape, "body") {
                return err(400, "InvalidRequestContent", why);
            }
        };
    }
    // `rest` after the site: [], ["slots", slot], ["config", "web"], ["config","appsettings","list"],
    // ["slots", s, "config", ...], ["slotsswap"].
    let (app_id, sub_rest): (String, &[&str]) = match rest {
        ["slots", _, tail @ ..] => (format!("{rid}/slots/{}", raw_rest[1]), tail),
        _ => (rid.to_string(), rest),
    };
    let key = app_id.to_ascii_lowercase();
    let is_slot = key != site_key;
    match (method, sub_rest) {
        ("GET", []) => st
            .resources
            .get(&key)
            .map(|r| Reply::json(200, r.clone()))
            .unwrap_or_else(|| err(404, "ResourceNotFound", format!("The Resource 'Microsoft.Web/sites/{name}' was not found."))),
        ("PUT", []) => {
            valid!(site_shape());
            let farm = parsed["properties"]["serverFarmId"].as_str().unwrap().to_string();
            let Some(plan) = st.resources.get(&farm.to_ascii_lowercase()).filter(|p| p["type"] == "Microsoft.Web/serverfarms").cloned()
            else {
                return err(404, "NotFound", format!("Server farm with id '{farm}' not found."));
            };
            let (_, slots, always_on) = tier(plan["sku"]["name"].as_str().unwrap_or("")).unwrap();
            if st.busy(&farm) || st.busy(&key) || (is_slot && st.busy(&site_key)) {
                return err(409, "AnotherOperationInProgress", "Another operation on this or a dependent resource is in progress.");
            }
            if is_slot {
                if !st.resources.contains_key(&site_key) {
                    return err(404, "ResourceNotFound", format!("The Resource 'Microsoft.Web/sites/{name}' was not found."));
                }
                if !slots && !st.resources.contains_key(&key) {
                    return err(409, "Conflict", format!("Cannot create more than 0 deployment slot(s) for the site on plan tier {}; scale the plan up to Standard or higher.", plan["sku"]["tier"].as_str().unwrap_or("")));
                }
            } else if st.site_names_elsewhere(name, rid) {
                return err(409, "Conflict", format!("Website with given name {name} already exists."));
            }
            let config = &parsed["properties"]["siteConfig"];
            if let Err(why) = check_restrictions(config) {
                return err(400, "BadRequest", why);
            }
            if config["alwaysOn"] == true && !always_on {
                return err(409, "Conflict", "There was a conflict. AlwaysOn cannot be set for this site as the plan does not allow it.");
            }
            if let Some(fx) = config["linuxFxVersion"].as_str() {
                if !fx.is_empty() && !fx.starts_with("DOCKER|") && !fx.contains('|') {
                    return err(400, "BadRequest", format!("linuxFxVersion '{fx}' is not valid."));
                }
            }
            let existing = st.resources.get(&key).cloned();
            let principal = existing.as_ref().and_then(|e| e["identity"]["principalId"].as_str().map(str::to_string));
            let identity = match parsed["identity"]["type"].as_str() {
                Some("SystemAssigned") => {
                    let p = principal.unwrap_or_else(|| st.guid());
                    json!({"type": "SystemAssigned", "principalId": p, "tenantId": TENANT})
                }
                Some("None") | None => Value::Null,
                Some(other) => return err(400, "BadRequest", format!("identity type '{other}' is not supported here")),
            };
            let host = if is_slot {
                format!("{name}-{}.azurewebsites.net", raw_rest[1].to_ascii_lowercase())
            } else {
                format!("{}.azurewebsites.net", name.to_ascii_lowercase())
            };
            let r = json!({"id": app_id, "name": if is_slot { format!("{name}/{}", raw_rest[1]) } else { name.to_string() },
                "type": if is_slot { "Microsoft.Web/sites/slots" } else { "Microsoft.Web/sites" },
                "kind": parsed["kind"], "location": parsed["location"], "tags": tags_of(parsed), "identity": identity,
                "properties": {"serverFarmId": farm, "httpsOnly": parsed["properties"]["httpsOnly"].as_bool().unwrap_or(false),
                    "keyVaultReferenceIdentity": parsed["properties"]["keyVaultReferenceIdentity"].as_str().unwrap_or("SystemAssigned"),
                    "defaultHostName": host, "state": "Running", "reserved": true, "enabled": true,
                    "lastModifiedTimeUtc": last_modified_now()}});
            st.resources.insert(key.clone(), r.clone());
            // siteConfig: fields given replace the stored ones; appSettings replace all.
            let ckey = format!("{key}/config/web");
            let mut stored = st.resources.get(&ckey).map(|c| c["properties"].clone()).unwrap_or_else(|| json!({"linuxFxVersion": "", "alwaysOn": false, "ftpsState": "AllAllowed", "minTlsVersion": "1.2", "acrUseManagedIdentityCreds": false}));
            if let Some(c) = config.as_object() {
                for (k, v) in c {
                    if k == "appSettings" {
                        let map = v
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|s| (s["name"].as_str().unwrap().to_string(), s["value"].as_str().unwrap().to_string()))
                            .collect();
                        st.settings.insert(key.clone(), map);
                    } else {
                        stored[k] = v.clone();
                    }
                }
            }
            with_implicit_rules(&mut stored);
            st.resources.insert(
                ckey,
                json!({"id": format!("{app_id}/config/web"), "name": "web", "type": "Microsoft.Web/sites/config", "properties": stored}),
            );
            st.mutations += 1;
            if existing.is_some() {
                Reply::json(200, r)
            } else {
                let op = st.op_for(base, 2, json!({"kind": "async"}), Some(&key));
                Reply::json(202, r).header("azure-asyncoperation", op)
            }
        }
        ("PATCH", []) => {
            valid!(json!({"tags": "tags"}));
            let Some(r) = st.resources.get_mut(&key) else { return err(404, "ResourceNotFound", "site not found") };
            if let Some(t) = parsed.get("tags") {
                r["tags"] = t.clone();
            }
            let out = r.clone();
            st.mutations += 1;
            Reply::json(200, out)
        }
        ("DELETE", []) => {
            if st.resources.remove(&key).is_none() {
                return Reply::json(204, Value::Null);
            }
            let prefix = format!("{key}/");
            st.resources.retain(|k, _| !k.starts_with(&prefix));
            st.settings.retain(|k, _| k != &key && !k.starts_with(&prefix));
            st.mutations += 1;
            Reply::json(200, Value::Null)
        }
        ("GET", ["config", "web"]) => st
            .resources
            .get(&format!("{key}/config/web"))
            .map(|r| Reply::json(200, r.clone()))
            .unwrap_or_else(|| err(404, "ResourceNotFound", "site not found")),
        ("PATCH", ["config", "web"]) => {
            // SiteConfigResource: the given siteConfig fields replace the stored ones.
            valid!(json!({"kind": "string", "!properties": site_config_shape()}));
            let config = &parsed["properties"];
            if config.get("appSettings").is_some() {
                return err(400, "BadRequest", "appSettings are not part of config/web: use config/appsettings.");
            }
            if let Err(why) = check_restrictions(config) {
                return err(400, "BadRequest", why);
            }
            if !st.resources.contains_key(&key) {
                return err(404, "ResourceNotFound", "site not found");
            }
            if st.busy(&key) {
                return err(409, "AnotherOperationInProgress", "Another operation on this or a dependent resource is in progress.");
            }
            let ckey = format!("{key}/config/web");
            let Some(c) = st.resources.get_mut(&ckey) else { return err(404, "ResourceNotFound", "site not found") };
            for (k, v) in config.as_object().unwrap() {
                c["properties"][k] = v.clone();
            }
            with_implicit_rules(&mut c["properties"]);
            let out = c.clone();
            st.mutations += 1;
            Reply::json(200, out)
        }
        // Web Apps - Get Web Site Container Logs: the tail of the Docker log as a byte
        // stream; 204 when there is none yet.
        ("POST", ["containerlogs"]) => {
            if !st.resources.contains_key(&key) {
                return err(404, "ResourceNotFound", "site not found");
            }
            match st.container_logs.get(&key).filter(|l| !l.is_empty()) {
                Some(log) => Reply { status: 200, headers: Vec::new(), body: log.clone() },
                None => Reply::json(204, Value::Null),
            }
        }
        ("POST", ["config", "appsettings", "list"]) => {
            if !st.resources.contains_key(&key) {
                return err(404, "ResourceNotFound", "site not found");
            }
            Reply::json(
                200,
                json!({"id": format!("{app_id}/config/appsettings"), "name": "appsettings", "type": "Microsoft.Web/sites/config", "properties": st.site_settings(&app_id)}),
            )
        }
        ("POST", ["slotsswap"]) if !is_slot => {
            valid!(json!({"!targetSlot": "string", "!preserveVnet": "bool"}));
            let slot = parsed["targetSlot"].as_str().unwrap();
            let slot_key = format!("{site_key}/slots/{}", slot.to_ascii_lowercase());
            if !st.resources.contains_key(&site_key) || !st.resources.contains_key(&slot_key) {
                return err(404, "ResourceNotFound", format!("The slot '{slot}' was not found."));
            }
            // Config (image) and app settings change places; tags and identities stay.
            let (a, b) = (format!("{site_key}/config/web"), format!("{slot_key}/config/web"));
            // Access restrictions are not swapped: each keeps its own.
            let mut ca = st.resources[&a]["properties"].clone();
            let mut cb = st.resources[&b]["properties"].clone();
            for k in STICKY {
                let (x, y) = (ca[k].clone(), cb[k].clone());
                ca[k] = y;
                cb[k] = x;
            }
            st.resources.get_mut(&a).unwrap()["properties"] = cb;
            st.resources.get_mut(&b).unwrap()["properties"] = ca;
            let sa = st.settings.remove(&site_key).unwrap_or_default();
            let sb = st.settings.remove(&slot_key).unwrap_or_default();
            st.settings.insert(site_key.clone(), sb);
            st.settings.insert(slot_key.clone(), sa);
            for k in [&site_key, &slot_key] {
                st.resources.get_mut(k).unwrap()["properties"]["lastModifiedTimeUtc"] = json!(last_modified_now());
            }
            st.mutations += 1;
            let loc = st.op(base, 1, json!({"kind": "location"}));
            Reply::json(202, Value::Null).header("location", loc)
        }
        _ => err(404, "NotFound", format!("no route {method} {rid}/{}", raw_rest.join("/"))),
    }
}

/// Now, as App Service writes a site's `lastModifiedTimeUtc`: UTC, seven digits of a
/// second, and no zone.
fn last_modified_now() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    format!("{}.{:07}", aideploy::util::iso8601(now.as_secs()).trim_end_matches('Z'), now.subsec_nanos() / 100)
}

pub struct FakeArm {
    pub base: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeArm {
    pub fn start(registry_host: &str) -> FakeArm {
        let state = Arc::new(Mutex::new(State { registry_host: registry_host.into(), ..State::default() }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let s = state.clone();
        let b = base.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line.is_empty() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let target = parts.next().unwrap_or("").to_string();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() {
                        break;
                    }
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                let len = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
                let mut body = vec![0u8; len];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let body = String::from_utf8_lossy(&body).into_owned();
                let reply = {
                    let mut st = s.lock().unwrap();
                    if !target.starts_with("/sites/") && !target.starts_with("/vaults/") {
                        st.requests += 1;
                        let auth = headers.iter().find(|(k, _)| k == "authorization").map(|(_, v)| v.clone()).unwrap_or_default();
                        st.tokens.insert(auth);
                    }
                    let reply = if target.starts_with("/sites/") {
                        let peer = stream.peer_addr().map(|a| a.ip()).unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
                        front(&st, &target, peer)
                    } else if target.starts_with("/vaults/") {
                        vault_plane(&mut st, &method, &target, &headers)
                    } else {
                        answer(&mut st, &b, &method, &target, &headers, &body)
                    };
                    // ARM's refusals only: a front end's 403 is the site's rules at work.
                    if (400..500).contains(&reply.status)
                        && reply.status != 404
                        && !target.starts_with("/sites/")
                        && !target.starts_with("/vaults/")
                    {
                        st.rejected.push(format!("{method} {target}: {}", reply.body));
                    }
                    reply
                };
                let mut out = format!(
                    "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                    reply.status,
                    reply.body.len()
                );
                for (k, v) in &reply.headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                out.push_str(&reply.body);
                let mut stream = stream;
                let _ = stream.write_all(out.as_bytes());
            }
        });
        FakeArm { base, state }
    }
}

#[cfg(test)]
mod rules {
    use super::*;

    const B: &str = "http://fake";
    fn call(st: &mut State, method: &str, path: &str, body: Value) -> Reply {
        let auth = vec![("authorization".to_string(), "Bearer x".to_string())];
        answer(st, B, method, path, &auth, &if body.is_null() { String::new() } else { body.to_string() })
    }
    fn code(r: &Reply) -> String {
        serde_json::from_str::<Value>(&r.body).map(|v| v["error"]["code"].as_str().unwrap_or("").to_string()).unwrap_or_default()
    }
    fn rg(st: &mut State) -> String {
        let g = format!("/subscriptions/{SUB}/resourceGroups/rg1");
        assert_eq!(call(st, "PUT", &format!("{g}?api-version=2025-04-01"), json!({"location": "eastus"})).status, 201);
        g
    }
    fn plan(st: &mut State, g: &str, sku: &str) -> String {
        plan_named(st, g, "plan1", sku)
    }
    fn plan_named(st: &mut State, g: &str, name: &str, sku: &str) -> String {
        let p = format!("{g}/providers/Microsoft.Web/serverfarms/{name}");
        let r = call(
            st,
            "PUT",
            &format!("{p}?api-version=2026-09-01"),
            json!({"location": "eastus", "kind": "linux", "sku": {"name": sku}, "properties": {"reserved": true}}),
        );
        assert!(r.status == 202 || r.status == 200, "{}", r.body);
        if let Some((_, op)) = r.headers.iter().find(|(k, _)| k == "azure-asyncoperation") {
            let op = op.trim_start_matches(B).to_string();
            while !call(st, "GET", &op, Value::Null).body.contains("Succeeded") {}
        }
        p
    }
    fn site_body(plan: &str) -> Value {
        json!({"location": "eastus", "identity": {"type": "SystemAssigned"}, "properties": {"serverFarmId": plan, "siteConfig": {"alwaysOn": true}}})
    }

    /// Resource Groups - List: a tag filter (name without regard to case), `$top`
    /// pages followed through `nextLink`, and a filter ARM does not take refused.
    #[test]
    fn resource_groups_list_by_tag_a_page_at_a_time() {
        let mut st = State::default();
        for (name, app) in [("g-a", "x"), ("g-b", "y"), ("g-c", "x"), ("g-d", "x")] {
            let r = call(
                &mut st,
                "PUT",
                &format!("/subscriptions/{SUB}/resourceGroups/{name}?api-version=2025-04-01"),
                json!({"location": "eastus", "tags": {"aideploy-app": app}}),
            );
            assert_eq!(r.status, 201, "{}", r.body);
        }
        let list = |st: &mut State, url: &str| -> (Vec<String>, Option<String>) {
            let r = call(st, "GET", url, Value::Null);
            assert_eq!(r.status, 200, "{}", r.body);
            let v: Value = serde_json::from_str(&r.body).unwrap();
            let names = v["value"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap().to_string()).collect();
            (names, v["nextLink"].as_str().map(|l| l.trim_start_matches(B).to_string()))
        };
        let first = format!("/subscriptions/{SUB}/resourcegroups?$filter=tagName%20eq%20%27AIDEPLOY-APP%27%20and%20tagValue%20eq%20%27x%27&$top=2&api-version=2025-04-01");
        let (names, next) = list(&mut st, &first);
        assert_eq!(names, ["g-a", "g-c"]);
        let (names, next) = list(&mut st, &next.expect("a next page"));
        assert_eq!((names, next), (vec!["g-d".to_string()], None));
        st.group_page_limit = 3;
        let (names, next) = list(&mut st, &format!("/subscriptions/{SUB}/resourcegroups?api-version=2025-04-01"));
        assert_eq!(names.len(), 3);
        assert_eq!(list(&mut st, &next.unwrap()).0, ["g-d"]);
        let (names, _) =
            list(&mut st, &format!("/subscriptions/{SUB}/resourcegroups?$filter=tagName%20eq%20%27aideploy-app%27&api-version=2025-04-01"));
        assert_eq!(names.len(), 3, "the tag's name alone");
        for bad in ["$filter=tagName%20eq%20aideploy-app", "$filter=name%20eq%20%27g-a%27", "$top=0"] {
            let r = call(&mut st, "GET", &format!("/subscriptions/{SUB}/resourcegroups?{bad}&api-version=2025-04-01"), Value::Null);
            assert_eq!(r.status, 400, "{bad}: {}", r.body);
        }
        assert_eq!(call(&mut st, "GET", &format!("/subscriptions/{SUB}/resourcegroups"), Value::Null).status, 400, "no api-version");
    }

    /// Access restrictions: malformed rules refused as ARM refuses them; stored with the
    /// implicit last rule; the front end lets in only what the rules allow; a swap
    /// leaves each side's rules where they are.
    #[test]
    fn access_restrictions_are_checked_stored_and_enforced() {
        let mut st = State::default();
        let g = rg(&mut st);
        let p = plan(&mut st, &g, "S1");
        let site = format!("{g}/providers/Microsoft.Web/sites/app1");
        let with = |rules: Value, default: &str| {
            let mut b = site_body(&p);
            b["properties"]["siteConfig"]["ipSecurityRestrictions"] = rules;
            b["properties"]["siteConfig"]["ipSecurityRestrictionsDefaultAction"] = json!(default);
            b
        };
        let rule = |ip: &str, action: &str, priority: i64| json!({"ipAddress": ip, "action": action, "priority": priority, "name": "r"});
        for (bad, default) in [
            (json!([rule("203.0.113.0/33", "Allow", 100)]), "Deny"),
            (json!([rule("not-an-address", "Allow", 100)]), "Deny"),
            (json!([rule("203.0.113.7", "Allow", 100)]), "Deny"),
            (json!([rule("203.0.113.0/24", "Permit", 100)]), "Deny"),
            (json!([rule("203.0.113.0/24", "Allow", 0)]), "Deny"),
            (json!([rule("203.0.113.0/24", "Allow", 2147483648)]), "Deny"),
            (json!([{"ipAddress": "203.0.113.0/24", "action": "Allow", "priority": 100, "tag": "Office"}]), "Deny"),
            (json!([{"action": "Allow", "priority": 100}]), "Deny"),
            (json!([{"ipAddress": "203.0.113.0/24", "subnetMask": "255.255.255.0", "action": "Allow", "priority": 100}]), "Deny"),
            (json!([]), "Block"),
        ] {
            let r = call(&mut st, "PUT", &format!("{site}?api-version=2026-09-01"), with(bad.clone(), default));
            assert_eq!((r.status, code(&r)), (400, "BadRequest".to_string()), "{bad} {default}: {}", r.body);
        }
        assert!(!st.resources.contains_key(&site.to_ascii_lowercase()), "a refused site was made");

        let r = call(&mut st, "PUT", &format!("{site}?api-version=2026-09-01"), with(json!([rule("127.0.0.0/8", "Allow", 100)]), "Deny"));
        assert_eq!(r.status, 202, "{}", r.body);
        let config = st.site_config(&site);
        let rules = config["ipSecurityRestrictions"].as_array().unwrap();
        assert_eq!(rules.len(), 2, "{rules:?}");
        assert_eq!((rules[1]["ipAddress"].clone(), rules[1]["action"].clone()), (json!("Any"), json!("Deny")));
        st.resources.get_mut(&format!("{}/config/web", site.to_ascii_lowercase())).unwrap()["properties"]["linuxFxVersion"] =
            json!("DOCKER|r/a@sha256:1");
        let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let other: std::net::IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(front(&st, "/sites/app1.azurewebsites.net/health", loopback).status, 200);
        assert_eq!(front(&st, "/sites/app1.azurewebsites.net/health", other).status, 403);

        // PATCH config/web: bad rules refused; good ones replace the list.
        while st.busy(&site) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let cfg = format!("{site}/config/web?api-version=2026-09-01");
        let r = call(&mut st, "PATCH", &cfg, json!({"properties": {"ipSecurityRestrictions": [rule("10.0.0.0/8", "Allow", -1)]}}));
        assert_eq!(r.status, 400, "{}", r.body);
        let r = call(
            &mut st,
            "PATCH",
            &cfg,
            json!({"properties": {"ipSecurityRestrictions": [], "ipSecurityRestrictionsDefaultAction": "Deny"}}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(front(&st, "/sites/app1.azurewebsites.net/health", loopback).status, 403);
        assert_eq!(st.site_config(&site)["linuxFxVersion"], "DOCKER|r/a@sha256:1", "PATCH kept the other fields");

        // A slot open to all, swapped in: production keeps its rules, the slot its own.
        let slot = format!("{site}/slots/staging");
        let r = call(&mut st, "PUT", &format!("{slot}?api-version=2026-09-01"), with(json!([]), "Allow"));
        assert!(r.status == 202 || r.status == 200, "{}", r.body);
        while st.busy(&slot) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let r = call(
            &mut st,
            "POST",
            &format!("{site}/slotsswap?api-version=2026-09-01"),
            json!({"targetSlot": "staging", "preserveVnet": true}),
        );
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(st.site_config(&site)["ipSecurityRestrictionsDefaultAction"], "Deny");
        assert_eq!(st.site_config(&slot)["ipSecurityRestrictionsDefaultAction"], "Allow");
    }

    #[test]
    fn api_version_auth_and_errors() {
        let mut st = State::default();
        let g = format!("/subscriptions/{SUB}/resourceGroups/rg1");
        let r = call(&mut st, "GET", &g, Value::Null);
        assert_eq!((r.status, code(&r).as_str()), (400, "MissingApiVersionParameter"));
        let r = call(&mut st, "GET", &format!("{g}?api-version=1999-01-01"), Value::Null);
        assert_eq!((r.status, code(&r).as_str()), (400, "InvalidApiVersionParameter"));
        let r = answer(&mut st, B, "GET", &format!("{g}?api-version=2025-04-01"), &[], "");
        assert_eq!(r.status, 401);
        let r = call(&mut st, "GET", &format!("{g}?api-version=2025-04-01"), Value::Null);
        assert_eq!((r.status, code(&r).as_str()), (404, "ResourceGroupNotFound"));
        let r = call(&mut st, "PUT", &format!("{g}?api-version=2025-04-01"), json!({"location": "eastus", "colour": "red"}));
        assert_eq!((r.status, code(&r).as_str()), (400, "InvalidRequestContent"));
        assert!(r.body.contains("colour"));
        let long = "x".repeat(257);
        let r = call(&mut st, "PUT", &format!("{g}?api-version=2025-04-01"), json!({"location": "eastus", "tags": {"k": long}}));
        assert_eq!((r.status, code(&r).as_str()), (400, "InvalidTagValueLength"));
        assert_eq!(st.mutations, 0);
    }

    #[test]
    fn sites_need_a_plan_a_free_name_and_slots_need_standard() {
        let mut st = State::default();
        let g = rg(&mut st);
        let site = format!("{g}/providers/Microsoft.Web/sites/app1");
        let missing = format!("{g}/providers/Microsoft.Web/serverfarms/nope");
        let r = call(&mut st, "PUT", &format!("{site}?api-version=2026-09-01"), site_body(&missing));
        assert_eq!(r.status, 404, "{}", r.body);
        let p = plan(&mut st, &g, "B1");
        // Unknown property inside siteConfig.
        let mut bad = site_body(&p);
        bad["properties"]["siteConfig"]["dockerImage"] = json!("x");
        assert_eq!(call(&mut st, "PUT", &format!("{site}?api-version=2026-09-01"), bad).status, 400);
        let r = call(&mut st, "PUT", &format!("{site}?api-version=2026-09-01"), site_body(&p));
        assert_eq!(r.status, 202);
        assert!(r.headers.iter().any(|(k, _)| k == "azure-asyncoperation"));
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["properties"]["defaultHostName"], "app1.azurewebsites.net");
        assert!(v["identity"]["principalId"].as_str().is_some_and(|p| p.len() == 36));
        // The operation is not done on the first poll.
        let op = r.headers.iter().find(|(k, _)| k == "azure-asyncoperation").unwrap().1.trim_start_matches(B).to_string();
        assert!(call(&mut st, "GET", &op, Value::Null).body.contains("InProgress"));
        // Until a poll has seen the creation finish, a slot on it is refused.
        let r = call(&mut st, "PUT", &format!("{site}/slots/staging?api-version=2026-09-01"), site_body(&p));
        assert_eq!((r.status, code(&r).as_str()), (409, "AnotherOperationInProgress"));
        for _ in 0..3 {
            call(&mut st, "GET", &op, Value::Null);
        }
        assert!(call(&mut st, "GET", &op, Value::Null).body.contains("Succeeded"));
        // A slot on Basic: refused.
        let r = call(&mut st, "PUT", &format!("{site}/slots/staging?api-version=2026-09-01"), site_body(&p));
        assert_eq!(r.status, 409, "{}", r.body);
        // The same site name in another group: taken.
        let g2 = format!("/subscriptions/{SUB}/resourceGroups/rg2");
        call(&mut st, "PUT", &format!("{g2}?api-version=2025-04-01"), json!({"location": "eastus"}));
        let r = call(&mut st, "PUT", &format!("{g2}/providers/Microsoft.Web/sites/APP1?api-version=2026-09-01"), site_body(&p));
        assert_eq!((r.status, code(&r).as_str()), (409, "Conflict"));
        // alwaysOn on Free: refused.
        let p2 = plan_named(&mut st, &g, "free", "F1");
        let r = call(&mut st, "PUT", &format!("{g}/providers/Microsoft.Web/sites/app2?api-version=2026-09-01"), site_body(&p2));
        assert_eq!(r.status, 409, "{}", r.body);
        assert!(r.body.contains("AlwaysOn"), "{}", r.body);
    }

    #[test]
    fn secrets_are_listed_by_arm_read_and_soft_deleted_by_the_data_plane() {
        let mut st = State::default();
        let g = rg(&mut st);
        let v = format!("{g}/providers/Microsoft.KeyVault/vaults/kv-two");
        let body = json!({"location": "eastus", "properties": {"tenantId": TENANT, "sku": {"family": "A", "name": "standard"}, "enableRbacAuthorization": true}});
        assert_eq!(call(&mut st, "PUT", &format!("{v}?api-version=2023-07-01"), body).status, 200);
        let put = |st: &mut State, value: &str| {
            call(st, "PUT", &format!("{v}/secrets/A-B?api-version=2023-07-01"), json!({"properties": {"value": value}}))
        };
        assert_eq!(put(&mut st, "s3cret").status, 201);
        // ARM lists secrets with their versions and times, never values.
        let r = call(&mut st, "GET", &format!("{v}/secrets?api-version=2023-07-01"), Value::Null);
        assert_eq!(r.status, 200);
        assert!(!r.body.contains("s3cret"));
        let listed: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(listed["value"][0]["name"], "A-B");
        assert!(listed["value"][0]["properties"]["attributes"]["updated"].is_i64(), "{listed}");
        // The data plane: a token and an api-version, then the value.
        let auth = vec![("authorization".to_string(), "Bearer x".to_string())];
        let host = "kv-two.vault.azure.net";
        assert_eq!(vault_plane(&mut st, "GET", &format!("/vaults/{host}/secrets/A-B?api-version=7.4"), &[]).status, 401);
        assert_eq!(vault_plane(&mut st, "GET", &format!("/vaults/{host}/secrets/A-B"), &auth).status, 400);
        let r = vault_plane(&mut st, "GET", &format!("/vaults/{host}/secrets/A-B?api-version=7.4"), &auth);
        assert_eq!(serde_json::from_str::<Value>(&r.body).unwrap()["value"], "s3cret");
        // Deleted: gone from ARM, its name held (409) until recovered.
        assert_eq!(vault_plane(&mut st, "DELETE", &format!("/vaults/{host}/secrets/A-B?api-version=7.4"), &auth).status, 200);
        assert_eq!(call(&mut st, "GET", &format!("{v}/secrets/A-B?api-version=2023-07-01"), Value::Null).status, 404);
        let r = put(&mut st, "new");
        assert_eq!((r.status, code(&r).as_str()), (409, "Conflict"));
        assert_eq!(vault_plane(&mut st, "DELETE", &format!("/vaults/{host}/secrets/A-B?api-version=7.4"), &auth).status, 404);
        assert_eq!(vault_plane(&mut st, "POST", &format!("/vaults/{host}/deletedsecrets/A-B/recover?api-version=7.4"), &auth).status, 200);
        assert_eq!(put(&mut st, "new").status, 200);
        let r = vault_plane(&mut st, "GET", &format!("/vaults/{host}/secrets/A-B?api-version=7.4"), &auth);
        assert_eq!(serde_json::from_str::<Value>(&r.body).unwrap()["value"], "new");
    }

    #[test]
    fn vault_names_are_held_after_delete_and_roles_need_a_principal() {
        let mut st = State::default();
        let g = rg(&mut st);
        let v = format!("{g}/providers/Microsoft.KeyVault/vaults/kv-one");
        let body = json!({"location": "eastus", "properties": {"tenantId": TENANT, "sku": {"family": "A", "name": "standard"}, "enableRbacAuthorization": true}});
        assert_eq!(call(&mut st, "PUT", &format!("{v}?api-version=2023-07-01"), body.clone()).status, 200);
        let r = call(&mut st, "PUT", &format!("{g}/providers/Microsoft.Authorization/roleAssignments/x?api-version=2022-04-01"), json!({}));
        assert_eq!(r.status, 400);
        let r = call(
            &mut st,
            "PUT",
            &format!("{v}/providers/Microsoft.Authorization/roleAssignments/00000000-0000-4000-8000-000000000001?api-version=2022-04-01"),
            json!({"properties": {"roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{KV_SECRETS_USER}"), "principalId": "nobody"}}),
        );
        assert_eq!((r.status, code(&r).as_str()), (400, "PrincipalNotFound"));
        let r = call(&mut st, "PUT", &format!("{v}/secrets/A-B?api-version=2023-07-01"), json!({"properties": {"value": "s3cret"}}));
        assert_eq!(r.status, 201);
        assert!(!r.body.contains("s3cret"));
        assert_eq!(call(&mut st, "DELETE", &format!("{v}?api-version=2023-07-01"), Value::Null).status, 200);
        let r = call(&mut st, "PUT", &format!("{v}?api-version=2023-07-01"), body.clone());
        assert_eq!((r.status, code(&r).as_str()), (409, "ConflictError"));
        assert!(r.body.contains("deleted state"), "{}", r.body);
        // Soft-deleted: readable in its location only, and recoverable with its secrets.
        let deleted = format!("/subscriptions/{SUB}/providers/Microsoft.KeyVault/locations/eastus/deletedVaults/kv-one");
        let r = call(&mut st, "GET", &format!("{deleted}?api-version=2023-07-01"), Value::Null);
        assert_eq!(r.status, 200, "{}", r.body);
        let d: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(d["properties"]["vaultId"].as_str().unwrap().to_ascii_lowercase(), v.to_ascii_lowercase());
        assert_eq!(d["type"], "Microsoft.KeyVault/deletedVaults");
        let elsewhere = deleted.replace("/eastus/", "/westus/");
        assert_eq!(call(&mut st, "GET", &format!("{elsewhere}?api-version=2023-07-01"), Value::Null).status, 404);
        assert!(st.resources.keys().all(|k| !k.contains("kv-one")), "the secrets went with the vault");
        let mut recover = body.clone();
        recover["properties"]["createMode"] = json!("recover");
        let other = format!("/subscriptions/{SUB}/resourceGroups/other/providers/Microsoft.KeyVault/vaults/kv-one");
        call(&mut st, "PUT", &format!("/subscriptions/{SUB}/resourceGroups/other?api-version=2025-04-01"), json!({"location": "eastus"}));
        assert_eq!(call(&mut st, "PUT", &format!("{other}?api-version=2023-07-01"), recover.clone()).status, 400, "only in its own group");
        assert_eq!(call(&mut st, "PUT", &format!("{v}?api-version=2023-07-01"), recover.clone()).status, 200);
        assert!(st.deleted_vaults.is_empty());
        assert_eq!(st.secret_values.values().collect::<Vec<_>>(), ["s3cret"], "recovered with its secrets");
        assert_eq!(call(&mut st, "GET", &format!("{v}/secrets/A-B?api-version=2023-07-01"), Value::Null).status, 200);
        let r = call(&mut st, "PUT", &format!("{v}?api-version=2023-07-01"), recover.clone());
        assert_eq!(r.status, 404, "nothing to recover: {}", r.body);
        // Deleted again, then purged: gone for good, and the name is free.
        assert_eq!(call(&mut st, "DELETE", &format!("{v}?api-version=2023-07-01"), Value::Null).status, 200);
        let purge = format!("{deleted}/purge?api-version=2023-07-01");
        assert_eq!(call(&mut st, "POST", &purge, Value::Null).status, 202);
        assert_eq!(call(&mut st, "GET", &format!("{deleted}?api-version=2023-07-01"), Value::Null).status, 404);
        assert_eq!(call(&mut st, "POST", &purge, Value::Null).status, 404);
        assert_eq!(call(&mut st, "PUT", &format!("{v}?api-version=2023-07-01"), recover).status, 404);
        assert_eq!(call(&mut st, "PUT", &format!("{v}?api-version=2023-07-01"), body).status, 200);
    }

    #[test]
    fn identities_get_server_ids_credentials_and_roles_are_checked() {
        let mut st = State::default();
        let g = rg(&mut st);
        let id = format!("{g}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ci-id");
        let api = "api-version=2023-01-31";
        assert_eq!(
            code(&call(&mut st, "PUT", &format!("{id}?api-version=2020-01-01"), json!({"location": "eastus"}))),
            "InvalidApiVersionParameter"
        );
        let r = call(&mut st, "PUT", &format!("{id}?{api}"), json!({"location": "eastus", "properties": {"clientId": "mine"}}));
        assert_eq!(code(&r), "InvalidRequestContent", "read-only ids are not the caller's to set");
        let r = call(&mut st, "PUT", &format!("{id}?{api}"), json!({"location": "eastus", "tags": {"a": "b"}}));
        assert_eq!(r.status, 201);
        let made: Value = serde_json::from_str(&r.body).unwrap();
        let principal = made["properties"]["principalId"].as_str().unwrap().to_string();
        assert_eq!(made["properties"]["tenantId"], TENANT);
        // A second PUT keeps the ids.
        let again: Value = serde_json::from_str(&call(&mut st, "PUT", &format!("{id}?{api}"), json!({"location": "eastus"})).body).unwrap();
        assert_eq!(again["properties"]["principalId"], principal.as_str());

        let fic = |n: &str| format!("{id}/federatedIdentityCredentials/{n}?{api}");
        let body = |sub: &str| json!({"properties": {"issuer": "https://issuer.example", "subject": sub, "audiences": ["api://AzureADTokenExchange"]}});
        assert_eq!(call(&mut st, "PUT", &fic("branch"), body("repo:o/n:ref:refs/heads/main")).status, 201);
        assert_eq!(call(&mut st, "PUT", &fic("again"), body("repo:o/n:ref:refs/heads/main")).status, 400, "same issuer and subject");
        assert_eq!(
            code(&call(&mut st, "PUT", &fic("x"), json!({"properties": {"issuer": "https://i", "subject": "s"}}))),
            "InvalidRequestContent"
        );
        let missing = format!("{g}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/none/federatedIdentityCredentials/b?{api}");
        assert_eq!(call(&mut st, "PUT", &missing, body("s")).status, 404);

        let ra =
            |guid: &str| format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments/{guid}?api-version=2022-04-01");
        let role = |who: &str| json!({"properties": {"roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{READER}"), "principalId": who, "principalType": "ServicePrincipal"}});
        assert_eq!(code(&call(&mut st, "PUT", &ra("a"), role("nobody"))), "PrincipalNotFound");
        assert_eq!(call(&mut st, "PUT", &ra("a"), role(&principal)).status, 201);
        assert_eq!(code(&call(&mut st, "PUT", &ra("b"), role(&principal))), "RoleAssignmentExists");
        // Deleting the identity takes its credentials.
        assert_eq!(call(&mut st, "DELETE", &format!("{id}?{api}"), Value::Null).status, 200);
        assert!(st.by_type("Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials").is_empty());
    }
}
