//! Static-image guard: samples of one student are minutes apart, and a live camera in that
//! time shows movement, changing light and at least sensor noise. Two consecutive samples
//! that are nearly identical pixel for pixel point to a still photo fed through a virtual
//! camera; the check is flagged `suspect_static` for the assistant and the regulator.
//!
//! A sample is reduced to a small grey thumbnail (OpenCV, in the worker); comparing
//! thumbnails is pure.

use std::collections::HashMap;

use opencv::core::{Mat, MatTraitConst, MatTraitConstManual, Size};
use opencv::imgproc;
use serde::{Deserialize, Serialize};

use crate::frame::Frame;
use crate::sampler::{Ms, StudentId};

/// Thumbnail width.
pub const THUMB_W: u32 = 64;
/// Thumbnail height.
pub const THUMB_H: u32 = 48;

/// A grey `THUMB_W × THUMB_H` reduction of a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thumbnail(pub Vec<u8>);

impl Thumbnail {
    /// Reduces a frame (area averaging: compression artefacts and scaling do not matter,
    /// content changes do).
    pub fn of(frame: &Frame) -> Self {
        let gray = frame.gray();
        let mut small = Mat::default();
        imgproc::resize(
            &gray,
            &mut small,
            Size::new(THUMB_W as i32, THUMB_H as i32),
            0.0,
            0.0,
            imgproc::INTER_AREA,
        )
        .expect("resize");
        let small = if small.is_continuous() {
            small
        } else {
            small.try_clone().expect("copy")
        };
        Self(small.data_bytes().expect("8-bit image").to_vec())
    }

    /// Mean absolute difference per pixel, 0–255.
    pub fn mean_abs_diff(&self, other: &Thumbnail) -> f64 {
        let n = self.0.len().min(other.0.len()).max(1);
        let sum: u64 = self
            .0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| a.abs_diff(*b) as u64)
            .sum();
        sum as f64 / n as f64
    }
}

/// Guard settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticGuardConfig {
    /// Two samples closer than this mean absolute difference (grey levels) are "the same
    /// picture". A live webcam minutes apart differs by several levels.
    pub max_mean_abs_diff: f64,
}

impl Default for StaticGuardConfig {
    fn default() -> Self {
        Self {
            max_mean_abs_diff: 1.0,
        }
    }
}

/// A flagged pair of samples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuspectStatic {
    /// Who.
    pub student: StudentId,
    /// When the later sample was taken.
    pub at: Ms,
    /// When the earlier one was.
    pub previous_at: Ms,
    /// Their mean absolute difference.
    pub mean_abs_diff: f64,
}

/// Remembers each student's last sample.
#[derive(Debug, Default)]
pub struct StaticGuard {
    cfg: StaticGuardConfig,
    last: HashMap<StudentId, (Ms, Thumbnail)>,
}

impl StaticGuard {
    /// A guard with these settings.
    pub fn new(cfg: StaticGuardConfig) -> Self {
        Self {
            cfg,
            last: HashMap::new(),
        }
    }

    /// Records a sample; returns a flag when it is nearly identical to the previous one.
    pub fn observe(
        &mut self,
        student: StudentId,
        at: Ms,
        thumb: Thumbnail,
    ) -> Option<SuspectStatic> {
        let flag = self.last.get(&student).and_then(|(prev_at, prev)| {
            let d = prev.mean_abs_diff(&thumb);
            (d <= self.cfg.max_mean_abs_diff).then_some(SuspectStatic {
                student,
                at,
                previous_at: *prev_at,
                mean_abs_diff: d,
            })
        });
        self.last.insert(student, (at, thumb));
        flag
    }

    /// Forgets a student (left the session).
    pub fn forget(&mut self, student: StudentId) {
        self.last.remove(&student);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thumb(v: impl Fn(usize) -> u8) -> Thumbnail {
        Thumbnail((0..(THUMB_W * THUMB_H) as usize).map(v).collect())
    }

    #[test]
    fn identical_consecutive_samples_are_flagged_per_student() {
        let mut g = StaticGuard::new(StaticGuardConfig::default());
        let a = thumb(|i| (i % 200) as u8);
        assert_eq!(g.observe(1, 0, a.clone()), None);
        assert_eq!(g.observe(2, 0, thumb(|_| 9)), None);
        let f = g.observe(1, 300_000, a.clone()).unwrap();
        assert_eq!((f.student, f.previous_at, f.mean_abs_diff), (1, 0, 0.0));
        // A changed scene is not flagged.
        assert_eq!(
            g.observe(1, 600_000, thumb(|i| ((i * 7) % 256) as u8)),
            None
        );
    }
}
