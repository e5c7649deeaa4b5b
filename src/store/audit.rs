//! The audit log: who did what to which record, and when. Append-only: this module has no
//! update or delete. (The supervision issue chains the entries by hash.)

use serde::Serialize;
use sqlx::Row;

use super::{now_ms, Conn, StoreResult};

/// One audited act.
#[derive(Clone, Debug)]
pub struct NewEntry<'a> {
    /// Acting account (none for the system itself).
    pub actor_id: Option<i64>,
    /// Acting role, as text.
    pub actor_role: Option<&'a str>,
    /// What happened, e.g. `class.submit`.
    pub action: &'a str,
    /// Kind of record, e.g. `class`.
    pub target_kind: &'a str,
    /// Record id.
    pub target_id: Option<String>,
    /// Institution whose data it concerns (for scoping reads).
    pub institution_id: Option<i64>,
    /// Extra facts as JSON.
    pub detail: serde_json::Value,
}

/// A stored audit entry.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Entry {
    /// Sequence number.
    pub id: i64,
    /// Unix ms.
    pub at: i64,
    /// Acting account.
    pub actor_id: Option<i64>,
    /// Acting role.
    pub actor_role: Option<String>,
    /// What happened.
    pub action: String,
    /// Kind of record.
    pub target_kind: String,
    /// Record id.
    pub target_id: Option<String>,
    /// Institution concerned.
    pub institution_id: Option<i64>,
    /// Extra facts.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// Appends an entry.
pub async fn record(conn: &mut Conn, e: &NewEntry<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor_role, action, target_kind, target_id, \
         institution_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(now_ms())
    .bind(e.actor_id)
    .bind(e.actor_role)
    .bind(e.action)
    .bind(e.target_kind)
    .bind(e.target_id.as_deref())
    .bind(e.institution_id)
    .bind(e.detail.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Entries, newest first, optionally only for one target, limited to acts that concern no
/// institution or an institution whose region code starts with `jurisdiction`.
pub async fn list(
    conn: &mut Conn,
    jurisdiction: &str,
    target: Option<(&str, &str)>,
    limit: i64,
) -> StoreResult<Vec<Entry>> {
    let (kind, id) = target.unwrap_or(("", ""));
    let rows = sqlx::query(
        "SELECT id, at, actor_id, actor_role, action, target_kind, target_id, institution_id, \
         detail FROM audit_log WHERE ($1 = '' OR (target_kind = $1 AND target_id = $2)) \
         AND (institution_id IS NULL OR institution_id IN \
              (SELECT i.id FROM institutions i WHERE i.region_code LIKE $4)) \
         ORDER BY id DESC LIMIT $3",
    )
    .bind(kind)
    .bind(id)
    .bind(limit)
    .bind(format!("{jurisdiction}%"))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let detail: String = r.try_get("detail")?;
            Ok(Entry {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                actor_id: r.try_get("actor_id")?,
                actor_role: r.try_get("actor_role")?,
                action: r.try_get("action")?,
                target_kind: r.try_get("target_kind")?,
                target_id: r.try_get("target_id")?,
                institution_id: r.try_get("institution_id")?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
            })
        })
        .collect()
}
