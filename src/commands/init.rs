//! `aideploy init`: detect the app in this folder and write a commented manifest.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::artifact::reqfiles;
use crate::cli::{GlobalArgs, InitArgs};
use crate::error::UsageError;
use crate::manifest::{self, slugify, Kind};
use crate::ui::Ui;

const TEMPLATE: &str = include_str!("../../templates/aideploy.toml");

/// What was found in the folder.
#[derive(Debug, Default, PartialEq)]
pub struct Detected {
    pub name: String,
    /// `module:attr` of a FastAPI/Starlette app object.
    pub asgi: Option<String>,
    /// A script to run when there is no ASGI app.
    pub script: Option<String>,
    /// A WSGI app (Flask) as `module:attribute`, served by gunicorn or `flask run`.
    pub wsgi: Option<String>,
    /// Whether the requirements name gunicorn.
    pub gunicorn: bool,
    pub requirements: Option<String>,
    pub port: Option<u16>,
    pub health: Option<String>,
    pub runtime: Option<String>,
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
    if found.asgi.is_none() && found.wsgi.is_none() && found.script.is_none() {
        return Err(UsageError::new(format!("found no FastAPI/ASGI app or server script in {}", dir.display()))
            .hint("run init in the app's folder; it looks for `app = FastAPI()` and for main.py, app.py or server.py")
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
    let entry = match (&found.asgi, &found.wsgi) {
        (Some(a), _) => format!("ASGI app {a}"),
        (None, Some(w)) => format!("WSGI app {w}"),
        (None, None) => format!("command python {}", found.script.as_deref().unwrap_or("")),
    };
    ui.info(&format!("Wrote {} for {} ({}), target {}.", path.display(), name, entry, kind));
    if found.health.is_none() {
        ui.warn("no health route found: add one answering GET /health (or change `health` in [app]); deploys wait for it");
    }
    Ok(Written { manifest: path, app: name, target: kind.to_string(), entry, health: found.health.unwrap_or_else(|| "/health".into()) })
}

pub fn render(found: &Detected, name: &str, kind: Kind) -> String {
    let entry = match (&found.asgi, &found.wsgi, &found.script) {
        (Some(a), _, _) => format!("asgi = \"{a}\"         # the ASGI app object, served by uvicorn"),
        (None, Some(w), _) if found.gunicorn => format!("command = \"gunicorn --bind 0.0.0.0:$PORT {w}\"   # the WSGI app, served by gunicorn"),
        (None, Some(w), _) => format!(
            "command = \"flask --app {w} run --host 0.0.0.0 --port $PORT\"   # Flask's dev server; add gunicorn to the requirements for production"
        ),
        (None, None, Some(s)) => format!("command = \"python {s}\"   # must listen on $PORT"),
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

/// Looks at the folder: Python files (two levels deep) for an app object and health
/// route, requirements files, a Dockerfile's port, `.python-version`.
pub fn detect(dir: &Path) -> Result<Detected> {
    let abs = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut d = Detected {
        name: abs.file_name().map(|n| slugify(&n.to_string_lossy())).filter(|s| !s.is_empty()).unwrap_or_else(|| "my-app".into()),
        ..Detected::default()
    };
    let mut py_files = Vec::new();
    collect_py(dir, dir, 0, &mut py_files);
    py_files.sort_by_key(|(rel, _)| (rank(rel), rel.clone()));
    let mut serves_root = false;
    let (mut asgi_file, mut wsgi_file) = (None, None);
    for (rel, text) in &py_files {
        if d.asgi.is_none() {
            if let Some(var) = find_app_object(text) {
                d.asgi = Some(format!("{}:{var}", module_of(rel)));
                asgi_file = Some(rel.clone());
            }
        }
        if d.wsgi.is_none() {
            if let Some(var) = find_assignment(text, &["Flask("]) {
                d.wsgi = Some(format!("{}:{var}", module_of(rel)));
                wsgi_file = Some(rel.clone());
            }
        }
        if d.health.is_none() {
            d.health = find_health_route(text);
        }
        serves_root |= has_root_route(text);
    }
    // An app with no health route but a `/` route is ready when `/` answers.
    if d.health.is_none() && serves_root {
        d.health = Some("/".into());
    }
    if d.asgi.is_some() {
        d.wsgi = None;
    }
    if d.asgi.is_none() && d.wsgi.is_none() {
        d.script = ["main.py", "app.py", "server.py"].iter().find(|f| dir.join(f).is_file()).map(|f| f.to_string());
    }
    let entry_file = if d.asgi.is_some() { asgi_file } else { wsgi_file.or_else(|| d.script.clone()) };
    d.requirements = find_requirements(dir, entry_file.as_deref());
    let requirements_text = [d.requirements.as_deref().unwrap_or("requirements.txt"), "pyproject.toml"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .collect::<String>();
    d.gunicorn = requirements_text.to_ascii_lowercase().contains("gunicorn");
    if let Ok(text) = fs_err::read_to_string(dir.join("Dockerfile")) {
        d.port = text.lines().find_map(|l| {
            let l = l.trim();
            l.strip_prefix("EXPOSE ")
                .or_else(|| l.strip_prefix("expose "))
                .and_then(|p| p.split_whitespace().next()?.split('/').next()?.parse().ok())
        });
    }
    // `.python-version`, pyproject's `requires-python`, a Dockerfile's `FROM python:X.Y`.
    d.runtime = manifest::infer::runtime(dir).map(|(r, _)| r.to_string());
    Ok(d)
}

/// Where the app names its dependencies, relative to `dir`: `requirements.txt`; else
/// one in the entry file's folder or a folder above it (`app/requirements.txt` next to
/// `app/main.py`); else `pyproject.toml` (PEP 621 or Poetry) unless a `uv.lock` goes
/// with it (`None`: builds install the lock by default); else `Pipfile.lock`; else a
/// conda `environment.yml` with a `pip:` list.
pub fn find_requirements(dir: &Path, entry_file: Option<&str>) -> Option<String> {
    if dir.join("requirements.txt").is_file() {
        return Some("requirements.txt".into());
    }
    if let Some(entry) = entry_file {
        let mut folder = Path::new(entry).parent();
        while let Some(f) = folder.filter(|f| !f.as_os_str().is_empty()) {
            if dir.join(f).join("requirements.txt").is_file() {
                return Some(format!("{}/requirements.txt", f.to_string_lossy().replace('\\', "/")));
            }
            folder = f.parent();
        }
    }
    if let Ok(text) = fs_err::read_to_string(dir.join("pyproject.toml")) {
        if dir.join("uv.lock").is_file() {
            return None;
        }
        if reqfiles::pyproject_has_dependencies(&text) {
            return Some("pyproject.toml".into());
        }
    }
    if dir.join("Pipfile.lock").is_file() {
        return Some("Pipfile.lock".into());
    }
    ["environment.yml", "environment.yaml"]
        .into_iter()
        .find(|f| fs_err::read_to_string(dir.join(f)).is_ok_and(|t| !reqfiles::conda_pip_lines(&t).is_empty()))
        .map(str::to_string)
}

fn rank(rel: &str) -> u8 {
    match rel.rsplit('/').next().unwrap_or(rel) {
        "main.py" => 0,
        "app.py" => 1,
        "server.py" | "api.py" => 2,
        _ => 3,
    }
}

fn collect_py(root: &Path, dir: &Path, depth: u32, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            let skip =
                name.starts_with('.') || ["venv", "env", "node_modules", "__pycache__", "tests", "site-packages"].contains(&name.as_str());
            if depth < 2 && !skip {
                collect_py(root, &p, depth + 1, out);
            }
        } else if name.ends_with(".py") {
            if let Ok(text) = std::fs::read_to_string(&p) {
                let rel = p.strip_prefix(root).unwrap_or(&p).to_string_lossy().replace('\\', "/");
                out.push((rel, text));
            }
        }
    }
}

/// The import path of a file: `app/main.py` -> `app.main`; in a src layout
/// (`src/pkg/main.py`) the `src` folder is on the path, so -> `pkg.main`.
fn module_of(rel: &str) -> String {
    let rel = rel.strip_prefix("src/").unwrap_or(rel);
    let m = rel.trim_end_matches(".py").replace('/', ".");
    m.strip_suffix(".__init__").map(str::to_string).unwrap_or(m)
}

/// `app = FastAPI(...)` (also `fastapi.FastAPI(`, `Starlette(`, annotated assignments).
fn find_app_object(text: &str) -> Option<String> {
    find_assignment(text, &["FastAPI(", "Starlette("])
}

/// The variable a top-level `x = Ctor(...)` assigns, for one of `ctors` (module prefixes
/// such as `fastapi.` or `flask.` allowed).
fn find_assignment(text: &str, ctors: &[&str]) -> Option<String> {
    for line in text.lines() {
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        let Some((lhs, rhs)) = line.split_once('=') else { continue };
        let rhs = rhs.trim_start();
        let ctor = ["fastapi.", "starlette.applications.", "flask."].iter().find_map(|p| rhs.strip_prefix(p)).unwrap_or(rhs);
        if !ctors.iter().any(|c| ctor.starts_with(c)) {
            continue;
        }
        let var = lhs.split(':').next().unwrap_or("").trim();
        if !var.is_empty() && var.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) && !var.starts_with(|c: char| c.is_ascii_digit()) {
            return Some(var.to_string());
        }
    }
    None
}

fn find_health_route(text: &str) -> Option<String> {
    const ROUTES: &[&str] = &["/health", "/healthz", "/health/live", "/livez", "/ping"];
    for line in text.lines() {
        let l = line.trim();
        if !(l.starts_with('@') && [".get(", ".route(", ".api_route("].iter().any(|d| l.contains(d))) {
            continue;
        }
        for q in ['"', '\''] {
            if let Some(path) = l.split(q).nth(1) {
                if ROUTES.contains(&path) {
                    return Some(path.to_string());
                }
            }
        }
    }
    None
}

/// Whether a route for `/` is declared (`@app.get("/")`, `@app.route("/")`, `Route("/", ...)`).
fn has_root_route(text: &str) -> bool {
    text.lines().map(str::trim).any(|l| {
        let route = (l.starts_with('@') && [".get(", ".route(", ".api_route("].iter().any(|d| l.contains(d))) || l.contains("Route(");
        route && (l.contains("(\"/\"") || l.contains("('/'"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fastapi_app_and_health() {
        let t = tempfile::tempdir().unwrap();
        let app_dir = t.path().join("My_Service");
        fs_err::create_dir_all(app_dir.join("app")).unwrap();
        fs_err::write(
            app_dir.join("app/main.py"),
            "from fastapi import FastAPI\napp: FastAPI = FastAPI(title='x')\n\n@app.get('/healthz')\ndef h():\n    return {}\n",
        )
        .unwrap();
        fs_err::write(app_dir.join("requirements.txt"), "fastapi\n").unwrap();
        fs_err::write(app_dir.join("Dockerfile"), "FROM python\nEXPOSE 8080/tcp\n").unwrap();
        fs_err::write(app_dir.join(".python-version"), "3.12.1\n").unwrap();
        let d = detect(&app_dir).unwrap();
        assert_eq!(d.name, "my-service");
        assert_eq!(d.asgi.as_deref(), Some("app.main:app"));
        assert_eq!(d.health.as_deref(), Some("/healthz"));
        assert_eq!(d.port, Some(8080));
        assert_eq!(d.runtime.as_deref(), Some("python3.12"));
        assert_eq!(d.requirements.as_deref(), Some("requirements.txt"));
        for kind in Kind::ALL {
            let text = render(&d, "my-service", kind);
            manifest::parse(&text, "x").unwrap_or_else(|e| panic!("{kind}: {e:?}"));
        }
    }

    #[test]
    fn falls_back_to_a_script() {
        let t = tempfile::tempdir().unwrap();
        fs_err::write(t.path().join("server.py"), "import http.server\n").unwrap();
        let d = detect(t.path()).unwrap();
        assert_eq!(d.asgi, None);
        assert_eq!(d.script.as_deref(), Some("server.py"));
        assert_eq!(module_of("pkg/__init__.py"), "pkg");
        assert_eq!(module_of("src/pkg/api.py"), "pkg.api");
    }

    #[test]
    fn a_flask_app_is_served_as_wsgi_and_a_root_route_is_its_health() {
        let t = tempfile::tempdir().unwrap();
        fs_err::write(
            t.path().join("app.py"),
            "from flask import Flask\napp = Flask(__name__)\n\n@app.route('/')\ndef index():\n    return 'hi'\n",
        )
        .unwrap();
        fs_err::write(t.path().join("requirements.txt"), "flask\n").unwrap();
        let d = detect(t.path()).unwrap();
        assert_eq!((d.asgi.as_deref(), d.wsgi.as_deref()), (None, Some("app:app")));
        assert_eq!(d.health.as_deref(), Some("/"));
        let text = render(&d, "x", Kind::Local);
        assert!(text.contains("command = \"flask --app app:app run --host 0.0.0.0 --port $PORT\""), "{text}");
        manifest::parse(&text, "x").unwrap();

        fs_err::write(t.path().join("requirements.txt"), "flask\ngunicorn==23.0\n").unwrap();
        let text = render(&detect(t.path()).unwrap(), "x", Kind::Local);
        assert!(text.contains("command = \"gunicorn --bind 0.0.0.0:$PORT app:app\""), "{text}");
    }

    #[test]
    fn a_starlette_app_with_only_a_root_route_is_checked_on_root() {
        let t = tempfile::tempdir().unwrap();
        fs_err::write(t.path().join("server.py"), "from starlette.applications import Starlette\nfrom starlette.routing import Route\n\napp = Starlette(routes=[\n    Route(\"/\", home),\n])\n").unwrap();
        let d = detect(t.path()).unwrap();
        assert_eq!(d.asgi.as_deref(), Some("server:app"));
        assert_eq!(d.health.as_deref(), Some("/"));
    }

    #[test]
    fn finds_requirements_in_every_place_a_project_keeps_them() {
        let app = "from fastapi import FastAPI\napp = FastAPI()\n";
        let case = |files: &[(&str, &str)]| {
            let t = tempfile::tempdir().unwrap();
            for (rel, text) in files {
                let p = t.path().join(rel);
                fs_err::create_dir_all(p.parent().unwrap()).unwrap();
                fs_err::write(p, text).unwrap();
            }
            detect(t.path()).unwrap().requirements
        };
        let some = |s: &str| Some(s.to_string());
        assert_eq!(case(&[("app/main.py", app), ("app/requirements.txt", "fastapi\n")]), some("app/requirements.txt"));
        assert_eq!(case(&[("svc/api/main.py", app), ("svc/requirements.txt", "fastapi\n")]), some("svc/requirements.txt"));
        assert_eq!(
            case(&[("app/main.py", app), ("app/requirements.txt", "x\n"), ("requirements.txt", "fastapi\n")]),
            some("requirements.txt")
        );
        let poetry = "[tool.poetry]\nname='x'\n[tool.poetry.dependencies]\npython='^3.11'\nfastapi='^0.110'\n";
        assert_eq!(case(&[("main.py", app), ("pyproject.toml", poetry)]), some("pyproject.toml"));
        let pep621 = "[project]\nname='x'\ndependencies=['fastapi']\n";
        assert_eq!(case(&[("main.py", app), ("pyproject.toml", pep621)]), some("pyproject.toml"));
        // A uv project: builds install its lock when `requirements` is not set.
        assert_eq!(case(&[("main.py", app), ("pyproject.toml", pep621), ("uv.lock", "version = 1\n")]), None);
        assert_eq!(case(&[("main.py", app), ("pyproject.toml", "[project]\nname='x'\n")]), None);
        assert_eq!(case(&[("main.py", app), ("Pipfile", "[packages]\n"), ("Pipfile.lock", "{\"default\": {}}")]), some("Pipfile.lock"));
        let conda = "name: x\ndependencies:\n  - python=3.11\n  - pip:\n    - fastapi\n";
        assert_eq!(case(&[("main.py", app), ("environment.yml", conda)]), some("environment.yml"));
        assert_eq!(case(&[("main.py", app), ("environment.yml", "name: x\ndependencies:\n  - numpy\n")]), None);

        // What init writes for them parses, and names the file.
        let t = tempfile::tempdir().unwrap();
        fs_err::write(t.path().join("main.py"), app).unwrap();
        fs_err::write(t.path().join("environment.yml"), conda).unwrap();
        let text = render(&detect(t.path()).unwrap(), "x", Kind::Local);
        assert!(text.contains("\nrequirements = \"environment.yml\"\n"), "{text}");
        manifest::parse(&text, "x").unwrap();
    }

    #[test]
    fn a_flask_health_route_declared_with_route_is_found() {
        let t = tempfile::tempdir().unwrap();
        fs_err::write(
            t.path().join("main.py"),
            "from flask import Flask\napp = Flask(__name__)\n\n@app.route(\"/health\")\ndef h():\n    return 'ok'\n",
        )
        .unwrap();
        assert_eq!(detect(t.path()).unwrap().health.as_deref(), Some("/health"));
    }
}
