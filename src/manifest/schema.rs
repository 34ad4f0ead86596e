//! The parts of the JSON Schema that serde's types alone do not say: the names a map's
//! keys may take, and which settings a target of each kind accepts (from the one
//! settings table, so the schema and `validate` cannot disagree on them).

use schemars::{json_schema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::settings::TargetSettings;
use super::target::{ACM_ARN_PATTERN, HEALTH_TIMEOUT_MAX, IDLE_TIMEOUT_MAX, LAMBDA_MEMORY, LAMBDA_TIMEOUT_MAX};
use super::values::{EnvValue, Kind};
use super::SecretEntry;

/// The JSON Schema's words for what `is_slug` (values.rs) accepts (the length is separate).
pub(super) const SLUG_PATTERN: &str = "^[a-z][a-z0-9]*(-[a-z0-9]+)*$";

/// An environment variable's name, for the JSON Schema (see `check_env_name` in mod.rs).
pub(super) const ENV_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// IPv4 with at most 32 bits (no leading zeros, as Rust's parser), or an IPv6 address
/// with at most 128: the schema checks IPv6 addresses' characters only.
pub(super) const CIDR_PATTERN: &str = concat!(
    "^(((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/(3[0-2]|[12]?[0-9])",
    "|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))$"
);

/// `check_repository`'s rules (values.rs) as patterns: a registry host (with a `.` or `:`, or
/// `localhost`, or `[...]`), lowercase path parts, a tag, a sha256 digest.
macro_rules! registry_host {
    () => {
        "([A-Za-z0-9.:\\[\\]-]*[.:][A-Za-z0-9.:\\[\\]-]*|localhost|\\[[A-Za-z0-9.:\\[\\]-]*)"
    };
}
pub(super) const IMAGE_PATTERN: &str =
    concat!("^(", registry_host!(), "/)?[a-z0-9._-]+(/[a-z0-9._-]+)*(:[A-Za-z0-9._-]{1,128})?(@sha256:[0-9a-fA-F]{64})?$");
pub(super) const REPOSITORY_PATTERN: &str = concat!("^", registry_host!(), "(/[a-z0-9._-]+)+$");

/// `[env]`: variable names, not `PORT` nor `AIDEPLOY_*` (aideploy sets those).
pub(super) fn env_map(generator: &mut SchemaGenerator) -> Schema {
    let value = generator.subschema_for::<EnvValue>().to_value();
    json_schema!({
        "type": "object",
        "propertyNames": {
            "pattern": ENV_NAME_PATTERN,
            "not": { "anyOf": [{ "const": "PORT" }, { "pattern": "^AIDEPLOY_" }] }
        },
        "additionalProperties": value
    })
}

/// `[secrets]`: variable names, each a table.
pub(super) fn secrets_map(generator: &mut SchemaGenerator) -> Schema {
    let value = generator.subschema_for::<SecretEntry>().to_value();
    json_schema!({
        "type": "object",
        "propertyNames": { "pattern": ENV_NAME_PATTERN },
        "additionalProperties": value
    })
}

/// `[targets]`: a table named after a kind is of that kind unless it says `kind`;
/// any other name must say its `kind`.
pub(super) fn targets_map(generator: &mut SchemaGenerator) -> Schema {
    let settings = generator.subschema_for::<TargetSettings>().to_value();
    let mut by_kind = Map::new();
    for kind in Kind::ALL {
        by_kind.insert(
            kind.to_string(),
            json!({ "$ref": settings["$ref"], "if": { "not": { "required": ["kind"] } }, "then": kind_rules(kind) }),
        );
    }
    json_schema!({
        "type": "object",
        "propertyNames": { "pattern": SLUG_PATTERN, "maxLength": 40 },
        "properties": by_kind,
        "additionalProperties": { "$ref": settings["$ref"], "required": ["kind"] }
    })
}

/// Added to `TargetSettings`'s schema: the rules of the kind its `kind` names, and the
/// ranges every kind shares.
pub(super) fn per_kind(schema: &mut Schema) {
    let mut all_of = vec![json!({ "properties": { "health_timeout": { "maximum": HEALTH_TIMEOUT_MAX } } })];
    for kind in Kind::ALL {
        all_of.push(json!({
            "if": { "properties": { "kind": { "const": kind.as_str() } }, "required": ["kind"] },
            "then": kind_rules(kind)
        }));
    }
    schema.insert("allOf".into(), Value::Array(all_of));
}

/// What a target of `kind` may hold: the settings of other kinds are refused, and
/// lambda's limits apply to lambda, ec2's load balancer rules to ec2.
fn kind_rules(kind: Kind) -> Value {
    let mut properties = Map::new();
    for key in TargetSettings::KEYS {
        if !TargetSettings::kinds_of(key).contains(&kind) {
            properties.insert(key.to_string(), Value::Bool(false));
        }
    }
    if kind == Kind::Lambda {
        properties.insert("memory".into(), json!({ "minimum": LAMBDA_MEMORY.start(), "maximum": LAMBDA_MEMORY.end() }));
        properties.insert("timeout".into(), json!({ "maximum": LAMBDA_TIMEOUT_MAX }));
        properties.insert("warm_instances".into(), json!({ "minimum": 1 }));
        // SnapStart and provisioned concurrency exclude each other.
        return json!({
            "properties": properties,
            "not": { "properties": { "snapstart": { "const": true } }, "required": ["snapstart", "warm_instances"] }
        });
    }
    if kind == Kind::Ec2 {
        properties.insert("certificate_arn".into(), json!({ "pattern": ACM_ARN_PATTERN }));
        properties.insert("idle_timeout".into(), json!({ "maximum": IDLE_TIMEOUT_MAX }));
        // The certificate is the load balancer's: only with one.
        return json!({
            "properties": properties,
            "dependentSchemas": { "certificate_arn": { "properties": { "load_balancer": { "const": true } }, "required": ["load_balancer"] } }
        });
    }
    json!({ "properties": properties })
}
