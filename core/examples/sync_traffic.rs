//! Prints the bytes a node publishes in one broadcast interval, for 1,000 and 10,000
//! presences and k = 0, 10, 100, 1,000 meta updates in that interval.
//!
//! `cargo run --release -p beryl-core --example sync_traffic`

use beryl_core::sync::{SyncConfig, SyncEngine};
use beryl_core::wire::encode_binary;
use beryl_core::{Meta, ReplicaId};

const INTERVAL: u64 = 1_500;

fn deliver(from: &mut SyncEngine, to: &mut SyncEngine, now: u64) -> usize {
    let mut bytes = 0;
    while let Some(transmit) = from.poll_transmit() {
        bytes += encode_binary(&transmit.message).len();
        to.receive(now, transmit.message);
    }
    while from.poll_event().is_some() || to.poll_event().is_some() {}
    bytes
}

fn measure(presences: usize, k: usize) -> (usize, &'static str) {
    let mut now = 0;
    let config = SyncConfig::default();
    let mut a = SyncEngine::new(ReplicaId::new("node-a", 1), config.clone(), now).unwrap();
    let mut b = SyncEngine::new(ReplicaId::new("node-b", 1), config, now).unwrap();
    let online = Meta::from_json(r#"{"status":"online"}"#).unwrap();
    let away = Meta::from_json(r#"{"status":"away"}"#).unwrap();
    let name = |n: usize| {
        (
            format!("room:{}", n % 100),
            format!("user-{n}"),
            format!("socket-{n}"),
        )
    };
    for n in 0..presences {
        let (topic, key, pid) = name(n);
        a.track(&topic, &key, &pid, &online).unwrap();
    }
    for _ in 0..4 {
        now += INTERVAL;
        a.tick(now);
        b.tick(now);
        deliver(&mut a, &mut b, now);
        deliver(&mut b, &mut a, now);
        deliver(&mut a, &mut b, now);
    }
    assert_eq!(b.state().len(), presences);
    for n in 0..k {
        let (topic, key, pid) = name(n * presences / k);
        a.update(&topic, &key, &pid, &away).unwrap();
    }
    now += INTERVAL;
    a.tick(now);
    let kind = if k == 0 { "heartbeat" } else { "delta" };
    (deliver(&mut a, &mut b, now), kind)
}

fn main() {
    println!("bytes published by one node in one interval (binary wire format)");
    println!(
        "{:>7} {:>10} {:>12} {:>12}",
        "k", "message", "1,000 pres.", "10,000 pres."
    );
    for k in [0, 10, 100, 1_000] {
        let (small, kind) = measure(1_000, k);
        let (large, _) = measure(10_000, k);
        println!("{k:>7} {kind:>10} {small:>12} {large:>12}");
    }
}
