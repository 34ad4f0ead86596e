//! What besides the requirements decides which files uv or pip install: the index and
//! constraint settings in the environment and in their configuration files. They are part
//! of every dependency cache key, so changing the index, a constraint file or a config
//! file installs again instead of reusing a set resolved under other settings. And
//! `--refresh`, which resolves again whatever the cache holds (for requirements that are
//! not pinned, whose newest version moves on its own).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// Variables that change what gets resolved or from where. Not here: where caches live,
/// offline mode, verbosity (they change how, not what).
const VARIABLES: &[&str] = &[
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_NO_INDEX",
    "PIP_CONSTRAINT",
    "PIP_PRE",
    "PIP_ONLY_BINARY",
    "PIP_CONFIG_FILE",
    "UV_INDEX",
    "UV_DEFAULT_INDEX",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
    "UV_INDEX_STRATEGY",
    "UV_CONSTRAINT",
    "UV_OVERRIDE",
    "UV_PRERELEASE",
    "UV_RESOLUTION",
    "UV_EXCLUDE_NEWER",
    "UV_CONFIG_FILE",
];

/// Variables naming files (possibly several, space-separated) whose contents count too.
const FILE_VARIABLES: &[&str] = &["PIP_CONSTRAINT", "PIP_CONFIG_FILE", "UV_CONSTRAINT", "UV_OVERRIDE", "UV_CONFIG_FILE"];

/// The configuration files uv and pip read without being told.
fn config_files(var: &dyn Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("/etc/pip.conf"), PathBuf::from("/etc/xdg/pip/pip.conf"), PathBuf::from("/etc/uv/uv.toml")];
    let home = var("HOME").filter(|v| !v.is_empty()).map(PathBuf::from);
    let config_home =
        var("XDG_CONFIG_HOME").filter(|v| !v.is_empty()).map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".config")));
    if let Some(c) = config_home {
        out.push(c.join("pip").join("pip.conf"));
        out.push(c.join("uv").join("uv.toml"));
    }
    if let Some(h) = home {
        out.push(h.join(".pip").join("pip.conf"));
    }
    out
}

/// A digest of every installer setting above: names and values of the variables that
/// are set, and the bytes of each file they or the default config paths name. Index
/// URLs may hold credentials: only their digest is kept.
pub fn fingerprint() -> String {
    fingerprint_with(&|name| std::env::var_os(name))
}

fn fingerprint_with(var: &dyn Fn(&str) -> Option<OsString>) -> String {
    let mut h = Sha256::new();
    h.update(b"installer-settings-v1\n");
    for name in VARIABLES {
        if let Some(value) = var(name).filter(|v| !v.is_empty()) {
            h.update(format!("{name}={}\n", value.to_string_lossy()).as_bytes());
        }
    }
    let named: Vec<PathBuf> = FILE_VARIABLES
        .iter()
        .filter_map(|v| var(v))
        .flat_map(|v| v.to_string_lossy().split_whitespace().map(PathBuf::from).collect::<Vec<_>>())
        .collect();
    for path in named.into_iter().chain(config_files(var)) {
        if let Ok(bytes) = std::fs::read(&path) {
            h.update(format!("file {}\n", path.display()).as_bytes());
            h.update(Sha256::digest(&bytes));
        }
    }
    hex::encode(h.finalize())
}

static REFRESH: AtomicBool = AtomicBool::new(false);

/// `--refresh`: install the dependencies again this run, whatever the cache holds.
pub fn set_refresh(on: bool) {
    REFRESH.store(on, Ordering::Relaxed);
}

pub fn refresh() -> bool {
    REFRESH.load(Ordering::Relaxed)
}

/// Whether the set cached under `key` is to be installed again now: with `--refresh`, the
/// first time this run asks for it (one run may build the same set twice, e.g. a plan
/// and then the deploy).
pub fn refresh_once(key: &str) -> bool {
    static DONE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    refresh() && DONE.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_string())
}

/// Requirement lines that pin no exact version (`fastapi`, `numpy>=2`): what a cached set
/// holds of them is what was newest when it was installed.
pub fn unpinned(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.split(" --hash=").next().unwrap_or(l).trim())
        .filter(|l| !l.starts_with('-') && !l.starts_with('.') && !l.starts_with('/') && !l.contains("://"))
        .filter(|l| !l.contains("==") && !l.contains(" @ "))
        .map(crate::artifact::python::requirement_name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_change_the_fingerprint() {
        use std::collections::HashMap;
        let dir = tempfile::tempdir().unwrap();
        let of = |vars: &[(&str, OsString)]| {
            let mut map: HashMap<String, OsString> = vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            map.insert("HOME".into(), dir.path().join("home").into());
            map.insert("XDG_CONFIG_HOME".into(), dir.path().join("config").into());
            fingerprint_with(&move |k| map.get(k).cloned())
        };
        let base = of(&[]);
        assert_eq!(base, of(&[]), "the same settings give the same digest");
        assert_ne!(of(&[("UV_INDEX_URL", "https://pypi.example/simple".into())]), base);
        assert_eq!(of(&[("UV_CACHE_DIR", "/elsewhere".into())]), base, "where the cache lives does not count");
        // A constraint file counts by its contents, not only its name.
        let c = dir.path().join("constraints.txt");
        std::fs::write(&c, "numpy<2\n").unwrap();
        let first = of(&[("PIP_CONSTRAINT", c.clone().into())]);
        std::fs::write(&c, "numpy<3\n").unwrap();
        assert_ne!(of(&[("PIP_CONSTRAINT", c.clone().into())]), first);
        // So does a config file in its default place.
        std::fs::create_dir_all(dir.path().join("config/uv")).unwrap();
        std::fs::write(dir.path().join("config/uv/uv.toml"), "index-url = \"https://mirror.example/simple\"\n").unwrap();
        assert_ne!(of(&[]), base);
    }

    #[test]
    fn unpinned_requirements() {
        let lines: Vec<String> = [
            "fastapi==0.115.0",
            "numpy>=2",
            "Uvicorn[standard]",
            "-r base.txt",
            "./wheels/x.whl",
            "pkg @ https://x/y.whl",
            "starlette==0.38 --hash=sha256:aa",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(unpinned(&lines), ["numpy", "uvicorn"]);
    }
}
