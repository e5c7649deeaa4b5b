//! Face checks during live time: for every session of a live class that is running now,
//! one sampler task (random, unpredictable check times per student) fed by the SFU's frame
//! tap; its decided checks go to attendance, mismatch frames are stored encrypted as
//! evidence, and near-identical consecutive samples are flagged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use face::pool::FacePool;
use face::sampler::Sampler;
use face::session::{self, FaceEvent, SessionInputs};
use face::verify::Outcome;
use prometheus::{IntCounterVec, Opts, Registry};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::sfu_frames::SfuFrames;
use super::signals::Signals;
use crate::attendance::events::{AttendanceEvent, ClassSession, FaceOutcome};
use crate::http::AppState;
use crate::store::face::{self as face_store, NewEvidence};
use crate::store::{classes, now_ms, students, StoreResult};

/// Face-round counters.
#[derive(Clone)]
pub struct RoundMetrics {
    checks: IntCounterVec,
    flags: prometheus::IntCounter,
    sessions: prometheus::IntGauge,
}

impl RoundMetrics {
    /// Registers `face_checks_total{outcome}`, `face_suspect_static_total` and
    /// `face_sessions_running`.
    pub fn new(registry: &Registry) -> Self {
        let checks = IntCounterVec::new(
            Opts::new("face_checks_total", "Decided live face checks by outcome"),
            &["outcome"],
        )
        .expect("valid metric");
        let flags = prometheus::IntCounter::new(
            "face_suspect_static_total",
            "Consecutive near-identical samples of a student (a still image fed as camera)",
        )
        .expect("valid metric");
        let sessions = prometheus::IntGauge::new(
            "face_sessions_running",
            "Live sessions with a face sampler running",
        )
        .expect("valid metric");
        let _ = registry.register(Box::new(checks.clone()));
        let _ = registry.register(Box::new(flags.clone()));
        let _ = registry.register(Box::new(sessions.clone()));
        Self {
            checks,
            flags,
            sessions,
        }
    }
}

/// The attendance name of a face outcome.
pub fn outcome(o: Outcome) -> FaceOutcome {
    match o {
        Outcome::Match => FaceOutcome::Match,
        Outcome::Mismatch => FaceOutcome::Mismatch,
        Outcome::NoFace => FaceOutcome::NoFace,
        Outcome::MultipleFaces => FaceOutcome::MultipleFaces,
        Outcome::CameraOff => FaceOutcome::CameraOff,
        Outcome::Absent => FaceOutcome::Absent,
    }
}

/// Looks for running sessions every `face.session_scan_secs` and starts their samplers;
/// does nothing while face checks are not running on this server.
pub async fn run(state: AppState, signals: Arc<Mutex<Signals>>, metrics: RoundMetrics) {
    let mut running: HashMap<i64, JoinHandle<()>> = HashMap::new();
    let scan = Duration::from_secs(state.config.face.session_scan_secs.max(1));
    let mut tick = tokio::time::interval(scan);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        running.retain(|_, h| !h.is_finished());
        metrics.sessions.set(running.len() as i64);
        let Some(pool) = state.face.pool().cloned() else {
            continue;
        };
        let due = match sessions_now(&state, now_ms()).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "face rounds: cannot list live sessions");
                continue;
            }
        };
        for (session, ends_at) in due {
            if running.contains_key(&session.session_id) {
                continue;
            }
            tracing::info!(
                class_id = session.class_id,
                session_id = session.session_id,
                "face sampler started"
            );
            let task = one_session(
                state.clone(),
                pool.clone(),
                session,
                ends_at,
                signals.clone(),
                metrics.clone(),
            );
            running.insert(session.session_id, tokio::spawn(task));
        }
        metrics.sessions.set(running.len() as i64);
    }
}

/// Sessions of live classes under way at `now`, with their end.
async fn sessions_now(state: &AppState, now: i64) -> StoreResult<Vec<(ClassSession, i64)>> {
    let mut conn = state.store.conn().await?;
    let mut out = Vec::new();
    for id in classes::live_ids(&mut conn).await? {
        let Some(class) = classes::get(&mut conn, id).await? else {
            continue;
        };
        for s in &class.sessions {
            let (start, end) = (s.starts_at.timestamp_millis(), s.ends_at.timestamp_millis());
            if start <= now && now < end {
                out.push((
                    ClassSession {
                        class_id: id,
                        session_id: s.id,
                    },
                    end,
                ));
            }
        }
    }
    Ok(out)
}

async fn one_session(
    state: AppState,
    pool: FacePool,
    session: ClassSession,
    ends_at: i64,
    signals: Arc<Mutex<Signals>>,
    metrics: RoundMetrics,
) {
    let cfg = &state.config.face;
    let inputs = match inputs(&state, session, ends_at).await {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, class_id = session.class_id, "face sampler not started");
            return;
        }
    };
    let source = Arc::new(SfuFrames {
        sfu: state.sfu.clone(),
        class_id: session.class_id,
        signals,
        timeout: Duration::from_secs(cfg.grab_timeout_secs.max(1)),
    });
    let enrolled = inputs.enrolled.clone();
    // Students flagged static since their last decided check (told with that check).
    let mut flagged = std::collections::HashSet::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sampler = tokio::spawn(session::run(inputs, source, pool, now_ms, tx));
    // Students who enroll during the session are checked from their next sample on.
    let mut refresh = tokio::time::interval(Duration::from_secs(cfg.session_scan_secs.max(1)));
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => handle(&state, session, ev, &metrics, &mut flagged).await,
                None => break,
            },
            _ = refresh.tick() => {
                match load_enrollments(&state, session.class_id).await {
                    Ok(fresh) => *enrolled.write().unwrap_or_else(|e| e.into_inner()) = fresh,
                    Err(e) => tracing::warn!(error = %e, "face sampler: enrollments not refreshed"),
                }
            }
        }
    }
    let _ = sampler.await;
    tracing::info!(
        class_id = session.class_id,
        session_id = session.session_id,
        "face sampler finished"
    );
}

async fn inputs(
    state: &AppState,
    session: ClassSession,
    ends_at: i64,
) -> StoreResult<SessionInputs> {
    let cfg = &state.config.face;
    let mut conn = state.store.conn().await?;
    // The times must not be guessable: seeded from the OS's generator.
    let seed: u64 = rand::random();
    let mut sampler = Sampler::new(cfg.sampler, now_ms(), ends_at, seed);
    for s in students::list_for_class(&mut conn, session.class_id).await? {
        sampler.add_student(s.user_id);
    }
    drop(conn);
    Ok(SessionInputs {
        sampler,
        enrolled: Arc::new(std::sync::RwLock::new(
            load_enrollments(state, session.class_id).await?,
        )),
        threshold: cfg.threshold,
        static_guard: cfg.static_guard,
    })
}

/// The enrollment embeddings of a class's students.
async fn load_enrollments(
    state: &AppState,
    class_id: i64,
) -> StoreResult<HashMap<i64, face::embed::Embedding>> {
    let mut conn = state.store.conn().await?;
    let mut out = HashMap::new();
    for s in students::list_for_class(&mut conn, class_id).await? {
        if let Some(e) = face_store::get_enrollment(&mut conn, &state.keys, s.user_id).await? {
            out.insert(s.user_id, e);
        }
    }
    Ok(out)
}

async fn handle(
    state: &AppState,
    session: ClassSession,
    ev: FaceEvent,
    metrics: &RoundMetrics,
    flagged: &mut std::collections::HashSet<i64>,
) {
    match ev {
        FaceEvent::Check(c) => {
            let o = outcome(c.outcome);
            metrics.checks.with_label_values(&[o.as_str()]).inc();
            // Live to the student's assistant, the lecturer and regulators in the room.
            state.rooms.report_face_check(
                session.class_id,
                c.student,
                o.as_str(),
                flagged.remove(&c.student),
                c.decided_at,
            );
            let ev = AttendanceEvent::FaceCheck {
                student_id: c.student,
                session,
                scheduled_at: c.scheduled_at,
                outcome: o,
            };
            if state.attendance.sender().send(ev).await.is_err() {
                tracing::error!("attendance ingestion stopped; a face check was not recorded");
            }
        }
        FaceEvent::SuspectStatic(f) => {
            metrics.flags.inc();
            flagged.insert(f.student);
            tracing::warn!(
                class_id = session.class_id,
                student = f.student,
                mean_abs_diff = f.mean_abs_diff,
                "consecutive face samples are near-identical (suspect static image)"
            );
            let flag = face_store::FaceFlag {
                class_id: session.class_id,
                session_id: session.session_id,
                student_id: f.student,
                at: f.at,
                previous_at: f.previous_at,
                mean_abs_diff: f.mean_abs_diff,
            };
            let stored = async {
                let mut conn = state.store.conn().await?;
                face_store::put_flag(&mut conn, &flag).await
            };
            if let Err(e) = stored.await {
                tracing::error!(error = %e, student = f.student, "static-image flag not stored");
            }
        }
        FaceEvent::Evidence {
            student,
            at,
            distance,
            jpeg,
        } => {
            let stored = async {
                let mut conn = state.store.conn().await?;
                face_store::put_evidence(
                    &mut conn,
                    &state.keys,
                    &NewEvidence {
                        user_id: student,
                        class_id: Some(session.class_id),
                        captured_at: at,
                        distance,
                        jpeg: &jpeg,
                    },
                    state.config.face.evidence_retention_days,
                )
                .await
            };
            if let Err(e) = stored.await {
                tracing::error!(error = %e, student, "mismatch evidence could not be stored");
            }
        }
    }
}
