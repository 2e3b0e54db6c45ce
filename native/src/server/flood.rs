//! Flood control: a token bucket per socket.

use std::time::Instant;

/// Allows `burst` messages at once and `per_second` messages per second on average.
#[derive(Debug)]
pub struct FloodGate {
    burst: f64,
    per_second: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl FloodGate {
    /// A full bucket.
    pub fn new(burst: u32, per_second: u32) -> Self {
        FloodGate {
            burst: f64::from(burst.max(1)),
            per_second: f64::from(per_second),
            tokens: f64::from(burst.max(1)),
            last: None,
        }
    }

    /// Takes a token for a message received at `now`; false when the socket is over its rate.
    pub fn admit(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_is_allowed_then_the_rate_applies() {
        let start = Instant::now();
        let mut gate = FloodGate::new(3, 10);
        assert!((0..3).all(|_| gate.admit(start)));
        assert!(!gate.admit(start));
        // 100 ms at 10 per second refills one token.
        assert!(gate.admit(start + Duration::from_millis(100)));
        assert!(!gate.admit(start + Duration::from_millis(100)));
        // A long pause refills the bucket up to the burst, not beyond.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| gate.admit(later)));
        assert!(!gate.admit(later));
    }
}
