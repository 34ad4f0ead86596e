//! Turning an error into what a person (or `--json` reader) sees, and its exit code.

use std::io::IsTerminal;

use miette::{GraphicalReportHandler, GraphicalTheme};
use serde_json::json;

use crate::error::{exit, Failure};
use crate::manifest::ManifestErrors;

pub fn exit_code(err: &anyhow::Error) -> u8 {
    Failure::of(err).map_or(exit::FAILED, Failure::exit_code)
}

fn manifest_errors(err: &anyhow::Error) -> Option<&ManifestErrors> {
    Failure::of(err).and_then(Failure::manifest_errors)
}

pub fn hint_of(err: &anyhow::Error) -> Option<String> {
    Failure::of(err).and_then(Failure::hint)
}

/// An error's first line and its hint, for a table cell or a one-line warning.
pub fn one_line(e: &anyhow::Error) -> String {
    let text = format!("{e}");
    let first = text.lines().next().unwrap_or_default().to_string();
    match hint_of(e) {
        Some(h) => format!("{first} ({h})"),
        None => first,
    }
}

/// Prints `err` on stderr (and as JSON on stdout with `--json`).
pub fn print(err: &anyhow::Error, json_mode: bool) {
    let color = std::io::stderr().is_terminal() && std::env::var_os(crate::envvars::NO_COLOR).is_none();
    if let Some(list) = manifest_errors(err) {
        let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(100).with_links(false);
        for e in &list.0 {
            let mut out = String::new();
            let _ = handler.render_report(&mut out, e);
            eprintln!("{out}");
        }
        let red = |s: &str| if color { console::style(s).red().bold().force_styling(true).to_string() } else { s.to_string() };
        eprintln!("{} {}", red("error:"), list.summary());
        if json_mode {
            let errors: Vec<_> = list
                .0
                .iter()
                .map(|e| {
                    let (line, col) = line_col(&e.source_text, e.span.start);
                    json!({"code": e.code, "message": e.message, "help": e.help, "file": e.source_name, "line": line, "column": col})
                })
                .collect();
            crate::ui::print_stdout(
                &serde_json::to_string_pretty(&json!({ "error": { "code": "manifest", "message": list.summary(), "errors": errors } }))
                    .expect("json"),
            );
        }
        return;
    }
    // Ctrl-C is the user's choice, not a failure: one short line, no `error:`.
    if matches!(Failure::of(err), Some(Failure::Interrupted)) {
        eprintln!("interrupted");
        if json_mode {
            crate::ui::print_stdout(
                &serde_json::to_string_pretty(
                    &json!({ "error": { "message": "interrupted", "causes": [], "help": null, "exit_code": exit::INTERRUPTED } }),
                )
                .expect("json"),
            );
        }
        return;
    }
    let red = |s: &str| if color { console::style(s).red().bold().force_styling(true).to_string() } else { s.to_string() };
    let mut text = format!("{} {err}", red("error:"));
    for cause in err.chain().skip(1) {
        text.push_str(&format!("\n  caused by: {cause}"));
    }
    let hint = hint_of(err);
    if let Some(h) = &hint {
        text.push_str(&format!("\n  help: {h}"));
    }
    // A secret value read in this run never reaches the terminal or a CI log, whatever
    // error carried it here (an API echoing a request, a health check's body).
    let redact = crate::secrets::redact::everywhere;
    eprintln!("{}", redact(&text));
    if json_mode {
        let causes: Vec<String> = err.chain().skip(1).map(|c| redact(&c.to_string())).collect();
        let hint = hint.as_deref().map(redact);
        crate::ui::print_stdout(
            &serde_json::to_string_pretty(
                &json!({ "error": { "message": redact(&err.to_string()), "causes": causes, "help": hint, "exit_code": exit_code(err) } }),
            )
            .expect("json"),
        );
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}
