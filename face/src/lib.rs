//! Ketang's face pipeline: image decoding and checks with OpenCV, face detection and
//! embedding, enrollment quality gates and the 1:1 verification decision. No HTTP, no SQL.

pub mod image;
