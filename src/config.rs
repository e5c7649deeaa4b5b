//! Server configuration: built-in defaults, then an optional TOML file, then `KETANG_*`
//! environment variables (nested keys with `__`, e.g. `KETANG_AUTH__MAX_FAILURES=3`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::filing::calendar::WorkCalendar;
use crate::filing::rules::FilingLimits;

/// Everything `ketang` reads at start-up.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server binds (127.0.0.1 by default: put a TLS proxy in front).
    pub listen: SocketAddr,
    /// URL people open, printed at start-up; derived from `listen` when unset.
    pub public_url: Option<String>,
    /// Folder for the SQLite file, key files and uploads.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to `sqlite://{data_dir}/ketang.db`.
    pub database_url: Option<String>,
    /// `human` (default) or `json` log lines.
    pub log_format: LogFormat,
    /// Offset of local (civil) time from UTC in hours; dates in the rules are local dates.
    pub timezone_offset_hours: i32,
    /// Limits from the notice (5 working days, 200 students, 20–30 per assistant).
    pub filing: FilingLimits,
    /// Public holidays and make-up working days for the working-day rule.
    pub calendar: WorkCalendar,
    /// Sessions and login throttling.
    pub auth: AuthConfig,
    /// Request body limits.
    pub limits: BodyLimits,
    /// The SFU: bind address and node capacity.
    pub media: media::MediaConfig,
    /// Monthly signed backups.
    pub backup: crate::integrity::schedule::BackupConfig,
    /// Class rooms: presence batching, resume window, flood limits.
    pub rooms: signaling::room::RoomConfig,
    /// Attendance, exams, eligibility thresholds, certificates and subsidy.
    pub attendance: crate::attendance::config::AttendanceConfig,
    /// Face verification: model folder, threshold, workers, gates, sampling.
    pub face: face::FaceConfig,
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Human,
    /// One JSON object per line for log shippers.
    Json,
}

/// Session lifetime and login throttling.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// How long a login token stays valid.
    pub session_ttl_hours: u64,
    /// Failed logins (per account and per client address) before a lockout.
    pub max_failures: u32,
    /// Window in which failures are counted.
    pub failure_window_secs: u64,
    /// How long a lockout lasts.
    pub lockout_secs: u64,
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    pub cookie_secure: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_ttl_hours: 12,
            max_failures: 5,
            failure_window_secs: 15 * 60,
            lockout_secs: 15 * 60,
            cookie_secure: false,
        }
    }
}

/// Request body limits, in bytes.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BodyLimits {
    /// Plain JSON API requests.
    pub json_bytes: usize,
    /// Uploads: registration with photos, roster files, images.
    pub upload_bytes: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            json_bytes: 64 * 1024,
            upload_bytes: 16 * 1024 * 1024,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data_dir: PathBuf::from("data"),
            database_url: None,
            log_format: LogFormat::Human,
            timezone_offset_hours: 8,
            filing: FilingLimits::default(),
            calendar: WorkCalendar::default(),
            auth: AuthConfig::default(),
            limits: BodyLimits::default(),
            media: media::MediaConfig::default(),
            backup: Default::default(),
            rooms: signaling::room::RoomConfig::default(),
            attendance: crate::attendance::config::AttendanceConfig::default(),
            face: face::FaceConfig::default(),
        }
    }
}

/// A configuration that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named file does not exist.
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    /// A value has the wrong type or an unknown key was given.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads defaults ← `file` (if given) ← `KETANG_*` environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Missing(path.to_path_buf()));
            }
            figment = figment.merge(Toml::file(path));
        }
        // KETANG_MODELS (shared with scripts/setup.sh) names the face model folder.
        if let Ok(dir) = std::env::var("KETANG_MODELS") {
            figment = figment.merge(Serialized::default("face.models_dir", dir));
        }
        // Variables the scripts and the CLI use for themselves are not configuration keys.
        figment = figment.merge(
            Env::prefixed("KETANG_")
                .ignore(&["config", "models", "test_images", "cache", "password"])
                .split("__"),
        );
        let cfg: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if !(-12..=14).contains(&cfg.timezone_offset_hours) {
            return Err(ConfigError::Invalid(format!(
                "timezone_offset_hours {} is outside -12..=14",
                cfg.timezone_offset_hours
            )));
        }
        cfg.backup.validate().map_err(ConfigError::Invalid)?;
        Ok(cfg)
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/ketang.db", self.data_dir.display()))
    }

    /// The URL to print for people to open.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}/", self.listen))
    }

    /// Local civil time zone.
    pub fn tz(&self) -> chrono::FixedOffset {
        chrono::FixedOffset::east_opt(self.timezone_offset_hours * 3600)
            .expect("offset validated at load")
    }

    /// Folder holding key files.
    pub fn key_dir(&self) -> PathBuf {
        self.data_dir.join("keys")
    }
}
