//! Folds the SFU's per-connection watch events into the per-person signals attendance
//! needs: the lecture video reaching the server (live time) and the lecture reaching each
//! participant (watch time). A participant with two connections (a second tab, a reconnect
//! that overlaps the old one) watches while either delivers, so only the first start and
//! the last stop are reported. Pure: no clock, no I/O.

use std::collections::{BTreeMap, BTreeSet};

use media::{MediaEvent, ParticipantId, RoomId, SessionId, SubscribeTarget, WatchChange};

/// A change attendance records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// The lecturer's video started (`true`) or stopped reaching the server.
    Lecture {
        /// Room (class id).
        room: RoomId,
        /// Receiving now.
        receiving: bool,
        /// When, unix ms.
        at: i64,
    },
    /// The lecture started (`true`) or stopped reaching a participant.
    Watch {
        /// Room (class id).
        room: RoomId,
        /// Who.
        participant: ParticipantId,
        /// Flowing now.
        flowing: bool,
        /// When, unix ms.
        at: i64,
    },
}

/// What is flowing where.
#[derive(Debug, Default)]
pub struct Signals {
    lecture: BTreeSet<RoomId>,
    watching: BTreeMap<(RoomId, ParticipantId), BTreeSet<SessionId>>,
}

impl Signals {
    /// Applies one SFU event; returns the signal it causes, if any.
    pub fn apply(&mut self, ev: &MediaEvent) -> Option<Signal> {
        match *ev {
            MediaEvent::LectureVideo {
                room,
                change,
                at_ms,
            } => {
                let receiving = match change {
                    WatchChange::Flowing => true,
                    WatchChange::Stalled => false,
                    _ => return None,
                };
                let changed = if receiving {
                    self.lecture.insert(room)
                } else {
                    self.lecture.remove(&room)
                };
                changed.then_some(Signal::Lecture {
                    room,
                    receiving,
                    at: at_ms,
                })
            }
            MediaEvent::Watch {
                room,
                participant,
                session,
                target: SubscribeTarget::Lecture,
                change,
                at_ms,
            } => {
                let key = (room, participant);
                let sessions = self.watching.entry(key).or_default();
                let before = !sessions.is_empty();
                match change {
                    WatchChange::Flowing => {
                        sessions.insert(session);
                    }
                    WatchChange::Stalled | WatchChange::Disconnected => {
                        sessions.remove(&session);
                    }
                    WatchChange::Connected => {}
                }
                let after = !sessions.is_empty();
                if sessions.is_empty() {
                    self.watching.remove(&key);
                }
                (before != after).then_some(Signal::Watch {
                    room,
                    participant,
                    flowing: after,
                    at: at_ms,
                })
            }
            // Cameras watched by assistants or regulators are not attendance.
            MediaEvent::Watch { .. } => None,
        }
    }

    /// Rooms where something is flowing (they get heartbeats).
    pub fn active_rooms(&self) -> BTreeSet<RoomId> {
        let mut rooms = self.lecture.clone();
        rooms.extend(self.watching.keys().map(|(r, _)| *r));
        rooms
    }

    /// Whether the lecture currently reaches `participant` in `room` (they are in the room).
    pub fn is_watching(&self, room: RoomId, participant: ParticipantId) -> bool {
        self.watching.contains_key(&(room, participant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn watch(session: SessionId, change: WatchChange, at_ms: i64) -> MediaEvent {
        MediaEvent::Watch {
            room: 1,
            participant: 7,
            session,
            target: SubscribeTarget::Lecture,
            change,
            at_ms,
        }
    }

    #[test]
    fn two_connections_watch_until_the_last_one_stops() {
        let mut s = Signals::default();
        assert_eq!(s.apply(&watch(1, WatchChange::Connected, 0)), None);
        assert_eq!(
            s.apply(&watch(1, WatchChange::Flowing, 10)),
            Some(Signal::Watch {
                room: 1,
                participant: 7,
                flowing: true,
                at: 10
            })
        );
        assert_eq!(s.apply(&watch(2, WatchChange::Flowing, 20)), None);
        assert_eq!(s.apply(&watch(1, WatchChange::Stalled, 30)), None);
        assert!(s.is_watching(1, 7));
        assert_eq!(
            s.apply(&watch(2, WatchChange::Disconnected, 40)),
            Some(Signal::Watch {
                room: 1,
                participant: 7,
                flowing: false,
                at: 40
            })
        );
        assert!(s.active_rooms().is_empty());
    }

    #[test]
    fn camera_watching_is_not_attendance_and_lecture_video_is_reported_once() {
        let mut s = Signals::default();
        let cam = MediaEvent::Watch {
            room: 1,
            participant: 3,
            session: 9,
            target: SubscribeTarget::StudentCamera(7),
            change: WatchChange::Flowing,
            at_ms: 0,
        };
        assert_eq!(s.apply(&cam), None);
        let lv = |change, at_ms| MediaEvent::LectureVideo {
            room: 1,
            change,
            at_ms,
        };
        assert!(s.apply(&lv(WatchChange::Flowing, 5)).is_some());
        assert_eq!(s.apply(&lv(WatchChange::Flowing, 6)), None);
        assert_eq!(s.active_rooms().into_iter().collect::<Vec<_>>(), vec![1]);
        assert_eq!(
            s.apply(&lv(WatchChange::Stalled, 7)),
            Some(Signal::Lecture {
                room: 1,
                receiving: false,
                at: 7
            })
        );
    }

    proptest! {
        /// Whatever the order of connection events, the reported watch state always equals
        /// "some connection of this person is flowing", and reports alternate.
        #[test]
        fn reports_alternate_and_track_any_flowing_connection(
            steps in proptest::collection::vec((0u64..3, 0u8..4), 0..60)
        ) {
            let mut s = Signals::default();
            let mut flowing: BTreeSet<SessionId> = BTreeSet::new();
            let mut last: Option<bool> = None;
            for (i, (session, c)) in steps.into_iter().enumerate() {
                let change = [WatchChange::Connected, WatchChange::Flowing, WatchChange::Stalled, WatchChange::Disconnected][c as usize];
                match change {
                    WatchChange::Flowing => { flowing.insert(session); }
                    WatchChange::Stalled | WatchChange::Disconnected => { flowing.remove(&session); }
                    WatchChange::Connected => {}
                }
                if let Some(Signal::Watch { flowing: f, .. }) = s.apply(&watch(session, change, i as i64)) {
                    prop_assert_ne!(Some(f), last);
                    last = Some(f);
                }
                prop_assert_eq!(s.is_watching(1, 7), !flowing.is_empty());
                prop_assert_eq!(last.unwrap_or(false), !flowing.is_empty());
            }
        }
    }
}
