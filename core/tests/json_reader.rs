//! The JSON reader against serde_json: the same texts accepted, the same strings decoded, and
//! metas judged as a tree-building parser would judge them.

use beryl_core::json::{Kind, Reader};
use beryl_core::{Limits, Meta, MetaError};
use proptest::prelude::*;
use serde::de::IgnoredAny;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![any::<String>(), Just("phx_ref".to_owned())],
                    inner
                ),
                0..6
            )
            .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// Texts of JSON values, compact or pretty, with random edits: a char removed, inserted or
/// replaced by one that matters to the grammar.
fn edited_text() -> impl Strategy<Value = String> {
    let grammar = prop::sample::select(vec![
        '{', '}', '[', ']', '"', ',', ':', '\\', '-', '+', '.', 'e', '0', '1', 'u', 'n', 't', ' ',
        '\n', '\u{1}', 'é',
    ]);
    (
        json_value(),
        any::<bool>(),
        prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, grammar), 0..4),
    )
        .prop_map(|(value, pretty, edits)| {
            let text = if pretty {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                value.to_string()
            };
            let mut chars: Vec<char> = text.chars().collect();
            for (at, edit, with) in edits {
                let at = at.index(chars.len() + 1);
                match edit {
                    0 if at < chars.len() => {
                        chars.remove(at);
                    }
                    1 => chars.insert(at, with),
                    _ if at < chars.len() => chars[at] = with,
                    _ => {}
                }
            }
            chars.into_iter().collect()
        })
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn skip_whole(text: &str) -> Result<&str, String> {
    let mut reader = Reader::new(text);
    let value = reader.skip(usize::MAX).map_err(|error| error.to_string())?;
    reader.finish().map_err(|error| error.to_string())?;
    Ok(value)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn accepts_exactly_what_serde_json_accepts(text in edited_text()) {
        let ours = skip_whole(&text);
        let theirs = serde_json::from_str::<IgnoredAny>(&text);
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}: {:?} / {:?}", text, ours, theirs.err());
        if let Ok(value) = ours {
            prop_assert_eq!(value, text.trim_matches([' ', '\n', '\t', '\r']));
        }
    }

    #[test]
    fn decodes_strings_as_serde_json_does(value in any::<String>(), raw in "\"(\\\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\\\\u[0-9a-fA-F]{4}|\\\\[nrt\"\\\\/bfx]|[a-z\u{e9}])*\"") {
        let literal = serde_json::to_string(&value).unwrap();
        prop_assert_eq!(Reader::new(&literal).string().unwrap(), value.as_str());
        let ours = Reader::new(&raw).string().map(|text| text.into_owned());
        let theirs = serde_json::from_str::<String>(&raw);
        prop_assert_eq!(ours.as_ref().ok(), theirs.as_ref().ok(), "{:?}", raw);
        // Skipped, a string is checked the same way (lone surrogates refused too).
        prop_assert_eq!(skip_whole(&raw).is_ok(), theirs.is_ok(), "{:?}", raw);
    }

    #[test]
    fn reads_integers_exactly(value in any::<u64>(), other in json_value()) {
        prop_assert_eq!(Reader::new(&value.to_string()).u64(), Ok(value));
        let text = other.to_string();
        let expected = other.as_u64().filter(|_| !text.contains(['.', 'e', 'E', '-']));
        prop_assert_eq!(Reader::new(&text).u64().ok(), expected, "{}", text);
    }

    #[test]
    fn judges_metas_as_a_tree_would(value in json_value(), max_depth in 0usize..6) {
        let limits = Limits { max_meta_depth: max_depth, ..Limits::default() };
        let text = value.to_string();
        let outcome = Meta::from_json_within(&text, &limits);
        match &value {
            _ if text.len() > limits.max_meta_bytes => {
                prop_assert!(matches!(outcome, Err(MetaError::TooLarge { .. })), "{:?}", outcome);
            }
            Value::Object(members) => {
                let reserved = members.keys().any(|key| key == "phx_ref" || key == "phx_ref_prev");
                if depth(&value) > max_depth {
                    prop_assert!(
                        matches!(outcome, Err(MetaError::TooDeep { .. }) | Err(MetaError::ReservedKey { .. })),
                        "{:?}", outcome
                    );
                } else if reserved {
                    prop_assert!(matches!(outcome, Err(MetaError::ReservedKey { .. })), "{:?}", outcome);
                } else {
                    prop_assert_eq!(outcome.map(|meta| meta.as_str().to_owned()), Ok(text));
                }
            }
            _ => {
                prop_assert!(matches!(outcome, Err(MetaError::NotObject { .. })), "{:?}", outcome);
            }
        }
    }
}

#[test]
fn a_reader_tells_the_kind_of_what_comes_next() {
    for (text, kind) in [
        ("{}", Kind::Object),
        (" []", Kind::Array),
        ("\"\"", Kind::String),
        ("-1", Kind::Number),
        ("false", Kind::Bool),
        ("null", Kind::Null),
    ] {
        assert_eq!(Reader::new(text).peek(), Ok(kind), "{text}");
    }
    assert!(Reader::new("").peek().is_err());
    assert!(Reader::new("x").peek().is_err());
}
