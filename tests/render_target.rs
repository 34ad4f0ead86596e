//! The `render` target end to end through the binary, against the in-repo fake of
//! Render's REST API (tests/fakes/render.rs) and the loopback Distribution registry
//! that scripts/test starts: deploy, unchanged redeploy, code change, a failing deploy,
//! rollback, status and destroy, asserting on the fake's state after each step.

use crate::common;
use crate::fakes::render as fake;

use serde_json::Value;

const SECRET: &str = "sk-render-test-secret-value";
const REGISTRY_PASSWORD: &str = "registry-pass-never-printed";
/// The read-only credential's password Render may pull with.
const PULL_PASSWORD: &str = "pull-token-never-printed";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `scripts/test` (it starts the registry and builds the base image)")
    })
}

struct Project {
    home: tempfile::TempDir,
    dir: std::path::PathBuf,
    endpoint: String,
    repo: String,
    /// Send the push login as AIDEPLOY_REGISTRY_USERNAME/PASSWORD.
    push_login: bool,
    /// More variables for each run.
    extra: Vec<(String, String)>,
}

impl Project {
    fn new(endpoint: &str) -> Project {
        Project::in_repo(endpoint, "render-test/rag")
    }

    fn in_repo(endpoint: &str, path: &str) -> Project {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("rag");
        common::copy_tree(&common::root().join("examples/fastapi-rag"), &dir);
        let manifest = std::fs::read_to_string(dir.join("aideploy.toml"))
            .unwrap()
            .replace("[build]\n", &format!("[build]\nbase_image = \"{}\"\n", env("AIDEPLOY_TEST_BASE_IMAGE")))
            + "\n[targets.render]\nregion = \"frankfurt\"\nhealth_timeout = 30\n";
        std::fs::write(dir.join("aideploy.toml"), manifest).unwrap();
        let repo = format!("{}/{path}", env("AIDEPLOY_TEST_REGISTRY"));
        Project { home, dir, endpoint: endpoint.into(), repo, push_login: true, extra: Vec::new() }
    }

    fn run(&self, args: &[&str]) -> (i32, Value, String) {
        self.run_as(args, Some(SECRET), None)
    }

    /// `run`, with `secret` as $OPENAI_API_KEY (none: unset) and `stdin` piped in.
    fn run_as(&self, args: &[&str], secret: Option<&str>, stdin: Option<&str>) -> (i32, Value, String) {
        let mut cmd = common::aideploy(self.home.path());
        common::offline(&mut cmd);
        if self.push_login {
            cmd.env("AIDEPLOY_REGISTRY_USERNAME", "deployer").env("AIDEPLOY_REGISTRY_PASSWORD", REGISTRY_PASSWORD);
        }
        cmd.envs(self.extra.iter().map(|(k, v)| (k, v)));
        cmd.env("AIDEPLOY_REGISTRY", &self.repo)
            .env("AIDEPLOY_POLL_INTERVAL_MS", "20")
            .env("AIDEPLOY_RENDER_ENDPOINT", &self.endpoint)
            // The settled lease's delay: far above a call to the fake, below the default.
            .env("AIDEPLOY_LEASE_SETTLE_MS", "300");
        if let Some(secret) = secret {
            cmd.env("OPENAI_API_KEY", secret);
        }
        if let Some(text) = stdin {
            cmd.write_stdin(text);
        }
        let out = cmd.current_dir(&self.dir).args(args).args(["--target", "render", "--json", "--yes"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        for secret in [SECRET, REGISTRY_PASSWORD, PULL_PASSWORD] {
            assert!(!stdout.contains(secret) && !stderr.contains(secret), "a secret value in the output of {args:?}:\n{stdout}\n{stderr}");
        }
        let v = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap(), v, stderr)
    }

    /// The tags of the test repository in the registry (none when it does not exist).
    fn tags(&self) -> Vec<String> {
        let (host, path) = self.repo.split_once('/').unwrap();
        let (code, body) = common::http("GET", &format!("http://{host}/v2/{path}/tags/list"), None).unwrap();
        if code == 404 {
            return Vec::new();
        }
        let v: Value = serde_json::from_str(&body).unwrap();
        v["tags"].as_array().map(|t| t.iter().map(|t| t.as_str().unwrap().to_string()).collect()).unwrap_or_default()
    }

    /// `aideploy logs ARGS --target render`, as people run it (no --json unless asked).
    fn logs_command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = common::aideploy_process(self.home.path());
        cmd.env("AIDEPLOY_REGISTRY", &self.repo)
            .env("AIDEPLOY_RENDER_ENDPOINT", &self.endpoint)
            .env("OPENAI_API_KEY", SECRET)
            .env("AIDEPLOY_POLL_INTERVAL_MS", "100")
            .current_dir(&self.dir)
            .arg("logs")
            .args(args)
            .args(["--target", "render"]);
        cmd
    }

    /// The lines `logs ARGS` prints; it must succeed and print no secret.
    fn logs(&self, args: &[&str]) -> Vec<String> {
        let out = self.logs_command(args).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "logs {args:?}: {stderr}");
        assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET), "a secret value in the log: {stdout}");
        stdout.lines().map(str::to_string).collect()
    }

    fn edit(&self, from: &str, to: &str) {
        let docs = self.dir.join("app/docs.py");
        let text = std::fs::read_to_string(&docs).unwrap();
        assert!(text.contains(from));
        std::fs::write(&docs, text.replacen(from, to, 1)).unwrap();
    }
}

#[test]
fn render_deploy_redeploy_fail_rollback_destroy() {
    let fake = fake::FakeRender::start();
    fake.state.lock().unwrap().add_foreign_service("someone-elses-api");
    let mut p = Project::new(&fake.base);
    // A public web service (the private default has its own test).
    let manifest = p.dir.join("aideploy.toml");
    std::fs::write(&manifest, std::fs::read_to_string(&manifest).unwrap() + "public = true\n").unwrap();
    // The push login is the deployer's; Render gets the read-only pull pair only.
    p.extra = vec![("AIDEPLOY_PULL_USERNAME".into(), "reader".into()), ("AIDEPLOY_PULL_PASSWORD".into(), PULL_PASSWORD.into())];
    let name = "fastapi-rag-dev";

    // The plan from nothing changes nothing: no call that writes, nothing pushed; it
    // shows the push with its size.
    let (code, v, stderr) = p.run(&["plan"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let push = v["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "push image").expect("a push row").clone();
    assert_eq!(push["op"], "create", "{v}");
    assert!(push["id"].as_str().unwrap().starts_with(&format!("{}@sha256:", p.repo)), "{push}");
    assert!(push["reason"].as_str().unwrap().ends_with("to upload"), "{push}");
    assert_eq!(fake.state.lock().unwrap().mutations, 0);
    assert_eq!(p.tags(), Vec::<String>::new());

    // First deploy: a web service running the image by digest.
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["health"], "passed", "{v}");
    assert_eq!(v["url"], format!("https://{name}.onrender.com"));
    let first = v["artifact"]["digest"].as_str().unwrap().to_string();
    {
        let st = fake.state.lock().unwrap();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        let s = st.service(name).expect("service created");
        assert_eq!(s.image_path, format!("{}@{first}", p.repo));
        assert_eq!(s.health_path, "/health");
        assert_eq!(s.region, "frankfurt");
        assert_eq!(s.env.get("LOG_LEVEL").map(String::as_str), Some("info"));
        assert_eq!(s.env.get("OPENAI_MODEL").map(String::as_str), Some("gpt-4o-mini"));
        assert_eq!(s.env.get("OPENAI_API_KEY").map(String::as_str), Some(SECRET));
        assert_eq!(s.deploys[0].status, "live");
        // Render holds exactly the configured pull pair, as the one registry credential
        // the service names; never the push login, and the app does not get it.
        assert_eq!(st.credentials.len(), 1, "{:?}", st.credentials);
        let c = &st.credentials[0];
        assert!(c.name.starts_with("aideploy-pull-") && c.name.ends_with(name), "{}", c.name);
        assert_eq!((c.username.as_str(), c.token.as_str(), c.registry.as_str()), ("reader", PULL_PASSWORD, "DOCKER"));
        assert_eq!(s.credential.as_deref(), Some(c.id.as_str()));
        assert!(!s.env.values().any(|v| v.contains(PULL_PASSWORD)));
        // The mark that makes it aideploy's.
        assert_eq!(s.env.get("AIDEPLOY_OWNER").map(String::as_str), Some("fastapi-rag/dev/render"));
    }
    assert_eq!(p.tags().len(), 1, "apply pushed the image");

    // Unchanged: no mutating call at all.
    let before = fake.state.lock().unwrap().mutations;
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["changed"], false, "{v}");
    assert_eq!(fake.state.lock().unwrap().mutations, before);

    // A code change and a changed variable: a new deploy, only that variable written.
    p.edit("Secrets", "Secret values");
    std::fs::write(&manifest, std::fs::read_to_string(&manifest).unwrap().replace("LOG_LEVEL = \"info\"", "LOG_LEVEL = \"debug\""))
        .unwrap();
    // Its plan, from a deployed state, writes nothing either.
    let (code, v, stderr) = p.run(&["plan"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let ops: Vec<String> = v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{} {}", a["op"].as_str().unwrap(), a["resource"].as_str().unwrap()))
        .collect();
    assert!(ops.contains(&"create push image".to_string()) && ops.contains(&"create deploy".to_string()), "{v}");
    assert_eq!(fake.state.lock().unwrap().mutations, before);
    assert_eq!(p.tags().len(), 1, "plan pushed nothing");
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let second = v["artifact"]["digest"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    let vars: Vec<&str> =
        v["actions"].as_array().unwrap().iter().filter(|a| a["resource"] == "variable").map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(vars, ["LOG_LEVEL"], "{v}");
    {
        let st = fake.state.lock().unwrap();
        let s = st.service(name).unwrap();
        assert_eq!(s.image_path, format!("{}@{second}", p.repo));
        assert_eq!(s.env["LOG_LEVEL"], "debug");
        assert_eq!(s.deploys[0].status, "live");
        assert_eq!(s.deploys[1].status, "deactivated");
    }

    // A deploy that fails on Render: exit 3, the previous deploy keeps serving.
    p.edit("Secret values", "Secret things");
    let (code, built, stderr) = p.run(&["build", "--package", "image"]);
    assert_eq!(code, 0, "{stderr}");
    let third = built["artifact"]["digest"].as_str().unwrap().to_string();
    fake.state.lock().unwrap().bad.insert(third.clone());
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 3, "{v}\n{stderr}");
    assert_eq!(v["health"], "failed");
    assert!(v["failure"].as_str().unwrap().contains("update_failed"), "{v}");
    {
        let st = fake.state.lock().unwrap();
        let s = st.service(name).unwrap();
        assert_eq!(s.deploys[0].status, "update_failed");
        let live: Vec<_> = s.deploys.iter().filter(|d| d.status == "live").collect();
        assert_eq!(live.len(), 1);
        assert!(live[0].image_ref.ends_with(&second));
    }
    let (code, v, _) = p.run(&["status"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["digest"], second.as_str());
    assert_eq!(v["url"], format!("https://{name}.onrender.com"));

    // Rollback: Render's own rollback to the deploy before the live one.
    let (code, v, stderr) = p.run(&["rollback"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["digest"], first.as_str(), "{v}");
    {
        let st = fake.state.lock().unwrap();
        let s = st.service(name).unwrap();
        assert_eq!(s.deploys[0].trigger, "rollback");
        assert_eq!(s.deploys[0].status, "live");
        assert!(s.deploys[0].image_ref.ends_with(&first));
    }

    // Destroy: the service and the credential aideploy made, nothing else.
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    {
        let st = fake.state.lock().unwrap();
        assert!(st.service(name).is_none());
        assert!(st.credentials.is_empty());
        assert!(st.env_groups.is_empty(), "the lease's environment group is deleted last: {:?}", st.env_groups);
        assert!(st.service("someone-elses-api").is_some());
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    }
    let (code, v, _) = p.run(&["status"]);
    assert_eq!(code, 0);
    assert_eq!(v["deployed"], false);
}

#[test]
fn render_needs_a_registry_and_a_key() {
    let fake = fake::FakeRender::start();
    let p = Project::new(&fake.base);
    let mut cmd = common::aideploy(p.home.path());
    let out = cmd.current_dir(&p.dir).env("AIDEPLOY_RENDER_ENDPOINT", &p.endpoint).args(["plan", "--target", "render"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("[build]") && stderr.contains("AIDEPLOY_REGISTRY"), "{stderr}");

    let mut cmd = common::aideploy(p.home.path());
    let out = cmd.current_dir(&p.dir).env("AIDEPLOY_REGISTRY", &p.repo).args(["plan", "--target", "render"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("RENDER_API_KEY"), "{stderr}");
    assert_eq!(fake.state.lock().unwrap().mutations, 0);
}

#[test]
fn render_refuses_a_same_named_service_it_did_not_make() {
    let fake = fake::FakeRender::start();
    let name = "fastapi-rag-dev";
    fake.state.lock().unwrap().add_foreign_service(name);
    let p = Project::in_repo(&fake.base, "render-foreign/rag");
    let before = fake.state.lock().unwrap().service(name).cloned().unwrap();
    for cmd in ["deploy", "destroy"] {
        let (code, v, stderr) = p.run(&[cmd]);
        assert_eq!(code, 2, "{cmd}: {v}\n{stderr}");
        assert!(stderr.contains(name) && stderr.contains("AIDEPLOY_OWNER") && stderr.contains("rename the app or stage"), "{stderr}");
        let st = fake.state.lock().unwrap();
        let after = st.service(name).expect("the foreign service is still there");
        assert_eq!((&after.image_path, &after.env, after.deploys.len()), (&before.image_path, &before.env, before.deploys.len()));
        assert_eq!(st.mutations, 0, "{cmd} changed something");
        assert!(st.credentials.is_empty());
    }
    assert_eq!(p.tags(), Vec::<String>::new(), "nothing pushed for a refused deploy");
}

/// A lease environment group as another run (or someone else) left it.
fn env_group(fake: &fake::FakeRender, id: &str, created: &str, env: &[(&str, &str)]) {
    fake.state.lock().unwrap().env_groups.push(fake::EnvGroup {
        id: id.into(),
        name: "aideploy-lease-fastapi-rag-dev-render".into(),
        owner: "tea-fake".into(),
        created: created.into(),
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    });
}

/// The deploy lease: Render's API has no conditional write, so it is a settled register,
/// a variable of an environment group of its own (it exists before the service does).
/// A run that finds it held gives up after `--lock-timeout` with exit 1, naming the
/// holder and changing nothing; when two groups of the name exist, the oldest is the
/// lease; an expired lease is taken over (and said so); destroy deletes the group last.
#[test]
fn render_lease_waits_for_the_holder_and_takes_over_a_stale_one() {
    let fake = fake::FakeRender::start();
    let p = Project::in_repo(&fake.base, "render-lease/rag");
    let lease = "aideploy-lease-fastapi-rag-dev-render";
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let record = |id: &str, expires: u64| {
        serde_json::json!({"id": id, "holder": "ci@elsewhere", "host": "elsewhere", "pid": 4242, "command": "deploy", "since": now, "expires": expires})
            .to_string()
    };
    let mark = "fastapi-rag/dev/render";
    // Another machine's run holds it; a newer group of the same name (a concurrent first
    // run's) says it is free, but the oldest group is the lease.
    env_group(&fake, "evg-newer", "2026-11-22T05:00:00Z", &[("AIDEPLOY_OWNER", mark), ("AIDEPLOY_LEASE", &record("newer", now - 1))]);
    env_group(&fake, "evg-older", "2026-11-22T04:00:00Z", &[("AIDEPLOY_OWNER", mark), ("AIDEPLOY_LEASE", &record("other-run", now + 600))]);
    let before = fake.state.lock().unwrap().mutations;
    let (code, v, stderr) = p.run(&["deploy", "--lock-timeout", "1s"]);
    assert_eq!(code, 1, "{v}\n{stderr}");
    assert!(stderr.contains("another run holds the lease") && stderr.contains("deploy by ci@elsewhere (pid 4242)"), "{stderr}");
    assert!(stderr.contains(&format!("environment group {lease}")), "{stderr}");
    assert_eq!(fake.state.lock().unwrap().mutations, before, "the run that did not get the lease changed something");
    assert!(fake.state.lock().unwrap().service("fastapi-rag-dev").is_none());

    // Expired: taken over, said so; the deploy goes on and gives the lease back.
    {
        let mut st = fake.state.lock().unwrap();
        st.env_groups.retain(|g| g.id == "evg-older");
        st.env_groups[0].env.insert("AIDEPLOY_LEASE".into(), record("other-run", now - 1));
    }
    let (code, v, stderr) = p.run(&["deploy", "--lock-timeout", "1s"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert!(stderr.contains("took over a stale lease") && stderr.contains("ci@elsewhere"), "{stderr}");
    {
        let st = fake.state.lock().unwrap();
        assert!(st.service("fastapi-rag-dev").is_some());
        assert_eq!(st.env_groups.len(), 1, "{:?}", st.env_groups);
        let rec: Value = serde_json::from_str(&st.env_groups[0].env["AIDEPLOY_LEASE"]).unwrap();
        assert_eq!(rec["released"], true, "{rec}");
        assert_ne!(rec["id"], "other-run");
        // The lease's variables are not the service's.
        assert!(!st.service("fastapi-rag-dev").unwrap().env.contains_key("AIDEPLOY_LEASE"));
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    }

    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let st = fake.state.lock().unwrap();
    assert!(st.env_groups.is_empty() && st.services.is_empty(), "{:?}", st.env_groups);
}

/// A group of the lease's name that aideploy did not make is refused, named, and kept.
#[test]
fn render_lease_refuses_an_environment_group_that_is_not_its_own() {
    let fake = fake::FakeRender::start();
    let p = Project::in_repo(&fake.base, "render-lease-foreign/rag");
    env_group(&fake, "evg-theirs", "2026-11-22T04:00:00Z", &[("DATABASE_URL", "theirs")]);
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 1, "{v}\n{stderr}");
    assert!(stderr.contains("aideploy-lease-fastapi-rag-dev-render") && stderr.contains("is not aideploy's deploy lease"), "{stderr}");
    let st = fake.state.lock().unwrap();
    assert_eq!(st.mutations, 0);
    assert_eq!(st.env_groups.len(), 1);
    assert_eq!(st.env_groups[0].env.get("DATABASE_URL").map(String::as_str), Some("theirs"));
    assert!(st.services.is_empty());
}

/// Issue 12 point 1: Render gets only a pull credential configured for it. With a login
/// only in the Docker configuration and none configured, Render holds no credential and
/// the deploy works (the image is pulled anonymously). The credential an earlier
/// aideploy registered (`aideploy-{app}-{stage}`, the push login) is deleted when none
/// is configured, and holds the configured pull pair when one is; a changed pull
/// password is put in place.
#[test]
fn render_gets_only_the_configured_pull_credential() {
    let fake = fake::FakeRender::start();
    let mut p = Project::in_repo(&fake.base, "render-pull/rag");
    let host = p.repo.split('/').next().unwrap().to_string();
    let config = crate::railway_target::docker_config_with_login(p.home.path(), &host, REGISTRY_PASSWORD);
    p.push_login = false;
    p.extra = vec![("DOCKER_CONFIG".into(), config.display().to_string())];
    let name = "fastapi-rag-dev";
    // What an earlier aideploy left: the push login registered, the service naming it.
    let as_earlier_aideploy_left_it = |fake: &fake::FakeRender| {
        let mut st = fake.state.lock().unwrap();
        let owner = st.owners[0].0.clone();
        st.credentials.push(fake::Credential {
            id: "rgc-earlier".into(),
            name: format!("aideploy-{name}"),
            registry: "DOCKER".into(),
            username: "deployer".into(),
            token: REGISTRY_PASSWORD.into(),
            owner,
        });
        st.services.iter_mut().find(|s| s.name == name).unwrap().credential = Some("rgc-earlier".into());
    };
    let rows = |v: &Value| -> Vec<String> {
        v["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["resource"] == "registry-credential")
            .map(|a| format!("{} {}", a["op"].as_str().unwrap(), a["reason"].as_str().unwrap_or_default()))
            .collect()
    };

    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["health"], "passed", "{v}");
    assert!(stderr.contains("Render pulls") && stderr.contains("anonymously, so the image must be public"), "{stderr}");
    {
        let st = fake.state.lock().unwrap();
        assert!(st.credentials.is_empty(), "Render got a credential nobody configured for it");
        assert_eq!(st.service(name).unwrap().credential, None);
    }

    // An earlier aideploy's push login, none configured now: the service stops naming
    // it, then it is deleted.
    as_earlier_aideploy_left_it(&fake);
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let shown = rows(&v);
    assert!(shown.len() == 1 && shown[0].starts_with("delete ") && shown[0].contains("push login"), "{v}");
    {
        let st = fake.state.lock().unwrap();
        assert!(st.credentials.is_empty(), "{:?}", st.credentials.iter().map(|c| &c.name).collect::<Vec<_>>());
        assert_eq!(st.service(name).unwrap().credential, None);
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    }

    // Again, now with a push login in the environment and a pull pair configured: the
    // earlier credential holds exactly the pull pair, under its new name.
    as_earlier_aideploy_left_it(&fake);
    p.push_login = true;
    p.extra = vec![("AIDEPLOY_PULL_USERNAME".into(), "reader".into()), ("AIDEPLOY_PULL_PASSWORD".into(), PULL_PASSWORD.into())];
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let shown = rows(&v);
    assert!(shown.len() == 1 && shown[0].starts_with("update ") && shown[0].contains("earlier aideploy"), "{v}");
    let first_name = {
        let st = fake.state.lock().unwrap();
        assert_eq!(st.credentials.len(), 1);
        let c = &st.credentials[0];
        assert_eq!((c.id.as_str(), c.username.as_str(), c.token.as_str()), ("rgc-earlier", "reader", PULL_PASSWORD));
        assert!(c.name.starts_with("aideploy-pull-"), "{}", c.name);
        assert_eq!(st.service(name).unwrap().credential.as_deref(), Some("rgc-earlier"));
        c.name.clone()
    };

    // Unchanged: nothing written. A new pull password: put in place.
    let before = fake.state.lock().unwrap().mutations;
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!((code, &v["changed"]), (0, &Value::Bool(false)), "{v}\n{stderr}");
    assert_eq!(fake.state.lock().unwrap().mutations, before);
    let rotated = "pull-token-rotated-never-printed";
    p.extra[1].1 = rotated.into();
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert!(!stderr.contains(rotated) && !v.to_string().contains(rotated));
    let st = fake.state.lock().unwrap();
    assert_eq!(st.credentials.len(), 1);
    assert_eq!((st.credentials[0].username.as_str(), st.credentials[0].token.as_str()), ("reader", rotated));
    assert_ne!(st.credentials[0].name, first_name, "the name carries the credential's fingerprint");
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
}

/// A cloud registry and no pull credential: refused with exit 2 before anything is
/// built, pushed or created, naming the read-only credential to make and where it goes.
#[test]
fn render_refuses_a_cloud_registry_without_a_pull_credential() {
    let fake = fake::FakeRender::start();
    let mut p = Project::new(&fake.base);
    for (repo, names) in [
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/app", "ecr:BatchGetImage"),
        ("us-docker.pkg.dev/proj/repo/app", "roles/artifactregistry.reader"),
        ("acme.azurecr.io/app", "content/read"),
    ] {
        p.repo = repo.into();
        for cmd in ["deploy", "plan"] {
            let (code, v, stderr) = p.run(&[cmd]);
            assert_eq!(code, 2, "{repo} {cmd}: {v}\n{stderr}");
            assert!(
                stderr.contains(names) && stderr.contains("pull_password_secret") && stderr.contains("AIDEPLOY_PULL_PASSWORD"),
                "{stderr}"
            );
        }
    }
    // Half a pull credential in the environment: refused too, naming the other half.
    p.repo = format!("{}/render-half/rag", env("AIDEPLOY_TEST_REGISTRY"));
    p.extra = vec![("AIDEPLOY_PULL_USERNAME".into(), "reader".into())];
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 2, "{v}\n{stderr}");
    assert!(stderr.contains("AIDEPLOY_PULL_USERNAME is set but AIDEPLOY_PULL_PASSWORD is not"), "{stderr}");
    let st = fake.state.lock().unwrap();
    assert_eq!(st.mutations, 0);
    assert!(st.services.is_empty() && st.credentials.is_empty() && st.env_groups.is_empty());
}

/// Private unless `public = true`: a default deploy is a private service (no health
/// check path, `PORT` the app's port, no public URL); `public = true` replaces it with a
/// web service (Render cannot change the type), private again replaces it back; a
/// foreign service is untouched and the one pull credential stays.
#[test]
fn render_is_private_unless_public() {
    let fake = fake::FakeRender::start();
    fake.state.lock().unwrap().add_foreign_service("someone-elses-api");
    let mut p = Project::in_repo(&fake.base, "render-private/rag");
    p.extra = vec![("AIDEPLOY_PULL_USERNAME".into(), "reader".into()), ("AIDEPLOY_PULL_PASSWORD".into(), PULL_PASSWORD.into())];
    let name = "fastapi-rag-dev";

    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["health"], "passed", "{v}");
    assert!(v["url"].is_null(), "no public URL: {v}");
    assert!(stderr.contains("private service") && stderr.contains("/health is not checked"), "{stderr}");
    let first_id = {
        let st = fake.state.lock().unwrap();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        let s = st.service(name).unwrap();
        assert_eq!(s.kind, "private_service");
        assert_eq!(s.health_path, "", "Render takes no health check path for a private service");
        assert_eq!(s.env.get("PORT").map(String::as_str), Some("8000"));
        assert_eq!(s.deploys[0].status, "live");
        s.id.clone()
    };
    let (code, v, _) = p.run(&["status"]);
    assert_eq!(code, 0, "{v}");
    assert!(v["url"].is_null(), "{v}");
    assert_eq!((v["details"]["type"].as_str(), v["details"]["public"].as_bool()), (Some("private_service"), Some(false)), "{v}");
    assert_eq!(v["details"]["private_address"], format!("{name}:8000"), "{v}");
    // Unchanged: nothing to do.
    let (code, v, _) = p.run(&["deploy"]);
    assert_eq!((code, v["changed"].as_bool()), (0, Some(false)), "{v}");

    // public = true: the plan replaces the service, the deploy makes a web service.
    let manifest = p.dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}public = true\n")).unwrap();
    let (code, v, stderr) = p.run(&["plan"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let services: Vec<String> = v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["resource"] == "service")
        .map(|a| format!("{} {} ({})", a["op"].as_str().unwrap(), a["id"].as_str().unwrap(), a["reason"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(services.len(), 2, "{services:?}");
    assert!(services[0].starts_with(&format!("delete {name} ({first_id})")) && services[0].contains("cannot change"), "{services:?}");
    assert!(services[1].starts_with(&format!("create {name}")) && services[1].contains("web service"), "{services:?}");
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["url"], format!("https://{name}.onrender.com"), "{v}");
    let web_id = {
        let st = fake.state.lock().unwrap();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        let ours: Vec<_> = st.services.iter().filter(|s| s.name == name).collect();
        assert_eq!(ours.len(), 1, "the private service is gone");
        assert_eq!((ours[0].kind.as_str(), ours[0].health_path.as_str()), ("web_service", "/health"));
        assert_ne!(ours[0].id, first_id);
        assert!(!ours[0].env.contains_key("PORT"), "{:?}", ours[0].env);
        assert_eq!(st.credentials.len(), 1);
        assert_eq!(ours[0].credential.as_deref(), Some(st.credentials[0].id.as_str()));
        ours[0].id.clone()
    };

    // Private again: replaced back; then converged.
    std::fs::write(&manifest, &text).unwrap();
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert!(v["url"].is_null(), "{v}");
    {
        let st = fake.state.lock().unwrap();
        let ours: Vec<_> = st.services.iter().filter(|s| s.name == name).collect();
        assert_eq!(ours.len(), 1);
        assert_eq!(ours[0].kind, "private_service");
        assert_ne!(ours[0].id, web_id);
        let foreign = st.service("someone-elses-api").unwrap();
        assert_eq!((foreign.kind.as_str(), foreign.image_path.as_str()), ("web_service", "docker.io/library/nginx@sha256:0000"));
        assert_eq!(st.credentials.len(), 1);
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    }
    let (code, v, _) = p.run(&["deploy"]);
    assert_eq!((code, v["changed"].as_bool()), (0, Some(false)), "{v}");
}

#[test]
fn render_logs_read_the_service_a_page_at_a_time() {
    let fake = fake::FakeRender::start();
    let p = Project::new(&fake.base);
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let ours = {
        let mut st = fake.state.lock().unwrap();
        st.add_foreign_service("someone-elses-api");
        let ours = st.service("fastapi-rag-dev").unwrap().id.clone();
        let theirs = st.service("someone-elses-api").unwrap().id.clone();
        st.add_log(&ours, &common::rfc3339_ago(2 * 3600), "an old line");
        // More than a page (100) of lines in the hour, oldest first.
        for i in 1..=130u64 {
            st.add_log(&ours, &common::rfc3339_ago(300 - i), &format!("request {i}"));
        }
        st.add_log(&theirs, &common::rfc3339_ago(60), "another service's line");
        st.add_log(&ours, &common::rfc3339_ago(20), &format!("the key is {SECRET}"));
        st.add_log(&ours, &common::rfc3339_ago(10), "POST /ask 200");
        ours
    };

    // -n 2: the last two, oldest first, the secret masked.
    let lines = p.logs(&["-n", "2"]);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("the key is ") && lines[0].starts_with("20") && lines[0].as_bytes()[10] == b'T', "{lines:?}");
    assert!(lines[1].ends_with("  POST /ask 200"), "{lines:?}");

    // --json, more lines than a page: one object per line, the instance as its stream.
    let objects: Vec<Value> = p.logs(&["--json", "-n", "120"]).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let messages: Vec<&str> = objects.iter().map(|o| o["message"].as_str().unwrap()).collect();
    assert_eq!(messages.len(), 120, "{messages:?}");
    assert_eq!((messages[0], messages[117], messages[119]), ("request 13", "request 130", "POST /ask 200"));
    assert_eq!(objects[0]["stream"], format!("{ours}-abcde").as_str());
    assert!(objects[0]["timestamp"].as_str().is_some_and(|t| t.ends_with('Z') && t.len() == 20), "{objects:?}");
    assert!(!messages.contains(&"another service's line") && !messages.contains(&"an old line"), "{messages:?}");

    // The whole hour, then three: the old line comes in.
    let hour = p.logs(&["-n", "1000"]);
    assert_eq!(hour.len(), 132, "{hour:?}");
    assert!(hour[0].ends_with("  request 1"), "{hour:?}");
    let lines = p.logs(&["--since", "3h", "-n", "1000"]);
    assert_eq!(lines.len(), 133, "{lines:?}");
    assert!(lines[0].ends_with("  an old line"), "{lines:?}");

    // -f: what arrives after it started.
    let (mut child, rx) = common::spawn_lines(p.logs_command(&["-f", "-n", "1"]));
    let last = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the last line first");
    assert!(last.ends_with("POST /ask 200"), "{last}");
    fake.state.lock().unwrap().add_log(&ours, &common::rfc3339_ago(0), "a new request");
    let next = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the new line while following");
    assert!(next.ends_with("a new request"), "{next}");
    let _ = child.kill();
    let _ = child.wait();
    let st = fake.state.lock().unwrap();
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
}

/// `aideploy secrets` keeps a secret in the service's env vars: set writes it without a
/// deploy, list shows a fingerprint and no value, get prints it only when asked, a deploy
/// without a local value keeps it, one with neither stops before any change, and
/// `set --deploy` rolls the app onto a new value.
#[test]
fn render_secrets_live_in_the_service_env_vars() {
    const STORED: &str = "sk-stored-in-render-value-1";
    const NEWER: &str = "sk-stored-in-render-value-2";
    let fake = fake::FakeRender::start();
    let p = Project::in_repo(&fake.base, "render-secrets/rag");
    // A required secret this time.
    let manifest = p.dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("OPENAI_API_KEY = { optional = true }"));
    std::fs::write(&manifest, text.replace("OPENAI_API_KEY = { optional = true }", "OPENAI_API_KEY = {}")).unwrap();
    let name = "fastapi-rag-dev";
    let set = |value: &str, more: &[&str]| {
        let args: Vec<&str> = ["secrets", "set", "OPENAI_API_KEY", "--stdin"].iter().chain(more).copied().collect();
        p.run_as(&args, None, Some(&format!("{value}\n")))
    };
    let service = || fake.state.lock().unwrap().service(name).cloned();
    let stored = || service().and_then(|s| s.env.get("OPENAI_API_KEY").cloned());
    let deploys = || service().map(|s| s.deploys.len()).unwrap_or(0);

    // Nothing deployed: no service to keep it in, and a deploy with the secret in
    // neither place stops before anything is created or pushed.
    let (code, _, stderr) = set(STORED, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("deploy first"), "{stderr}");
    let (code, _, stderr) = p.run_as(&["deploy"], None, None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("$OPENAI_API_KEY") && stderr.contains("aideploy secrets set OPENAI_API_KEY --target render"), "{stderr}");
    assert_eq!(fake.state.lock().unwrap().mutations, 0);
    assert_eq!(p.tags(), Vec::<String>::new(), "pushed before refusing");

    // A first deploy with the value in the environment.
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(stored().as_deref(), Some(SECRET));
    let before = deploys();

    // set: updated, then unchanged; the env var holds the new value and no deploy was
    // made (the running one keeps the old value until the next deploy).
    let (code, v, stderr) = set(STORED, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["op"], "updated", "{v}");
    let version = v["version"].as_str().expect("a version").to_string();
    assert_eq!(stored().as_deref(), Some(STORED));
    assert_eq!(deploys(), before, "set deployed");
    let (code, v, _) = set(STORED, &[]);
    assert_eq!((code, v["op"].as_str()), (0, Some("unchanged")), "{v}");
    assert_eq!(v["version"], version.as_str(), "same value, same version");

    // list: the secret, its fingerprint, no value.
    let (code, listed, stderr) = p.run_as(&["secrets", "list"], None, None);
    assert_eq!(code, 0, "{stderr}");
    assert!(!listed.to_string().contains(STORED) && !stderr.contains(STORED), "{listed}");
    let rows = listed["secrets"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{listed}");
    assert_eq!((rows[0]["name"].as_str(), rows[0]["stored"].as_bool()), (Some("OPENAI_API_KEY"), Some(true)), "{listed}");
    assert_eq!(rows[0]["version"], version.as_str());
    assert_eq!(version.len(), 12);

    // get: only with --reveal when stdout is not a terminal.
    let (code, v, _) = p.run_as(&["secrets", "get", "OPENAI_API_KEY", "--reveal"], None, None);
    assert_eq!((code, v["value"].as_str()), (0, Some(STORED)), "{v}");
    let (code, v, stderr) = p.run_as(&["secrets", "get", "OPENAI_API_KEY"], None, None);
    assert_eq!(code, 2, "{v}");
    assert!(stderr.contains("--reveal") && !stderr.contains(STORED), "{stderr}");

    // A deploy (of changed code) with no local value keeps the stored one.
    p.edit("Secrets", "Secret values");
    let (code, v, stderr) = p.run_as(&["deploy"], None, None);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["health"], "passed", "{v}");
    assert_eq!(deploys(), before + 1);
    assert_eq!(stored().as_deref(), Some(STORED));
    let before = deploys();

    // rm: gone from the env vars, with no deploy; list says not stored.
    let (code, v, stderr) = p.run_as(&["secrets", "rm", "OPENAI_API_KEY"], None, None);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(stored(), None);
    assert_eq!(deploys(), before, "rm deployed");
    let (_, v, _) = p.run_as(&["secrets", "list"], None, None);
    assert_eq!(v["secrets"][0]["stored"], false, "{v}");

    // Now in neither place: the deploy stops before any change.
    let mutations = fake.state.lock().unwrap().mutations;
    let (code, _, stderr) = p.run_as(&["deploy"], None, None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("aideploy secrets set OPENAI_API_KEY --target render"), "{stderr}");
    assert_eq!(fake.state.lock().unwrap().mutations, mutations);

    // set creates it again; with --deploy the app rolls onto the new value (the image
    // is the one deployed: only the stored value moved).
    let (code, v, _) = set(STORED, &[]);
    assert_eq!((code, v["op"].as_str()), (0, Some("created")), "{v}");
    assert_eq!(deploys(), before);
    let (code, v, stderr) = set(NEWER, &["--deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!((v["secret"]["op"].as_str(), v["deploy"]["health"].as_str()), (Some("updated"), Some("passed")), "{v}");
    let rolled = v["deploy"]["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "deploy").cloned().unwrap();
    assert_eq!((rolled["op"].as_str(), rolled["reason"].as_str()), (Some("create"), Some("secrets changed")), "{v}");
    assert_eq!(stored().as_deref(), Some(NEWER));
    assert_eq!(deploys(), before + 1);
    assert_eq!(service().unwrap().deploys.iter().filter(|d| d.status == "live").count(), 1);
    assert!(fake.state.lock().unwrap().rejected.is_empty(), "{:?}", fake.state.lock().unwrap().rejected);
}

/// `status --metrics`: Render's `/metrics/http-requests` by status code and
/// `/metrics/http-latency` quantiles over the last hour, from requests the test puts
/// into the fake; requests older than the hour are not counted.
#[test]
fn render_status_metrics_come_from_the_metrics_api() {
    let fake = fake::FakeRender::start();
    let p = Project::new(&fake.base);
    let manifest = p.dir.join("aideploy.toml");
    std::fs::write(&manifest, std::fs::read_to_string(&manifest).unwrap() + "public = true\n").unwrap();
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    {
        let mut st = fake.state.lock().unwrap();
        let id = st.service("fastapi-rag-dev").unwrap().id.clone();
        // 100 requests: 95 answered 200 in 1..=95 ms, 5 answered 503 in 96..=100 ms.
        let ok: Vec<f64> = (1..=95).map(f64::from).collect();
        let failed: Vec<f64> = (96..=100).map(f64::from).collect();
        st.metrics.add(&id, now - 20 * 60_000, 200, &ok);
        st.metrics.add(&id, now - 10 * 60_000, 503, &failed);
        st.metrics.add(&id, now - 2 * 3_600_000, 500, &[5000.0; 40]);
        st.metrics.add("srv-someone-else", now - 10 * 60_000, 500, &[7000.0; 30]);
    }
    let (code, v, stderr) = p.run(&["status", "--metrics"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let m = &v["metrics"];
    assert_eq!((m["requests"].as_u64(), m["errors"].as_u64()), (Some(100), Some(5)), "{m}");
    assert_eq!(m["error_rate"], 0.05, "{m}");
    assert_eq!((m["p50_ms"].as_f64(), m["p95_ms"].as_f64()), (Some(50.0), Some(95.0)), "{m}");
    assert!(m["source"].as_str().unwrap().starts_with("Render API /metrics/http-requests"), "{m}");
    let st = fake.state.lock().unwrap();
    assert_eq!(st.metrics.calls, 2);
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    drop(st);
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
}
