//! Property: replicas applying random operations and exchanging deltas in random order, with
//! duplicates and drops, end with identical lists once a final full-state exchange repairs what
//! was dropped; and what they list is exactly what each owner holds (nobody removed another
//! replica's entries).

use std::collections::BTreeSet;

use beryl_core::{Delta, Meta, PresenceState, ReplicaId};
use proptest::prelude::*;

const REPLICAS: usize = 3;
const TOPICS: [&str; 2] = ["room:a", "room:b"];

#[derive(Clone, Debug)]
enum Op {
    Track {
        at: usize,
        topic: usize,
        key: u8,
        pid: u8,
    },
    Update {
        at: usize,
        topic: usize,
        key: u8,
        pid: u8,
        version: u8,
    },
    Untrack {
        at: usize,
        topic: usize,
        key: u8,
        pid: u8,
    },
    UntrackAll {
        at: usize,
        pid: u8,
    },
    Deliver {
        pick: usize,
    },
    Duplicate {
        pick: usize,
    },
    Drop {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let at = 0..REPLICAS;
    let topic = 0..TOPICS.len();
    prop_oneof![
        3 => (at.clone(), topic.clone(), 0u8..3, 0u8..3)
            .prop_map(|(at, topic, key, pid)| Op::Track { at, topic, key, pid }),
        2 => (at.clone(), topic.clone(), 0u8..3, 0u8..3, 0u8..4)
            .prop_map(|(at, topic, key, pid, version)| Op::Update { at, topic, key, pid, version }),
        2 => (at.clone(), topic, 0u8..3, 0u8..3)
            .prop_map(|(at, topic, key, pid)| Op::Untrack { at, topic, key, pid }),
        1 => (at, 0u8..3).prop_map(|(at, pid)| Op::UntrackAll { at, pid }),
        5 => any::<usize>().prop_map(|pick| Op::Deliver { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Duplicate { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Drop { pick }),
    ]
}

type Row = (String, String, String, String, String);

/// Every visible presence as (topic, key, pid, meta, ref), sorted.
fn rows(state: &PresenceState) -> BTreeSet<Row> {
    TOPICS
        .iter()
        .flat_map(|topic| state.list(topic))
        .flat_map(|group| group.into_presences())
        .map(|p| {
            (
                p.topic().to_owned(),
                p.key().to_owned(),
                p.pid().to_owned(),
                p.meta().to_owned(),
                p.phx_ref().to_string(),
            )
        })
        .collect()
}

/// The entries a replica owns, from its own point of view.
fn owned(state: &PresenceState) -> BTreeSet<Row> {
    rows(state)
        .into_iter()
        .filter(|row| {
            TOPICS.iter().any(|topic| {
                state
                    .get_by_key(topic, &row.1)
                    .iter()
                    .any(|p| p.replica() == state.replica() && p.phx_ref().to_string() == row.4)
            })
        })
        .collect()
}

fn run(ops: &[Op]) -> Vec<PresenceState> {
    let mut states: Vec<PresenceState> = (0..REPLICAS)
        .map(|i| PresenceState::new(ReplicaId::new(format!("node-{i}"), 1)))
        .collect();
    let mut in_flight: Vec<(usize, Delta)> = Vec::new();
    let send = |from: usize, delta: Delta, in_flight: &mut Vec<(usize, Delta)>| {
        for to in (0..REPLICAS).filter(|&to| to != from) {
            in_flight.push((to, delta.clone()));
        }
    };
    for op in ops {
        match *op {
            Op::Track {
                at,
                topic,
                key,
                pid,
            } => {
                let meta = Meta::from_json(r#"{"v":0}"#).unwrap();
                if let Ok(tracked) =
                    states[at].track(TOPICS[topic], &format!("k{key}"), &format!("p{pid}"), &meta)
                {
                    send(at, tracked.delta, &mut in_flight);
                }
            }
            Op::Update {
                at,
                topic,
                key,
                pid,
                version,
            } => {
                let meta = Meta::from_json(&format!(r#"{{"v":{version}}}"#)).unwrap();
                if let Ok(updated) =
                    states[at].update(TOPICS[topic], &format!("k{key}"), &format!("p{pid}"), &meta)
                {
                    send(at, updated.delta, &mut in_flight);
                }
            }
            Op::Untrack {
                at,
                topic,
                key,
                pid,
            } => {
                let change =
                    states[at].untrack(TOPICS[topic], &format!("k{key}"), &format!("p{pid}"));
                send(at, change.delta, &mut in_flight);
            }
            Op::UntrackAll { at, pid } => {
                let change = states[at].untrack_all(&format!("p{pid}"));
                send(at, change.delta, &mut in_flight);
            }
            Op::Deliver { pick } if !in_flight.is_empty() => {
                let (to, delta) = in_flight.swap_remove(pick % in_flight.len());
                states[to].merge(delta);
            }
            Op::Duplicate { pick } if !in_flight.is_empty() => {
                let (to, delta) = in_flight[pick % in_flight.len()].clone();
                states[to].merge(delta);
            }
            Op::Drop { pick } if !in_flight.is_empty() => {
                in_flight.swap_remove(pick % in_flight.len());
            }
            _ => {}
        }
    }
    // Whatever is still in flight arrives late, after everything else, in reverse order.
    while let Some((to, delta)) = in_flight.pop() {
        states[to].merge(delta);
    }
    // Repair what was dropped.
    for from in 0..REPLICAS {
        for to in 0..REPLICAS {
            if from != to {
                let full = states[from].full_state(Some(&states[to].replica().clone()));
                states[to].merge(full);
            }
        }
    }
    states
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn replicas_converge_to_the_union_of_what_each_owner_holds(ops in prop::collection::vec(op(), 0..80)) {
        let states = run(&ops);
        let expected: BTreeSet<Row> = states.iter().flat_map(owned).collect();
        for state in &states {
            prop_assert_eq!(rows(state), expected.clone());
            prop_assert_eq!(state.len(), expected.len());
        }
    }

    #[test]
    fn merging_deltas_reports_diffs_that_replay_to_the_list(ops in prop::collection::vec(op(), 0..60)) {
        // A client that applies every diff a replica reports ends with the replica's list.
        let mut state = PresenceState::new(ReplicaId::new("observer", 1));
        let sources = run(&ops);
        let mut client: BTreeSet<Row> = BTreeSet::new();
        for source in &sources {
            let diff = state.merge(source.full_state(None));
            for p in diff.leaves() {
                let row = (p.topic().into(), p.key().into(), p.pid().into(), p.meta().into(), p.phx_ref().to_string());
                prop_assert!(client.remove(&row), "a leave for a presence never joined");
            }
            for p in diff.joins() {
                let row = (p.topic().into(), p.key().into(), p.pid().into(), p.meta().into(), p.phx_ref().to_string());
                prop_assert!(client.insert(row), "a join for a presence already there");
            }
        }
        prop_assert_eq!(client, rows(&state));
    }
}
