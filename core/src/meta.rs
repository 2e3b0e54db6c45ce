//! Metas: opaque JSON objects, validated once and then stored and forwarded as text.

use std::fmt;

use crate::error::MetaError;
use crate::json::{JsonError, Kind, Reader};
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
    #[cfg(feature = "serde_json")]
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
    #[cfg(feature = "serde_json")]
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

#[cfg(feature = "serde_json")]
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
    let not_json = |error: JsonError| MetaError::NotJson {
        reason: error.to_string(),
    };
    let mut reader = Reader::new(text);
    let kind = reader.peek().map_err(not_json)?;
    if kind != Kind::Object {
        reader.skip(usize::MAX).map_err(not_json)?;
        reader.finish().map_err(not_json)?;
        return Err(MetaError::NotObject {
            found: kind.describe(),
        });
    }
    if limits.max_meta_depth == 0 {
        reader.skip(usize::MAX).map_err(not_json)?;
        reader.finish().map_err(not_json)?;
        return Err(MetaError::TooDeep { max: 0 });
    }
    // The whole text is read before answering, so a syntax error anywhere wins over the rest.
    let mut verdict = Ok(());
    let mut fields = reader.object().map_err(not_json)?;
    while let Some(key) = reader.key(&mut fields).map_err(not_json)? {
        if verdict.is_ok() && RESERVED_KEYS.contains(&key.as_ref()) {
            verdict = Err(MetaError::ReservedKey {
                key: key.into_owned(),
            });
        }
        if verdict.is_err() {
            // Refused already: the rest is only checked to be JSON (and no error is built per
            // member, each of which would count lines from the start).
            reader.skip(usize::MAX).map_err(not_json)?;
            continue;
        }
        let value_start = reader.clone();
        match reader.skip(limits.max_meta_depth - 1) {
            Ok(_) => {}
            Err(error) if error.is_too_deep() => {
                // Read again from the value's start, unbounded, for any syntax error after it.
                reader = value_start;
                reader.skip(usize::MAX).map_err(not_json)?;
                verdict = Err(MetaError::TooDeep {
                    max: limits.max_meta_depth,
                });
            }
            Err(error) => return Err(not_json(error)),
        }
    }
    reader.finish().map_err(not_json)?;
    verdict
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
