//! `aideploy init`: detect the app in this folder and write a commented manifest.

mod detect;
mod servers;

use std::path::{Path, PathBuf};

use anyhow::Result;

pub use detect::{detect, find_requirements};

use crate::cli::{GlobalArgs, InitArgs};
use crate::error::UsageError;
use crate::manifest::{self, Kind};
use crate::ui::Ui;

const TEMPLATE: &str = include_str!("../../templates/aideploy.toml");

/// What was found in the folder.
#[derive(Debug, Default, PartialEq)]
pub struct Detected {
    pub name: String,
    /// `module:attr` of a FastAPI/Starlette app object.
    pub asgi: Option<String>,
    /// A WSGI app (Flask) as `module:attribute`, served by gunicorn or `flask run`.
    pub wsgi: Option<String>,
    /// A server the app starts itself, when there is no app object.
    pub server: Option<Server>,
    /// Whether the requirements name gunicorn.
    pub gunicorn: bool,
    pub requirements: Option<String>,
    pub port: Option<u16>,
    pub health: Option<String>,
    pub runtime: Option<String>,
    /// What would keep the detected app from serving on `$PORT`.
    pub warnings: Vec<String>,
}

/// A server the app starts itself (Streamlit, Gradio, Chainlit, a script reading
/// `PORT`, a Procfile's `web:` process, a Dockerfile's `CMD`), run as `command`.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// The `command`; it listens on `$PORT`.
    pub command: String,
    /// What was found, for the summary line: `Streamlit app app.py`.
    pub what: String,
    /// The comment next to `command` in the manifest.
    pub note: String,
    /// The Python file it runs, when known.
    pub file: Option<String>,
    /// The framework's usual port.
    pub port: Option<u16>,
    /// The framework's readiness path.
    pub health: Option<String>,
}

/// What `init` wrote: the `--json` result.
#[derive(Debug, serde::Serialize)]
pub struct Written {
    pub manifest: PathBuf,
    pub app: String,
    pub target: String,
    pub entry: String,
    pub health: String,
}

pub fn run(args: &InitArgs, g: &GlobalArgs, ui: &Ui) -> Result<Written> {
    let path = manifest::locate(g.manifest.as_deref());
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    if path.exists() && !args.force {
        return Err(UsageError::new(format!("{} already exists", path.display())).hint("edit it, or pass --force to overwrite it").into());
    }
    let found = detect(&dir)?;
    if found.asgi.is_none() && found.wsgi.is_none() && found.server.is_none() {
        return Err(UsageError::new(format!("found no app or server to run in {}", dir.display()))
            .hint(
                "run init in the app's folder; it looks for `app = FastAPI()`, `Flask(...)`, Streamlit, Gradio and Chainlit scripts, \
                 a Procfile `web:` line, a Dockerfile `CMD`, and main.py, app.py or server.py",
            )
            .into());
    }
    let ask = ui.interactive && !ui.yes;
    let name = match &args.name {
        Some(n) => n.clone(),
        None if ask => ui.ask("App name", &found.name, "--name")?,
        None => found.name.clone(),
    };
    if let Err(e) = name.parse::<manifest::AppName>() {
        let (msg, help) = e.split_once(manifest::values::HELP_SEP).unwrap_or((&e, ""));
        return Err(UsageError::new(msg.to_string()).hint(format!("{help}; pass --name")).into());
    }
    let kind = match &args.target {
        Some(t) => Kind::parse(t).ok_or_else(|| {
            let mut e = UsageError::new(format!("`{t}` is not a target kind"));
            e = match manifest::did_you_mean(t, Kind::ALL.iter().map(|k| k.as_str())) {
                Some(k) => e.hint(format!("did you mean `--target {k}`?")),
                None => e.hint(format!("one of: {}", Kind::ALL.map(|k| k.as_str()).join(", "))),
            };
            e
        })?,
        None if ask => {
            let items: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            Kind::ALL[ui.select("Target", &items, 0, "--target KIND")?]
        }
        // --yes with no terminal: the default the picker offers, said out loud.
        None if ui.yes => {
            ui.info(&format!(
                "No --target given: using `{}` (this machine; pass --target KIND for another: {}).",
                Kind::Local,
                Kind::ALL.map(|k| k.as_str()).join(", ")
            ));
            Kind::Local
        }
        None => {
            return Err(UsageError::new("which target? there is no terminal to ask at")
                .hint(format!("pass --target KIND (one of: {}), or --yes for local", Kind::ALL.map(|k| k.as_str()).join(", ")))
                .into())
        }
    };
    let mut text = render(&found, &name, kind);
    // A Cloud Run service is private unless the manifest says otherwise: ask which one
    // a web API wants; without a terminal it stays private (the line says how to open it).
    if kind == Kind::Cloudrun && ask {
        let items = ["private: callers need an identity token (IAM)", "public: anyone on the internet may call it"];
        if ui.select("Who may call the service?", &items, 0, "--target cloudrun and edit `public` in the manifest")? == 1 {
            text = text.replace(CLOUDRUN_PRIVATE, "public = true                    # anyone may call it (roles/run.invoker for allUsers)");
        }
    }
    manifest::parse(&text, "aideploy.toml").map_err(|e| anyhow::anyhow!("init wrote an invalid manifest ({e}); please report this"))?;
    fs_err::write(&path, &text)?;
    let entry = match (&found.asgi, &found.wsgi, &found.server) {
        (Some(a), _, _) => format!("ASGI app {a}"),
        (None, Some(w), _) => format!("WSGI app {w}"),
        (None, None, Some(s)) => s.what.clone(),
        (None, None, None) => unreachable!("checked above"),
    };
    ui.info(&format!("Wrote {} for {} ({}), target {}.", path.display(), name, entry, kind));
    for w in &found.warnings {
        ui.warn(w);
    }
    if found.health.is_none() {
        ui.warn("no health route found: add one answering GET /health (or change `health` in [app]); deploys wait for it");
    }
    Ok(Written { manifest: path, app: name, target: kind.to_string(), entry, health: found.health.unwrap_or_else(|| "/health".into()) })
}

pub fn render(found: &Detected, name: &str, kind: Kind) -> String {
    let entry = match (&found.asgi, &found.wsgi, &found.server) {
        (Some(a), _, _) => format!("asgi = \"{a}\"         # the ASGI app object, served by uvicorn"),
        (None, Some(w), _) if found.gunicorn => format!("command = \"gunicorn --bind 0.0.0.0:$PORT {w}\"   # the WSGI app, served by gunicorn"),
        (None, Some(w), _) => format!(
            "command = \"flask --app {w} run --host 0.0.0.0 --port $PORT\"   # Flask's dev server; add gunicorn to the requirements for production"
        ),
        (None, None, Some(s)) => format!("command = {}   # {}", toml_string(&s.command), s.note),
        (None, None, None) => unreachable!("checked by the caller"),
    };
    let requirements = match found.requirements.as_deref() {
        Some("requirements.txt") | None => {
            "# requirements = \"requirements.txt\"   # default; else pyproject.toml's dependencies".to_string()
        }
        Some(r) => format!("requirements = \"{r}\""),
    };
    TEMPLATE
        .replace("{{name}}", name)
        .replace("{{runtime}}", found.runtime.as_deref().unwrap_or("python3.11"))
        .replace("{{entry}}", &entry)
        .replace("{{requirements}}", &requirements)
        .replace("{{port}}", &found.port.unwrap_or(8000).to_string())
        .replace("{{health}}", found.health.as_deref().unwrap_or("/health"))
        .replace("{{target}}", &target_section(kind))
}

/// `s` as a TOML string (commands from a Procfile or Dockerfile may hold quotes).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The cloudrun section's access line when the service stays private.
const CLOUDRUN_PRIVATE: &str = "# public = true                  # default private: callers need an identity token";

fn target_section(kind: Kind) -> String {
    let body = match kind {
        Kind::Local => "# port = 8000                   # local port to serve on (default: [app] port)",
        Kind::Lambda => "region = \"us-east-1\"\nmemory = 1024\ntimeout = 30\n# public = true                  # default private: callers sign requests (SigV4, execute-api:Invoke)",
        Kind::Cloudrun => {
            return format!(
                "[targets.{kind}]\n# project = \"my-gcp-project\"\nregion = \"us-central1\"\nmemory = \"1Gi\"\n{CLOUDRUN_PRIVATE}\n"
            )
        }
        Kind::Appservice => "region = \"westeurope\"\nsku = \"B1\"",
        Kind::Ec2 => "region = \"us-east-1\"\ninstance_type = \"g4dn.xlarge\"\n# allow_cidrs = [\"203.0.113.7/32\"]  # who may reach the app port (default: no address; `plan` prints the SSM port-forwarding command)",
        Kind::Sagemaker => "region = \"us-east-1\"\ninstance_type = \"ml.g5.xlarge\"",
        Kind::Railway => "# project = \"my-project\"",
        Kind::Render => "region = \"oregon\"\nplan = \"starter\"",
    };
    format!("[targets.{kind}]\n{body}\n")
}
