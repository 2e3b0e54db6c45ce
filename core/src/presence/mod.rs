//! The presence state: who is connected to which topic, with what meta.

mod dot_index;
mod entry;
mod projection;
mod repair;
mod store;

use std::sync::Arc;

use hashbrown::HashMap;
use smallvec::SmallVec;

pub use entry::{Entry, Presence};
use store::IndexedStore;

use crate::aworset::{AWORSet, DotMap, DotStore};
use crate::context::{CausalContext, DotRanges};
use crate::diff::{Diff, DiffBuilder};
use crate::dot::{Dot, Ref};
use crate::error::{TrackError, UpdateError};
use crate::limits::Limits;
use crate::liveness::{NameRecord, ReplicaStatus};
use crate::meta::Meta;
use crate::replica::ReplicaId;

/// A delta of presence state: the entries and causal context a change produced, or what a peer
/// is missing. It is itself a (small) presence set, so deltas join like states.
pub type Delta = crate::aworset::Delta<Entry>;

/// The outcome of a local change: the delta to send to peers and the diff to report.
#[derive(Clone, Debug, Default)]
pub struct Change {
    /// What to send to peers.
    pub delta: Delta,
    /// What became visible or invisible.
    pub diff: Diff,
}

/// The outcome of `track` or `update`: the new presence and, for an update, the one it replaced.
///
/// The delta to send and the diff to report follow from those two, so they are built when asked
/// for ([`delta`](Self::delta), [`diff`](Self::diff), [`into_change`](Self::into_change)): a caller
/// that only wants the ref, as Phoenix's `track` returns, pays for neither.
#[derive(Clone, Debug)]
pub struct Tracked {
    presence: Presence,
    /// For an update: the replaced presence, and the counter of the fresh, empty dot that seals
    /// its removal (see [`PresenceState::untrack`] for why removals carry one).
    replaced: Option<(Presence, u64)>,
}

impl Tracked {
    /// The `phx_ref` of the new entry.
    pub fn phx_ref(&self) -> Ref {
        self.presence.phx_ref()
    }

    /// The new presence.
    pub fn presence(&self) -> &Presence {
        &self.presence
    }

    /// For an update, the presence it replaced (it left); `None` for a track.
    pub fn replaced(&self) -> Option<&Presence> {
        self.replaced.as_ref().map(|(old, _)| old)
    }

    /// What to send to peers: the new entry under its dot, and for an update a context that also
    /// covers the replaced dot and the seal, so a receiver drops the old entry.
    pub fn delta(&self) -> Delta {
        let mut delta = Delta::single(self.presence.dot.clone(), self.presence.entry.clone());
        if let Some((old, seal)) = &self.replaced {
            let context = delta.context_mut();
            context.insert(&old.dot);
            context.insert(&Dot::new(old.dot.replica.clone(), *seal));
        }
        delta
    }

    /// What became visible or invisible: the new presence joined, the replaced one left.
    pub fn diff(&self) -> Diff {
        Self::diff_of(self.presence.clone(), self.replaced().cloned())
    }

    /// The delta and the diff, taking the presences rather than copying them.
    pub fn into_change(self) -> Change {
        let delta = self.delta();
        let diff = Self::diff_of(self.presence, self.replaced.map(|(old, _)| old));
        Change { delta, diff }
    }

    fn diff_of(presence: Presence, replaced: Option<Presence>) -> Diff {
        match replaced {
            None => Diff::single_join(presence),
            Some(old) => {
                let mut diff = Diff::new();
                diff.push_leave(old);
                diff.push_join(presence);
                diff
            }
        }
    }
}

/// The presences of one key in a topic: one per connection (pid), possibly on several replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPresences {
    presences: Vec<Presence>,
}

impl KeyPresences {
    /// The key.
    pub fn key(&self) -> &str {
        self.presences.first().map_or("", Presence::key)
    }

    /// The key's presences (its "metas"), ordered by dot.
    pub fn presences(&self) -> &[Presence] {
        &self.presences
    }

    /// Takes the presences.
    pub fn into_presences(self) -> Vec<Presence> {
        self.presences
    }
}

/// One replica's presence state: its own connections and everything merged from others.
///
/// Local changes (`track`, `update`, `untrack`, `untrack_all`) create dots of the local replica
/// and return a [`Change`]; remote state arrives through [`merge`](Self::merge). Only the local
/// replica's entries can be changed locally: entries of other replicas leave only when their
/// owner removes them or when the owner is declared gone (see the liveness functions).
pub struct PresenceState {
    local: ReplicaId,
    set: AWORSet<IndexedStore>,
    names: HashMap<Box<str>, NameRecord>,
    limits: Limits,
}

impl PresenceState {
    /// An empty state owned by the replica `local`, with default [`Limits`].
    pub fn new(local: ReplicaId) -> Self {
        Self::with_limits(local, Limits::default())
    }

    /// An empty state owned by `local`, enforcing `limits` on every entry it accepts.
    pub fn with_limits(local: ReplicaId, limits: Limits) -> Self {
        let mut names = HashMap::new();
        names.insert(
            local.name().into(),
            NameRecord {
                current: local.clone(),
                status: ReplicaStatus::Up,
            },
        );
        PresenceState {
            set: AWORSet::from_parts(IndexedStore::new(local.clone()), CausalContext::new()),
            local,
            names,
            limits,
        }
    }

    /// The local replica.
    pub fn replica(&self) -> &ReplicaId {
        &self.local
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn shared_topic(&self, topic: &str) -> Arc<str> {
        self.set
            .store()
            .shared_topic(topic)
            .unwrap_or_else(|| Arc::from(topic))
    }

    /// Tracks the connection `pid` of `key` in `topic` with `meta`, on the local replica.
    ///
    /// Refused with [`TrackError::AlreadyTracked`] when this replica already tracks the same
    /// (topic, key, pid); the same pid under another key or topic is a separate entry. The
    /// limits in force are checked here, on the way in.
    pub fn track(
        &mut self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: &Meta,
    ) -> Result<Tracked, TrackError> {
        // One lookup of the topic and key serves the duplicate check and the insertion.
        let store = self.set.store();
        let probe = store.probe(topic, key);
        let shared = store
            .probed_topic(&probe)
            .unwrap_or_else(|| Arc::from(topic));
        let entry = Entry::new(shared, key, pid, meta, None, &self.limits)?;
        if store.probed_local(&probe, key, pid).is_some() {
            return Err(TrackError::AlreadyTracked {
                topic: topic.into(),
                key: key.into(),
                pid: pid.into(),
            });
        }
        let counter = self.set.context_mut().insert_next(&self.local);
        let dot = Dot::new(self.local.clone(), counter);
        self.set.store_mut().insert_local(&probe, counter, &entry);
        Ok(Tracked {
            presence: Presence::new(dot, entry),
            replaced: None,
        })
    }

    /// Replaces the meta of a local entry, atomically: the old entry leaves and a new one, with a
    /// new ref that names the old one as its `phx_ref_prev`, joins. The meta is replaced, not
    /// merged field by field.
    pub fn update(
        &mut self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: &Meta,
    ) -> Result<Tracked, UpdateError> {
        let Some(old_counter) = self.set.store().find_local(topic, key, pid) else {
            return Err(UpdateError::NotTracked {
                topic: topic.into(),
                key: key.into(),
                pid: pid.into(),
            });
        };
        let entry = Entry::new(
            self.shared_topic(topic),
            key,
            pid,
            meta,
            Some(old_counter),
            &self.limits,
        )?;
        let old_dot = Dot::new(self.local.clone(), old_counter);
        let old_entry = self
            .set
            .store_mut()
            .remove_dot(&old_dot)
            .expect("find_local names a stored entry");
        let counter = self.set.context_mut().insert_next(&self.local);
        let new_dot = Dot::new(self.local.clone(), counter);
        self.set
            .store_mut()
            .insert_dot(new_dot.clone(), entry.clone());
        let seal = self.set.context_mut().insert_next(&self.local);
        Ok(Tracked {
            presence: Presence::new(new_dot, entry),
            replaced: Some((Presence::new(old_dot, old_entry), seal)),
        })
    }

    /// Stops tracking a local entry. Untracking an entry this replica does not hold is a no-op
    /// with an empty change (it may have been removed already, or belong to another replica).
    ///
    /// A removal creates no entry, but its delta carries a fresh, empty *seal* dot besides the
    /// removed one: a seal is never removed, so it reaches a peer only together with the removal
    /// it seals. A peer that missed the removal therefore lacks a dot the owner's context has,
    /// and [`delta_since`](Self::delta_since) repairs it; without the seal the peer's context
    /// would look complete while it still held the entry.
    pub fn untrack(&mut self, topic: &str, key: &str, pid: &str) -> Change {
        match self.set.store().find_local(topic, key, pid) {
            Some(counter) => self.remove_local(&[counter]),
            None => Change::default(),
        }
    }

    /// Stops tracking every local entry of `pid`, in every topic (for a disconnect). One seal
    /// dot covers them all (see [`untrack`](Self::untrack)).
    pub fn untrack_all(&mut self, pid: &str) -> Change {
        let counters = self.set.store().local_counters_of_pid(pid);
        self.remove_local(&counters)
    }

    fn remove_local(&mut self, counters: &[u64]) -> Change {
        let mut change = Change::default();
        for &counter in counters {
            let dot = Dot::new(self.local.clone(), counter);
            if let Some(entry) = self.set.store_mut().remove_dot(&dot) {
                change.delta.context_mut().insert(&dot);
                change.diff.push_leave(Presence::new(dot, entry));
            }
        }
        if !change.diff.is_empty() {
            let seal = self.set.context_mut().insert_next(&self.local);
            change
                .delta
                .context_mut()
                .insert(&Dot::new(self.local.clone(), seal));
        }
        change
    }

    /// The visible presences of `topic`, grouped by key (keys in order), each key's presences
    /// ordered by dot. Costs O(size of the result), plus the topic's hidden entries of replicas
    /// marked down (they are stored, and skipped).
    pub fn list(&self, topic: &str) -> Vec<KeyPresences> {
        self.set
            .store()
            .list_by_key(topic)
            .into_iter()
            .map(|presences| KeyPresences { presences })
            .collect()
    }

    /// The visible presences of `key` in `topic`, ordered by dot. Costs O(size of the result),
    /// plus the key's hidden entries of replicas marked down.
    pub fn get_by_key(&self, topic: &str, key: &str) -> Vec<Presence> {
        let mut presences = self.set.store().by_key(topic, key);
        // Reads sort with the standard sort, also in wasm: see `crate::sort`.
        presences.sort_unstable_by(|a, b| a.dot.cmp(&b.dot));
        presences
    }

    /// The presence stored under `dot`, visible or not.
    pub fn get(&self, dot: &Dot) -> Option<Presence> {
        self.set.store().get(dot)
    }

    /// Topics with at least one visible presence, in no particular order.
    pub fn topics(&self) -> Vec<Arc<str>> {
        self.set.store().topics()
    }

    /// How many presences are visible, in all topics.
    pub fn len(&self) -> usize {
        self.set.store().visible_len()
    }

    /// Whether no presence is visible.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many presences are visible in `topic`.
    pub fn topic_len(&self, topic: &str) -> usize {
        self.set.store().topic_len(topic)
    }

    /// How many entries are stored, including those of replicas that are down.
    pub fn stored_len(&self) -> usize {
        self.set.store().stored_len()
    }

    /// The causal context: every dot this replica has seen.
    pub fn context(&self) -> &CausalContext {
        self.set.context()
    }

    /// The highest counter the local replica has used.
    pub fn local_counter(&self) -> u64 {
        self.set
            .context()
            .ranges(&self.local)
            .map_or(0, DotRanges::max)
    }

    /// Merges a remote delta or full state. Returns what became visible or invisible.
    ///
    /// Costs O(size of `delta`). Sections of the delta that belong to this replica's own name,
    /// to an older incarnation than the one known, or to a permanently removed replica are
    /// ignored; a newer incarnation of a known name supersedes the old one, whose entries leave.
    /// Entries of a replica marked down are stored but stay hidden, so they report no join.
    pub fn merge(&mut self, delta: Delta) -> Diff {
        let mut diff = Diff::new();
        let (mut store, mut context) = delta.into_parts();

        // The newest incarnation mentioned per name; older ones in the same delta are stale.
        // Sorting by name, newest first, puts each name's newest at the head of its run.
        let mut newest: SmallVec<[&ReplicaId; 4]> = context
            .iter()
            .map(|(replica, _)| replica)
            .chain(store.by_replica().map(|(replica, _)| replica))
            .collect();
        crate::sort::sort_unstable_by(&mut newest, |a, b| {
            a.name()
                .cmp(b.name())
                .then(b.incarnation().cmp(&a.incarnation()))
        });
        newest.dedup_by(|later, first| later.same_name(first));
        let newest: SmallVec<[ReplicaId; 4]> = newest.into_iter().cloned().collect();
        // In name order, one per name: found by a binary search.
        let mut admitted: SmallVec<[(ReplicaId, bool); 4]> = SmallVec::new();
        for replica in newest {
            if let Some(shown) = self.admit(&replica, &mut diff) {
                admitted.push((replica, shown));
            }
        }
        let shown = |replica: &ReplicaId| {
            admitted
                .binary_search_by(|(known, _)| known.name().cmp(replica.name()))
                .ok()
                .filter(|&at| admitted[at].0 == *replica)
                .map(|at| admitted[at].1)
        };
        store.retain_replicas(|replica| shown(replica).is_some());
        context.retain(|replica| shown(replica).is_some());
        let incoming = store.len();

        // The join of the AWORSet, written against the indexed store so that each replica is
        // looked up once and each change goes to the diff with its topic's number.
        let (mine, seen) = self.set.parts_mut();
        if incoming > 64 {
            mine.reserve_remote(incoming);
        }
        let mut changes = DiffBuilder::extend(diff, incoming, mine.topic_numbers());
        // Removals first: "stored here, seen there, not stored there" was removed there.
        for (replica, ranges) in context.iter() {
            let Some(number) = mine.find_replica(replica) else {
                continue;
            };
            let held = mine.held(number);
            if held == 0 {
                continue;
            }
            let theirs = store.of_replica(replica);
            let kept_there =
                |counter: u64| theirs.is_some_and(|entries| entries.get(counter).is_some());
            let removed: Vec<u64> = if ranges.len() <= held as u64 {
                ranges
                    .counters()
                    .filter(|&counter| mine.holds(number, counter) && !kept_there(counter))
                    .collect()
            } else {
                mine.counters_at(number)
                    .into_iter()
                    .filter(|&counter| ranges.contains(counter) && !kept_there(counter))
                    .collect()
            };
            let visible = shown(replica) == Some(true);
            for counter in removed {
                if let Some((topic, presence)) = mine.remove_at(number, counter) {
                    if visible {
                        changes.push_leave(topic, presence);
                    }
                }
            }
        }
        // Additions: a dot neither stored nor seen here is new.
        for (replica, entries) in store.into_by_replica() {
            let visible = shown(&replica) == Some(true);
            let known = seen.ranges(&replica);
            let mut number = None;
            for (counter, entry) in entries {
                if known.is_some_and(|ranges| ranges.contains(counter)) {
                    continue;
                }
                let number = *number.get_or_insert_with(|| mine.replica_number(&replica));
                if mine.holds(number, counter) {
                    continue;
                }
                if let Some((topic, presence)) = mine.insert_at(number, counter, entry, visible) {
                    changes.push_join(topic, presence);
                }
            }
        }
        seen.join(&context);
        changes.finish()
    }

    /// Decides whether to accept a remote replica's part of a delta, superseding an older
    /// incarnation if needed. Returns whether its entries are visible, or `None` to ignore it.
    fn admit(&mut self, replica: &ReplicaId, diff: &mut Diff) -> Option<bool> {
        if replica.same_name(&self.local) {
            // Older: our own previous life, stale. Newer: another process claims our name.
            // Either way only this process writes this name's entries.
            return None;
        }
        let Some(record) = self.names.get(replica.name()) else {
            self.names.insert(
                replica.name().into(),
                NameRecord {
                    current: replica.clone(),
                    status: ReplicaStatus::Up,
                },
            );
            return Some(true);
        };
        if record.current == *replica {
            return match record.status {
                ReplicaStatus::Up => Some(true),
                ReplicaStatus::Down => Some(false),
                ReplicaStatus::Removed => None,
            };
        }
        if replica.incarnation() < record.current.incarnation() {
            return None;
        }
        self.supersede(replica, ReplicaStatus::Up, diff);
        Some(true)
    }

    /// Replaces the known incarnation of `replica`'s name by `replica`: the old one's entries are
    /// purged (leaving, if they were visible) and its context forgotten, so a thousand restarts
    /// leave one record behind.
    pub(crate) fn supersede(
        &mut self,
        replica: &ReplicaId,
        status: ReplicaStatus,
        diff: &mut Diff,
    ) {
        if let Some(old) = self
            .names
            .get(replica.name())
            .map(|r| (r.current.clone(), r.status))
        {
            let (old_id, old_status) = old;
            let store = self.set.store_mut();
            if old_status == ReplicaStatus::Up {
                let mut leaves = DiffBuilder::extend(
                    std::mem::take(diff),
                    store.count_of_replica(&old_id),
                    store.topic_numbers(),
                );
                store.purge_replica(&old_id, Some(&mut leaves));
                *diff = leaves.finish();
            } else {
                store.purge_replica(&old_id, None);
            }
            self.set.context_mut().remove_replica(&old_id);
        }
        self.names.insert(
            replica.name().into(),
            NameRecord {
                current: replica.clone(),
                status,
            },
        );
        if status == ReplicaStatus::Down {
            // The new incarnation has no entries yet: this only registers it as hidden.
            let mut nothing = DiffBuilder::new(0, 0);
            self.set
                .store_mut()
                .set_visible(replica, false, &mut nothing);
        }
    }

    /// Drops the record of `replica`'s name and its context section.
    pub(crate) fn forget_record(&mut self, replica: &ReplicaId) {
        self.names.remove(replica.name());
        self.set.context_mut().remove_replica(replica);
    }

    pub(crate) fn record(&self, name: &str) -> Option<&NameRecord> {
        self.names.get(name)
    }

    pub(crate) fn record_mut(&mut self, name: &str) -> Option<&mut NameRecord> {
        self.names.get_mut(name)
    }

    pub(crate) fn records(&self) -> impl Iterator<Item = &NameRecord> {
        self.names.values()
    }

    pub(crate) fn store_mut(&mut self) -> &mut IndexedStore {
        self.set.store_mut()
    }

    /// Whether this replica shares `replica`'s entries with others: only the current incarnation
    /// of a replica it considers up (liveness verdicts stay local).
    fn shares(&self, replica: &ReplicaId) -> bool {
        self.names
            .get(replica.name())
            .is_some_and(|record| record.current == *replica && record.status == ReplicaStatus::Up)
    }

    /// What a peer whose context is `seen` needs to hold what this state holds, for every replica
    /// this one considers up, except the peer's own (`to`): per replica with a gap, the entries
    /// the peer has not seen, and a context that also removes what the peer still holds and this
    /// state has removed (see [`repair_since`](Self::repair_since)).
    ///
    /// A removal shows up as a gap only once a later dot of its owner exists (an update, a new
    /// track, or the sealing dot the sync engine adds after removals); a replica without a gap is
    /// skipped. Costs O(entries held of each replica with a gap).
    pub fn delta_since(&self, seen: &CausalContext, to: Option<&ReplicaId>) -> Delta {
        let nothing = DotRanges::new();
        let mut out = Delta::new();
        for (replica, _) in self.set.context().iter() {
            if to.is_some_and(|peer| peer.same_name(replica)) {
                continue;
            }
            let theirs = seen.ranges(replica).unwrap_or(&nothing);
            let (store, context) = self.repair_since(replica, theirs).into_parts();
            for (replica, entries) in store.into_by_replica() {
                out.store_mut().extend_replica(&replica, entries);
            }
            out.context_mut().join(&context);
        }
        out
    }

    /// The local replica's entries and dots created after its counter `after`.
    ///
    /// Additions only: the seal dot of a later removal is in here, but not the removed entry's
    /// own dot when it was born at or before `after`, so a peer that merges this does not apply
    /// that removal (it only sees the gap). To broadcast changes, send (or join and send) the
    /// deltas the mutators return, as the sync engine does; to repair a peer, use
    /// [`delta_since`](Self::delta_since) or [`repair_since`](Self::repair_since).
    pub fn local_delta_since(&self, after: u64) -> Delta {
        let mut store = DotMap::default();
        let mut context = CausalContext::new();
        if let Some(mine) = self.set.context().ranges(&self.local) {
            let missing = mine.difference(&DotRanges::up_to(after));
            self.extract(&self.local, &missing, &mut store);
            context.insert_ranges(&self.local, &missing);
        }
        Delta::from_parts(store, context)
    }

    /// Everything this replica shares, for a peer `to` that has nothing (or for a snapshot).
    pub fn full_state(&self, to: Option<&ReplicaId>) -> Delta {
        self.delta_since(&CausalContext::new(), to)
    }

    /// The causal context of the replicas this one shares: what heartbeats carry, so peers can
    /// tell what they miss. Replicas considered down or removed are left out.
    pub fn digest(&self) -> CausalContext {
        self.set
            .context()
            .iter()
            .filter(|(replica, _)| self.shares(replica))
            .map(|(replica, ranges)| (replica.clone(), ranges.clone()))
            .collect()
    }

    fn extract(&self, replica: &ReplicaId, missing: &DotRanges, out: &mut DotMap<Entry>) {
        if missing.is_empty() {
            return;
        }
        let store = self.set.store();
        let held = store.count_of(replica);
        let mut taken: Vec<(u64, Entry)> = Vec::new();
        let mut take = |counter: u64| {
            if let Some(presence) = store.get(&Dot::new(replica.clone(), counter)) {
                taken.push((counter, presence.entry));
            }
        };
        if missing.len() <= held as u64 {
            missing.counters().for_each(&mut take);
        } else {
            store
                .counters_of(replica)
                .into_iter()
                .filter(|&counter| missing.contains(counter))
                .for_each(take);
        }
        out.extend_replica(replica, taken);
    }
}

impl std::fmt::Debug for PresenceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceState")
            .field("replica", &self.local)
            .field("visible", &self.len())
            .field("stored", &self.stored_len())
            .finish()
    }
}
