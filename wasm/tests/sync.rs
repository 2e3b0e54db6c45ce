//! The replication engine facade natively: what `RawSyncEngine` returns, before any JS is
//! involved, and that it interoperates with a bare `beryl_core` engine.

use beryl_core::sync::{Destination, SyncConfig, SyncEngine};
use beryl_core::{Meta, ReplicaId, wire};
use beryl_wasm::error::ErrorKind;
use beryl_wasm::sync::{self, SyncFacade};
use serde_json::Value;

const CONFIG: &str = r#"{"broadcastIntervalMs":100,"downPeriodMs":1000,"permanentDownPeriodMs":5000,"repairBackoffMs":200}"#;

fn node(name: &str, incarnation: &str) -> SyncFacade {
    SyncFacade::new(name, incarnation, CONFIG, "", 0.0).expect("valid settings")
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("the facade returns JSON")
}

/// Delivers every pending message of `from` to `to` (all of them: broadcasts and direct ones).
fn deliver(now: f64, from: &mut SyncFacade, to: &mut SyncFacade) {
    while let Some(outgoing) = from.poll_transmit() {
        let bytes = wire::encode_binary(&outgoing.message);
        let message = to.decode_binary(&bytes).expect("own messages decode");
        to.receive(now, message).unwrap();
    }
}

fn events(node: &mut SyncFacade) -> Vec<Value> {
    std::iter::from_fn(|| node.poll_event())
        .map(|text| parse(&text))
        .collect()
}

#[test]
fn config_fields_are_checked_and_default_when_missing() {
    let config = sync::config(r#"{"broadcastIntervalMs":250}"#).unwrap();
    assert_eq!(config.broadcast_interval_ms, 250);
    assert_eq!(config.down_period_ms, SyncConfig::default().down_period_ms);
    assert_eq!(sync::config("").unwrap(), SyncConfig::default());
    for bad in [
        r#"{"broadcastInterval":250}"#,
        r#"{"downPeriodMs":-1}"#,
        r#"{"broadcastIntervalMs":0}"#,
        r#"{"broadcastIntervalMs":1000,"downPeriodMs":1500}"#,
        "[]",
    ] {
        let error = sync::config(bad).expect_err(bad);
        assert_eq!(error.kind, ErrorKind::InvalidArgument, "{bad}");
    }
    let error = SyncFacade::new("a", "1", "", "", -1.0).err().unwrap();
    assert_eq!(error.kind, ErrorKind::InvalidArgument);
}

#[test]
fn a_track_returns_its_diff_and_reaches_the_peer_with_the_next_broadcast() {
    let mut a = node("a", "1");
    let mut b = node("b", "2");
    deliver(0.0, &mut a, &mut b);
    deliver(0.0, &mut b, &mut a);
    deliver(0.0, &mut a, &mut b);
    let diff = parse(&a.track("room", "alice", "p1", r#"{"n":1}"#).unwrap());
    assert_eq!(diff["joins"][0]["key"], "alice");
    let local = events(&mut a);
    assert_eq!(local.last().unwrap()["type"], "diff");
    assert_eq!(local.last().unwrap()["diff"], diff);

    deliver(50.0, &mut a, &mut b);
    assert_eq!(
        parse(&b.list("room")),
        serde_json::json!([]),
        "not broadcast yet"
    );
    a.tick(100.0).unwrap();
    deliver(100.0, &mut a, &mut b);
    let seen = events(&mut b);
    let joined = seen.iter().find(|event| event["type"] == "diff").unwrap();
    assert_eq!(joined["diff"]["joins"], diff["joins"]);
    assert_eq!(parse(&b.list("room")), parse(&a.list("room")));
    assert_eq!(a.next_timeout(), Some(200.0));
}

#[test]
fn a_silent_peer_goes_down_then_comes_back_up() {
    let mut a = node("a", "1");
    let mut b = node("b", "2");
    b.track("t", "k", "p", "{}").unwrap();
    deliver(0.0, &mut a, &mut b);
    b.tick(100.0).unwrap();
    deliver(100.0, &mut b, &mut a);
    assert_eq!(parse(&a.list("t")).as_array().unwrap().len(), 1);
    events(&mut a);
    a.tick(1_099.0).unwrap();
    assert!(events(&mut a).is_empty(), "silent for 999 ms: still up");
    a.tick(1_100.0).unwrap();
    let down = events(&mut a);
    assert!(
        down.iter()
            .any(|e| e["type"] == "peer" && e["status"] == "down")
    );
    assert_eq!(parse(&a.list("t")), serde_json::json!([]));
    assert_eq!(parse(&a.peers())[0]["down"], true);
    b.tick(1_100.0).unwrap();
    deliver(1_100.0, &mut b, &mut a);
    let up = events(&mut a);
    assert!(
        up.iter()
            .any(|e| e["type"] == "peer" && e["status"] == "up")
    );
    assert_eq!(parse(&a.list("t")).as_array().unwrap().len(), 1);
}

#[test]
fn a_message_that_does_not_decode_is_refused() {
    let a = node("a", "1");
    let error = a.decode_binary(&[0xb7, 0x52, 0x01]).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Decode);
    assert_eq!(error.reason.as_deref(), Some("Truncated"));
    assert_eq!(a.decode_json("{}").unwrap_err().kind, ErrorKind::Decode);
}

#[test]
fn the_facade_and_a_bare_core_engine_replicate_with_each_other() {
    let mut a = node("a", "1");
    let config = sync::config(CONFIG).unwrap();
    let mut b = SyncEngine::new(ReplicaId::new("b", 2), config, 0).unwrap();
    let meta = Meta::from_json(r#"{"native":true}"#).unwrap();
    b.track("t", "bob", "p", &meta).unwrap();
    a.track("t", "alice", "p", "{}").unwrap();
    for now in (0..=1_000u64).step_by(50) {
        a.tick(now as f64).unwrap();
        b.tick(now);
        while let Some(out) = a.poll_transmit() {
            let bytes = wire::encode_binary(&out.message);
            let limits = wire::WireLimits::default();
            b.receive(now, wire::decode_binary(&bytes, &limits).unwrap());
        }
        while let Some(transmit) = b.poll_transmit() {
            if let Destination::Replica(to) = &transmit.destination {
                assert_eq!(to.name(), "a");
            }
            let text = wire::encode_json(&transmit.message);
            let message = a.decode_json(&text).unwrap();
            a.receive(now as f64, message).unwrap();
        }
    }
    let on_a = parse(&a.list("t"));
    assert_eq!(on_a.as_array().unwrap().len(), 2);
    assert_eq!(on_a[1]["presences"][0]["meta"]["native"], true);
    assert_eq!(b.state().list("t").len(), 2);
}
