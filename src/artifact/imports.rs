//! Third-party modules the entry point imports that no requirement names: the app
//! would start locally (where they happen to be installed) and fail in the artifact
//! with `No module named ...`. `validate` and `build` warn about each.
//!
//! The entry file is found from `asgi` (`pkg.main:app` -> `pkg/main.py`) or the
//! `command` (`python server.py`, `gunicorn main:app`); its imports are read, and those
//! of the app's own modules it imports, up to a few dozen files. Imports inside `try:`
//! or `if ...:` blocks are optional by intent and not reported. A module counts as named
//! when a requirement is its distribution (`yaml` -> `pyyaml`, see `DISTS`), or a
//! requirement that installs it anyway (`fastapi` brings `starlette`, see `BROUGHT`).

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use crate::artifact::python::{self, requirement_name};
use crate::manifest::Manifest;

/// One module the app imports that no requirement names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlisted {
    /// The file that imports it, relative to the app folder.
    pub file: String,
    pub module: String,
    /// The distribution to add (the module's name when no other is known).
    pub dist: String,
}

/// Every unlisted import of the app of `manifest` in `dir`, as warning lines.
pub fn warnings(manifest: &Manifest, dir: &Path) -> Vec<String> {
    let Ok(reqs) = python::requirements(manifest, dir) else { return Vec::new() };
    let source = reqs.source.as_ref().map(|s| s.strip_prefix(dir).unwrap_or(s).display().to_string());
    let names = requirement_names(&reqs.lines, reqs.source.as_deref());
    let entry = entry_files(manifest, dir);
    unlisted(dir, &entry, &names)
        .into_iter()
        .map(|u| match &source {
            Some(s) => format!(
                "{} imports `{}`, which no requirement in {s} names: add `{}` there (or point `requirements` in [app] at the file that lists it)",
                u.file, u.module, u.dist
            ),
            None => format!(
                "{} imports `{}`, but the app names no requirements (no requirements.txt or pyproject.toml next to the manifest): \
                 list `{}` in one, or set `requirements` in [app]",
                u.file, u.module, u.dist
            ),
        })
        .collect()
}

/// Normalized names of the requirements, following `-r` includes of a requirements file.
fn requirement_names(lines: &[String], source: Option<&Path>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut queue: Vec<(String, Option<PathBuf>, u32)> =
        lines.iter().map(|l| (l.clone(), source.and_then(Path::parent).map(Path::to_path_buf), 0)).collect();
    while let Some((line, base, depth)) = queue.pop() {
        let include = ["-r ", "--requirement ", "--requirement="].iter().find_map(|p| line.strip_prefix(p)).map(str::trim);
        match (include, &base) {
            (Some(rel), Some(base)) if depth < 8 => {
                let path = base.join(rel);
                if let Ok(text) = std::fs::read_to_string(&path) {
                    for l in
                        text.lines().map(|l| l.split(" #").next().unwrap_or("").trim()).filter(|l| !l.is_empty() && !l.starts_with('#'))
                    {
                        queue.push((l.to_string(), path.parent().map(Path::to_path_buf), depth + 1));
                    }
                }
            }
            _ => {
                let n = requirement_name(&line);
                if !n.is_empty() {
                    names.insert(n);
                }
            }
        }
    }
    names
}

/// The files the app starts from, relative to `dir`, that exist.
pub fn entry_files(manifest: &Manifest, dir: &Path) -> Vec<String> {
    let app = manifest.app();
    let mut modules: Vec<String> = Vec::new();
    let mut files: Vec<String> = Vec::new();
    if let Some(asgi) = &app.asgi {
        modules.push(asgi.get().to_string().split(':').next().unwrap_or("").to_string());
    }
    if let Some(cmd) = &app.command {
        for word in cmd.get().split_whitespace().map(|w| w.trim_matches(|c| c == '"' || c == '\'')) {
            if word.ends_with(".py") && !word.starts_with('-') {
                files.push(word.trim_start_matches("./").to_string());
            } else if let Some((m, attr)) = word.split_once(':') {
                let ident =
                    |s: &str| !s.is_empty() && s.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c == '_' || c.is_alphanumeric()));
                if ident(m) && ident(attr.trim_end_matches("()")) {
                    modules.push(m.to_string());
                }
            }
        }
    }
    for m in modules {
        if let Some(f) = module_file(dir, &m) {
            files.push(f);
        }
    }
    files.retain(|f| dir.join(f).is_file());
    files.dedup();
    files
}

/// `pkg.main` -> `pkg/main.py` or `pkg/main/__init__.py`, at the top or under `src/`.
fn module_file(dir: &Path, module: &str) -> Option<String> {
    let rel = module.replace('.', "/");
    [format!("{rel}.py"), format!("{rel}/__init__.py"), format!("src/{rel}.py"), format!("src/{rel}/__init__.py")]
        .into_iter()
        .find(|c| dir.join(c).is_file())
}

/// The unlisted imports of `entry` and of the app's own modules they import.
pub fn unlisted(dir: &Path, entry: &[String], requirements: &BTreeSet<String>) -> Vec<Unlisted> {
    const MAX_FILES: usize = 40;
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut reported: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<String> = entry.iter().cloned().collect();
    let mut out = Vec::new();
    while let Some(file) = queue.pop_front() {
        if !seen.insert(file.clone()) || seen.len() > MAX_FILES {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(dir.join(&file)) else { continue };
        let here = Path::new(&file).parent().map(Path::to_path_buf).unwrap_or_default();
        for (module, full) in imports(&text) {
            if let Some(local) = local_module(dir, &here, &full).or_else(|| local_module(dir, &here, &module)) {
                queue.push_back(local);
                continue;
            }
            if is_local_name(dir, &here, &module) || STDLIB.binary_search(&module.as_str()).is_ok() || module.starts_with('_') {
                continue;
            }
            if provided(&module, requirements) || !reported.insert(module.clone()) {
                continue;
            }
            let dist = DISTS.iter().find(|(m, _)| *m == module).and_then(|(_, d)| d.first()).map(|d| d.to_string());
            out.push(Unlisted { file: file.clone(), dist: dist.unwrap_or_else(|| module.replace('_', "-")), module });
        }
    }
    out
}

/// The app's own file for an import (`app.routes` -> `app/routes.py`), next to the
/// manifest, under `src/` or next to the importing file.
fn local_module(dir: &Path, here: &Path, dotted: &str) -> Option<String> {
    module_file(dir, dotted).or_else(|| {
        let rel = dotted.replace('.', "/");
        [format!("{rel}.py"), format!("{rel}/__init__.py")]
            .into_iter()
            .map(|c| here.join(c).to_string_lossy().replace('\\', "/"))
            .find(|c| dir.join(c).is_file())
    })
}

/// A folder or file of the app with this top-level name (a namespace package too).
fn is_local_name(dir: &Path, here: &Path, top: &str) -> bool {
    [dir.to_path_buf(), dir.join("src"), dir.join(here)].iter().any(|d| d.join(top).is_dir() || d.join(format!("{top}.py")).is_file())
}

/// Whether a requirement installs `module`: its own distribution, one of its known
/// distributions, a distribution of its namespace (`google` <- `google-cloud-storage`),
/// or a requirement known to bring it.
fn provided(module: &str, requirements: &BTreeSet<String>) -> bool {
    let norm = module.to_ascii_lowercase().replace(['_', '.'], "-");
    if requirements.contains(&norm) || requirements.iter().any(|r| r.starts_with(&format!("{norm}-"))) {
        return true;
    }
    if DISTS.iter().any(|(m, dists)| *m == module && dists.iter().any(|d| requirements.contains(*d))) {
        return true;
    }
    BROUGHT.iter().any(|(dist, mods)| requirements.contains(*dist) && mods.contains(&module))
}

/// `(top-level module, full dotted name)` of each unconditional absolute import.
pub fn imports(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // Open block headers (indent, text): an import under `try:`/`if`/`def` is not
    // needed to start the app, or not at import time.
    let mut blocks: Vec<(usize, String)> = Vec::new();
    let mut in_string: Option<&str> = None;
    for raw in text.lines() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if let Some(q) = in_string {
            if trimmed.contains(q) {
                in_string = None;
            }
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        for q in ["\"\"\"", "'''"] {
            if trimmed.matches(q).count() % 2 == 1 {
                in_string = Some(q);
            }
        }
        let indent = line.len() - trimmed.len();
        while blocks.last().is_some_and(|(i, _)| *i >= indent) {
            blocks.pop();
        }
        let conditional = !blocks.is_empty();
        if trimmed.ends_with(':') {
            blocks.push((indent, trimmed.to_string()));
        }
        if conditional {
            continue;
        }
        let names: Vec<String> = if let Some(rest) = trimmed.strip_prefix("import ") {
            rest.split(',').filter_map(|p| p.split_whitespace().next()).map(str::to_string).collect()
        } else if let Some(rest) = trimmed.strip_prefix("from ") {
            match rest.split_whitespace().next() {
                Some(m) if !m.starts_with('.') && rest.contains(" import") => vec![m.to_string()],
                _ => Vec::new(),
            }
        } else {
            Vec::new()
        };
        for full in names {
            let top = full.split('.').next().unwrap_or("").to_string();
            if !top.is_empty() && top.chars().all(|c| c == '_' || c.is_alphanumeric()) && top != "__future__" {
                out.push((top, full));
            }
        }
    }
    out
}

/// Modules whose distribution has another name (the first is suggested).
const DISTS: &[(&str, &[&str])] = &[
    ("Crypto", &["pycryptodome"]),
    ("MySQLdb", &["mysqlclient"]),
    ("OpenSSL", &["pyopenssl"]),
    ("PIL", &["pillow"]),
    ("attr", &["attrs"]),
    ("bs4", &["beautifulsoup4"]),
    ("cv2", &["opencv-python-headless", "opencv-python", "opencv-contrib-python", "opencv-contrib-python-headless"]),
    ("dateutil", &["python-dateutil"]),
    ("discord", &["discord-py"]),
    ("docx", &["python-docx"]),
    ("dotenv", &["python-dotenv"]),
    ("faiss", &["faiss-cpu", "faiss-gpu"]),
    ("fitz", &["pymupdf"]),
    ("git", &["gitpython"]),
    ("googleapiclient", &["google-api-python-client"]),
    ("grpc", &["grpcio"]),
    ("jose", &["python-jose"]),
    ("jwt", &["pyjwt"]),
    ("llama_cpp", &["llama-cpp-python"]),
    ("magic", &["python-magic"]),
    ("multipart", &["python-multipart"]),
    ("pinecone", &["pinecone", "pinecone-client"]),
    ("psycopg2", &["psycopg2-binary", "psycopg2"]),
    ("serial", &["pyserial"]),
    ("skimage", &["scikit-image"]),
    ("sklearn", &["scikit-learn"]),
    ("telegram", &["python-telegram-bot"]),
    ("websocket", &["websocket-client"]),
    ("yaml", &["pyyaml"]),
    ("zmq", &["pyzmq"]),
];

/// Modules a requirement installs with itself (its dependencies), for the common ones.
const BROUGHT: &[(&str, &[&str])] = &[
    ("anthropic", &["httpx", "pydantic", "anyio", "distro", "jiter", "sniffio", "typing_extensions"]),
    ("boto3", &["botocore", "s3transfer", "jmespath", "dateutil", "urllib3"]),
    ("chainlit", &["fastapi", "starlette", "uvicorn", "pydantic", "httpx", "dotenv"]),
    ("fastapi", &["starlette", "pydantic", "pydantic_core", "anyio", "typing_extensions", "annotated_types"]),
    ("flask", &["werkzeug", "jinja2", "click", "itsdangerous", "markupsafe", "blinker"]),
    (
        "gradio",
        &["numpy", "pandas", "PIL", "fastapi", "starlette", "uvicorn", "httpx", "huggingface_hub", "pydantic", "jinja2", "yaml", "orjson"],
    ),
    ("gunicorn", &["packaging"]),
    ("httpx", &["httpcore", "anyio", "idna", "certifi", "sniffio"]),
    ("langchain", &["langchain_core", "langchain_text_splitters", "pydantic", "yaml", "requests", "sqlalchemy"]),
    ("openai", &["httpx", "pydantic", "anyio", "distro", "jiter", "sniffio", "tqdm", "typing_extensions"]),
    ("pandas", &["numpy", "dateutil", "pytz"]),
    ("pydantic", &["pydantic_core", "typing_extensions", "annotated_types"]),
    ("requests", &["urllib3", "idna", "certifi", "charset_normalizer"]),
    ("scikit-learn", &["numpy", "scipy", "joblib", "threadpoolctl"]),
    ("sentence-transformers", &["torch", "transformers", "numpy", "sklearn", "scipy", "huggingface_hub", "PIL", "tqdm"]),
    ("streamlit", &["pandas", "numpy", "altair", "pyarrow", "PIL", "requests", "tornado", "click", "packaging", "tenacity", "toml"]),
    ("torch", &["jinja2", "sympy", "networkx", "filelock", "fsspec", "typing_extensions"]),
    ("transformers", &["numpy", "huggingface_hub", "tokenizers", "safetensors", "yaml", "requests", "tqdm", "regex", "packaging"]),
    ("uvicorn", &["click", "h11"]),
];

/// CPython 3.11's `sys.stdlib_module_names` without the private ones, sorted (plus
/// `tomllib`'s and `zoneinfo`'s era: 3.9-3.13 differ only in modules apps rarely import).
const STDLIB: &[&str] = &[
    "abc",
    "aifc",
    "antigravity",
    "argparse",
    "array",
    "ast",
    "asynchat",
    "asyncio",
    "asyncore",
    "atexit",
    "audioop",
    "base64",
    "bdb",
    "binascii",
    "bisect",
    "builtins",
    "bz2",
    "cProfile",
    "calendar",
    "cgi",
    "cgitb",
    "chunk",
    "cmath",
    "cmd",
    "code",
    "codecs",
    "codeop",
    "collections",
    "colorsys",
    "compileall",
    "concurrent",
    "configparser",
    "contextlib",
    "contextvars",
    "copy",
    "copyreg",
    "crypt",
    "csv",
    "ctypes",
    "curses",
    "dataclasses",
    "datetime",
    "dbm",
    "decimal",
    "difflib",
    "dis",
    "distutils",
    "doctest",
    "email",
    "encodings",
    "ensurepip",
    "enum",
    "errno",
    "faulthandler",
    "fcntl",
    "filecmp",
    "fileinput",
    "fnmatch",
    "fractions",
    "ftplib",
    "functools",
    "gc",
    "genericpath",
    "getopt",
    "getpass",
    "gettext",
    "glob",
    "graphlib",
    "grp",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http",
    "idlelib",
    "imaplib",
    "imghdr",
    "imp",
    "importlib",
    "inspect",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "keyword",
    "lib2to3",
    "linecache",
    "locale",
    "logging",
    "lzma",
    "mailbox",
    "mailcap",
    "marshal",
    "math",
    "mimetypes",
    "mmap",
    "modulefinder",
    "msilib",
    "msvcrt",
    "multiprocessing",
    "netrc",
    "nis",
    "nntplib",
    "nt",
    "ntpath",
    "nturl2path",
    "numbers",
    "opcode",
    "operator",
    "optparse",
    "os",
    "ossaudiodev",
    "pathlib",
    "pdb",
    "pickle",
    "pickletools",
    "pipes",
    "pkgutil",
    "platform",
    "plistlib",
    "poplib",
    "posix",
    "posixpath",
    "pprint",
    "profile",
    "pstats",
    "pty",
    "pwd",
    "py_compile",
    "pyclbr",
    "pydoc",
    "pydoc_data",
    "pyexpat",
    "queue",
    "quopri",
    "random",
    "re",
    "readline",
    "reprlib",
    "resource",
    "rlcompleter",
    "runpy",
    "sched",
    "secrets",
    "select",
    "selectors",
    "shelve",
    "shlex",
    "shutil",
    "signal",
    "site",
    "smtpd",
    "smtplib",
    "sndhdr",
    "socket",
    "socketserver",
    "spwd",
    "sqlite3",
    "sre_compile",
    "sre_constants",
    "sre_parse",
    "ssl",
    "stat",
    "statistics",
    "string",
    "stringprep",
    "struct",
    "subprocess",
    "sunau",
    "symtable",
    "sys",
    "sysconfig",
    "syslog",
    "tabnanny",
    "tarfile",
    "telnetlib",
    "tempfile",
    "termios",
    "textwrap",
    "this",
    "threading",
    "time",
    "timeit",
    "tkinter",
    "token",
    "tokenize",
    "tomllib",
    "trace",
    "traceback",
    "tracemalloc",
    "tty",
    "turtle",
    "turtledemo",
    "types",
    "typing",
    "unicodedata",
    "unittest",
    "urllib",
    "uu",
    "uuid",
    "venv",
    "warnings",
    "wave",
    "weakref",
    "webbrowser",
    "winreg",
    "winsound",
    "wsgiref",
    "xdrlib",
    "xml",
    "xmlrpc",
    "zipapp",
    "zipfile",
    "zipimport",
    "zlib",
    "zoneinfo",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn stdlib_list_is_sorted_for_binary_search() {
        assert!(STDLIB.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn reads_unconditional_absolute_imports() {
        let text = "\"\"\"Doc.\nimport notthis\n\"\"\"\nimport os, sys\nimport numpy as np\nfrom fastapi import FastAPI\nfrom . import local\nfrom .x import y\nfrom google.cloud import storage\ntry:\n    import ujson\nexcept ImportError:\n    ujson = None\nif TYPE_CHECKING:\n    import typing_only\ndef f():\n    import lazy\nimport yaml  # config\n";
        let got: Vec<String> = imports(text).into_iter().map(|(m, _)| m).collect();
        assert_eq!(got, vec!["os", "sys", "numpy", "fastapi", "google", "yaml"]);
    }

    #[test]
    fn an_import_no_requirement_names_is_reported_once_with_its_distribution() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("app")).unwrap();
        std::fs::write(
            d.path().join("app/main.py"),
            "import os\nfrom fastapi import FastAPI\nfrom starlette.requests import Request\nfrom app.routes import router\nimport yaml\n",
        )
        .unwrap();
        std::fs::write(d.path().join("app/routes.py"), "import numpy\nimport fastapi\nfrom PIL import Image\n").unwrap();
        std::fs::write(d.path().join("app/__init__.py"), "").unwrap();
        let entry = vec!["app/main.py".to_string()];
        let got = unlisted(d.path(), &entry, &set(&[]));
        let names: Vec<(&str, &str, &str)> = got.iter().map(|u| (u.file.as_str(), u.module.as_str(), u.dist.as_str())).collect();
        assert_eq!(
            names,
            vec![
                ("app/main.py", "fastapi", "fastapi"),
                ("app/main.py", "starlette", "starlette"),
                ("app/main.py", "yaml", "pyyaml"),
                ("app/routes.py", "numpy", "numpy"),
                ("app/routes.py", "PIL", "pillow"),
            ]
        );
        // fastapi brings starlette; pyyaml is yaml's distribution; pillow is PIL's.
        assert_eq!(unlisted(d.path(), &entry, &set(&["fastapi", "pyyaml", "numpy", "pillow"])), vec![]);
    }
}
