//! One class session: who publishes, who receives what. The routing rule is a pure
//! function ([`source_for`]): a lecture subscriber is fed only by the lecturer's tracks, a
//! student's camera only reaches subscribers that asked for that very student (their
//! assistant, a regulator, the frame tap) — never another student watching the lecture.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use crate::metrics::RoomMetrics;
use crate::publisher::{Publisher, SlotKind, TrackFanout};
use crate::subscriber::Subscriber;
use crate::watch::Watch;
use crate::{ParticipantId, PublishKind, RoomId, SessionId, SubscribeTarget};

/// Where a subscriber slot's media comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// One of the lecturer's tracks.
    Lecture(SlotKind),
    /// A student's camera.
    Camera(ParticipantId),
    /// A student's microphone (heard with their camera, by those the room lets hear it).
    Mic(ParticipantId),
}

/// The source that feeds slot `slot` of a subscriber watching `target`, if any.
pub fn source_for(target: SubscribeTarget, slot: SlotKind) -> Option<Source> {
    match (target, slot) {
        (SubscribeTarget::Lecture, s) => Some(Source::Lecture(s)),
        (SubscribeTarget::StudentCamera(p), SlotKind::Camera) => Some(Source::Camera(p)),
        (SubscribeTarget::StudentCamera(p), SlotKind::Audio) => Some(Source::Mic(p)),
        (SubscribeTarget::StudentCamera(_), SlotKind::Screen) => None,
    }
}

/// The source a publisher's track provides.
pub fn source_of(kind: PublishKind, owner: ParticipantId, slot: SlotKind) -> Source {
    match kind {
        PublishKind::Lecture => Source::Lecture(slot),
        PublishKind::StudentCamera if slot == SlotKind::Audio => Source::Mic(owner),
        PublishKind::StudentCamera => Source::Camera(owner),
    }
}

#[derive(Default)]
struct Inner {
    sources: HashMap<Source, Arc<TrackFanout>>,
    publishers: HashMap<(ParticipantId, PublishKind), Arc<Publisher>>,
    subscribers: HashMap<SessionId, Arc<Subscriber>>,
}

/// A room.
pub struct Room {
    /// The class id.
    pub id: RoomId,
    /// Its metrics.
    pub metrics: RoomMetrics,
    inner: Mutex<Inner>,
    /// Whether the lecturer's video is being received (live time).
    pub lecture_watch: Mutex<(Watch, u64)>,
    /// Subscriber places taken by admission control (connected or still joining).
    pub admitted: AtomicU32,
}

impl Room {
    /// An empty room.
    pub fn new(id: RoomId, metrics: RoomMetrics, watch: Watch) -> Self {
        Self {
            id,
            metrics,
            inner: Mutex::new(Inner::default()),
            lecture_watch: Mutex::new((watch, 0)),
            admitted: AtomicU32::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a publisher, returning the one it replaces (same person, same kind).
    pub fn add_publisher(&self, p: Arc<Publisher>) -> Option<Arc<Publisher>> {
        let old = self.lock().publishers.insert((p.participant, p.kind), p);
        if old.is_none() {
            self.metrics.publishers.inc();
        }
        old
    }

    /// Removes a publisher session (if still current) and its sources.
    pub fn remove_publisher(&self, session: SessionId) -> Option<Arc<Publisher>> {
        let mut g = self.lock();
        let key = g
            .publishers
            .iter()
            .find(|(_, p)| p.session == session)
            .map(|(k, _)| *k)?;
        let p = g.publishers.remove(&key)?;
        g.sources
            .retain(|_, f| f.owner != p.participant || !p.owns(f));
        self.metrics.publishers.dec();
        Some(p)
    }

    /// A publisher's track arrived: it becomes the source and feeds connected subscribers.
    pub fn add_source(&self, p: &Publisher, f: Arc<TrackFanout>) {
        let source = source_of(p.kind, p.participant, f.kind);
        let mut g = self.lock();
        g.sources.insert(source, f.clone());
        for sub in g.subscribers.values() {
            if !sub.connected.load(Ordering::Acquire) {
                continue;
            }
            for slot in &sub.slots {
                if source_for(sub.target, slot.kind) == Some(source) {
                    if let Some(old) = slot.source() {
                        old.detach(slot);
                    }
                    f.attach(slot);
                }
            }
        }
    }

    /// The current source `s`.
    pub fn source(&self, s: Source) -> Option<Arc<TrackFanout>> {
        self.lock().sources.get(&s).cloned()
    }

    /// Registers a subscriber (not yet fed: see [`Self::connect_subscriber`]).
    pub fn add_subscriber(&self, s: Arc<Subscriber>) {
        self.lock().subscribers.insert(s.session, s);
        self.metrics.subscribers.inc();
    }

    /// The subscriber's transport is up: feed its slots from the current sources.
    pub fn connect_subscriber(&self, s: &Arc<Subscriber>) {
        let g = self.lock();
        for slot in &s.slots {
            if let Some(f) = source_for(s.target, slot.kind).and_then(|src| g.sources.get(&src)) {
                f.attach(slot);
            }
        }
    }

    /// Removes a subscriber session.
    pub fn remove_subscriber(&self, session: SessionId) -> Option<Arc<Subscriber>> {
        let s = self.lock().subscribers.remove(&session)?;
        s.detach_all();
        self.metrics.subscribers.dec();
        Some(s)
    }

    /// Subscribers now.
    pub fn subscribers(&self) -> Vec<Arc<Subscriber>> {
        self.lock().subscribers.values().cloned().collect()
    }

    /// Packets per second the lecturer publishes (what each lecture subscriber costs).
    pub fn lecture_pps(&self) -> u64 {
        self.lock()
            .sources
            .iter()
            .filter(|(k, _)| matches!(k, Source::Lecture(_)))
            .map(|(_, f)| f.pps())
            .sum()
    }

    /// Packets per second forwarded now (estimate: each source's rate × its sinks).
    pub fn forwarded_pps(&self) -> u64 {
        self.lock()
            .sources
            .values()
            .map(|f| f.pps() * f.sink_count() as u64)
            .sum()
    }

    /// Counts received by the lecturer's video source so far.
    pub fn lecture_video_received(&self) -> Option<u64> {
        self.lock()
            .sources
            .get(&Source::Lecture(SlotKind::Camera))
            .map(|f| f.received())
    }

    /// Whether nobody uses the room any more.
    pub fn is_empty(&self) -> bool {
        let g = self.lock();
        g.publishers.is_empty() && g.subscribers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_students_camera_never_reaches_a_lecture_subscriber() {
        for slot in [SlotKind::Audio, SlotKind::Camera, SlotKind::Screen] {
            let src = source_for(SubscribeTarget::Lecture, slot);
            assert!(!matches!(src, Some(Source::Camera(_) | Source::Mic(_))));
        }
        let cam = source_of(PublishKind::StudentCamera, 7, SlotKind::Camera);
        assert_eq!(cam, Source::Camera(7));
        assert_eq!(
            source_for(SubscribeTarget::StudentCamera(7), SlotKind::Camera),
            Some(cam)
        );
        assert_ne!(
            source_for(SubscribeTarget::StudentCamera(8), SlotKind::Camera),
            Some(cam)
        );
        let mic = source_of(PublishKind::StudentCamera, 7, SlotKind::Audio);
        assert_eq!(mic, Source::Mic(7));
        assert_eq!(
            source_for(SubscribeTarget::StudentCamera(7), SlotKind::Audio),
            Some(mic)
        );
        assert_eq!(
            source_for(SubscribeTarget::StudentCamera(7), SlotKind::Screen),
            None
        );
    }
}
