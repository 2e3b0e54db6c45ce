//! Presence servers on tokio: who is connected to which topic right now, and with what
//! metadata, replicated between nodes without coordination.
//!
//! A node is a private task that owns a [`beryl_core`] presence state and runs its
//! replication protocol ([`beryl_core::sync`]); you talk to it through a cheap, cloneable
//! [`PresenceHandle`]. Changes (`track`, `update`, `untrack`, `untrack_all`) go through the
//! task; reads (`list`, `get_by_key`) come from an immutable snapshot swapped after each change,
//! so they never wait behind merges or broadcasts.
//!
//! Nodes find each other on a [`PubSub`](pubsub::PubSub): [`LocalBus`](pubsub::LocalBus) in
//! one process, or [`RedisPubSub`](pubsub::RedisPubSub) across machines. Each broadcast
//! interval a node sends the delta of its own changes (or a heartbeat when idle); peers that
//! missed something ask for it; a peer silent for the down period is hidden, and purged after
//! the permanent-down period; [`PresenceHandle::stop`] tells peers at once.
//!
//! # A single node
//!
//! ```
//! use beryl_native::{Config, Meta, Presence};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let presence = Presence::start(Config::new("node-a")).await?;
//! let mut diffs = presence.subscribe();
//!
//! let phx_ref = presence
//!     .track("room:lobby", "alice", "socket-1", Meta::from_json(r#"{"status":"online"}"#)?)
//!     .await?;
//! presence
//!     .track("room:lobby", "alice", "socket-2", Meta::empty())
//!     .await?;
//!
//! let alice = presence.get_by_key("room:lobby", "alice");
//! assert_eq!(alice.len(), 2, "one presence per connection");
//! assert_eq!(alice[0].phx_ref(), phx_ref);
//!
//! let first = diffs.recv().await?;
//! assert_eq!(first.joins().next().map(|p| p.pid()), Some("socket-1"));
//!
//! presence.untrack_all("socket-1").await?;
//! assert_eq!(presence.list("room:lobby").len(), 1);
//! presence.stop().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # A cluster over Redis
//!
//! Each node opens its own connection to the same Redis server, under a unique node id, and
//! they share their presences. Nodes normally run in processes (and machines) of their own;
//! here two share one process so that the example can check that they see each other.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use beryl_native::pubsub::{RedisConfig, RedisPubSub};
//! use beryl_native::{Config, Meta, Presence};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The Redis server, such as redis://127.0.0.1:6379; without one this example does nothing.
//! let Ok(url) = std::env::var("BERYL_REDIS_URL") else {
//!     return Ok(());
//! };
//! // Clusters sharing a Redis keep apart by namespace.
//! let namespace = format!("example-{}:", std::process::id());
//! let mut nodes = Vec::new();
//! for name in ["node-a", "node-b"] {
//!     let redis = RedisPubSub::new(RedisConfig::new(&url, name).namespace(&namespace))?;
//!     assert!(redis.wait_connected(Duration::from_secs(5)).await, "cannot reach {url}");
//!     let config = Config::new(name)
//!         .pubsub(Arc::new(redis))
//!         .broadcast_interval(Duration::from_millis(100));
//!     nodes.push(Presence::start(config).await?);
//! }
//! let (a, b) = (&nodes[0], &nodes[1]);
//!
//! a.track("room:lobby", "alice", "socket-1", Meta::empty()).await?;
//! // Node b lists alice within a few broadcast intervals.
//! let waiting = tokio::time::Instant::now();
//! while b.list("room:lobby").is_empty() {
//!     assert!(waiting.elapsed() < Duration::from_secs(10), "node-b never heard of alice");
//!     tokio::time::sleep(Duration::from_millis(20)).await;
//! }
//! assert_eq!(b.list("room:lobby")[0].key(), "alice");
//!
//! // A graceful stop: alice leaves node b's list at once.
//! a.stop().await?;
//! while !b.list("room:lobby").is_empty() {
//!     assert!(waiting.elapsed() < Duration::from_secs(10), "alice never left node-b");
//!     tokio::time::sleep(Duration::from_millis(20)).await;
//! }
//! b.stop().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Diffs
//!
//! [`PresenceHandle::subscribe`] and [`Config::on_diff`] see every local change and every
//! remote merge that changed something, in order, never folded. A subscriber that falls too
//! far behind gets [`DiffStreamError::Lagged`] instead of slowing the node; the callback runs
//! on a thread of its own, and a panic in it is logged, not fatal.
//!
//! # Logs
//!
//! The crate logs with [`tracing`]: connection losses and recoveries, peers going down and
//! up, refused messages. Install any `tracing` subscriber to see them.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod actor;
mod clock;
mod codec;
mod config;
mod diffs;
mod error;
pub mod feed;
mod handle;
pub mod pubsub;
mod read_model;
#[cfg(feature = "server")]
pub mod server;

pub use beryl_core;
pub use beryl_core::sync::PeerInfo;
pub use beryl_core::{
    Diff, Limits, Meta, Presence as PresenceEntry, Ref, ReplicaId, ReplicaStatus, TopicDiff,
};
pub use config::{Config, ConfigError, DEFAULT_SYNC_TOPIC, DiffCallback};
pub use diffs::{DiffStream, DiffStreamError};
pub use error::{StartError, Stopped, TrackFailed, UpdateFailed};
pub use feed::{FeedEvent, ReplicationFeed, TopicSnapshot};
pub use handle::{Presence, PresenceHandle};
pub use read_model::Snapshot;
