//! Diffs: what became visible (joins) and invisible (leaves), grouped by topic.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::presence::Presence;

/// The joins and leaves of one topic.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct TopicDiff {
    /// Presences that became visible.
    pub joins: Vec<Presence>,
    /// Presences that stopped being visible.
    pub leaves: Vec<Presence>,
}

impl TopicDiff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.joins.is_empty() && self.leaves.is_empty()
    }
}

/// What one operation or merge changed, per topic.
///
/// An update shows up as the old presence in `leaves` and the new one, whose
/// [`phx_ref_prev`](Presence::phx_ref_prev) names the old one, in `joins`. Diffs are never folded:
/// [`Diff::extend`] appends, so a join followed by a leave of the same presence keeps both.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct Diff {
    topics: BTreeMap<Arc<str>, TopicDiff>,
}

impl Diff {
    /// An empty diff.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.topics.values().all(TopicDiff::is_empty)
    }

    fn topic_mut(&mut self, topic: &Arc<str>) -> &mut TopicDiff {
        if !self.topics.contains_key(&**topic) {
            self.topics.insert(topic.clone(), TopicDiff::default());
        }
        self.topics.get_mut(&**topic).expect("just inserted")
    }

    /// Records that `presence` became visible.
    pub fn push_join(&mut self, presence: Presence) {
        let topic = presence.entry.topic.clone();
        self.topic_mut(&topic).joins.push(presence);
    }

    /// Records that `presence` stopped being visible.
    pub fn push_leave(&mut self, presence: Presence) {
        let topic = presence.entry.topic.clone();
        self.topic_mut(&topic).leaves.push(presence);
    }

    /// Appends every join and leave of `other`, keeping their order.
    pub fn extend(&mut self, other: Diff) {
        for (topic, changes) in other.topics {
            let mine = self.topic_mut(&topic);
            mine.joins.extend(changes.joins);
            mine.leaves.extend(changes.leaves);
        }
    }

    /// The changes of one topic.
    pub fn topic(&self, topic: &str) -> Option<&TopicDiff> {
        self.topics.get(topic)
    }

    /// Every topic that changed, in topic order.
    pub fn topics(&self) -> impl Iterator<Item = (&str, &TopicDiff)> {
        self.topics
            .iter()
            .filter(|(_, changes)| !changes.is_empty())
            .map(|(topic, changes)| (&**topic, changes))
    }

    /// Every join, topic by topic.
    pub fn joins(&self) -> impl Iterator<Item = &Presence> {
        self.topics
            .values()
            .flat_map(|changes| changes.joins.iter())
    }

    /// Every leave, topic by topic.
    pub fn leaves(&self) -> impl Iterator<Item = &Presence> {
        self.topics
            .values()
            .flat_map(|changes| changes.leaves.iter())
    }

    /// The part of this diff that concerns `topic`.
    pub fn for_topic(&self, topic: &str) -> Diff {
        let mut out = Diff::new();
        if let Some((name, changes)) = self.topics.get_key_value(topic) {
            out.topics.insert(name.clone(), changes.clone());
        }
        out
    }
}
