//! Bounds on what a decoder accepts from the network.

use crate::limits::Limits;

/// Limits a decoder enforces on untrusted bytes before it allocates or builds anything, so a
/// hostile or corrupt message costs at most a bounded amount of memory and time.
///
/// The defaults accept a binary full state of several hundred thousand presences (about 70 bytes
/// each) in one message, decoding to at most 128 MiB of text; lower them for links that only
/// ever carry small deltas (client replicas, for example), raise them for larger clusters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireLimits {
    /// Largest message, in bytes (binary) or bytes of JSON text.
    pub max_message_bytes: usize,
    /// Most entries (presences) in one message; also bounds the topic table.
    pub max_entries: usize,
    /// Most bytes of text one message may decode to: topics, keys, pids and metas together, with
    /// every meta template filled in. The binary form sends a shared meta shape once, so without
    /// this bound a small message could expand into gigabytes of metas.
    pub max_decoded_bytes: usize,
    /// Most distinct replicas one message may mention.
    pub max_replicas: usize,
    /// Most out-of-order ranges (cloud ranges) in one causal context, all replicas together.
    pub max_ranges: usize,
    /// Longest replica name, in bytes.
    pub max_replica_name_bytes: usize,
    /// Deepest nesting of arrays and objects in a JSON message, the message object itself being
    /// depth 1 (a meta sits at depth 5, so this must be at least `presence.max_meta_depth + 4`
    /// for every meta the presence limits allow to arrive in JSON: see [`Self::for_presence`]).
    pub max_json_depth: usize,
    /// Limits on each decoded presence: topic, key, pid and meta sizes, meta nesting.
    pub presence: Limits,
}

/// How deep a meta sits in a JSON message, less one: message, delta, entries, entry.
const META_JSON_DEPTH: usize = 4;

impl WireLimits {
    /// The default limits with `presence` as the limits of each presence, and the JSON depth
    /// raised, if need be, so that every meta `presence` allows also arrives in JSON.
    pub fn for_presence(presence: Limits) -> Self {
        let defaults = WireLimits::default();
        WireLimits {
            max_json_depth: defaults
                .max_json_depth
                .max(presence.max_meta_depth.saturating_add(META_JSON_DEPTH)),
            presence,
            ..defaults
        }
    }
}

impl Default for WireLimits {
    fn default() -> Self {
        WireLimits {
            max_message_bytes: 64 * 1024 * 1024,
            max_entries: 1_000_000,
            max_decoded_bytes: 128 * 1024 * 1024,
            max_replicas: 10_000,
            max_ranges: 100_000,
            max_replica_name_bytes: 255,
            max_json_depth: 32,
            presence: Limits::default(),
        }
    }
}
