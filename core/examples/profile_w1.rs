//! Runs W1 (100,000 tracks), W2 (merging that state into a fresh replica) and W5 (down, then
//! removal) once each, printing wall times: a quick profile target for `perf record`.
//!
//! `cargo run --release -p beryl-core --example profile_w1`
//!
//! With a number N as argument, runs W1 alone N times.
//!
//! Each workload runs in its own never-inlined function, dropping what the benchmark drops inside
//! its timed part, so that instruction counts per workload can be read from a callgrind profile:
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=cg.out target/release/examples/profile_w1
//! callgrind_annotate --inclusive=yes cg.out | grep profile_w1::w
//! ```

use std::hint::black_box;
use std::time::Instant;

use beryl_core::{Delta, Meta, PresenceState, ReplicaId};

#[path = "../benches/workloads.rs"]
mod workloads;

const PRESENCES: usize = 100_000;

#[inline(never)]
fn w1_track(state: &mut PresenceState, inputs: &[(String, String, String, Meta)]) {
    for (topic, key, pid, meta) in inputs {
        black_box(state.track(topic, key, pid, meta).expect("fresh triple"));
    }
}

#[inline(never)]
fn w2_merge(state: &mut PresenceState, full: Delta) -> usize {
    state.merge(full).joins().count()
}

#[inline(never)]
fn w5_down(state: &mut PresenceState, replica: &ReplicaId) -> usize {
    state
        .replica_down(replica)
        .expect("remote")
        .leaves()
        .count()
}

#[inline(never)]
fn w5_remove(state: &mut PresenceState, replica: &ReplicaId) -> usize {
    state
        .remove_replica(replica)
        .expect("remote")
        .leaves()
        .count()
}

fn main() {
    let inputs = workloads::inputs(0..PRESENCES).rows;
    if let Some(rounds) = std::env::args().nth(1) {
        // `profile_w1 N`: W1 alone, N times, for a profile of tracks only.
        let rounds: usize = rounds.parse().expect("a number of rounds");
        for _ in 0..rounds {
            let mut local = PresenceState::new(ReplicaId::new("w1", 1));
            let started = Instant::now();
            w1_track(&mut local, &inputs);
            println!("W1 track 100k: {:?}", started.elapsed());
        }
        return;
    }
    let mut local = PresenceState::new(ReplicaId::new("w1", 1));
    let started = Instant::now();
    w1_track(&mut local, &inputs);
    println!("W1 track 100k: {:?}", started.elapsed());
    let full = local.full_state(None);
    let mut remote = PresenceState::new(ReplicaId::new("w2", 1));
    let started = Instant::now();
    let joins = w2_merge(&mut remote, full);
    println!("W2 merge 100k: {:?} ({joins} joins)", started.elapsed());
    let started = Instant::now();
    let leaves = w5_down(&mut remote, local.replica());
    println!("W5 down 100k: {:?} ({leaves} leaves)", started.elapsed());
    remote.replica_up(local.replica()).expect("remote");
    let started = Instant::now();
    let leaves = w5_remove(&mut remote, local.replica());
    println!("W5 remove 100k: {:?} ({leaves} leaves)", started.elapsed());
}
