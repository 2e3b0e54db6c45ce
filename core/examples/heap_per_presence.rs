//! W6: bytes of heap per presence at 100,000 presences (W1's state), strings and meta included.
//! Counts the bytes requested from the allocator by live blocks, before and after.
//!
//! `cargo run --release -p beryl-core --example heap_per_presence`

use beryl_core::{PresenceState, ReplicaId};

#[path = "../benches/workloads.rs"]
mod workloads;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const PRESENCES: usize = 100_000;

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let inputs = workloads::inputs(0..PRESENCES).rows;
    let payload: usize = inputs
        .iter()
        .map(|(_, key, pid, meta)| key.len() + pid.len() + meta.as_str().len())
        .sum();

    let before = dhat::HeapStats::get().curr_bytes;
    let mut local = PresenceState::new(ReplicaId::new("w6", 1));
    for (topic, key, pid, meta) in &inputs {
        local.track(topic, key, pid, meta).expect("fresh triple");
    }
    let after_local = dhat::HeapStats::get().curr_bytes;

    // A replica that merged the same presences from a peer (no pid index: pids are only
    // indexed for the local replica's own entries). The source is dropped before measuring,
    // so the shared text is counted once, here.
    let full = local.full_state(None);
    drop(local);
    let mut remote = PresenceState::new(ReplicaId::new("w6-remote", 1));
    remote.merge(full);
    let after_remote = dhat::HeapStats::get().curr_bytes;

    let per = |bytes: usize| bytes as f64 / PRESENCES as f64;
    println!("W6 heap per presence at {PRESENCES} presences (bytes requested by live blocks)");
    println!(
        "  key + pid + meta text alone:         {:>6.1} B",
        per(payload)
    );
    println!(
        "  local replica (tracked here):        {:>6.1} B",
        per(after_local - before)
    );
    println!(
        "  remote replica (merged full state):  {:>6.1} B",
        per(after_remote - before)
    );
    let worst = per(after_local - before).max(per(after_remote - before));
    println!(
        "  target: <= 150 B per presence, strings and meta included: {}",
        if worst <= 150.0 { "met" } else { "MISSED" }
    );
    assert_eq!(remote.len(), PRESENCES);
}
