//! `aideploy completions SHELL`, and the values the scripts ask for as you type.
//!
//! clap_complete writes the scripts; they complete subcommands, flags and the values clap
//! knows (`--package zip|image`, shells). Values that depend on the folder are asked of
//! the binary itself: for `--target` and `--stage` the bash, zsh and fish scripts run
//! `aideploy __complete target|stage WORDS...` (the words typed so far, to find `-C DIR`
//! and the subcommand), which prints one candidate per line:
//! - `--target`: the `[targets.NAME]` of the manifest (of `-C PATH`, else this folder),
//!   or every kind for `init` and when there is no manifest;
//! - `--stage`: `dev` and the stages this machine has local state for.
//!
//! clap_complete's own dynamic engine (`unstable-dynamic`) would need two more crates;
//! this costs none.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::manifest::{self, Kind};

/// The internal entry point the scripts call (kept out of clap: no help, no completion).
pub const VALUES_ARG: &str = "__complete";

pub fn run(shell: Shell) -> Result<u8> {
    // clap_complete panics on a failed write; generate in memory, then write so that a
    // closed pipe (`aideploy completions bash | head -1`) is not an error.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "aideploy", &mut script);
    let script = with_dynamic_values(shell, &String::from_utf8_lossy(&script));
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(script.as_bytes()).and_then(|()| out.flush());
    Ok(0)
}

/// `aideploy __complete WHAT WORDS...`: the candidates, one a line. Never fails: a
/// completion that finds nothing offers nothing.
pub fn print_values(args: &[std::ffi::OsString]) {
    let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let Some((what, words)) = args.split_first() else { return };
    let values = values(what, words);
    let mut out = std::io::stdout().lock();
    for v in values {
        let _ = writeln!(out, "{v}");
    }
    let _ = out.flush();
}

/// The candidates for `what` (`target` or `stage`), given the words typed so far.
pub fn values(what: &str, words: &[String]) -> Vec<String> {
    let typed = Typed::from_words(words);
    let kinds = || Kind::ALL.iter().map(|k| k.as_str().to_string()).collect::<Vec<_>>();
    let loaded = || {
        let path = manifest::locate(typed.manifest.as_deref());
        let text = std::fs::read_to_string(path).ok()?;
        manifest::parse(&text, manifest::FILE_NAME).ok()
    };
    match what {
        "target" if typed.command.as_deref() == Some("init") => kinds(),
        "target" => match loaded() {
            Some(m) if !m.targets.is_empty() => m.targets.keys().map(|k| k.get().to_string()).collect(),
            _ => kinds(),
        },
        "stage" => {
            let mut stages = vec!["dev".to_string()];
            if let (Some(m), Ok(state)) = (loaded(), crate::util::state_dir()) {
                let prefix = format!("{}-", m.app.get().name);
                let names = std::fs::read_dir(state.join("local")).into_iter().flatten().flatten();
                for entry in names {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if let Some(stage) = name.strip_prefix(&prefix).filter(|s| s.parse::<manifest::Stage>().is_ok()) {
                        if !stages.iter().any(|s| s == stage) {
                            stages.push(stage.to_string());
                        }
                    }
                }
            }
            stages
        }
        _ => Vec::new(),
    }
}

/// What the words typed so far say: the manifest (`-C`) and the subcommand.
#[derive(Default)]
struct Typed {
    manifest: Option<PathBuf>,
    command: Option<String>,
}

impl Typed {
    fn from_words(words: &[String]) -> Typed {
        let mut typed = Typed::default();
        // words[0] is the program.
        let mut it = words.iter().skip(1);
        while let Some(w) = it.next() {
            match w.as_str() {
                "-C" | "--manifest" => typed.manifest = it.next().filter(|p| !p.is_empty()).map(PathBuf::from),
                // Global options that take a value: skip it.
                "--stage" | "--lock-timeout" => {
                    it.next();
                }
                s if s.starts_with("--manifest=") => typed.manifest = Some(PathBuf::from(&s["--manifest=".len()..])),
                s if s.starts_with("-C") && s.len() > 2 => typed.manifest = Some(PathBuf::from(&s[2..])),
                s if !s.starts_with('-') && typed.command.is_none() => typed.command = Some(s.to_string()),
                _ => {}
            }
        }
        typed
    }
}

/// The script with `--target`/`-t` and `--stage` completing from [`values`].
fn with_dynamic_values(shell: Shell, script: &str) -> String {
    match shell {
        Shell::Bash => bash(script),
        Shell::Zsh => zsh(script),
        Shell::Fish => fish(script),
        // PowerShell's generated script completes no option values at all.
        _ => script.to_string(),
    }
}

fn dynamic_flag(flag: &str) -> Option<&'static str> {
    match flag {
        "--target" | "-t" => Some("target"),
        "--stage" => Some("stage"),
        _ => None,
    }
}

/// `--target) COMPREPLY=($(compgen -f ...))` becomes a call to `aideploy __complete`.
fn bash(script: &str) -> String {
    let mut out = String::with_capacity(script.len() + 4096);
    let mut pending: Option<&str> = None;
    for line in script.split_inclusive('\n') {
        let trimmed = line.trim();
        match pending.take() {
            Some(what) if trimmed == r#"COMPREPLY=($(compgen -f "${cur}"))"# => {
                let indent = &line[..line.len() - line.trim_start().len()];
                out.push_str(&format!(
                    "{indent}COMPREPLY=($(compgen -W \"$(\"${{COMP_WORDS[0]}}\" {VALUES_ARG} {what} \"${{COMP_WORDS[@]:0:COMP_CWORD}}\" 2>/dev/null)\" -- \"${{cur}}\"))\n"
                ));
                continue;
            }
            _ => {}
        }
        pending = trimmed.strip_suffix(')').and_then(dynamic_flag);
        out.push_str(line);
    }
    out
}

/// `'--target=[...]:NAME:_default'` becomes `...:NAME:{_aideploy_values target}`.
fn zsh(script: &str) -> String {
    let helper = format!(
        "(( $+functions[_aideploy_values] )) ||\n_aideploy_values() {{\n    local -a values\n    values=(${{(f)\"$(${{words[1]}} {VALUES_ARG} $1 ${{words[1,CURRENT-1]}} 2>/dev/null)\"}})\n    compadd -a values\n}}\n\n"
    );
    let mut out = String::with_capacity(script.len() + 4096);
    for line in script.split_inclusive('\n') {
        if line.starts_with("if [ \"$funcstack[1]\" = \"_aideploy\" ]") {
            out.push_str(&helper);
        }
        let flag = line.strip_prefix('\'').and_then(|l| l.split(['=', '+', '[']).next()).and_then(dynamic_flag);
        match flag {
            Some(what) if line.contains(":_default'") => {
                out.push_str(&line.replace(":_default'", &format!(":{{_aideploy_values {what}}}'")))
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// `complete ... -l target ... -r` gains `-f -a "(aideploy __complete target ...)"`.
fn fish(script: &str) -> String {
    let mut out = String::with_capacity(script.len() + 4096);
    for line in script.split_inclusive('\n') {
        let what = if line.contains(" -l target ") {
            Some("target")
        } else if line.contains(" -l stage ") {
            Some("stage")
        } else {
            None
        };
        match what {
            Some(what) if line.trim_end().ends_with(" -r") => {
                out.push_str(line.trim_end());
                out.push_str(&format!(" -f -a \"(aideploy {VALUES_ARG} {what} (commandline -opc))\"\n"));
            }
            _ => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn typed_words_find_the_manifest_and_the_command() {
        let t = Typed::from_words(&words("aideploy --stage prod -C svc/api plan --target"));
        assert_eq!(t.manifest, Some(PathBuf::from("svc/api")));
        assert_eq!(t.command.as_deref(), Some("plan"));
        let t = Typed::from_words(&words("aideploy --manifest=x.toml init -t"));
        assert_eq!(t.manifest, Some(PathBuf::from("x.toml")));
        assert_eq!(t.command.as_deref(), Some("init"));
    }

    #[test]
    fn init_offers_kinds() {
        assert_eq!(values("target", &words("aideploy init --target")), Kind::ALL.map(|k| k.as_str().to_string()).to_vec());
    }

    #[test]
    fn every_target_flag_in_the_scripts_asks_the_binary() {
        let mut cmd = Cli::command();
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut raw = Vec::new();
            clap_complete::generate(shell, &mut cmd, "aideploy", &mut raw);
            let script = with_dynamic_values(shell, &String::from_utf8_lossy(&raw));
            // plan, up, deploy, build, status, rollback, logs, destroy, init, secrets set/list/rm.
            // zsh calls the binary through one helper function.
            let call = |what: &str| match shell {
                Shell::Zsh => format!("{{_aideploy_values {what}}}"),
                _ => format!("{VALUES_ARG} {what}"),
            };
            let calls = script.matches(&call("target")).count();
            assert!(calls >= 12, "{shell}: {calls} --target completions call the binary");
            assert!(script.contains(&call("stage")), "{shell}: --stage completes from the binary");
            if shell == Shell::Zsh {
                assert!(script.contains(&format!("{VALUES_ARG} $1")), "the helper asks the binary");
            }
        }
    }
}
