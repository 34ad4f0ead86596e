//! `[targets.NAME]`: one table type for the settings of every kind, each setting
//! listed once with the kinds it applies to, so that a setting given to the wrong kind
//! is an error pointing at its line, and `--set KEY=VALUE` is checked by the same code.

use std::ops::Range;

use schemars::JsonSchema;
use serde::Deserialize;

pub use super::settings::{Resolved, TargetSettings};

use super::diag::{did_you_mean, ManifestError};
use super::values::*;
use super::{Manifest, ManifestErrors, Sp};
use crate::error::UsageError;

/// The name of an environment variable (letters, digits and `_`, not starting with a
/// digit): where a value is read from, never the value itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, JsonSchema)]
#[serde(transparent)]
#[schemars(extend("pattern" = super::schema::ENV_NAME_PATTERN, "maxLength" = 100))]
pub struct VarName(String);

impl VarName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for VarName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // A credential written here by mistake is not echoed back.
        if let Some(what) = super::secret_like::detect("", s) {
            return Err(super::values::with_help(
                format!("this looks like {what}, not the name of a variable"),
                "name the variable that holds the password (e.g. `REGISTRY_PULL_TOKEN`) and put the value in the environment or .env",
            ));
        }
        let mut chars = s.chars();
        let ok = matches!(chars.next(), Some('A'..='Z' | 'a'..='z' | '_')) && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok && s.len() <= 100 {
            Ok(VarName(s.to_string()))
        } else {
            Err(super::values::with_help(
                "not the name of an environment variable",
                "use letters, digits and `_`, not starting with a digit, e.g. `REGISTRY_PULL_TOKEN`",
            ))
        }
    }
}

impl<'de> Deserialize<'de> for VarName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(<D::Error as serde::de::Error>::custom)
    }
}

/// A target chosen for one run: its settings from the file, with `--set` applied.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub kind: Kind,
    pub settings: TargetSettings,
    /// False when the name is a kind with no section in the file (its defaults).
    pub declared: bool,
    /// The settings with the kind's defaults filled in: what the target runs with.
    pub values: Resolved,
}

impl Target {
    /// How long a deploy waits for the new version to be healthy: `health_timeout`, else
    /// the kind's default from the one table (src/manifest/settings.rs).
    pub fn health_timeout_secs(&self) -> u32 {
        self.values.health_timeout.map(|s| s.0).unwrap_or(60)
    }

    pub fn health_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.health_timeout_secs()))
    }
}

/// Lambda's memory in MiB, its longest timeout, and the longest health wait: checked
/// here and stated in the JSON Schema (src/manifest/schema.rs).
pub(super) const LAMBDA_MEMORY: std::ops::RangeInclusive<u32> = 128..=10_240;
pub(super) const LAMBDA_TIMEOUT_MAX: u32 = 900;
pub(super) const HEALTH_TIMEOUT_MAX: u32 = 3600;

fn kinds_list() -> String {
    Kind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

pub(super) fn check_settings(kind: Kind, settings: &TargetSettings, source: &str, text: &str) -> Vec<ManifestError> {
    let mut errors = Vec::new();
    for (key, span) in settings.present() {
        let kinds = TargetSettings::kinds_of(key);
        if !kinds.contains(&kind) {
            let where_ = kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
            errors.push(
                ManifestError::new(
                    source,
                    text,
                    span,
                    "aideploy::manifest::setting_kind",
                    format!("`{key}` is not a setting of a `{kind}` target"),
                )
                .label(format!("not used by {kind}"))
                .help(format!("`{key}` applies to: {where_}")),
            );
        }
    }
    let err = |span: Range<usize>, msg: String, help: &str| {
        ManifestError::new(source, text, span, "aideploy::manifest::out_of_range", msg).label("out of range").help(help.to_string())
    };
    if kind == Kind::Lambda {
        if let Some(m) = &settings.memory {
            if !LAMBDA_MEMORY.contains(&m.get().mib) {
                errors.push(err(
                    m.span.clone(),
                    format!("Lambda memory {} MiB is out of range", m.get().mib),
                    "Lambda takes 128 to 10240 MiB",
                ));
            }
        }
        if let Some(w) = &settings.warm_instances {
            if *w.get() == 0 {
                errors.push(err(w.span.clone(), "warm_instances = 0 keeps no instance warm".into(), "give at least 1, or remove the key"));
            }
        }
        if let (Some(s), Some(w)) = (&settings.snapstart, &settings.warm_instances) {
            if *s.get() && *w.get() > 0 {
                errors.push(
                    ManifestError::new(
                        source,
                        text,
                        w.span.clone(),
                        "aideploy::manifest::conflict",
                        "Lambda cannot use SnapStart and provisioned concurrency (warm_instances) on one function",
                    )
                    .label("with snapstart = true")
                    .help("keep one: `warm_instances` keeps instances initialised (billed while idle), `snapstart` restores new ones from a snapshot"),
                );
            }
        }
        if let Some(t) = &settings.timeout {
            if t.get().0 > LAMBDA_TIMEOUT_MAX {
                errors.push(err(
                    t.span.clone(),
                    format!("Lambda timeout {} s is out of range", t.get().0),
                    "Lambda functions run at most 900 seconds",
                ));
            }
        }
    }
    if kind == Kind::Ec2 {
        errors.extend(check_load_balancer(settings, source, text));
    }
    if let Some(t) = &settings.health_timeout {
        if t.get().0 > HEALTH_TIMEOUT_MAX {
            errors.push(err(t.span.clone(), format!("health_timeout {} s is too long", t.get().0), "give at most 3600 seconds"));
        }
    }
    errors
}

/// The load balancer's idle timeout AWS takes, in seconds.
pub(super) const IDLE_TIMEOUT_MAX: u32 = 4000;
/// An ACM certificate's ARN, as the JSON Schema says it (`is_acm_arn` checks the same).
pub(super) const ACM_ARN_PATTERN: &str = "^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$";

/// `arn:aws[-partition]:acm:REGION:ACCOUNT(12 digits):certificate/ID`.
fn is_acm_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts[..] else { return false };
    let id = resource.strip_prefix("certificate/").unwrap_or_default();
    arn == "arn"
        && partition.strip_prefix("aws").is_some_and(|p| p.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        && service == "acm"
        && !region.is_empty()
        && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && !id.is_empty()
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// ec2's load balancer settings: `certificate_arn` only with `load_balancer = true` and
/// shaped as an ACM ARN; `idle_timeout` within what AWS takes.
fn check_load_balancer(settings: &TargetSettings, source: &str, text: &str) -> Vec<ManifestError> {
    let mut errors = Vec::new();
    let on = settings.load_balancer.as_ref().is_some_and(|b| *b.get());
    if let Some(arn) = &settings.certificate_arn {
        if !on {
            errors.push(
                ManifestError::new(
                    source,
                    text,
                    arn.span.clone(),
                    "aideploy::manifest::conflict",
                    "`certificate_arn` is the load balancer's certificate, and this target has no load balancer",
                )
                .label("without load_balancer = true")
                .help("add `load_balancer = true` to this target, or remove `certificate_arn`"),
            );
        } else if !is_acm_arn(arn.get()) {
            errors.push(
                ManifestError::new(
                    source,
                    text,
                    arn.span.clone(),
                    "aideploy::manifest::invalid_value",
                    format!("`{}` is not an ACM certificate ARN", arn.get()),
                )
                .label("not arn:aws:acm:REGION:ACCOUNT:certificate/ID")
                .help("give the certificate's ARN as `aws acm list-certificates` shows it (in the target's region)"),
            );
        }
    }
    if let Some(t) = &settings.idle_timeout {
        if t.get().0 > IDLE_TIMEOUT_MAX {
            errors.push(
                ManifestError::new(
                    source,
                    text,
                    t.span.clone(),
                    "aideploy::manifest::out_of_range",
                    format!("idle_timeout {} s is too long", t.get().0),
                )
                .label("out of range")
                .help("an Application Load Balancer takes 1 to 4000 seconds"),
            );
        }
    }
    errors
}

/// The oldest Python runtime Lambda SnapStart takes.
pub const SNAPSTART_MIN_PYTHON_MINOR: u32 = 12;

/// `snapstart = true` on a lambda target with an [app] runtime SnapStart does not take.
pub(super) fn check_snapstart_runtime(
    name: &Sp<TargetName>,
    settings: &Sp<TargetSettings>,
    runtime: &super::values::Runtime,
    source: &str,
    text: &str,
) -> Vec<ManifestError> {
    let kind = settings.get().kind.as_ref().map(|k| *k.get()).or_else(|| Kind::parse(name.get().as_str()));
    let Some(on) = settings.get().snapstart.as_ref().filter(|s| *s.get() && kind == Some(Kind::Lambda)) else { return Vec::new() };
    let minor = runtime.version().strip_prefix("3.").and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
    if minor >= SNAPSTART_MIN_PYTHON_MINOR {
        return Vec::new();
    }
    vec![ManifestError::new(
        source,
        text,
        on.span.clone(),
        "aideploy::manifest::conflict",
        format!("Lambda SnapStart needs python3.12 or later; [app] runtime is {runtime}"),
    )
    .label("not on this runtime")
    .help("set `runtime = \"python3.12\"` (or later) in [app], or drop `snapstart`")]
}

/// Checks one `[targets.NAME]` table of the file. `kind_written`: the table has a
/// `kind`, which did not parse (its own error says why; without a kind, the other
/// settings cannot be checked).
pub(super) fn check_declared(
    name: &Sp<TargetName>,
    settings: &Sp<TargetSettings>,
    kind_written: bool,
    source: &str,
    text: &str,
) -> Vec<ManifestError> {
    let kind = match (&settings.get().kind, Kind::parse(name.get().as_str())) {
        (Some(k), _) => *k.get(),
        (None, _) if kind_written => return Vec::new(),
        (None, Some(k)) => k,
        (None, None) => {
            let mut e = ManifestError::new(
                source,
                text,
                name.span.clone(),
                "aideploy::manifest::no_kind",
                format!("target `{}` does not say its kind", name.get()),
            )
            .label("needs `kind`");
            e = match did_you_mean(name.get().as_str(), Kind::ALL.iter().map(|k| k.as_str())) {
                Some(k) => e.help(format!("did you mean `[targets.{k}]`? Otherwise add `kind = \"...\"`, one of: {}", kinds_list())),
                None => e.help(format!("add `kind = \"...\"` to this table, one of: {}", kinds_list())),
            };
            return vec![e];
        }
    };
    check_settings(kind, settings.get(), source, text)
}

impl Manifest {
    /// Picks the target for this run: `--target NAME` names a `[targets.NAME]` table or a
    /// kind (its defaults); with no flag, the only target in the file.
    pub fn target(&self, name: Option<&str>, sets: &[String]) -> Result<Target, anyhow::Error> {
        let names = self.target_names();
        let (name, kind, mut settings, declared) = match name {
            Some(n) => match self.targets.iter().find(|(k, _)| k.get().as_str() == n) {
                Some((_, s)) => {
                    let s = s.get().clone();
                    let kind = s.kind.as_ref().map(|k| *k.get()).or_else(|| Kind::parse(n)).expect("checked at load");
                    (n.to_string(), kind, s, true)
                }
                None => match Kind::parse(n) {
                    Some(kind) => (n.to_string(), kind, TargetSettings::default(), false),
                    None => {
                        let candidates: Vec<&str> = names.iter().map(String::as_str).chain(Kind::ALL.iter().map(|k| k.as_str())).collect();
                        let mut e = UsageError::new(format!("no target `{n}` in the manifest, and it is not a kind"));
                        e = match did_you_mean(n, candidates) {
                            Some(best) => e.hint(format!("did you mean `--target {best}`?")),
                            None if names.is_empty() => e.hint(format!("pass a kind: {}", kinds_list())),
                            None => e.hint(format!("targets in the manifest: {}; kinds: {}", names.join(", "), kinds_list())),
                        };
                        return Err(e.into());
                    }
                },
            },
            None => match names.as_slice() {
                [only] => {
                    let s = self.targets.values().next().expect("one").get().clone();
                    let kind = s.kind.as_ref().map(|k| *k.get()).or_else(|| Kind::parse(only)).expect("checked at load");
                    (only.clone(), kind, s, true)
                }
                [] => {
                    return Err(UsageError::new("no target given and the manifest declares none")
                        .hint(format!("pass --target KIND, one of: {}", kinds_list()))
                        .into())
                }
                many => {
                    return Err(UsageError::new("which target? the manifest declares several")
                        .hint(format!("pass --target NAME, one of: {}", many.join(", ")))
                        .into())
                }
            },
        };
        let mut errors = Vec::new();
        for set in sets {
            match parse_set(set) {
                Ok((snippet, over)) => {
                    if let Some(k) = &over.kind {
                        errors.push(
                            ManifestError::new(
                                "--set",
                                &snippet,
                                k.span.clone(),
                                "aideploy::manifest::set_kind",
                                "`kind` cannot be changed with --set",
                            )
                            .label("fixed by the target")
                            .help("pick another target with --target instead"),
                        );
                        continue;
                    }
                    errors.extend(check_settings(kind, &over, "--set", &snippet));
                    settings.merge(over);
                }
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(ManifestErrors(errors).into());
        }
        let values = settings.resolve(kind);
        Ok(Target { name, kind, settings, declared, values })
    }
}

/// `KEY=VALUE` as a one-line TOML table; a VALUE that is not TOML is taken as a string
/// (`--set region=us-east-1`). The error is the same large diagnostic every manifest
/// error is, on a path taken once per argument.
#[allow(clippy::result_large_err)]
fn parse_set(arg: &str) -> Result<(String, TargetSettings), ManifestError> {
    let Some((key, value)) = arg.split_once('=') else {
        return Err(ManifestError::new("--set", arg, 0..arg.len(), "aideploy::cli::set", format!("`{arg}` is not KEY=VALUE"))
            .label("expected KEY=VALUE")
            .help("e.g. --set memory=2048 or --set region=us-east-1"));
    };
    let key = key.trim();
    let value = value.trim();
    let as_is = format!("{key} = {value}");
    let first = toml::from_str::<TargetSettings>(&as_is);
    match first {
        Ok(s) => Ok((as_is, s)),
        Err(e) => {
            let quoted = format!("{key} = {}", toml::Value::String(value.to_string()));
            let looks_bare = toml::from_str::<toml::Table>(&as_is).is_err();
            if looks_bare {
                if let Ok(s) = toml::from_str::<TargetSettings>(&quoted) {
                    return Ok((quoted, s));
                }
                if let Err(e2) = toml::from_str::<TargetSettings>(&quoted) {
                    return Err(ManifestError::from_toml(&e2, "--set", &quoted));
                }
            }
            Err(ManifestError::from_toml(&e, "--set", &as_is))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_takes_bare_strings_and_numbers() {
        let (_, s) = parse_set("region=us-east-1").unwrap();
        assert_eq!(s.region.unwrap().get().as_str(), "us-east-1");
        let (_, s) = parse_set("memory=2048").unwrap();
        assert_eq!(s.memory.unwrap().get().mib, 2048);
        let (_, s) = parse_set("port = 9000").unwrap();
        assert_eq!(s.port.unwrap().get().0, 9000);
        assert!(parse_set("memry=1").unwrap_err().help.unwrap().contains("memory"));
        assert!(parse_set("port=70000").is_err());
        assert!(parse_set("nokey").is_err());
    }
}
