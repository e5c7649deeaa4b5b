//! The bureau's copy of the monthly backups: list them, download any file of one
//! (manifest, signature, table dumps, stored files), and get the public keys to verify
//! them with (`ketang backup verify DIR --pubkey FILE`). Every download is audited.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::extract::CurrentUser;
use super::AppState;
use crate::auth::Action;
use crate::integrity::bundle;
use crate::integrity::signing::{PublicKeyInfo, SigningKeys};
use crate::store::audit;

/// A backup this server wrote.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BackupSummary {
    /// Position in the chain.
    pub sequence: i64,
    /// Name (`YYYY-MM` for the monthly ones).
    pub label: String,
    /// SHA-256 of its manifest (the next backup names it).
    pub manifest_sha256: String,
    /// Total bytes of its files.
    pub bytes: i64,
    /// Unix ms written.
    pub created_at: i64,
    /// Files to download: manifest, signature, then the listed files.
    pub files: Vec<String>,
}

/// The backups, oldest first.
#[utoipa::path(get, path = "/api/backups", tag = "supervision",
    responses((status = 200, body = Vec<BackupSummary>)))]
pub async fn list_backups(
    State(st): State<AppState>,
    me: CurrentUser,
) -> ApiResult<Json<Vec<BackupSummary>>> {
    me.require(Action::ReadBackups)?;
    let mut conn = st.store.conn().await?;
    let rows = sqlx::query_as::<_, (i64, String, String, String, i64, i64)>(
        "SELECT sequence, label, path, manifest_sha256, bytes, created_at FROM backups ORDER BY sequence",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for (sequence, label, path, manifest_sha256, bytes, created_at) in rows {
        let mut files = vec![bundle::MANIFEST.to_string(), bundle::SIGNATURE.to_string()];
        if let Ok((m, _)) = bundle::read_manifest(std::path::Path::new(&path)) {
            files.extend(m.files.into_iter().map(|f| f.path));
        }
        out.push(BackupSummary {
            sequence,
            label,
            manifest_sha256,
            bytes,
            created_at,
            files,
        });
    }
    Ok(Json(out))
}

/// One file of a backup, as stored (percent-encode `/` in `file`, e.g.
/// `tables%2Fusers.jsonl`). Only the manifest, the signature and files the manifest lists
/// can be fetched.
#[utoipa::path(get, path = "/api/backups/{label}/files/{file}", tag = "supervision",
    params(("label" = String, Path, description = "backup label"),
           ("file" = String, Path, description = "path inside the backup")),
    responses((status = 200, description = "the file's bytes", content_type = "application/octet-stream")))]
pub async fn download(
    State(st): State<AppState>,
    me: CurrentUser,
    Path((label, file)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    me.require(Action::ReadBackups)?;
    let mut conn = st.store.conn().await?;
    let not_found = || ApiError::not_found(format!("file {file:?} of backup {label:?}"));
    let dir: String = sqlx::query_scalar("SELECT path FROM backups WHERE label = $1")
        .bind(&label)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(not_found)?;
    let dir = std::path::PathBuf::from(dir);
    let listed = file == bundle::MANIFEST
        || file == bundle::SIGNATURE
        || bundle::read_manifest(&dir)
            .map(|(m, _)| m.files.iter().any(|f| f.path == file))
            .unwrap_or(false);
    if !listed {
        return Err(not_found());
    }
    let bytes = tokio::fs::read(dir.join(&file))
        .await
        .map_err(|_| not_found())?;
    audit::record(
        &mut conn,
        &audit::NewEntry {
            actor_id: Some(me.user.id),
            actor_role: Some(me.user.role.as_str()),
            action: "backup.download",
            target_kind: "backup",
            target_id: Some(label.clone()),
            institution_id: None,
            detail: serde_json::json!({"file": file, "bytes": bytes.len()}),
        },
    )
    .await?;
    let ct = if file.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    };
    Ok(([(header::CONTENT_TYPE, ct)], bytes))
}

/// Every public signing key the server has used (retired ones too, so older backups still
/// verify). Save a key's `public_key` to a file for `--pubkey`.
#[utoipa::path(get, path = "/api/backups/public-keys", tag = "supervision",
    responses((status = 200, body = Vec<PublicKeyInfo>)))]
pub async fn public_keys(
    State(st): State<AppState>,
    me: CurrentUser,
) -> ApiResult<Json<Vec<PublicKeyInfo>>> {
    me.require(Action::ReadBackups)?;
    let keys = SigningKeys::load_or_create(&st.config.key_dir()).map_err(|e| {
        tracing::error!(error = %e, "signing keys unavailable");
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "keys_unavailable",
            "the signing keys cannot be read",
        )
    })?;
    Ok(Json(keys.published().to_vec()))
}
