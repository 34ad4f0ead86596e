//! `Sp<T>`: a value together with where it stood in the source, so that checks made
//! after parsing (cross-field rules, per-kind settings) can still point at the line.

use std::ops::{Deref, Range};

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use toml::Spanned;

#[derive(Debug, Clone)]
pub struct Sp<T> {
    pub span: Range<usize>,
    pub value: T,
}

impl<T> Sp<T> {
    pub fn new(value: T, span: Range<usize>) -> Self {
        Sp { span, value }
    }
    pub fn get(&self) -> &T {
        &self.value
    }
}

impl<T> Deref for Sp<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Sp<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<T>::deserialize(d)?;
        let span = s.span();
        Ok(Sp { span, value: s.into_inner() })
    }
}

impl<T: PartialEq> PartialEq for Sp<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl<T: Eq> Eq for Sp<T> {}
impl<T: PartialOrd> PartialOrd for Sp<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.value.partial_cmp(&other.value)
    }
}
impl<T: Ord> Ord for Sp<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

impl<T: JsonSchema> JsonSchema for Sp<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}
