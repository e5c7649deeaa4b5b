//! Pure watch signal of one subscriber: is the transport connected, and is the lecture's
//! media being delivered to it? Transitions become typed events that the attendance code
//! turns into watch-time intervals.

use std::time::{Duration, Instant};

/// A change in what one subscriber receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchChange {
    /// The subscriber's transport (ICE + DTLS) came up.
    Connected,
    /// The transport went down or was closed.
    Disconnected,
    /// Packets of the watched track are being delivered.
    Flowing,
    /// No packet was delivered for the stall timeout (or the transport went down while flowing).
    Stalled,
}

/// Watch state of one subscriber.
#[derive(Clone, Debug)]
pub struct Watch {
    stall_after: Duration,
    connected: bool,
    flowing: bool,
    last_delivery: Option<Instant>,
}

impl Watch {
    /// A watch that calls the media stalled after `stall_after` without a delivered packet.
    pub fn new(stall_after: Duration) -> Self {
        Self {
            stall_after,
            connected: false,
            flowing: false,
            last_delivery: None,
        }
    }

    /// Whether media is currently flowing.
    pub fn is_flowing(&self) -> bool {
        self.flowing
    }

    /// The transport state changed.
    pub fn transport(&mut self, connected: bool) -> Vec<WatchChange> {
        let mut out = Vec::new();
        if connected == self.connected {
            return out;
        }
        self.connected = connected;
        if connected {
            out.push(WatchChange::Connected);
        } else {
            if self.flowing {
                self.flowing = false;
                out.push(WatchChange::Stalled);
            }
            out.push(WatchChange::Disconnected);
        }
        out
    }

    /// A packet of the watched track was handed to the transport at `now`.
    pub fn delivered(&mut self, now: Instant) -> Option<WatchChange> {
        self.last_delivery = Some(now);
        if self.connected && !self.flowing {
            self.flowing = true;
            return Some(WatchChange::Flowing);
        }
        None
    }

    /// Called periodically: reports a stall once delivery stopped for `stall_after`.
    pub fn tick(&mut self, now: Instant) -> Option<WatchChange> {
        if self.flowing
            && self
                .last_delivery
                .is_none_or(|t| now.saturating_duration_since(t) >= self.stall_after)
        {
            self.flowing = false;
            return Some(WatchChange::Stalled);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_flow_stall_resume_disconnect() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut w = Watch::new(Duration::from_secs(2));
        assert_eq!(w.delivered(ms(0)), None, "not connected yet");
        assert_eq!(w.transport(true), vec![WatchChange::Connected]);
        assert_eq!(w.transport(true), vec![], "no repeat");
        assert_eq!(w.delivered(ms(10)), Some(WatchChange::Flowing));
        assert_eq!(w.delivered(ms(20)), None);
        assert_eq!(w.tick(ms(2019)), None);
        assert_eq!(w.tick(ms(2020)), Some(WatchChange::Stalled));
        assert_eq!(w.tick(ms(3000)), None, "reported once");
        assert_eq!(w.delivered(ms(3100)), Some(WatchChange::Flowing));
        assert_eq!(
            w.transport(false),
            vec![WatchChange::Stalled, WatchChange::Disconnected]
        );
        assert!(!w.is_flowing());
    }
}
