//! A generic delta-state add-wins observed-remove set (Almeida, Shoker, Baquero, "Delta State
//! Replicated Data Types", 2018), over any [`DotStore`].
//!
//! The state is a dot store (which element was added by which dot) and a [`CausalContext`] (every
//! dot ever seen). An element is present while its dot is in the store. Removing it drops the dot
//! from the store but keeps it in the context, so a replica that still holds the element learns of
//! the removal when it joins: "in your store, in my context, not in my store" means "removed". An
//! add concurrent with a remove carries a dot the remover never saw, so it survives: add wins.
//!
//! Every mutator returns a delta, itself an [`AWORSet`] over a [`DotMap`], holding only what the
//! mutation changed; joining deltas in any order, any number of times, gives the same state.

use smallvec::SmallVec;

use crate::context::CausalContext;
use crate::dot::Dot;
use crate::replica::ReplicaId;

/// Storage of the elements of an [`AWORSet`], indexed by the dot that added them.
///
/// The presence state implements it with indexes by topic, key and pid; deltas use [`DotMap`].
pub trait DotStore {
    /// What is stored under each dot.
    type Element;

    /// Whether an element is stored under `dot`.
    fn contains_dot(&self, dot: &Dot) -> bool;
    /// Stores `element` under `dot`; the caller guarantees the dot is not stored yet.
    fn insert_dot(&mut self, dot: Dot, element: Self::Element);
    /// Removes and returns the element stored under `dot`.
    fn remove_dot(&mut self, dot: &Dot) -> Option<Self::Element>;
    /// How many elements `replica` added that are still stored.
    fn count_of(&self, replica: &ReplicaId) -> usize;
    /// The counters of the stored dots of `replica`, ascending.
    fn counters_of(&self, replica: &ReplicaId) -> Vec<u64>;
}

/// A plain dot store: elements grouped by replica, then by counter, in a deterministic order.
///
/// Sorted vectors rather than trees: deltas are mostly tiny (one or a few dots), and a tree
/// allocates a whole node for each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DotMap<E> {
    replicas: SmallVec<[(ReplicaId, Entries<E>); 1]>,
}

/// The elements of one replica in a [`DotMap`], ordered by counter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entries<E> {
    items: SmallVec<[(u64, E); 1]>,
}

impl<E> Default for Entries<E> {
    fn default() -> Self {
        Entries {
            items: SmallVec::new(),
        }
    }
}

impl<E> Entries<E> {
    /// How many elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The element under `counter`.
    pub fn get(&self, counter: u64) -> Option<&E> {
        self.position(counter).ok().map(|at| &self.items[at].1)
    }

    /// Every (counter, element), ordered by counter.
    pub fn iter(&self) -> impl Iterator<Item = (&u64, &E)> {
        self.items
            .iter()
            .map(|(counter, element)| (counter, element))
    }

    fn position(&self, counter: u64) -> Result<usize, usize> {
        match self.items.last() {
            Some(&(last, _)) if last < counter => Err(self.items.len()),
            _ => self.items.binary_search_by(|(c, _)| c.cmp(&counter)),
        }
    }

    fn insert(&mut self, counter: u64, element: E) {
        match self.position(counter) {
            Ok(at) => self.items[at].1 = element,
            Err(at) => self.items.insert(at, (counter, element)),
        }
    }

    fn remove(&mut self, counter: u64) -> Option<E> {
        let at = self.position(counter).ok()?;
        Some(self.items.remove(at).1)
    }
}

impl<'a, E> IntoIterator for &'a Entries<E> {
    type Item = (&'a u64, &'a E);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, (u64, E)>, fn(&'a (u64, E)) -> (&'a u64, &'a E)>;
    fn into_iter(self) -> Self::IntoIter {
        self.items
            .iter()
            .map(|(counter, element)| (counter, element))
    }
}

impl<E> IntoIterator for Entries<E> {
    type Item = (u64, E);
    type IntoIter = smallvec::IntoIter<[(u64, E); 1]>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<E> Default for DotMap<E> {
    fn default() -> Self {
        DotMap {
            replicas: SmallVec::new(),
        }
    }
}

impl<E> DotMap<E> {
    fn group(&self, replica: &ReplicaId) -> Option<&Entries<E>> {
        self.replicas
            .binary_search_by(|(r, _)| r.cmp(replica))
            .ok()
            .map(|at| &self.replicas[at].1)
    }

    /// The element stored under `dot`.
    pub fn get(&self, dot: &Dot) -> Option<&E> {
        self.group(&dot.replica)?.get(dot.counter)
    }

    /// How many elements are stored.
    pub fn len(&self) -> usize {
        self.replicas.iter().map(|(_, entries)| entries.len()).sum()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.replicas.iter().all(|(_, entries)| entries.is_empty())
    }

    /// Every stored element with its dot's replica and counter, ordered by dot.
    pub fn iter(&self) -> impl Iterator<Item = (&ReplicaId, u64, &E)> {
        self.replicas.iter().flat_map(|(replica, entries)| {
            entries
                .items
                .iter()
                .map(move |(counter, element)| (replica, *counter, element))
        })
    }

    /// The elements of one replica, ordered by counter.
    pub fn of_replica(&self, replica: &ReplicaId) -> Option<&Entries<E>> {
        self.group(replica)
    }

    /// Every replica that has elements here, with its elements by counter, ordered by replica.
    pub fn by_replica(&self) -> impl Iterator<Item = (&ReplicaId, &Entries<E>)> {
        self.replicas
            .iter()
            .map(|(replica, entries)| (replica, entries))
    }

    /// Consumes the map, giving each replica's elements ordered by counter.
    pub fn into_by_replica(self) -> impl Iterator<Item = (ReplicaId, Entries<E>)> {
        self.replicas.into_iter()
    }

    /// Drops every element of the replicas for which `keep` returns false.
    pub fn retain_replicas(&mut self, mut keep: impl FnMut(&ReplicaId) -> bool) {
        self.replicas.retain(|(replica, _)| keep(replica));
    }

    /// Adds the elements of one replica in one go; faster than inserting them one by one.
    pub fn extend_replica(
        &mut self,
        replica: &ReplicaId,
        elements: impl IntoIterator<Item = (u64, E)>,
    ) {
        let at = match self.replicas.binary_search_by(|(r, _)| r.cmp(replica)) {
            Ok(at) => at,
            Err(at) => {
                self.replicas
                    .insert(at, (replica.clone(), Entries::default()));
                at
            }
        };
        let entries = &mut self.replicas[at].1;
        entries.items.extend(elements);
        if !entries.items.is_sorted_by(|a, b| a.0 < b.0) {
            entries.items.sort_by_key(|(counter, _)| *counter);
            entries.items.dedup_by_key(|(counter, _)| *counter);
        }
        if entries.items.is_empty() {
            self.replicas.remove(at);
        }
    }
}

impl<E> DotStore for DotMap<E> {
    type Element = E;

    fn contains_dot(&self, dot: &Dot) -> bool {
        self.get(dot).is_some()
    }

    fn insert_dot(&mut self, dot: Dot, element: E) {
        let at = match self.replicas.last() {
            Some((last, _)) if *last == dot.replica => self.replicas.len() - 1,
            _ => match self.replicas.binary_search_by(|(r, _)| r.cmp(&dot.replica)) {
                Ok(at) => at,
                Err(at) => {
                    self.replicas.insert(at, (dot.replica, Entries::default()));
                    at
                }
            },
        };
        self.replicas[at].1.insert(dot.counter, element);
    }

    fn remove_dot(&mut self, dot: &Dot) -> Option<E> {
        let at = self
            .replicas
            .binary_search_by(|(r, _)| r.cmp(&dot.replica))
            .ok()?;
        let removed = self.replicas[at].1.remove(dot.counter);
        if self.replicas[at].1.is_empty() {
            self.replicas.remove(at);
        }
        removed
    }

    fn count_of(&self, replica: &ReplicaId) -> usize {
        self.group(replica).map_or(0, Entries::len)
    }

    fn counters_of(&self, replica: &ReplicaId) -> Vec<u64> {
        self.group(replica)
            .map(|entries| entries.items.iter().map(|(counter, _)| *counter).collect())
            .unwrap_or_default()
    }
}

/// What a join changed, reported to the caller's observer as it happens.
pub enum JoinEvent<'a, E> {
    /// An element became present, under this dot.
    Added(&'a Dot, &'a E),
    /// An element was removed; its dot stays in the context.
    Removed(Dot, E),
}

/// A delta-state add-wins observed-remove set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AWORSet<S> {
    store: S,
    context: CausalContext,
}

/// A delta: the same set type over a plain [`DotMap`].
pub type Delta<E> = AWORSet<DotMap<E>>;

impl<S: Default> Default for AWORSet<S> {
    fn default() -> Self {
        AWORSet {
            store: S::default(),
            context: CausalContext::new(),
        }
    }
}

impl<S: Default> AWORSet<S> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> AWORSet<S> {
    /// Builds a set from its parts. The caller guarantees every stored dot is in the context.
    pub fn from_parts(store: S, context: CausalContext) -> Self {
        AWORSet { store, context }
    }

    /// The dot store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The dot store, mutably. Only for callers that keep the store within the context.
    pub(crate) fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The causal context: every dot ever seen.
    pub fn context(&self) -> &CausalContext {
        &self.context
    }

    pub(crate) fn context_mut(&mut self) -> &mut CausalContext {
        &mut self.context
    }

    /// The store and the context at once, for a join written against a concrete store. Only
    /// for callers that keep the store within the context.
    pub(crate) fn parts_mut(&mut self) -> (&mut S, &mut CausalContext) {
        (&mut self.store, &mut self.context)
    }

    /// Splits the set into its store and context.
    pub fn into_parts(self) -> (S, CausalContext) {
        (self.store, self.context)
    }
}

impl<S: DotStore> AWORSet<S> {
    /// Adds `element` with the next dot of `replica`. Returns the dot and the delta.
    pub fn add(&mut self, replica: &ReplicaId, element: S::Element) -> (Dot, Delta<S::Element>)
    where
        S::Element: Clone,
    {
        let counter = self.context.ranges(replica).map_or(0, |r| r.max()) + 1;
        let dot = Dot::new(replica.clone(), counter);
        let mut delta = Delta::new();
        delta.context.insert(&dot);
        delta.store.insert_dot(dot.clone(), element.clone());
        self.context.insert(&dot);
        self.store.insert_dot(dot.clone(), element);
        (dot, delta)
    }

    /// Removes the element stored under `dot`, if any. The delta carries only the dot, in its
    /// context: whoever joins it drops the element, whoever adds concurrently keeps theirs.
    pub fn remove(&mut self, dot: &Dot) -> (Option<S::Element>, Delta<S::Element>) {
        let mut delta = Delta::new();
        let removed = self.store.remove_dot(dot);
        if removed.is_some() {
            delta.context.insert(dot);
        }
        (removed, delta)
    }

    /// Joins `other` into this set: the least upper bound of both. Commutative, associative and
    /// idempotent; costs O(size of `other`), not O(size of self), when `other` is a delta.
    pub fn join(
        &mut self,
        other: Delta<S::Element>,
        mut observe: impl FnMut(JoinEvent<'_, S::Element>),
    ) {
        let (other_store, other_context) = other.into_parts();
        // Removals first: "stored here, seen there, not stored there" was removed there.
        for (replica, ranges) in other_context.iter() {
            let held = self.store.count_of(replica);
            if held == 0 {
                continue;
            }
            let removed: Vec<u64> = if ranges.len() <= held as u64 {
                ranges
                    .counters()
                    .filter(|&counter| self.holds(&other_store, replica, counter))
                    .collect()
            } else {
                self.store
                    .counters_of(replica)
                    .into_iter()
                    .filter(|&counter| {
                        ranges.contains(counter) && self.holds(&other_store, replica, counter)
                    })
                    .collect()
            };
            for counter in removed {
                let dot = Dot::new(replica.clone(), counter);
                if let Some(element) = self.store.remove_dot(&dot) {
                    observe(JoinEvent::Removed(dot, element));
                }
            }
        }
        // Additions: a dot neither stored nor seen here is new.
        for (replica, entries) in other_store.into_by_replica() {
            let seen = self.context.ranges(&replica).cloned().unwrap_or_default();
            for (counter, element) in entries {
                if seen.contains(counter) {
                    continue;
                }
                let dot = Dot::new(replica.clone(), counter);
                if self.store.contains_dot(&dot) {
                    continue;
                }
                observe(JoinEvent::Added(&dot, &element));
                self.store.insert_dot(dot, element);
            }
        }
        self.context.join(&other_context);
    }

    /// Whether this store holds `(replica, counter)` and `other` does not.
    fn holds(&self, other: &DotMap<S::Element>, replica: &ReplicaId, counter: u64) -> bool {
        let dot = Dot::new(replica.clone(), counter);
        self.store.contains_dot(&dot) && !other.contains_dot(&dot)
    }
}

impl<E> AWORSet<DotMap<E>> {
    /// The delta of one element added under `dot`, built without searching anything.
    pub(crate) fn single(dot: Dot, element: E) -> Self {
        let context = CausalContext::single(&dot);
        // Filled inline at their one element: no capacity checks.
        let items = SmallVec::from_buf([(dot.counter, element)]);
        let replicas = SmallVec::from_buf([(dot.replica, Entries { items })]);
        AWORSet {
            store: DotMap { replicas },
            context,
        }
    }
}

impl<E: Clone> AWORSet<DotMap<E>> {
    /// Joins two deltas without observing (a delta group).
    pub fn merged(mut self, other: Delta<E>) -> Self {
        self.join(other, |_| {});
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Set = AWORSet<DotMap<u8>>;

    fn replica(index: u8) -> ReplicaId {
        ReplicaId::new(format!("r{index}"), 1)
    }

    fn elements(set: &Set) -> Vec<u8> {
        let mut out: Vec<u8> = set.store().iter().map(|(_, _, &e)| e).collect();
        out.sort_unstable();
        out
    }

    #[test]
    fn concurrent_add_wins_over_remove() {
        let (a, b) = (replica(0), replica(1));
        let mut left = Set::new();
        let (dot, delta) = left.add(&a, 7);
        let mut right = Set::new();
        right.join(delta, |_| {});
        // left removes 7 while right, concurrently, adds 7 again.
        let (_, removal) = left.remove(&dot);
        let (_, re_add) = right.add(&b, 7);
        left.join(re_add, |_| {});
        right.join(removal, |_| {});
        assert_eq!(elements(&left), vec![7]);
        assert_eq!(left, right);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(u8, u8),
        Remove(u8, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..3, 0u8..8).prop_map(|(r, e)| Op::Add(r, e)),
            (0u8..3, 0usize..16).prop_map(|(r, i)| Op::Remove(r, i)),
        ]
    }

    /// Builds three replicas' states from random ops with partial delta exchange.
    fn states(ops: &[Op]) -> Vec<Set> {
        let mut sets = vec![Set::new(), Set::new(), Set::new()];
        for (step, op) in ops.iter().enumerate() {
            let (origin, delta) = match *op {
                Op::Add(r, e) => {
                    let (_, d) = sets[r as usize].add(&replica(r), e);
                    (r as usize, d)
                }
                Op::Remove(r, index) => {
                    let dots: Vec<Dot> = sets[r as usize]
                        .store()
                        .iter()
                        .map(|(rep, c, _)| Dot::new(rep.clone(), c))
                        .collect();
                    if dots.is_empty() {
                        continue;
                    }
                    let dot = dots[index % dots.len()].clone();
                    let (_, d) = sets[r as usize].remove(&dot);
                    (r as usize, d)
                }
            };
            // Share with one other replica, chosen by the step.
            let target = (origin + 1 + step % 2) % 3;
            sets[target].join(delta, |_| {});
        }
        sets
    }

    proptest! {
        #[test]
        fn join_is_commutative_associative_and_idempotent(ops in prop::collection::vec(op(), 0..40)) {
            let sets = states(&ops);
            let (a, b, c) = (&sets[0], &sets[1], &sets[2]);
            prop_assert_eq!(a.clone().merged(b.clone()), b.clone().merged(a.clone()));
            prop_assert_eq!(
                a.clone().merged(b.clone()).merged(c.clone()),
                a.clone().merged(b.clone().merged(c.clone()))
            );
            prop_assert_eq!(a.clone().merged(a.clone()), a.clone());
        }

        #[test]
        fn an_add_concurrent_with_removals_of_the_same_element_wins(
            ops in prop::collection::vec(op(), 0..40),
            element in 0u8..8,
        ) {
            let sets = states(&ops);
            let (mut adder, mut remover) = (sets[0].clone(), sets[1].clone());
            // The remover drops every copy of `element` it sees; the adder, concurrently, adds it.
            let mut removals = Delta::new();
            let seen: Vec<Dot> = remover
                .store()
                .iter()
                .filter(|(_, _, e)| **e == element)
                .map(|(replica, counter, _)| Dot::new(replica.clone(), counter))
                .collect();
            for dot in seen {
                let (_, delta) = remover.remove(&dot);
                removals = removals.merged(delta);
            }
            let (_, addition) = adder.add(&replica(0), element);
            adder.join(removals, |_| {});
            remover.join(addition, |_| {});
            prop_assert!(elements(&adder).contains(&element));
            prop_assert!(elements(&remover).contains(&element));
        }

        #[test]
        fn a_join_reports_exactly_the_elements_that_changed(ops in prop::collection::vec(op(), 0..40)) {
            let sets = states(&ops);
            let mut target = sets[0].clone();
            let before = elements(&target);
            let mut added = Vec::new();
            let mut removed = Vec::new();
            target.join(sets[1].clone(), |event| match event {
                JoinEvent::Added(_, &e) => added.push(e),
                JoinEvent::Removed(_, e) => removed.push(e),
            });
            let mut expected = before;
            for e in &removed {
                let at = expected.iter().position(|x| x == e).unwrap();
                expected.remove(at);
            }
            expected.extend(added);
            expected.sort_unstable();
            prop_assert_eq!(expected, elements(&target));
        }
    }
}
