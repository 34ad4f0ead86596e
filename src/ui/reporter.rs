//! Progress on stderr: a spinner with elapsed time at a terminal, plain lines elsewhere
//! (CI logs, `--no-progress`). Either way each finished step ends with a `✓` line and its
//! duration. Plain lines start with `·`, never with `-`, which plans use for deletions.
//! The spinner is cleared by `Drop`, so no error path has to remember it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::engine::Reporter;

pub struct StderrReporter {
    progress: bool,
    quiet: u8,
    verbose: u8,
    spinner: Mutex<Option<(ProgressBar, Instant, String)>>,
    /// The running step without a spinner: when it started, and its message.
    plain: Mutex<Option<(Instant, String)>>,
}

impl StderrReporter {
    pub fn new(progress: bool, quiet: u8, verbose: u8) -> Self {
        StderrReporter { progress, quiet, verbose, spinner: Mutex::new(None), plain: Mutex::new(None) }
    }

    fn finish_current(&self) {
        if let Some((bar, started, message)) = self.spinner.lock().expect("lock").take() {
            bar.finish_and_clear();
            eprintln!("{}", finished_line(&message, started.elapsed()));
        }
        if let Some((started, message)) = self.plain.lock().expect("lock").take() {
            eprintln!("{}", finished_line(&message, started.elapsed()));
        }
    }
}

/// `  ✓ building image (4.2s)`
fn finished_line(message: &str, took: Duration) -> String {
    format!("  {} {message} ({})", console::style("✓").green().for_stderr(), fmt_elapsed(took))
}

fn fmt_elapsed(d: Duration) -> String {
    if d.as_secs() >= 1 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl Reporter for StderrReporter {
    fn step(&self, message: &str) {
        if self.quiet > 0 {
            return;
        }
        self.finish_current();
        if self.progress {
            let bar = ProgressBar::new_spinner();
            bar.set_style(ProgressStyle::with_template("  {spinner} {msg} ({elapsed})").expect("template"));
            bar.set_message(message.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            *self.spinner.lock().expect("lock") = Some((bar, Instant::now(), message.to_string()));
        } else {
            eprintln!("  · {message}");
            *self.plain.lock().expect("lock") = Some((Instant::now(), message.to_string()));
        }
    }

    fn progress(&self, message: &str) {
        if self.quiet > 0 {
            return;
        }
        let guard = self.spinner.lock().expect("lock");
        match guard.as_ref() {
            Some((bar, _, step)) => bar.set_message(format!("{step}: {message}")),
            None if self.verbose > 0 => eprintln!("    {message}"),
            None => {}
        }
    }

    fn warn(&self, message: &str) {
        let guard = self.spinner.lock().expect("lock");
        let line = format!("{} {message}", console::style("warning:").yellow().bold().for_stderr());
        match guard.as_ref() {
            Some((bar, _, _)) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn detail(&self, message: &str) {
        if self.verbose == 0 {
            return;
        }
        let guard = self.spinner.lock().expect("lock");
        match guard.as_ref() {
            Some((bar, _, _)) => bar.suspend(|| eprintln!("    {message}")),
            None => eprintln!("    {message}"),
        }
    }

    fn done(&self) {
        self.finish_current();
    }
}

impl Drop for StderrReporter {
    fn drop(&mut self) {
        if let Some((bar, _, _)) = self.spinner.lock().map(|mut g| g.take()).ok().flatten() {
            bar.finish_and_clear();
        }
    }
}
