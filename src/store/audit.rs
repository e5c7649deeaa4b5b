//! The audit log: who did what to which record, and when. Append-only: this module has no
//! update or delete, and every entry carries the hash of the previous one (see
//! `crate::integrity::chain`), so `ketang audit verify` detects any edit, deletion,
//! insertion or reordering. [`record`] is the only write path.

use serde::Serialize;
use sqlx::{Connection, Row};

use super::{now_ms, Conn, StoreResult};
use crate::integrity::chain::{self, Link, GENESIS};

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
    /// Place in the hash chain.
    pub seq: Option<i64>,
    /// SHA-256 chaining this entry to the previous one (see `ketang audit verify`).
    pub hash: Option<String>,
}

/// Appends an entry to the chain. Runs in its own transaction, or in a savepoint of the
/// caller's, so the entry and the head move together or not at all.
pub async fn record(conn: &mut Conn, e: &NewEntry<'_>) -> StoreResult<()> {
    let mut tx = conn.begin().await?;
    // Writing the head row first takes SQLite's write lock / PostgreSQL's row lock before we
    // read the previous hash: concurrent writers queue here and the chain cannot fork.
    let (seq, prev_hash) = advance_head(&mut tx).await?;
    let mut link = Link {
        id: 0,
        seq,
        at: now_ms(),
        actor_id: e.actor_id,
        actor_role: e.actor_role.map(str::to_owned),
        action: e.action.to_owned(),
        target_kind: e.target_kind.to_owned(),
        target_id: e.target_id.clone(),
        institution_id: e.institution_id,
        detail: e.detail.to_string(),
        prev_hash,
        hash: String::new(),
    };
    link.hash = chain::entry_hash(&link.prev_hash, &link);
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor_role, action, target_kind, target_id, \
         institution_id, detail, seq, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(link.at)
    .bind(link.actor_id)
    .bind(link.actor_role.as_deref())
    .bind(&link.action)
    .bind(&link.target_kind)
    .bind(link.target_id.as_deref())
    .bind(link.institution_id)
    .bind(&link.detail)
    .bind(link.seq)
    .bind(&link.prev_hash)
    .bind(&link.hash)
    .execute(&mut *tx)
    .await?;
    set_head_hash(&mut tx, &link.hash).await?;
    tx.commit().await?;
    Ok(())
}

/// Creates the head row on the very first append and, in the same transaction, chains the
/// entries written before the chain existed (marked `prev_hash = 'legacy'` by migration
/// 0004), in row-id order. Only those: a row inserted later without chain fields is never
/// adopted, so `ketang audit verify` reports it.
async fn ensure_head(conn: &mut Conn) -> StoreResult<u64> {
    let created = sqlx::query(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING",
    )
    .bind(GENESIS)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if created == 0 {
        return Ok(0);
    }
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM audit_log WHERE seq IS NULL AND prev_hash = 'legacy' ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    for id in &ids {
        let (seq, prev_hash) = bump_head(conn).await?;
        let r = sqlx::query(
            "SELECT at, actor_id, actor_role, action, target_kind, target_id, institution_id, \
             detail FROM audit_log WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        let mut link = Link {
            id: *id,
            seq,
            at: r.try_get("at")?,
            actor_id: r.try_get("actor_id")?,
            actor_role: r.try_get("actor_role")?,
            action: r.try_get("action")?,
            target_kind: r.try_get("target_kind")?,
            target_id: r.try_get("target_id")?,
            institution_id: r.try_get("institution_id")?,
            detail: r.try_get("detail")?,
            prev_hash,
            hash: String::new(),
        };
        link.hash = chain::entry_hash(&link.prev_hash, &link);
        sqlx::query("UPDATE audit_log SET seq = $1, prev_hash = $2, hash = $3 WHERE id = $4")
            .bind(link.seq)
            .bind(&link.prev_hash)
            .bind(&link.hash)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        set_head_hash(conn, &link.hash).await?;
    }
    Ok(ids.len() as u64)
}

/// Increments the head's count and returns `(new seq, previous hash)`.
async fn bump_head(conn: &mut Conn) -> StoreResult<(i64, String)> {
    let row = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut *conn)
        .await?;
    Ok((row.try_get("seq")?, row.try_get("hash")?))
}

/// Creates the head if needed (chaining pre-chain entries) and takes the next position.
/// Both statements are writes, so the lock is taken before anything is read.
async fn advance_head(conn: &mut Conn) -> StoreResult<(i64, String)> {
    ensure_head(conn).await?;
    bump_head(conn).await
}

async fn set_head_hash(conn: &mut Conn, hash: &str) -> StoreResult<()> {
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Chains the entries written before migration 0004, once (at start-up, or at the first
/// append, whichever comes first). Returns how many were chained.
pub async fn seal_unchained(conn: &mut Conn) -> StoreResult<u64> {
    let mut tx = conn.begin().await?;
    let n = ensure_head(&mut tx).await?;
    tx.commit().await?;
    Ok(n)
}

/// Every entry in storage (row-id) order with its chain fields, and the head, for
/// verification. Rows without chain fields come back with `seq = 0`.
pub async fn chain_links(conn: &mut Conn) -> StoreResult<(Vec<Link>, Option<(i64, String)>)> {
    let rows = sqlx::query(
        "SELECT id, at, actor_id, actor_role, action, target_kind, target_id, institution_id, \
         detail, seq, prev_hash, hash FROM audit_log ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut links = Vec::with_capacity(rows.len());
    for r in &rows {
        links.push(Link {
            id: r.try_get("id")?,
            seq: r.try_get::<Option<i64>, _>("seq")?.unwrap_or(0),
            at: r.try_get("at")?,
            actor_id: r.try_get("actor_id")?,
            actor_role: r.try_get("actor_role")?,
            action: r.try_get("action")?,
            target_kind: r.try_get("target_kind")?,
            target_id: r.try_get("target_id")?,
            institution_id: r.try_get("institution_id")?,
            detail: r.try_get("detail")?,
            prev_hash: r
                .try_get::<Option<String>, _>("prev_hash")?
                .unwrap_or_default(),
            hash: r.try_get::<Option<String>, _>("hash")?.unwrap_or_default(),
        });
    }
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| Ok::<_, sqlx::Error>((r.try_get("seq")?, r.try_get("hash")?)))
        .transpose()?;
    Ok((links, head))
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
         detail, seq, hash FROM audit_log WHERE ($1 = '' OR (target_kind = $1 AND target_id = $2)) \
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
                seq: r.try_get("seq")?,
                hash: r.try_get("hash")?,
            })
        })
        .collect()
}
