//! What runs beside the HTTP server while classes are live: the SFU's watch signals fed to
//! attendance ([`attendance_feed`]), and the face checks of every running session
//! ([`face_rounds`]) with frames from the SFU's tap ([`sfu_frames`]).

pub mod attendance_feed;
pub mod directory;
pub mod face_rounds;
pub mod sfu_frames;
pub mod signals;

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use crate::http::AppState;

/// Starts the live tasks of a serving node; abort the handles to stop them.
pub fn start(state: &AppState) -> Vec<JoinHandle<()>> {
    let signals = Arc::new(Mutex::new(signals::Signals::default()));
    let mut tasks = Vec::new();
    if let Some(events) = state.take_media_events() {
        tasks.push(tokio::spawn(attendance_feed::run(
            events,
            state.store.clone(),
            state.attendance.clone(),
            signals.clone(),
            attendance_feed::FeedMetrics::new(state.metrics.registry()),
        )));
    }
    tasks.push(tokio::spawn(face_rounds::run(
        state.clone(),
        signals,
        face_rounds::RoundMetrics::new(state.metrics.registry()),
    )));
    tasks
}
