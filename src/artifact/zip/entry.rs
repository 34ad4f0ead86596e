//! What the Lambda adapter runs for an app, and how the function tells it: an ASGI app
//! in-process (`AIDEPLOY_ASGI`; a WSGI app named there is recognised at start-up), a
//! WSGI app in-process (`AIDEPLOY_WSGI`), or a server started by the app's `command`
//! that each event is sent to over loopback (`AIDEPLOY_COMMAND`, images only).
//!
//! A `command` that only starts a Python app server on a `module:app` (gunicorn,
//! waitress, uvicorn, hypercorn, daphne) needs no server on Lambda: the adapter runs
//! that app itself, so it fits in a zip.

use crate::manifest::App;

pub const WSGI_ENV: &str = "AIDEPLOY_WSGI";
pub const COMMAND_ENV: &str = "AIDEPLOY_COMMAND";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LambdaEntry {
    Asgi(String),
    Wsgi(String),
    /// A server of the app's own: needs a container image.
    Command(String),
}

impl LambdaEntry {
    pub fn of(app: &App) -> LambdaEntry {
        if let Some(asgi) = &app.asgi {
            return LambdaEntry::Asgi(asgi.get().to_string());
        }
        let command = app.command.as_ref().map(|c| c.get().clone()).unwrap_or_default();
        match server_app(&command) {
            Some((true, spec)) => LambdaEntry::Asgi(spec),
            Some((false, spec)) => LambdaEntry::Wsgi(spec),
            None => LambdaEntry::Command(command),
        }
    }

    /// The function's environment variable and its value.
    pub fn env(&self) -> (&'static str, String) {
        match self {
            LambdaEntry::Asgi(s) => (super::ASGI_ENV, s.clone()),
            LambdaEntry::Wsgi(s) => (WSGI_ENV, s.clone()),
            LambdaEntry::Command(c) => (COMMAND_ENV, c.clone()),
        }
    }

    /// Whether the adapter can run it from a zip (in-process).
    pub fn in_process(&self) -> bool {
        !matches!(self, LambdaEntry::Command(_))
    }
}

/// `gunicorn -w 2 --bind 0.0.0.0:$PORT main:app` -> (WSGI, `main:app`);
/// `uvicorn app.main:app --port $PORT` -> (ASGI, `app.main:app`). `None` for anything
/// else, or for a command doing more than starting the server (`&&`, pipes, ...).
fn server_app(command: &str) -> Option<(bool, String)> {
    if command.contains(['&', '|', ';', '>', '<', '`']) || command.contains("$(") {
        return None;
    }
    let words: Vec<&str> = command.split_whitespace().collect();
    let mut i = 0;
    // `python -m gunicorn ...`, `exec gunicorn ...`
    while i < words.len() && matches!(words[i], "exec" | "python" | "python3" | "-m") {
        i += 1;
    }
    let program = words.get(i)?.rsplit('/').next()?;
    let mut asgi = match program {
        "gunicorn" | "waitress-serve" | "waitress" => false,
        "uvicorn" | "hypercorn" | "daphne" => true,
        _ => return None,
    };
    // Options that take a value as the next word, so it is not taken for the app.
    const VALUED: &[&str] = &[
        "-b",
        "--bind",
        "-w",
        "--workers",
        "-k",
        "--worker-class",
        "--threads",
        "--timeout",
        "-t",
        "--port",
        "--host",
        "-p",
        "--log-level",
        "--access-logfile",
        "--error-logfile",
        "-c",
        "--config",
        "--env-file",
        "--root-path",
        "--app-dir",
        "--chdir",
        "--name",
        "-n",
        "--listen",
        "--call",
    ];
    let mut app = None;
    let mut k = i + 1;
    while k < words.len() {
        let w = words[k];
        if w == "--factory" || w == "--call" || w.starts_with("--interface") {
            // A factory, or an interface chosen by hand: not a plain `module:app`.
            return None;
        }
        // gunicorn with an ASGI worker class (uvicorn's) serves an ASGI app.
        let worker = match w {
            "-k" | "--worker-class" => words.get(k + 1).copied(),
            _ => w.strip_prefix("--worker-class=").or_else(|| w.strip_prefix("-k").filter(|v| !v.is_empty())),
        };
        if worker.is_some_and(|v| v.to_ascii_lowercase().contains("uvicorn") || v.to_ascii_lowercase().contains("asgi")) {
            asgi = true;
        }
        if VALUED.contains(&w) {
            k += 2;
            continue;
        }
        if !w.starts_with('-') && w.contains(':') && !w.contains('/') && !w.contains('$') {
            if app.is_some() {
                return None;
            }
            app = Some(w.to_string());
        }
        k += 1;
    }
    let app = app?;
    let (module, attr) = app.split_once(':')?;
    let ident = |s: &str| !s.is_empty() && s.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'));
    (ident(module) && ident(attr)).then_some((asgi, app))
}

#[cfg(test)]
mod tests {
    use super::server_app;

    #[test]
    fn reads_the_app_out_of_python_server_commands() {
        for (command, want) in [
            ("gunicorn --bind 0.0.0.0:$PORT main:app", Some((false, "main:app"))),
            ("gunicorn -w 2 -b :$PORT --timeout 120 app.wsgi:application", Some((false, "app.wsgi:application"))),
            ("python -m gunicorn main:app", Some((false, "main:app"))),
            ("waitress-serve --listen=*:$PORT main:app", Some((false, "main:app"))),
            ("uvicorn app.main:app --host 0.0.0.0 --port $PORT", Some((true, "app.main:app"))),
            ("exec hypercorn main:app --bind 0.0.0.0:$PORT", Some((true, "main:app"))),
            ("gunicorn -k uvicorn.workers.UvicornWorker main:app", Some((true, "main:app"))),
            ("gunicorn --worker-class=uvicorn_worker.UvicornWorker -b :$PORT api:app", Some((true, "api:app"))),
            ("uvicorn --factory main:create_app", None),
            ("streamlit run app.py --server.port $PORT", None),
            ("python server.py", None),
            ("gunicorn main:app && echo done", None),
        ] {
            assert_eq!(server_app(command), want.map(|(a, s)| (a, s.to_string())), "{command}");
        }
    }
}
