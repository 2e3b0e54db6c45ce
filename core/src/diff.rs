//! Diffs: what became visible (joins) and invisible (leaves), grouped by topic.

use std::fmt;
use std::sync::Arc;

use hashbrown::HashMap;
use smallvec::SmallVec;

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

/// Beyond this many topics a diff keeps a hash index of them; below, a scan is cheaper.
const INDEX_FROM: usize = 8;

/// What one operation or merge changed, per topic.
///
/// An update shows up as the old presence in `leaves` and the new one, whose
/// [`phx_ref_prev`](Presence::phx_ref_prev) names the old one, in `joins`. Diffs are never folded:
/// [`Diff::extend`] appends, so a join followed by a leave of the same presence keeps both.
/// Topics come in the order they first changed.
#[derive(Clone, Default)]
pub struct Diff {
    topics: SmallVec<[(Arc<str>, TopicDiff); 1]>,
    index: HashMap<Arc<str>, usize>,
}

impl Diff {
    /// An empty diff.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.topics.iter().all(|(_, changes)| changes.is_empty())
    }

    fn topic_mut(&mut self, topic: &Arc<str>) -> &mut TopicDiff {
        // Changes come in runs of one topic: check the last one before hashing.
        let position = match self.topics.last() {
            Some((last, _)) if Arc::ptr_eq(last, topic) || **last == **topic => {
                self.topics.len() - 1
            }
            _ => match self.position(topic) {
                Some(position) => position,
                None => {
                    self.topics.push((topic.clone(), TopicDiff::default()));
                    let position = self.topics.len() - 1;
                    if position == INDEX_FROM {
                        for (at, (name, _)) in self.topics.iter().enumerate() {
                            self.index.insert(name.clone(), at);
                        }
                    } else if position > INDEX_FROM {
                        self.index.insert(topic.clone(), position);
                    }
                    position
                }
            },
        };
        &mut self.topics[position].1
    }

    /// Where `topic` is: a scan while there are few topics, the index beyond.
    fn position(&self, topic: &str) -> Option<usize> {
        if self.topics.len() <= INDEX_FROM {
            self.topics.iter().position(|(name, _)| &**name == topic)
        } else {
            self.index.get(topic).copied()
        }
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
        self.position(topic)
            .map(|position| &self.topics[position].1)
    }

    /// Every topic that changed, in the order it first changed.
    pub fn topics(&self) -> impl Iterator<Item = (&str, &TopicDiff)> {
        self.topics
            .iter()
            .filter(|(_, changes)| !changes.is_empty())
            .map(|(topic, changes)| (&**topic, changes))
    }

    /// Every join, topic by topic.
    pub fn joins(&self) -> impl Iterator<Item = &Presence> {
        self.topics
            .iter()
            .flat_map(|(_, changes)| changes.joins.iter())
    }

    /// Every leave, topic by topic.
    pub fn leaves(&self) -> impl Iterator<Item = &Presence> {
        self.topics
            .iter()
            .flat_map(|(_, changes)| changes.leaves.iter())
    }

    /// The part of this diff that concerns `topic`.
    pub fn for_topic(&self, topic: &str) -> Diff {
        let mut out = Diff::new();
        if let Some(position) = self.position(topic) {
            let (name, changes) = &self.topics[position];
            out.topics.push((name.clone(), changes.clone()));
        }
        out
    }
}

/// Two diffs are equal when every topic has the same joins and leaves in the same order,
/// whatever order the topics came in.
impl PartialEq for Diff {
    fn eq(&self, other: &Self) -> bool {
        let mine: Vec<_> = self.topics().collect();
        let theirs: Vec<_> = other.topics().collect();
        mine.len() == theirs.len()
            && mine
                .iter()
                .all(|(topic, changes)| other.topic(topic) == Some(changes))
    }
}

impl Eq for Diff {}

impl fmt::Debug for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.topics()).finish()
    }
}
