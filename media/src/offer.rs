//! Pure inspection of an SDP offer before any connection is built: it must parse, carry
//! no more media sections than allowed, and offer a codec the SFU forwards (VP8 video,
//! Opus audio) in each media section.

use std::io::Cursor;

use rtc::sdp::SessionDescription;

/// What an offer asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OfferSummary {
    /// Audio sections.
    pub audio: usize,
    /// Video sections.
    pub video: usize,
}

/// Why an offer is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    /// Not SDP.
    #[error("the offer is not valid SDP: {0}")]
    Malformed(String),
    /// A media section offers no codec the SFU forwards.
    #[error("the offer's {kind} section #{index} has no usable codec (this server forwards VP8 video and Opus audio)")]
    NoUsableCodec {
        /// `audio` or `video`.
        kind: String,
        /// Index of the media section.
        index: usize,
    },
    /// More media sections than a participant may have.
    #[error("the offer has {audio} audio and {video} video sections; at most {max_audio} audio and {max_video} video are allowed")]
    TooManyTracks {
        /// Audio sections offered.
        audio: usize,
        /// Video sections offered.
        video: usize,
        /// Audio allowed.
        max_audio: usize,
        /// Video allowed.
        max_video: usize,
    },
    /// No audio or video at all.
    #[error("the offer has no audio or video section")]
    NoMedia,
}

fn offers_codec(md: &rtc::sdp::description::media::MediaDescription, name: &str) -> bool {
    md.attributes.iter().any(|a| {
        a.key == "rtpmap"
            && a.value.as_deref().is_some_and(|v| {
                v.split_whitespace()
                    .nth(1)
                    .is_some_and(|enc| enc.to_ascii_lowercase().starts_with(name))
            })
    })
}

/// Checks `sdp` and counts its sections; `max_audio`/`max_video` bound them.
pub fn inspect(sdp: &str, max_audio: usize, max_video: usize) -> Result<OfferSummary, OfferError> {
    if !sdp.trim_start().starts_with("v=") {
        return Err(OfferError::Malformed("it does not start with `v=`".into()));
    }
    let desc = SessionDescription::unmarshal(&mut Cursor::new(sdp.as_bytes()))
        .map_err(|e| OfferError::Malformed(e.to_string()))?;
    let mut s = OfferSummary::default();
    for (index, md) in desc.media_descriptions.iter().enumerate() {
        let kind = md.media_name.media.as_str();
        let (count, codec) = match kind {
            "audio" => (&mut s.audio, "opus/"),
            "video" => (&mut s.video, "vp8/"),
            _ => continue,
        };
        if md.media_name.port.value == 0 {
            continue; // rejected section
        }
        if !offers_codec(md, codec) {
            return Err(OfferError::NoUsableCodec {
                kind: kind.to_string(),
                index,
            });
        }
        *count += 1;
    }
    if s.audio == 0 && s.video == 0 {
        return Err(OfferError::NoMedia);
    }
    if s.audio > max_audio || s.video > max_video {
        return Err(OfferError::TooManyTracks {
            audio: s.audio,
            video: s.video,
            max_audio,
            max_video,
        });
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(kind: &str, codec: &str) -> String {
        let (pt, rate) = if kind == "audio" {
            (111, "48000/2")
        } else {
            (96, "90000")
        };
        format!("m={kind} 9 UDP/TLS/RTP/SAVPF {pt}\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:{pt} {codec}/{rate}\r\na=sendonly\r\n")
    }

    fn offer(sections: &[String]) -> String {
        let mut s = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n".to_string();
        for sec in sections {
            s.push_str(sec);
        }
        s
    }

    #[test]
    fn counts_usable_sections() {
        let o = offer(&[
            section("audio", "opus"),
            section("video", "VP8"),
            section("video", "VP8"),
        ]);
        assert_eq!(inspect(&o, 1, 2), Ok(OfferSummary { audio: 1, video: 2 }));
    }

    #[test]
    fn refuses_bad_offers() {
        assert!(matches!(
            inspect("hello", 1, 2),
            Err(OfferError::Malformed(_))
        ));
        assert!(matches!(
            inspect("v=0\r\nm=nonsense", 1, 2),
            Err(OfferError::Malformed(_))
        ));
        let h264 = offer(&[section("video", "H264")]);
        assert_eq!(
            inspect(&h264, 1, 2),
            Err(OfferError::NoUsableCodec {
                kind: "video".into(),
                index: 0
            })
        );
        let many = offer(&[
            section("video", "VP8"),
            section("video", "VP8"),
            section("video", "VP8"),
        ]);
        assert!(matches!(
            inspect(&many, 1, 2),
            Err(OfferError::TooManyTracks { video: 3, .. })
        ));
        assert_eq!(inspect(&offer(&[]), 1, 2), Err(OfferError::NoMedia));
    }
}
