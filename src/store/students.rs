//! Students' real-name records and their photos. The resident ID number and every photo
//! are encrypted here, on the way in, so no caller can store them in clear; uniqueness of
//! the ID number is enforced on a keyed blind index.

use serde::Serialize;
use sqlx::Row;

use super::{now_ms, Conn, StoreError, StoreResult};
use crate::crypto::Keyring;
use crate::registration::id_number::ResidentId;
use crate::registration::mobile::Mobile;

/// Authenticated context of the encrypted ID number (also used by key rotation).
pub const ID_CONTEXT: &[u8] = b"student_records.id_number";

/// A validated real-name record, ready to store.
#[derive(Clone, Debug)]
pub struct RealName {
    /// Legal name.
    pub name: String,
    /// Resident ID number.
    pub id_number: ResidentId,
    /// Mobile number.
    pub mobile: Mobile,
    /// Household-registration place (户籍所在地).
    pub household_place: String,
}

/// Kinds of registration photo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhotoKind {
    /// ID card, front (portrait side).
    IdFront,
    /// ID card, back (issuing-authority side).
    IdBack,
    /// Recent one-inch photo: the enrollment face for attendance.
    Photo,
}

impl PhotoKind {
    /// Every kind.
    pub const ALL: [PhotoKind; 3] = [PhotoKind::IdFront, PhotoKind::IdBack, PhotoKind::Photo];

    /// Database / URL name.
    pub fn as_str(self) -> &'static str {
        match self {
            PhotoKind::IdFront => "id_front",
            PhotoKind::IdBack => "id_back",
            PhotoKind::Photo => "photo",
        }
    }

    /// Authenticated context of this kind's ciphertext (also used by key rotation).
    pub fn context(self) -> &'static [u8] {
        match self {
            PhotoKind::IdFront => b"student_files.id_front",
            PhotoKind::IdBack => b"student_files.id_back",
            PhotoKind::Photo => b"student_files.photo",
        }
    }
}

/// A student's record as shown to staff and regulators: the ID number masked.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StudentView {
    /// Account id.
    pub user_id: i64,
    /// Legal name.
    pub name: String,
    /// `410102********1234`.
    pub id_number_masked: String,
    /// Mobile number.
    pub mobile: String,
    /// Household-registration place.
    pub household_place: String,
    /// Which photos are on file.
    pub photos: Vec<PhotoKind>,
    /// Whether all three photos are on file.
    pub complete: bool,
}

/// Whether a record with this ID number exists; returns its user id.
pub async fn find_by_id_number(
    conn: &mut Conn,
    keys: &Keyring,
    id: &ResidentId,
) -> StoreResult<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT user_id FROM student_records WHERE id_number_index = $1")
            .bind(keys.blind_index(id.as_str().as_bytes()))
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Stores the real-name record of `user_id`.
pub async fn insert_record(
    conn: &mut Conn,
    keys: &Keyring,
    user_id: i64,
    r: &RealName,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO student_records (user_id, name, id_number_enc, id_number_index, \
         id_number_masked, mobile, household_place, registered_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(user_id)
    .bind(&r.name)
    .bind(keys.encrypt(r.id_number.as_str().as_bytes(), ID_CONTEXT))
    .bind(keys.blind_index(r.id_number.as_str().as_bytes()))
    .bind(r.id_number.masked())
    .bind(r.mobile.as_str())
    .bind(&r.household_place)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Stores (or replaces) one photo, encrypted.
pub async fn put_photo(
    conn: &mut Conn,
    keys: &Keyring,
    user_id: i64,
    kind: PhotoKind,
    content_type: &str,
    bytes: &[u8],
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO student_files (user_id, kind, content_type, ciphertext, uploaded_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, kind) DO UPDATE SET \
         content_type = excluded.content_type, ciphertext = excluded.ciphertext, \
         uploaded_at = excluded.uploaded_at",
    )
    .bind(user_id)
    .bind(kind.as_str())
    .bind(content_type)
    .bind(keys.encrypt(bytes, kind.context()))
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Reads and decrypts one photo: `(content type, bytes)`.
pub async fn get_photo(
    conn: &mut Conn,
    keys: &Keyring,
    user_id: i64,
    kind: PhotoKind,
) -> StoreResult<Option<(String, Vec<u8>)>> {
    let row = sqlx::query(
        "SELECT content_type, ciphertext FROM student_files WHERE user_id = $1 AND kind = $2",
    )
    .bind(user_id)
    .bind(kind.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let ct: Vec<u8> = row.try_get("ciphertext")?;
    let plain = keys
        .decrypt(&ct, kind.context())
        .map_err(|e| StoreError::Corrupt(format!("photo of user {user_id}: {e}")))?;
    Ok(Some((row.try_get("content_type")?, plain)))
}

/// Decrypts a student's ID number (for the archive and subsidy materials only).
pub async fn reveal_id_number(
    conn: &mut Conn,
    keys: &Keyring,
    user_id: i64,
) -> StoreResult<Option<String>> {
    let ct: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT id_number_enc FROM student_records WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(ct) = ct else { return Ok(None) };
    let plain = keys
        .decrypt(&ct, ID_CONTEXT)
        .map_err(|e| StoreError::Corrupt(format!("id number of user {user_id}: {e}")))?;
    String::from_utf8(plain)
        .map(Some)
        .map_err(|_| StoreError::Corrupt(format!("id number of user {user_id} is not text")))
}

const VIEW_SQL: &str = "SELECT r.user_id, r.name, r.id_number_masked, r.mobile, \
     r.household_place, \
     (SELECT COUNT(*) FROM student_files f WHERE f.user_id = r.user_id AND f.kind = 'id_front') AS has_front, \
     (SELECT COUNT(*) FROM student_files f WHERE f.user_id = r.user_id AND f.kind = 'id_back') AS has_back, \
     (SELECT COUNT(*) FROM student_files f WHERE f.user_id = r.user_id AND f.kind = 'photo') AS has_photo \
     FROM student_records r";

fn view_from_row(row: &sqlx::any::AnyRow) -> StoreResult<StudentView> {
    let mut photos = Vec::new();
    for (col, kind) in [
        ("has_front", PhotoKind::IdFront),
        ("has_back", PhotoKind::IdBack),
        ("has_photo", PhotoKind::Photo),
    ] {
        if row.try_get::<i64, _>(col)? > 0 {
            photos.push(kind);
        }
    }
    Ok(StudentView {
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        id_number_masked: row.try_get("id_number_masked")?,
        mobile: row.try_get("mobile")?,
        household_place: row.try_get("household_place")?,
        complete: photos.len() == 3,
        photos,
    })
}

/// One student's record.
pub async fn view(conn: &mut Conn, user_id: i64) -> StoreResult<Option<StudentView>> {
    let row = sqlx::query(&format!("{VIEW_SQL} WHERE r.user_id = $1"))
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(view_from_row).transpose()
}

/// The records of a class's enrolled students, by name.
pub async fn list_for_class(conn: &mut Conn, class_id: i64) -> StoreResult<Vec<StudentView>> {
    let rows = sqlx::query(&format!(
        "{VIEW_SQL} JOIN enrollments e ON e.student_id = r.user_id \
         WHERE e.class_id = $1 ORDER BY r.user_id"
    ))
    .bind(class_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(view_from_row).collect()
}
