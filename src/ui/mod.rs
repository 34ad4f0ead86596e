//! The output contract: results on stdout (one JSON object with `--json`), everything
//! else (progress, plans shown before a prompt, warnings, prompts) on stderr. Decided
//! once, from the flags and the terminal, in `Ui::new`.

pub mod prompt;
mod reporter;

use std::io::{IsTerminal, Write};

use anyhow::Result;

use crate::cli::GlobalArgs;
use crate::envvars;
use crate::error::UsageError;

pub use reporter::StderrReporter;

/// One line (or block) on stdout. A closed pipe (`aideploy status | head -1`) is not an
/// error.
pub fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

#[derive(Debug, Clone)]
pub struct Ui {
    pub json: bool,
    pub quiet: u8,
    pub verbose: u8,
    pub progress: bool,
    /// A person can answer prompts: stdin and stderr are terminals and CI is unset.
    pub interactive: bool,
    pub yes: bool,
    /// How long to wait for another run's lease (`--lock-timeout`).
    pub lock_timeout: std::time::Duration,
}

impl Ui {
    pub fn new(g: &GlobalArgs) -> Self {
        let ci = std::env::var_os(envvars::CI).is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
        let stderr_tty = std::io::stderr().is_terminal();
        let interactive = !ci && std::io::stdin().is_terminal() && stderr_tty;
        if std::env::var_os(envvars::NO_COLOR).is_some_and(|v| !v.is_empty()) {
            console::set_colors_enabled(false);
            console::set_colors_enabled_stderr(false);
        }
        Ui {
            json: g.json,
            quiet: g.quiet,
            verbose: g.verbose,
            progress: stderr_tty && !g.no_progress && g.quiet == 0 && !ci,
            interactive,
            yes: g.yes,
            lock_timeout: g.lock_timeout,
        }
    }

    /// The result, on stdout.
    pub fn result(&self, text: &str) {
        print_stdout(text);
    }

    pub fn result_json(&self, value: &serde_json::Value) {
        self.result(&serde_json::to_string_pretty(value).expect("json"));
    }

    /// Information for a person, on stderr; silenced by -q.
    pub fn info(&self, text: &str) {
        if self.quiet == 0 {
            eprintln!("{text}");
        }
    }

    pub fn warn(&self, text: &str) {
        eprintln!("{} {text}", console::style("warning:").yellow().bold().for_stderr());
    }

    /// Asks before changing something. At a terminal: a yes/no prompt. Elsewhere: an
    /// error naming `--yes`, since nobody can answer.
    pub fn confirm(&self, question: &str) -> Result<bool> {
        if self.yes {
            return Ok(true);
        }
        if !self.interactive {
            return Err(UsageError::new("refusing to apply changes without confirmation")
                .hint("stdin is not a terminal (or CI is set): pass --yes to apply")
                .into());
        }
        prompt::run(|| dialoguer::Confirm::new().with_prompt(question).default(false).interact())
    }

    /// Asks for a line of text at a terminal; without one, `flag` is the way to give it.
    pub fn ask(&self, question: &str, default: &str, flag: &str) -> Result<String> {
        self.ask_valid(question, default, flag, |_| Ok(()))
    }

    /// Like [`Ui::ask`]; an answer `check` refuses is explained and asked again.
    pub fn ask_valid(&self, question: &str, default: &str, flag: &str, check: impl Fn(&str) -> Result<(), String>) -> Result<String> {
        if !self.interactive {
            return Err(UsageError::new(format!("{question}: no terminal to ask at")).hint(format!("pass {flag}")).into());
        }
        prompt::run(|| {
            dialoguer::Input::<String>::new()
                .with_prompt(question)
                .default(default.to_string())
                .validate_with(|answer: &String| check(answer))
                .interact_text()
        })
    }

    pub fn select(&self, question: &str, items: &[&str], default: usize, flag: &str) -> Result<usize> {
        if !self.interactive {
            return Err(UsageError::new(format!("{question}: no terminal to ask at")).hint(format!("pass {flag}")).into());
        }
        prompt::run(|| dialoguer::Select::new().with_prompt(question).items(items).default(default).interact())
    }

    /// Reads a secret without echo; `None` when nobody can be asked.
    pub fn ask_secret(&self, question: &str) -> Result<Option<String>> {
        if !self.interactive {
            return Ok(None);
        }
        prompt::secret(question).map(Some)
    }

    pub fn reporter(&self) -> StderrReporter {
        StderrReporter::new(self.progress, self.quiet, self.verbose)
    }
}
