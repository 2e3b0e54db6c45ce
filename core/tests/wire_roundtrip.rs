//! Property tests of the replication encodings: every message survives a round trip through
//! either form, both forms decode to the same message, and damaged input is refused or decodes
//! to something that itself round-trips, never a panic.

use std::sync::Arc;

use beryl_core::wire::{self, WireLimits};
use beryl_core::{
    CausalContext, Delta, DotMap, DotRanges, DotStore, Entry, Limits, Message, Meta, ReplicaId,
    ReplicaStatus, dot::Dot,
};
use proptest::prelude::*;

fn replica() -> impl Strategy<Value = ReplicaId> {
    (
        prop::sample::select(vec!["node-a", "node-b", "n\u{e9}ud \"c\"", ""]),
        prop_oneof![0u64..4, Just(u64::MAX), any::<u64>()],
    )
        .prop_map(|(name, incarnation)| ReplicaId::new(name, incarnation))
}

fn counter() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..40, 1 => (u64::MAX - 40)..=u64::MAX]
}

fn ranges() -> impl Strategy<Value = DotRanges> {
    (counter(), prop::collection::vec((counter(), 0u64..4), 0..5)).prop_map(|(base, cloud)| {
        DotRanges::from_parts(
            base,
            cloud
                .into_iter()
                .map(|(first, len)| (first, first.saturating_add(len))),
        )
    })
}

fn context() -> impl Strategy<Value = CausalContext> {
    prop::collection::vec((replica(), ranges()), 0..4)
        .prop_map(|sections| sections.into_iter().collect())
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z:0-9]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

/// JSON values written as text in styles a serializer would normalize (exponents, trailing
/// zeros, spaces), to check they pass through untouched.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("1.50".to_string()),
        Just("-0".to_string()),
        Just("1e3".to_string()),
        Just("true".to_string()),
        Just("null".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        text().prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            prop::collection::vec(("[a-z]{1,6}", inner), 0..4).prop_map(|fields| {
                let body: Vec<String> = fields
                    .into_iter()
                    .map(|(key, value)| format!("\"{key}\" : {value}"))
                    .collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

fn meta() -> impl Strategy<Value = Meta> {
    let any_shape = prop::collection::vec(("[a-z_]{1,8}", json_value()), 0..4).prop_filter_map(
        "reserved key",
        |fields| {
            let body: Vec<String> = fields
                .into_iter()
                .map(|(key, value)| format!("\"{key}\":{value}"))
                .collect();
            Meta::from_json(&format!("{{{}}}", body.join(","))).ok()
        },
    );
    // Metas sharing one shape with different numbers, as real applications send them: the
    // binary form sends their shape once.
    let shared_shape = (
        prop::sample::select(vec![
            "1",
            "-0",
            "1.50",
            "2e-3",
            "123456789012345678901234567890",
        ]),
        any::<u32>(),
    )
        .prop_map(|(number, n)| {
            Meta::from_json(&format!(r#"{{"status":"online","at":{n},"x":[{number}]}}"#)).unwrap()
        });
    prop_oneof![any_shape, shared_shape]
}

fn delta() -> impl Strategy<Value = Delta> {
    let entry = (
        prop::sample::select(vec!["room:1", "room:2", "t\u{e9}st \"q\""]),
        text(),
        text(),
        meta(),
        prop::option::of(1u64..1_000),
    );
    (
        context(),
        prop::collection::vec((any::<prop::sample::Index>(), 0usize..64, entry), 0..8),
    )
        .prop_map(|(context, picks)| {
            let sections: Vec<(ReplicaId, DotRanges)> = context
                .iter()
                .map(|(replica, ranges)| (replica.clone(), ranges.clone()))
                .collect();
            let mut store: DotMap<Entry> = DotMap::default();
            if !sections.is_empty() {
                for (section, nth, (topic, key, pid, meta, replaces)) in picks {
                    let (replica, ranges) = &sections[section.index(sections.len())];
                    let Some(counter) = ranges.counters().nth(nth) else {
                        continue;
                    };
                    let entry = Entry::new(
                        Arc::from(topic),
                        &key,
                        &pid,
                        &meta,
                        replaces,
                        &Limits::default(),
                    )
                    .unwrap();
                    let dot = Dot::new(replica.clone(), counter);
                    if !store.contains_dot(&dot) {
                        store.insert_dot(dot, entry);
                    }
                }
            }
            Delta::from_parts(store, context)
        })
}

fn status() -> impl Strategy<Value = ReplicaStatus> {
    prop::sample::select(vec![
        ReplicaStatus::Up,
        ReplicaStatus::Down,
        ReplicaStatus::Removed,
    ])
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (replica(), delta()).prop_map(|(from, delta)| Message::Delta { from, delta }),
        (replica(), context()).prop_map(|(from, digest)| Message::Heartbeat { from, digest }),
        (replica(), replica(), context()).prop_map(|(from, to, digest)| Message::StateRequest {
            from,
            to,
            digest
        }),
        (replica(), replica(), delta()).prop_map(|(from, to, delta)| Message::StateReply {
            from,
            to,
            delta
        }),
        replica().prop_map(|from| Message::Goodbye { from }),
        (replica(), replica(), status()).prop_map(|(from, replica, status)| Message::Liveness {
            from,
            replica,
            status
        }),
    ]
}

/// Damage applied to an encoded message.
#[derive(Debug, Clone)]
enum Damage {
    Truncate(prop::sample::Index),
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Damage::Truncate),
        (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(i, x)| Damage::Flip(i, x)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Damage::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Damage::Remove),
    ]
}

fn apply(bytes: &mut Vec<u8>, damage: &[Damage]) {
    for step in damage {
        if bytes.is_empty() {
            return;
        }
        match step {
            Damage::Truncate(at) => bytes.truncate(at.index(bytes.len())),
            Damage::Flip(at, mask) => {
                let at = at.index(bytes.len());
                bytes[at] ^= mask;
            }
            Damage::Insert(at, byte) => bytes.insert(at.index(bytes.len() + 1), *byte),
            Damage::Remove(at) => {
                bytes.remove(at.index(bytes.len()));
            }
        }
    }
}

/// Whatever a decoder accepts must be a message the encoders reproduce faithfully.
fn accepted_messages_round_trip(message: &Message) {
    let limits = WireLimits::default();
    assert_eq!(
        &wire::decode_binary(&wire::encode_binary(message), &limits).unwrap(),
        message
    );
    assert_eq!(
        &wire::decode_json(&wire::encode_json(message), &limits).unwrap(),
        message
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn binary_round_trips(message in message()) {
        let bytes = wire::encode_binary(&message);
        prop_assert_eq!(wire::decode_binary(&bytes, &WireLimits::default()).unwrap(), message);
    }

    #[test]
    fn json_round_trips_and_is_valid_json(message in message()) {
        let text = wire::encode_json(&message);
        prop_assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
        prop_assert_eq!(wire::decode_json(&text, &WireLimits::default()).unwrap(), message);
    }

    #[test]
    fn damaged_binary_is_refused_or_round_trips(message in message(),
                                                damage in prop::collection::vec(damage(), 1..4)) {
        let mut bytes = wire::encode_binary(&message);
        apply(&mut bytes, &damage);
        if let Ok(decoded) = wire::decode_binary(&bytes, &WireLimits::default()) {
            accepted_messages_round_trip(&decoded);
        }
    }

    #[test]
    fn damaged_json_is_refused_or_round_trips(message in message(),
                                              damage in prop::collection::vec(damage(), 1..4)) {
        let mut bytes = wire::encode_json(&message).into_bytes();
        apply(&mut bytes, &damage);
        if let Ok(text) = std::str::from_utf8(&bytes)
            && let Ok(decoded) = wire::decode_json(text, &WireLimits::default())
        {
            accepted_messages_round_trip(&decoded);
        }
    }

    #[test]
    fn garbage_after_a_valid_header_is_refused_or_round_trips(kind in 1u8..=6,
                                                              body in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = vec![wire::MAGIC[0], wire::MAGIC[1], wire::VERSION, kind];
        bytes.extend(body);
        if let Ok(decoded) = wire::decode_binary(&bytes, &WireLimits::default()) {
            accepted_messages_round_trip(&decoded);
        }
    }
}
