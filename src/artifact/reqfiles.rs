//! The files a Python project names its dependencies in, read as requirement lines:
//! `requirements.txt` (read by uv/pip themselves), `pyproject.toml` (PEP 621
//! `[project] dependencies`, else Poetry's `[tool.poetry.dependencies]`), `Pipfile.lock`
//! (its `default` section) and a conda `environment.yml` (its `pip:` list; conda
//! packages are not pip's to install).

use std::path::Path;

use anyhow::Result;

use crate::error::Hinted;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    RequirementsTxt,
    Pyproject,
    PipfileLock,
    CondaEnv,
}

/// The format of a dependency file, by its name.
pub fn format_of(path: &Path) -> Format {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    if name == "pyproject.toml" {
        Format::Pyproject
    } else if name == "pipfile.lock" {
        Format::PipfileLock
    } else if name.ends_with(".yml") || name.ends_with(".yaml") {
        Format::CondaEnv
    } else {
        Format::RequirementsTxt
    }
}

/// The requirement lines of a file that is not a requirements file.
pub fn read_lines(path: &Path, format: Format) -> Result<Vec<String>> {
    let text = fs_err::read_to_string(path)?;
    let shown = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match format {
        Format::RequirementsTxt => Ok(Vec::new()),
        Format::Pyproject => {
            let doc: toml::Table =
                toml::from_str(&text).map_err(|e| Hinted::new(format!("cannot read {shown}: {}", e.message()), "fix its TOML syntax"))?;
            Ok(pyproject_lines(&doc))
        }
        Format::PipfileLock => {
            let doc: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Hinted::new(format!("cannot read {shown}: {e}"), "run `pipenv lock` to write it again"))?;
            Ok(pipfile_lock_lines(&doc))
        }
        Format::CondaEnv => Ok(conda_pip_lines(&text)),
    }
}

/// Whether a pyproject.toml names any dependency (PEP 621 or Poetry).
pub fn pyproject_has_dependencies(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|doc| !pyproject_lines(&doc).is_empty())
}

/// PEP 621 `[project] dependencies` when the table has that key, else Poetry's
/// `[tool.poetry.dependencies]` (without `python`, and without optional ones, which
/// only extras install).
pub fn pyproject_lines(doc: &toml::Table) -> Vec<String> {
    if let Some(deps) = doc.get("project").and_then(|p| p.get("dependencies")).and_then(|d| d.as_array()) {
        return deps.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
    }
    let Some(poetry) = doc.get("tool").and_then(|t| t.get("poetry")).and_then(|p| p.get("dependencies")).and_then(|d| d.as_table()) else {
        return Vec::new();
    };
    poetry.iter().filter(|(name, _)| name.as_str() != "python").filter_map(|(name, spec)| poetry_line(name, spec)).collect()
}

/// One Poetry dependency as a PEP 508 line: `fastapi = "^0.110"` -> `fastapi>=0.110,<0.111`.
fn poetry_line(name: &str, spec: &toml::Value) -> Option<String> {
    let spec = match spec {
        toml::Value::Array(alternatives) => alternatives.first()?,
        other => other,
    };
    match spec {
        toml::Value::String(v) => Some(format!("{name}{}", poetry_version(v))),
        toml::Value::Table(t) => {
            if t.get("optional").and_then(|o| o.as_bool()) == Some(true) {
                return None;
            }
            let extras = t
                .get("extras")
                .and_then(|e| e.as_array())
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(","))
                .filter(|e| !e.is_empty())
                .map(|e| format!("[{e}]"))
                .unwrap_or_default();
            let marker = t.get("markers").and_then(|m| m.as_str()).map(|m| format!("; {m}")).unwrap_or_default();
            if let Some(git) = t.get("git").and_then(|g| g.as_str()) {
                let rev = ["rev", "tag", "branch"].iter().find_map(|k| t.get(*k).and_then(|v| v.as_str())).map(|r| format!("@{r}"));
                return Some(format!("{name}{extras} @ git+{git}{}{marker}", rev.unwrap_or_default()));
            }
            if let Some(url) = t.get("url").and_then(|u| u.as_str()) {
                return Some(format!("{name}{extras} @ {url}{marker}"));
            }
            if t.contains_key("path") {
                // A local package: its code ships as source; nothing to install by name.
                return None;
            }
            let version = t.get("version").and_then(|v| v.as_str()).map(poetry_version).unwrap_or_default();
            Some(format!("{name}{extras}{version}{marker}"))
        }
        _ => None,
    }
}

/// A Poetry version constraint in PEP 440: `^1.2` -> `>=1.2,<2.0`, `~1.2` -> `>=1.2,<1.3`,
/// `1.2.3` -> `==1.2.3`, `*` -> nothing; operators pass through.
pub fn poetry_version(v: &str) -> String {
    let v = v.trim();
    if v.is_empty() || v == "*" {
        return String::new();
    }
    if let Some(base) = v.strip_prefix('^') {
        let parts = numbers(base);
        let Some(parts) = parts else { return format!("=={base}") };
        // Bump the first non-zero part (the last given one when all are zero).
        let i = parts.iter().position(|&p| p != 0).unwrap_or(parts.len() - 1);
        return format!(">={base},<{}", bumped(&parts, i));
    }
    if let Some(base) = v.strip_prefix('~').filter(|b| !b.starts_with('=')) {
        let Some(parts) = numbers(base) else { return format!("=={base}") };
        let i = if parts.len() == 1 { 0 } else { 1 };
        return format!(">={base},<{}", bumped(&parts, i));
    }
    if v.starts_with(|c: char| c.is_ascii_digit()) {
        return format!("=={v}");
    }
    // `>=1.2 <2` (Poetry allows spaces) -> `>=1.2,<2`.
    v.split([',', ' ']).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(",")
}

fn numbers(v: &str) -> Option<Vec<u64>> {
    let parts: Option<Vec<u64>> = v.trim().split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty())
}

/// `parts[..=i]` with the last of them plus one: ([1, 2, 3], 0) -> `2.0`; ([0, 2], 1) -> `0.3`.
fn bumped(parts: &[u64], i: usize) -> String {
    let mut out: Vec<String> = parts[..i].iter().map(u64::to_string).collect();
    out.push((parts[i] + 1).to_string());
    if out.len() == 1 {
        out.push("0".into());
    }
    out.join(".")
}

/// The `default` section of a Pipfile.lock: `name[extras]==version; markers`, or a
/// `git`/`file` reference; editable local paths are the project's own code.
pub fn pipfile_lock_lines(doc: &serde_json::Value) -> Vec<String> {
    let Some(default) = doc.get("default").and_then(|d| d.as_object()) else { return Vec::new() };
    let mut out = Vec::new();
    for (name, spec) in default {
        let s = |k: &str| spec.get(k).and_then(|v| v.as_str());
        let extras = spec
            .get("extras")
            .and_then(|e| e.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(","))
            .filter(|e| !e.is_empty())
            .map(|e| format!("[{e}]"))
            .unwrap_or_default();
        let marker = s("markers").map(|m| format!("; {m}")).unwrap_or_default();
        if let Some(git) = s("git") {
            let rev = s("ref").map(|r| format!("@{r}")).unwrap_or_default();
            out.push(format!("{name}{extras} @ git+{git}{rev}{marker}"));
        } else if let Some(file) = s("file") {
            out.push(format!("{name}{extras} @ {file}{marker}"));
        } else if s("path").is_some() {
            continue;
        } else {
            out.push(format!("{name}{extras}{}{marker}", s("version").filter(|v| *v != "*").unwrap_or("")));
        }
    }
    out
}

/// The `pip:` list under `dependencies:` of a conda environment file.
pub fn conda_pip_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pip_indent: Option<usize> = None;
    let mut in_deps = false;
    for line in text.lines() {
        let content = line.split(" #").next().unwrap_or("").trim_end();
        if content.trim().is_empty() || content.trim_start().starts_with('#') {
            continue;
        }
        let indent = content.len() - content.trim_start().len();
        let item = content.trim_start();
        if indent == 0 {
            in_deps = item.starts_with("dependencies:");
            pip_indent = None;
            continue;
        }
        if !in_deps {
            continue;
        }
        if let Some(pi) = pip_indent {
            if indent > pi {
                if let Some(req) = item.strip_prefix("- ").or_else(|| item.strip_prefix('-')) {
                    let req = req.trim().trim_matches(|c| c == '"' || c == '\'');
                    if !req.is_empty() {
                        out.push(req.to_string());
                    }
                }
                continue;
            }
            pip_indent = None;
        }
        if item.strip_prefix('-').map(str::trim) == Some("pip:") {
            pip_indent = Some(indent);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poetry_constraints_become_pep_440() {
        for (poetry, pep) in [
            ("^1.2.3", ">=1.2.3,<2.0"),
            ("^0.110", ">=0.110,<0.111"),
            ("^0.0.3", ">=0.0.3,<0.0.4"),
            ("^2", ">=2,<3.0"),
            ("~1.2.3", ">=1.2.3,<1.3"),
            ("~1", ">=1,<2.0"),
            ("2.31.0", "==2.31.0"),
            ("*", ""),
            (">=1.2 <2", ">=1.2,<2"),
            ("~=1.4", "~=1.4"),
        ] {
            assert_eq!(poetry_version(poetry), pep, "{poetry}");
        }
    }

    #[test]
    fn pyproject_pep621_first_else_poetry() {
        let pep: toml::Table =
            toml::from_str("[project]\nname='x'\ndependencies=['fastapi>=0.110', 'uvicorn']\n[tool.poetry.dependencies]\nflask='*'\n")
                .unwrap();
        assert_eq!(pyproject_lines(&pep), vec!["fastapi>=0.110", "uvicorn"]);
        let poetry: toml::Table = toml::from_str(
            "[tool.poetry.dependencies]\npython = '^3.11'\nfastapi = '^0.110'\nuvicorn = { version = '^0.29', extras = ['standard'] }\n\
             dev-thing = { version = '1', optional = true }\nmine = { path = '../mine' }\n\
             lib = { git = 'https://example.invalid/lib.git', tag = 'v1' }\n",
        )
        .unwrap();
        let mut lines = pyproject_lines(&poetry);
        lines.sort();
        assert_eq!(lines, vec!["fastapi>=0.110,<0.111", "lib @ git+https://example.invalid/lib.git@v1", "uvicorn[standard]>=0.29,<0.30"]);
        assert!(pyproject_has_dependencies("[tool.poetry.dependencies]\npython='^3.11'\nflask='^3'\n"));
        assert!(!pyproject_has_dependencies("[tool.poetry.dependencies]\npython='^3.11'\n"));
        assert!(!pyproject_has_dependencies("[project]\nname='x'\n"));
    }

    #[test]
    fn pipfile_lock_default_section() {
        let doc = serde_json::json!({
            "_meta": {"hash": {}},
            "default": {
                "fastapi": {"hashes": ["sha256:x"], "index": "pypi", "version": "==0.110.0"},
                "uvicorn": {"extras": ["standard"], "version": "==0.29.0", "markers": "python_version >= '3.8'"},
                "mine": {"editable": true, "path": "."}
            },
            "develop": {"pytest": {"version": "==8.0.0"}}
        });
        assert_eq!(pipfile_lock_lines(&doc), vec!["fastapi==0.110.0", "uvicorn[standard]==0.29.0; python_version >= '3.8'"]);
    }

    #[test]
    fn conda_environment_pip_section() {
        let text = "name: demo\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - numpy\n  - pip\n  - pip:\n      - fastapi==0.110.0  # the API\n      - \"uvicorn[standard]\"\n  - pandas\nvariables:\n  - pip:\n    - nope\n";
        assert_eq!(conda_pip_lines(text), vec!["fastapi==0.110.0", "uvicorn[standard]"]);
        assert_eq!(format_of(Path::new("environment.yml")), Format::CondaEnv);
        assert_eq!(format_of(Path::new("Pipfile.lock")), Format::PipfileLock);
        assert_eq!(format_of(Path::new("app/requirements.txt")), Format::RequirementsTxt);
    }
}
