//! Console scripts for the image's interpreter.
//!
//! The installed dependencies (`pydeps`) hold packages only: the `bin/` scripts uv or
//! pip write name this machine's interpreter and are dropped. An image still needs them:
//! `command = "gunicorn main:app"` runs `gunicorn` from `PATH`, whose first entry is the
//! deps' `bin`. They are written again here from each distribution's
//! `*.dist-info/entry_points.txt` (`[console_scripts]`, `[gui_scripts]`), the way
//! installers write them, with `#!/usr/bin/env python3`: the image's own Python, found
//! on its `PATH`, with the deps on its `PYTHONPATH`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Result;

use super::layer::{Entry, EntryKind};

/// One script: its file name in `bin/` and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub name: String,
    pub content: Vec<u8>,
    /// The distribution (`*.dist-info` folder) that declares it.
    pub dist: String,
}

/// The console scripts declared by the distributions installed in `deps`, by name.
/// When two distributions declare one name, the first in name order keeps it, so the
/// result does not depend on the order the files were listed in.
pub fn console_scripts(deps: &Path) -> Result<Vec<Script>> {
    let mut infos: Vec<String> = Vec::new();
    for entry in fs_err::read_dir(deps)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".dist-info") && entry.file_type()?.is_dir() {
            infos.push(name);
        }
    }
    infos.sort();
    let mut scripts: BTreeMap<String, Script> = BTreeMap::new();
    for info in infos {
        let Ok(text) = fs_err::read_to_string(deps.join(&info).join("entry_points.txt")) else { continue };
        for (name, target) in parse_entry_points(&text) {
            let Some(content) = script_for(&target) else { continue };
            scripts.entry(name.clone()).or_insert(Script { name, content, dist: info.clone() });
        }
    }
    Ok(scripts.into_values().collect())
}

/// Adds the console scripts of the deps in `dir` to a deps layer's `entries` as
/// executable files in `dest/bin`, except those a listed `bin/` already holds (those get
/// a portable shebang from `layer::make_deps_portable`).
pub fn add_to_layer(entries: &mut Vec<Entry>, dir: &Path, dest: &str) -> Result<()> {
    let bin = format!("{}/bin/", dest.trim_matches('/'));
    let present: BTreeSet<String> = entries.iter().filter_map(|e| e.path.strip_prefix(&bin)).map(str::to_string).collect();
    for s in console_scripts(dir)? {
        if !present.contains(&s.name) {
            entries.push(Entry { path: format!("{bin}{}", s.name), kind: EntryKind::Bytes { data: s.content, executable: true } });
        }
    }
    Ok(())
}

/// What makes the deps folder a site directory: Python imports `sitecustomize` from its
/// path at start-up, and this one hands the folder to `site.addsitedir`, so the `.pth`
/// files packages install there are processed as in any site-packages.
const SITE_HOOK: &str = "# Written by aideploy: this folder is a site directory, so the .pth files of the\n# packages installed here are processed as in any site-packages.\nimport os\nimport site\n\nsite.addsitedir(os.path.dirname(os.path.abspath(__file__)))\n";

/// Adds `dest/sitecustomize.py` ([`SITE_HOOK`]) unless a package installed one.
pub fn add_site_hook(entries: &mut Vec<Entry>, dest: &str) {
    let path = format!("{}/sitecustomize.py", dest.trim_matches('/'));
    if !entries.iter().any(|e| e.path == path) {
        entries.push(Entry { path, kind: EntryKind::Bytes { data: SITE_HOOK.as_bytes().to_vec(), executable: false } });
    }
}

/// The `(name, object reference)` pairs of the `[console_scripts]` and `[gui_scripts]`
/// sections of an `entry_points.txt` (an INI file; `#`/`;` comments, extras in brackets
/// after the reference are dropped). Names that are not plain file names are skipped.
pub fn parse_entry_points(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut wanted = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            wanted = matches!(section.trim(), "console_scripts" | "gui_scripts");
            continue;
        }
        if !wanted {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else { continue };
        let name = name.trim();
        let value = value.split('[').next().unwrap_or("").trim();
        let plain = !name.is_empty()
            && name != "."
            && name != ".."
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'));
        if plain && !value.is_empty() {
            out.push((name.to_string(), value.to_string()));
        }
    }
    out
}

/// The script that calls `module:attr.path`, as installers write it; `None` when the
/// reference is not of that form.
fn script_for(reference: &str) -> Option<Vec<u8>> {
    let (module, attr) = reference.split_once(':')?;
    let (module, attr) = (module.trim(), attr.trim());
    let ident = |s: &str| !s.is_empty() && s.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'));
    if !ident(module) || !ident(attr) {
        return None;
    }
    let head = attr.split('.').next().unwrap_or(attr);
    Some(
        format!(
            "#!/usr/bin/env python3\n\
             # -*- coding: utf-8 -*-\n\
             import re\n\
             import sys\n\
             from {module} import {head}\n\
             if __name__ == \"__main__\":\n\
             \x20   sys.argv[0] = re.sub(r\"(-script\\.pyw|\\.exe)?$\", \"\", sys.argv[0])\n\
             \x20   sys.exit({attr}())\n"
        )
        .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_console_and_gui_scripts_only() {
        let text = "[console_scripts]\ngunicorn = gunicorn.app.wsgiapp:run\n# a comment\nflask=flask.cli:main [dotenv]\n\n\
                    [gunicorn.workers]\nsync = gunicorn.workers.sync:SyncWorker\n[gui_scripts]\nviewer = pkg.gui:App.main\n\
                    [console_scripts]\n../evil = x:y\n";
        assert_eq!(
            parse_entry_points(text),
            vec![
                ("gunicorn".to_string(), "gunicorn.app.wsgiapp:run".to_string()),
                ("flask".into(), "flask.cli:main".into()),
                ("viewer".into(), "pkg.gui:App.main".into()),
            ]
        );
    }

    #[test]
    fn scripts_call_the_entry_point_with_the_images_python() {
        let s = String::from_utf8(script_for("pkg.gui:App.main").unwrap()).unwrap();
        assert!(s.starts_with("#!/usr/bin/env python3\n"), "{s}");
        assert!(s.contains("\nfrom pkg.gui import App\n"), "{s}");
        assert!(s.contains("    sys.exit(App.main())\n"), "{s}");
        assert_eq!(script_for("no_attribute"), None);
        assert_eq!(script_for("os:system('x')"), None);
    }

    #[test]
    fn reads_every_distribution_first_name_wins() {
        let d = tempfile::tempdir().unwrap();
        for (info, text) in [
            ("b_pkg-1.dist-info", "[console_scripts]\nserve = b_pkg:main\n"),
            ("a_pkg-1.dist-info", "[console_scripts]\nserve = a_pkg:main\ntool = a_pkg.cli:run\n"),
            ("c_pkg-1.dist-info", "Name: c\n"),
        ] {
            fs_err::create_dir_all(d.path().join(info)).unwrap();
            let file = if info.starts_with('c') { "METADATA" } else { "entry_points.txt" };
            fs_err::write(d.path().join(info).join(file), text).unwrap();
        }
        let got = console_scripts(d.path()).unwrap();
        let names: Vec<(&str, &str)> = got.iter().map(|s| (s.name.as_str(), s.dist.as_str())).collect();
        assert_eq!(names, vec![("serve", "a_pkg-1.dist-info"), ("tool", "a_pkg-1.dist-info")]);
        assert!(String::from_utf8_lossy(&got[0].content).contains("from a_pkg import main"));
    }
}
