//! Live and watch intervals and face checks: written in batches by the ingestor, read by
//! the eligibility and report code. An interval row is open while `ended_at IS NULL`;
//! `last_seen_at` is its heartbeat.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{now_ms, Conn, StoreResult};
use crate::attendance::events::FaceOutcome;
use crate::attendance::intervals::{Check, Interval, LiveSpan, WatchSpan};
use crate::attendance::tracker::{Batch, Stream};

/// Rows per multi-row INSERT (well under both engines' bind-parameter limits).
const CHUNK: usize = 500;

fn placeholders(rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push_str(&format!("${}", r * cols + c + 1));
        }
        s.push(')');
    }
    s
}

/// Writes one batch (call inside a transaction).
pub async fn write_batch(conn: &mut Conn, batch: &Batch) -> StoreResult<()> {
    // Heartbeats: one statement per (session, time), naming the students it concerns.
    let mut live_beats: BTreeMap<(i64, i64), ()> = BTreeMap::new();
    let mut watch_beats: BTreeMap<(i64, i64), Vec<i64>> = BTreeMap::new();
    for (stream, at) in &batch.heartbeats {
        match *stream {
            Stream::Live { session_id } => {
                live_beats.insert((session_id, *at), ());
            }
            Stream::Watch {
                session_id,
                student_id,
            } => watch_beats
                .entry((session_id, *at))
                .or_default()
                .push(student_id),
        }
    }
    for (session_id, at) in live_beats.keys() {
        sqlx::query(
            "UPDATE live_intervals SET last_seen_at = $1 \
             WHERE session_id = $2 AND ended_at IS NULL AND last_seen_at < $1",
        )
        .bind(at)
        .bind(session_id)
        .execute(&mut *conn)
        .await?;
    }
    for ((session_id, at), students) in &watch_beats {
        for chunk in students.chunks(CHUNK) {
            let list = (0..chunk.len())
                .map(|i| format!("${}", i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "UPDATE watch_intervals SET last_seen_at = $1 WHERE session_id = $2 \
                 AND ended_at IS NULL AND last_seen_at < $1 AND student_id IN ({list})"
            );
            let mut q = sqlx::query(&sql).bind(at).bind(session_id);
            for s in chunk {
                q = q.bind(s);
            }
            q.execute(&mut *conn).await?;
        }
    }
    for (stream, end) in &batch.closes {
        match *stream {
            Stream::Live { session_id } => sqlx::query(
                "UPDATE live_intervals SET ended_at = $1, last_seen_at = $1, closed_by = 'event' \
                 WHERE session_id = $2 AND ended_at IS NULL",
            )
            .bind(end)
            .bind(session_id)
            .execute(&mut *conn)
            .await?,
            Stream::Watch {
                session_id,
                student_id,
            } => sqlx::query(
                "UPDATE watch_intervals SET ended_at = $1, last_seen_at = $1, closed_by = 'event' \
                 WHERE session_id = $2 AND student_id = $3 AND ended_at IS NULL",
            )
            .bind(end)
            .bind(session_id)
            .bind(student_id)
            .execute(&mut *conn)
            .await?,
        };
    }
    // Closed rows before open ones: a stream may appear closed and reopened in one batch,
    // and the unique index allows only one open row per stream.
    let mut inserts = batch.inserts.clone();
    inserts.sort_by_key(|i| i.ended_at.is_none());
    let live: Vec<_> = inserts
        .iter()
        .filter(|i| matches!(i.stream, Stream::Live { .. }))
        .collect();
    for chunk in live.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO live_intervals (class_id, session_id, started_at, last_seen_at, \
             ended_at, closed_by) VALUES {}",
            placeholders(chunk.len(), 6)
        );
        let mut q = sqlx::query(&sql);
        for i in chunk {
            let Stream::Live { session_id } = i.stream else {
                unreachable!()
            };
            q = q
                .bind(i.class_id)
                .bind(session_id)
                .bind(i.started_at)
                .bind(i.last_seen_at)
                .bind(i.ended_at)
                .bind(i.ended_at.map(|_| "event"));
        }
        q.execute(&mut *conn).await?;
    }
    let watch: Vec<_> = inserts
        .iter()
        .filter(|i| matches!(i.stream, Stream::Watch { .. }))
        .collect();
    for chunk in watch.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO watch_intervals (class_id, session_id, student_id, started_at, \
             last_seen_at, ended_at, closed_by) VALUES {}",
            placeholders(chunk.len(), 7)
        );
        let mut q = sqlx::query(&sql);
        for i in chunk {
            let Stream::Watch {
                session_id,
                student_id,
            } = i.stream
            else {
                unreachable!()
            };
            q = q
                .bind(i.class_id)
                .bind(session_id)
                .bind(student_id)
                .bind(i.started_at)
                .bind(i.last_seen_at)
                .bind(i.ended_at)
                .bind(i.ended_at.map(|_| "event"));
        }
        q.execute(&mut *conn).await?;
    }
    let now = now_ms();
    for chunk in batch.checks.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO face_checks (class_id, session_id, student_id, scheduled_at, outcome, \
             recorded_at) VALUES {} ON CONFLICT (session_id, student_id, scheduled_at) \
             DO UPDATE SET outcome = excluded.outcome, recorded_at = excluded.recorded_at",
            placeholders(chunk.len(), 6)
        );
        let mut q = sqlx::query(&sql);
        for c in chunk {
            q = q
                .bind(c.session.class_id)
                .bind(c.session.session_id)
                .bind(c.student_id)
                .bind(c.scheduled_at)
                .bind(c.outcome.as_str())
                .bind(now);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Closes every open interval at its last heartbeat (start-up after a crash or a stop).
/// Returns how many live and watch intervals were closed.
pub async fn close_open_at_heartbeat(conn: &mut Conn) -> StoreResult<(u64, u64)> {
    let live = sqlx::query(
        "UPDATE live_intervals SET ended_at = last_seen_at, closed_by = 'recovery' \
         WHERE ended_at IS NULL",
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let watch = sqlx::query(
        "UPDATE watch_intervals SET ended_at = last_seen_at, closed_by = 'recovery' \
         WHERE ended_at IS NULL",
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok((live, watch))
}

/// Open live and watch intervals (for checks and tests).
pub async fn open_counts(conn: &mut Conn) -> StoreResult<(i64, i64)> {
    let live = sqlx::query_scalar("SELECT COUNT(*) FROM live_intervals WHERE ended_at IS NULL")
        .fetch_one(&mut *conn)
        .await?;
    let watch = sqlx::query_scalar("SELECT COUNT(*) FROM watch_intervals WHERE ended_at IS NULL")
        .fetch_one(&mut *conn)
        .await?;
    Ok((live, watch))
}

/// The class a session belongs to.
pub async fn session_class(conn: &mut Conn, session_id: i64) -> StoreResult<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT class_id FROM class_sessions WHERE id = $1")
            .bind(session_id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

fn span(start: i64, end: i64) -> Interval {
    Interval {
        start,
        end: end.max(start),
    }
}

/// A class's live intervals (open ones end at their heartbeat).
pub async fn live_spans(conn: &mut Conn, class_id: i64) -> StoreResult<Vec<LiveSpan>> {
    let rows = sqlx::query(
        "SELECT session_id, started_at, COALESCE(ended_at, last_seen_at) AS until \
         FROM live_intervals WHERE class_id = $1",
    )
    .bind(class_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LiveSpan {
                session_id: r.try_get("session_id")?,
                span: span(r.try_get("started_at")?, r.try_get("until")?),
            })
        })
        .collect()
}

/// A class's watch intervals.
pub async fn watch_spans(conn: &mut Conn, class_id: i64) -> StoreResult<Vec<WatchSpan>> {
    let rows = sqlx::query(
        "SELECT student_id, session_id, started_at, COALESCE(ended_at, last_seen_at) AS until \
         FROM watch_intervals WHERE class_id = $1",
    )
    .bind(class_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(WatchSpan {
                student_id: r.try_get("student_id")?,
                session_id: r.try_get("session_id")?,
                span: span(r.try_get("started_at")?, r.try_get("until")?),
            })
        })
        .collect()
}

/// A class's face checks.
pub async fn checks(conn: &mut Conn, class_id: i64) -> StoreResult<Vec<Check>> {
    let rows = sqlx::query(
        "SELECT student_id, session_id, scheduled_at, outcome FROM face_checks \
         WHERE class_id = $1",
    )
    .bind(class_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let o: String = r.try_get("outcome")?;
            Ok(Check {
                student_id: r.try_get("student_id")?,
                session_id: r.try_get("session_id")?,
                scheduled_at: r.try_get("scheduled_at")?,
                outcome: FaceOutcome::parse(&o)
                    .ok_or_else(|| super::StoreError::Corrupt(format!("face outcome {o:?}")))?,
            })
        })
        .collect()
}
