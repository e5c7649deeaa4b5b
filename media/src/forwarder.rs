//! Pure per-subscriber RTP rewriting: one outgoing stream (SSRC, payload type, sequence
//! numbers, timestamps) per subscriber slot, continuous across publisher changes, so a
//! lecturer who reconnects or switches source never makes a viewer's decoder see a jump.

/// The header fields the forwarder reads from an incoming packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InHeader {
    /// The publisher's SSRC.
    pub ssrc: u32,
    /// The publisher's sequence number.
    pub seq: u16,
    /// The publisher's RTP timestamp.
    pub ts: u32,
    /// Whether this packet starts a keyframe (video only; always true for audio).
    pub keyframe_start: bool,
}

/// The rewritten header fields for one subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutHeader {
    /// The subscriber's SSRC for this slot.
    pub ssrc: u32,
    /// The payload type negotiated on the subscriber's connection.
    pub payload_type: u8,
    /// Rewritten sequence number.
    pub seq: u16,
    /// Rewritten timestamp.
    pub ts: u32,
}

/// What the forwarder decided about one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it with these header fields.
    Forward(OutHeader),
    /// Dropped: the subscriber has not yet seen a keyframe of the current source, so
    /// this packet could not be decoded. The caller should make sure one is requested.
    AwaitingKeyframe,
    /// Dropped: older than what was already sent (reordered past a source switch, or a
    /// duplicate).
    Stale,
}

/// Rewriting state of one subscriber slot.
#[derive(Clone, Debug)]
pub struct Forwarder {
    out_ssrc: u32,
    payload_type: u8,
    /// Gap in RTP clock units put between the last packet of one source and the first of the next.
    ts_gap: u32,
    source: Option<u32>,
    seq_offset: u16,
    ts_offset: u32,
    /// Highest sequence number sent (extended to detect staleness), and its timestamp.
    last_out: Option<(u16, u32)>,
    /// Highest incoming sequence number of the current source.
    highest_in: u16,
    needs_keyframe: bool,
}

fn seq_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

impl Forwarder {
    /// A slot sending as `out_ssrc` with `payload_type`. `video` slots wait for a keyframe
    /// before forwarding anything; `ts_gap` is added between sources (e.g. 3000 = 1/30 s at 90 kHz).
    pub fn new(out_ssrc: u32, payload_type: u8, video: bool, ts_gap: u32) -> Self {
        Self {
            out_ssrc,
            payload_type,
            ts_gap,
            source: None,
            seq_offset: 0,
            ts_offset: 0,
            last_out: None,
            highest_in: 0,
            needs_keyframe: video,
        }
    }

    /// Whether the slot is waiting for a keyframe.
    pub fn needs_keyframe(&self) -> bool {
        self.needs_keyframe
    }

    /// Marks the slot as needing a keyframe (e.g. packets were dropped on its queue).
    pub fn require_keyframe(&mut self) {
        self.needs_keyframe = true;
    }

    /// Decides about one incoming packet.
    pub fn forward(&mut self, h: InHeader) -> Verdict {
        let switching = self.source != Some(h.ssrc);
        if self.needs_keyframe && !h.keyframe_start {
            return Verdict::AwaitingKeyframe;
        }
        if switching {
            // Continue right after what the subscriber last saw.
            let (next_seq, next_ts) = match self.last_out {
                Some((s, t)) => (s.wrapping_add(1), t.wrapping_add(self.ts_gap)),
                None => (h.seq, h.ts),
            };
            self.seq_offset = next_seq.wrapping_sub(h.seq);
            self.ts_offset = next_ts.wrapping_sub(h.ts);
            self.source = Some(h.ssrc);
            self.highest_in = h.seq;
        } else if seq_newer(h.seq, self.highest_in) {
            self.highest_in = h.seq;
        } else if h.seq.wrapping_sub(self.highest_in) != 0
            && self.highest_in.wrapping_sub(h.seq) > 1000
        {
            // Far in the past: treat as stale rather than corrupting the stream.
            return Verdict::Stale;
        }
        let out = OutHeader {
            ssrc: self.out_ssrc,
            payload_type: self.payload_type,
            seq: h.seq.wrapping_add(self.seq_offset),
            ts: h.ts.wrapping_add(self.ts_offset),
        };
        if let Some((s, _)) = self.last_out {
            if out.seq == s {
                return Verdict::Stale;
            }
        }
        if self.last_out.is_none_or(|(s, _)| seq_newer(out.seq, s)) {
            self.last_out = Some((out.seq, out.ts));
        }
        self.needs_keyframe = false;
        Verdict::Forward(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(ssrc: u32, seq: u16, ts: u32, key: bool) -> InHeader {
        InHeader {
            ssrc,
            seq,
            ts,
            keyframe_start: key,
        }
    }

    fn out(v: Verdict) -> OutHeader {
        match v {
            Verdict::Forward(o) => o,
            other => panic!("expected forward, got {other:?}"),
        }
    }

    #[test]
    fn video_waits_for_a_keyframe_then_rewrites_ssrc_and_pt() {
        let mut f = Forwarder::new(42, 100, true, 3000);
        assert_eq!(f.forward(h(7, 10, 900, false)), Verdict::AwaitingKeyframe);
        let o = out(f.forward(h(7, 11, 900, true)));
        assert_eq!((o.ssrc, o.payload_type, o.seq, o.ts), (42, 100, 11, 900));
        let o = out(f.forward(h(7, 12, 900, false)));
        assert_eq!(o.seq, 12);
    }

    #[test]
    fn a_new_source_continues_the_sequence() {
        let mut f = Forwarder::new(1, 96, false, 960);
        out(f.forward(h(7, 65535, 1000, true)));
        out(f.forward(h(7, 0, 1960, true)));
        // The lecturer reconnects with a fresh SSRC and random numbers.
        let o = out(f.forward(h(8, 5000, 123_456, true)));
        assert_eq!(o.seq, 1);
        assert_eq!(o.ts, 1960 + 960);
        let o = out(f.forward(h(8, 5001, 124_416, true)));
        assert_eq!(o.seq, 2);
        assert_eq!(o.ts, 1960 + 960 + 960);
    }

    #[test]
    fn duplicates_are_stale() {
        let mut f = Forwarder::new(1, 96, false, 960);
        out(f.forward(h(7, 5, 0, true)));
        assert_eq!(f.forward(h(7, 5, 0, true)), Verdict::Stale);
    }

    #[test]
    fn after_a_queue_drop_video_waits_again() {
        let mut f = Forwarder::new(1, 96, true, 3000);
        out(f.forward(h(7, 1, 0, true)));
        f.require_keyframe();
        assert_eq!(f.forward(h(7, 2, 0, false)), Verdict::AwaitingKeyframe);
        let o = out(f.forward(h(7, 3, 3000, true)));
        assert_eq!(
            o.seq, 3,
            "same source keeps its numbering (gaps show as loss)"
        );
    }

    proptest! {
        /// Whatever sources and starting points, in-order input gives strictly
        /// consecutive output sequence numbers on one SSRC.
        #[test]
        fn output_is_consecutive(switches in proptest::collection::vec((any::<u16>(), any::<u32>(), 1usize..50), 1..6)) {
            let mut f = Forwarder::new(9, 96, false, 3000);
            let mut prev: Option<u16> = None;
            for (k, (seq0, ts0, n)) in switches.into_iter().enumerate() {
                let ssrc = k as u32;
                for i in 0..n {
                    let o = out(f.forward(h(ssrc, seq0.wrapping_add(i as u16), ts0.wrapping_add(3000 * i as u32), true)));
                    prop_assert_eq!(o.ssrc, 9);
                    if let Some(p) = prev { prop_assert_eq!(o.seq, p.wrapping_add(1)); }
                    prev = Some(o.seq);
                }
            }
        }
    }
}
