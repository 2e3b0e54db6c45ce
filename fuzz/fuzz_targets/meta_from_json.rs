//! Arbitrary text as a meta: validation must never panic, and an accepted meta must come out of
//! the Phoenix encoder as a JSON object with the same fields plus `phx_ref`.
#![no_main]

use beryl_core::wire::phoenix;
use beryl_core::{Meta, PresenceState, ReplicaId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(meta) = Meta::from_json(text) else {
        return;
    };
    let original: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(meta.as_str()).expect("an accepted meta is a JSON object");
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
