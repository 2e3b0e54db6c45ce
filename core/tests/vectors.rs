//! Golden vectors shared by every target (`tests/vectors/`, layout in its README).
//!
//! Each scenario is defined here as data: the operations to replay and the message to build.
//! This test replays them, encodes the results and compares them byte for byte with the files;
//! it also checks that the files decode back to the same messages and that the scenario files
//! themselves match the definitions below (so JavaScript tests replay exactly these steps).
//!
//! `BERYL_UPDATE_VECTORS=1 cargo test -p beryl-core --test vectors` rewrites the files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use beryl_core::wire::{self, DecodeError, WireLimits, phoenix};
use beryl_core::{
    CausalContext, Delta, Diff, DotMap, DotStore, Entry, Limits, Message, Meta, PresenceState,
    ReplicaId, ReplicaStatus, dot::Dot,
};
use serde::{Deserialize, Serialize};

const UPDATE_ENV: &str = "BERYL_UPDATE_VECTORS";

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

fn updating() -> bool {
    std::env::var_os(UPDATE_ENV).is_some_and(|v| v != "0" && !v.is_empty())
}

/// Compares `actual` with the file, or rewrites the file in update mode.
fn check_file(relative: &str, actual: &[u8], failures: &mut Vec<String>) {
    let path = vectors_dir().join(relative);
    if updating() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    match std::fs::read(&path) {
        Ok(expected) if expected == actual => {}
        Ok(_) => failures.push(format!("{relative} differs from what the code produces")),
        Err(error) => failures.push(format!("{relative}: {error}")),
    }
}

fn report(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "golden vectors out of date (if the change is intended, run `{UPDATE_ENV}=1 cargo test -p beryl-core --test vectors` and review the diff):\n{}",
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Scenario data model (serialized to tests/vectors/scenarios.json and phoenix/*.json)
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct ReplicaSpec {
    name: String,
    /// Decimal string: incarnations exceed JavaScript's exact integers.
    incarnation: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum Step {
    Track {
        replica: String,
        topic: String,
        key: String,
        pid: String,
        /// The meta as exact JSON text.
        meta: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deliver: Option<Vec<String>>,
    },
    Update {
        replica: String,
        topic: String,
        key: String,
        pid: String,
        meta: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deliver: Option<Vec<String>>,
    },
    Untrack {
        replica: String,
        topic: String,
        key: String,
        pid: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deliver: Option<Vec<String>>,
    },
    UntrackAll {
        replica: String,
        pid: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deliver: Option<Vec<String>>,
    },
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum MessageSpec {
    /// `from`'s own changes after its counter `after` (`PresenceState::local_delta_since`).
    Delta {
        from: String,
        after: u64,
    },
    /// `from`'s digest.
    Heartbeat {
        from: String,
    },
    /// `from` asks `to`, sending its digest.
    StateRequest {
        from: String,
        to: String,
    },
    /// What `to` is missing according to its digest, from `from`.
    StateReply {
        from: String,
        to: String,
    },
    Goodbye {
        from: String,
    },
    Liveness {
        from: String,
        replica: String,
        status: String,
    },
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct Scenario {
    name: String,
    description: String,
    replicas: Vec<ReplicaSpec>,
    steps: Vec<Step>,
    message: MessageSpec,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct PhoenixCase {
    name: String,
    description: String,
    topic: String,
    replicas: Vec<ReplicaSpec>,
    /// The replica whose clients receive the payloads.
    observer: String,
    /// Steps before the client joins.
    setup: Vec<Step>,
    /// Steps whose combined diff (as seen by the observer) is pushed as one `presence_diff`.
    changes: Vec<Step>,
    /// `presence_state` payload after `setup` (exact text).
    state: String,
    /// The frame that carries it (join_ref "1").
    state_frame: String,
    /// `presence_diff` payload of `changes` for `topic` (exact text).
    diff: String,
    /// The frame that carries it.
    diff_frame: String,
    /// `presence_state` payload after `changes`.
    final_state: String,
}

// ---------------------------------------------------------------------------------------------
// Replaying steps
// ---------------------------------------------------------------------------------------------

/// A fixed, realistic incarnation (start time in milliseconds, then 16 bits), so the bytes are
/// deterministic and the sizes are those of real deployments.
fn incarnation(offset: u64) -> String {
    beryl_core::incarnation_from_parts(1_700_000_000_000 + offset, 0x2a17).to_string()
}

fn replica_spec(name: &str, offset: u64) -> ReplicaSpec {
    ReplicaSpec {
        name: name.into(),
        incarnation: incarnation(offset),
    }
}

struct Cluster {
    states: BTreeMap<String, PresenceState>,
}

impl Cluster {
    fn new(replicas: &[ReplicaSpec]) -> Self {
        Cluster {
            states: replicas
                .iter()
                .map(|spec| {
                    let id = ReplicaId::new(spec.name.as_str(), spec.incarnation.parse().unwrap());
                    (spec.name.clone(), PresenceState::new(id))
                })
                .collect(),
        }
    }

    fn id(&self, name: &str) -> ReplicaId {
        self.states[name].replica().clone()
    }

    /// Applies a step and delivers its delta; returns the diff `observer` saw.
    fn apply(&mut self, step: &Step, observer: &str) -> Diff {
        let (replica, deliver, delta, diff) = match step {
            Step::Track {
                replica,
                topic,
                key,
                pid,
                meta,
                deliver,
            } => {
                let meta = Meta::from_json(meta).unwrap();
                let state = self.states.get_mut(replica).unwrap();
                let done = state.track(topic, key, pid, &meta).unwrap();
                (replica, deliver, done.delta(), done.diff())
            }
            Step::Update {
                replica,
                topic,
                key,
                pid,
                meta,
                deliver,
            } => {
                let meta = Meta::from_json(meta).unwrap();
                let state = self.states.get_mut(replica).unwrap();
                let done = state.update(topic, key, pid, &meta).unwrap();
                (replica, deliver, done.delta(), done.diff())
            }
            Step::Untrack {
                replica,
                topic,
                key,
                pid,
                deliver,
            } => {
                let state = self.states.get_mut(replica).unwrap();
                let done = state.untrack(topic, key, pid);
                (replica, deliver, done.delta, done.diff)
            }
            Step::UntrackAll {
                replica,
                pid,
                deliver,
            } => {
                let state = self.states.get_mut(replica).unwrap();
                let done = state.untrack_all(pid);
                (replica, deliver, done.delta, done.diff)
            }
        };
        let mut seen = if replica == observer {
            diff
        } else {
            Diff::new()
        };
        let targets: Vec<String> = match deliver {
            Some(names) => names.clone(),
            None => self
                .states
                .keys()
                .filter(|name| *name != replica)
                .cloned()
                .collect(),
        };
        for target in targets {
            let merged = self.states.get_mut(&target).unwrap().merge(delta.clone());
            if target == observer {
                seen.extend(merged);
            }
        }
        seen
    }

    fn message(&self, spec: &MessageSpec) -> Message {
        match spec {
            MessageSpec::Delta { from, after } => Message::Delta {
                from: self.id(from),
                delta: self.states[from].local_delta_since(*after),
            },
            MessageSpec::Heartbeat { from } => Message::Heartbeat {
                from: self.id(from),
                digest: self.states[from].digest(),
            },
            MessageSpec::StateRequest { from, to } => Message::StateRequest {
                from: self.id(from),
                to: self.id(to),
                digest: self.states[from].digest(),
            },
            MessageSpec::StateReply { from, to } => Message::StateReply {
                from: self.id(from),
                to: self.id(to),
                delta: self.states[from].delta_since(&self.states[to].digest(), Some(&self.id(to))),
            },
            MessageSpec::Goodbye { from } => Message::Goodbye {
                from: self.id(from),
            },
            MessageSpec::Liveness {
                from,
                replica,
                status,
            } => Message::Liveness {
                from: self.id(from),
                replica: self.id(replica),
                status: match status.as_str() {
                    "up" => ReplicaStatus::Up,
                    "down" => ReplicaStatus::Down,
                    "removed" => ReplicaStatus::Removed,
                    other => panic!("unknown status {other}"),
                },
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The scenarios
// ---------------------------------------------------------------------------------------------

fn track(replica: &str, topic: &str, key: &str, pid: &str, meta: &str) -> Step {
    Step::Track {
        replica: replica.into(),
        topic: topic.into(),
        key: key.into(),
        pid: pid.into(),
        meta: meta.into(),
        deliver: None,
    }
}

fn undelivered(step: Step, to: &[&str]) -> Step {
    let names = Some(to.iter().map(|name| name.to_string()).collect());
    match step {
        Step::Track {
            replica,
            topic,
            key,
            pid,
            meta,
            ..
        } => Step::Track {
            replica,
            topic,
            key,
            pid,
            meta,
            deliver: names,
        },
        other => other,
    }
}

fn update(replica: &str, topic: &str, key: &str, pid: &str, meta: &str) -> Step {
    Step::Update {
        replica: replica.into(),
        topic: topic.into(),
        key: key.into(),
        pid: pid.into(),
        meta: meta.into(),
        deliver: None,
    }
}

fn untrack(replica: &str, topic: &str, key: &str, pid: &str) -> Step {
    Step::Untrack {
        replica: replica.into(),
        topic: topic.into(),
        key: key.into(),
        pid: pid.into(),
        deliver: None,
    }
}

fn untrack_all(replica: &str, pid: &str) -> Step {
    Step::UntrackAll {
        replica: replica.into(),
        pid: pid.into(),
        deliver: None,
    }
}

const W1_META: &str = r#"{"status":"online","joined_at":1}"#;

fn scenarios() -> Vec<Scenario> {
    let ab = vec![replica_spec("node-a", 0), replica_spec("node-b", 1)];
    let abc = vec![
        replica_spec("node-a", 0),
        replica_spec("node-b", 1),
        replica_spec("node-c", 2),
    ];
    vec![
        Scenario {
            name: "delta_one_join".into(),
            description: "One track, broadcast as a delta: the size target of a 1-join message."
                .into(),
            replicas: vec![replica_spec("node-a", 0)],
            steps: vec![track("node-a", "room:1", "user:1", "pid:1", W1_META)],
            message: MessageSpec::Delta {
                from: "node-a".into(),
                after: 0,
            },
        },
        Scenario {
            name: "delta_update".into(),
            description: "A track then an update: the delta carries the new entry (with \
                          `replaces`) and covers the old dot, so receivers drop the old entry."
                .into(),
            replicas: vec![replica_spec("node-a", 0)],
            steps: vec![
                track(
                    "node-a",
                    "room:1",
                    "user:1",
                    "pid:1",
                    r#"{"status":"away"}"#,
                ),
                update(
                    "node-a",
                    "room:1",
                    "user:1",
                    "pid:1",
                    r#"{"status":"online","typing":true}"#,
                ),
            ],
            message: MessageSpec::Delta {
                from: "node-a".into(),
                after: 0,
            },
        },
        Scenario {
            name: "delta_leave".into(),
            description: "An untrack: a delta with no entry, only the removed dot in its context."
                .into(),
            replicas: vec![replica_spec("node-a", 0)],
            steps: vec![
                track("node-a", "room:1", "user:1", "pid:1", W1_META),
                untrack("node-a", "room:1", "user:1", "pid:1"),
            ],
            message: MessageSpec::Delta {
                from: "node-a".into(),
                after: 0,
            },
        },
        Scenario {
            name: "delta_text_passes_through".into(),
            description: "Keys, pids, topics and metas with escapes, non-ASCII text and numbers \
                          in forms a serializer would rewrite: every byte is kept."
                .into(),
            replicas: vec![replica_spec("n\u{f6}de \"a\"", 0)],
            steps: vec![
                track(
                    "n\u{f6}de \"a\"",
                    "room:\u{e9}t\u{e9}",
                    "user \"q\"\n\u{1f600}",
                    "pid\\1",
                    r#"{"z":1.50,"a":[1e3, -0, 12345678901234567890],"s":"\u00e9\t"}"#,
                ),
                track("n\u{f6}de \"a\"", "room:2", "k", "p", "{}"),
            ],
            message: MessageSpec::Delta {
                from: "n\u{f6}de \"a\"".into(),
                after: 0,
            },
        },
        Scenario {
            name: "delta_shared_meta_shapes".into(),
            description: "Metas that share a shape (the same text but for their numbers) are \
                          sent in the binary form as one template plus each meta's numbers; \
                          a meta whose shape is unique is sent as plain text."
                .into(),
            replicas: vec![replica_spec("node-a", 0)],
            steps: vec![
                track(
                    "node-a",
                    "room:1",
                    "user:1",
                    "pid:1",
                    r#"{"status":"online","joined_at":1}"#,
                ),
                track("node-a", "room:1", "user:2", "pid:2", r#"{"name":"x"}"#),
                track(
                    "node-a",
                    "room:2",
                    "user:3",
                    "pid:3",
                    r#"{"status":"online","joined_at":-1.5e3}"#,
                ),
                track("node-a", "room:2", "user:4", "pid:4", "{}"),
                track("node-a", "room:2", "user:5", "pid:5", "{}"),
            ],
            message: MessageSpec::Delta {
                from: "node-a".into(),
                after: 0,
            },
        },
        Scenario {
            name: "heartbeat_with_gaps".into(),
            description: "node-b missed node-a's second and fourth deltas: its digest has a base \
                          and a cloud of out-of-order ranges for node-a."
                .into(),
            replicas: ab.clone(),
            steps: vec![
                track("node-a", "room:1", "u1", "p1", "{}"),
                undelivered(track("node-a", "room:1", "u2", "p2", "{}"), &[]),
                track("node-a", "room:1", "u3", "p3", "{}"),
                undelivered(track("node-a", "room:1", "u4", "p4", "{}"), &[]),
                track("node-a", "room:1", "u5", "p5", "{}"),
                track("node-a", "room:1", "u6", "p6", "{}"),
                track("node-b", "room:1", "u7", "p7", "{}"),
            ],
            message: MessageSpec::Heartbeat {
                from: "node-b".into(),
            },
        },
        Scenario {
            name: "state_request".into(),
            description: "node-c, having seen part of node-a's changes, asks node-b for what it \
                          misses."
                .into(),
            replicas: abc.clone(),
            steps: vec![
                track("node-a", "room:1", "u1", "p1", W1_META),
                undelivered(track("node-a", "room:1", "u2", "p2", W1_META), &["node-b"]),
                track("node-b", "room:2", "u3", "p3", W1_META),
            ],
            message: MessageSpec::StateRequest {
                from: "node-c".into(),
                to: "node-b".into(),
            },
        },
        Scenario {
            name: "state_reply".into(),
            description: "node-b answers node-c with the entries and context node-c misses, and \
                          never with node-c's own entries."
                .into(),
            replicas: abc,
            steps: vec![
                track("node-a", "room:1", "u1", "p1", W1_META),
                undelivered(track("node-a", "room:1", "u2", "p2", W1_META), &["node-b"]),
                track("node-b", "room:2", "u3", "p3", W1_META),
                undelivered(track("node-b", "room:2", "u4", "p4", W1_META), &["node-a"]),
                track("node-c", "room:2", "u5", "p5", W1_META),
            ],
            message: MessageSpec::StateReply {
                from: "node-b".into(),
                to: "node-c".into(),
            },
        },
        Scenario {
            name: "goodbye".into(),
            description: "node-a stops gracefully.".into(),
            replicas: vec![replica_spec("node-a", 0)],
            steps: vec![],
            message: MessageSpec::Goodbye {
                from: "node-a".into(),
            },
        },
        Scenario {
            name: "liveness_down".into(),
            description: "A server tells its client replicas that it considers node-b down.".into(),
            replicas: ab,
            steps: vec![],
            message: MessageSpec::Liveness {
                from: "node-a".into(),
                replica: "node-b".into(),
                status: "down".into(),
            },
        },
    ]
}

fn phoenix_cases() -> Vec<PhoenixCase> {
    let case = |name: &str,
                description: &str,
                replicas: Vec<ReplicaSpec>,
                setup: Vec<Step>,
                changes: Vec<Step>| PhoenixCase {
        name: name.into(),
        description: description.into(),
        topic: "room:lobby".into(),
        replicas,
        observer: "node-a".into(),
        setup,
        changes,
        state: String::new(),
        state_frame: String::new(),
        diff: String::new(),
        diff_frame: String::new(),
        final_state: String::new(),
    };
    let ab = || vec![replica_spec("node-a", 0), replica_spec("node-b", 1)];
    let a = || vec![replica_spec("node-a", 0)];
    let lobby = "room:lobby";
    vec![
        case(
            "two_devices_one_leaves",
            "alice is connected from a phone (on node-a) and a laptop (on node-b); the laptop \
             leaves. The client of node-a keeps alice with the phone only.",
            ab(),
            vec![
                track(
                    "node-a",
                    lobby,
                    "alice",
                    "phone",
                    r#"{"device":"phone","score":1.50}"#,
                ),
                track("node-b", lobby, "alice", "laptop", r#"{"device":"laptop"}"#),
            ],
            vec![untrack("node-b", lobby, "alice", "laptop")],
        ),
        case(
            "update",
            "alice's meta is updated: one diff with the old ref in leaves and the new meta, \
             carrying phx_ref_prev, in joins.",
            a(),
            vec![track(
                "node-a",
                lobby,
                "alice",
                "phone",
                r#"{"status":"away"}"#,
            )],
            vec![update(
                "node-a",
                lobby,
                "alice",
                "phone",
                r#"{"status":"online","typing":true}"#,
            )],
        ),
        case(
            "leave_and_join_same_key",
            "In one diff, alice's first tab leaves and a second tab joins: alice stays listed \
             with the new tab only.",
            a(),
            vec![track("node-a", lobby, "alice", "tab-1", r#"{"tab":1}"#)],
            vec![
                untrack("node-a", lobby, "alice", "tab-1"),
                track("node-a", lobby, "alice", "tab-2", r#"{"tab":2}"#),
            ],
        ),
        case(
            "key_leaves_entirely",
            "alice's only connection disconnects (untrack_all): alice leaves the list, bob \
             stays.",
            a(),
            vec![
                track("node-a", lobby, "alice", "socket-1", r#"{"n":1}"#),
                track("node-a", lobby, "bob", "socket-2", r#"{"n":2}"#),
            ],
            vec![untrack_all("node-a", "socket-1")],
        ),
        case(
            "multi_topic_diff",
            "One diff spans room:lobby and room:other; the payload for room:lobby carries only \
             room:lobby's joins and leaves.",
            ab(),
            vec![
                track("node-a", lobby, "alice", "s1", "{}"),
                track("node-a", "room:other", "dave", "s4", "{}"),
            ],
            vec![
                track("node-a", lobby, "bob", "s2", r#"{"n":2}"#),
                track("node-b", "room:other", "carol", "s3", r#"{"n":3}"#),
                untrack("node-a", lobby, "alice", "s1"),
                untrack("node-a", "room:other", "dave", "s4"),
            ],
        ),
    ]
}

/// Replays a Phoenix case and fills in its payloads.
fn generate_phoenix(mut case: PhoenixCase) -> PhoenixCase {
    let mut cluster = Cluster::new(&case.replicas);
    for step in &case.setup {
        cluster.apply(step, &case.observer);
    }
    let observer = &cluster.states[&case.observer];
    case.state = phoenix::presence_state(observer, &case.topic);
    case.state_frame = phoenix::frame(Some("1"), None, &case.topic, "presence_state", &case.state);
    let mut diff = Diff::new();
    for step in &case.changes {
        diff.extend(cluster.apply(step, &case.observer));
    }
    case.diff = phoenix::encode_diff(&diff, &case.topic);
    case.diff_frame = phoenix::frame(None, None, &case.topic, "presence_diff", &case.diff);
    case.final_state = phoenix::presence_state(&cluster.states[&case.observer], &case.topic);
    case
}

fn pretty(value: &impl Serialize) -> Vec<u8> {
    let mut text = serde_json::to_string_pretty(value).unwrap();
    text.push('\n');
    text.into_bytes()
}

#[test]
fn replication_vectors_match_the_code() {
    let mut failures = Vec::new();
    let scenarios = scenarios();
    check_file("scenarios.json", &pretty(&scenarios), &mut failures);
    let limits = WireLimits::default();
    for scenario in &scenarios {
        let mut cluster = Cluster::new(&scenario.replicas);
        for step in &scenario.steps {
            cluster.apply(step, "");
        }
        let message = cluster.message(&scenario.message);
        let binary = wire::encode_binary(&message);
        let mut json = wire::encode_json(&message);
        json.push('\n');
        check_file(
            &format!("replication/{}.bin", scenario.name),
            &binary,
            &mut failures,
        );
        check_file(
            &format!("replication/{}.json", scenario.name),
            json.as_bytes(),
            &mut failures,
        );
        // The files, not just the fresh encodings, decode to the scenario's message.
        let stored_binary =
            std::fs::read(vectors_dir().join(format!("replication/{}.bin", scenario.name)))
                .unwrap_or_default();
        let stored_json = std::fs::read_to_string(
            vectors_dir().join(format!("replication/{}.json", scenario.name)),
        )
        .unwrap_or_default();
        match wire::decode_binary(&stored_binary, &limits) {
            Ok(decoded) if decoded == message => {}
            other => failures.push(format!("{}.bin decodes to {other:?}", scenario.name)),
        }
        match wire::decode_json(stored_json.trim_end(), &limits) {
            Ok(decoded) if decoded == message => {}
            other => failures.push(format!("{}.json decodes to {other:?}", scenario.name)),
        }
    }
    report(failures);
}

#[test]
fn scenario_file_parses_back_to_the_definitions() {
    let text = std::fs::read_to_string(vectors_dir().join("scenarios.json")).unwrap();
    let parsed: Vec<Scenario> = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed, scenarios());
}

#[test]
fn phoenix_vectors_match_the_code() {
    let mut failures = Vec::new();
    for case in phoenix_cases() {
        let case = generate_phoenix(case);
        for payload in [&case.state, &case.diff, &case.final_state, &case.diff_frame] {
            assert!(
                serde_json::from_str::<serde_json::Value>(payload).is_ok(),
                "{}: not JSON: {payload}",
                case.name
            );
        }
        check_file(
            &format!("phoenix/{}.json", case.name),
            &pretty(&case),
            &mut failures,
        );
    }
    report(failures);
}

#[test]
fn phoenix_payloads_keep_the_tracked_meta_text() {
    let case = generate_phoenix(phoenix_cases().remove(0));
    assert!(
        case.state
            .contains(r#"{"device":"phone","score":1.50,"phx_ref":""#),
        "{}",
        case.state
    );
}

// ---------------------------------------------------------------------------------------------
// Invalid inputs: each must be refused with the named error
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct InvalidVector {
    name: String,
    description: String,
    /// "binary" or "json".
    form: String,
    /// Lowercase hex of the bytes (binary form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hex: Option<String>,
    /// The text (JSON form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    /// The `DecodeError` variant expected.
    error: String,
}

fn variant(error: &DecodeError) -> String {
    let debug = format!("{error:?}");
    debug
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn one_join(meta: &str) -> Message {
    let id = ReplicaId::new("node-a", incarnation(0).parse().unwrap());
    let mut state = PresenceState::new(id.clone());
    let delta = state
        .track("room:1", "user:1", "pid:1", &Meta::from_json(meta).unwrap())
        .unwrap()
        .delta();
    Message::Delta { from: id, delta }
}

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let at = haystack
        .windows(needle.len())
        .position(|window| window == needle)
        .expect("needle present");
    let mut out = haystack[..at].to_vec();
    out.extend_from_slice(with);
    out.extend_from_slice(&haystack[at + needle.len()..]);
    out
}

fn invalid_vectors() -> Vec<InvalidVector> {
    let valid = wire::encode_binary(&one_join(W1_META));
    let valid_json = wire::encode_json(&one_join(W1_META));
    let binary = |name: &str, description: &str, bytes: Vec<u8>, error: &str| InvalidVector {
        name: name.into(),
        description: description.into(),
        form: "binary".into(),
        hex: Some(hex(&bytes)),
        text: None,
        error: error.into(),
    };
    let json = |name: &str, description: &str, text: String, error: &str| InvalidVector {
        name: name.into(),
        description: description.into(),
        form: "json".into(),
        hex: None,
        text: Some(text),
        error: error.into(),
    };
    let with = |at: usize, byte: u8| {
        let mut bytes = valid.clone();
        bytes[at] = byte;
        bytes
    };
    let orphan = {
        let Message::Delta { from, delta } = one_join(W1_META) else {
            unreachable!()
        };
        let (store, _) = delta.into_parts();
        Message::Delta {
            from,
            delta: Delta::from_parts(store, CausalContext::new()),
        }
    };
    // A heartbeat whose only cloud range touches the base (base 1, range 2..2): not canonical.
    let adjacent_range = {
        let mut bytes = vec![wire::MAGIC[0], wire::MAGIC[1], wire::VERSION, 2];
        bytes.extend([1, 1, b'a', 1]); // one replica "a", incarnation 1
        bytes.push(0); // from
        bytes.extend([1, 0, 1, 1, 1, 0]); // section: replica 0, base 1, 1 range, gap 1, span 0
        bytes
    };
    let mut trailing = valid.clone();
    trailing.push(0);
    vec![
        binary(
            "bad_magic",
            "The first byte is not the magic.",
            with(0, b'{'),
            "BadMagic",
        ),
        binary(
            "unknown_version",
            "Version 2 does not exist yet: refused, naming the versions understood.",
            with(2, 2),
            "UnsupportedVersion",
        ),
        binary(
            "unknown_type",
            "Message type 99.",
            with(3, 99),
            "UnknownType",
        ),
        binary(
            "truncated",
            "The last byte is missing.",
            valid[..valid.len() - 1].to_vec(),
            "Truncated",
        ),
        binary(
            "trailing_byte",
            "One byte after the end.",
            trailing,
            "TrailingBytes",
        ),
        binary(
            "overlong_varint",
            "The replica count 1 written on two bytes (0x81 0x00).",
            [&valid[..4], &[0x81, 0x00], &valid[5..]].concat(),
            "BadInteger",
        ),
        binary(
            "entry_not_covered",
            "An entry whose dot the delta's context does not cover.",
            wire::encode_binary(&orphan),
            "NotCovered",
        ),
        binary(
            "reserved_meta_key",
            "A meta carrying phx_ref, which presence adds itself.",
            replace_bytes(
                &wire::encode_binary(&one_join(r#"{"phx_rxf":1}"#)),
                b"phx_rxf",
                b"phx_ref",
            ),
            "Meta",
        ),
        binary(
            "meta_not_an_object",
            "A meta that is a JSON array.",
            replace_bytes(
                &wire::encode_binary(&one_join(r#"{"a":1}"#)),
                br#"{"a":1}"#,
                br#"[1,2,3]"#,
            ),
            "Meta",
        ),
        binary(
            "meta_template_out_of_range",
            "A meta that names template 0 of a message without templates.",
            replace_bytes(
                &wire::encode_binary(&one_join("{}")),
                &[2 * 2, b'{', b'}'],
                &[1],
            ),
            "BadIndex",
        ),
        binary(
            "adjacent_cloud_range",
            "A cloud range right after the base (it belongs in the base).",
            adjacent_range,
            "Invalid",
        ),
        json(
            "json_unknown_version",
            "Version 2 in the JSON form.",
            valid_json.replacen("\"version\":1", "\"version\":2", 1),
            "UnsupportedVersion",
        ),
        json(
            "json_too_deep",
            "A meta nested 40 levels deep.",
            valid_json.replacen(
                "\"joined_at\":1",
                &format!("\"joined_at\":{}1{}", "[".repeat(40), "]".repeat(40)),
                1,
            ),
            "TooDeep",
        ),
        json(
            "json_not_covered",
            "An entry whose counter the context does not cover.",
            valid_json.replacen("\"counter\":1", "\"counter\":2", 1),
            "NotCovered",
        ),
        json(
            "json_unknown_field",
            "A field the format does not have.",
            valid_json.replacen("\"from\":0", "\"from\":0,\"extra\":true", 1),
            "Json",
        ),
    ]
}

#[test]
fn invalid_vectors_are_refused_with_the_named_error() {
    let mut failures = Vec::new();
    let vectors = invalid_vectors();
    check_file("invalid.json", &pretty(&vectors), &mut failures);
    let limits = WireLimits::default();
    for vector in &vectors {
        let outcome = match (&vector.hex, &vector.text) {
            (Some(hex), _) => {
                let bytes: Vec<u8> = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
                wire::decode_binary(&bytes, &limits)
            }
            (None, Some(text)) => wire::decode_json(text, &limits),
            (None, None) => panic!("{} has no input", vector.name),
        };
        match outcome {
            Err(error) if variant(&error) == vector.error => {}
            other => failures.push(format!(
                "{}: expected {}, got {other:?}",
                vector.name, vector.error
            )),
        }
    }
    report(failures);
}

/// A hand-built delta spanning two replicas, to check the layout of groups and topic sharing
/// independently of the presence state.
#[test]
fn topics_are_written_once_per_message() {
    let a = ReplicaId::new("a", 1);
    let mut store: DotMap<Entry> = DotMap::default();
    let mut context = CausalContext::new();
    for counter in 1..=3 {
        let dot = Dot::new(a.clone(), counter);
        context.insert(&dot);
        let entry = Entry::new(
            Arc::from("a-rather-long-topic-name"),
            "k",
            &format!("p{counter}"),
            &Meta::empty(),
            None,
            &Limits::default(),
        )
        .unwrap();
        store.insert_dot(dot, entry);
    }
    let message = Message::Delta {
        from: a,
        delta: Delta::from_parts(store, context),
    };
    let bytes = wire::encode_binary(&message);
    let occurrences = bytes
        .windows(b"a-rather-long-topic-name".len())
        .filter(|window| *window == b"a-rather-long-topic-name")
        .count();
    assert_eq!(occurrences, 1);
}
