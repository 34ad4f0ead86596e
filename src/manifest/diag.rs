//! Manifest diagnostics: every error points at a span of the file (or of a `--set`
//! argument) and says how to fix it.

use std::fmt;
use std::ops::Range;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

use super::secret_like;
use super::values::{HELP_SEP, SECRET_KEY};

#[derive(Debug)]
pub struct ManifestError {
    pub source_name: String,
    pub source_text: String,
    pub span: Range<usize>,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
    pub code: &'static str,
    src: NamedSource<String>,
    /// The values masked in the source, to mask in the texts as well.
    known: Vec<String>,
}

impl ManifestError {
    /// The source is quoted with its secret-looking values masked, and so is every
    /// message, label and help line: a credential written in the wrong place is never
    /// echoed back (to a terminal, a CI log, or `--json`).
    pub fn new(source_name: &str, source_text: &str, span: Range<usize>, code: &'static str, message: impl Into<String>) -> Self {
        let known = secret_like::secrets_in_source(source_text);
        let source_text = &secret_like::mask_in_source(source_text);
        let len = source_text.len();
        let span = span.start.min(len)..span.end.min(len).max(span.start.min(len));
        ManifestError {
            source_name: source_name.to_string(),
            source_text: source_text.to_string(),
            span,
            message: secret_like::mask_message(&message.into(), &known),
            label: "here".into(),
            help: None,
            code,
            src: NamedSource::new(source_name, source_text.to_string()),
            known,
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = secret_like::mask_message(&label.into(), &self.known);
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(secret_like::mask_message(&help.into(), &self.known));
        self
    }

    /// Builds a diagnostic from the TOML parser's error: syntax errors, serde errors
    /// (unknown keys and variants get a "did you mean"), and our newtypes' own messages,
    /// which carry their help after `HELP_SEP`.
    pub fn from_toml(err: &toml::de::Error, source_name: &str, source_text: &str) -> Self {
        let span = err.span().unwrap_or(0..0);
        let mut raw = err.message().trim().to_string();
        for int in ["i64", "u16", "u32", "u64", "u8"] {
            raw = raw.replace(&format!("expected {int}"), "expected an integer");
        }
        raw = raw.replace("expected f64", "expected a number");
        // serde names our Rust types ("expected struct TargetSettings"): the user wrote a table.
        if let Some((head, expected)) = raw.split_once(", expected struct ") {
            if expected.chars().all(|c| c.is_ascii_alphanumeric()) {
                raw = format!("{head}, expected a table");
            }
        }
        raw = raw.replace(", expected a map", ", expected a table");
        if raw == "duplicate key" {
            if let Some(key) = source_text.get(span.clone()).filter(|k| !k.is_empty()) {
                raw = format!("duplicate key `{key}`");
            }
        }
        if raw.contains(SECRET_KEY) {
            // A value written as a `[secrets]` entry: name the entry (from the line the
            // value stands on), never the value.
            let line_start = source_text.get(..span.start).map_or(0, |t| t.rfind('\n').map_or(0, |i| i + 1));
            let key = source_text
                .get(line_start..span.start)
                .and_then(|t| t.split_once('='))
                .map(|(k, _)| k.trim())
                .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or("NAME");
            raw = raw.replace(SECRET_KEY, key);
            if let Some((message, help)) = raw.split_once(HELP_SEP) {
                return ManifestError::new(source_name, source_text, span, "aideploy::manifest::secret_value_in_file", message)
                    .label("a value, where a table belongs")
                    .help(help);
            }
        }
        if let Some((message, help)) = raw.split_once(HELP_SEP) {
            return ManifestError::new(source_name, source_text, span, "aideploy::manifest::invalid_value", message)
                .label("invalid value")
                .help(help);
        }
        if let Some((what, rest)) = parse_unknown(&raw) {
            let expected = parse_names(rest);
            let (noun, code) = match what.1 {
                Unknown::Field => ("key", "aideploy::manifest::unknown_key"),
                Unknown::Variant => ("value", "aideploy::manifest::unknown_value"),
            };
            let mut e = ManifestError::new(source_name, source_text, span, code, format!("unknown {noun} `{}`", what.0))
                .label(format!("unknown {noun}"));
            let help = match did_you_mean(what.0, expected.iter().map(String::as_str)) {
                Some(best) => format!("did you mean `{best}`?"),
                None if expected.is_empty() => format!("this table takes no key `{}`", what.0),
                None => format!("expected one of: {}", expected.join(", ")),
            };
            e = e.help(help);
            return e;
        }
        if let Some(field) = raw.strip_prefix("missing field `").and_then(|r| r.strip_suffix('`')) {
            return ManifestError::new(source_name, source_text, span, "aideploy::manifest::missing_key", format!("missing key `{field}`"))
                .label(format!("`{field}` is required in this table"))
                .help(missing_help(field));
        }
        if raw.starts_with("invalid type") {
            return ManifestError::new(source_name, source_text, span, "aideploy::manifest::wrong_type", raw.clone())
                .label("wrong type")
                .help(type_help(&raw));
        }
        let code = if raw.starts_with("duplicate key") {
            "aideploy::manifest::duplicate_key"
        } else if raw.starts_with("invalid value") {
            "aideploy::manifest::invalid_value"
        } else {
            "aideploy::manifest::syntax"
        };
        let help = if code == "aideploy::manifest::syntax" {
            "aideploy.toml is TOML: strings are quoted (\"...\"), tables start with [name]"
        } else if code == "aideploy::manifest::duplicate_key" {
            "each key may appear once in a table; remove one of them"
        } else {
            "see `aideploy schema` for the allowed values"
        };
        ManifestError::new(source_name, source_text, span, code, raw.clone()).label("here").help(help)
    }
}

fn missing_help(field: &str) -> String {
    match field {
        "version" => "add `version = 1` at the top of the file".into(),
        "app" => "add an [app] table with at least `name` and `asgi` or `command`".into(),
        "name" => "add `name = \"my-app\"` to [app]".into(),
        other => format!("add `{other} = ...`; see `aideploy schema`"),
    }
}

fn type_help(raw: &str) -> String {
    // Only what was expected decides the advice: "invalid type: integer `3`, expected a
    // table" must not be told to write a number.
    let expected = raw.rsplit_once(", expected ").map_or(raw, |(_, e)| e);
    if raw.contains(" as i128") {
        "this number is too large; see `aideploy schema` for the allowed range".into()
    } else if expected.contains("a string") || expected.contains("a borrowed string") {
        "put the value in quotes: KEY = \"value\"".into()
    } else if expected.contains("integer") || expected.contains("a number") {
        "write a number without quotes: KEY = 30".into()
    } else if expected.contains("a table") {
        "write a table: a `[section]` header followed by its keys, or `KEY = { ... }`".into()
    } else if expected.contains("a boolean") {
        "write true or false without quotes".into()
    } else {
        "see `aideploy schema` for the expected type".into()
    }
}

enum Unknown {
    Field,
    Variant,
}

fn parse_unknown(raw: &str) -> Option<((&str, Unknown), &str)> {
    let (rest, kind) = if let Some(r) = raw.strip_prefix("unknown field `") {
        (r, Unknown::Field)
    } else if let Some(r) = raw.strip_prefix("unknown variant `") {
        (r, Unknown::Variant)
    } else {
        return None;
    };
    let (name, rest) = rest.split_once('`')?;
    Some(((name, kind), rest))
}

fn parse_names(rest: &str) -> Vec<String> {
    rest.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// The closest candidate to `input`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(input, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ManifestError {}

impl Diagnostic for ManifestError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(Some(self.label.clone()), self.span.clone()))))
    }
}

/// All the problems found in one manifest; rendered one after the other.
#[derive(Debug)]
pub struct ManifestErrors(pub Vec<ManifestError>);

impl ManifestErrors {
    /// The closing line under the diagnostics: `3 problems in aideploy.toml`.
    pub fn summary(&self) -> String {
        let n = self.0.len();
        let noun = if n == 1 { "problem" } else { "problems" };
        let mut sources: Vec<&str> = self.0.iter().map(|e| e.source_name.as_str()).collect();
        sources.dedup();
        match sources.as_slice() {
            ["--set"] => format!("{n} {noun} in the --set values"),
            [one] => format!("{n} {noun} in {one}"),
            _ => format!("{n} {noun}"),
        }
    }
}

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            _ => f.write_str(&self.summary()),
        }
    }
}

impl From<ManifestError> for ManifestErrors {
    fn from(e: ManifestError) -> Self {
        ManifestErrors(vec![e])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("nme", ["name", "runtime", "port"]), Some("name"));
        assert_eq!(did_you_mean("lamda", ["lambda", "local"]), Some("lambda"));
        assert_eq!(did_you_mean("zzz", ["name", "port"]), None);
    }

    #[test]
    fn expected_names_are_parsed() {
        assert_eq!(parse_names(", expected one of `a`, `b`"), vec!["a", "b"]);
    }
}
