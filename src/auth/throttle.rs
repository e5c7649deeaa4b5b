//! Login throttling: after `max_failures` failed logins within `window`, a key (an account
//! name or a client address) is locked for `lockout`. Pure: the caller passes the clock.

use std::time::{Duration, Instant};

use dashmap::DashMap;

#[derive(Clone, Debug, Default)]
struct Failures {
    recent: Vec<Instant>,
    locked_until: Option<Instant>,
}

/// Failed-login bookkeeping shared by all request handlers.
#[derive(Debug)]
pub struct LoginThrottle {
    max_failures: u32,
    window: Duration,
    lockout: Duration,
    keys: DashMap<String, Failures>,
}

impl LoginThrottle {
    /// A throttle with the given limits.
    pub fn new(max_failures: u32, window: Duration, lockout: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            lockout,
            keys: DashMap::new(),
        }
    }

    /// `Err(retry_after)` while `key` is locked out.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        match self.keys.get(key).and_then(|f| f.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failed login for `key`; returns the lockout if this one triggered it.
    pub fn record_failure(&self, key: &str, now: Instant) -> Option<Duration> {
        let mut entry = self.keys.entry(key.to_string()).or_default();
        let window = self.window;
        entry
            .recent
            .retain(|t| now.saturating_duration_since(*t) < window);
        entry.recent.push(now);
        if entry.recent.len() as u32 >= self.max_failures {
            entry.recent.clear();
            entry.locked_until = Some(now + self.lockout);
            return Some(self.lockout);
        }
        None
    }

    /// Forgets `key`'s failures after a successful login.
    pub fn record_success(&self, key: &str) {
        self.keys.remove(key);
    }

    /// Drops entries with nothing recent, so the map stays bounded under a spray attack.
    pub fn prune(&self, now: Instant) {
        let window = self.window;
        self.keys.retain(|_, f| {
            f.locked_until.is_some_and(|u| u > now)
                || f.recent
                    .iter()
                    .any(|t| now.saturating_duration_since(*t) < window)
        });
    }

    /// Number of keys tracked (for metrics).
    pub fn tracked(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(3, Duration::from_secs(60), Duration::from_secs(300))
    }

    #[test]
    fn locks_after_max_failures_then_releases() {
        let t = throttle();
        let t0 = Instant::now();
        assert_eq!(t.record_failure("alice", t0), None);
        assert_eq!(t.record_failure("alice", t0 + Duration::from_secs(1)), None);
        assert!(t.check("alice", t0 + Duration::from_secs(2)).is_ok());
        assert_eq!(
            t.record_failure("alice", t0 + Duration::from_secs(2)),
            Some(Duration::from_secs(300))
        );
        let retry = t.check("alice", t0 + Duration::from_secs(12)).unwrap_err();
        assert_eq!(retry, Duration::from_secs(290));
        assert!(t.check("bob", t0 + Duration::from_secs(12)).is_ok());
        assert!(t.check("alice", t0 + Duration::from_secs(303)).is_ok());
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let t = throttle();
        let t0 = Instant::now();
        t.record_failure("a", t0);
        t.record_failure("a", t0 + Duration::from_secs(30));
        assert_eq!(t.record_failure("a", t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn success_resets_and_prune_forgets_old_keys() {
        let t = throttle();
        let t0 = Instant::now();
        t.record_failure("a", t0);
        t.record_failure("a", t0);
        t.record_success("a");
        assert_eq!(t.record_failure("a", t0), None);
        t.record_failure("b", t0);
        t.prune(t0 + Duration::from_secs(120));
        assert_eq!(t.tracked(), 0);
    }
}
