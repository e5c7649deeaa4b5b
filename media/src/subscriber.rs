//! Egress to one subscribing peer: one outgoing track per slot (audio, camera, screen).
//! The publisher's fan-out hands each rewritten packet straight to the connection's
//! bounded driver queue (256 events, fixed by the `webrtc` crate) and never waits: when
//! that queue is full the packet is dropped and counted (and a video slot waits for the
//! next keyframe). No extra task or queue per subscriber: one task hop less per packet.
//! Keyframe requests from the viewer go back to whichever publisher track currently feeds
//! the slot.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};

use rtc::media_stream::MediaStreamTrack;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::PeerConnection;

use crate::forwarder::{Forwarder, InHeader, Verdict};
use crate::metrics::RoomMetrics;
use crate::peer::{opus, vp8};
use crate::publisher::{SlotKind, TrackFanout};
use crate::rtcp_tap::is_keyframe_request;
use crate::watch::Watch;
use crate::{ParticipantId, SessionId, SubscribeTarget};

/// One outgoing track of a subscriber.
pub struct SinkSlot {
    /// Which source slot it shows.
    pub kind: SlotKind,
    fwd: Mutex<Forwarder>,
    track: Arc<TrackLocalStaticRTP>,
    delivered: Arc<AtomicU64>,
    source: Mutex<Weak<TrackFanout>>,
}

/// What became of a packet offered to a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offered {
    /// Queued for the connection.
    Sent,
    /// The connection's queue was full: dropped.
    Full,
    /// The connection refused it (not bound yet, or closed): dropped.
    Refused,
}

impl SinkSlot {
    pub(crate) fn set_source(&self, f: &Arc<TrackFanout>) {
        *self.source.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(f);
    }

    /// The publisher track feeding this slot, if any.
    pub fn source(&self) -> Option<Arc<TrackFanout>> {
        self.source
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .upgrade()
    }

    /// Whether the slot waits for a keyframe (new, or packets were dropped).
    pub fn needs_keyframe(&self) -> bool {
        self.fwd
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .needs_keyframe()
    }

    pub(crate) fn forward(&self, h: InHeader) -> Verdict {
        self.fwd
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forward(h)
    }

    /// Hands a rewritten packet to the connection without waiting.
    pub(crate) fn offer(&self, p: rtp::Packet) -> Offered {
        let mut fut = self.track.write_rtp(p);
        let mut cx = Context::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(())) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                Offered::Sent
            }
            Poll::Ready(Err(_)) => Offered::Refused,
            // Dropping the pending send withdraws the packet: the queue stays bounded.
            Poll::Pending => {
                if self.kind.is_video() {
                    self.fwd
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .require_keyframe();
                }
                Offered::Full
            }
        }
    }
}

/// A subscribing peer.
pub struct Subscriber {
    /// Its session.
    pub session: SessionId,
    /// Who watches.
    pub participant: ParticipantId,
    /// What it watches.
    pub target: SubscribeTarget,
    /// The connection.
    pub pc: Arc<dyn PeerConnection>,
    /// Its outgoing tracks.
    pub slots: Vec<Arc<SinkSlot>>,
    /// Packets delivered to its transport (all slots).
    pub delivered: Arc<AtomicU64>,
    /// Transport connected.
    pub connected: AtomicBool,
    /// Removed from its room (counted once).
    pub removed: AtomicBool,
    /// Watch state.
    pub watch: Mutex<Watch>,
    /// `delivered` at the last watch tick.
    pub last_seen: AtomicU64,
}

impl Subscriber {
    /// Detaches every slot from its publisher track.
    pub fn detach_all(&self) {
        for s in &self.slots {
            if let Some(f) = s.source() {
                f.detach(s);
            }
        }
    }
}

/// Adds one outgoing track per spec to `pc` (before the offer is applied, so the
/// offer's receive-only sections take them). Returns the tracks and their SSRCs.
pub async fn add_tracks(
    pc: &Arc<dyn PeerConnection>,
    specs: &[SlotKind],
    session: SessionId,
) -> Result<
    Vec<(
        SlotKind,
        u32,
        Arc<TrackLocalStaticRTP>,
        Arc<dyn webrtc::rtp_transceiver::RtpSender>,
    )>,
    crate::MediaError,
> {
    let mut out = Vec::new();
    for (i, kind) in specs.iter().enumerate() {
        let ssrc: u32 = rand::random();
        let (codec_kind, codec, name) = match kind {
            SlotKind::Audio => (RtpCodecKind::Audio, opus(), "audio"),
            SlotKind::Camera => (RtpCodecKind::Video, vp8(), "camera"),
            SlotKind::Screen => (RtpCodecKind::Video, vp8(), "screen"),
        };
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            format!("ketang-{session}"),
            format!("{name}-{i}"),
            name.to_string(),
            codec_kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec,
                ..Default::default()
            }],
        )));
        let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
        out.push((*kind, ssrc, track, sender));
    }
    Ok(out)
}

/// Makes the slot for a negotiated track and starts its RTCP reader.
pub fn start_slot(
    kind: SlotKind,
    ssrc: u32,
    payload_type: u8,
    track: Arc<TrackLocalStaticRTP>,
    delivered: Arc<AtomicU64>,
    metrics: RoomMetrics,
) -> Arc<SinkSlot> {
    // 1/30 s of video, one 20 ms Opus frame.
    let gap = if kind.is_video() { 3000 } else { 960 };
    let slot = Arc::new(SinkSlot {
        kind,
        fwd: Mutex::new(Forwarder::new(ssrc, payload_type, kind.is_video(), gap)),
        track: track.clone(),
        delivered,
        source: Mutex::new(Weak::new()),
    });
    if kind.is_video() {
        tokio::spawn(read_rtcp(Arc::downgrade(&slot), track, metrics));
    }
    slot
}

async fn read_rtcp(slot: Weak<SinkSlot>, track: Arc<TrackLocalStaticRTP>, metrics: RoomMetrics) {
    while let Some(evt) = track.poll().await {
        let TrackLocalEvent::OnRtcpPacket(packets) = evt else {
            continue;
        };
        let n = packets.iter().filter(|p| is_keyframe_request(p)).count();
        if n == 0 {
            continue;
        }
        metrics.pli_in.inc_by(n as u64);
        let Some(slot) = slot.upgrade() else { return };
        if let Some(f) = slot.source() {
            f.request_keyframe().await;
        }
    }
}
