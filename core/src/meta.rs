//! Metas: opaque JSON objects, validated once and then stored and forwarded as text.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::MetaError;
use crate::limits::Limits;

/// Keys that presence adds to every meta it sends to clients, so a meta may not carry them.
pub const RESERVED_KEYS: [&str; 2] = ["phx_ref", "phx_ref_prev"];

/// The metadata of one presence: a JSON object, kept as the exact text it was given (no key
/// reordering, no number reformatting), so it is forwarded without being parsed again.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Meta(Box<str>);

impl Meta {
    /// Validates `text` as a JSON object within the default [`Limits`].
    pub fn from_json(text: &str) -> Result<Meta, MetaError> {
        Self::from_json_within(text, &Limits::default())
    }

    /// Validates `text` as a JSON object within `limits`.
    pub fn from_json_within(text: &str, limits: &Limits) -> Result<Meta, MetaError> {
        validate(text, limits)?;
        Ok(Meta(text.trim().into()))
    }

    /// Serializes a JSON value as a meta, within the default [`Limits`].
    pub fn from_value(value: &serde_json::Value) -> Result<Meta, MetaError> {
        Self::from_json(&value.to_string())
    }

    /// The empty object `{}`.
    pub fn empty() -> Meta {
        Meta("{}".into())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses the meta into a JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Debug for Meta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Meta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for Meta {
    type Error = MetaError;
    fn try_from(text: &str) -> Result<Self, Self::Error> {
        Meta::from_json(text)
    }
}

impl TryFrom<serde_json::Value> for Meta {
    type Error = MetaError;
    fn try_from(value: serde_json::Value) -> Result<Self, Self::Error> {
        Meta::from_value(&value)
    }
}

/// Checks that `text` is one JSON object within the size and depth limits, with no reserved key.
pub(crate) fn validate(text: &str, limits: &Limits) -> Result<(), MetaError> {
    if text.len() > limits.max_meta_bytes {
        return Err(MetaError::TooLarge {
            len: text.len(),
            max: limits.max_meta_bytes,
        });
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    // Our own depth check runs first; serde_json's recursion limit stays as a backstop.
    let outcome = TopLevel {
        max_depth: limits.max_meta_depth,
    }
    .deserialize(&mut deserializer)
    .and_then(|found| deserializer.end().map(|()| found));
    match outcome {
        Ok(Found::Object) => Ok(()),
        Ok(Found::Other(found)) => Err(MetaError::NotObject { found }),
        Ok(Found::Reserved(key)) => Err(MetaError::ReservedKey { key }),
        Ok(Found::TooDeep) => Err(MetaError::TooDeep {
            max: limits.max_meta_depth,
        }),
        Err(error) => Err(MetaError::NotJson {
            reason: error.to_string(),
        }),
    }
}

enum Found {
    Object,
    Other(&'static str),
    Reserved(String),
    TooDeep,
}

struct TopLevel {
    max_depth: usize,
}

impl<'de> DeserializeSeed<'de> for TopLevel {
    type Value = Found;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Found, D::Error> {
        deserializer.deserialize_any(self)
    }
}

macro_rules! not_an_object {
    ($($method:ident($ty:ty) => $name:literal),* $(,)?) => {
        $(fn $method<E>(self, _: $ty) -> Result<Found, E> { Ok(Found::Other($name)) })*
    };
}

impl<'de> Visitor<'de> for TopLevel {
    type Value = Found;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    not_an_object! {
        visit_bool(bool) => "a boolean",
        visit_i64(i64) => "a number",
        visit_u64(u64) => "a number",
        visit_f64(f64) => "a number",
        visit_str(&str) => "a string",
    }

    fn visit_unit<E>(self) -> Result<Found, E> {
        Ok(Found::Other("null"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Found::Other("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        if self.max_depth == 0 {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Found::TooDeep);
        }
        let mut verdict = Found::Object;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if RESERVED_KEYS.contains(&key.as_ref()) && matches!(verdict, Found::Object) {
                verdict = Found::Reserved(key.into_owned());
            }
            let deep_enough = map.next_value_seed(Depth {
                remaining: self.max_depth - 1,
            })?;
            if !deep_enough {
                verdict = Found::TooDeep;
            }
        }
        Ok(verdict)
    }
}

/// Walks a value, answering false when it nests deeper than `remaining` more levels.
struct Depth {
    remaining: usize,
}

impl<'de> DeserializeSeed<'de> for Depth {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

macro_rules! scalar_ok {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method<E>(self, _: $ty) -> Result<bool, E> { Ok(true) })*
    };
}

impl<'de> Visitor<'de> for Depth {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    scalar_ok! {
        visit_bool(bool), visit_i64(i64), visit_u64(u64), visit_f64(f64), visit_str(&str),
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        if self.remaining == 0 {
            // Too deep: still consume it, so the parser can finish the document.
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(false);
        }
        let mut ok = true;
        while let Some(inner) = seq.next_element_seed(Depth {
            remaining: self.remaining - 1,
        })? {
            ok &= inner;
        }
        Ok(ok)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        if self.remaining == 0 {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(false);
        }
        let mut ok = true;
        while map.next_key::<IgnoredAny>()?.is_some() {
            ok &= map.next_value_seed(Depth {
                remaining: self.remaining - 1,
            })?;
        }
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_text_exactly() {
        let meta = Meta::from_json(r#" {"b":1.50,"a":[1,2]} "#).unwrap();
        assert_eq!(meta.as_str(), r#"{"b":1.50,"a":[1,2]}"#);
    }

    #[test]
    fn refuses_what_is_not_an_acceptable_object() {
        assert!(matches!(
            Meta::from_json("[1]"),
            Err(MetaError::NotObject { .. })
        ));
        assert!(matches!(
            Meta::from_json("{\"a\":"),
            Err(MetaError::NotJson { .. })
        ));
        assert!(matches!(
            Meta::from_json("{} {}"),
            Err(MetaError::NotJson { .. })
        ));
        assert!(matches!(
            Meta::from_json(r#"{"phx_ref":"x"}"#),
            Err(MetaError::ReservedKey { .. })
        ));
        let limits = Limits {
            max_meta_depth: 3,
            ..Limits::default()
        };
        assert!(Meta::from_json_within(r#"{"a":{"b":[1]}}"#, &limits).is_ok());
        assert!(matches!(
            Meta::from_json_within(r#"{"a":{"b":[[1]]}}"#, &limits),
            Err(MetaError::TooDeep { max: 3 })
        ));
        let huge = format!("{{\"a\":\"{}\"}}", "x".repeat(20_000));
        assert!(matches!(
            Meta::from_json(&huge),
            Err(MetaError::TooLarge { .. })
        ));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(Meta::from_json(&deep).is_err());
    }
}
