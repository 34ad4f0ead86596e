//! The `ec2` target end to end against moto's server (started by `scripts/test`, reached
//! through `AWS_ENDPOINT_URL`) and the loopback registry: deploy, an unchanged redeploy,
//! a security group change, a code change, a new instance that fails its health check,
//! rollback and destroy, each checked by reading what exists in moto afterwards with
//! boto3. moto runs no instance, so the health check reaches a local HTTP server through
//! `AIDEPLOY_EC2_HEALTH_HOST` (the documented way to check instances through another
//! address), which the test makes answer healthy or failing.

use crate::common;

use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use common::aideploy;
use serde_json::Value;

pub(crate) const REGION: &str = "us-east-1";
pub(crate) const SECRET: &str = "sk-ec2-test-0123456789-very-secret";
/// One of moto's built-in public AMIs (a Deep Learning AMI of 2017).
pub(crate) const AMI: &str = "ami-dca37ea5";

pub(crate) fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run these tests with `scripts/test ec2_target` (it starts moto and the registry)"))
}

pub(crate) fn app_name(test: &str) -> String {
    format!("{test}-{}", std::process::id())
}

/// A health endpoint standing in for the instances: answers with the status it is set to.
pub(crate) fn health_server() -> (String, Arc<AtomicU16>) {
    let status = Arc::new(AtomicU16::new(200));
    let s = status.clone();
    let (port, _) = common::fake_http(move |_| (s.load(Ordering::SeqCst), "{}".into()));
    (format!("127.0.0.1:{port}"), status)
}

pub(crate) fn write_app(dir: &Path, name: &str, target: &str) {
    std::fs::write(
        dir.join("aideploy.toml"),
        format!(
            r#"version = 1

[app]
name = "{name}"
runtime = "python3.11"
command = "python3 server.py"
port = 8000
health = "/health"

[build]
base_image = "{}"

[env]
GREETING = "hello"

[secrets]
API_KEY = {{}}

[targets.ec2]
region = "{REGION}"
instance_type = "g4dn.xlarge"
allow_cidrs = ["203.0.113.0/24", "198.51.100.7/32"]
volume_gb = 120
health_timeout = 2
{target}"#,
            env("AIDEPLOY_TEST_BASE_IMAGE")
        ),
    )
    .unwrap();
    write_code(dir, "v1");
}

pub(crate) fn write_code(dir: &Path, version: &str) {
    std::fs::write(dir.join("server.py"), format!("# {version}\nimport http.server\nhttp.server.test(port=8000)\n")).unwrap();
}

pub(crate) fn cmd(home: &Path, project: &Path, health: &str, repo: &str) -> assert_cmd::Command {
    let mut c = aideploy(home);
    c.current_dir(project)
        .env("AWS_ENDPOINT_URL", env("AIDEPLOY_TEST_MOTO"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AIDEPLOY_REGISTRY", repo)
        .env("AIDEPLOY_EC2_HEALTH_HOST", health)
        .env("API_KEY", SECRET)
        .env("AIDEPLOY_POLL_INTERVAL_MS", "20");
    common::offline(&mut c);
    c
}

fn check_no_secret(out: &Output) {
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(SECRET) && !String::from_utf8_lossy(&out.stdout).contains(SECRET),
        "a secret value was printed"
    );
}

pub(crate) fn json_of(out: &Output) -> Value {
    check_no_secret(out);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

pub(crate) fn ok_json(out: &Output) -> Value {
    assert!(out.status.success(), "exit {:?}\nstderr:\n{}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    json_of(out)
}

/// This app's resources in moto, read with boto3, as JSON.
const STATE_PY: &str = r#"
import base64, boto3, json, sys, urllib.parse
kw = dict(endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id="testing", aws_secret_access_key="testing")
app = sys.argv[3]
ec2, iam, sm, ecr, logs = (boto3.client(s, **kw) for s in ("ec2", "iam", "secretsmanager", "ecr", "logs"))
out = {"instances": [], "groups": [], "roles": {}, "profiles": {}, "secrets": [], "repos": [], "volumes": {}, "log_groups": {}}
for g in logs.describe_log_groups()["logGroups"]:
    if app in g["logGroupName"]:
        arn = g["arn"][:-2] if g["arn"].endswith(":*") else g["arn"]
        out["log_groups"][g["logGroupName"]] = {"retention": g.get("retentionInDays"), "tags": logs.list_tags_for_resource(resourceArn=arn)["tags"]}
for r in ec2.describe_instances()["Reservations"]:
    for i in r["Instances"]:
        tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
        if app not in json.dumps(tags):
            continue
        ud = ec2.describe_instance_attribute(InstanceId=i["InstanceId"], Attribute="userData")["UserData"].get("Value", "")
        vols = []
        for b in i.get("BlockDeviceMappings", []):
            v = ec2.describe_volumes(VolumeIds=[b["Ebs"]["VolumeId"]])["Volumes"][0]
            vols.append({"device": b["DeviceName"], "size": v["Size"], "encrypted": v["Encrypted"]})
        out["instances"].append({"id": i["InstanceId"], "state": i["State"]["Name"], "type": i["InstanceType"], "ami": i["ImageId"],
            "tags": tags, "metadata": i.get("MetadataOptions", {}), "profile": i.get("IamInstanceProfile", {}).get("Arn"),
            "groups": [g["GroupId"] for g in i.get("SecurityGroups", [])], "user_data": base64.b64decode(ud).decode() if ud else "",
            "volumes": vols, "launched": str(i["LaunchTime"])})
for g in ec2.describe_security_groups()["SecurityGroups"]:
    if app not in g["GroupName"]:
        continue
    rules = []
    for p in g["IpPermissions"]:
        for rng in p.get("IpRanges", []):
            rules.append([p.get("FromPort"), p.get("ToPort"), p.get("IpProtocol"), rng["CidrIp"]])
        for rng in p.get("Ipv6Ranges", []):
            rules.append([p.get("FromPort"), p.get("ToPort"), p.get("IpProtocol"), rng["CidrIpv6"]])
    out["groups"].append({"id": g["GroupId"], "name": g["GroupName"], "tags": {t["Key"]: t["Value"] for t in g.get("Tags", [])}, "ingress": sorted(rules)})
for r in iam.list_roles()["Roles"]:
    n = r["RoleName"]
    if app not in n:
        continue
    pols = {}
    for p in iam.list_role_policies(RoleName=n)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=n, PolicyName=p)["PolicyDocument"]
        pols[p] = json.loads(urllib.parse.unquote(doc)) if isinstance(doc, str) else doc
    out["roles"][n] = {"arn": r["Arn"], "policies": pols, "tags": {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=n)["Tags"]},
        "trust": r["AssumeRolePolicyDocument"]}
for p in iam.list_instance_profiles()["InstanceProfiles"]:
    if app in p["InstanceProfileName"]:
        out["profiles"][p["InstanceProfileName"]] = {"arn": p["Arn"], "roles": [r["RoleName"] for r in p["Roles"]]}
for s in sm.list_secrets()["SecretList"]:
    if s["Name"].startswith("aideploy/" + app + "/"):
        out["secrets"].append({"name": s["Name"], "arn": s["ARN"], "tags": {t["Key"]: t["Value"] for t in s.get("Tags", [])}})
for r in ecr.describe_repositories()["repositories"]:
    if app in r["repositoryName"]:
        try:
            lc = json.loads(ecr.get_lifecycle_policy(repositoryName=r["repositoryName"])["lifecyclePolicyText"])
        except Exception:
            lc = None
        tags = {t["Key"]: t["Value"] for t in ecr.list_tags_for_resource(resourceArn=r["repositoryArn"])["tags"]}
        out["repos"].append({"name": r["repositoryName"], "scan": r["imageScanningConfiguration"]["scanOnPush"], "lifecycle": lc, "tags": tags})
print(json.dumps(out, default=str))
"#;

pub(crate) fn state(app: &str) -> Value {
    let out = std::process::Command::new("python3").args(["-c", STATE_PY, &env("AIDEPLOY_TEST_MOTO"), REGION, app]).output().unwrap();
    assert!(out.status.success(), "boto3 state dump failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

pub(crate) fn boto(script: &str) -> String {
    let full = format!("import boto3, json, sys\nkw = dict(endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id='testing', aws_secret_access_key='testing')\nec2 = boto3.client('ec2', **kw)\n{script}");
    let out = std::process::Command::new("python3").args(["-c", &full, &env("AIDEPLOY_TEST_MOTO"), REGION]).output().unwrap();
    assert!(out.status.success(), "boto3 failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// This app's running instances (aideploy's, not someone else's).
pub(crate) fn running(s: &Value) -> Vec<&Value> {
    s["instances"].as_array().unwrap().iter().filter(|i| i["state"] == "running" && i["tags"].get("aideploy:app").is_some()).collect()
}

pub(crate) fn instance<'a>(s: &'a Value, id: &str) -> &'a Value {
    s["instances"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap_or_else(|| panic!("no instance {id} in {s}"))
}

/// The repository's tags in the test registry; `null` when it has none (never pushed).
fn registry_tags(repo: &str) -> Value {
    let (host, path) = repo.split_once('/').unwrap();
    let py = "import json, sys, urllib.request, urllib.error\ntry:\n    print(json.dumps(json.load(urllib.request.urlopen(f'http://{sys.argv[1]}/v2/{sys.argv[2]}/tags/list')).get('tags')))\nexcept urllib.error.HTTPError as e:\n    print('null' if e.code == 404 else sys.exit(f'HTTP {e.code}'))";
    let out = std::process::Command::new("python3").args(["-c", py, host, path]).output().unwrap();
    assert!(out.status.success(), "registry read failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

pub(crate) fn tagged(tags: &Value, app: &str) -> bool {
    tags["aideploy:app"] == app && tags["aideploy:stage"] == "dev" && tags["aideploy:target"] == "ec2"
}

/// AWS calls a run made (from its -vv log) and its duration: for docs/benchmarks.md,
/// shown with `--nocapture`, never asserted on.
fn calls(what: &str, out: &Output) {
    let log = String::from_utf8_lossy(&out.stderr);
    let reads = log.matches("(read)").count();
    let writes = log.matches("(write)").count();
    let ms = serde_json::from_slice::<Value>(&out.stdout).ok().and_then(|v| v["duration_ms"].as_u64()).unwrap_or(0);
    eprintln!("ec2 {what}: {reads} reads, {writes} writes, {ms} ms");
}

#[test]
fn deploy_noop_change_unhealthy_rollback_destroy() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("gpu");
    write_app(p, &app, &format!("ami = \"{AMI}\""));
    let repo = format!("{}/ec2-test/{app}", env("AIDEPLOY_TEST_REGISTRY"));
    let (health, status) = health_server();
    let run = |args: &[&str]| cmd(home.path(), p, &health, &repo).args(args).output().unwrap();

    // Someone else's security group and instance, which destroy must leave alone.
    let foreign = boto(&format!(
        "g = ec2.create_security_group(GroupName='{app}-not-ours', Description='x')['GroupId']\n\
         i = ec2.run_instances(ImageId='{AMI}', MinCount=1, MaxCount=1, SecurityGroupIds=[g], TagSpecifications=[{{'ResourceType': 'instance', 'Tags': [{{'Key': 'owner', 'Value': '{app}-someone-else'}}]}}])['Instances'][0]['InstanceId']\n\
         print(g, i)"
    ));
    let (foreign_sg, foreign_instance) = foreign.split_once(' ').unwrap();

    // A plan from nothing shows the push with its size and changes nothing: no AWS
    // write call, nothing in moto, nothing in the registry.
    let before = state(&app);
    let out = run(&["plan", "--target", "ec2", "--json", "-vv"]);
    let planned = ok_json(&out);
    let push = planned["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "push image").unwrap_or_else(|| panic!("{planned}"));
    assert_eq!(push["op"], "create");
    assert!(push["id"].as_str().unwrap().starts_with(&format!("{repo}@sha256:")), "{push}");
    assert!(push["reason"].as_str().unwrap().ends_with("to upload"), "{push}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("(write)"), "plan made a write call");
    assert_eq!(state(&app), before, "plan created something");
    assert!(before["roles"].as_object().unwrap().is_empty() && before["repos"].as_array().unwrap().is_empty());
    assert_eq!(registry_tags(&repo), Value::Null, "plan pushed to the registry");

    // First deploy: the output contract; health checked through AIDEPLOY_EC2_HEALTH_HOST.
    let out = run(&["deploy", "--target", "ec2", "--yes", "--json", "-vv"]);
    calls("first deploy", &out);
    let report = ok_json(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(report["kind"], "ec2");
    assert_eq!(report["changed"], true);
    assert_eq!(report["health"], "passed", "{report}");
    assert!(stderr.contains("plain HTTP"), "the output does not say the URL is plain HTTP:\n{stderr}");
    assert!(stderr.contains("status checks"), "no progress for the status checks:\n{stderr}");
    let first = report["artifact"]["digest"].as_str().unwrap().to_string();
    assert!(first.starts_with("sha256:"));
    assert_eq!(report["artifact"]["kind"], "image");
    for a in report["actions"].as_array().unwrap() {
        assert_eq!(a["op"], "create", "{a}");
    }

    let s = state(&app);
    assert!(!s.to_string().contains(SECRET), "a secret value is in user data, tags or policies");
    let live = running(&s);
    assert_eq!(live.len(), 1, "{s}");
    let i1 = live[0];
    let id1 = i1["id"].as_str().unwrap().to_string();
    // The URL is the instance's public address on the app port.
    let ip = boto(&format!(
        "print(ec2.describe_instances(InstanceIds=['{id1}'])['Reservations'][0]['Instances'][0].get('PublicIpAddress', ''))"
    ));
    assert!(!ip.is_empty(), "moto gave the instance no public IP");
    assert_eq!(report["url"], format!("http://{ip}:8000"));
    assert_eq!(i1["type"], "g4dn.xlarge");
    assert_eq!(i1["ami"], AMI);
    assert!(tagged(&i1["tags"], &app), "{}", i1["tags"]);
    assert_eq!(i1["tags"]["aideploy:digest"], first.as_str());
    assert_eq!(i1["metadata"]["HttpTokens"], "required", "IMDSv2 is not required: {}", i1["metadata"]);
    let vols = i1["volumes"].as_array().unwrap();
    assert_eq!(vols.len(), 1, "{vols:?}");
    assert_eq!(vols[0]["encrypted"], true);
    assert_eq!(vols[0]["size"], 120);
    // The user data pulls the image by digest and reads the secret by ARN at boot.
    let ud = i1["user_data"].as_str().unwrap();
    let secret_arn = s["secrets"][0]["arn"].as_str().unwrap().to_string();
    assert!(ud.contains(&format!("docker pull '{repo}@{first}'")), "{ud}");
    assert!(ud.contains(&format!("read_secret 'API_KEY' '{secret_arn}'")), "{ud}");
    assert!(ud.contains("--secret-id \"$2\""), "{ud}");
    assert!(ud.contains("--gpus all") && ud.contains("--restart unless-stopped") && ud.contains("-p 8000:8000"), "{ud}");
    assert!(!ud.contains(SECRET));
    // The secret: stored under its name and tagged.
    assert_eq!(s["secrets"].as_array().unwrap().len(), 1);
    assert_eq!(s["secrets"][0]["name"], format!("aideploy/{app}/dev/API_KEY"));
    assert!(tagged(&s["secrets"][0]["tags"], &app));

    // The security group: exactly the app port from the allowed networks, no SSH.
    let groups: Vec<&Value> = s["groups"].as_array().unwrap().iter().filter(|g| g["name"] == format!("aideploy-{app}-dev")).collect();
    assert_eq!(groups.len(), 1);
    let sg = groups[0];
    assert!(tagged(&sg["tags"], &app));
    assert_eq!(sg["ingress"], serde_json::json!([[8000, 8000, "tcp", "198.51.100.7/32"], [8000, 8000, "tcp", "203.0.113.0/24"]]));
    assert_eq!(i1["groups"], serde_json::json!([sg["id"]]));

    // Role and profile: may read exactly this app's secret (the image is not in ECR).
    let rname = format!("aideploy-{app}-dev-{REGION}");
    let role = &s["roles"][&rname];
    assert!(tagged(&role["tags"], &app));
    assert_eq!(role["trust"]["Statement"][0]["Principal"]["Service"], "ec2.amazonaws.com");
    let statements = role["policies"]["aideploy"]["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "{statements:?}");
    // The container writes its own log group, through Docker's awslogs driver.
    let group = format!("/aideploy/{app}-dev");
    assert_eq!(statements[0]["Action"], serde_json::json!(["logs:CreateLogStream", "logs:PutLogEvents"]));
    assert_eq!(statements[0]["Resource"][0], format!("arn:aws:logs:{REGION}:*:log-group:{group}"));
    assert_eq!(statements[1]["Action"], "secretsmanager:GetSecretValue");
    assert_eq!(statements[1]["Resource"], serde_json::json!([secret_arn]));
    assert_eq!(s["log_groups"][&group]["retention"], 30, "{s}");
    assert!(tagged(&s["log_groups"][&group]["tags"], &app), "{s}");
    assert!(ud.contains(&format!("--log-driver awslogs --log-opt awslogs-region='{REGION}' --log-opt awslogs-group='{group}'")), "{ud}");
    assert_eq!(s["profiles"][&rname]["roles"], serde_json::json!([rname]));
    assert_eq!(i1["profile"], s["profiles"][&rname]["arn"]);

    // Unchanged: a noop, only read calls, nothing new in moto.
    let out = run(&["deploy", "--target", "ec2", "--yes", "--json", "-vv"]);
    let again = ok_json(&out);
    assert_eq!(again["changed"], false);
    assert!(again["actions"].as_array().unwrap().iter().all(|a| a["op"] == "noop"), "{again}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("(read)") && !log.contains("(write)"), "an unchanged deploy made a write call:\n{log}");
    calls("unchanged redeploy", &out);
    assert_eq!(state(&app)["instances"], s["instances"]);
    // A plan from a fresh machine (no local state) sees the same.
    let fresh = tempfile::tempdir().unwrap();
    let tags_before = registry_tags(&repo);
    let out = cmd(fresh.path(), p, &health, &repo).args(["plan", "--target", "ec2", "--json", "-vv"]).output().unwrap();
    let planned = ok_json(&out);
    assert!(planned["actions"].as_array().unwrap().iter().all(|a| a["op"] == "noop"), "{planned}");
    assert!(planned["actions"].as_array().unwrap().iter().any(|a| a["resource"] == "image"), "{planned}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("(write)"), "plan made a write call");
    assert_eq!(state(&app), s, "plan from a deployed state changed something in moto");
    assert_eq!(registry_tags(&repo), tags_before, "plan pushed to the registry");

    // Drift (a rule and the role's policy removed by hand): the next deploy puts them
    // back and starts no instance.
    let sg_id = sg["id"].as_str().unwrap().to_string();
    boto(&format!(
        "ec2.revoke_security_group_ingress(GroupId='{sg_id}', IpPermissions=[{{'IpProtocol': 'tcp', 'FromPort': 8000, 'ToPort': 8000, 'IpRanges': [{{'CidrIp': '203.0.113.0/24'}}]}}])\n\
         boto3.client('iam', **kw).delete_role_policy(RoleName='{rname}', PolicyName='aideploy')"
    ));
    let fixed = ok_json(&run(&["deploy", "--target", "ec2", "--yes", "--json"]));
    let mut changed: Vec<&str> =
        fixed["actions"].as_array().unwrap().iter().filter(|a| a["op"] != "noop").map(|a| a["resource"].as_str().unwrap()).collect();
    changed.sort();
    assert_eq!(changed, ["role", "security-group"], "{fixed}");
    let s = state(&app);
    let sg = s["groups"].as_array().unwrap().iter().find(|g| g["id"] == sg_id.as_str()).unwrap();
    assert_eq!(sg["ingress"].as_array().unwrap().len(), 2, "{sg}");
    assert_eq!(s["roles"][&rname]["policies"]["aideploy"]["Statement"][1]["Resource"], serde_json::json!([secret_arn]));
    assert_eq!(running(&s).len(), 1);
    assert_eq!(running(&s)[0]["id"], id1.as_str());

    // SSH asked for: only the security group changes, only to the given network.
    let ssh = cmd(home.path(), p, &health, &repo)
        .args(["deploy", "--target", "ec2", "--yes", "--json", "--set", "ssh_cidrs=[\"192.0.2.1/32\"]"])
        .output()
        .unwrap();
    let ssh = ok_json(&ssh);
    let changed: Vec<&str> =
        ssh["actions"].as_array().unwrap().iter().filter(|a| a["op"] != "noop").map(|a| a["resource"].as_str().unwrap()).collect();
    assert_eq!(changed, ["security-group"], "{ssh}");
    let s = state(&app);
    let sg = s["groups"].as_array().unwrap().iter().find(|g| g["name"] == format!("aideploy-{app}-dev")).unwrap();
    assert!(sg["ingress"].as_array().unwrap().contains(&serde_json::json!([22, 22, "tcp", "192.0.2.1/32"])), "{sg}");
    assert_eq!(sg["ingress"].as_array().unwrap().len(), 3);
    assert_eq!(running(&s).len(), 1);
    // And back: the SSH rule goes again.
    ok_json(&run(&["deploy", "--target", "ec2", "--yes", "--json"]));
    let s = state(&app);
    let sg = s["groups"].as_array().unwrap().iter().find(|g| g["name"] == format!("aideploy-{app}-dev")).unwrap();
    assert_eq!(sg["ingress"].as_array().unwrap().len(), 2, "{sg}");

    // A code change: a new instance, health-checked, then the old one terminated.
    write_code(p, "v2");
    let out = run(&["deploy", "--target", "ec2", "--yes", "--json", "-vv"]);
    calls("code change", &out);
    let v2 = ok_json(&out);
    assert_eq!(v2["health"], "passed");
    let second = v2["artifact"]["digest"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    let s = state(&app);
    let live = running(&s);
    assert_eq!(live.len(), 1, "{s}");
    let id2 = live[0]["id"].as_str().unwrap().to_string();
    assert_ne!(id2, id1);
    assert_eq!(instance(&s, &id1)["state"], "terminated");
    assert_eq!(live[0]["tags"]["aideploy:digest"], second.as_str());
    assert_eq!(live[0]["tags"]["aideploy:previous-digest"], first.as_str());
    assert!(live[0]["user_data"].as_str().unwrap().contains(&format!("{repo}@{second}")));

    // A leftover of an interrupted deploy (an extra instance tagged for this app): the
    // next deploy health-checks the right one and terminates the leftover.
    let leftover = boto(&format!(
        "tags = [{{'Key': k, 'Value': v}} for k, v in [('aideploy:app', '{app}'), ('aideploy:stage', 'dev'), ('aideploy:target', 'ec2'), ('aideploy:digest', 'sha256:stale'), ('aideploy:config', 'stale')]]\n\
         print(ec2.run_instances(ImageId='{AMI}', MinCount=1, MaxCount=1, TagSpecifications=[{{'ResourceType': 'instance', 'Tags': tags}}])['Instances'][0]['InstanceId'])"
    ));
    let conv = ok_json(&run(&["deploy", "--target", "ec2", "--yes", "--json"]));
    let ops: Vec<(String, String, String)> = conv["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["op"] != "noop")
        .map(|a| (a["op"].as_str().unwrap().into(), a["resource"].as_str().unwrap().into(), a["id"].as_str().unwrap().into()))
        .collect();
    assert_eq!(ops, [("delete".to_string(), "instance".to_string(), leftover.clone())], "{conv}");
    assert_eq!(conv["health"], "passed");
    let s = state(&app);
    assert_eq!(instance(&s, &leftover)["state"], "terminated");
    assert_eq!(running(&s).len(), 1);
    assert_eq!(running(&s)[0]["id"], id2.as_str());

    // A new version that fails its health check: terminated, the old one keeps serving.
    write_code(p, "v3");
    status.store(503, Ordering::SeqCst);
    let out = run(&["deploy", "--target", "ec2", "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = json_of(&out);
    assert_eq!(bad["health"], "failed");
    assert!(bad["failure"].as_str().unwrap().contains("HTTP 503") && bad["failure"].as_str().unwrap().contains("keeps serving"), "{bad}");
    let s = state(&app);
    let live = running(&s);
    assert_eq!(live.len(), 1, "{s}");
    assert_eq!(live[0]["id"], id2.as_str());
    let third: Vec<&Value> = s["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| tagged(&i["tags"], &app) && ![id1.as_str(), id2.as_str(), leftover.as_str()].contains(&i["id"].as_str().unwrap()))
        .collect();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0]["state"], "terminated");
    status.store(200, Ordering::SeqCst);
    let st = ok_json(&run(&["status", "--target", "ec2", "--json"]));
    assert_eq!(st["digest"], second.as_str());
    assert_eq!(st["health"], "passed");

    // Rollback: a new instance with the previous digest, health-gated; the live one goes.
    let rb = ok_json(&run(&["rollback", "--target", "ec2", "--yes", "--json"]));
    assert_eq!(rb["health"], "passed", "{rb}");
    assert_eq!(rb["digest"], first.as_str(), "{rb}");
    let s = state(&app);
    let live = running(&s);
    assert_eq!(live.len(), 1);
    assert_eq!(live[0]["tags"]["aideploy:digest"], first.as_str());
    assert!(live[0]["user_data"].as_str().unwrap().contains(&format!("{repo}@{first}")));
    assert_eq!(instance(&s, &id2)["state"], "terminated");

    // Destroy: nothing tagged for this app is left; someone else's resources stay.
    let d = ok_json(&run(&["destroy", "--target", "ec2", "--yes", "--json"]));
    assert!(!d["actions"].as_array().unwrap().is_empty());
    let s = state(&app);
    assert!(running(&s).is_empty(), "{s}");
    assert!(s["instances"].as_array().unwrap().iter().filter(|i| tagged(&i["tags"], &app)).all(|i| i["state"] == "terminated"));
    assert!(s["groups"].as_array().unwrap().iter().all(|g| g["id"] == foreign_sg), "{s}");
    assert!(s["roles"].as_object().unwrap().is_empty() && s["profiles"].as_object().unwrap().is_empty(), "{s}");
    assert!(s["secrets"].as_array().unwrap().is_empty(), "{s}");
    assert!(s["log_groups"].as_object().unwrap().is_empty(), "{s}");
    assert_eq!(instance(&s, foreign_instance)["state"], "running");
    assert!(s["groups"].as_array().unwrap().iter().any(|g| g["id"] == foreign_sg));
    let st = ok_json(&run(&["status", "--target", "ec2", "--json"]));
    assert_eq!(st["deployed"], false);
}

#[test]
fn without_health_host_health_is_skipped_on_moto() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("gpuskip");
    write_app(p, &app, &format!("ami = \"{AMI}\""));
    let repo = format!("{}/ec2-test/{app}", env("AIDEPLOY_TEST_REGISTRY"));
    let out = cmd(home.path(), p, "", &repo).args(["deploy", "--target", "ec2", "--yes", "--json"]).output().unwrap();
    let report = ok_json(&out);
    assert_eq!(report["health"], "skipped");
    assert!(String::from_utf8_lossy(&out.stderr).contains("health: skipped"));
    // Nothing before the first image: rollback says so and changes nothing.
    let out = cmd(home.path(), p, "", &repo).args(["rollback", "--target", "ec2", "--yes"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no previous image"), "{stderr}");
    assert_eq!(running(&state(&app)).len(), 1);
    // `secrets` manages the ec2 target's secrets in Secrets Manager too.
    let listed = ok_json(&cmd(home.path(), p, "", &repo).args(["secrets", "list", "--target", "ec2", "--json"]).output().unwrap());
    assert_eq!(listed["secrets"][0]["name"], "API_KEY");
    assert_eq!(listed["secrets"][0]["stored"], true);
    ok_json(&cmd(home.path(), p, "", &repo).args(["destroy", "--target", "ec2", "--yes", "--json"]).output().unwrap());
    assert!(running(&state(&app)).is_empty());
}

#[test]
fn ami_lookup_and_the_ecr_repository() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("gpuami");
    write_app(p, &app, "");
    let repo = format!("{}/ec2-test/{app}", env("AIDEPLOY_TEST_REGISTRY"));
    let (health, _) = health_server();

    // No `ami`: DescribeImages by name; moto has no current Deep Learning AMI, so the
    // error names the setting, before anything is created.
    let out = cmd(home.path(), p, &health, &repo).args(["deploy", "--target", "ec2", "--yes"]).output().unwrap();
    check_no_secret(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Deep Learning AMI") && stderr.contains("ami = "), "{stderr}");
    let s = state(&app);
    assert!(
        s["instances"].as_array().unwrap().is_empty()
            && s["groups"].as_array().unwrap().is_empty()
            && s["roles"].as_object().unwrap().is_empty(),
        "{s}"
    );

    // An AMI that does not exist: said plainly, nothing created.
    let out = cmd(home.path(), p, &health, &repo)
        .args(["deploy", "--target", "ec2", "--yes", "--set", "ami=ami-0000000000000dead"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("AMI ami-0000000000000dead does not exist"), "{stderr}");
    assert!(state(&app)["groups"].as_array().unwrap().is_empty());

    // No registry override: the ECR repository is made (scan on push, lifecycle policy,
    // tags); moto serves no registry to push to, which the error says.
    let out =
        cmd(home.path(), p, &health, &repo).env_remove("AIDEPLOY_REGISTRY").args(["deploy", "--target", "ec2", "--yes"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("AIDEPLOY_REGISTRY"), "{stderr}");
    let s = state(&app);
    let repos = s["repos"].as_array().unwrap();
    assert_eq!(repos.len(), 1, "{s}");
    assert_eq!(repos[0]["name"], format!("aideploy/{app}-dev"));
    assert_eq!(repos[0]["scan"], true);
    assert!(tagged(&repos[0]["tags"], &app));
    let rule = &repos[0]["lifecycle"]["rules"][0];
    assert_eq!(rule["selection"]["countType"], "imageCountMoreThan");
    assert_eq!(rule["action"]["type"], "expire");
    // Destroy finds it from its tags and removes it.
    ok_json(&cmd(home.path(), p, &health, &repo).args(["destroy", "--target", "ec2", "--yes", "--json"]).output().unwrap());
    assert!(state(&app)["repos"].as_array().unwrap().is_empty());
}

#[test]
fn model_server_user_data() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("gpullm");
    // The server's image by tag, from the loopback registry (no test reaches Docker Hub).
    let server_image = env("AIDEPLOY_TEST_BASE_IMAGE");
    write_app(
        p,
        &app,
        &format!("ami = \"{AMI}\"\nmodel = \"TheBloke/Llama-2-7B-Chat-AWQ\"\nserver = \"vllm\"\nserver_image = \"{server_image}\""),
    );
    let (health, _) = health_server();
    // `server` needs a `model`, and a model is `org/name`: usage errors before any call.
    for (set, says) in [("model=\"\"", "Hugging Face model id"), ("model=\"just-a-name\"", "org/name")] {
        let out = cmd(home.path(), p, &health, "")
            .env_remove("AIDEPLOY_REGISTRY")
            .args(["plan", "--target", "ec2", "--set", set])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
    let report = ok_json(
        &cmd(home.path(), p, &health, "")
            .env_remove("AIDEPLOY_REGISTRY")
            .args(["deploy", "--target", "ec2", "--yes", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(report["artifact"]["kind"], "model-server");
    assert_eq!(report["health"], "passed");
    let s = state(&app);
    let live = running(&s);
    assert_eq!(live.len(), 1);
    let ud = live[0]["user_data"].as_str().unwrap();
    // The tag was resolved when planning: the instance pulls and runs the digest the
    // registry holds for it (read back with skopeo), not the tag.
    let digest = registry_digest(&server_image);
    let pinned = format!("'{}@{digest}' --model 'TheBloke/Llama-2-7B-Chat-AWQ'", server_image.rsplit_once(':').unwrap().0);
    assert!(ud.contains(&pinned) && ud.contains("--gpus all"), "{ud}");
    assert!(!ud.contains(":3.11"), "the tag is not what runs: {ud}");
    assert!(report["artifact"]["reference"].as_str().unwrap().contains(&digest), "{report}");
    // The plan showed it, and where it came from.
    let planned = ok_json(
        &cmd(home.path(), p, &health, "").env_remove("AIDEPLOY_REGISTRY").args(["plan", "--target", "ec2", "--json"]).output().unwrap(),
    );
    let row = planned["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "server-image").cloned().unwrap_or_default();
    assert!(row["id"].as_str().unwrap_or_default().ends_with(&digest), "{planned}");
    assert!(row["reason"].as_str().unwrap_or_default().contains(&server_image), "{planned}");
    assert!(!ud.contains("docker login"));
    // No image of its own: no ECR statements, only its log group and the secret.
    let role = &s["roles"][format!("aideploy-{app}-dev-{REGION}")];
    let sids: Vec<&str> = role["policies"]["aideploy"]["Statement"].as_array().unwrap().iter().filter_map(|s| s["Sid"].as_str()).collect();
    assert_eq!(sids, ["OwnLogGroup", "OwnSecrets"], "{role}");
    let again = ok_json(
        &cmd(home.path(), p, &health, "")
            .env_remove("AIDEPLOY_REGISTRY")
            .args(["deploy", "--target", "ec2", "--yes", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(again["changed"], false);
    ok_json(
        &cmd(home.path(), p, &health, "")
            .env_remove("AIDEPLOY_REGISTRY")
            .args(["destroy", "--target", "ec2", "--yes", "--json"])
            .output()
            .unwrap(),
    );
    let s = state(&app);
    assert!(running(&s).is_empty() && s["groups"].as_array().unwrap().is_empty());
}

/// The digest a registry holds for `reference` now, as skopeo reads it.
fn registry_digest(reference: &str) -> String {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}", &format!("docker://{reference}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn model_server_image_is_pinned_by_digest() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("gpupin");
    write_app(p, &app, &format!("ami = \"{AMI}\"\nmodel = \"TheBloke/Llama-2-7B-Chat-AWQ\""));
    let plan = |set: &str| {
        cmd(home.path(), p, "", "")
            .env_remove("AIDEPLOY_REGISTRY")
            .args(["plan", "--target", "ec2", "--json", "--set", set])
            .output()
            .unwrap()
    };
    // A reference with a digest is taken as it is: no registry is asked (port 9 answers nothing).
    let digest = format!("sha256:{}", "5".repeat(64));
    let out = plan(&format!("server_image=\"127.0.0.1:9/vllm/vllm-openai@{digest}\""));
    let planned = ok_json(&out);
    let row = planned["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "server-image").cloned().unwrap_or_default();
    assert_eq!(row["id"], format!("127.0.0.1:9/vllm/vllm-openai@{digest}"), "{planned}");
    // A tag that cannot be resolved stops the plan, naming the way to pin it by hand.
    let out = plan("server_image=\"127.0.0.1:9/vllm/vllm-openai:v9\"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("cannot resolve the model server image 127.0.0.1:9/vllm/vllm-openai:v9"), "{stderr}");
    assert!(stderr.contains("server_image = \"127.0.0.1:9/vllm/vllm-openai@sha256:...\""), "{stderr}");
    // `server_image` without a model is a usage error.
    let other = tempfile::tempdir().unwrap();
    write_app(other.path(), &app, &format!("ami = \"{AMI}\"\nserver_image = \"x/y:1\""));
    let out = cmd(home.path(), other.path(), "", "").env_remove("AIDEPLOY_REGISTRY").args(["plan", "--target", "ec2"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`server_image` is set but `model` is not"), "{stderr}");
}

/// The stored value of a secret, read back with boto3 (never printed by aideploy).
fn secret_value(id: &str) -> String {
    let full = "import boto3, sys\nkw = dict(endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id='testing', aws_secret_access_key='testing')\nprint(boto3.client('secretsmanager', **kw).get_secret_value(SecretId=sys.argv[3])['SecretString'])";
    let out = std::process::Command::new("python3").args(["-c", full, &env("AIDEPLOY_TEST_MOTO"), REGION, id]).output().unwrap();
    assert!(out.status.success(), "boto3 failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn private_by_default_and_the_model_server_has_a_key() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("gpupriv");
    let server_image = env("AIDEPLOY_TEST_BASE_IMAGE");
    write_app(
        p,
        &app,
        &format!("ami = \"{AMI}\"\nmodel = \"TheBloke/Llama-2-7B-Chat-AWQ\"\nserver = \"vllm\"\nserver_image = \"{server_image}\""),
    );
    // Neither `public` nor `allow_cidrs`: private.
    let toml = std::fs::read_to_string(p.join("aideploy.toml")).unwrap();
    std::fs::write(p.join("aideploy.toml"), toml.replace("allow_cidrs = [\"203.0.113.0/24\", \"198.51.100.7/32\"]\n", "")).unwrap();
    let run = |args: &[&str]| cmd(home.path(), p, "", "").env_remove("AIDEPLOY_REGISTRY").args(args).output().unwrap();

    // The plan says the port is private and how to reach it, and that a key is generated.
    let out = run(&["plan", "--target", "ec2", "--json"]);
    let planned = ok_json(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("aws ssm start-session --region us-east-1 --target INSTANCE_ID --document-name AWS-StartPortForwardingSession")
            && stderr.contains("allow_cidrs"),
        "{stderr}"
    );
    let key_id = format!("aideploy/{app}/dev/VLLM_API_KEY");
    let key_row = planned["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "api-key").expect("an api-key row").clone();
    assert_eq!((key_row["op"].as_str(), key_row["id"].as_str()), (Some("create"), Some(key_id.as_str())));

    let out = run(&["deploy", "--target", "ec2", "--yes", "--json"]);
    let report = ok_json(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Private: no URL, the health check cannot reach it from here (said so), the SSM
    // command names the new instance.
    assert_eq!(report["url"], Value::Null, "{report}");
    assert_eq!(report["health"], "skipped");
    let s = state(&app);
    let live = running(&s);
    assert_eq!(live.len(), 1);
    let id = live[0]["id"].as_str().unwrap();
    assert!(stderr.contains(&format!("--target {id} --document-name AWS-StartPortForwardingSession")), "{stderr}");
    // The security group opens the app port to no address.
    assert_eq!(s["groups"].as_array().unwrap().len(), 1, "{s}");
    assert_eq!(s["groups"][0]["ingress"], serde_json::json!([]), "{s}");
    // The key: generated into Secrets Manager, tagged, read by the instance by ARN, never printed.
    let key = s["secrets"].as_array().unwrap().iter().find(|x| x["name"] == key_id.as_str()).unwrap_or_else(|| panic!("no key in {s}"));
    assert!(tagged(&key["tags"], &app), "{key}");
    let value = secret_value(&key_id);
    assert!(value.len() >= 32 && value.chars().all(|c| c.is_ascii_alphanumeric()), "a weak key: {} chars", value.len());
    assert!(!stderr.contains(&value) && !String::from_utf8_lossy(&out.stdout).contains(&value), "the key was printed");
    let row = report["actions"].as_array().unwrap().iter().find(|a| a["resource"] == "api-key").unwrap();
    assert!(
        row["reason"].as_str().unwrap().contains(&format!("aws secretsmanager get-secret-value --region us-east-1 --secret-id {key_id}")),
        "{row}"
    );
    let ud = live[0]["user_data"].as_str().unwrap();
    assert!(ud.contains("'VLLM_API_KEY'") && ud.contains(key["arn"].as_str().unwrap()) && !ud.contains(&value), "{ud}");
    let role = &s["roles"][format!("aideploy-{app}-dev-{REGION}")]["policies"]["aideploy"];
    let sts = role["Statement"].as_array().unwrap();
    assert!(sts.iter().any(|st| st["Sid"] == "OwnSecrets" && st["Resource"].as_array().unwrap().contains(&key["arn"])), "{role}");
    assert!(sts.iter().any(|st| st["Sid"] == "SsmSessions"), "{role}");
    let st = ok_json(&run(&["status", "--target", "ec2", "--json"]));
    assert!(st.to_string().contains(&format!("--secret-id {key_id}")), "{st}");

    // A redeploy keeps the key and changes nothing.
    let again = ok_json(&run(&["deploy", "--target", "ec2", "--yes", "--json"]));
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(secret_value(&key_id), value);

    // `public = true` opens the port to everyone (a security-group update, same instance).
    let out = run(&["deploy", "--target", "ec2", "--yes", "--json", "--set", "public=true"]);
    ok_json(&out);
    let s = state(&app);
    assert_eq!(s["groups"][0]["ingress"], serde_json::json!([[8000, 8000, "tcp", "0.0.0.0/0"]]), "{s}");
    assert_eq!(running(&s)[0]["id"], id);
    assert_eq!(secret_value(&key_id), value);

    ok_json(&run(&["destroy", "--target", "ec2", "--yes", "--json"]));
    let s = state(&app);
    assert!(running(&s).is_empty() && s["groups"].as_array().unwrap().is_empty());
}

#[test]
fn same_named_role_without_our_tags_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("gpuforeign");
    write_app(p, &app, &format!("ami = \"{AMI}\""));
    let repo = format!("{}/ec2-test/{app}", env("AIDEPLOY_TEST_REGISTRY"));
    let (health, _) = health_server();
    let rname = format!("aideploy-{app}-dev-{REGION}");
    // Someone else's role and instance profile with the name this target would use.
    boto(&format!(
        "iam = boto3.client('iam', **kw)\n\
         iam.create_role(RoleName='{rname}', AssumeRolePolicyDocument=json.dumps({{'Version': '2012-10-17', 'Statement': []}}), Tags=[{{'Key': 'owner', 'Value': 'someone'}}])\n\
         iam.put_role_policy(RoleName='{rname}', PolicyName='aideploy', PolicyDocument=json.dumps({{'Version': '2012-10-17', 'Statement': [{{'Effect': 'Allow', 'Action': 's3:GetObject', 'Resource': '*'}}]}}))"
    ));
    let before = state(&app);
    for args in [["deploy", "--target", "ec2", "--yes"], ["destroy", "--target", "ec2", "--yes"]] {
        let out = cmd(home.path(), p, &health, &repo).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(matches!(out.status.code(), Some(1) | Some(2)), "{args:?} was not refused: {stderr}");
        assert!(stderr.contains(&rname) && stderr.contains("rename the app or stage"), "{stderr}");
        let s = state(&app);
        assert_eq!(s["roles"], before["roles"], "the foreign role changed after {args:?}");
        assert!(s["instances"].as_array().unwrap().is_empty() && s["groups"].as_array().unwrap().is_empty(), "{s}");
        assert!(s["secrets"].as_array().unwrap().is_empty(), "{s}");
    }
    assert_eq!(state(&app)["roles"][&rname]["tags"]["owner"], "someone");
}

/// `logs` reads the container's log group (what the awslogs driver writes); a same-named
/// group without this target's tags is refused, never written to or deleted.
#[test]
fn logs_come_from_the_containers_log_group() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("gpulogs");
    write_app(p, &app, &format!("ami = \"{AMI}\""));
    let repo = format!("{}/ec2-logs/{app}", env("AIDEPLOY_TEST_REGISTRY"));
    let (health, _) = health_server();
    let run = |args: &[&str]| cmd(home.path(), p, &health, &repo).args(args).output().unwrap();
    let group = format!("/aideploy/{app}-dev");

    // Someone else's group of that name first: refused before anything is made.
    boto(&format!("logs = boto3.client('logs', **kw)\nlogs.create_log_group(logGroupName='{group}', tags={{'owner': 'someone-else'}})"));
    let out = run(&["deploy", "--target", "ec2", "--yes", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&group) && stderr.contains("was not created by aideploy"), "{stderr}");
    assert!(running(&state(&app)).is_empty());
    boto(&format!("logs = boto3.client('logs', **kw)\nlogs.delete_log_group(logGroupName='{group}')"));

    ok_json(&run(&["deploy", "--target", "ec2", "--yes", "--json"]));
    boto(&format!(
        "import time\nlogs = boto3.client('logs', **kw)\nlogs.create_log_stream(logGroupName='{group}', logStreamName='c0ffee')\n\
         now = int(time.time() * 1000)\n\
         logs.put_log_events(logGroupName='{group}', logStreamName='c0ffee', logEvents=[{{'timestamp': now - 2000, 'message': 'Uvicorn running'}}, {{'timestamp': now - 1000, 'message': 'GET /health 200'}}])"
    ));
    let out = run(&["logs", "--target", "ec2", "-n", "1", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!((lines[0]["message"].as_str(), lines[0]["stream"].as_str()), (Some("GET /health 200"), Some("c0ffee")));
    ok_json(&run(&["destroy", "--target", "ec2", "--yes", "--json"]));
    assert!(state(&app)["log_groups"].as_object().unwrap().is_empty());
}
