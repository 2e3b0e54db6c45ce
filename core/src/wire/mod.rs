//! Wire formats: what beryl sends over the network.
//!
//! - [`phoenix`]: the JSON payloads Phoenix clients (`phoenix.js`) receive: `presence_state`,
//!   `presence_diff` and the V2 channel frame around them.
//! - [`binary`] and [`json`]: two equivalent encodings of the replication [`Message`]s that
//!   replicas exchange. The binary form is compact and versioned; the JSON form is for debugging
//!   and for JavaScript consumers. Both are specified in prose in `tests/vectors/README.md`, and
//!   golden vectors in `tests/vectors/` pin them down byte for byte.
//!
//! Every function here is pure. Decoders take untrusted input: they never panic, bound what they
//! allocate by [`WireLimits`], validate everything a merge relies on (every entry's dot is
//! covered by its delta's context, metas are JSON objects within limits, ranges are
//! well-formed), and report a refusal as a [`DecodeError`] naming the field, the limit and the
//! position.

pub mod binary;
mod error;
mod escape;
pub mod json;
mod limits;
pub mod phoenix;
mod template;
mod validate;

pub use binary::{decode as decode_binary, encode as encode_binary};
pub use error::{DecodeError, Position};
pub use json::{decode as decode_json, encode as encode_json};
pub use limits::WireLimits;

use std::collections::{BTreeMap, BTreeSet};

use crate::message::Message;
use crate::replica::ReplicaId;

/// The first two bytes of every binary message. The first is not ASCII, so a binary message is
/// never mistaken for JSON or text.
pub const MAGIC: [u8; 2] = [0xB7, 0x52];

/// The format version this build writes, in the binary header and the JSON `version` field.
pub const VERSION: u8 = 1;

/// Every format version this build reads.
pub const UNDERSTOOD_VERSIONS: &[u64] = &[1];

/// The kinds of message, with their codes in the binary header and names in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum MessageType {
    Delta = 1,
    Heartbeat = 2,
    StateRequest = 3,
    StateReply = 4,
    Goodbye = 5,
    Liveness = 6,
}

impl MessageType {
    const ALL: [MessageType; 6] = [
        MessageType::Delta,
        MessageType::Heartbeat,
        MessageType::StateRequest,
        MessageType::StateReply,
        MessageType::Goodbye,
        MessageType::Liveness,
    ];

    pub(crate) fn of(message: &Message) -> Self {
        match message {
            Message::Delta { .. } => MessageType::Delta,
            Message::Heartbeat { .. } => MessageType::Heartbeat,
            Message::StateRequest { .. } => MessageType::StateRequest,
            Message::StateReply { .. } => MessageType::StateReply,
            Message::Goodbye { .. } => MessageType::Goodbye,
            Message::Liveness { .. } => MessageType::Liveness,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| *kind as u8 == code)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            MessageType::Delta => "delta",
            MessageType::Heartbeat => "heartbeat",
            MessageType::StateRequest => "state_request",
            MessageType::StateReply => "state_reply",
            MessageType::Goodbye => "goodbye",
            MessageType::Liveness => "liveness",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// Every replica a message mentions (sender, recipient, context sections and entry groups that
/// are not empty), each once, in replica order, with its index: the table both encodings start
/// with.
pub(crate) fn replica_table(message: &Message) -> BTreeMap<&ReplicaId, u64> {
    let mut all: BTreeSet<&ReplicaId> = BTreeSet::new();
    all.insert(message.from());
    if let Some(to) = message.to() {
        all.insert(to);
    }
    let context = match message {
        Message::Delta { delta, .. } | Message::StateReply { delta, .. } => {
            for (replica, entries) in delta.store().by_replica() {
                if !entries.is_empty() {
                    all.insert(replica);
                }
            }
            Some(delta.context())
        }
        Message::Heartbeat { digest, .. } | Message::StateRequest { digest, .. } => Some(digest),
        Message::Goodbye { .. } => None,
        Message::Liveness { replica, .. } => {
            all.insert(replica);
            None
        }
    };
    if let Some(context) = context {
        for (replica, ranges) in context.iter() {
            if !ranges.is_empty() {
                all.insert(replica);
            }
        }
    }
    // Inserted one by one: collecting into a map would sort again what the set already sorted
    // (and bring a sort into the wasm build).
    let mut table = BTreeMap::new();
    for (replica, index) in all.into_iter().zip(0..) {
        table.insert(replica, index);
    }
    table
}
