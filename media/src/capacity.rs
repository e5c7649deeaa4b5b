//! Pure admission control: a node serves at most `max_subscribers` subscribers and
//! forwards at most `max_forwarded_pps` packets per second; a join that would cross
//! either is refused with a reason, before any resources are taken.

/// Why a join was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The node already serves its configured number of subscribers.
    #[error("this media node is full: {current} of {max} subscribers")]
    Subscribers {
        /// Subscribers now.
        current: u32,
        /// Configured limit.
        max: u32,
    },
    /// Forwarding to one more subscriber would exceed the packet-rate budget.
    #[error("this media node is at its forwarding limit: {projected} of {max} packets/s")]
    PacketRate {
        /// Rate after admitting the join.
        projected: u64,
        /// Configured limit.
        max: u64,
    },
}

/// The node's limits.
#[derive(Clone, Copy, Debug)]
pub struct Capacity {
    /// Most subscribers at once.
    pub max_subscribers: u32,
    /// Most forwarded packets per second.
    pub max_forwarded_pps: u64,
}

impl Capacity {
    /// Decides a join: `subscribers` now, `forwarded_pps` now, and `room_ingest_pps`, the
    /// rate the joiner's room publishes (what one more subscriber adds).
    pub fn admit(
        &self,
        subscribers: u32,
        forwarded_pps: u64,
        room_ingest_pps: u64,
    ) -> Result<(), Refusal> {
        if subscribers >= self.max_subscribers {
            return Err(Refusal::Subscribers {
                current: subscribers,
                max: self.max_subscribers,
            });
        }
        let projected = forwarded_pps.saturating_add(room_ingest_pps);
        if projected > self.max_forwarded_pps {
            return Err(Refusal::PacketRate {
                projected,
                max: self.max_forwarded_pps,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_either_limit() {
        let c = Capacity {
            max_subscribers: 2,
            max_forwarded_pps: 1000,
        };
        assert_eq!(c.admit(0, 0, 400), Ok(()));
        assert_eq!(c.admit(1, 400, 400), Ok(()));
        assert_eq!(
            c.admit(2, 0, 0),
            Err(Refusal::Subscribers { current: 2, max: 2 })
        );
        assert_eq!(
            c.admit(1, 800, 400),
            Err(Refusal::PacketRate {
                projected: 1200,
                max: 1000
            })
        );
        assert!(Refusal::Subscribers { current: 2, max: 2 }
            .to_string()
            .contains("2 of 2"));
    }
}
