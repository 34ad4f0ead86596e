//! Bytecode for the target's interpreter, shipped in artifacts so a cold start loads
//! `.pyc` files instead of compiling every imported module (a Lambda task root is
//! read-only, and an image's dependency layer is not writable by the app's user, so the
//! platform never keeps what one cold start compiled for the next).
//!
//! The compiler is a CPython of the target's exact `major.minor` found on this machine
//! (bytecode is the same on every CPU, not across minor versions). Files are written as
//! unchecked-hash `.pyc` (PEP 552): they carry no source mtime, so the same sources give
//! the same bytes on any machine and checkout path, and the interpreter loads them without
//! reading the source's timestamp. `PYTHONHASHSEED=0` and one process compiling the files
//! in a fixed order keep the marshalled bytes stable; the path recorded in each file (for
//! tracebacks) is where the file lives on the target (`/var/task/...`), not on this
//! machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::artifact::python::which;
use crate::engine::Reporter;
use crate::envvars;
use crate::util::tail;

/// A CPython that compiles bytecode for the target's Python.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiler {
    pub path: PathBuf,
    /// `3.11`
    pub version: String,
    /// `cpython-311`: the `__pycache__` file name tag.
    pub cache_tag: String,
    /// The interpreter's full version string: part of every cache key, since a patch
    /// release may emit other bytes.
    pub build: String,
}

/// Why an artifact has no bytecode, said once by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoCompiler {
    /// `AIDEPLOY_BYTECODE=0`.
    TurnedOff,
    /// No CPython of that version on this machine.
    NotFound { version: String },
}

impl NoCompiler {
    /// One line for the build output.
    pub fn message(&self) -> String {
        match self {
            NoCompiler::TurnedOff => format!("{}=0: the artifact has no bytecode", envvars::AIDEPLOY_BYTECODE),
            NoCompiler::NotFound { version } => format!(
                "no python{version} on this machine: the artifact ships without bytecode, so each cold start compiles \
                 what it imports (install python{version}, or point {} at one, to ship bytecode)",
                envvars::AIDEPLOY_PYTHON
            ),
        }
    }
}

const PROBE: &str = "import platform, sys; print(platform.python_implementation()); \
print('%d.%d' % sys.version_info[:2]); print(sys.implementation.cache_tag); print(sys.version.replace('\\n', ' '))";

/// The compiler for CPython `version` (`3.11`): `$AIDEPLOY_PYTHON` when it is that
/// version, else `python{version}` on PATH. Not found, or `AIDEPLOY_BYTECODE=0`: why not.
pub fn compiler_for(version: &str) -> std::result::Result<Compiler, NoCompiler> {
    if std::env::var(envvars::AIDEPLOY_BYTECODE).is_ok_and(|v| matches!(v.trim(), "0" | "false" | "no" | "off")) {
        return Err(NoCompiler::TurnedOff);
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os(envvars::AIDEPLOY_PYTHON).filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(p));
    }
    candidates.extend(which(&format!("python{version}")));
    for path in candidates {
        if let Some(c) = probe(&path).filter(|c| c.version == version) {
            return Ok(c);
        }
    }
    Err(NoCompiler::NotFound { version: version.to_string() })
}

/// [`compiler_for`], saying why not when there is none: a warning when no interpreter
/// was found, a detail when bytecode was turned off.
pub fn compiler_or_say(version: &str, r: &dyn Reporter) -> Option<Compiler> {
    match compiler_for(version) {
        Ok(c) => Some(c),
        Err(why @ NoCompiler::TurnedOff) => {
            r.detail(&why.message());
            None
        }
        Err(why) => {
            r.warn(&why.message());
            None
        }
    }
}

fn probe(path: &Path) -> Option<Compiler> {
    let out = Command::new(path).args(["-S", "-c", PROBE]).stdin(Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let (implementation, version, cache_tag, build) = (lines.next()?, lines.next()?, lines.next()?, lines.next()?);
    (implementation == "CPython").then(|| Compiler {
        path: path.to_path_buf(),
        version: version.to_string(),
        cache_tag: cache_tag.to_string(),
        build: build.to_string(),
    })
}

/// Compiles each source in one process, in the given order; a file the target's Python
/// cannot compile (Python 2 leftovers, templates named `.py`) is skipped, as
/// `compileall` does, since importing it would fail the same way with or without it.
const COMPILE: &str = r#"
import json, py_compile, sys
done = []
for src, dfile, cfile in json.load(sys.stdin):
    try:
        py_compile.compile(src, cfile=cfile, dfile=dfile, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except Exception:
        continue
    done.append(cfile)
json.dump(done, sys.stdout)
"#;

/// One compiled file.
#[derive(Debug, Clone)]
pub struct Pyc {
    /// `/`-separated path in the artifact: `pkg/__pycache__/mod.cpython-311.pyc`.
    pub rel: String,
    /// Where it was written on this machine.
    pub abs: PathBuf,
    pub size: u64,
}

impl Compiler {
    /// A short digest of the compiler, for cache keys.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(format!("{}\n{}\n{}", self.version, self.cache_tag, self.build).as_bytes())[..8])
    }

    /// Where the bytecode of `rel` (a `.py` path in the artifact) goes.
    pub fn pyc_rel(&self, rel: &str) -> Option<String> {
        let stem = rel.strip_suffix(".py")?;
        let (dir, name) = match stem.rsplit_once('/') {
            Some((dir, name)) => (format!("{dir}/"), name),
            None => (String::new(), stem),
        };
        Some(format!("{dir}__pycache__/{name}.{}.pyc", self.cache_tag))
    }

    /// Compiles every `.py` of `files` (`(path in the artifact, path here)`) into `out`,
    /// recording `{root}/{rel}` as each file's path. Returns the files written, sorted by
    /// their path in the artifact.
    pub fn compile(&self, files: &[(String, PathBuf)], root: &str, out: &Path) -> Result<Vec<Pyc>> {
        let mut jobs = Vec::new();
        let mut rels = std::collections::HashMap::new();
        for (rel, abs) in files {
            let Some(pyc) = self.pyc_rel(rel) else { continue };
            let cfile = out.join(&pyc);
            rels.insert(cfile.to_string_lossy().into_owned(), pyc);
            jobs.push((
                abs.to_string_lossy().into_owned(),
                format!("{}/{rel}", root.trim_end_matches('/')),
                cfile.to_string_lossy().into_owned(),
            ));
        }
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        fs_err::create_dir_all(out)?;
        let mut cmd = Command::new(&self.path);
        cmd.args(["-S", "-s", "-c", COMPILE]);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PYTHON") {
                cmd.env_remove(k);
            }
        }
        cmd.env("PYTHONHASHSEED", "0").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().with_context(|| format!("cannot run {}", self.path.display()))?;
        let input = serde_json::to_vec(&jobs)?;
        let mut stdin = child.stdin.take().context("the compiler's stdin")?;
        let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
        let output = child.wait_with_output()?;
        let _ = writer.join();
        if !output.status.success() {
            anyhow::bail!("compiling bytecode with {} failed: {}", self.path.display(), tail(&String::from_utf8_lossy(&output.stderr), 5));
        }
        let done: Vec<String> = serde_json::from_slice(&output.stdout).context("the bytecode compiler's answer")?;
        let mut pycs = Vec::with_capacity(done.len());
        for cfile in done {
            let Some(rel) = rels.remove(&cfile) else { continue };
            let abs = PathBuf::from(&cfile);
            let size = fs_err::metadata(&abs)?.len();
            pycs.push(Pyc { rel, abs, size });
        }
        pycs.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(pycs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiler() -> Option<Compiler> {
        compiler_for("3.11").ok().or_else(|| compiler_for("3.12").ok()).or_else(|| compiler_for("3.13").ok())
    }

    #[test]
    fn pyc_paths_follow_the_cache_tag() {
        let c = Compiler { path: "python3.11".into(), version: "3.11".into(), cache_tag: "cpython-311".into(), build: "3.11.7".into() };
        assert_eq!(c.pyc_rel("main.py").as_deref(), Some("__pycache__/main.cpython-311.pyc"));
        assert_eq!(c.pyc_rel("app/api/routes.py").as_deref(), Some("app/api/__pycache__/routes.cpython-311.pyc"));
        assert_eq!(c.pyc_rel("data/notes.txt"), None);
    }

    #[test]
    fn a_missing_version_says_why_and_how() {
        let e = compiler_for("2.1").unwrap_err();
        assert_eq!(e, NoCompiler::NotFound { version: "2.1".into() });
        assert!(e.message().contains("install python2.1"), "{}", e.message());
    }

    /// Same sources, two checkout paths, two runs: the same bytes; unchecked-hash
    /// bytecode (flags 0b01 in the header); a file that does not compile is skipped.
    #[test]
    fn bytecode_is_reproducible_and_unchecked() {
        let Some(c) = compiler() else {
            eprintln!("no python3.11-3.13 here: nothing to compile with");
            return;
        };
        let mut outputs = Vec::new();
        for _ in 0..2 {
            let dir = tempfile::tempdir().unwrap();
            let src = dir.path().join("src");
            fs_err::create_dir_all(src.join("pkg")).unwrap();
            fs_err::write(src.join("pkg/mod.py"), "CONSTS = {'a', 'b', 'c', 'd'}\ndef f():\n    return sorted(CONSTS)\n").unwrap();
            fs_err::write(src.join("broken.py"), "print 'python 2'\n").unwrap();
            let files = vec![
                ("broken.py".to_string(), src.join("broken.py")),
                ("pkg/mod.py".to_string(), src.join("pkg/mod.py")),
                ("pkg/data.json".to_string(), src.join("pkg/data.json")),
            ];
            let pycs = c.compile(&files, "/var/task", &dir.path().join("out")).unwrap();
            assert_eq!(pycs.iter().map(|p| p.rel.as_str()).collect::<Vec<_>>(), vec![format!("pkg/__pycache__/mod.{}.pyc", c.cache_tag)]);
            let bytes = fs_err::read(&pycs[0].abs).unwrap();
            assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 0b01, "flags: hash-based, unchecked");
            assert_eq!(pycs[0].size, bytes.len() as u64);
            outputs.push(bytes);
        }
        assert_eq!(outputs[0], outputs[1]);
        let text = String::from_utf8_lossy(&outputs[0]);
        assert!(text.contains("/var/task/pkg/mod.py"), "the recorded path is the target's");
    }
}
