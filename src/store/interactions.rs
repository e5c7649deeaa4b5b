//! Classroom interaction as teaching data: the rooms' events, appended in batches.

use serde::Serialize;
use signaling::events::RoomEvent;
use sqlx::Row;

use super::{Conn, StoreResult};

/// Appends events (one transaction is the caller's choice).
pub async fn insert(conn: &mut Conn, events: &[RoomEvent]) -> StoreResult<()> {
    for e in events {
        sqlx::query(
            "INSERT INTO interaction_events (class_id, session_id, at, actor_id, actor_role, \
             kind, target_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(e.class_id)
        .bind(e.session_id)
        .bind(e.at)
        .bind(e.actor_id)
        .bind(e.actor_role.as_str())
        .bind(e.kind.as_str())
        .bind(e.target_id)
        .bind(e.detail.to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A stored interaction.
#[derive(Clone, Debug, Serialize)]
pub struct Interaction {
    /// Sequence number.
    pub id: i64,
    /// Session.
    pub session_id: i64,
    /// Unix ms.
    pub at: i64,
    /// Who acted.
    pub actor_id: i64,
    /// Their role.
    pub actor_role: String,
    /// What happened.
    pub kind: String,
    /// Whom it concerned.
    pub target_id: Option<i64>,
    /// Text and other facts.
    pub detail: serde_json::Value,
}

/// A class's interactions in order.
pub async fn list_for_class(conn: &mut Conn, class_id: i64) -> StoreResult<Vec<Interaction>> {
    let rows = sqlx::query(
        "SELECT id, session_id, at, actor_id, actor_role, kind, target_id, detail \
         FROM interaction_events WHERE class_id = $1 ORDER BY id",
    )
    .bind(class_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let detail: String = r.try_get("detail")?;
            Ok(Interaction {
                id: r.try_get("id")?,
                session_id: r.try_get("session_id")?,
                at: r.try_get("at")?,
                actor_id: r.try_get("actor_id")?,
                actor_role: r.try_get("actor_role")?,
                kind: r.try_get("kind")?,
                target_id: r.try_get("target_id")?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
            })
        })
        .collect()
}
