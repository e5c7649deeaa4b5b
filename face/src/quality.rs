//! Enrollment quality gates for the one-inch photo: exactly one face, big enough, sharp
//! (variance of the Laplacian), well exposed. Measuring uses OpenCV; judging is a pure
//! function of the measurements, with a message a student can act on.

use opencv::core::{self, Mat, MatTraitConst, Rect, Scalar, Size};
use opencv::imgproc;
use serde::{Deserialize, Serialize};

use crate::detect::FaceBox;
use crate::frame::Frame;

/// Limits for an enrollment photo.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrollmentPolicy {
    /// Shorter side of the face box, in pixels.
    pub min_face_px: u32,
    /// Variance of the Laplacian of the face (normalised to 128×128 grey); below is blurry.
    pub min_sharpness: f64,
    /// Mean grey level of the face, 0–255.
    pub min_brightness: f64,
    /// Mean grey level of the face, 0–255.
    pub max_brightness: f64,
    /// Largest share of face pixels that are clipped (≤ 5 or ≥ 250).
    pub max_clipped: f64,
    /// Jittered copies averaged into the enrollment embedding.
    pub jitter: u32,
}

impl Default for EnrollmentPolicy {
    fn default() -> Self {
        Self {
            min_face_px: 80,
            min_sharpness: 60.0,
            min_brightness: 50.0,
            max_brightness: 215.0,
            max_clipped: 0.2,
            jitter: 10,
        }
    }
}

/// What was measured on the enrollment face.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceQuality {
    /// Shorter side of the face box, pixels.
    pub face_px: u32,
    /// Variance of the Laplacian (128×128 grey face).
    pub sharpness: f64,
    /// Mean grey level.
    pub brightness: f64,
    /// Share of clipped pixels.
    pub clipped: f64,
}

/// Why an enrollment photo is refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum QualityIssue {
    /// No face found.
    #[error("no face was found in the photo; use a photo that shows your whole face, looking at the camera")]
    NoFace,
    /// More than one face.
    #[error("the photo shows {count} faces; use a photo of you alone")]
    MultipleFaces {
        /// How many.
        count: usize,
    },
    /// The face is too small.
    #[error("your face is too small in the photo ({face_px} pixels wide, at least {min} needed); use a closer, larger photo")]
    FaceTooSmall {
        /// Measured.
        face_px: u32,
        /// Required.
        min: u32,
    },
    /// Out of focus or shaken.
    #[error("the photo is blurry; use a sharp, in-focus photo")]
    Blurry {
        /// Measured sharpness.
        sharpness: f64,
        /// Required.
        min: f64,
    },
    /// Under-exposed.
    #[error("the photo is too dark; take it in better light")]
    TooDark {
        /// Mean grey level.
        brightness: f64,
    },
    /// Over-exposed or washed out.
    #[error("the photo is too bright or washed out; avoid direct light or flash on your face")]
    TooBright {
        /// Mean grey level.
        brightness: f64,
        /// Share of clipped pixels.
        clipped: f64,
    },
}

impl QualityIssue {
    /// Stable machine code (`no_face`, `face_too_small`, `blurry`, …).
    pub fn code(&self) -> &'static str {
        match self {
            QualityIssue::NoFace => "no_face",
            QualityIssue::MultipleFaces { .. } => "multiple_faces",
            QualityIssue::FaceTooSmall { .. } => "face_too_small",
            QualityIssue::Blurry { .. } => "blurry",
            QualityIssue::TooDark { .. } => "too_dark",
            QualityIssue::TooBright { .. } => "too_bright",
        }
    }
}

/// Exactly one face, or why not.
pub fn one_face(faces: &[FaceBox]) -> Result<FaceBox, QualityIssue> {
    match faces {
        [] => Err(QualityIssue::NoFace),
        [f] => Ok(*f),
        many => Err(QualityIssue::MultipleFaces { count: many.len() }),
    }
}

/// Judges measurements against the policy: size first (a tiny face is also blurry), then
/// exposure (a dark face also has little contrast), then sharpness.
pub fn judge(q: &FaceQuality, p: &EnrollmentPolicy) -> Result<(), QualityIssue> {
    if q.face_px < p.min_face_px {
        return Err(QualityIssue::FaceTooSmall {
            face_px: q.face_px,
            min: p.min_face_px,
        });
    }
    if q.brightness < p.min_brightness {
        return Err(QualityIssue::TooDark {
            brightness: q.brightness,
        });
    }
    if q.brightness > p.max_brightness || q.clipped > p.max_clipped {
        return Err(QualityIssue::TooBright {
            brightness: q.brightness,
            clipped: q.clipped,
        });
    }
    if q.sharpness < p.min_sharpness {
        return Err(QualityIssue::Blurry {
            sharpness: q.sharpness,
            min: p.min_sharpness,
        });
    }
    Ok(())
}

/// Measures the face in `face` (clamped to the image).
pub fn measure(frame: &Frame, face: &FaceBox) -> FaceQuality {
    let (w, h) = (frame.width() as i64, frame.height() as i64);
    let l = face.left.clamp(0, w - 1);
    let t = face.top.clamp(0, h - 1);
    let r = face.right.clamp(l + 1, w);
    let b = face.bottom.clamp(t + 1, h);
    let gray = frame.gray();
    let roi = Mat::roi(
        &gray,
        Rect::new(l as i32, t as i32, (r - l) as i32, (b - t) as i32),
    )
    .expect("clamped rectangle inside the image");
    // A fixed size makes the sharpness figure independent of the photo's resolution.
    let mut norm = Mat::default();
    imgproc::resize(
        &roi,
        &mut norm,
        Size::new(128, 128),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )
    .expect("resize");
    let mut lap = Mat::default();
    imgproc::laplacian(
        &norm,
        &mut lap,
        core::CV_64F,
        1,
        1.0,
        0.0,
        core::BORDER_DEFAULT,
    )
    .expect("laplacian");
    let (mut mean, mut sd) = (Scalar::default(), Scalar::default());
    core::mean_std_dev(&lap, &mut mean, &mut sd, &core::no_array()).expect("mean/stddev");
    let sharpness = sd[0] * sd[0];
    let brightness = core::mean(&roi, &core::no_array()).expect("mean")[0];
    let total = (roi.rows() * roi.cols()) as f64;
    let count = |lo: f64, hi: f64| {
        let mut mask = Mat::default();
        core::in_range(&roi, &Scalar::all(lo), &Scalar::all(hi), &mut mask).expect("in_range");
        core::count_non_zero(&mask).expect("count") as f64
    };
    let clipped = (count(0.0, 5.0) + count(250.0, 255.0)) / total;
    FaceQuality {
        face_px: face.min_side().max(0) as u32,
        sharpness,
        brightness,
        clipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> FaceQuality {
        FaceQuality {
            face_px: 200,
            sharpness: 300.0,
            brightness: 120.0,
            clipped: 0.01,
        }
    }

    #[test]
    fn each_gate_gives_its_reason() {
        let p = EnrollmentPolicy::default();
        assert_eq!(judge(&good(), &p), Ok(()));
        let code = |q: FaceQuality| judge(&q, &p).unwrap_err().code();
        assert_eq!(
            code(FaceQuality {
                face_px: 40,
                sharpness: 1.0,
                ..good()
            }),
            "face_too_small"
        );
        assert_eq!(
            code(FaceQuality {
                sharpness: 5.0,
                ..good()
            }),
            "blurry"
        );
        assert_eq!(
            code(FaceQuality {
                brightness: 20.0,
                ..good()
            }),
            "too_dark"
        );
        assert_eq!(
            code(FaceQuality {
                brightness: 240.0,
                ..good()
            }),
            "too_bright"
        );
        assert_eq!(
            code(FaceQuality {
                clipped: 0.5,
                ..good()
            }),
            "too_bright"
        );
    }

    #[test]
    fn face_count_gate() {
        let f = FaceBox {
            left: 0,
            top: 0,
            right: 10,
            bottom: 10,
        };
        assert_eq!(one_face(&[]), Err(QualityIssue::NoFace));
        assert_eq!(one_face(&[f]), Ok(f));
        let err = one_face(&[f, f]).unwrap_err();
        assert_eq!(err, QualityIssue::MultipleFaces { count: 2 });
        assert!(err.to_string().contains("2 faces"));
    }
}
