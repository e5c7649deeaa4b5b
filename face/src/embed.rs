//! Face embeddings: dlib's ResNet maps an aligned 150×150 face chip to a 128-d vector;
//! two photos of one person lie close (Euclidean distance ≈ 0.2–0.45), different people
//! far apart (≈ 0.7+). An embedding is biometric data: store it only encrypted.

use std::sync::Mutex;

use dlib_face_recognition::{
    FaceEncoderNetwork, FaceEncoderTrait, FaceLandmarks, ImageMatrix, LandmarkPredictor,
    LandmarkPredictorTrait,
};

use crate::detect::FaceBox;

/// Length of an embedding.
pub const DIM: usize = 128;
/// Length of [`Embedding::to_bytes`].
pub const BYTES: usize = DIM * 4;

/// A 128-d face descriptor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Embedding(pub [f32; DIM]);

/// Stored bytes that are not an embedding.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a face embedding is {BYTES} bytes, got {0}")]
pub struct BadEmbedding(pub usize);

impl Embedding {
    /// Euclidean distance.
    pub fn distance(&self, other: &Embedding) -> f64 {
        self.0
            .iter()
            .zip(other.0.iter())
            .map(|(a, b)| {
                let d = (*a - *b) as f64;
                d * d
            })
            .sum::<f64>()
            .sqrt()
    }

    /// Little-endian f32s, for (encrypted) storage.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Reads what [`Embedding::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BadEmbedding> {
        if bytes.len() != BYTES {
            return Err(BadEmbedding(bytes.len()));
        }
        let mut v = [0f32; DIM];
        for (i, c) in bytes.chunks_exact(4).enumerate() {
            v[i] = f32::from_le_bytes(c.try_into().expect("4 bytes"));
        }
        Ok(Self(v))
    }
}

/// dlib's jitter uses one process-wide random generator that is not thread-safe, so
/// jittered embeddings (enrollment only) are computed one at a time.
static JITTER: Mutex<()> = Mutex::new(());

/// Landmarks + ResNet: one instance per worker thread (the network is `Send`, not `Sync`).
pub struct Embedder {
    landmarks: LandmarkPredictor,
    net: FaceEncoderNetwork,
}

impl Embedder {
    /// Wraps loaded models.
    pub fn new(landmarks: LandmarkPredictor, net: FaceEncoderNetwork) -> Self {
        Self { landmarks, net }
    }

    /// 5-point landmarks of the face in `rect`.
    pub fn landmarks(&self, img: &ImageMatrix, rect: &FaceBox) -> FaceLandmarks {
        self.landmarks.face_landmarks(img, &rect.to_dlib())
    }

    /// The embedding of the face in `rect`: aligned on its landmarks, then averaged over
    /// `jitter` randomly perturbed copies (0 or 1: a single pass).
    pub fn embed(&self, img: &ImageMatrix, rect: &FaceBox, jitter: u32) -> Embedding {
        let lm = self.landmarks(img, rect);
        let encodings = if jitter > 1 {
            let _guard = JITTER.lock().unwrap_or_else(|p| p.into_inner());
            self.net.get_face_encodings(img, &[lm], jitter)
        } else {
            self.net.get_face_encodings(img, &[lm], 0)
        };
        let values: &[f64] = encodings
            .first()
            .expect("one encoding per landmark set")
            .as_ref();
        let mut v = [0f32; DIM];
        for (o, x) in v.iter_mut().zip(values) {
            *o = *x as f32;
        }
        Embedding(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bytes_round_trip_and_distance_is_a_metric(
            a in proptest::collection::vec(-1f32..1.0, DIM),
            b in proptest::collection::vec(-1f32..1.0, DIM),
        ) {
            let a = Embedding(a.try_into().unwrap());
            let b = Embedding(b.try_into().unwrap());
            prop_assert_eq!(Embedding::from_bytes(&a.to_bytes()).unwrap(), a);
            prop_assert_eq!(a.distance(&a), 0.0);
            prop_assert!((a.distance(&b) - b.distance(&a)).abs() < 1e-12);
            prop_assert!(a.distance(&b) >= 0.0);
        }
    }

    #[test]
    fn wrong_length_is_refused() {
        assert_eq!(Embedding::from_bytes(&[0; 100]), Err(BadEmbedding(100)));
    }
}
