//! The 1:1 verification decision: a frame with exactly one face whose embedding lies within
//! the threshold of the enrollment embedding is a `match`. Pure.

use serde::{Deserialize, Serialize};

/// Distance threshold chosen on the development sets (see benches/RESULTS.md, "Face").
pub const DEFAULT_THRESHOLD: f64 = 0.62;

/// Outcome of one face check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// One face, the enrolled student.
    Match,
    /// One face, someone else.
    Mismatch,
    /// No face in the frame.
    NoFace,
    /// More than one face in the frame.
    MultipleFaces,
    /// The student's camera sent no video (decided by the caller).
    CameraOff,
    /// The student was not in the room (decided by the caller).
    Absent,
}

impl Outcome {
    /// Name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Match => "match",
            Outcome::Mismatch => "mismatch",
            Outcome::NoFace => "no_face",
            Outcome::MultipleFaces => "multiple_faces",
            Outcome::CameraOff => "camera_off",
            Outcome::Absent => "absent",
        }
    }
}

/// Result of verifying one frame.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// The outcome.
    pub outcome: Outcome,
    /// Distance to the enrollment embedding (when exactly one face was found).
    pub distance: Option<f64>,
    /// Faces found.
    pub faces: usize,
}

/// Decides from the number of faces and, for one face, its distance to the enrollment.
pub fn decide(faces: usize, distance: Option<f64>, threshold: f64) -> Verification {
    let outcome = match (faces, distance) {
        (0, _) => Outcome::NoFace,
        (1, Some(d)) if d <= threshold => Outcome::Match,
        (1, _) => Outcome::Mismatch,
        _ => Outcome::MultipleFaces,
    };
    Verification {
        outcome,
        distance: if faces == 1 { distance } else { None },
        faces,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn outcomes() {
        assert_eq!(decide(0, None, 0.5).outcome, Outcome::NoFace);
        assert_eq!(decide(1, Some(0.3), 0.5).outcome, Outcome::Match);
        assert_eq!(decide(1, Some(0.5), 0.5).outcome, Outcome::Match);
        assert_eq!(decide(1, Some(0.51), 0.5).outcome, Outcome::Mismatch);
        assert_eq!(decide(3, Some(0.1), 0.5).outcome, Outcome::MultipleFaces);
        assert_eq!(decide(3, Some(0.1), 0.5).distance, None);
    }

    proptest! {
        #[test]
        fn a_match_needs_exactly_one_face_within_the_threshold(
            faces in 0usize..5, d in 0f64..2.0, t in 0f64..1.5
        ) {
            let v = decide(faces, Some(d), t);
            prop_assert_eq!(v.outcome == Outcome::Match, faces == 1 && d <= t);
            // Raising the threshold never turns a match into a mismatch.
            if v.outcome == Outcome::Match {
                prop_assert_eq!(decide(faces, Some(d), t + 0.1).outcome, Outcome::Match);
            }
        }
    }
}
