//! Checks and conversions of arguments coming from JS, where numbers are doubles and 64-bit
//! incarnations travel as decimal strings.

use beryl_core::json::{JsonError, Reader};
use beryl_core::{Limits, ReplicaId};

use crate::error::BindingError;

/// The largest integer a JS number holds exactly (2^53 - 1).
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Parses an incarnation: a decimal string of an unsigned 64-bit integer.
pub fn incarnation(text: &str) -> Result<u64, BindingError> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BindingError::argument(format!(
            "incarnation {text:?} is not a decimal string of an unsigned 64-bit integer; \
             pass a string such as \"1723456789012345\" or omit it to derive one from the clock"
        )));
    }
    text.parse::<u64>().map_err(|_| {
        BindingError::argument(format!(
            "incarnation {text:?} does not fit 64 bits (at most 18446744073709551615)"
        ))
    })
}

/// A replica from its name and decimal incarnation.
pub fn replica(name: &str, incarnation_text: &str) -> Result<ReplicaId, BindingError> {
    Ok(ReplicaId::new(name, incarnation(incarnation_text)?))
}

/// A non-negative integer counter given as a JS number.
pub fn counter(what: &str, value: f64) -> Result<u64, BindingError> {
    if !(value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= MAX_SAFE_INTEGER) {
        // The value itself is not echoed: formatting floats would add kilobytes to the wasm.
        return Err(BindingError::argument(format!(
            "{what} must be a non-negative integer no larger than Number.MAX_SAFE_INTEGER"
        )));
    }
    // Exact: an integral double within 2^53 converts without loss.
    Ok(value as u64)
}

/// Builds an incarnation from a start time in Unix milliseconds and 16 random bits.
pub fn incarnation_from_parts(unix_millis: f64, random: f64) -> Result<u64, BindingError> {
    let millis = counter("unixMillis", unix_millis)?;
    if millis >= 1 << 48 {
        return Err(BindingError::argument(format!(
            "unixMillis {millis} is too large: it must be below 2^48 (the year 10889)"
        )));
    }
    let random = counter("random", random)?;
    let random = u16::try_from(random).map_err(|_| {
        BindingError::argument(format!("random must be within 0..=65535, got {random}"))
    })?;
    Ok(beryl_core::incarnation_from_parts(millis, random))
}

/// Splits `text` into four parts, the first three `units[i]` UTF-16 code units long (JS string
/// lengths), the fourth the rest: arguments joined into one string cross to wasm in one copy.
pub fn split_units(text: &str, units: [u32; 3]) -> Result<[&str; 4], BindingError> {
    let too_short =
        || BindingError::argument("the joined arguments are shorter than their lengths");
    let mut ends = [0usize; 3];
    if text.is_ascii() {
        let mut end = 0usize;
        for (slot, &count) in ends.iter_mut().zip(&units) {
            end += count as usize;
            if end > text.len() {
                return Err(too_short());
            }
            *slot = end;
        }
    } else {
        let mut chars = text.char_indices();
        let mut at = 0usize;
        for (slot, &count) in ends.iter_mut().zip(&units) {
            let mut left = count as usize;
            while left > 0 {
                let (index, c) = chars.next().ok_or_else(too_short)?;
                // A part ending inside a surrogate pair is not a JS string's length.
                left = left.checked_sub(c.len_utf16()).ok_or_else(too_short)?;
                at = index + c.len_utf8();
            }
            *slot = at;
        }
    }
    let [a, b, c] = ends;
    Ok([&text[..a], &text[a..b], &text[b..c], &text[c..]])
}

/// Whether `text` holds nothing but JSON whitespace (the JS side passes "" for no options).
pub fn is_blank(text: &str) -> bool {
    text.bytes()
        .all(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
}

/// Reads an object whose fields, all optional, are non-negative integers: one slot per name,
/// `None` when the field is missing or null. Other fields are refused.
pub fn integer_fields<const N: usize>(
    text: &str,
    names: [&str; N],
) -> Result<[Option<u64>; N], JsonError> {
    let mut reader = Reader::new(text);
    let values = reader.values(&names, false, |reader| reader.optional(Reader::u64))?;
    reader.finish()?;
    Ok(values.map(Option::flatten))
}

/// A field read by [`integer_fields`] as the type it sets, or an error naming it.
pub fn narrow<T: TryFrom<u64>>(value: Option<u64>, name: &str) -> Result<Option<T>, String> {
    value
        .map(|value| T::try_from(value).map_err(|_| format!("{name} {value} is too large")))
        .transpose()
}

/// Parses limits given as JSON text (`{"maxKeyBytes": 256, ...}`); an empty text means defaults.
pub fn limits(text: &str) -> Result<Limits, BindingError> {
    let defaults = Limits::default();
    if is_blank(text) {
        return Ok(defaults);
    }
    let refused = |reason: String| {
        BindingError::argument(format!(
            "limits must be an object with optional non-negative integer fields maxTopicBytes, \
             maxKeyBytes, maxPidBytes, maxMetaBytes and maxMetaDepth: {reason}"
        ))
    };
    let fields = integer_fields(
        text,
        [
            "maxTopicBytes",
            "maxKeyBytes",
            "maxPidBytes",
            "maxMetaBytes",
            "maxMetaDepth",
        ],
    )
    .map_err(|error| refused(error.to_string()))?;
    let [topic, key, pid, meta, depth] = fields;
    let size =
        |value, name, default| narrow::<usize>(value, name).map(|value| value.unwrap_or(default));
    (|| {
        Ok(Limits {
            max_topic_bytes: size(topic, "maxTopicBytes", defaults.max_topic_bytes)?,
            max_key_bytes: size(key, "maxKeyBytes", defaults.max_key_bytes)?,
            max_pid_bytes: size(pid, "maxPidBytes", defaults.max_pid_bytes)?,
            max_meta_bytes: size(meta, "maxMetaBytes", defaults.max_meta_bytes)?,
            max_meta_depth: size(depth, "maxMetaDepth", defaults.max_meta_depth)?,
        })
    })()
    .map_err(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incarnations_are_decimal_u64_strings() {
        assert_eq!(incarnation("0").unwrap(), 0);
        assert_eq!(incarnation("18446744073709551615").unwrap(), u64::MAX);
        for bad in ["", "-1", "1.5", "18446744073709551616", " 1", "0x10", "١"] {
            assert!(incarnation(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn counters_must_be_safe_non_negative_integers() {
        assert_eq!(counter("after", 42.0).unwrap(), 42);
        for bad in [-1.0, 0.5, f64::NAN, f64::INFINITY, 2f64.powi(53)] {
            assert!(counter("after", bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn incarnation_parts_are_range_checked() {
        assert_eq!(incarnation_from_parts(1.0, 2.0).unwrap(), (1 << 16) | 2);
        assert!(incarnation_from_parts(1.0, 65_536.0).is_err());
        assert!(incarnation_from_parts(2f64.powi(48), 0.0).is_err());
    }

    #[test]
    fn joined_arguments_split_at_utf16_lengths() {
        assert_eq!(
            split_units("abcdef", [1, 2, 0]).unwrap(),
            ["a", "bc", "", "def"]
        );
        assert_eq!(
            split_units("é😀xy{}", [1, 2, 1]).unwrap(),
            ["é", "😀", "x", "y{}"]
        );
        assert_eq!(split_units("é😀", [1, 2, 0]).unwrap(), ["é", "😀", "", ""]);
        assert!(split_units("abc", [2, 2, 0]).is_err());
        assert!(
            split_units("é😀", [1, 1, 1]).is_err(),
            "inside a surrogate pair"
        );
        assert!(split_units("é", [1, 0, 1]).is_err());
    }

    #[test]
    fn limits_default_missing_fields_and_refuse_unknown_ones() {
        let limits = limits(r#"{"maxKeyBytes":5}"#).unwrap();
        assert_eq!(limits.max_key_bytes, 5);
        assert_eq!(limits.max_pid_bytes, Limits::default().max_pid_bytes);
        assert!(super::limits(r#"{"maxKeys":5}"#).is_err());
        assert!(super::limits(r#"{"maxKeyBytes":-1}"#).is_err());
        // Only JSON whitespace counts as no options: other spaces are not JSON.
        assert!(super::limits(" \n").is_ok());
        for blank in ["\u{a0}", "\u{3000}", "\u{2028}", "\u{b}"] {
            assert!(super::limits(blank).is_err(), "{blank:?}");
        }
    }
}
