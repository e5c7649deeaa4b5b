//! Pure keyframe-request coalescing: many subscribers asking for a keyframe of one
//! publisher track become at most one PLI per `min_interval` (≈500 ms). A request that
//! arrives inside the window is remembered and sent when the window ends, so nobody waits
//! for a keyframe that was never asked for.

use std::time::{Duration, Instant};

/// Coalescing state of one publisher track.
#[derive(Clone, Debug)]
pub struct KeyframeGate {
    min_interval: Duration,
    last_sent: Option<Instant>,
    pending: bool,
}

impl KeyframeGate {
    /// A gate that lets one request through per `min_interval`.
    pub fn new(min_interval: Duration) -> Self {
        Self {
            min_interval,
            last_sent: None,
            pending: false,
        }
    }

    /// A subscriber (or the frame tap) asks for a keyframe at `now`. Returns true when
    /// the request must be sent upstream now; otherwise it is held for [`Self::poll`].
    pub fn request(&mut self, now: Instant) -> bool {
        match self.last_sent {
            Some(t) if now.saturating_duration_since(t) < self.min_interval => {
                self.pending = true;
                false
            }
            _ => {
                self.last_sent = Some(now);
                self.pending = false;
                true
            }
        }
    }

    /// Called on a timer: true when a held request is now due.
    pub fn poll(&mut self, now: Instant) -> bool {
        if self.pending && self.next_due().is_some_and(|due| now >= due) {
            self.pending = false;
            self.last_sent = Some(now);
            true
        } else {
            false
        }
    }

    /// When a held request becomes due, if one is held.
    pub fn next_due(&self) -> Option<Instant> {
        if !self.pending {
            return None;
        }
        Some(
            self.last_sent
                .map_or_else(Instant::now, |t| t + self.min_interval),
        )
    }

    /// A keyframe arrived from the publisher: held requests are answered by it.
    pub fn keyframe_seen(&mut self) {
        self.pending = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_requests_become_one_per_window() {
        let t0 = Instant::now();
        let mut g = KeyframeGate::new(Duration::from_millis(500));
        let mut sent = 0;
        // 200 subscribers asking every 10 ms for 2 s.
        for ms in (0..2000).step_by(10) {
            let now = t0 + Duration::from_millis(ms);
            for _ in 0..200 {
                sent += g.request(now) as u32;
            }
            sent += g.poll(now) as u32;
        }
        assert_eq!(sent, 4, "one per 500 ms window");
    }

    #[test]
    fn a_held_request_is_sent_when_the_window_ends() {
        let t0 = Instant::now();
        let mut g = KeyframeGate::new(Duration::from_millis(500));
        assert!(g.request(t0));
        assert!(!g.request(t0 + Duration::from_millis(100)));
        assert_eq!(g.next_due(), Some(t0 + Duration::from_millis(500)));
        assert!(!g.poll(t0 + Duration::from_millis(499)));
        assert!(g.poll(t0 + Duration::from_millis(500)));
        assert!(!g.poll(t0 + Duration::from_millis(501)), "sent once");
    }

    #[test]
    fn a_keyframe_answers_held_requests() {
        let t0 = Instant::now();
        let mut g = KeyframeGate::new(Duration::from_millis(500));
        assert!(g.request(t0));
        assert!(!g.request(t0 + Duration::from_millis(10)));
        g.keyframe_seen();
        assert!(!g.poll(t0 + Duration::from_secs(1)));
    }
}
