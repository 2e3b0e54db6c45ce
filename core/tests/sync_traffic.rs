//! What a node publishes per broadcast interval grows with the number of changes in that
//! interval, not with the number of presences it holds.

use beryl_core::sync::{SyncConfig, SyncEngine};
use beryl_core::wire::encode_binary;
use beryl_core::{Meta, ReplicaId};

const INTERVAL: u64 = 1_500;

/// Two engines, the first holding `presences`; returns them once the second has everything.
fn synced_pair(presences: usize) -> (SyncEngine, SyncEngine, u64) {
    let config = SyncConfig::default();
    let mut now = 0;
    let mut a = SyncEngine::new(ReplicaId::new("node-a", 1), config.clone(), now).unwrap();
    let mut b = SyncEngine::new(ReplicaId::new("node-b", 1), config, now).unwrap();
    let meta = Meta::from_json(r#"{"status":"online"}"#).unwrap();
    for n in 0..presences {
        a.track(
            &format!("room:{}", n % 100),
            &format!("user-{n}"),
            &format!("socket-{n}"),
            &meta,
        )
        .unwrap();
    }
    for _ in 0..4 {
        now += INTERVAL;
        a.tick(now);
        b.tick(now);
        exchange(&mut a, &mut b, now);
    }
    assert_eq!(b.state().len(), presences);
    (a, b, now)
}

/// Delivers every queued message both ways until both are quiet.
fn exchange(a: &mut SyncEngine, b: &mut SyncEngine, now: u64) {
    loop {
        let mut moved = false;
        while let Some(transmit) = a.poll_transmit() {
            b.receive(now, transmit.message);
            moved = true;
        }
        while let Some(transmit) = b.poll_transmit() {
            a.receive(now, transmit.message);
            moved = true;
        }
        while a.poll_event().is_some() || b.poll_event().is_some() {}
        if !moved {
            return;
        }
    }
}

/// Bytes `a` publishes in one interval in which it changes `k` presences (meta updates).
fn bytes_for_changes(presences: usize, k: usize) -> usize {
    let (mut a, mut b, mut now) = synced_pair(presences);
    let meta = Meta::from_json(r#"{"status":"away"}"#).unwrap();
    for n in 0..k {
        // Spread over the whole state, so removals are scattered.
        let n = n * presences / k.max(1);
        a.update(
            &format!("room:{}", n % 100),
            &format!("user-{n}"),
            &format!("socket-{n}"),
            &meta,
        )
        .unwrap();
    }
    now += INTERVAL;
    a.tick(now);
    let mut bytes = 0;
    while let Some(transmit) = a.poll_transmit() {
        bytes += encode_binary(&transmit.message).len();
        b.receive(now, transmit.message);
    }
    assert!(
        b.poll_transmit().is_none(),
        "the peer asked for nothing more"
    );
    bytes
}

#[test]
fn bytes_per_interval_grow_with_changes_not_with_presences() {
    let mut table = Vec::new();
    for k in [0, 10, 1_000] {
        let small = bytes_for_changes(1_000, k);
        let large = bytes_for_changes(10_000, k);
        println!("k = {k:>5}: {small:>7} bytes with 1,000 presences, {large:>7} with 10,000");
        table.push((k, small, large));
    }
    for &(k, small, large) in &table {
        // Ten times the presences costs at most a few bytes more per change (larger counters).
        assert!(
            large <= small + small / 5 + 16,
            "k = {k}: {large} bytes with 10,000 presences, {small} with 1,000"
        );
    }
    let (idle, ten, thousand) = (table[0].2, table[1].2, table[2].2);
    assert!(
        idle < 100,
        "an idle interval is one heartbeat: {idle} bytes"
    );
    assert!(idle < ten && ten < thousand);
    assert!(
        thousand < 1_000 * 60,
        "1,000 updates cost {thousand} bytes: under 60 bytes each"
    );
}
