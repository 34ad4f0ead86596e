//! The image config and manifest documents, serialized canonically so digests are stable.

use super::*;

/// The image config: the base image's, with our layers, env, entrypoint, user, ports,
/// workdir, labels and history. Canonical JSON (sorted keys), so the digest depends
/// only on the content.
///
/// Built as JSON values from the base config's own JSON rather than through oci-spec's
/// builders: oci-spec keeps labels in a `HashMap`, whose serialization order varies run
/// to run (the digest would too), and a round trip through its types would drop fields
/// of the base config it does not model. The result is parsed back into oci-spec's
/// `ImageConfiguration` as a check.
pub(super) fn image_config(spec: &ImageSpec, base: &PulledImage, layers: &[BuiltLayer]) -> Result<Vec<u8>> {
    let mut cfg: Value = serde_json::from_slice(&base.config_bytes).context("the base image config is not JSON")?;
    let obj = cfg.as_object_mut().ok_or_else(|| anyhow!("the base image config is not a JSON object"))?;
    let created = crate::util::iso8601(spec.epoch);
    obj.insert("created".into(), json!(created));
    obj.remove("container_config");
    obj.remove("container");
    obj.remove("docker_version");
    obj.remove("author");

    // config.*
    let inner = obj.entry("config").or_insert_with(|| json!({}));
    if !inner.is_object() {
        *inner = json!({});
    }
    let c = inner.as_object_mut().expect("just made an object");
    let mut env: Vec<String> = c
        .get("Env")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let get = |env: &Vec<String>, k: &str| env.iter().find_map(|e| e.strip_prefix(&format!("{k}=")).map(str::to_string));
    fn set(env: &mut Vec<String>, k: &str, v: &str) {
        let entry = format!("{k}={v}");
        match env.iter_mut().find(|e| e.split('=').next() == Some(k)) {
            Some(e) => *e = entry,
            None => env.push(entry),
        }
    }
    let mut path = get(&env, "PATH").unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    if !path.split(':').any(|p| p == TOOLS_DIR) {
        path = format!("{path}:{TOOLS_DIR}");
    }
    if spec.deps.is_some() {
        path = format!("{DEPS_DIR}/bin:{path}");
    }
    set(&mut env, "PATH", &path);
    if spec.deps.is_some() {
        let pp = match get(&env, "PYTHONPATH").filter(|p| !p.is_empty()) {
            Some(p) => format!("{DEPS_DIR}:{p}"),
            None => DEPS_DIR.to_string(),
        };
        set(&mut env, "PYTHONPATH", &pp);
    }
    if spec.model.is_some() {
        set(&mut env, "AIDEPLOY_MODEL_DIR", MODEL_DIR);
    }
    set(&mut env, "PORT", &spec.port.to_string());
    set(&mut env, "PYTHONUNBUFFERED", "1");
    // /app is read-only to the app's user: no bytecode files to write.
    set(&mut env, "PYTHONDONTWRITEBYTECODE", "1");
    for (k, v) in &spec.env {
        set(&mut env, k, v);
    }
    c.insert("Env".into(), json!(env));
    let entrypoint = match &spec.entrypoint {
        Entrypoint::Asgi(app) => {
            json!(["python3", "-m", "uvicorn", app, "--host", "0.0.0.0", "--port", spec.port.to_string()])
        }
        Entrypoint::Command(cmd) => json!(["sh", "-c", cmd]),
        Entrypoint::Exec { entrypoint, .. } => json!(entrypoint),
    };
    c.insert("Entrypoint".into(), entrypoint);
    // The base image's Cmd would become arguments of our entrypoint.
    match &spec.entrypoint {
        Entrypoint::Exec { cmd, .. } if !cmd.is_empty() => {
            c.insert("Cmd".into(), json!(cmd));
        }
        _ => {
            c.remove("Cmd");
        }
    }
    c.insert("User".into(), json!(spec.user));
    c.insert("WorkingDir".into(), json!(APP_DIR));
    let mut ports = c.get("ExposedPorts").and_then(Value::as_object).cloned().unwrap_or_default();
    ports.insert(format!("{}/tcp", spec.port), json!({}));
    c.insert("ExposedPorts".into(), Value::Object(ports));
    let mut labels = c.get("Labels").and_then(Value::as_object).cloned().unwrap_or_default();
    labels.insert("dev.aideploy.version".into(), json!(env!("CARGO_PKG_VERSION")));
    if let Some(rev) = &spec.revision {
        labels.insert("org.opencontainers.image.revision".into(), json!(rev));
    }
    if let Some(d) = &spec.manifest_digest {
        labels.insert("dev.aideploy.manifest-digest".into(), json!(d));
    }
    labels.insert("org.opencontainers.image.base.name".into(), json!(spec.base.to_string()));
    labels.insert("org.opencontainers.image.base.digest".into(), json!(base.manifest_digest));
    for (k, v) in &spec.labels {
        labels.insert(k.clone(), json!(v));
    }
    c.insert("Labels".into(), Value::Object(labels));

    // rootfs and history.
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
    obj.insert("rootfs".into(), json!({ "type": "layers", "diff_ids": diff_ids }));
    let base_layers = layers.iter().filter(|l| l.role == LayerRole::Base).count();
    let mut history: Vec<Value> = obj.get("history").and_then(Value::as_array).cloned().unwrap_or_default();
    let non_empty = history.iter().filter(|h| h.get("empty_layer").and_then(Value::as_bool) != Some(true)).count();
    if non_empty != base_layers {
        // The base's history does not describe its layers; describe them plainly.
        history = (0..base_layers).map(|_| json!({ "created": created, "created_by": "base image layer" })).collect();
    }
    for l in layers.iter().filter(|l| l.role != LayerRole::Base) {
        let what = match l.role {
            LayerRole::Deps => format!("aideploy: Python packages in {DEPS_DIR}"),
            LayerRole::Model => format!("aideploy: model weights in {MODEL_DIR}"),
            _ => format!("aideploy: app source in {APP_DIR}"),
        };
        history.push(json!({ "created": created, "created_by": what, "comment": "aideploy" }));
    }
    history.push(json!({ "created": created, "created_by": "aideploy: config (entrypoint, env, user, workdir)", "comment": "aideploy", "empty_layer": true }));
    obj.insert("history".into(), Value::Array(history));
    Ok(canonical_json(&cfg))
}

pub(super) fn image_manifest(config: &BlobFile, layers: &[BuiltLayer], base: &PulledImage) -> Result<Vec<u8>> {
    let layer_descs: Vec<Value> = layers.iter().map(|l| json!({ "mediaType": l.media_type, "digest": l.digest, "size": l.size })).collect();
    let m = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_MANIFEST,
        "config": { "mediaType": MEDIA_CONFIG, "digest": config.digest, "size": config.size },
        "layers": layer_descs,
        "annotations": {
            "org.opencontainers.image.base.digest": base.manifest_digest,
            "org.opencontainers.image.base.name": base.reference.name(),
        },
    });
    Ok(canonical_json(&m))
}

/// JSON with object keys sorted at every level and no insignificant whitespace.
pub fn canonical_json(v: &Value) -> Vec<u8> {
    fn write(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Object(map) => {
                out.push(b'{');
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend(serde_json::to_vec(k).expect("a string serializes"));
                    out.push(b':');
                    write(&map[k], out);
                }
                out.push(b'}');
            }
            Value::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(item, out);
                }
                out.push(b']');
            }
            scalar => out.extend(serde_json::to_vec(scalar).expect("a scalar serializes")),
        }
    }
    let mut out = Vec::new();
    write(v, &mut out);
    out
}
