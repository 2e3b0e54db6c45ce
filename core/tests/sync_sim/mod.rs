//! A deterministic simulator for the sync engine: N engines, a virtual clock, and a network
//! that can drop, delay, duplicate, reorder and partition messages. Everything random comes
//! from one seed, so a failing seed replays exactly.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use beryl_core::sync::{Destination, Event, SyncConfig, SyncEngine, Transmit};
use beryl_core::{Diff, Message, Meta, ReplicaId, ReplicaStatus};

/// SplitMix64: small, fast, and good enough to drive a simulation.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What the network does to messages.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Percent of messages lost.
    pub drop_percent: u64,
    /// Percent of messages delivered twice.
    pub duplicate_percent: u64,
    /// Extra delay, uniform in `0..=jitter_ms`, on top of the base latency: reorders messages.
    pub jitter_ms: u64,
}

/// A visible presence, as comparable data.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen {
    pub topic: String,
    pub key: String,
    pub pid: String,
    pub meta: String,
    pub phx_ref: String,
}

impl Seen {
    fn of(presence: &beryl_core::Presence) -> Self {
        Seen {
            topic: presence.topic().to_owned(),
            key: presence.key().to_owned(),
            pid: presence.pid().to_owned(),
            meta: presence.meta().to_owned(),
            phx_ref: presence.phx_ref().to_string(),
        }
    }
}

/// One simulated node.
pub struct Node {
    pub name: String,
    pub engine: SyncEngine,
    pub alive: bool,
    /// Every event the engine reported, in order.
    pub events: Vec<Event>,
    /// The visible presences as rebuilt from the diffs alone, by `phx_ref`.
    pub from_diffs: BTreeMap<String, Seen>,
    /// A join for a ref already visible, or a leave of a ref not visible, seen in a diff.
    pub diff_errors: Vec<String>,
}

impl Node {
    pub fn replica(&self) -> &ReplicaId {
        self.engine.replica()
    }

    /// Every presence visible on this node.
    pub fn visible(&self) -> BTreeSet<Seen> {
        let state = self.engine.state();
        state
            .topics()
            .iter()
            .flat_map(|topic| state.list(topic))
            .flat_map(|group| group.into_presences())
            .map(|presence| Seen::of(&presence))
            .collect()
    }

    /// The presences this node owns.
    pub fn own(&self) -> BTreeSet<Seen> {
        let state = self.engine.state();
        state
            .topics()
            .iter()
            .flat_map(|topic| state.list(topic))
            .flat_map(|group| group.into_presences())
            .filter(|presence| presence.replica() == self.engine.replica())
            .map(|presence| Seen::of(&presence))
            .collect()
    }

    fn record(&mut self, event: Event) {
        if let Event::Diff(diff) = &event {
            apply_diff(&mut self.from_diffs, &mut self.diff_errors, diff);
        }
        self.events.push(event);
    }

    /// The liveness verdicts this node reported about peers named `name`.
    pub fn verdicts_about(&self, name: &str) -> Vec<(ReplicaId, ReplicaStatus)> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::Liveness { replica, status } if replica.name() == name => {
                    Some((replica.clone(), *status))
                }
                _ => None,
            })
            .collect()
    }
}

fn apply_diff(model: &mut BTreeMap<String, Seen>, errors: &mut Vec<String>, diff: &Diff) {
    // Phoenix clients apply joins first, then leaves; a well-formed diff never needs more.
    for presence in diff.joins() {
        let seen = Seen::of(presence);
        if model.insert(seen.phx_ref.clone(), seen).is_some() {
            errors.push(format!("join of a visible ref {}", presence.phx_ref()));
        }
    }
    for presence in diff.leaves() {
        if model.remove(presence.phx_ref().as_str()).is_none() {
            errors.push(format!("leave of an invisible ref {}", presence.phx_ref()));
        }
    }
}

/// Counts of what was put on the network.
#[derive(Clone, Debug, Default)]
pub struct Traffic {
    pub deltas: u64,
    pub heartbeats: u64,
    pub requests: u64,
    pub replies: u64,
    pub goodbyes: u64,
    /// Entries carried by deltas and replies.
    pub entries: u64,
}

pub struct Sim {
    pub now: u64,
    pub rng: Rng,
    pub config: SyncConfig,
    pub nodes: Vec<Node>,
    /// Messages in flight, by delivery time then sending order.
    in_flight: BTreeMap<(u64, u64), (usize, Message)>,
    seq: u64,
    pub faults: Faults,
    /// Base latency of every message.
    pub latency_ms: u64,
    /// Pairs of node indexes that cannot talk, in either direction.
    pub partitions: BTreeSet<(usize, usize)>,
    /// Messages to drop on purpose: (from node, to node, kind) while the count is positive.
    pub targeted_drops: Vec<(usize, usize, &'static str, u32)>,
    /// What each node sent, by node index.
    pub traffic: Vec<Traffic>,
    next_incarnation: u64,
}

pub fn kind(message: &Message) -> &'static str {
    match message {
        Message::Delta { .. } => "delta",
        Message::Heartbeat { .. } => "heartbeat",
        Message::StateRequest { .. } => "request",
        Message::StateReply { .. } => "reply",
        Message::Goodbye { .. } => "goodbye",
        Message::Liveness { .. } => "liveness",
    }
}

/// Short periods so that minutes of protocol take few steps.
pub fn fast_config() -> SyncConfig {
    SyncConfig {
        broadcast_interval_ms: 100,
        heartbeat_every: 1,
        down_period_ms: 1_000,
        permanent_down_period_ms: 20_000,
        forget_removed_after_ms: 20_000,
        repair_backoff_ms: 200,
        catch_up_limit: 256,
        repair_range_limit: 10_000,
        report_applied: false,
    }
}

impl Sim {
    pub fn new(seed: u64, names: &[&str], config: SyncConfig) -> Self {
        let mut sim = Sim {
            now: 1_000,
            rng: Rng::new(seed),
            config,
            nodes: Vec::new(),
            in_flight: BTreeMap::new(),
            seq: 0,
            faults: Faults::default(),
            latency_ms: 5,
            partitions: BTreeSet::new(),
            targeted_drops: Vec::new(),
            traffic: Vec::new(),
            next_incarnation: 1,
        };
        for name in names {
            sim.add_node(name);
        }
        sim
    }

    /// Starts a node (a new incarnation if the name was used before); returns its index.
    pub fn add_node(&mut self, name: &str) -> usize {
        let incarnation = self.next_incarnation;
        self.next_incarnation += 1;
        let engine = SyncEngine::new(
            ReplicaId::new(name, incarnation),
            self.config.clone(),
            self.now,
        )
        .expect("valid config");
        let node = Node {
            name: name.to_owned(),
            engine,
            alive: true,
            events: Vec::new(),
            from_diffs: BTreeMap::new(),
            diff_errors: Vec::new(),
        };
        let index = match self.nodes.iter().position(|n| n.name == name) {
            Some(index) => {
                self.nodes[index] = node;
                index
            }
            None => {
                self.nodes.push(node);
                self.traffic.push(Traffic::default());
                self.nodes.len() - 1
            }
        };
        self.flush(index);
        index
    }

    pub fn index(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|node| node.name == name)
            .expect("known node")
    }

    pub fn node(&self, name: &str) -> &Node {
        &self.nodes[self.index(name)]
    }

    pub fn engine(&mut self, name: &str) -> &mut SyncEngine {
        let index = self.index(name);
        &mut self.nodes[index].engine
    }

    /// Runs a closure on a node's engine, then sends what it produced.
    pub fn with<R>(&mut self, name: &str, op: impl FnOnce(&mut SyncEngine) -> R) -> R {
        let index = self.index(name);
        let result = op(&mut self.nodes[index].engine);
        self.flush(index);
        result
    }

    pub fn track(&mut self, name: &str, topic: &str, key: &str, pid: &str) {
        self.with(name, |engine| {
            engine
                .track(topic, key, pid, &Meta::empty())
                .expect("track");
        });
    }

    /// The node stops without a goodbye: nothing it had in flight is lost, but it says nothing
    /// more and hears nothing more.
    pub fn crash(&mut self, name: &str) {
        let index = self.index(name);
        self.nodes[index].alive = false;
    }

    /// The node leaves gracefully.
    pub fn stop(&mut self, name: &str) {
        self.with(name, SyncEngine::stop);
        let index = self.index(name);
        self.nodes[index].alive = false;
    }

    pub fn partition(&mut self, a: &str, b: &str) {
        let (a, b) = (self.index(a), self.index(b));
        self.partitions.insert((a.min(b), a.max(b)));
    }

    pub fn heal(&mut self) {
        self.partitions.clear();
    }

    /// Drains the node's outputs: events are recorded, messages put on the network.
    fn flush(&mut self, index: usize) {
        while let Some(event) = self.nodes[index].engine.poll_event() {
            self.nodes[index].record(event);
        }
        while let Some(transmit) = self.nodes[index].engine.poll_transmit() {
            self.route(index, transmit);
        }
    }

    fn route(&mut self, from: usize, transmit: Transmit) {
        let traffic = &mut self.traffic[from];
        match &transmit.message {
            Message::Delta { delta, .. } | Message::StateReply { delta, .. } => {
                traffic.entries += delta.store().len() as u64;
            }
            _ => {}
        }
        match kind(&transmit.message) {
            "delta" => traffic.deltas += 1,
            "heartbeat" => traffic.heartbeats += 1,
            "request" => traffic.requests += 1,
            "reply" => traffic.replies += 1,
            "goodbye" => traffic.goodbyes += 1,
            _ => {}
        }
        match transmit.destination {
            Destination::Broadcast => {
                for to in 0..self.nodes.len() {
                    if to != from {
                        self.send(from, to, transmit.message.clone());
                    }
                }
            }
            Destination::Replica(replica) => {
                // A direct message to a replica that no longer runs is lost.
                if let Some(to) = self
                    .nodes
                    .iter()
                    .position(|node| node.alive && *node.replica() == replica)
                {
                    self.send(from, to, transmit.message);
                }
            }
        }
    }

    fn send(&mut self, from: usize, to: usize, message: Message) {
        if self.partitions.contains(&(from.min(to), from.max(to))) {
            return;
        }
        let message_kind = kind(&message);
        if let Some(rule) = self
            .targeted_drops
            .iter_mut()
            .find(|rule| rule.0 == from && rule.1 == to && rule.2 == message_kind && rule.3 > 0)
        {
            rule.3 -= 1;
            return;
        }
        if self.faults.drop_percent > 0 && self.rng.percent(self.faults.drop_percent) {
            return;
        }
        let copies = if self.faults.duplicate_percent > 0
            && self.rng.percent(self.faults.duplicate_percent)
        {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = if self.faults.jitter_ms > 0 {
                self.rng.below(self.faults.jitter_ms + 1)
            } else {
                0
            };
            let at = self.now + self.latency_ms + jitter;
            self.seq += 1;
            self.in_flight.insert((at, self.seq), (to, message.clone()));
        }
    }

    /// Advances the clock by `ms`, one millisecond step at a time where something is due.
    pub fn run_for(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            let next_message = self.in_flight.keys().next().map(|&(at, _)| at);
            let next_tick = self
                .nodes
                .iter()
                .filter(|node| node.alive)
                .filter_map(|node| node.engine.next_timeout())
                .min();
            let next = [next_message, next_tick, Some(end)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(end)
                .max(self.now);
            self.now = next;
            self.deliver_due();
            for index in 0..self.nodes.len() {
                let node = &mut self.nodes[index];
                if node.alive && node.engine.next_timeout().is_some_and(|at| at <= self.now) {
                    node.engine.tick(self.now);
                    self.flush(index);
                }
            }
            if self.now == end {
                break;
            }
        }
    }

    fn deliver_due(&mut self) {
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let (to, message) = entry.remove();
            if self.nodes[to].alive {
                self.nodes[to].engine.receive(self.now, message);
                self.flush(to);
            }
        }
    }

    /// What every live node should see: the union of the live nodes' own presences.
    pub fn expected(&self) -> BTreeSet<Seen> {
        self.nodes
            .iter()
            .filter(|node| node.alive)
            .flat_map(Node::own)
            .collect()
    }

    /// Whether every live node sees exactly the expected presences.
    pub fn converged(&self) -> bool {
        let expected = self.expected();
        self.nodes
            .iter()
            .filter(|node| node.alive)
            .all(|node| node.visible() == expected)
    }

    /// Runs interval by interval until converged; returns how many intervals it took, or
    /// `None` if it did not converge within `max_intervals`.
    pub fn intervals_to_converge(&mut self, max_intervals: u64) -> Option<u64> {
        for interval in 0..=max_intervals {
            if self.converged() {
                return Some(interval);
            }
            self.run_for(self.config.broadcast_interval_ms);
        }
        None
    }

    /// A description of how the live nodes differ from the expected presences.
    pub fn divergence(&self) -> String {
        let expected = self.expected();
        let mut out = String::new();
        for node in self.nodes.iter().filter(|node| node.alive) {
            let visible = node.visible();
            let lost: Vec<_> = expected.difference(&visible).collect();
            let ghosts: Vec<_> = visible.difference(&expected).collect();
            if !lost.is_empty() || !ghosts.is_empty() {
                out.push_str(&format!(
                    "{}: lost {:?}\n  ghosts {:?}\n",
                    node.name, lost, ghosts
                ));
            }
        }
        out
    }

    /// One random local operation on a random live node.
    pub fn random_op(&mut self) {
        let alive: Vec<usize> = (0..self.nodes.len())
            .filter(|&index| self.nodes[index].alive)
            .collect();
        if alive.is_empty() {
            return;
        }
        let index = alive[self.rng.below(alive.len() as u64) as usize];
        let own: Vec<Seen> = self.nodes[index].own().into_iter().collect();
        let choice = self.rng.below(10);
        let engine = &mut self.nodes[index].engine;
        if own.is_empty() || choice < 5 {
            let topic = format!("room-{}", self.rng.below(3));
            let key = format!("user-{}", self.rng.below(6));
            let pid = format!("pid-{}", self.rng.below(12));
            let meta = Meta::from_json(&format!("{{\"n\":{}}}", self.rng.below(1000))).unwrap();
            // Refused when the triple is already tracked here: that is fine.
            let _ = engine.track(&topic, &key, &pid, &meta);
        } else {
            let target = &own[self.rng.below(own.len() as u64) as usize];
            match choice {
                5..=6 => {
                    let meta =
                        Meta::from_json(&format!("{{\"n\":{}}}", self.rng.below(1000))).unwrap();
                    engine
                        .update(&target.topic, &target.key, &target.pid, &meta)
                        .expect("update of an own presence");
                }
                7..=8 => {
                    assert_eq!(engine.untrack(&target.topic, &target.key, &target.pid), 1);
                }
                _ => {
                    assert!(engine.untrack_all(&target.pid) >= 1);
                }
            }
        }
        self.flush(index);
    }

    /// Checks, for every live node, that replaying its diffs gives what it shows, and that no
    /// diff joined a visible ref or left an invisible one.
    pub fn assert_diffs_consistent(&self) {
        for node in self.nodes.iter().filter(|node| node.alive) {
            assert!(
                node.diff_errors.is_empty(),
                "{}: {:?}",
                node.name,
                node.diff_errors
            );
            let from_diffs: BTreeSet<Seen> = node.from_diffs.values().cloned().collect();
            assert_eq!(
                from_diffs,
                node.visible(),
                "{}: the diffs reported do not add up to what it shows",
                node.name
            );
        }
    }
}
