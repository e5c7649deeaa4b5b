//! Attendance ingestion against real SQLite and PostgreSQL: events through the real
//! ingestor become intervals and face checks; a SIGKILLed ingestion process loses at most
//! the last second and leaves no interval open after restart.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ketang::attendance::events::{
    AttendanceEvent, ClassSession, FaceOutcome, FlowState, VideoState,
};
use ketang::attendance::intervals::class_totals;
use ketang::store::attendance as rows;
use ketang::store::Store;

macro_rules! on_both_engines {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Engine::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Engine::Postgres).await
            }
        }
    };
}

const MIN: i64 = 60_000;

async fn ingestion_builds_intervals_and_checks(engine: Engine) {
    let s = TestServer::start(engine).await;
    let c = seed_class(s.store(), 2, 3, 3).await;
    let room = ClassSession {
        class_id: c.class_id,
        session_id: c.sessions[0],
    };
    let (a, b, d) = (c.students[0], c.students[1], c.students[2]);
    let tx = s.state.attendance.sender();
    let video = |state, at| AttendanceEvent::LecturerVideo {
        session: room,
        state,
        at,
    };
    let flow = |student_id, state, at| AttendanceEvent::SubscriberFlow {
        student_id,
        session: room,
        state,
        at,
    };
    let t0 = 1_800_000_000_000i64;
    let script = vec![
        // Student a joins before the lecture starts.
        flow(a, FlowState::Flowing, t0 - 5 * MIN),
        video(VideoState::Receiving, t0),
        flow(b, FlowState::Flowing, t0 + MIN),
        // b reconnects: a second "flowing" while already flowing, then a real drop.
        flow(b, FlowState::Flowing, t0 + 10 * MIN),
        flow(b, FlowState::Stalled, t0 + 20 * MIN),
        flow(b, FlowState::Flowing, t0 + 25 * MIN),
        // The lecturer pauses 30–40.
        video(VideoState::Stopped, t0 + 30 * MIN),
        video(VideoState::Receiving, t0 + 40 * MIN),
        AttendanceEvent::Heartbeat {
            session: room,
            at: t0 + 50 * MIN,
        },
        AttendanceEvent::FaceCheck {
            student_id: a,
            session: room,
            scheduled_at: t0 + 5 * MIN,
            outcome: FaceOutcome::Match,
        },
        AttendanceEvent::FaceCheck {
            student_id: a,
            session: room,
            scheduled_at: t0 + 35 * MIN, // during the pause: not scheduled in live time
            outcome: FaceOutcome::Absent,
        },
        AttendanceEvent::FaceCheck {
            student_id: d,
            session: room,
            scheduled_at: t0 + 45 * MIN,
            outcome: FaceOutcome::CameraOff,
        },
        video(VideoState::Stopped, t0 + 60 * MIN),
        flow(a, FlowState::Stalled, t0 + 70 * MIN),
        flow(b, FlowState::Stalled, t0 + 55 * MIN),
        // An event for a session that does not exist is refused, not written.
        AttendanceEvent::Heartbeat {
            session: ClassSession {
                class_id: c.class_id,
                session_id: 999_999,
            },
            at: t0,
        },
    ];
    // Flush part-way, so later events update stored rows (heartbeats and closes of
    // intervals written by an earlier batch) as well as rows of their own batch.
    for (i, ev) in script.into_iter().enumerate() {
        tx.send(ev).await.unwrap();
        if i % 3 == 2 {
            tx.flush().await.unwrap();
        }
    }
    tx.flush().await.unwrap();

    let mut conn = s.store().conn().await.unwrap();
    let totals = class_totals(
        &rows::live_spans(&mut conn, c.class_id).await.unwrap(),
        &rows::watch_spans(&mut conn, c.class_id).await.unwrap(),
        &rows::checks(&mut conn, c.class_id).await.unwrap(),
    );
    assert_eq!(totals.live_ms, 50 * MIN);
    // a: flowing the whole time, counts only live time.
    assert_eq!(totals.student(a).watch_ms, 50 * MIN);
    // b: 1–20 and 25–55, minus the pause 30–40 → 19 + 5 + 15.
    assert_eq!(totals.student(b).watch_ms, 39 * MIN);
    assert_eq!(totals.student(d).watch_ms, 0);
    assert_eq!(
        (
            totals.student(a).checks_scheduled,
            totals.student(a).checks_matched
        ),
        (1, 1)
    );
    assert_eq!(
        (
            totals.student(d).checks_scheduled,
            totals.student(d).checks_matched
        ),
        (1, 0)
    );
    assert_eq!(rows::open_counts(&mut conn).await.unwrap(), (0, 0));
    let metrics = s.state.metrics.render();
    assert!(
        metrics.contains("attendance_events_rejected_total{reason=\"unknown_session\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("attendance_ingest_queue_depth 0"),
        "{metrics}"
    );
    drop(conn);
    s.stop().await;
}
on_both_engines!(ingestion_builds_intervals_and_checks);

/// A tiny channel forces senders to wait: every event still arrives.
async fn backpressure_makes_senders_wait_and_drops_nothing(engine: Engine) {
    let s = TestServer::start_with(engine, |c| {
        c.attendance.channel_capacity = 4;
        c.attendance.max_batch = 8;
    })
    .await;
    let c = seed_class(s.store(), 1, 3, 50).await;
    let room = ClassSession {
        class_id: c.class_id,
        session_id: c.sessions[0],
    };
    let tx = s.state.attendance.sender().clone();
    let mut tasks = Vec::new();
    for (i, student) in c.students.iter().copied().enumerate() {
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..20i64 {
                tx.send(AttendanceEvent::FaceCheck {
                    student_id: student,
                    session: room,
                    scheduled_at: k * MIN + i as i64,
                    outcome: FaceOutcome::Match,
                })
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    tx.flush().await.unwrap();
    assert_eq!(s.count("face_checks").await, 50 * 20);
    let waits = tx.metrics().backpressure_waits.get();
    assert!(waits > 0, "a 4-slot channel must have made someone wait");
    assert!(s
        .state
        .metrics
        .render()
        .contains("attendance_ingest_backpressure_waits_total"));
    s.stop().await;
}
on_both_engines!(backpressure_makes_senders_wait_and_drops_nothing);

/// Kill the ingesting process with SIGKILL mid-stream; after a restart no interval is open
/// and at most the last second of watch time is lost.
async fn crash_loses_at_most_the_last_second(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(engine, dir.path()).await;
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let c = seed_class(&store, 1, 3, 5).await;
    let students = c
        .students
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let drive = |ticks: u64| {
        Command::new(env!("CARGO_BIN_EXE_ketang"))
            .env("KETANG_DATABASE_URL", &url)
            .env("KETANG_DATA_DIR", dir.path())
            .env("RUST_LOG", "warn")
            .args([
                "attendance",
                "drive",
                "--class",
                &c.class_id.to_string(),
                "--session",
                &c.sessions[0].to_string(),
                "--students",
                &students,
                "--ticks",
                &ticks.to_string(),
                "--tick-ms",
                "50",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = drive(1_000_000);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut start = None;
    let mut last_beat = None;
    // Wait for the driver to start (it migrates and recovers first), run ~3 s of
    // heartbeats, then kill it without warning.
    while start.is_none() {
        let line = lines.next().expect("driver output").unwrap();
        start = line
            .strip_prefix("start ")
            .map(|t| t.parse::<i64>().unwrap());
    }
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(3) {
        let line = lines.next().expect("driver output").unwrap();
        let (what, at) = line.split_once(' ').unwrap();
        let at: i64 = at.parse().unwrap();
        match what {
            "start" => start = Some(at),
            "beat" => last_beat = Some(at),
            _ => {}
        }
    }
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let status = child.wait().unwrap();
    assert!(!status.success(), "the driver was killed");
    let (start, last_beat) = (start.unwrap(), last_beat.unwrap());

    let mut conn = store.conn().await.unwrap();
    let (open_live, open_watch) = rows::open_counts(&mut conn).await.unwrap();
    assert_eq!(
        (open_live, open_watch),
        (1, 5),
        "the crash left intervals open"
    );
    drop(conn);

    // Restart: the ingestor's start-up recovery closes them at their last heartbeat.
    let out = drive(0).wait_with_output().unwrap();
    assert!(out.status.success());
    let mut conn = store.conn().await.unwrap();
    assert_eq!(rows::open_counts(&mut conn).await.unwrap(), (0, 0));
    let totals = class_totals(
        &rows::live_spans(&mut conn, c.class_id).await.unwrap(),
        &rows::watch_spans(&mut conn, c.class_id).await.unwrap(),
        &[],
    );
    let sent = last_beat - start;
    assert!(sent > 2_000, "drove {sent} ms");
    let lost = sent - totals.live_ms;
    assert!(
        (0..=1000).contains(&lost),
        "live: sent {sent} ms, kept {}",
        totals.live_ms
    );
    for s in &c.students {
        let w = totals.student(*s).watch_ms;
        assert!(
            (sent - 1000..=sent).contains(&w),
            "student {s}: sent {sent} ms, kept {w}"
        );
    }
    drop(conn);
    store.pool().close().await;
}
on_both_engines!(crash_loses_at_most_the_last_second);
