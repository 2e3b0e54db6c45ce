//! Why a replication message was refused.

use std::fmt;

use thiserror::Error;

use crate::error::{InputError, MetaError};

/// Where in a message a problem was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// A byte offset from the start of the message (binary form, or JSON text before parsing).
    Byte(usize),
    /// A path into the JSON form, such as `delta.entries[3].meta`.
    Path(String),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Byte(offset) => write!(f, "byte {offset}"),
            Position::Path(path) => write!(f, "`{path}`"),
        }
    }
}

/// A refused message. Decoding is pure: a refused message changes no state.
///
/// Every variant names the field at fault and where it is; the limit variants also name the
/// [`WireLimits`](super::WireLimits) field to raise if the message is legitimate.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The message is larger than the limit, and was not read at all.
    #[error(
        "message is {len} bytes, over the limit of {max}; split the state or raise WireLimits::max_message_bytes"
    )]
    MessageTooLarge {
        /// Size of the message.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The bytes do not start with the magic of a beryl replication message.
    #[error(
        "not a beryl replication message: it starts with {found:02x?} instead of {expected:02x?}; check what is sent on this channel"
    )]
    BadMagic {
        /// The first bytes found.
        found: Vec<u8>,
        /// The magic expected.
        expected: [u8; 2],
    },
    /// The message is of a format version this build does not read.
    #[error(
        "wire format version {found} is not understood: this build reads version(s) {understood:?}; upgrade the receiving node or downgrade the sender"
    )]
    UnsupportedVersion {
        /// The version found.
        found: u64,
        /// The versions this build understands.
        understood: &'static [u64],
    },
    /// The message type is unknown.
    #[error(
        "unknown message type {found} at {at}; the sender speaks a newer protocol or the message is corrupt"
    )]
    UnknownType {
        /// The type found.
        found: String,
        /// Where.
        at: Position,
    },
    /// The message ends in the middle of a field.
    #[error("the message ends inside {field} at {at}: it was truncated in transit")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where it starts.
        at: Position,
    },
    /// An integer is malformed or out of range.
    #[error("{field} at {at} is not a valid integer ({reason}); the message is corrupt")]
    BadInteger {
        /// The field being read.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
        /// Where.
        at: Position,
    },
    /// A count is over a limit.
    #[error(
        "{field} at {at} has {count} items, over the limit of {max}; if the message is legitimate, raise WireLimits::{limit}"
    )]
    TooMany {
        /// The table or list at fault.
        field: &'static str,
        /// How many items it claims.
        count: u64,
        /// The limit in force.
        max: usize,
        /// The name of the limit.
        limit: &'static str,
        /// Where.
        at: Position,
    },
    /// A string or meta is over a size limit.
    #[error(
        "{field} at {at} is {len} bytes, over the limit of {max}; if the message is legitimate, raise {limit}"
    )]
    TooLong {
        /// The field at fault.
        field: &'static str,
        /// Its length in bytes.
        len: u64,
        /// The limit in force.
        max: usize,
        /// The name of the limit.
        limit: &'static str,
        /// Where.
        at: Position,
    },
    /// A string is not UTF-8.
    #[error("{field} at {at} is not valid UTF-8; the message is corrupt")]
    NotUtf8 {
        /// The field at fault.
        field: &'static str,
        /// Where.
        at: Position,
    },
    /// A reference to the replica or topic table is out of bounds.
    #[error("{field} at {at} refers to index {index} of a table of {len}; the message is corrupt")]
    BadIndex {
        /// The field at fault.
        field: &'static str,
        /// The index found.
        index: u64,
        /// The size of the table.
        len: usize,
        /// Where.
        at: Position,
    },
    /// A value breaks a rule of the format (ordering, uniqueness, ranges).
    #[error("{field} at {at} is invalid: {reason}; the sender is broken or the message corrupt")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// The rule broken.
        reason: &'static str,
        /// Where.
        at: Position,
    },
    /// An entry whose dot is not covered by the delta's own causal context: merging it would
    /// break the set's invariants, so the whole message is refused.
    #[error(
        "entry {replica}.{counter} at {at} is not covered by the delta's causal context; the sender is broken"
    )]
    NotCovered {
        /// The entry's replica.
        replica: String,
        /// The entry's counter.
        counter: u64,
        /// Where.
        at: Position,
    },
    /// A meta that is not acceptable.
    #[error("meta at {at} is refused: {source}")]
    Meta {
        /// Where.
        at: Position,
        /// Why.
        source: MetaError,
    },
    /// A topic, key or pid over its limit.
    #[error("entry at {at} is refused: {source}")]
    Entry {
        /// Where.
        at: Position,
        /// Why.
        source: InputError,
    },
    /// Bytes follow the end of the message.
    #[error("{count} unexpected bytes follow the message at {at}; send one message per frame")]
    TrailingBytes {
        /// How many.
        count: usize,
        /// Where they start.
        at: Position,
    },
    /// The JSON text nests deeper than the limit.
    #[error(
        "JSON nests deeper than {max} levels at {at}; flatten the metas or raise WireLimits::max_json_depth"
    )]
    TooDeep {
        /// The limit in force.
        max: usize,
        /// Where the limit was crossed.
        at: Position,
    },
    /// The JSON text does not parse, or does not have the shape of a message.
    #[error("not a valid replication message in JSON at line {line}, column {column}: {reason}")]
    Json {
        /// What the parser said.
        reason: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
}
