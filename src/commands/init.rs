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
    /// `true` when a target was added to a manifest that was already there.
    pub added_target: bool,
    /// The commands to run next.
    pub next: Vec<String>,
}

pub fn run(args: &InitArgs, g: &GlobalArgs, ui: &Ui) -> Result<Written> {
    let path = manifest::locate(g.manifest.as_deref());
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    if path.exists() && !args.force {
        return add_target(&path, args, g, ui);
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
        // A name the rules refuse is explained and asked again.
        None if ask => ui.ask_valid("App name", &found.name, "--name", |answer| {
            answer.parse::<manifest::AppName>().map(drop).map_err(|e| e.replace(manifest::values::HELP_SEP, ": "))
        })?,
        None => found.name.clone(),
    };
    if let Err(e) = name.parse::<manifest::AppName>() {
        let (msg, help) = e.split_once(manifest::values::HELP_SEP).unwrap_or((&e, ""));
        return Err(UsageError::new(msg.to_string()).hint(format!("{help}; pass --name")).into());
    }
    let kind = match &args.target {
        Some(t) => parse_kind(t)?,
        None if ask => pick_kind(ui, "Target", &Kind::ALL)?,
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
        text = ask_cloudrun_access(ui, text)?;
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
    let next = next_commands(g, kind.as_str());
    Ok(Written {
        manifest: path,
        app: name,
        target: kind.to_string(),
        entry,
        health: found.health.unwrap_or_else(|| "/health".into()),
        added_target: false,
        next,
    })
}

/// `init` where a manifest already is: adds `[targets.KIND]` at its end, leaving every
/// line already there (comments, order) as it was.
fn add_target(path: &Path, args: &InitArgs, g: &GlobalArgs, ui: &Ui) -> Result<Written> {
    let text = fs_err::read_to_string(path)?;
    let m = manifest::parse(&text, &path.display().to_string()).map_err(manifest::LoadError::from)?;
    let present: Vec<String> = m.targets.keys().map(|k| k.get().to_string()).collect();
    let kind = match &args.target {
        Some(t) => parse_kind(t)?,
        None if ui.interactive && !ui.yes => {
            let missing: Vec<Kind> = Kind::ALL.into_iter().filter(|k| !present.iter().any(|p| p == k.as_str())).collect();
            if missing.is_empty() {
                return Err(UsageError::new(format!("{} already has a target of every kind", path.display()))
                    .hint("edit it to change one, or pass --force to write a new manifest")
                    .into());
            }
            ui.info(&format!("{} exists (targets: {}); adding a target.", path.display(), list_or_none(&present)));
            pick_kind(ui, "Target to add", &missing)?
        }
        None => {
            return Err(UsageError::new(format!("{} already exists", path.display()))
                .hint(format!(
                    "pass --target KIND to add a [targets.KIND] to it (one of: {}), or --force to overwrite it",
                    Kind::ALL.map(|k| k.as_str()).join(", ")
                ))
                .into())
        }
    };
    if present.iter().any(|p| p == kind.as_str()) {
        return Err(UsageError::new(format!("{} already has [targets.{kind}]", path.display()))
            .hint(format!("deploy it with `aideploy up --target {kind}`, or edit its settings there"))
            .into());
    }
    if args.name.is_some() {
        ui.warn(&format!("--name is ignored: {} already names the app", path.display()));
    }
    let mut new_text = text.clone();
    if !new_text.is_empty() && !new_text.ends_with('\n') {
        new_text.push('\n');
    }
    new_text.push('\n');
    new_text.push_str(&target_section(kind));
    manifest::parse(&new_text, &path.display().to_string()).map_err(|e| {
        UsageError::new(format!("cannot add [targets.{kind}] to {}: the result would not be valid ({e})", path.display()))
            .hint(format!("add a [targets.{kind}] table to it by hand"))
    })?;
    fs_err::write(path, &new_text)?;
    let app = m.app.get();
    let entry = match (&app.asgi, &app.command) {
        (Some(a), _) => format!("ASGI app {}", a.get()),
        (None, Some(c)) => format!("command `{}`", c.get()),
        (None, None) => String::new(),
    };
    ui.info(&format!("Added [targets.{kind}] to {} (targets now: {}, {kind}).", path.display(), list_or_none(&present)));
    let next = next_commands(g, kind.as_str());
    Ok(Written {
        manifest: path.to_path_buf(),
        app: app.name.to_string(),
        target: kind.to_string(),
        entry,
        health: app.health.to_string(),
        added_target: true,
        next,
    })
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

fn parse_kind(t: &str) -> Result<Kind> {
    Kind::parse(t).ok_or_else(|| {
        let e = UsageError::new(format!("`{t}` is not a target kind"));
        match manifest::did_you_mean(t, Kind::ALL.iter().map(|k| k.as_str())) {
            Some(k) => e.hint(format!("did you mean `--target {k}`?")).into(),
            None => e.hint(format!("one of: {}", Kind::ALL.map(|k| k.as_str()).join(", "))).into(),
        }
    })
}

/// The target picker: one short line per kind, cut to the terminal's width.
fn pick_kind(ui: &Ui, question: &str, kinds: &[Kind]) -> Result<Kind> {
    let width = usize::from(console::Term::stderr().size().1).saturating_sub(4).max(20);
    let items: Vec<String> =
        kinds.iter().map(|k| format!("{:<11} {}", k.as_str(), kind_summary(*k)).chars().take(width).collect()).collect();
    let items: Vec<&str> = items.iter().map(String::as_str).collect();
    Ok(kinds[ui.select(question, &items, 0, "--target KIND")?])
}

/// What each kind is, in a few words (the picker's second column).
pub fn kind_summary(kind: Kind) -> &'static str {
    match kind {
        Kind::Local => "this machine (a process; no cloud account)",
        Kind::Lambda => "AWS Lambda + API Gateway (zip, pay per call)",
        Kind::Cloudrun => "Google Cloud Run (container, scales to zero)",
        Kind::Appservice => "Azure App Service (Linux container)",
        Kind::Ec2 => "AWS EC2 GPU instance running the container",
        Kind::Sagemaker => "AWS SageMaker real-time endpoint (models)",
        Kind::Railway => "Railway (container platform)",
        Kind::Render => "Render (container platform)",
    }
}

fn ask_cloudrun_access(ui: &Ui, text: String) -> Result<String> {
    let items = ["private: callers need an identity token (IAM)", "public: anyone on the internet may call it"];
    if ui.select("Who may call the service?", &items, 0, "--target cloudrun and edit `public` in the manifest")? == 1 {
        return Ok(text.replace(CLOUDRUN_PRIVATE, "public = true                    # anyone may call it (roles/run.invoker for allUsers)"));
    }
    Ok(text)
}

/// `aideploy plan --target KIND` and `aideploy up --target KIND`, with `-C` when the
/// manifest is not the current folder's.
fn next_commands(g: &GlobalArgs, target: &str) -> Vec<String> {
    let manifest = g.manifest.as_ref().map(|p| format!(" -C {}", p.display())).unwrap_or_default();
    ["plan", "up"].iter().map(|c| format!("aideploy {c}{manifest} --target {target}")).collect()
}

/// The commands to run next, on stderr (`aideploy init` only: `up` goes on to deploy).
pub fn show_next(ui: &Ui, next: &[String]) {
    ui.info(&format!("Next:\n{}", next.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n")));
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
