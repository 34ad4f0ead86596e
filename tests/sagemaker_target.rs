//! The `sagemaker` target end to end against moto (installed by `scripts/test`), each
//! step checked by reading what exists afterwards with boto3.
//!
//! moto 5 has no SageMaker UpdateEndpoint and makes every endpoint InService at once, so
//! these tests run moto's server through `tests/fakes/moto_sagemaker.py`, which adds
//! UpdateEndpoint and the Creating/Updating/Failed transitions to moto's own backend,
//! as SageMaker's API reference describes them (a model whose image contains
//! "unhealthy" fails its /ping check). moto runs no container, so health is `skipped`.

use crate::common;

use std::path::Path;
use std::process::Output;
use std::sync::OnceLock;

use common::aideploy;
use serde_json::Value;

const SECRET: &str = "sk-sagemaker-test-0123456789-very-secret";
const ACCOUNT: &str = "123456789012";

/// moto's server with the SageMaker additions, one per test binary, on a free port.
fn moto() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let ok =
            std::process::Command::new("python3").args(["-c", "import moto, boto3"]).output().map(|o| o.status.success()).unwrap_or(false);
        assert!(ok, "python3 cannot import moto and boto3: run these tests with `scripts/test sagemaker_target` (it installs them)");
        let port = common::free_port();
        let log = std::fs::File::create(std::env::temp_dir().join(format!("aideploy-moto-sagemaker-{port}.log"))).unwrap();
        // Never waited for: it exits with this test binary (it watches its parent).
        #[allow(clippy::zombie_processes)]
        std::process::Command::new("python3")
            .arg(common::root().join("tests/fakes/moto_sagemaker.py"))
            .arg(port.to_string())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start moto");
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return format!("http://127.0.0.1:{port}");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("moto did not start on port {port}");
    })
}

fn app_name(test: &str) -> String {
    format!("{test}-{}", std::process::id())
}

/// The example, copied, renamed, with a secret and `extra` target settings.
fn write_project(dir: &Path, name: &str, region: &str) {
    common::copy_tree(&common::root().join("examples/sagemaker-model"), dir);
    let manifest = std::fs::read_to_string(dir.join("aideploy.toml")).unwrap();
    let manifest = manifest
        .replace("name = \"sentiment\"", &format!("name = \"{name}\""))
        .replace("region = \"us-east-1\"", &format!("region = \"{region}\""));
    std::fs::write(dir.join("aideploy.toml"), format!("{manifest}\n[secrets]\nAPI_KEY = {{}}\n")).unwrap();
}

fn cmd(home: &Path, project: &Path, region: &str) -> assert_cmd::Command {
    let mut c = aideploy(home);
    c.current_dir(project)
        .env("AIDEPLOY_POLL_INTERVAL_MS", "20")
        .env("AWS_ENDPOINT_URL", moto())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", region)
        .env("API_KEY", SECRET);
    c
}

fn run(home: &Path, project: &Path, region: &str, args: &[&str]) -> Output {
    cmd(home, project, region).args(args).output().unwrap()
}

fn json_of(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(SECRET) && !String::from_utf8_lossy(&out.stdout).contains(SECRET), "a secret value was printed");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {}\nstderr:\n{stderr}", String::from_utf8_lossy(&out.stdout)))
}

fn ok_json(out: &Output) -> Value {
    assert!(out.status.success(), "exit {:?}\nstderr:\n{}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    json_of(out)
}

/// What exists in moto for one app, read with boto3, as JSON.
const STATE_PY: &str = r#"
import boto3, json, sys, urllib.parse
url, region, app = sys.argv[1], sys.argv[2], sys.argv[3]
kw = dict(endpoint_url=url, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
sm, iam, s3, secrets = (boto3.client(s, **kw) for s in ("sagemaker", "iam", "s3", "secretsmanager"))
tags = lambda arn: {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
out = {"endpoints": {}, "configs": {}, "models": {}, "roles": {}, "secrets": [], "bucket": None}
for e in sm.list_endpoints()["Endpoints"]:
    if e["EndpointName"].startswith(app):
        d = sm.describe_endpoint(EndpointName=e["EndpointName"])
        out["endpoints"][e["EndpointName"]] = {"status": d["EndpointStatus"], "config": d["EndpointConfigName"], "failure": d.get("FailureReason"), "tags": tags(d["EndpointArn"])}
for c in sm.list_endpoint_configs()["EndpointConfigs"]:
    if c["EndpointConfigName"].startswith(app):
        d = sm.describe_endpoint_config(EndpointConfigName=c["EndpointConfigName"])
        out["configs"][c["EndpointConfigName"]] = {"variants": d["ProductionVariants"], "tags": tags(d["EndpointConfigArn"])}
for m in sm.list_models()["Models"]:
    if m["ModelName"].startswith(app):
        d = sm.describe_model(ModelName=m["ModelName"])
        out["models"][m["ModelName"]] = {"container": d["PrimaryContainer"], "role": d["ExecutionRoleArn"], "tags": tags(d["ModelArn"])}
for r in iam.list_roles()["Roles"]:
    if app in r["RoleName"]:
        n = r["RoleName"]
        pols = {}
        for p in iam.list_role_policies(RoleName=n)["PolicyNames"]:
            doc = iam.get_role_policy(RoleName=n, PolicyName=p)["PolicyDocument"]
            pols[p] = json.loads(urllib.parse.unquote(doc)) if isinstance(doc, str) else doc
        trust = r["AssumeRolePolicyDocument"]
        trust = json.loads(urllib.parse.unquote(trust)) if isinstance(trust, str) else trust
        out["roles"][n] = {"arn": r["Arn"], "policies": pols, "trust": trust, "tags": {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=n)["Tags"]}}
for s in secrets.list_secrets()["SecretList"]:
    if s["Name"].startswith("aideploy/" + app + "/"):
        out["secrets"].append({"name": s["Name"], "arn": s["ARN"]})
# The account's one artifact bucket (src/cloud/aws_bucket.rs), shared with lambda and
# the deploy leases; "objects" are the artifacts in it, "leases" the lease records.
bucket = "aideploy-artifacts-123456789012-" + region
names = [x["Name"] for x in s3.list_buckets()["Buckets"]]
out["own_bucket"] = ("aideploy-123456789012-" + region) in names
try:
    s3.head_bucket(Bucket=bucket)
    b = {"versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
         "encryption": s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"],
         "public_access_block": s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
         "lifecycle": s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"],
         "tags": {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]},
         "objects": {}, "leases": []}
    for o in s3.list_object_versions(Bucket=bucket).get("Versions", []):
        if o["Key"].startswith("leases/"):
            b["leases"].append(o["Key"])
            continue
        if not (o["Key"].startswith("sagemaker/" + app + "/") or not o["Key"].startswith(("sagemaker/", "lambda/"))):
            continue
        h = s3.head_object(Bucket=bucket, Key=o["Key"], VersionId=o["VersionId"])
        b["objects"].setdefault(o["Key"], []).append({"size": o["Size"], "etag": o["ETag"].strip('"'), "sse": h.get("ServerSideEncryption")})
    out["bucket"] = b
except s3.exceptions.ClientError as e:
    if e.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
        raise
print(json.dumps(out, default=str))
"#;

fn state(region: &str, app: &str) -> Value {
    let out = std::process::Command::new("python3").args(["-c", STATE_PY, moto(), region, app]).output().unwrap();
    assert!(out.status.success(), "boto3 state dump failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn boto(region: &str, script: &str) {
    let full = format!("import boto3, json, sys\nkw = dict(endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id='testing', aws_secret_access_key='testing')\n{script}");
    let out = std::process::Command::new("python3").args(["-c", &full, moto(), region]).output().unwrap();
    assert!(out.status.success(), "boto3 failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn tagged(tags: &Value, app: &str) -> bool {
    tags["aideploy:app"] == app && tags["aideploy:stage"] == "dev" && tags["aideploy:target"] == "sagemaker"
}

fn ops(report: &Value) -> Vec<(String, String)> {
    report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["op"] != "noop")
        .map(|a| (a["resource"].as_str().unwrap().to_string(), a["op"].as_str().unwrap().to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn deploy_noop_change_failed_update_rollback_destroy() {
    let region = "us-east-1";
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("smk");
    let ep = format!("{app}-dev");
    write_project(p, &app, region);
    // Someone else's model and config, named like a release of ours but untagged, and
    // someone else's endpoint: destroy leaves them alone.
    let foreign = format!("{ep}-aaaaaaaaaaaa");
    boto(
        region,
        &format!(
            r#"sm = boto3.client("sagemaker", **kw)
sm.create_model(ModelName="{foreign}", ExecutionRoleArn="arn:aws:iam::{ACCOUNT}:role/other", PrimaryContainer={{"Image": "other"}})
sm.create_endpoint_config(EndpointConfigName="{foreign}", ProductionVariants=[{{"VariantName": "v", "ModelName": "{foreign}", "InstanceType": "ml.t2.medium", "InitialInstanceCount": 1}}])
sm.create_endpoint(EndpointName="{app}-other", EndpointConfigName="{foreign}")
"#
        ),
    );

    // First deploy.
    let out = run(home.path(), p, region, &["deploy", "--target", "sagemaker", "--yes", "--json"]);
    let report = ok_json(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("health: skipped"), "{stderr}");
    assert!(stderr.contains(&format!("endpoint {ep}: Creating")), "no endpoint progress shown:\n{stderr}");
    assert_eq!(report["kind"], "sagemaker");
    assert_eq!(report["health"], "skipped");
    assert_eq!(report["changed"], true);
    assert_eq!(report["artifact"]["kind"], "model-archive");
    assert_eq!(report["url"], format!("https://runtime.sagemaker.{region}.amazonaws.com/endpoints/{ep}/invocations"));
    assert!(report["actions"].as_array().unwrap().iter().all(|a| a["op"] == "create"), "{report}");
    let digest = report["artifact"]["digest"].as_str().unwrap().to_string();
    let sha = digest.trim_start_matches("sha256:");

    let s = state(region, &app);
    assert!(!s.to_string().contains(SECRET), "a secret value is in a model, config, role or tag");
    let e = &s["endpoints"][&ep];
    assert_eq!(e["status"], "InService");
    assert!(tagged(&e["tags"], &app));
    assert_eq!(e["tags"]["aideploy:digest"], digest.as_str());
    let config1 = e["config"].as_str().unwrap().to_string();
    assert!(config1.starts_with(&format!("{ep}-")) && config1.len() == ep.len() + 13, "{config1}");
    let cfg = &s["configs"][&config1];
    assert!(tagged(&cfg["tags"], &app));
    assert_eq!(cfg["variants"][0]["InstanceType"], "ml.m5.xlarge");
    assert_eq!(cfg["variants"][0]["InitialInstanceCount"], 1);
    let model_name = cfg["variants"][0]["ModelName"].as_str().unwrap();
    let model = &s["models"][model_name];
    assert!(tagged(&model["tags"], &app));
    assert_eq!(model["tags"]["aideploy:digest"], digest.as_str());
    // The Hugging Face CPU container for the region (an ml.m5 has no GPU), with the archive.
    assert_eq!(
        model["container"]["Image"],
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:2.1.0-transformers4.37.0-cpu-py310-ubuntu22.04"
    );
    let bucket = format!("aideploy-artifacts-{ACCOUNT}-{region}");
    let key = format!("sagemaker/{app}/dev/sagemaker/{sha}/model.tar.gz");
    assert_eq!(model["container"]["ModelDataUrl"], format!("s3://{bucket}/{key}"));
    // The secret: stored once, its ARN (never its value) in the model's environment.
    assert_eq!(s["secrets"].as_array().unwrap().len(), 1);
    let secret_arn = s["secrets"][0]["arn"].as_str().unwrap();
    let env = &model["container"]["Environment"];
    assert_eq!(env["LOG_LEVEL"], "info");
    assert_eq!(
        serde_json::from_str::<Value>(env["AIDEPLOY_SECRET_ARNS"].as_str().unwrap()).unwrap(),
        serde_json::json!({"API_KEY": secret_arn})
    );
    // The bucket: the account's one artifact bucket (no bucket of the target's own):
    // private, encrypted by default, versioned, incomplete uploads aborted, tagged as
    // aideploy's; the archive stored once.
    assert_eq!(s["own_bucket"], false, "a second bucket of the sagemaker target's own");
    let b = &s["bucket"];
    assert_eq!(b["versioning"], "Enabled");
    assert_eq!(b["tags"]["aideploy:bucket"], "artifacts");
    assert!(
        b["lifecycle"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["Status"] == "Enabled" && r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1),
        "{}",
        b["lifecycle"]
    );
    assert_eq!(b["encryption"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256");
    for flag in ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"] {
        assert_eq!(b["public_access_block"][flag], true, "{flag}");
    }
    assert_eq!(b["objects"][&key].as_array().unwrap().len(), 1);
    assert_eq!(b["objects"][&key][0]["size"], report["artifact"]["bytes"]);
    // The role: SageMaker may assume it; it reads this target's archives, writes its
    // endpoint's logs and reads exactly this app's secret.
    let role = &s["roles"][&format!("aideploy-{ep}-{region}")];
    assert_eq!(model["role"], role["arn"]);
    assert!(tagged(&role["tags"], &app));
    assert_eq!(role["trust"]["Statement"][0]["Principal"]["Service"], "sagemaker.amazonaws.com");
    let statements = role["policies"]["aideploy"]["Statement"].as_array().unwrap();
    let by_sid = |sid: &str| statements.iter().find(|st| st["Sid"] == sid).unwrap_or_else(|| panic!("no {sid} in {statements:?}")).clone();
    assert_eq!(by_sid("OwnModelArchives")["Resource"], format!("arn:aws:s3:::{bucket}/sagemaker/{app}/dev/sagemaker/*"));
    assert_eq!(by_sid("OwnModelArchives")["Action"], "s3:GetObject");
    let group = format!("arn:aws:logs:{region}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{ep}");
    assert_eq!(by_sid("OwnLogGroup")["Resource"], serde_json::json!([group.clone(), format!("{group}:*")]));
    assert_eq!(by_sid("OwnSecrets")["Resource"], serde_json::json!([secret_arn]));
    assert_eq!(by_sid("OwnSecrets")["Action"], "secretsmanager:GetSecretValue");
    assert!(statements.iter().all(|st| st["Sid"] == "Metrics" || st["Resource"] != "*"), "a wildcard resource: {statements:?}");

    // Unchanged: a noop with read calls only, nothing new in moto.
    let out = run(home.path(), p, region, &["deploy", "--target", "sagemaker", "--yes", "--json", "-vv"]);
    let again = ok_json(&out);
    assert_eq!(again["changed"], false);
    assert!(again["actions"].as_array().unwrap().iter().all(|a| a["op"] == "noop"), "{again}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("(read)") && !log.contains("(write)"), "an unchanged deploy made a write call:\n{log}");
    let s_again = state(region, &app);
    assert_eq!(s_again["configs"].as_object().unwrap().len(), s["configs"].as_object().unwrap().len());
    assert_eq!(s_again["bucket"]["objects"], s["bucket"]["objects"]);
    // And from a fresh machine: same plan.
    let fresh = tempfile::tempdir().unwrap();
    let planned = ok_json(&run(fresh.path(), p, region, &["plan", "--target", "sagemaker", "--json"]));
    assert!(planned["actions"].as_array().unwrap().iter().all(|a| a["op"] == "noop"), "{planned}");

    // A changed model: a new archive, model and config; the endpoint is updated.
    let weights = p.join("model/weights.json");
    std::fs::write(&weights, std::fs::read_to_string(&weights).unwrap().replace("\"bias\": 0.1", "\"bias\": 0.2")).unwrap();
    let out = run(home.path(), p, region, &["deploy", "--target", "sagemaker", "--yes", "--json", "-v"]);
    let changed = ok_json(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("endpoint {ep}: Updating")) && stderr.contains("elapsed"), "no update progress shown:\n{stderr}");
    assert_eq!(
        ops(&changed),
        pairs(&[("model-archive", "create"), ("model", "create"), ("endpoint-config", "create"), ("endpoint", "update")])
    );
    let s2 = state(region, &app);
    let config2 = s2["endpoints"][&ep]["config"].as_str().unwrap().to_string();
    assert_ne!(config2, config1);
    assert_eq!(s2["endpoints"][&ep]["status"], "InService");
    assert_eq!(s2["endpoints"][&ep]["tags"]["aideploy:digest"], changed["artifact"]["digest"]);
    assert_ne!(s2["models"][&config2]["container"]["ModelDataUrl"], model["container"]["ModelDataUrl"]);
    assert!(s2["configs"].get(&config1).is_some(), "the previous config is kept for rollback");

    let status = ok_json(&run(fresh.path(), p, region, &["status", "--target", "sagemaker", "--json"]));
    assert_eq!(status["deployed"], true);
    assert_eq!(status["details"]["config"], config2.as_str());
    assert_eq!(status["details"]["previous"], config1.as_str());
    assert_eq!(status["details"]["status"], "InService");
    assert_eq!(status["digest"], changed["artifact"]["digest"]);
    assert_eq!(status["url"], report["url"]);

    // A config whose container never passes /ping: SageMaker keeps the previous config
    // in service and says why; exit 3.
    let image = format!("{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/unhealthy-model:1");
    let out = run(home.path(), p, region, &["deploy", "--target", "sagemaker", "--yes", "--json", "--set", &format!("image={image}")]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = json_of(&out);
    assert_eq!(bad["health"], "failed");
    let failure = bad["failure"].as_str().unwrap();
    assert!(
        failure.contains("did not pass the ping health check") && failure.contains(&format!("the previous config {config2} keeps serving")),
        "{failure}"
    );
    let s3 = state(region, &app);
    assert_eq!(s3["endpoints"][&ep]["config"], config2.as_str());
    assert_eq!(s3["endpoints"][&ep]["status"], "InService");
    // The own image is pullable by the role, from its repository only.
    let statements = s3["roles"][&format!("aideploy-{ep}-{region}")]["policies"]["aideploy"]["Statement"].as_array().unwrap().clone();
    let pull = statements.iter().find(|st| st["Sid"] == "OwnImage").expect("ECR pull statement");
    assert_eq!(pull["Resource"], format!("arn:aws:ecr:{region}:{ACCOUNT}:repository/unhealthy-model"));

    // Rollback: the config before the live one (the failed one never went live).
    let rolled = ok_json(&run(home.path(), p, region, &["rollback", "--target", "sagemaker", "--yes", "--json"]));
    assert_eq!(rolled["health"], "skipped");
    let s4 = state(region, &app);
    assert_eq!(s4["endpoints"][&ep]["config"], config1.as_str());
    assert_eq!(s4["endpoints"][&ep]["tags"]["aideploy:digest"], digest.as_str());

    // Destroy: nothing tagged for the app is left; other resources are untouched.
    boto(region, &format!("boto3.client('s3', **kw).put_object(Bucket='{bucket}', Key='someone-else/file.txt', Body=b'x')"));
    let destroyed = ok_json(&run(home.path(), p, region, &["destroy", "--target", "sagemaker", "--yes", "--json"]));
    assert!(!destroyed["actions"].as_array().unwrap().is_empty());
    let s5 = state(region, &app);
    for kind in ["endpoints", "configs", "models"] {
        for (name, r) in s5[kind].as_object().unwrap() {
            assert!(!tagged(&r["tags"], &app), "{kind} {name} is left");
        }
    }
    assert!(s5["endpoints"].get(format!("{app}-other")).is_some(), "someone else's endpoint was deleted");
    assert!(s5["configs"].get(&foreign).is_some() && s5["models"].get(&foreign).is_some(), "someone else's model or config was deleted");
    assert!(s5["roles"].as_object().unwrap().is_empty(), "{}", s5["roles"]);
    assert!(s5["secrets"].as_array().unwrap().is_empty(), "{}", s5["secrets"]);
    let objects = s5["bucket"]["objects"].as_object().expect("the shared bucket holds someone else's object and stays");
    assert_eq!(objects.keys().collect::<Vec<_>>(), vec!["someone-else/file.txt"]);
    let status = ok_json(&run(fresh.path(), p, region, &["status", "--target", "sagemaker", "--json"]));
    assert_eq!(status["deployed"], false);
}

#[test]
fn large_archives_go_up_in_parallel_parts_and_destroy_removes_them() {
    let region = "eu-west-1";
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("smbig");
    write_project(p, &app, region);
    // 20 MiB that gzip cannot shrink (xorshift noise): three 8 MiB parts.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut noise = Vec::with_capacity(20 << 20);
    while noise.len() < 20 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(p.join("model/model.safetensors"), &noise).unwrap();
    drop(noise);
    // And serverless instead of instances.
    let manifest = std::fs::read_to_string(p.join("aideploy.toml")).unwrap();
    let manifest =
        manifest.replace("instance_type = \"ml.m5.xlarge\"\ninstance_count = 1\n", "serverless = { memory = 2048, max_concurrency = 3 }\n");
    assert!(manifest.contains("serverless = { memory = 2048"));
    std::fs::write(p.join("aideploy.toml"), manifest).unwrap();

    let report = ok_json(&run(home.path(), p, region, &["deploy", "--target", "sagemaker", "--yes", "--json"]));
    let bytes = report["artifact"]["bytes"].as_u64().unwrap();
    assert!(bytes > 16 << 20, "{bytes}");
    let sha = report["artifact"]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
    let key = format!("sagemaker/{app}/dev/sagemaker/{sha}/model.tar.gz");
    let s = state(region, &app);
    let object = &s["bucket"]["objects"][&key][0];
    assert_eq!(object["size"], bytes);
    // A multipart object's ETag ends with its number of parts.
    assert!(object["etag"].as_str().unwrap().ends_with("-3"), "not a 3-part upload: {object}");
    assert_eq!(object["sse"], "AES256");
    let ep = format!("{app}-dev");
    let variant = &s["configs"][s["endpoints"][&ep]["config"].as_str().unwrap()]["variants"][0];
    assert_eq!(variant["ServerlessConfig"], serde_json::json!({"MemorySizeInMB": 2048, "MaxConcurrency": 3}));
    assert!(variant.get("InstanceType").is_none(), "{variant}");
    // The uploaded bytes are the archive's bytes.
    boto(
        region,
        &format!(
            r#"import hashlib
body = boto3.client("s3", **kw).get_object(Bucket="aideploy-artifacts-{ACCOUNT}-{region}", Key="{key}")["Body"].read()
assert hashlib.sha256(body).hexdigest() == "{sha}", "the uploaded archive differs"
"#
        ),
    );
    let again = ok_json(&run(home.path(), p, region, &["deploy", "--target", "sagemaker", "--yes", "--json"]));
    assert_eq!(again["changed"], false);

    // An archive left by a version of aideploy that kept them in a bucket of the
    // target's own (`aideploy-{account}-{region}`, tagged as aideploy's): destroy
    // removes it, and that bucket once empty.
    boto(
        region,
        &format!(
            r#"s3 = boto3.client("s3", **kw)
b = "aideploy-{ACCOUNT}-{region}"
s3.create_bucket(Bucket=b, CreateBucketConfiguration={{"LocationConstraint": "{region}"}})
s3.put_bucket_tagging(Bucket=b, Tagging={{"TagSet": [{{"Key": "aideploy:bucket", "Value": "model-archives"}}]}})
s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={{"Status": "Enabled"}})
s3.put_object(Bucket=b, Key="sagemaker/{app}/dev/sagemaker/0123/model.tar.gz", Body=b"old")
"#
        ),
    );
    assert_eq!(state(region, &app)["own_bucket"], true);
    ok_json(&run(home.path(), p, region, &["destroy", "--target", "sagemaker", "--yes", "--json"]));
    let s = state(region, &app);
    // The shared artifact bucket stays (it keeps the deploy leases and other targets'
    // artifacts); every version of this target's archives is gone from it.
    assert!(s["bucket"]["objects"].as_object().unwrap().keys().all(|k| !k.starts_with(&format!("sagemaker/{app}/"))), "{}", s["bucket"]);
    assert_eq!(s["own_bucket"], false);
    assert!(s["endpoints"].as_object().unwrap().is_empty() && s["models"].as_object().unwrap().is_empty());
}

#[test]
fn the_example_validates_builds_and_its_handler_answers() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    common::copy_tree(&common::root().join("examples/sagemaker-model"), p);
    let mut c = aideploy(home.path());
    let out = c.current_dir(p).args(["validate"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut c = aideploy(home.path());
    let built = ok_json(&c.current_dir(p).args(["build", "--target", "sagemaker", "--json"]).output().unwrap());
    let artifact = &built["artifact"];
    assert_eq!(artifact["kind"], "model-archive");
    let path = artifact["path"].as_str().unwrap();
    let names = std::process::Command::new("tar").args(["-tzf", path]).output().unwrap();
    let names = String::from_utf8_lossy(&names.stdout);
    for want in ["code/inference.py", "config.json", "weights.json"] {
        assert!(names.lines().any(|l| l == want), "{want} not in the archive:\n{names}");
    }
    // The same digest again: the archive is reproducible.
    let mut c = aideploy(home.path());
    let again = ok_json(&c.current_dir(p).args(["build", "--target", "sagemaker", "--json"]).output().unwrap());
    assert_eq!(again["artifact"]["digest"], artifact["digest"]);
    // The handler, as the inference toolkit calls it.
    let script = r#"
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("inference", sys.argv[1] + "/model/code/inference.py")
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
model = m.model_fn(sys.argv[1] + "/model")
out = json.loads(m.output_fn(m.predict_fn(m.input_fn(json.dumps({"inputs": ["great, I love it", "terrible and broken"]}), "application/json"), model), "application/json"))
assert [o["label"] for o in out] == ["positive", "negative"], out
"#;
    let out = std::process::Command::new("python3").args(["-c", script, p.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_failed_new_endpoint_exits_3_and_the_next_deploy_replaces_it() {
    let region = "us-west-2";
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("smfail");
    let ep = format!("{app}-dev");
    write_project(p, &app, region);
    let image = format!("{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/unhealthy-model:1");
    let out = run(home.path(), p, region, &["deploy", "--target", "sagemaker", "--yes", "--json", "--set", &format!("image={image}")]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let failure = json_of(&out)["failure"].as_str().unwrap().to_string();
    assert!(failure.contains("did not pass the ping health check") && failure.contains("nothing is serving"), "{failure}");
    assert_eq!(state(region, &app)["endpoints"][&ep]["status"], "Failed");
    let status = run(home.path(), p, region, &["status", "--target", "sagemaker", "--json"]);
    assert_eq!(status.status.code(), Some(3));
    assert_eq!(json_of(&status)["health"], "failed");

    // Fixed: SageMaker only deletes a failed endpoint, so the deploy replaces it.
    let fixed = ok_json(&run(home.path(), p, region, &["deploy", "--target", "sagemaker", "--yes", "--json"]));
    assert!(ops(&fixed).contains(&("endpoint".to_string(), "update".to_string())), "{fixed}");
    let s = state(region, &app);
    assert_eq!(s["endpoints"][&ep]["status"], "InService");
    let config = s["endpoints"][&ep]["config"].as_str().unwrap();
    assert!(!s["models"][config]["container"]["Image"].as_str().unwrap().contains("unhealthy"));
    ok_json(&run(home.path(), p, region, &["destroy", "--target", "sagemaker", "--yes", "--json"]));
    assert!(state(region, &app)["endpoints"].as_object().unwrap().is_empty());
}

#[test]
fn a_same_named_untagged_model_and_config_are_refused_and_left_alone() {
    let region = "eu-central-1";
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("smown");
    let ep = format!("{app}-dev");
    write_project(p, &app, region);
    ok_json(&run(home.path(), p, region, &["deploy", "--target", "sagemaker", "--yes", "--json"]));
    let release = state(region, &app)["endpoints"][&ep]["config"].as_str().unwrap().to_string();

    // Someone else's model and endpoint config now hold the release's names, untagged.
    boto(
        region,
        &format!(
            r#"sm = boto3.client("sagemaker", **kw)
sm.delete_endpoint_config(EndpointConfigName="{release}")
sm.delete_model(ModelName="{release}")
sm.create_model(ModelName="{release}", ExecutionRoleArn="arn:aws:iam::{ACCOUNT}:role/theirs", PrimaryContainer={{"Image": "theirs"}})
sm.create_endpoint_config(EndpointConfigName="{release}", ProductionVariants=[{{"VariantName": "v", "ModelName": "{release}", "InstanceType": "ml.t2.medium", "InitialInstanceCount": 1}}])
"#
        ),
    );
    let theirs = |s: &Value| {
        let model = &s["models"][&release];
        assert_eq!(model["container"]["Image"], "theirs", "the foreign model was replaced: {model}");
        assert!(model["tags"].get("aideploy:app").is_none(), "the foreign model was adopted: {model}");
        let config = &s["configs"][&release];
        assert_eq!(config["variants"][0]["InstanceType"], "ml.t2.medium", "the foreign config was replaced: {config}");
        assert!(config["tags"].get("aideploy:app").is_none(), "the foreign config was adopted: {config}");
    };

    // The same deploy again wants that release: refused, naming it and the fix.
    let planned = ok_json(&run(home.path(), p, region, &["plan", "--target", "sagemaker", "--json"]));
    assert!(planned["warnings"].to_string().contains(&release), "{planned}");
    let out = run(home.path(), p, region, &["deploy", "--target", "sagemaker", "--yes", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("SageMaker model {release}")) && stderr.contains("delete the SageMaker model"), "{stderr}");
    let s = state(region, &app);
    theirs(&s);
    assert_eq!(s["endpoints"][&ep]["config"], release.as_str());

    // destroy removes what is ours and leaves theirs.
    ok_json(&run(home.path(), p, region, &["destroy", "--target", "sagemaker", "--yes", "--json"]));
    let s = state(region, &app);
    theirs(&s);
    assert!(s["endpoints"].get(&ep).is_none(), "{}", s["endpoints"]);
    assert!(s["roles"].as_object().unwrap().is_empty(), "{}", s["roles"]);
    ok_json(&run(home.path(), p, region, &["destroy", "--target", "sagemaker", "--yes", "--json"]));
    theirs(&state(region, &app));
}

#[test]
fn a_same_named_untagged_role_is_refused_and_left_alone() {
    let region = "ap-northeast-1";
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("smrole");
    let role = format!("aideploy-{app}-dev-{region}");
    write_project(p, &app, region);
    boto(
        region,
        &format!(
            r#"iam = boto3.client("iam", **kw)
iam.create_role(RoleName="{role}", AssumeRolePolicyDocument=json.dumps({{"Version": "2012-10-17", "Statement": []}}))
iam.put_role_policy(RoleName="{role}", PolicyName="aideploy", PolicyDocument=json.dumps({{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}}]}}))
"#
        ),
    );
    let out = run(home.path(), p, region, &["deploy", "--target", "sagemaker", "--yes", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("the IAM role {role} exists")) && stderr.contains(&format!("delete the role {role}")), "{stderr}");
    let out = run(home.path(), p, region, &["destroy", "--target", "sagemaker", "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let s = state(region, &app);
    let theirs = &s["roles"][&role];
    assert!(theirs["tags"].as_object().unwrap().is_empty(), "the foreign role was tagged: {theirs}");
    assert_eq!(
        theirs["policies"]["aideploy"]["Statement"][0]["Action"], "s3:ListBucket",
        "the foreign role's policy was replaced: {theirs}"
    );
    assert!(s["endpoints"].as_object().unwrap().is_empty() && s["models"].as_object().unwrap().is_empty(), "{s}");
    assert!(s["secrets"].as_array().unwrap().is_empty(), "a secret was written before the refusal: {}", s["secrets"]);
}

/// `logs` reads the endpoint's CloudWatch log group, one stream per variant and instance.
#[test]
fn logs_come_from_the_endpoints_log_group() {
    let region = "eu-west-1";
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("smlogs");
    let ep = format!("{app}-dev");
    write_project(p, &app, region);
    let image = format!("{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/model:1");
    let image_set = format!("image={image}");
    ok_json(&run(home.path(), p, region, &["deploy", "--target", "sagemaker", "--yes", "--json", "--set", &image_set]));
    let group = format!("/aws/sagemaker/Endpoints/{ep}");
    boto(
        region,
        &format!(
            r#"import time
logs = boto3.client("logs", **kw)
logs.create_log_group(logGroupName="{group}")
logs.create_log_stream(logGroupName="{group}", logStreamName="AllTraffic/i-0abc")
now = int(time.time() * 1000)
logs.put_log_events(logGroupName="{group}", logStreamName="AllTraffic/i-0abc", logEvents=[
    {{"timestamp": now - 2000, "message": "model loaded"}}, {{"timestamp": now - 1000, "message": "GET /ping 200"}}])
"#
        ),
    );
    let out = run(home.path(), p, region, &["logs", "--target", "sagemaker", "-n", "1", "--json", "--set", &image_set]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!((lines[0]["message"].as_str(), lines[0]["stream"].as_str()), (Some("GET /ping 200"), Some("AllTraffic/i-0abc")));
    ok_json(&run(home.path(), p, region, &["destroy", "--target", "sagemaker", "--yes", "--json", "--set", &image_set]));
}

/// `status --metrics`: the endpoint variant's `AWS/SageMaker` metrics of the last hour,
/// put into moto with boto3: Invocations and Invocation5XXErrors summed, ModelLatency
/// (microseconds) as p50/p95 in milliseconds (percentiles from
/// tests/fakes/moto_cloudwatch.py); another variant's points are not counted.
#[test]
fn status_metrics_reads_the_endpoint_variants_invocations() {
    let region = "us-west-2";
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("smmet");
    let ep = format!("{app}-dev");
    write_project(p, &app, region);
    ok_json(&run(home.path(), p, region, &["deploy", "--target", "sagemaker", "--yes", "--json"]));
    boto(
        region,
        &format!(
            r#"import datetime
cw = boto3.client("cloudwatch", **kw)
at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=15)
def put(variant, name, values):
    dims = [{{"Name": "EndpointName", "Value": "{ep}"}}, {{"Name": "VariantName", "Value": variant}}]
    cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[{{"MetricName": name, "Dimensions": dims, "Timestamp": at, "Value": float(v)}} for v in values])
put("AllTraffic", "Invocations", [40, 40])
put("AllTraffic", "Invocation5XXErrors", [2])
# 20 invocations' model latency: 1 ms to 20 ms, in microseconds.
put("AllTraffic", "ModelLatency", [1000 * i for i in range(1, 21)])
put("Shadow", "Invocations", [500])
"#
        ),
    );
    let status = ok_json(&run(home.path(), p, region, &["status", "--target", "sagemaker", "--metrics", "--json"]));
    let m = &status["metrics"];
    assert_eq!((m["requests"].as_u64(), m["errors"].as_u64()), (Some(80), Some(2)), "{m}");
    assert_eq!(m["error_rate"], 0.025, "{m}");
    assert_eq!((m["p50_ms"].as_f64(), m["p95_ms"].as_f64()), (Some(10.0), Some(19.0)), "{m}");
    assert!(m["source"].as_str().unwrap().contains(&format!("EndpointName={ep}, VariantName=AllTraffic")), "{m}");
    assert!(m["note"].as_str().unwrap().contains("ModelLatency"), "{m}");
    ok_json(&run(home.path(), p, region, &["destroy", "--target", "sagemaker", "--yes", "--json"]));
}
