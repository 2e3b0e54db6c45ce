//! Client replicas scoped to one topic.
//!
//! A browser follows one topic, not a cluster's whole state. Filtering a state or a delta to the
//! entries of one topic while keeping its causal context whole commutes with join: filtering is
//! element-wise, and the join keeps an entry when both sides hold it or the other side's context
//! does not cover it. So a server can send a client the projection of its state, then the
//! projection of every delta it applies, and the client's merge stays a correct CRDT merge.
//!
//! The one rule: a client replica's topic is fixed for its lifetime, since its context covers
//! dots of entries of other topics that it never stored.
//!
//! Liveness verdicts are not part of a projection: the projection carries the entries of
//! replicas the server considers down too, and the server sends its verdicts as their own
//! messages, so the client hides and shows exactly what the server does and nothing is lost when
//! a replica comes back.

use crate::aworset::{DotMap, DotStore};
use crate::dot::Dot;
use crate::liveness::ReplicaStatus;
use crate::presence::{Delta, Entry, Presence, PresenceState};

impl PresenceState {
    /// The state a client replica of `topic` starts from: every stored entry of `topic`
    /// (visible, or hidden because its replica is down) with this state's whole causal context.
    ///
    /// Costs O(visible entries of `topic` + entries of down replicas + size of the context).
    pub fn topic_projection(&self, topic: &str) -> Delta {
        let mut store: DotMap<Entry> = DotMap::default();
        for group in self.list(topic) {
            for presence in group.into_presences() {
                let Presence { dot, entry } = presence;
                store.insert_dot(dot, entry);
            }
        }
        for (replica, status) in self.replicas() {
            if status != ReplicaStatus::Down {
                continue;
            }
            for counter in self.set.store().counters_of(&replica) {
                let dot = Dot::new(replica.clone(), counter);
                if let Some(presence) = self.get(&dot) {
                    if presence.topic() == topic {
                        let Presence { dot, entry } = presence;
                        store.insert_dot(dot, entry);
                    }
                }
            }
        }
        Delta::from_parts(store, self.context().clone())
    }
}

impl Delta {
    /// This delta restricted to the entries of `topic`, its causal context kept whole: what a
    /// client replica of `topic` must merge to follow a state that merges this delta.
    pub fn project(&self, topic: &str) -> Delta {
        let mut store: DotMap<Entry> = DotMap::default();
        for (replica, counter, entry) in self.store().iter() {
            if entry.topic() == topic {
                store.insert_dot(Dot::new(replica.clone(), counter), entry.clone());
            }
        }
        Delta::from_parts(store, self.context().clone())
    }

    /// Whether every dot of the context is an entry of the delta: it adds entries and removes
    /// none, so it changes nothing for a client replica of a topic none of its entries are in.
    pub fn only_adds(&self) -> bool {
        // Replica by replica: a peer sets the counters, and a sum over replicas could overflow.
        self.context()
            .iter()
            .all(|(replica, ranges)| ranges.len() == self.store().count_of(replica) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::DotRanges;
    use crate::meta::Meta;
    use crate::replica::ReplicaId;

    fn meta(text: &str) -> Meta {
        Meta::from_json(text).unwrap()
    }

    fn listing(state: &PresenceState, topic: &str) -> Vec<(String, String, String)> {
        state
            .list(topic)
            .into_iter()
            .flat_map(|group| group.into_presences())
            .map(|p| {
                (
                    p.key().to_owned(),
                    p.pid().to_owned(),
                    p.phx_ref().to_string(),
                )
            })
            .collect()
    }

    fn client() -> PresenceState {
        PresenceState::new(ReplicaId::new("client", 7))
    }

    #[test]
    fn a_projection_holds_one_topic_and_the_whole_context() {
        let mut server = PresenceState::new(ReplicaId::new("server", 1));
        server.track("room:a", "ada", "p1", &meta("{}")).unwrap();
        server.track("room:b", "bob", "p2", &meta("{}")).unwrap();
        server
            .track("room:a", "cy", "p3", &meta(r#"{"x":1}"#))
            .unwrap();
        let projection = server.topic_projection("room:a");
        assert_eq!(projection.store().len(), 2);
        assert!(
            projection
                .store()
                .iter()
                .all(|(_, _, entry)| entry.topic() == "room:a")
        );
        assert_eq!(projection.context(), server.context());

        let mut client = client();
        client.merge(projection);
        assert_eq!(listing(&client, "room:a"), listing(&server, "room:a"));
        assert!(client.list("room:b").is_empty());
    }

    #[test]
    fn entries_of_a_down_replica_are_projected_so_they_can_come_back() {
        let other = ReplicaId::new("other", 1);
        let mut remote = PresenceState::new(other.clone());
        let tracked = remote.track("room", "ada", "p1", &meta("{}")).unwrap();
        let mut server = PresenceState::new(ReplicaId::new("server", 1));
        server.merge(tracked.delta());
        server.replica_down(&other).unwrap();
        assert!(server.list("room").is_empty());

        let projection = server.topic_projection("room");
        assert_eq!(projection.store().len(), 1);
        let mut client = client();
        client.merge(projection);
        client.replica_down(&other).unwrap();
        assert!(client.list("room").is_empty());

        server.replica_up(&other).unwrap();
        let diff = client.replica_up(&other).unwrap();
        assert_eq!(diff.joins().count(), 1);
        assert_eq!(listing(&client, "room"), listing(&server, "room"));
    }

    #[test]
    fn projected_deltas_delivered_twice_and_out_of_order_converge_to_the_server() {
        let mut server = PresenceState::new(ReplicaId::new("server", 1));
        let mut deltas = Vec::new();
        for index in 0..6 {
            let topic = if index % 2 == 0 { "room" } else { "elsewhere" };
            let pid = format!("p{index}");
            deltas.push(server.track(topic, "k", &pid, &meta("{}")).unwrap().delta());
        }
        deltas.push(
            server
                .update("room", "k", "p2", &meta(r#"{"s":2}"#))
                .unwrap()
                .delta(),
        );
        deltas.push(server.untrack("room", "k", "p0").delta);
        deltas.push(server.untrack_all("p4").delta);

        let mut client = client();
        let order = [8, 3, 0, 7, 0, 1, 5, 2, 8, 6, 4, 2];
        for &index in &order {
            client.merge(deltas[index].project("room"));
        }
        assert_eq!(listing(&client, "room"), listing(&server, "room"));
        assert_eq!(listing(&client, "room").len(), 1);
    }

    #[test]
    fn only_adds_tells_additions_from_removals() {
        let mut server = PresenceState::new(ReplicaId::new("server", 1));
        let added = server.track("room", "k", "p", &meta("{}")).unwrap().delta();
        assert!(added.only_adds());
        let updated = server
            .update("room", "k", "p", &meta(r#"{"a":1}"#))
            .unwrap()
            .delta();
        assert!(!updated.only_adds());
        assert!(!server.untrack("room", "k", "p").delta.only_adds());
    }

    #[test]
    fn only_adds_compares_each_replica_and_cannot_overflow() {
        let mut a = PresenceState::new(ReplicaId::new("a", 1));
        let mut b = PresenceState::new(ReplicaId::new("b", 1));
        let both = a
            .track("room", "k", "p", &meta("{}"))
            .unwrap()
            .delta()
            .merged(b.track("room", "k", "p", &meta("{}")).unwrap().delta());
        assert!(both.only_adds());
        // One replica's removal is not made up for by another's extra entries.
        let mut uneven = both.clone();
        uneven
            .context_mut()
            .insert(&Dot::new(ReplicaId::new("a", 1), 2));
        uneven.store_mut().insert_dot(
            Dot::new(ReplicaId::new("c", 1), 1),
            a.get(&Dot::new(ReplicaId::new("a", 1), 1)).unwrap().entry,
        );
        assert!(!uneven.only_adds());
        // Ranges as long as a peer may claim: their lengths add up past u64::MAX.
        let mut huge = Delta::new();
        huge.context_mut()
            .insert_ranges(&ReplicaId::new("a", 1), &DotRanges::up_to(u64::MAX));
        huge.context_mut()
            .insert_ranges(&ReplicaId::new("b", 1), &DotRanges::up_to(1));
        assert!(!huge.only_adds());
    }
}
