//! What `init` finds in a folder: the app's entry point (an ASGI or WSGI app object, a
//! server it starts itself), its requirements, health path, port and runtime.

use std::path::Path;

use anyhow::Result;

use super::servers;
use super::Detected;
use crate::artifact::reqfiles;
use crate::manifest::{self, slugify};

/// Looks at the folder: Python files (two levels deep) for an app object and health
/// route, else for a server the app starts itself (a Streamlit, Gradio or Chainlit
/// script, a script reading `PORT`, the Procfile's `web:` process, the Dockerfile's
/// `CMD`, a bare main.py/app.py/server.py, in that order); requirements files, a
/// Dockerfile's `EXPOSE`, `.python-version`.
pub fn detect(dir: &Path) -> Result<Detected> {
    let abs = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut d = Detected {
        name: abs.file_name().map(|n| slugify(&n.to_string_lossy())).filter(|s| !s.is_empty()).unwrap_or_else(|| "my-app".into()),
        ..Detected::default()
    };
    let mut py_files = Vec::new();
    collect_py(dir, dir, 0, &mut py_files);
    py_files.sort_by_key(|(rel, _)| (rank(rel), rel.clone()));
    let (mut serves_root, mut django) = (false, false);
    let (mut asgi_file, mut wsgi_file) = (None, None);
    for (rel, text) in &py_files {
        if d.asgi.is_none() {
            if let Some(var) = find_app_object(text) {
                d.asgi = Some(format!("{}:{var}", module_of(rel)));
                asgi_file = Some(rel.clone());
            }
        }
        if d.wsgi.is_none() {
            // Flask's app object, or the `application` a Django project's wsgi.py makes.
            if let Some(var) = find_assignment(text, &["Flask(", "get_wsgi_application("]) {
                d.wsgi = Some(format!("{}:{var}", module_of(rel)));
                django = text.contains("get_wsgi_application(");
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
    let docker = servers::dockerfile(dir);
    if d.asgi.is_none() && d.wsgi.is_none() {
        // Scripts at the top first: a Streamlit app's `pages/` import streamlit too.
        let mut scripts: Vec<(String, String)> = py_files.clone();
        scripts.sort_by_key(|(rel, _)| (rel.matches('/').count(), rank(rel), rel.clone()));
        let found = servers::in_python(&scripts)
            .or_else(|| servers::procfile(dir).map(|s| (s, Vec::new())))
            .or_else(|| docker.as_ref().and_then(|(_, s)| s.clone()).map(|s| (s, Vec::new())))
            .or_else(|| servers::fallback(dir).map(|s| (s, Vec::new())));
        if let Some((server, warnings)) = found {
            // The framework's own readiness path beats a route found in some file.
            if server.health.is_some() {
                d.health = server.health.clone();
            }
            d.warnings = warnings;
            d.server = Some(server);
        }
    }
    let server_file = d.server.as_ref().and_then(|s| s.file.clone());
    let entry_file = if d.asgi.is_some() { asgi_file } else { wsgi_file.or(server_file) };
    d.requirements = find_requirements(dir, entry_file.as_deref());
    let requirements_text = [d.requirements.as_deref().unwrap_or("requirements.txt"), "pyproject.toml"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .collect::<String>();
    d.gunicorn = requirements_text.to_ascii_lowercase().contains("gunicorn");
    if django && !d.gunicorn && dir.join("manage.py").is_file() {
        // Without gunicorn a Django project serves through manage.py (render's WSGI
        // fallback, `flask run`, is Flask's).
        d.server = Some(servers::django_runserver());
        d.wsgi = None;
    }
    // The Dockerfile's EXPOSE, else the port the server's framework uses.
    d.port = docker.and_then(|(f, _)| f.expose).or_else(|| d.server.as_ref().and_then(|s| s.port));
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
        "app.py" | "streamlit_app.py" => 1,
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

/// A health route declared by a decorator (`@app.get("/health")`) or, in a Django
/// `urls.py`, by `path("healthz/", view)` (written there without the leading `/`).
fn find_health_route(text: &str) -> Option<String> {
    const ROUTES: &[&str] = &["/health", "/healthz", "/health/live", "/livez", "/ping"];
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("path(").or_else(|| l.strip_prefix("re_path(")) {
            let route = rest.trim_start().trim_start_matches(['"', '\'']).split(['"', '\'']).next().unwrap_or("");
            let route = format!("/{}", route.trim_start_matches('^').trim_end_matches('$'));
            if ROUTES.contains(&route.trim_end_matches('/')) {
                return Some(route);
            }
            continue;
        }
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
    use crate::commands::init::render;
    use crate::manifest::Kind;

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
        assert_eq!(d.server.map(|s| s.command).as_deref(), Some("python3 server.py"));
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
    fn a_django_project_is_served_by_gunicorn_or_manage_py() {
        let t = tempfile::tempdir().unwrap();
        let files = [
            ("manage.py", "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site1.settings')\n"),
            ("site1/wsgi.py", "from django.core.wsgi import get_wsgi_application\n\napplication = get_wsgi_application()\n"),
            (
                "site1/urls.py",
                "from django.urls import path\n\nurlpatterns = [\n    path(\"admin/\", admin),\n    path('healthz/', health),\n]\n",
            ),
            ("requirements.txt", "Django>=5\ngunicorn\n"),
        ];
        for (rel, text) in files {
            fs_err::create_dir_all(t.path().join(rel).parent().unwrap()).unwrap();
            fs_err::write(t.path().join(rel), text).unwrap();
        }
        let d = detect(t.path()).unwrap();
        assert_eq!((d.wsgi.as_deref(), d.health.as_deref()), (Some("site1.wsgi:application"), Some("/healthz/")));
        let text = render(&d, "x", Kind::Local);
        assert!(text.contains("command = \"gunicorn --bind 0.0.0.0:$PORT site1.wsgi:application\""), "{text}");

        fs_err::write(t.path().join("requirements.txt"), "Django>=5\n").unwrap();
        let d = detect(t.path()).unwrap();
        assert_eq!(d.wsgi, None);
        let text = render(&d, "x", Kind::Local);
        assert!(text.contains("command = \"python3 manage.py runserver 0.0.0.0:$PORT --noreload\""), "{text}");
        assert_eq!(d.port, Some(8000));
        manifest::parse(&text, "x").unwrap();
        assert_eq!(find_health_route("urlpatterns = [re_path(r'^ping$', ping)]\n"), None, "not at the start of a line");
        assert_eq!(find_health_route("    re_path('^ping/$', ping),\n").as_deref(), Some("/ping/"));
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

#[cfg(test)]
mod server_tests {
    use super::*;
    use crate::commands::init::render;
    use crate::manifest::Kind;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            let p = t.path().join(rel);
            fs_err::create_dir_all(p.parent().unwrap()).unwrap();
            fs_err::write(p, text).unwrap();
        }
        t
    }

    /// Detects, renders for cloudrun, checks the manifest parses; returns its text.
    fn manifest_for(files: &[(&str, &str)]) -> (Detected, String) {
        let t = folder(files);
        let d = detect(t.path()).unwrap();
        let text = render(&d, "x", Kind::Cloudrun);
        manifest::parse(&text, "x").unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        (d, text)
    }

    #[test]
    fn a_streamlit_app_runs_under_streamlit_on_port_var() {
        let (d, text) = manifest_for(&[
            ("streamlit_app.py", "import streamlit as st\nst.title('hi')\n"),
            ("pages/main.py", "import streamlit as st\n"),
            ("requirements.txt", "streamlit\n"),
        ]);
        assert!(
            text.contains(
                "command = \"streamlit run streamlit_app.py --server.port $PORT --server.address 0.0.0.0 --server.headless true\""
            ),
            "{text}"
        );
        assert!(text.contains("port = 8501") && text.contains("health = \"/_stcore/health\""), "{text}");
        assert_eq!(d.server.unwrap().what, "Streamlit app streamlit_app.py");
    }

    #[test]
    fn a_gradio_app_gets_its_address_and_port_from_gradio_variables() {
        let (d, text) =
            manifest_for(&[("app.py", "import gradio as gr\ndemo = gr.Interface(fn=str, inputs='text', outputs='text')\ndemo.launch()\n")]);
        assert!(text.contains("command = \"GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=$PORT python3 app.py\""), "{text}");
        assert!(text.contains("port = 7860") && text.contains("health = \"/\""), "{text}");
        assert!(d.warnings.is_empty());
        let (d, _) = manifest_for(&[("app.py", "import gradio as gr\ngr.Blocks().launch(server_port=7861)\n")]);
        assert!(d.warnings[0].contains("server_port"), "{:?}", d.warnings);
    }

    #[test]
    fn a_chainlit_app_runs_under_chainlit() {
        let (_, text) = manifest_for(&[("chat.py", "import chainlit as cl\n\n@cl.on_message\nasync def on(m):\n    pass\n")]);
        assert!(text.contains("command = \"chainlit run chat.py --headless --host 0.0.0.0 --port $PORT\""), "{text}");
        assert!(text.contains("port = 8000") && text.contains("health = \"/\""), "{text}");
    }

    #[test]
    fn a_script_that_reads_port_is_run_with_its_default_port() {
        let code = "import os\nfrom http.server import HTTPServer, BaseHTTPRequestHandler\n\nif __name__ == \"__main__\":\n    HTTPServer(('', int(os.environ.get('PORT', 8080))), BaseHTTPRequestHandler).serve_forever()\n";
        let (d, text) = manifest_for(&[("serve/run.py", code), ("helpers.py", "x = 1\n")]);
        assert!(text.contains("command = \"python3 serve/run.py\"   # reads $PORT"), "{text}");
        assert_eq!(d.port, Some(8080));
        // Without PORT: the bare script, with what it must do.
        let (_, text) = manifest_for(&[("server.py", "import http.server\n")]);
        assert!(text.contains("command = \"python3 server.py\"   # must listen on $PORT"), "{text}");
    }

    #[test]
    fn a_procfile_web_line_when_the_code_does_not_tell() {
        let (d, text) = manifest_for(&[
            ("Procfile", "release: python migrate.py\nweb: streamlit run dash/home.py --server.port $PORT\n"),
            ("dash/deep/home.py", "x = 1\n"),
        ]);
        assert!(text.contains("command = \"streamlit run dash/home.py --server.port $PORT\""), "{text}");
        assert!(text.contains("port = 8501") && text.contains("health = \"/_stcore/health\""), "{text}");
        assert!(d.server.unwrap().what.starts_with("Procfile's web process"));
        // Quotes in the command are written as valid TOML.
        let (_, text) = manifest_for(&[("Procfile", "web: sh -c \"exec ./serve --port $PORT\"\n")]);
        assert!(text.contains("command = 'sh -c \"exec ./serve --port $PORT\"'"), "{text}");
        // An app object wins over the Procfile.
        let (d, _) = manifest_for(&[("Procfile", "web: ./serve\n"), ("main.py", "from fastapi import FastAPI\napp = FastAPI()\n")]);
        assert_eq!((d.asgi.as_deref(), d.server), (Some("main:app"), None));
    }

    #[test]
    fn a_dockerfile_cmd_and_expose_when_nothing_else_tells() {
        let (d, text) = manifest_for(&[(
            "Dockerfile",
            "FROM python:3.12-slim\nWORKDIR /srv\nCOPY . .\nEXPOSE 8501\nCMD [\"streamlit\", \"run\", \"/srv/ui.py\", \"--server.port\", \"8501\"]\n",
        )]);
        assert!(text.contains("command = \"streamlit run ui.py --server.port $PORT\""), "{text}");
        assert!(text.contains("port = 8501") && text.contains("health = \"/_stcore/health\""), "{text}");
        assert_eq!(d.runtime.as_deref(), Some("python3.12"));
        // A Procfile comes first; EXPOSE still gives the port.
        let (d, text) =
            manifest_for(&[("Dockerfile", "FROM python\nEXPOSE 9000\nCMD python other.py\n"), ("Procfile", "web: python web.py\n")]);
        assert!(text.contains("command = \"python web.py\""), "{text}");
        assert_eq!(d.port, Some(9000));
    }
}
