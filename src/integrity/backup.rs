//! Monthly backups: a consistent snapshot of every table (one read transaction:
//! REPEATABLE READ on PostgreSQL, a WAL read snapshot on SQLite) written as engine-neutral
//! JSON lines, the stored files, and a signed manifest that chains onto the previous
//! backup's manifest. Restore loads a verified backup into an empty SQLite or PostgreSQL
//! database in one transaction (schema included), so any error leaves the target as it was.

use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sqlx::{Executor, Row};

use super::bundle::{self, BundleError, BundleWriter, KeyChoice, Verified};
use super::signing::{PublicKeys, SigningKeys};
use super::snapshot::{self, quote, SnapshotError, Table};
use crate::store::{audit, redact_url, Conn, DbKind, Store, StoreError};

/// Bundle kind of backups.
pub const KIND: &str = "backup";
/// Folder of stored files under the data folder (uploads, recordings once they exist).
pub const STORED_FILES_DIR: &str = "files";

/// A table in a backup.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableEntry {
    /// Name and typed columns.
    #[serde(flatten)]
    pub table: Table,
    /// Dump file inside the bundle.
    pub file: String,
    /// Row count.
    pub rows: u64,
}

/// The backup this one chains onto.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PreviousLink {
    /// Its sequence number.
    pub sequence: i64,
    /// Its label.
    pub label: String,
    /// SHA-256 of its `manifest.json`.
    pub manifest_sha256: String,
}

/// The audit chain's head at snapshot time (anchors the log in a signed document).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditAnchor {
    /// Entries in the chain.
    pub seq: i64,
    /// Hash of the last entry.
    pub hash: String,
}

/// What a backup manifest's `content` holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BackupInfo {
    /// 1, 2, 3… across this server's backups.
    pub sequence: i64,
    /// The backup before (none for the first).
    pub previous: Option<PreviousLink>,
    /// Engine it was taken from (`sqlite` or `postgres`); restore works into either.
    pub engine: String,
    /// Migrations applied at snapshot time.
    pub schema_versions: Vec<i64>,
    /// Tables in foreign-key order.
    pub tables: Vec<TableEntry>,
    /// Audit head at snapshot time.
    pub audit_head: Option<AuditAnchor>,
}

/// Errors of backup, verification and restore.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The bundle failed verification.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A valid bundle of another kind.
    #[error("{dir} is a signed {kind}, not a backup")]
    NotABackup {
        /// Folder.
        dir: PathBuf,
        /// Its kind.
        kind: String,
    },
    /// The manifest's content is not a backup description.
    #[error("manifest content is not a backup description: {0}")]
    BadContent(String),
    /// Dumping or loading failed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Restore target holds data.
    #[error("the target database {url} is not empty: table {table} has {rows} rows; restore only into an empty database")]
    TargetNotEmpty {
        /// Redacted URL.
        url: String,
        /// First non-empty table.
        table: String,
        /// Its rows.
        rows: i64,
    },
    /// The target's schema lacks something the backup holds.
    #[error("the target schema has no {what}; upgrade ketang before restoring this backup")]
    SchemaMismatch {
        /// Missing table or column.
        what: String,
    },
    /// The label cannot name a backup.
    #[error(
        "backup label {0:?} must be 1–64 letters, digits, '.', '_' or '-', not starting with '.'"
    )]
    BadLabel(String),
    /// The label is used by an earlier backup.
    #[error("a backup labelled {0:?} exists already")]
    LabelTaken(String),
    /// Folder-of-backups check failed.
    #[error("{0}")]
    Chain(String),
    /// I/O outside a bundle.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl From<sqlx::Error> for BackupError {
    fn from(e: sqlx::Error) -> Self {
        BackupError::Store(e.into())
    }
}

/// What `create` did.
#[derive(Clone, Debug, Serialize)]
pub struct Created {
    /// Where.
    pub dir: PathBuf,
    /// Label.
    pub label: String,
    /// Sequence.
    pub sequence: i64,
    /// SHA-256 of the manifest.
    pub manifest_sha256: String,
    /// Total bytes of the files.
    pub bytes: u64,
    /// Rows over all tables.
    pub rows: u64,
    /// Seconds taken.
    pub seconds: f64,
}

/// Whether `label` can name a backup (it becomes a folder name and a URL segment).
pub fn valid_label(label: &str) -> bool {
    (1..=64).contains(&label.len())
        && !label.starts_with('.')
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn engine_name(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Sqlite => "sqlite",
        DbKind::Postgres => "postgres",
    }
}

fn add_stored_files(w: &mut BundleWriter, root: &Path, dir: &Path) -> Result<(), BackupError> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .collect::<Result<_, _>>()
        .map_err(io_err(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            add_stored_files(w, root, &p)?;
        } else if p.is_file() {
            let rel = p.strip_prefix(root).expect("under root");
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            w.copy(&format!("{STORED_FILES_DIR}/{rel}"), &p)?;
        }
    }
    Ok(())
}

/// Writes a backup of `store` (and of `data_dir/files`) to `out`, signs it, and records
/// it (and an audit entry) so the next backup chains onto it.
pub async fn create(
    store: &Store,
    data_dir: &Path,
    out: &Path,
    label: Option<&str>,
    keys: &SigningKeys,
    actor: (Option<i64>, &str),
) -> Result<Created, BackupError> {
    let started = Instant::now();
    let label = match label {
        Some(l) => l.to_string(),
        None => out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| BackupError::Chain(format!("{} has no folder name", out.display())))?,
    };
    if !valid_label(&label) {
        return Err(BackupError::BadLabel(label));
    }
    let mut writer = BundleWriter::create(out)?;
    let mut tx = store.begin().await?;
    if store.kind() == DbKind::Postgres {
        // One snapshot for every table.
        tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
    }
    let taken: Option<i64> = sqlx::query_scalar("SELECT sequence FROM backups WHERE label = $1")
        .bind(&label)
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Err(BackupError::LabelTaken(label));
    }
    let previous = sqlx::query(
        "SELECT sequence, label, manifest_sha256 FROM backups ORDER BY sequence DESC LIMIT 1",
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| {
        Ok::<_, sqlx::Error>(PreviousLink {
            sequence: r.try_get("sequence")?,
            label: r.try_get("label")?,
            manifest_sha256: r.try_get("manifest_sha256")?,
        })
    })
    .transpose()?;
    let schema_versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&mut *tx)
            .await?;
    let audit_head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| {
            Ok::<_, sqlx::Error>(AuditAnchor {
                seq: r.try_get("seq")?,
                hash: r.try_get("hash")?,
            })
        })
        .transpose()?;
    let mut entries = Vec::new();
    let mut total_rows = 0;
    for table in snapshot::tables(&mut tx, store.kind()).await? {
        let file = format!("tables/{}.jsonl", table.name);
        let mut w = writer.file(&file)?;
        let rows = snapshot::dump(&mut tx, &table, &mut w).await?;
        w.close().map_err(|e| SnapshotError::Io(file.clone(), e))?;
        total_rows += rows;
        entries.push(TableEntry { table, file, rows });
    }
    tx.commit().await?;
    let files_dir = data_dir.join(STORED_FILES_DIR);
    if files_dir.is_dir() {
        add_stored_files(&mut writer, &files_dir, &files_dir)?;
    }
    let sequence = previous.as_ref().map_or(1, |p| p.sequence + 1);
    let info = BackupInfo {
        sequence,
        previous,
        engine: engine_name(store.kind()).into(),
        schema_versions,
        tables: entries,
        audit_head,
    };
    let content = serde_json::to_value(&info).expect("serialisable");
    let (manifest, manifest_sha256) = writer.finish(KIND, &label, content, keys)?;
    let bytes: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    let mut tx = store.begin().await?;
    let registered = sqlx::query(
        "INSERT INTO backups (sequence, label, path, manifest_sha256, bytes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(sequence)
    .bind(&label)
    .bind(out.to_string_lossy().into_owned())
    .bind(&manifest_sha256)
    .bind(bytes as i64)
    .bind(manifest.created_at)
    .execute(&mut *tx)
    .await;
    if let Err(e) = registered {
        // Another backup took this sequence meanwhile: withdraw ours, it would fork the chain.
        let _ = fs::remove_dir_all(out);
        return Err(e.into());
    }
    audit::record(
        &mut tx,
        &audit::NewEntry {
            actor_id: actor.0,
            actor_role: Some(actor.1),
            action: "backup.create",
            target_kind: "backup",
            target_id: Some(label.clone()),
            institution_id: None,
            detail: serde_json::json!({
                "sequence": sequence, "manifest_sha256": manifest_sha256, "bytes": bytes,
                "rows": total_rows,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Created {
        dir: out.to_path_buf(),
        label,
        sequence,
        manifest_sha256,
        bytes,
        rows: total_rows,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The backup description in a verified bundle.
pub fn info_of(dir: &Path, v: &Verified) -> Result<BackupInfo, BackupError> {
    if v.manifest.kind != KIND {
        return Err(BackupError::NotABackup {
            dir: dir.to_path_buf(),
            kind: v.manifest.kind.clone(),
        });
    }
    serde_json::from_value(v.manifest.content.clone())
        .map_err(|e| BackupError::BadContent(e.to_string()))
}

/// Result of verifying one backup or a folder of them.
#[derive(Clone, Debug)]
pub struct VerifyReport {
    /// Each bundle checked: label, sequence (0 for archives), key id.
    pub checked: Vec<(String, i64, String)>,
}

fn is_bundle(dir: &Path) -> bool {
    dir.join(bundle::MANIFEST).is_file()
}

/// Verifies a backup (or class archive) folder, or a folder of backups (then also the chain
/// between them: names match labels, sequences consecutive, each links to the one before).
pub fn verify_path(
    path: &Path,
    keys: &PublicKeys,
    choice: KeyChoice,
) -> Result<VerifyReport, BackupError> {
    if !path.exists() {
        return Err(BundleError::NotFound(path.to_path_buf()).into());
    }
    if is_bundle(path) {
        let v = bundle::verify(path, keys, choice)?;
        let seq = if v.manifest.kind == KIND {
            info_of(path, &v)?.sequence
        } else {
            0
        };
        return Ok(VerifyReport {
            checked: vec![(v.manifest.label.clone(), seq, v.manifest.key_id.clone())],
        });
    }
    let mut dirs: Vec<PathBuf> = fs::read_dir(path)
        .map_err(io_err(path))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    dirs.sort();
    if dirs.is_empty() || !dirs.iter().any(|d| is_bundle(d)) {
        return Err(BundleError::NotABundle(path.to_path_buf()).into());
    }
    let mut checked = Vec::new();
    let mut prev: Option<(String, BackupInfo, String)> = None;
    for d in dirs {
        let name = d.file_name().expect("named").to_string_lossy().into_owned();
        let v = bundle::verify(&d, keys, choice)
            .map_err(|e| BackupError::Chain(format!("{name}: {e}")))?;
        let info = info_of(&d, &v).map_err(|e| BackupError::Chain(format!("{name}: {e}")))?;
        if v.manifest.label != name {
            return Err(BackupError::Chain(format!(
                "folder {name} holds the backup labelled {:?} (#{}): backups were swapped or renamed",
                v.manifest.label, info.sequence
            )));
        }
        if let Some((plabel, pinfo, psha)) = &prev {
            if info.sequence <= pinfo.sequence {
                return Err(BackupError::Chain(format!(
                    "backup {name} is #{} but comes after {plabel} (#{}): backups are out of order",
                    info.sequence, pinfo.sequence
                )));
            }
            if info.sequence != pinfo.sequence + 1 {
                return Err(BackupError::Chain(format!(
                    "backup #{} is missing between {plabel} (#{}) and {name} (#{})",
                    pinfo.sequence + 1,
                    pinfo.sequence,
                    info.sequence
                )));
            }
            let link = info.previous.as_ref().map(|p| p.manifest_sha256.as_str());
            if link != Some(psha.as_str()) {
                return Err(BackupError::Chain(format!(
                    "backup {name} (#{}) does not chain onto {plabel}: it names previous manifest {}, but {plabel}'s manifest hashes to {}; {plabel} was replaced",
                    info.sequence,
                    link.map_or("none".to_string(), |h| h.chars().take(16).collect()),
                    psha.chars().take(16).collect::<String>()
                )));
            }
        }
        checked.push((name.clone(), info.sequence, v.manifest.key_id.clone()));
        prev = Some((name, info, v.manifest_sha256));
    }
    Ok(VerifyReport { checked })
}

/// What `restore` did.
#[derive(Clone, Debug, Serialize)]
pub struct Restored {
    /// Tables loaded.
    pub tables: usize,
    /// Rows loaded.
    pub rows: u64,
}

/// Verifies the backup in `dir` and loads it into the empty database at `url`, creating
/// the schema; all in one transaction. A SQLite file created here is removed on failure.
pub async fn restore(
    dir: &Path,
    url: &str,
    keys: &PublicKeys,
    choice: KeyChoice,
) -> Result<Restored, BackupError> {
    // Everything about the input is checked before the target is touched.
    let v = bundle::verify(dir, keys, choice)?;
    let info = info_of(dir, &v)?;
    let sqlite_file = url
        .strip_prefix("sqlite://")
        .map(|r| PathBuf::from(r.split('?').next().unwrap_or_default()));
    let existed = sqlite_file.as_ref().is_some_and(|p| p.exists());
    let store = Store::connect(url).await?;
    let result = load_into(&store, dir, &info, url).await;
    store.pool().close().await;
    if result.is_err() && !existed {
        if let Some(p) = sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = fs::remove_file(format!("{}{suffix}", p.display()));
            }
        }
    }
    result
}

async fn load_into(
    store: &Store,
    dir: &Path,
    info: &BackupInfo,
    url: &str,
) -> Result<Restored, BackupError> {
    let mut tx = store.begin().await?;
    // Migrations inside our transaction (they nest as savepoints): a failed restore leaves
    // no schema behind either. DDL is transactional on both engines.
    Store::migrator(store.kind())
        .run(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    let target = snapshot::tables(&mut tx, store.kind()).await?;
    for t in &target {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quote(&t.name)))
            .fetch_one(&mut *tx)
            .await?;
        if rows > 0 {
            return Err(BackupError::TargetNotEmpty {
                url: redact_url(url),
                table: t.name.clone(),
                rows,
            });
        }
    }
    for e in &info.tables {
        let Some(t) = target.iter().find(|t| t.name == e.table.name) else {
            return Err(BackupError::SchemaMismatch {
                what: format!("table {}", e.table.name),
            });
        };
        for c in &e.table.columns {
            if !t.columns.iter().any(|tc| tc.name == c.name) {
                return Err(BackupError::SchemaMismatch {
                    what: format!("column {}.{}", e.table.name, c.name),
                });
            }
        }
    }
    let mut rows = 0;
    for e in &info.tables {
        let path = dir.join(&e.file);
        let f = fs::File::open(&path).map_err(io_err(&path))?;
        let n = snapshot::load(&mut tx, &e.table, &e.file, BufReader::new(f)).await?;
        if n != e.rows {
            return Err(BackupError::BadContent(format!(
                "{} holds {n} rows, the manifest says {}",
                e.file, e.rows
            )));
        }
        rows += n;
    }
    if store.kind() == DbKind::Postgres {
        // Identity columns: continue numbering after the restored ids.
        for e in &info.tables {
            if e.table.columns.iter().any(|c| c.name == "id") {
                let t = quote(&e.table.name);
                sqlx::query(&format!(
                    "SELECT setval(pg_get_serial_sequence($1, 'id'), m) \
                     FROM (SELECT MAX(id) AS m FROM {t}) x \
                     WHERE m IS NOT NULL AND pg_get_serial_sequence($1, 'id') IS NOT NULL"
                ))
                .bind(&e.table.name)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(Restored {
        tables: info.tables.len(),
        rows,
    })
}

/// Rows loaded per table of the backup in `dir`, without checking it (for listings).
pub fn describe(dir: &Path) -> Result<(bundle::Manifest, BackupInfo), BackupError> {
    let (m, _) = bundle::read_manifest(dir)?;
    let info = serde_json::from_value(m.content.clone())
        .map_err(|e| BackupError::BadContent(e.to_string()))?;
    Ok((m, info))
}

/// Label for a scheduled backup in the month of `date` (`YYYY-MM`).
pub fn month_label(date: chrono::NaiveDate) -> String {
    date.format("%Y-%m").to_string()
}

/// Connection helper for callers that only have a `Conn`.
pub async fn latest_label(conn: &mut Conn) -> Result<Option<String>, BackupError> {
    Ok(
        sqlx::query_scalar("SELECT label FROM backups ORDER BY sequence DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for ok in ["2026-11", "bk", "pre_upgrade.1"] {
            assert!(valid_label(ok), "{ok}");
        }
        for bad in ["", ".hidden", "a/b", "..", "月", &"x".repeat(65)] {
            assert!(!valid_label(bad), "{bad}");
        }
    }
}
