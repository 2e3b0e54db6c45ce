//! The workloads W1-W6, shared by the presence benchmark, the heap example and the wasm
//! package's benchmark script, so every figure measures the same thing.

#![allow(dead_code)]

use beryl_core::{Delta, Meta, PresenceState, ReplicaId};

/// The topics W1 spreads its presences over.
pub const TOPICS: usize = 10_000;

pub fn replica(name: &str) -> ReplicaId {
    ReplicaId::new(name, 1)
}

pub fn topic(i: usize) -> String {
    format!("room:{}", i % TOPICS)
}

pub fn key(i: usize) -> String {
    format!("user:{i}")
}

pub fn pid(i: usize) -> String {
    format!("pid:{i}")
}

pub fn meta(i: usize) -> Meta {
    Meta::from_json(&format!(r#"{{"status":"online","joined_at":{i}}}"#)).expect("valid meta")
}

/// The inputs of `n` tracks, built ahead so that a benchmark times the tracks alone.
pub struct Inputs {
    pub rows: Vec<(String, String, String, Meta)>,
}

pub fn inputs(range: std::ops::Range<usize>) -> Inputs {
    Inputs {
        rows: range.map(|i| (topic(i), key(i), pid(i), meta(i))).collect(),
    }
}

/// A replica named `name` that tracked the presences of `range`.
pub fn tracked(name: &str, range: std::ops::Range<usize>) -> PresenceState {
    let mut state = PresenceState::new(replica(name));
    for (topic, key, pid, meta) in inputs(range).rows {
        state
            .track(&topic, &key, &pid, &meta)
            .expect("fresh triple");
    }
    state
}

/// A replica `name` that holds `n` presences of the replica `owner`, plus `owner` itself.
pub fn holding(name: &str, owner: &str, n: usize) -> (PresenceState, PresenceState) {
    let source = tracked(owner, 0..n);
    let mut state = PresenceState::new(replica(name));
    state.merge(source.full_state(None));
    (state, source)
}

/// One delta of `joins` new presences and `leaves` removals of the oldest remaining ones.
pub fn churn(
    source: &mut PresenceState,
    next: &mut usize,
    oldest: &mut usize,
    joins: usize,
    leaves: usize,
) -> Delta {
    let mut delta = Delta::new();
    for _ in 0..joins {
        let i = *next;
        *next += 1;
        let tracked = source
            .track(&topic(i), &key(i), &pid(i), &meta(i))
            .expect("fresh triple");
        delta = delta.merged(tracked.delta());
    }
    for _ in 0..leaves {
        let i = *oldest;
        *oldest += 1;
        delta = delta.merged(source.untrack(&topic(i), &key(i), &pid(i)).delta);
    }
    delta
}
