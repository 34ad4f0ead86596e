//! The Cloud Run service the manifest asks for, in the v2 REST shape, and the plan
//! warnings for Cloud Run's limits.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{digest_label, labels};
use crate::engine::{Cx, Inputs, Parts};

/// Cloud Run's longest request timeout.
const MAX_TIMEOUT: u32 = 3600;
/// What a GPU instance needs at least.
const GPU_MIN_CPU: f64 = 4.0;
const GPU_MIN_MEMORY_MIB: u32 = 16 * 1024;
/// The startup probe's period; its failure threshold spreads `health_timeout` over it.
const PROBE_PERIOD: u32 = 5;

/// What the service's template does against cold starts, for the plan: startup CPU boost
/// and instances kept warm.
pub fn cold_start_words(service: &Value) -> Vec<String> {
    let t = &service["template"];
    let mut words = Vec::new();
    if startup_boost(t) {
        words.push("startup CPU boost".to_string());
    }
    match min_instances(t) {
        0 => {}
        1 => words.push("1 instance kept warm".into()),
        n => words.push(format!("{n} instances kept warm")),
    }
    words
}

/// Whether a template has startup CPU boost on (protobuf JSON leaves a false out).
pub fn startup_boost(template: &Value) -> bool {
    template["containers"][0]["resources"]["startupCpuBoost"].as_bool().unwrap_or(false)
}

/// A template's minimum instances (absent: 0).
pub fn min_instances(template: &Value) -> u64 {
    let m = &template["scaling"]["minInstanceCount"];
    m.as_u64().or_else(|| m.as_str().and_then(|s| s.parse().ok())).unwrap_or(0)
}

/// `1`, `2`, `0.5` -> `1`, `2`, `500m`.
fn cpu_quantity(cpu: f64) -> String {
    if cpu.fract() == 0.0 {
        format!("{}", cpu as u64)
    } else {
        format!("{}m", (cpu * 1000.0).round() as u64)
    }
}

fn gpu(cx: &Cx) -> Option<String> {
    cx.target.settings.gpu.as_ref().map(|g| g.get().clone())
}

/// The service as JSON: what aideploy manages and nothing else, so that it can be
/// compared with what Cloud Run answers. `versions` maps each secret with a value to
/// the Secret Manager version to reference (`None`: one about to be added; `latest`
/// stands in for it until then); `account` is the runtime service account.
pub fn desired_service(cx: &Cx, reference: &str, digest: &str, versions: &BTreeMap<String, Option<String>>, account: &str) -> Value {
    let s = &cx.target.settings;
    let app = cx.loaded.manifest.app();
    let image = match reference.split_once('@') {
        Some((repo, _)) => format!("{repo}@{digest}"),
        None => format!("{}@{digest}", reference.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map(|(r, _)| r).unwrap_or(reference)),
    };
    let mut env: Vec<Value> = cx.loaded.manifest.env_pairs().into_iter().map(|(k, v)| json!({"name": k, "value": v})).collect();
    for (name, version) in versions {
        env.push(json!({"name": name, "valueSource": {"secretKeyRef": {
            "secret": super::secret_id(cx, name),
            "version": version.clone().unwrap_or_else(|| "latest".into()),
        }}}));
    }
    let gpu = gpu(cx);
    let cpu = s.cpu.as_ref().map(|c| *c.get()).or(gpu.as_ref().map(|_| GPU_MIN_CPU));
    let memory = s.memory.as_ref().map(|m| m.get().mib).or(gpu.as_ref().map(|_| GPU_MIN_MEMORY_MIB));
    let mut limits = serde_json::Map::new();
    if let Some(c) = cpu {
        limits.insert("cpu".into(), json!(cpu_quantity(c)));
    }
    if let Some(m) = memory {
        limits.insert("memory".into(), json!(format!("{m}Mi")));
    }
    let boost = cx.target.values.startup_cpu_boost.unwrap_or(true);
    let mut resources = json!({});
    if gpu.is_none() && (!limits.is_empty() || boost) {
        // With resources set, Cloud Run keeps CPU allocated unless told it may idle.
        resources["cpuIdle"] = json!(true);
    }
    if gpu.is_some() {
        limits.insert("nvidia.com/gpu".into(), json!("1"));
        // GPUs need CPU allocated all the time, not only during requests (protobuf
        // JSON leaves the false out; with resources set that is what Cloud Run reads).
        resources["cpuIdle"] = json!(false);
    }
    if boost {
        resources["startupCpuBoost"] = json!(true);
    }
    if !limits.is_empty() {
        resources["limits"] = Value::Object(limits);
    }
    let health_timeout = super::health_timeout(cx);
    let mut container = json!({
        "image": image,
        "ports": [{"containerPort": app.port.0}],
        "startupProbe": {
            "httpGet": {"path": app.health.as_str(), "port": app.port.0},
            "periodSeconds": PROBE_PERIOD,
            "timeoutSeconds": 3,
            "failureThreshold": health_timeout.div_ceil(PROBE_PERIOD).max(1),
        },
    });
    if !env.is_empty() {
        container["env"] = json!(env);
    }
    if resources.as_object().is_some_and(|r| !r.is_empty()) {
        container["resources"] = resources;
    }
    let mut template_labels = labels(cx);
    template_labels.insert("aideploy-digest".into(), digest_label(digest));
    let mut template = json!({
        "labels": template_labels,
        "containers": [container],
        "executionEnvironment": "EXECUTION_ENVIRONMENT_GEN2",
    });
    let mut scaling = serde_json::Map::new();
    if let Some(m) = &s.min_instances {
        scaling.insert("minInstanceCount".into(), json!(m.get()));
    }
    if let Some(m) = &s.max_instances {
        scaling.insert("maxInstanceCount".into(), json!(m.get()));
    }
    if !scaling.is_empty() {
        template["scaling"] = Value::Object(scaling);
    }
    if let Some(c) = &s.concurrency {
        template["maxInstanceRequestConcurrency"] = json!(c.get());
    }
    if let Some(t) = &s.timeout {
        template["timeout"] = json!(format!("{}s", t.get().0));
    }
    template["serviceAccount"] = json!(account);
    if let Some(g) = &gpu {
        template["nodeSelector"] = json!({"accelerator": g});
    }
    let mut service_labels = labels(cx);
    service_labels.insert("aideploy-digest".into(), digest_label(digest));
    let service = json!({
        "labels": service_labels,
        "ingress": "INGRESS_TRAFFIC_ALL",
        "template": template,
        "traffic": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}],
    });
    // Normalised through the client's own model, so enums compare as Cloud Run answers.
    serde_json::from_value::<google_cloud_run_v2::model::Service>(service.clone())
        .ok()
        .and_then(|m| serde_json::to_value(m).ok())
        .unwrap_or(service)
}

/// The revision label that records what the version is made of ([`Parts::encode`]).
pub const PARTS_LABEL: &str = "aideploy-parts";

/// The parts of the version `desired` runs: the build's, with the secret versions it
/// references (a version still to be written counts as new).
pub fn parts(cx: &Cx, digest: &str, inputs: &Inputs, versions: &BTreeMap<String, Option<String>>) -> Parts {
    Parts::of(cx, digest, inputs, &crate::engine::parts::refs(versions))
}

/// Labels the service's revision template with `parts`.
pub fn set_parts(desired: &mut Value, parts: &Parts) {
    if let Some(labels) = desired["template"]["labels"].as_object_mut() {
        labels.insert(PARTS_LABEL.into(), json!(parts.encode()));
    }
}

/// The parts recorded on a service's revision template, when there are.
pub fn recorded_parts(spec: &Value) -> Option<Parts> {
    spec["template"]["labels"][PARTS_LABEL].as_str().and_then(Parts::decode)
}

/// Cloud Run limits the manifest runs into.
pub fn warnings(cx: &Cx) -> Vec<String> {
    let s = &cx.target.settings;
    let mut out = Vec::new();
    if let Some(t) = s.timeout.as_ref().map(|t| t.get().0).filter(|t| *t > MAX_TIMEOUT) {
        out.push(format!("timeout = {t}: Cloud Run ends requests after at most {MAX_TIMEOUT} s and refuses a longer timeout; for longer work use a job or a queue"));
    }
    if let Some(g) = gpu(cx) {
        let cpu = s.cpu.as_ref().map(|c| *c.get());
        let mem = s.memory.as_ref().map(|m| m.get().mib);
        if cpu.is_none_or(|c| c < GPU_MIN_CPU) || mem.is_none_or(|m| m < GPU_MIN_MEMORY_MIB) {
            out.push(format!(
                "gpu = \"{g}\" needs at least {GPU_MIN_CPU} CPU and 16 GiB of memory per instance: set `cpu = 4` and `memory = \"16Gi\"` (aideploy uses these when they are not set)"
            ));
        }
        if let Some(c) = s.concurrency.as_ref().map(|c| *c.get()) {
            out.push(format!(
                "concurrency = {c} with a GPU: all {c} concurrent requests share one GPU; keep it at what the model server batches (a value too high makes requests queue on the GPU instead of starting instances)"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cpu_quantity;

    #[test]
    fn cpu_quantities() {
        assert_eq!(cpu_quantity(1.0), "1");
        assert_eq!(cpu_quantity(0.5), "500m");
        assert_eq!(cpu_quantity(4.0), "4");
    }
}
