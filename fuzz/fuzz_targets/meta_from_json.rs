//! Arbitrary text as a meta: validation must never panic, it must accept exactly the texts
//! serde_json reads as an object within the limits and without a reserved key, and an accepted
//! meta must come out of the Phoenix encoder as a JSON object with the same fields plus `phx_ref`.
#![no_main]

use beryl_core::meta::RESERVED_KEYS;
use beryl_core::wire::phoenix;
use beryl_core::{Limits, Meta, PresenceState, ReplicaId};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The deepest nesting of brackets outside strings: read from the text, since a value parsed by
/// serde_json keeps only the last of repeated keys.
fn depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for byte in text.bytes() {
        match byte {
            _ if in_string && escaped => escaped = false,
            b'\\' if in_string => escaped = true,
            b'"' => in_string = !in_string,
            _ if in_string => {}
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let limits = Limits::default();
    let acceptable = match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Some(
            text.len() <= limits.max_meta_bytes
                && depth(text) <= limits.max_meta_depth
                && value.as_object().is_some_and(|members| {
                    RESERVED_KEYS.iter().all(|key| !members.contains_key(*key))
                }),
        ),
        Ok(_) => Some(false),
        // Past its nesting limit, and numbers beyond f64 (valid JSON, which serde_json's values
        // cannot hold), serde_json is no judge.
        Err(error)
            if ["recursion limit", "number out of range"]
                .iter()
                .any(|reason| error.to_string().contains(reason)) =>
        {
            None
        }
        Err(_) => Some(false),
    };
    let outcome = Meta::from_json(text);
    if let Some(acceptable) = acceptable {
        assert_eq!(outcome.is_ok(), acceptable, "{outcome:?}");
    }
    let Ok(meta) = outcome else {
        return;
    };
    let Ok(original) = serde_json::from_str::<serde_json::Map<String, Value>>(meta.as_str()) else {
        assert!(acceptable.is_none(), "serde_json reads an accepted meta");
        return;
    };
    let mut state = PresenceState::new(ReplicaId::new("fuzz", 1));
    state
        .track("t", "k", "p", &meta)
        .expect("a valid meta is tracked");
    let payload: serde_json::Value = serde_json::from_str(&phoenix::presence_state(&state, "t"))
        .expect("the presence_state payload is JSON");
    let sent = payload["k"]["metas"][0]
        .as_object()
        .expect("the meta is sent as an object");
    assert!(sent["phx_ref"].is_string());
    assert_eq!(sent.len(), original.len() + 1);
    for (key, value) in &original {
        assert_eq!(&sent[key], value);
    }
});
