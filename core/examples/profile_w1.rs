//! Runs W1 (100,000 tracks), W2 (merging that state into a fresh replica) and W5 (down, then
//! removal) once each, printing wall times: a quick profile target for `perf record`.
//!
//! `cargo run --release -p beryl-core --example profile_w1`

use std::time::Instant;

use beryl_core::{PresenceState, ReplicaId};

#[path = "../benches/workloads.rs"]
mod workloads;

const PRESENCES: usize = 100_000;

fn main() {
    let inputs = workloads::inputs(0..PRESENCES).rows;
    let started = Instant::now();
    let mut local = PresenceState::new(ReplicaId::new("w1", 1));
    for (topic, key, pid, meta) in &inputs {
        local.track(topic, key, pid, meta).expect("fresh triple");
    }
    println!("W1 track 100k: {:?}", started.elapsed());
    let full = local.full_state(None);
    let started = Instant::now();
    let mut remote = PresenceState::new(ReplicaId::new("w2", 1));
    remote.merge(full);
    println!("W2 merge 100k: {:?}", started.elapsed());
    let started = Instant::now();
    let down = remote.replica_down(local.replica()).expect("remote");
    println!(
        "W5 down 100k: {:?} ({} leaves)",
        started.elapsed(),
        down.leaves().count()
    );
    remote.replica_up(local.replica()).expect("remote");
    let started = Instant::now();
    let removed = remote.remove_replica(local.replica()).expect("remote");
    println!(
        "W5 remove 100k: {:?} ({} leaves)",
        started.elapsed(),
        removed.leaves().count()
    );
}
