//! completions/ holds the generated scripts; they must match what the binary prints.
//! Regenerate with: for s in bash zsh fish powershell; do cargo run -q -- completions $s; done

use crate::common;

#[test]
fn checked_in_completions_are_current() {
    let home = tempfile::tempdir().unwrap();
    for (shell, file) in [("bash", "aideploy.bash"), ("zsh", "_aideploy"), ("fish", "aideploy.fish"), ("powershell", "_aideploy.ps1")] {
        let out = common::aideploy(home.path()).args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        let path = common::root().join("completions").join(file);
        let checked_in = std::fs::read(&path).unwrap_or_default();
        assert!(checked_in == out.stdout, "{} is stale: run `cargo run -q -- completions {shell} > completions/{file}`", path.display());
    }
}
