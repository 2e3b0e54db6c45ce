//! Replication messages as bytes on the PubSub: the binary wire format of `beryl-core`.

use beryl_core::Message;
use beryl_core::wire::{self, DecodeError, WireLimits};
use bytes::Bytes;

pub(crate) fn encode(message: &Message) -> Bytes {
    Bytes::from(wire::encode_binary(message))
}

pub(crate) fn decode(bytes: &[u8], limits: &WireLimits) -> Result<Message, DecodeError> {
    wire::decode_binary(bytes, limits)
}
