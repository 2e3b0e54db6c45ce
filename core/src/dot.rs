//! Dots: the unique name of one event (one add) of one replica.

use std::fmt;

use crate::replica::{ReplicaId, TAG_LEN};

/// One event of one replica: the replica and a counter that replica increments for every add.
///
/// Every tracked presence is born with a fresh dot, and its `phx_ref` is derived from that dot,
/// so the ref is unique per tracked entry and identical on every node that holds the entry.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dot {
    /// The replica that created the event.
    pub replica: ReplicaId,
    /// The replica's event counter, starting at 1.
    pub counter: u64,
}

impl Dot {
    /// Creates a dot.
    pub fn new(replica: ReplicaId, counter: u64) -> Self {
        Dot { replica, counter }
    }

    /// The `phx_ref` of the entry born with this dot.
    pub fn phx_ref(&self) -> Ref {
        Ref::from_parts(&self.replica, self.counter)
    }
}

impl fmt::Debug for Dot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}.{}", self.replica, self.counter)
    }
}

/// A `phx_ref`: the client-visible name of one tracked entry.
///
/// It is the replica's tag followed by a dot and the counter in decimal, e.g. `Xk3v9QpA0bZ.42`.
/// At most 32 bytes, kept inline: every track and update returns one, and a heap
/// allocation for it would cost as much as the rest of the ref's work.
#[derive(Clone)]
pub struct Ref {
    len: u8,
    text: [u8; REF_MAX],
}

/// The longest ref: a tag, a dot, and the 20 digits of the largest counter.
const REF_MAX: usize = TAG_LEN + 1 + 20;

impl Ref {
    pub(crate) fn from_parts(replica: &ReplicaId, counter: u64) -> Self {
        let mut text = [0u8; REF_MAX];
        // Every tag has TAG_LEN bytes: a copy of known length, and digits written in place,
        // cost a few moves where copies of run-time lengths would each call memcpy.
        let tag: &[u8; TAG_LEN] = replica
            .tag()
            .as_bytes()
            .try_into()
            .expect("a tag of TAG_LEN bytes");
        text[..TAG_LEN].copy_from_slice(tag);
        text[TAG_LEN] = b'.';
        let count = counter.checked_ilog10().map_or(1, |log| log as usize + 1);
        let digits = &mut text[TAG_LEN + 1..TAG_LEN + 1 + count];
        let mut rest = counter;
        for digit in digits.iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        Ref {
            len: (TAG_LEN + 1 + count) as u8,
            text,
        }
    }

    /// The ref as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written: the tag alphabet, a dot and digits.
        std::str::from_utf8(&self.text[..usize::from(self.len)]).expect("ASCII ref")
    }
}

/// Writes `value` in decimal at the end of `digits`; returns how many digits it took.
fn decimal(value: u64, digits: &mut [u8; 20]) -> usize {
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    digits.len() - at
}

impl PartialEq for Ref {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Ref {}

impl std::hash::Hash for Ref {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for Ref {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ref {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Debug for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Ref").field(&self.as_str()).finish()
    }
}

/// Appends the ref of `(replica, counter)` to `out` without an intermediate allocation.
pub(crate) fn write_ref(out: &mut String, replica: &ReplicaId, counter: u64) {
    out.push_str(replica.tag());
    out.push('.');
    // Decimal digits without the formatting machinery: refs are written for every meta sent.
    let mut digits = [0u8; 20];
    let count = decimal(counter, &mut digits);
    for &digit in &digits[digits.len() - count..] {
        out.push(char::from(digit));
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for Ref {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}
