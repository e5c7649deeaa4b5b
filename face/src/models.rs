//! The dlib model files: which ones, where they are, and proof that they are the pinned
//! bytes (size, then sha256) before dlib deserialises them. A missing or damaged file is
//! one clear start-up error that names the file and says how to fix it.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// One pinned model file (from PyPI `face_recognition_models==0.3.0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelFile {
    /// File name inside the model folder.
    pub name: &'static str,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex sha256.
    pub sha256: &'static str,
}

/// dlib's 5-point landmark predictor (eyes' corners, nose), used for alignment.
pub const LANDMARKS_5: ModelFile = ModelFile {
    name: "shape_predictor_5_face_landmarks.dat",
    size: 9_150_489,
    sha256: "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
};

/// dlib's ResNet face-embedding network (128-d descriptors).
pub const RESNET: ModelFile = ModelFile {
    name: "dlib_face_recognition_resnet_model_v1.dat",
    size: 22_466_066,
    sha256: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
};

/// dlib's CNN (MMOD) face detector: the fallback for faces the HOG detector misses.
pub const CNN_DETECTOR: ModelFile = ModelFile {
    name: "mmod_human_face_detector.dat",
    size: 729_940,
    sha256: "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
};

/// Every model the pipeline loads.
pub const ALL: [ModelFile; 3] = [LANDMARKS_5, RESNET, CNN_DETECTOR];

/// Why the models cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    /// The file is not there.
    #[error("face model {path} is missing; run scripts/setup.sh (or set face.models_dir / KETANG_MODELS)")]
    Missing {
        /// The expected path.
        path: PathBuf,
    },
    /// The file cannot be read.
    #[error("face model {path} cannot be read: {reason}")]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The file is not the pinned one (truncated download, wrong version, tampering).
    #[error("face model {path} is corrupt ({what}); delete it and run scripts/setup.sh")]
    Corrupt {
        /// The path.
        path: PathBuf,
        /// What differs.
        what: String,
    },
    /// dlib refused the file even though it matched (should not happen).
    #[error("face model {path} could not be loaded by dlib: {reason}")]
    Load {
        /// The path.
        path: PathBuf,
        /// dlib's message.
        reason: String,
    },
}

/// The paths of a checked model set: only [`ModelSet::verify`] makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSet {
    /// 5-point landmarks.
    pub landmarks: PathBuf,
    /// ResNet embedding network.
    pub resnet: PathBuf,
    /// CNN face detector.
    pub cnn_detector: PathBuf,
}

impl ModelSet {
    /// Checks every model in `dir` (size, then sha256) and returns their paths.
    pub fn verify(dir: &Path) -> Result<Self, ModelError> {
        for m in ALL {
            check(&dir.join(m.name), &m)?;
        }
        Ok(Self {
            landmarks: dir.join(LANDMARKS_5.name),
            resnet: dir.join(RESNET.name),
            cnn_detector: dir.join(CNN_DETECTOR.name),
        })
    }
}

/// Checks one file against its pin.
pub fn check(path: &Path, model: &ModelFile) -> Result<(), ModelError> {
    let unreadable = |e: std::io::Error| ModelError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ModelError::Missing {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(unreadable(e)),
    };
    // The size first: a truncated file is reported without hashing 20 MB.
    if meta.len() != model.size {
        return Err(ModelError::Corrupt {
            path: path.to_path_buf(),
            what: format!("{} bytes, expected {}", meta.len(), model.size),
        });
    }
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(unreadable)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let got = hex_lower(&hasher.finalize());
    if got != model.sha256 {
        return Err(ModelError::Corrupt {
            path: path.to_path_buf(),
            what: format!("sha256 {got}, expected {}", model.sha256),
        });
    }
    Ok(())
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_truncated_and_altered_files_are_named() {
        let dir = std::env::temp_dir().join(format!("ketang-models-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tiny = ModelFile {
            name: "tiny.dat",
            size: 3,
            // sha256("abc")
            sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        };
        let path = dir.join(tiny.name);
        let _ = std::fs::remove_file(&path);
        let err = check(&path, &tiny).unwrap_err();
        assert!(matches!(err, ModelError::Missing { .. }));
        assert!(err.to_string().contains("tiny.dat"), "{err}");

        std::fs::write(&path, b"ab").unwrap();
        let err = check(&path, &tiny).unwrap_err();
        assert!(err.to_string().contains("2 bytes, expected 3"), "{err}");

        std::fs::write(&path, b"abd").unwrap();
        let err = check(&path, &tiny).unwrap_err();
        assert!(
            err.to_string().contains("tiny.dat") && err.to_string().contains("sha256"),
            "{err}"
        );

        std::fs::write(&path, b"abc").unwrap();
        check(&path, &tiny).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_model_folder_without_models_fails_on_the_first_file() {
        let err = ModelSet::verify(Path::new("/nonexistent/models")).unwrap_err();
        assert_eq!(
            err,
            ModelError::Missing {
                path: PathBuf::from("/nonexistent/models").join(LANDMARKS_5.name)
            }
        );
    }
}
