//! One worker's face pipeline: frame → detection → (quality gates) → landmarks → embedding
//! → decision. Holds dlib networks that are `Send` but not `Sync`: one engine per thread.

use std::sync::Once;

use dlib_face_recognition::{FaceDetectorCnn, FaceEncoderNetwork, ImageMatrix, LandmarkPredictor};
use serde::{Deserialize, Serialize};

use crate::detect::{self, DetectPolicy, Detection, Detector, FaceBox};
use crate::embed::{Embedder, Embedding};
use crate::frame::Frame;
use crate::models::{ModelError, ModelSet};
use crate::quality::{self, EnrollmentPolicy, FaceQuality, QualityIssue};
use crate::verify::{self, Verification};

/// Knobs of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Larger images are shrunk so their longer side is this many pixels before detection
    /// (press photos of 4000+ px would otherwise cost seconds).
    pub max_side: u32,
    /// Detector stages.
    pub detect: DetectPolicy,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_side: 1280,
            detect: DetectPolicy::default(),
        }
    }
}

/// A successful enrollment.
#[derive(Clone, Debug, PartialEq)]
pub struct Enrollment {
    /// The (jittered) embedding: biometric data.
    pub embedding: Embedding,
    /// Where the face is, in the original photo's pixels.
    pub face: FaceBox,
    /// The measurements that passed the gates.
    pub quality: FaceQuality,
}

/// The face nearest the centre of an image and its embedding.
#[derive(Clone, Debug, PartialEq)]
pub struct CentralFace {
    /// The embedding.
    pub embedding: Embedding,
    /// Faces found in the image.
    pub faces: usize,
    /// Detector stage that found them.
    pub stage: detect::Stage,
}

extern "C" {
    // From libopenblas (linked through dlib-face-recognition's `openblas` feature).
    fn openblas_set_num_threads(num_threads: std::os::raw::c_int);
}

static BLAS_SINGLE_THREAD: Once = Once::new();

/// Makes OpenBLAS single-threaded: parallelism comes from the worker pool, and BLAS
/// threads on top of it only contend for the same cores. The environment variable
/// `OPENBLAS_NUM_THREADS` is read when the library loads, too late to set from here.
pub fn single_threaded_blas() {
    // SAFETY: a plain setter with no preconditions.
    BLAS_SINGLE_THREAD.call_once(|| unsafe { openblas_set_num_threads(1) });
}

/// dlib's copy of a frame.
fn matrix(frame: &Frame) -> ImageMatrix {
    let rgb = frame.to_rgb_bytes();
    // SAFETY: `rgb` holds exactly width × height × 3 bytes (packed RGB) and outlives the
    // call, which copies them.
    unsafe {
        ImageMatrix::new(
            frame.width() as usize,
            frame.height() as usize,
            rgb.as_ptr(),
        )
    }
}

/// The loaded models of one worker.
pub struct Engine {
    detector: Detector,
    embedder: Embedder,
    config: EngineConfig,
}

fn load_err(path: &std::path::Path) -> impl FnOnce(String) -> ModelError + '_ {
    move |reason| ModelError::Load {
        path: path.to_path_buf(),
        reason,
    }
}

impl Engine {
    /// Loads the (already verified) models.
    pub fn load(models: &ModelSet, config: EngineConfig) -> Result<Self, ModelError> {
        single_threaded_blas();
        let cnn =
            FaceDetectorCnn::open(&models.cnn_detector).map_err(load_err(&models.cnn_detector))?;
        let landmarks =
            LandmarkPredictor::open(&models.landmarks).map_err(load_err(&models.landmarks))?;
        let net = FaceEncoderNetwork::open(&models.resnet).map_err(load_err(&models.resnet))?;
        Ok(Self {
            detector: Detector::new(cnn, config.detect),
            embedder: Embedder::new(landmarks, net),
            config,
        })
    }

    /// Detects faces; boxes are in `frame`'s pixels. Returns the working image too.
    fn analyse(&self, frame: &Frame) -> (ImageMatrix, f64, Detection) {
        let (work, scale) = frame.fit_within(self.config.max_side);
        let img = matrix(&work);
        let det = self.detector.detect(&img, work.width(), work.height());
        (img, scale, det)
    }

    /// The faces in `frame`.
    pub fn detect(&self, frame: &Frame) -> Detection {
        let (_, scale, mut det) = self.analyse(frame);
        det.faces = det.faces.iter().map(|f| f.scaled(1.0 / scale)).collect();
        det
    }

    /// Verifies a camera frame against an enrollment embedding.
    pub fn verify(&self, frame: &Frame, enrolled: &Embedding, threshold: f64) -> Verification {
        let (img, _, det) = self.analyse(frame);
        let distance = match det.faces.as_slice() {
            [face] => Some(self.embedder.embed(&img, face, 0).distance(enrolled)),
            _ => None,
        };
        verify::decide(det.faces.len(), distance, threshold)
    }

    /// Enrolls from a one-inch photo: gates, then a jittered embedding.
    pub fn enroll(
        &self,
        photo: &Frame,
        policy: &EnrollmentPolicy,
    ) -> Result<Enrollment, QualityIssue> {
        let (img, scale, det) = self.analyse(photo);
        let work_face = quality::one_face(&det.faces)?;
        let face = work_face.scaled(1.0 / scale);
        let q = quality::measure(photo, &face);
        quality::judge(&q, policy)?;
        Ok(Enrollment {
            embedding: self.embedder.embed(&img, &work_face, policy.jitter),
            face,
            quality: q,
        })
    }

    /// The embedding of the face nearest the centre (for labelled pairs such as LFW),
    /// computed with `jitter` copies; `None` when no face is found.
    pub fn central_face(&self, frame: &Frame, jitter: u32) -> Option<CentralFace> {
        let (work, _) = frame.fit_within(self.config.max_side);
        let (w, h) = (work.width(), work.height());
        let img = matrix(&work);
        // A face at the edge (a bystander) does not stop the search for the centred one.
        let det = self
            .detector
            .detect_until(&img, w, h, |f| detect::has_central(f, w, h));
        let face = detect::nearest_center(&det.faces, w, h)?;
        Some(CentralFace {
            embedding: self.embedder.embed(&img, &face, jitter),
            faces: det.faces.len(),
            stage: det.stage,
        })
    }
}
