//! How to start a presence node: its name, its PubSub, its timings and limits.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use beryl_core::sync::{SyncConfig, SyncConfigError};
use beryl_core::wire::WireLimits;
use beryl_core::{Diff, Limits};
use thiserror::Error;

use crate::pubsub::PubSub;

/// The PubSub topic presence replicates on unless told otherwise.
pub const DEFAULT_SYNC_TOPIC: &str = "beryl:presence:sync";

/// A callback run for every diff, in order (see [`Config::on_diff`]).
pub type DiffCallback = Arc<dyn Fn(&Diff) + Send + Sync + 'static>;

/// Settings of a presence node. [`Config::new`] gives a single node with the defaults; the
/// builder methods change one setting each.
#[derive(Clone)]
pub struct Config {
    pub(crate) replica_name: String,
    pub(crate) pubsub: Option<Arc<dyn PubSub>>,
    pub(crate) sync_topic: String,
    pub(crate) sync: SyncConfig,
    pub(crate) limits: Limits,
    pub(crate) wire_limits: WireLimits,
    pub(crate) on_diff: Option<DiffCallback>,
    pub(crate) subscriber_capacity: usize,
    pub(crate) command_capacity: usize,
    pub(crate) outbound_capacity: usize,
    pub(crate) incarnation: Option<u64>,
}

/// A [`Config`] that cannot start a node.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// The timings do not work together.
    #[error(transparent)]
    Sync(#[from] SyncConfigError),
    /// The replica name is empty.
    #[error("the replica name must not be empty; use the host or pod name, for example")]
    EmptyReplicaName,
    /// The sync topic is empty.
    #[error("the sync topic must not be empty; the default is \"{DEFAULT_SYNC_TOPIC}\"")]
    EmptySyncTopic,
    /// A queue was given no room.
    #[error("the {queue} capacity must be at least 1")]
    ZeroCapacity {
        /// Which queue.
        queue: &'static str,
    },
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Config {
    /// A single node named `replica_name` (no PubSub), broadcasting every 1,500 ms, marking
    /// silent peers down after 30 s and removing them after 20 minutes, with the default
    /// [`Limits`] and no diff callback.
    pub fn new(replica_name: impl Into<String>) -> Self {
        Config {
            replica_name: replica_name.into(),
            pubsub: None,
            sync_topic: DEFAULT_SYNC_TOPIC.to_owned(),
            sync: SyncConfig::default(),
            limits: Limits::default(),
            wire_limits: WireLimits::default(),
            on_diff: None,
            subscriber_capacity: 1024,
            command_capacity: 1024,
            outbound_capacity: 1024,
            incarnation: None,
        }
    }

    /// Replicates with the other nodes on `pubsub`.
    pub fn pubsub(mut self, pubsub: Arc<dyn PubSub>) -> Self {
        self.pubsub = Some(pubsub);
        self
    }

    /// The PubSub topic replication uses. Default `beryl:presence:sync`.
    pub fn sync_topic(mut self, topic: impl Into<String>) -> Self {
        self.sync_topic = topic.into();
        self
    }

    /// How often local changes go out. Default 1,500 ms.
    pub fn broadcast_interval(mut self, interval: Duration) -> Self {
        self.sync.broadcast_interval_ms = millis(interval);
        self
    }

    /// An idle node sends a heartbeat every `intervals` broadcast intervals. Default 1.
    pub fn heartbeat_every(mut self, intervals: u32) -> Self {
        self.sync.heartbeat_every = intervals;
        self
    }

    /// How long a peer may stay silent before its presences are hidden. Default 30 s; at least
    /// two heartbeat periods.
    pub fn down_period(mut self, period: Duration) -> Self {
        self.sync.down_period_ms = millis(period);
        self
    }

    /// How long a peer may stay silent before its presences are purged for good. Default 20
    /// minutes; at least the down period.
    pub fn permanent_down_period(mut self, period: Duration) -> Self {
        self.sync.permanent_down_period_ms = millis(period);
        self
    }

    /// The shortest time between two state requests (or replies) to the same peer. Default
    /// 3 s.
    pub fn repair_backoff(mut self, backoff: Duration) -> Self {
        self.sync.repair_backoff_ms = millis(backoff);
        self
    }

    /// Every protocol setting at once, for settings without a builder method.
    pub fn sync_config(mut self, sync: SyncConfig) -> Self {
        self.sync = sync;
        self
    }

    /// Bounds on the topics, keys, pids and metas this node accepts from its callers.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Bounds on what this node accepts from the network.
    pub fn wire_limits(mut self, limits: WireLimits) -> Self {
        self.wire_limits = limits;
        self
    }

    /// Runs `callback` for every diff (local changes, merges, liveness verdicts), in order, on
    /// a thread of its own: a slow callback delays only later callbacks, never the node, and a
    /// panicking one is logged and the node goes on.
    pub fn on_diff(mut self, callback: impl Fn(&Diff) + Send + Sync + 'static) -> Self {
        self.on_diff = Some(Arc::new(callback));
        self
    }

    /// How many diffs a [`subscribe`](crate::PresenceHandle::subscribe)r may fall behind before
    /// it is told it lagged. Default 1,024.
    pub fn subscriber_capacity(mut self, capacity: usize) -> Self {
        self.subscriber_capacity = capacity;
        self
    }

    /// How many messages may wait to be sent on the PubSub before new ones are dropped (the
    /// protocol repairs the loss). Default 1,024.
    pub fn outbound_capacity(mut self, capacity: usize) -> Self {
        self.outbound_capacity = capacity;
        self
    }

    /// Uses this incarnation instead of one derived from the clock. Incarnations of one name
    /// must grow from one start to the next: only for tests and tools.
    pub fn incarnation(mut self, incarnation: u64) -> Self {
        self.incarnation = Some(incarnation);
        self
    }

    /// Whether a server can open replication feeds for client replicas
    /// ([`PresenceHandle::replication_feed`](crate::PresenceHandle::replication_feed)). It costs
    /// a copy of every delta applied. Default false.
    pub fn replication_feed(mut self, enabled: bool) -> Self {
        self.sync.report_applied = enabled;
        self
    }

    /// The replica name.
    pub fn replica_name(&self) -> &str {
        &self.replica_name
    }

    /// The protocol settings in force.
    pub fn sync_settings(&self) -> &SyncConfig {
        &self.sync
    }

    /// Checks that the settings can start a node.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.replica_name.is_empty() {
            return Err(ConfigError::EmptyReplicaName);
        }
        if self.sync_topic.is_empty() {
            return Err(ConfigError::EmptySyncTopic);
        }
        for (queue, capacity) in [
            ("subscriber", self.subscriber_capacity),
            ("command", self.command_capacity),
            ("outbound", self.outbound_capacity),
        ] {
            if capacity == 0 {
                return Err(ConfigError::ZeroCapacity { queue });
            }
        }
        self.sync.validate()?;
        Ok(())
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("replica_name", &self.replica_name)
            .field("pubsub", &self.pubsub.as_ref().map(|p| p.node_id().clone()))
            .field("sync_topic", &self.sync_topic)
            .field("sync", &self.sync)
            .field("limits", &self.limits)
            .field("on_diff", &self.on_diff.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_describe_a_valid_single_node() {
        let config = Config::new("node-a");
        assert_eq!(config.validate(), Ok(()));
        assert!(config.pubsub.is_none());
        assert_eq!(config.sync.broadcast_interval_ms, 1_500);
        assert_eq!(config.sync.down_period_ms, 30_000);
        assert_eq!(config.sync.permanent_down_period_ms, 20 * 60 * 1_000);
        assert_eq!(config.sync_topic, DEFAULT_SYNC_TOPIC);
    }

    #[test]
    fn invalid_combinations_are_refused_with_a_clear_error() {
        let too_short = Config::new("a")
            .broadcast_interval(Duration::from_secs(1))
            .down_period(Duration::from_millis(1_500));
        let error = too_short.validate().unwrap_err();
        assert!(matches!(
            error,
            ConfigError::Sync(SyncConfigError::DownPeriodTooShort { .. })
        ));
        assert!(error.to_string().contains("two heartbeat periods"));

        let permanent_first = Config::new("a")
            .down_period(Duration::from_secs(60))
            .permanent_down_period(Duration::from_secs(59));
        assert!(matches!(
            permanent_first.validate(),
            Err(ConfigError::Sync(
                SyncConfigError::PermanentDownBeforeDown { .. }
            ))
        ));
        assert_eq!(
            Config::new("").validate(),
            Err(ConfigError::EmptyReplicaName)
        );
        assert_eq!(
            Config::new("a").subscriber_capacity(0).validate(),
            Err(ConfigError::ZeroCapacity {
                queue: "subscriber"
            })
        );
    }
}
