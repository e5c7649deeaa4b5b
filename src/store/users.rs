//! Accounts: username, argon2id hash, role, institution and (for regulators) jurisdiction.

use serde::Serialize;
use signaling::Role;
use sqlx::Row;

use super::{flag, now_ms, Conn, StoreError, StoreResult};

/// An account as the application sees it (no password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Account id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    #[schema(value_type = String)]
    pub role: Role,
    /// Name shown to others.
    pub display_name: String,
    /// Institution the account belongs to (none for regulators).
    pub institution_id: Option<i64>,
    /// Regulators: the region-code prefix they supervise.
    pub jurisdiction: Option<String>,
    /// Set for accounts created with a generated password.
    pub must_change_password: bool,
}

/// What is needed to create an account.
#[derive(Clone, Debug)]
pub struct NewUser<'a> {
    /// Login name (unique).
    pub username: &'a str,
    /// argon2id PHC string.
    pub password_hash: &'a str,
    /// Role.
    pub role: Role,
    /// Display name.
    pub display_name: &'a str,
    /// Owning institution.
    pub institution_id: Option<i64>,
    /// Regulators only.
    pub jurisdiction: Option<&'a str>,
    /// Force a password change at first login.
    pub must_change_password: bool,
}

const COLUMNS: &str =
    "id, username, role, display_name, institution_id, jurisdiction, must_change_password";

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<User> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        role: role
            .parse()
            .map_err(|e: signaling::role::UnknownRole| StoreError::Corrupt(e.to_string()))?,
        display_name: row.try_get("display_name")?,
        institution_id: row.try_get("institution_id")?,
        jurisdiction: row.try_get("jurisdiction")?,
        must_change_password: flag(row.try_get("must_change_password")?),
    })
}

/// Inserts an account and returns its id.
pub async fn insert(conn: &mut Conn, new: &NewUser<'_>) -> StoreResult<i64> {
    let id = sqlx::query_scalar(
        "INSERT INTO users (username, password_hash, role, display_name, institution_id, \
         jurisdiction, must_change_password, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(new.username)
    .bind(new.password_hash)
    .bind(new.role.as_str())
    .bind(new.display_name)
    .bind(new.institution_id)
    .bind(new.jurisdiction)
    .bind(i64::from(new.must_change_password))
    .bind(now_ms())
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// Looks an account up by id.
pub async fn get(conn: &mut Conn, id: i64) -> StoreResult<Option<User>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Looks an account up by login name, with its password hash.
pub async fn get_with_hash(conn: &mut Conn, username: &str) -> StoreResult<Option<(User, String)>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, password_hash FROM users WHERE username = $1"
    ))
    .bind(username)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => Ok(Some((from_row(&row)?, row.try_get("password_hash")?))),
        None => Ok(None),
    }
}

/// The password hash of an account.
pub async fn password_hash(conn: &mut Conn, id: i64) -> StoreResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Replaces an account's password hash and clears the change-at-login flag.
pub async fn set_password(conn: &mut Conn, id: i64, hash: &str) -> StoreResult<()> {
    sqlx::query("UPDATE users SET password_hash = $1, must_change_password = 0 WHERE id = $2")
        .bind(hash)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Accounts of one institution, optionally of one role, by id.
pub async fn list_by_institution(
    conn: &mut Conn,
    institution_id: i64,
    role: Option<Role>,
) -> StoreResult<Vec<User>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM users WHERE institution_id = $1 \
         AND ($2 = '' OR role = $2) ORDER BY id"
    ))
    .bind(institution_id)
    .bind(role.map(Role::as_str).unwrap_or(""))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Accounts of the institutions whose region code starts with `jurisdiction`.
pub async fn list_by_jurisdiction(
    conn: &mut Conn,
    jurisdiction: &str,
    role: Option<Role>,
) -> StoreResult<Vec<User>> {
    let rows = sqlx::query(&format!(
        "SELECT {} FROM users u JOIN institutions i ON i.id = u.institution_id \
         WHERE i.region_code LIKE $1 AND ($2 = '' OR u.role = $2) ORDER BY u.id",
        COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .bind(format!("{jurisdiction}%"))
    .bind(role.map(Role::as_str).unwrap_or(""))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}
