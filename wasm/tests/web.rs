//! The bindings inside a real JS engine (Node, or headless Chromium with
//! `WASM_BINDGEN_USE_BROWSER=1`): JS errors with the right names, binary messages as
//! `Uint8Array`s, and a state that keeps working after refusals.
#![cfg(target_arch = "wasm32")]

use beryl_wasm::bindings::{RawPresenceState, incarnation_from_parts};
use beryl_wasm::sync::RawSyncEngine;
use js_sys::{Array, Error, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

fn error_name(value: JsValue) -> String {
    value
        .dyn_into::<Error>()
        .map(|error| String::from(error.name()))
        .unwrap_or_default()
}

/// `RawPresenceState::track` takes its arguments joined, with the first three's JS lengths.
fn track(
    state: &mut RawPresenceState,
    topic: &str,
    key: &str,
    pid: &str,
    meta: &str,
) -> Result<f64, JsValue> {
    let units = |text: &str| text.encode_utf16().count() as u32;
    let joined = format!("{topic}{key}{pid}{meta}");
    state.track(&joined, units(topic), units(key), units(pid))
}

#[wasm_bindgen_test]
fn a_delta_crosses_as_a_uint8array_and_merges() {
    let mut a = RawPresenceState::new("node-a", "7", "").unwrap();
    let mut b = RawPresenceState::new("node-b", "9", "").unwrap();
    let counter = track(&mut a, "room", "alice", "p1", r#"{"s":1}"#).unwrap();
    let phx_ref = format!("{}{counter}", a.ref_prefix());
    // Lists and diffs come as compact text, their words handed over by `words`.
    assert!(a.list("room").contains(&phx_ref));
    assert_eq!(a.words()[0], 1, "one presence listed");
    assert!(a.words().is_empty(), "the words are handed over once");
    let message = a.take_delta(false);
    let bytes: Uint8Array = message.dyn_into().expect("binary messages are Uint8Arrays");
    let merged = b.merge_binary(&bytes.to_vec()).unwrap();
    assert!(merged.contains("p1"));
    let words = b.words();
    assert_eq!((words[0], words[2]), (1, 1), "one presence, a join");
    assert_eq!(b.size(), 1.0);
    assert!(b.presence_state("room").contains("\"phx_ref\""));
    assert!(a.take_delta(false).is_undefined(), "nothing new to send");
    let json = a
        .heartbeat(true)
        .as_string()
        .expect("JSON messages are strings");
    assert!(json.contains("\"type\":\"heartbeat\""));
}

#[wasm_bindgen_test]
fn refusals_are_named_errors_and_leave_the_state_usable() {
    let mut state = RawPresenceState::new("node-a", "7", "").unwrap();
    track(&mut state, "t", "k", "p", "{}").unwrap();
    let already = track(&mut state, "t", "k", "p", "{}").unwrap_err();
    assert_eq!(error_name(already), "BerylAlreadyTrackedError");
    let not_tracked = state.update("t", "k", "x", "{}").unwrap_err();
    assert_eq!(error_name(not_tracked), "BerylNotTrackedError");
    let invalid = track(&mut state, "t", "k", "q", "[]").unwrap_err();
    assert_eq!(error_name(invalid), "BerylInvalidInputError");
    let short = state.track("tkp", 2, 2, 0).unwrap_err();
    assert_eq!(error_name(short), "BerylInvalidArgumentError");
    let invalid = track(&mut state, "t", "é😀", "q", "[]").unwrap_err();
    assert_eq!(error_name(invalid), "BerylInvalidInputError");
    let decode = state.merge_binary(&[0xb7, 0x52, 0x01]).unwrap_err();
    let reason = Reflect::get(&decode, &JsValue::from_str("reason")).unwrap();
    assert_eq!(error_name(decode), "BerylDecodeError");
    assert_eq!(reason.as_string().as_deref(), Some("Truncated"));
    let local = state.replica_down("node-a", "7").unwrap_err();
    assert_eq!(error_name(local), "BerylLocalReplicaError");
    assert!(RawPresenceState::new("x", "not a number", "").is_err());
    assert!(incarnation_from_parts(-1.0, 0.0).is_err());
    state.list("t");
    assert_eq!(state.words()[0], 1);
}

#[wasm_bindgen_test]
fn incarnations_from_parts_are_decimal_strings_beyond_two_to_the_53() {
    let incarnation = incarnation_from_parts(1_700_000_000_000.0, 65_535.0).unwrap();
    assert_eq!(
        incarnation,
        ((1_700_000_000_000u64 << 16) | 65_535).to_string()
    );
}

#[wasm_bindgen_test]
fn a_sync_engine_hands_out_transmits_as_arrays_and_refuses_bad_input() {
    let config = r#"{"broadcastIntervalMs":100,"downPeriodMs":1000}"#;
    let mut a = RawSyncEngine::new("node-a", "7", config, "", 0.0).unwrap();
    let mut b = RawSyncEngine::new("node-b", "9", config, "", 0.0).unwrap();
    let announce: Array = a.poll_transmit(false).dyn_into().expect("[to, message]");
    assert!(
        announce.get(0).is_null(),
        "the first heartbeat is a broadcast"
    );
    let bytes: Uint8Array = announce
        .get(1)
        .dyn_into()
        .expect("binary messages are Uint8Arrays");
    b.receive_binary(0.0, &bytes.to_vec()).unwrap();
    let own: Array = b.poll_transmit(true).dyn_into().unwrap();
    assert!(own.get(0).is_null());
    assert!(own.get(1).as_string().unwrap().contains("\"heartbeat\""));
    assert!(
        b.poll_transmit(true).is_undefined(),
        "a has nothing b lacks"
    );

    a.track("room", "alice", "p1", "{}").unwrap();
    a.tick(100.0).unwrap();
    while let Some(event) = a.poll_event() {
        assert!(event.starts_with("{\"type\":\"diff\""));
    }
    let mut sent = 0;
    loop {
        let next = a.poll_transmit(false);
        if next.is_undefined() {
            break;
        }
        let next: Array = next.dyn_into().unwrap();
        let bytes: Uint8Array = next.get(1).dyn_into().unwrap();
        b.receive_binary(100.0, &bytes.to_vec()).unwrap();
        sent += 1;
    }
    assert!(sent > 0);
    assert_eq!(b.size(), 1.0);

    let decode = b.receive_binary(100.0, &[0xb7, 0x52, 0x01]).unwrap_err();
    assert_eq!(error_name(decode), "BerylDecodeError");
    let time = b.tick(f64::NAN).unwrap_err();
    assert_eq!(error_name(time), "BerylInvalidArgumentError");
    let bad = RawSyncEngine::new("x", "1", r#"{"downPeriodMs":1}"#, "", 0.0)
        .err()
        .unwrap();
    assert_eq!(error_name(bad), "BerylInvalidArgumentError");
    assert_eq!(b.size(), 1.0);
    b.stop();
    assert!(b.next_timeout().is_none());
}
