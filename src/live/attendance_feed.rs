//! The SFU's event stream, turned into attendance events: lecture video (live time), the
//! lecture reaching each enrolled student (watch time), and a heartbeat per active room
//! every second so that a crash loses at most a second of open intervals.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use media::MediaEvent;
use prometheus::{IntCounterVec, Opts, Registry};
use tokio::sync::mpsc;

use super::directory::Directory;
use super::signals::{Signal, Signals};
use crate::attendance::events::{AttendanceEvent, FlowState, VideoState};
use crate::attendance::Hub;
use crate::store::{now_ms, Store};

/// Counts of what the feed did, by outcome.
#[derive(Clone)]
pub struct FeedMetrics {
    signals: IntCounterVec,
}

impl FeedMetrics {
    /// Registers `live_attendance_signals_total{outcome}` (once per registry).
    pub fn new(registry: &Registry) -> Self {
        let signals = IntCounterVec::new(
            Opts::new(
                "live_attendance_signals_total",
                "SFU watch signals by outcome: sent to attendance, outside any session, not enrolled, heartbeat",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let _ = registry.register(Box::new(signals.clone()));
        Self { signals }
    }
}

/// Runs until the SFU's event stream ends.
pub async fn run(
    mut events: mpsc::Receiver<MediaEvent>,
    store: Store,
    hub: Arc<Hub>,
    signals: Arc<Mutex<Signals>>,
    metrics: FeedMetrics,
) {
    let mut dir = Directory::new(store);
    let mut beat = tokio::time::interval(Duration::from_secs(1));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let out: Vec<AttendanceEvent> = tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                let signal = signals.lock().unwrap_or_else(|e| e.into_inner()).apply(&ev);
                match signal {
                    Some(s) => translate(&mut dir, s, &metrics).await.into_iter().collect(),
                    None => Vec::new(),
                }
            }
            _ = beat.tick() => {
                let rooms = signals.lock().unwrap_or_else(|e| e.into_inner()).active_rooms();
                let at = now_ms();
                let mut out = Vec::new();
                for room in rooms {
                    if let Ok(Some(session)) = dir.session_at(room, at).await {
                        metrics.signals.with_label_values(&["heartbeat"]).inc();
                        out.push(AttendanceEvent::Heartbeat { session, at });
                    }
                }
                out
            }
        };
        for ev in out {
            if hub.sender().send(ev).await.is_err() {
                tracing::error!(
                    "attendance ingestion stopped; watch signals are no longer recorded"
                );
                return;
            }
        }
    }
}

async fn translate(
    dir: &mut Directory,
    signal: Signal,
    metrics: &FeedMetrics,
) -> Option<AttendanceEvent> {
    let count = |outcome: &str| metrics.signals.with_label_values(&[outcome]).inc();
    let (room, at) = match signal {
        Signal::Lecture { room, at, .. } | Signal::Watch { room, at, .. } => (room, at),
    };
    let session = match dir.session_at(room, at).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            count("outside_session");
            return None;
        }
        Err(e) => {
            tracing::warn!(error = %e, room, "cannot resolve the session of a watch signal");
            count("store_error");
            return None;
        }
    };
    let ev = match signal {
        Signal::Lecture { receiving, at, .. } => AttendanceEvent::LecturerVideo {
            session,
            state: if receiving {
                VideoState::Receiving
            } else {
                VideoState::Stopped
            },
            at,
        },
        Signal::Watch {
            participant,
            flowing,
            at,
            ..
        } => {
            if !dir.is_enrolled(room, participant).await.unwrap_or(false) {
                count("not_enrolled");
                return None;
            }
            AttendanceEvent::SubscriberFlow {
                student_id: participant,
                session,
                state: if flowing {
                    FlowState::Flowing
                } else {
                    FlowState::Stalled
                },
                at,
            }
        }
    };
    count("sent");
    Some(ev)
}
