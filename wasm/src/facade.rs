//! The bindings' logic in plain Rust: a presence state whose every result is JSON text and
//! whose every failure is a [`BindingError`]. The `#[wasm_bindgen]` layer only forwards to it,
//! so the same code runs (and is tested) natively.

use beryl_core::{Delta, Diff, Dot, Meta, PresenceState, ReplicaId};

use crate::args;
use crate::compact;
use crate::error::BindingError;
use crate::json;

/// A presence state driven through JSON-text results.
pub struct StateFacade {
    state: PresenceState,
    /// The local counter when local changes were last taken: every local dot above it belongs
    /// to a change not yet taken (a new entry, or a removal's seal).
    taken_up_to: u64,
    /// Local dots at or below `taken_up_to` whose entries were removed since: removals not yet
    /// taken. The pending changes are rebuilt from these two when taken, rather than joining a
    /// delta per change as it happens.
    removed: Vec<u64>,
}

impl StateFacade {
    /// A state owned by replica `name` with the decimal `incarnation`, and `limits` given as
    /// JSON text (empty for the defaults).
    pub fn new(name: &str, incarnation: &str, limits: &str) -> Result<Self, BindingError> {
        let replica = args::replica(name, incarnation)?;
        let limits = args::limits(limits)?;
        Ok(StateFacade {
            state: PresenceState::with_limits(replica, limits),
            taken_up_to: 0,
            removed: Vec::new(),
        })
    }

    /// The wrapped state.
    pub fn state(&self) -> &PresenceState {
        &self.state
    }

    /// The wrapped state, mutably.
    pub fn state_mut(&mut self) -> &mut PresenceState {
        &mut self.state
    }

    /// `{"name":...,"incarnation":"..."}` of the local replica.
    pub fn replica(&self) -> String {
        let mut out = String::new();
        json::write_replica(&mut out, self.state.replica());
        out
    }

    /// Notes the entries a removal's delta removed that the last take had already sent.
    fn remember_removals(&mut self, delta: &Delta) {
        if let Some(ranges) = delta.context().ranges(self.state.replica()) {
            let taken_up_to = self.taken_up_to;
            let sent = ranges
                .counters()
                .take_while(|&counter| counter <= taken_up_to);
            self.removed.extend(sent);
        }
    }

    /// Takes the local changes since the last take as one delta (the join of their deltas);
    /// `None` if there were none.
    pub fn take_pending(&mut self) -> Option<Delta> {
        let now = self.state.local_counter();
        if now == self.taken_up_to && self.removed.is_empty() {
            return None;
        }
        // Entries still held that were created since, and every dot used since; then the dots
        // of earlier entries removed since, which tell peers to remove them too.
        let (store, mut context) = self.state.local_delta_since(self.taken_up_to).into_parts();
        if !self.removed.is_empty() {
            let ranges = context.ranges_mut(self.state.replica());
            for counter in self.removed.drain(..) {
                ranges.insert(counter);
            }
        }
        self.taken_up_to = now;
        Some(Delta::from_parts(store, context))
    }

    fn meta(&self, meta: &str) -> Result<Meta, BindingError> {
        Ok(Meta::from_json_within(meta, self.state.limits())?)
    }

    fn tracked(
        &mut self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: &str,
    ) -> Result<beryl_core::Tracked, BindingError> {
        let meta = self.meta(meta)?;
        Ok(self.state.track(topic, key, pid, &meta)?)
    }

    /// Tracks a connection; the diff as JSON (its one join carries the new `phxRef`).
    pub fn track(
        &mut self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: &str,
    ) -> Result<String, BindingError> {
        Ok(json::diff(&self.tracked(topic, key, pid, meta)?.diff()))
    }

    /// Tracks a connection; only the counter of its dot, which names its `phxRef` after
    /// [`Self::local_ref_prefix`]. Counters grow by one per change, so they stay far below 2^53
    /// and cross to JS as a number.
    pub fn track_counter(
        &mut self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: &str,
    ) -> Result<f64, BindingError> {
        let tracked = self.tracked(topic, key, pid, meta)?;
        // Exact: counters stay below 2^53 (see `local_counter`).
        Ok(tracked.presence().dot().counter as f64)
    }

    /// What every `phxRef` of the local replica starts with: its tag and a dot, the counter's
    /// digits follow.
    pub fn local_ref_prefix(&self) -> String {
        let phx_ref = Dot::new(self.state.replica().clone(), 1).phx_ref();
        let text = phx_ref.as_str();
        text[..text.len() - 1].to_owned()
    }

    /// Replaces a local entry's meta; the diff as JSON (its join carries the new `phxRef`).
    pub fn update(
        &mut self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: &str,
    ) -> Result<String, BindingError> {
        Ok(json::diff(&self.update_diff(topic, key, pid, meta)?))
    }

    /// Replaces a local entry's meta; the diff (its join carries the new `phxRef`).
    pub fn update_diff(
        &mut self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: &str,
    ) -> Result<Diff, BindingError> {
        let meta = self.meta(meta)?;
        let change = self.state.update(topic, key, pid, &meta)?.into_change();
        self.remember_removals(&change.delta);
        Ok(change.diff)
    }

    /// Stops tracking a local entry (a no-op with an empty diff when it is not tracked).
    pub fn untrack(&mut self, topic: &str, key: &str, pid: &str) -> String {
        json::diff(&self.untrack_diff(topic, key, pid))
    }

    /// Stops tracking a local entry; the diff.
    pub fn untrack_diff(&mut self, topic: &str, key: &str, pid: &str) -> Diff {
        let change = self.state.untrack(topic, key, pid);
        self.remember_removals(&change.delta);
        change.diff
    }

    /// Stops tracking every local entry of `pid`.
    pub fn untrack_all(&mut self, pid: &str) -> String {
        json::diff(&self.untrack_all_diff(pid))
    }

    /// Stops tracking every local entry of `pid`; the diff.
    pub fn untrack_all_diff(&mut self, pid: &str) -> Diff {
        let change = self.state.untrack_all(pid);
        self.remember_removals(&change.delta);
        change.diff
    }

    /// The visible presences of `topic`, grouped by key.
    pub fn list(&self, topic: &str) -> String {
        json::list(&self.state.list(topic))
    }

    /// The visible presences of `topic`, grouped by key, in the compact form.
    pub fn list_compact(&self, topic: &str) -> (String, Vec<u32>) {
        compact::list(&self.state.list(topic))
    }

    /// The visible presences of `key` in `topic`.
    pub fn get_by_key(&self, topic: &str, key: &str) -> String {
        json::presences(&self.state.get_by_key(topic, key))
    }

    /// The visible presences of `key` in `topic`, in the compact form.
    pub fn get_by_key_compact(&self, topic: &str, key: &str) -> (String, Vec<u32>) {
        compact::presences(&self.state.get_by_key(topic, key))
    }

    /// Topics with a visible presence, sorted.
    pub fn topics(&self) -> String {
        let mut topics = self.state.topics();
        topics.sort_unstable();
        json::strings(topics.iter().map(|topic| &**topic))
    }

    /// The highest counter the local replica used, as a JS number (counters grow by one per
    /// change, so they stay far below 2^53).
    pub fn local_counter(&self) -> f64 {
        self.state.local_counter() as f64
    }

    /// Marks a replica down; the diff of what it hides, as JSON.
    pub fn replica_down(&mut self, name: &str, incarnation: &str) -> Result<String, BindingError> {
        Ok(json::diff(&self.replica_down_diff(name, incarnation)?))
    }

    /// Marks a replica down; the diff of what it hides.
    pub fn replica_down_diff(
        &mut self,
        name: &str,
        incarnation: &str,
    ) -> Result<Diff, BindingError> {
        let replica = args::replica(name, incarnation)?;
        Ok(self.state.replica_down(&replica)?)
    }

    /// Marks a replica up again; the diff of what it shows, as JSON.
    pub fn replica_up(&mut self, name: &str, incarnation: &str) -> Result<String, BindingError> {
        Ok(json::diff(&self.replica_up_diff(name, incarnation)?))
    }

    /// Marks a replica up again; the diff of what it shows.
    pub fn replica_up_diff(&mut self, name: &str, incarnation: &str) -> Result<Diff, BindingError> {
        let replica = args::replica(name, incarnation)?;
        Ok(self.state.replica_up(&replica)?)
    }

    /// Removes a replica for good; the diff of what it purges, as JSON.
    pub fn remove_replica(
        &mut self,
        name: &str,
        incarnation: &str,
    ) -> Result<String, BindingError> {
        Ok(json::diff(&self.remove_replica_diff(name, incarnation)?))
    }

    /// Removes a replica for good; the diff of what it purges.
    pub fn remove_replica_diff(
        &mut self,
        name: &str,
        incarnation: &str,
    ) -> Result<Diff, BindingError> {
        let replica = args::replica(name, incarnation)?;
        Ok(self.state.remove_replica(&replica)?)
    }

    /// `"up"`, `"down"`, `"removed"`, or `None` for an unknown or superseded replica.
    pub fn replica_status(
        &self,
        name: &str,
        incarnation: &str,
    ) -> Result<Option<String>, BindingError> {
        let replica = args::replica(name, incarnation)?;
        Ok(self
            .state
            .replica_status(&replica)
            .map(|status| json::status_name(status).to_owned()))
    }

    /// Every known replica with its status.
    pub fn replicas(&self) -> String {
        json::replicas(&self.state.replicas())
    }

    /// Parses an optional replica given as name and decimal incarnation (both empty for none).
    pub fn optional_replica(
        name: Option<String>,
        incarnation: Option<String>,
    ) -> Result<Option<ReplicaId>, BindingError> {
        match (name, incarnation) {
            (Some(name), Some(incarnation)) => Ok(Some(args::replica(&name, &incarnation)?)),
            (None, None) => Ok(None),
            _ => Err(BindingError::argument(
                "a replica needs both a name and an incarnation",
            )),
        }
    }
}
