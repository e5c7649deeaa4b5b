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
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// Kinds that passed only between an assistant and a student in the room.
pub const PRIVATE_KINDS: [&str; 2] = ["private_chat", "private_call"];

/// Which interactions of a class to read, in order of `id`.
#[derive(Clone, Debug, Default)]
pub struct PageQuery<'a> {
    /// Only those with an id greater than this (the previous page's last id).
    pub after_id: i64,
    /// At most this many.
    pub limit: i64,
    /// Only this kind.
    pub kind: Option<&'a str>,
    /// Only this session.
    pub session_id: Option<i64>,
    /// Include [`PRIVATE_KINDS`].
    pub include_private: bool,
}

/// One page of a class's interactions, oldest first.
pub async fn page(
    conn: &mut Conn,
    class_id: i64,
    q: &PageQuery<'_>,
) -> StoreResult<Vec<Interaction>> {
    let mut sql = String::from(
        "SELECT id, session_id, at, actor_id, actor_role, kind, target_id, detail \
         FROM interaction_events WHERE class_id = $1 AND id > $2",
    );
    let mut n = 2;
    if q.kind.is_some() {
        n += 1;
        sql.push_str(&format!(" AND kind = ${n}"));
    }
    if q.session_id.is_some() {
        n += 1;
        sql.push_str(&format!(" AND session_id = ${n}"));
    }
    if !q.include_private {
        sql.push_str(" AND kind NOT IN ('private_chat', 'private_call')");
    }
    n += 1;
    sql.push_str(&format!(" ORDER BY id LIMIT ${n}"));
    let mut query = sqlx::query(&sql).bind(class_id).bind(q.after_id);
    if let Some(k) = q.kind {
        query = query.bind(k);
    }
    if let Some(sid) = q.session_id {
        query = query.bind(sid);
    }
    let rows = query.bind(q.limit).fetch_all(&mut *conn).await?;
    rows.iter().map(from_row).collect()
}

fn from_row(r: &sqlx::any::AnyRow) -> StoreResult<Interaction> {
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
