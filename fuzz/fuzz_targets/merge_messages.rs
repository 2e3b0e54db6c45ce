//! Replicas driven by the fuzzer's choices (tracks, updates, untracks, restarts, liveness
//! verdicts), whose messages are encoded, sometimes damaged, decoded and merged into a target
//! replica, and into a replication engine. Nothing may panic, the target's indexes must agree
//! with each other after every step, merges must never remove the target's own entries, and
//! (unless a damaged message was accepted as another one) a final full-state exchange must
//! leave the target listing exactly what the sources hold.
#![no_main]

use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use beryl_core::sync::{SyncConfig, SyncEngine};
use beryl_core::wire::{self, WireLimits};
use beryl_core::{Delta, Message, Meta, PresenceState, ReplicaId};
use libfuzzer_sys::fuzz_target;

const SOURCES: usize = 3;
const TOPICS: [&str; 3] = ["room:a", "room:b", "room:c"];

#[derive(Arbitrary, Debug)]
enum Op {
    Track {
        source: u8,
        topic: u8,
        key: u8,
        pid: u8,
    },
    Update {
        source: u8,
        topic: u8,
        key: u8,
        pid: u8,
        value: i16,
    },
    Untrack {
        source: u8,
        topic: u8,
        key: u8,
        pid: u8,
    },
    UntrackAll {
        source: u8,
        pid: u8,
    },
    Restart {
        source: u8,
    },
    Down {
        source: u8,
    },
    Up {
        source: u8,
    },
    Remove {
        source: u8,
    },
    LocalTrack {
        topic: u8,
        pid: u8,
    },
    LocalUntrack {
        topic: u8,
        pid: u8,
    },
    /// Sends the pending delta of a source, in binary or JSON, flipping a byte if asked.
    Send {
        source: u8,
        json: bool,
        damage: Option<(u16, u8)>,
    },
    /// Sends a source's whole state.
    SendFull {
        source: u8,
    },
    Tick {
        millis: u16,
    },
}

struct Source {
    state: PresenceState,
    pending: Delta,
    incarnation: u64,
}

impl Source {
    fn new(index: usize, incarnation: u64) -> Self {
        Source {
            state: PresenceState::new(ReplicaId::new(format!("source-{index}"), incarnation)),
            pending: Delta::default(),
            incarnation,
        }
    }

    fn add(&mut self, delta: Delta) {
        self.pending = std::mem::take(&mut self.pending).merged(delta);
    }
}

/// Flips bits of one byte, if asked.
fn damage_byte(bytes: &mut [u8], damage: Option<(u16, u8)>) {
    if let Some((at, value)) = damage {
        let len = bytes.len();
        if len > 0 {
            bytes[at as usize % len] ^= value;
        }
    }
}

fn topic(index: u8) -> &'static str {
    TOPICS[index as usize % TOPICS.len()]
}

type Row = (String, String, String, String);

fn rows(state: &PresenceState) -> BTreeSet<Row> {
    state
        .topics()
        .iter()
        .flat_map(|topic| state.list(topic))
        .flat_map(|group| group.into_presences())
        .map(|p| {
            (
                p.topic().to_owned(),
                p.pid().to_owned(),
                p.phx_ref().to_string(),
                p.meta().to_owned(),
            )
        })
        .collect()
}

/// The indexes agree: `list`, `get_by_key`, `topic_len`, `len` and `topics` tell one story.
fn check_indexes(state: &PresenceState) {
    // Damaged messages may bring topics of their own: walk what the state says it has.
    let mut total = 0;
    for topic in state.topics() {
        let topic: &str = &topic;
        let groups = state.list(topic);
        let listed: usize = groups.iter().map(|group| group.presences().len()).sum();
        assert_eq!(
            listed,
            state.topic_len(topic),
            "list and topic_len of {topic}"
        );
        for group in &groups {
            assert_eq!(
                state.get_by_key(topic, group.key()).len(),
                group.presences().len(),
                "get_by_key and list of {topic}/{}",
                group.key()
            );
        }
        total += listed;
    }
    assert_eq!(total, state.len(), "per-topic counts and len");
    assert!(state.stored_len() >= state.len());
}

fn own(state: &PresenceState) -> BTreeSet<Row> {
    let mine = state.replica().clone();
    state
        .topics()
        .iter()
        .flat_map(|topic| state.list(topic))
        .flat_map(|group| group.into_presences())
        .filter(|p| *p.replica() == mine)
        .map(|p| {
            (
                p.topic().to_owned(),
                p.pid().to_owned(),
                p.phx_ref().to_string(),
                p.meta().to_owned(),
            )
        })
        .collect()
}

fn deliver(target: &mut PresenceState, engine: &mut SyncEngine, now: u64, message: Message) {
    let before = own(target);
    match message.clone() {
        Message::Delta { delta, .. } | Message::StateReply { delta, .. } => {
            target.merge(delta);
        }
        Message::Goodbye { from } => {
            let _ = target.remove_replica(&from);
        }
        Message::Liveness {
            replica, status, ..
        } => {
            let _ = match status {
                beryl_core::ReplicaStatus::Up => target.replica_up(&replica),
                beryl_core::ReplicaStatus::Down => target.replica_down(&replica),
                beryl_core::ReplicaStatus::Removed => target.remove_replica(&replica),
            };
        }
        Message::Heartbeat { .. } | Message::StateRequest { .. } => {}
    }
    assert_eq!(
        own(target),
        before,
        "a merge removed or changed a local entry"
    );
    check_indexes(target);
    engine.receive(now, message);
    while engine.poll_transmit().is_some() {}
    while engine.poll_event().is_some() {}
    check_indexes(engine.state());
}

fuzz_target!(|ops: Vec<Op>| {
    let limits = WireLimits::default();
    let mut sources: Vec<Source> = (0..SOURCES).map(|i| Source::new(i, 1)).collect();
    let mut target = PresenceState::new(ReplicaId::new("target", 1));
    let mut now = 0u64;
    // A damaged message that still decodes can name other replicas, incarnations or counters
    // (the wire carries no signatures): invariants still hold, convergence need not.
    let mut tampered = false;
    let mut engine = SyncEngine::new(ReplicaId::new("engine", 1), SyncConfig::default(), now)
        .expect("default config");
    for op in ops.iter().take(200) {
        match *op {
            Op::Track {
                source,
                topic: t,
                key,
                pid,
            } => {
                let source = &mut sources[source as usize % SOURCES];
                let meta = Meta::from_json(&format!(r#"{{"k":{key}}}"#)).expect("meta");
                if let Ok(tracked) =
                    source
                        .state
                        .track(topic(t), &format!("k{key}"), &format!("p{pid}"), &meta)
                {
                    source.add(tracked.delta());
                }
            }
            Op::Update {
                source,
                topic: t,
                key,
                pid,
                value,
            } => {
                let source = &mut sources[source as usize % SOURCES];
                let meta = Meta::from_json(&format!(r#"{{"v":{value}}}"#)).expect("meta");
                if let Ok(updated) =
                    source
                        .state
                        .update(topic(t), &format!("k{key}"), &format!("p{pid}"), &meta)
                {
                    source.add(updated.delta());
                }
            }
            Op::Untrack {
                source,
                topic: t,
                key,
                pid,
            } => {
                let source = &mut sources[source as usize % SOURCES];
                let change = source
                    .state
                    .untrack(topic(t), &format!("k{key}"), &format!("p{pid}"));
                source.add(change.delta);
            }
            Op::UntrackAll { source, pid } => {
                let source = &mut sources[source as usize % SOURCES];
                let change = source.state.untrack_all(&format!("p{pid}"));
                source.add(change.delta);
            }
            Op::Restart { source } => {
                let index = source as usize % SOURCES;
                let incarnation = sources[index].incarnation + 1;
                sources[index] = Source::new(index, incarnation);
            }
            Op::Down { source } => {
                let replica = sources[source as usize % SOURCES].state.replica().clone();
                let _ = target.replica_down(&replica);
                check_indexes(&target);
            }
            Op::Up { source } => {
                let replica = sources[source as usize % SOURCES].state.replica().clone();
                let _ = target.replica_up(&replica);
                check_indexes(&target);
            }
            Op::Remove { source } => {
                let replica = sources[source as usize % SOURCES].state.replica().clone();
                let _ = target.remove_replica(&replica);
                check_indexes(&target);
            }
            Op::LocalTrack { topic: t, pid } => {
                let _ = target.track(topic(t), "local", &format!("p{pid}"), &Meta::empty());
            }
            Op::LocalUntrack { topic: t, pid } => {
                target.untrack(topic(t), "local", &format!("p{pid}"));
            }
            Op::Send {
                source,
                json,
                damage,
            } => {
                let source = &mut sources[source as usize % SOURCES];
                let message = Message::Delta {
                    from: source.state.replica().clone(),
                    delta: std::mem::take(&mut source.pending),
                };
                let decoded = if json {
                    let mut bytes = wire::encode_json(&message).into_bytes();
                    damage_byte(&mut bytes, damage);
                    std::str::from_utf8(&bytes)
                        .ok()
                        .and_then(|text| wire::decode_json(text, &limits).ok())
                } else {
                    let mut bytes = wire::encode_binary(&message);
                    damage_byte(&mut bytes, damage);
                    wire::decode_binary(&bytes, &limits).ok()
                };
                if damage.is_none_or(|(_, value)| value == 0) {
                    assert_eq!(
                        decoded.as_ref(),
                        Some(&message),
                        "an intact message decodes"
                    );
                }
                tampered |= decoded.as_ref().is_some_and(|decoded| *decoded != message);
                if let Some(decoded) = decoded {
                    deliver(&mut target, &mut engine, now, decoded);
                }
            }
            Op::SendFull { source } => {
                let source = &sources[source as usize % SOURCES];
                let message = Message::Delta {
                    from: source.state.replica().clone(),
                    delta: source.state.full_state(None),
                };
                deliver(&mut target, &mut engine, now, message);
            }
            Op::Tick { millis } => {
                now += u64::from(millis);
                engine.tick(now);
                while engine.poll_transmit().is_some() {}
                while engine.poll_event().is_some() {}
            }
        }
    }

    // Repair: every source is shown and sends its whole state; the target then lists exactly
    // its own entries plus what each source's current incarnation holds, unless removed.
    let mut expected = own(&target);
    for source in &sources {
        let replica = source.state.replica().clone();
        // An empty state carries no dot, so merging it cannot tell of a restart: retire an
        // older incarnation the target still knows, as the engine does when it hears the new one.
        let known = target.replicas();
        for (old, _) in known
            .iter()
            .filter(|(old, _)| old.same_name(&replica) && old.incarnation() < replica.incarnation())
        {
            let _ = target.remove_replica(old);
        }
        let removed = target.replica_status(&replica) == Some(beryl_core::ReplicaStatus::Removed);
        let _ = target.replica_up(&replica);
        target.merge(source.state.full_state(None));
        if !removed {
            expected.extend(rows(&source.state));
        }
    }
    check_indexes(&target);
    if !tampered {
        assert_eq!(rows(&target), expected);
    }
});
