//! What the engine asks its driver to do: messages to send, and events to report.

use crate::diff::Diff;
use crate::liveness::ReplicaStatus;
use crate::message::Message;
use crate::presence::Delta;
use crate::replica::ReplicaId;

/// Where a message must go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// To every other node on the sync topic (the sender need not receive it).
    Broadcast,
    /// To one replica only.
    Replica(ReplicaId),
}

/// One message for the driver to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where it goes.
    pub destination: Destination,
    /// What to send.
    pub message: Message,
}

/// Something that happened, reported in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Presences became visible or invisible, through a local change, a merge, or a liveness
    /// verdict. Never empty; never folded with another diff.
    Diff(Diff),
    /// This node's verdict about a peer changed: down (silent for the down period), up (heard
    /// again), or removed (gone for good: goodbye, permanent-down period, or superseded by a
    /// newer incarnation). A server forwards these to its client replicas as
    /// [`Message::Liveness`].
    Liveness {
        /// The peer.
        replica: ReplicaId,
        /// Its new status.
        status: ReplicaStatus,
    },
    /// A delta this node applied: its own change, or a remote delta or reply before merging.
    /// Only reported when [`SyncConfig::report_applied`](super::SyncConfig::report_applied) is
    /// set; a server projects these to a topic to feed client replicas.
    Applied(Delta),
}
