//! What the endpoint needs from a presence service: local operations, reads, and the ordered
//! stream of what changed.

use std::future::Future;
use std::sync::Arc;

use beryl_core::{Delta, Diff, Meta, ReplicaId, ReplicaStatus};
use tokio::sync::mpsc;

use super::error::ServiceError;

/// Something that changed in the presence state, in the order it happened.
#[derive(Clone, Debug)]
pub enum ServiceEvent {
    /// Presences became visible or invisible (a local change, a merge, a liveness verdict).
    Diff(Arc<Diff>),
    /// A delta the state applied (a local change, or a remote delta before merging): projected
    /// to a topic, it keeps the CRDT sync clients of that topic up to date.
    Applied(Arc<Delta>),
    /// The server's verdict about a replica changed; CRDT sync clients apply it too.
    Liveness {
        /// The replica.
        replica: ReplicaId,
        /// Its new status.
        status: ReplicaStatus,
    },
    /// Events were lost (the subscriber fell behind): every client must be sent a fresh state.
    Lagged,
}

/// What a CRDT sync client of one topic starts from.
#[derive(Clone, Debug)]
pub struct SyncSnapshot {
    /// The topic's projection of the state (see `PresenceState::topic_projection`).
    pub delta: Delta,
    /// The server's verdict about every other replica it knows, to apply after the delta:
    /// down replicas' entries are in the delta and must be hidden, and a client resynced
    /// after lost events learns the verdicts it missed (ups included).
    pub verdicts: Vec<(ReplicaId, ReplicaStatus)>,
}

/// A presence service the endpoint drives. Implemented for the native actor's handle; tests
/// implement it over a bare `PresenceState`.
///
/// Ordering contract: a read (`presence_state`, `sync_snapshot`) made after an event was sent
/// on a subscription reflects that event. The endpoint subscribes a socket before reading its
/// snapshot, so the snapshot plus the events that follow give the socket every change.
pub trait PresenceService: Clone + Send + Sync + 'static {
    /// The replica this service runs as (the sender of CRDT sync messages).
    fn replica(&self) -> ReplicaId;

    /// Tracks the connection `pid` of `key` in `topic`.
    fn track(
        &self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: Meta,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Replaces the meta of a tracked connection.
    fn update(
        &self,
        topic: &str,
        key: &str,
        pid: &str,
        meta: Meta,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Stops tracking a connection (a no-op if it is not tracked).
    fn untrack(
        &self,
        topic: &str,
        key: &str,
        pid: &str,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Stops tracking every connection of `pid` (a socket that closed).
    fn untrack_all(&self, pid: &str) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// The `presence_state` payload of `topic`, as JSON text.
    fn presence_state(
        &self,
        topic: &str,
    ) -> impl Future<Output = Result<String, ServiceError>> + Send;

    /// What a CRDT sync client of `topic` starts from.
    fn sync_snapshot(
        &self,
        topic: &str,
    ) -> impl Future<Output = Result<SyncSnapshot, ServiceError>> + Send;

    /// Every event from now on, in order, on a bounded queue. A reader that falls behind must
    /// not make the service buffer without limit: events are then dropped and a
    /// [`ServiceEvent::Lagged`] takes their place. The queue ends when the service stops.
    fn subscribe(
        &self,
    ) -> impl Future<Output = Result<mpsc::Receiver<ServiceEvent>, ServiceError>> + Send;
}
