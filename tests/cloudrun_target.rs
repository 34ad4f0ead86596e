//! The `cloudrun` target end to end through the binary, driven by the official Google
//! Cloud clients against the in-repo fake of the Cloud Run v2, Secret Manager v1 and
//! Artifact Registry v1 REST APIs (tests/fakes/gcp.rs), with images pushed to the
//! loopback registry that scripts/test starts: deploy, the image run as a container,
//! unchanged redeploy, code and secret change, a failing revision, rollback, plan
//! warnings, status and destroy, the service's own runtime account, asserting on the
//! fake's state after each step.

use crate::common;
use crate::fakes::gcp as fake;

use std::process::Command;

use serde_json::{json, Value};

const SECRET: &str = "sk-cloudrun-test-secret-value";
const SECRET_2: &str = "sk-cloudrun-rotated-secret-value";
const SERVICE: &str = "fastapi-rag-dev";
const SECRET_ID: &str = "aideploy-fastapi-rag-dev-OPENAI_API_KEY";
const DEFAULT_SA: &str = "serviceAccount:123456789012-compute@developer.gserviceaccount.com";
const ACCOUNT_ID: &str = "aideploy-fastapi-rag-dev";
const ACCOUNT: &str = "aideploy-fastapi-rag-dev@aideploy-test.iam.gserviceaccount.com";

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
}

impl Project {
    fn new(endpoint: &str) -> Project {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("rag");
        common::copy_tree(&common::root().join("examples/fastapi-rag"), &dir);
        let text = std::fs::read_to_string(dir.join("aideploy.toml")).unwrap();
        let start = text.find("[targets.cloudrun]").expect("cloudrun section");
        let manifest = text[..start].replace("[build]\n", &format!("[build]\nbase_image = \"{}\"\n", env("AIDEPLOY_TEST_BASE_IMAGE")))
            + &format!(
                "[targets.cloudrun]\nproject = \"{}\"\nregion = \"{}\"\ncpu = 2\nmemory = \"1Gi\"\nmin_instances = 1\nmax_instances = 5\nconcurrency = 40\ntimeout = 120\nhealth_timeout = 60\n",
                fake::PROJECT,
                fake::REGION
            );
        std::fs::write(dir.join("aideploy.toml"), manifest).unwrap();
        let repo = format!("{}/cloudrun-test/rag", env("AIDEPLOY_TEST_REGISTRY"));
        Project { home, dir, endpoint: endpoint.into(), repo }
    }

    fn run_with(&self, args: &[&str], secret: &str) -> (i32, Value, String) {
        let mut cmd = common::aideploy(self.home.path());
        common::offline(&mut cmd);
        cmd.env("AIDEPLOY_REGISTRY", &self.repo)
            .env("AIDEPLOY_GCP_ENDPOINT", &self.endpoint)
            .env("AIDEPLOY_POLL_INTERVAL_MS", "20")
            .env("OPENAI_API_KEY", secret);
        let out = cmd.current_dir(&self.dir).args(args).args(["--target", "cloudrun", "--json", "--yes"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        for s in [SECRET, SECRET_2] {
            assert!(!stdout.contains(s) && !stderr.contains(s), "a secret value in the output of {args:?}:\n{stdout}\n{stderr}");
        }
        let v = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap(), v, stderr)
    }

    fn run(&self, args: &[&str]) -> (i32, Value, String) {
        self.run_with(args, SECRET)
    }

    fn edit(&self, from: &str, to: &str) {
        let docs = self.dir.join("app/docs.py");
        let text = std::fs::read_to_string(&docs).unwrap();
        assert!(text.contains(from));
        std::fs::write(&docs, text.replacen(from, to, 1)).unwrap();
    }
}

fn member(email: &str) -> String {
    format!("serviceAccount:{email}")
}

/// The service's own account exists, with aideploy's mark for this app, stage and target.
fn assert_own_account(st: &fake::State) {
    let a = st.service_accounts.get(ACCOUNT).unwrap_or_else(|| panic!("no account {ACCOUNT}: {:?}", st.service_accounts.keys()));
    let d = a["description"].as_str().unwrap();
    for pair in ["aideploy-app=fastapi-rag", "aideploy-stage=dev", "aideploy-target=cloudrun"] {
        assert!(d.split_whitespace().any(|w| w == pair), "{d}");
    }
    assert!(a["displayName"].as_str().unwrap().contains("aideploy"), "{a}");
}

/// Who may read the app's secret.
fn accessors(st: &fake::State) -> Value {
    let p = &st.secrets[SECRET_ID].policy;
    let b: Vec<&Value> =
        p["bindings"].as_array().into_iter().flatten().filter(|b| b["role"] == "roles/secretmanager.secretAccessor").collect();
    assert!(b.len() <= 1, "{p}");
    b.first().map(|b| b["members"].clone()).unwrap_or(json!([]))
}

fn serving(st: &fake::State) -> String {
    let s = st.service(SERVICE).unwrap();
    let t = s["trafficStatuses"].as_array().unwrap();
    assert_eq!(t.len(), 1, "{s}");
    assert_eq!(t[0]["percent"], 100);
    t[0]["revision"].as_str().unwrap().to_string()
}

fn revision_image(st: &fake::State, short: &str) -> String {
    st.revision(short).unwrap()["containers"][0]["image"].as_str().unwrap().to_string()
}

/// The image the deploy pushed, run as a container the way Cloud Run runs it (`PORT`
/// set to the container port): it must answer its health path.
fn run_image(image: &str) {
    let ok = |c: &mut Command| c.output().is_ok_and(|o| o.status.success());
    assert!(ok(Command::new("docker").arg("info")), "these tests run the deployed image in the machine's Docker engine, and none answers");
    if !ok(Command::new("docker").args(["pull", "-q", image])) {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("image.tar");
        let tagged = "aideploy-cloudrun-test:latest";
        assert!(ok(Command::new("skopeo").args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &format!("docker://{image}"),
            &format!("docker-archive:{}:{tagged}", archive.display())
        ])));
        assert!(ok(Command::new("docker").arg("load").arg("-q").arg("-i").arg(&archive)));
        return run_container(tagged);
    }
    run_container(image)
}

fn run_container(image: &str) {
    let port = common::free_port();
    let out = Command::new("docker")
        .args(["run", "-d", "-e", "PORT=8000", "-e", "LOG_LEVEL=info", "-p", &format!("127.0.0.1:{port}:8000"), image])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut answer = None;
    for _ in 0..150 {
        if let Ok((200, body)) = common::http("GET", &format!("http://127.0.0.1:{port}/health"), None) {
            answer = Some(body);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let logs = Command::new("docker").args(["logs", &id]).output().unwrap();
    let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    let body = answer.unwrap_or_else(|| {
        panic!(
            "the deployed image did not answer /health:\n{}{}",
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr)
        )
    });
    assert!(body.contains("ok"), "{body}");
}

#[test]
fn cloudrun_deploy_redeploy_fail_rollback_destroy() {
    let fake = fake::FakeGcp::start();
    fake.state.lock().unwrap().add_foreign_secret("someone-elses-secret");
    let p = Project::new(&fake.base);

    // First deploy: secret, IAM binding, service on the image by digest.
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["health"], "passed", "{v}");
    let first = v["artifact"]["digest"].as_str().unwrap().to_string();
    let url = v["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("https://{SERVICE}-")), "{url}");
    // Private by default, and the output says how to call it.
    assert!(stderr.contains("gcloud auth print-identity-token") && stderr.contains(&url), "{stderr}");
    let first_revision;
    {
        let st = fake.state.lock().unwrap();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        let s = st.service(SERVICE).expect("service created");
        let t = &s["template"];
        let c = &t["containers"][0];
        assert_eq!(c["image"], format!("{}@{first}", p.repo));
        let env = c["env"].as_array().unwrap();
        assert!(env.contains(&json!({"name": "LOG_LEVEL", "value": "info"})), "{env:?}");
        let secret = env.iter().find(|e| e["name"] == "OPENAI_API_KEY").expect("secret env");
        assert_eq!(secret["valueSource"]["secretKeyRef"], json!({"secret": SECRET_ID, "version": "1"}));
        assert!(secret.get("value").is_none());
        assert!(!s.to_string().contains(SECRET));
        assert_eq!(c["ports"][0]["containerPort"], 8000);
        assert_eq!(c["startupProbe"]["httpGet"]["path"], "/health");
        // Startup CPU boost is on by default; CPU is still allocated only during requests.
        assert_eq!(c["resources"], json!({"limits": {"cpu": "2", "memory": "1024Mi"}, "cpuIdle": true, "startupCpuBoost": true}));
        assert_eq!(t["scaling"], json!({"minInstanceCount": 1, "maxInstanceCount": 5}));
        assert_eq!(t["maxInstanceRequestConcurrency"], 40);
        assert_eq!(t["timeout"], "120s");
        assert!(t["executionEnvironment"] == 2 || t["executionEnvironment"] == "EXECUTION_ENVIRONMENT_GEN2", "{t}");
        for labels in [&s["labels"], &t["labels"]] {
            assert_eq!(labels["aideploy-app"], "fastapi-rag");
            assert_eq!(labels["aideploy-stage"], "dev");
            assert_eq!(labels["aideploy-target"], "cloudrun");
            assert_eq!(labels["aideploy-digest"], first.replace(':', "-")[..63]);
        }
        // The service runs as an account of its own, marked as aideploy's.
        assert_eq!(fake::account_email(ACCOUNT_ID), ACCOUNT);
        assert_eq!(t["serviceAccount"], ACCOUNT);
        assert_own_account(&st);
        // Secret Manager holds the value; the service's own account, and no one else, may read it.
        let sec = &st.secrets[SECRET_ID];
        assert_eq!(sec.versions, [SECRET.as_bytes().to_vec()]);
        assert_eq!(sec.labels["aideploy-app"], "fastapi-rag");
        let b = &sec.policy["bindings"][0];
        assert_eq!(sec.policy["bindings"].as_array().unwrap().len(), 1, "{}", sec.policy);
        assert_eq!((b["role"].as_str(), b["members"].clone()), (Some("roles/secretmanager.secretAccessor"), json!([member(ACCOUNT)])));
        assert!(!sec.policy.to_string().contains(DEFAULT_SA), "{}", sec.policy);
        assert_eq!(st.secrets["someone-elses-secret"].policy, json!({}));
        // Private: no invoker binding for allUsers.
        assert!(!st.service_policy(SERVICE).unwrap().to_string().contains("allUsers"));
        first_revision = serving(&st);
        assert_eq!(revision_image(&st, &first_revision), format!("{}@{first}", p.repo));
    }
    // The image the service references runs and answers its health path.
    run_image(&format!("{}@{first}", p.repo));

    // Unchanged: no mutating call at all, only reads.
    let before = fake.state.lock().unwrap().mutations;
    let calls = fake.log.lock().unwrap().len();
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["changed"], false, "{v}");
    assert_eq!(fake.state.lock().unwrap().mutations, before);
    let reads = fake.log.lock().unwrap()[calls..].to_vec();
    assert!(reads.iter().all(|r| r.method == "GET"), "{reads:?}");
    // docs/benchmarks.md quotes this line (no assertion on time).
    eprintln!("unchanged redeploy: {} reads, deploy took {} ms", reads.len(), v["duration_ms"]);

    // A code change and a rotated secret: a new version, a new revision that serves.
    p.edit("Secrets", "Secret values");
    let (code, v, stderr) = p.run_with(&["deploy"], SECRET_2);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let second = v["artifact"]["digest"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    let second_revision;
    {
        let st = fake.state.lock().unwrap();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        assert_eq!(st.secrets[SECRET_ID].versions.len(), 2);
        let s = st.service(SERVICE).unwrap();
        let env = s["template"]["containers"][0]["env"].as_array().unwrap();
        let secret = env.iter().find(|e| e["name"] == "OPENAI_API_KEY").unwrap();
        assert_eq!(secret["valueSource"]["secretKeyRef"]["version"], "2");
        second_revision = serving(&st);
        assert_ne!(second_revision, first_revision);
        assert_eq!(revision_image(&st, &second_revision), format!("{}@{second}", p.repo));
    }

    // A revision that fails its startup probe: exit 3, the message shown, traffic stays.
    p.edit("Secret values", "Secret things");
    let (code, built, stderr) = p.run_with(&["build", "--package", "image"], SECRET_2);
    assert_eq!(code, 0, "{stderr}");
    let third = built["artifact"]["digest"].as_str().unwrap().to_string();
    fake.state.lock().unwrap().bad.insert(third.clone());
    let (code, v, stderr) = p.run_with(&["deploy"], SECRET_2);
    assert_eq!(code, 3, "{v}\n{stderr}");
    assert_eq!(v["health"], "failed");
    let failure = v["failure"].as_str().unwrap();
    assert!(failure.contains("failed the configured startup probe") && failure.contains("previous revision keeps serving"), "{failure}");
    {
        let st = fake.state.lock().unwrap();
        assert_eq!(serving(&st), second_revision);
        let latest = st.service(SERVICE).unwrap()["latestCreatedRevision"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
        assert_ne!(latest, second_revision);
        assert_eq!(revision_image(&st, &latest), format!("{}@{third}", p.repo));
    }
    let (code, v, _) = p.run_with(&["status"], SECRET_2);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["digest"], second.as_str());
    assert_eq!(v["details"]["revision"], second_revision.as_str());
    assert_eq!(v["url"], url.as_str());
    assert!(v["details"]["latest_revision"].as_str().unwrap().contains("startup probe"), "{v}");

    // Rollback: all traffic to the ready revision before the serving one.
    let (code, v, stderr) = p.run_with(&["rollback"], SECRET_2);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["digest"], first.as_str(), "{v}");
    {
        let st = fake.state.lock().unwrap();
        assert_eq!(serving(&st), first_revision);
        assert_eq!(st.service(SERVICE).unwrap()["traffic"][0]["revision"], first_revision.as_str());
    }

    // Cloud Run's limits, warned about before anything is created.
    let (code, v, stderr) = p.run_with(&["plan", "--set", "timeout=4000", "--set", "gpu=nvidia-l4", "--set", "cpu=1"], SECRET_2);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("3600") && warnings.contains("16 GiB") && warnings.contains("concurrency = 40"), "{v}");

    // Destroy: the service and the secrets aideploy made (with their IAM policies).
    let before = fake.state.lock().unwrap().mutations;
    let (code, v, stderr) = p.run_with(&["destroy"], SECRET_2);
    assert_eq!(code, 0, "{v}\n{stderr}");
    {
        let st = fake.state.lock().unwrap();
        // The service, the secret and the account, and the lease: taken, given back, deleted last.
        assert_eq!(st.mutations, before + 3 + 3);
        assert!(st.service(SERVICE).is_none());
        assert!(st.service_accounts.is_empty(), "{:?}", st.service_accounts.keys());
        assert!(st.services.values().all(|s| s["labels"]["aideploy-app"].is_null()));
        assert!(st.secrets.values().all(|s| !s.labels.contains_key("aideploy-app")));
        assert!(st.secrets.contains_key("someone-elses-secret"));
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    }
    let (code, v, _) = p.run_with(&["status"], SECRET_2);
    assert_eq!(code, 0);
    assert_eq!(v["deployed"], false);
}

/// A public GPU service: the invoker binding for allUsers, and the GPU settings Cloud
/// Run requires (the fake refuses a GPU without them).
/// `[cost] budget_usd` with `billing_account`: a Cloud Billing budget on that account for
/// this project, read back from the fake; a new amount patches it, destroy deletes it.
/// Without `billing_account` the plan says how to get one and nothing is made.
#[test]
fn cloudrun_budget_on_the_billing_account_follows_the_manifest() {
    let fake = fake::FakeGcp::start();
    let p = Project::new(&fake.base);
    let manifest = p.dir.join("aideploy.toml");
    let base = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{base}\n[cost]\nbudget_usd = 5000\n")).unwrap();
    let (code, v, stderr) = p.run(&["plan"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert!(stderr.contains("billing_account"), "{stderr}");
    assert!(v["actions"].as_array().unwrap().iter().all(|a| a["resource"] != "budget alert"), "{v}");

    let with = |amount: &str| format!("{base}\n[cost]\nbudget_usd = {amount}\nbilling_account = \"{}\"\n", fake::BILLING_ACCOUNT);
    std::fs::write(&manifest, with("5000")).unwrap();
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let budget = |st: &fake::State| {
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        assert_eq!(st.budgets.len(), 1, "{:?}", st.budgets);
        st.budgets.values().next().unwrap().clone()
    };
    let b = budget(&fake.state.lock().unwrap());
    assert_eq!(b["displayName"], "aideploy-fastapi-rag-dev-cloudrun");
    assert_eq!(b["budgetFilter"], json!({"projects": [format!("projects/{}", fake::PROJECT)], "calendarPeriod": "MONTH"}));
    assert_eq!(b["amount"]["specifiedAmount"], json!({"currencyCode": "USD", "units": "5000", "nanos": 0}));
    assert_eq!(
        b["thresholdRules"],
        json!([{"thresholdPercent": 0.8, "spendBasis": "CURRENT_SPEND"}, {"thresholdPercent": 1.0, "spendBasis": "FORECASTED_SPEND"}])
    );

    std::fs::write(&manifest, with("6000.5")).unwrap();
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let rows: Vec<&Value> = v["actions"].as_array().unwrap().iter().filter(|a| a["resource"] == "budget alert").collect();
    assert_eq!(rows.len(), 1, "{v}");
    assert_eq!(rows[0]["op"], "update");
    let after = budget(&fake.state.lock().unwrap());
    assert_eq!(after["name"], b["name"], "the budget was replaced, not updated");
    assert_eq!(after["amount"]["specifiedAmount"], json!({"currencyCode": "USD", "units": "6000", "nanos": 500_000_000}));

    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert!(fake.state.lock().unwrap().budgets.is_empty(), "destroy left the budget");
}

#[test]
fn cloudrun_public_gpu_service() {
    let fake = fake::FakeGcp::start();
    let p = Project::new(&fake.base);
    let manifest = p.dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("cpu = 2\n", "")
        .replace("memory = \"1Gi\"\n", "")
        .replace("concurrency = 40\n", "");
    std::fs::write(&manifest, text + "public = true\ngpu = \"nvidia-l4\"\n").unwrap();
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert!(!stderr.contains("print-identity-token"), "{stderr}");
    let st = fake.state.lock().unwrap();
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    let policy = st.service_policy(SERVICE).unwrap();
    assert_eq!(policy["bindings"], json!([{"role": "roles/run.invoker", "members": ["allUsers"]}]));
    let t = &st.service(SERVICE).unwrap()["template"];
    assert_eq!(t["nodeSelector"], json!({"accelerator": "nvidia-l4"}));
    let r = &t["containers"][0]["resources"];
    assert_eq!(r["limits"], json!({"cpu": "4", "memory": "16384Mi", "nvidia.com/gpu": "1"}));
    // Protobuf JSON leaves out a false bool: with resources set, that is CPU always on.
    assert!(r["cpuIdle"].is_null() || r["cpuIdle"] == false, "{r}");
    // Without its settings Cloud Run refuses the GPU (the fake too).
    drop(st);
    let mut bad = fake.state.lock().unwrap().service(SERVICE).unwrap().clone();
    bad["template"]["containers"][0]["resources"]["limits"]["cpu"] = json!("1");
    let (code, body) =
        common::http("PATCH", &format!("{}/v2/{}", fake.base, bad["name"].as_str().unwrap()), Some(&bad.to_string())).unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("at least 4 CPU"), "{body}");
}

#[test]
fn cloudrun_names_the_missing_setting_and_credential() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("rag");
    common::copy_tree(&common::root().join("examples/fastapi-rag"), &dir);
    // No project anywhere: the error names the setting.
    let out = common::aideploy(home.path()).current_dir(&dir).args(["plan", "--target", "cloudrun"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("project = ") && stderr.contains("gcloud config set project"), "{stderr}");
    // A project but no usable credential: the error names the login command.
    let out = common::aideploy(home.path())
        .current_dir(&dir)
        .env("GOOGLE_CLOUD_PROJECT", "p")
        .env("GOOGLE_APPLICATION_CREDENTIALS", home.path().join("no-such-key.json"))
        .args(["plan", "--target", "cloudrun"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("gcloud auth application-default login"), "{stderr}");
    // No region: the error names the setting.
    let manifest = dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let cloudrun = text.find("[targets.cloudrun]").unwrap();
    let (head, tail) = text.split_at(cloudrun);
    std::fs::write(&manifest, format!("{head}{}", tail.replacen("region = \"us-central1\"\n", "", 1))).unwrap();
    let out = common::aideploy(home.path())
        .current_dir(&dir)
        .env("GOOGLE_CLOUD_PROJECT", "p")
        .args(["plan", "--target", "cloudrun"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("region = ") && stderr.contains("gcloud config set run/region"), "{stderr}");
    // gcloud's active configuration supplies both: the next thing missing is the login.
    let gcloud = home.path().join("gcloud");
    std::fs::create_dir_all(gcloud.join("configurations")).unwrap();
    std::fs::write(gcloud.join("active_config"), "work\n").unwrap();
    std::fs::write(
        gcloud.join("configurations/config_work"),
        "[core]\naccount = a@example.com\nproject = from-gcloud\n\n[run]\nregion = europe-west4\n",
    )
    .unwrap();
    let out = common::aideploy(home.path())
        .current_dir(&dir)
        .env("CLOUDSDK_CONFIG", &gcloud)
        .env("GOOGLE_APPLICATION_CREDENTIALS", home.path().join("no-such-key.json"))
        .args(["plan", "--target", "cloudrun"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("gcloud auth application-default login") && !stderr.contains("region = "), "{stderr}");
}

/// The `aideploy` Docker repository in Artifact Registry: created once (its operation
/// awaited), found the next time.
#[tokio::test(flavor = "multi_thread")]
async fn cloudrun_creates_the_artifact_registry_repository_once() {
    let fake = fake::FakeGcp::start();
    std::env::set_var("AIDEPLOY_GCP_ENDPOINT", &fake.base);
    let clients = aideploy::cloud::gcp::Clients::new().await.unwrap();
    let site = aideploy::backends::cloudrun::Site { project: fake::PROJECT.into(), region: fake::REGION.into() };
    let poll = aideploy::engine::wait::PollPolicy { fixed: Some(std::time::Duration::from_millis(20)) };
    assert!(aideploy::backends::cloudrun::ensure_repository(&clients, &site, poll, &aideploy::engine::Silent).await.unwrap());
    assert!(!aideploy::backends::cloudrun::ensure_repository(&clients, &site, poll, &aideploy::engine::Silent).await.unwrap());
    let st = fake.state.lock().unwrap();
    assert_eq!(st.mutations, 1);
    let repo = &st.repositories[&format!("projects/{}/locations/{}/repositories/aideploy", fake::PROJECT, fake::REGION)];
    assert!(repo["format"] == "DOCKER" || repo["format"] == 1, "{repo}");
    assert_eq!(site.image_repository("rag"), format!("{}-docker.pkg.dev/{}/aideploy/rag", fake::REGION, fake::PROJECT));
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
}

/// `init` at a terminal asks whether the Cloud Run service is public; without one it
/// stays private and says how to open it.
#[test]
fn cloudrun_init_asks_public_or_private() {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    let home = tempfile::tempdir().unwrap();
    let app = home.path().join("app-dir");
    common::copy_tree(&common::root().join("examples/fastapi-rag/app"), &app.join("app"));
    std::fs::copy(common::root().join("examples/fastapi-rag/requirements.txt"), app.join("requirements.txt")).unwrap();

    // No terminal: private, with the line that would open it.
    let out = common::aideploy(home.path()).current_dir(&app).args(["init", "--target", "cloudrun", "--name", "quiet"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest = std::fs::read_to_string(app.join("aideploy.toml")).unwrap();
    assert!(manifest.contains("# public = true") && !manifest.contains("\npublic = true"), "{manifest}");
    std::fs::remove_file(app.join("aideploy.toml")).unwrap();

    // A terminal: the second answer makes it public.
    let bin = assert_cmd::cargo::cargo_bin("aideploy");
    let mut child = std::process::Command::new("script")
        .args(["-qec", &format!("{} init --target cloudrun --name chat", bin.display()), "/dev/null"])
        .current_dir(&app)
        .env_remove("CI")
        .env("HOME", home.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let screen = Arc::new(Mutex::new(String::new()));
    let mut out = child.stdout.take().unwrap();
    let sink = screen.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let wait_for = |text: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !screen.lock().unwrap().contains(text) {
            assert!(std::time::Instant::now() < deadline, "no `{text}` on the screen:\n{}", screen.lock().unwrap());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let mut keys = child.stdin.take().unwrap();
    wait_for("public: anyone");
    std::thread::sleep(std::time::Duration::from_millis(300));
    keys.write_all(b"\x1b[B\r").unwrap();
    wait_for("Wrote");
    drop(keys);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success(), "{}", screen.lock().unwrap());
    let manifest = std::fs::read_to_string(app.join("aideploy.toml")).unwrap();
    assert!(manifest.contains("\npublic = true"), "{manifest}");
    let out = common::aideploy(home.path()).current_dir(&app).args(["validate"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A first deploy whose revision fails its startup probe: exit 3, the probe's message,
/// nothing serving; the next good deploy serves.
#[test]
fn cloudrun_first_deploy_that_fails_serves_nothing() {
    let fake = fake::FakeGcp::start();
    let p = Project::new(&fake.base);
    let (code, built, stderr) = p.run(&["build", "--package", "image"]);
    assert_eq!(code, 0, "{stderr}");
    let digest = built["artifact"]["digest"].as_str().unwrap().to_string();
    fake.state.lock().unwrap().bad.insert(digest.clone());
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 3, "{v}\n{stderr}");
    let failure = v["failure"].as_str().unwrap();
    assert!(failure.contains("startup probe") && failure.contains("nothing is serving"), "{failure}");
    {
        let st = fake.state.lock().unwrap();
        let s = st.service(SERVICE).unwrap();
        assert!(s["latestReadyRevision"].is_null(), "{s}");
        assert_eq!(s["trafficStatuses"][0]["revision"], "");
    }
    let (code, v, _) = p.run(&["status"]);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["health"], "failed");
    // Fixed: the same deploy again serves (the service is updated, not created twice).
    fake.state.lock().unwrap().bad.clear();
    p.edit("Secrets", "Secret values");
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let st = fake.state.lock().unwrap();
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    let rev = serving(&st);
    assert_eq!(revision_image(&st, &rev), format!("{}@{}", p.repo, v["artifact"]["digest"].as_str().unwrap()));
}

/// The registry's tags of `repo` (`registry/path`); none when it has no such repository.
fn tags(repo: &str) -> Vec<String> {
    let (registry, path) = repo.split_once('/').unwrap();
    let (code, body) = common::http("GET", &format!("http://{registry}/v2/{path}/tags/list"), None).unwrap();
    if code == 404 {
        return Vec::new();
    }
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let mut out: Vec<String> = v["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_string)).collect();
    out.sort();
    out
}

/// `plan`, and the plan phase of a deploy, change nothing: not on the fake (no
/// mutating call), not in the registry (no tag, no manifest). The push is a row of the
/// plan, with its size, and a step of apply.
#[test]
fn cloudrun_plan_changes_nothing_and_shows_the_push() {
    let fake = fake::FakeGcp::start();
    let mut p = Project::new(&fake.base);
    let port = fake.base.rsplit(':').next().unwrap().to_string();
    p.repo = format!("{}/cloudrun-plan-{port}/rag", env("AIDEPLOY_TEST_REGISTRY"));

    // From nothing.
    let (code, v, stderr) = p.run(&["plan"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let actions = v["actions"].as_array().unwrap();
    let push = actions.iter().find(|a| a["resource"] == "push image").unwrap_or_else(|| panic!("no push row: {v}"));
    assert_eq!(push["op"], "create");
    assert!(push["id"].as_str().unwrap().starts_with(&format!("{}@sha256:", p.repo)), "{push}");
    assert!(push["reason"].as_str().unwrap().ends_with("to upload"), "{push}");
    assert!(actions.iter().any(|a| a["resource"] == "service" && a["op"] == "create"), "{v}");
    {
        let st = fake.state.lock().unwrap();
        assert_eq!(st.mutations, 0);
        assert!(st.services.is_empty() && st.secrets.is_empty() && st.repositories.is_empty());
    }
    assert!(fake.log.lock().unwrap().iter().all(|r| r.method == "GET"));
    assert_eq!(tags(&p.repo), Vec::<String>::new(), "plan pushed to the registry");

    // Deployed: the push happened in apply and is reported.
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let digest = v["artifact"]["digest"].as_str().unwrap().to_string();
    assert!(v["artifact"]["uploaded_bytes"].as_u64().unwrap() > 0, "{v}");
    let deployed_tags = tags(&p.repo);
    assert_eq!(deployed_tags.len(), 1, "{deployed_tags:?}");
    assert!(v["actions"].as_array().unwrap().iter().any(|a| a["resource"] == "push image"), "{v}");

    // Unchanged: the image row says it is there already.
    let before = fake.state.lock().unwrap().mutations;
    let (code, v, stderr) = p.run(&["plan"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let image = v["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "image").cloned().unwrap_or_else(|| panic!("{v}"));
    assert_eq!((image["op"].as_str(), image["reason"].as_str()), (Some("noop"), Some("already in the registry")));
    assert!(image["id"].as_str().unwrap().contains(&digest[..19]), "{image}");

    // New code: the plan shows the push and the update, and makes neither.
    p.edit("Secrets", "Secret values");
    let (code, v, stderr) = p.run(&["plan"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let actions = v["actions"].as_array().unwrap();
    assert!(actions.iter().any(|a| a["resource"] == "push image" && a["op"] == "create"), "{v}");
    assert!(actions.iter().any(|a| a["resource"] == "service" && a["op"] == "update"), "{v}");
    assert_eq!(fake.state.lock().unwrap().mutations, before);
    assert_eq!(tags(&p.repo), deployed_tags, "plan pushed to the registry");
    let st = fake.state.lock().unwrap();
    let rev = serving(&st);
    assert_eq!(revision_image(&st, &rev), format!("{}@{digest}", p.repo));
}

/// A service of the same name that aideploy did not make (no aideploy labels) is
/// refused before anything changes, and destroy leaves it; a secret likewise.
#[test]
fn cloudrun_refuses_someone_elses_service_and_secret() {
    let fake = fake::FakeGcp::start();
    let p = Project::new(&fake.base);
    let body = json!({"labels": {"team": "search"}, "template": {"containers": [{"image": "registry.example/theirs@sha256:00"}]}});
    let (code, op) = common::http(
        "POST",
        &format!("{}/v2/projects/{}/locations/{}/services?serviceId={SERVICE}", fake.base, fake::PROJECT, fake::REGION),
        Some(&body.to_string()),
    )
    .unwrap();
    assert_eq!(code, 200, "{op}");
    let op: Value = serde_json::from_str(&op).unwrap();
    for _ in 0..5 {
        let (_, o) = common::http("GET", &format!("{}/v2/{}", fake.base, op["name"].as_str().unwrap()), None).unwrap();
        if o.contains("\"done\":true") {
            break;
        }
    }
    let theirs = fake.state.lock().unwrap().service(SERVICE).unwrap().clone();
    let theirs_policy = fake.state.lock().unwrap().service_policy(SERVICE).unwrap().clone();
    let before = fake.state.lock().unwrap().mutations;

    let (code, v, stderr) = p.run(&["deploy"]);
    assert!(code == 1 || code == 2, "{code}: {v}\n{stderr}");
    assert!(stderr.contains(&format!("Cloud Run service {SERVICE}")) && stderr.contains("rename the app or stage"), "{stderr}");
    {
        let st = fake.state.lock().unwrap();
        assert_eq!(st.mutations, before, "the refused deploy changed something");
        assert_eq!(st.service(SERVICE).unwrap(), &theirs);
        assert_eq!(st.service_policy(SERVICE).unwrap(), &theirs_policy);
        assert!(st.secrets.is_empty(), "{:?}", st.secrets.keys());
    }
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    {
        let st = fake.state.lock().unwrap();
        assert_eq!(st.service(SERVICE).unwrap(), &theirs);
        assert_eq!(st.mutations, before);
    }

    // Their service gone, their secret of our secret's name: refused the same way.
    fake.state.lock().unwrap().services.clear();
    fake.state.lock().unwrap().add_foreign_secret(SECRET_ID);
    let (code, v, stderr) = p.run(&["deploy"]);
    assert!(code == 1 || code == 2, "{code}: {v}\n{stderr}");
    assert!(stderr.contains(&format!("secret {SECRET_ID}")) && stderr.contains("rename the app or stage"), "{stderr}");
    let st = fake.state.lock().unwrap();
    assert_eq!(st.secrets[SECRET_ID].versions, [b"theirs".to_vec()]);
    assert_eq!(st.secrets[SECRET_ID].policy, json!({}));
    assert!(st.services.is_empty());
    assert_eq!(st.mutations, before);
}

/// The deploy lease, a secret of its own written with Secret Manager's create-only
/// create and etags: a run that finds it held gives up after `--lock-timeout` with exit
/// 1, naming the holder and changing nothing; an expired one is taken over (and said
/// so); destroy deletes it last.
#[test]
fn cloudrun_lease_waits_for_the_holder_and_takes_over_a_stale_one() {
    let fake = fake::FakeGcp::start();
    let p = Project::new(&fake.base);
    let lease = "aideploy-lease-fastapi-rag-dev-cloudrun";
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let record = |expires: u64| {
        json!({"id": "other-run", "holder": "ci@elsewhere", "host": "elsewhere", "pid": 4242, "command": "deploy", "since": now, "expires": expires})
            .to_string()
    };
    // Another machine's run holds it: created through the API, as that run would.
    let labels = json!({"aideploy-app": "fastapi-rag", "aideploy-stage": "dev", "aideploy-target": "cloudrun", "aideploy-lease": "true"});
    let body = json!({"replication": {"automatic": {}}, "labels": labels, "annotations": {"aideploy-lease": record(now + 600)}});
    let url = format!("{}/v1/projects/{}/secrets?secretId={lease}", fake.base, fake::PROJECT);
    let (code, out) = common::http("POST", &url, Some(&body.to_string())).unwrap();
    assert_eq!(code, 200, "{out}");
    // A second create of the same id is refused: the create-only write the lease relies on.
    let (code, out) = common::http("POST", &url, Some(&body.to_string())).unwrap();
    assert_eq!(code, 409, "{out}");
    let before = fake.state.lock().unwrap().mutations;

    let (code, v, stderr) = p.run(&["deploy", "--lock-timeout", "1s"]);
    assert_eq!(code, 1, "{v}\n{stderr}");
    assert!(stderr.contains("another run holds the lease") && stderr.contains("deploy by ci@elsewhere (pid 4242)"), "{stderr}");
    assert!(stderr.contains(&format!("secret {lease}")) && stderr.contains("--lock-timeout"), "{stderr}");
    {
        let st = fake.state.lock().unwrap();
        assert_eq!(st.mutations, before, "the run that did not get the lease changed something");
        assert!(st.service(SERVICE).is_none());
        assert_eq!(st.secrets[lease].annotations["aideploy-lease"], record(now + 600));
    }

    // Expired: taken over, said so, and the deploy goes on; the lease is given back.
    fake.state.lock().unwrap().secrets.get_mut(lease).unwrap().annotations.insert("aideploy-lease".into(), record(now - 1));
    let (code, v, stderr) = p.run(&["deploy", "--lock-timeout", "1s"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert!(stderr.contains("took over a stale lease") && stderr.contains("ci@elsewhere"), "{stderr}");
    {
        let st = fake.state.lock().unwrap();
        assert!(st.service(SERVICE).is_some());
        let rec: Value = serde_json::from_str(&st.secrets[lease].annotations["aideploy-lease"]).unwrap();
        assert_eq!(rec["released"], true, "{rec}");
        assert_ne!(rec["id"], "other-run");
        assert!(st.secrets[lease].versions.is_empty(), "the lease secret holds no value");
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    }
    // The lease is not one of the app's secrets: status and plan do not list it.
    let (code, v, _) = p.run(&["plan"]);
    assert_eq!(code, 0);
    assert!(!v.to_string().contains(lease), "{v}");

    // Destroy removes everything, the lease last.
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let st = fake.state.lock().unwrap();
    assert!(!st.secrets.contains_key(lease), "{:?}", st.secrets.keys());
    assert!(st.secrets.values().all(|s| !s.labels.contains_key("aideploy-app")));
}

/// Cloud Run answering 503 to the call that starts a create or an update, before or
/// after carrying it out, and to reads of the operation's progress: each deploy goes on
/// and passes, and afterwards exactly one service exists, with one revision per image
/// deployed, serving the last one.
#[test]
fn cloudrun_deploy_goes_on_through_503s_on_create_and_update() {
    let fake = fake::FakeGcp::start();
    let p = Project::new(&fake.base);
    let faults_left = |st: &fake::State| st.unavailable.values().chain(st.lost.values()).sum::<u32>();
    let check = |v: &Value, revisions: usize| {
        let st = fake.state.lock().unwrap();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        assert_eq!(faults_left(&st), 0, "a fault was not reached: {:?} {:?}", st.unavailable, st.lost);
        assert_eq!(
            st.services.keys().collect::<Vec<_>>(),
            [&format!("projects/{}/locations/{}/services/{SERVICE}", fake::PROJECT, fake::REGION)]
        );
        assert_eq!(st.revisions.len(), revisions, "{:?}", st.revisions);
        let rev = serving(&st);
        assert_eq!(revision_image(&st, &rev), format!("{}@{}", p.repo, v["artifact"]["digest"].as_str().unwrap()));
    };

    // The create refused once, and a read of its progress.
    fake.state.lock().unwrap().unavailable.extend([("CreateService", 1), ("GetOperation", 1)]);
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!((code, &v["health"]), (0, &json!("passed")), "{v}\n{stderr}");
    check(&v, 1);

    // The update refused once, then carried out with its answer lost, and two reads of
    // its progress refused.
    p.edit("Secrets", "Secret values");
    {
        let mut st = fake.state.lock().unwrap();
        st.unavailable.extend([("UpdateService", 1), ("GetOperation", 2)]);
        st.lost.insert("UpdateService", 1);
    }
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!((code, &v["health"]), (0, &json!("passed")), "{v}\n{stderr}");
    check(&v, 2);

    // A create carried out with its answer lost: sent again, it is refused as existing,
    // and goes on as an update of the same service, not a second one.
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert!(fake.state.lock().unwrap().services.is_empty());
    fake.state.lock().unwrap().lost.insert("CreateService", 1);
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!((code, &v["health"]), (0, &json!("passed")), "{v}\n{stderr}");
    check(&v, 1);

    // Converged: the next deploy changes nothing.
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["changed"], false, "{v}");
}

/// A service account of aideploy's id without its mark is someone else's: the deploy
/// refuses it before changing anything, names it, and destroy leaves it.
#[test]
fn cloudrun_refuses_someone_elses_service_account() {
    let fake = fake::FakeGcp::start();
    fake.state.lock().unwrap().add_foreign_account(ACCOUNT_ID);
    let theirs = fake.state.lock().unwrap().service_accounts[ACCOUNT].clone();
    let p = Project::new(&fake.base);
    let (code, v, stderr) = p.run(&["plan"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert!(v["warnings"].to_string().contains(&format!("service account {ACCOUNT}")), "{v}");
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 2, "{v}\n{stderr}");
    assert!(stderr.contains(&format!("service account {ACCOUNT}")) && stderr.contains("description lacks"), "{stderr}");
    assert!(stderr.contains("rename the app or stage"), "{stderr}");
    {
        let st = fake.state.lock().unwrap();
        assert_eq!(st.mutations, 0, "the refused deploy changed something");
        assert!(st.services.is_empty() && st.secrets.is_empty());
        assert_eq!(st.service_accounts[ACCOUNT], theirs);
    }
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let st = fake.state.lock().unwrap();
    assert_eq!(st.service_accounts[ACCOUNT], theirs);
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
}

/// What an earlier aideploy left (the service on the default compute account, which
/// may read the app's secret) converges: the service's own account is made (IAM slow
/// to know it: the grant waits), the service runs as it, the compute account loses
/// its access; the next deploy changes nothing.
#[test]
fn cloudrun_upgrade_moves_off_the_compute_account() {
    let fake = fake::FakeGcp::start();
    let p = Project::new(&fake.base);
    let manifest = p.dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let compute = fake::compute_account();
    std::fs::write(&manifest, format!("{text}service_account = \"{compute}\"\n")).unwrap();
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let old_revision;
    {
        let mut st = fake.state.lock().unwrap();
        // Named: used as given (the compute account here), nothing made.
        assert!(st.service_accounts.is_empty());
        assert_eq!(accessors(&st), json!([DEFAULT_SA]));
        // Earlier versions sent no serviceAccount: Cloud Run's default, the compute one.
        let name = format!("projects/{}/locations/{}/services/{SERVICE}", fake::PROJECT, fake::REGION);
        st.services.get_mut(&name).unwrap()["template"].as_object_mut().unwrap().remove("serviceAccount");
        old_revision = serving(&st);
        st.iam_lag = 2;
    }
    std::fs::write(&manifest, &text).unwrap();
    let (code, v, stderr) = p.run(&["plan"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let rows: Vec<(String, String, String)> = v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["op"].as_str().unwrap().into(), a["resource"].as_str().unwrap().into(), a["id"].as_str().unwrap().into()))
        .collect();
    for want in [("create", "service-account", ACCOUNT), ("create", "secret-access", SECRET_ID), ("delete", "secret-access", SECRET_ID)] {
        assert!(rows.contains(&(want.0.into(), want.1.into(), want.2.into())), "{want:?} not in {rows:?}");
    }
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    {
        let st = fake.state.lock().unwrap();
        assert!(st.rejected.iter().all(|r| r.contains("does not exist")), "{:?}", st.rejected);
        assert_eq!(st.rejected.len(), 2, "IAM's delay was not waited through: {:?}", st.rejected);
        assert_own_account(&st);
        assert_eq!(st.service(SERVICE).unwrap()["template"]["serviceAccount"], ACCOUNT);
        assert_eq!(accessors(&st), json!([member(ACCOUNT)]));
        let now = serving(&st);
        assert_ne!(now, old_revision);
        assert_eq!(st.revision(&now).unwrap()["serviceAccount"], ACCOUNT);
    }
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["changed"], false, "{v}");
    let (code, v, _) = p.run(&["status"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["details"]["service_account"], ACCOUNT);
}

/// `service_account` names the runtime identity: used as given (not created, not
/// deleted), and granted access to the app's secret; one that does not exist is
/// refused with its name.
#[test]
fn cloudrun_named_service_account_is_used_as_given() {
    let fake = fake::FakeGcp::start();
    fake.state.lock().unwrap().add_foreign_account("team-runner");
    let runner = fake::account_email("team-runner");
    let theirs = fake.state.lock().unwrap().service_accounts[&runner].clone();
    let p = Project::new(&fake.base);
    let manifest = p.dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}service_account = \"{runner}\"\n")).unwrap();
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    {
        let st = fake.state.lock().unwrap();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        assert_eq!(st.service_accounts.keys().collect::<Vec<_>>(), [&runner]);
        assert_eq!(st.service(SERVICE).unwrap()["template"]["serviceAccount"], runner.as_str());
        assert_eq!(accessors(&st), json!([member(&runner)]));
    }
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(fake.state.lock().unwrap().service_accounts[&runner], theirs);

    // An account of the project that does not exist: refused before anything is made.
    let missing = fake::account_email("no-such-runner");
    std::fs::write(&manifest, format!("{text}service_account = \"{missing}\"\n")).unwrap();
    let before = fake.state.lock().unwrap().mutations;
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 2, "{v}\n{stderr}");
    assert!(stderr.contains(&missing) && stderr.contains("does not exist") && stderr.contains("remove `service_account`"), "{stderr}");
    let st = fake.state.lock().unwrap();
    assert_eq!(st.mutations, before);
    assert!(st.services.is_empty() && st.secrets.is_empty());
}

/// What the service row of a plan says.
fn service_row(v: &Value) -> Value {
    v["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "service").cloned().unwrap_or_else(|| panic!("no service row: {v}"))
}

/// `plan` names the part of the version that changed: `[env]` only, a secret's value
/// only, and the parts are on the service's revision template as a label afterwards.
#[test]
fn cloudrun_plan_says_what_changed() {
    let fake = fake::FakeGcp::start();
    let mut p = Project::new(&fake.base);
    let port = fake.base.rsplit(':').next().unwrap().to_string();
    p.repo = format!("{}/cloudrun-why-{port}/rag", env("AIDEPLOY_TEST_REGISTRY"));
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    {
        let st = fake.state.lock().unwrap();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        let parts = st.service(SERVICE).unwrap()["template"]["labels"]["aideploy-parts"].as_str().unwrap_or_default().to_string();
        assert_eq!(parts.len(), 60, "{parts}");
        assert!(parts.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{parts}");
    }

    // Only `[env]` changes: the image moves too (the manifest is in it), yet the row
    // says what changed.
    let manifest = p.dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("LOG_LEVEL = \"info\""), "{text}");
    std::fs::write(&manifest, text.replace("LOG_LEVEL = \"info\"", "LOG_LEVEL = \"debug\"")).unwrap();
    let (code, v, stderr) = p.run(&["plan"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let row = service_row(&v);
    assert_eq!((row["op"].as_str(), row["reason"].as_str()), (Some("update"), Some("env changed")), "{v}");
    std::fs::write(&manifest, &text).unwrap();

    // Only the secret's value: a new version, and the service row says secrets.
    let (code, v, stderr) = p.run_with(&["plan"], SECRET_2);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let row = service_row(&v);
    assert_eq!((row["op"].as_str(), row["reason"].as_str()), (Some("update"), Some("secrets changed")), "{v}");

    // The code: the app's own file.
    p.edit("Secrets", "Secret values");
    let (code, v, stderr) = p.run(&["plan"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(service_row(&v)["reason"], "code changed", "{v}");
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
}

/// Startup CPU boost is on by default and turned off by `startup_cpu_boost = false`; the
/// plan says so, and the fake's service holds it afterwards (with CPU still allocated only
/// during requests, and the minimum instances as given).
#[test]
fn cloudrun_startup_cpu_boost_is_read_back() {
    let fake = fake::FakeGcp::start();
    let mut p = Project::new(&fake.base);
    let port = fake.base.rsplit(':').next().unwrap().to_string();
    p.repo = format!("{}/cloudrun-boost-{port}/rag", env("AIDEPLOY_TEST_REGISTRY"));
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert!(service_row(&v)["reason"].as_str().unwrap_or_default().contains("startup CPU boost"), "{v}");
    {
        let st = fake.state.lock().unwrap();
        let r = &st.service(SERVICE).unwrap()["template"]["containers"][0]["resources"];
        assert_eq!((r["startupCpuBoost"].as_bool(), r["cpuIdle"].as_bool()), (Some(true), Some(true)), "{r}");
    }
    let manifest = p.dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("[targets.cloudrun]\n", "[targets.cloudrun]\nstartup_cpu_boost = false\n")).unwrap();
    let (code, v, stderr) = p.run(&["plan"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let row = service_row(&v);
    assert_eq!(row["op"], "update", "{v}");
    assert!(row["reason"].as_str().unwrap_or_default().contains("startup CPU boost off"), "{v}");
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    {
        let st = fake.state.lock().unwrap();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        let t = &st.service(SERVICE).unwrap()["template"];
        let r = &t["containers"][0]["resources"];
        assert!(r["startupCpuBoost"].is_null() || r["startupCpuBoost"] == false, "{r}");
        assert_eq!(r["cpuIdle"], true, "{r}");
        assert_eq!(t["scaling"]["minInstanceCount"], 1, "{t}");
    }
    let (code, v, _) = p.run(&["plan"]);
    assert_eq!((code, service_row(&v)["op"].as_str()), (0, Some("noop")), "{v}");
    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
}

/// `secs` seconds ago, as Cloud Logging writes times (nanoseconds, UTC).
fn ago(secs: u64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    aideploy::util::iso8601(now - secs).replace('Z', ".250000000Z")
}

/// `logs` for people (no `--json` unless asked), with the secret's value in the
/// environment so that it is redacted.
fn logs(p: &Project, args: &[&str]) -> (i32, String, String) {
    let mut cmd = common::aideploy(p.home.path());
    cmd.env("AIDEPLOY_GCP_ENDPOINT", &p.endpoint).env("OPENAI_API_KEY", SECRET);
    let out = cmd.current_dir(&p.dir).args(["logs", "--target", "cloudrun"]).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET), "a secret value was printed:\n{stdout}\n{stderr}");
    (out.status.code().unwrap(), stdout, stderr)
}

#[test]
fn cloudrun_logs_come_from_cloud_logging() {
    let fake = fake::FakeGcp::start();
    let p = Project::new(&fake.base);
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");

    // No entries yet: no output, and no error.
    let (code, stdout, stderr) = logs(&p, &[]);
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");

    let (r1, r2) = (format!("{SERVICE}-00001-abc"), format!("{SERVICE}-00002-def"));
    let started = ago(50 * 60);
    {
        let mut st = fake.state.lock().unwrap();
        // Pages of two entries, whatever aideploy asks for.
        st.log_page_limit = 2;
        st.add_log_entry(SERVICE, &r1, &ago(2 * 3600), json!({"textPayload": "an old line\n"}));
        st.add_log_entry(SERVICE, &r1, &started, json!({"textPayload": "INFO started\n"}));
        st.add_log_entry(
            SERVICE,
            &r2,
            &ago(40 * 60),
            json!({"jsonPayload": {"message": format!("the key is {SECRET}"), "severity": "INFO"}}),
        );
        st.add_log_entry(SERVICE, &r2, &ago(30 * 60), json!({"jsonPayload": {"queue": 3}}));
        st.add_log_entry("someone-else", "someone-else-00001-xyz", &ago(20 * 60), json!({"textPayload": "not this service's"}));
        st.add_log_entry(
            SERVICE,
            &r2,
            &ago(10 * 60),
            json!({"httpRequest": {"requestMethod": "POST", "requestUrl": "https://rag.a.run.app/ask", "status": 200, "latency": "0.0125s"}}),
        );
    }

    // The last two lines, oldest first, a timestamp first.
    let (code, stdout, stderr) = logs(&p, &["-n", "2"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].ends_with(r#"Z  {"queue":3}"#), "{stdout}");
    assert!(lines[1].ends_with("Z  POST https://rag.a.run.app/ask 200 13ms"), "{stdout}");
    assert!(lines[1].starts_with("20") && lines[1].as_bytes()[10] == b'T', "{stdout}");

    // --json: the hour's four entries of this service, each with its revision.
    let (code, stdout, stderr) = logs(&p, &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let objects: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(objects.len(), 4, "{stdout}");
    assert_eq!(objects[0]["message"], "INFO started");
    assert_eq!(objects[0]["stream"], r1.as_str());
    assert_eq!(objects[0]["timestamp"], started.replace(".250000000", ""));
    assert!(objects[1]["message"].as_str().unwrap().starts_with("the key is "), "{stdout}");
    assert_eq!(objects[3]["stream"], r2.as_str());

    // --since: the older line too; never another service's.
    let (code, stdout, stderr) = logs(&p, &["--since", "3h"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 5, "{stdout}");
    assert!(stdout.lines().next().unwrap().ends_with("  an old line"), "{stdout}");
    assert!(!stdout.contains("not this service's"), "{stdout}");

    // -f: what arrives after it started.
    let mut follow = common::aideploy_process(p.home.path());
    follow
        .env("AIDEPLOY_GCP_ENDPOINT", &p.endpoint)
        .env("AIDEPLOY_POLL_INTERVAL_MS", "100")
        .current_dir(&p.dir)
        .args(["logs", "--target", "cloudrun", "-f", "-n", "1"]);
    let (mut child, rx) = common::spawn_lines(follow);
    let first = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the last line first");
    assert!(first.ends_with("POST https://rag.a.run.app/ask 200 13ms"), "{first}");
    fake.state.lock().unwrap().add_log_entry(SERVICE, &r2, &ago(0), json!({"textPayload": "a new request\n"}));
    let next = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the new line while following");
    assert!(next.ends_with("  a new request"), "{next}");
    let _ = child.kill();
    let _ = child.wait();
    let st = fake.state.lock().unwrap();
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
}

impl Project {
    /// The manifest's secret made required (no `optional = true`).
    fn require_secret(&self) {
        let path = self.dir.join("aideploy.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("OPENAI_API_KEY = { optional = true }"), "{text}");
        std::fs::write(&path, text.replace("OPENAI_API_KEY = { optional = true }", "OPENAI_API_KEY = {}")).unwrap();
    }

    /// A run with no local value for the secret (not in the environment, no .env), with
    /// `stdin` piped in: exit code, stdout, stderr.
    fn bare(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        let mut cmd = common::aideploy(self.home.path());
        common::offline(&mut cmd);
        cmd.env("AIDEPLOY_REGISTRY", &self.repo)
            .env("AIDEPLOY_GCP_ENDPOINT", &self.endpoint)
            .env("AIDEPLOY_POLL_INTERVAL_MS", "20")
            .env_remove("OPENAI_API_KEY");
        let out = cmd.current_dir(&self.dir).args(args).args(["--target", "cloudrun"]).write_stdin(stdin).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code().unwrap(), stdout, stderr)
    }
}

/// `aideploy secrets` on Secret Manager: set (created, unchanged, updated: a new version
/// only for a new value), list (versions, no values), get (only with --reveal off a
/// terminal), a deploy with no local value that references the stored version, destroy
/// deleting what `set` made, rm, and a deploy with the value nowhere refused before any
/// change.
#[test]
fn cloudrun_secrets_set_list_get_rm() {
    let fake = fake::FakeGcp::start();
    let p = Project::new(&fake.base);
    p.require_secret();
    let set = |value: &str| {
        let (code, out, err) = p.bare(&["secrets", "set", "OPENAI_API_KEY", "--stdin", "--json"], &format!("{value}\n"));
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(!out.contains(value) && !err.contains(value), "{out}\n{err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let first = set(SECRET);
    assert_eq!(first["op"], "created", "{first}");
    assert_eq!(first["version"], "1");
    assert_eq!(set(SECRET)["op"], "unchanged");
    let updated = set(SECRET_2);
    assert_eq!(updated["op"], "updated");
    assert_eq!(updated["version"], "2");
    {
        let st = fake.state.lock().unwrap();
        let s = &st.secrets[SECRET_ID];
        assert_eq!(s.versions, [SECRET.as_bytes().to_vec(), SECRET_2.as_bytes().to_vec()], "one version per new value");
        for (k, v) in [("aideploy-app", "fastapi-rag"), ("aideploy-stage", "dev"), ("aideploy-target", "cloudrun")] {
            assert_eq!(s.labels.get(k).map(String::as_str), Some(v), "{:?}", s.labels);
        }
    }

    let (code, out, err) = p.bare(&["secrets", "list", "--json"], "");
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(SECRET) && !out.contains(SECRET_2), "{out}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    let rows = listed["secrets"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{listed}");
    assert_eq!(rows[0]["name"], "OPENAI_API_KEY");
    assert_eq!(rows[0]["stored"], true);
    assert_eq!(rows[0]["version"], "2");
    assert!(rows[0]["last_changed"].as_str().is_some_and(|t| t.ends_with('Z')), "{listed}");

    // The value only with --reveal when stdout is not a terminal.
    let (code, out, err) = p.bare(&["secrets", "get", "OPENAI_API_KEY"], "");
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("--reveal") && !out.contains(SECRET_2), "{err}");
    let (code, out, err) = p.bare(&["secrets", "get", "OPENAI_API_KEY", "--reveal", "--json"], "");
    assert_eq!(code, 0, "{err}");
    let got: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(got["value"], SECRET_2);
    assert_eq!(got["version"], "2");

    // A deploy with no local value references the stored version, readable by the
    // service's own account; plan first changes nothing.
    let before = fake.state.lock().unwrap().mutations;
    let (code, out, err) = p.bare(&["plan", "--json"], "");
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(fake.state.lock().unwrap().mutations, before, "plan wrote something");
    let (code, out, err) = p.bare(&["deploy", "--yes", "--json"], "");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!out.contains(SECRET_2) && !err.contains(SECRET_2));
    {
        let st = fake.state.lock().unwrap();
        let s = st.service(SERVICE).expect("service created");
        let env = s["template"]["containers"][0]["env"].as_array().unwrap();
        let secret = env.iter().find(|e| e["name"] == "OPENAI_API_KEY").expect("secret env");
        assert_eq!(secret["valueSource"]["secretKeyRef"], json!({"secret": SECRET_ID, "version": "2"}));
        assert_eq!(st.secrets[SECRET_ID].versions.len(), 2, "the deploy wrote no version");
        assert!(accessors(&st).as_array().unwrap().contains(&json!(member(ACCOUNT))), "{}", accessors(&st));
    }

    // Destroy deletes the secret `set` made, with the service.
    let (code, out, err) = p.bare(&["destroy", "--yes", "--json"], "");
    assert_eq!(code, 0, "{out}\n{err}");
    {
        let st = fake.state.lock().unwrap();
        assert!(st.service(SERVICE).is_none());
        assert!(!st.secrets.contains_key(SECRET_ID), "{:?}", st.secrets.keys());
    }

    // rm asks (refused when nobody can answer), then removes it.
    set(SECRET);
    let (code, _, err) = p.bare(&["secrets", "rm", "OPENAI_API_KEY"], "");
    assert_eq!(code, 2, "{err}");
    assert!(fake.state.lock().unwrap().secrets.contains_key(SECRET_ID));
    let (code, out, err) = p.bare(&["secrets", "rm", "OPENAI_API_KEY", "--yes"], "");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Secret Manager keeps no copy"), "{out}");
    assert!(!fake.state.lock().unwrap().secrets.contains_key(SECRET_ID));
    let (_, out, _) = p.bare(&["secrets", "list", "--json"], "");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["secrets"][0]["stored"], false, "{out}");

    // Neither here nor stored: exit 2 naming both ways, before any change.
    let before = fake.state.lock().unwrap().mutations;
    let (code, out, err) = p.bare(&["deploy", "--yes"], "");
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("$OPENAI_API_KEY") && err.contains("aideploy secrets set OPENAI_API_KEY --target cloudrun"), "{err}");
    let st = fake.state.lock().unwrap();
    assert_eq!(st.mutations, before, "the refused deploy changed something");
    assert!(st.services.is_empty() && st.secrets.is_empty(), "{:?}", st.secrets.keys());
}

/// `secrets set` leaves a same-named secret without aideploy's labels alone, naming it.
#[test]
fn cloudrun_secrets_set_refuses_someone_elses_secret() {
    let fake = fake::FakeGcp::start();
    fake.state.lock().unwrap().add_foreign_secret(SECRET_ID);
    let p = Project::new(&fake.base);
    for args in [&["secrets", "set", "OPENAI_API_KEY", "--stdin"][..], &["secrets", "get", "OPENAI_API_KEY", "--reveal"]] {
        let (code, out, err) = p.bare(args, SECRET);
        assert_ne!(code, 0, "{args:?}: {out}\n{err}");
        assert!(err.contains(SECRET_ID) && err.contains("aideploy-app"), "{err}");
        assert!(!out.contains("theirs"), "{out}");
    }
    let st = fake.state.lock().unwrap();
    assert_eq!(st.secrets[SECRET_ID].versions, [b"theirs".to_vec()]);
    assert!(st.secrets[SECRET_ID].labels.is_empty());
}

/// `status --metrics`: Cloud Monitoring's request_count (summed by response class) and
/// request_latencies (one histogram summed over the service's revisions) of the last
/// hour, from points the test puts into the fake; another service's points and points
/// older than the hour are not counted. Without the Monitoring Viewer role the status
/// still shows, with the reason where the metrics would be.
#[test]
fn cloudrun_status_metrics_come_from_cloud_monitoring() {
    let fake = fake::FakeGcp::start();
    let p = Project::new(&fake.base);
    let (code, v, stderr) = p.run(&["deploy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let (r1, r2) = (format!("{SERVICE}-00001-abc"), format!("{SERVICE}-00002-def"));
    {
        let mut st = fake.state.lock().unwrap();
        let m = &mut st.monitoring;
        let (pr, rg) = (fake::PROJECT, fake::REGION);
        m.add_count(pr, SERVICE, rg, &r1, 200, 150, &ago(40 * 60));
        m.add_count(pr, SERVICE, rg, &r2, 200, 40, &ago(20 * 60));
        m.add_count(pr, SERVICE, rg, &r2, 503, 10, &ago(10 * 60));
        m.add_count(pr, SERVICE, rg, &r1, 500, 1000, &ago(2 * 3600));
        m.add_count(pr, "someone-else", rg, "someone-else-00001-xyz", 500, 70, &ago(10 * 60));
        // Buckets <10, [10,20), [20,40), [40,80), >=80 ms: 100 requests, summed 0/50/40/10/0.
        let bounds = [10.0, 20.0, 40.0, 80.0];
        m.add_latencies(pr, SERVICE, rg, &r1, &bounds, &[0, 50, 20, 0, 0], &ago(40 * 60));
        m.add_latencies(pr, SERVICE, rg, &r2, &bounds, &[0, 0, 20, 10, 0], &ago(10 * 60));
        m.add_latencies(pr, "someone-else", rg, "someone-else-00001-xyz", &bounds, &[0, 0, 0, 0, 900], &ago(10 * 60));
    }
    let (code, v, stderr) = p.run(&["status", "--metrics"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let m = &v["metrics"];
    assert_eq!((m["requests"].as_u64(), m["errors"].as_u64()), (Some(200), Some(10)), "{m}");
    assert_eq!(m["error_rate"], 0.05, "{m}");
    // p50: rank 50 ends the [10,20) bucket's 50; p95: rank 95 is half-way into [40,80)'s 10.
    assert_eq!((m["p50_ms"].as_f64(), m["p95_ms"].as_f64()), (Some(20.0), Some(60.0)), "{m}");
    assert!(m["source"].as_str().unwrap().contains("run.googleapis.com/request_count"), "{m}");
    {
        let st = fake.state.lock().unwrap();
        assert_eq!(st.monitoring.calls, 2);
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    }

    // No permission: the status shows, the metrics say why.
    fake.state.lock().unwrap().monitoring.denied = true;
    let (code, v, stderr) = p.run(&["status", "--metrics"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert_eq!(v["deployed"], true);
    let why = v["metrics"]["error"].as_str().unwrap_or_default();
    assert!(why.contains("PERMISSION_DENIED") && why.contains("roles/monitoring.viewer"), "{v}");
    fake.state.lock().unwrap().monitoring.denied = false;

    let (code, v, stderr) = p.run(&["destroy"]);
    assert_eq!(code, 0, "{v}\n{stderr}");
}
