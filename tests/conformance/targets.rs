//! One fixture per target: where its peer is (behind a recording proxy), a minimal app
//! and manifest, a same-named foreign resource, what exists for the app afterwards, and
//! how to make its health check fail. A target added later needs one impl here.

use std::process::Command;

use serde_json::{json, Value};

use super::proxy::{Protocol, Proxy, Seen};
use crate::common;
use crate::fakes;

pub const SECRET: &str = "sk-conformance-canary-7f3a9c1e5b";

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the conformance suite with `scripts/test conformance`"))
}

/// One app of one check: its own folder, state and cache (under `home`).
pub struct Project {
    pub home: tempfile::TempDir,
    pub dir: std::path::PathBuf,
    pub app: String,
    pub port: u16,
}

impl Project {
    pub fn new(app: &str) -> Project {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("app");
        std::fs::create_dir_all(&dir).unwrap();
        Project { home, dir, app: app.into(), port: common::free_port() }
    }
}

pub trait Fixture: Send + Sync {
    fn target(&self) -> &'static str;
    /// Every proxy in front of this target's peers.
    fn proxies(&self) -> Vec<&Proxy>;
    /// Writes a minimal app named `p.app` with the secret `API_KEY` into `p.dir`.
    fn write_app(&self, p: &Project);
    /// Variables that point aideploy at the proxies (and credentials for the peers).
    fn env(&self, p: &Project, cmd: &mut Command);
    /// Extra arguments for every command (local: its port).
    fn args(&self, _p: &Project) -> Vec<String> {
        vec![]
    }
    /// Extra arguments for a run in another stage of the same app, given a free port
    /// for that stage (local: its own front port, as two stages cannot share one).
    fn stage_args(&self, _p: &Project, _port: u16) -> Vec<String> {
        vec![]
    }
    /// Requests that may carry the secret value: the secret store's own writes.
    fn secret_write(&self, s: &Seen) -> bool;
    /// Makes a resource with the name the deploy of `p` would use, without aideploy's
    /// tags; returns its name, or why this peer cannot hold one.
    fn add_foreign(&self, p: &Project) -> Result<String, String>;
    /// The foreign resource still exists, unchanged.
    fn foreign_intact(&self, p: &Project, name: &str) -> Result<(), String>;
    /// What exists at the peer for this app (one line per resource, `kind name`).
    fn inventory(&self, p: &Project) -> Vec<String>;
    /// Makes the next deploy of `p` fail its health check, or says why it cannot here.
    fn fail_health(&self, p: &Project, cmd: &dyn Fn(&[&str]) -> Command) -> Result<(), String>;
    /// What is serving for the app, read at the peer (None: nothing).
    fn serving(&self, p: &Project) -> Option<String>;
}

/// `[build] base_image` and the fastapi-rag example renamed to `app`, plus `extra`.
fn fastapi_app(p: &Project, extra: &str) {
    common::copy_tree(&common::root().join("examples/fastapi-rag"), &p.dir);
    let text = std::fs::read_to_string(p.dir.join("aideploy.toml")).unwrap();
    let text = &text[..text.find("[targets.local]").unwrap()];
    let manifest = text
        .replace("name = \"fastapi-rag\"", &format!("name = \"{}\"", p.app))
        .replace("[build]\n", &format!("[build]\nbase_image = \"{}\"\n", env("AIDEPLOY_TEST_BASE_IMAGE")))
        .replace("OPENAI_API_KEY = { optional = true }", "API_KEY = {}");
    std::fs::write(p.dir.join("aideploy.toml"), format!("{manifest}\n{extra}")).unwrap();
}

fn registry_proxy() -> Proxy {
    Proxy::start(&format!("http://{}", env("AIDEPLOY_TEST_REGISTRY").split('/').next().unwrap()), Protocol::Rest)
}

fn upstream_of(url: &str) -> String {
    let rest = url.trim_start_matches("http://");
    format!("http://{}", rest.split('/').next().unwrap())
}

fn build_digest(cmd: &dyn Fn(&[&str]) -> Command) -> Result<String, String> {
    let out = cmd(&["build", "--package", "image"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v["artifact"]["digest"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("build printed no digest: {}", String::from_utf8_lossy(&out.stderr)))
}

// ---------------------------------------------------------------- render

pub struct Render {
    fake: fakes::render::FakeRender,
    api: Proxy,
    registry: Proxy,
}

impl Render {
    pub fn new() -> Render {
        let fake = fakes::render::FakeRender::start();
        let api = Proxy::start(&upstream_of(&fake.base), Protocol::Rest);
        Render { fake, api, registry: registry_proxy() }
    }
}

impl Fixture for Render {
    fn target(&self) -> &'static str {
        "render"
    }
    fn proxies(&self) -> Vec<&Proxy> {
        vec![&self.api, &self.registry]
    }
    fn write_app(&self, p: &Project) {
        fastapi_app(p, "[targets.render]\nregion = \"frankfurt\"\nhealth_timeout = 30\n");
    }
    fn env(&self, p: &Project, cmd: &mut Command) {
        cmd.env("AIDEPLOY_REGISTRY", format!("{}/conformance-render/{}", self.registry.host(), p.app))
            .env("AIDEPLOY_REGISTRY_USERNAME", "deployer")
            .env("AIDEPLOY_REGISTRY_PASSWORD", "registry-pass")
            .env("AIDEPLOY_RENDER_ENDPOINT", self.api.via(&self.fake.base))
            // The settled lease's delay: far above a loopback call, below the 5 s default.
            .env("AIDEPLOY_LEASE_SETTLE_MS", "1000");
    }
    fn secret_write(&self, s: &Seen) -> bool {
        // Render has no secret store: a service's environment is where values live.
        s.path.contains("/env-vars") || (s.method == "POST" && s.path.split('?').next().unwrap().ends_with("/v1/services"))
    }
    fn add_foreign(&self, p: &Project) -> Result<String, String> {
        let name = format!("{}-dev", p.app);
        self.fake.state.lock().unwrap().add_foreign_service(&name);
        Ok(name)
    }
    fn foreign_intact(&self, _p: &Project, name: &str) -> Result<(), String> {
        let st = self.fake.state.lock().unwrap();
        let same: Vec<_> = st.services.iter().filter(|s| s.name == name).collect();
        match same.as_slice() {
            [s] if s.image_path == "docker.io/library/nginx@sha256:0000" && s.deploys.is_empty() && s.env.is_empty() => Ok(()),
            [s] => Err(format!("the foreign service {name} was changed: image {}, {} deploys", s.image_path, s.deploys.len())),
            [] => Err(format!("the foreign service {name} was deleted")),
            more => Err(format!("{} services named {name}", more.len())),
        }
    }
    fn inventory(&self, p: &Project) -> Vec<String> {
        let st = self.fake.state.lock().unwrap();
        let base = format!("{}-dev", p.app);
        let mut out: Vec<String> = st.services.iter().filter(|s| s.name == base).map(|s| format!("service {}", s.name)).collect();
        out.extend(st.credentials.iter().filter(|c| c.name.contains(&base)).map(|c| format!("credential {}", c.name)));
        // The deploy lease's environment group.
        out.extend(st.env_groups.iter().filter(|g| g.name.contains(&base)).map(|g| format!("env group {}", g.name)));
        out
    }
    fn fail_health(&self, _p: &Project, cmd: &dyn Fn(&[&str]) -> Command) -> Result<(), String> {
        let digest = build_digest(cmd)?;
        self.fake.state.lock().unwrap().bad.insert(digest);
        Ok(())
    }
    fn serving(&self, p: &Project) -> Option<String> {
        let st = self.fake.state.lock().unwrap();
        let s = st.service(&format!("{}-dev", p.app))?;
        s.deploys.iter().find(|d| d.status == "live").map(|d| d.image_ref.clone())
    }
}

// ---------------------------------------------------------------- railway

pub struct Railway {
    fake: fakes::railway::FakeRailway,
    api: Proxy,
    registry: Proxy,
}

impl Railway {
    pub fn new() -> Railway {
        let fake = fakes::railway::FakeRailway::start();
        let api = Proxy::start(&upstream_of(&fake.url), Protocol::GraphQl);
        Railway { fake, api, registry: registry_proxy() }
    }
}

impl Fixture for Railway {
    fn target(&self) -> &'static str {
        "railway"
    }
    fn proxies(&self) -> Vec<&Proxy> {
        vec![&self.api, &self.registry]
    }
    fn write_app(&self, p: &Project) {
        fastapi_app(p, "[targets.railway]\nhealth_timeout = 30\n");
    }
    fn env(&self, p: &Project, cmd: &mut Command) {
        cmd.env("AIDEPLOY_REGISTRY", format!("{}/conformance-railway/{}", self.registry.host(), p.app))
            .env("AIDEPLOY_REGISTRY_USERNAME", "deployer")
            .env("AIDEPLOY_REGISTRY_PASSWORD", "registry-pass")
            .env("AIDEPLOY_RAILWAY_ENDPOINT", self.api.via(&self.fake.url))
            .env("RAILWAY_API_TOKEN", "account-token")
            // The settled lease's delay: far above a loopback call, below the 5 s default.
            .env("AIDEPLOY_LEASE_SETTLE_MS", "1000");
    }
    fn secret_write(&self, s: &Seen) -> bool {
        // Railway's variables are its secret store.
        s.op.contains("variable") || s.op.contains("Variable")
    }
    fn add_foreign(&self, p: &Project) -> Result<String, String> {
        self.fake.state.lock().unwrap().add_project(&p.app, "dev");
        Ok(p.app.clone())
    }
    fn foreign_intact(&self, _p: &Project, name: &str) -> Result<(), String> {
        let st = self.fake.state.lock().unwrap();
        let theirs: Vec<_> =
            st.projects.iter().filter(|x| x.name == name && x.description.as_deref() == Some("our team's project")).collect();
        let [project] = theirs.as_slice() else { return Err(format!("the foreign project {name} is gone")) };
        let services = st.services.iter().filter(|s| s.project == project.id).count();
        if services > 0 {
            return Err(format!("{services} service(s) were added to the foreign project {name}"));
        }
        Ok(())
    }
    fn inventory(&self, p: &Project) -> Vec<String> {
        let st = self.fake.state.lock().unwrap();
        let ours: Vec<_> =
            st.projects.iter().filter(|x| x.name == p.app && x.description.as_deref() != Some("our team's project")).collect();
        let mut out: Vec<String> = ours.iter().map(|x| format!("project {}", x.name)).collect();
        for x in ours {
            out.extend(st.services.iter().filter(|s| s.project == x.id).map(|s| format!("service {}", s.name)));
        }
        out
    }
    fn fail_health(&self, _p: &Project, cmd: &dyn Fn(&[&str]) -> Command) -> Result<(), String> {
        let digest = build_digest(cmd)?;
        self.fake.state.lock().unwrap().bad.insert(digest);
        Ok(())
    }
    fn serving(&self, p: &Project) -> Option<String> {
        let st = self.fake.state.lock().unwrap();
        let project = st.projects.iter().find(|x| x.name == p.app)?;
        let service = st.services.iter().find(|s| s.project == project.id)?;
        st.deployments_of(&service.id).into_iter().find(|d| d.status == "SUCCESS").map(|d| d.image.clone())
    }
}

// ---------------------------------------------------------------- cloudrun

pub struct CloudRun {
    fake: fakes::gcp::FakeGcp,
    api: Proxy,
    registry: Proxy,
}

impl CloudRun {
    pub fn new() -> CloudRun {
        let fake = fakes::gcp::FakeGcp::start();
        let api = Proxy::start(&upstream_of(&fake.base), Protocol::Rest);
        CloudRun { fake, api, registry: registry_proxy() }
    }
    fn service_id(p: &Project) -> String {
        format!("{}-dev", p.app)
    }
}

impl Fixture for CloudRun {
    fn target(&self) -> &'static str {
        "cloudrun"
    }
    fn proxies(&self) -> Vec<&Proxy> {
        vec![&self.api, &self.registry]
    }
    fn write_app(&self, p: &Project) {
        fastapi_app(
            p,
            &format!(
                "[targets.cloudrun]\nproject = \"{}\"\nregion = \"{}\"\nhealth_timeout = 60\n",
                fakes::gcp::PROJECT,
                fakes::gcp::REGION
            ),
        );
    }
    fn env(&self, p: &Project, cmd: &mut Command) {
        cmd.env("AIDEPLOY_REGISTRY", format!("{}/conformance-cloudrun/{}", self.registry.host(), p.app))
            .env("AIDEPLOY_GCP_ENDPOINT", self.api.via(&self.fake.base));
    }
    fn secret_write(&self, s: &Seen) -> bool {
        s.method == "POST" && s.path.contains(":addVersion")
    }
    fn add_foreign(&self, p: &Project) -> Result<String, String> {
        let id = Self::service_id(p);
        let url =
            format!("{}/v2/projects/{}/locations/{}/services?serviceId={id}", self.fake.base, fakes::gcp::PROJECT, fakes::gcp::REGION);
        let body = json!({"template": {"containers": [{"image": "us-docker.pkg.dev/cloudrun/container/hello"}]}}).to_string();
        let (status, answer) = common::http("POST", &url, Some(&body)).map_err(|e| e.to_string())?;
        if status >= 300 {
            return Err(format!("the fake refused the foreign service: {status} {answer}"));
        }
        Ok(id)
    }
    fn foreign_intact(&self, _p: &Project, name: &str) -> Result<(), String> {
        let st = self.fake.state.lock().unwrap();
        let s = st.service(name).ok_or_else(|| format!("the foreign service {name} was deleted"))?;
        let image = s["template"]["containers"][0]["image"].as_str().unwrap_or("");
        if image != "us-docker.pkg.dev/cloudrun/container/hello" || s["labels"].get("aideploy-app").is_some() {
            return Err(format!("the foreign service {name} was adopted: image {image}, labels {}", s["labels"]));
        }
        Ok(())
    }
    fn inventory(&self, p: &Project) -> Vec<String> {
        let st = self.fake.state.lock().unwrap();
        let mut out: Vec<String> = st
            .services
            .iter()
            .filter(|(_, s)| s["labels"]["aideploy-app"] == p.app.as_str())
            .map(|(n, _)| format!("service {n}"))
            .collect();
        out.extend(st.secrets.iter().filter(|(_, s)| s.labels.get("aideploy-app") == Some(&p.app)).map(|(n, _)| format!("secret {n}")));
        let mark = format!("aideploy-app={}", p.app);
        out.extend(
            st.service_accounts
                .iter()
                .filter(|(_, a)| a["description"].as_str().is_some_and(|d| d.split_whitespace().any(|w| w == mark)))
                .map(|(e, _)| format!("service account {e}")),
        );
        out
    }
    fn fail_health(&self, _p: &Project, cmd: &dyn Fn(&[&str]) -> Command) -> Result<(), String> {
        let digest = build_digest(cmd)?;
        self.fake.state.lock().unwrap().bad.insert(digest);
        Ok(())
    }
    fn serving(&self, p: &Project) -> Option<String> {
        let st = self.fake.state.lock().unwrap();
        let s = st.service(&Self::service_id(p))?;
        Some(format!("{} {}", s["traffic"], s["latestReadyRevision"]))
    }
}

// ---------------------------------------------------------------- appservice

pub struct AppService {
    fake: fakes::arm::FakeArm,
    api: Proxy,
    registry: Proxy,
}

impl AppService {
    pub fn new() -> AppService {
        let registry = registry_proxy();
        let fake = fakes::arm::FakeArm::start(registry.host());
        let api = Proxy::start(&upstream_of(&fake.base), Protocol::Rest);
        AppService { fake, api, registry }
    }
}

impl Fixture for AppService {
    fn target(&self) -> &'static str {
        "appservice"
    }
    fn proxies(&self) -> Vec<&Proxy> {
        vec![&self.api, &self.registry]
    }
    fn write_app(&self, p: &Project) {
        fastapi_app(
            p,
            // Public: the health checks reach the site from this machine.
            &format!(
                "[targets.appservice]\nsubscription = \"{}\"\nregion = \"westeurope\"\nhealth_timeout = 2\npublic = true\n",
                fakes::arm::SUB
            ),
        );
    }
    fn env(&self, _p: &Project, cmd: &mut Command) {
        let base = self.api.via(&self.fake.base);
        cmd.env("AIDEPLOY_AZURE_ENDPOINT", &base).env("AIDEPLOY_AZURE_SITE_URL_TEMPLATE", format!("{base}/sites/{{host}}"));
        // Key Vault's own API (`secrets get` and `rm`), served by the same fake.
        cmd.env("AIDEPLOY_AZURE_VAULT_URL_TEMPLATE", format!("{base}/vaults/{{host}}"));
        // The settled lease's delay: far above a loopback call, below the 5 s default.
        cmd.env("AIDEPLOY_LEASE_SETTLE_MS", "1000");
    }
    fn secret_write(&self, s: &Seen) -> bool {
        // Key Vault secrets are written with PUT .../vaults/V/secrets/NAME.
        s.method == "PUT" && s.path.to_ascii_lowercase().contains("/secrets/")
    }
    fn add_foreign(&self, p: &Project) -> Result<String, String> {
        let name = format!("aideploy-{}-dev", p.app);
        self.fake.state.lock().unwrap().add_group(&name, "westeurope");
        Ok(name)
    }
    fn foreign_intact(&self, _p: &Project, name: &str) -> Result<(), String> {
        let st = self.fake.state.lock().unwrap();
        let g = st.groups.get(&name.to_ascii_lowercase()).ok_or_else(|| format!("the foreign resource group {name} was deleted"))?;
        if g["tags"].as_object().is_some_and(|t| !t.is_empty()) {
            return Err(format!("the foreign resource group {name} was tagged: {}", g["tags"]));
        }
        let inside = st.resources.keys().filter(|k| k.contains(&format!("/resourcegroups/{}/", name.to_ascii_lowercase()))).count();
        if inside > 0 {
            return Err(format!("{inside} resource(s) were created in the foreign resource group {name}"));
        }
        Ok(())
    }
    fn inventory(&self, p: &Project) -> Vec<String> {
        let st = self.fake.state.lock().unwrap();
        st.tagged(&p.app).iter().map(|r| format!("{} {}", r["type"].as_str().unwrap_or("group"), r["id"].as_str().unwrap_or(""))).collect()
    }
    fn fail_health(&self, _p: &Project, cmd: &dyn Fn(&[&str]) -> Command) -> Result<(), String> {
        let digest = build_digest(cmd)?;
        self.fake.state.lock().unwrap().bad.insert(digest);
        Ok(())
    }
    fn serving(&self, p: &Project) -> Option<String> {
        let st = self.fake.state.lock().unwrap();
        let site =
            st.tagged(&p.app).into_iter().find(|r| r["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.Web/sites")))?;
        Some(
            site["properties"]["siteConfig"]["linuxFxVersion"].to_string()
                + &st.site_config(site["id"].as_str()?)["linuxFxVersion"].to_string(),
        )
    }
}

// ---------------------------------------------------------------- local

/// The local target has no remote peer: its "writes" are the state folder and the
/// process it starts; the checks that count requests see none by construction, and the
/// state folder is compared instead.
pub struct Local;

impl Fixture for Local {
    fn target(&self) -> &'static str {
        "local"
    }
    fn proxies(&self) -> Vec<&Proxy> {
        vec![]
    }
    fn write_app(&self, p: &Project) {
        std::fs::write(
            p.dir.join("aideploy.toml"),
            format!("version = 1\n[app]\nname = \"{}\"\ncommand = \"python3 server.py\"\nhealth = \"/health\"\n[secrets]\nAPI_KEY = {{}}\n[targets.local]\nhealth_timeout = 3\n", p.app),
        )
        .unwrap();
        std::fs::write(p.dir.join("requirements.txt"), "").unwrap();
        std::fs::write(
            p.dir.join("server.py"),
            "import http.server, os\n\nclass H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        ok = not os.path.exists('unhealthy')\n        self.send_response(200 if ok else 503)\n        self.end_headers()\n        self.wfile.write(b'ok' if ok else b'sick')\n\nhttp.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\n",
        )
        .unwrap();
    }
    fn env(&self, _p: &Project, _cmd: &mut Command) {}
    fn args(&self, p: &Project) -> Vec<String> {
        vec!["--set".into(), format!("port={}", p.port)]
    }
    fn stage_args(&self, _p: &Project, port: u16) -> Vec<String> {
        vec!["--set".into(), format!("port={port}")]
    }
    fn secret_write(&self, _s: &Seen) -> bool {
        false
    }
    fn add_foreign(&self, _p: &Project) -> Result<String, String> {
        Err("local resources are this machine's processes and aideploy's own state folder: nothing there is named by the app".into())
    }
    fn foreign_intact(&self, _p: &Project, _name: &str) -> Result<(), String> {
        Ok(())
    }
    fn inventory(&self, p: &Project) -> Vec<String> {
        match common::http("GET", &format!("http://127.0.0.1:{}/health", p.port), None) {
            Ok(_) => vec![format!("process on port {}", p.port)],
            Err(_) => vec![],
        }
    }
    fn fail_health(&self, p: &Project, _cmd: &dyn Fn(&[&str]) -> Command) -> Result<(), String> {
        // A new version whose health check answers 503.
        let server = p.dir.join("server.py");
        std::fs::write(&server, std::fs::read_to_string(&server).unwrap().replace("ok = not os.path.exists('unhealthy')", "ok = False"))
            .unwrap();
        Ok(())
    }
    fn serving(&self, p: &Project) -> Option<String> {
        let (status, body) = common::http("GET", &format!("http://127.0.0.1:{}/health", p.port), None).ok()?;
        Some(format!("{status} {body}"))
    }
}
