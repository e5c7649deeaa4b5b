//! Reports generated at class end, kept as they were produced.

use super::{now_ms, Conn, StoreResult};

/// Stores (replaces) one report file.
pub async fn put(
    conn: &mut Conn,
    class_id: i64,
    kind: &str,
    format: &str,
    content: &[u8],
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO class_reports (class_id, kind, format, content, generated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (class_id, kind, format) DO UPDATE SET \
         content = excluded.content, generated_at = excluded.generated_at",
    )
    .bind(class_id)
    .bind(kind)
    .bind(format)
    .bind(content)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A stored report file and when it was generated.
pub async fn get(
    conn: &mut Conn,
    class_id: i64,
    kind: &str,
    format: &str,
) -> StoreResult<Option<(Vec<u8>, i64)>> {
    Ok(sqlx::query_as(
        "SELECT content, generated_at FROM class_reports \
         WHERE class_id = $1 AND kind = $2 AND format = $3",
    )
    .bind(class_id)
    .bind(kind)
    .bind(format)
    .fetch_optional(&mut *conn)
    .await?)
}
