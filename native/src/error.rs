//! Errors of the presence handle, one enum per concern.

use beryl_core::{TrackError, UpdateError};
use thiserror::Error;

use crate::config::ConfigError;
use crate::pubsub::PubSubError;

/// Why a node could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error("invalid presence configuration: {0}")]
    Config(#[from] ConfigError),
    /// The sync topic could not be subscribed.
    #[error("cannot subscribe to the sync topic {topic:?}: {source}")]
    Subscribe {
        /// The sync topic.
        topic: String,
        /// What the PubSub said.
        source: PubSubError,
    },
}

/// Why `track` failed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TrackFailed {
    /// The state refused it.
    #[error(transparent)]
    Refused(#[from] TrackError),
    /// The node has stopped.
    #[error(transparent)]
    Stopped(#[from] Stopped),
}

/// Why `update` failed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum UpdateFailed {
    /// The state refused it.
    #[error(transparent)]
    Refused(#[from] UpdateError),
    /// The node has stopped.
    #[error(transparent)]
    Stopped(#[from] Stopped),
}

/// The node has stopped ([`stop`](crate::PresenceHandle::stop) was called), so it takes no
/// more changes.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[error("the presence node has stopped; start a new one to track presences again")]
pub struct Stopped;
