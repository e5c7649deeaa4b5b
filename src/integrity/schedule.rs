//! The monthly backup scheduler run by `ketang serve`. The decision ("is this month's
//! backup due?") is a pure function; the loop around it only sleeps, asks and acts.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{Datelike, NaiveDateTime, Timelike};
use serde::{Deserialize, Serialize};

use super::backup;
use super::signing::SigningKeys;
use crate::config::Config;
use crate::store::Store;

/// When and where monthly backups are made.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Whether `ketang serve` makes the monthly backups.
    pub enabled: bool,
    /// Day of the month (1–28, local time) on or after which the month's backup is made.
    pub day_of_month: u32,
    /// Hour (0–23, local time) on that day from which it is made.
    pub hour: u32,
    /// Folder of the backups (`{data_dir}/backups` when unset); one subfolder per month.
    pub dir: Option<PathBuf>,
    /// How often the scheduler wakes up to check, in seconds.
    pub check_interval_secs: u64,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            day_of_month: 1,
            hour: 2,
            dir: None,
            check_interval_secs: 600,
        }
    }
}

impl BackupConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=28).contains(&self.day_of_month) {
            return Err(format!(
                "backup.day_of_month {} is outside 1..=28",
                self.day_of_month
            ));
        }
        if self.hour > 23 {
            return Err(format!("backup.hour {} is outside 0..=23", self.hour));
        }
        if self.check_interval_secs == 0 {
            return Err("backup.check_interval_secs must be positive".into());
        }
        Ok(())
    }
}

/// Folder of the monthly backups.
pub fn backup_root(config: &Config) -> PathBuf {
    config
        .backup
        .dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("backups"))
}

/// The label of the backup due at local time `now`, or `None` when nothing is due: before
/// the configured day/hour of this month, or when `have(label)` says it exists already.
/// A server that was down on the day catches up when it comes back.
pub fn due(
    now_local: NaiveDateTime,
    cfg: &BackupConfig,
    have: impl Fn(&str) -> bool,
) -> Option<String> {
    let reached = (now_local.day(), now_local.hour()) >= (cfg.day_of_month, cfg.hour);
    let label = backup::month_label(now_local.date());
    (reached && !have(&label)).then_some(label)
}

/// Prometheus metrics of the scheduled backups.
#[derive(Clone)]
pub struct BackupMetrics {
    /// Backups by outcome (`ok`, `error`).
    pub runs: prometheus::IntCounterVec,
    /// Seconds the last successful backup took.
    pub seconds: prometheus::Gauge,
    /// Bytes of the last successful backup.
    pub bytes: prometheus::IntGauge,
    /// Unix time of the last successful backup.
    pub last_success: prometheus::IntGauge,
}

impl BackupMetrics {
    /// Creates the metrics and registers them on `registry`.
    pub fn register(registry: &prometheus::Registry) -> Self {
        let m = Self {
            runs: prometheus::IntCounterVec::new(
                prometheus::Opts::new("backups_total", "Scheduled backups by outcome"),
                &["outcome"],
            )
            .expect("metric"),
            seconds: prometheus::Gauge::new(
                "backup_last_duration_seconds",
                "Duration of the last backup",
            )
            .expect("metric"),
            bytes: prometheus::IntGauge::new("backup_last_bytes", "Size of the last backup")
                .expect("metric"),
            last_success: prometheus::IntGauge::new(
                "backup_last_success_timestamp_seconds",
                "Unix time of the last successful backup",
            )
            .expect("metric"),
        };
        for c in [
            Box::new(m.runs.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.seconds.clone()),
            Box::new(m.bytes.clone()),
            Box::new(m.last_success.clone()),
        ] {
            if let Err(e) = registry.register(c) {
                tracing::warn!(error = %e, "backup metric not registered");
            }
        }
        m
    }
}

/// Runs forever: wakes every `check_interval_secs`, makes the month's backup when due.
pub async fn run(store: Store, config: Config, signing: SigningKeys, metrics: BackupMetrics) {
    let cfg = config.backup.clone();
    let root = backup_root(&config);
    loop {
        let now = chrono::Utc::now().with_timezone(&config.tz()).naive_local();
        let labels: Vec<String> = match store.conn().await {
            Ok(mut c) => sqlx::query_scalar("SELECT label FROM backups")
                .fetch_all(&mut *c)
                .await
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        if let Some(label) = due(now, &cfg, |l| {
            labels.iter().any(|x| x == l) || root.join(l).exists()
        }) {
            let out = root.join(&label);
            match backup::create(
                &store,
                &config.data_dir,
                &out,
                Some(&label),
                &signing,
                (None, "system"),
            )
            .await
            {
                Ok(c) => {
                    metrics.runs.with_label_values(&["ok"]).inc();
                    metrics.seconds.set(c.seconds);
                    metrics.bytes.set(c.bytes as i64);
                    metrics.last_success.set(chrono::Utc::now().timestamp());
                    tracing::info!(label = %c.label, sequence = c.sequence, bytes = c.bytes,
                        seconds = c.seconds, "monthly backup written")
                }
                Err(e) => {
                    metrics.runs.with_label_values(&["error"]).inc();
                    tracing::error!(label = %label, error = %e, "monthly backup failed")
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(cfg.check_interval_secs)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn due_on_the_first_from_two_oclock_once_a_month() {
        let cfg = BackupConfig::default();
        let none = |_: &str| false;
        assert_eq!(due(at("2026-12-01 01:59"), &cfg, none), None);
        assert_eq!(
            due(at("2026-12-01 02:00"), &cfg, none).as_deref(),
            Some("2026-12")
        );
        assert_eq!(due(at("2026-12-01 02:00"), &cfg, |l| l == "2026-12"), None);
        // Missed the day (server down): caught up later in the month.
        assert_eq!(
            due(at("2026-12-17 09:00"), &cfg, |l| l == "2026-11").as_deref(),
            Some("2026-12")
        );
        // Year change.
        assert_eq!(
            due(at("2027-01-01 03:00"), &cfg, |l| l == "2026-12").as_deref(),
            Some("2027-01")
        );
    }

    #[test]
    fn configurable_day_and_validation() {
        let cfg = BackupConfig {
            day_of_month: 15,
            hour: 0,
            ..BackupConfig::default()
        };
        assert_eq!(due(at("2026-12-14 23:59"), &cfg, |_| false), None);
        assert_eq!(
            due(at("2026-12-15 00:00"), &cfg, |_| false).as_deref(),
            Some("2026-12")
        );
        assert!(BackupConfig {
            day_of_month: 31,
            ..cfg.clone()
        }
        .validate()
        .is_err());
        assert!(BackupConfig {
            hour: 24,
            ..cfg.clone()
        }
        .validate()
        .is_err());
        assert!(cfg.validate().is_ok());
    }
}
