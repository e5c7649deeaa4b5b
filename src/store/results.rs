//! A class's results as submitted by the institution and reviewed by the bureau
//! (审核确定有效培训人数), with the roster notice's publication.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{now_ms, Conn, StoreError, StoreResult};

/// One student in the submitted snapshot.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResultRow {
    /// Student.
    pub student_id: i64,
    /// Name.
    pub name: String,
    /// Whether eligible at submission.
    pub eligible: bool,
    /// Reasons if not.
    pub reasons: String,
}

/// The results of a class.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Results {
    /// Class.
    pub class_id: i64,
    /// `submitted`, `confirmed` or `returned`.
    pub status: String,
    /// Per-student eligibility as submitted.
    pub snapshot: Vec<ResultRow>,
    /// Eligible trainees in the snapshot.
    pub eligible_count: i64,
    /// Unix ms.
    pub submitted_at: i64,
    /// Valid trainees confirmed by the bureau.
    pub confirmed_count: Option<i64>,
    /// Unix ms.
    pub reviewed_at: Option<i64>,
    /// The bureau's comment.
    pub comment: Option<String>,
    /// When the roster notice was published (unix ms).
    pub notice_published_at: Option<i64>,
}

/// A class's results, if submitted.
pub async fn get(conn: &mut Conn, class_id: i64) -> StoreResult<Option<Results>> {
    let Some(r) = sqlx::query(
        "SELECT class_id, status, snapshot, eligible_count, submitted_at, confirmed_count, \
         reviewed_at, comment, notice_published_at FROM class_results WHERE class_id = $1",
    )
    .bind(class_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let snap: String = r.try_get("snapshot")?;
    Ok(Some(Results {
        class_id: r.try_get("class_id")?,
        status: r.try_get("status")?,
        snapshot: serde_json::from_str(&snap)
            .map_err(|e| StoreError::Corrupt(format!("results snapshot: {e}")))?,
        eligible_count: r.try_get("eligible_count")?,
        submitted_at: r.try_get("submitted_at")?,
        confirmed_count: r.try_get("confirmed_count")?,
        reviewed_at: r.try_get("reviewed_at")?,
        comment: r.try_get("comment")?,
        notice_published_at: r.try_get("notice_published_at")?,
    }))
}

/// Submits (or resubmits after a return) a class's results.
pub async fn submit(
    conn: &mut Conn,
    class_id: i64,
    snapshot: &[ResultRow],
    by: i64,
) -> StoreResult<()> {
    let eligible = snapshot.iter().filter(|r| r.eligible).count() as i64;
    sqlx::query(
        "INSERT INTO class_results (class_id, status, snapshot, eligible_count, submitted_by, \
         submitted_at) VALUES ($1, 'submitted', $2, $3, $4, $5) ON CONFLICT (class_id) DO UPDATE \
         SET status = 'submitted', snapshot = excluded.snapshot, \
         eligible_count = excluded.eligible_count, submitted_by = excluded.submitted_by, \
         submitted_at = excluded.submitted_at, confirmed_count = NULL, reviewed_by = NULL, \
         reviewed_at = NULL, comment = NULL",
    )
    .bind(class_id)
    .bind(serde_json::to_string(snapshot).expect("json"))
    .bind(eligible)
    .bind(by)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records the bureau's review of submitted results; false if they were not awaiting one.
pub async fn review(
    conn: &mut Conn,
    class_id: i64,
    confirmed: Option<i64>,
    comment: Option<&str>,
    by: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE class_results SET status = $1, confirmed_count = $2, comment = $3, \
         reviewed_by = $4, reviewed_at = $5 WHERE class_id = $6 AND status = 'submitted'",
    )
    .bind(if confirmed.is_some() {
        "confirmed"
    } else {
        "returned"
    })
    .bind(confirmed)
    .bind(comment)
    .bind(by)
    .bind(now_ms())
    .bind(class_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks the roster notice published.
pub async fn publish_notice(conn: &mut Conn, class_id: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE class_results SET notice_published_at = COALESCE(notice_published_at, $1) \
         WHERE class_id = $2",
    )
    .bind(now_ms())
    .bind(class_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
