//! Reading a `[secrets]` entry: `NAME = {}` or `NAME = { env = "VAR", optional = true }`.
//! A value written there instead (`NAME = "sk-..."`) is refused with an error that says
//! where values go, and quotes neither the value nor its type's serde rendering (which
//! would print it: `invalid type: string "sk-..."`).

use std::fmt;

use serde::de::{self, value::MapAccessDeserializer, Deserialize, MapAccess};

use super::values::{with_help, SECRET_KEY};
use super::{SecretEntry, SecretSpec};

pub struct Visitor;

fn refused<E: de::Error>() -> E {
    E::custom(with_help(
        format!("a secret's value is written in the manifest: `{SECRET_KEY}` in [secrets] must be a table, not a value"),
        format!(
            "values never go in aideploy.toml (it is shared and committed). Write `{k} = {{}}` and give the value in one of \
             three ways: set ${k} in your environment or `{k}=...` in .env (kept out of git and of every artifact); \
             store it with `aideploy secrets set {k}` (targets with a secret store of their own); or read it from another variable \
             with `{k} = {{ env = \"VAR\" }}`. Treat the value written here as exposed and rotate it",
            k = SECRET_KEY
        ),
    ))
}

impl<'de> de::Visitor<'de> for Visitor {
    type Value = SecretEntry;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table, `{}` or `{ env = \"VAR\" }`")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SecretEntry, A::Error> {
        SecretSpec::deserialize(MapAccessDeserializer::new(map)).map(SecretEntry)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<SecretEntry, E> {
        Err(refused())
    }
    fn visit_string<E: de::Error>(self, _: String) -> Result<SecretEntry, E> {
        Err(refused())
    }
    fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<SecretEntry, E> {
        Err(refused())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretEntry, E> {
        Err(refused())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretEntry, E> {
        Err(refused())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretEntry, E> {
        Err(refused())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretEntry, E> {
        Err(refused())
    }
}
