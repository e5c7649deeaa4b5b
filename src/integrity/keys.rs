//! `ketang key rotate`: a new data key re-encrypts every encrypted column in one
//! transaction, and a new signing key replaces the old one (whose public key stays
//! published so older backups and archives still verify).

use std::path::Path;

use sqlx::Row;

use crate::crypto::{CryptoError, Keyring};
use crate::store::students::{PhotoKind, ID_CONTEXT};
use crate::store::{audit, Store, StoreError};

use super::signing::{KeyError, SigningKeys};

/// An encrypted column and how its authenticated context is formed. Branches that add
/// encrypted columns add a line to [`ENCRYPTED_COLUMNS`].
pub struct EncryptedColumn {
    /// Table.
    pub table: &'static str,
    /// Ciphertext column.
    pub column: &'static str,
    /// Columns that identify a row.
    pub key: &'static [&'static str],
    /// Context: fixed, or derived from the row (e.g. the photo kind).
    pub context: fn(&sqlx::any::AnyRow) -> Result<Vec<u8>, String>,
}

fn id_context(_: &sqlx::any::AnyRow) -> Result<Vec<u8>, String> {
    Ok(ID_CONTEXT.to_vec())
}

fn photo_context(row: &sqlx::any::AnyRow) -> Result<Vec<u8>, String> {
    let kind: String = row.try_get("kind").map_err(|e| e.to_string())?;
    PhotoKind::ALL
        .into_iter()
        .find(|k| k.as_str() == kind)
        .map(|k| k.context().to_vec())
        .ok_or_else(|| format!("unknown photo kind {kind:?}"))
}

/// Every column encrypted with the data keyring.
pub const ENCRYPTED_COLUMNS: &[EncryptedColumn] = &[
    EncryptedColumn {
        table: "student_records",
        column: "id_number_enc",
        key: &["user_id"],
        context: id_context,
    },
    EncryptedColumn {
        table: "student_files",
        column: "ciphertext",
        key: &["user_id", "kind"],
        context: photo_context,
    },
];

/// Errors of rotation.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// Data key handling failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Signing key handling failed.
    #[error(transparent)]
    Signing(#[from] KeyError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored ciphertext could not be decrypted with any held key.
    #[error("{table}.{column} row ({key}): {reason}")]
    Row {
        /// Table.
        table: &'static str,
        /// Column.
        column: &'static str,
        /// Row key.
        key: String,
        /// Why.
        reason: String,
    },
}

impl From<sqlx::Error> for RotateError {
    fn from(e: sqlx::Error) -> Self {
        RotateError::Store(e.into())
    }
}

/// What a rotation did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Rotated {
    /// New data key id.
    pub data_key_id: u32,
    /// Ciphertexts re-encrypted.
    pub reencrypted: u64,
    /// New signing key id.
    pub signing_key_id: String,
}

/// Re-encrypts every ciphertext not under `keys`' current key, in one transaction.
pub async fn reencrypt_all(store: &Store, keys: &Keyring) -> Result<u64, RotateError> {
    let mut tx = store.begin().await?;
    let mut n = 0;
    for col in ENCRYPTED_COLUMNS {
        let sql = format!(
            "SELECT {}, {} FROM {}",
            col.key.join(", "),
            col.column,
            col.table
        );
        let rows = sqlx::query(&sql).fetch_all(&mut *tx).await?;
        for row in rows {
            let key_desc = col
                .key
                .iter()
                .map(|k| {
                    row.try_get::<i64, _>(*k)
                        .map(|v| v.to_string())
                        .or_else(|_| row.try_get::<String, _>(*k))
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(", ");
            let fail = |reason: String| RotateError::Row {
                table: col.table,
                column: col.column,
                key: key_desc.clone(),
                reason,
            };
            let blob: Vec<u8> = row.try_get(col.column)?;
            let ctx = (col.context)(&row).map_err(fail)?;
            let Some(fresh) = keys
                .reencrypt(&blob, &ctx)
                .map_err(|e| fail(e.to_string()))?
            else {
                continue;
            };
            let where_clause = col
                .key
                .iter()
                .enumerate()
                .map(|(i, k)| format!("{k} = ${}", i + 2))
                .collect::<Vec<_>>()
                .join(" AND ");
            let update = format!(
                "UPDATE {} SET {} = $1 WHERE {where_clause}",
                col.table, col.column
            );
            let mut q = sqlx::query(&update).bind(fresh);
            for k in col.key {
                q = match row.try_get::<i64, _>(*k) {
                    Ok(v) => q.bind(v),
                    Err(_) => q.bind(row.try_get::<String, _>(*k)?),
                };
            }
            q.execute(&mut *tx).await?;
            n += 1;
        }
    }
    audit::record(
        &mut tx,
        &audit::NewEntry {
            actor_id: None,
            actor_role: Some("operator"),
            action: "key.rotate",
            target_kind: "keyring",
            target_id: Some(keys.current_key_id().to_string()),
            institution_id: None,
            detail: serde_json::json!({"reencrypted": n}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// Rotates both keys in `key_dir` and re-encrypts the data in `store`. The new data key is
/// written (with the old ones kept) before re-encryption starts, so a failure at any point
/// leaves every ciphertext decryptable; running it again finishes the job.
pub async fn rotate(store: &Store, key_dir: &Path) -> Result<Rotated, RotateError> {
    let keys = Keyring::rotate(key_dir)?;
    let reencrypted = reencrypt_all(store, &keys).await?;
    let signing = SigningKeys::load_or_create(key_dir)?.rotate(key_dir)?;
    Ok(Rotated {
        data_key_id: keys.current_key_id(),
        reencrypted,
        signing_key_id: signing.key_id().to_string(),
    })
}
