//! What uv or pip said went wrong, in words that name the fix.

use super::{Installer, TargetPlatform};
use crate::error::Hinted;
use crate::util::tail;

/// What uv or pip said went wrong, when it is one of the failures we can name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallProblem {
    /// The package exists but publishes no wheel usable on the target.
    NoWheel { package: String, version: Option<String>, available_on: Option<String> },
    /// No such package in the index or wheel folders.
    NotFound { package: String },
    /// pip's message, which does not tell these two apart.
    NoMatchingDistribution { requirement: String },
    /// A downloaded file is not the one the requirements (or the lock) pinned by hash.
    HashMismatch { package: Option<String> },
}

/// Reads uv's or pip's error output.
pub fn diagnose(output: &str) -> Option<InstallProblem> {
    // uv: "Because docopt==0.6.2 has no usable wheels and ..."
    //     "Because all versions of docopt have no usable wheels and ..."
    //     "Because numpy==2.2.6 has no wheels with a matching platform tag (e.g., ...)"
    //     "hint: Wheels are available for `numpy` (v2.2.6) on the following platforms: ..."
    //     "Because nosuchpkg was not found in the package registry and ..."
    for line in output.lines() {
        let line = line.trim();
        let Some(pos) = line.find("Because ") else { continue };
        let rest = &line[pos + "Because ".len()..];
        for marker in [" has no usable wheels", " have no usable wheels", " has no wheels with a matching platform tag"] {
            if let Some(end) = rest.find(marker) {
                let subject = rest[..end].trim_start_matches("all versions of ").trim();
                let (package, version) = split_pin(subject);
                let available_on = output.lines().find_map(|l| {
                    let l = l.trim();
                    l.strip_prefix("hint: Wheels are available for")
                        .and_then(|_| l.split_once("on the following platforms:"))
                        .map(|(_, p)| p.trim().trim_end_matches('.').to_string())
                });
                return Some(InstallProblem::NoWheel { package, version, available_on });
            }
        }
        for marker in
            [" was not found in the package registry", " was not found in the provided package locations", " was not found in the cache"]
        {
            if let Some(end) = rest.find(marker) {
                return Some(InstallProblem::NotFound { package: split_pin(rest[..end].trim()).0 });
            }
        }
    }
    // uv: "Hash mismatch for `fastapi==0.115.0`"; pip: "THESE PACKAGES DO NOT MATCH THE
    // HASHES FROM THE REQUIREMENTS FILE" followed by "    fastapi==0.115.0 from ...".
    for (i, line) in output.lines().enumerate() {
        if let Some(rest) = line.split_once("Hash mismatch for `").map(|(_, r)| r) {
            let package = rest.split('`').next().map(|p| split_pin(p).0);
            return Some(InstallProblem::HashMismatch { package });
        }
        if line.contains("DO NOT MATCH THE HASHES") {
            let package = output.lines().skip(i + 1).find(|l| !l.trim().is_empty()).map(|l| split_pin(l.trim()).0);
            return Some(InstallProblem::HashMismatch { package });
        }
    }
    // pip: "ERROR: No matching distribution found for docopt==0.6.2"
    for line in output.lines() {
        if let Some(rest) = line.trim().strip_prefix("ERROR: No matching distribution found for ") {
            return Some(InstallProblem::NoMatchingDistribution { requirement: rest.trim().to_string() });
        }
    }
    None
}

/// `docopt==0.6.2` -> (`docopt`, Some(`0.6.2`)); `numpy>=2` -> (`numpy`, None).
fn split_pin(subject: &str) -> (String, Option<String>) {
    match subject.split_once("==") {
        Some((name, version)) => (name.trim().to_string(), Some(version.trim().to_string())),
        None => {
            let name: String =
                subject.chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '[' | ']')).collect();
            (name, None)
        }
    }
}

pub(super) fn explain_failure(installer: Installer, output: &str, platform: &TargetPlatform, shown: &str) -> Hinted {
    let own_wheel = "or build a wheel for it yourself and put it in a folder that uv/pip search \
                     (UV_FIND_LINKS / PIP_FIND_LINKS)";
    match diagnose(output) {
        Some(InstallProblem::NoWheel { package, version, available_on }) => {
            let what = match &version {
                Some(v) => format!("{package} {v}"),
                None => package.clone(),
            };
            let mut message = format!("no wheel of {what} for {platform}: the target cannot build from source");
            if let Some(p) = available_on {
                message.push_str(&format!(" (wheels exist for: {p})"));
            }
            Hinted::new(
                format!("{message}\n{}", tail(output, 6)),
                format!(
                    "pin a version of `{package}` that publishes a wheel for {platform} in the requirements, \
                     replace it with a package that does, {own_wheel}"
                ),
            )
        }
        Some(InstallProblem::NotFound { package }) => Hinted::new(
            format!("the Python package `{package}` was not found by {}\n{}", installer.name(), tail(output, 6)),
            "check its spelling in the requirements, and that uv/pip can reach your package index",
        ),
        Some(InstallProblem::NoMatchingDistribution { requirement }) => Hinted::new(
            format!("no wheel of `{requirement}` for {platform} (or no such package) was found by pip\n{}", tail(output, 6)),
            format!("pin a version of `{}` that publishes a wheel for {platform}, check the name, {own_wheel}", split_pin(&requirement).0),
        ),
        Some(InstallProblem::HashMismatch { package }) => {
            let what = package.as_deref().map(|p| format!(" of `{p}`")).unwrap_or_default();
            Hinted::new(
                format!(
                    "a file{what} does not match the hash pinned for it (uv.lock or the requirements): the index served something other than what was locked\n{}",
                    tail(output, 6)
                ),
                "do not deploy until you know why; if the new file is expected, refresh the pin (`uv lock --upgrade-package NAME`, or regenerate the hashed requirements)",
            )
        }
        None => Hinted::new(
            format!("installing the Python dependencies for {platform} failed:\n{}", tail(output, 15)),
            format!("check the requirements; aideploy ran: {shown}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::pydeps::Arch;

    #[test]
    fn diagnoses_uv_and_pip_messages() {
        let uv_pinned = "error: No solution found when resolving dependencies\n  cause: Because docopt==0.6.2 has no usable wheels and you require docopt==0.6.2, we can conclude that your requirements are unsatisfiable.\n\nhint: Wheels are required for `docopt` because building from source is disabled";
        assert_eq!(
            diagnose(uv_pinned),
            Some(InstallProblem::NoWheel { package: "docopt".into(), version: Some("0.6.2".into()), available_on: None })
        );
        let uv_any = "  cause: Because all versions of docopt have no usable wheels and you require docopt, we can conclude";
        assert_eq!(diagnose(uv_any), Some(InstallProblem::NoWheel { package: "docopt".into(), version: None, available_on: None }));
        let uv_arch = "  cause: Because numpy==2.2.6 has no wheels with a matching platform tag (e.g., `manylinux_2_17_aarch64`) and only numpy==2.2.6 is available, we can conclude\n\nhint: Wheels are available for `numpy` (v2.2.6) on the following platforms: `manylinux_2_17_x86_64`, `manylinux2014_x86_64`";
        assert_eq!(
            diagnose(uv_arch),
            Some(InstallProblem::NoWheel {
                package: "numpy".into(),
                version: Some("2.2.6".into()),
                available_on: Some("`manylinux_2_17_x86_64`, `manylinux2014_x86_64`".into())
            })
        );
        let uv_missing = "  cause: Because nosuchpkg-xyz was not found in the package registry and you require nosuchpkg-xyz, we";
        assert_eq!(diagnose(uv_missing), Some(InstallProblem::NotFound { package: "nosuchpkg-xyz".into() }));
        let pip = "ERROR: Could not find a version that satisfies the requirement docopt==0.6.2 (from versions: none)\nERROR: No matching distribution found for docopt==0.6.2\n";
        assert_eq!(diagnose(pip), Some(InstallProblem::NoMatchingDistribution { requirement: "docopt==0.6.2".into() }));
        assert_eq!(diagnose("something else broke"), None);
    }

    #[test]
    fn no_wheel_error_names_package_version_platform_and_fix() {
        let out = "  cause: Because docopt==0.6.2 has no usable wheels and you require docopt==0.6.2, we can";
        let e = explain_failure(Installer::Uv, out, &TargetPlatform::new(Arch::X86_64, "3.11"), "uv ...");
        assert!(e.message.contains("docopt 0.6.2"), "{}", e.message);
        assert!(e.message.contains("linux x86_64 (manylinux2014), CPython 3.11"), "{}", e.message);
        assert!(e.hint.contains("pin a version of `docopt`"), "{}", e.hint);
    }

    #[test]
    fn diagnoses_hash_mismatches() {
        let uv = "error: Failed to prepare distributions\n  Caused by: Failed to fetch wheel: fastapi==0.115.0\n  Caused by: Hash mismatch for `fastapi==0.115.0`\n\nExpected:\n  sha256:aa\n\nComputed:\n  sha256:bb";
        assert_eq!(diagnose(uv), Some(InstallProblem::HashMismatch { package: Some("fastapi".into()) }));
        let pip = "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package versions, please update the hashes.\n    fastapi==0.115.0 from https://files.example/fastapi.whl:\n        Expected sha256 aa\n             Got        bb\n";
        assert_eq!(diagnose(pip), Some(InstallProblem::HashMismatch { package: Some("fastapi".into()) }));
        let e = explain_failure(Installer::Uv, uv, &TargetPlatform::new(Arch::X86_64, "3.11"), "uv ...");
        assert!(e.message.contains("does not match the hash pinned") && e.message.contains("`fastapi`"), "{}", e.message);
        assert!(e.hint.contains("uv lock --upgrade-package"), "{}", e.hint);
    }
}
