//! Coalescing what CRDT sync clients of a topic learn about other topics.
//!
//! A client replica of a topic keeps the server's whole causal context, so every delta the
//! server applies concerns it, if only by its context: a join or leave in any topic projects
//! to a context-only delta for every other topic. Sent one by one, that is a frame per change
//! per CRDT topic. Such deltas are withheld instead, and each topic's clients get, once per
//! interval, one delta holding the join of the contexts withheld from it. A delta that carries
//! an entry of the topic, or removes one, still goes out at once.
//!
//! Sending the joined context later is the same as sending each withheld delta then: the
//! merge is a join, so it does not depend on order or grouping. Only deltas whose projection
//! to the topic holds no entry are withheld from it, so their joined context, sent with no
//! entry, removes from its clients exactly what those deltas removed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use beryl_core::{CausalContext, Delta, Dot};

/// Which topic each entry of the topics that have CRDT sync clients belongs to, so that a
/// delta that removes one (its context covers the entry's dot, its store does not hold it) is
/// known to concern that topic.
///
/// An entry missing from the index (one removed while its topic's first client was joining)
/// only makes its removal wait for the next flush; an entry that stays in it after its removal
/// only makes a later delta go out at once.
#[derive(Debug, Default)]
pub struct EntryIndex {
    topic_of: HashMap<Dot, Arc<str>>,
    by_topic: HashMap<Arc<str>, HashSet<Dot>>,
}

impl EntryIndex {
    /// Records the entry born with `dot` in `topic`.
    pub fn insert(&mut self, dot: Dot, topic: Arc<str>) {
        self.by_topic
            .entry(topic.clone())
            .or_default()
            .insert(dot.clone());
        self.topic_of.insert(dot, topic);
    }

    fn remove(&mut self, dot: &Dot) -> Option<Arc<str>> {
        let topic = self.topic_of.remove(dot)?;
        if let Some(dots) = self.by_topic.get_mut(&topic) {
            dots.remove(dot);
            if dots.is_empty() {
                self.by_topic.remove(&topic);
            }
        }
        Some(topic)
    }

    /// Forgets the entries of a topic that no CRDT sync client follows any more.
    pub fn forget_topic(&mut self, topic: &str) {
        if let Some(dots) = self.by_topic.remove(topic) {
            for dot in dots {
                self.topic_of.remove(&dot);
            }
        }
    }

    /// How many entries are indexed.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.topic_of.len()
    }

    /// The topics of the indexed entries that `delta` removes, which are forgotten. Costs the
    /// smaller of the delta's context and the index.
    pub fn removed_by(&mut self, delta: &Delta) -> HashSet<Arc<str>> {
        let context = delta.context();
        // Saturating: a peer sets the counters, and their ranges can be near u64::MAX long.
        let covered = context
            .iter()
            .fold(0u64, |sum, (_, ranges)| sum.saturating_add(ranges.len()));
        let mut removed = Vec::new();
        if covered <= self.topic_of.len() as u64 {
            for (replica, ranges) in context.iter() {
                for counter in ranges.counters() {
                    let dot = Dot::new(replica.clone(), counter);
                    if self.topic_of.contains_key(&dot) && delta.store().get(&dot).is_none() {
                        removed.push(dot);
                    }
                }
            }
        } else {
            removed.extend(
                self.topic_of
                    .keys()
                    .filter(|dot| context.contains(dot) && delta.store().get(dot).is_none())
                    .cloned(),
            );
        }
        removed.iter().filter_map(|dot| self.remove(dot)).collect()
    }
}

/// The deltas withheld from some CRDT topic since the last flush, each with the topics it was
/// sent to at once (from which it is not withheld).
#[derive(Debug, Default)]
pub struct Withheld {
    deltas: Vec<(Arc<Delta>, Vec<Arc<str>>)>,
}

impl Withheld {
    /// Withholds `delta` from every topic but `sent`.
    pub fn push(&mut self, delta: Arc<Delta>, sent: Vec<Arc<str>>) {
        self.deltas.push((delta, sent));
    }

    /// Whether nothing is withheld.
    pub fn is_empty(&self) -> bool {
        self.deltas.is_empty()
    }

    /// Empties the log into what each of `topics` is owed: the join of the contexts withheld
    /// from it. Topics owed the same (those no delta was sent to) share one context.
    pub fn take<'a>(
        &mut self,
        topics: impl IntoIterator<Item = &'a Arc<str>>,
    ) -> Vec<(CausalContext, Vec<&'a Arc<str>>)> {
        let deltas = std::mem::take(&mut self.deltas);
        if deltas.is_empty() {
            return Vec::new();
        }
        let sent_somewhere: HashSet<&Arc<str>> =
            deltas.iter().flat_map(|(_, sent)| sent.iter()).collect();
        let joined = |skip: Option<&Arc<str>>| {
            let mut context = CausalContext::new();
            for (delta, sent) in &deltas {
                if skip.is_none_or(|topic| !sent.contains(topic)) {
                    context.join(delta.context());
                }
            }
            context
        };
        let mut shared: Vec<&'a Arc<str>> = Vec::new();
        let mut owed = Vec::new();
        for topic in topics {
            if sent_somewhere.contains(topic) {
                let context = joined(Some(topic));
                if !context.is_empty() {
                    owed.push((context, vec![topic]));
                }
            } else {
                shared.push(topic);
            }
        }
        if !shared.is_empty() {
            owed.push((joined(None), shared));
        }
        owed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use beryl_core::{Meta, PresenceState, ReplicaId};

    fn dot_of(delta: &Delta) -> Dot {
        let (replica, counter, _) = delta.store().iter().next().unwrap();
        Dot::new(replica.clone(), counter)
    }

    #[test]
    fn the_index_finds_the_topics_whose_entries_a_delta_removes() {
        let mut state = PresenceState::new(ReplicaId::new("server", 1));
        let mut index = EntryIndex::default();
        let mut dots = Vec::new();
        for (topic, key) in [("a", "k1"), ("b", "k2"), ("b", "k3")] {
            let tracked = state.track(topic, key, key, &Meta::empty()).unwrap();
            dots.push(dot_of(&tracked.delta()));
            index.insert(dot_of(&tracked.delta()), Arc::from(topic));
        }
        // An add removes nothing; a leave removes its entry, found through the delta's context.
        let added = state.track("c", "k4", "k4", &Meta::empty()).unwrap();
        assert!(index.removed_by(&added.delta()).is_empty());
        let left = state.untrack("a", "k1", "k1");
        let removed = index.removed_by(&left.delta);
        assert_eq!(removed, HashSet::from([Arc::from("a")]));
        assert_eq!(index.len(), 2);
        // A delta whose context is larger than the index: the index is scanned instead.
        state.untrack("b", "k2", "k2");
        let full = state.full_state(None);
        assert!(
            full.context()
                .iter()
                .map(|(_, ranges)| ranges.len())
                .sum::<u64>()
                > 2
        );
        assert_eq!(
            index.removed_by(&full),
            HashSet::from([Arc::from("b")]),
            "k3 of b is still there, k2 is gone"
        );
        assert_eq!(index.len(), 1);
        index.forget_topic("b");
        assert_eq!(index.len(), 0);
        assert!(index.by_topic.is_empty());
    }
}
