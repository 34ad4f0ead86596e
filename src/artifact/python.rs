//! The app's Python environment for this machine: a virtualenv with its requirements,
//! cached by a hash of (interpreter, requirements), so an unchanged rebuild is a hash
//! check. Installs with uv when it is on PATH, else with the interpreter's pip.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::artifact::reqfiles;
use crate::engine::Reporter;
use crate::envvars;
use crate::error::Hinted;
use crate::manifest::{Manifest, Runtime};
use crate::util::{cache_dir, tail, FileLock};

#[derive(Debug, Clone)]
pub struct Interpreter {
    pub path: PathBuf,
    /// `3.11`
    pub version: String,
}

/// Finds the interpreter for `runtime`: `$AIDEPLOY_PYTHON`, `python3.X`, then `python3`.
pub fn find_interpreter(runtime: &Runtime) -> Result<Interpreter> {
    let wanted = runtime.version();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os(envvars::AIDEPLOY_PYTHON) {
        candidates.push(PathBuf::from(p));
    } else {
        for name in [format!("python{wanted}"), "python3".to_string()] {
            if let Some(p) = which(&name) {
                candidates.push(p);
            }
        }
    }
    for path in candidates {
        let out = Command::new(&path).args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).output();
        if let Ok(out) = out {
            if out.status.success() {
                let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
                return Ok(Interpreter { path, version });
            }
        }
    }
    Err(Hinted::new(
        format!("no Python interpreter found for {runtime}"),
        format!("install python{wanted} (or python3), or point {} at one", envvars::AIDEPLOY_PYTHON),
    )
    .into())
}

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable_file(p))
}

fn is_executable_file(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// What to install, and where it came from.
#[derive(Debug, Clone)]
pub struct Requirements {
    /// The requirements file or pyproject.toml the list came from.
    pub source: Option<PathBuf>,
    /// Every requirement line (comments dropped), including `extra`.
    pub lines: Vec<String>,
    /// Lines aideploy adds (uvicorn for an `asgi` app that lacks it).
    pub extra: Vec<String>,
    /// Digest of the lines and of every file they include (`-r`, `-c`), for caching.
    pub fingerprint: String,
}

impl Requirements {
    /// A plain list, as if from a file without includes.
    pub fn from_lines(lines: Vec<String>) -> Requirements {
        let mut h = Sha256::new();
        for l in &lines {
            h.update(l.as_bytes());
            h.update(b"\n");
        }
        Requirements { source: None, lines, extra: Vec::new(), fingerprint: hex::encode(h.finalize()) }
    }

    /// A requirements file; its includes are part of the fingerprint.
    pub fn from_file(path: &Path) -> Result<Requirements> {
        let mut h = Sha256::new();
        hash_requirements(path, &mut h, 0)?;
        let lines = requirement_lines(&fs_err::read_to_string(path)?);
        for l in &lines {
            h.update(l.as_bytes());
            h.update(b"\n");
        }
        Ok(Requirements { source: Some(path.to_path_buf()), lines, extra: Vec::new(), fingerprint: hex::encode(h.finalize()) })
    }

    /// Adds a requirement aideploy needs (to `lines` and `extra`, and the fingerprint),
    /// unless the list already names that package.
    pub fn add_extra(&mut self, line: &str) {
        let name = requirement_name(line);
        if self.lines.iter().any(|l| requirement_name(l) == name) {
            return;
        }
        let mut h = Sha256::new();
        h.update(self.fingerprint.as_bytes());
        h.update(b"\nextra ");
        h.update(line.as_bytes());
        self.fingerprint = hex::encode(h.finalize());
        self.lines.push(line.to_string());
        self.extra.push(line.to_string());
    }

    /// Whether the list pins every requirement by hash (`--hash=sha256:...`, as
    /// `uv export` and `pip-compile --generate-hashes` write): every file installed is
    /// then checked against them. aideploy's own additions do not count.
    pub fn hashed(&self) -> bool {
        let mut own = self.lines.iter().filter(|l| !l.starts_with('-') && !self.extra.contains(l)).peekable();
        own.peek().is_some() && own.all(|l| l.contains("--hash="))
    }

    /// The installer runs, in order, each a list of arguments: `-r FILE` for a
    /// requirements file (so its own `-r`/`-c` includes resolve next to it), else a list
    /// written into `scratch`; then `extra`. A hashed list is installed with
    /// `--require-hashes`, and `extra` (which carries no hash) in a second run of its own,
    /// so adding uvicorn never turns the hash check off.
    pub fn install_runs(&self, scratch: &Path) -> Result<Vec<Vec<std::ffi::OsString>>> {
        let mut args: Vec<std::ffi::OsString> = Vec::new();
        let hashed = self.hashed();
        let separate_extra = hashed && !self.extra.is_empty();
        match &self.source {
            Some(file) if is_requirements_txt(file) => {
                args.push("-r".into());
                args.push(file.clone().into_os_string());
                if !separate_extra {
                    args.extend(self.extra.iter().map(Into::into));
                }
            }
            _ => {
                let list = scratch.join("aideploy-requirements.txt");
                let lines: Vec<&String> = self.lines.iter().filter(|l| !separate_extra || !self.extra.contains(l)).collect();
                let text: Vec<&str> = lines.iter().map(|l| l.as_str()).collect();
                fs_err::write(&list, text.join("\n") + "\n")?;
                args.push("-r".into());
                args.push(list.into_os_string());
            }
        }
        if hashed {
            args.push("--require-hashes".into());
        }
        let mut runs = vec![args];
        if separate_extra {
            runs.push(self.extra.iter().map(Into::into).collect());
        }
        Ok(runs)
    }
}

/// A pip requirements file (read by uv/pip themselves), not a pyproject.toml,
/// Pipfile.lock or conda environment file (read here into a list).
fn is_requirements_txt(p: &Path) -> bool {
    reqfiles::format_of(p) == reqfiles::Format::RequirementsTxt
}

/// The requirement lines of a requirements file, comments dropped and `\`-continued
/// lines joined (a hashed requirement spans several).
fn requirement_lines(text: &str) -> Vec<String> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for raw in text.lines() {
        let line = if raw.trim_start().starts_with('#') { "" } else { raw.split(" #").next().unwrap_or("") };
        match line.trim_end().strip_suffix('\\') {
            Some(head) => {
                current.push_str(head.trim());
                current.push(' ');
            }
            None => {
                current.push_str(line.trim());
                joined.push(std::mem::take(&mut current).trim().to_string());
            }
        }
    }
    joined.push(current.trim().to_string());
    joined.into_iter().filter(|l| !l.is_empty()).collect()
}

/// Hashes a requirements file and, recursively, the files it includes.
fn hash_requirements(file: &Path, h: &mut Sha256, depth: u32) -> Result<()> {
    let text = fs_err::read_to_string(file)?;
    h.update(text.as_bytes());
    if depth > 8 {
        return Ok(());
    }
    for line in requirement_lines(&text) {
        let include =
            ["-r ", "--requirement ", "-c ", "--constraint ", "--requirement=", "--constraint="].iter().find_map(|p| line.strip_prefix(p));
        if let Some(rel) = include {
            let path = file.parent().unwrap_or(Path::new(".")).join(rel.trim());
            if path.is_file() {
                hash_requirements(&path, h, depth + 1)?;
            }
        }
    }
    Ok(())
}

/// `[app] requirements`, else `requirements.txt`, else `pyproject.toml`'s
/// dependencies (PEP 621, else Poetry; see `reqfiles` for every format read). An `asgi` app gets uvicorn when the list lacks it.
pub fn requirements(manifest: &Manifest, dir: &Path) -> Result<Requirements> {
    let app = manifest.app();
    let explicit = app.requirements.as_ref().map(|r| dir.join(r.get()));
    let default_txt = dir.join("requirements.txt");
    let pyproject = dir.join("pyproject.toml");
    let source = explicit.or_else(|| default_txt.is_file().then_some(default_txt)).or_else(|| pyproject.is_file().then_some(pyproject));
    let mut h = Sha256::new();
    let mut lines = match &source {
        Some(p) if !is_requirements_txt(p) => reqfiles::read_lines(p, reqfiles::format_of(p))?,
        Some(p) => {
            hash_requirements(p, &mut h, 0)?;
            requirement_lines(&fs_err::read_to_string(p)?)
        }
        None => Vec::new(),
    };
    let mut extra = Vec::new();
    if app.asgi.is_some() && !lines.iter().any(|l| requirement_name(l) == "uvicorn") {
        extra.push("uvicorn".to_string());
        lines.push("uvicorn".into());
    }
    for l in &lines {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    Ok(Requirements { source, lines, extra, fingerprint: hex::encode(h.finalize()) })
}

/// The normalized project name of a requirement line (`Uvicorn[standard]>=0.30` -> `uvicorn`).
pub fn requirement_name(line: &str) -> String {
    line.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect::<String>()
        .to_ascii_lowercase()
        .replace(['_', '.'], "-")
}

#[derive(Debug, Clone)]
pub struct PythonEnv {
    pub dir: PathBuf,
    pub key: String,
    pub python: PathBuf,
    pub interpreter: Interpreter,
}

impl PythonEnv {
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.join("bin")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Installer {
    Uv,
    Pip,
}

const COMPLETE: &str = ".aideploy-complete";

/// Finds or builds the environment for these requirements.
pub fn ensure_env(interp: &Interpreter, reqs: &Requirements, r: &dyn Reporter) -> Result<PythonEnv> {
    let installer = if which("uv").is_some() { Installer::Uv } else { Installer::Pip };
    let mut h = Sha256::new();
    h.update(b"aideploy-venv-v1\n");
    h.update(interp.path.to_string_lossy().as_bytes());
    h.update(b"\n");
    h.update(interp.version.as_bytes());
    h.update(b"\n");
    h.update(reqs.fingerprint.as_bytes());
    h.update(crate::artifact::pydeps::settings::fingerprint().as_bytes());
    let base = hex::encode(h.finalize())[..16].to_string();
    let root = cache_dir()?.join("venvs");
    fs_err::create_dir_all(&root)?;
    // `--refresh` installs into a new generation of the environment: a local app still
    // running from the previous one keeps its files.
    let generation_file = root.join(format!("{base}.generation"));
    let generation = || fs_err::read_to_string(&generation_file).ok().and_then(|g| g.trim().parse::<u32>().ok()).unwrap_or(0);
    let named = |g: u32| if g == 0 { base.clone() } else { format!("{base}-{g}") };
    let refresh = crate::artifact::pydeps::settings::refresh_once(&base);
    let at = |key: String| {
        let dir = root.join(&key);
        PythonEnv { python: dir.join("bin").join("python"), dir, key, interpreter: interp.clone() }
    };
    // A cached environment counts only while its interpreter is there: a damaged cache
    // or a removed base Python (its symlink dangles) is rebuilt, not reported forever.
    let usable = |env: &PythonEnv| env.dir.join(COMPLETE).is_file() && env.python.exists();
    let env = at(named(generation()));
    if !refresh && usable(&env) {
        r.detail(&format!("Python environment {} is cached", env.key));
        return Ok(env);
    }
    let _lock = FileLock::acquire(&root.join(format!("{base}.lock")))?;
    let env = at(named(generation()));
    if !refresh && usable(&env) {
        return Ok(env);
    }
    let next = if refresh { generation() + 1 } else { generation() };
    let env = at(named(next));
    let dir = env.dir.clone();
    if dir.exists() {
        fs_err::remove_dir_all(&dir)?;
    }
    let n = reqs.lines.len();
    r.progress(&format!("creating a Python {} environment with {}", interp.version, if installer == Installer::Uv { "uv" } else { "pip" }));
    let result = create(installer, interp, &dir, reqs, r);
    if let Err(e) = result {
        let _ = fs_err::remove_dir_all(&dir);
        return Err(e);
    }
    fs_err::write(dir.join(COMPLETE), reqs.lines.join("\n"))?;
    if next != generation() {
        crate::util::write_atomic(&generation_file, next.to_string().as_bytes())?;
    }
    r.detail(&format!("installed {n} requirements into {}", dir.display()));
    Ok(env)
}

fn create(installer: Installer, interp: &Interpreter, dir: &Path, reqs: &Requirements, r: &dyn Reporter) -> Result<()> {
    let py = dir.join("bin").join("python");
    let mut venv = match installer {
        Installer::Uv => {
            let mut c = Command::new("uv");
            c.arg("venv").arg("--quiet").arg("--python").arg(&interp.path).arg(dir);
            c
        }
        Installer::Pip => {
            let mut c = Command::new(&interp.path);
            c.args(["-m", "venv"]).arg(dir);
            c
        }
    };
    run(&mut venv, "creating the virtualenv")?;
    if reqs.lines.is_empty() {
        return Ok(());
    }
    r.progress(&format!("installing {} requirements", reqs.lines.len()));
    for args in reqs.install_runs(dir)? {
        let mut install = match installer {
            Installer::Uv => {
                let mut c = Command::new("uv");
                c.args(["pip", "install", "--quiet", "--python"]).arg(&py).args(&args);
                c
            }
            Installer::Pip => {
                let mut c = Command::new(&py);
                c.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).args(&args);
                c
            }
        };
        if let Some(src) = reqs.source.as_ref().and_then(|s| s.parent()) {
            install.current_dir(src);
        }
        run(&mut install, "installing the requirements")?;
    }
    Ok(())
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let shown = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().with_context(|| format!("{what}: cannot run {shown}"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let text = if stderr.trim().is_empty() { stdout } else { stderr };
    Err(Hinted::new(format!("{what} failed:\n{}", tail(&text, 15)), format!("check the requirements; aideploy ran: {shown}")).into())
}

#[cfg(test)]
mod tests {
    use super::requirement_name;

    #[test]
    fn includes_change_the_fingerprint() {
        let t = tempfile::tempdir().unwrap();
        fs_err::write(t.path().join("requirements.txt"), "-r base.txt\nfastapi\n").unwrap();
        fs_err::write(t.path().join("base.txt"), "numpy==1\n").unwrap();
        let text = "version = 1\n[app]\nname = \"a\"\nasgi = \"m:app\"\n";
        let m = crate::manifest::parse(text, "x").unwrap();
        let a = super::requirements(&m, t.path()).unwrap();
        assert_eq!(a.extra, vec!["uvicorn"]);
        fs_err::write(t.path().join("base.txt"), "numpy==2\n").unwrap();
        let b = super::requirements(&m, t.path()).unwrap();
        assert_ne!(a.fingerprint, b.fingerprint);
        let runs = b.install_runs(t.path()).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0][0], "-r");
        assert!(runs[0][1].to_string_lossy().ends_with("requirements.txt"));
        assert_eq!(runs[0][2], "uvicorn");
    }

    /// A hashed list keeps its hash check: `--require-hashes`, and aideploy's own
    /// addition (no hash) installed in a run of its own.
    #[test]
    fn hashed_requirements_are_installed_with_their_hashes_required() {
        let t = tempfile::tempdir().unwrap();
        let hashed = "# exported\nfastapi==0.115.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via app\nstarlette==0.38.6 --hash=sha256:cc  # pinned\n";
        fs_err::write(t.path().join("requirements.txt"), hashed).unwrap();
        let text = "version = 1\n[app]\nname = \"a\"\nasgi = \"m:app\"\n";
        let m = crate::manifest::parse(text, "x").unwrap();
        let reqs = super::requirements(&m, t.path()).unwrap();
        assert_eq!(reqs.lines, ["fastapi==0.115.0 --hash=sha256:aa --hash=sha256:bb", "starlette==0.38.6 --hash=sha256:cc", "uvicorn"]);
        assert!(reqs.hashed());
        let runs = reqs.install_runs(t.path()).unwrap();
        assert_eq!(runs.len(), 2);
        assert!(runs[0].iter().any(|a| a == "--require-hashes"));
        assert!(!runs[0].iter().any(|a| a == "uvicorn"));
        assert_eq!(runs[1], ["uvicorn"]);
        // Without hashes: one run, no hash flag.
        fs_err::write(t.path().join("requirements.txt"), "fastapi\n").unwrap();
        let plain = super::requirements(&m, t.path()).unwrap().install_runs(t.path()).unwrap();
        assert_eq!(plain.len(), 1);
        assert!(!plain[0].iter().any(|a| a == "--require-hashes"));
    }

    #[test]
    fn names() {
        assert_eq!(requirement_name("Uvicorn[standard]>=0.30"), "uvicorn");
        assert_eq!(requirement_name("typing_extensions==4"), "typing-extensions");
    }
}
