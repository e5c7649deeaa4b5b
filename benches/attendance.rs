//! Attendance load tool (run with `cargo bench --bench attendance`; plain `main`, no
//! harness): sustained ingestion through the real ingestor into SQLite and a throw-away
//! PostgreSQL cluster, and eligibility for a 200-student class with 40 h of live time and a
//! face check every 5 minutes. Prints figures for benches/RESULTS.md.
//!
//! `KETANG_BENCH_SECS` sets the ingestion run length per engine (default 20 s).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fresh_database, Engine};
use ketang::attendance::config::{AttendanceConfig, Thresholds};
use ketang::attendance::events::{
    AttendanceEvent, ClassSession, FaceOutcome, FlowState, VideoState,
};
use ketang::attendance::intervals::{Check, Interval, LiveSpan, WatchSpan};
use ketang::attendance::summary::{self, SummaryInputs, Trainee};
use ketang::attendance::{eligibility::PlanStatus, ingest};
use ketang::store::classes;
use ketang::store::{attendance as rows, Store};

const ROOMS: usize = 10;
const STUDENTS: i64 = 200;
const MIN: i64 = 60_000;

/// The i-th event of a producer: 20% delivery changes, 60% face checks, 15% heartbeats,
/// 5% lecturer video reports (every 10th a stop).
fn event(
    i: u64,
    producer: u64,
    class_id: i64,
    sessions: &[i64],
    clock: i64,
    flowing: &mut [bool],
) -> AttendanceEvent {
    let room = (i as usize / 20 + producer as usize * 5) % sessions.len();
    let session = ClassSession {
        class_id,
        session_id: sessions[room],
    };
    // Spread over the room's students (7919 is prime, so every student comes up).
    let k = ((i / 20) * 4 + i % 20).wrapping_mul(7919) % STUDENTS as u64;
    let student = 1_000_000 + k as i64;
    match i % 20 {
        0..=3 => {
            // Each delivery change flips that student's state: opens and closes intervals.
            let slot = &mut flowing[room * STUDENTS as usize + k as usize];
            *slot = !*slot;
            AttendanceEvent::SubscriberFlow {
                student_id: student,
                session,
                state: if *slot {
                    FlowState::Flowing
                } else {
                    FlowState::Stalled
                },
                at: clock,
            }
        }
        4..=15 => AttendanceEvent::FaceCheck {
            student_id: student,
            session,
            scheduled_at: clock * 100 + (i % 20) as i64,
            outcome: if i % 7 == 0 {
                FaceOutcome::NoFace
            } else {
                FaceOutcome::Match
            },
        },
        16..=18 => AttendanceEvent::Heartbeat { session, at: clock },
        _ => AttendanceEvent::LecturerVideo {
            session,
            state: if (i / 20) % 10 == 9 {
                VideoState::Stopped
            } else {
                VideoState::Receiving
            },
            at: clock,
        },
    }
}

async fn ingestion(engine: Engine, secs: u64) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(engine, dir.path()).await;
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let common::SeededClass {
        class_id: class,
        sessions,
        ..
    } = common::seed_class(&store, ROOMS, 4, 0).await;
    let registry = prometheus::Registry::new();
    let ing = ingest::start(store.clone(), &AttendanceConfig::default(), &registry);
    let tx = ing.sender;
    tx.flush().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut producers = Vec::new();
    for p in 0..2u64 {
        let (tx, stop, sent, sessions) = (tx.clone(), stop.clone(), sent.clone(), sessions.clone());
        producers.push(tokio::spawn(async move {
            let mut i = 0u64;
            let t0 = 1_800_000_000_000i64;
            let mut flowing = vec![false; sessions.len() * STUDENTS as usize];
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..256 {
                    tx.send(event(i, p, class, &sessions, t0 + i as i64, &mut flowing))
                        .await
                        .unwrap();
                    i += 1;
                }
                sent.fetch_add(256, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.await.unwrap();
    }
    tx.flush().await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let n = sent.load(Ordering::Relaxed);
    let m = tx.metrics();
    let flushes = m.flush_seconds.get_sample_count();
    let mut conn = store.conn().await.unwrap();
    let checks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM face_checks")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let watch: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM watch_intervals")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM live_intervals")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    println!(
        "ingest {engine:?}: {n} events in {elapsed:.1} s = {:.0} events/s sustained \
         (written: {checks} face checks, {watch} watch + {live} live intervals; {flushes} batches, \
         mean batch {:.0} events, mean write {:.1} ms; {} sends waited for room)",
        n as f64 / elapsed,
        m.batch_events.get_sample_sum() / m.batch_events.get_sample_count().max(1) as f64,
        m.flush_seconds.get_sample_sum() / flushes.max(1) as f64 * 1000.0,
        m.backpressure_waits.get(),
    );
    drop(conn);
    drop(tx);
    store.pool().close().await;
}

/// 10 sessions × 4 h, each with a 10-minute pause: 39 h 20 min... plus one longer session
/// to reach 40 h of live time; every student watches with a few drops; a check every 5
/// minutes of live time.
fn class_data(sessions: &[i64], students: &[i64]) -> (Vec<LiveSpan>, Vec<WatchSpan>, Vec<Check>) {
    let mut live = Vec::new();
    let mut watch = Vec::new();
    let mut checks = Vec::new();
    let day = 24 * 60 * MIN;
    for (k, &s) in sessions.iter().enumerate() {
        let t = 1_800_000_000_000 + k as i64 * day;
        // 4 h 1 min with a 1-minute pause = 4 h of live time per session.
        live.push(LiveSpan {
            session_id: s,
            span: Interval {
                start: t,
                end: t + 120 * MIN,
            },
        });
        live.push(LiveSpan {
            session_id: s,
            span: Interval {
                start: t + 121 * MIN,
                end: t + 241 * MIN,
            },
        });
        for (j, &st) in students.iter().enumerate() {
            let drop_at = t + ((j as i64 * 7 + k as i64 * 13) % 200) * MIN;
            watch.push(WatchSpan {
                student_id: st,
                session_id: s,
                span: Interval {
                    start: t - 2 * MIN,
                    end: drop_at,
                },
            });
            watch.push(WatchSpan {
                student_id: st,
                session_id: s,
                span: Interval {
                    start: drop_at + 3 * MIN,
                    end: t + 245 * MIN,
                },
            });
            let mut m = 1;
            while m < 241 {
                if !(120..121).contains(&m) {
                    checks.push(Check {
                        student_id: st,
                        session_id: s,
                        scheduled_at: t + m * MIN,
                        outcome: if (m + j as i64) % 11 == 0 {
                            FaceOutcome::CameraOff
                        } else {
                            FaceOutcome::Match
                        },
                    });
                }
                m += 5;
            }
        }
    }
    (live, watch, checks)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

async fn eligibility(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(engine, dir.path()).await;
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let common::SeededClass {
        class_id,
        sessions,
        students,
    } = common::seed_class(&store, 10, 4, 200).await;
    let (live, watch, checks) = class_data(&sessions, &students);
    let live_ms: i64 = live.iter().map(|l| l.span.end - l.span.start).sum();
    assert_eq!(live_ms, 40 * 60 * MIN, "40 hours of live time");
    let mut conn = store.conn().await.unwrap();
    let class = classes::get(&mut conn, class_id).await.unwrap().unwrap();
    drop(conn);

    // Pure computation.
    let trainees: Vec<Trainee> = students
        .iter()
        .map(|&id| Trainee {
            student_id: id,
            name: format!("学员{id}"),
            id_number_masked: None,
            mobile: None,
        })
        .collect();
    let mut times = Vec::new();
    let mut eligible = 0;
    for _ in 0..7 {
        let inputs = SummaryInputs {
            class: &class,
            trainees: trainees.clone(),
            live: live.clone(),
            watch: watch.clone(),
            checks: checks.clone(),
            scores: students.iter().map(|&s| (s, 80)).collect(),
            plans: students
                .iter()
                .map(|&s| (s, PlanStatus::Approved))
                .collect(),
            pass_mark: 60,
        };
        let t = Instant::now();
        let s = summary::summarise(inputs, &Thresholds::default());
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        eligible = s.eligible;
    }
    let pure = median(times);

    // Through the store: write the rows as the ingestor would, then load and compute.
    let mut tracker_rows = ketang::attendance::tracker::Batch::default();
    for l in &live {
        tracker_rows
            .inserts
            .push(ketang::attendance::tracker::NewInterval {
                stream: ketang::attendance::tracker::Stream::Live {
                    session_id: l.session_id,
                },
                class_id,
                started_at: l.span.start,
                last_seen_at: l.span.end,
                ended_at: Some(l.span.end),
            });
    }
    for w in &watch {
        tracker_rows
            .inserts
            .push(ketang::attendance::tracker::NewInterval {
                stream: ketang::attendance::tracker::Stream::Watch {
                    session_id: w.session_id,
                    student_id: w.student_id,
                },
                class_id,
                started_at: w.span.start,
                last_seen_at: w.span.end,
                ended_at: Some(w.span.end),
            });
    }
    for c in &checks {
        tracker_rows
            .checks
            .push(ketang::attendance::tracker::CheckRow {
                session: ClassSession {
                    class_id,
                    session_id: c.session_id,
                },
                student_id: c.student_id,
                scheduled_at: c.scheduled_at,
                outcome: c.outcome,
            });
    }
    let mut tx = store.begin().await.unwrap();
    rows::write_batch(&mut tx, &tracker_rows).await.unwrap();
    tx.commit().await.unwrap();
    let mut times = Vec::new();
    for _ in 0..5 {
        let mut conn = store.conn().await.unwrap();
        let t = Instant::now();
        let s = summary::class_summary(&mut conn, &class, &Thresholds::default(), 60)
            .await
            .unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(s.rows.len(), 200);
    }
    let full = median(times);
    println!(
        "eligibility {engine:?}: 200 students, 40 h live, {} checks, {} watch intervals: \
         compute {pure:.1} ms (median of 7), load from the store + compute {full:.1} ms (median of 5); \
         {eligible} eligible",
        checks.len(),
        watch.len()
    );
    store.pool().close().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::var("KETANG_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    for engine in [Engine::Sqlite, Engine::Postgres] {
        ingestion(engine, secs).await;
    }
    for engine in [Engine::Sqlite, Engine::Postgres] {
        eligibility(engine).await;
    }
}
