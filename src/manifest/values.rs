//! Validating newtypes: a bad value fails while the file is parsed, so the error
//! carries the line and column of the value itself.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{de::Error as _, Deserialize, Deserializer, Serialize};

use super::schema::{CIDR_PATTERN, IMAGE_PATTERN, REPOSITORY_PATTERN, SLUG_PATTERN};

/// Separates an error message from its help line inside a serde custom error, so the
/// help survives the trip through the TOML deserializer (see `diag.rs`).
pub const HELP_SEP: char = '\u{1f}';

/// Stands for the `[secrets]` entry's name in the error a value written there gets;
/// `diag.rs` puts the name from the source in its place.
pub const SECRET_KEY: &str = "\u{1e}KEY\u{1e}";

pub(crate) fn with_help(message: impl fmt::Display, help: impl fmt::Display) -> String {
    format!("{message}{HELP_SEP}{help}")
}

type Check = fn(&str) -> Result<(), String>;

macro_rules! checked_string {
    ($(#[$meta:meta])* $name:ident, $check:expr) => {
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
        #[serde(transparent)]
        $(#[$meta])*
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let check: Check = $check;
                check(s).map(|()| $name(s.to_string()))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(D::Error::custom)
            }
        }
    };
}

fn is_slug(s: &str, max: usize) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= max
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
        && !s.ends_with('-')
        && !s.contains("--")
}

checked_string!(
    /// The application's name: lowercase letters, digits and single dashes, starting
    /// with a letter, at most 40 characters. It is part of every cloud resource name.
    #[schemars(extend("pattern" = SLUG_PATTERN, "maxLength" = 40))]
    AppName,
    |s| {
        if is_slug(s, 40) {
            Ok(())
        } else {
            let suggestion = slugify(s);
            Err(with_help(
                format!("`{s}` is not a valid app name"),
                format!(
                    "use lowercase letters, digits and single dashes, starting with a letter (at most 40), e.g. `{}`",
                    if suggestion.is_empty() { "my-app".to_string() } else { suggestion }
                ),
            ))
        }
    }
);

checked_string!(
    /// A stage name (dev, staging, prod, ...): the same rules as an app name, at most 20.
    #[schemars(extend("pattern" = SLUG_PATTERN, "maxLength" = 20))]
    Stage,
    |s| {
        if is_slug(s, 20) {
            Ok(())
        } else {
            Err(with_help(
                format!("`{s}` is not a valid stage name"),
                "use lowercase letters, digits and dashes, starting with a letter, e.g. `dev` or `prod`",
            ))
        }
    }
);

checked_string!(
    /// A target's name in `[targets.NAME]`.
    #[schemars(extend("pattern" = SLUG_PATTERN, "maxLength" = 40))]
    TargetName,
    |s| {
        if is_slug(s, 40) {
            Ok(())
        } else {
            Err(with_help(
                format!("`{s}` is not a valid target name"),
                "use lowercase letters, digits and dashes, starting with a letter",
            ))
        }
    }
);

/// Turns any string into a valid slug, or an empty string when nothing is left.
pub fn slugify(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(|c| c.to_lowercase()) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_start_matches(|c: char| c.is_ascii_digit()).trim_matches('-');
    let mut out: String = out.chars().take(40).collect();
    while out.ends_with('-') {
        out.pop();
    }
    out
}

checked_string!(
    /// The Python runtime, `python3.9` to `python3.13`.
    #[schemars(extend("enum" = ["python3.9", "python3.10", "python3.11", "python3.12", "python3.13"]))]
    Runtime,
    |s| match s.strip_prefix("python3.").and_then(|m| m.parse::<u32>().ok()) {
        Some(9..=13) => Ok(()),
        _ => Err(with_help(
            format!("unsupported runtime `{s}`"),
            "use one of python3.9, python3.10, python3.11, python3.12, python3.13",
        )),
    }
);

impl Runtime {
    /// `3.11` for `python3.11`.
    pub fn version(&self) -> &str {
        self.0.trim_start_matches("python")
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime("python3.11".into())
    }
}

checked_string!(
    /// The ASGI application object, `module.path:attribute` (e.g. `app.main:app`).
    #[schemars(extend("pattern" = "^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"))]
    AsgiRef,
    |s| {
        let ok = s.split_once(':').is_some_and(|(module, attr)| {
            !module.is_empty()
                && module.split('.').all(is_identifier)
                && is_identifier(attr)
        });
        if ok {
            Ok(())
        } else {
            Err(with_help(
                format!("`{s}` is not an ASGI reference"),
                "write it as `module.path:attribute`, e.g. `app.main:app` for `app = FastAPI()` in app/main.py",
            ))
        }
    }
);

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic()) && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

checked_string!(
    /// The HTTP path that answers 2xx when the app is ready, e.g. `/health`.
    #[schemars(extend("pattern" = "^/\\S*$"))]
    HealthPath,
    |s| {
        if s.starts_with('/') && !s.contains(char::is_whitespace) {
            Ok(())
        } else {
            Err(with_help(
                format!("`{s}` is not an HTTP path"),
                "a health path starts with `/`, e.g. `/health`",
            ))
        }
    }
);

impl Default for HealthPath {
    fn default() -> Self {
        HealthPath("/health".into())
    }
}

checked_string!(
    /// An IPv4 or IPv6 network in CIDR notation, e.g. `203.0.113.0/24`.
    #[schemars(extend("pattern" = CIDR_PATTERN))]
    Cidr,
    |s| {
        let ok = s.split_once('/').is_some_and(|(ip, bits)| {
            match (ip.parse::<std::net::IpAddr>(), bits.parse::<u8>()) {
                (Ok(std::net::IpAddr::V4(_)), Ok(b)) => b <= 32,
                (Ok(std::net::IpAddr::V6(_)), Ok(b)) => b <= 128,
                _ => false,
            }
        });
        if ok {
            Ok(())
        } else {
            Err(with_help(format!("`{s}` is not a CIDR block"), "write it as ADDRESS/BITS, e.g. `203.0.113.0/24`"))
        }
    }
);

checked_string!(
    /// A cloud region, e.g. `us-east-1`, `europe-west1`, `westeurope`, `oregon`.
    #[schemars(extend("pattern" = "^[a-z0-9-]+$", "maxLength" = 40))]
    Region,
    |s| {
        if !s.is_empty() && s.len() <= 40 && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            Ok(())
        } else {
            Err(with_help(format!("`{s}` is not a region name"), "regions are lowercase, e.g. `us-east-1` or `europe-west1`"))
        }
    }
);

/// A TCP port, 1 to 65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Port(#[schemars(range(min = 1, max = 65535))] pub u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        match u16::try_from(n) {
            Ok(p) if p > 0 => Ok(Port(p)),
            _ => Err(D::Error::custom(with_help(format!("port {n} is out of range"), "a port is a number from 1 to 65535, e.g. 8000"))),
        }
    }
}

impl Default for Port {
    fn default() -> Self {
        Port(8000)
    }
}

/// A duration in whole seconds, at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Seconds(#[schemars(range(min = 1))] pub u32);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        match u32::try_from(n) {
            Ok(s) if s > 0 => Ok(Seconds(s)),
            _ => Err(D::Error::custom(with_help(format!("{n} is not a duration"), "give a whole number of seconds, at least 1"))),
        }
    }
}

/// Memory in MiB: a number (`1024`) or a string with a unit (`"512Mi"`, `"2Gi"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Memory {
    #[schemars(with = "MemoryRepr")]
    pub mib: u32,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum MemoryRepr {
    Mib(#[schemars(range(min = 1))] u32),
    WithUnit(#[schemars(regex(pattern = "^\\s*0*[1-9][0-9]*(Mi|MiB|M|MB|Gi|GiB|G|GB)?\\s*$"))] String),
}

impl<'de> Deserialize<'de> for Memory {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(i64),
            S(String),
        }
        let bad = |what: &str| {
            D::Error::custom(with_help(
                format!("`{what}` is not an amount of memory"),
                "give MiB as a number (1024) or a string with a unit: \"512Mi\", \"2Gi\"",
            ))
        };
        let mib = match Raw::deserialize(d)? {
            Raw::N(n) => u32::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| bad(&n.to_string()))?,
            Raw::S(s) => parse_memory(&s).ok_or_else(|| bad(&s))?,
        };
        Ok(Memory { mib })
    }
}

fn parse_memory(s: &str) -> Option<u32> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mib = match unit {
        "" | "Mi" | "MiB" | "M" | "MB" => n,
        "Gi" | "GiB" | "G" | "GB" => n * 1024,
        _ => return None,
    };
    u32::try_from(mib).ok().filter(|m| *m > 0)
}

/// The kinds of target aideploy knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// AWS Lambda behind an API Gateway HTTP API.
    Lambda,
    /// Google Cloud Run.
    Cloudrun,
    /// Azure App Service (Linux, container).
    Appservice,
    /// An AWS EC2 GPU instance running the app's container.
    Ec2,
    /// An AWS SageMaker real-time endpoint.
    Sagemaker,
    /// Railway.
    Railway,
    /// Render.
    Render,
    /// This machine: the app as a local process.
    Local,
}

impl Kind {
    pub const ALL: [Kind; 8] =
        [Kind::Local, Kind::Lambda, Kind::Cloudrun, Kind::Appservice, Kind::Ec2, Kind::Sagemaker, Kind::Railway, Kind::Render];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Lambda => "lambda",
            Kind::Cloudrun => "cloudrun",
            Kind::Appservice => "appservice",
            Kind::Ec2 => "ec2",
            Kind::Sagemaker => "sagemaker",
            Kind::Railway => "railway",
            Kind::Render => "render",
            Kind::Local => "local",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// CPU architecture of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X86_64,
    Arm64,
}

/// How the app is packaged for a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Package {
    Zip,
    Image,
}

/// An image platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Platform {
    #[serde(rename = "linux/amd64")]
    LinuxAmd64,
    #[serde(rename = "linux/arm64")]
    LinuxArm64,
}

impl Platform {
    pub fn arch(self) -> Arch {
        match self {
            Platform::LinuxAmd64 => Arch::X86_64,
            Platform::LinuxArm64 => Arch::Arm64,
        }
    }
}

fn check_repository(s: &str, allow_tag: bool) -> Result<(), String> {
    let (without_digest, digest) = match s.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (s, None),
    };
    // The tag follows the last `:` after the last `/` (an earlier `:` is a port).
    let last = without_digest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match without_digest[last..].find(':') {
        Some(j) => (&without_digest[..last + j], Some(&without_digest[last + j + 1..])),
        None => (without_digest, None),
    };
    let parts: Vec<&str> = name.split('/').collect();
    let has_registry = parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost" || parts[0].starts_with('['));
    let name_ok = parts.iter().enumerate().all(|(i, part)| {
        !part.is_empty()
            && if i == 0 && has_registry {
                part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
            } else {
                part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
            }
    });
    let tag_ok =
        tag.is_none_or(|t| !t.is_empty() && t.len() <= 128 && t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')));
    let digest_ok =
        digest.is_none_or(|d| d.strip_prefix("sha256:").is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit())));
    if allow_tag && name_ok && tag_ok && digest_ok {
        Ok(())
    } else if allow_tag {
        Err(with_help(
            format!("`{s}` is not an image name"),
            "write it as [registry/]repository[:tag][@sha256:digest], e.g. `python:3.11-slim`",
        ))
    } else if name_ok && tag.is_none() && digest.is_none() && has_registry {
        Ok(())
    } else {
        Err(with_help(
            format!("`{s}` is not a repository to push to"),
            "write it as registry/repository, lowercase, without a tag, e.g. `ghcr.io/acme/rag` or `127.0.0.1:5000/rag`",
        ))
    }
}

checked_string!(
    /// An image name: `[registry/]repository[:tag][@sha256:digest]`.
    #[schemars(extend("pattern" = IMAGE_PATTERN))]
    ImageName,
    |s| check_repository(s, true)
);

checked_string!(
    /// A repository to push to: `registry/repository` (no tag).
    #[schemars(extend("pattern" = REPOSITORY_PATTERN))]
    Repository,
    |s| check_repository(s, false)
);

/// The model server for an `ec2` target serving an open model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelServer {
    Vllm,
    Tgi,
}

/// Request throttling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Steady requests per second.
    pub rps: u32,
    /// Burst size.
    pub burst: u32,
}

/// Cross-origin resource sharing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    #[serde(default)]
    pub allow_methods: Vec<String>,
    #[serde(default)]
    pub allow_headers: Vec<String>,
    pub max_age: Option<u32>,
}

/// SageMaker serverless inference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Serverless {
    pub memory: Memory,
    pub max_concurrency: u32,
}

/// An `[env]` value: strings, numbers and booleans are passed as strings.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct EnvValue(#[schemars(with = "EnvValueRepr")] pub String);

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum EnvValueRepr {
    S(String),
    I(i64),
    F(f64),
    B(bool),
}

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            I(i64),
            F(f64),
            B(bool),
        }
        let raw = Raw::deserialize(d).map_err(|_| {
            D::Error::custom(with_help(
                "an [env] value must be a string, number or boolean",
                "write it as KEY = \"value\"; tables and arrays are not environment values",
            ))
        })?;
        Ok(EnvValue(match raw {
            Raw::S(s) => s,
            Raw::I(i) => i.to_string(),
            Raw::F(f) => f.to_string(),
            Raw::B(b) => b.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugify_makes_valid_names() {
        assert_eq!(slugify("My RAG_App"), "my-rag-app");
        assert_eq!(slugify("123abc"), "abc");
        assert_eq!(slugify("--"), "");
        assert!("my-rag-app".parse::<AppName>().is_ok());
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("512Mi"), Some(512));
        assert_eq!(parse_memory("2Gi"), Some(2048));
        assert_eq!(parse_memory("2Ti"), None);
        assert_eq!(parse_memory("0"), None);
    }

    #[test]
    fn names_reject_bad_shapes() {
        for bad in ["", "A", "1a", "a_b", "a-", "a--b", &"a".repeat(41)] {
            assert!(bad.parse::<AppName>().is_err(), "{bad}");
        }
        assert!("app.main:app".parse::<AsgiRef>().is_ok());
        for bad in ["app.main", "app..main:app", ":app", "app:1x"] {
            assert!(bad.parse::<AsgiRef>().is_err(), "{bad}");
        }
        assert!("10.0.0.0/8".parse::<Cidr>().is_ok());
        assert!("python:3.11-slim".parse::<ImageName>().is_ok());
        assert!("127.0.0.1:5000/base/python:3.11".parse::<ImageName>().is_ok());
        assert!(format!("ghcr.io/a/b@sha256:{}", "a".repeat(64)).parse::<ImageName>().is_ok());
        assert!("Python:3".parse::<ImageName>().is_err());
        assert!("ghcr.io/acme/rag".parse::<Repository>().is_ok());
        assert!("localhost:5000/rag".parse::<Repository>().is_ok());
        assert!("rag".parse::<Repository>().is_err());
        assert!("ghcr.io/acme/rag:latest".parse::<Repository>().is_err());
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    }
}
