//! Size limits on what a state accepts, from local callers and from the network alike.

/// Bounds on the parts of a presence. Everything a state stores passes through them, so a
/// caller cannot grow memory without bound by sending one huge key or meta.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest topic, in bytes.
    pub max_topic_bytes: usize,
    /// Longest presence key, in bytes (at most 65,535).
    pub max_key_bytes: usize,
    /// Longest pid, in bytes (at most 65,535).
    pub max_pid_bytes: usize,
    /// Largest meta, in bytes of JSON text.
    pub max_meta_bytes: usize,
    /// Deepest nesting of arrays and objects inside a meta (the meta object itself is depth 1).
    pub max_meta_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_topic_bytes: 1024,
            max_key_bytes: 1024,
            max_pid_bytes: 1024,
            max_meta_bytes: 16 * 1024,
            max_meta_depth: 16,
        }
    }
}
