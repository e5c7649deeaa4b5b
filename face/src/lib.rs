//! Ketang's face pipeline: image decoding and checks with OpenCV, face detection and
//! embedding with dlib, enrollment quality gates, the 1:1 verification decision, the
//! sampler that decides when to check whom, the static-image guard, and the worker pool
//! that runs it all off the async runtime. No HTTP, no SQL: results are typed events.

pub mod config;
pub mod detect;
pub mod embed;
pub mod engine;
pub mod eval;
pub mod frame;
pub mod image;
pub mod models;
pub mod pool;
pub mod quality;
pub mod sampler;
pub mod session;
pub mod static_guard;
pub mod verify;

pub use config::FaceConfig;
