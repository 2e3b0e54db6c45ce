//! The engine's table of peers: one record per node name, for liveness and rate limits.
//!
//! Records are dropped when a peer leaves for good or is superseded by a newer incarnation, so
//! the table holds at most one record per name that is still alive or recently silent, however
//! many times nodes restart.

use hashbrown::HashMap;

use crate::context::CausalContext;
use crate::replica::ReplicaId;

/// What the engine knows of one peer.
#[derive(Debug)]
pub(crate) struct Peer {
    /// The incarnation heard.
    pub(crate) id: ReplicaId,
    /// When it was last heard, in the driver's milliseconds.
    pub(crate) last_heard: u64,
    /// Whether it is marked down.
    pub(crate) down: bool,
    /// The highest dot of its own it has announced: having every dot up to this one means
    /// having all it had then.
    pub(crate) advertised: u64,
    /// When a state request was last sent to it.
    pub(crate) last_request: Option<u64>,
    /// A state request is due as soon as the backoff allows.
    pub(crate) request_wanted: bool,
    /// When a state reply was last sent to it.
    pub(crate) last_reply: Option<u64>,
    /// The digest of a request not answered yet because of the backoff: only the latest one
    /// is kept, since it supersedes the earlier ones.
    pub(crate) owed_reply: Option<CausalContext>,
}

impl Peer {
    fn new(id: ReplicaId, now: u64) -> Self {
        Peer {
            id,
            last_heard: now,
            down: false,
            advertised: 0,
            last_request: None,
            request_wanted: false,
            last_reply: None,
            owed_reply: None,
        }
    }
}

/// Whether `last` is long enough ago for another send under `backoff`.
pub(crate) fn allowed(last: Option<u64>, now: u64, backoff: u64) -> bool {
    last.is_none_or(|at| now.saturating_sub(at) >= backoff)
}

/// Peers by name.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    by_name: HashMap<Box<str>, Peer>,
}

impl Peers {
    pub(crate) fn contains(&self, id: &ReplicaId) -> bool {
        self.by_name
            .get(id.name())
            .is_some_and(|peer| peer.id == *id)
    }

    pub(crate) fn get_mut(&mut self, id: &ReplicaId) -> Option<&mut Peer> {
        self.by_name
            .get_mut(id.name())
            .filter(|peer| peer.id == *id)
    }

    /// The record of `id`, created if its name is unknown or known under another incarnation
    /// (which it replaces). Returns whether the record is new.
    pub(crate) fn entry(&mut self, id: &ReplicaId, now: u64) -> (&mut Peer, bool) {
        let fresh = self
            .by_name
            .get(id.name())
            .is_none_or(|peer| peer.id != *id);
        if fresh {
            self.by_name
                .insert(id.name().into(), Peer::new(id.clone(), now));
        }
        let peer = self
            .by_name
            .get_mut(id.name())
            .expect("inserted just above when missing");
        (peer, fresh)
    }

    /// Forgets `id`, if it is the incarnation recorded for its name.
    pub(crate) fn remove(&mut self, id: &ReplicaId) {
        if self
            .by_name
            .get(id.name())
            .is_some_and(|peer| peer.id == *id)
        {
            self.by_name.remove(id.name());
        }
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Peer> {
        self.by_name.values_mut()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
    }

    pub(crate) fn ids(&self) -> Vec<ReplicaId> {
        let mut ids: Vec<ReplicaId> = self.by_name.values().map(|peer| peer.id.clone()).collect();
        crate::sort::sort_unstable_by(&mut ids, Ord::cmp);
        ids
    }
}
