//! Pure cache of one publisher video track's packets since its last keyframe, so a viewer
//! who joins mid-stream can be sent that keyframe and what followed at once instead of
//! waiting for the publisher to answer a (coalesced) keyframe request. Bounded in packets
//! and bytes: a long run without a keyframe invalidates it until the next keyframe, and the
//! joiner falls back to asking for one.

use rtc::rtp;

/// Packets since the last keyframe start of one track.
#[derive(Debug)]
pub struct GopCache {
    packets: Vec<rtp::Packet>,
    bytes: usize,
    max_packets: usize,
    max_bytes: usize,
    valid: bool,
}

impl GopCache {
    /// A cache holding at most `max_packets` packets and `max_bytes` payload bytes. The
    /// packet bound must leave room in a new connection's send queue for live packets.
    pub fn new(max_packets: usize, max_bytes: usize) -> Self {
        Self {
            packets: Vec::new(),
            bytes: 0,
            max_packets,
            max_bytes,
            valid: false,
        }
    }

    /// Records a packet of the track; `keyframe_start` restarts the cache from it.
    pub fn push(&mut self, pkt: &rtp::Packet, keyframe_start: bool) {
        if keyframe_start {
            self.packets.clear();
            self.bytes = 0;
            self.valid = true;
        }
        if !self.valid {
            return;
        }
        let len = pkt.payload.len();
        if self.packets.len() + 1 > self.max_packets || self.bytes + len > self.max_bytes {
            // Too long since the keyframe to replay: forget it until the next one.
            self.packets = Vec::new();
            self.bytes = 0;
            self.valid = false;
            return;
        }
        self.bytes += len;
        // The payload is reference-counted: this copies the header only.
        self.packets.push(pkt.clone());
    }

    /// The packets to replay to a joiner, starting with a keyframe; empty when there is
    /// no usable keyframe.
    pub fn replay(&self) -> &[rtp::Packet] {
        if self.valid {
            &self.packets
        } else {
            &[]
        }
    }

    /// Payload bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pkt(seq: u16, len: usize) -> rtp::Packet {
        rtp::Packet {
            header: rtp::header::Header {
                sequence_number: seq,
                ..Default::default()
            },
            payload: vec![0u8; len].into(),
        }
    }

    fn seqs(c: &GopCache) -> Vec<u16> {
        c.replay()
            .iter()
            .map(|p| p.header.sequence_number)
            .collect()
    }

    #[test]
    fn empty_until_a_keyframe_then_holds_what_followed() {
        let mut c = GopCache::new(10, 10_000);
        c.push(&pkt(1, 100), false);
        assert!(c.replay().is_empty(), "no keyframe yet");
        c.push(&pkt(2, 100), true);
        c.push(&pkt(3, 100), false);
        assert_eq!(seqs(&c), vec![2, 3]);
        c.push(&pkt(4, 100), true);
        assert_eq!(seqs(&c), vec![4], "a new keyframe restarts it");
    }

    #[test]
    fn overflow_invalidates_until_the_next_keyframe() {
        let mut c = GopCache::new(3, 10_000);
        for (s, k) in [(1, true), (2, false), (3, false)] {
            c.push(&pkt(s, 10), k);
        }
        assert_eq!(seqs(&c), vec![1, 2, 3]);
        c.push(&pkt(4, 10), false);
        assert!(c.replay().is_empty(), "a partial GOP is never replayed");
        c.push(&pkt(5, 10), false);
        assert!(c.replay().is_empty());
        c.push(&pkt(6, 10), true);
        assert_eq!(seqs(&c), vec![6]);
        let mut b = GopCache::new(100, 250);
        b.push(&pkt(1, 100), true);
        b.push(&pkt(2, 100), false);
        b.push(&pkt(3, 100), false);
        assert!(b.replay().is_empty(), "byte bound");
        assert_eq!(b.bytes(), 0);
    }

    proptest! {
        /// Whatever arrives, the cache stays within its bounds and, when it has anything,
        /// starts with the latest keyframe and holds every later packet in order.
        #[test]
        fn bounded_and_starts_at_the_last_keyframe(input in proptest::collection::vec((any::<bool>(), 1usize..500), 0..300)) {
            let mut c = GopCache::new(40, 8_000);
            let mut last_key: Option<usize> = None;
            for (i, (key, len)) in input.iter().enumerate() {
                c.push(&pkt(i as u16, *len), *key);
                if *key { last_key = Some(i); }
                let r = c.replay();
                prop_assert!(r.len() <= 40);
                prop_assert!(r.iter().map(|p| p.payload.len()).sum::<usize>() <= 8_000);
                if !r.is_empty() {
                    let k = last_key.unwrap();
                    let want: Vec<u16> = (k..=i).map(|j| j as u16).collect();
                    prop_assert_eq!(seqs(&c), want);
                }
            }
        }
    }
}
