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
use crate::gop_cache::GopCache;
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
    /// Video: the packets since the last keyframe, replayed to a joining slot. Updated
    /// and replayed under the `sinks` lock, so a joiner sees each packet exactly once.
    gop: Mutex<GopCache>,
}

/// At most this many packets are replayed to a joiner: the connection's send queue holds
/// 256 events and must keep room for live packets (≈1 s of a 1.2 Mbps camera).
pub const GOP_MAX_PACKETS: usize = 160;
/// At most this many payload bytes are replayed to a joiner.
pub const GOP_MAX_BYTES: usize = 256 * 1024;

/// Tallies of one fan-out pass, turned into metrics once per packet.
#[derive(Default)]
struct Tally {
    sent: u64,
    bytes: u64,
    refused: u64,
    waiting: u64,
    full: u64,
    stale: u64,
    need_key: bool,
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

    /// Adds a subscriber slot. A video slot that waits for a keyframe is first sent the
    /// cached packets since the publisher's last keyframe (rewritten for it), so it
    /// starts at once; without a usable cache it waits for the next keyframe, which its
    /// first live packet asks for.
    pub fn attach(self: &Arc<Self>, slot: &Arc<SinkSlot>) {
        slot.set_source(self);
        let mut sinks = self.sinks.write().unwrap_or_else(|e| e.into_inner());
        if sinks.iter().any(|s| Arc::ptr_eq(s, slot)) {
            return;
        }
        if self.kind.is_video() && slot.needs_keyframe() {
            let gop = self.gop.lock().unwrap_or_else(|e| e.into_inner());
            let mut tally = Tally::default();
            for (i, pkt) in gop.replay().iter().enumerate() {
                let input = InHeader {
                    ssrc: pkt.header.ssrc,
                    seq: pkt.header.sequence_number,
                    ts: pkt.header.timestamp,
                    keyframe_start: i == 0,
                };
                self.deliver(slot, pkt, input, &mut tally);
            }
            if tally.sent > 0 {
                self.metrics.replayed_packets.inc_by(tally.sent);
            }
            self.count(&tally);
        }
        sinks.push(slot.clone());
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

    /// Rewrites `pkt` for `slot` and queues it on the slot's connection.
    fn deliver(&self, slot: &SinkSlot, pkt: &rtp::Packet, input: InHeader, t: &mut Tally) {
        match slot.forward(input) {
            Verdict::Forward(out) => {
                let mut p = pkt.clone();
                p.header.ssrc = out.ssrc;
                p.header.payload_type = out.payload_type;
                p.header.sequence_number = out.seq;
                p.header.timestamp = out.ts;
                match slot.offer(p) {
                    Offered::Sent => {
                        t.sent += 1;
                        t.bytes += pkt.payload.len() as u64;
                    }
                    Offered::Full => {
                        t.full += 1;
                        t.need_key |= self.kind.is_video();
                    }
                    Offered::Refused => t.refused += 1,
                }
            }
            Verdict::AwaitingKeyframe => {
                t.waiting += 1;
                t.need_key = true;
            }
            Verdict::Stale => t.stale += 1,
        }
    }

    fn count(&self, t: &Tally) {
        if t.sent > 0 {
            self.metrics.forwarded_packets.inc_by(t.sent);
            self.metrics.forwarded_bytes.inc_by(t.bytes);
        }
        for (reason, n) in [
            (DropReason::Transport, t.refused),
            (DropReason::AwaitingKeyframe, t.waiting),
            (DropReason::QueueFull, t.full),
            (DropReason::Stale, t.stale),
        ] {
            if n > 0 {
                self.metrics.drop(reason, n);
            }
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
        if video {
            self.gop
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(&pkt, key);
        }
        let mut tally = Tally::default();
        for slot in sinks.iter() {
            self.deliver(slot, &pkt, input, &mut tally);
        }
        drop(sinks);
        self.count(&tally);
        tally.need_key
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
            (false, _) if audio < self.announced.0 => Some(SlotKind::Audio),
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

    /// Creates the fan-out for `remote` and starts reading it; `replay` keeps the packets
    /// since the last keyframe for joiners.
    pub async fn start_track(
        self: &Arc<Self>,
        remote: Arc<dyn TrackRemote>,
        kind: SlotKind,
        metrics: RoomMetrics,
        keyframe_interval: Duration,
        replay: bool,
    ) -> Arc<TrackFanout> {
        let gop_packets = if replay { GOP_MAX_PACKETS } else { 0 };
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
            gop: Mutex::new(GopCache::new(gop_packets, GOP_MAX_BYTES)),
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

/// Packets fanned out before the ingest task lets other tasks run.
const INGEST_BATCH: u32 = 16;

/// Reads one publisher track until it ends.
async fn ingest(f: Arc<TrackFanout>) {
    let mut second = Instant::now();
    let mut count = 0u64;
    let mut batch = 0u32;
    while let Some(evt) = f.remote.poll().await {
        match evt {
            TrackRemoteEvent::OnRtpPacket(pkt) => {
                // One stream per track (no simulcast): anything else on it is not the
                // publisher's negotiated media and would corrupt every viewer's stream.
                if f.media_ssrc != 0 && pkt.header.ssrc != f.media_ssrc {
                    f.metrics.drop(DropReason::UnknownSsrc, 1);
                    continue;
                }
                f.metrics.received_packets.inc();
                f.received.fetch_add(1, Ordering::Relaxed);
                count += 1;
                if f.fan_out(pkt) {
                    f.request_keyframe().await;
                }
                // After a stall (the process was descheduled) the track's queue holds a
                // burst; fanning it all out before any connection's driver runs would
                // overfill their bounded queues. Yielding every few packets lets the
                // drivers drain what was queued.
                batch += 1;
                if batch == INGEST_BATCH {
                    batch = 0;
                    tokio::task::yield_now().await;
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
