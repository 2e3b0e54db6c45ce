//! Generates seeded random operation sequences, applies them to the native core through the
//! same facade the wasm bindings use, and prints one JSON line per sequence: the operations,
//! what every step returned, and what every replica shows after it. The package's differential
//! test (tests/js/package) replays the operations through the built npm package and compares
//! after every step.
//!
//!   cargo run -p beryl-wasm --example differential -- FIRST_SEED COUNT
//!
//! A step is `{"op", "result", ..., "observed": [o0, o1, o2]}`. `oN` is replica N's whole
//! observable state (see [`observe`]) when it differs from the one printed last for that
//! replica, else `null`: the replayer keeps the latest one per replica and compares every
//! replica with it after every step.

use std::fmt::Write as _;

use beryl_core::wire;
use beryl_core::{Message, ReplicaId};
use beryl_wasm::error::BindingError;
use beryl_wasm::facade::StateFacade;
use beryl_wasm::json::write_str;

const REPLICAS: [(&str, &str); 3] = [
    ("node-a", "111411200000010775"),
    ("node-b", "111411200000076311"),
    ("node-c", "111411200000141847"),
];
const TOPICS: [&str; 3] = ["room:0", "room:1", "lobby é"];
const KEYS: [&str; 4] = ["alice", "bob", "carol", "dave\"q"];
const PIDS: [&str; 4] = ["p0", "p1", "p2", "p3"];
const STATUSES: [&str; 3] = ["up", "down", "removed"];
const STEPS: usize = 30;

/// splitmix64: tiny, seedable, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn meta(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => "{}".into(),
        1 => format!(
            "{{\"status\":\"online\",\"joined_at\":{}}}",
            rng.below(1000)
        ),
        2 => format!(
            "{{ \"n\" : {}.50 , \"tags\":[1, \"x\", null] }}",
            rng.below(10)
        ),
        3 => "{\"nested\":{\"a\":[{\"b\":true}]},\"u\":\"\\u00e9\\n\"}".into(),
        4 => "{\"phx_ref\":\"refused\"}".into(),
        _ => format!("{{\"big\":{}e3}}", rng.below(100)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

fn replica_id(index: usize) -> ReplicaId {
    let (name, incarnation) = REPLICAS[index];
    ReplicaId::new(name, incarnation.parse().expect("valid incarnation"))
}

/// A result that is a diff: `{"diff":...,"payload":...}` with the Phoenix `presence_diff` of
/// the step's topic, or `{"error":"<code>"}`.
fn outcome(
    out: &mut String,
    state: &StateFacade,
    topic: &str,
    result: Result<String, BindingError>,
) {
    match result {
        Ok(diff) => {
            out.push_str("{\"diff\":");
            out.push_str(&diff);
            out.push_str(",\"payload\":");
            let payload = state
                .encode_diff(&diff, topic)
                .expect("a diff of this package");
            write_str(out, &payload);
            out.push('}');
        }
        Err(error) => {
            let _ = write!(out, "{{\"error\":\"{}\"}}", error.kind.code());
        }
    }
}

/// Appends `"name":"<hex of the binary form>","nameJson":"<JSON form>"`.
fn message(out: &mut String, name: &str, message: &Message) {
    let _ = write!(
        out,
        "\"{name}\":\"{}\",\"{name}Json\":",
        hex(&wire::encode_binary(message))
    );
    write_str(out, &wire::encode_json(message));
}

/// Appends `"name":[...]` of the binary form of each message, as hex.
fn messages(out: &mut String, name: &str, messages: impl IntoIterator<Item = Message>) {
    let _ = write!(out, "\"{name}\":[");
    for (index, message) in messages.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{}\"", hex(&wire::encode_binary(&message)));
    }
    out.push(']');
}

/// Everything replica `index` shows, as JSON: every topic's list, every (topic, key)'s
/// presences, its topics and counts, replica records and verdicts, Phoenix states, and the
/// encoding of every message kind it can build (heartbeat/digest, full state, local delta,
/// state request, liveness, goodbye).
fn observe(states: &[StateFacade], index: usize) -> String {
    let state = &states[index];
    let others: Vec<usize> = (0..REPLICAS.len())
        .filter(|&other| other != index)
        .collect();
    let mut out = String::from("{\"lists\":[");
    for (position, topic) in TOPICS.iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        out.push_str(&state.list(topic));
    }
    out.push_str("],\"byKey\":[");
    for (position, topic) in TOPICS.iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        out.push('[');
        for (k, key) in KEYS.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            out.push_str(&state.get_by_key(topic, key));
        }
        out.push(']');
    }
    out.push_str("],\"topics\":");
    out.push_str(&state.topics());
    let _ = write!(out, ",\"size\":{},\"topicSizes\":[", state.state().len());
    for (position, topic) in TOPICS.iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}", state.state().topic_len(topic));
    }
    let counter = state.state().local_counter();
    let _ = write!(out, "],\"localCounter\":{counter},\"replicas\":");
    out.push_str(&state.replicas());
    out.push_str(",\"statuses\":[");
    for (position, &other) in others.iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        let (name, incarnation) = REPLICAS[other];
        match state
            .replica_status(name, incarnation)
            .expect("valid replica")
        {
            Some(status) => write_str(&mut out, &status),
            None => out.push_str("null"),
        }
    }
    out.push_str("],\"presenceStates\":[");
    for (position, topic) in TOPICS.iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        write_str(&mut out, &state.presence_state(topic));
    }
    out.push_str("],");
    message(&mut out, "heartbeat", &state.heartbeat());
    out.push(',');
    message(&mut out, "fullState", &state.full_state(None));
    out.push(',');
    messages(
        &mut out,
        "fullStateTo",
        others
            .iter()
            .map(|&other| state.full_state(Some(&replica_id(other)))),
    );
    out.push(',');
    message(
        &mut out,
        "localDelta",
        &state.local_delta_since(counter / 2),
    );
    out.push(',');
    messages(
        &mut out,
        "stateRequests",
        others
            .iter()
            .map(|&other| state.state_request(replica_id(other))),
    );
    out.push(',');
    messages(
        &mut out,
        "liveness",
        others.iter().flat_map(|&other| {
            STATUSES.map(|status| {
                state
                    .liveness(replica_id(other), status)
                    .expect("a valid status")
            })
        }),
    );
    out.push(',');
    message(&mut out, "goodbye", &state.goodbye());
    out.push('}');
    out
}

/// Appends `{"op":"track"|"update",...}` with the step's fields.
fn op_with_meta(op: &str, r: usize, topic: &str, key: &str, pid: &str, meta: &str) -> String {
    let mut out = format!("{{\"op\":\"{op}\",\"r\":{r},\"topic\":");
    write_str(&mut out, topic);
    out.push_str(",\"key\":");
    write_str(&mut out, key);
    let _ = write!(out, ",\"pid\":\"{pid}\",\"meta\":");
    write_str(&mut out, meta);
    out.push('}');
    out
}

fn sequence(seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut states: Vec<StateFacade> = REPLICAS
        .iter()
        .map(|(name, incarnation)| StateFacade::new(name, incarnation, "").expect("valid"))
        .collect();
    let mut last: Vec<String> = vec![String::new(); REPLICAS.len()];
    let mut line = format!("{{\"seed\":{seed},\"steps\":[");
    for step in 0..STEPS {
        if step > 0 {
            line.push(',');
        }
        let r = rng.below(REPLICAS.len());
        let topic = rng.pick(&TOPICS);
        let key = rng.pick(&KEYS);
        let pid = rng.pick(&PIDS);
        let mut op = String::new();
        let mut result = String::new();
        let mut extra = String::new();
        match rng.below(12) {
            0..=3 => {
                let meta = meta(&mut rng);
                op = op_with_meta("track", r, topic, key, pid, &meta);
                let tracked = states[r].track(topic, key, pid, &meta);
                outcome(&mut result, &states[r], topic, tracked);
            }
            4 | 5 => {
                let meta = meta(&mut rng);
                op = op_with_meta("update", r, topic, key, pid, &meta);
                let updated = states[r].update(topic, key, pid, &meta);
                outcome(&mut result, &states[r], topic, updated);
            }
            6 => {
                op = format!("{{\"op\":\"untrack\",\"r\":{r},\"topic\":");
                write_str(&mut op, topic);
                op.push_str(",\"key\":");
                write_str(&mut op, key);
                let _ = write!(op, ",\"pid\":\"{pid}\"}}");
                let diff = states[r].untrack(topic, key, pid);
                outcome(&mut result, &states[r], topic, Ok(diff));
            }
            7 => {
                op = format!("{{\"op\":\"untrackAll\",\"r\":{r},\"pid\":\"{pid}\",\"topic\":");
                write_str(&mut op, topic);
                op.push('}');
                let diff = states[r].untrack_all(pid);
                outcome(&mut result, &states[r], topic, Ok(diff));
            }
            8 | 9 => {
                // Broadcast r's pending delta to a random subset of the others (some miss it).
                let json = rng.below(2) == 0;
                let mask = rng.below(4);
                op = format!(
                    "{{\"op\":\"broadcast\",\"r\":{r},\"json\":{json},\"mask\":{mask},\"topic\":"
                );
                write_str(&mut op, topic);
                op.push('}');
                let message = states[r].take_delta();
                let encoded = message.as_ref().map(|message| {
                    if json {
                        wire::encode_json(message).into_bytes()
                    } else {
                        wire::encode_binary(message)
                    }
                });
                let mut diffs = Vec::new();
                for (target, bit) in (0..REPLICAS.len()).filter(|t| *t != r).zip([1, 2]) {
                    if let Some(bytes) = &encoded
                        && mask & bit != 0
                    {
                        let merged = if json {
                            states[target].merge_json(std::str::from_utf8(bytes).unwrap_or(""))
                        } else {
                            states[target].merge_binary(bytes)
                        };
                        let mut one = String::new();
                        outcome(&mut one, &states[target], topic, merged);
                        diffs.push(one);
                    }
                }
                let _ = write!(
                    extra,
                    ",\"message\":\"{}\",\"merges\":[{}]",
                    encoded.as_deref().map(hex).unwrap_or_default(),
                    diffs.join(",")
                );
                result.push_str("null");
            }
            10 => {
                // r asks another replica for what it misses and merges the reply.
                let other = (r + 1 + rng.below(2)) % REPLICAS.len();
                let json = rng.below(2) == 0;
                let _ = write!(
                    op,
                    "{{\"op\":\"repair\",\"r\":{r},\"from\":{other},\"json\":{json},\"topic\":"
                );
                write_str(&mut op, topic);
                op.push('}');
                let request = states[r].state_request(replica_id(other));
                let reply = states[other].answer(&request);
                let encode = |message: &Message| {
                    if json {
                        wire::encode_json(message).into_bytes()
                    } else {
                        wire::encode_binary(message)
                    }
                };
                let reply_bytes = reply.as_ref().map(encode);
                let mut merged = String::from("[");
                if let Some(bytes) = &reply_bytes {
                    let diff = if json {
                        states[r].merge_json(std::str::from_utf8(bytes).unwrap_or(""))
                    } else {
                        states[r].merge_binary(bytes)
                    };
                    outcome(&mut merged, &states[r], topic, diff);
                }
                merged.push(']');
                let _ = write!(
                    extra,
                    ",\"request\":\"{}\",\"reply\":\"{}\",\"merges\":{merged}",
                    hex(&encode(&request)),
                    reply_bytes.as_deref().map(hex).unwrap_or_default()
                );
                result.push_str("null");
            }
            _ => {
                let other = (r + 1 + rng.below(2)) % REPLICAS.len();
                let verdict = ["down", "up", "removed", "down"][rng.below(4)];
                op = format!(
                    "{{\"op\":\"liveness\",\"r\":{r},\"of\":{other},\"status\":\"{verdict}\",\"topic\":"
                );
                write_str(&mut op, topic);
                op.push('}');
                let (name, incarnation) = REPLICAS[other];
                let applied = match verdict {
                    "down" => states[r].replica_down(name, incarnation),
                    "up" => states[r].replica_up(name, incarnation),
                    _ => states[r].remove_replica(name, incarnation),
                };
                outcome(&mut result, &states[r], topic, applied);
            }
        }
        let _ = write!(
            line,
            "{{\"op\":{op},\"result\":{result}{extra},\"observed\":["
        );
        for (index, printed) in last.iter_mut().enumerate() {
            if index > 0 {
                line.push(',');
            }
            let now = observe(&states, index);
            if now == *printed {
                line.push_str("null");
            } else {
                line.push_str(&now);
                *printed = now;
            }
        }
        line.push_str("]}");
    }
    line.push_str("]}");
    line
}

fn main() {
    let mut args = std::env::args().skip(1);
    let first: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let count: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    for seed in first..first + count {
        println!("{}", sequence(seed));
    }
}
