//! The read model: an immutable snapshot of the visible presences, swapped after each change,
//! so reads never wait for the actor.
//!
//! Snapshots are persistent maps (topic → key → presences): publishing a new one after a change
//! copies nothing but the few tree nodes on the paths to the keys that changed, so a one-entry
//! change in a state of 100,000 presences costs a handful of allocations, and a reader holding
//! an old snapshot keeps a consistent view for as long as it likes.

use std::sync::{Arc, RwLock};

use beryl_core::{Diff, Presence, PresenceState};
use imbl::{HashMap, OrdMap};

/// The visible presences at one moment. Cheap to clone; never changes.
#[derive(Clone, Default)]
pub struct Snapshot {
    topics: HashMap<Arc<str>, TopicView>,
    len: usize,
}

#[derive(Clone, Default)]
struct TopicView {
    keys: OrdMap<Arc<str>, Arc<[Presence]>>,
    len: usize,
}

impl Snapshot {
    /// The presences of `topic`, ordered by key, then by dot within a key.
    pub fn list(&self, topic: &str) -> Vec<Presence> {
        let Some(view) = self.topics.get(topic) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(view.len);
        for presences in view.keys.values() {
            out.extend(presences.iter().cloned());
        }
        out
    }

    /// The presences of `key` in `topic`, ordered by dot.
    pub fn get_by_key(&self, topic: &str, key: &str) -> Vec<Presence> {
        self.topics
            .get(topic)
            .and_then(|view| view.keys.get(key))
            .map(|presences| presences.to_vec())
            .unwrap_or_default()
    }

    /// The keys present in `topic`, in order.
    pub fn keys(&self, topic: &str) -> Vec<Arc<str>> {
        self.topics
            .get(topic)
            .map(|view| view.keys.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The topics with at least one presence, in order.
    pub fn topics(&self) -> Vec<Arc<str>> {
        let mut topics: Vec<Arc<str>> = self.topics.keys().cloned().collect();
        topics.sort_unstable();
        topics
    }

    /// How many presences `topic` has.
    pub fn topic_len(&self, topic: &str) -> usize {
        self.topics.get(topic).map_or(0, |view| view.len)
    }

    /// How many presences are visible, in all topics.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no presence is visible.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Brings the keys that `diff` touched up to date with `state`.
    fn apply(&mut self, state: &PresenceState, diff: &Diff) {
        for (topic, changes) in diff.topics() {
            let mut view = self.topics.get(topic).cloned().unwrap_or_default();
            let mut keys: Vec<&str> = changes
                .joins
                .iter()
                .chain(changes.leaves.iter())
                .map(Presence::key)
                .collect();
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                let fresh = state.get_by_key(topic, key);
                let old_len = view.keys.get(key).map_or(0, |old| old.len());
                self.len = self.len - old_len + fresh.len();
                view.len = view.len - old_len + fresh.len();
                if fresh.is_empty() {
                    view.keys.remove(key);
                } else {
                    view.keys.insert(Arc::from(key), Arc::from(fresh));
                }
            }
            if view.keys.is_empty() {
                self.topics.remove(topic);
            } else {
                self.topics.insert(Arc::from(topic), view);
            }
        }
    }
}

/// Where handles read the latest snapshot.
#[derive(Default)]
pub(crate) struct ReadModel {
    current: RwLock<Arc<Snapshot>>,
}

impl ReadModel {
    /// The latest snapshot. Holds the lock only to clone a pointer.
    pub(crate) fn load(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn store(&self, snapshot: Arc<Snapshot>) {
        let previous = std::mem::replace(
            &mut *self
                .current
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            snapshot,
        );
        // The lock is released by now: freeing what only the previous snapshot held (after a
        // large merge, much of it) happens outside, so readers never wait for it.
        drop(previous);
    }
}

/// The actor's side: applies diffs to a working snapshot and publishes it.
pub(crate) struct ReadModelWriter {
    working: Snapshot,
    model: Arc<ReadModel>,
    dirty: bool,
}

impl ReadModelWriter {
    pub(crate) fn new(model: Arc<ReadModel>) -> Self {
        ReadModelWriter {
            working: Snapshot::default(),
            model,
            dirty: false,
        }
    }

    pub(crate) fn apply(&mut self, state: &PresenceState, diff: &Diff) {
        self.working.apply(state, diff);
        self.dirty = true;
    }

    /// Makes every change applied so far visible to readers.
    pub(crate) fn publish(&mut self) {
        if std::mem::take(&mut self.dirty) {
            self.model.store(Arc::new(self.working.clone()));
        }
    }

    /// Empties the model (the node stopped).
    pub(crate) fn clear(&mut self) {
        self.working = Snapshot::default();
        self.dirty = true;
        self.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use beryl_core::{Meta, ReplicaId};

    #[test]
    fn snapshots_follow_the_state_and_old_ones_do_not_change() {
        let mut state = PresenceState::new(ReplicaId::new("a", 1));
        let model = Arc::new(ReadModel::default());
        let mut writer = ReadModelWriter::new(model.clone());
        for (key, pid) in [("bob", "p1"), ("alice", "p2"), ("bob", "p3")] {
            let tracked = state.track("room", key, pid, &Meta::empty()).unwrap();
            writer.apply(&state, &tracked.diff());
        }
        writer.publish();
        let before = model.load();
        assert_eq!(
            before
                .list("room")
                .iter()
                .map(|p| p.pid().to_owned())
                .collect::<Vec<_>>(),
            vec!["p2", "p1", "p3"],
            "ordered by key, then dot"
        );
        assert_eq!(before.get_by_key("room", "bob").len(), 2);

        let change = state.untrack_all("p1");
        writer.apply(&state, &change.diff);
        let change = state.untrack_all("p2");
        writer.apply(&state, &change.diff);
        writer.publish();
        let after = model.load();
        assert_eq!(after.len(), 1);
        assert_eq!(after.keys("room"), vec![Arc::from("bob")]);
        assert_eq!(before.len(), 3, "an old snapshot keeps its view");

        let change = state.untrack_all("p3");
        writer.apply(&state, &change.diff);
        writer.publish();
        assert!(model.load().topics().is_empty());
        assert!(model.load().is_empty());
    }
}
