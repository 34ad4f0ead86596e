//! The `lambda` target end to end against moto's server (started by `scripts/test`,
//! reached through `AWS_ENDPOINT_URL`): deploy, an unchanged redeploy, a code change,
//! rollback and destroy, each checked by reading what exists in moto afterwards with
//! boto3 (not by the calls aideploy made). moto cannot invoke a Lambda function here,
//! so health is `skipped` and the output says so.

use crate::common;

use std::path::Path;
use std::process::Output;

use common::aideploy;
use serde_json::Value;

const REGION: &str = "us-east-1";
const SECRET: &str = "sk-test-0123456789-very-secret";

fn moto() -> String {
    std::env::var("AIDEPLOY_TEST_MOTO")
        .unwrap_or_else(|_| panic!("AIDEPLOY_TEST_MOTO is not set: run these tests with `scripts/test lambda_target` (it starts moto)"))
}

/// A unique app name per test and run (moto's state is shared by the whole run).
fn app_name(test: &str) -> String {
    format!("{test}-{}", std::process::id())
}

fn write_app(dir: &Path, name: &str, extra: &str) {
    std::fs::write(
        dir.join("aideploy.toml"),
        format!(
            r#"version = 1

[app]
name = "{name}"
runtime = "python3.11"
asgi = "main:app"
health = "/health"

[env]
GREETING = "hello"

[secrets]
API_KEY = {{}}

[targets.lambda]
region = "{REGION}"
memory = 256
timeout = 20
rate_limit = {{ rps = 10, burst = 20 }}
cors = {{ allow_origins = ["https://example.com"] }}
{extra}"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("main.py"),
        "async def app(scope, receive, send):\n    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n    await send({'type': 'http.response.body', 'body': b'ok'})\n",
    )
    .unwrap();
}

fn cmd(home: &Path, project: &Path) -> assert_cmd::Command {
    let mut c = aideploy(home);
    c.current_dir(project)
        .env("AWS_ENDPOINT_URL", moto())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("API_KEY", SECRET);
    common::offline(&mut c);
    c
}

fn run(home: &Path, project: &Path, args: &[&str]) -> Output {
    cmd(home, project).args(args).output().unwrap()
}

fn ok_json(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\nstderr:\n{stderr}", out.status.code());
    assert!(!stderr.contains(SECRET) && !String::from_utf8_lossy(&out.stdout).contains(SECRET), "a secret value was printed");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Everything in moto's account, read with boto3, as JSON.
const STATE_PY: &str = r#"
import boto3, json, sys, urllib.parse
kw = dict(endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id="testing", aws_secret_access_key="testing")
lam, gw, iam, sm, ecr = (boto3.client(s, **kw) for s in ("lambda", "apigatewayv2", "iam", "secretsmanager", "ecr"))
out = {"functions": {}, "roles": {}, "apis": [], "secrets": [], "repos": {}}
# Other tests change moto at the same time: a resource gone mid-read is skipped.
def each(items, read):
    for i in items:
        try:
            read(i)
        except Exception as e:
            if "NotFound" not in type(e).__name__ and "NoSuchEntity" not in type(e).__name__:
                raise
def function(f):
    name = f["FunctionName"]
    g = lam.get_function(FunctionName=name)
    fn = {"config": g["Configuration"], "tags": g.get("Tags", {}), "code": g.get("Code", {}),
          "versions": [{"version": v["Version"], "sha": v["CodeSha256"], "last_modified": v["LastModified"], "description": v.get("Description", ""), "package": v.get("PackageType")} for v in lam.list_versions_by_function(FunctionName=name)["Versions"]],
          "aliases": {a["Name"]: a["FunctionVersion"] for a in lam.list_aliases(FunctionName=name)["Aliases"]}}
    try:
        fn["policy"] = json.loads(lam.get_policy(FunctionName=name, Qualifier="live")["Policy"])
    except Exception:
        fn["policy"] = None
    out["functions"][name] = fn
each(lam.list_functions()["Functions"], function)
def role(r):
    n = r["RoleName"]
    pols = {}
    for p in iam.list_role_policies(RoleName=n)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=n, PolicyName=p)["PolicyDocument"]
        pols[p] = json.loads(urllib.parse.unquote(doc)) if isinstance(doc, str) else doc
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=n)["Tags"]}
    out["roles"][n] = {"arn": r["Arn"], "policies": pols, "tags": tags}
each(iam.list_roles()["Roles"], role)
def api(a):
    i = a["ApiId"]
    out["apis"].append({"id": i, "name": a["Name"], "tags": a.get("Tags", {}), "cors": a.get("CorsConfiguration"),
        "integrations": gw.get_integrations(ApiId=i)["Items"], "routes": gw.get_routes(ApiId=i)["Items"],
        "stages": gw.get_stages(ApiId=i)["Items"]})
each(gw.get_apis()["Items"], api)
for s in sm.list_secrets()["SecretList"]:
    out["secrets"].append({"name": s["Name"], "arn": s["ARN"], "tags": {t["Key"]: t["Value"] for t in s.get("Tags", [])}})
def repo(r):
    n = r["repositoryName"]
    try:
        lc = json.loads(ecr.get_lifecycle_policy(repositoryName=n)["lifecyclePolicyText"])
    except Exception:
        lc = None
    tags = {t["Key"]: t["Value"] for t in ecr.list_tags_for_resource(resourceArn=r["repositoryArn"])["tags"]}
    out["repos"][n] = {"scan": r.get("imageScanningConfiguration", {}).get("scanOnPush"), "lifecycle": lc, "tags": tags}
each(ecr.describe_repositories()["repositories"], repo)
print(json.dumps(out, default=str))
"#;

fn state() -> Value {
    let out = std::process::Command::new("python3").args(["-c", STATE_PY, &moto(), REGION]).output().unwrap();
    assert!(out.status.success(), "boto3 state dump failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn boto(script: &str) {
    let full = format!(
        "import boto3, io, json, sys, zipfile\nkw = dict(endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id='testing', aws_secret_access_key='testing')\n{script}"
    );
    let out = std::process::Command::new("python3").args(["-c", &full, &moto(), REGION]).output().unwrap();
    assert!(out.status.success(), "boto3 failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A function and role made by someone else, which destroy must leave alone.
fn create_foreign_function(name: &str) {
    boto(&format!(
        r#"iam = boto3.client("iam", **kw); lam = boto3.client("lambda", **kw)
trust = json.dumps({{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": {{"Service": "lambda.amazonaws.com"}}, "Action": "sts:AssumeRole"}}]}})
role = iam.create_role(RoleName="{name}-role", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
b = io.BytesIO(); z = zipfile.ZipFile(b, "w"); z.writestr("h.py", "def h(e, c): return 1"); z.close()
lam.create_function(FunctionName="{name}", Runtime="python3.11", Role=role, Handler="h.h", Code={{"ZipFile": b.getvalue()}}, Tags={{"owner": "someone-else"}})
"#
    ));
}

fn tagged(tags: &Value, app: &str) -> bool {
    tags.get("aideploy:app").and_then(Value::as_str) == Some(app)
        && tags.get("aideploy:stage").and_then(Value::as_str) == Some("dev")
        && tags.get("aideploy:target").and_then(Value::as_str) == Some("lambda")
}

fn ours<'a>(s: &'a Value, app: &str) -> (Option<&'a Value>, Option<&'a Value>, Option<&'a Value>, Vec<&'a Value>) {
    let f = s["functions"].get(format!("{app}-dev"));
    let r = s["roles"].get(format!("aideploy-{app}-dev-{REGION}"));
    let a = s["apis"].as_array().unwrap().iter().find(|a| a["name"] == format!("{app}-dev"));
    let secrets =
        s["secrets"].as_array().unwrap().iter().filter(|x| x["name"].as_str().unwrap().starts_with(&format!("aideploy/{app}/"))).collect();
    (f, r, a, secrets)
}

fn live_version(f: &Value) -> u64 {
    f["aliases"]["live"].as_str().unwrap().parse().unwrap()
}

fn newest_version(f: &Value) -> u64 {
    f["versions"].as_array().unwrap().iter().filter_map(|v| v["version"].as_str().unwrap().parse::<u64>().ok()).max().unwrap()
}

#[test]
fn deploy_noop_change_rollback_destroy() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("lam");
    write_app(p, &app, "");
    let foreign = format!("{app}-not-ours");
    create_foreign_function(&foreign);

    // First deploy: the output contract, health skipped on moto and said so.
    let out = run(home.path(), p, &["deploy", "--target", "lambda", "--yes", "--json"]);
    let report = ok_json(&out);
    assert_eq!(report["kind"], "lambda");
    assert_eq!(report["target"], "lambda");
    assert_eq!(report["stage"], "dev");
    assert_eq!(report["changed"], true);
    assert_eq!(report["health"], "skipped");
    assert!(String::from_utf8_lossy(&out.stderr).contains("health: skipped"), "the output does not say health was skipped");
    assert_eq!(report["artifact"]["kind"], "zip");
    assert!(report["artifact"]["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(report["artifact"]["bytes"].as_u64().unwrap() > 0);
    assert!(report["duration_ms"].is_u64());
    for a in report["actions"].as_array().unwrap() {
        assert_eq!(a["op"], "create", "{a}");
        assert!(a["resource"].is_string() && a["id"].is_string());
    }
    let url = report["url"].as_str().unwrap().to_string();

    // What exists in moto now.
    let s = state();
    let (f, role, api, secrets) = ours(&s, &app);
    let f = f.expect("function");
    let role = role.expect("role");
    let api = api.expect("HTTP API");
    assert_eq!(url, format!("https://{}.execute-api.{REGION}.amazonaws.com", api["id"].as_str().unwrap()));
    assert!(!s.to_string().contains(SECRET), "a secret value is in a function, role or API");

    // The secret: stored under its name, tagged; the function holds its ARN only.
    assert_eq!(secrets.len(), 1);
    let secret_arn = secrets[0]["arn"].as_str().unwrap();
    assert_eq!(secrets[0]["name"], format!("aideploy/{app}/dev/API_KEY"));
    assert!(tagged(&secrets[0]["tags"], &app));
    let env = &f["config"]["Environment"]["Variables"];
    assert_eq!(env["AIDEPLOY_ASGI"], "main:app");
    assert_eq!(env["GREETING"], "hello");
    let arns: Value = serde_json::from_str(env["AIDEPLOY_SECRET_ARNS"].as_str().unwrap()).unwrap();
    assert_eq!(arns, serde_json::json!({"API_KEY": secret_arn}));
    assert_eq!(f["config"]["Handler"], "aideploy_lambda.handler");
    assert_eq!(f["config"]["Runtime"], "python3.11");
    assert_eq!(f["config"]["MemorySize"], 256);
    assert_eq!(f["config"]["Timeout"], 20);
    assert_eq!(f["config"]["Role"], role["arn"]);
    assert!(tagged(&f["tags"], &app));
    assert_eq!(f["tags"]["aideploy:digest"], report["artifact"]["digest"]);

    // The role may write its own log group and read exactly this app's secret.
    assert!(tagged(&role["tags"], &app));
    let policies = role["policies"].as_object().unwrap();
    assert_eq!(policies.len(), 1);
    let statements = policies.values().next().unwrap()["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2);
    let logs = statements.iter().find(|st| st["Sid"] == "OwnLogGroup").unwrap();
    let group = format!("arn:aws:logs:{REGION}:123456789012:log-group:/aws/lambda/{app}-dev");
    assert_eq!(logs["Resource"], serde_json::json!([group.clone(), format!("{group}:*")]));
    let sec = statements.iter().find(|st| st["Sid"] == "OwnSecrets").unwrap();
    assert_eq!(sec["Action"], "secretsmanager:GetSecretValue");
    assert_eq!(sec["Resource"], serde_json::json!([secret_arn]));

    // Alias live on the newest version; the route goes to the alias' integration.
    assert_eq!(live_version(f), newest_version(f));
    let alias_arn = format!("{}:live", f["config"]["FunctionArn"].as_str().unwrap());
    let integration = &api["integrations"][0];
    assert_eq!(api["integrations"].as_array().unwrap().len(), 1);
    assert_eq!(integration["IntegrationType"], "AWS_PROXY");
    assert_eq!(integration["IntegrationUri"], alias_arn.as_str());
    assert_eq!(integration["PayloadFormatVersion"], "2.0");
    let route = &api["routes"][0];
    assert_eq!(route["RouteKey"], "$default");
    assert_eq!(route["AuthorizationType"], "AWS_IAM", "private unless `public = true`");
    assert_eq!(route["Target"], format!("integrations/{}", integration["IntegrationId"].as_str().unwrap()));
    let stage = &api["stages"][0];
    assert_eq!(stage["StageName"], "$default");
    assert_eq!(stage["AutoDeploy"], true);
    assert_eq!(stage["DefaultRouteSettings"]["ThrottlingRateLimit"], 10.0);
    assert_eq!(stage["DefaultRouteSettings"]["ThrottlingBurstLimit"], 20);
    assert!(tagged(&api["tags"], &app));
    assert!(tagged(&stage["Tags"], &app));
    assert_eq!(api["cors"]["AllowOrigins"], serde_json::json!(["https://example.com"]));
    // Invoke permission on the alias, only from this API.
    let st = &f["policy"]["Statement"][0];
    assert_eq!(st["Principal"]["Service"], "apigateway.amazonaws.com");
    assert_eq!(st["Action"], "lambda:InvokeFunction");
    assert_eq!(
        st["Condition"]["ArnLike"]["AWS:SourceArn"],
        format!("arn:aws:execute-api:{REGION}:123456789012:{}/*/*", api["id"].as_str().unwrap())
    );

    // Unchanged: a noop, no write call, nothing new in moto.
    let out = run(home.path(), p, &["deploy", "--target", "lambda", "--yes", "--json", "-vv"]);
    let again = ok_json(&out);
    assert_eq!(again["changed"], false);
    assert!(again["actions"].as_array().unwrap().iter().all(|a| a["op"] == "noop"), "{again}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("(read)") && !log.contains("(write)"), "an unchanged deploy made a write call:\n{log}");
    let s2 = state();
    let f2 = ours(&s2, &app).0.unwrap();
    assert_eq!(f2["versions"], f["versions"]);
    assert_eq!(f2["config"]["LastModified"], f["config"]["LastModified"]);

    // Plan from a fresh machine (no local state at all) sees the same.
    let fresh = tempfile::tempdir().unwrap();
    let planned = ok_json(&run(fresh.path(), p, &["plan", "--target", "lambda", "--json"]));
    assert!(planned["actions"].as_array().unwrap().iter().all(|a| a["op"] == "noop"), "{planned}");

    // A new secret value: stored as a new secret version (same ARN, same policy), and a
    // new function version, so no warm instance keeps the old value.
    let rotated = "sk-rotated-value-42";
    let out = cmd(home.path(), p).env("API_KEY", rotated).args(["deploy", "--target", "lambda", "--yes", "--json"]).output().unwrap();
    let rot = ok_json(&out);
    assert!(!String::from_utf8_lossy(&out.stderr).contains(rotated));
    let ops: Vec<(String, String)> = rot["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["op"] != "noop")
        .map(|a| (a["resource"].as_str().unwrap().into(), a["op"].as_str().unwrap().into()))
        .collect();
    let want: Vec<(String, String)> = [("secret", "update"), ("function-config", "update"), ("version", "create"), ("alias", "update")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(ops, want);
    let sr = state();
    assert!(!sr.to_string().contains(rotated));
    let fr = ours(&sr, &app).0.unwrap();
    let env_r = &fr["config"]["Environment"]["Variables"];
    assert_eq!(env_r["AIDEPLOY_SECRET_ARNS"], env["AIDEPLOY_SECRET_ARNS"]);
    assert_ne!(env_r["AIDEPLOY_SECRETS_REV"], env["AIDEPLOY_SECRETS_REV"]);
    assert_eq!(live_version(fr), newest_version(fr));
    assert!(live_version(fr) > live_version(f));
    boto(&format!("v = boto3.client('secretsmanager', **kw).get_secret_value(SecretId='{secret_arn}')['SecretString']\nassert v == '{rotated}', 'not rotated'"));

    // A code change: a new version, the alias moves to it.
    std::fs::write(p.join("extra.py"), "VALUE = 2\n").unwrap();
    let changed =
        ok_json(&cmd(home.path(), p).env("API_KEY", rotated).args(["deploy", "--target", "lambda", "--yes", "--json"]).output().unwrap());
    assert_eq!(changed["changed"], true);
    assert_ne!(changed["artifact"]["digest"], report["artifact"]["digest"]);
    let s3 = state();
    let f3 = ours(&s3, &app).0.unwrap();
    let first = live_version(fr);
    assert_eq!(live_version(f3), newest_version(f3));
    assert!(live_version(f3) > first);
    assert_eq!(f3["tags"]["aideploy:digest"], changed["artifact"]["digest"]);

    // Rollback: the alias goes back to the version before.
    let back =
        ok_json(&cmd(home.path(), p).env("API_KEY", rotated).args(["rollback", "--target", "lambda", "--yes", "--json"]).output().unwrap());
    assert_eq!(back["health"], "skipped");
    assert_eq!(back["digest"], report["artifact"]["digest"]);
    let s4 = state();
    assert_eq!(live_version(ours(&s4, &app).0.unwrap()), first);

    // Destroy: nothing of this app left; someone else's function untouched.
    let gone = ok_json(&run(home.path(), p, &["destroy", "--target", "lambda", "--yes", "--json"]));
    assert!(gone["actions"].as_array().unwrap().iter().all(|a| a["op"] == "delete"));
    let s5 = state();
    let (f5, r5, a5, sec5) = ours(&s5, &app);
    assert!(f5.is_none() && r5.is_none() && a5.is_none() && sec5.is_empty(), "left behind: {f5:?} {r5:?} {a5:?} {sec5:?}");
    let tagged_left = s5.to_string().matches(&format!("\"aideploy:app\":\"{app}\"")).count();
    assert_eq!(tagged_left, 0);
    assert!(s5["functions"].get(&foreign).is_some(), "destroy removed a function it did not create");
    assert!(s5["roles"].get(format!("{foreign}-role")).is_some());

    // And a second destroy has nothing to do.
    let none = ok_json(&run(home.path(), p, &["destroy", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(none["actions"], serde_json::json!([]));
}

/// The `$default` route's authorization as moto holds it (read with boto3).
fn route_authorization(app: &str) -> String {
    let s = state();
    let api = ours(&s, app).2.expect("HTTP API");
    let routes = api["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 1, "{routes:?}");
    routes[0]["AuthorizationType"].as_str().unwrap_or_default().to_string()
}

/// (resource, op, reason) of each row that is not a no-op.
fn changes(report: &Value) -> Vec<(String, String, String)> {
    report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["op"] != "noop")
        .map(|a| (a["resource"].as_str().unwrap().into(), a["op"].as_str().unwrap().into(), a["reason"].as_str().unwrap_or("").into()))
        .collect()
}

#[test]
fn the_route_is_private_unless_public_is_set() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("lampriv");
    write_app(p, &app, "");
    let deploy = |extra: &[&str]| {
        let mut args = vec!["deploy", "--target", "lambda", "--yes", "--json"];
        args.extend_from_slice(extra);
        let out = run(home.path(), p, &args);
        (ok_json(&out), String::from_utf8_lossy(&out.stderr).into_owned())
    };

    // The plan says private before anything exists; the deploy makes the route AWS_IAM.
    let planned = ok_json(&run(home.path(), p, &["plan", "--target", "lambda", "--json"]));
    let route = planned["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "route").unwrap().clone();
    assert!(route["reason"].as_str().unwrap().starts_with("private: AWS_IAM"), "{route}");
    let (report, stderr) = deploy(&[]);
    assert_eq!(route_authorization(&app), "AWS_IAM");
    // The output says how to call it, and how to open it.
    let url = report["url"].as_str().unwrap();
    assert!(stderr.contains(&format!("awscurl --service execute-api --region {REGION} {url}/health")), "{stderr}");
    assert!(stderr.contains("public = true"), "{stderr}");
    let status = ok_json(&run(home.path(), p, &["status", "--target", "lambda", "--json"]));
    let access = status["details"]["access"].as_str().unwrap();
    assert!(access.starts_with("private (AWS_IAM)") && access.contains("awscurl --service execute-api"), "{status}");

    // `public = true`: the route alone changes, to NONE.
    let (opened, stderr) = deploy(&["--set", "public=true"]);
    assert_eq!(changes(&opened), vec![("route".to_string(), "update".to_string(), "private -> public: anyone may call it".to_string())]);
    assert_eq!(route_authorization(&app), "NONE");
    assert!(!stderr.contains("awscurl"), "a public API is not private: {stderr}");
    let status = ok_json(&run(home.path(), p, &["status", "--target", "lambda", "--set", "public=true", "--json"]));
    assert_eq!(status["details"]["access"], "public: anyone may call it");
    let (again, _) = deploy(&["--set", "public=true"]);
    assert_eq!(again["changed"], false, "{again}");

    // And back: private again.
    let (closed, _) = deploy(&[]);
    let rows = changes(&closed);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].1.as_str()), ("route", "update"));
    assert!(rows[0].2.starts_with("public -> private: AWS_IAM"), "{rows:?}");
    assert_eq!(route_authorization(&app), "AWS_IAM");

    ok_json(&run(home.path(), p, &["destroy", "--target", "lambda", "--yes", "--json"]));
}

#[test]
fn plan_warns_about_api_gateways_30_seconds() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    write_app(project.path(), &app_name("lamwarn"), "");
    let planned = ok_json(&run(home.path(), project.path(), &["plan", "--target", "lambda", "--set", "timeout=120", "--json"]));
    let warnings = planned["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w.as_str().unwrap().contains("30 s") && w.as_str().unwrap().contains("cloudrun")), "{planned}");
    assert!(planned["actions"].as_array().unwrap().iter().all(|a| a["op"] == "create"));
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run these tests with `scripts/test --test lambda_target` (it starts moto and the registry)")
    })
}

/// The app of `write_app` as a container-image function, on the tests' base image.
fn write_image_app(dir: &Path, name: &str) {
    write_app(dir, name, "");
    let manifest = dir.join("aideploy.toml");
    let build = format!("[build]\npackage = \"image\"\nbase_image = \"{}\"\n\n[env]", env("AIDEPLOY_TEST_BASE_IMAGE"));
    let text = std::fs::read_to_string(&manifest).unwrap().replacen("[env]", &build, 1);
    std::fs::write(&manifest, text).unwrap();
}

/// A registry answer, read with Python's urllib (status, body bytes, content type).
fn registry_get(url: &str, accept: &str) -> (u16, Vec<u8>) {
    let py = "import sys, urllib.request, urllib.error\nreq = urllib.request.Request(sys.argv[1], headers={'Accept': sys.argv[2]})\ntry:\n    r = urllib.request.urlopen(req); sys.stdout.write(str(r.status) + '\\n'); sys.stdout.flush(); sys.stdout.buffer.write(r.read())\nexcept urllib.error.HTTPError as e:\n    print(e.code)";
    let out = std::process::Command::new("python3").args(["-c", py, url, accept]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let nl = out.stdout.iter().position(|b| *b == b'\n').unwrap();
    (String::from_utf8_lossy(&out.stdout[..nl]).parse().unwrap(), out.stdout[nl + 1..].to_vec())
}

/// Runs `script` with the image's Python (`--entrypoint python3`) in the machine's Docker
/// engine: the image pulled from the loopback registry, or loaded from a skopeo archive
/// when the engine cannot reach it. Returns stdout.
fn run_in_image(image: &str, script: &str) -> String {
    use std::process::Command;
    let ok = |c: &mut Command| c.output().is_ok_and(|o| o.status.success());
    assert!(ok(Command::new("docker").arg("info")), "this test runs the pushed image in the machine's Docker engine, and none answers");
    let mut name = image.to_string();
    let mut loaded = false;
    if !ok(Command::new("docker").args(["pull", "-q", image])) {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("image.tar");
        name = format!("aideploy-lambda-test:{}", std::process::id());
        assert!(ok(Command::new("skopeo").args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &format!("docker://{image}"),
            &format!("docker-archive:{}:{name}", archive.display())
        ])));
        assert!(ok(Command::new("docker").arg("load").arg("-q").arg("-i").arg(&archive)));
        loaded = true;
    }
    let out = Command::new("docker").args(["run", "--rm", "--entrypoint", "python3", &name, "-c", script]).output().unwrap();
    let _ = Command::new("docker").args(["rmi", "-f", &name]).output();
    assert!(
        out.status.success(),
        "the image's Python failed (loaded: {loaded}):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// In the image: the runtime interface client and boto3 import, and aideploy's adapter
/// answers an API Gateway HTTP API (payload 2.0) event for GET /health through the app.
const INVOKE_PY: &str = r#"
import base64, json, os, awslambdaric, boto3
import aideploy_lambda
event = {"version": "2.0", "routeKey": "$default", "rawPath": "/health", "rawQueryString": "",
         "headers": {"host": "x.execute-api.us-east-1.amazonaws.com", "x-forwarded-proto": "https"},
         "requestContext": {"domainName": "x.execute-api.us-east-1.amazonaws.com", "stage": "$default", "routeKey": "$default",
                            "http": {"method": "GET", "path": "/health", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"}},
         "isBase64Encoded": False}
r = aideploy_lambda.handler(event, None)
text = base64.b64decode(r["body"]).decode() if r.get("isBase64Encoded") else r["body"]
print(json.dumps({"response": r, "text": text, "cwd": os.getcwd(), "task_root": os.environ.get("LAMBDA_TASK_ROOT")}))
"#;

/// A `command` app (a server of its own) on Lambda: built as an image by default, the
/// function names the command, and in the image aideploy's adapter starts it and sends
/// each API Gateway HTTP API v2 event to it over loopback, as a web adapter does.
#[test]
fn a_command_app_runs_in_an_image_behind_the_adapter() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("lamcmd");
    std::fs::write(
        p.join("aideploy.toml"),
        format!(
            "version = 1\n\n[app]\nname = \"{app}\"\nruntime = \"python3.11\"\ncommand = \"python3 server.py\"\nport = 8000\nhealth = \"/health\"\n\n[build]\nbase_image = \"{}\"\n\n[targets.lambda]\nregion = \"{REGION}\"\n",
            env("AIDEPLOY_TEST_BASE_IMAGE")
        ),
    )
    .unwrap();
    std::fs::write(p.join("requirements.txt"), "").unwrap();
    std::fs::write(
        p.join("server.py"),
        "import http.server, json, os\n\nclass H(http.server.BaseHTTPRequestHandler):\n    def answer(self, body=b''):\n        out = json.dumps({'method': self.command, 'path': self.path, 'body': body.decode(), 'host': self.headers.get('host')}).encode()\n        self.send_response(200)\n        self.send_header('content-type', 'application/json')\n        self.send_header('set-cookie', 'seen=1')\n        self.end_headers()\n        self.wfile.write(out)\n    def do_GET(self):\n        self.answer()\n    def do_POST(self):\n        self.answer(self.rfile.read(int(self.headers['content-length'])))\n\nhttp.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\n",
    )
    .unwrap();
    let registry = env("AIDEPLOY_TEST_REGISTRY");
    let repo = format!("{registry}/lambda-test/{app}");
    let run_img = |args: &[&str]| cmd(home.path(), p).env("AIDEPLOY_REGISTRY", &repo).args(args).output().unwrap();

    let planned = ok_json(&run_img(&["plan", "--target", "lambda", "--json"]));
    let function = planned["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "function").unwrap();
    assert!(function["reason"].as_str().unwrap().contains("starts a server of its own"), "{function}");
    let report = ok_json(&run_img(&["deploy", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(report["artifact"]["kind"], "image");
    let digest = report["artifact"]["digest"].as_str().unwrap().to_string();
    let s = state();
    let f = ours(&s, &app).0.expect("function");
    assert_eq!(f["config"]["PackageType"], "Image");
    assert_eq!(f["config"]["Environment"]["Variables"]["AIDEPLOY_COMMAND"], "python3 server.py");
    assert!(f["config"]["Environment"]["Variables"]["AIDEPLOY_ASGI"].is_null());

    let script = r#"
import json, aideploy_lambda
def event(method, path, query, body):
    return {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
            "headers": {"host": "x.execute-api.us-east-1.amazonaws.com", "content-type": "application/json"},
            "requestContext": {"domainName": "x.execute-api.us-east-1.amazonaws.com", "stage": "$default",
                               "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"}},
            "body": body, "isBase64Encoded": False}
out = [aideploy_lambda.handler(event("GET", "/health", "q=1", None), None),
       aideploy_lambda.handler(event("POST", "/ask", "", '{"question": "refunds?"}'), None)]
print(json.dumps(out))
"#;
    let out = run_in_image(&format!("{repo}@{digest}"), script);
    let answers: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(answers[0]["statusCode"], 200, "{answers}");
    assert_eq!(answers[0]["cookies"], serde_json::json!(["seen=1"]), "{answers}");
    let first: Value = serde_json::from_str(answers[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        first,
        serde_json::json!({"method": "GET", "path": "/health?q=1", "body": "", "host": "x.execute-api.us-east-1.amazonaws.com"})
    );
    let second: Value = serde_json::from_str(answers[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(second["method"], "POST");
    assert_eq!(second["body"], "{\"question\": \"refunds?\"}");

    ok_json(&run_img(&["destroy", "--target", "lambda", "--yes", "--json"]));
    assert!(ours(&state(), &app).0.is_none());
}

#[test]
fn container_image_function_deploy_noop_change_rollback_destroy() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("lamimg");
    write_image_app(p, &app);
    let registry = env("AIDEPLOY_TEST_REGISTRY");
    let repo = format!("{registry}/lambda-test/{app}");
    let run_img = |args: &[&str]| cmd(home.path(), p).env("AIDEPLOY_REGISTRY", &repo).args(args).output().unwrap();

    // Plan says what it will make, and why an image.
    let planned = ok_json(&run_img(&["plan", "--target", "lambda", "--json"]));
    let function = planned["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "function").unwrap();
    assert_eq!(function["op"], "create");
    assert!(function["reason"].as_str().unwrap().contains("image: [build] package = \"image\""), "{function}");

    // Deploy: an image function pinned by digest to the image in the registry.
    let report = ok_json(&run_img(&["deploy", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(report["changed"], true);
    assert_eq!(report["artifact"]["kind"], "image");
    let digest = report["artifact"]["digest"].as_str().unwrap().to_string();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    let s = state();
    let (f, role, api, _) = ours(&s, &app);
    let (f, role, api) = (f.expect("function"), role.expect("role"), api.expect("HTTP API"));
    assert_eq!(f["config"]["PackageType"], "Image");
    assert!(
        f["config"]["Runtime"].is_null() && f["config"]["Handler"].is_null(),
        "an image function has no runtime or handler: {}",
        f["config"]
    );
    assert_eq!(f["code"]["ImageUri"], format!("{repo}@{digest}"));
    assert_eq!(f["config"]["MemorySize"], 256);
    assert_eq!(f["config"]["Timeout"], 20);
    assert_eq!(f["config"]["Architectures"], serde_json::json!(["x86_64"]));
    assert_eq!(f["config"]["Environment"]["Variables"]["AIDEPLOY_ASGI"], "main:app");
    assert_eq!(f["config"]["Role"], role["arn"]);
    assert!(tagged(&f["tags"], &app));
    assert_eq!(f["tags"]["aideploy:digest"], digest.as_str());
    // The execution role: logs and the secret only (Lambda pulls from ECR itself).
    let statements = role["policies"]["aideploy"]["Statement"].as_array().unwrap();
    assert!(statements.iter().all(|st| !st.to_string().contains("ecr:")), "{statements:?}");
    // The alias on a published version that names the image.
    let first = live_version(f);
    assert_eq!(first, newest_version(f));
    let v = f["versions"].as_array().unwrap().iter().find(|v| v["version"].as_str() == Some(first.to_string().as_str())).unwrap();
    assert_eq!(v["description"], format!("aideploy image {digest}"));
    assert_eq!(v["package"], "Image");
    assert_eq!(api["integrations"][0]["IntegrationUri"], format!("{}:live", f["config"]["FunctionArn"].as_str().unwrap()));
    assert!(f["policy"]["Statement"][0]["Condition"]["ArnLike"]["AWS:SourceArn"].as_str().unwrap().contains(api["id"].as_str().unwrap()));

    // The image really is in the registry, under that digest, and runs as Lambda would.
    let path = repo.trim_start_matches(&format!("{registry}/"));
    let (status, manifest) =
        registry_get(&format!("http://{registry}/v2/{path}/manifests/{digest}"), "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(status, 200);
    use sha2::Digest;
    assert_eq!(format!("sha256:{}", hex::encode(sha2::Sha256::digest(&manifest))), digest);
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    let (status, config) = registry_get(&format!("http://{registry}/v2/{path}/blobs/{}", m["config"]["digest"].as_str().unwrap()), "*/*");
    assert_eq!(status, 200);
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["python3", "-m", "awslambdaric"]));
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["aideploy_lambda.handler"]));
    let out = run_in_image(&format!("{repo}@{digest}"), INVOKE_PY);
    let answer: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(answer["response"]["statusCode"], 200, "{answer}");
    assert_eq!(answer["text"], "ok", "{answer}");
    assert_eq!(answer["cwd"], "/app");
    assert_eq!(answer["task_root"], "/app");

    // Unchanged: no write call, nothing new.
    let out = run_img(&["deploy", "--target", "lambda", "--yes", "--json", "-vv"]);
    let again = ok_json(&out);
    assert_eq!(again["changed"], false);
    assert!(again["actions"].as_array().unwrap().iter().all(|a| a["op"] == "noop"), "{again}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("(read)") && !log.contains("(write)"), "an unchanged deploy made a write call:\n{log}");
    let s2 = state();
    assert_eq!(ours(&s2, &app).0.unwrap()["versions"], f["versions"]);
    // Status shows the image digest.
    let status = ok_json(&run_img(&["status", "--target", "lambda", "--json"]));
    assert_eq!(status["digest"], digest.as_str(), "{status}");
    assert_eq!(status["details"]["image"], format!("{repo}@{digest}"), "{status}");

    // A code change: a new image, a new version, the alias moves.
    std::fs::write(p.join("extra.py"), "VALUE = 2\n").unwrap();
    let changed = ok_json(&run_img(&["deploy", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(changed["changed"], true);
    let digest2 = changed["artifact"]["digest"].as_str().unwrap().to_string();
    assert_ne!(digest2, digest);
    let s3 = state();
    let f3 = ours(&s3, &app).0.unwrap();
    assert_eq!(f3["code"]["ImageUri"], format!("{repo}@{digest2}"));
    assert_eq!(f3["tags"]["aideploy:digest"], digest2.as_str());
    assert!(live_version(f3) > first);
    assert_eq!(live_version(f3), newest_version(f3));
    assert_eq!(
        registry_get(&format!("http://{registry}/v2/{path}/manifests/{digest2}"), "application/vnd.oci.image.manifest.v1+json").0,
        200
    );

    // Rollback: the alias goes back to the version of the first image.
    let back = ok_json(&run_img(&["rollback", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(back["digest"], digest.as_str(), "{back}");
    assert_eq!(live_version(ours(&state(), &app).0.unwrap()), first);

    // Back to a zip: Lambda cannot change the package type, so the plan says the function
    // is replaced, and the deploy does it (the API stays, its integration on the alias).
    let text = std::fs::read_to_string(p.join("aideploy.toml")).unwrap().replacen("package = \"image\"\n", "", 1);
    std::fs::write(p.join("aideploy.toml"), text).unwrap();
    let planned = ok_json(&run_img(&["plan", "--target", "lambda", "--json"]));
    let fn_ops: Vec<&str> =
        planned["actions"].as_array().unwrap().iter().filter(|a| a["resource"] == "function").map(|a| a["op"].as_str().unwrap()).collect();
    assert_eq!(fn_ops, ["delete", "create"], "{planned}");
    assert!(planned.to_string().contains("package type"), "{planned}");
    let zipped = ok_json(&run_img(&["deploy", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(zipped["artifact"]["kind"], "zip");
    let s4 = state();
    let (f4, _, a4, _) = ours(&s4, &app);
    let f4 = f4.unwrap();
    assert_eq!(f4["config"]["PackageType"], "Zip");
    assert_eq!(f4["config"]["Handler"], "aideploy_lambda.handler");
    assert_eq!(live_version(f4), newest_version(f4));
    let a4 = a4.unwrap();
    assert_eq!(a4["id"], api["id"], "the HTTP API was replaced");
    assert_eq!(a4["integrations"][0]["IntegrationUri"], format!("{}:live", f4["config"]["FunctionArn"].as_str().unwrap()));
    assert!(
        f4["policy"]["Statement"][0]["Condition"]["ArnLike"]["AWS:SourceArn"].as_str().unwrap().contains(api["id"].as_str().unwrap()),
        "no invoke permission on the new alias"
    );
    let again = ok_json(&run_img(&["deploy", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(again["changed"], false, "{again}");

    // Destroy: nothing of this app left.
    ok_json(&run_img(&["destroy", "--target", "lambda", "--yes", "--json"]));
    let s5 = state();
    let (f5, r5, a5, sec5) = ours(&s5, &app);
    assert!(f5.is_none() && r5.is_none() && a5.is_none() && sec5.is_empty(), "left behind: {f5:?} {r5:?} {a5:?} {sec5:?}");
}

#[test]
fn container_image_function_makes_and_destroys_its_ecr_repository() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("lamecr");
    write_image_app(p, &app);
    let name = format!("aideploy/{app}-dev-lambda");

    // `aideploy build --target lambda --package image --push` makes the same Lambda image.
    let registry = env("AIDEPLOY_TEST_REGISTRY");
    let built = ok_json(
        &cmd(home.path(), p)
            .env("AIDEPLOY_REGISTRY", format!("{registry}/lambda-build/{app}"))
            .args(["build", "--target", "lambda", "--package", "image", "--push", "--json"])
            .output()
            .unwrap(),
    );
    let digest = built["artifact"]["digest"].as_str().unwrap();
    let (status, manifest) =
        registry_get(&format!("http://{registry}/v2/lambda-build/{app}/manifests/{digest}"), "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(status, 200);
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    let config: Value = serde_json::from_slice(
        &registry_get(&format!("http://{registry}/v2/lambda-build/{app}/blobs/{}", m["config"]["digest"].as_str().unwrap()), "*/*").1,
    )
    .unwrap();
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["python3", "-m", "awslambdaric"]));
    let env_list = config["config"]["Env"].to_string();
    assert!(
        env_list.contains("LAMBDA_TASK_ROOT=/app") && env_list.contains("PYTHONPATH=/opt/aideploy/lambda:/opt/aideploy/site-packages"),
        "{env_list}"
    );

    // A registry Lambda cannot pull from: refused before anything is made.
    let out =
        cmd(home.path(), p).env("AIDEPLOY_REGISTRY", "ghcr.io/acme/app").args(["deploy", "--target", "lambda", "--yes"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("only from Amazon ECR") && stderr.contains(&name), "{stderr}");
    assert!(ours(&state(), &app).0.is_none());

    // No registry named: the plan makes the target's own ECR repository; the deploy
    // creates it (scan on push, lifecycle policy, tags), and moto serves no registry to
    // push to, which the error says, before the function is made.
    let planned = ok_json(&run(home.path(), p, &["plan", "--target", "lambda", "--json"]));
    assert!(
        planned["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["resource"] == "ecr-repository" && a["op"] == "create" && a["id"] == name.as_str()),
        "{planned}"
    );
    assert!(state()["repos"].get(&name).is_none(), "plan created the repository");
    let out = run(home.path(), p, &["deploy", "--target", "lambda", "--yes"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("AIDEPLOY_REGISTRY"), "{stderr}");
    let s = state();
    let r = s["repos"].get(&name).unwrap_or_else(|| panic!("no repository {name}: {s}"));
    assert_eq!(r["scan"], true);
    assert!(tagged(&r["tags"], &app));
    let rule = &r["lifecycle"]["rules"][0];
    assert_eq!(rule["selection"]["countType"], "imageCountMoreThan");
    assert_eq!(rule["selection"]["countNumber"], 10);
    assert!(ours(&s, &app).0.is_none(), "the function was made without its image");

    // Destroy finds it by name and tags and deletes it with the role.
    let gone = ok_json(&run(home.path(), p, &["destroy", "--target", "lambda", "--yes", "--json"]));
    assert!(gone["actions"].as_array().unwrap().iter().any(|a| a["resource"] == "ecr-repository" && a["op"] == "delete"), "{gone}");
    let s = state();
    assert!(s["repos"].get(&name).is_none());
    let (f, r, a, _) = ours(&s, &app);
    assert!(f.is_none() && r.is_none() && a.is_none());
}

#[test]
fn a_zip_over_250_mb_unzipped_deploys_as_an_image_and_says_so() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("lamhuge");
    write_app(p, &app, "");
    let manifest = p.join("aideploy.toml");
    let build = format!("[build]\nbase_image = \"{}\"\n\n[env]", env("AIDEPLOY_TEST_BASE_IMAGE"));
    std::fs::write(&manifest, std::fs::read_to_string(&manifest).unwrap().replacen("[env]", &build, 1)).unwrap();
    // 251 MiB of zeros, sparse: over the zip limit, cheap to store and to compress.
    std::fs::File::create(p.join("weights.bin")).unwrap().set_len(251 << 20).unwrap();
    let repo = format!("{}/lambda-test/{app}", env("AIDEPLOY_TEST_REGISTRY"));

    let out =
        cmd(home.path(), p).env("AIDEPLOY_REGISTRY", &repo).args(["deploy", "--target", "lambda", "--yes", "--json"]).output().unwrap();
    let report = ok_json(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("over Lambda's limit of 250.0 MiB") && stderr.contains("deploying a container image instead"), "{stderr}");
    assert_eq!(report["artifact"]["kind"], "image");
    let function = report["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "function").unwrap();
    assert!(function["reason"].as_str().unwrap().contains("over Lambda's limit"), "{function}");
    let digest = report["artifact"]["digest"].as_str().unwrap();
    let s = state();
    let f = ours(&s, &app).0.expect("function");
    assert_eq!(f["config"]["PackageType"], "Image");
    assert_eq!(f["code"]["ImageUri"], format!("{repo}@{digest}"));
    ok_json(
        &cmd(home.path(), p).env("AIDEPLOY_REGISTRY", &repo).args(["destroy", "--target", "lambda", "--yes", "--json"]).output().unwrap(),
    );
    assert!(ours(&state(), &app).0.is_none());
}

#[test]
fn a_function_aideploy_did_not_create_is_not_taken_over() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let app = app_name("lamtaken");
    write_app(project.path(), &app, "");
    create_foreign_function(&format!("{app}-dev"));
    let out = run(home.path(), project.path(), &["deploy", "--target", "lambda", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not created by aideploy") && stderr.contains("--stage"), "{stderr}");
    let s = state();
    assert_eq!(s["functions"][format!("{app}-dev")]["tags"]["owner"], "someone-else");
    assert!(s["roles"].get(format!("aideploy-{app}-dev-{REGION}")).is_none(), "a role was created before the conflict was found");
}

/// A same-named IAM role without this target's tags (another app's, or one a person made)
/// is refused by name before anything is created, and destroy leaves it alone.
#[test]
fn a_role_without_our_tags_is_refused_and_left_alone() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let app = app_name("lamrole");
    write_app(project.path(), &app, "");
    let role = format!("aideploy-{app}-dev-{REGION}");
    boto(&format!(
        r#"iam = boto3.client("iam", **kw)
trust = json.dumps({{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": {{"Service": "lambda.amazonaws.com"}}, "Action": "sts:AssumeRole"}}]}})
iam.create_role(RoleName="{role}", AssumeRolePolicyDocument=trust, Tags=[{{"Key": "owner", "Value": "someone-else"}}])
"#
    ));
    let out = run(home.path(), project.path(), &["deploy", "--target", "lambda", "--yes"]);
    assert!(!out.status.success() && out.status.code() != Some(3), "{}", common::transcript(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&role) && stderr.contains("rename the app or stage"), "{stderr}");
    let check = || {
        let s = state();
        let r = &s["roles"][&role];
        assert_eq!(r["tags"], serde_json::json!({"owner": "someone-else"}), "the foreign role changed: {r}");
        assert_eq!(r["policies"], serde_json::json!({}), "a policy was put on the foreign role: {r}");
        assert!(s["functions"].get(format!("{app}-dev")).is_none(), "a function was created");
        assert!(!s["secrets"].as_array().unwrap().iter().any(|x| x["name"].as_str().unwrap().contains(&app)), "a secret was stored");
    };
    check();
    let out = run(home.path(), project.path(), &["destroy", "--target", "lambda", "--yes"]);
    assert!(!out.status.success(), "{}", common::transcript(&out));
    check();
}

#[test]
fn secrets_set_list_rm() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("lamsec");
    write_app(p, &app, "");

    let set = |value: &str| {
        let out = cmd(home.path(), p)
            .env_remove("API_KEY")
            .args(["secrets", "set", "API_KEY", "--stdin", "--target", "lambda", "--json"])
            .write_stdin(format!("{value}\n"))
            .output()
            .unwrap();
        ok_json(&out)
    };
    assert_eq!(set(SECRET)["op"], "created");
    assert_eq!(set(SECRET)["op"], "unchanged");
    assert_eq!(set("another-secret-value")["op"], "updated");

    let listed = ok_json(&run(home.path(), p, &["secrets", "list", "--target", "lambda", "--json"]));
    let rows = listed["secrets"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "API_KEY");
    assert_eq!(rows[0]["stored"], true);
    assert!(rows[0]["last_changed"].as_str().unwrap().ends_with('Z'));
    let text = run(home.path(), p, &["secrets", "list", "--target", "lambda"]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("API_KEY") && !stdout.contains("another-secret-value"), "{stdout}");
    // The version list shows is the one holding the value, and `get` reads it back.
    let version = rows[0]["version"].as_str().unwrap().to_string();
    let got = ok_json(&run(home.path(), p, &["secrets", "get", "API_KEY", "--target", "lambda", "--reveal", "--json"]));
    assert_eq!((got["value"].as_str(), got["version"].as_str()), (Some("another-secret-value"), Some(version.as_str())), "{got}");
    let plain = run(home.path(), p, &["secrets", "get", "API_KEY", "--target", "lambda", "--reveal"]);
    assert_eq!(String::from_utf8_lossy(&plain.stdout).trim_end(), "another-secret-value");
    // Not at a terminal and without --reveal: refused before any call, naming the flag.
    let out = run(home.path(), p, &["secrets", "get", "API_KEY", "--target", "lambda"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty() && String::from_utf8_lossy(&out.stderr).contains("--reveal"), "{}", common::transcript(&out));
    let out = run(home.path(), p, &["secrets", "get", "NOPE", "--target", "lambda", "--reveal"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("secrets list"), "{}", common::transcript(&out));

    // The stored value is the last one set, newline dropped.
    let s = state();
    let arn = s["secrets"].as_array().unwrap().iter().find(|x| x["name"] == format!("aideploy/{app}/dev/API_KEY")).unwrap()["arn"]
        .as_str()
        .unwrap()
        .to_string();
    boto(&format!("v = boto3.client('secretsmanager', **kw).get_secret_value(SecretId='{arn}')['SecretString']\nassert v == 'another-secret-value', v"));

    // Undeclared names and missing values are errors that name the fix.
    let out = run(home.path(), p, &["secrets", "set", "NOT_DECLARED", "--target", "lambda"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[secrets]"));
    let out = cmd(home.path(), p).env_remove("API_KEY").args(["secrets", "set", "API_KEY", "--target", "lambda"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--stdin"));

    // A deploy with no local value uses the stored one; the function gets its ARN.
    let deployed =
        ok_json(&cmd(home.path(), p).env_remove("API_KEY").args(["deploy", "--target", "lambda", "--yes", "--json"]).output().unwrap());
    assert_eq!(deployed["changed"], true);
    let s = state();
    let env = &ours(&s, &app).0.unwrap()["config"]["Environment"]["Variables"];
    assert_eq!(serde_json::from_str::<Value>(env["AIDEPLOY_SECRET_ARNS"].as_str().unwrap()).unwrap(), serde_json::json!({"API_KEY": arn}));

    // `set --deploy` stores the value, then deploys it: a new version whose function reads
    // the new secret version, even with an older value in $API_KEY.
    let rev_of = |s: &Value| ours(s, &app).0.unwrap()["config"]["Environment"]["Variables"]["AIDEPLOY_SECRETS_REV"].clone();
    let rev_before = rev_of(&state());
    assert!(rev_before.is_string(), "no secrets revision on the function");
    let out = cmd(home.path(), p)
        .env("API_KEY", "an-older-local-value")
        .args(["secrets", "set", "API_KEY", "--stdin", "--deploy", "--target", "lambda", "--yes", "--json"])
        .write_stdin("the-rotated-secret-value\n")
        .output()
        .unwrap();
    let both = ok_json(&out);
    assert_eq!((both["secret"]["op"].as_str(), both["deploy"]["changed"].as_bool()), (Some("updated"), Some(true)), "{both}");
    assert_ne!(both["deploy"]["health"], "failed", "{both}");
    boto(&format!("v = boto3.client('secretsmanager', **kw).get_secret_value(SecretId='{arn}')['SecretString']\nassert v == 'the-rotated-secret-value', v"));
    assert_ne!(rev_of(&state()), rev_before, "the deployed function still reads the old secret version");
    ok_json(&cmd(home.path(), p).env_remove("API_KEY").args(["destroy", "--target", "lambda", "--yes", "--json"]).output().unwrap());
    set("another-secret-value");

    // rm asks (refused without --yes when nobody can answer), then removes.
    assert_eq!(run(home.path(), p, &["secrets", "rm", "API_KEY", "--target", "lambda"]).status.code(), Some(2));
    ok_json(&run(home.path(), p, &["secrets", "rm", "API_KEY", "--target", "lambda", "--yes", "--json"]));
    let listed = ok_json(&run(home.path(), p, &["secrets", "list", "--target", "lambda", "--json"]));
    assert_eq!(listed["secrets"][0]["stored"], false);

    // Neither here nor stored: an error naming both ways to give it, before any change.
    let out = cmd(home.path(), p).env_remove("API_KEY").args(["deploy", "--target", "lambda", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("$API_KEY") && stderr.contains("aideploy secrets set API_KEY"), "{stderr}");
    assert!(ours(&state(), &app).0.is_none());
}

#[test]
fn zips_over_50_mb_go_through_s3_and_destroy_removes_them() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("lambig");
    write_app(p, &app, "");
    // 52 MB that deflate cannot shrink (xorshift noise).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut noise = Vec::with_capacity(52 << 20);
    while noise.len() < 52 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(p.join("weights.bin"), &noise).unwrap();
    drop(noise);

    let report = ok_json(&run(home.path(), p, &["deploy", "--target", "lambda", "--yes", "--json"]));
    assert!(report["artifact"]["bytes"].as_u64().unwrap() > 50 << 20);
    let prefix = format!("lambda/{app}/dev/lambda/");
    let key = format!("{prefix}{}.zip", report["artifact"]["digest"].as_str().unwrap().trim_start_matches("sha256:"));
    boto(&format!(
        r#"s3 = boto3.client("s3", **kw); lam = boto3.client("lambda", **kw)
b = "aideploy-artifacts-123456789012-{REGION}"
keys = [o["Key"] for o in s3.list_objects_v2(Bucket=b, Prefix="{prefix}").get("Contents", [])]
assert keys == ["{key}"], keys
tags = {{t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=b, Key="{key}")["TagSet"]}}
assert tags.get("aideploy:app") == "{app}" and tags.get("aideploy:target") == "lambda", tags
pab = s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
assert all(pab.values()), pab
assert lam.get_function(FunctionName="{app}-dev")["Configuration"]["CodeSize"] > 50 << 20
"#
    ));
    let again = ok_json(&run(home.path(), p, &["deploy", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(again["changed"], false);

    ok_json(&run(home.path(), p, &["destroy", "--target", "lambda", "--yes", "--json"]));
    boto(&format!(
        r#"s3 = boto3.client("s3", **kw)
left = s3.list_objects_v2(Bucket="aideploy-artifacts-123456789012-{REGION}", Prefix="{prefix}").get("Contents", [])
assert left == [], left
"#
    ));
}

#[test]
fn region_and_profile_flags() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("lamflags");
    write_app(p, &app, "");
    // --region wins over the manifest's region, as --set region= would.
    let report = ok_json(&run(home.path(), p, &["deploy", "--target", "lambda", "--region", "eu-west-1", "--yes", "--json"]));
    assert!(report["url"].as_str().unwrap().ends_with(".execute-api.eu-west-1.amazonaws.com"), "{report}");
    let status = ok_json(&run(home.path(), p, &["status", "--target", "lambda", "--region", "eu-west-1", "--json"]));
    assert_eq!(status["details"]["region"], "eu-west-1");
    let elsewhere = ok_json(&run(home.path(), p, &["status", "--target", "lambda", "--json"]));
    assert_eq!(elsewhere["deployed"], false);
    ok_json(&run(home.path(), p, &["destroy", "--target", "lambda", "--region", "eu-west-1", "--yes", "--json"]));

    // A profile that does not exist is an error that names the fix, not a panic.
    let out = cmd(home.path(), p)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["status", "--target", "lambda", "--profile", "no-such-profile"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no usable AWS credentials") && stderr.contains("AWS_PROFILE"), "{stderr}");
    // And it means nothing to a target that is not on AWS.
    let out = run(home.path(), p, &["status", "--target", "local", "--profile", "x"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The account's artifact bucket (src/cloud/aws_bucket.rs) against moto, in regions no
/// other test uses: observing creates nothing; ensure creates it with every setting, read
/// back with boto3; a same-named bucket without aideploy's tag is refused and left as it was.
#[test]
fn the_artifact_bucket_is_created_by_ensure_only_and_configured() {
    use aideploy::cloud::aws_bucket::{self, Bucket, Seen};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = |region: &str| {
        rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(region.to_string()))
                .endpoint_url(moto())
                .credentials_provider(aws_credential_types::Credentials::new("testing", "testing", None, None, "test"))
                .load(),
        )
    };
    let region = "ap-southeast-2";
    let s3 = aws_bucket::client(&config(region));
    let b = Bucket::new("123456789012", region);
    assert_eq!(b.name, "aideploy-artifacts-123456789012-ap-southeast-2");
    assert_eq!(rt.block_on(aws_bucket::observe(&s3, &b)).unwrap(), Seen::Missing);
    let exists = format!("s3 = boto3.client('s3', **kw)\nassert '{}' not in [x['Name'] for x in s3.list_buckets()['Buckets']]", b.name);
    boto(&exists);

    rt.block_on(aws_bucket::ensure(&s3, &b, &Seen::Missing)).unwrap();
    boto(&format!(
        r#"s3 = boto3.client("s3", region_name="{region}", endpoint_url=sys.argv[1], aws_access_key_id="testing", aws_secret_access_key="testing")
b = "{name}"
enc = s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
assert enc["SSEAlgorithm"] == "AES256", enc
assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
pab = s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
assert all(pab.values()) and len(pab) == 4, pab
rules = s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]
assert any(r["Status"] == "Enabled" and r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1 for r in rules), rules
tags = {{t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=b)["TagSet"]}}
assert tags == {{"aideploy:bucket": "artifacts"}}, tags
assert s3.get_bucket_location(Bucket=b)["LocationConstraint"] == "{region}"
"#,
        name = b.name
    ));
    assert!(rt.block_on(aws_bucket::observe(&s3, &b)).unwrap().is_ready());

    // Objects: put, has, and delete_prefix removing every version.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"zip bytes").unwrap();
    let key = "lambda/app/dev/lambda/abc.zip";
    assert!(!rt.block_on(aws_bucket::has_object(&s3, &b, key)).unwrap());
    for _ in 0..2 {
        rt.block_on(aws_bucket::put_object(&s3, &b, key, file.path(), "application/zip", &[("aideploy:app", "app".into())])).unwrap();
    }
    assert!(rt.block_on(aws_bucket::has_object(&s3, &b, key)).unwrap());
    assert_eq!(rt.block_on(aws_bucket::delete_prefix(&s3, &b, "lambda/app/")).unwrap(), 1);
    boto(&format!(
        r#"s3 = boto3.client("s3", region_name="{region}", endpoint_url=sys.argv[1], aws_access_key_id="testing", aws_secret_access_key="testing")
v = s3.list_object_versions(Bucket="{name}", Prefix="lambda/app/")
assert not v.get("Versions") and not v.get("DeleteMarkers"), v
"#,
        name = b.name
    ));

    // A same-named bucket without aideploy's tag: refused, left as it was.
    let region = "ca-central-1";
    let s3 = aws_bucket::client(&config(region));
    let b = Bucket::new("123456789012", region);
    let foreign = format!(
        r#"s3 = boto3.client("s3", region_name="{region}", endpoint_url=sys.argv[1], aws_access_key_id="testing", aws_secret_access_key="testing")
try:
    s3.create_bucket(Bucket="{name}", CreateBucketConfiguration={{"LocationConstraint": "{region}"}})
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
"#,
        name = b.name
    );
    boto(&foreign);
    let seen = rt.block_on(aws_bucket::observe(&s3, &b)).unwrap();
    assert!(matches!(seen, Seen::Foreign { .. }), "{seen:?}");
    let err = rt.block_on(aws_bucket::ensure(&s3, &b, &seen)).unwrap_err().to_string();
    assert!(err.contains(&b.name), "{err}");
    boto(&format!(
        r#"s3 = boto3.client("s3", region_name="{region}", endpoint_url=sys.argv[1], aws_access_key_id="testing", aws_secret_access_key="testing")
b = "{name}"
try:
    s3.get_bucket_tagging(Bucket=b)
    raise SystemExit("the foreign bucket was tagged")
except s3.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "NoSuchTagSet", e.response
assert s3.get_bucket_versioning(Bucket=b).get("Status") is None
"#,
        name = b.name
    ));
}

/// `plan` after an `[env]`-only edit names env, not code; the parts the row is computed
/// from are a tag of the function afterwards.
#[test]
fn plan_says_env_changed_for_an_env_only_edit() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("lamwhy");
    write_app(p, &app, "");
    ok_json(&run(home.path(), p, &["deploy", "--target", "lambda", "--yes", "--json"]));
    let s = state();
    let f = ours(&s, &app).0.expect("function");
    let parts = f["tags"]["aideploy:parts"].as_str().unwrap_or_default();
    assert_eq!(parts.len(), 60, "{}", f["tags"]);
    assert!(parts.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{parts}");

    let manifest = p.join("aideploy.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("GREETING = \"hello\"", "GREETING = \"hi\"")).unwrap();
    let planned = ok_json(&run(home.path(), p, &["plan", "--target", "lambda", "--json"]));
    let row = planned["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "function").cloned().unwrap();
    assert_eq!((row["op"].as_str(), row["reason"].as_str()), (Some("update"), Some("env changed")), "{planned}");
    let config = planned["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "function-config").cloned().unwrap();
    assert_eq!(config["reason"], "env", "{planned}");
    // People see the same words.
    let out = run(home.path(), p, &["plan", "--target", "lambda"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains(&format!("{app}-dev  (env changed)")), "{shown}");

    // Deployed, the tag follows the new version, and the plan is empty again.
    ok_json(&run(home.path(), p, &["deploy", "--target", "lambda", "--yes", "--json"]));
    let s = state();
    let after = ours(&s, &app).0.expect("function")["tags"]["aideploy:parts"].as_str().unwrap_or_default().to_string();
    assert_eq!(after.len(), 60);
    assert_ne!(after, parts, "the recorded parts follow the deployed version");
    let planned = ok_json(&run(home.path(), p, &["plan", "--target", "lambda", "--json"]));
    assert!(planned["actions"].as_array().unwrap().iter().all(|a| a["op"] == "noop"), "{planned}");
    ok_json(&run(home.path(), p, &["destroy", "--target", "lambda", "--yes", "--json"]));
}

/// The function's SnapStart setting, the live version's, and the alias's provisioned
/// concurrency, as moto (with tests/fakes/moto_lambda.py) holds them.
fn cold_start_state(function: &str) -> Value {
    let script = format!(
        r#"import boto3, json, sys
kw = dict(endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id="testing", aws_secret_access_key="testing")
lam = boto3.client("lambda", **kw)
out = {{"function": None, "live": None, "warm": None}}
try:
    out["function"] = lam.get_function_configuration(FunctionName="{function}")
    out["live"] = lam.get_function_configuration(FunctionName="{function}", Qualifier="live")
    out["warm"] = lam.get_provisioned_concurrency_config(FunctionName="{function}", Qualifier="live")
except lam.exceptions.ResourceNotFoundException:
    pass
except lam.exceptions.ProvisionedConcurrencyConfigNotFoundException:
    pass
print(json.dumps(out, default=str))
"#
    );
    let out = std::process::Command::new("python3").args(["-c", &script, &moto(), REGION]).output().unwrap();
    assert!(out.status.success(), "boto3 failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn action<'a>(report: &'a Value, resource: &str) -> Option<&'a Value> {
    report["actions"].as_array().unwrap().iter().find(|a| a["resource"] == resource)
}

/// `snapstart = true` publishes versions with SnapStart on (waiting out the snapshot);
/// `warm_instances = N` is provisioned concurrency on alias `live`, ready when the deploy
/// ends, allocated again when the alias moves, gone when the key goes. What Lambda refuses
/// (SnapStart on python3.11) is refused before anything is created.
#[test]
fn snapstart_and_warm_instances_are_set_and_read_back() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("lamcold");
    let function = format!("{app}-dev");
    let manifest = p.join("aideploy.toml");

    // python3.11 cannot have SnapStart: a usage error naming the fix, and nothing made.
    write_app(p, &app, "snapstart = true\n");
    let out = run(home.path(), p, &["deploy", "--target", "lambda", "--yes", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("python3.12") && stderr.contains("runtime"), "{stderr}");
    assert!(cold_start_state(&function)["function"].is_null(), "a function was created");

    // python3.12 with SnapStart: the function and its live version carry it.
    let text = std::fs::read_to_string(&manifest).unwrap().replace("python3.11", "python3.12");
    std::fs::write(&manifest, &text).unwrap();
    let report = ok_json(&run(home.path(), p, &["deploy", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(action(&report, "version").unwrap()["reason"], "SnapStart: initialised and snapshotted when published", "{report}");
    let s = cold_start_state(&function);
    assert_eq!(s["function"]["SnapStart"]["ApplyOn"], "PublishedVersions", "{s}");
    assert_eq!(s["live"]["SnapStart"], serde_json::json!({"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}), "{s}");
    assert_eq!(s["live"]["State"], "Active", "{s}");
    assert!(s["warm"].is_null());

    // SnapStart off, two warm instances instead: a new version, and the alias's
    // provisioned concurrency is READY once the deploy returns.
    std::fs::write(&manifest, text.replace("snapstart = true\n", "warm_instances = 2\n")).unwrap();
    let planned = ok_json(&run(home.path(), p, &["plan", "--target", "lambda", "--json"]));
    let warm = action(&planned, "provisioned-concurrency").expect("a provisioned-concurrency row");
    assert_eq!((warm["op"].as_str(), warm["id"].as_str()), (Some("create"), Some(format!("{function}:live").as_str())), "{planned}");
    assert_eq!(warm["reason"], "2 warm instances, billed while idle");
    assert_eq!(action(&planned, "function-config").unwrap()["reason"], "snapstart", "{planned}");
    let before = s["live"]["Version"].as_str().unwrap().to_string();
    ok_json(&run(home.path(), p, &["deploy", "--target", "lambda", "--yes", "--json"]));
    let s = cold_start_state(&function);
    assert_eq!(s["function"]["SnapStart"]["ApplyOn"], "None", "{s}");
    assert_ne!(s["live"]["Version"].as_str().unwrap(), before, "SnapStart off is a new version");
    assert_eq!(s["warm"]["RequestedProvisionedConcurrentExecutions"], 2, "{s}");
    assert_eq!(s["warm"]["Status"], "READY", "{s}");
    let status = ok_json(&run(home.path(), p, &["status", "--target", "lambda", "--json"]));
    assert!(status.to_string().contains("2 ready"), "{status}");
    let planned = ok_json(&run(home.path(), p, &["plan", "--target", "lambda", "--json"]));
    assert!(planned["actions"].as_array().unwrap().iter().all(|a| a["op"] == "noop"), "{planned}");

    // New code: the alias moves, the warm instances are allocated again for it and are
    // ready when the deploy ends.
    std::fs::write(p.join("main.py"), std::fs::read_to_string(p.join("main.py")).unwrap() + "\n# v2\n").unwrap();
    let report = ok_json(&run(home.path(), p, &["deploy", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(action(&report, "provisioned-concurrency").unwrap()["reason"], "2 warm instances again, for the new version", "{report}");
    let s = cold_start_state(&function);
    assert_eq!(
        (s["warm"]["Status"].as_str(), s["warm"]["AllocatedProvisionedConcurrentExecutions"].as_u64()),
        (Some("READY"), Some(2)),
        "{s}"
    );

    // The key gone: the provisioned concurrency goes.
    std::fs::write(&manifest, text.replace("snapstart = true\n", "")).unwrap();
    let report = ok_json(&run(home.path(), p, &["deploy", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(action(&report, "provisioned-concurrency").unwrap()["op"], "delete", "{report}");
    assert!(cold_start_state(&function)["warm"].is_null());
    ok_json(&run(home.path(), p, &["destroy", "--target", "lambda", "--yes", "--json"]));
    assert!(cold_start_state(&function)["function"].is_null());
}

/// Writes events into a CloudWatch log group (made when missing), each `(ms ago, text)`.
fn put_log_events(group: &str, events: &[(i64, &str)]) {
    let events: Vec<String> = events.iter().map(|(ago, m)| format!("(now - {ago}, {m:?})")).collect();
    boto(&format!(
        r#"import time
logs = boto3.client("logs", **kw)
try:
    logs.create_log_group(logGroupName="{group}")
except logs.exceptions.ResourceAlreadyExistsException:
    pass
try:
    logs.create_log_stream(logGroupName="{group}", logStreamName="2026/12/05/[1]abc")
except logs.exceptions.ResourceAlreadyExistsException:
    pass
now = int(time.time() * 1000)
evs = [{{"timestamp": t, "message": m}} for (t, m) in [{}]]
logs.put_log_events(logGroupName="{group}", logStreamName="2026/12/05/[1]abc", logEvents=sorted(evs, key=lambda e: e["timestamp"]))
"#,
        events.join(", ")
    ));
}

/// `logs` reads the function's CloudWatch log group: the last N lines of the look-back
/// window (1h unless `--since`), `--json` one object per line, secret values masked,
/// `-f` prints what arrives next; no group yet is said, not an empty success.
#[test]
fn logs_come_from_cloudwatch() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("lamlogs");
    write_app(p, &app, "");
    ok_json(&run(home.path(), p, &["deploy", "--target", "lambda", "--yes", "--json"]));
    let group = format!("/aws/lambda/{app}-dev");

    let out = run(home.path(), p, &["logs", "--target", "lambda"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no log yet") && stderr.contains(&group), "{stderr}");

    put_log_events(
        &group,
        &[
            (2 * 3600 * 1000, "an old line"),
            (3000, "START RequestId: 1"),
            (2000, &format!("the key is {SECRET}")),
            (1000, "END RequestId: 1\n"),
        ],
    );
    let out = run(home.path(), p, &["logs", "--target", "lambda", "-n", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].contains("the key is ") && !lines[0].contains(SECRET), "{stdout}");
    assert!(!stdout.contains(SECRET), "a secret value was printed: {stdout}");
    assert!(lines[1].ends_with("  END RequestId: 1"), "{stdout}");
    assert!(lines[1].starts_with("20") && lines[1].as_bytes()[10] == b'T', "a timestamp first: {stdout}");

    // --json: one object per line; the old line only with a longer --since.
    let out = run(home.path(), p, &["logs", "--target", "lambda", "--json"]);
    let objects: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(objects.len(), 3, "{objects:?}");
    assert_eq!(objects[0]["message"], "START RequestId: 1");
    assert_eq!(objects[0]["stream"], "2026/12/05/[1]abc");
    assert!(objects[0]["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{objects:?}");
    let out = run(home.path(), p, &["logs", "--target", "lambda", "--since", "3h"]);
    assert!(String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().ends_with("an old line"), "{out:?}");

    // -f: what arrives after it started.
    let mut follow = common::aideploy_process(home.path());
    follow
        .env("AWS_ENDPOINT_URL", moto())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("API_KEY", SECRET)
        .env("AIDEPLOY_POLL_INTERVAL_MS", "100")
        .current_dir(p)
        .args(["logs", "--target", "lambda", "-f", "-n", "1"]);
    let (mut child, rx) = common::spawn_lines(follow);
    let first = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the last line first");
    assert!(first.ends_with("END RequestId: 1"), "{first}");
    put_log_events(&group, &[(0, "a new request")]);
    let next = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the new line while following");
    assert!(next.ends_with("a new request"), "{next}");
    let _ = child.kill();
    let _ = child.wait();
    ok_json(&run(home.path(), p, &["destroy", "--target", "lambda", "--yes", "--json"]));
}

/// `status --metrics`: the HTTP API's CloudWatch metrics of the last hour (Count and 5xx
/// summed, Latency's p50 and p95), put into moto with boto3; another API's points and
/// points older than the hour are not counted. moto has no percentile statistics of
/// its own: tests/fakes/moto_cloudwatch.py adds them (nearest rank over the raw values).
#[test]
fn status_metrics_reads_the_http_apis_cloudwatch_metrics() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("lammet");
    write_app(p, &app, "");
    ok_json(&run(home.path(), p, &["deploy", "--target", "lambda", "--yes", "--json"]));
    let status = ok_json(&run(home.path(), p, &["status", "--target", "lambda", "--json"]));
    assert!(status.get("metrics").is_none(), "metrics only when asked: {status}");
    let api = status["details"]["api"].as_str().unwrap().to_string();

    // No requests yet: zero, and no rate or latency.
    let status = ok_json(&run(home.path(), p, &["status", "--target", "lambda", "--metrics", "--json"]));
    let m = &status["metrics"];
    assert_eq!((m["available"].as_bool(), m["requests"].as_u64(), m["errors"].as_u64()), (Some(true), Some(0), Some(0)), "{m}");
    assert!(m["error_rate"].is_null() && m["p50_ms"].is_null() && m["p95_ms"].is_null(), "{m}");

    boto(&format!(
        r#"import datetime
cw = boto3.client("cloudwatch", **kw)
now = datetime.datetime.now(datetime.timezone.utc)
ago = lambda m: now - datetime.timedelta(minutes=m)
dims = lambda api: [{{"Name": "ApiId", "Value": api}}, {{"Name": "Stage", "Value": "$default"}}]
def put(api, name, values, minutes):
    cw.put_metric_data(Namespace="AWS/ApiGateway", MetricData=[{{"MetricName": name, "Dimensions": dims(api), "Timestamp": ago(minutes), "Value": float(v)}} for v in values])
put("{api}", "Count", [150], 30)
put("{api}", "Count", [50], 10)
put("{api}", "5xx", [4], 30)
put("{api}", "5xx", [1], 10)
put("{api}", "Latency", range(1, 101), 20)
put("{api}", "Count", [1000], 120)
put("{api}", "5xx", [1000], 120)
put("someone-elses-api", "Count", [7], 10)
put("someone-elses-api", "Latency", [9000], 10)
"#
    ));
    let status = ok_json(&run(home.path(), p, &["status", "--target", "lambda", "--metrics", "--json"]));
    let m = &status["metrics"];
    assert_eq!(m["requests"], 200, "{m}");
    assert_eq!(m["errors"], 5, "{m}");
    assert_eq!(m["error_rate"], 0.025, "{m}");
    assert_eq!(m["p50_ms"], 50.0, "{m}");
    assert_eq!(m["p95_ms"], 95.0, "{m}");
    assert_eq!(m["window_s"], 3600, "{m}");
    let source = m["source"].as_str().unwrap();
    assert!(source.starts_with("CloudWatch AWS/ApiGateway Count, 5xx, Latency") && source.contains(&format!("ApiId={api}")), "{m}");

    // For people: the rows under the status.
    let out = run(home.path(), p, &["status", "--target", "lambda", "--metrics"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("requests     200 (5 server errors)"), "{text}");
    assert!(text.contains("error rate   2.50%"), "{text}");
    assert!(text.contains("latency      p50 50.0 ms, p95 95.0 ms"), "{text}");

    ok_json(&run(home.path(), p, &["destroy", "--target", "lambda", "--yes", "--json"]));
}
