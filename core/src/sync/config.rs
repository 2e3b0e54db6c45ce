//! The timing and size settings of the replication protocol, and their validation.

use thiserror::Error;

/// Settings of a [`SyncEngine`](super::SyncEngine). Times are in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncConfig {
    /// How often local changes are broadcast (as one delta per interval). Default 1,500 ms.
    pub broadcast_interval_ms: u64,
    /// When there is nothing to broadcast, a heartbeat goes out every this many intervals.
    /// Default 1.
    pub heartbeat_every: u32,
    /// A peer silent this long is marked down: its entries are hidden. Default 30 s.
    pub down_period_ms: u64,
    /// A peer silent this long is removed for good: its entries are purged. Default 20 min.
    pub permanent_down_period_ms: u64,
    /// How long a removed peer's record is kept, so that its late messages are recognised and
    /// ignored, before it is forgotten. Forgetting keeps the bookkeeping bounded when node
    /// names change with every deployment. Default 20 min.
    pub forget_removed_after_ms: u64,
    /// The shortest time between two state requests to the same peer, and between two replies
    /// to the same peer, so a lossy network does not cause storms. Default 3,000 ms.
    pub repair_backoff_ms: u64,
    /// How many of its own recent changes (in dots) a node keeps to answer a peer that missed a
    /// few deltas with just those deltas. A peer further behind gets a full repair of the
    /// node's entries instead. Default 4,096.
    pub catch_up_limit: u64,
    /// The most out-of-order ranges a repair may carry. A repair names the removed entries a
    /// peer may still hold as ranges around the live ones; past this many, the node sends all
    /// its entries instead, whose context is a single range. Keep it below the receivers'
    /// [`WireLimits::max_ranges`](crate::wire::WireLimits::max_ranges). Default 10,000.
    pub repair_range_limit: usize,
    /// Whether to report every delta this node applies (its own changes and remote merges) as
    /// [`Event::Applied`](super::Event::Applied), for a server that feeds client replicas.
    /// Default false.
    pub report_applied: bool,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            broadcast_interval_ms: 1_500,
            heartbeat_every: 1,
            down_period_ms: 30_000,
            permanent_down_period_ms: 20 * 60 * 1_000,
            forget_removed_after_ms: 20 * 60 * 1_000,
            repair_backoff_ms: 3_000,
            catch_up_limit: 4_096,
            repair_range_limit: 10_000,
            report_applied: false,
        }
    }
}

/// A [`SyncConfig`] whose settings cannot work together.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SyncConfigError {
    /// The broadcast interval is zero.
    #[error("the broadcast interval must be at least 1 ms; the default is 1,500 ms")]
    ZeroBroadcastInterval,
    /// Heartbeats would never be sent.
    #[error("heartbeat_every must be at least 1 (a heartbeat every idle interval)")]
    ZeroHeartbeatEvery,
    /// Peers would be marked down between two of their heartbeats.
    #[error(
        "the down period ({down_ms} ms) is shorter than two heartbeat periods ({min_ms} ms): \
         healthy peers would be marked down between heartbeats; raise the down period or \
         shorten the broadcast interval"
    )]
    DownPeriodTooShort {
        /// The down period given.
        down_ms: u64,
        /// The shortest down period that works with the heartbeat period.
        min_ms: u64,
    },
    /// Peers would be purged before being marked down.
    #[error(
        "the permanent-down period ({permanent_ms} ms) is shorter than the down period \
         ({down_ms} ms); make it at least as long"
    )]
    PermanentDownBeforeDown {
        /// The permanent-down period given.
        permanent_ms: u64,
        /// The down period given.
        down_ms: u64,
    },
}

impl SyncConfig {
    /// How long an idle node waits between heartbeats.
    pub fn heartbeat_period_ms(&self) -> u64 {
        self.broadcast_interval_ms
            .saturating_mul(u64::from(self.heartbeat_every))
    }

    /// Checks that the settings work together.
    pub fn validate(&self) -> Result<(), SyncConfigError> {
        if self.broadcast_interval_ms == 0 {
            return Err(SyncConfigError::ZeroBroadcastInterval);
        }
        if self.heartbeat_every == 0 {
            return Err(SyncConfigError::ZeroHeartbeatEvery);
        }
        let min_ms = self.heartbeat_period_ms().saturating_mul(2);
        if self.down_period_ms < min_ms {
            return Err(SyncConfigError::DownPeriodTooShort {
                down_ms: self.down_period_ms,
                min_ms,
            });
        }
        if self.permanent_down_period_ms < self.down_period_ms {
            return Err(SyncConfigError::PermanentDownBeforeDown {
                permanent_ms: self.permanent_down_period_ms,
                down_ms: self.down_period_ms,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(SyncConfig::default().validate(), Ok(()));
    }

    #[test]
    fn a_down_period_shorter_than_two_heartbeats_is_refused() {
        let config = SyncConfig {
            broadcast_interval_ms: 1_000,
            down_period_ms: 1_999,
            ..SyncConfig::default()
        };
        assert_eq!(
            config.validate(),
            Err(SyncConfigError::DownPeriodTooShort {
                down_ms: 1_999,
                min_ms: 2_000
            })
        );
        let slower_heartbeats = SyncConfig {
            broadcast_interval_ms: 1_000,
            heartbeat_every: 3,
            down_period_ms: 5_000,
            ..SyncConfig::default()
        };
        assert!(matches!(
            slower_heartbeats.validate(),
            Err(SyncConfigError::DownPeriodTooShort { min_ms: 6_000, .. })
        ));
    }

    #[test]
    fn a_permanent_down_period_shorter_than_the_down_period_is_refused() {
        let config = SyncConfig {
            down_period_ms: 10_000,
            permanent_down_period_ms: 9_999,
            ..SyncConfig::default()
        };
        let error = config.validate().unwrap_err();
        assert!(matches!(
            error,
            SyncConfigError::PermanentDownBeforeDown { .. }
        ));
        assert!(error.to_string().contains("at least as long"));
    }

    #[test]
    fn zero_intervals_are_refused() {
        let zero_interval = SyncConfig {
            broadcast_interval_ms: 0,
            ..SyncConfig::default()
        };
        assert_eq!(
            zero_interval.validate(),
            Err(SyncConfigError::ZeroBroadcastInterval)
        );
        let no_heartbeat = SyncConfig {
            heartbeat_every: 0,
            ..SyncConfig::default()
        };
        assert_eq!(
            no_heartbeat.validate(),
            Err(SyncConfigError::ZeroHeartbeatEvery)
        );
    }
}
