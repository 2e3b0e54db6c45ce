//! PubSub: how presence nodes reach each other.
//!
//! A [`PubSub`] moves opaque byte payloads between nodes on named topics: to every node
//! ([`broadcast`](PubSub::broadcast)), to every other node
//! ([`broadcast_from`](PubSub::broadcast_from)), or to one node ([`send_to`](PubSub::send_to)).
//! Delivery is best effort: the replication protocol repairs whatever is lost, duplicated or
//! reordered, so an implementation may drop messages rather than block.
//!
//! - [`LocalBus`]: in-process, for a single node or several nodes in one process (tests).
//! - `RedisPubSub` (feature `redis`): Redis PUBLISH/SUBSCRIBE, one connection per node.
//! - [`FaultyPubSub`]: wraps another PubSub and drops, delays, duplicates, reorders or
//!   partitions messages, to test what runs on top.

// The frame of byte transports, which deliver a node's own broadcasts back to it.
#[cfg(feature = "redis")]
mod envelope;
mod faulty;
mod local;
#[cfg(feature = "redis")]
mod redis;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use thiserror::Error;
use tokio::sync::mpsc;

pub use faulty::{FaultPlan, FaultyPubSub};
pub use local::{LocalBus, LocalPubSub};
#[cfg(feature = "redis")]
pub use redis::{RedisConfig, RedisPubSub};

/// The identity of one node on a PubSub: unique among the nodes sharing it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// A node id from any text.
    pub fn new(id: impl AsRef<str>) -> Self {
        NodeId(Arc::from(id.as_ref()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One payload received on a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The node that sent it.
    pub from: NodeId,
    /// What it sent.
    pub payload: Bytes,
}

/// What went wrong in a PubSub.
#[derive(Debug, Error)]
pub enum PubSubError {
    /// The transport is not connected right now; it keeps trying to reconnect in the
    /// background.
    #[error("the PubSub is not connected ({reason}); it reconnects in the background")]
    Disconnected {
        /// What the transport reported.
        reason: String,
    },
    /// A topic or node id cannot be used.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// "topic" or "node id".
        what: &'static str,
        /// The value refused.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// The PubSub was shut down.
    #[error("the PubSub has been shut down")]
    Closed,
    /// The transport failed.
    #[error("PubSub transport error: {0}")]
    Transport(String),
}

/// The future a [`PubSub`] method returns.
pub type PubSubFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PubSubError>> + Send + 'a>>;

/// A transport between presence nodes. Implementations are cheap to share (`Arc<dyn PubSub>`).
pub trait PubSub: Send + Sync + 'static {
    /// This node's id on the PubSub.
    fn node_id(&self) -> &NodeId;

    /// Starts receiving `topic`: every broadcast on it (including this node's own
    /// [`broadcast`](Self::broadcast)s, but not its [`broadcast_from`](Self::broadcast_from)s),
    /// and every [`send_to`](Self::send_to) addressed to this node on it.
    fn subscribe(&self, topic: &str) -> PubSubFuture<'_, Subscription>;

    /// Sends `payload` to every node subscribed to `topic`, this one included.
    fn broadcast(&self, topic: &str, payload: Bytes) -> PubSubFuture<'_, ()>;

    /// Sends `payload` to every node subscribed to `topic` except this one.
    fn broadcast_from(&self, topic: &str, payload: Bytes) -> PubSubFuture<'_, ()>;

    /// Sends `payload` to the node `to` only, on `topic`.
    fn send_to(&self, to: &NodeId, topic: &str, payload: Bytes) -> PubSubFuture<'_, ()>;
}

/// The payloads received on one topic, in the order the transport delivered them. Dropping it
/// unsubscribes. It is a [`Stream`](futures_core::Stream), and has an async
/// [`recv`](Self::recv).
#[derive(Debug)]
pub struct Subscription {
    receiver: mpsc::Receiver<Received>,
}

impl Subscription {
    /// A subscription fed by `receiver`: for PubSub implementations.
    pub fn new(receiver: mpsc::Receiver<Received>) -> Self {
        Subscription { receiver }
    }

    /// The next payload, or `None` once the PubSub is gone.
    pub async fn recv(&mut self) -> Option<Received> {
        self.receiver.recv().await
    }
}

impl futures_core::Stream for Subscription {
    type Item = Received;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Received>> {
        self.receiver.poll_recv(cx)
    }
}

/// Checks a topic name: non-empty, and without the characters the transports use as
/// separators.
pub(crate) fn check_topic(topic: &str) -> Result<(), PubSubError> {
    if topic.is_empty() {
        return Err(PubSubError::Invalid {
            what: "topic",
            value: topic.into(),
            reason: "a topic must not be empty",
        });
    }
    if topic.contains('@') {
        return Err(PubSubError::Invalid {
            what: "topic",
            value: topic.into(),
            reason: "'@' separates a topic from a node id in direct channels",
        });
    }
    Ok(())
}
