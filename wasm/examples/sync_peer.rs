//! A native replication engine (`beryl_core::sync::SyncEngine`, as the servers run it) driven
//! line by line over stdin and stdout, so the package's tests can check that a `SyncNode` in JS
//! replicates with it. Binary messages travel as hex.
//!
//!   cargo run -p beryl-wasm --example sync_peer -- NAME INCARNATION CONFIG_JSON
//!
//! Commands, one per line, fields separated by tab characters (shown here as `|`):
//!
//! - `tick|NOW`
//! - `recv|NOW|HEX`
//! - `track|TOPIC|KEY|PID|META` / `untrack|TOPIC|KEY|PID`
//! - `list|TOPIC`
//! - `stop`
//!
//! Each command gets one JSON line back: `{"tx":[[TO_OR_NULL,HEX],...],"list":...}`, where `tx`
//! holds what the engine asked to send after the command and `list` answers `list`.

use std::io::{BufRead, Write};

use beryl_core::sync::{Destination, SyncEngine};
use beryl_core::wire::{self, WireLimits};
use beryl_core::{Meta, ReplicaId};
use beryl_wasm::json;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, incarnation, config] = args.as_slice() else {
        eprintln!("usage: sync_peer NAME INCARNATION CONFIG_JSON");
        std::process::exit(2);
    };
    let incarnation: u64 = incarnation.parse().expect("a decimal incarnation");
    let config = beryl_wasm::sync::config(config).expect("valid settings");
    let mut engine =
        SyncEngine::new(ReplicaId::new(name.as_str(), incarnation), config, 0).expect("valid");
    let limits = WireLimits::default();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.expect("stdin is readable");
        let fields: Vec<&str> = line.split('\t').collect();
        let mut list = String::from("null");
        match fields.as_slice() {
            ["tick", now] => engine.tick(now.parse().expect("a time")),
            ["recv", now, payload] => {
                let bytes = unhex(payload).expect("hex");
                let message = wire::decode_binary(&bytes, &limits).expect("a valid message");
                engine.receive(now.parse().expect("a time"), message);
            }
            ["track", topic, key, pid, meta] => {
                let meta = Meta::from_json(meta).expect("a meta");
                engine
                    .track(topic, key, pid, &meta)
                    .expect("not tracked yet");
            }
            ["untrack", topic, key, pid] => {
                engine.untrack(topic, key, pid);
            }
            ["list", topic] => list = json::list(&engine.state().list(topic)),
            ["stop"] => engine.stop(),
            _ => panic!("unknown command {line:?}"),
        }
        while engine.poll_event().is_some() {}
        let mut out = String::from("{\"tx\":[");
        let mut first = true;
        while let Some(transmit) = engine.poll_transmit() {
            if !first {
                out.push(',');
            }
            first = false;
            out.push('[');
            match &transmit.destination {
                Destination::Broadcast => out.push_str("null"),
                Destination::Replica(to) => json::write_str(&mut out, to.name()),
            }
            out.push_str(",\"");
            out.push_str(&hex(&wire::encode_binary(&transmit.message)));
            out.push_str("\"]");
        }
        out.push_str("],\"list\":");
        out.push_str(&list);
        out.push('}');
        writeln!(stdout, "{out}").expect("stdout is writable");
        stdout.flush().expect("stdout is writable");
    }
}
