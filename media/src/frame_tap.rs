//! The frame tap for the face sampler: ask a student's camera for a keyframe, put the
//! keyframe back together from its RTP packets, decode it and hand over the picture.
//! The reassembly is pure ([`KeyframeAssembler`]); the tap itself only waits.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::vp8;
pub use crate::vpx::Image;

/// Reassembles the first complete VP8 keyframe from RTP packets in arrival order.
#[derive(Debug, Default)]
pub struct KeyframeAssembler {
    frame: Vec<u8>,
    next_seq: Option<u16>,
}

/// What one packet did.
#[derive(Debug, PartialEq, Eq)]
pub enum Assembled {
    /// Still collecting (or waiting for a keyframe start).
    Pending,
    /// A packet went missing inside the keyframe: it was discarded; wait for the next.
    Broken,
    /// A complete keyframe (the VP8 bitstream, descriptors removed).
    Frame(Vec<u8>),
}

/// Most bytes a keyframe may take (a 320×240 keyframe is ~10–30 kB).
pub const MAX_FRAME_BYTES: usize = 2 << 20;

impl KeyframeAssembler {
    /// Takes one packet.
    pub fn push(&mut self, seq: u16, marker: bool, payload: &[u8]) -> Assembled {
        let Some(skip) = vp8::descriptor_len(payload) else {
            return Assembled::Pending;
        };
        if vp8::is_keyframe_start(payload) {
            self.frame.clear();
            self.next_seq = Some(seq);
        }
        let Some(expected) = self.next_seq else {
            return Assembled::Pending;
        };
        if seq != expected || self.frame.len() + payload.len() > MAX_FRAME_BYTES {
            self.frame.clear();
            self.next_seq = None;
            return Assembled::Broken;
        }
        self.frame.extend_from_slice(&payload[skip..]);
        self.next_seq = Some(seq.wrapping_add(1));
        if marker {
            self.next_seq = None;
            return Assembled::Frame(std::mem::take(&mut self.frame));
        }
        Assembled::Pending
    }
}

/// Waits on `rx` for a complete keyframe until `deadline`, asking again (through
/// `ask`) when one arrives broken. Decodes it.
pub async fn next_keyframe<F, Fut>(
    rx: &mut mpsc::Receiver<rtc::rtp::Packet>,
    deadline: Instant,
    mut ask: F,
) -> Result<Image, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut asm = KeyframeAssembler::default();
    ask().await;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("no keyframe arrived in time".into());
        }
        let p = match tokio::time::timeout(left.min(Duration::from_secs(1)), rx.recv()).await {
            Ok(Some(p)) => p,
            Ok(None) => return Err("the camera track ended".into()),
            Err(_) => {
                ask().await;
                continue;
            }
        };
        match asm.push(p.header.sequence_number, p.header.marker, &p.payload) {
            Assembled::Pending => {}
            Assembled::Broken => ask().await,
            Assembled::Frame(f) => match crate::vpx::decode_vp8(&f) {
                Ok(img) => return Ok(img),
                Err(e) => {
                    tracing::debug!(error = %e, "keyframe did not decode; asking again");
                    ask().await;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassembles_a_keyframe_and_skips_delta_frames() {
        let mut a = KeyframeAssembler::default();
        // A delta frame first: ignored.
        assert_eq!(a.push(1, false, &[0x10, 0x01, 0xAA]), Assembled::Pending);
        assert_eq!(a.push(2, true, &[0x00, 0xBB]), Assembled::Pending);
        // Keyframe in three packets.
        assert_eq!(a.push(3, false, &[0x10, 0x50, 0x01]), Assembled::Pending);
        assert_eq!(a.push(4, false, &[0x00, 0x02, 0x03]), Assembled::Pending);
        assert_eq!(
            a.push(5, true, &[0x00, 0x04]),
            Assembled::Frame(vec![0x50, 0x01, 0x02, 0x03, 0x04])
        );
    }

    #[test]
    fn a_gap_inside_the_keyframe_breaks_it() {
        let mut a = KeyframeAssembler::default();
        assert_eq!(a.push(10, false, &[0x10, 0x50, 0x01]), Assembled::Pending);
        assert_eq!(a.push(12, true, &[0x00, 0x02]), Assembled::Broken);
        // The next keyframe is taken whole.
        assert_eq!(
            a.push(13, true, &[0x10, 0x50, 0x09]),
            Assembled::Frame(vec![0x50, 0x09])
        );
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut a = KeyframeAssembler::default();
        assert_eq!(a.push(65535, false, &[0x10, 0x50]), Assembled::Pending);
        assert_eq!(
            a.push(0, true, &[0x00, 0x51]),
            Assembled::Frame(vec![0x50, 0x51])
        );
    }
}
