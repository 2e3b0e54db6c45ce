//! The cost of a CRDT sync join as the node grows.
//!
//! A node with the replication feed holds `total` presences spread over topics of 100, plus a
//! small topic of 10. A CRDT sync client joining the small topic needs its snapshot (the
//! topic's projection and the liveness verdicts), built inside the node's task. The figures
//! show whether that cost follows the joined topic or the whole node, and how long a local
//! `track` waits behind the snapshots when joins and tracks arrive together.
//!
//! Run with `cargo bench -p beryl-native --bench crdt_join`.

use std::time::{Duration, Instant};

use beryl_native::server::PresenceService;
use beryl_native::{Config, Meta, Presence, PresenceHandle};

const SMALL_TOPIC: &str = "room:small";
const SAMPLES: usize = 200;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn node_with(total: usize) -> PresenceHandle {
    let node = Presence::start(Config::new("bench-node").replication_feed(true))
        .await
        .expect("start");
    let meta = Meta::from_json(r#"{"status":"online","device":"phone"}"#).unwrap();
    for n in 0..total {
        node.track(
            format!("room:{}", n / 100),
            format!("user-{n}"),
            format!("socket-{n}"),
            meta.clone(),
        )
        .await
        .unwrap();
    }
    for n in 0..10 {
        node.track(
            SMALL_TOPIC,
            format!("small-{n}"),
            format!("small-socket-{n}"),
            meta.clone(),
        )
        .await
        .unwrap();
    }
    node
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!(
            "{:>9}  {:>28}  {:>28}",
            "presences", "snapshot of a 10-presence topic", "track behind 8 snapshots"
        );
        for total in [1_000, 10_000, 100_000] {
            let node = node_with(total).await;
            let mut snapshots = Vec::with_capacity(SAMPLES);
            for _ in 0..SAMPLES {
                let started = Instant::now();
                let snapshot = node.sync_snapshot(SMALL_TOPIC).await.expect("snapshot");
                snapshots.push(started.elapsed());
                assert_eq!(snapshot.delta.store().len(), 10);
            }
            snapshots.sort_unstable();

            // Joins and a track arriving together: the track waits for the snapshots queued
            // before it in the node's task.
            let mut tracks = Vec::with_capacity(SAMPLES / 4);
            for round in 0..SAMPLES / 4 {
                let joins: Vec<_> = (0..8)
                    .map(|_| {
                        let node = node.clone();
                        tokio::spawn(async move { node.sync_snapshot(SMALL_TOPIC).await })
                    })
                    .collect();
                tokio::task::yield_now().await;
                let started = Instant::now();
                node.track("room:late", format!("late-{round}"), "late", Meta::empty())
                    .await
                    .unwrap();
                tracks.push(started.elapsed());
                for join in joins {
                    join.await.expect("join task").expect("snapshot");
                }
            }
            tracks.sort_unstable();
            println!(
                "{total:>9}  p50 {:>9.1?} p99 {:>9.1?}  p50 {:>9.1?} p99 {:>9.1?}",
                percentile(&snapshots, 0.5),
                percentile(&snapshots, 0.99),
                percentile(&tracks, 0.5),
                percentile(&tracks, 0.99),
            );
            node.stop().await.unwrap();
        }
    });
}
