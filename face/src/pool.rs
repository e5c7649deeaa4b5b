//! A bounded pool of blocking worker threads, each with its own dlib networks (they are
//! `Send`, not `Sync`). Jobs wait in an unbounded FIFO queue: when every worker is busy,
//! checks are delayed, never dropped. A job that panics fails alone; its worker goes on.
//! Queue depth and latencies are Prometheus metrics.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntGauge, Registry};
use tokio::sync::oneshot;

use crate::embed::Embedding;
use crate::engine::{Engine, EngineConfig, Enrollment};
use crate::frame::Frame;
use crate::image::ImageError;
use crate::models::{ModelError, ModelSet};
use crate::quality::{EnrollmentPolicy, QualityIssue};
use crate::static_guard::Thumbnail;
use crate::verify::{Outcome, Verification};

type Job = Box<dyn FnOnce(&Engine) + Send>;

/// A job that did not produce a result.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    /// The job panicked (its worker survives).
    #[error("face job failed: {0}")]
    Panicked(String),
    /// The pool was shut down.
    #[error("the face worker pool is shut down")]
    Closed,
}

/// Why an enrollment photo was not accepted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EnrollError {
    /// Not a usable image file.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A quality gate refused it.
    #[error(transparent)]
    Quality(#[from] QualityIssue),
    /// The worker failed.
    #[error(transparent)]
    Pool(#[from] PoolError),
}

/// Why a frame could not be verified.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VerifyError {
    /// Not a usable image.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The worker failed.
    #[error(transparent)]
    Pool(#[from] PoolError),
}

/// A verified sample with what the static guard and the evidence store need.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The decision.
    pub verification: Verification,
    /// Grey thumbnail for the static-image guard.
    pub thumbnail: Thumbnail,
    /// The frame as JPEG, kept only for a `mismatch` (evidence for review).
    pub evidence_jpeg: Option<Vec<u8>>,
}

#[derive(Clone)]
struct PoolMetrics {
    depth: IntGauge,
    wait: Histogram,
    run: HistogramVec,
}

impl PoolMetrics {
    fn new(registry: &Registry) -> Self {
        let depth =
            IntGauge::new("face_queue_depth", "Face jobs waiting for a worker").expect("metric");
        let buckets = vec![
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ];
        let wait = Histogram::with_opts(
            HistogramOpts::new(
                "face_queue_wait_seconds",
                "Time a face job waited for a worker",
            )
            .buckets(buckets.clone()),
        )
        .expect("metric");
        let run = HistogramVec::new(
            HistogramOpts::new("face_job_seconds", "Time a worker spent on a face job")
                .buckets(buckets),
            &["kind"],
        )
        .expect("metric");
        // A second pool on the same registry (tests) keeps the first one's metrics.
        let _ = registry.register(Box::new(depth.clone()));
        let _ = registry.register(Box::new(wait.clone()));
        let _ = registry.register(Box::new(run.clone()));
        Self { depth, wait, run }
    }
}

/// Pool settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoolConfig {
    /// Worker threads (each holds ~100 MB of networks).
    pub workers: usize,
    /// Pixel limit for decoding.
    pub max_pixels: u64,
    /// Pipeline settings.
    pub engine: EngineConfig,
}

/// Handle to the pool; clones share it. Workers stop when the last handle is dropped.
#[derive(Clone)]
pub struct FacePool {
    tx: mpsc::Sender<Job>,
    metrics: PoolMetrics,
    max_pixels: u64,
}

impl std::fmt::Debug for FacePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FacePool")
            .field("queue_depth", &self.queue_depth())
            .finish_non_exhaustive()
    }
}

impl FacePool {
    /// Starts `cfg.workers` threads, each loading the models; returns once all have loaded
    /// (or with the first loading error).
    pub fn start(
        models: &ModelSet,
        cfg: PoolConfig,
        registry: &Registry,
    ) -> Result<Self, ModelError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let (ready_tx, ready_rx) = mpsc::channel();
        let workers = cfg.workers.max(1);
        for i in 0..workers {
            let rx = Arc::clone(&rx);
            let ready = ready_tx.clone();
            let models = models.clone();
            std::thread::Builder::new()
                .name(format!("face-worker-{i}"))
                .spawn(move || {
                    let engine = match Engine::load(&models, cfg.engine) {
                        Ok(e) => {
                            let _ = ready.send(Ok(()));
                            e
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            return;
                        }
                    };
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(&engine),
                            Err(_) => break, // every handle dropped
                        }
                    }
                })
                .expect("spawn face worker");
        }
        drop(ready_tx);
        for _ in 0..workers {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(ModelError::Load {
                        path: models.resnet.clone(),
                        reason: "a face worker exited while loading".into(),
                    })
                }
            }
        }
        tracing::info!(workers, "face workers ready");
        Ok(Self {
            tx,
            metrics: PoolMetrics::new(registry),
            max_pixels: cfg.max_pixels,
        })
    }

    /// Runs `f` on a worker and waits for it (queueing if all are busy).
    pub async fn run<R: Send + 'static>(
        &self,
        kind: &'static str,
        f: impl FnOnce(&Engine) -> R + Send + 'static,
    ) -> Result<R, PoolError> {
        let (tx, rx) = oneshot::channel();
        let m = self.metrics.clone();
        let queued = Instant::now();
        m.depth.inc();
        let job: Job = Box::new(move |engine| {
            m.depth.dec();
            m.wait.observe(queued.elapsed().as_secs_f64());
            let started = Instant::now();
            let result = catch_unwind(AssertUnwindSafe(|| f(engine))).map_err(|p| {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                tracing::error!(kind, error = %msg, "face job panicked");
                PoolError::Panicked(msg)
            });
            m.run
                .with_label_values(&[kind])
                .observe(started.elapsed().as_secs_f64());
            let _ = tx.send(result);
        });
        if self.tx.send(job).is_err() {
            self.metrics.depth.dec();
            return Err(PoolError::Closed);
        }
        rx.await.map_err(|_| PoolError::Closed)?
    }

    /// Jobs waiting for a worker now.
    pub fn queue_depth(&self) -> i64 {
        self.metrics.depth.get()
    }

    /// Enrolls from the bytes of a one-inch photo.
    pub async fn enroll(
        &self,
        photo: Vec<u8>,
        policy: EnrollmentPolicy,
    ) -> Result<Enrollment, EnrollError> {
        let max = self.max_pixels;
        self.run("enroll", move |engine| {
            let frame = Frame::decode(&photo, max)?;
            Ok(engine.enroll(&frame, &policy)?)
        })
        .await?
    }

    /// Verifies an encoded image against an enrollment.
    pub async fn verify_image(
        &self,
        image: Vec<u8>,
        enrolled: Embedding,
        threshold: f64,
    ) -> Result<Verification, VerifyError> {
        let max = self.max_pixels;
        self.run("verify", move |engine| {
            let frame = Frame::decode(&image, max)?;
            Ok(engine.verify(&frame, &enrolled, threshold))
        })
        .await?
    }

    /// Verifies a decoded camera frame and prepares what the guard and evidence need.
    pub async fn sample(
        &self,
        frame: Frame,
        enrolled: Embedding,
        threshold: f64,
    ) -> Result<Sample, PoolError> {
        self.run("sample", move |engine| {
            let verification = engine.verify(&frame, &enrolled, threshold);
            Sample {
                thumbnail: Thumbnail::of(&frame),
                evidence_jpeg: (verification.outcome == Outcome::Mismatch)
                    .then(|| frame.to_jpeg(85)),
                verification,
            }
        })
        .await
    }
}
