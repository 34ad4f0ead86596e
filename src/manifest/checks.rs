//! `[[checks]]`: requests a deploy sends to the live app right after it takes the
//! traffic, and what each answer must look like. The engine runs them
//! (`engine::checks`); this module reads and validates them.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{de::Error as _, Deserialize, Deserializer, Serialize};

use super::diag::ManifestError;
use super::values::with_help;
use super::Sp;

/// How long a check may take when it says no `max_latency_ms`.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// The most a check's time limits may say: ten minutes.
pub const MAX_MS: u64 = 600_000;

/// One `[[checks]]` entry: a request, and what its answer must be.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("allOf" = [
    { "not": { "required": ["json", "body"] } },
    {
        "if": { "not": { "properties": { "stream": { "const": true } }, "required": ["stream"] } },
        "then": { "properties": { "min_events": false, "max_first_byte_ms": false } }
    }
]))]
pub struct Check {
    /// What the check is called in output; unique among the checks.
    #[schemars(extend("minLength" = 1, "maxLength" = 80))]
    pub name: Sp<String>,
    /// The HTTP method. Default `GET`.
    #[serde(default)]
    pub method: Method,
    /// The path (and query) the request goes to, starting with `/`.
    pub path: Sp<RequestPath>,
    /// A JSON request body (sent with `content-type: application/json`).
    pub json: Option<Sp<serde_json::Value>>,
    /// Or: a text request body, sent as written.
    pub body: Option<Sp<String>>,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<Sp<String>, Sp<String>>,
    /// The status the answer must have. Default 200.
    #[schemars(range(min = 100, max = 599))]
    pub expect_status: Option<Sp<u16>>,
    /// JSON paths (dotted, `a.b.0.c`) of the answer and the glob (`*`, `?`) each value's
    /// text must match; a value that is not a string is matched as its JSON text.
    #[serde(default)]
    pub expect_json: BTreeMap<Sp<String>, Sp<ExpectValue>>,
    /// A glob (`*`, `?`) the whole answer's body must match.
    pub expect_body: Option<Sp<String>>,
    /// The most the whole request may take, in milliseconds (default: 30 s).
    #[schemars(range(min = 1, max = 600000))]
    pub max_latency_ms: Option<Sp<u64>>,
    /// The answer is a stream: server-sent events (`text/event-stream`: `data:` events are
    /// counted) or a chunked body (chunks are counted).
    #[serde(default)]
    pub stream: bool,
    /// With `stream = true`: the most the first bytes of the answer may take (ms).
    #[schemars(range(min = 1, max = 600000))]
    pub max_first_byte_ms: Option<Sp<u64>>,
    /// With `stream = true`: the fewest events (or chunks) the answer must have.
    #[schemars(range(min = 1))]
    pub min_events: Option<Sp<u32>>,
}

impl Check {
    pub fn status(&self) -> u16 {
        self.expect_status.as_ref().map_or(200, |s| *s.get())
    }

    /// How long the check may take in all.
    pub fn timeout_ms(&self) -> u64 {
        self.max_latency_ms.as_ref().map_or(DEFAULT_TIMEOUT_MS, |m| *m.get())
    }

    /// `POST /query`, `GET /chat/stream (stream)`: for plans and output.
    pub fn describe(&self) -> String {
        format!("{} {}{}", self.method, self.path.get(), if self.stream { " (stream)" } else { "" })
    }
}

/// An HTTP method a check may send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request path with its query, starting with `/`, e.g. `/chat/stream?q=hi`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(transparent)]
#[schemars(extend("pattern" = "^/[^\\s]*$"))]
pub struct RequestPath(String);

impl RequestPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RequestPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.starts_with('/') && !s.contains(char::is_whitespace) {
            Ok(RequestPath(s))
        } else {
            Err(D::Error::custom(with_help(
                format!("`{s}` is not an HTTP path"),
                "a check's path starts with `/` and has no spaces, e.g. `/query` or `/chat/stream?q=hi`",
            )))
        }
    }
}

/// What an `expect_json` entry wants: a glob on a string's text, or any other TOML value
/// matched as its JSON text.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct ExpectValue(pub serde_json::Value);

impl ExpectValue {
    /// The glob the value's text must match.
    pub fn pattern(&self) -> String {
        match &self.0 {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// The rules no single field can check: names unique and set, stream-only settings on
/// streams only, one body, header names and values HTTP takes, JSON paths with no
/// empty part.
pub(super) fn check_all(checks: &[Check], name: &str, text: &str) -> Vec<ManifestError> {
    let err = |span: std::ops::Range<usize>, msg: String| ManifestError::new(name, text, span, "aideploy::manifest::check", msg);
    let mut errors = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for c in checks {
        let n = c.name.get().as_str();
        if n.trim().is_empty() {
            errors.push(
                err(c.name.span.clone(), "a check's `name` is empty".into())
                    .label("empty name")
                    .help("name the check by what it proves, e.g. `name = \"answers a question\"`"),
            );
        } else if seen.contains(&n) {
            errors.push(
                err(c.name.span.clone(), format!("two checks are named `{n}`"))
                    .label("second check of this name")
                    .help("give each `[[checks]]` entry its own name: output and `--json` tell them apart by it"),
            );
        } else if n.chars().count() > 80 {
            errors
                .push(err(c.name.span.clone(), "a check's `name` is over 80 characters".into()).label("too long").help("use a short name"));
        }
        seen.push(n);
        if !c.stream {
            for (key, v) in [
                ("min_events", c.min_events.as_ref().map(|v| v.span.clone())),
                ("max_first_byte_ms", c.max_first_byte_ms.as_ref().map(|v| v.span.clone())),
            ] {
                if let Some(span) = v {
                    errors.push(
                        err(span, format!("`{key}` is for streamed answers, and check `{n}` is not one"))
                            .label("needs `stream = true`")
                            .help(format!("add `stream = true` to check `{n}`, or remove `{key}`")),
                    );
                }
            }
        }
        if let (Some(_), Some(body)) = (&c.json, &c.body) {
            errors.push(
                err(body.span.clone(), format!("check `{n}` has both `json` and `body`"))
                    .label("a second request body")
                    .help("keep `json` for a JSON body (sent as application/json), or `body` for text"),
            );
        }
        if let Some(s) = &c.expect_status {
            if !(100..=599).contains(s.get()) {
                errors.push(
                    err(s.span.clone(), format!("{} is not an HTTP status", s.get()))
                        .label("not 100–599")
                        .help("HTTP statuses are 100 to 599, e.g. `expect_status = 200`"),
                );
            }
        }
        for ms in [&c.max_latency_ms, &c.max_first_byte_ms].into_iter().flatten() {
            if *ms.get() == 0 || *ms.get() > MAX_MS {
                errors.push(
                    err(ms.span.clone(), format!("{} ms is out of range", ms.get()))
                        .label("1 to 600000")
                        .help("time limits are milliseconds, from 1 to 600000 (ten minutes)"),
                );
            }
        }
        if let Some(m) = &c.min_events {
            if *m.get() == 0 {
                errors.push(
                    err(m.span.clone(), "`min_events = 0` checks nothing".into())
                        .label("at least 1")
                        .help("ask for 1 or more events, or remove it"),
                );
            }
        }
        for (k, v) in &c.headers {
            if reqwest::header::HeaderName::from_bytes(k.get().as_bytes()).is_err() {
                errors.push(
                    err(k.span.clone(), format!("`{}` is not an HTTP header name", k.get()))
                        .label("invalid header name")
                        .help("header names are letters, digits and `-`, e.g. `x-test`"),
                );
            } else if reqwest::header::HeaderValue::from_str(v.get()).is_err() {
                errors.push(
                    err(v.span.clone(), format!("the value of header `{}` is not one HTTP takes", k.get()))
                        .label("invalid header value")
                        .help("header values are visible ASCII on one line"),
                );
            }
        }
        for path in c.expect_json.keys() {
            if path.get().split('.').any(str::is_empty) {
                errors.push(
                    err(path.span.clone(), format!("`{}` is not a JSON path", path.get()))
                        .label("an empty part")
                        .help("JSON paths are keys and array indexes joined by dots, e.g. `answer` or `sources.0.id`"),
                );
            }
        }
    }
    errors
}
