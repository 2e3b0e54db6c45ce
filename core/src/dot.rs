//! Dots: the unique name of one event (one add) of one replica.

use std::fmt;

use crate::replica::ReplicaId;

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
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Ref(String);

impl Ref {
    pub(crate) fn from_parts(replica: &ReplicaId, counter: u64) -> Self {
        let mut text = String::with_capacity(crate::replica::TAG_LEN + 21);
        write_ref(&mut text, replica, counter);
        Ref(text)
    }

    /// The ref as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Appends the ref of `(replica, counter)` to `out` without an intermediate allocation.
pub(crate) fn write_ref(out: &mut String, replica: &ReplicaId, counter: u64) {
    out.push_str(replica.tag());
    out.push('.');
    // Decimal digits without the formatting machinery: refs are written for every meta sent.
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = counter;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &digit in &digits[at..] {
        out.push(char::from(digit));
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Ref {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
