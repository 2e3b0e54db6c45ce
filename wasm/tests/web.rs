//! The bindings inside a real JS engine (Node, or headless Chromium with
//! `WASM_BINDGEN_USE_BROWSER=1`): JS errors with the right names, binary messages as
//! `Uint8Array`s, and a state that keeps working after refusals.
#![cfg(target_arch = "wasm32")]

use beryl_wasm::bindings::{RawPresenceState, incarnation_from_parts};
use js_sys::{Error, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

fn error_name(value: JsValue) -> String {
    value
        .dyn_into::<Error>()
        .map(|error| String::from(error.name()))
        .unwrap_or_default()
}

#[wasm_bindgen_test]
fn a_delta_crosses_as_a_uint8array_and_merges() {
    let mut a = RawPresenceState::new("node-a", "7", "").unwrap();
    let mut b = RawPresenceState::new("node-b", "9", "").unwrap();
    let diff = a.track("room", "alice", "p1", r#"{"s":1}"#).unwrap();
    assert!(diff.contains("\"key\":\"alice\""));
    let message = a.take_delta(false);
    let bytes: Uint8Array = message.dyn_into().expect("binary messages are Uint8Arrays");
    let merged = b.merge_binary(&bytes.to_vec()).unwrap();
    assert!(merged.contains("\"pid\":\"p1\""));
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
    state.track("t", "k", "p", "{}").unwrap();
    let already = state.track("t", "k", "p", "{}").unwrap_err();
    assert_eq!(error_name(already), "BerylAlreadyTrackedError");
    let not_tracked = state.update("t", "k", "x", "{}").unwrap_err();
    assert_eq!(error_name(not_tracked), "BerylNotTrackedError");
    let invalid = state.track("t", "k", "q", "[]").unwrap_err();
    assert_eq!(error_name(invalid), "BerylInvalidInputError");
    let decode = state.merge_binary(&[0xb7, 0x52, 0x01]).unwrap_err();
    let reason = Reflect::get(&decode, &JsValue::from_str("reason")).unwrap();
    assert_eq!(error_name(decode), "BerylDecodeError");
    assert_eq!(reason.as_string().as_deref(), Some("Truncated"));
    let local = state.replica_down("node-a", "7").unwrap_err();
    assert_eq!(error_name(local), "BerylLocalReplicaError");
    assert!(RawPresenceState::new("x", "not a number", "").is_err());
    assert!(incarnation_from_parts(-1.0, 0.0).is_err());
    assert_eq!(state.list("t").matches("\"pid\"").count(), 1);
}

#[wasm_bindgen_test]
fn incarnations_from_parts_are_decimal_strings_beyond_two_to_the_53() {
    let incarnation = incarnation_from_parts(1_700_000_000_000.0, 65_535.0).unwrap();
    assert_eq!(
        incarnation,
        ((1_700_000_000_000u64 << 16) | 65_535).to_string()
    );
}
