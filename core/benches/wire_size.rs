//! Encoded sizes of replication messages, binary and JSON, against the targets of the wire
//! format, plus encode/decode times of W1's full state.
//!
//! Run with `cargo bench -p beryl-core --bench wire_size`.

mod workloads;

use std::hint::black_box;
use std::time::{Duration, Instant};

use beryl_core::wire::{self, WireLimits};
use beryl_core::{Message, PresenceState, ReplicaId, incarnation_from_parts};
use workloads::*;

/// Phoenix.Tracker's node-to-node encoding of W1's state, per presence (measured on Phoenix).
const PHOENIX_BYTES_PER_PRESENCE: f64 = 135.8;
/// Phoenix's message for one join.
const PHOENIX_ONE_JOIN_BYTES: usize = 524;

/// A replica as deployed: its incarnation is a start time in milliseconds plus random bits, so
/// it costs its real 9 bytes.
fn deployed_replica(name: &str) -> ReplicaId {
    ReplicaId::new(name, incarnation_from_parts(1_700_000_000_000, 0x2a17))
}

struct Sizes {
    binary: usize,
    json: usize,
}

fn sizes(message: &Message) -> Sizes {
    Sizes {
        binary: wire::encode_binary(message).len(),
        json: wire::encode_json(message).len(),
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "target met" } else { "TARGET MISSED" }
}

fn print_sizes(label: &str, sizes: &Sizes) {
    let ratio = sizes.binary as f64 / sizes.json as f64;
    println!(
        "{label}: binary {} B, JSON {} B, binary/JSON {:.1}% ({} <= 40%)",
        sizes.binary,
        sizes.json,
        ratio * 100.0,
        verdict(ratio <= 0.40)
    );
}

/// The fastest of a few runs: the least disturbed by other work on the machine.
fn fastest<T>(runs: usize, mut work: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(work());
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let presences = 100_000;
    let w1 = {
        let mut state = PresenceState::new(deployed_replica("node-a"));
        for (topic, key, pid, meta) in inputs(0..presences).rows {
            state
                .track(&topic, &key, &pid, &meta)
                .expect("fresh triple");
        }
        state
    };
    let full = Message::StateReply {
        from: w1.replica().clone(),
        to: deployed_replica("node-b"),
        delta: w1.full_state(None),
    };
    let own_bytes: usize = (0..presences)
        .map(|i| key(i).len() + pid(i).len() + meta(i).as_str().len())
        .sum();
    let full_sizes = sizes(&full);
    println!("W1 full state ({presences} presences over {TOPICS} topics, as a state reply):");
    print_sizes("  whole message", &full_sizes);
    let per_presence = full_sizes.binary as f64 / presences as f64;
    // Negative when meta templates save more than the framing costs.
    let overhead = (full_sizes.binary as f64 - own_bytes as f64) / presences as f64;
    println!(
        "  binary per presence: {per_presence:.1} B (Phoenix: {PHOENIX_BYTES_PER_PRESENCE} B); \
         that is {overhead:+.2} B against its own key, pid and meta bytes ({:.1} B): the shared \
         meta shape travels once, which saves more than topics, templates and headers cost",
        own_bytes as f64 / presences as f64,
    );
    println!(
        "  JSON per presence: {:.1} B",
        full_sizes.json as f64 / presences as f64
    );

    // The same state with metas that share no shape, so no template saves anything: what is
    // left beyond the key, pid and meta bytes is the framing alone.
    let unique_meta = |i: usize| format!(r#"{{"s{i}":true}}"#);
    let framed = {
        let mut state = PresenceState::new(deployed_replica("node-a"));
        for i in 0..presences {
            let meta = beryl_core::Meta::from_json(&unique_meta(i)).expect("valid meta");
            state
                .track(&topic(i), &key(i), &pid(i), &meta)
                .expect("fresh triple");
        }
        Message::StateReply {
            from: state.replica().clone(),
            to: deployed_replica("node-b"),
            delta: state.full_state(None),
        }
    };
    let framed_own: usize = (0..presences)
        .map(|i| key(i).len() + pid(i).len() + unique_meta(i).len())
        .sum();
    let framing =
        (wire::encode_binary(&framed).len() as f64 - framed_own as f64) / presences as f64;
    println!(
        "  framing per presence with no shared meta shape: {framing:.2} B ({} <= 8 B)",
        verdict(framing <= 8.0)
    );

    // 100 operations: 50 joins and 50 leaves on a replica holding 1,000 presences.
    let mut source = PresenceState::new(deployed_replica("node-a"));
    for (topic, key, pid, meta) in inputs(0..1_000).rows {
        source
            .track(&topic, &key, &pid, &meta)
            .expect("fresh triple");
    }
    let (mut next, mut oldest) = (1_000, 0);
    let hundred = Message::Delta {
        from: source.replica().clone(),
        delta: churn(&mut source, &mut next, &mut oldest, 50, 50),
    };
    print_sizes("100-op delta (50 joins, 50 leaves)", &sizes(&hundred));

    let mut single = PresenceState::new(deployed_replica("node-a"));
    let one = inputs(0..1).rows.remove(0);
    let tracked = single
        .track(&one.0, &one.1, &one.2, &one.3)
        .expect("fresh triple");
    let one_join = Message::Delta {
        from: single.replica().clone(),
        delta: tracked.delta(),
    };
    let one_sizes = sizes(&one_join);
    print_sizes("1-join delta message", &one_sizes);
    println!(
        "  binary {} B ({} <= 120 B; Phoenix: {PHOENIX_ONE_JOIN_BYTES} B)",
        one_sizes.binary,
        verdict(one_sizes.binary <= 120)
    );

    let limits = WireLimits::default();
    let binary = wire::encode_binary(&full);
    let json = wire::encode_json(&full);
    println!("W1 full state, fastest of 5 runs:");
    println!(
        "  binary encode {:?}, decode {:?}",
        fastest(5, || wire::encode_binary(&full)),
        fastest(5, || wire::decode_binary(&binary, &limits).expect("valid"))
    );
    println!(
        "  JSON encode {:?}, decode {:?}",
        fastest(5, || wire::encode_json(&full)),
        fastest(5, || wire::decode_json(&json, &limits).expect("valid"))
    );
    // Decoders accept entries in any order; reversed, the work must stay O(n log n).
    let mut reversed: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    reversed["delta"]["entries"]
        .as_array_mut()
        .expect("entries")
        .reverse();
    let reversed = reversed.to_string();
    println!(
        "  JSON decode, entries in reverse order: {:?}",
        fastest(5, || wire::decode_json(&reversed, &limits).expect("valid"))
    );
}
