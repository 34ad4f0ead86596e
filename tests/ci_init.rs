//! `aideploy ci init` and `ci destroy` against moto's IAM (started by `scripts/test`,
//! `AIDEPLOY_TEST_MOTO`), the ARM fake and the GCP fake: what exists afterwards is read
//! back (boto3 for the OIDC provider, both roles' trust policies, the policies attached;
//! the fakes' state for Azure and Google Cloud); the workflow file is checked against its
//! CI's published workflow schema (check-jsonschema), then parsed as YAML (PyYAML) and
//! checked for its keys.

use crate::common;

use std::path::Path;
use std::process::Output;

use serde_json::Value;

const REGION: &str = "us-east-1";

fn moto() -> String {
    std::env::var("AIDEPLOY_TEST_MOTO")
        .unwrap_or_else(|_| panic!("AIDEPLOY_TEST_MOTO is not set: run these tests with `scripts/test` (it starts moto)"))
}

fn write_app(dir: &Path, name: &str) {
    std::fs::write(
        dir.join("aideploy.toml"),
        format!(
            "version = 1\n\n[app]\nname = \"{name}\"\nruntime = \"python3.11\"\nasgi = \"main:app\"\n\n[targets.lambda]\nregion = \"{REGION}\"\n\n[targets.cloudrun]\nproject = \"p\"\nregion = \"europe-west1\"\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("main.py"), "async def app(scope, receive, send):\n    pass\n").unwrap();
}

fn run(home: &Path, project: &Path, args: &[&str]) -> Output {
    let mut c = common::aideploy(home);
    c.current_dir(project)
        .env("AWS_ENDPOINT_URL", moto())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION);
    c.args(args).output().unwrap()
}

fn ok_json(out: &Output) -> Value {
    assert!(out.status.success(), "exit {:?}\nstderr:\n{}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// The IAM side of one app's CI, read with boto3: providers (by host), roles (trust,
/// tags, attached policies with their default version's document).
const IAM_PY: &str = r#"
import boto3, json, sys
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id="testing", aws_secret_access_key="testing")
app = sys.argv[3]
out = {"providers": {}, "roles": {}}
for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
    g = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=p["Arn"])
    out["providers"][g["Url"]] = {"arn": p["Arn"], "client_ids": g["ClientIDList"], "tags": {t["Key"]: t["Value"] for t in g.get("Tags", [])}}
for name in ("aideploy-ci-" + app, "aideploy-ci-" + app + "-plan"):
    try:
        r = iam.get_role(RoleName=name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        continue
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]}
    policies = {}
    for a in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        pol = iam.get_policy(PolicyArn=a["PolicyArn"])["Policy"]
        doc = iam.get_policy_version(PolicyArn=a["PolicyArn"], VersionId=pol["DefaultVersionId"])["PolicyVersion"]["Document"]
        policies[a["PolicyName"]] = json.loads(doc) if isinstance(doc, str) else doc
    out["roles"][name] = {"trust": r["AssumeRolePolicyDocument"], "tags": tags, "policies": policies}
left = [p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"] if p["PolicyName"].startswith("aideploy-ci-" + app + "-")]
out["policies_left"] = left
print(json.dumps(out))
"#;

fn iam_state(app: &str) -> Value {
    let out = std::process::Command::new("python3").args(["-c", IAM_PY, &moto(), REGION, app]).output().unwrap();
    assert!(out.status.success(), "boto3 failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A YAML file as JSON, read with PyYAML.
fn yaml(path: &Path) -> Value {
    let py = "import json, sys, yaml\nprint(json.dumps(yaml.safe_load(open(sys.argv[1]))))";
    let out = std::process::Command::new("python3").args(["-c", py, &path.to_string_lossy()]).output().unwrap();
    assert!(out.status.success(), "not YAML: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The AWS policy under `## {section}` of docs/permissions.md.
fn doc_policy(section: &str) -> Value {
    let md = std::fs::read_to_string(common::root().join("docs/permissions.md")).unwrap();
    let start = md.find(&format!("\n## {section}\n")).unwrap();
    let fence = start + md[start..].find("```json\n").unwrap() + 8;
    let end = fence + md[fence..].find("\n```").unwrap();
    serde_json::from_str(&md[fence..end]).unwrap()
}

fn reads_of(doc: &Value) -> Value {
    let statements: Vec<Value> =
        doc["Statement"].as_array().unwrap().iter().filter(|s| s["Sid"].as_str().unwrap().starts_with("Read")).cloned().collect();
    serde_json::json!({"Version": "2012-10-17", "Statement": statements})
}

/// The workflow file checked against its CI's published schema for workflow files
/// (SchemaStore's, as vendored offline by check-jsonschema, which `scripts/test`
/// installs): `vendor.github-workflows` or `vendor.gitlab-ci`.
fn schema_valid(path: &Path, schema: &str) {
    let out = std::process::Command::new("check-jsonschema")
        .args(["--builtin-schema", schema, &path.to_string_lossy()])
        .output()
        .unwrap_or_else(|e| panic!("check-jsonschema: {e} (run the tests with scripts/test, which installs it)"));
    assert!(
        out.status.success(),
        "{} does not follow {schema}:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn steps_of(job: &Value) -> String {
    job["steps"].as_array().unwrap().iter().filter_map(|s| s["run"].as_str()).collect::<Vec<_>>().join("\n")
}

#[test]
fn github_init_trusts_the_repository_only_and_destroy_removes_it() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let app = format!("ci-gh-{}", std::process::id());
    write_app(project.path(), &app);
    let host = "token.actions.githubusercontent.com";

    // A target with no cloud login to set up: exit 2, said plainly, nothing written.
    let out = run(home.path(), project.path(), &["ci", "init", "--provider", "github", "--repo", "o/n", "--target", "railway", "--yes"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot set up CI login for `railway` targets") && stderr.contains("API token"), "{stderr}");
    // Without --yes and no terminal: refused, exit 2, nothing created.
    let out = run(home.path(), project.path(), &["ci", "init", "--provider", "github", "--repo", "o/n", "--target", "lambda"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert!(!project.path().join(".github").exists());
    assert!(iam_state(&app)["roles"].as_object().unwrap().is_empty());

    let report = ok_json(&run(
        home.path(),
        project.path(),
        &["ci", "init", "--provider", "github", "--repo", "o/n", "--target", "lambda", "--yes", "--json"],
    ));
    assert_eq!(report["changed"], true);
    let state = iam_state(&app);
    let provider = &state["providers"][host];
    assert_eq!(provider["client_ids"], serde_json::json!(["sts.amazonaws.com"]));
    assert_eq!(provider["tags"]["aideploy:app"], app.as_str());
    let provider_arn = provider["arn"].as_str().unwrap();
    assert_eq!(report["identities"]["aws"]["oidc_provider"], provider_arn);

    let deploy = &state["roles"][format!("aideploy-ci-{app}")];
    let plan = &state["roles"][format!("aideploy-ci-{app}-plan")];
    for role in [deploy, plan] {
        assert_eq!(role["tags"]["aideploy:app"], app.as_str());
        assert_eq!(role["tags"]["aideploy:ci"], "github:o/n");
        let s = &role["trust"]["Statement"];
        assert_eq!(s.as_array().unwrap().len(), 1);
        assert_eq!(s[0]["Principal"]["Federated"], provider_arn);
        assert_eq!(s[0]["Action"], "sts:AssumeRoleWithWebIdentity");
    }
    assert_eq!(
        deploy["trust"]["Statement"][0]["Condition"],
        serde_json::json!({"StringEquals": {
            format!("{host}:aud"): "sts.amazonaws.com",
            format!("{host}:sub"): ["repo:o/n:ref:refs/heads/main", "repo:o/n:environment:preview"]
        }})
    );
    assert_eq!(
        plan["trust"]["Statement"][0]["Condition"],
        serde_json::json!({"StringEquals": {format!("{host}:aud"): "sts.amazonaws.com", format!("{host}:sub"): "repo:o/n:pull_request"}})
    );
    // The permissions are docs/permissions.md's, exactly: all of it to deploy, the read
    // statements to plan.
    let lambda = doc_policy("lambda");
    assert_eq!(deploy["policies"], serde_json::json!({format!("aideploy-ci-{app}-lambda"): lambda}));
    assert_eq!(plan["policies"], serde_json::json!({format!("aideploy-ci-{app}-plan-lambda"): reads_of(&lambda)}));

    // The workflow.
    let path = project.path().join(".github/workflows/aideploy.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("secrets."), "no stored secret is referenced");
    schema_valid(&path, "vendor.github-workflows");
    let wf = yaml(&path);
    let on = &wf["on"];
    assert!(on["pull_request"]["types"].as_array().unwrap().contains(&"closed".into()));
    assert_eq!(on["push"]["branches"], serde_json::json!(["main"]));
    assert!(on["schedule"][0]["cron"].is_string());
    let jobs = &wf["jobs"];
    assert_eq!(jobs.as_object().unwrap().keys().collect::<Vec<_>>(), ["deploy", "gc", "plan", "preview", "preview-destroy"]);
    for name in ["plan", "preview", "preview-destroy", "deploy", "gc"] {
        assert_eq!(jobs[name]["permissions"]["id-token"], "write", "{name}");
        let login = jobs[name]["steps"].as_array().unwrap().iter().find(|s| s["with"]["role-to-assume"].is_string()).unwrap();
        let want = if name == "plan" { format!("aideploy-ci-{app}-plan") } else { format!("aideploy-ci-{app}") };
        assert!(login["with"]["role-to-assume"].as_str().unwrap().ends_with(&format!(":role/{want}")), "{name}: {login}");
    }
    assert!(steps_of(&jobs["plan"]).contains("aideploy plan --target lambda"));
    assert!(steps_of(&jobs["plan"]).contains("GITHUB_STEP_SUMMARY"));
    assert_eq!(jobs["preview"]["environment"], "preview");
    assert_eq!(jobs["preview-destroy"]["environment"], "preview");
    assert!(jobs["plan"]["environment"].is_null() && jobs["deploy"]["environment"].is_null());
    assert!(steps_of(&jobs["preview"]).contains("aideploy deploy --target lambda --stage \"$STAGE\" --ttl 72h --yes"));
    assert!(steps_of(&jobs["preview-destroy"]).contains("aideploy destroy --target lambda --stage \"$STAGE\" --yes"));
    assert!(steps_of(&jobs["deploy"]).contains("aideploy deploy --target lambda --yes"));
    assert!(steps_of(&jobs["deploy"]).contains("aideploy status --target lambda --json"));
    assert!(steps_of(&jobs["gc"]).contains("aideploy gc --target lambda --yes"));

    // Again: nothing to change.
    let again = ok_json(&run(
        home.path(),
        project.path(),
        &["ci", "init", "--provider", "github", "--repo", "o/n", "--target", "lambda", "--json"],
    ));
    assert_eq!(again["changed"], false, "{again}");
    assert!(again["actions"].as_array().unwrap().iter().all(|a| a["op"] == "noop"), "{again}");
    // This app's side only: tests running beside this one add providers of their own.
    let now = iam_state(&app);
    for key in ["roles", "policies_left"] {
        assert_eq!(now[key], state[key], "{key}");
    }
    assert_eq!(now["providers"][host], state["providers"][host]);

    // A role that is no CI role of aideploy's but trusts the provider keeps it.
    let bot = format!("deploy-bot-{}", std::process::id());
    let bot_py = "import boto3, json, sys\niam = boto3.client('iam', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
                  trust = {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Principal': {'Federated': sys.argv[3]}, 'Action': 'sts:AssumeRoleWithWebIdentity'}]}\n\
                  iam.delete_role(RoleName=sys.argv[2]) if sys.argv[4] == 'delete' else iam.create_role(RoleName=sys.argv[2], AssumeRolePolicyDocument=json.dumps(trust))";
    let bot_do = |what: &str| {
        let out = std::process::Command::new("python3").args(["-c", bot_py, &moto(), &bot, provider_arn, what]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    bot_do("create");
    // The manifest also has a cloudrun target and there is no Google login here: destroy
    // stops before removing anything and names --target.
    let out = run(home.path(), project.path(), &["ci", "destroy", "--yes", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("cannot read Google Cloud") && stderr.contains("--target"), "{stderr}");
    assert_eq!(iam_state(&app)["roles"].as_object().unwrap().len(), 2, "nothing was removed");
    let gone = ok_json(&run(home.path(), project.path(), &["ci", "destroy", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(gone["changed"], true);
    let after = iam_state(&app);
    assert!(after["roles"].as_object().unwrap().is_empty(), "{after}");
    assert!(after["policies_left"].as_array().unwrap().is_empty(), "{after}");
    assert_eq!(after["providers"][host]["arn"], provider_arn, "kept while {bot} trusts it: {after}");
    bot_do("delete");
    ok_json(&run(home.path(), project.path(), &["ci", "destroy", "-t", "lambda", "--yes", "--json"]));
    let after = iam_state(&app);
    assert!(after["providers"].get(host).is_none(), "the provider ci init made is deleted: {after}");
    assert!(!path.exists());
}

#[test]
fn gitlab_init_reuses_a_provider_it_did_not_make_and_keeps_it() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let app = format!("ci-gl-{}", std::process::id());
    write_app(project.path(), &app);
    let host = format!("gitlab-{}.example.com", std::process::id());
    let issuer = format!("https://{host}");
    let py = "import boto3, sys\niam = boto3.client('iam', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
              iam.create_open_id_connect_provider(Url=sys.argv[2], ClientIDList=['sts.amazonaws.com'], ThumbprintList=[])";
    let out = std::process::Command::new("python3").args(["-c", py, &moto(), &issuer]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // No --repo and no git remote: the fix is named.
    let args = ["ci", "init", "--provider", "gitlab", "--issuer", &issuer, "--target", "lambda", "--yes", "--json"];
    let out = run(home.path(), project.path(), &args);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--repo OWNER/NAME"), "{}", String::from_utf8_lossy(&out.stderr));
    let git =
        |a: &[&str]| assert!(std::process::Command::new("git").current_dir(project.path()).args(a).output().unwrap().status.success());
    git(&["init", "-q"]);
    git(&["remote", "add", "origin", "https://gitlab.example.com/group/sub/rag.git"]);
    // A .gitlab-ci.yml that is not aideploy's is kept unless --force.
    let wf_path = project.path().join(".gitlab-ci.yml");
    std::fs::write(&wf_path, "stages: [test]\n").unwrap();
    let out = run(home.path(), project.path(), &args);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&wf_path).unwrap(), "stages: [test]\n");

    let mut forced = args.to_vec();
    forced.push("--force");
    let report = ok_json(&run(home.path(), project.path(), &forced));
    let row = report["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "oidc-provider").unwrap();
    assert_eq!(row["op"], "noop", "{row}");
    let state = iam_state(&app);
    let deploy = &state["roles"][format!("aideploy-ci-{app}")];
    let plan = &state["roles"][format!("aideploy-ci-{app}-plan")];
    assert_eq!(
        deploy["trust"]["Statement"][0]["Condition"],
        serde_json::json!({"StringEquals": {format!("{host}:aud"): "sts.amazonaws.com", format!("{host}:sub"): "project_path:group/sub/rag:ref_type:branch:ref:main"}})
    );
    assert_eq!(
        plan["trust"]["Statement"][0]["Condition"],
        serde_json::json!({"StringEquals": {format!("{host}:aud"): "sts.amazonaws.com"}, "StringLike": {format!("{host}:sub"): "project_path:group/sub/rag:ref_type:branch:ref:*"}})
    );
    schema_valid(&wf_path, "vendor.gitlab-ci");
    let wf = yaml(&wf_path);
    assert_eq!(wf[".aideploy"]["id_tokens"]["AIDEPLOY_AWS_ID_TOKEN"]["aud"], "sts.amazonaws.com");
    assert_eq!(wf[".aideploy"]["variables"]["AWS_WEB_IDENTITY_TOKEN_FILE"], "$CI_PROJECT_DIR/.aws-web-identity-token");
    assert!(wf["plan"]["variables"]["AWS_ROLE_ARN"].as_str().unwrap().ends_with(&format!(":role/aideploy-ci-{app}-plan")));
    assert!(wf["deploy"]["variables"]["AWS_ROLE_ARN"].as_str().unwrap().ends_with(&format!(":role/aideploy-ci-{app}")));
    assert!(wf["plan"]["script"][0].as_str().unwrap().contains("aideploy plan --target lambda"));
    assert!(wf["deploy"]["script"].as_array().unwrap().iter().any(|s| s.as_str().unwrap().contains("status --target lambda --json")));
    assert_eq!(wf["gc"]["rules"][0]["if"], "$CI_PIPELINE_SOURCE == \"schedule\"");
    assert!(!std::fs::read_to_string(&wf_path).unwrap().contains("secrets."));

    ok_json(&run(home.path(), project.path(), &["ci", "destroy", "--target", "lambda", "--yes", "--json"]));
    let after = iam_state(&app);
    assert!(after["roles"].as_object().unwrap().is_empty(), "{after}");
    assert!(after["providers"].get(&host).is_some(), "a provider aideploy did not make is kept: {after}");
    assert!(!wf_path.exists());
}

/// A provider someone made for the issuer without the audience STS needs: `ci init` adds
/// `sts.amazonaws.com` to it (IAM AddClientIDToOpenIDConnectProvider, moto_iam.py),
/// keeps its other client ids, changes nothing on a second run, and `ci destroy` keeps
/// the provider.
#[test]
fn init_adds_the_sts_audience_to_a_provider_it_reuses_and_keeps_the_provider() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let app = format!("ci-aud-{}", std::process::id());
    write_app(project.path(), &app);
    let host = format!("gitlab-aud-{}.example.com", std::process::id());
    let issuer = format!("https://{host}");
    let py = "import boto3, sys\niam = boto3.client('iam', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
              iam.create_open_id_connect_provider(Url=sys.argv[2], ClientIDList=['vault.example.com', 'my-runner'], ThumbprintList=[])";
    let out = std::process::Command::new("python3").args(["-c", py, &moto(), &issuer]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = iam_state(&app);
    assert_eq!(before["providers"][&host]["client_ids"], serde_json::json!(["vault.example.com", "my-runner"]));
    let arn = before["providers"][&host]["arn"].as_str().unwrap().to_string();

    let args = ["ci", "init", "--provider", "gitlab", "--issuer", &issuer, "--repo", "group/rag", "--target", "lambda", "--yes", "--json"];
    let report = ok_json(&run(home.path(), project.path(), &args));
    let row = report["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "oidc-provider" && a["op"] == "update");
    assert!(row.is_some_and(|r| r["reason"].as_str().unwrap_or_default().contains("sts.amazonaws.com")), "{report}");
    let state = iam_state(&app);
    let provider = &state["providers"][&host];
    assert_eq!(provider["arn"], arn.as_str(), "the same provider, not a new one");
    assert_eq!(provider["client_ids"], serde_json::json!(["vault.example.com", "my-runner", "sts.amazonaws.com"]));
    assert!(provider["tags"].as_object().unwrap().is_empty(), "not tagged as aideploy's: {provider}");
    let deploy = &state["roles"][format!("aideploy-ci-{app}")];
    assert_eq!(deploy["trust"]["Statement"][0]["Principal"]["Federated"], arn.as_str());
    assert_eq!(deploy["trust"]["Statement"][0]["Condition"]["StringEquals"][format!("{host}:aud")], "sts.amazonaws.com");

    // Again: the audience is there, nothing changes.
    let again = ok_json(&run(home.path(), project.path(), &args));
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(iam_state(&app)["providers"][&host], *provider);

    ok_json(&run(home.path(), project.path(), &["ci", "destroy", "--target", "lambda", "--yes", "--json"]));
    let after = iam_state(&app);
    assert!(after["roles"].as_object().unwrap().is_empty(), "{after}");
    let kept = &after["providers"][&host];
    assert_eq!(kept["arn"], arn.as_str(), "a provider aideploy did not make is kept: {after}");
    let ids = kept["client_ids"].as_array().unwrap();
    assert!(ids.contains(&"vault.example.com".into()) && ids.contains(&"my-runner".into()), "{kept}");
}

#[test]
fn azure_init_trusts_the_repository_only_and_destroy_removes_it() {
    use crate::fakes::arm as fake;
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let arm = fake::FakeArm::start("127.0.0.1:1");
    std::fs::write(
        project.path().join("aideploy.toml"),
        format!("version = 1\n\n[app]\nname = \"rag\"\nruntime = \"python3.11\"\nasgi = \"main:app\"\n\n[targets.appservice]\nsubscription = \"{}\"\nregion = \"westeurope\"\n", fake::SUB),
    )
    .unwrap();
    std::fs::write(project.path().join("main.py"), "async def app(scope, receive, send):\n    pass\n").unwrap();
    let az = |args: &[&str]| {
        let mut c = common::aideploy(home.path());
        c.current_dir(project.path()).env("AIDEPLOY_AZURE_ENDPOINT", &arm.base).env("AIDEPLOY_POLL_INTERVAL_MS", "20");
        c.args(args).output().unwrap()
    };
    let init = ["--json", "ci", "init", "--provider", "github", "--repo", "o/n", "--target", "appservice", "--yes"];
    let out = ok_json(&az(&init));
    assert_eq!(out["changed"], true);
    let group = format!("/subscriptions/{}/resourceGroups/aideploy-ci-rag", fake::SUB);
    let ids = format!("{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities");
    let (deploy_principal, deploy_client, plan_principal) = {
        let st = arm.state.lock().unwrap();
        let g = &st.groups["aideploy-ci-rag"];
        assert_eq!(g["tags"]["aideploy-app"], "rag");
        assert_eq!(g["tags"]["aideploy-created-group"], "true");
        let id = |n: &str| st.resources[&format!("{ids}/{n}").to_ascii_lowercase()].clone();
        let (deploy, plan) = (id("aideploy-ci-rag"), id("aideploy-ci-rag-plan"));
        for i in [&deploy, &plan] {
            assert_eq!(i["tags"]["aideploy-app"], "rag");
            assert_eq!(i["tags"]["aideploy-ci"], "github:o/n");
        }
        // The trust: exactly this repository's subjects, GitHub's issuer, Entra's audience.
        let creds = |n: &str| -> Vec<(String, String, String)> {
            let prefix = format!("{ids}/{n}/federatedidentitycredentials/").to_ascii_lowercase();
            st.resources
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(_, v)| {
                    let p = &v["properties"];
                    (p["issuer"].as_str().unwrap().to_string(), p["subject"].as_str().unwrap().to_string(), p["audiences"].to_string())
                })
                .collect()
        };
        let issuer = "https://token.actions.githubusercontent.com";
        let aud = serde_json::json!(["api://AzureADTokenExchange"]);
        let mut d = creds("aideploy-ci-rag");
        d.sort();
        let aud = aud.to_string();
        assert_eq!(
            d,
            [
                (issuer.to_string(), "repo:o/n:environment:preview".to_string(), aud.clone()),
                (issuer.to_string(), "repo:o/n:ref:refs/heads/main".to_string(), aud.clone())
            ]
        );
        assert_eq!(creds("aideploy-ci-rag-plan"), [(issuer.to_string(), "repo:o/n:pull_request".to_string(), aud)]);
        // The grants: deploy Contributor + RBAC Administrator (conditioned), plan Reader.
        let roles_of = |principal: &Value| -> Vec<String> {
            let mut r: Vec<String> = st
                .by_type("Microsoft.Authorization/roleAssignments")
                .iter()
                .filter(|a| &a["properties"]["principalId"] == principal)
                .map(|a| {
                    assert_eq!(a["properties"]["scope"], format!("/subscriptions/{}", fake::SUB));
                    assert_eq!(a["properties"]["principalType"], "ServicePrincipal");
                    a["properties"]["roleDefinitionId"].as_str().unwrap().rsplit('/').next().unwrap().to_string()
                })
                .collect();
            r.sort();
            r
        };
        let mut want = vec![fake::CONTRIBUTOR.to_string(), fake::RBAC_ADMIN.to_string()];
        want.sort();
        assert_eq!(roles_of(&deploy["properties"]["principalId"]), want);
        // The plan identity: Reader, and aideploy's custom role with the reads a plan of
        // a deployed site makes that Reader lacks (the app settings' POST .../list).
        assert_eq!(st.role_definitions.len(), 1, "{:?}", st.role_definitions);
        let def = st.role_definitions.values().next().unwrap();
        let p = &def["properties"];
        assert_eq!(p["roleName"], "aideploy-ci-rag-plan-read");
        assert_eq!(p["type"], "CustomRole");
        assert!(p["description"].as_str().unwrap().contains("aideploy-app=rag"), "{def}");
        assert_eq!(p["assignableScopes"], serde_json::json!([format!("/subscriptions/{}", fake::SUB)]));
        assert_eq!(p["permissions"].as_array().unwrap().len(), 1);
        let mut actions: Vec<&str> = p["permissions"][0]["actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        actions.sort();
        assert_eq!(
            actions,
            [
                "Microsoft.ContainerRegistry/registries/pull/read",
                "Microsoft.Web/sites/config/list/action",
                "Microsoft.Web/sites/slots/config/list/action"
            ]
        );
        for k in ["notActions", "dataActions", "notDataActions"] {
            assert_eq!(p["permissions"][0][k], serde_json::json!([]), "{k}");
        }
        let custom = def["name"].as_str().unwrap().to_string();
        let mut want = vec![fake::READER.to_string(), custom];
        want.sort();
        assert_eq!(roles_of(&plan["properties"]["principalId"]), want);
        (deploy["properties"]["principalId"].clone(), deploy["properties"]["clientId"].clone(), plan["properties"]["principalId"].clone())
    };
    assert_ne!(deploy_principal, plan_principal);
    assert_eq!(out["identities"]["azure"]["deploy_client_id"], deploy_client);

    // The workflow: azure/login with plain ids in a job that may mint an OIDC token.
    schema_valid(&project.path().join(".github/workflows/aideploy.yml"), "vendor.github-workflows");
    let wf = yaml(&project.path().join(".github/workflows/aideploy.yml"));
    let text = std::fs::read_to_string(project.path().join(".github/workflows/aideploy.yml")).unwrap();
    assert!(!text.contains("secrets."), "{text}");
    let mut logins = 0;
    for (name, job) in wf["jobs"].as_object().unwrap() {
        for step in job["steps"].as_array().unwrap() {
            if step["uses"].as_str().is_some_and(|u| u.starts_with("azure/login@")) {
                logins += 1;
                assert_eq!(job["permissions"]["id-token"], "write", "{name}");
                assert_eq!(step["with"]["tenant-id"], fake::TENANT);
                assert_eq!(step["with"]["subscription-id"], fake::SUB);
                let client = step["with"]["client-id"].as_str().unwrap();
                assert!(!client.is_empty() && !client.contains("${{"), "{client}");
                if name == "plan" {
                    assert_ne!(client, deploy_client.as_str().unwrap(), "the plan job logs in as the plan identity");
                }
            }
        }
    }
    assert!(logins >= 2, "{text}");

    // A second run: no change.
    let mutations = arm.state.lock().unwrap().mutations;
    let again = ok_json(&az(&init));
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(arm.state.lock().unwrap().mutations, mutations);

    // destroy: the identities, their credentials and assignments, and the group go.
    let out = ok_json(&az(&["--json", "ci", "destroy", "--yes"]));
    assert_eq!(out["changed"], true);
    let st = arm.state.lock().unwrap();
    assert!(!st.groups.contains_key("aideploy-ci-rag"));
    assert!(st.by_type("Microsoft.ManagedIdentity/userAssignedIdentities").is_empty());
    assert!(st.by_type("Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials").is_empty());
    assert!(st.by_type("Microsoft.Authorization/roleAssignments").is_empty());
    assert!(st.role_definitions.is_empty(), "the custom role goes too: {:?}", st.role_definitions);
    assert!(!project.path().join(".github/workflows/aideploy.yml").exists());
    assert!(st.rejected.is_empty(), "ARM refused nothing: {:?}", st.rejected);
    drop(st);

    // A custom role of that name that is someone else's: refused before anything is
    // written, the fix named, the role untouched.
    let guid = "0f0f0f0f-0000-4000-8000-000000000001";
    let theirs = serde_json::json!({"id": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{guid}", fake::SUB), "name": guid, "properties": {"roleName": "aideploy-ci-rag-plan-read", "description": "the platform team's",
        "type": "CustomRole", "permissions": [{"actions": ["*/read"]}], "assignableScopes": [format!("/subscriptions/{}", fake::SUB)]}});
    let key = format!("/subscriptions/{}/providers/microsoft.authorization/roledefinitions/{guid}", fake::SUB);
    let mutations = {
        let mut st = arm.state.lock().unwrap();
        st.role_definitions.insert(key.clone(), theirs.clone());
        st.mutations
    };
    let out = az(&init);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("aideploy-ci-rag-plan-read") && stderr.contains("az role definition delete"), "{stderr}");
    let st = arm.state.lock().unwrap();
    assert_eq!(st.mutations, mutations);
    assert_eq!(st.role_definitions.get(&key), Some(&theirs));
    assert!(!st.groups.contains_key("aideploy-ci-rag"));
}

/// The Google Cloud side of `ci init` and `ci destroy`, planned from what the fake
/// holds, carried out against it, and read back.
#[tokio::test]
async fn gcp_side_against_the_fake() {
    use aideploy::ci::{gcp, gcp_calls, CiProvider, Spec};
    use aideploy::engine::Silent;
    let fake = crate::fakes::gcp::FakeGcp::start();
    let c = gcp_calls::Client::loopback(&fake.base).unwrap();
    let spec = Spec {
        provider: CiProvider::Github,
        repo: "acme/rag".into(),
        branch: "main".into(),
        issuer: CiProvider::Github.default_issuer().into(),
        app: "rag".into(),
        targets: vec![],
        manifest: None,
        install: Spec::default_install(),
    };
    let project = crate::fakes::gcp::PROJECT;
    let number = crate::fakes::gcp::PROJECT_NUMBER;
    let seen = gcp_calls::observe(&c, project, "rag", Some(CiProvider::Github)).await.unwrap();
    let plan = gcp::plan_init(&spec, &seen).unwrap();
    gcp_calls::apply(&c, &seen, &plan, &Silent).await.unwrap();
    {
        let st = fake.state.lock().unwrap();
        let pool = st.wif.pool(number, "aideploy-ci-rag").expect("the pool");
        assert_eq!(pool["state"], "ACTIVE");
        let p = st.wif.provider(number, "aideploy-ci-rag", "github").expect("the provider");
        assert_eq!(p["oidc"]["issuerUri"], "https://token.actions.githubusercontent.com");
        assert_eq!(p["attributeCondition"], "assertion.repository == 'acme/rag'");
        assert_eq!(p["attributeMapping"]["google.subject"], "assertion.sub");
        let deploy = format!("aideploy-ci-rag@{project}.iam.gserviceaccount.com");
        let sa = &st.service_accounts[&deploy];
        assert!(sa["description"].as_str().unwrap().contains("aideploy:app=rag"), "{sa}");
        let trust = &st.wif.account_policies[&deploy]["bindings"];
        let base =
            format!("principal://iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/aideploy-ci-rag/subject/");
        assert_eq!(trust[0]["role"], "roles/iam.workloadIdentityUser");
        assert_eq!(
            trust[0]["members"],
            serde_json::json!([format!("{base}repo:acme/rag:ref:refs/heads/main"), format!("{base}repo:acme/rag:environment:preview")])
        );
        let bindings = st.wif.project_policy["bindings"].as_array().unwrap();
        let has =
            |role: &str, who: &str| bindings.iter().any(|b| b["role"] == role && b["members"].as_array().unwrap().iter().any(|m| m == who));
        let member = format!("serviceAccount:{deploy}");
        let plan_member = format!("serviceAccount:aideploy-ci-rag-plan@{project}.iam.gserviceaccount.com");
        for role in gcp::deploy_roles() {
            assert!(has(&role, &member), "{role}");
        }
        assert!(has("roles/run.viewer", &plan_member) && !has("roles/run.admin", &plan_member));
        assert!(has("roles/owner", "user:owner@example.com"), "the project's other bindings stay");
    }
    let seen = gcp_calls::observe(&c, project, "rag", Some(CiProvider::Github)).await.unwrap();
    let again = gcp::plan_init(&spec, &seen).unwrap();
    assert!(!again.has_changes(), "{:?}", again.changes);

    let destroy = gcp::plan_destroy("rag", &seen);
    gcp_calls::apply(&c, &seen, &destroy, &Silent).await.unwrap();
    {
        let st = fake.state.lock().unwrap();
        assert!(st.service_accounts.keys().all(|e| !e.starts_with("aideploy-ci-rag")));
        assert_eq!(st.wif.pool(number, "aideploy-ci-rag").unwrap()["state"], "DELETED");
        let bindings = st.wif.project_policy["bindings"].as_array().unwrap();
        assert!(bindings.iter().all(|b| !b["members"].to_string().contains("aideploy-ci-rag")), "{bindings:?}");
    }
    // Within 30 days, init restores the soft-deleted pool.
    let seen = gcp_calls::observe(&c, project, "rag", Some(CiProvider::Github)).await.unwrap();
    let plan = gcp::plan_init(&spec, &seen).unwrap();
    assert!(plan.changes.contains(&gcp::Step::UndeletePool { id: "aideploy-ci-rag".into() }));
    gcp_calls::apply(&c, &seen, &plan, &Silent).await.unwrap();
    let seen = gcp_calls::observe(&c, project, "rag", Some(CiProvider::Github)).await.unwrap();
    assert!(!gcp::plan_init(&spec, &seen).unwrap().has_changes());
}

/// `ci init` for a cloudrun target, on GitHub then GitLab, against the GCP fake: the
/// pool with one provider per CI, the two service accounts and their roles, the
/// Artifact Registry repository the deploy account may push to but not create; both
/// workflows log in with plain ids; a second run changes nothing; `ci destroy` removes
/// the identities and both workflows and keeps the repository (the app's images).
#[test]
fn gcp_init_from_the_command_line_and_destroy() {
    use crate::fakes::gcp as fake;
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let gcp = fake::FakeGcp::start();
    std::fs::write(
        project.path().join("aideploy.toml"),
        format!(
            "version = 1\n\n[app]\nname = \"rag\"\nruntime = \"python3.11\"\nasgi = \"main:app\"\n\n[targets.cloudrun]\nproject = \"{}\"\nregion = \"{}\"\n",
            fake::PROJECT,
            fake::REGION
        ),
    )
    .unwrap();
    std::fs::write(project.path().join("main.py"), "async def app(scope, receive, send):\n    pass\n").unwrap();
    let g = |args: &[&str]| {
        let mut c = common::aideploy(home.path());
        c.current_dir(project.path()).env("AIDEPLOY_GCP_ENDPOINT", &gcp.base).env("AIDEPLOY_POLL_INTERVAL_MS", "20");
        c.args(args).output().unwrap()
    };
    let init = ["--json", "ci", "init", "--provider", "github", "--repo", "o/n", "--target", "cloudrun", "--yes"];
    let out = ok_json(&g(&init));
    assert_eq!(out["changed"], true, "{out}");
    let number = fake::PROJECT_NUMBER;
    let deploy = format!("aideploy-ci-rag@{}.iam.gserviceaccount.com", fake::PROJECT);
    let plan = format!("aideploy-ci-rag-plan@{}.iam.gserviceaccount.com", fake::PROJECT);
    let provider = format!("projects/{number}/locations/global/workloadIdentityPools/aideploy-ci-rag/providers/github");
    assert_eq!(out["identities"]["gcp"]["deploy_service_account"], deploy.as_str());
    assert_eq!(out["identities"]["gcp"]["workload_identity_provider"], provider.as_str());
    let repository = format!("projects/{}/locations/{}/repositories/aideploy", fake::PROJECT, fake::REGION);
    {
        let st = gcp.state.lock().unwrap();
        let p = st.wif.provider(number, "aideploy-ci-rag", "github").expect("the GitHub provider");
        assert_eq!(p["attributeCondition"], "assertion.repository == 'o/n'");
        assert!(st.service_accounts.contains_key(&deploy) && st.service_accounts.contains_key(&plan));
        let bindings = st.wif.project_policy["bindings"].as_array().unwrap();
        let has =
            |role: &str, who: &str| bindings.iter().any(|b| b["role"] == role && b["members"].as_array().unwrap().iter().any(|m| m == who));
        assert!(has("roles/artifactregistry.writer", &format!("serviceAccount:{deploy}")));
        assert!(!has("roles/artifactregistry.admin", &format!("serviceAccount:{deploy}")));
        assert!(has("roles/run.viewer", &format!("serviceAccount:{plan}")) && !has("roles/run.admin", &format!("serviceAccount:{plan}")));
        assert!(st.repositories.contains_key(&repository), "{:?}", st.repositories.keys());
    }
    // The workflow: Google's login action with the provider and the job's own account.
    let path = project.path().join(".github/workflows/aideploy.yml");
    let wf = yaml(&path);
    assert!(!std::fs::read_to_string(&path).unwrap().contains("secrets."));
    let mut logins = 0;
    for (name, job) in wf["jobs"].as_object().unwrap() {
        for step in job["steps"].as_array().unwrap() {
            if step["uses"].as_str().is_some_and(|u| u.starts_with("google-github-actions/auth@")) {
                logins += 1;
                assert_eq!(job["permissions"]["id-token"], "write", "{name}");
                assert_eq!(step["with"]["workload_identity_provider"], provider.as_str());
                let want = if name == "plan" { &plan } else { &deploy };
                assert_eq!(step["with"]["service_account"], want.as_str(), "{name}");
            }
        }
    }
    assert_eq!(logins, wf["jobs"].as_object().unwrap().len(), "every job logs in");

    // Again: nothing changes in the project.
    let mutations = gcp.state.lock().unwrap().mutations;
    let again = ok_json(&g(&init));
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(gcp.state.lock().unwrap().mutations, mutations);

    // GitLab beside it: a second provider in the same pool, and a template whose ID token
    // is meant for it.
    let out = ok_json(&g(&["--json", "ci", "init", "--provider", "gitlab", "--repo", "o/n", "--target", "cloudrun", "--yes"]));
    assert_eq!(out["changed"], true, "{out}");
    let gl_provider = format!("projects/{number}/locations/global/workloadIdentityPools/aideploy-ci-rag/providers/gitlab");
    {
        let st = gcp.state.lock().unwrap();
        let p = st.wif.provider(number, "aideploy-ci-rag", "gitlab").expect("the GitLab provider");
        assert_eq!(p["attributeCondition"], "assertion.project_path == 'o/n'");
        assert_eq!(p["oidc"]["issuerUri"], "https://gitlab.com");
    }
    schema_valid(&path, "vendor.github-workflows");
    schema_valid(&project.path().join(".gitlab-ci.yml"), "vendor.gitlab-ci");
    let gl = yaml(&project.path().join(".gitlab-ci.yml"));
    let template = &gl[".aideploy"];
    assert_eq!(template["id_tokens"]["AIDEPLOY_GCP_ID_TOKEN"]["aud"], format!("https://iam.googleapis.com/{gl_provider}"));
    assert_eq!(template["variables"]["GOOGLE_CLOUD_PROJECT"], fake::PROJECT);
    assert_eq!(gl["plan"]["variables"]["AIDEPLOY_GCP_SERVICE_ACCOUNT"], plan.as_str());
    assert_eq!(gl["deploy"]["variables"]["AIDEPLOY_GCP_SERVICE_ACCOUNT"], deploy.as_str());

    // destroy: the accounts, their roles and the pool go; the repository stays.
    let out = ok_json(&g(&["--json", "ci", "destroy", "--yes"]));
    assert_eq!(out["changed"], true, "{out}");
    let st = gcp.state.lock().unwrap();
    assert!(!st.service_accounts.contains_key(&deploy) && !st.service_accounts.contains_key(&plan));
    assert_eq!(st.wif.pool(number, "aideploy-ci-rag").unwrap()["state"], "DELETED");
    let bindings = st.wif.project_policy["bindings"].as_array().unwrap();
    assert!(bindings.iter().all(|b| !b["members"].to_string().contains("aideploy-ci-rag")), "{bindings:?}");
    assert!(st.repositories.contains_key(&repository), "the repository keeps the app's images");
    assert!(!path.exists() && !project.path().join(".gitlab-ci.yml").exists());
}
