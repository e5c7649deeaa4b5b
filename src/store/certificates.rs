//! Trainees' e-certificates: issued after the bureau confirms the results, valid once the
//! institution has stamped and the bureau has verified them (验印), revocable with a reason.

use serde::Serialize;
use sqlx::Row;

use super::{now_ms, Conn, StoreResult};

/// Where a certificate stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertStatus {
    /// Issued; awaiting the institution's stamp and/or the bureau's verification.
    Pending,
    /// Stamped and verified.
    Valid,
    /// Revoked.
    Revoked,
}

/// A certificate with what the verification page and the PDF need.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Certificate {
    /// Id.
    pub id: i64,
    /// Unique number.
    pub number: String,
    /// Class.
    pub class_id: i64,
    /// Trainee.
    pub student_id: i64,
    /// Status.
    pub status: CertStatus,
    /// Unix ms.
    pub issued_at: i64,
    /// Unix ms.
    pub stamped_at: Option<i64>,
    /// Unix ms.
    pub verified_at: Option<i64>,
    /// Unix ms.
    pub claimed_at: Option<i64>,
    /// Unix ms.
    pub revoked_at: Option<i64>,
    /// Why revoked.
    pub revoke_reason: Option<String>,
}

const COLS: &str = "id, number, class_id, student_id, issued_at, stamped_at, verified_at, \
     claimed_at, revoked_at, revoke_reason";

fn cert(r: &sqlx::any::AnyRow) -> StoreResult<Certificate> {
    let stamped_at: Option<i64> = r.try_get("stamped_at")?;
    let verified_at: Option<i64> = r.try_get("verified_at")?;
    let revoked_at: Option<i64> = r.try_get("revoked_at")?;
    let status = if revoked_at.is_some() {
        CertStatus::Revoked
    } else if stamped_at.is_some() && verified_at.is_some() {
        CertStatus::Valid
    } else {
        CertStatus::Pending
    };
    Ok(Certificate {
        id: r.try_get("id")?,
        number: r.try_get("number")?,
        class_id: r.try_get("class_id")?,
        student_id: r.try_get("student_id")?,
        status,
        issued_at: r.try_get("issued_at")?,
        stamped_at,
        verified_at,
        claimed_at: r.try_get("claimed_at")?,
        revoked_at,
        revoke_reason: r.try_get("revoke_reason")?,
    })
}

/// Issues a certificate (pending).
pub async fn issue(
    conn: &mut Conn,
    number: &str,
    class_id: i64,
    student_id: i64,
) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO trainee_certificates (number, class_id, student_id, issued_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(number)
    .bind(class_id)
    .bind(student_id)
    .bind(now_ms())
    .fetch_one(&mut *conn)
    .await?)
}

/// By number.
pub async fn by_number(conn: &mut Conn, number: &str) -> StoreResult<Option<Certificate>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM trainee_certificates WHERE number = $1"
    ))
    .bind(number)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(cert)
    .transpose()
}

/// A class's certificates, by id.
pub async fn of_class(conn: &mut Conn, class_id: i64) -> StoreResult<Vec<Certificate>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM trainee_certificates WHERE class_id = $1 ORDER BY id"
    ))
    .bind(class_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(cert)
    .collect()
}

/// A student's certificates.
pub async fn of_student(conn: &mut Conn, student_id: i64) -> StoreResult<Vec<Certificate>> {
    sqlx::query(&format!(
        "SELECT {COLS} FROM trainee_certificates WHERE student_id = $1 ORDER BY id"
    ))
    .bind(student_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(cert)
    .collect()
}

/// Stamps every unstamped, unrevoked certificate of a class; returns how many.
pub async fn stamp_class(conn: &mut Conn, class_id: i64, by: i64) -> StoreResult<u64> {
    Ok(sqlx::query(
        "UPDATE trainee_certificates SET stamped_at = $1, stamped_by = $2 \
         WHERE class_id = $3 AND stamped_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(by)
    .bind(class_id)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// Verifies every stamped, unverified, unrevoked certificate of a class; returns how many.
pub async fn verify_class(conn: &mut Conn, class_id: i64, by: i64) -> StoreResult<u64> {
    Ok(sqlx::query(
        "UPDATE trainee_certificates SET verified_at = $1, verified_by = $2 WHERE class_id = $3 \
         AND stamped_at IS NOT NULL AND verified_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(by)
    .bind(class_id)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// Marks a certificate claimed by its trainee.
pub async fn claim(conn: &mut Conn, id: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE trainee_certificates SET claimed_at = COALESCE(claimed_at, $1) WHERE id = $2",
    )
    .bind(now_ms())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Revokes a certificate; false if it was already revoked.
pub async fn revoke(conn: &mut Conn, id: i64, reason: &str, by: i64) -> StoreResult<bool> {
    Ok(sqlx::query(
        "UPDATE trainee_certificates SET revoked_at = $1, revoked_by = $2, revoke_reason = $3 \
         WHERE id = $4 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(by)
    .bind(reason)
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}
