//! Runs W1 (100,000 tracks), W2 (merging that state into a fresh replica) and W5 (down, then
//! removal) once each, printing wall times: a quick profile target for `perf record`.
//!
//! `cargo run --release -p beryl-core --example profile_w1`

use std::time::Instant;

use beryl_core::{Meta, PresenceState, ReplicaId};

fn main() {
    let inputs: Vec<(String, String, String, Meta)> = (0..100_000)
        .map(|i| {
            (
                format!("room:{}", i % 10_000),
                format!("user:{i}"),
                format!("pid:{i}"),
                Meta::from_json(&format!(r#"{{"status":"online","joined_at":{i}}}"#))
                    .expect("valid meta"),
            )
        })
        .collect();
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
