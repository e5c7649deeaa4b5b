//! Login sessions: the token's SHA-256 is stored, never the token itself.

use sha2::{Digest, Sha256};

use super::{now_ms, Conn, StoreResult};

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Records a new session for `user_id` valid for `ttl_ms`.
pub async fn insert(conn: &mut Conn, token: &str, user_id: i64, ttl_ms: i64) -> StoreResult<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO auth_sessions (token_hash, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash(token))
    .bind(user_id)
    .bind(now)
    .bind(now + ttl_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The user id of a live session.
pub async fn user_for(conn: &mut Conn, token: &str) -> StoreResult<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT user_id FROM auth_sessions WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(token_hash(token))
    .bind(now_ms())
    .fetch_optional(&mut *conn)
    .await?)
}

/// Ends one session.
pub async fn delete(conn: &mut Conn, token: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM auth_sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Ends every session of a user (after a password change).
pub async fn delete_for_user(conn: &mut Conn, user_id: i64) -> StoreResult<()> {
    sqlx::query("DELETE FROM auth_sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Removes expired sessions; returns how many.
pub async fn purge_expired(conn: &mut Conn) -> StoreResult<u64> {
    Ok(
        sqlx::query("DELETE FROM auth_sessions WHERE expires_at <= $1")
            .bind(now_ms())
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}
