//! What a manifest leaves out and the project says elsewhere: the Python `runtime`, from
//! `.python-version`, then `requires-python` in `pyproject.toml` (or Poetry's `python`
//! dependency), then the `FROM python:X.Y` of a Dockerfile.

use std::path::Path;

use super::values::Runtime;

/// The supported minor versions of Python 3, and the default among them.
const MINORS: std::ops::RangeInclusive<u32> = 9..=13;
const DEFAULT_MINOR: u32 = 11;

/// The runtime the project in `dir` names, and where it says so.
pub fn runtime(dir: &Path) -> Option<(Runtime, &'static str)> {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    if let Some(minor) = read(".python-version").and_then(|t| python_version_file(&t)) {
        return Some((runtime_of(minor)?, ".python-version"));
    }
    if let Some(minor) = read("pyproject.toml").and_then(|t| requires_python(&t)) {
        return Some((runtime_of(minor)?, "pyproject.toml"));
    }
    if let Some(minor) = read("Dockerfile").and_then(|t| dockerfile_from(&t)) {
        return Some((runtime_of(minor)?, "Dockerfile"));
    }
    None
}

fn runtime_of(minor: u32) -> Option<Runtime> {
    format!("python3.{minor}").parse().ok()
}

/// `3.12`, `3.12.4`, `python3.12` or `cpython-3.12`: the first version line.
fn python_version_file(text: &str) -> Option<u32> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let v = line.trim_start_matches("cpython-").trim_start_matches("python");
    let minor = minor_of(v)?;
    MINORS.contains(&minor).then_some(minor)
}

/// `3.12...` → 12.
fn minor_of(v: &str) -> Option<u32> {
    let rest = v.strip_prefix("3.")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The supported version `[project] requires-python` (or Poetry's
/// `[tool.poetry.dependencies] python`) allows: the default when it may, else the
/// nearest one it allows.
fn requires_python(text: &str) -> Option<u32> {
    let doc: toml::Table = toml::from_str(text).ok()?;
    let spec = doc
        .get("project")
        .and_then(|p| p.get("requires-python"))
        .or_else(|| doc.get("tool")?.get("poetry")?.get("dependencies")?.get("python"))?
        .as_str()?;
    let allowed: Vec<u32> = MINORS.filter(|m| allows(spec, *m)).collect();
    if allowed.len() == MINORS.count() && !spec.contains(|c: char| c.is_ascii_digit()) {
        return None;
    }
    allowed.iter().copied().min_by_key(|m| m.abs_diff(DEFAULT_MINOR))
}

/// Whether a version specifier (PEP 440, or Poetry's `^`/`~` and `||`) allows some
/// release of Python 3.`minor`.
fn allows(spec: &str, minor: u32) -> bool {
    spec.split("||").any(|alt| alt.split(',').all(|clause| clause_allows(clause.trim(), minor)))
}

fn clause_allows(clause: &str, m: u32) -> bool {
    if clause.is_empty() || clause == "*" {
        return true;
    }
    let ops = ["~=", "==", "!=", ">=", "<=", "^", "~", ">", "<", "="];
    let Some(op) = ops.iter().find(|o| clause.starts_with(**o)) else { return true };
    let v = clause[op.len()..].trim();
    let parts: Vec<&str> = v.split('.').collect();
    let num = |i: usize| parts.get(i).and_then(|p| p.parse::<u32>().ok());
    let Some(major) = num(0) else { return true };
    if major != 3 {
        // Python 2 or 4: only the direction matters.
        return match *op {
            ">=" | ">" | "^" | "~=" => major < 3,
            "<" | "<=" => major > 3,
            "==" | "=" | "~" => false,
            _ => true,
        };
    }
    let Some(minor) = num(1) else {
        // `>=3`, `<4`-style clauses with major 3 only.
        return !matches!(*op, "<" | "!=");
    };
    let patch = num(2).unwrap_or(0);
    let wildcard = parts.contains(&"*");
    match *op {
        ">=" | ">" | "^" => m >= minor,
        "<=" => m <= minor,
        "<" => m < minor || (m == minor && patch > 0),
        "==" | "=" => m == minor,
        "!=" => !(m == minor && wildcard),
        "~=" if parts.len() >= 3 => m == minor,
        "~=" => m >= minor,
        "~" => m == minor,
        _ => true,
    }
}

/// The Python of the last stage that starts from an official python image:
/// `FROM python:3.12-slim`, `FROM --platform=$BUILDPLATFORM docker.io/library/python:3.12 AS app`.
fn dockerfile_from(text: &str) -> Option<u32> {
    let mut found = None;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            continue;
        }
        let Some(image) = words.find(|w| !w.starts_with("--")) else { continue };
        let Some((name, tag)) = image.split_once(':') else { continue };
        let name = name.trim_start_matches("docker.io/").trim_start_matches("library/");
        if name == "python" {
            if let Some(minor) = minor_of(tag).filter(|m| MINORS.contains(m)) {
                found = Some(minor);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_version_files() {
        assert_eq!(python_version_file("3.12.4\n"), Some(12));
        assert_eq!(python_version_file("# pinned\n3.10\n"), Some(10));
        assert_eq!(python_version_file("python3.13"), Some(13));
        assert_eq!(python_version_file("3.8.18"), None);
        assert_eq!(python_version_file("system"), None);
    }

    #[test]
    fn requires_python_picks_the_default_or_the_nearest_allowed() {
        let p = |spec: &str| requires_python(&format!("[project]\nname = \"x\"\nrequires-python = \"{spec}\"\n"));
        assert_eq!(p(">=3.9"), Some(11));
        assert_eq!(p(">=3.12"), Some(12));
        assert_eq!(p(">=3.9,<3.11"), Some(10));
        assert_eq!(p(">=3.10, <3.10.5"), Some(10));
        assert_eq!(p("==3.13.*"), Some(13));
        assert_eq!(p("~=3.12"), Some(12));
        assert_eq!(p("~=3.9.2"), Some(9));
        assert_eq!(p(">=3.9,!=3.11.*"), Some(10));
        assert_eq!(p(">=3.14"), None);
        assert_eq!(requires_python("[tool.poetry.dependencies]\npython = \"^3.12\"\n"), Some(12));
        assert_eq!(requires_python("[tool.poetry.dependencies]\npython = \"~3.10\"\n"), Some(10));
        assert_eq!(requires_python("[project]\nname = \"x\"\n"), None);
    }

    #[test]
    fn dockerfile_base_images() {
        assert_eq!(dockerfile_from("FROM python:3.12-slim\nRUN pip install x\n"), Some(12));
        assert_eq!(dockerfile_from("FROM --platform=$BUILDPLATFORM docker.io/library/python:3.10 AS build\nFROM debian\n"), Some(10));
        assert_eq!(dockerfile_from("FROM python:3.9 AS deps\nFROM python:3.13-alpine\n"), Some(13));
        assert_eq!(dockerfile_from("FROM ubuntu:24.04\n"), None);
        assert_eq!(dockerfile_from("FROM python:latest\n"), None);
    }

    #[test]
    fn the_first_source_wins() {
        let dir = tempfile::tempdir().unwrap();
        assert!(runtime(dir.path()).is_none());
        std::fs::write(dir.path().join("Dockerfile"), "FROM python:3.10-slim\n").unwrap();
        assert_eq!(runtime(dir.path()).map(|(r, from)| (r.to_string(), from)), Some(("python3.10".into(), "Dockerfile")));
        std::fs::write(dir.path().join("pyproject.toml"), "[project]\nname = \"x\"\nrequires-python = \">=3.12\"\n").unwrap();
        assert_eq!(runtime(dir.path()).map(|(r, from)| (r.to_string(), from)), Some(("python3.12".into(), "pyproject.toml")));
        std::fs::write(dir.path().join(".python-version"), "3.13\n").unwrap();
        assert_eq!(runtime(dir.path()).map(|(r, from)| (r.to_string(), from)), Some(("python3.13".into(), ".python-version")));
    }
}
