//! Face enrollments and mismatch evidence. Both are biometric data: the embedding and the
//! evidence frame are encrypted here, on the way in; evidence carries its expiry so the
//! purge job can delete it without reading it.

use sqlx::Row;

use super::{now_ms, Conn, StoreError, StoreResult};
use crate::crypto::Keyring;
use ::face::embed::Embedding;
use ::face::quality::FaceQuality;

const EMBEDDING_CONTEXT: &[u8] = b"face_enrollments.embedding";
const EVIDENCE_CONTEXT: &[u8] = b"face_evidence.frame";

/// Stores (or replaces) a student's enrollment embedding, encrypted.
pub async fn put_enrollment(
    conn: &mut Conn,
    keys: &Keyring,
    user_id: i64,
    embedding: &Embedding,
    quality: &FaceQuality,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO face_enrollments (user_id, embedding_enc, face_px, sharpness, brightness, \
         enrolled_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO UPDATE SET \
         embedding_enc = excluded.embedding_enc, face_px = excluded.face_px, \
         sharpness = excluded.sharpness, brightness = excluded.brightness, \
         enrolled_at = excluded.enrolled_at",
    )
    .bind(user_id)
    .bind(keys.encrypt(&embedding.to_bytes(), EMBEDDING_CONTEXT))
    .bind(quality.face_px as i64)
    .bind(quality.sharpness)
    .bind(quality.brightness)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A student's enrollment embedding, decrypted.
pub async fn get_enrollment(
    conn: &mut Conn,
    keys: &Keyring,
    user_id: i64,
) -> StoreResult<Option<Embedding>> {
    let ct: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT embedding_enc FROM face_enrollments WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(ct) = ct else { return Ok(None) };
    let plain = keys
        .decrypt(&ct, EMBEDDING_CONTEXT)
        .map_err(|e| StoreError::Corrupt(format!("face enrollment of user {user_id}: {e}")))?;
    Embedding::from_bytes(&plain)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("face enrollment of user {user_id}: {e}")))
}

/// What is known about a student's enrollment, without the embedding.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct EnrollmentInfo {
    /// When it was computed (unix ms).
    pub enrolled_at: i64,
    /// Shorter side of the face box in the photo, pixels.
    pub face_px: i64,
    /// Variance of the Laplacian of the face (sharpness).
    pub sharpness: f64,
    /// Mean grey level of the face.
    pub brightness: f64,
}

/// A student's enrollment metadata (never the embedding).
pub async fn enrollment_info(conn: &mut Conn, user_id: i64) -> StoreResult<Option<EnrollmentInfo>> {
    let row = sqlx::query(
        "SELECT enrolled_at, face_px, sharpness, brightness FROM face_enrollments \
         WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| EnrollmentInfo {
        enrolled_at: r.get("enrolled_at"),
        face_px: r.get("face_px"),
        sharpness: r.get("sharpness"),
        brightness: r.get("brightness"),
    }))
}

/// A mismatch frame to keep as evidence.
#[derive(Clone, Debug)]
pub struct NewEvidence<'a> {
    /// The student who was expected.
    pub user_id: i64,
    /// The class being taught, if known.
    pub class_id: Option<i64>,
    /// When the frame was taken (unix ms).
    pub captured_at: i64,
    /// Distance to the enrollment.
    pub distance: Option<f64>,
    /// The frame (JPEG).
    pub jpeg: &'a [u8],
}

/// Stores an evidence frame, encrypted, expiring `retention_days` after capture.
pub async fn put_evidence(
    conn: &mut Conn,
    keys: &Keyring,
    e: &NewEvidence<'_>,
    retention_days: u32,
) -> StoreResult<i64> {
    let expires_at = e.captured_at + retention_days as i64 * 86_400_000;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO face_evidence (user_id, class_id, captured_at, distance, frame_enc, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(e.user_id)
    .bind(e.class_id)
    .bind(e.captured_at)
    .bind(e.distance)
    .bind(keys.encrypt(e.jpeg, EVIDENCE_CONTEXT))
    .bind(expires_at)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// One evidence frame, decrypted: `(user id, captured at, JPEG)`.
pub async fn get_evidence(
    conn: &mut Conn,
    keys: &Keyring,
    id: i64,
) -> StoreResult<Option<(i64, i64, Vec<u8>)>> {
    let row =
        sqlx::query("SELECT user_id, captured_at, frame_enc FROM face_evidence WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(row) = row else { return Ok(None) };
    let ct: Vec<u8> = row.try_get("frame_enc")?;
    let jpeg = keys
        .decrypt(&ct, EVIDENCE_CONTEXT)
        .map_err(|e| StoreError::Corrupt(format!("face evidence {id}: {e}")))?;
    Ok(Some((
        row.try_get("user_id")?,
        row.try_get("captured_at")?,
        jpeg,
    )))
}

/// Deletes evidence whose retention has run out at `now`; returns how many.
pub async fn purge_expired_evidence(conn: &mut Conn, now: i64) -> StoreResult<u64> {
    Ok(
        sqlx::query("DELETE FROM face_evidence WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}

/// A static-image flag to record.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FaceFlag {
    /// The class.
    pub class_id: i64,
    /// The live session.
    pub session_id: i64,
    /// The student.
    pub student_id: i64,
    /// When the later sample was taken (unix ms).
    pub at: i64,
    /// When the earlier, near-identical one was (unix ms).
    pub previous_at: i64,
    /// Their mean absolute pixel difference (a live camera is well above the threshold).
    pub mean_abs_diff: f64,
}

/// Records a static-image flag.
pub async fn put_flag(conn: &mut Conn, f: &FaceFlag) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO face_flags (class_id, session_id, student_id, at, previous_at, \
         mean_abs_diff) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(f.class_id)
    .bind(f.session_id)
    .bind(f.student_id)
    .bind(f.at)
    .bind(f.previous_at)
    .bind(f.mean_abs_diff)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A class's static-image flags, oldest first.
pub async fn flags_for_class(conn: &mut Conn, class_id: i64) -> StoreResult<Vec<FaceFlag>> {
    let rows = sqlx::query(
        "SELECT class_id, session_id, student_id, at, previous_at, mean_abs_diff \
         FROM face_flags WHERE class_id = $1 ORDER BY at, id",
    )
    .bind(class_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(FaceFlag {
                class_id: r.try_get("class_id")?,
                session_id: r.try_get("session_id")?,
                student_id: r.try_get("student_id")?,
                at: r.try_get("at")?,
                previous_at: r.try_get("previous_at")?,
                mean_abs_diff: r.try_get("mean_abs_diff")?,
            })
        })
        .collect()
}
