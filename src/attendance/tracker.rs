//! The ingest state machine (sans-IO): events in, the rows to write for one batch out.
//! It knows which intervals are open; reconnect reports for an open interval only move its
//! heartbeat, so the store never holds two open intervals for one stream.

use std::collections::HashMap;

use super::events::{AttendanceEvent, ClassSession, FaceOutcome, FlowState, VideoState};

/// A stream whose delivery is measured: the lecturer's video in a session, or the lecture
/// reaching one student.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// Live interval of a session.
    Live {
        /// Session.
        session_id: i64,
    },
    /// Watch interval of a student in a session.
    Watch {
        /// Session.
        session_id: i64,
        /// Student.
        student_id: i64,
    },
}

/// An interval first written in this batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewInterval {
    /// Which stream.
    pub stream: Stream,
    /// Its class.
    pub class_id: i64,
    /// Start.
    pub started_at: i64,
    /// Heartbeat.
    pub last_seen_at: i64,
    /// End, if it already ended.
    pub ended_at: Option<i64>,
}

/// A face-check row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckRow {
    /// Room.
    pub session: ClassSession,
    /// Student.
    pub student_id: i64,
    /// Scheduled time.
    pub scheduled_at: i64,
    /// Outcome.
    pub outcome: FaceOutcome,
}

/// Everything one batch writes, in the order it must be applied: heartbeats and closes of
/// intervals already stored, then new intervals (a stream closed and reopened in the same
/// batch needs its old row closed first), then face checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Stored open intervals whose heartbeat moved: stream → last seen.
    pub heartbeats: Vec<(Stream, i64)>,
    /// Stored open intervals that ended: (stream, ended_at).
    pub closes: Vec<(Stream, i64)>,
    /// Intervals first written now.
    pub inserts: Vec<NewInterval>,
    /// Face checks (one per student, session and scheduled time; the last outcome wins).
    pub checks: Vec<CheckRow>,
}

impl Batch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.heartbeats.is_empty()
            && self.closes.is_empty()
            && self.inserts.is_empty()
            && self.checks.is_empty()
    }
}

/// What the tracker did with one event (for metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// An interval opened.
    Opened,
    /// An open interval was reported again (reconnect, duplicate): heartbeat only.
    Reasserted,
    /// An interval closed.
    Closed,
    /// Heartbeat of a session.
    Heartbeat,
    /// A face check recorded.
    Check,
    /// A stop for a stream that was not open: nothing to do.
    NotOpen,
}

#[derive(Clone, Copy, Debug)]
struct Open {
    class_id: i64,
    started_at: i64,
    last_seen: i64,
    /// Whether a row for it is already stored (else it is inserted at the next batch).
    stored: bool,
    /// Whether its heartbeat moved since the last batch.
    dirty: bool,
}

/// Open intervals and the pending batch.
#[derive(Debug, Default)]
pub struct Tracker {
    open: HashMap<Stream, Open>,
    by_session: HashMap<i64, Vec<Stream>>,
    closed_new: Vec<NewInterval>,
    closes: Vec<(Stream, i64)>,
    checks: HashMap<(i64, i64, i64), CheckRow>,
}

impl Tracker {
    /// An empty tracker (after start-up recovery nothing is open).
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of open intervals.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Applies one event.
    pub fn apply(&mut self, ev: &AttendanceEvent) -> Applied {
        match *ev {
            AttendanceEvent::LecturerVideo { session, state, at } => {
                let stream = Stream::Live {
                    session_id: session.session_id,
                };
                match state {
                    VideoState::Receiving => self.start(stream, session, at),
                    VideoState::Stopped => self.stop(stream, at),
                }
            }
            AttendanceEvent::SubscriberFlow {
                student_id,
                session,
                state,
                at,
            } => {
                let stream = Stream::Watch {
                    session_id: session.session_id,
                    student_id,
                };
                match state {
                    FlowState::Flowing => self.start(stream, session, at),
                    FlowState::Stalled => self.stop(stream, at),
                }
            }
            AttendanceEvent::Heartbeat { session, at } => {
                if let Some(streams) = self.by_session.get(&session.session_id) {
                    for s in streams {
                        if let Some(o) = self.open.get_mut(s) {
                            if at > o.last_seen {
                                o.last_seen = at;
                                o.dirty = true;
                            }
                        }
                    }
                }
                Applied::Heartbeat
            }
            AttendanceEvent::FaceCheck {
                student_id,
                session,
                scheduled_at,
                outcome,
            } => {
                self.checks.insert(
                    (session.session_id, student_id, scheduled_at),
                    CheckRow {
                        session,
                        student_id,
                        scheduled_at,
                        outcome,
                    },
                );
                Applied::Check
            }
        }
    }

    fn start(&mut self, stream: Stream, session: ClassSession, at: i64) -> Applied {
        if let Some(o) = self.open.get_mut(&stream) {
            if at > o.last_seen {
                o.last_seen = at;
                o.dirty = true;
            }
            return Applied::Reasserted;
        }
        self.open.insert(
            stream,
            Open {
                class_id: session.class_id,
                started_at: at,
                last_seen: at,
                stored: false,
                dirty: true,
            },
        );
        self.by_session
            .entry(session.session_id)
            .or_default()
            .push(stream);
        Applied::Opened
    }

    fn stop(&mut self, stream: Stream, at: i64) -> Applied {
        let Some(o) = self.open.remove(&stream) else {
            return Applied::NotOpen;
        };
        let session_id = match stream {
            Stream::Live { session_id } | Stream::Watch { session_id, .. } => session_id,
        };
        if let Some(v) = self.by_session.get_mut(&session_id) {
            v.retain(|s| *s != stream);
            if v.is_empty() {
                self.by_session.remove(&session_id);
            }
        }
        // A stop stamped before the start (clock skew between threads) closes it empty.
        let end = at.max(o.started_at);
        if o.stored {
            self.closes.push((stream, end));
        } else {
            self.closed_new.push(NewInterval {
                stream,
                class_id: o.class_id,
                started_at: o.started_at,
                last_seen_at: end,
                ended_at: Some(end),
            });
        }
        Applied::Closed
    }

    /// Takes the rows to write since the last batch; intervals still open count as stored
    /// from now on.
    pub fn take_batch(&mut self) -> Batch {
        let mut batch = Batch {
            closes: std::mem::take(&mut self.closes),
            inserts: std::mem::take(&mut self.closed_new),
            checks: self.checks.drain().map(|(_, v)| v).collect(),
            heartbeats: Vec::new(),
        };
        for (stream, o) in self.open.iter_mut() {
            if !o.stored {
                batch.inserts.push(NewInterval {
                    stream: *stream,
                    class_id: o.class_id,
                    started_at: o.started_at,
                    last_seen_at: o.last_seen,
                    ended_at: None,
                });
                o.stored = true;
            } else if o.dirty {
                batch.heartbeats.push((*stream, o.last_seen));
            }
            o.dirty = false;
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: ClassSession = ClassSession {
        class_id: 3,
        session_id: 9,
    };

    fn flow(student_id: i64, state: FlowState, at: i64) -> AttendanceEvent {
        AttendanceEvent::SubscriberFlow {
            student_id,
            session: S,
            state,
            at,
        }
    }

    fn video(state: VideoState, at: i64) -> AttendanceEvent {
        AttendanceEvent::LecturerVideo {
            session: S,
            state,
            at,
        }
    }

    const W7: Stream = Stream::Watch {
        session_id: 9,
        student_id: 7,
    };
    const LIVE: Stream = Stream::Live { session_id: 9 };

    #[test]
    fn an_interval_opened_and_closed_in_one_batch_is_one_closed_row() {
        let mut t = Tracker::new();
        assert_eq!(t.apply(&flow(7, FlowState::Flowing, 100)), Applied::Opened);
        assert_eq!(t.apply(&flow(7, FlowState::Stalled, 500)), Applied::Closed);
        let b = t.take_batch();
        assert_eq!(
            b.inserts,
            vec![NewInterval {
                stream: W7,
                class_id: 3,
                started_at: 100,
                last_seen_at: 500,
                ended_at: Some(500)
            }]
        );
        assert!(b.closes.is_empty() && b.heartbeats.is_empty());
        assert_eq!(t.open_count(), 0);
    }

    #[test]
    fn open_intervals_are_inserted_once_then_heartbeated_then_closed() {
        let mut t = Tracker::new();
        t.apply(&video(VideoState::Receiving, 0));
        t.apply(&flow(7, FlowState::Flowing, 10));
        let b = t.take_batch();
        assert_eq!(b.inserts.len(), 2);
        assert!(b.inserts.iter().all(|i| i.ended_at.is_none()));

        t.apply(&AttendanceEvent::Heartbeat {
            session: S,
            at: 1000,
        });
        // Reconnect report while open: heartbeat only.
        assert_eq!(
            t.apply(&flow(7, FlowState::Flowing, 1200)),
            Applied::Reasserted
        );
        let mut b = t.take_batch();
        b.heartbeats.sort();
        assert_eq!(b.heartbeats, vec![(LIVE, 1000), (W7, 1200)]);
        assert!(b.inserts.is_empty());

        // Nothing happened: nothing to write.
        assert!(t.take_batch().is_empty());

        t.apply(&flow(7, FlowState::Stalled, 1500));
        let b = t.take_batch();
        assert_eq!(b.closes, vec![(W7, 1500)]);
        assert_eq!(t.open_count(), 1);
    }

    #[test]
    fn close_and_reopen_in_one_batch_closes_the_stored_row_then_inserts() {
        let mut t = Tracker::new();
        t.apply(&flow(7, FlowState::Flowing, 0));
        t.take_batch();
        t.apply(&flow(7, FlowState::Stalled, 100));
        t.apply(&flow(7, FlowState::Flowing, 200));
        let b = t.take_batch();
        assert_eq!(b.closes, vec![(W7, 100)]);
        assert_eq!(b.inserts.len(), 1);
        assert_eq!(b.inserts[0].started_at, 200);
    }

    #[test]
    fn stops_of_streams_that_are_not_open_do_nothing() {
        let mut t = Tracker::new();
        assert_eq!(t.apply(&flow(7, FlowState::Stalled, 5)), Applied::NotOpen);
        assert_eq!(t.apply(&video(VideoState::Stopped, 5)), Applied::NotOpen);
        assert!(t.take_batch().is_empty());
    }

    #[test]
    fn a_stop_before_its_start_closes_empty() {
        let mut t = Tracker::new();
        t.apply(&flow(7, FlowState::Flowing, 100));
        t.apply(&flow(7, FlowState::Stalled, 90));
        let b = t.take_batch();
        assert_eq!(b.inserts[0].started_at, 100);
        assert_eq!(b.inserts[0].ended_at, Some(100));
    }

    #[test]
    fn heartbeats_reach_only_their_session_and_never_move_back() {
        let mut t = Tracker::new();
        t.apply(&flow(7, FlowState::Flowing, 100));
        t.take_batch();
        let other = ClassSession {
            class_id: 3,
            session_id: 10,
        };
        t.apply(&AttendanceEvent::Heartbeat {
            session: other,
            at: 900,
        });
        assert!(t.take_batch().is_empty());
        t.apply(&AttendanceEvent::Heartbeat { session: S, at: 50 });
        assert!(t.take_batch().is_empty());
    }

    #[test]
    fn repeated_face_checks_keep_the_last_outcome() {
        let mut t = Tracker::new();
        for outcome in [FaceOutcome::NoFace, FaceOutcome::Match] {
            t.apply(&AttendanceEvent::FaceCheck {
                student_id: 7,
                session: S,
                scheduled_at: 60_000,
                outcome,
            });
        }
        let b = t.take_batch();
        assert_eq!(b.checks.len(), 1);
        assert_eq!(b.checks[0].outcome, FaceOutcome::Match);
    }
}
