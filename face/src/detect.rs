//! Face detection in stages, cheapest first: dlib's HOG detector on the image; if it finds
//! nothing and the image is small, HOG again on a 2× upsampled copy (HOG's window is
//! ~80 px, so small faces need it); if still nothing, dlib's CNN (MMOD) detector, which
//! also finds small, turned and badly lit faces. The first stage that finds a face wins.

use dlib_face_recognition::{
    FaceDetector, FaceDetectorCnn, FaceDetectorTrait, ImageMatrix, Rectangle,
};
use serde::{Deserialize, Serialize};

/// A face rectangle in image pixels (may reach outside the image a little).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceBox {
    /// Left edge.
    pub left: i64,
    /// Top edge.
    pub top: i64,
    /// Right edge.
    pub right: i64,
    /// Bottom edge.
    pub bottom: i64,
}

impl FaceBox {
    /// Width.
    pub fn width(&self) -> i64 {
        self.right - self.left
    }

    /// Height.
    pub fn height(&self) -> i64 {
        self.bottom - self.top
    }

    /// The shorter side: the face size the quality gate checks.
    pub fn min_side(&self) -> i64 {
        self.width().min(self.height())
    }

    /// Centre point.
    pub fn center(&self) -> (f64, f64) {
        (
            (self.left + self.right) as f64 / 2.0,
            (self.top + self.bottom) as f64 / 2.0,
        )
    }

    /// This box scaled by `s` (to map between image sizes).
    pub fn scaled(&self, s: f64) -> FaceBox {
        let f = |v: i64| (v as f64 * s).round() as i64;
        FaceBox {
            left: f(self.left),
            top: f(self.top),
            right: f(self.right),
            bottom: f(self.bottom),
        }
    }

    pub(crate) fn to_dlib(self) -> Rectangle {
        Rectangle {
            left: self.left as _,
            top: self.top as _,
            right: self.right as _,
            bottom: self.bottom as _,
        }
    }

    // `c_long` is i64 on the Linux targets Ketang runs on; the conversion keeps other
    // targets compiling.
    #[allow(clippy::useless_conversion)]
    fn from_dlib(r: &Rectangle) -> Self {
        FaceBox {
            left: r.left,
            top: r.top,
            right: r.right,
            bottom: r.bottom,
        }
    }
}

/// The face nearest the image centre (how LFW is labelled: the named person is centred).
pub fn nearest_center(faces: &[FaceBox], width: u32, height: u32) -> Option<FaceBox> {
    let (cx, cy) = (width as f64 / 2.0, height as f64 / 2.0);
    faces.iter().copied().min_by(|a, b| {
        let d = |f: &FaceBox| {
            let (x, y) = f.center();
            (x - cx).powi(2) + (y - cy).powi(2)
        };
        d(a).total_cmp(&d(b))
    })
}

/// Whether some face's centre lies in the middle half of the image (both axes).
pub fn has_central(faces: &[FaceBox], width: u32, height: u32) -> bool {
    faces.iter().any(|f| {
        let (x, y) = f.center();
        (x - width as f64 / 2.0).abs() <= width as f64 / 4.0
            && (y - height as f64 / 2.0).abs() <= height as f64 / 4.0
    })
}

/// Which stage found the faces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// HOG at the image's own size.
    Hog,
    /// HOG on a 2× upsampled copy.
    HogUpsampled,
    /// The CNN detector.
    Cnn,
    /// Nothing found by any stage.
    None,
}

/// When the costlier stages run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectPolicy {
    /// Upsample 2× for HOG when the image's shorter side is at most this many pixels.
    pub upsample_max_side: u32,
    /// Run the CNN detector when HOG finds nothing.
    pub cnn_fallback: bool,
}

impl Default for DetectPolicy {
    fn default() -> Self {
        Self {
            upsample_max_side: 600,
            cnn_fallback: true,
        }
    }
}

/// What detection found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    /// The faces, in image pixels.
    pub faces: Vec<FaceBox>,
    /// The stage that found them.
    pub stage: Stage,
}

/// The detectors of one worker (neither is `Sync`).
pub struct Detector {
    hog: FaceDetector,
    cnn: FaceDetectorCnn,
    policy: DetectPolicy,
}

impl Detector {
    /// Wraps a loaded CNN detector.
    pub fn new(cnn: FaceDetectorCnn, policy: DetectPolicy) -> Self {
        Self {
            hog: FaceDetector::new(),
            cnn,
            policy,
        }
    }

    /// Finds faces in `img` (`width × height`): the first stage that finds any.
    pub fn detect(&self, img: &ImageMatrix, width: u32, height: u32) -> Detection {
        self.detect_until(img, width, height, |_| true)
    }

    /// Runs the stages until one finds faces that `accept` takes (e.g. "one of them is
    /// near the centre"); returns that stage's faces, else the last non-empty result.
    pub fn detect_until(
        &self,
        img: &ImageMatrix,
        width: u32,
        height: u32,
        accept: impl Fn(&[FaceBox]) -> bool,
    ) -> Detection {
        let mut fallback = Detection {
            faces: Vec::new(),
            stage: Stage::None,
        };
        let mut consider = |faces: Vec<FaceBox>, stage| -> Option<Detection> {
            if faces.is_empty() {
                return None;
            }
            let d = Detection { faces, stage };
            if accept(&d.faces) {
                return Some(d);
            }
            if fallback.faces.is_empty() {
                fallback = d;
            }
            None
        };
        if let Some(d) = consider(self.boxes(&self.hog, img, 1.0), Stage::Hog) {
            return d;
        }
        let small = width.min(height) <= self.policy.upsample_max_side;
        let up = small.then(|| img.resize(width as usize * 2, height as usize * 2));
        if let Some(up) = &up {
            if let Some(d) = consider(self.boxes(&self.hog, up, 0.5), Stage::HogUpsampled) {
                return d;
            }
        }
        if self.policy.cnn_fallback {
            // The CNN finds faces down to ~40 px; small images get it on the upsampled copy.
            let faces = match &up {
                Some(up) => self.boxes(&self.cnn, up, 0.5),
                None => self.boxes(&self.cnn, img, 1.0),
            };
            if let Some(d) = consider(faces, Stage::Cnn) {
                return d;
            }
        }
        fallback
    }

    fn boxes(&self, d: &dyn FaceDetectorTrait, img: &ImageMatrix, scale: f64) -> Vec<FaceBox> {
        d.face_locations(img)
            .iter()
            .map(|r| FaceBox::from_dlib(r).scaled(scale))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(l: i64, t: i64, r: i64, bo: i64) -> FaceBox {
        FaceBox {
            left: l,
            top: t,
            right: r,
            bottom: bo,
        }
    }

    #[test]
    fn nearest_center_picks_the_middle_face() {
        let faces = [b(0, 0, 50, 50), b(100, 100, 150, 150), b(200, 0, 250, 60)];
        assert_eq!(nearest_center(&faces, 250, 250), Some(faces[1]));
        assert_eq!(nearest_center(&[], 250, 250), None);
    }

    #[test]
    fn scaling_maps_between_sizes() {
        assert_eq!(b(10, 20, 30, 41).scaled(0.5), b(5, 10, 15, 21));
        assert_eq!(b(10, 20, 30, 40).min_side(), 20);
    }
}
