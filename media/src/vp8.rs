//! Pure VP8 RTP payload reading (RFC 7741): where a frame starts and whether it is a keyframe.

/// Length of the VP8 payload descriptor at the start of `payload`, or None if truncated.
pub fn descriptor_len(payload: &[u8]) -> Option<usize> {
    let b0 = *payload.first()?;
    let mut n = 1;
    if b0 & 0x80 != 0 {
        let x = *payload.get(1)?;
        n = 2;
        if x & 0x80 != 0 {
            // Picture ID: 7 or 15 bits.
            let pid = *payload.get(n)?;
            n += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            n += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            n += 1; // TID / KEYIDX
        }
    }
    (payload.len() > n).then_some(n)
}

/// Whether this packet is the first packet of a frame (S bit, partition 0).
pub fn starts_frame(payload: &[u8]) -> bool {
    payload
        .first()
        .is_some_and(|b| b & 0x10 != 0 && b & 0x07 == 0)
}

/// Whether this packet starts a VP8 keyframe.
pub fn is_keyframe_start(payload: &[u8]) -> bool {
    if !starts_frame(payload) {
        return false;
    }
    match descriptor_len(payload) {
        // P bit (bit 0 of the first frame byte) is 0 on keyframes.
        Some(n) => payload[n] & 0x01 == 0,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keyframes_and_delta_frames() {
        // S=1, no extension; frame tag with P=0 (keyframe).
        assert!(is_keyframe_start(&[0x10, 0x50, 0x01, 0x00]));
        // Same with P=1 (delta frame).
        assert!(!is_keyframe_start(&[0x10, 0x51, 0x01, 0x00]));
        // Continuation packet (S=0).
        assert!(!is_keyframe_start(&[0x00, 0x50]));
        // Extended: X=1, I=1 with 15-bit picture id, L=1, T=1.
        let p = [0x90, 0xE0, 0x80, 0x01, 0x07, 0x20, 0x50, 0x9d];
        assert_eq!(descriptor_len(&p), Some(6));
        assert!(is_keyframe_start(&p));
        // Truncated descriptors are never keyframes.
        assert!(!is_keyframe_start(&[0x90, 0xE0, 0x80]));
        assert!(!is_keyframe_start(&[]));
    }
}
