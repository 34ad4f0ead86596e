//! `aideploy build` through the binary: the Lambda zip and the OCI image for
//! examples/fastapi-rag, pushed to the loopback Distribution registry that scripts/test
//! starts (its base image is the Debian + python3 image the setup builds), with the
//! JSON contract `{"artifact": {kind, digest, bytes, uploaded_bytes, reference, layers}}`.

use crate::common;

use serde_json::Value;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `scripts/test` (it starts the registry and builds the base image)")
    })
}

struct Project {
    home: tempfile::TempDir,
    dir: std::path::PathBuf,
}

impl Project {
    fn new() -> Project {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("rag");
        common::copy_tree(&common::root().join("examples/fastapi-rag"), &dir);
        let manifest = std::fs::read_to_string(dir.join("aideploy.toml"))
            .unwrap()
            .replace("[build]\n", &format!("[build]\nbase_image = \"{}\"\n", env("AIDEPLOY_TEST_BASE_IMAGE")));
        std::fs::write(dir.join("aideploy.toml"), manifest).unwrap();
        Project { home, dir }
    }

    fn run(&self, args: &[&str], registry: Option<&str>) -> (i32, Value, String) {
        let mut cmd = common::aideploy(self.home.path());
        common::offline(&mut cmd);
        if let Some(r) = registry {
            cmd.env("AIDEPLOY_REGISTRY", r);
        }
        let out = cmd.current_dir(&self.dir).args(args).arg("--json").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap(), v, stderr)
    }
}

#[test]
fn build_zip_for_lambda_by_default() {
    let p = Project::new();
    let (code, v, stderr) = p.run(&["build", "--target", "lambda"], None);
    assert_eq!(code, 0, "{stderr}");
    let a = &v["artifact"];
    assert_eq!(a["kind"], "zip");
    assert!(a["digest"].as_str().unwrap().starts_with("sha256:"));
    let path = a["path"].as_str().unwrap();
    let bytes = std::fs::metadata(path).unwrap().len();
    assert_eq!(a["bytes"], bytes);
    assert_eq!(a["uploaded_bytes"], 0);
    // Unchanged: the same digest.
    let (_, again, _) = p.run(&["build", "--package", "zip"], None);
    assert_eq!(again["artifact"]["digest"], a["digest"]);

    let (code, v, stderr) = p.run(&["build", "--package", "zip", "--push"], None);
    assert_eq!(code, 2, "{v}");
    assert!(stderr.contains("--push applies to images"), "{stderr}");
}

#[test]
fn build_and_push_an_image_incrementally() {
    let p = Project::new();
    let (code, v, stderr) = p.run(&["build", "--package", "image", "--push"], None);
    assert_eq!(code, 2, "no registry named: {v}");
    assert!(stderr.contains("[build]") && stderr.contains("AIDEPLOY_REGISTRY"), "{stderr}");

    let repo = format!("{}/cli-test/rag", env("AIDEPLOY_TEST_REGISTRY"));
    let (code, v, stderr) = p.run(&["build", "--package", "image", "--push"], Some(&repo));
    assert_eq!(code, 0, "{stderr}");
    let a = &v["artifact"];
    assert_eq!(a["kind"], "image");
    let digest = a["digest"].as_str().unwrap();
    assert_eq!(a["reference"], format!("{repo}@{digest}"));
    let roles: Vec<&str> = a["layers"].as_array().unwrap().iter().map(|l| l["role"].as_str().unwrap()).collect();
    assert_eq!(roles.last(), Some(&"app"), "{roles:?}");
    assert!(roles.contains(&"deps") && roles.contains(&"base"), "{roles:?}");
    let total = a["bytes"].as_u64().unwrap();
    assert!(a["uploaded_bytes"].as_u64().unwrap() > 0);

    // The registry holds it, tagged with the stage and the digest.
    let (status, body) = common::http("GET", &format!("http://{}/v2/cli-test/rag/tags/list", env("AIDEPLOY_TEST_REGISTRY")), None).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains(&format!("dev-{}", &digest["sha256:".len().."sha256:".len() + 12])), "{body}");

    // Unchanged: nothing is uploaded.
    let (code, v, _) = p.run(&["build", "--package", "image", "--push"], Some(&repo));
    assert_eq!(code, 0);
    assert_eq!(v["artifact"]["digest"], digest);
    assert_eq!(v["artifact"]["uploaded_bytes"], 0);

    // One file changed: only the app layer, config and manifest move.
    let docs = p.dir.join("app/docs.py");
    std::fs::write(&docs, std::fs::read_to_string(&docs).unwrap().replace("Secrets", "Secret values")).unwrap();
    let (code, v, _) = p.run(&["build", "--package", "image", "--push"], Some(&repo));
    assert_eq!(code, 0);
    let a2 = &v["artifact"];
    assert_ne!(a2["digest"], digest);
    let app_layer = a2["layers"].as_array().unwrap().last().unwrap()["bytes"].as_u64().unwrap();
    let uploaded = a2["uploaded_bytes"].as_u64().unwrap();
    assert!(uploaded >= app_layer, "{uploaded} < {app_layer}");
    assert!(uploaded < total / 100, "a one-file change uploaded {uploaded} of {total} bytes");
}

#[test]
fn a_requirement_without_a_wheel_for_the_target_is_a_clear_error() {
    let p = Project::new();
    let reqs = p.dir.join("requirements.txt");
    std::fs::write(&reqs, format!("{}docopt==0.6.2\n", std::fs::read_to_string(&reqs).unwrap())).unwrap();
    let (code, v, stderr) = p.run(&["build", "--target", "lambda"], None);
    assert_eq!(code, 1, "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("docopt 0.6.2") && message.contains("x86_64"), "{message}\n{stderr}");
    assert!(stderr.contains("help:"), "{stderr}");
}

#[test]
fn an_unreachable_base_image_fails_fast_naming_base_image() {
    let p = Project::new();
    let manifest = std::fs::read_to_string(p.dir.join("aideploy.toml")).unwrap();
    let base = env("AIDEPLOY_TEST_BASE_IMAGE");
    // Port 1 on loopback: nothing listens, as no registry answers without a network.
    std::fs::write(p.dir.join("aideploy.toml"), manifest.replace(&base, "127.0.0.1:1/python:3.11-slim")).unwrap();
    let started = std::time::Instant::now();
    let (code, v, stderr) = p.run(&["build", "--package", "image"], None);
    assert_eq!(code, 1, "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "took {:?}", started.elapsed());
    assert_eq!(v["error"]["message"], "cannot read base image 127.0.0.1:1/python:3.11-slim", "{v}");
    assert!(v["error"]["help"].as_str().unwrap().starts_with("set `base_image` in [build]"), "{v}");
    assert!(v["error"]["causes"][0].as_str().unwrap().contains("cannot reach registry 127.0.0.1:1"), "{v}");
}

/// Issue 13 point 11: `build --package image --output FILE` writes the image as an archive
/// that the Docker engine loads and skopeo reads, for running it elsewhere.
#[test]
fn build_output_writes_an_archive_docker_and_skopeo_read() {
    let p = Project::new();
    let archive = p.home.path().join("rag.tar");
    let archive_arg = archive.to_str().unwrap();
    let (code, v, stderr) = p.run(&["build", "--package", "zip", "--output", archive_arg], None);
    assert_eq!(code, 2, "a zip has no archive form: {v}\n{stderr}");
    assert!(!archive.exists());

    let (code, v, stderr) = p.run(&["build", "--package", "image", "--output", archive_arg], None);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["artifact"]["path"], archive_arg, "{v}");
    assert!(std::fs::metadata(&archive).unwrap().len() > 0);

    // skopeo reads it as a docker archive: the same config digest, every layer.
    let out = std::process::Command::new("skopeo").args(["inspect", &format!("docker-archive:{archive_arg}")]).output().unwrap();
    assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = v["artifact"]["layers"].as_array().unwrap().len();
    assert_eq!(seen["Layers"].as_array().unwrap().len(), layers, "{seen}");

    // The engine loads it under the app's name and stage, as the image we built.
    let out = std::process::Command::new("docker").args(["load", "-i", archive_arg]).output().unwrap();
    assert!(out.status.success(), "docker load: {}", String::from_utf8_lossy(&out.stderr));
    let tag = "aideploy/fastapi-rag:dev";
    assert!(String::from_utf8_lossy(&out.stdout).contains(tag), "{}", String::from_utf8_lossy(&out.stdout));
    let id = std::process::Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", tag]).output().unwrap();
    let _ = std::process::Command::new("docker").args(["rmi", "-f", tag]).output();
    assert!(String::from_utf8_lossy(&id.stdout).trim().starts_with("sha256:"), "{}", String::from_utf8_lossy(&id.stderr));
}

/// The dependency cache is keyed on the installer's settings as well as the requirements,
/// and `--refresh` installs again whatever the cache holds.
#[test]
fn dependency_cache_follows_installer_settings_and_refresh() {
    let p = Project::new();
    let deps = p.home.path().join("cache/deps");
    let entries = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&deps)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| !n.contains('.'))
            .collect();
        v.sort();
        v
    };
    let build = |extra_env: &[(&str, &std::path::Path)], refresh: bool| {
        let mut cmd = common::aideploy(p.home.path());
        common::offline(&mut cmd);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.current_dir(&p.dir).args(["build", "--target", "lambda", "--json"]);
        if refresh {
            cmd.arg("--refresh");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["artifact"]["digest"].clone()
    };
    let first = build(&[], false);
    let cached = entries();
    assert_eq!(cached.len(), 1, "{cached:?}");
    // Damage the cached set: a build that reuses it leaves it damaged...
    let marker = deps.join(&cached[0]).join("site/fastapi/__init__.py");
    std::fs::remove_file(&marker).unwrap();
    build(&[], false);
    assert!(!marker.exists(), "the cached set was reused");
    // ...a constraint file is a new cache key: a second set, the first left alone...
    let constraints = p.home.path().join("constraints.txt");
    std::fs::write(&constraints, "fastapi<1000\n").unwrap();
    build(&[("UV_CONSTRAINT", &constraints), ("PIP_CONSTRAINT", &constraints)], false);
    assert_eq!(entries().len(), 2, "{:?}", entries());
    assert!(!marker.exists());
    // ...and --refresh installs the first set again, in place.
    let refreshed = build(&[], true);
    assert!(marker.is_file(), "--refresh installed the dependencies again");
    assert_eq!(entries().len(), 2);
    assert_eq!(refreshed, first, "the same versions make the same zip");
}
