//! Live and watch intervals and face checks: written in batches by the ingestor, read by
//! the eligibility and report code. An interval row is open while `ended_at IS NULL`;
//! `last_seen_at` is its heartbeat.

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

/// Sets `last_seen_at` (and, for closes, `ended_at`) of stored open intervals, many rows per
/// statement: `UPDATE … FROM (VALUES …)` works on both engines (VALUES columns are named
/// `column1`, `column2`, … on both).
async fn update_open(
    conn: &mut Conn,
    live: &[(i64, i64)],
    watch: &[(i64, i64, i64)],
    close: bool,
) -> StoreResult<()> {
    let set = if close {
        "ended_at = v.column{t}, last_seen_at = v.column{t}, closed_by = 'event'"
    } else {
        "last_seen_at = v.column{t}"
    };
    let only_forward = if close {
        ""
    } else {
        " AND {tbl}.last_seen_at < v.column{t}"
    };
    for chunk in live.chunks(CHUNK) {
        let sql = format!(
            "UPDATE live_intervals SET {} FROM (VALUES {}) AS v WHERE \
             live_intervals.session_id = v.column1 AND live_intervals.ended_at IS NULL{}",
            set.replace("{t}", "2"),
            placeholders(chunk.len(), 2),
            only_forward
                .replace("{t}", "2")
                .replace("{tbl}", "live_intervals"),
        );
        let mut q = sqlx::query(&sql);
        for (session, at) in chunk {
            q = q.bind(session).bind(at);
        }
        q.execute(&mut *conn).await?;
    }
    for chunk in watch.chunks(CHUNK) {
        let sql = format!(
            "UPDATE watch_intervals SET {} FROM (VALUES {}) AS v WHERE \
             watch_intervals.session_id = v.column1 AND watch_intervals.student_id = v.column2 \
             AND watch_intervals.ended_at IS NULL{}",
            set.replace("{t}", "3"),
            placeholders(chunk.len(), 3),
            only_forward
                .replace("{t}", "3")
                .replace("{tbl}", "watch_intervals"),
        );
        let mut q = sqlx::query(&sql);
        for (session, student, at) in chunk {
            q = q.bind(session).bind(student).bind(at);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Live rows `(session, at)` and watch rows `(session, student, at)`.
type Split = (Vec<(i64, i64)>, Vec<(i64, i64, i64)>);

fn split(items: &[(Stream, i64)]) -> Split {
    let mut live = Vec::new();
    let mut watch = Vec::new();
    for (stream, at) in items {
        match *stream {
            Stream::Live { session_id } => live.push((session_id, *at)),
            Stream::Watch {
                session_id,
                student_id,
            } => watch.push((session_id, student_id, *at)),
        }
    }
    (live, watch)
}

/// Writes one batch (call inside a transaction).
pub async fn write_batch(conn: &mut Conn, batch: &Batch) -> StoreResult<()> {
    let (live, watch) = split(&batch.heartbeats);
    update_open(conn, &live, &watch, false).await?;
    let (live, watch) = split(&batch.closes);
    update_open(conn, &live, &watch, true).await?;
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
