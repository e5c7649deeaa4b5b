//! Ketang's SFU on the `webrtc` crate: publish/subscribe transports, RTP fan-out, keyframe
//! handling, per-subscriber watch signals and the frame tap for face sampling. No HTTP,
//! no SQL: it emits typed events that the application persists.

pub mod config;
pub mod peer;

pub use config::MediaConfig;
