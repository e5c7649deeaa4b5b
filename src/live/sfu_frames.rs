//! The face sampler's frame source in production: the SFU's frame tap asks the student's
//! camera for a keyframe and decodes it. A student with no camera track is `camera_off`
//! if the lecture still reaches them (they are in the room) and `absent` otherwise.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use face::frame::Frame;
use face::sampler::StudentId;
use face::session::{FrameSource, Grab, GrabFuture};
use media::Sfu;

use super::signals::Signals;

/// Frames of one class's students.
pub struct SfuFrames {
    /// The SFU.
    pub sfu: Arc<Sfu>,
    /// The room (class id).
    pub class_id: i64,
    /// Who the lecture reaches now.
    pub signals: Arc<Mutex<Signals>>,
    /// How long to wait for a keyframe.
    pub timeout: Duration,
}

impl FrameSource for SfuFrames {
    fn grab(&self, student: StudentId) -> GrabFuture {
        let (sfu, class_id, signals, timeout) = (
            self.sfu.clone(),
            self.class_id,
            self.signals.clone(),
            self.timeout,
        );
        Box::pin(async move {
            let err = match sfu.next_keyframe(class_id, student, timeout).await {
                Ok(img) => match Frame::from_rgb(img.width, img.height, &img.rgb) {
                    Ok(frame) => return Grab::Frame(frame),
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            let present = signals
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_watching(class_id, student);
            tracing::debug!(class_id, student, present, error = %err, "no camera frame");
            if present {
                Grab::CameraOff
            } else {
                Grab::Absent
            }
        })
    }
}
