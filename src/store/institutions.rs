//! Training institutions (定点培训机构), each in a region that regulators supervise.

use serde::Serialize;
use sqlx::Row;

use super::{now_ms, Conn, StoreResult};

/// A designated training institution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Institution {
    /// Id.
    pub id: i64,
    /// Registered name.
    pub name: String,
    /// Administrative-division code (6 digits); regulators match by prefix.
    pub region_code: String,
}

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<Institution> {
    Ok(Institution {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        region_code: row.try_get("region_code")?,
    })
}

/// Inserts an institution and returns its id.
pub async fn insert(conn: &mut Conn, name: &str, region_code: &str) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO institutions (name, region_code, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(name)
    .bind(region_code)
    .bind(now_ms())
    .fetch_one(&mut *conn)
    .await?)
}

/// By id.
pub async fn get(conn: &mut Conn, id: i64) -> StoreResult<Option<Institution>> {
    let row = sqlx::query("SELECT id, name, region_code FROM institutions WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// By exact name.
pub async fn find_by_name(conn: &mut Conn, name: &str) -> StoreResult<Option<Institution>> {
    let row = sqlx::query("SELECT id, name, region_code FROM institutions WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Institutions whose region code starts with `prefix` (a regulator's jurisdiction).
pub async fn list_in_jurisdiction(conn: &mut Conn, prefix: &str) -> StoreResult<Vec<Institution>> {
    let rows = sqlx::query(
        "SELECT id, name, region_code FROM institutions WHERE region_code LIKE $1 ORDER BY id",
    )
    .bind(format!("{prefix}%"))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}
