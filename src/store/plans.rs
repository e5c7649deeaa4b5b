//! Business plans: every upload is a new version; the lecturer decides on the latest.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;

use super::{now_ms, Conn, StoreResult};
use crate::attendance::eligibility::PlanStatus;

/// A plan's metadata.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Plan {
    /// Id.
    pub id: i64,
    /// Class.
    pub class_id: i64,
    /// Student.
    pub student_id: i64,
    /// 1, 2, … (a resubmission after rejection is a new version).
    pub version: u32,
    /// File name as uploaded.
    pub file_name: String,
    /// MIME type recognised from the content.
    pub content_type: String,
    /// Bytes.
    pub size_bytes: i64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Status.
    pub status: PlanStatus,
    /// The lecturer's comment.
    pub comment: Option<String>,
    /// Unix ms.
    pub submitted_at: i64,
    /// Unix ms.
    pub decided_at: Option<i64>,
}

/// A new upload.
pub struct NewPlan<'a> {
    /// Class.
    pub class_id: i64,
    /// Student.
    pub student_id: i64,
    /// Version.
    pub version: u32,
    /// File name.
    pub file_name: &'a str,
    /// MIME type.
    pub content_type: &'a str,
    /// Bytes.
    pub content: &'a [u8],
    /// SHA-256 hex.
    pub sha256: &'a str,
}

const COLS: &str = "id, class_id, student_id, version, file_name, content_type, size_bytes, \
     sha256, status, comment, submitted_at, decided_at";

fn plan(r: &sqlx::any::AnyRow) -> StoreResult<Plan> {
    let status: String = r.try_get("status")?;
    Ok(Plan {
        id: r.try_get("id")?,
        class_id: r.try_get("class_id")?,
        student_id: r.try_get("student_id")?,
        version: r.try_get::<i64, _>("version")? as u32,
        file_name: r.try_get("file_name")?,
        content_type: r.try_get("content_type")?,
        size_bytes: r.try_get("size_bytes")?,
        sha256: r.try_get("sha256")?,
        status: PlanStatus::parse(&status)
            .ok_or_else(|| super::StoreError::Corrupt(format!("plan status {status:?}")))?,
        comment: r.try_get("comment")?,
        submitted_at: r.try_get("submitted_at")?,
        decided_at: r.try_get("decided_at")?,
    })
}

/// Stores an upload.
pub async fn insert(conn: &mut Conn, p: &NewPlan<'_>) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO business_plans (class_id, student_id, version, file_name, content_type, \
         size_bytes, sha256, content, status, submitted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'submitted', $9) RETURNING id",
    )
    .bind(p.class_id)
    .bind(p.student_id)
    .bind(i64::from(p.version))
    .bind(p.file_name)
    .bind(p.content_type)
    .bind(p.content.len() as i64)
    .bind(p.sha256)
    .bind(p.content)
    .bind(now_ms())
    .fetch_one(&mut *conn)
    .await?)
}

/// A student's latest plan in a class.
pub async fn latest(conn: &mut Conn, class_id: i64, student_id: i64) -> StoreResult<Option<Plan>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM business_plans WHERE class_id = $1 AND student_id = $2 \
         ORDER BY version DESC LIMIT 1"
    ))
    .bind(class_id)
    .bind(student_id)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(plan)
    .transpose()
}

/// One plan.
pub async fn get(conn: &mut Conn, id: i64) -> StoreResult<Option<Plan>> {
    sqlx::query(&format!("SELECT {COLS} FROM business_plans WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(plan)
        .transpose()
}

/// A plan's file.
pub async fn content(conn: &mut Conn, id: i64) -> StoreResult<Option<Vec<u8>>> {
    Ok(
        sqlx::query_scalar("SELECT content FROM business_plans WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Every plan of a class (all versions), by student and version.
pub async fn list(conn: &mut Conn, class_id: i64) -> StoreResult<Vec<Plan>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM business_plans WHERE class_id = $1 ORDER BY student_id, version"
    ))
    .bind(class_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(plan)
    .collect()
}

/// Latest status per student in a class.
pub async fn latest_statuses(
    conn: &mut Conn,
    class_id: i64,
) -> StoreResult<HashMap<i64, PlanStatus>> {
    let mut out = HashMap::new();
    for p in list(conn, class_id).await? {
        out.insert(p.student_id, p.status); // ordered by version: the latest wins
    }
    Ok(out)
}

/// Records the lecturer's decision on a plan still awaiting one; false if it was not.
pub async fn decide(
    conn: &mut Conn,
    id: i64,
    approve: bool,
    comment: Option<&str>,
    by: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE business_plans SET status = $1, comment = $2, decided_at = $3, decided_by = $4 \
         WHERE id = $5 AND status = 'submitted'",
    )
    .bind(if approve { "approved" } else { "rejected" })
    .bind(comment)
    .bind(now_ms())
    .bind(by)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
