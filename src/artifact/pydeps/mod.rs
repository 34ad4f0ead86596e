//! Python dependencies for the *target* platform (Linux x86_64 or arm64, a CPython
//! version), whatever this machine is: wheels only, installed into a flat `--target`
//! directory that an artifact ships as its site-packages.
//!
//! Installs with uv (`uv pip install --target --python-platform --python-version
//! --only-binary :all:`) when it is on PATH, else with pip (`--platform --implementation
//! cp --python-version --only-binary=:all:`). Results are cached under
//! `cache_dir()/deps/<key>`, the key a hash of (requirement lines and the files they
//! include, platform, Python version, installer, and the installer's index and
//! constraint settings: `settings`): a warm rebuild runs neither uv nor pip.
//! A uv project's `uv.lock` is installed the same way ([`install_locked_for_target`]),
//! keyed by the lock's bytes, with the lock's hashes required.
//!
//! Not hashed: the contents of local paths named in requirements (`./wheels/x.whl`,
//! `-e .`); an unpinned requirement stays cached at the version first resolved until
//! the requirements or settings change, or `--refresh` installs again.
//! Which index or wheel folder is used is left to uv's and pip's own settings
//! (`UV_*`/`PIP_*` variables, config files), so this code stays index-agnostic.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::artifact::python::{which, Requirements};
use crate::engine::Reporter;
use crate::envvars;
use crate::error::{Hinted, UsageError};
use crate::util::{cache_dir, tail, write_atomic, FileLock};

mod diagnose;
pub mod settings;
use diagnose::explain_failure;
pub use diagnose::{diagnose, InstallProblem};

/// The CPU architecture an artifact runs on (always Linux: every target runs Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Arch {
    #[default]
    X86_64,
    Arm64,
}

impl Arch {
    /// uv's `--python-platform` value. manylinux2014 (glibc 2.17) runs on every Lambda
    /// Python runtime and on Debian-based images.
    pub fn uv_platform(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-manylinux2014",
            Arch::Arm64 => "aarch64-manylinux2014",
        }
    }

    /// pip's `--platform` value.
    pub fn pip_platform(self) -> &'static str {
        match self {
            Arch::X86_64 => "manylinux2014_x86_64",
            Arch::Arm64 => "manylinux2014_aarch64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        })
    }
}

impl FromStr for Arch {
    type Err = UsageError;

    /// Accepts `x86_64`, `amd64`, `arm64`, `aarch64`, with or without a `linux/` prefix.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().trim_start_matches("linux/") {
            "x86_64" | "amd64" | "x86-64" => Ok(Arch::X86_64),
            "arm64" | "aarch64" | "arm64/v8" => Ok(Arch::Arm64),
            other => Err(UsageError::new(format!("unknown architecture `{other}`"))
                .hint("use `x86_64` (also `amd64`, the default) or `arm64` (also `aarch64`)")),
        }
    }
}

/// What the dependencies are installed for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetPlatform {
    pub arch: Arch,
    /// CPython `major.minor`, e.g. `3.11`.
    pub python: String,
}

impl TargetPlatform {
    pub fn new(arch: Arch, python: impl Into<String>) -> Self {
        TargetPlatform { arch, python: python.into() }
    }

    fn validate(&self) -> Result<()> {
        let ok = self.python.split_once('.').is_some_and(|(a, b)| a == "3" && !b.is_empty() && b.chars().all(|c| c.is_ascii_digit()));
        if !ok {
            return Err(UsageError::new(format!("Python version `{}` is not of the form 3.N", self.python))
                .hint("set `runtime = \"python3.11\"` (or another 3.N) in [app]")
                .into());
        }
        Ok(())
    }
}

impl fmt::Display for TargetPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "linux {} (manylinux2014), CPython {}", self.arch, self.python)
    }
}

/// An installed, import-ready dependency set: `dir` goes on the target's `sys.path`.
/// It holds packages only: console scripts (`bin/`, whose shebangs name this machine's
/// interpreter) and installer bookkeeping that varies per machine are removed. Images
/// get the console scripts back, written for their own Python (`oci::scripts`).
#[derive(Debug, Clone)]
pub struct DepsDir {
    pub dir: PathBuf,
    /// The cache key: a hash of what was installed and for what.
    pub key: String,
    /// True when found in the cache (no installer ran).
    pub cached: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Installer {
    Uv,
    Pip,
}

impl Installer {
    fn name(self) -> &'static str {
        match self {
            Installer::Uv => "uv",
            Installer::Pip => "pip",
        }
    }
}

const COMPLETE: &str = "complete.json";
const KEY_VERSION: &str = "aideploy-deps-v2";

/// The cache key of `reqs` for `platform` when installed by `installer`.
fn cache_key(reqs: &Requirements, platform: &TargetPlatform, installer: Installer) -> Result<String> {
    let mut h = Sha256::new();
    for part in [KEY_VERSION, platform.arch.uv_platform(), &platform.python, installer.name()] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    // The lines and every file they include (`-r`, `-c`), as python::requirements hashed
    // them, and the installer's index and constraint settings.
    h.update(reqs.fingerprint.as_bytes());
    h.update(settings::fingerprint().as_bytes());
    Ok(hex::encode(h.finalize())[..24].to_string())
}

fn preferred_installer() -> Option<Installer> {
    if which("uv").is_some() {
        Some(Installer::Uv)
    } else if pip_python().is_some() {
        Some(Installer::Pip)
    } else {
        None
    }
}

/// The interpreter whose pip does the fallback install: `$AIDEPLOY_PYTHON`, else
/// `python3` on PATH. Any version will do: pip resolves for `--python-version`.
fn pip_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(envvars::AIDEPLOY_PYTHON).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    which("python3")
}

/// Installs `reqs` for `platform`, or finds them in the cache.
pub fn install_for_target(reqs: &Requirements, platform: &TargetPlatform, r: &dyn Reporter) -> Result<DepsDir> {
    platform.validate()?;
    let root = cache_dir()?.join("deps");
    fs_err::create_dir_all(&root)?;
    let preferred = preferred_installer();
    // A result from either installer is valid; look for the one we would use first.
    let order = match preferred {
        Some(Installer::Pip) => [Installer::Pip, Installer::Uv],
        _ => [Installer::Uv, Installer::Pip],
    };
    let mut refreshing = false;
    for installer in order {
        let key = cache_key(reqs, platform, installer)?;
        if settings::refresh_once(&key) {
            refreshing = true;
            break;
        }
        if root.join(&key).join(COMPLETE).is_file() {
            r.detail(&format!("dependencies for {platform} are cached ({key})"));
            let loose = settings::unpinned(&reqs.lines);
            if !loose.is_empty() {
                r.detail(&format!(
                    "not pinned, so kept at the versions first installed: {} (`--refresh` resolves them again)",
                    loose.join(", ")
                ));
            }
            return Ok(cached(&root, &key));
        }
    }
    let Some(installer) = preferred else {
        return Err(Hinted::new(
            "cannot install the Python dependencies: neither uv nor python3 (with pip) is on PATH",
            format!("install uv (`pip install uv`, or see its docs), or point {} at a Python with pip", envvars::AIDEPLOY_PYTHON),
        )
        .into());
    };
    let key = cache_key(reqs, platform, installer)?;
    r.progress(&format!("installing {} requirements for {platform} with {}", reqs.lines.len(), installer.name()));
    install_into_cache(&root, &key, platform, installer, refreshing, r, |work| {
        install(installer, reqs, platform, work)?;
        Ok(reqs.lines.clone())
    })
}

/// True when `project` is a uv project with a lock file.
pub fn has_uv_lock(project: &Path) -> bool {
    project.join("uv.lock").is_file()
}

/// Installs a uv project's locked dependencies for `platform`, or finds them in the
/// cache: `uv.lock` as `uv export --frozen` lists them (no dev dependencies, not the
/// project itself, whose code ships as source), then `uv pip install --target` as for
/// requirements. Keyed by the bytes of `uv.lock` and `pyproject.toml`, so a warm rebuild
/// runs no uv at all. A lock needs uv: pip cannot read it.
pub fn install_locked_for_target(project: &Path, platform: &TargetPlatform, r: &dyn Reporter) -> Result<DepsDir> {
    platform.validate()?;
    let lock = project.join("uv.lock");
    let lock_bytes = fs_err::read(&lock)?;
    let mut h = Sha256::new();
    for part in ["aideploy-deps-lock-v2", platform.arch.uv_platform(), &platform.python, Installer::Uv.name()] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    h.update(Sha256::digest(&lock_bytes));
    h.update(Sha256::digest(fs_err::read(project.join("pyproject.toml")).unwrap_or_default()));
    h.update(settings::fingerprint().as_bytes());
    let key = hex::encode(h.finalize())[..24].to_string();
    let root = cache_dir()?.join("deps");
    fs_err::create_dir_all(&root)?;
    let refreshing = settings::refresh_once(&key);
    if root.join(&key).join(COMPLETE).is_file() && !refreshing {
        r.detail(&format!("locked dependencies for {platform} are cached ({key})"));
        return Ok(cached(&root, &key));
    }
    if which("uv").is_none() {
        return Err(Hinted::new(
            format!("{} needs uv to install, and uv is not on PATH", lock.display()),
            "install uv (`pip install uv`), or export the lock with `uv export --no-dev --no-emit-project -o requirements.txt` and set `requirements = \"requirements.txt\"` in [app]",
        )
        .into());
    }
    r.progress(&format!("installing the locked dependencies for {platform} with uv"));
    install_into_cache(&root, &key, platform, Installer::Uv, refreshing, r, |work| {
        let exported = work.join("exported.txt");
        let mut cmd = Command::new("uv");
        // With the lock's hashes: the install checks every file against them.
        cmd.args(["export", "--frozen", "--no-dev", "--no-emit-project", "--format", "requirements-txt"])
            .arg("--output-file")
            .arg(&exported)
            .current_dir(project);
        let shown = format!("{cmd:?}").replace('"', "");
        let out = cmd.output().with_context(|| format!("cannot run {shown}"))?;
        if !out.status.success() {
            return Err(Hinted::new(
                format!("cannot read {}:\n{}", lock.display(), tail(&String::from_utf8_lossy(&out.stderr), 10)),
                "run `uv lock` in the project to bring the lock up to date",
            )
            .into());
        }
        let reqs = Requirements::from_file(&exported)?;
        install(Installer::Uv, &reqs, platform, work)?;
        Ok(reqs.lines)
    })
}

/// Runs `fill` on a fresh work folder (`site/` inside is the target), normalizes the
/// result and moves it into the cache as `root/key`, under a lock; a failure leaves
/// nothing behind.
fn install_into_cache(
    root: &Path,
    key: &str,
    platform: &TargetPlatform,
    installer: Installer,
    refreshing: bool,
    r: &dyn Reporter,
    fill: impl FnOnce(&Path) -> Result<Vec<String>>,
) -> Result<DepsDir> {
    let final_dir = root.join(key);
    let _lock = FileLock::acquire(&root.join(format!("{key}.lock")))?;
    if final_dir.join(COMPLETE).is_file() && !refreshing {
        return Ok(cached(root, key));
    }
    let tmp = root.join(format!("{key}.partial"));
    if tmp.exists() {
        fs_err::remove_dir_all(&tmp)?;
    }
    if final_dir.exists() {
        fs_err::remove_dir_all(&final_dir)?;
    }
    fs_err::create_dir_all(tmp.join("site"))?;
    let started = std::time::Instant::now();
    let result = fill(&tmp).and_then(|lines| normalize(&tmp.join("site")).map(|()| lines));
    let lines = match result {
        Ok(lines) => lines,
        Err(e) => {
            let _ = fs_err::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let contents = contents_digest(&tmp.join("site"))?;
    let record = serde_json::json!({
        "installer": installer.name(),
        "platform": platform.arch.uv_platform(),
        "python": platform.python,
        "requirements": lines,
        "contents": contents,
    });
    fs_err::write(tmp.join(COMPLETE), serde_json::to_vec_pretty(&record)?)?;
    fs_err::rename(&tmp, &final_dir)?;
    r.detail(&format!(
        "installed {} requirements for {platform} in {:.1}s into {}",
        lines.len(),
        started.elapsed().as_secs_f64(),
        final_dir.display()
    ));
    Ok(DepsDir { dir: final_dir.join("site"), key: format!("{key}-{contents}"), cached: false })
}

/// A cached set. Its key names what is installed too (`KEY-CONTENTS`), so the zips and
/// layers made from it change when `--refresh` installed other versions under the same
/// requirements.
fn cached(root: &Path, key: &str) -> DepsDir {
    let record: serde_json::Value =
        fs_err::read(root.join(key).join(COMPLETE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let full = match record["contents"].as_str() {
        Some(c) => format!("{key}-{c}"),
        None => key.to_string(),
    };
    DepsDir { dir: root.join(key).join("site"), key: full, cached: true }
}

/// Which distributions (name and version, from their `.dist-info` folders) a site holds:
/// 12 hex digits.
fn contents_digest(site: &Path) -> Result<String> {
    let mut names: Vec<String> = Vec::new();
    if site.is_dir() {
        for entry in fs_err::read_dir(site)? {
            let name = entry?.file_name().to_string_lossy().to_string();
            if name.ends_with(".dist-info") {
                names.push(name);
            }
        }
    }
    names.sort();
    Ok(hex::encode(Sha256::digest(names.join("\n").as_bytes()))[..12].to_string())
}

fn install(installer: Installer, reqs: &Requirements, platform: &TargetPlatform, work: &Path) -> Result<()> {
    let site = work.join("site");
    if reqs.lines.is_empty() {
        return Ok(());
    }
    for args in reqs.install_runs(work)? {
        let mut cmd = match installer {
            Installer::Uv => {
                let mut c = Command::new("uv");
                c.args(["pip", "install", "--target"])
                    .arg(&site)
                    .args(["--python-platform", platform.arch.uv_platform()])
                    .args(["--python-version", &platform.python])
                    .args(["--only-binary", ":all:"])
                    .args(&args);
                if settings::refresh() && std::env::var_os("UV_OFFLINE").is_none_or(|v| v.is_empty() || v == "0" || v == "false") {
                    // uv keeps what the index said; ask it again (offline, it has no one to ask).
                    c.arg("--refresh");
                }
                c
            }
            Installer::Pip => {
                let py = pip_python().context("python3 disappeared from PATH")?;
                let mut c = Command::new(py);
                c.args(["-m", "pip", "install", "--disable-pip-version-check", "--no-compile", "--target"])
                    .arg(&site)
                    .args(["--platform", platform.arch.pip_platform()])
                    .args(["--implementation", "cp", "--python-version", &platform.python])
                    .arg("--only-binary=:all:")
                    .args(&args);
                c
            }
        };
        if let Some(dir) = reqs.source.as_ref().and_then(|s| s.parent()).filter(|d| d.is_dir()) {
            cmd.current_dir(dir);
        }
        let shown = format!("{cmd:?}").replace('"', "");
        let out = cmd.output().with_context(|| format!("cannot run {shown}"))?;
        if !out.status.success() {
            let text = format!("{}\n{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
            return Err(explain_failure(installer, &text, platform, &shown).into());
        }
    }
    Ok(())
}

/// Makes an installed `--target` folder the same on every machine: drops console
/// scripts (`bin/`, whose shebangs name this machine's interpreter), per-machine
/// installer files (uv's `uv_cache.json` with its timestamp, `.lock`), and their lines
/// in each `RECORD`.
fn normalize(site: &Path) -> Result<()> {
    for name in ["bin", ".lock"] {
        let p = site.join(name);
        if p.is_dir() {
            fs_err::remove_dir_all(&p)?;
        } else if p.exists() {
            fs_err::remove_file(&p)?;
        }
    }
    for entry in fs_err::read_dir(site)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".dist-info") || !entry.file_type()?.is_dir() {
            continue;
        }
        let info = entry.path();
        let cache_json = info.join("uv_cache.json");
        if cache_json.exists() {
            fs_err::remove_file(&cache_json)?;
        }
        let record = info.join("RECORD");
        if let Ok(text) = fs_err::read_to_string(&record) {
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| {
                    let path = l.split(',').next().unwrap_or("");
                    !(path.starts_with("bin/") || path.starts_with("../") || path.ends_with("uv_cache.json"))
                })
                .collect();
            let new = kept.join("\n") + "\n";
            if new != text {
                // A new file, not an edit in place: uv may have hard-linked this one
                // from its own cache.
                write_atomic(&record, new.as_bytes())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_parses_common_spellings_and_rejects_others() {
        assert_eq!("amd64".parse::<Arch>().unwrap(), Arch::X86_64);
        assert_eq!("linux/arm64".parse::<Arch>().unwrap(), Arch::Arm64);
        assert_eq!("aarch64".parse::<Arch>().unwrap(), Arch::Arm64);
        let e = "sparc".parse::<Arch>().unwrap_err();
        assert!(e.hint.unwrap().contains("arm64"));
    }

    #[test]
    fn bad_python_version_is_a_usage_error() {
        let e = TargetPlatform::new(Arch::X86_64, "3").validate().unwrap_err();
        assert!(crate::error::Failure::of(&e).and_then(crate::error::Failure::as_usage).is_some());
        TargetPlatform::new(Arch::X86_64, "3.12").validate().unwrap();
    }

    #[test]
    fn key_depends_on_every_input() {
        let reqs = Requirements::from_lines(vec!["fastapi".into()]);
        let x = TargetPlatform::new(Arch::X86_64, "3.11");
        let k = cache_key(&reqs, &x, Installer::Uv).unwrap();
        assert_eq!(k, cache_key(&reqs, &x, Installer::Uv).unwrap());
        assert_ne!(k, cache_key(&reqs, &x, Installer::Pip).unwrap());
        assert_ne!(k, cache_key(&reqs, &TargetPlatform::new(Arch::Arm64, "3.11"), Installer::Uv).unwrap());
        assert_ne!(k, cache_key(&reqs, &TargetPlatform::new(Arch::X86_64, "3.12"), Installer::Uv).unwrap());
        let other = Requirements::from_lines(vec!["fastapi==0.110".into()]);
        assert_ne!(k, cache_key(&other, &x, Installer::Uv).unwrap());
    }

    #[test]
    fn key_follows_included_requirement_files() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("requirements.txt"), "-r base.txt\n").unwrap();
        fs_err::write(dir.path().join("base.txt"), "numpy==1\n").unwrap();
        let file = dir.path().join("requirements.txt");
        let x = TargetPlatform::new(Arch::X86_64, "3.11");
        let k1 = cache_key(&Requirements::from_file(&file).unwrap(), &x, Installer::Uv).unwrap();
        fs_err::write(dir.path().join("base.txt"), "numpy==2\n").unwrap();
        assert_ne!(k1, cache_key(&Requirements::from_file(&file).unwrap(), &x, Installer::Uv).unwrap());
    }

    #[test]
    fn normalize_drops_scripts_and_machine_specific_files() {
        let d = tempfile::tempdir().unwrap();
        let site = d.path();
        fs_err::create_dir_all(site.join("bin")).unwrap();
        fs_err::write(site.join("bin/fastapi"), "#!/home/me/python\n").unwrap();
        fs_err::create_dir_all(site.join("fastapi-1.dist-info")).unwrap();
        fs_err::write(site.join("fastapi-1.dist-info/uv_cache.json"), "{\"timestamp\":1}").unwrap();
        fs_err::write(
            site.join("fastapi-1.dist-info/RECORD"),
            "fastapi/__init__.py,sha256=x,1\nbin/fastapi,sha256=y,2\nfastapi-1.dist-info/uv_cache.json,,\n",
        )
        .unwrap();
        normalize(site).unwrap();
        assert!(!site.join("bin").exists());
        assert!(!site.join("fastapi-1.dist-info/uv_cache.json").exists());
        assert_eq!(fs_err::read_to_string(site.join("fastapi-1.dist-info/RECORD")).unwrap(), "fastapi/__init__.py,sha256=x,1\n");
    }
}
