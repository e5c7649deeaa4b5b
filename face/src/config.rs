//! The `[face]` section of Ketang's configuration.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::engine::EngineConfig;
use crate::quality::EnrollmentPolicy;
use crate::sampler::SamplerConfig;
use crate::static_guard::StaticGuardConfig;

/// Face verification settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaceConfig {
    /// Run face checks in `ketang serve` (the worker pool and the live-session sampler).
    /// When on, a missing or damaged model file stops start-up with an error naming it.
    pub enabled: bool,
    /// How often `ketang serve` looks for live sessions that need a sampler, seconds.
    pub session_scan_secs: u64,
    /// How long a check waits for a keyframe from the student's camera, seconds.
    pub grab_timeout_secs: u64,
    /// Folder with the dlib model files (`scripts/setup.sh` fills `data/models`;
    /// `KETANG_MODELS` overrides).
    pub models_dir: PathBuf,
    /// Embedding distance at or below which a face matches its enrollment.
    pub threshold: f64,
    /// Worker threads, each with its own networks (~100 MB each).
    pub workers: usize,
    /// Images announcing more pixels than this are refused before decoding.
    pub max_pixels: u64,
    /// Days a `mismatch` evidence frame is kept before the purge job deletes it.
    pub evidence_retention_days: u32,
    /// Detection and image-size settings.
    pub engine: EngineConfig,
    /// Enrollment quality gates.
    pub enrollment: EnrollmentPolicy,
    /// When students are checked.
    pub sampler: SamplerConfig,
    /// Static-image guard.
    pub static_guard: StaticGuardConfig,
}

impl Default for FaceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            session_scan_secs: 15,
            grab_timeout_secs: 4,
            models_dir: PathBuf::from("data/models"),
            threshold: crate::verify::DEFAULT_THRESHOLD,
            workers: 2,
            max_pixels: crate::image::DEFAULT_MAX_PIXELS,
            evidence_retention_days: 90,
            engine: EngineConfig::default(),
            enrollment: EnrollmentPolicy::default(),
            sampler: SamplerConfig::default(),
            static_guard: StaticGuardConfig::default(),
        }
    }
}
