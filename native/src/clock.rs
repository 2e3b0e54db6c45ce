//! Time for the protocol engine, and the incarnation of a starting node.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use beryl_core::incarnation_from_parts;
use tokio::time::Instant;

/// Milliseconds since the node started, on tokio's clock (so tests can pause and advance it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    start: Instant,
}

impl Clock {
    pub(crate) fn start() -> Self {
        Clock {
            start: Instant::now(),
        }
    }

    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn instant_at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }
}

/// The last incarnation handed out in this process: two nodes started in the same millisecond
/// (a test restarting a node at once) still get increasing incarnations.
static LAST_INCARNATION: AtomicU64 = AtomicU64::new(0);

/// A fresh incarnation: the wall-clock start time in milliseconds, then random bits, so a
/// restarted node (even in another process) supersedes its previous life.
pub(crate) fn new_incarnation() -> u64 {
    let unix_millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        });
    // RandomState is seeded from the operating system's randomness.
    let random = RandomState::new().hash_one(unix_millis) as u16;
    let candidate = incarnation_from_parts(unix_millis, random);
    let mut last = LAST_INCARNATION.load(Ordering::Relaxed);
    loop {
        let next = candidate.max(last.saturating_add(1));
        match LAST_INCARNATION.compare_exchange_weak(
            last,
            next,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return next,
            Err(current) => last = current,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incarnations_grow_within_a_process() {
        let first = new_incarnation();
        let second = new_incarnation();
        assert!(second > first);
    }
}
