//! Errors of the media crate, typed so the HTTP edge can map each to a clear status.

use crate::capacity::Refusal;
use crate::offer::OfferError;

/// Why a publish, subscribe or tap request failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The SDP offer is unusable.
    #[error(transparent)]
    Offer(#[from] OfferError),
    /// Admission control refused the join.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// ICE gathering did not complete in time.
    #[error("ICE gathering did not complete in time")]
    IceGathering,
    /// No such session.
    #[error("no media session {0}")]
    NoSuchSession(u64),
    /// The student publishes no camera.
    #[error("participant {0} publishes no camera")]
    NoCamera(i64),
    /// The frame tap could not produce an image.
    #[error("frame tap: {0}")]
    Tap(String),
    /// The webrtc stack failed.
    #[error("webrtc: {0}")]
    Webrtc(#[from] webrtc::error::Error),
}
