//! The replication protocol, run in a simulator with a virtual clock: convergence under faults,
//! liveness timing, restarts, goodbyes, repairs, and the failures users reported in other
//! presence systems.

mod sync_sim;

use beryl_core::sync::{Event, SyncConfig};
use beryl_core::{Message, Meta, ReplicaStatus};
use sync_sim::{Faults, Sim, fast_config};

const INTERVAL: u64 = 100;

fn settled(names: &[&str]) -> Sim {
    let mut sim = Sim::new(7, names, fast_config());
    sim.run_for(5 * INTERVAL);
    sim
}

#[test]
fn random_operations_on_three_nodes_converge_to_identical_lists() {
    let mut sim = Sim::new(1, &["a", "b", "c"], fast_config());
    for _ in 0..400 {
        sim.random_op();
        sim.run_for(7);
    }
    let intervals = sim.intervals_to_converge(10);
    assert!(intervals.is_some(), "{}", sim.divergence());
    assert!(!sim.expected().is_empty());
    sim.assert_diffs_consistent();
}

#[test]
fn every_seed_converges_after_drops_delays_duplicates_reorders_and_partitions() {
    let mut worst = 0;
    for seed in 0..100 {
        let names: &[&str] = if seed % 2 == 0 {
            &["a", "b", "c"]
        } else {
            &["a", "b", "c", "d", "e"]
        };
        let mut sim = Sim::new(seed, names, fast_config());
        sim.faults = Faults {
            drop_percent: 25,
            duplicate_percent: 10,
            jitter_ms: 3 * INTERVAL,
        };
        // Eight seconds of faults and changes, with partitions that come and go (some longer
        // than the down period) and nodes that restart.
        for round in 0..40 {
            if round % 13 == 5 {
                // A restart, with or without a goodbye: a new incarnation of the same name.
                let name = names[sim.rng.below(names.len() as u64) as usize];
                if sim.rng.percent(50) {
                    sim.stop(name);
                } else {
                    sim.crash(name);
                }
                let pause = sim.rng.below(300);
                sim.run_for(pause);
                sim.add_node(name);
            }
            if round % 8 == 0 {
                sim.heal();
                let a = names[sim.rng.below(names.len() as u64) as usize];
                let b = names[sim.rng.below(names.len() as u64) as usize];
                if a != b {
                    sim.partition(a, b);
                }
            }
            for _ in 0..3 {
                sim.random_op();
                let pause = sim.rng.below(60);
                sim.run_for(pause);
            }
            sim.run_for(20);
        }
        sim.heal();
        sim.faults = Faults::default();
        let intervals = sim.intervals_to_converge(30);
        let Some(intervals) = intervals else {
            panic!("seed {seed} did not converge:\n{}", sim.divergence());
        };
        worst = worst.max(intervals);
        assert!(!sim.expected().is_empty(), "seed {seed} tracked nothing");
        sim.assert_diffs_consistent();
    }
    println!("worst case: converged {worst} intervals after the faults stopped");
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let run = |seed| {
        let mut sim = Sim::new(seed, &["a", "b", "c"], fast_config());
        sim.faults = Faults {
            drop_percent: 20,
            duplicate_percent: 10,
            jitter_ms: 200,
        };
        for _ in 0..100 {
            sim.random_op();
            sim.run_for(15);
        }
        // The order of presences inside one diff may follow hash order; the sequence of
        // diffs, and what each contains, may not.
        let trace: Vec<Vec<String>> = sim
            .nodes
            .iter()
            .flat_map(|node| node.events.iter())
            .map(|event| {
                let mut parts: Vec<String> = match event {
                    Event::Diff(diff) => diff
                        .joins()
                        .map(|p| format!("+{}", p.phx_ref()))
                        .chain(diff.leaves().map(|p| format!("-{}", p.phx_ref())))
                        .collect(),
                    other => vec![format!("{other:?}")],
                };
                parts.sort();
                parts
            })
            .collect();
        trace
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

#[test]
fn a_crashed_node_is_marked_down_after_the_down_period_and_up_when_heard_again() {
    let mut sim = settled(&["a", "b"]);
    sim.track("b", "room", "bob", "p1");
    sim.run_for(3 * INTERVAL);
    assert_eq!(sim.node("a").visible().len(), 1);

    // A partition looks like a crash to a.
    sim.partition("a", "b");
    // Let what was already in flight arrive.
    sim.run_for(sim.latency_ms);
    let last_heard = sim.engine("a").peers()[0].last_heard;
    let down_period = fast_config().down_period_ms;
    while sim.node("a").verdicts_about("b").is_empty() {
        sim.run_for(10);
        assert!(sim.now < last_heard + 2 * down_period, "never marked down");
    }
    let silent = sim.now - last_heard;
    assert!(
        silent >= down_period && silent <= down_period + INTERVAL,
        "marked down after {silent} ms of silence"
    );
    assert!(sim.node("a").visible().is_empty(), "b's presence left");
    assert_eq!(
        sim.node("a").verdicts_about("b")[0].1,
        ReplicaStatus::Down,
        "the verdict is reported"
    );

    sim.heal();
    sim.run_for(2 * INTERVAL);
    assert_eq!(
        sim.node("a").visible().len(),
        1,
        "b's presence joined again"
    );
    let verdicts = sim.node("a").verdicts_about("b");
    assert_eq!(verdicts.last().unwrap().1, ReplicaStatus::Up);
    sim.assert_diffs_consistent();
}

#[test]
fn a_node_silent_for_the_permanent_down_period_is_purged_and_forgotten() {
    let mut sim = settled(&["a", "b"]);
    sim.track("b", "room", "bob", "p1");
    sim.run_for(3 * INTERVAL);
    sim.crash("b");
    let config = fast_config();
    sim.run_for(config.permanent_down_period_ms - INTERVAL);
    assert_eq!(sim.engine("a").peer_count(), 1, "still known while down");
    sim.run_for(3 * INTERVAL);
    assert_eq!(sim.engine("a").peer_count(), 0, "forgotten");
    let verdicts: Vec<ReplicaStatus> = sim
        .node("a")
        .verdicts_about("b")
        .into_iter()
        .map(|(_, status)| status)
        .collect();
    assert_eq!(verdicts, vec![ReplicaStatus::Down, ReplicaStatus::Removed]);
    assert_eq!(
        sim.engine("a").state().stored_len(),
        0,
        "its entries are purged"
    );
}

#[test]
fn a_crashed_node_restarted_with_the_same_name_shows_its_new_entries_and_no_ghosts() {
    let mut sim = settled(&["a", "b", "c"]);
    for pid in ["p1", "p2", "p3"] {
        sim.track("c", "room", "carol", pid);
    }
    sim.run_for(3 * INTERVAL);
    assert_eq!(sim.node("a").visible().len(), 3);

    sim.crash("c");
    let crashed_at = sim.now;
    sim.run_for(INTERVAL);
    sim.add_node("c");
    sim.track("c", "room", "carol", "p9");
    // Well before the down period: the new incarnation supersedes the old one when heard.
    sim.run_for(4 * INTERVAL);
    assert!(sim.now < crashed_at + fast_config().down_period_ms);
    assert!(sim.converged(), "{}", sim.divergence());
    assert_eq!(sim.node("a").visible().len(), 1);
    assert_eq!(sim.node("a").visible().first().unwrap().pid, "p9");
    sim.assert_diffs_consistent();
}

#[test]
fn stop_makes_the_entries_leave_at_once() {
    let mut sim = settled(&["a", "b", "c"]);
    sim.track("c", "room", "carol", "p1");
    sim.track("a", "room", "alice", "p1");
    sim.run_for(3 * INTERVAL);
    sim.stop("c");
    // One network latency, not a down period.
    sim.run_for(sim.latency_ms);
    for name in ["a", "b"] {
        let node = sim.node(name);
        assert_eq!(node.visible().len(), 1, "{name}");
        assert_eq!(
            node.verdicts_about("c").last().map(|v| v.1),
            Some(ReplicaStatus::Removed)
        );
    }
    assert_eq!(sim.engine("a").peer_count(), 1);
    // A late message from the stopped incarnation changes nothing.
    sim.run_for(10 * INTERVAL);
    assert!(sim.converged(), "{}", sim.divergence());
}

#[test]
fn a_quiet_node_repairs_a_peer_that_missed_its_only_message() {
    let mut sim = settled(&["a", "b"]);
    let (a, b) = (sim.index("a"), sim.index("b"));
    sim.targeted_drops.push((a, b, "delta", 1));
    sim.track("a", "room", "alice", "p1");
    sim.run_for(INTERVAL + 10);
    assert!(sim.node("b").visible().is_empty(), "the delta was lost");
    // a says nothing more than heartbeats; b notices from a's digest.
    let intervals = sim.intervals_to_converge(5);
    assert!(intervals.is_some(), "{}", sim.divergence());

    // The same for a missed removal, which leaves no new entry behind.
    sim.targeted_drops.push((a, b, "delta", 1));
    sim.with("a", |engine| engine.untrack("room", "alice", "p1"));
    sim.run_for(INTERVAL + 10);
    assert_eq!(sim.node("b").visible().len(), 1, "the removal was lost");
    let intervals = sim.intervals_to_converge(5);
    assert!(intervals.is_some(), "{}", sim.divergence());
    assert!(sim.node("b").visible().is_empty());
}

#[test]
fn a_missed_update_followed_by_another_update_leaves_no_ghost() {
    // The second update's delta names the first update's dot as removed; without a seal, the
    // peer would see no gap and keep the original entry forever.
    let mut sim = settled(&["a", "b"]);
    let (a, b) = (sim.index("a"), sim.index("b"));
    sim.track("a", "room", "alice", "p1");
    sim.run_for(2 * INTERVAL);
    let meta = |n: u32| Meta::from_json(&format!("{{\"n\":{n}}}")).unwrap();
    sim.targeted_drops.push((a, b, "delta", 1));
    sim.with("a", |engine| {
        engine.update("room", "alice", "p1", &meta(1)).unwrap()
    });
    sim.run_for(INTERVAL + 10);
    sim.with("a", |engine| {
        engine.update("room", "alice", "p1", &meta(2)).unwrap()
    });
    sim.run_for(INTERVAL + 10);
    let intervals = sim.intervals_to_converge(5);
    assert!(intervals.is_some(), "{}", sim.divergence());
    assert_eq!(sim.node("b").visible().len(), 1);
    assert_eq!(sim.node("b").visible().first().unwrap().meta, r#"{"n":2}"#);
}

#[test]
fn a_peer_far_behind_gets_a_full_repair_beyond_the_catch_up_log() {
    let mut entries_sent = Vec::new();
    // With a small range limit the repair falls back to every entry of the node.
    for repair_range_limit in [10_000, 5] {
        let config = SyncConfig {
            repair_range_limit,
            ..fast_config()
        };
        let mut sim = Sim::new(7, &["a", "b"], config);
        sim.run_for(5 * INTERVAL);
        for n in 0..30 {
            sim.track("a", "room", &format!("early-{n}"), "p");
        }
        sim.run_for(3 * INTERVAL);
        assert_eq!(sim.node("b").visible().len(), 30);
        // Far more changes than the catch-up log keeps, including removals of every other
        // entry b holds.
        sim.partition("a", "b");
        for n in (0..30).step_by(2) {
            sim.with("a", |engine| {
                engine.untrack("room", &format!("early-{n}"), "p")
            });
        }
        for n in 0..300 {
            sim.track("a", "room", &format!("late-{n}"), "p");
            if n % 3 == 0 {
                sim.with("a", |engine| {
                    engine.untrack("room", &format!("late-{n}"), "p")
                });
            }
            sim.run_for(3);
        }
        sim.run_for(3 * INTERVAL);
        let a = sim.index("a");
        let before = sim.traffic[a].entries;
        sim.heal();
        let intervals = sim.intervals_to_converge(10);
        assert!(intervals.is_some(), "{}", sim.divergence());
        assert_eq!(sim.node("b").visible().len(), 215);
        sim.assert_diffs_consistent();
        entries_sent.push(sim.traffic[a].entries - before);
    }
    assert_eq!(entries_sent[0], 200, "the repair sends only what b lacks");
    assert_eq!(entries_sent[1], 215, "the fallback sends every entry");
}

#[test]
fn track_update_untrack_leaves_nothing_behind_on_the_remote() {
    let mut sim = settled(&["a", "b"]);
    sim.track("a", "room", "alice", "p1");
    sim.run_for(2 * INTERVAL);
    sim.with("a", |engine| {
        engine
            .update(
                "room",
                "alice",
                "p1",
                &Meta::from_json(r#"{"away":true}"#).unwrap(),
            )
            .unwrap()
    });
    sim.run_for(2 * INTERVAL);
    assert_eq!(
        sim.node("b").visible().first().unwrap().meta,
        r#"{"away":true}"#
    );
    sim.with("a", |engine| engine.untrack("room", "alice", "p1"));
    sim.run_for(2 * INTERVAL);
    assert!(sim.node("b").visible().is_empty());
    assert_eq!(sim.engine("b").state().stored_len(), 0);
}

#[test]
fn two_nodes_meeting_for_the_first_time_end_with_the_union() {
    let mut sim = Sim::new(11, &["a", "b"], fast_config());
    sim.partition("a", "b");
    for n in 0..40 {
        sim.track("a", "room", &format!("a-user-{n}"), "p");
        sim.track("b", "room", &format!("b-user-{n}"), "p");
    }
    sim.run_for(10 * INTERVAL);
    sim.heal();
    let intervals = sim.intervals_to_converge(5);
    assert!(intervals.is_some(), "{}", sim.divergence());
    assert_eq!(sim.node("a").visible().len(), 80);
}

#[test]
fn a_removed_replica_does_not_come_back_through_a_third_node() {
    let mut sim = settled(&["a", "b", "c"]);
    sim.track("b", "room", "bob", "p1");
    sim.run_for(3 * INTERVAL);
    assert_eq!(sim.node("c").visible().len(), 1);
    // c misses b's goodbye and still holds b's entry.
    sim.partition("b", "c");
    sim.stop("b");
    sim.run_for(INTERVAL);
    assert!(sim.node("a").visible().is_empty());
    assert_eq!(sim.engine("c").state().stored_len(), 1);
    // a and c keep talking for a long while: b's entry never reaches a again.
    for _ in 0..30 {
        sim.run_for(INTERVAL);
        assert!(sim.node("a").visible().is_empty(), "zombie on a");
        assert_eq!(sim.engine("a").state().stored_len(), 0);
    }
}

#[test]
fn a_late_message_from_an_old_incarnation_does_not_evict_the_new_one() {
    let mut sim = settled(&["a", "c"]);
    sim.track("c", "room", "carol", "p1");
    sim.run_for(3 * INTERVAL);
    let old = sim.engine("c").replica().clone();
    let stale_digest = sim.engine("c").state().digest();
    sim.crash("c");
    sim.add_node("c");
    sim.track("c", "room", "carol", "p2");
    sim.run_for(3 * INTERVAL);
    assert_eq!(sim.node("a").visible().first().unwrap().pid, "p2");
    let now = sim.now;
    sim.with("a", |engine| {
        engine.receive(
            now,
            Message::Heartbeat {
                from: old.clone(),
                digest: stale_digest,
            },
        );
        engine.receive(now, Message::Goodbye { from: old.clone() });
        assert!(!engine.is_peer(&old), "the old incarnation is no peer");
    });
    assert_eq!(sim.node("a").visible().first().unwrap().pid, "p2");
    assert_eq!(sim.engine("a").peer_count(), 1);
    let current = sim.engine("c").replica().clone();
    assert!(sim.engine("a").is_peer(&current));
}

#[test]
fn many_restarts_leave_bounded_bookkeeping() {
    let mut sim = settled(&["a", "b"]);
    for round in 0..200 {
        sim.crash("b");
        sim.add_node("b");
        sim.track("b", "room", "bob", &format!("p{round}"));
        sim.run_for(2 * INTERVAL);
    }
    let engine = sim.engine("a");
    assert_eq!(engine.peer_count(), 1);
    assert_eq!(
        engine.state().replicas().len(),
        2,
        "a and b, one record each"
    );
    assert!(engine.state().context().replica_count() <= 2);
    assert_eq!(engine.state().stored_len(), 1);
    assert!(sim.converged(), "{}", sim.divergence());
}

#[test]
fn a_new_node_does_not_keep_asking_about_a_dead_one() {
    let mut sim = settled(&["a", "b"]);
    sim.track("b", "room", "bob", "p1");
    sim.run_for(3 * INTERVAL);
    sim.crash("b");
    sim.run_for(fast_config().down_period_ms + 2 * INTERVAL);
    let digest = sim.engine("a").state().digest();
    assert!(
        digest.iter().all(|(replica, _)| replica.name() != "b"),
        "a's digest leaves out the down replica"
    );
    let c = sim.add_node("c");
    sim.run_for(50 * INTERVAL);
    assert!(
        sim.traffic[c].requests <= 1,
        "c asked {} times",
        sim.traffic[c].requests
    );
    assert!(sim.node("c").visible().is_empty());
    assert!(
        sim.engine("c")
            .state()
            .replicas()
            .iter()
            .all(|(replica, _)| replica.name() != "b")
    );
}

#[test]
fn a_lossy_network_causes_no_request_storm() {
    let mut sim = Sim::new(5, &["a", "b", "c"], fast_config());
    sim.faults = Faults {
        drop_percent: 40,
        duplicate_percent: 20,
        jitter_ms: 150,
    };
    let duration = 200 * INTERVAL;
    for _ in 0..200 {
        sim.random_op();
        sim.run_for(INTERVAL);
    }
    let backoff = fast_config().repair_backoff_ms;
    // At most one request per peer per backoff, and one reply per peer per backoff.
    let bound = 2 * duration / backoff + 2;
    for (index, traffic) in sim.traffic.iter().enumerate() {
        assert!(
            traffic.requests <= bound && traffic.replies <= bound,
            "node {index}: {traffic:?} over {bound}"
        );
    }
    sim.faults = Faults::default();
    assert!(
        sim.intervals_to_converge(20).is_some(),
        "{}",
        sim.divergence()
    );
}

#[test]
fn each_interval_sends_one_delta_or_one_heartbeat() {
    let mut sim = settled(&["a", "b"]);
    let a = sim.index("a");
    let before = sim.traffic[a].clone();
    sim.run_for(10 * INTERVAL);
    let idle = sim.traffic[a].clone();
    assert_eq!(idle.heartbeats - before.heartbeats, 10);
    assert_eq!(idle.deltas, before.deltas);
    for n in 0..10 {
        sim.track("a", "room", &format!("user-{n}"), "p");
        sim.run_for(INTERVAL);
    }
    let busy = sim.traffic[a].clone();
    assert_eq!(busy.deltas - idle.deltas, 10);
    assert_eq!(busy.heartbeats, idle.heartbeats);
}

#[test]
fn slower_heartbeats_are_sent_every_n_idle_intervals() {
    let config = SyncConfig {
        heartbeat_every: 4,
        ..fast_config()
    };
    let mut sim = Sim::new(2, &["a", "b"], config);
    let a = sim.index("a");
    sim.run_for(INTERVAL / 2);
    let before = sim.traffic[a].heartbeats;
    sim.run_for(40 * INTERVAL);
    assert_eq!(sim.traffic[a].heartbeats - before, 10);
    assert!(sim.engine("b").peers().iter().all(|peer| !peer.down));
}

#[test]
fn applied_deltas_are_reported_when_asked() {
    let config = SyncConfig {
        report_applied: true,
        ..fast_config()
    };
    let mut sim = Sim::new(3, &["a", "b"], config);
    sim.run_for(3 * INTERVAL);
    sim.track("a", "room", "alice", "p1");
    sim.run_for(3 * INTERVAL);
    let applied = |name: &str| {
        sim.node(name)
            .events
            .iter()
            .filter(|event| matches!(event, Event::Applied(delta) if delta.store().len() == 1))
            .count()
    };
    assert_eq!(applied("a"), 1, "the local change");
    assert_eq!(applied("b"), 1, "the merged delta");
}

#[test]
fn the_applied_deltas_cover_the_whole_context_seals_included() {
    let config = SyncConfig {
        report_applied: true,
        ..fast_config()
    };
    let mut sim = Sim::new(3, &["a"], config);
    for round in 0..5 {
        let pid = format!("p{round}");
        sim.track("a", "room", "alice", &pid);
        sim.with("a", |engine| {
            engine.untrack("room", "alice", &pid);
        });
        sim.run_for(2 * INTERVAL);
    }
    let mut context = beryl_core::CausalContext::new();
    for event in &sim.node("a").events {
        if let Event::Applied(delta) = event {
            context.join(delta.context());
        }
    }
    assert_eq!(&context, sim.engine("a").state().context());
}

#[test]
fn a_peer_cannot_add_or_remove_entries_in_another_replicas_name() {
    let mut sim = settled(&["a", "b", "c"]);
    sim.track("c", "room", "carol", "p1");
    sim.run_for(3 * INTERVAL);
    assert_eq!(sim.node("a").visible().len(), 1);
    let carol = sim.engine("c").replica().clone();
    let b = sim.engine("b").replica().clone();

    // b sends a delta that claims a removal of c's entry and an entry of a replica nobody
    // runs: only b's own part of a message from b counts.
    let mut forger = beryl_core::PresenceState::new(beryl_core::ReplicaId::new("ghost", 1));
    let ghost = forger
        .track("room", "ghost", "g1", &Meta::empty())
        .expect("track");
    let mut forged = ghost.delta();
    let mut removal = beryl_core::CausalContext::new();
    removal.insert_ranges(
        &carol,
        sim.engine("c").state().context().ranges(&carol).unwrap(),
    );
    forged = forged.merged(beryl_core::Delta::from_parts(Default::default(), removal));
    let now = sim.now;
    sim.with("a", |engine| {
        engine.receive(
            now,
            Message::Delta {
                from: b.clone(),
                delta: forged,
            },
        );
    });
    let visible = sim.node("a").visible();
    assert_eq!(visible.len(), 1, "{visible:?}");
    assert_eq!(visible.first().unwrap().pid, "p1");
    assert!(
        sim.engine("a")
            .state()
            .replicas()
            .iter()
            .all(|(replica, _)| replica.name() != "ghost"),
        "no record for a name only mentioned by another node"
    );
    sim.run_for(5 * INTERVAL);
    assert!(sim.converged(), "{}", sim.divergence());
}

#[test]
fn nodes_renamed_at_every_deployment_leave_no_bookkeeping_behind() {
    let config = fast_config();
    let mut sim = settled(&["a"]);
    for generation in 0..100 {
        let name = format!("pod-{generation}");
        sim.add_node(&name);
        sim.track(&name, "room", &format!("user-{generation}"), "p");
        sim.run_for(3 * INTERVAL);
        if generation % 2 == 0 {
            sim.stop(&name);
        } else {
            sim.crash(&name);
        }
    }
    sim.run_for(config.permanent_down_period_ms + config.forget_removed_after_ms + INTERVAL);
    let engine = sim.engine("a");
    assert_eq!(engine.peer_count(), 0);
    assert_eq!(engine.state().replicas().len(), 1, "only a itself");
    assert!(engine.state().context().replica_count() <= 1);
    assert_eq!(engine.state().stored_len(), 0);
}
