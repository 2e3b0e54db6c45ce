//! Replication feeds: what a server needs to keep client replicas (a browser running the same
//! CRDT) in step with it, one topic each.
//!
//! A feed starts with the node's full state and then yields every delta the node applies and
//! every liveness verdict it makes, in order. A server projects each delta to the topic a
//! client follows ([`project`]), which keeps the delta's causal context whole, so the client's
//! merge stays a correct CRDT merge; it forwards verdicts as
//! [`Message::Liveness`](beryl_core::Message::Liveness), so the client hides and shows exactly
//! what the server does.

use std::sync::Arc;

use beryl_core::aworset::DotStore;
use beryl_core::{Delta, Dot, DotMap, ReplicaId, ReplicaStatus};
use tokio::sync::broadcast;

use crate::diffs::DiffStreamError;

/// One step of a [`ReplicationFeed`].
#[derive(Clone, Debug)]
pub enum FeedEvent {
    /// A delta the node applied: a local change, a merged remote delta, or the entries of a
    /// replica that came back up.
    Applied(Arc<Delta>),
    /// The node's verdict about a replica changed.
    Liveness {
        /// The replica.
        replica: ReplicaId,
        /// Its status on this node now.
        status: ReplicaStatus,
    },
}

/// A node's state and its changes from then on (see the [module documentation](self)). Needs
/// [`Config::replication_feed`](crate::Config::replication_feed).
#[derive(Debug)]
pub struct ReplicationFeed {
    /// The node's replica: the sender of the messages a server builds from the feed.
    pub replica: ReplicaId,
    /// Everything the node shares at the moment the feed opened.
    pub initial: Delta,
    events: broadcast::Receiver<FeedEvent>,
}

impl ReplicationFeed {
    pub(crate) fn new(
        replica: ReplicaId,
        initial: Delta,
        events: broadcast::Receiver<FeedEvent>,
    ) -> Self {
        ReplicationFeed {
            replica,
            initial,
            events,
        }
    }

    /// The next event. After [`DiffStreamError::Lagged`], events were lost: a client replica
    /// fed from this feed must be started again from a new feed.
    pub async fn recv(&mut self) -> Result<FeedEvent, DiffStreamError> {
        match self.events.recv().await {
            Ok(event) => Ok(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                Err(DiffStreamError::Lagged { missed })
            }
            Err(broadcast::error::RecvError::Closed) => Err(DiffStreamError::Closed),
        }
    }
}

/// What a client replica of one topic starts from: the topic's projection of the node's state
/// and the node's verdict about every other replica it knows. See
/// [`PresenceHandle::topic_snapshot`](crate::PresenceHandle::topic_snapshot).
#[derive(Clone, Debug)]
pub struct TopicSnapshot {
    /// Every stored entry of the topic, visible or hidden because its replica is down, with
    /// the node's whole causal context (see `PresenceState::topic_projection`).
    pub delta: Delta,
    /// The status of every replica the node knows but its own, to apply after `delta`: a
    /// down replica's entries are in `delta` and must be hidden, and a client that missed
    /// verdicts (a lagged feed) learns the current ones, ups included.
    pub verdicts: Vec<(ReplicaId, ReplicaStatus)>,
}

/// The part of `delta` a client replica of `topic` receives: the entries of that topic, and
/// the whole causal context (a client's topic set is fixed for its lifetime, so covering dots
/// of other topics is harmless, and it keeps removals and compaction exact).
pub fn project(delta: &Delta, topic: &str) -> Delta {
    let mut store = DotMap::default();
    for (replica, counter, entry) in delta.store().iter() {
        if entry.topic() == topic {
            store.insert_dot(Dot::new(replica.clone(), counter), entry.clone());
        }
    }
    Delta::from_parts(store, delta.context().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use beryl_core::{Meta, PresenceState};

    #[test]
    fn a_projection_keeps_one_topic_and_the_whole_context() {
        let mut server = PresenceState::new(ReplicaId::new("server", 1));
        let mut delta = Delta::default();
        for topic in ["room:1", "room:2"] {
            let tracked = server.track(topic, "alice", "p", &Meta::empty()).unwrap();
            delta = delta.merged(tracked.delta());
        }
        let projected = project(&delta, "room:1");
        assert_eq!(projected.store().len(), 1);
        assert_eq!(projected.context(), delta.context());

        let mut client = PresenceState::new(ReplicaId::new("client", 1));
        client.merge(projected);
        assert_eq!(client.list("room:1").len(), 1);
        assert!(client.list("room:2").is_empty());
        // A later removal in the followed topic reaches the client.
        let change = server.untrack("room:1", "alice", "p");
        client.merge(project(&change.delta, "room:1"));
        assert!(client.list("room:1").is_empty());
    }
}
