//! A fake of Render's REST API v1 (the part aideploy uses), written from Render's
//! OpenAPI document: the same paths, verbs and status codes, list items wrapped as
//! `{"<kind>": {...}, "cursor"}`, errors as `{"id", "message"}`. Request bodies are
//! checked against the document's schemas (unknown or missing required fields, wrong
//! types and enum values are a 400). Deploys move `created -> build_in_progress ->
//! update_in_progress -> live` over several polls; a deploy of an image digest in
//! `bad` ends `update_failed` and the live deploy stays live. `GET /logs` answers the
//! lines tests add (`add_log`) a page at a time, at most 100, backward or forward. The
//! metrics API (`/metrics/http-requests`, `/metrics/http-latency`) is in render_metrics.rs.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::common;

#[derive(Debug, Clone)]
pub struct Deploy {
    pub id: String,
    pub image_ref: String,
    pub status: String,
    pub trigger: String,
    /// When it was made (RFC 3339, UTC).
    pub created: String,
    polls: u32,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub id: String,
    /// `web_service` or `private_service`.
    pub kind: String,
    pub name: String,
    pub owner: String,
    pub image_path: String,
    pub credential: Option<String>,
    pub health_path: String,
    pub plan: String,
    pub region: String,
    pub env: BTreeMap<String, String>,
    pub deploys: Vec<Deploy>,
}

#[derive(Debug, Clone)]
pub struct Credential {
    pub id: String,
    pub name: String,
    pub registry: String,
    pub username: String,
    pub token: String,
    pub owner: String,
}

/// An environment group (Render does not keep their names unique in a workspace).
#[derive(Debug, Clone)]
pub struct EnvGroup {
    pub id: String,
    pub name: String,
    pub owner: String,
    /// `createdAt`, as Render answers it.
    pub created: String,
    pub env: BTreeMap<String, String>,
}

/// A line a service's instance wrote.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub id: String,
    /// The service's id (Render's `resource` label).
    pub resource: String,
    pub instance: String,
    /// RFC 3339.
    pub timestamp: String,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct State {
    pub owners: Vec<(String, String)>,
    pub services: Vec<Service>,
    pub credentials: Vec<Credential>,
    pub env_groups: Vec<EnvGroup>,
    /// Image digests whose deploys fail.
    pub bad: BTreeSet<String>,
    /// Accepted POST/PUT/PATCH/DELETE requests.
    pub mutations: usize,
    /// Rejected requests, with the reason (a test fails on any).
    pub rejected: Vec<String>,
    /// What the services' instances wrote, in the order written.
    pub logs: Vec<LogEntry>,
    /// The requests the services answered, for the metrics API (`render_metrics.rs`).
    pub metrics: super::render_metrics::HttpMetrics,
    next: u64,
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{:020}", self.next)
    }
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
    /// The service `service` (its id) writes a line at `timestamp` (RFC 3339), from its
    /// one instance.
    pub fn add_log(&mut self, service: &str, timestamp: &str, message: &str) {
        let id = self.id("log");
        let instance = format!("{service}-abcde");
        self.logs.push(LogEntry { id, resource: service.into(), instance, timestamp: timestamp.into(), message: message.into() });
    }

    /// Adds a service aideploy did not create (it must be left alone).
    pub fn add_foreign_service(&mut self, name: &str) {
        let id = self.id("srv");
        let owner = self.owners[0].0.clone();
        self.services.push(Service {
            id,
            kind: "web_service".into(),
            name: name.into(),
            owner,
            image_path: "docker.io/library/nginx@sha256:0000".into(),
            credential: None,
            health_path: "/".into(),
            plan: "starter".into(),
            region: "oregon".into(),
            env: BTreeMap::new(),
            deploys: Vec::new(),
        });
    }
}

pub struct FakeRender {
    pub base: String,
    pub state: Arc<Mutex<State>>,
}

fn error(status: u16, message: impl Into<String>) -> (u16, String) {
    (status, json!({"id": format!("{status}"), "message": message.into()}).to_string())
}

// --- schema checks, a subset of JSON Schema as the OpenAPI document uses it

fn check(v: &Value, schema: &Value, at: &str) -> Result<(), String> {
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let ok = options.iter().filter(|o| check(v, o, at).is_ok()).count();
        return if ok == 1 { Ok(()) } else { Err(format!("{at}: does not match exactly one of the allowed shapes")) };
    }
    match schema["type"].as_str() {
        Some("object") => {
            let obj = v.as_object().ok_or(format!("{at}: expected an object"))?;
            let props = schema["properties"].as_object().cloned().unwrap_or_default();
            for k in obj.keys() {
                if !props.contains_key(k) {
                    return Err(format!("{at}: unknown field `{k}`"));
                }
            }
            for r in schema["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap();
                if !obj.contains_key(r) {
                    return Err(format!("{at}: missing required field `{r}`"));
                }
            }
            for (k, sub) in obj {
                check(sub, &props[k], &format!("{at}.{k}"))?;
            }
        }
        Some("array") => {
            let items = v.as_array().ok_or(format!("{at}: expected an array"))?;
            for (i, item) in items.iter().enumerate() {
                check(item, &schema["items"], &format!("{at}[{i}]"))?;
            }
        }
        Some("string") => {
            let s = v.as_str().ok_or(format!("{at}: expected a string"))?;
            if let Some(allowed) = schema["enum"].as_array() {
                if !allowed.iter().any(|a| a == s) {
                    return Err(format!("{at}: `{s}` is not one of {allowed:?}"));
                }
            }
        }
        Some("boolean") if !v.is_boolean() => return Err(format!("{at}: expected a boolean")),
        Some("integer") if !v.is_i64() => return Err(format!("{at}: expected an integer")),
        _ => {}
    }
    Ok(())
}

fn env_var_input() -> Value {
    json!({"type": "object", "oneOf": [
        {"type": "object", "required": ["key", "value"], "properties": {"key": {"type": "string"}, "value": {"type": "string"}}},
        {"type": "object", "required": ["key", "generateValue"], "properties": {"key": {"type": "string"}, "generateValue": {"type": "boolean"}}}
    ]})
}

fn plans() -> Value {
    json!({"type": "string", "enum": ["starter", "standard", "pro", "pro_plus", "pro_max", "pro_ultra"]})
}

fn image_schema() -> Value {
    json!({"type": "object", "required": ["imagePath", "ownerId"], "properties": {"ownerId": {"type": "string"}, "registryCredentialId": {"type": "string"}, "imagePath": {"type": "string"}}})
}

fn runtimes() -> Value {
    json!({"type": "string", "enum": ["docker", "elixir", "go", "node", "python", "ruby", "rust", "image"]})
}

/// POST /services, for `web_service` (serviceDetails: webServiceDetailsPOST).
fn create_service_schema() -> Value {
    json!({"type": "object", "required": ["type", "name", "ownerId"], "properties": {
        "type": {"type": "string", "enum": ["static_site", "web_service", "private_service", "background_worker", "cron_job"]},
        "name": {"type": "string"}, "ownerId": {"type": "string"}, "repo": {"type": "string"},
        "autoDeploy": {"type": "string", "enum": ["yes", "no"]}, "branch": {"type": "string"},
        "image": image_schema(), "rootDir": {"type": "string"},
        "envVars": {"type": "array", "items": env_var_input()},
        "secretFiles": {"type": "array", "items": {"type": "object", "required": ["name", "content"], "properties": {"name": {"type": "string"}, "content": {"type": "string"}}}},
        "environmentId": {"type": "string"},
        "serviceDetails": {"type": "object", "required": ["runtime"], "properties": {
            "runtime": runtimes(), "env": runtimes(), "healthCheckPath": {"type": "string"},
            "numInstances": {"type": "integer"}, "plan": plans(), "preDeployCommand": {"type": "string"},
            "region": {"type": "string", "enum": ["frankfurt", "oregon", "ohio", "singapore", "virginia"]},
            "maxShutdownDelaySeconds": {"type": "integer"}, "renderSubdomainPolicy": {"type": "string", "enum": ["enabled", "disabled"]},
            "envSpecificDetails": {"type": "object", "properties": {"dockerCommand": {"type": "string"}, "dockerContext": {"type": "string"}, "dockerfilePath": {"type": "string"}, "registryCredentialId": {"type": "string"}}}
        }}
    }})
}

/// POST /services for `private_service` (serviceDetails: privateServiceDetailsPOST):
/// Render health-checks web services only, so a private service takes no
/// `healthCheckPath` (nor a public subdomain policy).
fn create_private_service_schema() -> Value {
    let mut s = create_service_schema();
    let details = s["properties"]["serviceDetails"]["properties"].as_object_mut().unwrap();
    details.remove("healthCheckPath");
    details.remove("renderSubdomainPolicy");
    s
}

/// PATCH /services/{id} of a private service (serviceDetails: privateServiceDetailsPATCH).
fn patch_private_service_schema() -> Value {
    let mut s = patch_service_schema();
    let details = s["properties"]["serviceDetails"]["properties"].as_object_mut().unwrap();
    details.remove("healthCheckPath");
    details.remove("renderSubdomainPolicy");
    s
}

/// PATCH /services/{id} (serviceDetails: webServiceDetailsPATCH).
fn patch_service_schema() -> Value {
    json!({"type": "object", "properties": {
        "autoDeploy": {"type": "string", "enum": ["yes", "no"]}, "repo": {"type": "string"}, "branch": {"type": "string"},
        "image": image_schema(), "name": {"type": "string"}, "rootDir": {"type": "string"},
        "serviceDetails": {"type": "object", "properties": {
            "healthCheckPath": {"type": "string"}, "plan": plans(), "preDeployCommand": {"type": "string"}, "runtime": runtimes(),
            "maxShutdownDelaySeconds": {"type": "integer"}, "renderSubdomainPolicy": {"type": "string", "enum": ["enabled", "disabled"]},
            "envSpecificDetails": {"type": "object", "properties": {"dockerCommand": {"type": "string"}, "dockerContext": {"type": "string"}, "dockerfilePath": {"type": "string"}, "registryCredentialId": {"type": "string"}}}
        }}
    }})
}

fn create_deploy_schema() -> Value {
    json!({"type": "object", "properties": {"clearCache": {"type": "string", "enum": ["clear", "do_not_clear"]}, "commitId": {"type": "string"}, "imageUrl": {"type": "string"}}})
}

fn rollback_schema() -> Value {
    json!({"type": "object", "required": ["deployId"], "properties": {"deployId": {"type": "string"}}})
}

fn env_var_value_schema() -> Value {
    json!({"type": "object", "oneOf": [
        {"type": "object", "required": ["value"], "properties": {"value": {"type": "string"}}},
        {"type": "object", "required": ["generateValue"], "properties": {"generateValue": {"type": "boolean"}}}
    ]})
}

fn env_group_schema() -> Value {
    json!({"type": "object", "required": ["name", "ownerId", "envVars"], "properties": {
        "name": {"type": "string"}, "ownerId": {"type": "string"}, "environmentId": {"type": "string"},
        "serviceIds": {"type": "array", "items": {"type": "string"}},
        "secretFiles": {"type": "array", "items": {"type": "object", "required": ["name", "content"], "properties": {"name": {"type": "string"}, "content": {"type": "string"}}}},
        "envVars": {"type": "array", "items": {"type": "object", "oneOf": [
            {"type": "object", "required": ["key", "value"], "properties": {"key": {"type": "string"}, "value": {"type": "string"}}},
            {"type": "object", "required": ["key", "generateValue"], "properties": {"key": {"type": "string"}, "generateValue": {"type": "boolean"}}}
        ]}}
    }})
}

fn env_group_meta(g: &EnvGroup) -> Value {
    json!({"id": g.id, "name": g.name, "ownerId": g.owner, "createdAt": g.created, "updatedAt": g.created, "serviceLinks": []})
}

fn env_group_json(g: &EnvGroup) -> Value {
    let mut v = env_group_meta(g);
    v["envVars"] = Value::Array(g.env.iter().map(|(k, v)| json!({"key": k, "value": v})).collect());
    v["secretFiles"] = json!([]);
    v
}

/// PATCH /registrycredentials/{id}: every field but the owner, all required.
fn update_credential_schema() -> Value {
    json!({"type": "object", "required": ["name", "registry", "username", "authToken"], "properties": {
        "registry": {"type": "string", "enum": ["GITHUB", "GITLAB", "DOCKER", "GOOGLE_ARTIFACT", "AWS_ECR"]},
        "name": {"type": "string"}, "username": {"type": "string"}, "authToken": {"type": "string"}
    }})
}

fn credential_json(c: &Credential) -> Value {
    json!({"id": c.id, "name": c.name, "registry": c.registry, "username": c.username, "updatedAt": TIME})
}

fn credential_schema() -> Value {
    json!({"type": "object", "required": ["name", "registry", "username", "authToken", "ownerId"], "properties": {
        "registry": {"type": "string", "enum": ["GITHUB", "GITLAB", "DOCKER", "GOOGLE_ARTIFACT", "AWS_ECR"]},
        "name": {"type": "string"}, "username": {"type": "string"}, "authToken": {"type": "string"}, "ownerId": {"type": "string"}
    }})
}

// --- answers

const TIME: &str = "2026-11-22T04:00:00Z";

fn service_json(s: &Service, creds: &[Credential]) -> Value {
    let mut v = json!({
        "id": s.id, "name": s.name, "ownerId": s.owner, "type": s.kind, "createdAt": TIME, "updatedAt": TIME,
        "dashboardUrl": format!("https://dashboard.render.com/web/{}", s.id), "suspended": "not_suspended", "suspenders": [],
        "autoDeploy": "no", "notifyOnFail": "default", "slug": s.name, "rootDir": "", "imagePath": s.image_path,
        "serviceDetails": {
            "env": "image", "runtime": "image", "envSpecificDetails": {}, "plan": s.plan, "region": s.region, "numInstances": 1,
            "buildPlan": "starter", "healthCheckPath": s.health_path, "openPorts": [], "url": format!("https://{}.onrender.com", s.name)
        }
    });
    if s.kind == "private_service" {
        // No public URL and no health check: its address is on the private network.
        let details = v["serviceDetails"].as_object_mut().unwrap();
        details.remove("healthCheckPath");
        details.insert("url".into(), json!(""));
    }
    if let Some(c) = s.credential.as_ref().and_then(|id| creds.iter().find(|c| &c.id == id)) {
        v["registryCredential"] = json!({"id": c.id, "name": c.name});
    }
    v
}

fn deploy_json(d: &Deploy) -> Value {
    let sha = d.image_ref.split_once('@').map(|(_, s)| s).unwrap_or("");
    json!({"id": d.id, "image": {"ref": d.image_ref, "sha": sha}, "status": d.status, "trigger": d.trigger, "createdAt": d.created, "updatedAt": d.created})
}

fn digest_of(r: &str) -> String {
    r.split_once('@').map(|(_, s)| s.to_string()).unwrap_or_default()
}

fn query(path: &str) -> (String, BTreeMap<String, String>) {
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    let params = q
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%2F", "/").replace("%40", "@").replace("%3A", ":")))
        .collect();
    (p.to_string(), params)
}

/// One poll of a deploy: it moves one status further.
fn advance(s: &mut Service, at: usize, bad: &BTreeSet<String>) {
    let d = &mut s.deploys[at];
    d.polls += 1;
    let next = match d.status.as_str() {
        "created" => "build_in_progress",
        "build_in_progress" => "update_in_progress",
        "update_in_progress" if bad.contains(&digest_of(&d.image_ref)) => "update_failed",
        "update_in_progress" => "live",
        other => other,
    }
    .to_string();
    let id = d.id.clone();
    d.status = next.clone();
    if next == "live" {
        for other in s.deploys.iter_mut().filter(|o| o.id != id && o.status == "live") {
            other.status = "deactivated".into();
        }
        let image = s.deploys.iter().find(|o| o.id == id).unwrap().image_ref.clone();
        s.image_path = image;
    }
}

fn new_deploy(st: &mut State, image_ref: String, trigger: &str) -> Deploy {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let created = aideploy::util::iso8601(now.as_secs()).replace('Z', &format!(".{:03}Z", now.subsec_millis()));
    Deploy { id: st.id("dep"), image_ref, status: "created".into(), trigger: trigger.into(), created, polls: 0 }
}

/// `GET /logs`: the lines of the `resource`s (repeatable) in workspace `ownerId`, of the
/// `type`s asked for, within `startTime..=endTime`, at most `limit` (1 to 100, default
/// 20) in `direction` (`backward`, the default: newest first); with `hasMore`, the
/// `nextStartTime`/`nextEndTime` of the next page.
fn list_logs(st: &State, raw_query: &str) -> (u16, String) {
    let pairs: Vec<(&str, String)> =
        raw_query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k, v.replace("%3A", ":").replace("%2B", "+"))).collect();
    let all = |k: &str| -> Vec<String> {
        pairs.iter().filter(|(n, _)| *n == k).flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>()).collect()
    };
    let one = |k: &str| all(k).into_iter().next();
    let Some(owner) = one("ownerId") else { return error(400, "ownerId is required") };
    let resources = all("resource");
    if resources.is_empty() {
        return error(400, "resource is required");
    }
    let limit = match one("limit").map(|l| l.parse::<usize>()) {
        None => 20,
        Some(Ok(l)) if (1..=100).contains(&l) => l,
        Some(_) => return error(400, "limit must be between 1 and 100"),
    };
    let backward = match one("direction").as_deref() {
        None | Some("backward") => true,
        Some("forward") => false,
        Some(other) => return error(400, format!("direction must be backward or forward, not {other}")),
    };
    let time = |k: &str| match one(k) {
        None => Ok(None),
        Some(t) => {
            common::rfc3339_millis(&t).map(|ms| Some((ms, t.clone()))).ok_or_else(|| error(400, format!("{k} is not a date-time: {t}")))
        }
    };
    let (start, end) = match (time("startTime"), time("endTime")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let types = all("type");
    let owned = |r: &str| st.services.iter().any(|s| s.id == r && s.owner == owner);
    let mut found: Vec<(i64, &LogEntry)> = st
        .logs
        .iter()
        .filter(|l| resources.contains(&l.resource) && owned(&l.resource))
        .filter(|_| types.is_empty() || types.iter().any(|t| t == "app"))
        .filter_map(|l| Some((common::rfc3339_millis(&l.timestamp)?, l)))
        .filter(|(t, _)| start.as_ref().is_none_or(|(s, _)| t >= s) && end.as_ref().is_none_or(|(e, _)| t <= e))
        .collect();
    found.sort_by_key(|(t, _)| *t);
    if backward {
        found.reverse();
    }
    let has_more = found.len() > limit;
    let page = &found[..found.len().min(limit)];
    let edge = page.last().map(|(_, l)| l.timestamp.clone());
    let (next_start, next_end) = match (has_more, backward) {
        (false, _) => (None, None),
        (true, true) => (start.map(|(_, s)| s), edge),
        (true, false) => (edge, end.map(|(_, e)| e)),
    };
    let logs: Vec<Value> = page
        .iter()
        .map(|(_, l)| {
            json!({"id": l.id, "timestamp": l.timestamp, "message": l.message, "labels": [
                {"name": "resource", "value": l.resource}, {"name": "instance", "value": l.instance},
                {"name": "type", "value": "app"}, {"name": "level", "value": "info"},
            ]})
        })
        .collect();
    (200, json!({"hasMore": has_more, "nextStartTime": next_start, "nextEndTime": next_end, "logs": logs}).to_string())
}

/// An RFC 3339 time as seconds since the epoch, its fraction kept.
fn instant(s: &str) -> Option<f64> {
    let secs = aideploy::util::parse_rfc3339(s)?;
    let fraction = s.get(19..).and_then(|r| r.strip_prefix('.')).map(|f| f.bytes().take_while(u8::is_ascii_digit).count());
    let fraction = fraction.and_then(|n| s[20..20 + n].parse::<f64>().ok().map(|v| v / 10f64.powi(n as i32))).unwrap_or(0.0);
    Some(secs as f64 + fraction)
}

fn answer(st: &mut State, method: &str, full_path: &str, body: &str) -> (u16, String) {
    let Some(rest) = full_path.strip_prefix("/v1") else { return error(404, "not found") };
    let (path, params) = query(rest);
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let parsed: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_str(body) {
            Ok(v) => v,
            Err(e) => return error(400, format!("invalid JSON: {e}")),
        }
    };
    let validate = |schema: Value| check(&parsed, &schema, "body");
    let creds = st.credentials.clone();
    let svc_idx = |st: &State, id: &str| st.services.iter().position(|s| s.id == id);
    macro_rules! valid {
        ($schema:expr) => {
            if let Err(e) = validate($schema) {
                return error(400, e);
            }
        };
    }
    match (method, parts.as_slice()) {
        ("GET", ["logs"]) => list_logs(st, full_path.split_once('?').map_or("", |(_, q)| q)),
        ("GET", ["metrics", "http-requests"]) => {
            super::render_metrics::http_requests(&mut st.metrics, full_path.split_once('?').map_or("", |(_, q)| q))
        }
        ("GET", ["metrics", "http-latency"]) => {
            super::render_metrics::http_latency(&mut st.metrics, full_path.split_once('?').map_or("", |(_, q)| q))
        }
        ("GET", ["owners"]) => (
            200,
            Value::Array(
                st.owners
                    .iter()
                    .map(|(id, name)| json!({"owner": {"id": id, "name": name, "email": "team@example.com", "type": "team"}, "cursor": id}))
                    .collect(),
            )
            .to_string(),
        ),
        ("GET", ["services"]) => {
            let list: Vec<Value> = st
                .services
                .iter()
                .filter(|s| params.get("name").is_none_or(|n| n.split(',').any(|n| n == s.name)))
                .filter(|s| params.get("ownerId").is_none_or(|o| o.split(',').any(|o| o == s.owner)))
                .filter(|s| params.get("type").is_none_or(|t| t.split(',').any(|t| t == s.kind)))
                .map(|s| json!({"service": service_json(s, &creds), "cursor": s.id}))
                .collect();
            (200, Value::Array(list).to_string())
        }
        ("POST", ["services"]) => {
            match parsed["type"].as_str() {
                Some("private_service") => valid!(create_private_service_schema()),
                Some("web_service") | None => valid!(create_service_schema()),
                Some(other) => return error(400, format!("this fake makes web and private services only, not {other}")),
            }
            let name = parsed["name"].as_str().unwrap().to_string();
            let owner = parsed["ownerId"].as_str().unwrap().to_string();
            if !st.owners.iter().any(|(o, _)| *o == owner) {
                return error(404, format!("owner {owner} not found"));
            }
            if st.services.iter().any(|s| s.name == name && s.owner == owner) {
                return error(409, format!("a service named {name} already exists"));
            }
            let details = &parsed["serviceDetails"];
            let image = parsed["image"]["imagePath"].as_str().unwrap_or_default().to_string();
            let id = st.id("srv");
            let mut s = Service {
                id,
                kind: parsed["type"].as_str().unwrap().to_string(),
                name,
                owner,
                image_path: image.clone(),
                credential: parsed["image"]["registryCredentialId"].as_str().map(str::to_string),
                health_path: details["healthCheckPath"].as_str().unwrap_or("").into(),
                plan: details["plan"].as_str().unwrap_or("starter").into(),
                region: details["region"].as_str().unwrap_or("oregon").into(),
                env: parsed["envVars"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| (e["key"].as_str().unwrap().to_string(), e["value"].as_str().unwrap_or("").to_string()))
                    .collect(),
                deploys: Vec::new(),
            };
            let d = new_deploy(st, image, "api");
            let deploy_id = d.id.clone();
            s.deploys.insert(0, d);
            let out = json!({"service": service_json(&s, &creds), "deployId": deploy_id});
            st.services.push(s);
            st.mutations += 1;
            (201, out.to_string())
        }
        ("GET", ["services", id]) => match svc_idx(st, id) {
            Some(i) => (200, service_json(&st.services[i], &creds).to_string()),
            None => error(404, "service not found"),
        },
        ("PATCH", ["services", id]) => {
            let Some(i) = svc_idx(st, id) else { return error(404, "service not found") };
            if st.services[i].kind == "private_service" {
                valid!(patch_private_service_schema());
            } else {
                valid!(patch_service_schema());
            }
            let s = &mut st.services[i];
            if let Some(p) = parsed["serviceDetails"]["healthCheckPath"].as_str() {
                s.health_path = p.into();
            }
            if let Some(p) = parsed["serviceDetails"]["plan"].as_str() {
                s.plan = p.into();
            }
            // The image settings are replaced as a whole: without a credential id the
            // service pulls anonymously.
            if parsed["image"].is_object() {
                s.credential = parsed["image"]["registryCredentialId"].as_str().map(str::to_string);
            }
            st.mutations += 1;
            (200, service_json(&st.services[i], &creds).to_string())
        }
        ("DELETE", ["services", id]) => {
            let Some(i) = svc_idx(st, id) else { return error(404, "service not found") };
            st.services.remove(i);
            st.mutations += 1;
            (204, String::new())
        }
        ("GET", ["services", id, "env-vars"]) => match svc_idx(st, id) {
            Some(i) => (
                200,
                Value::Array(st.services[i].env.iter().map(|(k, v)| json!({"envVar": {"key": k, "value": v}, "cursor": k})).collect())
                    .to_string(),
            ),
            None => error(404, "service not found"),
        },
        ("PUT", ["services", id, "env-vars", key]) => {
            valid!(env_var_value_schema());
            let Some(i) = svc_idx(st, id) else { return error(404, "service not found") };
            let value = parsed["value"].as_str().unwrap_or_default().to_string();
            st.services[i].env.insert(key.to_string(), value.clone());
            st.mutations += 1;
            (200, json!({"key": key, "value": value}).to_string())
        }
        ("DELETE", ["services", id, "env-vars", key]) => {
            let Some(i) = svc_idx(st, id) else { return error(404, "service not found") };
            if st.services[i].env.remove(*key).is_none() {
                return error(404, "env var not found");
            }
            st.mutations += 1;
            (204, String::new())
        }
        ("GET", ["services", id, "deploys"]) => match svc_idx(st, id) {
            Some(i) => (
                200,
                Value::Array(st.services[i].deploys.iter().map(|d| json!({"deploy": deploy_json(d), "cursor": d.id})).collect())
                    .to_string(),
            ),
            None => error(404, "service not found"),
        },
        ("POST", ["services", id, "deploys"]) => {
            valid!(create_deploy_schema());
            let Some(i) = svc_idx(st, id) else { return error(404, "service not found") };
            let image = parsed["imageUrl"].as_str().map(str::to_string).unwrap_or_else(|| st.services[i].image_path.clone());
            let d = new_deploy(st, image, "api");
            let out = deploy_json(&d);
            st.services[i].deploys.insert(0, d);
            st.mutations += 1;
            (201, out.to_string())
        }
        ("GET", ["services", id, "deploys", dep]) => {
            let Some(i) = svc_idx(st, id) else { return error(404, "service not found") };
            let Some(at) = st.services[i].deploys.iter().position(|d| d.id == *dep) else { return error(404, "deploy not found") };
            let bad = st.bad.clone();
            advance(&mut st.services[i], at, &bad);
            (200, deploy_json(&st.services[i].deploys[at]).to_string())
        }
        ("POST", ["services", id, "rollback"]) => {
            valid!(rollback_schema());
            let Some(i) = svc_idx(st, id) else { return error(404, "service not found") };
            let target = parsed["deployId"].as_str().unwrap();
            let Some(old) = st.services[i].deploys.iter().find(|d| d.id == target).cloned() else { return error(404, "deploy not found") };
            if old.status != "deactivated" && old.status != "live" {
                return error(400, format!("deploy {target} never went live"));
            }
            let d = new_deploy(st, old.image_ref, "rollback");
            let out = deploy_json(&d);
            st.services[i].deploys.insert(0, d);
            st.mutations += 1;
            (201, out.to_string())
        }
        ("GET", ["registrycredentials"]) => {
            let list: Vec<Value> = st
                .credentials
                .iter()
                .filter(|c| params.get("name").is_none_or(|n| n.split(',').any(|n| n == c.name)))
                .filter(|c| params.get("ownerId").is_none_or(|o| o.split(',').any(|o| o == c.owner)))
                .map(credential_json)
                .collect();
            (200, Value::Array(list).to_string())
        }
        ("GET", ["registrycredentials", id]) => match st.credentials.iter().find(|c| c.id == *id) {
            Some(c) => (200, credential_json(c).to_string()),
            None => error(404, "registry credential not found"),
        },
        ("PATCH", ["registrycredentials", id]) => {
            valid!(update_credential_schema());
            let Some(c) = st.credentials.iter_mut().find(|c| c.id == *id) else { return error(404, "registry credential not found") };
            c.name = parsed["name"].as_str().unwrap().into();
            c.registry = parsed["registry"].as_str().unwrap().into();
            c.username = parsed["username"].as_str().unwrap().into();
            c.token = parsed["authToken"].as_str().unwrap().into();
            let out = credential_json(c);
            st.mutations += 1;
            (200, out.to_string())
        }
        ("POST", ["registrycredentials"]) => {
            valid!(credential_schema());
            let c = Credential {
                id: st.id("rgc"),
                name: parsed["name"].as_str().unwrap().into(),
                registry: parsed["registry"].as_str().unwrap().into(),
                username: parsed["username"].as_str().unwrap().into(),
                token: parsed["authToken"].as_str().unwrap().into(),
                owner: parsed["ownerId"].as_str().unwrap().into(),
            };
            let out = credential_json(&c);
            st.credentials.push(c);
            st.mutations += 1;
            (200, out.to_string())
        }
        ("DELETE", ["registrycredentials", id]) => {
            let Some(i) = st.credentials.iter().position(|c| c.id == *id) else { return error(404, "registry credential not found") };
            st.credentials.remove(i);
            st.mutations += 1;
            (204, String::new())
        }
        ("GET", ["env-groups"]) => {
            // The document's `limit`: 1 to 100, default 20; its items carry no cursor.
            let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
                None => 20,
                Some(Ok(n)) if (1..=100).contains(&n) => n,
                Some(_) => return error(400, "limit must be between 1 and 100"),
            };
            // createdAfter / createdBefore: ISO 8601 times, strictly after / before.
            let mut window = [None, None];
            for (i, key) in ["createdAfter", "createdBefore"].into_iter().enumerate() {
                if let Some(v) = params.get(key) {
                    match instant(v) {
                        Some(t) => window[i] = Some(t),
                        None => return error(400, format!("{key} must be an ISO 8601 time, got {v}")),
                    }
                }
            }
            let list: Vec<Value> = st
                .env_groups
                .iter()
                .filter(|g| params.get("name").is_none_or(|n| n.split(',').any(|n| n == g.name)))
                .filter(|g| params.get("ownerId").is_none_or(|o| o.split(',').any(|o| o == g.owner)))
                .filter(|g| {
                    let at = instant(&g.created).unwrap_or(0.0);
                    window[0].is_none_or(|a| at > a) && window[1].is_none_or(|b| at < b)
                })
                .take(limit)
                .map(env_group_meta)
                .collect();
            (200, Value::Array(list).to_string())
        }
        ("POST", ["env-groups"]) => {
            valid!(env_group_schema());
            let owner = parsed["ownerId"].as_str().unwrap().to_string();
            if !st.owners.iter().any(|(o, _)| *o == owner) {
                return error(404, format!("owner {owner} not found"));
            }
            let id = st.id("evg");
            // Later groups are created later: a time with the counter as its fraction.
            let created = format!("2026-11-22T04:00:00.{:06}Z", st.next);
            let env = parsed["envVars"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| (e["key"].as_str().unwrap_or_default().to_string(), e["value"].as_str().unwrap_or_default().to_string()))
                .collect();
            let g = EnvGroup { id, name: parsed["name"].as_str().unwrap().into(), owner, created, env };
            let out = env_group_json(&g);
            st.env_groups.push(g);
            st.mutations += 1;
            (201, out.to_string())
        }
        ("GET", ["env-groups", id]) => match st.env_groups.iter().find(|g| g.id == *id) {
            Some(g) => (200, env_group_json(g).to_string()),
            None => error(404, "env group not found"),
        },
        ("PUT", ["env-groups", id, "env-vars", key]) => {
            valid!(env_var_value_schema());
            let Some(g) = st.env_groups.iter_mut().find(|g| g.id == *id) else { return error(404, "env group not found") };
            g.env.insert(key.to_string(), parsed["value"].as_str().unwrap_or_default().to_string());
            let out = env_group_json(g);
            st.mutations += 1;
            (200, out.to_string())
        }
        ("DELETE", ["env-groups", id]) => {
            let Some(i) = st.env_groups.iter().position(|g| g.id == *id) else { return error(404, "env group not found") };
            st.env_groups.remove(i);
            st.mutations += 1;
            (204, String::new())
        }
        _ => error(404, format!("no route {method} {path}")),
    }
}

impl FakeRender {
    /// Serves on a loopback port; one workspace, `tea-fake`.
    pub fn start() -> FakeRender {
        let state = Arc::new(Mutex::new(State { owners: vec![("tea-fake".into(), "Fake team".into())], ..State::default() }));
        let s = state.clone();
        let (port, _log) = common::fake_http(move |req| {
            let mut st = s.lock().unwrap();
            let auth = req.headers.iter().find(|(k, _)| k == "authorization").map(|(_, v)| v.as_str()).unwrap_or("");
            if !auth.starts_with("Bearer ") || auth.len() <= "Bearer ".len() {
                return error(401, "unauthorized");
            }
            let (status, body) = answer(&mut st, &req.method, &req.path, &req.body);
            if status == 400 {
                st.rejected.push(format!("{} {}: {body}", req.method, req.path));
            }
            (status, body)
        });
        FakeRender { base: format!("http://127.0.0.1:{port}/v1"), state }
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    #[test]
    fn logs_come_a_page_at_a_time_and_refuse_a_limit_over_100() {
        let mut st = State { owners: vec![("tea-fake".into(), "Fake team".into())], ..State::default() };
        st.add_foreign_service("api");
        let id = st.services[0].id.clone();
        for i in 0..3 {
            st.add_log(&id, &format!("2026-12-05T07:00:0{i}.000Z"), &format!("line {i}"));
        }
        let (code, body) = list_logs(&st, &format!("ownerId=tea-fake&resource={id}&limit=101"));
        assert_eq!(code, 400, "{body}");
        let (code, body) = list_logs(&st, &format!("resource={id}"));
        assert_eq!(code, 400, "{body}");
        let (code, body) = list_logs(&st, &format!("ownerId=tea-fake&resource={id}&limit=2"));
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!((v["hasMore"].as_bool(), v["logs"][0]["message"].as_str()), (Some(true), Some("line 2")));
        assert_eq!(v["nextEndTime"], "2026-12-05T07:00:01.000Z");
        let (_, body) = list_logs(&st, &format!("ownerId=other&resource={id}"));
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["logs"], json!([]));
    }

    #[test]
    fn rejects_unknown_and_missing_fields() {
        let mut st = State { owners: vec![("tea-1".into(), "t".into())], ..State::default() };
        let (code, body) =
            answer(&mut st, "POST", "/v1/services", r#"{"type":"web_service","name":"x","ownerId":"tea-1","imagePath":"a"}"#);
        assert_eq!(code, 400);
        assert!(body.contains("unknown field `imagePath`"), "{body}");
        let (code, body) = answer(&mut st, "POST", "/v1/services", r#"{"type":"web_service","name":"x"}"#);
        assert_eq!(code, 400);
        assert!(body.contains("missing required field `ownerId`"), "{body}");
        let (code, _) = answer(
            &mut st,
            "POST",
            "/v1/services",
            r#"{"type":"web_service","name":"x","ownerId":"tea-1","serviceDetails":{"runtime":"image","plan":"huge"}}"#,
        );
        assert_eq!(code, 400);
        let (code, _) = answer(
            &mut st,
            "POST",
            "/v1/services",
            r#"{"type":"web_service","name":"x","ownerId":"tea-1","serviceDetails":{"runtime":"image"}}"#,
        );
        assert_eq!(code, 201);
        assert_eq!(st.mutations, 1);
    }

    #[test]
    fn private_services_take_no_health_check_and_are_listed_by_type() {
        let mut st = State { owners: vec![("tea-1".into(), "t".into())], ..State::default() };
        let with_health =
            r#"{"type":"private_service","name":"p","ownerId":"tea-1","serviceDetails":{"runtime":"image","healthCheckPath":"/health"}}"#;
        let (code, body) = answer(&mut st, "POST", "/v1/services", with_health);
        assert_eq!(code, 400);
        assert!(body.contains("unknown field `healthCheckPath`"), "{body}");
        let ok = r#"{"type":"private_service","name":"p","ownerId":"tea-1","serviceDetails":{"runtime":"image"}}"#;
        let (code, created) = answer(&mut st, "POST", "/v1/services", ok);
        assert_eq!(code, 201, "{created}");
        let id = serde_json::from_str::<Value>(&created).unwrap()["service"]["id"].as_str().unwrap().to_string();
        assert_eq!(answer(&mut st, "PATCH", &format!("/v1/services/{id}"), r#"{"serviceDetails":{"healthCheckPath":"/"}}"#).0, 400);
        assert_eq!(answer(&mut st, "PATCH", &format!("/v1/services/{id}"), r#"{"serviceDetails":{"plan":"standard"}}"#).0, 200);
        let (_, web) = answer(&mut st, "GET", "/v1/services?name=p&type=web_service", "");
        assert_eq!(web, "[]");
        let (_, both) = answer(&mut st, "GET", "/v1/services?name=p&type=web_service,private_service", "");
        assert!(both.contains(r#""type":"private_service""#), "{both}");
    }

    #[test]
    fn env_groups_need_name_owner_and_vars_and_names_are_not_unique() {
        let mut st = State { owners: vec![("tea-1".into(), "t".into())], ..State::default() };
        assert_eq!(answer(&mut st, "POST", "/v1/env-groups", r#"{"name":"g","ownerId":"tea-1"}"#).0, 400);
        assert_eq!(answer(&mut st, "POST", "/v1/env-groups", r#"{"name":"g","ownerId":"tea-1","envVars":[{"key":"A"}]}"#).0, 400);
        assert_eq!(answer(&mut st, "POST", "/v1/env-groups", r#"{"name":"g","ownerId":"tea-9","envVars":[]}"#).0, 404);
        let body = r#"{"name":"g","ownerId":"tea-1","envVars":[{"key":"A","value":"1"}]}"#;
        let (code, first) = answer(&mut st, "POST", "/v1/env-groups", body);
        assert_eq!(code, 201, "{first}");
        assert_eq!(answer(&mut st, "POST", "/v1/env-groups", body).0, 201, "a second group of the same name");
        let (_, list) = answer(&mut st, "GET", "/v1/env-groups?name=g&ownerId=tea-1", "");
        let list: Value = serde_json::from_str(&list).unwrap();
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert!(list[0]["createdAt"].as_str() < list[1]["createdAt"].as_str(), "{list:?}");
        // The workspace's groups, at most `limit` (1 to 100, default 20).
        for _ in 0..25 {
            answer(&mut st, "POST", "/v1/env-groups", r#"{"name":"h","ownerId":"tea-1","envVars":[]}"#);
        }
        let count = |st: &mut State, q: &str| {
            let (code, body) = answer(st, "GET", &format!("/v1/env-groups?{q}"), "");
            assert_eq!(code, 200, "{body}");
            serde_json::from_str::<Value>(&body).unwrap().as_array().unwrap().len()
        };
        assert_eq!(count(&mut st, "ownerId=tea-1"), 20);
        assert_eq!(count(&mut st, "ownerId=tea-1&limit=100"), 27);
        assert_eq!(count(&mut st, "ownerId=tea-1&limit=3"), 3);
        assert_eq!(count(&mut st, "ownerId=tea-9&limit=100"), 0);
        // Created strictly after / before (the fake's groups are made a microsecond apart).
        let created: Vec<String> = st.env_groups.iter().map(|g| g.created.clone()).collect();
        let window = |a: &str, b: &str| format!("ownerId=tea-1&limit=100&createdAfter={a}&createdBefore={b}");
        assert_eq!(count(&mut st, &window(&created[0], &created[5])), 4);
        assert_eq!(count(&mut st, &window("2026-11-22T03:00:00Z", "2026-11-22T05:00:00Z")), 27);
        assert_eq!(count(&mut st, &window("2026-11-22T04:00:01Z", "2026-11-22T05:00:00Z")), 0);
        assert_eq!(answer(&mut st, "GET", "/v1/env-groups?createdAfter=yesterday", "").0, 400);
        assert_eq!(answer(&mut st, "GET", "/v1/env-groups?limit=101", "").0, 400);
        assert_eq!(answer(&mut st, "GET", "/v1/env-groups?limit=0", "").0, 400);
        let id = serde_json::from_str::<Value>(&first).unwrap()["id"].as_str().unwrap().to_string();
        assert_eq!(answer(&mut st, "PUT", &format!("/v1/env-groups/{id}/env-vars/A"), r#"{"value":"2"}"#).0, 200);
        assert_eq!(answer(&mut st, "PUT", &format!("/v1/env-groups/{id}/env-vars/A"), r#"{"val":"2"}"#).0, 400);
        let (_, got) = answer(&mut st, "GET", &format!("/v1/env-groups/{id}"), "");
        assert!(got.contains(r#""key":"A","value":"2""#), "{got}");
        assert_eq!(answer(&mut st, "DELETE", &format!("/v1/env-groups/{id}"), "").0, 204);
        assert_eq!(answer(&mut st, "GET", &format!("/v1/env-groups/{id}"), "").0, 404);
    }
}
