//! Configuration of attendance, exams, plans, eligibility, certificates and subsidy
//! (`[attendance]` in the TOML file). Thresholds differ between provinces.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[attendance]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttendanceConfig {
    /// Events the ingest channel holds before senders wait.
    pub channel_capacity: usize,
    /// Most events written in one transaction.
    pub max_batch: usize,
    /// Longest an event waits before its batch is written (at most 1000: a crash may lose
    /// only the last second).
    pub flush_ms: u64,
    /// Certificate thresholds.
    pub thresholds: Thresholds,
    /// Exam defaults for classes that set none.
    pub exam: ExamDefaults,
    /// Largest business-plan upload, bytes.
    pub plan_max_bytes: usize,
    /// Subsidy per certified trainee, CNY.
    pub subsidy: SubsidyStandard,
    /// Font for the certificate PDF (TrueType or a collection; Debian `fonts-wqy-microhei`).
    pub certificate_font: PathBuf,
    /// Face index inside a font collection.
    pub certificate_font_index: u32,
}

/// Eligibility thresholds.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Watch time as a percentage of live time (inclusive).
    pub watch_percent: f64,
    /// Attendance rate, percent (inclusive).
    pub attendance_percent: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            watch_percent: 80.0,
            attendance_percent: 80.0,
        }
    }
}

/// Exam defaults.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExamDefaults {
    /// Pass mark out of 100.
    pub pass_mark: u32,
    /// Time allowed per attempt, seconds.
    pub time_limit_secs: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Answers arriving this long after the deadline are still accepted (network delay).
    pub grace_secs: u32,
}

impl Default for ExamDefaults {
    fn default() -> Self {
        Self {
            pass_mark: 60,
            time_limit_secs: 60 * 60,
            max_attempts: 2,
            grace_secs: 5,
        }
    }
}

/// Subsidy standard per certified trainee.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubsidyStandard {
    /// 创业意识培训 (GYB), CNY.
    pub gyb_cny: u32,
    /// 创办/改善企业培训 (SYB), CNY.
    pub syb_cny: u32,
}

impl Default for SubsidyStandard {
    fn default() -> Self {
        Self {
            gyb_cny: 200,
            syb_cny: 1000,
        }
    }
}

impl Default for AttendanceConfig {
    fn default() -> Self {
        Self {
            channel_capacity: 65_536,
            max_batch: 20_000,
            flush_ms: 250,
            thresholds: Thresholds::default(),
            exam: ExamDefaults::default(),
            plan_max_bytes: 10 * 1024 * 1024,
            subsidy: SubsidyStandard::default(),
            certificate_font: PathBuf::from("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
            certificate_font_index: 0,
        }
    }
}
