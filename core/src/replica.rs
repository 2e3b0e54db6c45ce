//! Replica identity: a name plus an incarnation chosen at start.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The identity of one running instance of a node: its configured name plus an incarnation.
///
/// A node that restarts keeps its name but must pick a new, larger incarnation, so that the
/// dots it creates can never collide with the dots of its previous life. Incarnations of one
/// name are ordered: the larger one is the newer instance and supersedes the others, whatever
/// order messages arrive in. [`incarnation_from_parts`] builds a well-ordered incarnation from a
/// start time and a few random bits; the core never reads a clock or draws random numbers itself.
///
/// Cloning is cheap (a reference count); hashing uses a hash computed once at construction.
#[derive(Clone)]
pub struct ReplicaId(Arc<Inner>);

struct Inner {
    name: Box<str>,
    incarnation: u64,
    hash: u64,
    tag: String,
}

/// Length of the textual tag that prefixes every `phx_ref` of a replica.
pub(crate) const TAG_LEN: usize = 11;

const TAG_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Builds an incarnation that orders instances by start time: the Unix time in milliseconds in
/// the high bits, 16 random bits in the low bits (to separate two starts in the same millisecond).
pub fn incarnation_from_parts(unix_millis: u64, random: u16) -> u64 {
    (unix_millis << 16) | u64::from(random)
}

impl ReplicaId {
    /// Creates the identity of one instance of the node `name`.
    pub fn new(name: impl Into<Box<str>>, incarnation: u64) -> Self {
        let name = name.into();
        let hash = stable_hash(name.as_bytes(), incarnation);
        let mut tag = [0u8; TAG_LEN];
        let mut bits = hash;
        for slot in tag.iter_mut() {
            *slot = TAG_ALPHABET[(bits & 63) as usize];
            bits = bits.rotate_right(6);
        }
        ReplicaId(Arc::new(Inner {
            name,
            incarnation,
            hash,
            tag: tag.iter().map(|&byte| char::from(byte)).collect(),
        }))
    }

    /// The node's configured name, shared by all its incarnations.
    #[inline(always)]
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The incarnation: larger means a newer instance of the same name.
    pub fn incarnation(&self) -> u64 {
        self.0.incarnation
    }

    /// Whether `other` is an instance of the same node name.
    pub fn same_name(&self, other: &ReplicaId) -> bool {
        self.0.name == other.0.name
    }

    /// The short tag that, followed by a counter, forms the `phx_ref` of this replica's entries.
    /// It is a stable function of name and incarnation, so every node derives the same refs.
    pub(crate) fn tag(&self) -> &str {
        &self.0.tag
    }
}

/// FNV-1a over the name and incarnation: stable across platforms and versions, unlike `std`'s
/// hasher, because refs derived from it must agree between native and wasm nodes.
fn stable_hash(name: &[u8], incarnation: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name
        .iter()
        .copied()
        .chain([0xff])
        .chain(incarnation.to_le_bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // A final avalanche so that neighbouring incarnations give unrelated tags.
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash
}

impl PartialEq for ReplicaId {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.hash == other.0.hash
                && self.0.incarnation == other.0.incarnation
                && self.0.name == other.0.name)
    }
}

impl Eq for ReplicaId {}

impl Hash for ReplicaId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

impl Ord for ReplicaId {
    fn cmp(&self, other: &Self) -> Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            return Ordering::Equal;
        }
        self.0
            .name
            .cmp(&other.0.name)
            .then(self.0.incarnation.cmp(&other.0.incarnation))
    }
}

impl PartialOrd for ReplicaId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.0.name, self.0.incarnation)
    }
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.0.name, self.0.incarnation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_ids_hash_alike_and_tags_differ_between_incarnations() {
        let a = ReplicaId::new("node-a", 7);
        let b = ReplicaId::new("node-a", 7);
        let c = ReplicaId::new("node-a", 8);
        assert_eq!(a, b);
        assert_eq!(a.tag(), b.tag());
        assert_ne!(a, c);
        assert_ne!(a.tag(), c.tag());
        assert!(a < c, "a newer incarnation orders after the older one");
        assert!(a.same_name(&c));
    }

    #[test]
    fn incarnations_order_by_start_time_first() {
        assert!(incarnation_from_parts(1_000, u16::MAX) < incarnation_from_parts(1_001, 0));
    }
}
