//! The facade natively: what the bindings return, before any JS is involved.

use beryl_core::wire;
use beryl_wasm::facade::StateFacade;
use serde_json::Value;

fn state(name: &str, incarnation: &str) -> StateFacade {
    StateFacade::new(name, incarnation, "").expect("valid replica")
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("the facade returns JSON")
}

#[test]
fn a_track_replicated_as_a_binary_delta_joins_on_the_peer() {
    let mut a = state("node-a", "7");
    let mut b = state("node-b", "9");
    let diff = parse(&a.track("room:1", "alice", "p1", r#"{"n": 1.50}"#).unwrap());
    assert_eq!(diff["joins"][0]["key"], "alice");
    assert_eq!(diff["joins"][0]["replica"]["incarnation"], "7");

    let message = a.take_delta().expect("a change is pending");
    assert!(a.take_delta().is_none(), "taking empties the pending delta");
    let received = parse(&b.merge_binary(&wire::encode_binary(&message)).unwrap());
    assert_eq!(received["joins"], diff["joins"]);
    assert_eq!(parse(&b.list("room:1")), parse(&a.list("room:1")));
}

#[test]
fn an_update_then_untrack_leaves_nothing_on_the_peer() {
    let mut a = state("node-a", "7");
    let mut b = state("node-b", "9");
    a.track("t", "k", "p", "{}").unwrap();
    let first = a.take_delta().unwrap();
    b.merge_json(&wire::encode_json(&first)).unwrap();
    a.update("t", "k", "p", r#"{"v":2}"#).unwrap();
    a.untrack("t", "k", "p");
    let rest = a.take_delta().unwrap();
    let diff = parse(&b.merge_json(&wire::encode_json(&rest)).unwrap());
    assert_eq!(diff["leaves"].as_array().unwrap().len(), 1);
    assert_eq!(parse(&b.list("t")), serde_json::json!([]));
}

#[test]
fn encode_diff_of_a_returned_diff_matches_the_core_encoder() {
    let mut a = state("node-a", "7");
    a.track("t", "k", "p", r#"{ "a" : 1.50 }"#).unwrap();
    let updated = a.update("t", "k", "p", r#"{"b":[1, 2]}"#).unwrap();
    let payload = a.encode_diff(&updated, "t").unwrap();
    let expected = {
        let diff = beryl_wasm::messages::parse_diff(&updated, a.state().limits()).unwrap();
        wire::phoenix::encode_diff(&diff, "t")
    };
    assert_eq!(payload, expected);
    let payload = parse(&payload);
    assert_eq!(
        payload["joins"]["k"]["metas"][0]["b"],
        serde_json::json!([1, 2])
    );
    assert!(payload["joins"]["k"]["metas"][0]["phx_ref_prev"].is_string());
    assert_eq!(
        parse(&a.encode_diff(&updated, "other").unwrap())["joins"],
        serde_json::json!({})
    );
}

#[test]
fn a_diff_with_a_forged_ref_is_refused() {
    let mut a = state("node-a", "7");
    let diff = a.track("t", "k", "p", "{}").unwrap();
    // The ref no longer matches the replica it claims to belong to.
    let forged = diff.replace("\"incarnation\":\"7\"", "\"incarnation\":\"8\"");
    assert_ne!(forged, diff);
    assert!(a.encode_diff(&forged, "t").is_err());
    assert!(a.encode_diff("{\"joins\":1}", "t").is_err());
}

#[test]
fn garbage_is_a_decode_error_not_a_panic() {
    let mut a = state("node-a", "7");
    for bytes in [&b""[..], b"\xb7", b"\xb7R\x01\x01\xff\xff\xff", b"{}"] {
        let error = a.merge_binary(bytes).unwrap_err();
        assert_eq!(error.kind, beryl_wasm::error::ErrorKind::Decode);
        assert!(error.reason.is_some());
    }
    let error = a.merge_binary(b"\x00\x01").unwrap_err();
    assert_eq!(error.reason.as_deref(), Some("BadMagic"));
    assert!(a.merge_json("{\"version\":1}").is_err());
}

#[test]
fn a_state_request_addressed_here_gets_a_reply_with_what_is_missing() {
    let mut a = state("node-a", "7");
    let b = state("node-b", "9");
    a.track("t", "k", "p", "{}").unwrap();
    let request = b.state_request(a.state().replica().clone());
    let reply = a.answer(&request).expect("addressed to a");
    let mut fresh = state("node-b", "9");
    let diff = parse(&json_diff_of(&mut fresh, &reply));
    assert_eq!(diff["joins"].as_array().unwrap().len(), 1);
    assert!(b.answer(&request).is_none(), "not addressed to b");
}

fn json_diff_of(state: &mut StateFacade, message: &beryl_core::Message) -> String {
    state.merge_binary(&wire::encode_binary(message)).unwrap()
}

#[test]
fn goodbye_and_liveness_messages_apply_their_verdicts() {
    let mut a = state("node-a", "7");
    let mut b = state("node-b", "9");
    a.track("t", "k", "p", "{}").unwrap();
    json_diff_of(&mut b, &a.full_state(None));
    let down = beryl_core::Message::Liveness {
        from: beryl_core::ReplicaId::new("server", 1),
        replica: a.state().replica().clone(),
        status: beryl_core::ReplicaStatus::Down,
    };
    assert_eq!(parse(&json_diff_of(&mut b, &down))["leaves"][0]["key"], "k");
    assert_eq!(b.state().len(), 0);
    let goodbye = a.goodbye();
    json_diff_of(&mut b, &goodbye);
    assert_eq!(
        b.replica_status("node-a", "7").unwrap().as_deref(),
        Some("removed")
    );
}

/// Presences read back from the compact form the way the JS wrapper reads them (JS string
/// indexes are UTF-16 code units), as the JSON form's objects: runs of `runs[i]` presences from
/// word `at` on (a diff's leaves follow its joins, the text continuing). Also gives, per
/// presence, whether it wrote its key.
fn read_compact(
    text: &str,
    words: &[u32],
    mut at: usize,
    runs: &[u32],
) -> (Vec<Vec<Value>>, Vec<bool>) {
    use beryl_wasm::compact::{KEY, REF_PREV, REPLICA, TOPIC};
    let units: Vec<u16> = text.encode_utf16().collect();
    let metas_start = words[1] as usize;
    let text_of = |from: usize, to: usize| String::from_utf16(&units[from..to]).unwrap();
    let (mut pos, mut meta_from) = (0, 1);
    let (mut out, mut keyed) = (Vec::new(), Vec::new());
    for &count in runs {
        let (mut topic, mut key, mut name, mut incarnation) = Default::default();
        let mut run = Vec::new();
        for _ in 0..count {
            let flags = words[at];
            at += 1;
            let mut field = || {
                let end = words[at] as usize;
                at += 1;
                let value = text_of(pos, end);
                pos = end;
                value
            };
            if flags & TOPIC != 0 {
                topic = field();
            }
            if flags & KEY != 0 {
                key = field();
            }
            let pid = field();
            let phx_ref = field();
            let phx_ref_prev = if flags & REF_PREV != 0 {
                Value::from(field())
            } else {
                Value::Null
            };
            if flags & REPLICA != 0 {
                name = field();
                incarnation = field();
            }
            let meta_end = words[at] as usize;
            let counter = words[at + 1];
            at += 2;
            assert_eq!(flags & beryl_wasm::compact::BIG_COUNTER, 0);
            let meta = parse(&text_of(metas_start + meta_from, metas_start + meta_end));
            meta_from = meta_end + 1;
            assert!(
                phx_ref.ends_with(&format!(".{counter}")),
                "{phx_ref} and {counter}"
            );
            run.push(serde_json::json!({
                "topic": topic, "key": key, "pid": pid, "meta": meta, "phxRef": phx_ref,
                "phxRefPrev": phx_ref_prev, "replica": {"name": name, "incarnation": incarnation},
            }));
            keyed.push(flags & KEY != 0);
        }
        out.push(run);
    }
    assert_eq!(pos, metas_start, "the fields end where the metas start");
    // The metas' array parses as a whole too, to the same metas.
    let metas = parse(&text_of(metas_start, units.len()));
    let each: Vec<Value> = out.iter().flatten().map(|p| p["meta"].clone()).collect();
    assert_eq!(metas, Value::Array(each));
    (out, keyed)
}

#[test]
fn the_compact_forms_hold_what_the_json_forms_hold() {
    let mut a = state("nöde-a", "7");
    let mut b = state("node-b", "18446744073709551615");
    a.track("lobby é", "zoé", "p1", r#"{"n": "😀", "x": 1.50}"#)
        .unwrap();
    a.track("lobby é", "zoé", "p2", "{}").unwrap();
    a.track("lobby é", "al", "p1", r#"{"s":"\u00e9"}"#).unwrap();
    a.track("t2", "al", "p1", "{}").unwrap();
    b.track("lobby é", "al", "p9", r#"{"k":[1,{"d":null}]}"#)
        .unwrap();
    let delta = wire::encode_binary(&a.take_delta().unwrap());
    let (text, words) = b.merge_binary_compact(&delta).unwrap();
    let mut c = state("node-c", "1");
    let json = parse(&c.merge_binary(&delta).unwrap());
    assert_eq!((words[0], words[2]), (4, 4), "four joins, no leaves");
    let (runs, _) = read_compact(&text, &words, 3, &[4, 0]);
    assert_eq!(Value::Array(runs[0].clone()), json["joins"]);

    // A list: every group's first presence writes its key, the others do not.
    let (text, words) = b.list_compact("lobby é");
    let (runs, keyed) = read_compact(&text, &words, 2, &[words[0]]);
    let groups = parse(&b.list("lobby é"));
    let listed: Vec<Value> = groups
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|group| group["presences"].as_array().unwrap().clone())
        .collect();
    assert_eq!(runs[0], listed);
    assert_eq!(keyed, [true, false, true, false]);
    assert_eq!(groups.as_array().unwrap().len(), 2);

    let (text, words) = b.get_by_key_compact("lobby é", "zoé");
    let (runs, _) = read_compact(&text, &words, 2, &[words[0]]);
    assert_eq!(
        Value::Array(runs[0].clone()),
        parse(&b.get_by_key("lobby é", "zoé"))
    );

    // An update's diff: a join with its phxRefPrev, then the leave.
    let mut d = state("node-d", "3");
    d.track("t", "k", "p", r#"{"v":1}"#).unwrap();
    let diff = d.update_diff("t", "k", "p", r#"{"v": 2}"#).unwrap();
    let json = parse(&beryl_wasm::json::diff(&diff));
    let (text, words) = beryl_wasm::compact::diff(&diff);
    assert_eq!((words[0], words[2]), (2, 1));
    let (runs, _) = read_compact(&text, &words, 3, &[1, 1]);
    assert_eq!(Value::Array(runs[0].clone()), json["joins"]);
    assert_eq!(Value::Array(runs[1].clone()), json["leaves"]);
    assert!(json["joins"][0]["phxRefPrev"].is_string());
}

#[test]
fn a_tracks_counter_after_the_ref_prefix_is_its_phx_ref() {
    let mut a = state("nöde-a", "18446744073709551615");
    let mut b = state("nöde-a", "18446744073709551615");
    for (index, key) in ["k1", "k2", "k3"].into_iter().enumerate() {
        let counter = a.track_counter("t", key, "p", "{}").unwrap();
        let diff = parse(&b.track("t", key, "p", "{}").unwrap());
        assert_eq!(counter, index as f64 + 1.0);
        let phx_ref = format!("{}{counter}", a.local_ref_prefix());
        assert_eq!(diff["joins"][0]["phxRef"], Value::from(phx_ref));
    }
    // An update takes two counters: its new entry's and the seal of the replaced one.
    a.update_diff("t", "k1", "p", "{}").unwrap();
    assert_eq!(a.track_counter("t", "k4", "p", "{}").unwrap(), 6.0);
}

#[test]
fn metas_as_deep_as_the_limits_allow_replicate_in_json_too() {
    let limits = r#"{"maxMetaDepth":30}"#;
    let mut a = StateFacade::new("node-a", "7", limits).unwrap();
    let mut b = StateFacade::new("node-b", "9", limits).unwrap();
    let meta = format!(r#"{{"a":{}{}}}"#, "[".repeat(29), "]".repeat(29));
    a.track("t", "k", "p", &meta).unwrap();
    let delta = a.take_delta().unwrap();
    let diff = parse(&b.merge_json(&wire::encode_json(&delta)).unwrap());
    assert_eq!(diff["joins"][0]["pid"], "p");
}

/// A tiny deterministic generator, so the sequences are the same on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

#[test]
fn taken_changes_are_the_join_of_each_changes_delta() {
    use beryl_core::{Delta, Message, Meta, PresenceState, ReplicaId};

    for seed in 0..300 {
        let mut random = Lcg(seed);
        let mut facade = state("node-a", "7");
        // The same operations on a plain state, each change's delta joined as it comes.
        let mut model = PresenceState::new(ReplicaId::new("node-a", 7));
        let mut joined = Delta::default();
        for step in 0..60 {
            let (topic, key, pid) = (
                format!("t{}", random.below(3)),
                format!("k{}", random.below(3)),
                format!("p{}", random.below(4)),
            );
            let meta = format!(r#"{{"step":{step}}}"#);
            match random.below(6) {
                0 | 1 => {
                    let tracked = model.track(&topic, &key, &pid, &Meta::from_json(&meta).unwrap());
                    assert_eq!(
                        tracked.is_ok(),
                        facade.track(&topic, &key, &pid, &meta).is_ok()
                    );
                    if let Ok(tracked) = tracked {
                        joined = joined.merged(tracked.delta());
                    }
                }
                2 => {
                    let updated =
                        model.update(&topic, &key, &pid, &Meta::from_json(&meta).unwrap());
                    assert_eq!(
                        updated.is_ok(),
                        facade.update(&topic, &key, &pid, &meta).is_ok()
                    );
                    if let Ok(updated) = updated {
                        joined = joined.merged(updated.into_change().delta);
                    }
                }
                3 => {
                    joined = joined.merged(model.untrack(&topic, &key, &pid).delta);
                    facade.untrack(&topic, &key, &pid);
                }
                4 => {
                    joined = joined.merged(model.untrack_all(&pid).delta);
                    facade.untrack_all(&pid);
                }
                _ => {
                    let taken = facade.take_delta();
                    let expected = std::mem::take(&mut joined);
                    let nothing = expected.store().is_empty() && expected.context().is_empty();
                    match taken {
                        None => assert!(nothing, "seed {seed} step {step}: changes were lost"),
                        Some(Message::Delta { delta, .. }) => {
                            assert_eq!(delta, expected, "seed {seed} step {step}");
                        }
                        Some(other) => panic!("not a delta: {other:?}"),
                    }
                }
            }
        }
    }
}
