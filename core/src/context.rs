//! The causal context: which dots a replica has seen, as a compacted version vector plus a cloud
//! of dots received out of order. There are no tombstones: a dot that is in the context but has
//! no entry in the store is an entry that was removed.

use smallvec::SmallVec;

use crate::dot::Dot;
use crate::replica::ReplicaId;

/// Up to this many cloud ranges, a union inserts them one by one (no allocation for a delta's
/// context); past it, it merges the two lists in one pass.
const UNION_BY_INSERTS: usize = 8;

/// The dots of one replica that have been seen: every counter in `1..=base`, plus a cloud of
/// disjoint, non-adjacent inclusive ranges above `base + 1`.
///
/// Adding the counter `base + 1` compacts the cloud: ranges that become contiguous with the base
/// are folded into it, so a replica that sees every dot in order keeps a single number.
///
/// The cloud holds one range inline: the delta of a single change is one dot, usually above a
/// base of 0, and should not cost an allocation.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct DotRanges {
    base: u64,
    cloud: SmallVec<[(u64, u64); 1]>,
}

impl DotRanges {
    /// No dots.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every counter in `1..=base`.
    pub fn up_to(base: u64) -> Self {
        DotRanges {
            base,
            cloud: SmallVec::new(),
        }
    }

    /// Just `counter`, built without the general insertion: the context of every single change.
    pub(crate) fn single(counter: u64) -> Self {
        match counter {
            0 => DotRanges::new(),
            1 => DotRanges::up_to(1),
            _ => {
                let mut cloud = SmallVec::new();
                cloud.push((counter, counter));
                DotRanges { base: 0, cloud }
            }
        }
    }

    /// Builds ranges from a base and a cloud in any order (overlaps are merged).
    pub fn from_parts(base: u64, cloud: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut ranges = DotRanges::up_to(base);
        for (first, last) in cloud {
            ranges.insert_range(first, last);
        }
        ranges
    }

    /// The compacted prefix: every counter up to this one has been seen.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The ranges seen out of order, above `base + 1`, sorted and disjoint.
    pub fn cloud(&self) -> &[(u64, u64)] {
        &self.cloud
    }

    /// Whether no counter is covered.
    pub fn is_empty(&self) -> bool {
        self.base == 0 && self.cloud.is_empty()
    }

    /// The highest counter covered, or 0.
    pub fn max(&self) -> u64 {
        self.cloud.last().map_or(self.base, |&(_, last)| last)
    }

    /// How many counters are covered.
    pub fn len(&self) -> u64 {
        self.base
            + self
                .cloud
                .iter()
                .map(|&(first, last)| last - first + 1)
                .sum::<u64>()
    }

    /// Whether `counter` has been seen.
    pub fn contains(&self, counter: u64) -> bool {
        if counter == 0 {
            return false;
        }
        if counter <= self.base {
            return true;
        }
        match self
            .cloud
            .binary_search_by(|&(first, _)| first.cmp(&counter))
        {
            Ok(_) => true,
            Err(0) => false,
            Err(index) => self.cloud[index - 1].1 >= counter,
        }
    }

    /// Marks the counter after the highest covered one as seen, and returns it. It extends the
    /// last range in place, without the search of a general insertion.
    pub(crate) fn insert_after_max(&mut self) -> u64 {
        match self.cloud.last_mut() {
            Some((_, last)) => {
                *last += 1;
                *last
            }
            None => {
                self.base += 1;
                self.base
            }
        }
    }

    /// Marks one counter as seen.
    pub fn insert(&mut self, counter: u64) {
        self.insert_range(counter, counter);
    }

    /// Marks every counter in `first..=last` as seen. Counter 0 is not a dot and is ignored.
    pub fn insert_range(&mut self, first: u64, last: u64) {
        if first == last && self.base.checked_add(1) == Some(first) && self.cloud.is_empty() {
            // The common case: the next dot, seen in order.
            self.base = first;
            return;
        }
        let first = first.max(1);
        if first > last {
            return;
        }
        if first <= self.base.saturating_add(1) {
            if last > self.base {
                self.base = last;
                self.compact();
            }
            return;
        }
        // Ranges that overlap or touch [first, last] are merged into one.
        let start = self
            .cloud
            .partition_point(|&(_, end)| end.saturating_add(1) < first);
        let mut end_index = start;
        let mut merged = (first, last);
        while end_index < self.cloud.len() && self.cloud[end_index].0 <= last.saturating_add(1) {
            merged.0 = merged.0.min(self.cloud[end_index].0);
            merged.1 = merged.1.max(self.cloud[end_index].1);
            end_index += 1;
        }
        if end_index == start {
            self.cloud.insert(start, merged);
        } else {
            self.cloud[start] = merged;
            self.cloud.drain(start + 1..end_index);
        }
    }

    fn compact(&mut self) {
        let absorbed = self
            .cloud
            .iter()
            .take_while(|&&(first, _)| first <= self.base.saturating_add(1))
            .count();
        if absorbed > 0 {
            for &(_, last) in &self.cloud[..absorbed] {
                self.base = self.base.max(last);
            }
            self.cloud.drain(..absorbed);
        }
    }

    /// Adds every counter of `other`. Costs O(ranges of `other`) when it has few ranges (a
    /// delta's context), else O(ranges of both): the two sorted lists are merged in one pass,
    /// so that joining contexts with many interleaved ranges never shifts a vector per range.
    pub fn union(&mut self, other: &DotRanges) {
        if other.cloud.len() <= UNION_BY_INSERTS {
            if other.base > 0 {
                self.insert_range(1, other.base);
            }
            for &(first, last) in &other.cloud {
                self.insert_range(first, last);
            }
            return;
        }
        let merged = {
            let mut mine = self.ranges().peekable();
            let mut theirs = other.ranges().peekable();
            let mut merged = DotRanges::new();
            let mut open: Option<(u64, u64)> = None;
            loop {
                let next = match (mine.peek(), theirs.peek()) {
                    (Some(a), Some(b)) if a.0 <= b.0 => mine.next(),
                    (Some(_), Some(_)) => theirs.next(),
                    (Some(_), None) => mine.next(),
                    (None, Some(_)) => theirs.next(),
                    (None, None) => None,
                };
                let Some((first, last)) = next else { break };
                open = match open {
                    Some((start, end)) if first <= end.saturating_add(1) => {
                        Some((start, end.max(last)))
                    }
                    Some(done) => {
                        merged.push_sorted(done);
                        Some((first, last))
                    }
                    None => Some((first, last)),
                };
            }
            if let Some(done) = open {
                merged.push_sorted(done);
            }
            merged
        };
        *self = merged;
    }

    /// Appends a range above, and not touching, everything covered so far.
    fn push_sorted(&mut self, (first, last): (u64, u64)) {
        if first <= 1 {
            self.base = last;
        } else {
            self.cloud.push((first, last));
        }
    }

    /// The counters covered here and not in `seen`. Costs O(ranges here + ranges of `seen`):
    /// both are walked once, side by side.
    pub fn difference(&self, seen: &DotRanges) -> DotRanges {
        let mut out = DotRanges::new();
        let mut theirs = seen.ranges().peekable();
        for (first, last) in self.ranges() {
            // Every counter of first..cursor is decided; cursor..=last is not yet.
            let mut cursor = first;
            loop {
                while theirs
                    .peek()
                    .is_some_and(|&(_, seen_last)| seen_last < cursor)
                {
                    theirs.next();
                }
                match theirs.peek() {
                    Some(&(seen_first, seen_last)) if seen_first <= last => {
                        if seen_first > cursor {
                            out.insert_range(cursor, seen_first - 1);
                        }
                        if seen_last >= last {
                            // The rest is seen; this range of `seen` may cover the next one too.
                            break;
                        }
                        cursor = seen_last + 1;
                        theirs.next();
                    }
                    _ => {
                        out.insert_range(cursor, last);
                        break;
                    }
                }
            }
        }
        out
    }

    /// Every covered range, the compacted prefix first.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        (self.base > 0)
            .then_some((1, self.base))
            .into_iter()
            .chain(self.cloud.iter().copied())
    }

    /// Every covered counter, in ascending order.
    pub fn counters(&self) -> impl Iterator<Item = u64> + '_ {
        self.ranges().flat_map(|(first, last)| first..=last)
    }
}

/// The set of dots a replica (or a delta) has seen, grouped by replica (ordered by replica).
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct CausalContext {
    replicas: SmallVec<[(ReplicaId, DotRanges); 2]>,
}

impl CausalContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// The context of one dot, built without searching.
    pub(crate) fn single(dot: &Dot) -> Self {
        let mut replicas = SmallVec::new();
        replicas.push((dot.replica.clone(), DotRanges::single(dot.counter)));
        CausalContext { replicas }
    }

    fn position(&self, replica: &ReplicaId) -> Result<usize, usize> {
        self.replicas.binary_search_by(|(r, _)| r.cmp(replica))
    }

    /// Whether no dot is covered.
    pub fn is_empty(&self) -> bool {
        self.replicas.iter().all(|(_, ranges)| ranges.is_empty())
    }

    /// Whether `dot` has been seen.
    pub fn contains(&self, dot: &Dot) -> bool {
        self.ranges(&dot.replica)
            .is_some_and(|ranges| ranges.contains(dot.counter))
    }

    /// Marks `dot` as seen.
    pub fn insert(&mut self, dot: &Dot) {
        self.ranges_mut(&dot.replica).insert(dot.counter);
    }

    /// Marks the dot after the highest seen of `replica` as seen, and returns its counter: the
    /// next dot of a replica numbering its own events, with one search.
    pub(crate) fn insert_next(&mut self, replica: &ReplicaId) -> u64 {
        self.ranges_mut(replica).insert_after_max()
    }

    /// The dots seen of `replica`, created empty if it is new.
    pub fn ranges_mut(&mut self, replica: &ReplicaId) -> &mut DotRanges {
        let at = match self.position(replica) {
            Ok(at) => at,
            Err(at) => {
                self.replicas
                    .insert(at, (replica.clone(), DotRanges::new()));
                at
            }
        };
        &mut self.replicas[at].1
    }

    /// Marks all of `ranges` of `replica` as seen.
    pub fn insert_ranges(&mut self, replica: &ReplicaId, ranges: &DotRanges) {
        if ranges.is_empty() {
            return;
        }
        match self.position(replica) {
            Ok(at) => self.replicas[at].1.union(ranges),
            Err(at) => self.replicas.insert(at, (replica.clone(), ranges.clone())),
        }
    }

    /// The least upper bound: every dot seen by either side.
    ///
    /// Costs O(k log n) for k replicas of `other` when at most one of them is new here, and
    /// O(n + k) otherwise: many new replicas are merged with the known ones in one pass rather
    /// than inserted one by one, each shifting the list.
    pub fn join(&mut self, other: &CausalContext) {
        let new = other
            .replicas
            .iter()
            .filter(|(replica, ranges)| !ranges.is_empty() && self.position(replica).is_err())
            .count();
        if new <= 1 {
            for (replica, ranges) in &other.replicas {
                self.insert_ranges(replica, ranges);
            }
            return;
        }
        let mine = std::mem::take(&mut self.replicas);
        let mut joined = SmallVec::with_capacity(mine.len() + new);
        let mut theirs = other
            .replicas
            .iter()
            .filter(|(_, ranges)| !ranges.is_empty())
            .peekable();
        for (replica, mut ranges) in mine {
            while let Some((before, their_ranges)) = theirs.next_if(|(r, _)| *r < replica) {
                joined.push((before.clone(), their_ranges.clone()));
            }
            if let Some((_, their_ranges)) = theirs.next_if(|(r, _)| *r == replica) {
                ranges.union(their_ranges);
            }
            joined.push((replica, ranges));
        }
        joined.extend(theirs.map(|(replica, ranges)| (replica.clone(), ranges.clone())));
        self.replicas = joined;
    }

    /// The dots seen of one replica.
    pub fn ranges(&self, replica: &ReplicaId) -> Option<&DotRanges> {
        self.position(replica).ok().map(|at| &self.replicas[at].1)
    }

    /// Every replica with the dots seen of it, ordered by replica.
    pub fn iter(&self) -> impl Iterator<Item = (&ReplicaId, &DotRanges)> {
        self.replicas
            .iter()
            .map(|(replica, ranges)| (replica, ranges))
    }

    /// Forgets a replica entirely (used when a newer incarnation supersedes it).
    pub fn remove_replica(&mut self, replica: &ReplicaId) -> Option<DotRanges> {
        let at = self.position(replica).ok()?;
        Some(self.replicas.remove(at).1)
    }

    /// Keeps only the replicas for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&ReplicaId) -> bool) {
        self.replicas.retain(|(replica, _)| keep(replica));
    }

    /// How many replicas are mentioned.
    pub fn replica_count(&self) -> usize {
        self.replicas.len()
    }
}

impl FromIterator<(ReplicaId, DotRanges)> for CausalContext {
    fn from_iter<T: IntoIterator<Item = (ReplicaId, DotRanges)>>(iter: T) -> Self {
        let mut context = CausalContext::new();
        for (replica, ranges) in iter {
            context.insert_ranges(&replica, &ranges);
        }
        context
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn out_of_order_dots_compact_into_the_base() {
        let mut ranges = DotRanges::new();
        ranges.insert(3);
        ranges.insert(5);
        assert_eq!(ranges.base(), 0);
        assert_eq!(ranges.cloud(), &[(3, 3), (5, 5)]);
        ranges.insert(1);
        ranges.insert(2);
        assert_eq!(ranges.base(), 3);
        ranges.insert(4);
        assert_eq!(ranges.base(), 5);
        assert!(ranges.cloud().is_empty());
    }

    fn model(ops: &[(u64, u64)]) -> (DotRanges, BTreeSet<u64>) {
        let mut ranges = DotRanges::new();
        let mut set = BTreeSet::new();
        for &(first, len) in ops {
            ranges.insert_range(first, first + len);
            set.extend((first.max(1))..=(first + len));
        }
        (ranges, set)
    }

    #[test]
    fn a_single_counter_is_the_base_only_when_it_is_the_first() {
        assert_eq!(DotRanges::single(0), DotRanges::new());
        assert_eq!(DotRanges::single(1), DotRanges::up_to(1));
        assert_eq!(DotRanges::single(7).cloud(), &[(7, 7)]);
        assert_eq!(DotRanges::single(7).base(), 0);
    }

    #[test]
    fn the_highest_counter_is_an_ordinary_one() {
        let mut ranges = DotRanges::up_to(u64::MAX);
        ranges.insert(0);
        assert_eq!(ranges.base(), u64::MAX, "counter 0 is not a dot");
        assert!(ranges.contains(u64::MAX));
        assert!(ranges.difference(&DotRanges::up_to(u64::MAX)).is_empty());
        let mut top = DotRanges::new();
        top.insert(u64::MAX);
        assert_eq!(top.cloud(), &[(u64::MAX, u64::MAX)]);
        assert!(top.difference(&top.clone()).is_empty());
        assert_eq!(
            DotRanges::up_to(u64::MAX).difference(&top),
            DotRanges::up_to(u64::MAX - 1)
        );
    }

    fn context_of(sections: &[(u8, Vec<(u64, u64)>)]) -> CausalContext {
        let mut context = CausalContext::new();
        for (name, ops) in sections {
            let replica = ReplicaId::new(format!("r{name:02}"), u64::from(name % 3));
            context.insert_ranges(&replica, &model(ops).0);
        }
        context
    }

    proptest! {
        #[test]
        fn joining_contexts_equals_inserting_each_replica(
            mine in prop::collection::vec((0u8..30, prop::collection::vec((0u64..50, 0u64..4), 0..6)), 0..12),
            theirs in prop::collection::vec((0u8..30, prop::collection::vec((0u64..50, 0u64..4), 0..6)), 0..12),
        ) {
            let (mine, theirs) = (context_of(&mine), context_of(&theirs));
            let mut joined = mine.clone();
            joined.join(&theirs);
            let mut by_inserts = mine.clone();
            for (replica, ranges) in theirs.iter() {
                by_inserts.insert_ranges(replica, ranges);
            }
            prop_assert_eq!(&joined, &by_inserts);
            let listed: Vec<&ReplicaId> = joined.iter().map(|(replica, _)| replica).collect();
            prop_assert!(listed.windows(2).all(|pair| pair[0] < pair[1]), "sorted, no repeats");
        }

        #[test]
        fn ranges_behave_like_a_set(ops in prop::collection::vec((0u64..200, 0u64..4), 0..40),
                                    other in prop::collection::vec((0u64..200, 0u64..4), 0..40)) {
            let (ranges, set) = model(&ops);
            let (other_ranges, other_set) = model(&other);
            for counter in 0..210 {
                prop_assert_eq!(ranges.contains(counter), set.contains(&counter));
            }
            prop_assert_eq!(ranges.len(), set.len() as u64);
            prop_assert_eq!(ranges.counters().collect::<Vec<_>>(), set.iter().copied().collect::<Vec<_>>());
            // The cloud is always compacted: it never starts right after the base.
            if let Some(&(first, _)) = ranges.cloud().first() {
                prop_assert!(first > ranges.base() + 1);
            }
            let mut union = ranges.clone();
            union.union(&other_ranges);
            let expected: BTreeSet<u64> = set.union(&other_set).copied().collect();
            prop_assert_eq!(union.counters().collect::<BTreeSet<_>>(), expected.clone());
            // Both ways of taking a union (range by range, or merging the lists) give the same
            // compacted ranges, whichever side has more.
            let mut by_inserts = ranges.clone();
            for (first, last) in other_ranges.ranges() {
                by_inserts.insert_range(first, last);
            }
            prop_assert_eq!(&union, &by_inserts);
            let mut reversed = other_ranges.clone();
            reversed.union(&ranges);
            prop_assert_eq!(&reversed, &by_inserts);
            // The shortcuts of single changes agree with the general insertion.
            let mut next = ranges.clone();
            let counter = next.insert_after_max();
            prop_assert_eq!(counter, ranges.max() + 1);
            let mut inserted = ranges.clone();
            inserted.insert(counter);
            prop_assert_eq!(&next, &inserted);
            let mut single = DotRanges::new();
            single.insert(counter);
            prop_assert_eq!(DotRanges::single(counter), single);
            let difference = ranges.difference(&other_ranges);
            let expected: BTreeSet<u64> = set.difference(&other_set).copied().collect();
            prop_assert_eq!(difference.counters().collect::<BTreeSet<_>>(), expected);
        }
    }
}
