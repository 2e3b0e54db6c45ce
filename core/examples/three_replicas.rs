//! Three replicas track presences, exchange deltas (as encoded replication messages) and print
//! the diffs they report and the lists they end with. One node restarts on the way.
//!
//! `cargo run -p beryl-core --example three_replicas`

use beryl_core::wire::{self, WireLimits, phoenix};
use beryl_core::{Delta, Diff, Message, Meta, PresenceState, ReplicaId};

const TOPIC: &str = "room:lobby";

fn meta(json: &str) -> Meta {
    Meta::from_json(json).expect("a JSON object")
}

/// Sends `delta` from `from` to each of `to` through the binary wire format, printing what
/// every receiver's clients would be pushed.
fn send(from: &PresenceState, delta: &Delta, to: &mut [&mut PresenceState]) {
    let bytes = wire::encode_binary(&Message::Delta {
        from: from.replica().clone(),
        delta: delta.clone(),
    });
    for receiver in to.iter_mut() {
        let Ok(Message::Delta { delta, .. }) = wire::decode_binary(&bytes, &WireLimits::default())
        else {
            unreachable!("we just encoded a delta");
        };
        let diff = receiver.merge(delta);
        report(
            receiver,
            &diff,
            &format!("{} bytes from {}", bytes.len(), from.replica().name()),
        );
    }
}

fn report(state: &PresenceState, diff: &Diff, why: &str) {
    if diff.is_empty() {
        println!("  {:<6} nothing new ({why})", state.replica().name());
    } else {
        println!(
            "  {:<6} presence_diff {} ({why})",
            state.replica().name(),
            phoenix::encode_diff(diff, TOPIC)
        );
    }
}

fn main() {
    let mut paris = PresenceState::new(ReplicaId::new("paris", 1));
    let mut tokyo = PresenceState::new(ReplicaId::new("tokyo", 1));
    let mut lima = PresenceState::new(ReplicaId::new("lima", 1));

    println!("alice joins on paris from her phone, bob on tokyo:");
    let alice = paris
        .track(
            TOPIC,
            "alice",
            "phone",
            &meta(r#"{"device":"phone","status":"online"}"#),
        )
        .expect("new presence");
    send(&paris, &alice.delta(), &mut [&mut tokyo, &mut lima]);
    let bob = tokyo
        .track(
            TOPIC,
            "bob",
            "web-1",
            &meta(r#"{"device":"web","status":"online"}"#),
        )
        .expect("new presence");
    send(&tokyo, &bob.delta(), &mut [&mut paris, &mut lima]);

    println!("alice opens her laptop on lima: two devices, one key:");
    let laptop = lima
        .track(
            TOPIC,
            "alice",
            "laptop",
            &meta(r#"{"device":"laptop","status":"online"}"#),
        )
        .expect("new presence");
    send(&lima, &laptop.delta(), &mut [&mut paris, &mut tokyo]);

    println!("bob goes away (an update: old meta leaves, new meta joins with phx_ref_prev):");
    let away = tokyo
        .update(
            TOPIC,
            "bob",
            "web-1",
            &meta(r#"{"device":"web","status":"away"}"#),
        )
        .expect("bob is tracked on tokyo");
    send(&tokyo, &away.delta(), &mut [&mut paris, &mut lima]);

    println!("alice closes her phone:");
    let closed = paris.untrack_all("phone");
    send(&paris, &closed.delta, &mut [&mut tokyo, &mut lima]);

    println!("tokyo restarts (same name, new incarnation) and bob reconnects:");
    let mut tokyo = PresenceState::new(ReplicaId::new("tokyo", 2));
    let back = tokyo
        .track(
            TOPIC,
            "bob",
            "web-2",
            &meta(r#"{"device":"web","status":"online"}"#),
        )
        .expect("new presence");
    send(&tokyo, &back.delta(), &mut [&mut paris, &mut lima]);
    // The restarted node catches up with a full state from a peer.
    let catch_up = paris.full_state(Some(tokyo.replica()));
    let diff = tokyo.merge(catch_up);
    report(&tokyo, &diff, "full state from paris");

    println!("final presence_state on each replica:");
    for state in [&paris, &tokyo, &lima] {
        println!(
            "  {:<6} {}",
            state.replica().name(),
            phoenix::presence_state(state, TOPIC)
        );
    }
    let lists: Vec<_> = [&paris, &tokyo, &lima]
        .iter()
        .map(|state| phoenix::presence_state(state, TOPIC))
        .collect();
    assert!(
        lists.windows(2).all(|pair| pair[0] == pair[1]),
        "replicas agree"
    );
    println!("all three replicas agree.");
}
