//! Chat flood control (pure): a token bucket per participant. Messages beyond the bucket are
//! refused; a participant who keeps sending into an empty bucket is abusing the room and is
//! disconnected.

use serde::{Deserialize, Serialize};

/// Limits for text a participant sends into the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FloodLimits {
    /// Messages that may be sent back to back.
    pub burst: u32,
    /// One more message is allowed every this many milliseconds.
    pub refill_ms: u64,
    /// Refused messages in a row after which the connection is closed.
    pub strikes: u32,
}

impl Default for FloodLimits {
    fn default() -> Self {
        Self {
            burst: 5,
            refill_ms: 1000,
            strikes: 10,
        }
    }
}

/// What to do with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it.
    Pass,
    /// Refuse it with an error; the connection stays.
    Refuse,
    /// Refuse it and close the connection.
    Abuse,
}

/// One participant's bucket.
#[derive(Clone, Debug)]
pub struct FloodGuard {
    tokens: u64,
    last_ms: i64,
    strikes: u32,
}

impl FloodGuard {
    /// A full bucket at `now`.
    pub fn new(limits: FloodLimits, now: i64) -> Self {
        Self {
            tokens: u64::from(limits.burst) * limits.refill_ms.max(1),
            last_ms: now,
            strikes: 0,
        }
    }

    /// Judges one message sent at `now` (unix ms).
    pub fn check(&mut self, limits: FloodLimits, now: i64) -> Verdict {
        let unit = limits.refill_ms.max(1);
        let cap = u64::from(limits.burst) * unit;
        let elapsed = u64::try_from(now - self.last_ms).unwrap_or(0);
        self.tokens = (self.tokens + elapsed).min(cap);
        self.last_ms = now.max(self.last_ms);
        if self.tokens >= unit {
            self.tokens -= unit;
            self.strikes = 0;
            Verdict::Pass
        } else {
            self.strikes += 1;
            if self.strikes >= limits.strikes {
                Verdict::Abuse
            } else {
                Verdict::Refuse
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_then_abuse() {
        let l = FloodLimits::default();
        let mut g = FloodGuard::new(l, 0);
        for _ in 0..5 {
            assert_eq!(g.check(l, 0), Verdict::Pass);
        }
        assert_eq!(g.check(l, 10), Verdict::Refuse);
        // A second later one more message is fine, and the strikes reset.
        assert_eq!(g.check(l, 1010), Verdict::Pass);
        for i in 0..9 {
            assert_eq!(g.check(l, 1011 + i), Verdict::Refuse);
        }
        assert_eq!(g.check(l, 1100), Verdict::Abuse);
    }

    #[test]
    fn a_steady_sender_within_the_rate_is_never_refused() {
        let l = FloodLimits::default();
        let mut g = FloodGuard::new(l, 0);
        for i in 0..1000 {
            assert_eq!(g.check(l, i * 1000), Verdict::Pass);
        }
    }
}
