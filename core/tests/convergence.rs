//! Properties: replicas applying random operations and exchanging deltas in random order, with
//! duplicates and drops, end with identical lists once a final full-state exchange repairs what
//! was dropped; what they list is exactly what each owner holds (nobody removed another
//! replica's entries); the diffs a replica reports replay to its list; and merging presence
//! deltas is commutative, associative and idempotent, as the join of the state it is.

use std::collections::{BTreeMap, BTreeSet};

use beryl_core::{CausalContext, Delta, Diff, Meta, Presence, PresenceState, ReplicaId};
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

/// An owner's entries: (topic, key, pid) to (meta, ref).
type Model = BTreeMap<(String, String, String), (String, String)>;

/// What a run leaves behind: the replicas, every delta they produced (in the order produced),
/// and the diffs an extra, passive replica reported while it received the same traffic.
struct Run {
    states: Vec<PresenceState>,
    /// What each owner should hold, kept from the operations' own results.
    models: Vec<Model>,
    deltas: Vec<Delta>,
    observer: PresenceState,
    observed: Vec<Diff>,
}

/// Applies `ops`; the passive observer gets every delta with the same drops, duplicates and
/// reordering as the others. With `repair`, a final full-state exchange (observer included)
/// makes up for what was dropped.
fn run(ops: &[Op], repair: bool) -> Run {
    let mut states: Vec<PresenceState> = (0..=REPLICAS)
        .map(|i| PresenceState::new(ReplicaId::new(format!("node-{i}"), 1)))
        .collect();
    let mut models = vec![BTreeMap::new(); REPLICAS];
    let mut deltas = Vec::new();
    let mut observed = Vec::new();
    let mut in_flight: Vec<(usize, Delta)> = Vec::new();
    let mut send = |from: usize, delta: Delta, in_flight: &mut Vec<(usize, Delta)>| {
        for to in (0..=REPLICAS).filter(|&to| to != from) {
            in_flight.push((to, delta.clone()));
        }
        deltas.push(delta);
    };
    let mut deliver = |states: &mut Vec<PresenceState>, to: usize, delta: Delta| {
        let diff = states[to].merge(delta);
        if to == REPLICAS {
            observed.push(diff);
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
                let id = (
                    TOPICS[topic].to_owned(),
                    format!("k{key}"),
                    format!("p{pid}"),
                );
                if let Ok(tracked) = states[at].track(&id.0, &id.1, &id.2, &meta) {
                    let entry = (meta.as_str().to_owned(), tracked.phx_ref().to_string());
                    models[at].insert(id, entry);
                    send(at, tracked.delta(), &mut in_flight);
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
                let id = (
                    TOPICS[topic].to_owned(),
                    format!("k{key}"),
                    format!("p{pid}"),
                );
                if let Ok(updated) = states[at].update(&id.0, &id.1, &id.2, &meta) {
                    let entry = (meta.as_str().to_owned(), updated.phx_ref().to_string());
                    models[at].insert(id, entry);
                    send(at, updated.delta(), &mut in_flight);
                }
            }
            Op::Untrack {
                at,
                topic,
                key,
                pid,
            } => {
                let id = (
                    TOPICS[topic].to_owned(),
                    format!("k{key}"),
                    format!("p{pid}"),
                );
                let change = states[at].untrack(&id.0, &id.1, &id.2);
                models[at].remove(&id);
                send(at, change.delta, &mut in_flight);
            }
            Op::UntrackAll { at, pid } => {
                let pid = format!("p{pid}");
                let change = states[at].untrack_all(&pid);
                models[at].retain(|(_, _, held), _| *held != pid);
                send(at, change.delta, &mut in_flight);
            }
            Op::Deliver { pick } if !in_flight.is_empty() => {
                let (to, delta) = in_flight.swap_remove(pick % in_flight.len());
                deliver(&mut states, to, delta);
            }
            Op::Duplicate { pick } if !in_flight.is_empty() => {
                let (to, delta) = in_flight[pick % in_flight.len()].clone();
                deliver(&mut states, to, delta);
            }
            Op::Drop { pick } if !in_flight.is_empty() => {
                in_flight.swap_remove(pick % in_flight.len());
            }
            _ => {}
        }
    }
    // Whatever is still in flight arrives late, after everything else, in reverse order.
    while let Some((to, delta)) = in_flight.pop() {
        deliver(&mut states, to, delta);
    }
    if repair {
        for from in 0..=REPLICAS {
            for to in 0..=REPLICAS {
                if from != to {
                    let full = states[from].full_state(Some(&states[to].replica().clone()));
                    deliver(&mut states, to, full);
                }
            }
        }
    }
    let observer = states.pop().expect("the observer is the last state");
    Run {
        states,
        models,
        deltas,
        observer,
        observed,
    }
}

fn row(p: &Presence) -> Row {
    (
        p.topic().into(),
        p.key().into(),
        p.pid().into(),
        p.meta().into(),
        p.phx_ref().to_string(),
    )
}

/// Everything observable of a state: what it lists, what it stores, what it has seen.
fn observable(state: &PresenceState) -> (BTreeSet<Row>, usize, CausalContext) {
    (rows(state), state.stored_len(), state.context().clone())
}

fn merged_in_order<'a>(deltas: impl IntoIterator<Item = &'a Delta>) -> PresenceState {
    let mut state = PresenceState::new(ReplicaId::new("merger", 1));
    for delta in deltas {
        state.merge(delta.clone());
    }
    state
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn replicas_converge_to_the_union_of_what_each_owner_holds(ops in prop::collection::vec(op(), 0..80)) {
        let run = run(&ops, true);
        let expected: BTreeSet<Row> = run.states.iter().flat_map(owned).collect();
        // What the owners' own operations left, independently of any state's lists.
        let modelled: BTreeSet<Row> = run
            .models
            .iter()
            .flatten()
            .map(|((topic, key, pid), (meta, phx_ref))| {
                (topic.clone(), key.clone(), pid.clone(), meta.clone(), phx_ref.clone())
            })
            .collect();
        prop_assert_eq!(&expected, &modelled);
        for state in run.states.iter().chain([&run.observer]) {
            prop_assert_eq!(rows(state), expected.clone());
            prop_assert_eq!(state.len(), expected.len());
        }
    }

    #[test]
    fn merging_deltas_reports_diffs_that_replay_to_the_list(ops in prop::collection::vec(op(), 0..80)) {
        // A client that applies every diff the observer reported, through drops, duplicates,
        // late deliveries and the final repair, ends with the observer's list.
        let run = run(&ops, true);
        let mut client: BTreeSet<Row> = BTreeSet::new();
        for diff in &run.observed {
            for p in diff.leaves() {
                prop_assert!(client.remove(&row(p)), "a leave for a presence never joined: {:?}", row(p));
            }
            for p in diff.joins() {
                prop_assert!(client.insert(row(p)), "a join for a presence already there: {:?}", row(p));
            }
        }
        prop_assert_eq!(client, rows(&run.observer));
    }

    #[test]
    fn merging_presence_deltas_is_commutative_associative_and_idempotent(
        ops in prop::collection::vec(op(), 0..80),
        seed in any::<u64>(),
    ) {
        let run = run(&ops, false);
        let deltas = &run.deltas;
        let forward = observable(&merged_in_order(deltas));
        // Any order (commutativity), any number of times (idempotence).
        prop_assert_eq!(observable(&merged_in_order(deltas.iter().rev())), forward.clone());
        let mut shuffled: Vec<&Delta> = deltas.iter().chain(deltas.iter()).collect();
        let mut rng = seed;
        for i in (1..shuffled.len()).rev() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (rng >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(observable(&merged_in_order(shuffled)), forward.clone());
        // Any grouping (associativity): deltas joined with one another first, then merged.
        let half = deltas.len() / 2;
        let grouped = [
            deltas[..half].iter().cloned().fold(Delta::default(), Delta::merged),
            deltas[half..].iter().cloned().fold(Delta::default(), Delta::merged),
        ];
        prop_assert_eq!(observable(&merged_in_order(&grouped)), forward.clone());
        // A state's full extract merges like everything that built it.
        let replica = &run.states[0];
        let rebuilt = observable(&merged_in_order(&[replica.full_state(None)]));
        prop_assert_eq!(rebuilt.0, rows(replica));
    }
}
