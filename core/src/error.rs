//! Errors, one enum per concern, each message saying what to do about it.

use thiserror::Error;

/// A meta that is not acceptable JSON.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetaError {
    /// The text does not parse as JSON.
    #[error(
        "meta is not valid JSON ({reason}); pass a JSON object such as {{\"status\":\"online\"}}"
    )]
    NotJson {
        /// What the parser said.
        reason: String,
    },
    /// The JSON is valid but is not an object.
    #[error("meta must be a JSON object, not {found}; wrap the value, e.g. {{\"value\": ...}}")]
    NotObject {
        /// The kind of JSON value found instead.
        found: &'static str,
    },
    /// The object uses a key that presence adds itself.
    #[error("meta must not contain the key {key:?}: presence sets it on every meta it sends")]
    ReservedKey {
        /// The reserved key found.
        key: String,
    },
    /// The meta is larger than the limit.
    #[error(
        "meta is {len} bytes, over the limit of {max}; send less data or raise Limits::max_meta_bytes"
    )]
    TooLarge {
        /// Size of the meta text.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The meta nests deeper than the limit.
    #[error("meta nests deeper than {max} levels; flatten it or raise Limits::max_meta_depth")]
    TooDeep {
        /// The limit in force.
        max: usize,
    },
}

/// A topic, key or pid that breaks a limit.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InputError {
    /// A field is longer than allowed.
    #[error(
        "{field} is {len} bytes, over the limit of {max}; shorten it or raise the limit in Limits"
    )]
    TooLong {
        /// Which field: "topic", "key" or "pid".
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The meta is not acceptable.
    #[error(transparent)]
    Meta(#[from] MetaError),
}

/// Why `track` refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TrackError {
    /// This replica already tracks the same (topic, key, pid).
    #[error(
        "pid {pid:?} is already tracked under key {key:?} in topic {topic:?}; call update to change its meta, or untrack it first"
    )]
    AlreadyTracked {
        /// The topic.
        topic: String,
        /// The key.
        key: String,
        /// The pid.
        pid: String,
    },
    /// A field breaks a limit.
    #[error(transparent)]
    Invalid(#[from] InputError),
}

/// Why `update` refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UpdateError {
    /// This replica tracks no such (topic, key, pid). Only the replica that tracked an entry can
    /// update it.
    #[error(
        "pid {pid:?} is not tracked under key {key:?} in topic {topic:?} by this replica; track it first"
    )]
    NotTracked {
        /// The topic.
        topic: String,
        /// The key.
        key: String,
        /// The pid.
        pid: String,
    },
    /// A field breaks a limit.
    #[error(transparent)]
    Invalid(#[from] InputError),
}

/// Why a liveness verdict was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LivenessError {
    /// A replica cannot declare itself down or removed.
    #[error("replica {replica} is this state's own replica; it cannot be marked down or removed")]
    LocalReplica {
        /// The replica named.
        replica: String,
    },
}
