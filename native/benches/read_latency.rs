//! Read latency while the node merges a large remote state.
//!
//! A node on the in-process bus receives, from three peers in turn, a full state of 100,000
//! presences each (1,000 topics of 100). Meanwhile a reader thread calls `get_by_key` and
//! `list` on a topic of the node's own, without pause. The figures compare the reader's
//! latency while the node is idle and while it decodes, merges and publishes those states:
//! reads are served from the snapshot, so they do not wait for the merge.
//!
//! Run with `cargo bench -p beryl-native --bench read_latency`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use beryl_native::beryl_core::wire::encode_binary;
use beryl_native::beryl_core::{Message, PresenceState};
use beryl_native::pubsub::{LocalBus, PubSub};
use beryl_native::{Config, DEFAULT_SYNC_TOPIC, Meta, Presence, ReplicaId};

const PRESENCES: usize = 100_000;
const TOPICS: usize = 1_000;

fn remote_state(name: &str, incarnation: u64) -> Vec<u8> {
    let mut state = PresenceState::new(ReplicaId::new(name, incarnation));
    let meta = Meta::from_json(r#"{"status":"online","device":"phone"}"#).unwrap();
    for n in 0..PRESENCES {
        state
            .track(
                &format!("room:{}", n % TOPICS),
                &format!("user-{n}"),
                &format!("socket-{n}"),
                &meta,
            )
            .unwrap();
    }
    encode_binary(&Message::Delta {
        from: state.replica().clone(),
        delta: state.full_state(None),
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    println!(
        "{label:<34} {:>9} reads  p50 {:>8.2?}  p99 {:>8.2?}  p99.9 {:>8.2?}  max {:>8.2?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        percentile(&samples, 0.999),
        samples.last().copied().unwrap_or_default(),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let bus = LocalBus::new();
        let node = Presence::start(
            Config::new("reader-node")
                .pubsub(Arc::new(bus.node("reader-node")))
                // Long enough that the remote peers are not marked down during the run.
                .down_period(Duration::from_secs(600))
                .permanent_down_period(Duration::from_secs(1200)),
        )
        .await
        .expect("start");
        for n in 0..20 {
            node.track(
                "room:own",
                format!("user-{n}"),
                format!("socket-{n}"),
                Meta::empty(),
            )
            .await
            .unwrap();
        }

        println!("building three remote states of {PRESENCES} presences...");
        let states: Vec<(String, Vec<u8>)> = (0..3)
            .map(|n| {
                let name = format!("peer-{n}");
                let bytes = remote_state(&name, 1);
                (name, bytes)
            })
            .collect();
        println!("each state is {} bytes on the wire", states[0].1.len());

        let merging = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let node = node.clone();
            let merging = merging.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let (mut idle, mut busy) = (Vec::new(), Vec::new());
                while !done.load(Ordering::Relaxed) {
                    let during_merge = merging.load(Ordering::Relaxed);
                    let started = Instant::now();
                    let by_key = node.get_by_key("room:own", "user-7");
                    let listed = node.list("room:own");
                    let elapsed = started.elapsed();
                    assert_eq!((by_key.len(), listed.len()), (1, 20));
                    if during_merge {
                        busy.push(elapsed);
                    } else {
                        idle.push(elapsed);
                    }
                }
                (idle, busy)
            })
        };

        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut merge_times = Vec::new();
        for (index, (name, bytes)) in states.into_iter().enumerate() {
            let peer = bus.node(&name);
            merging.store(true, Ordering::Relaxed);
            let started = Instant::now();
            peer.broadcast_from(DEFAULT_SYNC_TOPIC, bytes.into())
                .await
                .unwrap();
            let expected = 20 + (index + 1) * PRESENCES;
            while node.snapshot().len() < expected {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            merge_times.push(started.elapsed());
            merging.store(false, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        done.store(true, Ordering::Relaxed);
        let (idle, busy) = reader.join().expect("reader");

        println!();
        for (n, time) in merge_times.iter().enumerate() {
            println!(
                "merge {} of {PRESENCES} presences (decode + merge + snapshot): {time:.1?}",
                n + 1
            );
        }
        report("reads while idle", idle);
        report("reads while merging 100,000", busy);
        node.stop().await.unwrap();
    });
}
