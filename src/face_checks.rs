//! Wiring of the face pipeline into the application: enrollment from the stored one-inch
//! photo, persistence of mismatch evidence, the evidence purge job, and the `ketang face`
//! commands.

use std::path::Path;
use std::time::Duration;

use ::face::engine::Engine;
use ::face::eval::{self, EvalOptions};
use ::face::frame::Frame;
use ::face::models::ModelSet;
use ::face::pool::{EnrollError, FacePool, PoolConfig};
use ::face::FaceConfig;
use anyhow::Context;

use crate::crypto::Keyring;
use crate::store::students::{self, PhotoKind};
use crate::store::{face as face_store, now_ms, Store};

/// Checks the models named by the configuration and starts the worker pool: a missing or
/// damaged model file is one start-up error naming the file.
pub fn start_pool(cfg: &FaceConfig, registry: &prometheus::Registry) -> anyhow::Result<FacePool> {
    let models = ModelSet::verify(&cfg.models_dir)?;
    Ok(FacePool::start(
        &models,
        PoolConfig {
            workers: cfg.workers,
            max_pixels: cfg.max_pixels,
            engine: cfg.engine,
        },
        registry,
    )?)
}

/// The face worker pool of a running server: started by `ketang serve` when face checks
/// are enabled (a missing model stops start-up), absent otherwise.
#[derive(Clone, Default)]
pub struct FaceService {
    pool: std::sync::Arc<std::sync::OnceLock<FacePool>>,
}

impl FaceService {
    /// Verifies the models and starts the pool (once; later calls keep the first pool).
    pub fn start(&self, cfg: &FaceConfig, registry: &prometheus::Registry) -> anyhow::Result<()> {
        if self.pool.get().is_some() {
            return Ok(());
        }
        let pool = start_pool(cfg, registry)?;
        let _ = self.pool.set(pool);
        Ok(())
    }

    /// The pool, if face checks run on this server.
    pub fn pool(&self) -> Option<&FacePool> {
        self.pool.get()
    }
}

/// Why a student could not be enrolled.
#[derive(Debug, thiserror::Error)]
pub enum EnrollmentError {
    /// No one-inch photo on file.
    #[error("no one-inch photo is on file for this student")]
    NoPhoto,
    /// The photo was refused (with a reason the student understands).
    #[error(transparent)]
    Refused(#[from] EnrollError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Computes a student's enrollment embedding from their stored one-inch photo and stores
/// it encrypted. Returns the quality measurements.
pub async fn enroll_from_photo(
    store: &Store,
    keys: &Keyring,
    pool: &FacePool,
    policy: ::face::quality::EnrollmentPolicy,
    user_id: i64,
) -> Result<::face::quality::FaceQuality, EnrollmentError> {
    let mut conn = store.conn().await?;
    let (_, photo) = students::get_photo(&mut conn, keys, user_id, PhotoKind::Photo)
        .await?
        .ok_or(EnrollmentError::NoPhoto)?;
    drop(conn);
    let enrollment = pool.enroll(photo, policy).await?;
    let mut conn = store.conn().await?;
    face_store::put_enrollment(
        &mut conn,
        keys,
        user_id,
        &enrollment.embedding,
        &enrollment.quality,
    )
    .await?;
    tracing::info!(
        user_id,
        face_px = enrollment.quality.face_px,
        "face enrolled"
    );
    Ok(enrollment.quality)
}

/// Deletes expired evidence frames once an hour until the task is aborted.
pub async fn purge_evidence_forever(store: Store) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match store.conn().await {
            Ok(mut conn) => match face_store::purge_expired_evidence(&mut conn, now_ms()).await {
                Ok(n) if n > 0 => tracing::info!(purged = n, "expired face evidence deleted"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "face evidence purge failed"),
            },
            Err(e) => tracing::warn!(error = %e, "face evidence purge: no connection"),
        }
    }
}

fn load_engine(cfg: &FaceConfig) -> anyhow::Result<Engine> {
    let models = ModelSet::verify(&cfg.models_dir)?;
    Ok(Engine::load(&models, cfg.engine)?)
}

fn read_frame(path: &Path, max_pixels: u64) -> anyhow::Result<Frame> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Frame::decode(&bytes, max_pixels).with_context(|| format!("{}", path.display()))
}

/// `ketang face verify ENROLL PROBE`: enrollment gates on ENROLL, then PROBE's outcome and
/// distance. Prints one JSON object.
pub fn verify_command(
    cfg: &FaceConfig,
    enroll: &Path,
    probe: &Path,
) -> anyhow::Result<serde_json::Value> {
    let engine = load_engine(cfg)?;
    let enrolled = engine
        .enroll(&read_frame(enroll, cfg.max_pixels)?, &cfg.enrollment)
        .map_err(|issue| {
            anyhow::anyhow!(
                "{}: enrollment refused ({}): {issue}",
                enroll.display(),
                issue.code()
            )
        })?;
    let v = engine.verify(
        &read_frame(probe, cfg.max_pixels)?,
        &enrolled.embedding,
        cfg.threshold,
    );
    Ok(serde_json::json!({
        "outcome": v.outcome,
        "distance": v.distance,
        "faces": v.faces,
        "threshold": cfg.threshold,
    }))
}

/// What `ketang face eval` was asked.
pub struct EvalRequest {
    /// Labelled pairs to judge.
    pub pairs: std::path::PathBuf,
    /// Fixed threshold (default: the configuration's).
    pub threshold: Option<f64>,
    /// Jittered copies on the enrollment side.
    pub jitter: u32,
    /// Worker threads.
    pub workers: usize,
    /// Cross-validate the threshold over this many folds.
    pub folds: Option<usize>,
    /// Choose the threshold on this other set.
    pub choose_on: Option<std::path::PathBuf>,
}

/// `ketang face eval --pairs PAIRS.tsv`: the lines to print; the last one is the summary
/// object `{"pairs","accuracy","far","frr","threshold","no_face","ms_per_pair_p50"}`.
pub fn eval_command(cfg: &FaceConfig, req: &EvalRequest) -> anyhow::Result<Vec<String>> {
    let models = ModelSet::verify(&cfg.models_dir)?;
    let opts = EvalOptions {
        jitter: req.jitter,
        workers: req.workers,
        max_pixels: cfg.max_pixels,
        engine: cfg.engine,
    };
    let run = |path: &Path| -> anyhow::Result<Vec<eval::PairResult>> {
        let pairs = eval::read_pairs(path)?;
        let results = eval::run(&pairs, &models, &opts)?;
        for r in results.iter().filter(|r| r.error.is_some()) {
            eprintln!(
                "{} pair {}: {}",
                path.display(),
                r.index + 2,
                r.error.as_deref().unwrap_or_default()
            );
        }
        Ok(results)
    };
    let mut lines = Vec::new();
    let threshold = match &req.choose_on {
        Some(dev) => {
            let t = eval::best_threshold(&run(dev)?);
            lines.push(serde_json::json!({"threshold_chosen_on": dev, "threshold": t}).to_string());
            t
        }
        None => req.threshold.unwrap_or(cfg.threshold),
    };
    let results = run(&req.pairs)?;
    if let Some(k) = req.folds {
        let cv = eval::cross_validate(&results, k);
        lines.push(serde_json::json!({ "cross_validation": cv }).to_string());
    }
    lines.push(serde_json::to_string(&eval::summarise(
        &results, threshold,
    ))?);
    Ok(lines)
}
