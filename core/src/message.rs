//! The replication messages exchanged between replicas (servers, and client replicas fed by a
//! server). Their encodings live in [`wire`](crate::wire); the protocol that sends them lives in
//! the sync engine.

use crate::context::CausalContext;
use crate::liveness::ReplicaStatus;
use crate::presence::Delta;
use crate::replica::ReplicaId;

/// One replication message. Every message names its sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// The sender's own changes since its previous broadcast.
    Delta {
        /// The sending replica.
        from: ReplicaId,
        /// The changes.
        delta: Delta,
    },
    /// "I am alive, and this is what I have seen": sent when there is nothing new to send, so
    /// peers notice gaps and the sender's silence means it is gone.
    Heartbeat {
        /// The sending replica.
        from: ReplicaId,
        /// The sender's causal context, without the replicas it considers down or removed.
        digest: CausalContext,
    },
    /// "Send me what I am missing": sent to one peer after its digest showed a gap, or when
    /// meeting a peer for the first time.
    StateRequest {
        /// The sending replica.
        from: ReplicaId,
        /// The replica asked.
        to: ReplicaId,
        /// What the sender already has, so the reply can leave it out.
        digest: CausalContext,
    },
    /// The answer to a [`Message::StateRequest`]: what the requester was missing.
    StateReply {
        /// The sending replica.
        from: ReplicaId,
        /// The replica that asked.
        to: ReplicaId,
        /// The missing entries and context (a catch-up delta, or the whole state).
        delta: Delta,
    },
    /// "I am stopping": peers remove the sender's entries at once.
    Goodbye {
        /// The sending replica.
        from: ReplicaId,
    },
    /// A server's liveness verdict about a replica, forwarded to the client replicas it feeds so
    /// they hide and show exactly what the server does. Never sent between servers: verdicts
    /// are local to each server.
    Liveness {
        /// The sending replica.
        from: ReplicaId,
        /// The replica the verdict is about.
        replica: ReplicaId,
        /// The verdict.
        status: ReplicaStatus,
    },
}

impl Message {
    /// The replica that sent the message.
    pub fn from(&self) -> &ReplicaId {
        match self {
            Message::Delta { from, .. }
            | Message::Heartbeat { from, .. }
            | Message::StateRequest { from, .. }
            | Message::StateReply { from, .. }
            | Message::Goodbye { from }
            | Message::Liveness { from, .. } => from,
        }
    }

    /// The replica a direct message is meant for; `None` for broadcasts.
    pub fn to(&self) -> Option<&ReplicaId> {
        match self {
            Message::StateRequest { to, .. } | Message::StateReply { to, .. } => Some(to),
            _ => None,
        }
    }
}
