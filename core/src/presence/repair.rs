//! Owner-side repair: making every local change visible in digests, and sending a peer exactly
//! what it needs to hold the same entries of a replica as this state does.
//!
//! A removal drops a dot from the store but creates no new dot, so a peer that missed it sees
//! the same version vector as the owner and never learns it has a ghost. Two things fix that:
//! every removal is sealed with a fresh, empty dot (so a missed removal shows up as a gap in the
//! digest; see [`PresenceState::untrack`]), and a repair carries, besides the entries the peer has not seen, the
//! removed dots it has seen (so the peer drops the entries it still holds).

use crate::aworset::{DotMap, DotStore};
use crate::context::{CausalContext, DotRanges};
use crate::dot::Dot;
use crate::presence::{Delta, PresenceState};
use crate::replica::ReplicaId;

impl PresenceState {
    /// What a peer that has seen the dots `seen` of `replica` needs in order to hold exactly the
    /// entries of `replica` that this state holds: the entries it has not seen, and, in the
    /// context, every dot this state has seen except the live ones the peer already has, so that
    /// joining the result drops whatever the peer still holds and this state has removed.
    ///
    /// Empty when this state does not share `replica` (down, removed, or not the newest
    /// incarnation) or has nothing the peer lacks. Costs O(entries of `replica` held here +
    /// ranges of `seen`), whatever the length of the replica's history.
    pub fn repair_since(&self, replica: &ReplicaId, seen: &DotRanges) -> Delta {
        let mut store = DotMap::default();
        let mut context = CausalContext::new();
        let Some(mine) = self.set.context().ranges(replica) else {
            return Delta::from_parts(store, context);
        };
        if !self.shares(replica) || mine.difference(seen).is_empty() {
            return Delta::from_parts(store, context);
        }
        let counters = self.set.store().counters_of(replica);
        let mut live_seen = DotRanges::new();
        for counter in counters {
            if seen.contains(counter) {
                live_seen.insert(counter);
            } else if let Some(presence) = self.set.store().get(&Dot::new(replica.clone(), counter))
            {
                store.insert_dot(presence.dot, presence.entry);
            }
        }
        context.insert_ranges(replica, &mine.difference(&live_seen));
        Delta::from_parts(store, context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::Meta;

    fn replica(name: &str) -> ReplicaId {
        ReplicaId::new(name, 1)
    }

    fn keys(state: &PresenceState, topic: &str) -> Vec<String> {
        state
            .list(topic)
            .iter()
            .flat_map(|group| group.presences().iter().map(|p| p.pid().to_owned()))
            .collect()
    }

    #[test]
    fn a_sealed_removal_shows_up_in_the_digest() {
        let mut owner = PresenceState::new(replica("a"));
        let tracked = owner
            .track("room", "alice", "p1", &Meta::empty())
            .expect("track");
        let mut peer = PresenceState::new(replica("b"));
        peer.merge(tracked.delta());
        owner.untrack("room", "alice", "p1");
        let theirs = peer.digest().ranges(owner.replica()).cloned().unwrap();
        let mine = owner.digest().ranges(owner.replica()).cloned().unwrap();
        assert!(!mine.difference(&theirs).is_empty());
    }

    #[test]
    fn a_repair_drops_ghosts_and_adds_what_is_missing() {
        let a = replica("a");
        let mut owner = PresenceState::new(a.clone());
        let mut peer = PresenceState::new(replica("b"));
        for pid in ["p1", "p2", "p3"] {
            let tracked = owner
                .track("room", pid, pid, &Meta::empty())
                .expect("track");
            peer.merge(tracked.delta());
        }
        // The peer misses every one of these.
        owner.untrack("room", "p2", "p2");
        owner
            .update("room", "p3", "p3", &Meta::from_json(r#"{"x":1}"#).unwrap())
            .expect("update");
        owner
            .track("room", "p4", "p4", &Meta::empty())
            .expect("track");

        let seen = peer.context().ranges(&a).cloned().unwrap_or_default();
        let repair = owner.repair_since(&a, &seen);
        // Only the two new entries travel with their bodies; p1 stays where it is.
        assert_eq!(repair.store().len(), 2);
        peer.merge(repair);
        assert_eq!(keys(&peer, "room"), keys(&owner, "room"));
        assert_eq!(peer.get_by_key("room", "p3")[0].meta(), r#"{"x":1}"#);
        assert_eq!(
            peer.context().ranges(&a),
            owner.context().ranges(&a),
            "the peer is level with the owner afterwards"
        );
        let again = owner.repair_since(&a, peer.context().ranges(&a).unwrap());
        assert!(again.context().is_empty() && again.store().is_empty());
    }

    #[test]
    fn a_repair_for_a_peer_that_has_nothing_is_the_whole_section() {
        let a = replica("a");
        let mut owner = PresenceState::new(a.clone());
        for pid in ["p1", "p2"] {
            owner
                .track("room", pid, pid, &Meta::empty())
                .expect("track");
        }
        owner.untrack("room", "p1", "p1");
        let mut peer = PresenceState::new(replica("b"));
        peer.merge(owner.repair_since(&a, &DotRanges::new()));
        assert_eq!(keys(&peer, "room"), vec!["p2".to_owned()]);
    }
}
