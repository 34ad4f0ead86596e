//! The AWS fixtures: lambda and ec2 against the moto server scripts/test starts,
//! sagemaker against moto with tests/fakes/moto_sagemaker.py's additions; each behind
//! a proxy that reads AWS operation names. What exists afterwards is read with boto3
//! straight from moto (not through the proxy), by aideploy's `aideploy:app` tag.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, OnceLock};

use super::proxy::{Protocol, Proxy, Seen};
use super::targets::{env, Fixture, Project};
use crate::common;

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";

const AWS_PY: &str = r#"
import boto3, io, json, sys, zipfile
ep, region, app, what = sys.argv[1:5]
kw = dict(endpoint_url=ep, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
c = lambda s: boto3.client(s, **kw)
def tags(l, k="Key", v="Value"): return {x[k]: x[v] for x in l}
def ours(t): return t.get("aideploy:app") == app
out = []
def each(f):
    try:
        f()
    except Exception as e:
        if "not yet implemented" not in str(e) and "NotImplemented" not in type(e).__name__:
            out.append("unreadable: %s: %s" % (type(e).__name__, e))
def functions():
    lam = c("lambda")
    for f in lam.list_functions()["Functions"]:
        if ours(lam.list_tags(Resource=f["FunctionArn"]).get("Tags", {})): out.append("function " + f["FunctionName"])
def roles():
    iam = c("iam")
    for r in iam.list_roles(MaxItems=1000)["Roles"]:
        if r["RoleName"].find(app) >= 0 and ours(tags(iam.list_role_tags(RoleName=r["RoleName"])["Tags"])): out.append("role " + r["RoleName"])
def secrets():
    for s in c("secretsmanager").list_secrets(MaxResults=100)["SecretList"]:
        if ours(tags(s.get("Tags", []))): out.append("secret " + s["Name"])
def apis():
    for a in c("apigatewayv2").get_apis()["Items"]:
        if ours(a.get("Tags", {})): out.append("api " + a["Name"])
def repos():
    ecr = c("ecr")
    for r in ecr.describe_repositories()["repositories"]:
        if ours(tags(ecr.list_tags_for_resource(resourceArn=r["repositoryArn"]).get("tags", []))): out.append("repository " + r["repositoryName"])
def ec2():
    e = c("ec2")
    live = ["pending", "running", "stopping", "stopped"]
    for res in e.describe_instances(Filters=[{"Name": "tag:aideploy:app", "Values": [app]}, {"Name": "instance-state-name", "Values": live}])["Reservations"]:
        for i in res["Instances"]: out.append("instance " + i["InstanceId"] + " " + tags(i.get("Tags", [])).get("aideploy:image", ""))
    for g in e.describe_security_groups(Filters=[{"Name": "tag:aideploy:app", "Values": [app]}])["SecurityGroups"]: out.append("security-group " + g["GroupName"])
def sagemaker():
    s = c("sagemaker")
    for kind, items, arn in [("model", s.list_models()["Models"], "ModelArn"), ("endpoint-config", s.list_endpoint_configs()["EndpointConfigs"], "EndpointConfigArn"), ("endpoint", s.list_endpoints()["Endpoints"], "EndpointArn")]:
        for m in items:
            if ours(tags(s.list_tags(ResourceArn=m[arn])["Tags"])): out.append(kind + " " + m[arn].split("/")[-1])
def foreign_function():
    iam, lam = c("iam"), c("lambda")
    role = iam.create_role(RoleName="theirs-" + app, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z: z.writestr("theirs.py", "def handler(e, c): return 1\n")
    lam.create_function(FunctionName=app + "-dev", Runtime="python3.12", Role=role, Handler="theirs.handler", Code={"ZipFile": buf.getvalue()}, Description="theirs")
def function_intact():
    f = c("lambda").get_function(FunctionName=app + "-dev")
    conf = f["Configuration"]
    print(json.dumps({"handler": conf["Handler"], "description": conf.get("Description"), "tags": f.get("Tags", {})}))
def foreign_group():
    c("ec2").create_security_group(GroupName="aideploy-" + app + "-dev", Description="theirs")
def group_intact():
    g = c("ec2").describe_security_groups(Filters=[{"Name": "group-name", "Values": ["aideploy-" + app + "-dev"]}])["SecurityGroups"]
    print(json.dumps([{"description": x["Description"], "ingress": x["IpPermissions"], "tags": tags(x.get("Tags", []))} for x in g]))
def foreign_endpoint():
    s = c("sagemaker")
    s.create_model(ModelName="theirs-" + app, ExecutionRoleArn="arn:aws:iam::%s:role/theirs" % "123456789012", PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/theirs:1"})
    s.create_endpoint_config(EndpointConfigName="theirs-" + app, ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "theirs-" + app, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    s.create_endpoint(EndpointName=app + "-dev", EndpointConfigName="theirs-" + app)
def endpoint_intact():
    s = c("sagemaker")
    e = s.describe_endpoint(EndpointName=app + "-dev")
    print(json.dumps({"config": e["EndpointConfigName"], "tags": tags(s.list_tags(ResourceArn=e["EndpointArn"])["Tags"])}))
if what == "inventory":
    for f in (functions, roles, secrets, apis, repos, ec2, sagemaker): each(f)
    print(json.dumps(out))
else:
    globals()[what]()
"#;

fn aws_py(endpoint: &str, app: &str, what: &str) -> Result<String, String> {
    let out = Command::new("python3").args(["-c", AWS_PY, endpoint, REGION, app, what]).output().map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(format!("boto3 {what}: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn inventory(endpoint: &str, app: &str) -> Vec<String> {
    match aws_py(endpoint, app, "inventory") {
        Ok(text) => serde_json::from_str(&text).unwrap_or_else(|_| vec![format!("unreadable inventory: {text}")]),
        Err(e) => vec![format!("unreadable inventory: {e}")],
    }
}

fn aws_env(cmd: &mut Command, moto: &Proxy) {
    cmd.env("AWS_ENDPOINT_URL", moto.origin())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION);
}

/// Secrets Manager's own writes.
fn secrets_manager_write(s: &Seen) -> bool {
    s.header("x-amz-target").is_some_and(|t| t.starts_with("secretsmanager."))
        && matches!(s.op.as_str(), "CreateSecret" | "PutSecretValue" | "UpdateSecret")
}

fn write_command_app(p: &Project, target: &str) {
    std::fs::write(
        p.dir.join("aideploy.toml"),
        format!(
            "version = 1\n\n[app]\nname = \"{}\"\nruntime = \"python3.11\"\ncommand = \"python3 server.py\"\nport = 8000\nhealth = \"/health\"\n\n[build]\nbase_image = \"{}\"\n\n[env]\nGREETING = \"hello\"\n\n[secrets]\nAPI_KEY = {{}}\n\n{target}",
            p.app,
            env("AIDEPLOY_TEST_BASE_IMAGE")
        ),
    )
    .unwrap();
    std::fs::write(p.dir.join("server.py"), "# v1\nimport http.server\nhttp.server.test(port=8000)\n").unwrap();
}

fn bump(dir: &Path, file: &str) {
    let f = dir.join(file);
    std::fs::write(&f, std::fs::read_to_string(&f).unwrap() + "# changed\n").unwrap();
}

// ---------------------------------------------------------------- lambda

pub struct Lambda {
    moto: Proxy,
}

impl Lambda {
    pub fn new() -> Lambda {
        Lambda { moto: Proxy::start(&env("AIDEPLOY_TEST_MOTO"), Protocol::Aws) }
    }
}

impl Fixture for Lambda {
    fn target(&self) -> &'static str {
        "lambda"
    }
    fn proxies(&self) -> Vec<&Proxy> {
        vec![&self.moto]
    }
    fn write_app(&self, p: &Project) {
        std::fs::write(
            p.dir.join("aideploy.toml"),
            format!("version = 1\n\n[app]\nname = \"{}\"\nruntime = \"python3.11\"\nasgi = \"main:app\"\nhealth = \"/health\"\n\n[env]\nGREETING = \"hello\"\n\n[secrets]\nAPI_KEY = {{}}\n\n[targets.lambda]\nregion = \"{REGION}\"\nmemory = 256\ntimeout = 20\n", p.app),
        )
        .unwrap();
        std::fs::write(
            p.dir.join("main.py"),
            "async def app(scope, receive, send):\n    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n    await send({'type': 'http.response.body', 'body': b'ok'})\n",
        )
        .unwrap();
    }
    fn env(&self, _p: &Project, cmd: &mut Command) {
        aws_env(cmd, &self.moto);
    }
    fn secret_write(&self, s: &Seen) -> bool {
        secrets_manager_write(s)
    }
    fn add_foreign(&self, p: &Project) -> Result<String, String> {
        aws_py(&env("AIDEPLOY_TEST_MOTO"), &p.app, "foreign_function")?;
        Ok(format!("{}-dev", p.app))
    }
    fn foreign_intact(&self, p: &Project, name: &str) -> Result<(), String> {
        let text =
            aws_py(&env("AIDEPLOY_TEST_MOTO"), &p.app, "function_intact").map_err(|e| format!("the foreign function {name}: {e}"))?;
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if v["handler"] != "theirs.handler" || v["description"] != "theirs" || v["tags"].get("aideploy:app").is_some() {
            return Err(format!("the foreign function {name} was adopted: {v}"));
        }
        Ok(())
    }
    fn inventory(&self, p: &Project) -> Vec<String> {
        inventory(&env("AIDEPLOY_TEST_MOTO"), &p.app)
    }
    fn fail_health(&self, _p: &Project, _cmd: &dyn Fn(&[&str]) -> Command) -> Result<(), String> {
        Err("moto cannot invoke a Lambda function: health is `skipped` on lambda here".into())
    }
    fn serving(&self, _p: &Project) -> Option<String> {
        None
    }
}

// ---------------------------------------------------------------- ec2

pub struct Ec2 {
    moto: Proxy,
    registry: Proxy,
    health: String,
    status: Arc<AtomicU16>,
}

impl Ec2 {
    pub fn new() -> Ec2 {
        let status = Arc::new(AtomicU16::new(200));
        let s = status.clone();
        let (port, _) = common::fake_http(move |_| (s.load(Ordering::SeqCst), "{}".into()));
        let registry = Proxy::start(&format!("http://{}", env("AIDEPLOY_TEST_REGISTRY").split('/').next().unwrap()), Protocol::Rest);
        Ec2 { moto: Proxy::start(&env("AIDEPLOY_TEST_MOTO"), Protocol::Aws), registry, health: format!("127.0.0.1:{port}"), status }
    }
}

impl Fixture for Ec2 {
    fn target(&self) -> &'static str {
        "ec2"
    }
    fn proxies(&self) -> Vec<&Proxy> {
        vec![&self.moto, &self.registry]
    }
    fn write_app(&self, p: &Project) {
        self.status.store(200, Ordering::SeqCst);
        write_command_app(
            p,
            &format!("[targets.ec2]\nregion = \"{REGION}\"\ninstance_type = \"g4dn.xlarge\"\nami = \"ami-dca37ea5\"\nhealth_timeout = 2\n"),
        );
    }
    fn env(&self, p: &Project, cmd: &mut Command) {
        aws_env(cmd, &self.moto);
        cmd.env("AIDEPLOY_REGISTRY", format!("{}/conformance-ec2/{}", self.registry.host(), p.app))
            .env("AIDEPLOY_EC2_HEALTH_HOST", &self.health);
    }
    fn secret_write(&self, s: &Seen) -> bool {
        secrets_manager_write(s)
    }
    fn add_foreign(&self, p: &Project) -> Result<String, String> {
        aws_py(&env("AIDEPLOY_TEST_MOTO"), &p.app, "foreign_group")?;
        Ok(format!("aideploy-{}-dev", p.app))
    }
    fn foreign_intact(&self, p: &Project, name: &str) -> Result<(), String> {
        let text = aws_py(&env("AIDEPLOY_TEST_MOTO"), &p.app, "group_intact")?;
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        match v.as_array().map(Vec::as_slice) {
            Some([g])
                if g["description"] == "theirs"
                    && g["ingress"].as_array().is_some_and(Vec::is_empty)
                    && g["tags"].get("aideploy:app").is_none() =>
            {
                Ok(())
            }
            Some([]) | None => Err(format!("the foreign security group {name} was deleted")),
            _ => Err(format!("the foreign security group {name} was changed or doubled: {v}")),
        }
    }
    fn inventory(&self, p: &Project) -> Vec<String> {
        inventory(&env("AIDEPLOY_TEST_MOTO"), &p.app)
    }
    fn fail_health(&self, p: &Project, _cmd: &dyn Fn(&[&str]) -> Command) -> Result<(), String> {
        // A new version whose instance answers 503 (moto runs no instance: the health
        // host stands in for it, as in tests/ec2_target.rs).
        bump(&p.dir, "server.py");
        self.status.store(503, Ordering::SeqCst);
        Ok(())
    }
    fn serving(&self, p: &Project) -> Option<String> {
        let running: Vec<String> = self
            .inventory(p)
            .into_iter()
            .filter(|l| l.starts_with("instance "))
            .map(|l| l.rsplit(' ').next().unwrap_or("").to_string())
            .collect();
        if running.is_empty() {
            None
        } else {
            Some(running.join(","))
        }
    }
}

// ---------------------------------------------------------------- sagemaker

/// moto with the SageMaker additions (one per test binary), as tests/sagemaker_target.rs.
fn sagemaker_moto() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let port = common::free_port();
        let log = std::fs::File::create(std::env::temp_dir().join(format!("aideploy-conformance-moto-{port}.log"))).unwrap();
        // Never waited for: it exits with this test binary (it watches its parent).
        #[allow(clippy::zombie_processes)]
        Command::new("python3")
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

pub struct SageMaker {
    moto: Proxy,
}

impl SageMaker {
    pub fn new() -> SageMaker {
        SageMaker { moto: Proxy::start(sagemaker_moto(), Protocol::Aws) }
    }
}

impl Fixture for SageMaker {
    fn target(&self) -> &'static str {
        "sagemaker"
    }
    fn proxies(&self) -> Vec<&Proxy> {
        vec![&self.moto]
    }
    /// The example's model with the project root as its model directory: SageMaker
    /// deploys the model directory only, so a file the suite changes at the root (its
    /// "new code") must be in it to make a new release.
    fn write_app(&self, p: &Project) {
        let example = common::root().join("examples/sagemaker-model");
        common::copy_tree(&example.join("model"), &p.dir);
        let manifest = std::fs::read_to_string(example.join("aideploy.toml"))
            .unwrap()
            .replace("name = \"sentiment\"", &format!("name = \"{}\"", p.app))
            .replace("model_dir = \"model\"", "model_dir = \".\"");
        std::fs::write(p.dir.join("aideploy.toml"), format!("{manifest}\n[secrets]\nAPI_KEY = {{}}\n")).unwrap();
    }
    fn env(&self, _p: &Project, cmd: &mut Command) {
        aws_env(cmd, &self.moto);
    }
    fn secret_write(&self, s: &Seen) -> bool {
        secrets_manager_write(s)
    }
    fn add_foreign(&self, p: &Project) -> Result<String, String> {
        aws_py(sagemaker_moto(), &p.app, "foreign_endpoint")?;
        Ok(format!("{}-dev", p.app))
    }
    fn foreign_intact(&self, p: &Project, name: &str) -> Result<(), String> {
        let text = aws_py(sagemaker_moto(), &p.app, "endpoint_intact").map_err(|e| format!("the foreign endpoint {name}: {e}"))?;
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if v["config"] != format!("theirs-{}", p.app).as_str() || v["tags"].get("aideploy:app").is_some() {
            return Err(format!("the foreign endpoint {name} was adopted: {v}"));
        }
        Ok(())
    }
    fn inventory(&self, p: &Project) -> Vec<String> {
        inventory(sagemaker_moto(), &p.app)
    }
    fn fail_health(&self, p: &Project, _cmd: &dyn Fn(&[&str]) -> Command) -> Result<(), String> {
        // moto runs no container; tests/fakes/moto_sagemaker.py fails an endpoint
        // update whose model image contains "unhealthy", as SageMaker does a failed /ping.
        let manifest = p.dir.join("aideploy.toml");
        let text = std::fs::read_to_string(&manifest).unwrap().replace(
            "[targets.sagemaker]\n",
            &format!("[targets.sagemaker]\nimage = \"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/unhealthy-model:1\"\n"),
        );
        std::fs::write(manifest, text).unwrap();
        Ok(())
    }
    /// The endpoint config the endpoint serves (a failed update leaves its new config
    /// behind, unused, so listing every config would not tell what serves).
    fn serving(&self, p: &Project) -> Option<String> {
        let text = aws_py(sagemaker_moto(), &p.app, "endpoint_intact").ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v["config"].as_str().map(|config| format!("endpoint {}-dev on {config}", p.app))
    }
}
