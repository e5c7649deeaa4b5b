//! The SFU's typed interface: `publish`, `subscribe`, `leave`, room stats and watch
//! events. HTTP handlers and the signaling crate call it; it knows nothing of either.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::mpsc;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};

use crate::capacity::{Capacity, Refusal};
use crate::metrics::{DropReason, MediaMetrics};
use crate::offer::{self, OfferSummary};
use crate::peer::{self, PeerEvents, PeerRole};
use crate::publisher::{Publisher, SlotKind};
use crate::room::Room;
use crate::subscriber::{self, Subscriber};
use crate::watch::{Watch, WatchChange};
use crate::{
    MediaConfig, MediaError, ParticipantId, PublishKind, RoomId, SessionId, SubscribeTarget,
};

/// The answer to an offer.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Answer {
    /// The session it opened (for `leave`).
    pub session: SessionId,
    /// SDP answer with all candidates.
    pub sdp: String,
}

/// A typed event for the attendance code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaEvent {
    /// A subscriber's watch state changed.
    Watch {
        /// Room.
        room: RoomId,
        /// Who watches.
        participant: ParticipantId,
        /// Which connection.
        session: SessionId,
        /// What watched.
        target: SubscribeTarget,
        /// What changed.
        change: WatchChange,
        /// When, unix ms.
        at_ms: i64,
    },
    /// The lecturer's video started (`Flowing`) or stopped (`Stalled`) arriving: live time.
    LectureVideo {
        /// Room.
        room: RoomId,
        /// `Flowing` or `Stalled`.
        change: WatchChange,
        /// When, unix ms.
        at_ms: i64,
    },
}

/// A room's numbers.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RoomStats {
    /// Subscribers.
    pub subscribers: usize,
    /// Subscribers whose media is flowing.
    pub flowing: usize,
    /// Packets per second the lecturer publishes.
    pub lecture_pps: u64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The SFU of one node.
pub struct Sfu {
    cfg: MediaConfig,
    capacity: Capacity,
    metrics: MediaMetrics,
    rooms: Mutex<HashMap<RoomId, Arc<Room>>>,
    sessions: Mutex<HashMap<SessionId, RoomId>>,
    next_session: AtomicU64,
    subscribers: AtomicU32,
    admission: Mutex<()>,
    events: mpsc::Sender<MediaEvent>,
}

impl Sfu {
    /// An SFU and the receiving end of its events (bounded; when full, events are
    /// dropped and counted as `event_queue_full`).
    pub fn new(cfg: MediaConfig, metrics: MediaMetrics) -> (Arc<Self>, mpsc::Receiver<MediaEvent>) {
        let (tx, rx) = mpsc::channel(cfg.event_queue.max(1));
        let sfu = Arc::new(Self {
            capacity: Capacity {
                max_subscribers: cfg.max_subscribers,
                max_forwarded_pps: cfg.max_forwarded_pps,
            },
            cfg,
            metrics,
            rooms: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            subscribers: AtomicU32::new(0),
            admission: Mutex::new(()),
            events: tx,
        });
        tokio::spawn(ticker(Arc::downgrade(&sfu)));
        (sfu, rx)
    }

    /// The configuration in force.
    pub fn config(&self) -> &MediaConfig {
        &self.cfg
    }

    fn room(&self, id: RoomId) -> Arc<Room> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms
            .entry(id)
            .or_insert_with(|| {
                Arc::new(Room::new(
                    id,
                    self.metrics.room(id),
                    Watch::new(self.stall_after()),
                ))
            })
            .clone()
    }

    fn stall_after(&self) -> Duration {
        Duration::from_millis(self.cfg.stall_after_ms)
    }

    fn existing_room(&self, id: RoomId) -> Option<Arc<Room>> {
        self.rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    fn emit(&self, room: &Room, e: MediaEvent) {
        if self.events.try_send(e).is_err() {
            room.metrics.drop(DropReason::EventQueueFull, 1);
        }
    }

    /// Subscribers on this node.
    pub fn subscriber_count(&self) -> u32 {
        self.subscribers.load(Ordering::Relaxed)
    }

    /// Numbers of room `id`.
    pub fn stats(&self, id: RoomId) -> RoomStats {
        let Some(room) = self.existing_room(id) else {
            return RoomStats::default();
        };
        let subs = room.subscribers();
        RoomStats {
            subscribers: subs.len(),
            flowing: subs
                .iter()
                .filter(|s| s.watch.lock().map(|w| w.is_flowing()).unwrap_or(false))
                .count(),
            lecture_pps: room.lecture_pps(),
        }
    }

    /// A participant publishes: the lecturer their lecture, a student their camera.
    /// Replaces that participant's previous publication of the same kind.
    pub async fn publish(
        self: &Arc<Self>,
        room_id: RoomId,
        participant: ParticipantId,
        kind: PublishKind,
        offer_sdp: &str,
    ) -> Result<Answer, MediaError> {
        let (max_audio, max_video) = match kind {
            PublishKind::Lecture => (1, 2),
            PublishKind::StudentCamera => (1, 1),
        };
        let summary = offer::inspect(offer_sdp, max_audio, max_video)?;
        let (pc, events) = peer::build_peer(&self.cfg).await?;
        match self
            .publish_on(
                room_id,
                participant,
                kind,
                summary,
                offer_sdp,
                pc.clone(),
                &events,
            )
            .await
        {
            Ok(a) => Ok(a),
            Err(e) => {
                let _ = pc.close().await;
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn publish_on(
        self: &Arc<Self>,
        room_id: RoomId,
        participant: ParticipantId,
        kind: PublishKind,
        summary: OfferSummary,
        offer_sdp: &str,
        pc: Arc<dyn PeerConnection>,
        events: &PeerEvents,
    ) -> Result<Answer, MediaError> {
        for (n, k) in [
            (summary.audio, RtpCodecKind::Audio),
            (summary.video, RtpCodecKind::Video),
        ] {
            for _ in 0..n {
                pc.add_transceiver_from_kind(
                    k,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Recvonly,
                        ..Default::default()
                    }),
                )
                .await?;
            }
        }
        let session = self.next_session.fetch_add(1, Ordering::Relaxed);
        let room = self.room(room_id);
        let publisher = Arc::new(Publisher {
            session,
            participant,
            kind,
            pc: pc.clone(),
            tracks: Mutex::new(Vec::new()),
            announced: (summary.audio, summary.video),
        });
        let (wp, wr) = (Arc::downgrade(&publisher), Arc::downgrade(&room));
        let interval = Duration::from_millis(self.cfg.keyframe_interval_ms);
        let replay = self.cfg.keyframe_replay;
        events.set_on_track(move |remote| {
            let (Some(p), Some(room)) = (wp.upgrade(), wr.upgrade()) else {
                return;
            };
            tokio::spawn(async move {
                let video = remote.kind().await == RtpCodecKind::Video;
                let Some(slot) = p.slot_for(video) else {
                    tracing::warn!(
                        room = room.id,
                        participant = p.participant,
                        "track the offer did not announce; ignored"
                    );
                    room.metrics.drop(DropReason::UnknownTrack, 1);
                    return;
                };
                let f = p
                    .start_track(remote, slot, room.metrics.clone(), interval, replay)
                    .await;
                room.add_source(&p, f);
            });
        });
        let sfu = Arc::downgrade(self);
        events.set_on_state(move |state| {
            if matches!(
                state,
                RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
            ) {
                if let Some(sfu) = sfu.upgrade() {
                    sfu.end_session(session);
                }
            }
        });
        let sdp = peer::answer(&pc, events, offer_sdp, self.gather_timeout()).await?;
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(session, room_id);
        if let Some(old) = room.add_publisher(publisher) {
            self.sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&old.session);
            let _ = old.pc.close().await;
        }
        tracing::info!(room = room_id, participant, ?kind, session, "publishing");
        Ok(Answer { session, sdp })
    }

    fn gather_timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.gather_timeout_ms)
    }

    /// A participant subscribes to the lecture or to one student's camera. Who may watch
    /// what is the caller's decision (the permission table); the SFU only ever routes a
    /// student's camera to a subscription that names that student.
    pub async fn subscribe(
        self: &Arc<Self>,
        room_id: RoomId,
        participant: ParticipantId,
        target: SubscribeTarget,
        offer_sdp: &str,
    ) -> Result<Answer, MediaError> {
        let (max_audio, max_video) = match target {
            SubscribeTarget::Lecture => (1, 2),
            SubscribeTarget::StudentCamera(_) => (1, 1),
        };
        let summary = offer::inspect(offer_sdp, max_audio, max_video)?;
        self.admit(room_id)?;
        let result = async {
            let (pc, events) = peer::build_peer_with(&self.cfg, PeerRole::SfuEgress).await?;
            let r = self
                .subscribe_on(
                    room_id,
                    participant,
                    target,
                    summary,
                    offer_sdp,
                    pc.clone(),
                    &events,
                )
                .await;
            if r.is_err() {
                let _ = pc.close().await;
            }
            r
        }
        .await;
        if result.is_err() {
            self.subscribers.fetch_sub(1, Ordering::AcqRel);
            self.room(room_id).admitted.fetch_sub(1, Ordering::AcqRel);
        }
        result
    }

    /// Admission control; on success one subscriber place is taken (on the node and in
    /// the room). The packet rate is projected from the places taken, not from the
    /// viewers already attached: during a join burst most admitted viewers are still
    /// connecting and forward nothing yet, and counting only those let a burst through.
    fn admit(&self, room_id: RoomId) -> Result<(), Refusal> {
        let _g = self.admission.lock().unwrap_or_else(|e| e.into_inner());
        let this = self.room(room_id);
        let rooms: Vec<Arc<Room>> = self
            .rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let forwarded: u64 = rooms
            .iter()
            .map(|r| r.lecture_pps() * u64::from(r.admitted.load(Ordering::Acquire)))
            .sum();
        let room_pps = this.lecture_pps();
        let subs = self.subscribers.load(Ordering::Acquire);
        match self.capacity.admit(subs, forwarded, room_pps) {
            Ok(()) => {
                self.subscribers.fetch_add(1, Ordering::AcqRel);
                this.admitted.fetch_add(1, Ordering::AcqRel);
                Ok(())
            }
            Err(r) => {
                let reason = match r {
                    Refusal::Subscribers { .. } => "subscribers",
                    Refusal::PacketRate { .. } => "packet_rate",
                };
                self.metrics.refusals.with_label_values(&[reason]).inc();
                tracing::warn!(room = room_id, %r, "join refused");
                Err(r)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn subscribe_on(
        self: &Arc<Self>,
        room_id: RoomId,
        participant: ParticipantId,
        target: SubscribeTarget,
        summary: OfferSummary,
        offer_sdp: &str,
        pc: Arc<dyn PeerConnection>,
        events: &PeerEvents,
    ) -> Result<Answer, MediaError> {
        let session = self.next_session.fetch_add(1, Ordering::Relaxed);
        let mut kinds = Vec::new();
        if summary.audio > 0 {
            kinds.push(SlotKind::Audio);
        }
        if summary.video > 0 {
            kinds.push(SlotKind::Camera);
        }
        if summary.video > 1 {
            kinds.push(SlotKind::Screen);
        }
        let tracks = subscriber::add_tracks(&pc, &kinds, session).await?;
        let sdp = peer::answer(&pc, events, offer_sdp, self.gather_timeout()).await?;
        let room = self.room(room_id);
        let delivered = Arc::new(AtomicU64::new(0));
        let mut slots = Vec::new();
        for (kind, ssrc, track, sender) in tracks {
            let fallback = if kind.is_video() { 96 } else { 111 };
            let pt = sender
                .get_parameters()
                .await
                .ok()
                .and_then(|p| p.rtp_parameters.codecs.first().map(|c| c.payload_type))
                .unwrap_or(fallback);
            slots.push(subscriber::start_slot(
                kind,
                ssrc,
                pt,
                track,
                delivered.clone(),
                room.metrics.clone(),
            ));
        }
        let sub = Arc::new(Subscriber {
            session,
            participant,
            target,
            pc: pc.clone(),
            slots,
            delivered,
            connected: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            watch: Mutex::new(Watch::new(self.stall_after())),
            last_seen: AtomicU64::new(0),
        });
        let (ws, wr, wsfu) = (
            Arc::downgrade(&sub),
            Arc::downgrade(&room),
            Arc::downgrade(self),
        );
        events.set_on_state(move |state| {
            let (Some(sub), Some(room), Some(sfu)) = (ws.upgrade(), wr.upgrade(), wsfu.upgrade())
            else {
                return;
            };
            let connected = state == RTCPeerConnectionState::Connected;
            if connected {
                sub.connected.store(true, Ordering::Release);
                room.connect_subscriber(&sub);
            }
            let changes = match state {
                RTCPeerConnectionState::Connected => {
                    sub.watch.lock().map(|mut w| w.transport(true))
                }
                RTCPeerConnectionState::Disconnected
                | RTCPeerConnectionState::Failed
                | RTCPeerConnectionState::Closed => {
                    sub.connected.store(false, Ordering::Release);
                    sub.watch.lock().map(|mut w| w.transport(false))
                }
                _ => Ok(Vec::new()),
            }
            .unwrap_or_default();
            for change in changes {
                sfu.emit(&room, sfu.watch_event(&room, &sub, change));
            }
            if matches!(
                state,
                RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
            ) {
                sfu.end_session(sub.session);
            }
        });
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(session, room_id);
        room.add_subscriber(sub);
        Ok(Answer { session, sdp })
    }

    fn watch_event(&self, room: &Room, sub: &Subscriber, change: WatchChange) -> MediaEvent {
        MediaEvent::Watch {
            room: room.id,
            participant: sub.participant,
            session: sub.session,
            target: sub.target,
            change,
            at_ms: now_ms(),
        }
    }

    /// Ends a session (publish or subscribe) and closes its connection.
    pub async fn leave(&self, session: SessionId) -> Result<(), MediaError> {
        let pc = self
            .end_session(session)
            .ok_or(MediaError::NoSuchSession(session))?;
        let _ = pc.close().await;
        Ok(())
    }

    /// Which room a session belongs to.
    pub fn session_room(&self, session: SessionId) -> Option<RoomId> {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&session)
            .copied()
    }

    fn end_session(&self, session: SessionId) -> Option<Arc<dyn PeerConnection>> {
        let room_id = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&session)?;
        let room = self.existing_room(room_id)?;
        let pc = if let Some(sub) = room.remove_subscriber(session) {
            if !sub.removed.swap(true, Ordering::AcqRel) {
                self.subscribers.fetch_sub(1, Ordering::AcqRel);
                room.admitted.fetch_sub(1, Ordering::AcqRel);
            }
            let changes = sub
                .watch
                .lock()
                .map(|mut w| w.transport(false))
                .unwrap_or_default();
            for c in changes {
                self.emit(&room, self.watch_event(&room, &sub, c));
            }
            Some(sub.pc.clone())
        } else {
            room.remove_publisher(session).map(|p| p.pc.clone())
        };
        tracing::info!(room = room_id, session, "session ended");
        pc
    }

    /// The frame tap: asks `student`'s camera in `room` for a keyframe, reassembles and
    /// decodes it. Fails with [`MediaError::NoCamera`] when the student publishes no
    /// camera, and [`MediaError::Tap`] when no decodable keyframe arrived within `timeout`.
    pub async fn next_keyframe(
        &self,
        room: RoomId,
        student: ParticipantId,
        timeout: Duration,
    ) -> Result<crate::frame_tap::Image, MediaError> {
        let source = self
            .existing_room(room)
            .and_then(|r| r.source(crate::room::Source::Camera(student)))
            .ok_or(MediaError::NoCamera(student))?;
        // Bounded: a keyframe of a low-resolution camera is a few dozen packets; when the
        // tap falls behind, packets are dropped and the assembler asks again.
        let (tx, mut rx) = mpsc::channel(512);
        source.add_tap(tx);
        let deadline = Instant::now() + timeout;
        let r = crate::frame_tap::next_keyframe(&mut rx, deadline, || source.request_keyframe())
            .await
            .map_err(MediaError::Tap);
        drop(rx); // closes the tap; the fan-out forgets it on the next packet
        r
    }

    fn tick(&self, now: Instant) {
        let rooms: Vec<Arc<Room>> = self
            .rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for room in rooms {
            for sub in room.subscribers() {
                let n = sub.delivered.load(Ordering::Relaxed);
                let mut changes = Vec::new();
                if let Ok(mut w) = sub.watch.lock() {
                    let last = sub.last_seen.swap(n, Ordering::Relaxed);
                    if n != last {
                        changes.extend(w.delivered(now));
                    }
                    changes.extend(w.tick(now));
                }
                for c in changes {
                    self.emit(&room, self.watch_event(&room, &sub, c));
                }
            }
            let received = room.lecture_video_received();
            let change = {
                let mut g = room.lecture_watch.lock().unwrap_or_else(|e| e.into_inner());
                let (w, last) = &mut *g;
                let mut out: Vec<WatchChange> = w.transport(received.is_some());
                if let Some(n) = received {
                    if n != *last {
                        *last = n;
                        out.extend(w.delivered(now));
                    }
                }
                out.extend(w.tick(now));
                out
            };
            for c in change {
                if matches!(c, WatchChange::Flowing | WatchChange::Stalled) {
                    self.emit(
                        &room,
                        MediaEvent::LectureVideo {
                            room: room.id,
                            change: c,
                            at_ms: now_ms(),
                        },
                    );
                }
            }
        }
    }
}

async fn ticker(sfu: Weak<Sfu>) {
    let mut t = tokio::time::interval(Duration::from_millis(250));
    loop {
        t.tick().await;
        let Some(s) = sfu.upgrade() else { return };
        s.tick(Instant::now());
    }
}
