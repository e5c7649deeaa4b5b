//! Ingest of one publishing peer: each remote track gets a [`TrackFanout`] that reads its
//! packets, rewrites them per subscriber through the [`Forwarder`](crate::forwarder) and
//! hands them to each subscriber's bounded queue (dropping, never waiting, when one is
//! full), and asks the publisher for keyframes through the coalescing
//! [`KeyframeGate`](crate::keyframe::KeyframeGate).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use tokio::sync::mpsc::error::TrySendError;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::PeerConnection;

use crate::forwarder::{InHeader, Verdict};
use crate::keyframe::KeyframeGate;
use crate::metrics::{DropReason, RoomMetrics};
use crate::subscriber::{Offered, SinkSlot};
use crate::vp8;
use crate::{ParticipantId, PublishKind, SessionId};

/// Which of a room's source slots a track fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SlotKind {
    /// Microphone.
    Audio,
    /// Camera (the lecturer's, or a student's).
    Camera,
    /// The lecturer's screen share (second video track).
    Screen,
}

impl SlotKind {
    /// Whether the slot carries video.
    pub fn is_video(self) -> bool {
        !matches!(self, SlotKind::Audio)
    }
}

/// One publisher track and the subscriber slots it feeds.
pub struct TrackFanout {
    /// The slot this track fills.
    pub kind: SlotKind,
    /// Who publishes it.
    pub owner: ParticipantId,
    remote: Arc<dyn TrackRemote>,
    media_ssrc: u32,
    sinks: RwLock<Vec<Arc<SinkSlot>>>,
    gate: Mutex<KeyframeGate>,
    metrics: RoomMetrics,
    /// Packets received in the last full second (for admission control).
    pps: AtomicU64,
    /// Packets received so far.
    received: AtomicU64,
    /// Keyframe waiters (the frame tap): called with every packet until they return false.
    taps: Mutex<Vec<tokio::sync::mpsc::Sender<rtp::Packet>>>,
}

impl TrackFanout {
    /// Packets received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Packets per second this track publishes.
    pub fn pps(&self) -> u64 {
        self.pps.load(Ordering::Relaxed)
    }

    /// Adds a subscriber slot.
    pub fn attach(self: &Arc<Self>, slot: &Arc<SinkSlot>) {
        slot.set_source(self);
        let mut sinks = self.sinks.write().unwrap_or_else(|e| e.into_inner());
        if !sinks.iter().any(|s| Arc::ptr_eq(s, slot)) {
            sinks.push(slot.clone());
        }
    }

    /// Removes a subscriber slot.
    pub fn detach(&self, slot: &Arc<SinkSlot>) {
        let mut sinks = self.sinks.write().unwrap_or_else(|e| e.into_inner());
        sinks.retain(|s| !Arc::ptr_eq(s, slot));
    }

    /// Slots attached now.
    pub fn sink_count(&self) -> usize {
        self.sinks.read().map(|s| s.len()).unwrap_or(0)
    }

    /// Adds a raw packet listener (frame tap); it is dropped when its queue closes.
    pub fn add_tap(&self, tx: tokio::sync::mpsc::Sender<rtp::Packet>) {
        self.taps.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
    }

    /// Someone needs a keyframe: ask the publisher, at most once per window.
    pub async fn request_keyframe(&self) {
        let send = self
            .gate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .request(Instant::now());
        if send {
            self.send_pli().await;
        }
    }

    async fn send_pli(&self) {
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: self.media_ssrc,
        };
        if self.remote.write_rtcp(vec![Box::new(pli)]).await.is_ok() {
            self.metrics.pli_out.inc();
        }
    }

    /// Hands one incoming packet to every attached slot. Returns whether a slot needs a
    /// keyframe.
    fn fan_out(&self, mut pkt: rtp::Packet) -> bool {
        // Header extensions are negotiated per connection: ids differ between the
        // publisher's and each subscriber's, so none are forwarded.
        pkt.header.extension = false;
        pkt.header.extensions.clear();
        pkt.header.extensions_padding = 0;
        let video = self.kind.is_video();
        let key = !video || vp8::is_keyframe_start(&pkt.payload);
        if video && key {
            self.gate
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .keyframe_seen();
        }
        let input = InHeader {
            ssrc: pkt.header.ssrc,
            seq: pkt.header.sequence_number,
            ts: pkt.header.timestamp,
            keyframe_start: key,
        };
        {
            let mut taps = self.taps.lock().unwrap_or_else(|e| e.into_inner());
            if !taps.is_empty() {
                taps.retain(|t| match t.try_send(pkt.clone()) {
                    Ok(()) | Err(TrySendError::Full(_)) => true,
                    Err(TrySendError::Closed(_)) => false,
                });
            }
        }
        let sinks = self.sinks.read().unwrap_or_else(|e| e.into_inner());
        let (mut need_key, mut waiting, mut full, mut stale) = (false, 0, 0, 0);
        let (mut sent, mut refused) = (0u64, 0u64);
        for slot in sinks.iter() {
            match slot.forward(input) {
                Verdict::Forward(out) => {
                    let mut p = pkt.clone();
                    p.header.ssrc = out.ssrc;
                    p.header.payload_type = out.payload_type;
                    p.header.sequence_number = out.seq;
                    p.header.timestamp = out.ts;
                    match slot.offer(p) {
                        Offered::Sent => sent += 1,
                        Offered::Full => {
                            full += 1;
                            need_key |= video;
                        }
                        Offered::Refused => refused += 1,
                    }
                }
                Verdict::AwaitingKeyframe => {
                    waiting += 1;
                    need_key = true;
                }
                Verdict::Stale => stale += 1,
            }
        }
        if sent > 0 {
            self.metrics.forwarded_packets.inc_by(sent);
            self.metrics
                .forwarded_bytes
                .inc_by(sent * pkt.payload.len() as u64);
        }
        if refused > 0 {
            self.metrics.drop(DropReason::Transport, refused);
        }
        if waiting > 0 {
            self.metrics.drop(DropReason::AwaitingKeyframe, waiting);
        }
        if full > 0 {
            self.metrics.drop(DropReason::QueueFull, full);
        }
        if stale > 0 {
            self.metrics.drop(DropReason::Stale, stale);
        }
        need_key
    }
}

/// A publishing peer.
pub struct Publisher {
    /// Its session.
    pub session: SessionId,
    /// Who publishes.
    pub participant: ParticipantId,
    /// Lecture or student camera.
    pub kind: PublishKind,
    /// The connection.
    pub pc: Arc<dyn PeerConnection>,
    /// Its tracks, as they arrive.
    pub tracks: Mutex<Vec<Arc<TrackFanout>>>,
    /// How many tracks its offer announced.
    pub announced: (usize, usize),
}

impl Publisher {
    /// Slot for a new track of `video`-ness, or None when the offer announced no more.
    pub fn slot_for(&self, video: bool) -> Option<SlotKind> {
        let tracks = self.tracks.lock().unwrap_or_else(|e| e.into_inner());
        let (audio, videos) = tracks.iter().fold((0, 0), |(a, v), t| {
            if t.kind.is_video() {
                (a, v + 1)
            } else {
                (a + 1, v)
            }
        });
        match (video, self.kind) {
            (false, PublishKind::Lecture) if audio < self.announced.0 => Some(SlotKind::Audio),
            (true, _) if videos == 0 && self.announced.1 > 0 => Some(SlotKind::Camera),
            (true, PublishKind::Lecture) if videos == 1 && self.announced.1 > 1 => {
                Some(SlotKind::Screen)
            }
            _ => None,
        }
    }

    /// Whether `f` is one of this publisher's tracks.
    pub fn owns(&self, f: &Arc<TrackFanout>) -> bool {
        self.tracks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|t| Arc::ptr_eq(t, f))
    }

    /// Creates the fan-out for `remote` and starts reading it.
    pub async fn start_track(
        self: &Arc<Self>,
        remote: Arc<dyn TrackRemote>,
        kind: SlotKind,
        metrics: RoomMetrics,
        keyframe_interval: Duration,
    ) -> Arc<TrackFanout> {
        let media_ssrc = remote.ssrcs().await.first().copied().unwrap_or(0);
        let fanout = Arc::new(TrackFanout {
            kind,
            owner: self.participant,
            remote,
            media_ssrc,
            sinks: RwLock::new(Vec::new()),
            gate: Mutex::new(KeyframeGate::new(keyframe_interval)),
            metrics,
            pps: AtomicU64::new(0),
            received: AtomicU64::new(0),
            taps: Mutex::new(Vec::new()),
        });
        self.tracks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(fanout.clone());
        tokio::spawn(ingest(fanout.clone()));
        tokio::spawn(send_held_requests(Arc::downgrade(&fanout)));
        fanout
    }
}

/// Reads one publisher track until it ends.
async fn ingest(f: Arc<TrackFanout>) {
    let mut second = Instant::now();
    let mut count = 0u64;
    while let Some(evt) = f.remote.poll().await {
        match evt {
            TrackRemoteEvent::OnRtpPacket(pkt) => {
                f.metrics.received_packets.inc();
                f.received.fetch_add(1, Ordering::Relaxed);
                count += 1;
                if f.fan_out(pkt) {
                    f.request_keyframe().await;
                }
                let now = Instant::now();
                if now.duration_since(second) >= Duration::from_secs(1) {
                    f.pps.store(count, Ordering::Relaxed);
                    count = 0;
                    second = now;
                }
            }
            TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError => break,
            _ => {}
        }
    }
    f.pps.store(0, Ordering::Relaxed);
    f.sinks.write().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Sends keyframe requests held back by the gate once their window ends.
async fn send_held_requests(f: std::sync::Weak<TrackFanout>) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        let Some(f) = f.upgrade() else { return };
        let due = f
            .gate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .poll(Instant::now());
        if due {
            f.send_pli().await;
        }
    }
}
