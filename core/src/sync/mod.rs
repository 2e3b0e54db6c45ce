//! The replication protocol as a sans-I/O state machine.
//!
//! A [`SyncEngine`] owns a [`PresenceState`] and decides what to send and when; it never touches
//! a socket, a clock or a random number generator. Its driver (the tokio actor of
//! `beryl-native`, a wasm host, or a test simulator) feeds it events and carries out what it
//! asks:
//!
//! - local operations: [`track`](SyncEngine::track), [`update`](SyncEngine::update),
//!   [`untrack`](SyncEngine::untrack), [`untrack_all`](SyncEngine::untrack_all);
//! - [`receive`](SyncEngine::receive) for every message that arrives from a peer;
//! - [`tick`](SyncEngine::tick) when [`next_timeout`](SyncEngine::next_timeout) is reached;
//! - [`stop`](SyncEngine::stop) to leave gracefully.
//!
//! After each call, the driver drains [`poll_transmit`](SyncEngine::poll_transmit) (messages to
//! broadcast or to send to one replica) and [`poll_event`](SyncEngine::poll_event) (diffs and
//! liveness verdicts, in order). Time is a number of milliseconds chosen by the driver, so a
//! simulator can run hours of protocol in milliseconds and replay any seed.
//!
//! # The protocol
//!
//! - Each broadcast interval, a node broadcasts one [`Message::Delta`] with every local change
//!   since its previous broadcast. With nothing to send, it broadcasts a [`Message::Heartbeat`]
//!   carrying its digest (every [`SyncConfig::heartbeat_every`] idle intervals).
//! - A node's own dots are always `1..=n`. A change that removes entries (untrack, or the old
//!   entry of an update) also carries a fresh, empty *seal* dot (see
//!   [`PresenceState::untrack`]). A removed entry's dot may later reach a peer that never saw it
//!   added, but a seal is never removed, so it only ever reaches a peer together with the
//!   removals it seals: a peer that has every dot of a node up to its highest has applied all
//!   of its changes, and a peer that missed a delta sees a gap. Any message tells the receiver
//!   the sender's highest dot; a receiver that lacks some sends that
//!   peer a [`Message::StateRequest`] with what it has of it.
//! - The peer answers with a [`Message::StateReply`]: the deltas the requester missed, if they
//!   are still in its recent log ([`SyncConfig::catch_up_limit`]), else a repair of its own
//!   entries that also removes any entry the requester still holds and the owner has dropped.
//!   A node only ever sends its own entries, and takes from a peer's message only that peer's
//!   own: liveness verdicts stay local, a replica another node removed cannot come back
//!   through a third node, and no node can add or remove entries in another's name.
//! - A node heard for the first time is asked for its state at once, and the request carries the
//!   requester's own highest dot, so the peer asks back: both sides exchange their entries.
//! - Requests and replies to one peer are spaced by [`SyncConfig::repair_backoff_ms`]; a request
//!   that arrives too soon is answered when the backoff allows, so lossy networks cause no
//!   storms and lose no answers.
//! - A peer silent for the down period is marked down (its entries leave); heard again, up (they
//!   join). Silent for the permanent-down period, or after its [`Message::Goodbye`], it is
//!   removed and forgotten. A newer incarnation of a known name supersedes the old one as soon
//!   as it is heard; messages of older incarnations are ignored.

mod catch_up;
mod config;
mod output;
mod peers;

use std::collections::VecDeque;

pub use config::{SyncConfig, SyncConfigError};
pub use output::{Destination, Event, Transmit};

use crate::context::{CausalContext, DotRanges};
use crate::diff::Diff;
use crate::dot::Ref;
use crate::error::{TrackError, UpdateError};
use crate::liveness::ReplicaStatus;
use crate::message::Message;
use crate::meta::Meta;
use crate::presence::{Change, Delta, PresenceState, Tracked};
use crate::replica::ReplicaId;
use catch_up::SentLog;
use peers::{Peers, allowed};

/// The replication protocol engine of one replica. See the [module documentation](self).
#[derive(Debug)]
pub struct SyncEngine {
    state: PresenceState,
    config: SyncConfig,
    peers: Peers,
    /// Local changes not broadcast yet, joined into one delta.
    pending: Delta,
    log: SentLog,
    next_broadcast: u64,
    idle_intervals: u32,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// Peers removed for good, with when: forgotten after `forget_removed_after_ms`.
    removed: VecDeque<(ReplicaId, u64)>,
    stopped: bool,
}

/// What the engine knows of one peer, for inspection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's incarnation.
    pub replica: ReplicaId,
    /// Whether it is marked down.
    pub down: bool,
    /// When it was last heard.
    pub last_heard: u64,
}

impl SyncEngine {
    /// An engine for a new, empty replica. It announces itself with a heartbeat right away.
    pub fn new(replica: ReplicaId, config: SyncConfig, now: u64) -> Result<Self, SyncConfigError> {
        Self::with_state(PresenceState::new(replica), config, now)
    }

    /// An engine around an existing state (for example one built with custom
    /// [`Limits`](crate::Limits)). Entries the state already holds reach peers through the
    /// state exchange that starts when they meet.
    pub fn with_state(
        state: PresenceState,
        config: SyncConfig,
        now: u64,
    ) -> Result<Self, SyncConfigError> {
        config.validate()?;
        let mut engine = SyncEngine {
            log: SentLog::new(config.catch_up_limit, state.local_counter()),
            next_broadcast: now.saturating_add(config.broadcast_interval_ms),
            state,
            config,
            peers: Peers::default(),
            pending: Delta::default(),
            idle_intervals: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            removed: VecDeque::new(),
            stopped: false,
        };
        engine.broadcast(Message::Heartbeat {
            from: engine.state.replica().clone(),
            digest: engine.state.digest(),
        });
        Ok(engine)
    }

    /// This engine's replica.
    pub fn replica(&self) -> &ReplicaId {
        self.state.replica()
    }

    /// The presence state, for reads.
    pub fn state(&self) -> &PresenceState {
        &self.state
    }

    /// The settings in force.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The peers currently known (heard recently enough not to be purged), ordered by replica.
    pub fn peers(&mut self) -> Vec<PeerInfo> {
        let ids = self.peers.ids();
        ids.iter()
            .filter_map(|id| {
                self.peers.get_mut(id).map(|peer| PeerInfo {
                    replica: peer.id.clone(),
                    down: peer.down,
                    last_heard: peer.last_heard,
                })
            })
            .collect()
    }

    /// Whether `replica` is a peer this engine currently keeps (heard, not removed, not
    /// superseded).
    pub fn is_peer(&self, replica: &ReplicaId) -> bool {
        self.peers.contains(replica)
    }

    /// How many peers are known. Bounded by the number of node names alive or recently silent,
    /// however many times they restarted.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// When [`tick`](Self::tick) must be called next, or `None` once stopped.
    pub fn next_timeout(&self) -> Option<u64> {
        (!self.stopped).then_some(self.next_broadcast)
    }

    /// The next message to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event to report, if any. Events come in the order they happened.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ---------------------------------------------------------------------------------------
    // Local operations
    // ---------------------------------------------------------------------------------------

    /// Tracks a local presence (see [`PresenceState::track`]). Its diff is reported as an
    /// [`Event::Diff`]; the change goes out with the next broadcast.
    pub fn track(
        &mut self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: &Meta,
    ) -> Result<Ref, TrackError> {
        let tracked = self.state.track(topic, key, pid, meta)?;
        Ok(self.local_tracked(tracked))
    }

    /// Replaces the meta of a local presence (see [`PresenceState::update`]).
    pub fn update(
        &mut self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: &Meta,
    ) -> Result<Ref, UpdateError> {
        let tracked = self.state.update(topic, key, pid, meta)?;
        Ok(self.local_tracked(tracked))
    }

    fn local_tracked(&mut self, tracked: Tracked) -> Ref {
        let phx_ref = tracked.phx_ref();
        let Change { delta, diff } = tracked.into_change();
        self.local_change(delta, diff);
        phx_ref
    }

    /// Stops tracking a local presence. Returns how many presences left (0 when this replica
    /// did not track it: untracking is idempotent).
    pub fn untrack(&mut self, topic: &str, key: &str, pid: &str) -> usize {
        let change = self.state.untrack(topic, key, pid);
        self.local_removal(change)
    }

    /// Stops tracking every local presence of `pid`. Returns how many left.
    pub fn untrack_all(&mut self, pid: &str) -> usize {
        let change = self.state.untrack_all(pid);
        self.local_removal(change)
    }

    fn local_removal(&mut self, change: Change) -> usize {
        let removed = change.diff.leaves().count();
        if removed > 0 {
            self.local_change(change.delta, change.diff);
        }
        removed
    }

    fn local_change(&mut self, delta: Delta, diff: Diff) {
        if self.config.report_applied {
            self.events.push_back(Event::Applied(delta.clone()));
        }
        self.pending = std::mem::take(&mut self.pending).merged(delta);
        self.report(diff);
    }

    /// Leaves gracefully: broadcasts a goodbye, after which peers remove this replica's entries
    /// at once. The engine then ignores ticks and messages.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.broadcast(Message::Goodbye {
            from: self.state.replica().clone(),
        });
        self.stopped = true;
    }

    // ---------------------------------------------------------------------------------------
    // Time
    // ---------------------------------------------------------------------------------------

    /// Advances the engine's clock to `now`: liveness verdicts, deferred requests and replies,
    /// and the broadcast when its interval is due.
    ///
    /// `now` must not go backwards (use a monotonic clock): after a time far ahead, broadcasts
    /// and down verdicts wait until the clock gets there again.
    pub fn tick(&mut self, now: u64) {
        if self.stopped {
            return;
        }
        self.check_liveness(now);
        self.send_deferred(now);
        if now >= self.next_broadcast {
            self.broadcast_changes();
            self.next_broadcast = self
                .next_broadcast
                .saturating_add(self.config.broadcast_interval_ms);
            if self.next_broadcast <= now {
                self.next_broadcast = now.saturating_add(self.config.broadcast_interval_ms);
            }
        }
    }

    fn broadcast_changes(&mut self) {
        if self.pending.context().is_empty() {
            self.idle_intervals += 1;
            if self.idle_intervals >= self.config.heartbeat_every {
                self.idle_intervals = 0;
                self.broadcast(Message::Heartbeat {
                    from: self.state.replica().clone(),
                    digest: self.state.digest(),
                });
            }
            return;
        }
        self.idle_intervals = 0;
        let delta = std::mem::take(&mut self.pending);
        let dots = delta
            .context()
            .ranges(self.state.replica())
            .map_or(0, DotRanges::len);
        self.log
            .push(self.state.local_counter(), dots, delta.clone());
        self.broadcast(Message::Delta {
            from: self.state.replica().clone(),
            delta,
        });
    }

    fn check_liveness(&mut self, now: u64) {
        let mut downs = Vec::new();
        let mut purges = Vec::new();
        for peer in self.peers.iter_mut() {
            let silent = now.saturating_sub(peer.last_heard);
            if silent >= self.config.permanent_down_period_ms {
                purges.push(peer.id.clone());
            } else if !peer.down && silent >= self.config.down_period_ms {
                peer.down = true;
                downs.push(peer.id.clone());
            }
        }
        // Peers live in a hash map: sort so that a replayed run reports in the same order.
        crate::sort::sort_unstable_by(&mut downs, Ord::cmp);
        crate::sort::sort_unstable_by(&mut purges, Ord::cmp);
        for id in downs {
            if let Ok(diff) = self.state.replica_down(&id) {
                self.report(diff);
            }
            self.events.push_back(Event::Liveness {
                replica: id,
                status: ReplicaStatus::Down,
            });
        }
        for id in purges {
            self.retire(now, &id);
        }
        let retention = self.config.forget_removed_after_ms;
        while let Some((id, _)) = self
            .removed
            .front()
            .filter(|(_, at)| now.saturating_sub(*at) >= retention)
        {
            let id = id.clone();
            self.state.forget_replica(&id);
            self.removed.pop_front();
        }
    }

    fn send_deferred(&mut self, now: u64) {
        let backoff = self.config.repair_backoff_ms;
        for id in self.peers.ids() {
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            if peer.owed_reply.is_some() && allowed(peer.last_reply, now, backoff) {
                let digest = peer.owed_reply.take().unwrap_or_default();
                peer.last_reply = Some(now);
                self.reply(&id, &digest);
            }
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            if peer.request_wanted && allowed(peer.last_request, now, backoff) {
                peer.request_wanted = false;
                if self.behind(&id) {
                    self.request(now, &id);
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Messages
    // ---------------------------------------------------------------------------------------

    /// Handles a message from a peer. Messages from this node's own name, for another replica,
    /// from an older incarnation than one already heard, or from a removed replica are ignored.
    /// [`Message::Liveness`] is meant for client replicas and ignored here: verdicts are local.
    pub fn receive(&mut self, now: u64, message: Message) {
        if self.stopped {
            return;
        }
        let from = message.from().clone();
        if from.same_name(self.state.replica())
            || message.to().is_some_and(|to| to != self.state.replica())
        {
            return;
        }
        match message {
            Message::Goodbye { .. } => self.goodbye(now, &from),
            Message::Liveness { .. } => {}
            Message::Delta { delta, .. } | Message::StateReply { delta, .. } => {
                if self.hear(now, &from) {
                    let delta = own_part(delta, &from);
                    let advertised = highest_of(delta.context(), &from);
                    self.apply(delta);
                    self.after_hearing(now, &from, advertised);
                }
            }
            Message::Heartbeat { digest, .. } => {
                if self.hear(now, &from) {
                    self.after_hearing(now, &from, highest_of(&digest, &from));
                }
            }
            Message::StateRequest { digest, .. } => {
                if self.hear(now, &from) {
                    self.answer(now, &from, digest.clone());
                    self.after_hearing(now, &from, highest_of(&digest, &from));
                }
            }
        }
    }

    /// Registers that `from` was heard: supersedes an older incarnation, marks a down peer up.
    /// Returns false when the message must be ignored (stale or removed sender).
    fn hear(&mut self, now: u64, from: &ReplicaId) -> bool {
        let known = self
            .state
            .record(from.name())
            .map(|record| (record.current.clone(), record.status));
        let mut was_down = false;
        match known {
            Some((current, _)) if from.incarnation() < current.incarnation() => return false,
            Some((current, ReplicaStatus::Removed)) if current == *from => return false,
            Some((current, status)) if current == *from => {
                was_down = status == ReplicaStatus::Down;
            }
            Some((current, _)) => self.retire(now, &current),
            None => {}
        }
        let (peer, _) = self.peers.entry(from, now);
        peer.last_heard = now;
        if std::mem::take(&mut peer.down) || was_down {
            if let Ok(diff) = self.state.replica_up(from) {
                self.report(diff);
            }
            self.events.push_back(Event::Liveness {
                replica: from.clone(),
                status: ReplicaStatus::Up,
            });
        }
        true
    }

    fn after_hearing(&mut self, now: u64, from: &ReplicaId, advertised: u64) {
        let Some(peer) = self.peers.get_mut(from) else {
            return;
        };
        peer.advertised = peer.advertised.max(advertised);
        if self.behind(from) {
            self.want_request(now, from);
        }
    }

    fn goodbye(&mut self, now: u64, from: &ReplicaId) {
        let known = self
            .state
            .record(from.name())
            .map(|record| (record.current.clone(), record.status));
        match known {
            Some((current, _)) if from.incarnation() < current.incarnation() => {}
            Some((current, ReplicaStatus::Removed)) if current == *from => {}
            Some((current, _)) if current != *from => {
                self.retire(now, &current);
                self.retire(now, from);
            }
            _ => self.retire(now, from),
        }
    }

    /// Removes `id` for good, in the state and in the peer table; its record is forgotten
    /// after the retention period.
    fn retire(&mut self, now: u64, id: &ReplicaId) {
        self.peers.remove(id);
        // Times only grow, so the queue stays in order of removal.
        self.removed.push_back((id.clone(), now));
        if let Ok(diff) = self.state.remove_replica(id) {
            self.report(diff);
        }
        self.events.push_back(Event::Liveness {
            replica: id.clone(),
            status: ReplicaStatus::Removed,
        });
    }

    fn apply(&mut self, delta: Delta) {
        if self.config.report_applied {
            self.events.push_back(Event::Applied(delta.clone()));
        }
        let diff = self.state.merge(delta);
        self.report(diff);
    }

    /// Whether this node lacks some of the dots `peer` has announced. A node's own dots are
    /// contiguous, so having them all means a compacted base at least as high.
    fn behind(&mut self, peer: &ReplicaId) -> bool {
        let have = self.state.context().ranges(peer).map_or(0, DotRanges::base);
        self.peers
            .get_mut(peer)
            .is_some_and(|record| record.advertised > have)
    }

    fn want_request(&mut self, now: u64, peer_id: &ReplicaId) {
        let backoff = self.config.repair_backoff_ms;
        let Some(peer) = self.peers.get_mut(peer_id) else {
            return;
        };
        if allowed(peer.last_request, now, backoff) {
            self.request(now, peer_id);
        } else {
            peer.request_wanted = true;
        }
    }

    /// Asks `peer_id` for what this node lacks of it. The digest names what this node has of
    /// the peer, and this node's own highest dot, so a peer meeting it for the first time asks
    /// back.
    fn request(&mut self, now: u64, peer_id: &ReplicaId) {
        if let Some(peer) = self.peers.get_mut(peer_id) {
            peer.last_request = Some(now);
            peer.request_wanted = false;
        }
        let own = self.state.replica().clone();
        let mut digest = CausalContext::new();
        for replica in [peer_id, &own] {
            if let Some(ranges) = self.state.context().ranges(replica) {
                digest.insert_ranges(replica, ranges);
            }
        }
        self.transmits.push_back(Transmit {
            destination: Destination::Replica(peer_id.clone()),
            message: Message::StateRequest {
                from: own,
                to: peer_id.clone(),
                digest,
            },
        });
    }

    fn answer(&mut self, now: u64, from: &ReplicaId, digest: CausalContext) {
        let backoff = self.config.repair_backoff_ms;
        let Some(peer) = self.peers.get_mut(from) else {
            return;
        };
        if allowed(peer.last_reply, now, backoff) {
            peer.last_reply = Some(now);
            self.reply(from, &digest);
        } else {
            peer.owed_reply = Some(digest);
        }
    }

    /// Sends `to` what it lacks of this node's entries, judging by its `digest`: the missed
    /// deltas if the log still has them, else a full repair. Nothing when it lacks nothing.
    fn reply(&mut self, to: &ReplicaId, digest: &CausalContext) {
        let own = self.state.replica().clone();
        let seen = digest.ranges(&own).cloned().unwrap_or_default();
        let delta = self.log.since(seen.base()).unwrap_or_else(|| {
            let repair = self.state.repair_since(&own, &seen);
            let ranges = repair
                .context()
                .ranges(&own)
                .map_or(0, |ranges| ranges.cloud().len());
            if ranges > self.config.repair_range_limit {
                self.state.repair_since(&own, &DotRanges::new())
            } else {
                repair
            }
        });
        if delta.context().is_empty() {
            return;
        }
        self.transmits.push_back(Transmit {
            destination: Destination::Replica(to.clone()),
            message: Message::StateReply {
                from: own,
                to: to.clone(),
                delta,
            },
        });
    }

    fn broadcast(&mut self, message: Message) {
        self.transmits.push_back(Transmit {
            destination: Destination::Broadcast,
            message,
        });
    }

    fn report(&mut self, diff: Diff) {
        if !diff.is_empty() {
            self.events.push_back(Event::Diff(diff));
        }
    }
}

/// The part of a peer's delta that is about the peer itself. Nodes only send their own entries,
/// so anything else in there is stale or forged: dropping it keeps one peer from adding,
/// hiding or superseding another's entries, and from registering names nobody watches.
fn own_part(delta: Delta, from: &ReplicaId) -> Delta {
    let (mut store, mut context) = delta.into_parts();
    store.retain_replicas(|replica| replica == from);
    context.retain(|replica| replica == from);
    Delta::from_parts(store, context)
}

/// The highest dot of `replica` that `context` mentions.
fn highest_of(context: &CausalContext, replica: &ReplicaId) -> u64 {
    context.ranges(replica).map_or(0, DotRanges::max)
}
