//! Ketang's SFU on the `webrtc` crate: publish/subscribe transports, RTP fan-out, keyframe
//! handling, per-subscriber watch signals and the frame tap for face sampling. No HTTP,
//! no SQL: it emits typed events that the application persists.
//!
//! A lecturer's packet travels `publisher` (ingest, [`publisher::TrackFanout`]) → `room`
//! (who receives what) → `forwarder` (per-subscriber rewriting) → `subscriber` (bounded
//! queue, writer task, the viewer's connection).

pub mod capacity;
pub mod client;
pub mod config;
pub mod error;
pub mod forwarder;
pub mod frame_tap;
pub mod gop_cache;
pub mod keyframe;
pub mod metrics;
pub mod offer;
pub mod peer;
pub mod publisher;
pub mod room;
pub mod rtcp_tap;
pub mod sfu;
pub mod subscriber;
pub mod vp8;
pub mod vpx;
pub mod watch;

pub use config::MediaConfig;
pub use error::MediaError;
pub use metrics::MediaMetrics;
pub use sfu::{Answer, MediaEvent, RoomStats, Sfu};
pub use watch::WatchChange;

/// A room: one class's live session (the class id).
pub type RoomId = i64;
/// A participant: an account id.
pub type ParticipantId = i64;
/// One publish or subscribe connection.
pub type SessionId = u64;

/// What a publisher sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishKind {
    /// The lecturer's camera, microphone and optional screen share, for everyone.
    Lecture,
    /// A student's low-resolution camera and optional microphone (also an assistant's, for
    /// a private call). The camera goes to those the room lets watch it (their assistant,
    /// regulators, the face sampler; classmates while they hold the floor); the microphone
    /// only to those the room lets hear it (the floor, the call peer).
    StudentCamera,
}

/// What a subscriber receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscribeTarget {
    /// The lecture.
    Lecture,
    /// One student's camera.
    StudentCamera(ParticipantId),
}
