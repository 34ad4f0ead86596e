//! The `railway` target end to end through the binary, against the in-repo fake of
//! Railway's GraphQL API (tests/fakes/railway.rs) and the loopback Distribution registry
//! that scripts/test starts: deploy, unchanged redeploy, code change, a failing
//! deployment, rollback, status and destroy, asserting on the fake's state after each
//! step; a project that aideploy did not create; a project token; missing settings.

use crate::common;
use crate::fakes::railway as fake;

use serde_json::Value;

const SECRET: &str = "sk-railway-test-secret-value";
const REGISTRY_PASSWORD: &str = "registry-pass-never-printed";
/// The read-only credential's password Railway may pull with.
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
    /// (name, value) of the Railway token variable to set.
    token: (&'static str, &'static str),
    /// Send the push login as AIDEPLOY_REGISTRY_USERNAME/PASSWORD.
    push_login: bool,
    /// More variables for each run.
    extra: Vec<(String, String)>,
}

impl Project {
    fn new(endpoint: &str) -> Project {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("rag");
        common::copy_tree(&common::root().join("examples/fastapi-rag"), &dir);
        let manifest = std::fs::read_to_string(dir.join("aideploy.toml"))
            .unwrap()
            .replace("[build]\n", &format!("[build]\nbase_image = \"{}\"\n", env("AIDEPLOY_TEST_BASE_IMAGE")))
            + "\n[targets.railway]\nhealth_timeout = 30\n";
        std::fs::write(dir.join("aideploy.toml"), manifest).unwrap();
        let repo = format!("{}/railway-test/rag", env("AIDEPLOY_TEST_REGISTRY"));
        Project {
            home,
            dir,
            endpoint: endpoint.into(),
            repo,
            token: ("RAILWAY_API_TOKEN", "account-token"),
            push_login: true,
            extra: Vec::new(),
        }
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
            .env("AIDEPLOY_RAILWAY_ENDPOINT", &self.endpoint)
            .env(self.token.0, self.token.1)
            // The settled lease's delay: far above a call to the fake, below the default.
            .env("AIDEPLOY_LEASE_SETTLE_MS", "300");
        if let Some(secret) = secret {
            cmd.env("OPENAI_API_KEY", secret);
        }
        if let Some(text) = stdin {
            cmd.write_stdin(text);
        }
        let out = cmd.current_dir(&self.dir).args(args).args(["--target", "railway", "--json", "--yes"]).output().unwrap();
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

    /// `aideploy logs ARGS --target railway`, as people run it (no --json unless asked).
    fn logs_command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = common::aideploy_process(self.home.path());
        cmd.env("AIDEPLOY_REGISTRY", &self.repo)
            .env("AIDEPLOY_RAILWAY_ENDPOINT", &self.endpoint)
            .env(self.token.0, self.token.1)
            .env("OPENAI_API_KEY", SECRET)
            .env("AIDEPLOY_POLL_INTERVAL_MS", "100")
            .current_dir(&self.dir)
            .arg("logs")
            .args(args)
            .args(["--target", "railway"]);
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

/// Upserts of a service's variables (not the shared ones the deploy lease writes).
fn upserts_since(st: &fake::State, from: usize) -> usize {
    st.upserts[from..].iter().filter(|(_, _, service)| service.is_some()).count()
}

#[test]
fn railway_deploy_redeploy_fail_rollback_destroy() {
    let fake = fake::FakeRailway::start();
    fake.state.lock().unwrap().add_project("someone-elses-project", "production");
    let mut p = Project::new(&fake.url);
    p.repo = format!("{}/railway-lifecycle/rag", env("AIDEPLOY_TEST_REGISTRY"));
    let manifest = p.dir.join("aideploy.toml");
    // A read-only pull credential in the target, its password in .env: the only login
    // Railway gets (the push login is the deployer's).
    std::fs::write(
        &manifest,
        std::fs::read_to_string(&manifest).unwrap()
            + "workspace = \"ws-team\"\npull_username = \"reader\"\npull_password_secret = \"REGISTRY_PULL_TOKEN\"\npublic = true\n",
    )
    .unwrap();
    std::fs::write(p.dir.join(".env"), format!("REGISTRY_PULL_TOKEN={PULL_PASSWORD}\n")).unwrap();
    let name = "fastapi-rag-dev";
    let url = format!("https://{name}-dev.up.railway.app");

    // The plan from nothing changes nothing: no mutation, nothing pushed; it shows the
    // push with its size.
    let (code, v, stderr) = p.run(&["plan"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let push = v["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "push image").expect("a push row").clone();
    assert_eq!(push["op"], "create", "{v}");
    assert!(push["id"].as_str().unwrap().starts_with(&format!("{}@sha256:", p.repo)), "{push}");
    assert!(push["reason"].as_str().unwrap().ends_with("to upload"), "{push}");
    assert_eq!(fake.state.lock().unwrap().mutations, 0);
    assert_eq!(p.tags(), Vec::<String>::new(), "the plan pushed");
    let created = |v: &Value| -> Vec<String> {
        v["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["op"] == "create")
            .map(|a| a["resource"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        created(&v),
        [
            "push image",
            "project",
            "environment",
            "service",
            "registry-credentials",
            "variable",
            "variable",
            "variable",
            "variable",
            "deployment",
            "domain"
        ],
        "{v}"
    );
    assert!(v["warnings"].as_array().is_none_or(|w| w.is_empty()), "a pull credential is configured: {v}");

    // First deploy: a project aideploy creates, environment `dev`, the service running
    // the image by digest, its variables, health check and a Railway domain.
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["health"], "passed", "{v}");
    assert_eq!(v["url"], url.as_str());
    let first = v["artifact"]["digest"].as_str().unwrap().to_string();
    // The deploy lease's first claim created the project and environment (its shared
    // variable lives there): the plan applied after it has the rest.
    assert_eq!(
        created(&v),
        ["push image", "service", "registry-credentials", "variable", "variable", "variable", "variable", "deployment", "domain"],
        "{v}"
    );
    {
        let st = fake.state.lock().unwrap();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        let project = st.project("fastapi-rag").expect("project created");
        assert!(project.description.as_deref().unwrap().contains("aideploy:app=fastapi-rag"));
        assert_eq!(project.workspace.as_deref(), Some("ws-team"));
        let dev = st.environment(&project.id, "dev").expect("environment dev");
        let s = st.service(name).expect("service created");
        assert_eq!(s.project, project.id);
        let i = st.instance(&s.id).unwrap();
        assert_eq!(i.env, dev.id);
        assert_eq!(i.image.as_deref(), Some(format!("{}@{first}", p.repo).as_str()));
        assert_eq!(i.health_path.as_deref(), Some("/health"));
        assert_eq!(i.health_timeout, Some(30));
        // Railway holds exactly the configured pull credential, never the push login.
        assert_eq!(i.registry, Some(("reader".to_string(), PULL_PASSWORD.to_string())));
        let vars = st.vars_of(s, &dev.id);
        // The app does not get the pull password.
        assert!(!vars.values().any(|v| v.contains(PULL_PASSWORD)), "{vars:?}");
        assert!(vars.get("AIDEPLOY_PULL_CREDENTIAL").is_some_and(|m| m.starts_with("reader ")), "{vars:?}");
        assert_eq!(vars.get("LOG_LEVEL").map(String::as_str), Some("info"));
        assert_eq!(vars.get("OPENAI_MODEL").map(String::as_str), Some("gpt-4o-mini"));
        assert_eq!(vars.get("OPENAI_API_KEY").map(String::as_str), Some(SECRET));
        assert_eq!(vars.get("PORT").map(String::as_str), Some("8000"));
        // The mark that makes it aideploy's.
        assert_eq!(vars.get("AIDEPLOY_OWNER").map(String::as_str), Some("fastapi-rag/dev/railway"));
        let deps = st.deployments_of(&s.id);
        assert_eq!(deps.len(), 1);
        assert_eq!((deps[0].status.as_str(), deps[0].image.as_str()), ("SUCCESS", format!("{}@{first}", p.repo).as_str()));
        // It ran with its variables set: they were written before the deploy.
        assert_eq!(deps[0].vars.get("OPENAI_API_KEY").map(String::as_str), Some(SECRET));
        assert_eq!(st.domains.len(), 1);
        assert_eq!(st.domains[0].port, Some(8000));
    }

    // Nothing earlier to roll back to: a usage error, nothing changed.
    let before = fake.state.lock().unwrap().mutations;
    let (code, _, stderr) = p.run(&["rollback"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no earlier successful Railway deployment"), "{stderr}");
    assert_eq!(fake.state.lock().unwrap().mutations, before);

    // Unchanged: no mutation at all.
    let (before, reads) = {
        let st = fake.state.lock().unwrap();
        eprintln!("first deploy: {} GraphQL requests, mutations {:?}", st.requests, st.mutation_log);
        (st.mutations, st.requests)
    };
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["changed"], false, "{v}");
    assert_eq!(v["url"], url.as_str());
    assert_eq!(fake.state.lock().unwrap().mutations, before);
    eprintln!("unchanged redeploy: {} GraphQL requests, {} ms", fake.state.lock().unwrap().requests - reads, v["duration_ms"]);

    // A code change and a changed variable: one upsert of that variable, a new deployment.
    p.edit("Secrets", "Secret values");
    std::fs::write(&manifest, std::fs::read_to_string(&manifest).unwrap().replace("LOG_LEVEL = \"info\"", "LOG_LEVEL = \"debug\""))
        .unwrap();
    let (log_at, upserts_at) = {
        let st = fake.state.lock().unwrap();
        (st.mutation_log.len(), st.upserts.len())
    };
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let second = v["artifact"]["digest"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    let vars: Vec<&str> =
        v["actions"].as_array().unwrap().iter().filter(|a| a["resource"] == "variable").map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(vars, ["LOG_LEVEL"], "{v}");
    {
        let st = fake.state.lock().unwrap();
        assert_eq!(upserts_since(&st, upserts_at), 1, "{:?}", &st.mutation_log[log_at..]);
        eprintln!("code change: mutations {:?}", &st.mutation_log[log_at..]);
        let s = st.service(name).unwrap();
        let i = st.instance(&s.id).unwrap();
        assert_eq!(i.image.as_deref(), Some(format!("{}@{second}", p.repo).as_str()));
        let vars = st.vars_of(s, &i.env);
        assert_eq!(vars["LOG_LEVEL"], "debug");
        assert_eq!(vars["OPENAI_API_KEY"], SECRET);
        let deps = st.deployments_of(&s.id);
        assert_eq!((deps[0].status.as_str(), deps[1].status.as_str()), ("SUCCESS", "REMOVED"));
        assert!(deps[0].image.ends_with(&second));
    }

    // A deployment that fails Railway's health check: exit 3, the previous one keeps serving.
    p.edit("Secret values", "Secret things");
    let (code, built, stderr) = p.run(&["build", "--package", "image"]);
    assert_eq!(code, 0, "{stderr}");
    let third = built["artifact"]["digest"].as_str().unwrap().to_string();
    fake.state.lock().unwrap().bad.insert(third.clone());
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 3, "{v}\n{stderr}");
    assert_eq!(v["health"], "failed");
    let failure = v["failure"].as_str().unwrap();
    assert!(failure.contains("FAILED") && failure.contains("Healthcheck failed: /health"), "{v}");
    assert!(failure.contains("previous deployment keeps serving"), "{v}");
    {
        let st = fake.state.lock().unwrap();
        let s = st.service(name).unwrap();
        let deps = st.deployments_of(&s.id);
        assert_eq!(deps[0].status, "FAILED");
        assert!(deps[0].image.ends_with(&third));
        let live: Vec<_> = deps.iter().filter(|d| d.status == "SUCCESS").collect();
        assert_eq!(live.len(), 1);
        assert!(live[0].image.ends_with(&second));
        // The service's source points at the serving image again, not the failing one.
        assert!(st.instance(&s.id).unwrap().image.as_deref().unwrap().ends_with(&second));
    }
    let (code, v, _) = p.run(&["status"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["digest"], second.as_str());
    assert_eq!(v["url"], url.as_str());
    assert!(v["details"]["latest_deployment"].as_str().unwrap().contains("FAILED"), "{v}");

    // Rollback: Railway's own rollback to the deployment before the live one.
    let (code, v, stderr) = p.run(&["rollback"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["digest"], first.as_str(), "{v}");
    {
        let st = fake.state.lock().unwrap();
        let s = st.service(name).unwrap();
        let deps = st.deployments_of(&s.id);
        assert!(deps[0].rollback);
        assert_eq!(deps[0].status, "SUCCESS");
        assert!(deps[0].image.ends_with(&first));
        assert_eq!(deps.iter().filter(|d| d.status == "SUCCESS").count(), 1);
    }

    // Destroy: the project aideploy created goes, with everything in it; nothing else.
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    {
        let st = fake.state.lock().unwrap();
        assert!(st.project("fastapi-rag").is_none());
        assert!(st.service(name).is_none());
        assert!(st.deployments.is_empty() && st.domains.is_empty() && st.instances.is_empty());
        let other = st.project("someone-elses-project").expect("left standing");
        assert!(st.environment(&other.id, "production").is_some());
        assert_eq!(st.environments.len(), 1);
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    }
    let (code, v, _) = p.run(&["status"]);
    assert_eq!(code, 0);
    assert_eq!(v["deployed"], false);
}

#[test]
fn railway_in_a_project_aideploy_did_not_create() {
    let fake = fake::FakeRailway::start();
    let team = fake.state.lock().unwrap().add_project("team-project", "production");
    let mut p = Project::new(&fake.url);

    // An account token: the stage's environment is created in the team's project.
    let (code, v, stderr) = p.run(&["deploy", "--set", "project=team-project"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    {
        let st = fake.state.lock().unwrap();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        assert_eq!(st.projects.len(), 1);
        let dev = st.environment(&team, "dev").expect("environment dev created");
        let s = st.service("fastapi-rag-dev").unwrap();
        assert_eq!(st.instance(&s.id).unwrap().env, dev.id);
    }
    let (code, v, stderr) = p.run(&["destroy", "--set", "project=team-project"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    {
        let st = fake.state.lock().unwrap();
        assert!(st.service("fastapi-rag-dev").is_none());
        assert!(st.environment(&team, "dev").is_none(), "aideploy created `dev`: destroy removes it");
        assert!(st.environment(&team, "production").is_some());
        assert_eq!(st.projects.len(), 1);
    }

    // A project token: its project, an environment that exists; it cannot create one.
    fake.state.lock().unwrap().token_project = Some(team.clone());
    p.token = ("RAILWAY_TOKEN", "project-token");
    let (code, v, stderr) = p.run(&["deploy", "--stage", "production"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    {
        let st = fake.state.lock().unwrap();
        let s = st.service("fastapi-rag-production").expect("service in the token's project");
        assert_eq!(s.project, team);
    }
    let (code, v, _) = p.run(&["plan", "--stage", "qa"]);
    assert_eq!(code, 0);
    let warned = |what: &str| v["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains(what));
    assert!(warned("cannot create the environment `qa`"), "{v}");
    // No pull credential here: the plan says the image must be public, in one line.
    assert!(warned("pulls") && warned("anonymously, so the image must be public"), "{v}");
    let (code, _, stderr) = p.run(&["deploy", "--stage", "qa"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("project token cannot create"), "{stderr}");
    let (code, _, stderr) = p.run(&["plan", "--set", "project=another-project"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is a token of Railway project team-project"), "{stderr}");
    let (code, v, stderr) = p.run(&["destroy", "--stage", "production"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let st = fake.state.lock().unwrap();
    assert!(st.service("fastapi-rag-production").is_none());
    assert!(st.environment(&team, "production").is_some(), "not created by aideploy: left standing");
    assert_eq!(st.projects.len(), 1);
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
}

#[test]
fn railway_needs_a_registry_and_a_token() {
    let fake = fake::FakeRailway::start();
    let p = Project::new(&fake.url);
    let mut cmd = common::aideploy(p.home.path());
    let out = cmd.current_dir(&p.dir).env("AIDEPLOY_RAILWAY_ENDPOINT", &p.endpoint).args(["plan", "--target", "railway"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("[build]") && stderr.contains("AIDEPLOY_REGISTRY"), "{stderr}");

    let mut cmd = common::aideploy(p.home.path());
    let out = cmd.current_dir(&p.dir).env("AIDEPLOY_REGISTRY", &p.repo).args(["plan", "--target", "railway"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("RAILWAY_API_TOKEN") && stderr.contains("RAILWAY_TOKEN") && stderr.contains("Tokens"), "{stderr}");
    assert_eq!(fake.state.lock().unwrap().mutations, 0);
}

#[test]
fn railway_rerun_after_a_failed_call_converges() {
    let fake = fake::FakeRailway::start();
    let p = Project::new(&fake.url);
    fake.state.lock().unwrap().fail_next = Some("serviceInstanceDeployV2".into());
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 1, "{v}\n{stderr}");
    assert!(stderr.contains("Problem processing request"), "{stderr}");

    // Run again: everything made the first time is found by name and reused.
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["health"], "passed", "{v}");
    let st = fake.state.lock().unwrap();
    // Private by default: no domain.
    assert_eq!((st.projects.len(), st.environments.len(), st.services.len(), st.domains.len()), (1, 1, 1, 0));
    let s = st.service("fastapi-rag-dev").unwrap();
    let deps = st.deployments_of(&s.id);
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0].status, "SUCCESS");
    assert_eq!(st.mutation_log.iter().filter(|m| *m == "projectCreate" || *m == "serviceCreate").count(), 2);
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
}

/// A project of the app as aideploy creates it, with the environment `dev` and, in its
/// shared variables, the lease record `lease` (another run's); its id.
fn project_with_lease(fake: &fake::FakeRailway, lease: &str) -> String {
    let mut st = fake.state.lock().unwrap();
    let id = st.add_project("fastapi-rag", "dev");
    let p = st.projects.iter_mut().find(|p| p.id == id).unwrap();
    p.description = Some("Created by aideploy for the app fastapi-rag. aideploy:app=fastapi-rag".into());
    let env = st.environment(&id, "dev").unwrap().id.clone();
    st.variables.insert((id.clone(), env, None), [(LEASE_VAR.to_string(), lease.to_string())].into());
    id
}

const LEASE_VAR: &str = "AIDEPLOY_LEASE_FASTAPI_RAG_DEV_RAILWAY";

/// The deploy lease: Railway's API has no conditional write, so it is a settled register,
/// a shared variable of the stage's environment (it exists before the service does, and
/// no service reads it). A run that finds it held gives up after `--lock-timeout` with
/// exit 1, naming the holder and changing nothing; when two projects of the app exist,
/// the oldest holds the lease; an expired lease is taken over (and said so); destroy
/// removes it with the project.
#[test]
fn railway_lease_waits_for_the_holder_and_takes_over_a_stale_one() {
    let fake = fake::FakeRailway::start();
    let mut p = Project::new(&fake.url);
    p.repo = format!("{}/railway-lease/rag", env("AIDEPLOY_TEST_REGISTRY"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let record = |id: &str, expires: u64| {
        serde_json::json!({"id": id, "holder": "ci@elsewhere", "host": "elsewhere", "pid": 4242, "command": "deploy", "since": now, "expires": expires})
            .to_string()
    };
    // Another machine's run holds it; a newer project of the app (a concurrent first
    // run's) says it is free, but the oldest project holds the lease.
    let older = project_with_lease(&fake, &record("other-run", now + 600));
    let newer = project_with_lease(&fake, &record("newer", now - 1));
    let before = fake.state.lock().unwrap().mutations;
    let (code, v, stderr) = p.run(&["deploy", "--lock-timeout", "1s"]);
    assert_eq!(code, 1, "{v}\n{stderr}");
    assert!(stderr.contains("another run holds the lease") && stderr.contains("deploy by ci@elsewhere (pid 4242)"), "{stderr}");
    assert!(stderr.contains(&format!("shared variable {LEASE_VAR}")), "{stderr}");
    assert_eq!(fake.state.lock().unwrap().mutations, before, "the run that did not get the lease changed something");
    assert!(fake.state.lock().unwrap().service("fastapi-rag-dev").is_none());

    // Expired: taken over, said so; the deploy goes on and gives the lease back.
    {
        let mut st = fake.state.lock().unwrap();
        st.projects.retain(|x| x.id != newer);
        st.environments.retain(|x| x.project != newer);
        st.variables.retain(|(x, _, _), _| *x != newer);
        let env = st.environment(&older, "dev").unwrap().id.clone();
        st.variables.insert((older.clone(), env, None), [(LEASE_VAR.to_string(), record("other-run", now - 1))].into());
    }
    let (code, v, stderr) = p.run(&["deploy", "--lock-timeout", "1s"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert!(stderr.contains("took over a stale lease") && stderr.contains("ci@elsewhere"), "{stderr}");
    {
        let st = fake.state.lock().unwrap();
        let s = st.service("fastapi-rag-dev").expect("deployed");
        assert_eq!(s.project, older);
        let env = st.environment(&older, "dev").unwrap().id.clone();
        let shared = &st.variables[&(older.clone(), env.clone(), None)];
        let rec: Value = serde_json::from_str(&shared[LEASE_VAR]).unwrap();
        assert_eq!(rec["released"], true, "{rec}");
        assert_ne!(rec["id"], "other-run");
        // The lease is not one of the service's variables.
        assert!(!st.vars_of(s, &env).keys().any(|k| k.starts_with("AIDEPLOY_LEASE")), "{:?}", st.vars_of(s, &env));
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    }

    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let st = fake.state.lock().unwrap();
    assert!(st.projects.is_empty() && st.services.is_empty(), "{:?}", st.projects);
    assert!(st.variables.is_empty(), "{:?}", st.variables);
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
}

/// A first deploy's claim creates the project (as a deploy does) to hold the lease; a
/// destroy of an app whose service is gone deletes a lease a failed run left in an
/// environment aideploy did not create.
#[test]
fn railway_lease_on_a_first_deploy_and_left_behind() {
    let fake = fake::FakeRailway::start();
    let mut p = Project::new(&fake.url);
    p.repo = format!("{}/railway-lease-first/rag", env("AIDEPLOY_TEST_REGISTRY"));
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    {
        let st = fake.state.lock().unwrap();
        assert_eq!(st.projects.len(), 1, "{:?}", st.projects);
        let project = st.projects[0].id.clone();
        let env = st.environment(&project, "dev").expect("the stage's environment").id.clone();
        let shared = &st.variables[&(project, env, None)];
        assert!(shared.contains_key("AIDEPLOY_ENVIRONMENT"), "{shared:?}");
        let rec: Value = serde_json::from_str(&shared[LEASE_VAR]).unwrap();
        assert_eq!(rec["released"], true, "{rec}");
        assert_eq!(rec["command"], "deploy", "{rec}");
    }
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert!(fake.state.lock().unwrap().projects.is_empty());

    // The team's project named by the target: a lease a failed run left (free, expired)
    // is deleted by a destroy that finds nothing else; the project stays.
    let team = fake.state.lock().unwrap().add_project("team-project", "dev");
    {
        let mut st = fake.state.lock().unwrap();
        let env = st.environment(&team, "dev").unwrap().id.clone();
        let left = serde_json::json!({"id": "gone", "holder": "ci@elsewhere", "host": "elsewhere", "pid": 1, "command": "deploy", "since": 1, "expires": 2});
        st.variables.insert((team.clone(), env, None), [(LEASE_VAR.to_string(), left.to_string()), ("THEIRS".into(), "x".into())].into());
    }
    let (code, v, stderr) = p.run(&["destroy", "--set", "project=team-project"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let st = fake.state.lock().unwrap();
    let env = st.environment(&team, "dev").expect("not aideploy's: left standing").id.clone();
    assert_eq!(st.variables[&(team.clone(), env, None)].keys().collect::<Vec<_>>(), ["THEIRS"]);
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
}

#[test]
fn railway_refuses_what_it_did_not_make() {
    let fake = fake::FakeRailway::start();
    let name = "fastapi-rag-dev";
    let team = fake.state.lock().unwrap().add_project("team-project", "dev");
    fake.state.lock().unwrap().add_service(&team, "dev", name);
    let mut p = Project::new(&fake.url);
    p.repo = format!("{}/railway-foreign/rag", env("AIDEPLOY_TEST_REGISTRY"));

    // A same-named service without aideploy's mark, in the project the target names:
    // refused by deploy and destroy, named, left as it was.
    for cmd in ["deploy", "destroy"] {
        let (code, v, stderr) = p.run(&[cmd, "--set", "project=team-project"]);
        assert_eq!(code, 2, "{cmd}: {v}\n{stderr}");
        assert!(stderr.contains(name) && stderr.contains("AIDEPLOY_OWNER") && stderr.contains("rename the app or stage"), "{stderr}");
        let st = fake.state.lock().unwrap();
        let s = st.service(name).expect("the foreign service is still there");
        assert_eq!(st.instance(&s.id).unwrap().image.as_deref(), Some("docker.io/library/nginx@sha256:0000"));
        assert_eq!(st.vars_of(s, &st.environment(&team, "dev").unwrap().id).keys().collect::<Vec<_>>(), ["THEIRS"]);
        assert_eq!(st.mutations, 0, "{cmd} changed something");
    }

    // A project named like the app that aideploy did not create: refused, named, with
    // the way to deploy into it on purpose.
    fake.state.lock().unwrap().add_project("fastapi-rag", "dev");
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 2, "{v}\n{stderr}");
    assert!(stderr.contains("Railway project fastapi-rag") && stderr.contains("project = \"fastapi-rag\""), "{stderr}");
    let st = fake.state.lock().unwrap();
    assert_eq!(st.mutations, 0);
    assert_eq!(st.projects.len(), 2);
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    drop(st);
    assert_eq!(p.tags(), Vec::<String>::new(), "nothing pushed for a refused deploy");
}

/// A Docker configuration whose only login is for `host`, in a folder of `home`: the
/// user's own registry login, which must stay on this machine.
pub(crate) fn docker_config_with_login(home: &std::path::Path, host: &str, password: &str) -> std::path::PathBuf {
    use base64::Engine;
    let dir = home.join("docker-config");
    std::fs::create_dir_all(&dir).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("me:{password}"));
    std::fs::write(dir.join("config.json"), serde_json::json!({"auths": {host: {"auth": auth}}}).to_string()).unwrap();
    dir
}

/// Issue 12 point 1: Railway gets only a pull credential configured for it. With a
/// login only in the Docker configuration and none configured, Railway holds no
/// credentials at all and the deploy works (the image is pulled anonymously). What an
/// earlier aideploy set (the push login, unreadable back from Railway) is cleared when
/// none is configured, and replaced with the configured pull pair when one is.
#[test]
fn railway_gets_only_the_configured_pull_credential() {
    let fake = fake::FakeRailway::start();
    let mut p = Project::new(&fake.url);
    p.repo = format!("{}/railway-pull/rag", env("AIDEPLOY_TEST_REGISTRY"));
    let host = p.repo.split('/').next().unwrap().to_string();
    let config = docker_config_with_login(p.home.path(), &host, REGISTRY_PASSWORD);
    p.push_login = false;
    p.extra = vec![("DOCKER_CONFIG".into(), config.display().to_string())];
    let name = "fastapi-rag-dev";
    let instance = |fake: &fake::FakeRailway| {
        let st = fake.state.lock().unwrap();
        let s = st.service(name).unwrap().clone();
        let i = st.instance(&s.id).unwrap().clone();
        (i.registry.clone(), st.vars_of(&s, &i.env))
    };
    // What an earlier aideploy left: the push login as the service's registry
    // credentials, and no pull mark.
    let as_earlier_aideploy_left_it = |fake: &fake::FakeRailway| {
        let mut st = fake.state.lock().unwrap();
        let s = st.service(name).unwrap().clone();
        let i = st.instances.iter_mut().find(|i| i.service == s.id).unwrap();
        i.registry = Some(("deployer".into(), REGISTRY_PASSWORD.into()));
        let env = i.env.clone();
        st.variables.get_mut(&(s.project.clone(), env, Some(s.id.clone()))).unwrap().remove("AIDEPLOY_PULL_CREDENTIAL");
    };

    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["health"], "passed", "{v}");
    assert!(stderr.contains("anonymously, so the image must be public"), "{stderr}");
    let (registry, vars) = instance(&fake);
    assert_eq!(registry, None, "Railway got a credential nobody configured for it");
    assert_eq!(vars.get("AIDEPLOY_PULL_CREDENTIAL").map(String::as_str), Some("none"));
    assert!(!vars.values().any(|v| v.contains(REGISTRY_PASSWORD)));

    // An earlier aideploy's push login, none configured now: cleared, in a plan row.
    as_earlier_aideploy_left_it(&fake);
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let row = v["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "registry-credentials").expect("a row").clone();
    assert_eq!((row["op"].as_str(), row["id"].as_str()), (Some("delete"), Some(name)), "{row}");
    assert!(row["reason"].as_str().unwrap().contains("push login"), "{row}");
    let (registry, vars) = instance(&fake);
    assert_eq!(registry, None);
    assert_eq!(vars.get("AIDEPLOY_PULL_CREDENTIAL").map(String::as_str), Some("none"));

    // Again, now with a push login in the environment and a pull pair configured:
    // Railway holds exactly the pull pair.
    as_earlier_aideploy_left_it(&fake);
    p.push_login = true;
    p.extra = vec![("AIDEPLOY_PULL_USERNAME".into(), "reader".into()), ("AIDEPLOY_PULL_PASSWORD".into(), PULL_PASSWORD.into())];
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let row = v["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "registry-credentials").expect("a row").clone();
    assert_eq!((row["op"].as_str(), row["id"].as_str()), (Some("update"), Some("reader")), "{row}");
    let (registry, vars) = instance(&fake);
    assert_eq!(registry, Some(("reader".to_string(), PULL_PASSWORD.to_string())));
    assert!(!vars.values().any(|v| v.contains(PULL_PASSWORD) || v.contains(REGISTRY_PASSWORD)), "{vars:?}");
    // Recorded: the next deploy changes nothing.
    let before = fake.state.lock().unwrap().mutations;
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["changed"], false, "{v}");
    assert_eq!(fake.state.lock().unwrap().mutations, before);
    assert!(fake.state.lock().unwrap().rejected.is_empty());
}

/// A cloud registry and no pull credential: refused with exit 2 before anything is
/// built, pushed or created, naming the read-only credential to make and where it goes.
#[test]
fn railway_refuses_a_cloud_registry_without_a_pull_credential() {
    let fake = fake::FakeRailway::start();
    let mut p = Project::new(&fake.url);
    for (repo, names) in [
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/app", "Amazon ECR"),
        ("europe-docker.pkg.dev/proj/repo/app", "roles/artifactregistry.reader"),
        ("acme.azurecr.io/app", "--scope-map _repositories_pull"),
    ] {
        p.repo = repo.into();
        let (code, v, stderr) = p.run(&["deploy"]);
        assert_eq!(code, 2, "{repo}: {v}\n{stderr}");
        assert!(stderr.contains(names) && stderr.contains("pull_username") && stderr.contains("AIDEPLOY_PULL_USERNAME"), "{stderr}");
        assert!(stderr.contains("never gives railway your cloud login"), "{stderr}");
    }
    let st = fake.state.lock().unwrap();
    assert_eq!(st.mutations, 0);
    assert!(st.projects.is_empty() && st.services.is_empty() && st.instances.is_empty());
}

/// Private unless `public = true`: a default deploy gets no Railway domain and reports
/// no public URL, only the private address; `public = true` adds the domain; private
/// again deletes it (ours only); another service's domain is never touched.
#[test]
fn railway_is_private_unless_public() {
    let fake = fake::FakeRailway::start();
    let p = Project::new(&fake.url);
    let name = "fastapi-rag-dev";
    let private = format!("http://{name}.railway.internal:8000");

    let (code, v, stderr) = p.run(&["plan"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let resources: Vec<&str> = v["actions"].as_array().unwrap().iter().map(|a| a["resource"].as_str().unwrap()).collect();
    assert!(!resources.contains(&"domain"), "{v}");
    assert!(stderr.contains("is private") && stderr.contains(&private) && stderr.contains("public = true"), "{stderr}");

    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["health"], "passed", "{v}");
    assert!(v["url"].is_null(), "no public URL: {v}");
    let service_id = {
        let st = fake.state.lock().unwrap();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        assert!(st.domains.is_empty(), "{:?}", st.domains);
        assert!(!st.mutation_log.iter().any(|m| m == "serviceDomainCreate"), "{:?}", st.mutation_log);
        let s = st.service(name).unwrap();
        let env = st.environment(&st.project("fastapi-rag").unwrap().id, "dev").unwrap().id.clone();
        assert_eq!(st.vars_of(s, &env).get("PORT").map(String::as_str), Some("8000"));
        s.id.clone()
    };
    let (code, v, _) = p.run(&["status"]);
    assert_eq!(code, 0, "{v}");
    assert!(v["url"].is_null(), "{v}");
    assert_eq!(v["details"]["public"], false, "{v}");
    assert_eq!(v["details"]["private_address"], private.as_str(), "{v}");

    // Another service in the same project and environment, with a domain of its own.
    let other = {
        let mut st = fake.state.lock().unwrap();
        let project = st.project("fastapi-rag").unwrap().id.clone();
        let id = st.add_service(&project, "dev", "frontend");
        let env = st.environment(&project, "dev").unwrap().id.clone();
        st.domains.push(fake::Domain {
            id: "dom-other".into(),
            env,
            service: id.clone(),
            domain: "frontend.up.railway.app".into(),
            port: Some(3000),
        });
        id
    };

    // public = true: a Railway domain, and the URL is it.
    let manifest = p.dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}public = true\n")).unwrap();
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let url = format!("https://{name}-dev.up.railway.app");
    assert_eq!(v["url"], url.as_str(), "{v}");
    {
        let st = fake.state.lock().unwrap();
        let ours: Vec<_> = st.domains.iter().filter(|d| d.service == service_id).collect();
        assert_eq!(ours.len(), 1, "{:?}", st.domains);
        assert_eq!(ours[0].port, Some(8000));
    }
    let (_, v, _) = p.run(&["status"]);
    assert_eq!((v["url"].as_str(), v["details"]["public"].as_bool()), (Some(url.as_str()), Some(true)), "{v}");

    // Private again: the plan deletes our domain, the deploy does, nothing else moves.
    std::fs::write(&manifest, &text).unwrap();
    let (code, v, stderr) = p.run(&["plan"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let deletes: Vec<&Value> = v["actions"].as_array().unwrap().iter().filter(|a| a["op"] == "delete").collect();
    assert_eq!(deletes.len(), 1, "{v}");
    assert_eq!((deletes[0]["resource"].as_str(), deletes[0]["id"].as_str()), (Some("domain"), Some(&url[8..])), "{v}");
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert!(v["url"].is_null(), "{v}");
    {
        let st = fake.state.lock().unwrap();
        assert!(!st.domains.iter().any(|d| d.service == service_id), "{:?}", st.domains);
        assert!(st.domains.iter().any(|d| d.service == other && d.id == "dom-other"), "the other service's domain stays");
        assert_eq!(st.service(name).unwrap().id, service_id, "the same service");
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    }
    // Converged: nothing more to do.
    let (code, v, _) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["changed"], false, "{v}");
}

#[test]
fn railway_logs_read_the_live_deployment() {
    let fake = fake::FakeRailway::start();
    let p = Project::new(&fake.url);
    let live = |fake: &fake::FakeRailway| {
        let st = fake.state.lock().unwrap();
        let s = st.service("fastapi-rag-dev").unwrap();
        st.deployments_of(&s.id).iter().find(|d| d.status == "SUCCESS").map(|d| d.id.clone()).unwrap()
    };
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let first = live(&fake);
    // A line of the deployment a second deploy replaces: not the live one's.
    p.edit("Secrets", "Secret values");
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let second = live(&fake);
    assert_ne!(first, second);
    {
        let mut st = fake.state.lock().unwrap();
        st.add_log(&first, &common::rfc3339_ago(5), "from the replaced deployment");
        st.add_log(&second, &common::rfc3339_ago(2 * 3600), "an old line");
        st.add_log(&second, &common::rfc3339_ago(30), "GET /health 200");
        st.add_log(&second, &common::rfc3339_ago(20), &format!("the key is {SECRET}"));
        st.add_log(&second, &common::rfc3339_ago(10), "POST /ask 200");
    }

    // -n 2: the last two of the hour, oldest first, the secret masked.
    let lines = p.logs(&["-n", "2"]);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("the key is ") && lines[0].starts_with("20") && lines[0].as_bytes()[10] == b'T', "{lines:?}");
    assert!(lines[1].ends_with("  POST /ask 200"), "{lines:?}");

    // --json: one object per line, the deployment as its stream; the platform's own
    // lines of the deploy (days ago in the fake) and the old line are out of the hour.
    let objects: Vec<Value> = p.logs(&["--json"]).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let messages: Vec<&str> = objects.iter().map(|o| o["message"].as_str().unwrap()).collect();
    assert_eq!(messages.len(), 3, "{objects:?}");
    assert_eq!(messages[0], "GET /health 200");
    assert_eq!(objects[0]["stream"], &second[..8]);
    assert!(objects[0]["timestamp"].as_str().is_some_and(|t| t.ends_with('Z') && t.len() == 20), "{objects:?}");
    assert!(!messages.contains(&"from the replaced deployment"), "{messages:?}");
    let lines = p.logs(&["--since", "3h"]);
    assert!(lines.first().is_some_and(|l| l.ends_with("  an old line")), "{lines:?}");
    assert_eq!(lines.len(), 4, "{lines:?}");

    // -f: what arrives after it started.
    let (mut child, rx) = common::spawn_lines(p.logs_command(&["-f", "-n", "1"]));
    let last = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the last line first");
    assert!(last.ends_with("POST /ask 200"), "{last}");
    fake.state.lock().unwrap().add_log(&second, &common::rfc3339_ago(0), "a new request");
    let next = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the new line while following");
    assert!(next.ends_with("a new request"), "{next}");
    let _ = child.kill();
    let _ = child.wait();
    let st = fake.state.lock().unwrap();
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
}

/// `aideploy secrets` keeps a secret in the service's variables: set writes it without a
/// deployment, list shows a fingerprint and no value, get prints it only when asked, a
/// deploy without a local value keeps it, one with neither stops before any change, and
/// `set --deploy` rolls the app onto a new value.
#[test]
fn railway_secrets_live_in_the_service_variables() {
    const STORED: &str = "sk-stored-in-railway-value-1";
    const NEWER: &str = "sk-stored-in-railway-value-2";
    let fake = fake::FakeRailway::start();
    let mut p = Project::new(&fake.url);
    p.repo = format!("{}/railway-secrets/rag", env("AIDEPLOY_TEST_REGISTRY"));
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

    // Nothing deployed: no service to keep it in, and a deploy with the secret in
    // neither place stops before anything is created or pushed.
    let (code, _, stderr) = set(STORED, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("deploy first"), "{stderr}");
    let (code, _, stderr) = p.run_as(&["deploy"], None, None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("$OPENAI_API_KEY") && stderr.contains("aideploy secrets set OPENAI_API_KEY --target railway"), "{stderr}");
    assert_eq!(fake.state.lock().unwrap().mutations, 0);
    assert!(fake.state.lock().unwrap().projects.is_empty());
    assert_eq!(p.tags(), Vec::<String>::new(), "pushed before refusing");

    // A first deploy with the value in the environment.
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let (service, env_id) = {
        let st = fake.state.lock().unwrap();
        let s = st.service(name).unwrap().clone();
        let env = st.instance(&s.id).unwrap().env.clone();
        (s, env)
    };
    let deployments = || fake.state.lock().unwrap().deployments_of(&service.id).len();
    let stored = || fake.state.lock().unwrap().vars_of(&service, &env_id).get("OPENAI_API_KEY").cloned();
    assert_eq!(stored().as_deref(), Some(SECRET));
    let before = deployments();

    // set: updated, then unchanged; the variable holds the new value and no deployment
    // was made (the running one keeps the old value until the next deploy).
    let (code, v, stderr) = set(STORED, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["op"], "updated", "{v}");
    let version = v["version"].as_str().expect("a version").to_string();
    assert_eq!(stored().as_deref(), Some(STORED));
    assert_eq!(deployments(), before, "set deployed");
    let (code, v, _) = set(STORED, &[]);
    assert_eq!((code, v["op"].as_str()), (0, Some("unchanged")), "{v}");
    assert_eq!(v["version"], version.as_str(), "same value, same version");
    assert_eq!(deployments(), before);

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
    p.edit("Railway", "Railway.");
    let (code, v, stderr) = p.run_as(&["deploy"], None, None);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(stored().as_deref(), Some(STORED));
    let st = fake.state.lock().unwrap();
    let live = st.deployments_of(&service.id)[0].clone();
    drop(st);
    assert_eq!(live.status, "SUCCESS");
    assert_eq!(live.vars.get("OPENAI_API_KEY").map(String::as_str), Some(STORED), "the new deployment runs with the stored value");
    let before = deployments();

    // rm: gone from the variables, with no deployment; list says not stored.
    let (code, v, stderr) = p.run_as(&["secrets", "rm", "OPENAI_API_KEY"], None, None);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(stored(), None);
    assert_eq!(deployments(), before, "rm deployed");
    let (_, v, _) = p.run_as(&["secrets", "list"], None, None);
    assert_eq!(v["secrets"][0]["stored"], false, "{v}");
    assert!(fake.state.lock().unwrap().vars_of(&service, &env_id).contains_key("AIDEPLOY_OWNER"), "the mark stays");

    // Now in neither place: the deploy stops before any change.
    let mutations = fake.state.lock().unwrap().mutations;
    let (code, _, stderr) = p.run_as(&["deploy"], None, None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("aideploy secrets set OPENAI_API_KEY --target railway"), "{stderr}");
    assert_eq!(fake.state.lock().unwrap().mutations, mutations);

    // set creates it again; with --deploy the app rolls onto the new value (the image
    // is the one deployed: only the stored value moved).
    let (code, v, _) = set(STORED, &[]);
    assert_eq!((code, v["op"].as_str()), (0, Some("created")), "{v}");
    assert_eq!(deployments(), before);
    let (code, v, stderr) = set(NEWER, &["--deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!((v["secret"]["op"].as_str(), v["deploy"]["health"].as_str()), (Some("updated"), Some("passed")), "{v}");
    let rolled = v["deploy"]["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "deployment").cloned().unwrap();
    assert_eq!((rolled["op"].as_str(), rolled["reason"].as_str()), (Some("create"), Some("secrets changed")), "{v}");
    assert_eq!(stored().as_deref(), Some(NEWER));
    assert_eq!(deployments(), before + 1);
    let st = fake.state.lock().unwrap();
    let live = st.deployments_of(&service.id)[0];
    assert_eq!((live.status.as_str(), live.vars.get("OPENAI_API_KEY").map(String::as_str)), ("SUCCESS", Some(NEWER)));
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
}

/// `status --metrics`: `httpMetricsGroupedByStatus` and `httpDurationMetrics` of the
/// service in the stage's environment over the last hour, from requests the test puts
/// into the fake; requests older than the hour, or of another environment, are not counted.
#[test]
fn railway_status_metrics_come_from_the_http_metrics_queries() {
    let fake = fake::FakeRailway::start();
    let p = Project::new(&fake.url);
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    {
        let mut st = fake.state.lock().unwrap();
        let service = st.service("fastapi-rag-dev").unwrap().clone();
        let env = st.environments.iter().find(|e| e.project == service.project && e.name == "dev").unwrap().id.clone();
        // 40 requests: 38 answered 200 in 1..=38 ms, 2 answered 502 in 39 and 40 ms.
        let ok: Vec<f64> = (1..=38).map(f64::from).collect();
        st.http.add(&service.id, &env, now - 25 * 60_000, 200, &ok);
        st.http.add(&service.id, &env, now - 5 * 60_000, 502, &[39.0, 40.0]);
        st.http.add(&service.id, &env, now - 3 * 3_600_000, 500, &[900.0; 10]);
        st.http.add(&service.id, "another-environment", now - 5 * 60_000, 500, &[900.0; 10]);
    }
    let (code, v, stderr) = p.run(&["status", "--metrics"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let m = &v["metrics"];
    assert_eq!((m["requests"].as_u64(), m["errors"].as_u64()), (Some(40), Some(2)), "{m}");
    assert_eq!(m["error_rate"], 0.05, "{m}");
    assert_eq!((m["p50_ms"].as_f64(), m["p95_ms"].as_f64()), (Some(20.0), Some(38.0)), "{m}");
    assert!(m["source"].as_str().unwrap().starts_with("Railway GraphQL"), "{m}");
    let st = fake.state.lock().unwrap();
    assert_eq!(st.http.calls, 2);
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
}
