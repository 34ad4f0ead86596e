//! Apps that start their own server: Streamlit, Gradio and Chainlit scripts, a plain
//! `python server.py` that reads `PORT`, a Procfile's `web:` process and a Dockerfile's
//! `CMD`. Each becomes a `command` that listens on `$PORT`.

use std::path::Path;

use super::Server;

/// Streamlit's readiness endpoint (answers `ok` once the server runs).
pub const STREAMLIT_HEALTH: &str = "/_stcore/health";

/// A framework's defaults: its usual port and the path that answers once it serves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Framework {
    Streamlit,
    Gradio,
    Chainlit,
}

impl Framework {
    pub fn name(self) -> &'static str {
        match self {
            Framework::Streamlit => "Streamlit",
            Framework::Gradio => "Gradio",
            Framework::Chainlit => "Chainlit",
        }
    }

    pub fn port(self) -> u16 {
        match self {
            Framework::Streamlit => 8501,
            Framework::Gradio => 7860,
            Framework::Chainlit => 8000,
        }
    }

    /// Gradio and Chainlit have no health route of their own: their page at `/`
    /// answers once the server is up.
    pub fn health(self) -> &'static str {
        match self {
            Framework::Streamlit => STREAMLIT_HEALTH,
            Framework::Gradio | Framework::Chainlit => "/",
        }
    }

    /// The command that serves `file` on `$PORT` on every interface (the local target
    /// narrows it to 127.0.0.1).
    fn command(self, file: &str) -> String {
        match self {
            Framework::Streamlit => {
                format!("streamlit run {file} --server.port $PORT --server.address 0.0.0.0 --server.headless true")
            }
            // `launch()` reads these when it is not given `server_name`/`server_port`.
            Framework::Gradio => format!("GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=$PORT python3 {file}"),
            Framework::Chainlit => format!("chainlit run {file} --headless --host 0.0.0.0 --port $PORT"),
        }
    }

    fn note(self) -> &'static str {
        match self {
            Framework::Streamlit => "the Streamlit app, on $PORT",
            Framework::Gradio => "launch() takes its address and port from these variables",
            Framework::Chainlit => "the Chainlit app, on $PORT",
        }
    }

    fn server(self, file: &str) -> Server {
        Server {
            command: self.command(file),
            what: format!("{} app {file}", self.name()),
            note: self.note().into(),
            file: Some(file.to_string()),
            port: Some(self.port()),
            health: Some(self.health().into()),
        }
    }
}

/// Whether `text` imports `module` (`import m`, `import m as x`, `from m import ...`,
/// `from m.sub import ...`).
pub fn imports(text: &str, module: &str) -> bool {
    text.lines().map(str::trim_start).any(|l| {
        let rest = l.strip_prefix("import ").or_else(|| l.strip_prefix("from "));
        rest.map(str::trim_start)
            .and_then(|r| r.strip_prefix(module))
            .is_some_and(|after| after.is_empty() || after.starts_with([' ', ',', '.', '\t']))
    })
}

/// The framework a Python file is an app of.
pub fn framework_of(text: &str) -> Option<Framework> {
    if imports(text, "streamlit") {
        Some(Framework::Streamlit)
    } else if imports(text, "chainlit") {
        Some(Framework::Chainlit)
    } else if imports(text, "gradio") && text.contains(".launch(") {
        Some(Framework::Gradio)
    } else {
        None
    }
}

/// The first of `files` (`(path, text)`, best candidates first) that is a Streamlit,
/// Gradio or Chainlit app, or a script that reads `PORT` from the environment and runs
/// as `__main__`; with warnings about what would keep it from listening on `$PORT`.
pub fn in_python(files: &[(String, String)]) -> Option<(Server, Vec<String>)> {
    for (rel, text) in files {
        if let Some(fw) = framework_of(text) {
            let mut warnings = Vec::new();
            if fw == Framework::Gradio && fixed_launch_setting(text) {
                warnings.push(format!(
                    "{rel} passes `server_name` or `server_port` to launch(), which wins over GRADIO_SERVER_NAME/GRADIO_SERVER_PORT: \
                     remove them (or read os.environ[\"PORT\"]) so the app listens where the platform sends requests"
                ));
            }
            return Some((fw.server(rel), warnings));
        }
    }
    files.iter().find(|(_, text)| text.contains("__main__") && reads_port(text).is_some()).map(|(rel, text)| {
        let server = Server {
            command: format!("python3 {rel}"),
            what: format!("server {rel}"),
            note: "reads $PORT".into(),
            file: Some(rel.clone()),
            port: reads_port(text).flatten(),
            health: None,
        };
        (server, Vec::new())
    })
}

/// `launch(..., server_port=7860)` or `server_name="127.0.0.1"` written as a literal.
fn fixed_launch_setting(text: &str) -> bool {
    ["server_port", "server_name"].iter().any(|arg| {
        text.match_indices(arg).any(|(i, _)| {
            let after = text[i + arg.len()..].trim_start();
            after
                .strip_prefix('=')
                .map(str::trim_start)
                .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit() || c == '"' || c == '\''))
        })
    })
}

/// Whether the script reads `PORT` from the environment (`os.environ["PORT"]`,
/// `os.environ.get("PORT", 8080)`, `os.getenv("PORT", "8080")`), and the default port it
/// names, if any.
fn reads_port(text: &str) -> Option<Option<u16>> {
    let mut found = None;
    for line in text.lines().filter(|l| l.contains("environ") || l.contains("getenv")) {
        for q in ["\"PORT\"", "'PORT'"] {
            if let Some(i) = line.find(q) {
                let default = line[i + q.len()..]
                    .trim_start()
                    .strip_prefix(',')
                    .map(|r| r.trim_start().trim_start_matches(['"', '\'']))
                    .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok());
                if found.flatten().is_none() {
                    found = Some(default);
                }
            }
        }
    }
    found
}

/// What a command from a Procfile or Dockerfile runs, judged by its words: `streamlit
/// run`, `chainlit run`, or a Python script that is a Gradio app.
pub fn framework_of_command(command: &str, dir: &Path) -> Option<Framework> {
    let words: Vec<&str> = command.split_whitespace().map(|w| w.trim_matches(['"', '\''])).collect();
    let runs = |program: &str| words.windows(2).any(|w| (w[0] == program || w[0].ends_with(&format!("/{program}"))) && w[1] == "run");
    if runs("streamlit") {
        return Some(Framework::Streamlit);
    }
    if runs("chainlit") {
        return Some(Framework::Chainlit);
    }
    let script = words.iter().find(|w| w.ends_with(".py") && !w.starts_with('-'))?;
    std::fs::read_to_string(dir.join(script.trim_start_matches("./"))).ok().filter(|t| imports(t, "gradio")).map(|_| Framework::Gradio)
}

/// A command from a Procfile or Dockerfile, with the framework defaults it implies.
fn declared(command: String, what: &str, dir: &Path, port: Option<u16>) -> Server {
    let fw = framework_of_command(&command, dir);
    Server {
        what: format!("{what}: {command}"),
        note: format!("from the {what}"),
        file: None,
        port: port.or(fw.map(Framework::port)),
        health: fw.map(|f| f.health().to_string()),
        command,
    }
}

/// The Procfile's `web:` process (Heroku's format: `web: COMMAND`), `$PORT` kept.
pub fn procfile(dir: &Path) -> Option<Server> {
    let text = std::fs::read_to_string(dir.join("Procfile")).ok()?;
    let command = text.lines().find_map(|l| {
        let (kind, cmd) = l.split_once(':')?;
        (kind.trim() == "web").then(|| cmd.trim().to_string()).filter(|c| !c.is_empty())
    })?;
    Some(declared(command, "Procfile's web process", dir, None))
}

/// What a Dockerfile's last stage says: its `EXPOSE`d port and the command its
/// `ENTRYPOINT`/`CMD` run, with the listen port in that command turned into `$PORT`.
#[derive(Debug, Default, PartialEq)]
pub struct Dockerfile {
    pub expose: Option<u16>,
    pub command: Option<String>,
}

pub fn dockerfile(dir: &Path) -> Option<(Dockerfile, Option<Server>)> {
    let text = std::fs::read_to_string(dir.join("Dockerfile")).ok()?;
    let parsed = parse_dockerfile(&text);
    let server = parsed.command.clone().map(|c| {
        let (command, port) = port_to_env(&c, parsed.expose);
        declared(command, "Dockerfile's CMD", dir, parsed.expose.or(port))
    });
    Some((parsed, server))
}

/// Exec form (`["a", "b"]`) or shell form (`a b`).
#[derive(Debug, Clone)]
enum Form {
    Exec(Vec<String>),
    Shell(String),
}

fn form(rest: &str) -> Form {
    match serde_json::from_str::<Vec<String>>(rest) {
        Ok(words) if rest.starts_with('[') => Form::Exec(words),
        _ => Form::Shell(rest.to_string()),
    }
}

pub fn parse_dockerfile(text: &str) -> Dockerfile {
    let mut lines = Vec::new();
    let mut current = String::new();
    for raw in text.lines() {
        let l = raw.trim();
        if current.is_empty() && (l.is_empty() || l.starts_with('#')) {
            continue;
        }
        match l.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(l);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    let (mut expose, mut entrypoint, mut cmd, mut workdir) = (None, None, None, String::new());
    for line in lines {
        let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let rest = rest.trim();
        match keyword.to_ascii_uppercase().as_str() {
            // Each stage starts over; the last one is the image.
            "FROM" => (expose, entrypoint, cmd, workdir) = (None, None, None, String::new()),
            "EXPOSE" => expose = expose.or_else(|| rest.split_whitespace().next()?.split('/').next()?.parse().ok()),
            "ENTRYPOINT" => entrypoint = Some(form(rest)),
            "CMD" => cmd = Some(form(rest)),
            "WORKDIR" => workdir = rest.trim_end_matches('/').to_string(),
            _ => {}
        }
    }
    let words = |f: Form| match f {
        Form::Exec(w) => w,
        Form::Shell(s) => vec!["sh".into(), "-c".into(), s],
    };
    let mut argv: Vec<String> = match (entrypoint, cmd) {
        (Some(Form::Shell(s)), _) => vec!["sh".into(), "-c".into(), s],
        (Some(Form::Exec(e)), Some(c)) => e.into_iter().chain(words(c)).collect(),
        (Some(e), None) => words(e),
        (None, Some(c)) => words(c),
        (None, None) => Vec::new(),
    };
    // Init wrappers the user's image installed are not in ours.
    if argv.first().is_some_and(|w| ["tini", "dumb-init"].contains(&w.rsplit('/').next().unwrap_or(w))) {
        argv.remove(0);
        if argv.first().is_some_and(|w| w == "--") {
            argv.remove(0);
        }
    }
    let command = match argv.as_slice() {
        [] => None,
        [sh, c, script] if ["sh", "/bin/sh", "bash", "/bin/bash"].contains(&sh.as_str()) && c == "-c" => Some(script.clone()),
        _ => Some(argv.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ")),
    };
    // Our image runs in /app: the Dockerfile's WORKDIR prefix becomes relative.
    let command = command.map(|c| match workdir.as_str() {
        "" | "/" | "/app" => c,
        w => c.split(' ').map(|word| word.strip_prefix(&format!("{w}/")).unwrap_or(word)).collect::<Vec<_>>().join(" "),
    });
    Dockerfile { expose, command }
}

/// A word as `sh` reads it back: unquoted when it holds only plain characters.
fn shell_quote(word: &str) -> String {
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "_-./:=,@%+[]".contains(c)) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// `command` with the port it listens on (`--port 8080`, `--port=8080`, `-p 8080`,
/// `--server.port=8501`, `--bind 0.0.0.0:8080`, `-b :8080`) replaced by `$PORT`, and
/// that port. With `want`, only that port is replaced. A command that already uses
/// `$PORT` is kept as it is.
pub fn port_to_env(command: &str, want: Option<u16>) -> (String, Option<u16>) {
    if command.contains("$PORT") || command.contains("${PORT") {
        return (command.to_string(), None);
    }
    let mut found = None;
    let mut take = |p: &str| -> bool {
        match p.parse::<u16>() {
            Ok(n) if want.is_none_or(|w| w == n) && found.is_none_or(|f| f == n) => {
                found = Some(n);
                true
            }
            _ => false,
        }
    };
    let words: Vec<&str> = command.split(' ').collect();
    let mut out = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let prev = if i > 0 { words[i - 1] } else { "" };
        let replaced = if is_port_flag(prev) && take(word) {
            Some("$PORT".to_string())
        } else if let Some((flag, value)) = word.split_once('=').filter(|(f, _)| f.starts_with('-')) {
            if is_port_flag(flag) && take(value) {
                Some(format!("{flag}=$PORT"))
            } else {
                host_port(value).filter(|(_, p)| take(p)).map(|(h, _)| format!("{flag}={h}:$PORT"))
            }
        } else {
            host_port(word).filter(|(_, p)| take(p)).map(|(h, _)| format!("{h}:$PORT"))
        };
        out.push(replaced.unwrap_or_else(|| word.to_string()));
    }
    (out.join(" "), found)
}

fn is_port_flag(word: &str) -> bool {
    let w = word.to_ascii_lowercase();
    w.starts_with('-') && (w == "-p" || w.trim_start_matches('-').ends_with("port"))
}

/// `0.0.0.0:8080`, `:8080`, `[::]:8080`, `127.0.0.1:8080`, `localhost:8080`.
fn host_port(word: &str) -> Option<(&str, &str)> {
    let (host, port) = word.rsplit_once(':')?;
    let is_host = host.is_empty() || host == "localhost" || host == "[::]" || host.parse::<std::net::Ipv4Addr>().is_ok();
    (is_host && !port.is_empty() && port.chars().all(|c| c.is_ascii_digit())).then_some((host, port))
}

/// A Django project without gunicorn: Django's own server, on `$PORT` (without the
/// autoreloader, which restarts on file changes and doubles the processes).
pub fn django_runserver() -> Server {
    Server {
        command: "python3 manage.py runserver 0.0.0.0:$PORT --noreload".into(),
        what: "Django project manage.py".into(),
        note: "Django's development server; add gunicorn to the requirements for production".into(),
        file: Some("manage.py".into()),
        port: Some(8000),
        health: None,
    }
}

/// The script a bare `main.py`, `app.py` or `server.py` is, when nothing else tells.
/// Generated commands say `python3`: a base image with Debian's python3 has no `python`.
pub fn fallback(dir: &Path) -> Option<Server> {
    let file = ["main.py", "app.py", "server.py"].into_iter().find(|f| dir.join(f).is_file())?;
    Some(Server {
        command: format!("python3 {file}"),
        what: format!("command python3 {file}"),
        note: "must listen on $PORT".into(),
        file: Some(file.into()),
        port: None,
        health: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_cmd_in_exec_and_shell_form_with_its_port_as_port_var() {
        let d = parse_dockerfile(
            "FROM python:3.11 AS build\nCMD [\"true\"]\nFROM python:3.11-slim\nWORKDIR /code\n# the app\nEXPOSE 8080/tcp\n\
             CMD [\"uvicorn\", \"main:app\", \"--host\", \"0.0.0.0\", \\\n     \"--port\", \"8080\"]\n",
        );
        assert_eq!(d, Dockerfile { expose: Some(8080), command: Some("uvicorn main:app --host 0.0.0.0 --port 8080".into()) });
        assert_eq!(
            port_to_env(d.command.as_deref().unwrap(), d.expose),
            ("uvicorn main:app --host 0.0.0.0 --port $PORT".into(), Some(8080))
        );

        let shell = parse_dockerfile("FROM x\nWORKDIR /srv/app\ncmd streamlit run /srv/app/app.py --server.port=8501\n");
        assert_eq!(shell.command.as_deref(), Some("streamlit run app.py --server.port=8501"));
        assert_eq!(port_to_env(shell.command.as_deref().unwrap(), None), ("streamlit run app.py --server.port=$PORT".into(), Some(8501)));

        // `sh -c` is unwrapped; tini goes (our image has none); quoting survives.
        let d = parse_dockerfile("FROM x\nENTRYPOINT [\"tini\", \"--\"]\nCMD [\"sh\", \"-c\", \"gunicorn -b :$PORT app:app\"]\n");
        assert_eq!(d.command.as_deref(), Some("gunicorn -b :$PORT app:app"));
        let d = parse_dockerfile("FROM x\nENTRYPOINT [\"python\"]\nCMD [\"serve.py\", \"--greeting\", \"hello world\"]\n");
        assert_eq!(d.command.as_deref(), Some("python serve.py --greeting 'hello world'"));
        assert_eq!(parse_dockerfile("FROM x\nRUN pip install x\n").command, None);
    }

    #[test]
    fn only_the_listen_port_becomes_port_var() {
        for (given, want, port) in [
            ("gunicorn -b 0.0.0.0:8000 -w 4 app:app", "gunicorn -b 0.0.0.0:$PORT -w 4 app:app", Some(8000)),
            ("gunicorn --bind=:5000 app:app", "gunicorn --bind=:$PORT app:app", Some(5000)),
            ("python app.py -p 7860", "python app.py -p $PORT", Some(7860)),
            ("python app.py --workers 4", "python app.py --workers 4", None),
            ("uvicorn main:app --port $PORT", "uvicorn main:app --port $PORT", None),
        ] {
            assert_eq!(port_to_env(given, None), (want.to_string(), port), "{given}");
        }
        // With EXPOSE 9000, a different port in the command is left alone.
        assert_eq!(port_to_env("uvicorn m:app --port 8000", Some(9000)), ("uvicorn m:app --port 8000".into(), None));
    }

    #[test]
    fn frameworks_by_their_imports() {
        assert_eq!(framework_of("import streamlit as st\nst.title('x')\n"), Some(Framework::Streamlit));
        assert_eq!(framework_of("from streamlit.components.v1 import html\n"), Some(Framework::Streamlit));
        assert_eq!(framework_of("import streamlit_extras\n"), None);
        assert_eq!(framework_of("import chainlit as cl\n"), Some(Framework::Chainlit));
        assert_eq!(framework_of("import gradio as gr\ndemo = gr.Blocks()\ndemo.queue().launch()\n"), Some(Framework::Gradio));
        // A module that only uses Gradio's client starts no server.
        assert_eq!(framework_of("import gradio as gr\nx = gr.Textbox()\n"), None);
        assert!(fixed_launch_setting("demo.launch(server_name=\"127.0.0.1\", server_port=7861)"));
        assert!(!fixed_launch_setting("demo.launch(server_port=int(os.environ['PORT']))"));
    }

    #[test]
    fn scripts_that_read_port_and_their_default() {
        assert_eq!(reads_port("port = int(os.environ.get(\"PORT\", 8080))\n"), Some(Some(8080)));
        assert_eq!(reads_port("port = int(os.getenv('PORT', '5001'))\n"), Some(Some(5001)));
        assert_eq!(reads_port("port = int(os.environ[\"PORT\"])\n"), Some(None));
        assert_eq!(reads_port("PORT = 8000\n"), None);
    }
}
