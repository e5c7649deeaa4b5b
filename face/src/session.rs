//! The thin async shell around the sampler for one live session: sleeps until a check is
//! due, grabs a frame from a [`FrameSource`] (the media crate's frame tap in production,
//! image files in tests), verifies it on the worker pool, feeds the result back to the
//! sampler and the static guard, and emits typed [`FaceEvent`]s for attendance to persist.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::embed::Embedding;
use crate::frame::Frame;
use crate::pool::{FacePool, Sample};
use crate::sampler::{CheckEvent, Due, Ms, Sampler, StudentId};
use crate::static_guard::{StaticGuard, StaticGuardConfig, SuspectStatic};
use crate::verify::Outcome;

/// What a frame source has for a student right now.
pub enum Grab {
    /// The latest decoded frame of the student's camera.
    Frame(Frame),
    /// The student is present but sends no video.
    CameraOff,
    /// The student is not in the room.
    Absent,
}

/// Enrollment embeddings by student.
pub type Enrolled = Arc<std::sync::RwLock<HashMap<StudentId, Embedding>>>;

/// A frame on its way (the media crate's tap waits for the next keyframe).
pub type GrabFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Grab> + Send>>;

/// Where frames come from: called when a check is due. The future should resolve within
/// a few seconds (the tap has its own timeout); checks of other students go on meanwhile.
pub trait FrameSource: Send + Sync {
    /// The student's next frame.
    fn grab(&self, student: StudentId) -> GrabFuture;
}

/// How one attempt ended.
enum Attempt {
    /// Decided without a frame (camera off, absent).
    Decided(Outcome),
    /// A frame was verified (or the worker failed).
    Sampled(Result<Sample, crate::pool::PoolError>),
}

/// Everything the face checks produce.
#[derive(Clone, Debug, PartialEq)]
pub enum FaceEvent {
    /// A scheduled check is decided (after its retries).
    Check(CheckEvent),
    /// Two consecutive samples of a student were near-identical.
    SuspectStatic(SuspectStatic),
    /// A `mismatch` frame, to be stored encrypted as evidence.
    Evidence {
        /// Who was expected.
        student: StudentId,
        /// When.
        at: Ms,
        /// Distance to the enrollment.
        distance: Option<f64>,
        /// The frame, JPEG.
        jpeg: Vec<u8>,
    },
}

/// A session's inputs.
pub struct SessionInputs {
    /// The schedule (students already added).
    pub sampler: Sampler,
    /// Enrollment embeddings by student.
    /// Enrollment embeddings by student, shared with the owner, who may add students who
    /// enroll during the session (read at each check).
    pub enrolled: Enrolled,
    /// Match threshold.
    pub threshold: f64,
    /// Static-image guard settings.
    pub static_guard: StaticGuardConfig,
}

/// Runs the session until every check is decided, sending events to `events`. `now`
/// is the clock (unix ms).
pub async fn run(
    inputs: SessionInputs,
    source: Arc<dyn FrameSource>,
    pool: FacePool,
    now: impl Fn() -> Ms,
    events: mpsc::UnboundedSender<FaceEvent>,
) {
    let SessionInputs {
        mut sampler,
        enrolled,
        threshold,
        static_guard,
    } = inputs;
    let mut guard = StaticGuard::new(static_guard);
    let mut running: JoinSet<(Due, Ms, Attempt)> = JoinSet::new();
    loop {
        let t = now();
        for due in sampler.poll_due(t) {
            let emb = enrolled
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&due.student)
                .copied();
            let grab = source.grab(due.student);
            let pool = pool.clone();
            running.spawn(async move {
                let attempt = match (grab.await, emb) {
                    (Grab::Frame(frame), Some(emb)) => {
                        Attempt::Sampled(pool.sample(frame, emb, threshold).await)
                    }
                    // Not enrolled: nothing to compare with; counts as not verified.
                    (Grab::Frame(_), None) => Attempt::Decided(Outcome::Mismatch),
                    (Grab::CameraOff, _) => Attempt::Decided(Outcome::CameraOff),
                    (Grab::Absent, _) => Attempt::Decided(Outcome::Absent),
                };
                (due, t, attempt)
            });
        }
        while let Some(e) = sampler.poll_event() {
            let _ = events.send(FaceEvent::Check(e));
        }
        if sampler.is_done() && running.is_empty() {
            return;
        }
        let sleep = sampler
            .poll_timeout()
            .map(|at| Duration::from_millis((at - now()).max(0) as u64));
        tokio::select! {
            Some(done) = running.join_next(), if !running.is_empty() => {
                let Ok((due, taken_at, attempt)) = done else { continue };
                let t = now();
                match attempt {
                    Attempt::Decided(outcome) => sampler.handle_result(t, due, outcome, None),
                    Attempt::Sampled(Ok(sample)) => {
                        if let Some(flag) = guard.observe(due.student, taken_at, sample.thumbnail) {
                            let _ = events.send(FaceEvent::SuspectStatic(flag));
                        }
                        if let Some(jpeg) = sample.evidence_jpeg {
                            let _ = events.send(FaceEvent::Evidence {
                                student: due.student,
                                at: taken_at,
                                distance: sample.verification.distance,
                                jpeg,
                            });
                        }
                        sampler.handle_result(t, due, sample.verification.outcome, sample.verification.distance);
                    }
                    Attempt::Sampled(Err(e)) => {
                        tracing::warn!(student = due.student, error = %e, "face sample failed");
                        sampler.handle_result(t, due, Outcome::NoFace, None);
                    }
                }
            }
            _ = async {
                match sleep {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
    }
}
