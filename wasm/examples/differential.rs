//! Generates seeded random operation sequences, applies them to the native core through the
//! same facade the wasm bindings use, and prints one JSON line per sequence: the operations and
//! what every step returned. The package's differential test (tests/js/package) replays the
//! operations through the built npm package and compares after every step.
//!
//!   cargo run -p beryl-wasm --example differential -- FIRST_SEED COUNT

use std::fmt::Write as _;

use beryl_core::wire;
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

fn outcome(out: &mut String, result: Result<String, BindingError>) {
    match result {
        Ok(diff) => {
            out.push_str("{\"diff\":");
            out.push_str(&diff);
            out.push('}');
        }
        Err(error) => {
            let _ = write!(out, "{{\"error\":\"{}\"}}", error.kind.code());
        }
    }
}

/// Every replica's `presence_state` of every topic (keys, metas and refs, which name the
/// dots), its replica records and topics, as one string: compared after each step.
fn snapshot(states: &[StateFacade]) -> String {
    let mut out = String::new();
    for state in states {
        for topic in TOPICS {
            out.push_str(&state.presence_state(topic));
            out.push('|');
        }
        out.push_str(&state.replicas());
        out.push('|');
        out.push_str(&state.topics());
        let _ = write!(out, "|{};", state.state().len());
    }
    out
}

fn sequence(seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut states: Vec<StateFacade> = REPLICAS
        .iter()
        .map(|(name, incarnation)| StateFacade::new(name, incarnation, "").expect("valid"))
        .collect();
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
                op = format!("{{\"op\":\"track\",\"r\":{r},\"topic\":");
                write_str(&mut op, topic);
                op.push_str(",\"key\":");
                write_str(&mut op, key);
                let _ = write!(op, ",\"pid\":\"{pid}\",\"meta\":");
                write_str(&mut op, &meta);
                op.push('}');
                outcome(&mut result, states[r].track(topic, key, pid, &meta));
            }
            4 | 5 => {
                let meta = meta(&mut rng);
                op = format!("{{\"op\":\"update\",\"r\":{r},\"topic\":");
                write_str(&mut op, topic);
                op.push_str(",\"key\":");
                write_str(&mut op, key);
                let _ = write!(op, ",\"pid\":\"{pid}\",\"meta\":");
                write_str(&mut op, &meta);
                op.push('}');
                outcome(&mut result, states[r].update(topic, key, pid, &meta));
            }
            6 => {
                op = format!("{{\"op\":\"untrack\",\"r\":{r},\"topic\":");
                write_str(&mut op, topic);
                op.push_str(",\"key\":");
                write_str(&mut op, key);
                let _ = write!(op, ",\"pid\":\"{pid}\"}}");
                outcome(&mut result, Ok(states[r].untrack(topic, key, pid)));
            }
            7 => {
                op = format!("{{\"op\":\"untrackAll\",\"r\":{r},\"pid\":\"{pid}\"}}");
                outcome(&mut result, Ok(states[r].untrack_all(pid)));
            }
            8 | 9 => {
                // Broadcast r's pending delta to a random subset of the others (some miss it).
                let json = rng.below(2) == 0;
                let mask = rng.below(4);
                let _ = write!(
                    op,
                    "{{\"op\":\"broadcast\",\"r\":{r},\"json\":{json},\"mask\":{mask}}}"
                );
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
                        diffs.push(merged.unwrap_or_default());
                    }
                }
                let _ = write!(
                    extra,
                    ",\"message\":\"{}\",\"diffs\":[{}]",
                    encoded.as_deref().map(hex).unwrap_or_default(),
                    diffs.join(",")
                );
                result.push_str("null");
            }
            10 => {
                // r asks another replica for what it misses and merges the reply.
                let other = (r + 1 + rng.below(2)) % REPLICAS.len();
                let _ = write!(op, "{{\"op\":\"repair\",\"r\":{r},\"from\":{other}}}");
                let request = states[r].state_request(states[other].state().replica().clone());
                let reply = states[other]
                    .answer(&request)
                    .map(|reply| wire::encode_binary(&reply))
                    .unwrap_or_default();
                let diff = states[r].merge_binary(&reply).unwrap_or_default();
                let _ = write!(
                    extra,
                    ",\"request\":\"{}\",\"reply\":\"{}\",\"diffs\":[{diff}]",
                    hex(&wire::encode_binary(&request)),
                    hex(&reply)
                );
                result.push_str("null");
            }
            _ => {
                let other = (r + 1 + rng.below(2)) % REPLICAS.len();
                let verdict = ["down", "up", "removed", "down"][rng.below(4)];
                let _ = write!(
                    op,
                    "{{\"op\":\"liveness\",\"r\":{r},\"of\":{other},\"status\":\"{verdict}\"}}"
                );
                let (name, incarnation) = REPLICAS[other];
                let applied = match verdict {
                    "down" => states[r].replica_down(name, incarnation),
                    "up" => states[r].replica_up(name, incarnation),
                    _ => states[r].remove_replica(name, incarnation),
                };
                outcome(&mut result, applied);
            }
        }
        let presence_state = states[r].presence_state(topic);
        let _ = write!(line, "{{\"op\":{op},\"result\":{result}{extra},\"topic\":");
        write_str(&mut line, topic);
        line.push_str(",\"presenceState\":");
        write_str(&mut line, &presence_state);
        line.push_str(",\"snapshot\":");
        write_str(&mut line, &snapshot(&states));
        line.push('}');
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
