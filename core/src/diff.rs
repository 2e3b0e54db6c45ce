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
    /// Boxed and made on first use: most diffs (one change) never need it, and it would
    /// otherwise add its hasher's setup and size to every diff.
    index: Option<Box<HashMap<Arc<str>, usize>>>,
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

    /// A diff of one join, allocated to its size: what a local track reports.
    pub(crate) fn single_join(presence: Presence) -> Diff {
        let topics = SmallVec::from_buf([(
            presence.entry.topic.clone(),
            TopicDiff {
                joins: vec![presence],
                leaves: Vec::new(),
            },
        )]);
        Diff {
            topics,
            index: None,
        }
    }

    fn topic_mut(&mut self, topic: &Arc<str>) -> &mut TopicDiff {
        let position = self.topic_position(topic);
        &mut self.topics[position].1
    }

    /// Where `topic`'s changes are, added (empty) if it has none yet.
    fn topic_position(&mut self, topic: &Arc<str>) -> usize {
        // Changes come in runs of one topic: check the last one before hashing.
        match self.topics.last() {
            Some((last, _)) if Arc::ptr_eq(last, topic) || **last == **topic => {
                self.topics.len() - 1
            }
            _ => match self.position(topic) {
                Some(position) => position,
                None => {
                    self.topics.push((topic.clone(), TopicDiff::default()));
                    let position = self.topics.len() - 1;
                    if position == INDEX_FROM {
                        let index = self.index.get_or_insert_default();
                        for (at, (name, _)) in self.topics.iter().enumerate() {
                            index.insert(name.clone(), at);
                        }
                    } else if position > INDEX_FROM {
                        self.index
                            .get_or_insert_default()
                            .insert(topic.clone(), position);
                    }
                    position
                }
            },
        }
    }

    /// Where `topic` is: a scan while there are few topics, the index beyond.
    fn position(&self, topic: &str) -> Option<usize> {
        if self.topics.len() <= INDEX_FROM {
            self.topics.iter().position(|(name, _)| &**name == topic)
        } else {
            self.index.as_ref()?.get(topic).copied()
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

/// Builds a diff from presences of a store whose topics are numbered. A large one (a full state
/// merged, a replica going down or removed) is built at the end: each topic's name is hashed once
/// rather than once per presence, and each topic's lists are allocated once, at their size.
///
/// Topic numbers may be reused within one operation (a topic emptied by a removal, then a new
/// one created): a remembered position counts only while its name is the very same allocation as
/// the presence's topic, which a freed number's new topic cannot be while the diff holds the old.
pub(crate) struct DiffBuilder {
    diff: Diff,
    /// Whether changes are held back until [`finish`](Self::finish).
    bulk: bool,
    pending: Vec<(u32, bool, Presence)>,
    /// Per topic number: how many joins and leaves are pending.
    counts: Vec<(u32, u32)>,
}

/// Below this many expected changes, the diff is built as changes come.
const BULK_FROM: usize = 256;

impl DiffBuilder {
    /// A builder for about `changes` presences of a store with `topics` topic numbers.
    pub(crate) fn new(changes: usize, topics: usize) -> Self {
        // Bulk mode allocates per topic number of the whole store: only worth it when the
        // change is at least of the store's order, so a mid-sized delta into a large state
        // still costs what the delta holds.
        let bulk = changes >= BULK_FROM && topics <= changes.saturating_mul(4);
        DiffBuilder {
            diff: Diff::new(),
            bulk,
            pending: if bulk {
                Vec::with_capacity(changes)
            } else {
                Vec::new()
            },
            counts: if bulk {
                vec![(0, 0); topics]
            } else {
                Vec::new()
            },
        }
    }

    /// Continues an existing diff.
    pub(crate) fn extend(diff: Diff, changes: usize, topics: usize) -> Self {
        let mut builder = DiffBuilder::new(changes, topics);
        builder.diff = diff;
        builder
    }

    fn push(&mut self, topic: u32, join: bool, presence: Presence) {
        if !self.bulk {
            let changes = self.diff.topic_mut(&presence.entry.topic);
            if join {
                changes.joins.push(presence);
            } else {
                changes.leaves.push(presence);
            }
            return;
        }
        let at = topic as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, (0, 0));
        }
        if join {
            self.counts[at].0 += 1;
        } else {
            self.counts[at].1 += 1;
        }
        self.pending.push((topic, join, presence));
    }

    /// Records that `presence`, of the topic numbered `topic`, became visible.
    pub(crate) fn push_join(&mut self, topic: u32, presence: Presence) {
        self.push(topic, true, presence);
    }

    /// Records that `presence`, of the topic numbered `topic`, stopped being visible.
    pub(crate) fn push_leave(&mut self, topic: u32, presence: Presence) {
        self.push(topic, false, presence);
    }

    /// The diff built.
    pub(crate) fn finish(self) -> Diff {
        let DiffBuilder {
            mut diff,
            pending,
            counts,
            ..
        } = self;
        // Per topic number, its position in `diff` plus one (0: not placed yet).
        let mut positions = vec![0u32; counts.len()];
        for (topic, join, presence) in pending {
            let at = topic as usize;
            let position = match (positions[at] as usize).checked_sub(1) {
                Some(position) if Arc::ptr_eq(&diff.topics[position].0, &presence.entry.topic) => {
                    position
                }
                _ => {
                    let position = diff.topic_position(&presence.entry.topic);
                    positions[at] = position as u32 + 1;
                    let (joins, leaves) = counts[at];
                    let changes = &mut diff.topics[position].1;
                    changes.joins.reserve(joins as usize);
                    changes.leaves.reserve(leaves as usize);
                    position
                }
            };
            let changes = &mut diff.topics[position].1;
            if join {
                changes.joins.push(presence);
            } else {
                changes.leaves.push(presence);
            }
        }
        diff
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
