//! Several nodes in one process on the in-process PubSub, on tokio's paused clock: convergence,
//! crash and graceful stop, restarts, and faults injected between nodes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use beryl_native::pubsub::{FaultPlan, FaultyPubSub, LocalBus, PubSub};
use beryl_native::{Meta, Presence, PresenceHandle};
use common::{
    DOWN_PERIOD, INTERVAL, Rng, converged, divergence, fast_config, intervals_to_converge, own,
    random_op, visible,
};

async fn start(bus: &LocalBus, name: &str) -> PresenceHandle {
    Presence::start(fast_config(name).pubsub(Arc::new(bus.node(name))))
        .await
        .expect("start")
}

#[tokio::test(start_paused = true)]
async fn random_changes_on_three_nodes_converge_to_identical_lists() {
    let bus = LocalBus::new();
    let nodes = [
        start(&bus, "a").await,
        start(&bus, "b").await,
        start(&bus, "c").await,
    ];
    let mut rng = Rng(1);
    for _ in 0..300 {
        let node = &nodes[rng.below(3) as usize];
        random_op(node, &mut rng).await;
        tokio::time::sleep(Duration::from_millis(rng.below(20))).await;
    }
    let refs: Vec<&PresenceHandle> = nodes.iter().collect();
    let intervals = intervals_to_converge(&refs, 10).await;
    assert!(intervals.is_some(), "{}", divergence(&refs));
    assert!(!visible(&nodes[0]).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_node_dropped_without_stop_leaves_after_the_down_period() {
    let bus = LocalBus::new();
    let a = start(&bus, "a").await;
    let b = start(&bus, "b").await;
    b.track("room", "bob", "p1", Meta::empty()).await.unwrap();
    tokio::time::sleep(INTERVAL * 3).await;
    assert_eq!(a.list("room").len(), 1);

    let mut diffs = a.subscribe();
    drop(b);
    let dropped_at = tokio::time::Instant::now();
    // Still visible for most of the down period.
    tokio::time::sleep(INTERVAL * 8).await;
    assert_eq!(a.list("room").len(), 1);
    let diff = diffs.recv().await.expect("a leave");
    let waited = dropped_at.elapsed();
    assert_eq!(diff.leaves().count(), 1);
    assert!(a.list("room").is_empty());
    assert!(
        waited >= INTERVAL * 9 && waited <= INTERVAL * 12,
        "left after {waited:?}"
    );
    let peers = a.peers().await.unwrap();
    assert!(peers[0].down);
}

#[tokio::test(start_paused = true)]
async fn stop_makes_the_presences_leave_at_once() {
    let bus = LocalBus::new();
    let a = start(&bus, "a").await;
    let b = start(&bus, "b").await;
    b.track("room", "bob", "p1", Meta::empty()).await.unwrap();
    tokio::time::sleep(INTERVAL * 3).await;
    assert_eq!(a.list("room").len(), 1);

    b.stop().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(a.list("room").is_empty(), "gone without waiting");
    assert!(a.peers().await.unwrap().is_empty());
    assert!(b.list("room").is_empty());
    assert!(b.track("room", "bob", "p2", Meta::empty()).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_restart_with_the_same_name_shows_the_new_presences_and_no_ghosts() {
    let bus = LocalBus::new();
    let a = start(&bus, "a").await;
    let b = start(&bus, "b").await;
    for pid in ["p1", "p2", "p3"] {
        b.track("room", "bob", pid, Meta::empty()).await.unwrap();
    }
    tokio::time::sleep(INTERVAL * 3).await;
    assert_eq!(a.list("room").len(), 3);

    // A crash, then the same name comes back at once.
    drop(b);
    let b = start(&bus, "b").await;
    b.track("room", "bob", "p9", Meta::empty()).await.unwrap();
    tokio::time::sleep(INTERVAL * 3).await;
    let pids: Vec<String> = a.list("room").iter().map(|p| p.pid().to_owned()).collect();
    assert_eq!(pids, vec!["p9"], "well before the down period");
    assert!(converged(&[&a, &b]), "{}", divergence(&[&a, &b]));
}

/// How many fault schedules the convergence test replays (each is a few virtual seconds).
const FAULT_SEEDS: u64 = 100;

#[tokio::test(start_paused = true)]
async fn nodes_converge_after_faults_stop_for_every_seed() {
    let mut worst = 0;
    for seed in 0..FAULT_SEEDS {
        let bus = LocalBus::new();
        let names = ["a", "b", "c"];
        let mut faulty = Vec::new();
        let mut nodes = Vec::new();
        for (index, name) in names.iter().enumerate() {
            let pubsub = Arc::new(FaultyPubSub::new(
                Arc::new(bus.node(name)),
                seed * 10 + index as u64,
            ));
            faulty.push(pubsub.clone());
            let dyn_pubsub: Arc<dyn PubSub> = pubsub;
            nodes.push(
                Presence::start(fast_config(name).pubsub(dyn_pubsub))
                    .await
                    .unwrap(),
            );
        }
        // The nodes meet on a healthy network first: a peer never heard cannot go down.
        tokio::time::sleep(INTERVAL * 3).await;
        for node in &nodes {
            assert_eq!(node.peers().await.unwrap().len(), 2, "seed {seed}");
        }
        let mut rng = Rng(seed);
        // One partition per seed outlasts the down period: `victim` stops hearing `cut` for
        // the first 12 rounds, and is held there until it has marked `cut` down.
        let victim = rng.below(3) as usize;
        let cut = (victim + 1 + rng.below(2) as usize) % 3;
        let long_partition_from = tokio::time::Instant::now();
        for round in 0..30 {
            // A new fault plan now and then: loss, duplicates, delays (reordering), and short
            // partitions (one plan long, shorter than the down period).
            if round % 6 == 0 {
                for (index, pubsub) in faulty.iter().enumerate() {
                    let mut plan = FaultPlan {
                        drop_percent: 25,
                        duplicate_percent: 10,
                        max_delay: INTERVAL * 3,
                        ..FaultPlan::default()
                    };
                    let short_cut = names[rng.below(3) as usize];
                    if short_cut != names[index] && rng.below(2) == 0 {
                        plan.partitioned_from
                            .insert(bus.node(short_cut).node_id().clone());
                    }
                    if round < 12 && index == victim {
                        plan.partitioned_from
                            .insert(bus.node(names[cut]).node_id().clone());
                    }
                    pubsub.set_plan(plan);
                }
            }
            if round == 11 {
                let held = long_partition_from.elapsed();
                let enough = DOWN_PERIOD + INTERVAL * 2;
                if held < enough {
                    tokio::time::sleep(enough - held).await;
                }
                let peers = nodes[victim].peers().await.unwrap();
                assert!(
                    peers
                        .iter()
                        .any(|peer| peer.replica.name() == names[cut] && peer.down),
                    "seed {seed}: {} should see {} down: {peers:?}",
                    names[victim],
                    names[cut]
                );
            }
            let node = &nodes[rng.below(3) as usize];
            random_op(node, &mut rng).await;
            tokio::time::sleep(Duration::from_millis(rng.below(80))).await;
        }
        for pubsub in &faulty {
            pubsub.heal();
        }
        let refs: Vec<&PresenceHandle> = nodes.iter().collect();
        let Some(intervals) = intervals_to_converge(&refs, 30).await else {
            panic!("seed {seed} did not converge:\n{}", divergence(&refs));
        };
        worst = worst.max(intervals);
        for node in &nodes {
            node.stop().await.unwrap();
        }
    }
    println!(
        "worst case over {FAULT_SEEDS} seeds: converged {worst} intervals after the faults stopped"
    );
}

#[tokio::test(start_paused = true)]
async fn liveness_verdicts_and_diffs_reach_subscribers_in_order() {
    let bus = LocalBus::new();
    let a = start(&bus, "a").await;
    let b_pubsub = Arc::new(FaultyPubSub::new(Arc::new(bus.node("b")), 3));
    let b = Presence::start(fast_config("b").pubsub(b_pubsub.clone()))
        .await
        .unwrap();
    a.track("room", "alice", "p1", Meta::empty()).await.unwrap();
    tokio::time::sleep(INTERVAL * 3).await;
    assert_eq!(b.list("room").len(), 1);

    let mut diffs = b.subscribe();
    b_pubsub.set_plan(FaultPlan {
        partitioned_from: [bus.node("a").node_id().clone()].into_iter().collect(),
        ..FaultPlan::default()
    });
    let leave = diffs.recv().await.unwrap();
    assert_eq!(leave.leaves().count(), 1, "a is down for b");
    assert!(b.peers().await.unwrap()[0].down);
    b_pubsub.heal();
    let join = diffs.recv().await.unwrap();
    assert_eq!(join.joins().count(), 1, "a is up again");
    assert_eq!(b.list("room").len(), 1);
    assert_eq!(own(&a).len(), 1);
}
