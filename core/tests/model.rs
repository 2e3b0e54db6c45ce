//! Property: the indexed state answers every read exactly like a naive model, after every step
//! of a random mix of local changes and merges from a second replica.

use std::collections::BTreeMap;

use beryl_core::{Meta, PresenceState, ReplicaId};
use proptest::prelude::*;

const TOPICS: [&str; 3] = ["t0", "t1", "t2"];

#[derive(Clone, Debug)]
enum Op {
    Track {
        remote: bool,
        topic: usize,
        key: u8,
        pid: u8,
    },
    Update {
        remote: bool,
        topic: usize,
        key: u8,
        pid: u8,
    },
    Untrack {
        remote: bool,
        topic: usize,
        key: u8,
        pid: u8,
    },
    UntrackAll {
        remote: bool,
        pid: u8,
    },
    Down,
    Up,
}

fn op() -> impl Strategy<Value = Op> {
    let t = 0..TOPICS.len();
    prop_oneof![
        4 => (any::<bool>(), t.clone(), 0u8..4, 0u8..3).prop_map(|(remote, topic, key, pid)| Op::Track { remote, topic, key, pid }),
        2 => (any::<bool>(), t.clone(), 0u8..4, 0u8..3).prop_map(|(remote, topic, key, pid)| Op::Update { remote, topic, key, pid }),
        3 => (any::<bool>(), t, 0u8..4, 0u8..3).prop_map(|(remote, topic, key, pid)| Op::Untrack { remote, topic, key, pid }),
        1 => (any::<bool>(), 0u8..3).prop_map(|(remote, pid)| Op::UntrackAll { remote, pid }),
        1 => Just(Op::Down),
        1 => Just(Op::Up),
    ]
}

/// (topic, key, pid, owner is remote) -> meta version.
type Model = BTreeMap<(usize, u8, u8, bool), u32>;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn reads_match_a_naive_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut local = PresenceState::new(ReplicaId::new("local", 1));
        let mut remote = PresenceState::new(ReplicaId::new("remote", 1));
        let mut model = Model::new();
        let mut remote_down = false;
        // A down verdict holds even before the replica is heard of: its entries come hidden.
        let mut version = 0u32;
        for op in ops {
            version += 1;
            let meta = Meta::from_json(&format!(r#"{{"v":{version}}}"#)).unwrap();
            match op {
                Op::Track { remote: r, topic, key, pid } | Op::Update { remote: r, topic, key, pid }
                    if matches!(op, Op::Track { .. }) || model.contains_key(&(topic, key, pid, r)) =>
                {
                    let owner = if r { &mut remote } else { &mut local };
                    let (k, p) = (format!("k{key}"), format!("p{pid}"));
                    let outcome = if matches!(op, Op::Track { .. }) {
                        owner.track(TOPICS[topic], &k, &p, &meta).map(|t| t.delta()).ok()
                    } else {
                        owner.update(TOPICS[topic], &k, &p, &meta).map(|t| t.delta()).ok()
                    };
                    prop_assert_eq!(outcome.is_some(), matches!(op, Op::Update { .. }) || !model.contains_key(&(topic, key, pid, r)));
                    if let Some(delta) = outcome {
                        model.insert((topic, key, pid, r), version);
                        if r { local.merge(delta); }
                    }
                }
                Op::Update { remote: r, topic, key, pid } => {
                    let owner = if r { &mut remote } else { &mut local };
                    let refused = owner.update(TOPICS[topic], &format!("k{key}"), &format!("p{pid}"), &meta).is_err();
                    prop_assert!(refused);
                }
                Op::Untrack { remote: r, topic, key, pid } => {
                    let owner = if r { &mut remote } else { &mut local };
                    let change = owner.untrack(TOPICS[topic], &format!("k{key}"), &format!("p{pid}"));
                    prop_assert_eq!(change.diff.leaves().count(), usize::from(model.remove(&(topic, key, pid, r)).is_some()));
                    if r { local.merge(change.delta); }
                }
                Op::UntrackAll { remote: r, pid } => {
                    let owner = if r { &mut remote } else { &mut local };
                    let change = owner.untrack_all(&format!("p{pid}"));
                    let before = model.len();
                    model.retain(|&(_, _, p, owner_remote), _| !(p == pid && owner_remote == r));
                    prop_assert_eq!(change.diff.leaves().count(), before - model.len());
                    if r { local.merge(change.delta); }
                }
                Op::Down => { remote_down = true; local.replica_down(remote.replica()).unwrap(); }
                Op::Up => { remote_down = false; local.replica_up(remote.replica()).unwrap(); }
                Op::Track { .. } => unreachable!(),
            }
            // Compare every read with the model.
            let visible: Vec<_> = model.iter().filter(|((_, _, _, r), _)| !(*r && remote_down)).collect();
            prop_assert_eq!(local.len(), visible.len());
            for (t, topic) in TOPICS.iter().enumerate() {
                let mut expected: Vec<(String, String, String)> = visible.iter()
                    .filter(|((topic_index, ..), _)| *topic_index == t)
                    .map(|((_, key, pid, _), v)| (format!("k{key}"), format!("p{pid}"), format!(r#"{{"v":{v}}}"#)))
                    .collect();
                expected.sort();
                let mut listed: Vec<(String, String, String)> = local.list(topic).into_iter()
                    .flat_map(|group| { let key = group.key().to_owned(); group.into_presences().into_iter().map(move |p| { assert_eq!(p.key(), key); (key.clone(), p.pid().to_owned(), p.meta().to_owned()) }) })
                    .collect();
                listed.sort();
                prop_assert_eq!(&listed, &expected);
                prop_assert_eq!(local.topic_len(topic), expected.len());
                for key in 0..4u8 {
                    let mut by_key: Vec<_> = local.get_by_key(topic, &format!("k{key}")).iter().map(|p| (p.key().to_owned(), p.pid().to_owned(), p.meta().to_owned())).collect();
                    by_key.sort();
                    let wanted: Vec<_> = expected.iter().filter(|(k, ..)| *k == format!("k{key}")).cloned().collect();
                    prop_assert_eq!(by_key, wanted);
                }
            }
        }
    }
}
