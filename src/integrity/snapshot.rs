//! Engine-neutral table dumps: the list of application tables with typed columns in
//! foreign-key order, rows written as JSON lines, and rows read back into either engine.
//!
//! A row is one JSON array, values in column order: integers and reals as numbers, text
//! as strings, blobs as base64 strings, booleans as `true`/`false`, NULL as `null`. The
//! column types live in the (signed) manifest, so a NULL binds with the right type on
//! PostgreSQL and the same dump restores into SQLite or PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Executor, Row};

use crate::store::{Conn, DbKind, StoreError};

/// Type class of a column, portable between the engines.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ColType {
    /// 64-bit integer.
    Int,
    /// Double.
    Real,
    /// UTF-8 text.
    Text,
    /// Bytes.
    Blob,
    /// Boolean.
    Bool,
}

impl ColType {
    /// Classifies a declared SQL type (SQLite affinity rules, PostgreSQL type names).
    pub fn from_declared(decl: &str) -> Self {
        let d = decl.to_ascii_lowercase();
        if d.contains("bool") {
            ColType::Bool
        } else if d.contains("int") {
            ColType::Int
        } else if d.contains("char") || d.contains("text") || d.contains("clob") {
            ColType::Text
        } else if d.contains("blob") || d.contains("bytea") || d.is_empty() {
            ColType::Blob
        } else if d.contains("real") || d.contains("floa") || d.contains("doub") {
            ColType::Real
        } else {
            ColType::Text
        }
    }
}

/// One column.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Column {
    /// Name.
    pub name: String,
    /// Type class.
    #[serde(rename = "type")]
    pub ty: ColType,
}

/// One table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Table {
    /// Name.
    pub name: String,
    /// Columns in table order.
    pub columns: Vec<Column>,
}

/// Errors of dumping and loading.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value could not be read with its declared type.
    #[error("table {table}, column {column}: {reason}")]
    Value {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Why.
        reason: String,
    },
    /// A dump line is not a row of this table (or a batch of lines failed to insert).
    #[error("{file} line {line}: {reason}")]
    Line {
        /// File in the bundle.
        file: String,
        /// 1-based line, or a range `a–b` for a batch.
        line: String,
        /// Why.
        reason: String,
    },
    /// Writing the dump failed.
    #[error("writing {0}: {1}")]
    Io(String, std::io::Error),
}

impl From<sqlx::Error> for SnapshotError {
    fn from(e: sqlx::Error) -> Self {
        SnapshotError::Store(e.into())
    }
}

/// Double-quoted identifier.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Application tables (not sqlx's bookkeeping), parents before children.
pub async fn tables(conn: &mut Conn, kind: DbKind) -> Result<Vec<Table>, SnapshotError> {
    let names: Vec<String> = match kind {
        DbKind::Sqlite => {
            sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%' ORDER BY name",
            )
            .fetch_all(&mut *conn)
            .await?
        }
        DbKind::Postgres => {
            sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                 AND table_name NOT LIKE '_sqlx_%' ORDER BY table_name",
            )
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let mut cols = BTreeMap::new();
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for t in &names {
        let rows: Vec<(String, String)> =
            match kind {
                DbKind::Sqlite => {
                    sqlx::query_as("SELECT name, type FROM pragma_table_info($1) ORDER BY cid")
                        .bind(t)
                        .fetch_all(&mut *conn)
                        .await?
                }
                DbKind::Postgres => sqlx::query_as(
                    "SELECT column_name::text, data_type::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 \
                     ORDER BY ordinal_position",
                )
                .bind(t)
                .fetch_all(&mut *conn)
                .await?,
            };
        cols.insert(
            t.clone(),
            rows.into_iter()
                .map(|(name, decl)| Column {
                    name,
                    ty: ColType::from_declared(&decl),
                })
                .collect::<Vec<_>>(),
        );
        let refs: Vec<String> = match kind {
            DbKind::Sqlite => {
                sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list($1)")
                    .bind(t)
                    .fetch_all(&mut *conn)
                    .await?
            }
            DbKind::Postgres => {
                sqlx::query_scalar(
                    "SELECT p.relname::text FROM pg_constraint c \
                     JOIN pg_class ch ON ch.oid = c.conrelid \
                     JOIN pg_class p ON p.oid = c.confrelid \
                     JOIN pg_namespace n ON n.oid = ch.relnamespace \
                     WHERE c.contype = 'f' AND n.nspname = current_schema() AND ch.relname = $1",
                )
                .bind(t)
                .fetch_all(&mut *conn)
                .await?
            }
        };
        parents.insert(t.clone(), refs.into_iter().filter(|p| p != t).collect());
    }
    // Kahn's algorithm; ties alphabetical so the order is stable.
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    while done.len() < names.len() {
        let next = names
            .iter()
            .find(|t| {
                !done.contains(*t)
                    && parents[*t]
                        .iter()
                        .all(|p| done.contains(p) || !cols.contains_key(p))
            })
            .cloned()
            // A cycle: take the rest alphabetically (restore would report the FK error).
            .or_else(|| names.iter().find(|t| !done.contains(*t)).cloned())
            .expect("some table left");
        done.insert(next.clone());
        out.push(Table {
            columns: cols.remove(&next).expect("columns read"),
            name: next,
        });
    }
    Ok(out)
}

fn value_of(row: &AnyRow, i: usize, ty: ColType) -> Result<serde_json::Value, sqlx::Error> {
    use serde_json::Value;
    Ok(match ty {
        ColType::Int => row
            .try_get::<Option<i64>, _>(i)?
            .map_or(Value::Null, Value::from),
        ColType::Real => row
            .try_get::<Option<f64>, _>(i)?
            .map_or(Value::Null, Value::from),
        ColType::Text => row
            .try_get::<Option<String>, _>(i)?
            .map_or(Value::Null, Value::from),
        ColType::Bool => row
            .try_get::<Option<bool>, _>(i)?
            .map_or(Value::Null, Value::from),
        ColType::Blob => row
            .try_get::<Option<Vec<u8>>, _>(i)?
            .map_or(Value::Null, |b| {
                Value::from(base64::engine::general_purpose::STANDARD.encode(b))
            }),
    })
}

/// Writes every row of `table` (ordered by all columns) as JSON lines; returns the count.
/// Run it inside the snapshot transaction.
pub async fn dump(
    conn: &mut Conn,
    table: &Table,
    out: &mut impl Write,
) -> Result<u64, SnapshotError> {
    use futures_util::TryStreamExt;
    let order: Vec<String> = (1..=table.columns.len()).map(|i| i.to_string()).collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        table
            .columns
            .iter()
            .map(|c| quote(&c.name))
            .collect::<Vec<_>>()
            .join(", "),
        quote(&table.name),
        order.join(", ")
    );
    let mut rows = conn.fetch(sqlx::query(&sql));
    let mut n = 0;
    let mut line = Vec::with_capacity(512);
    while let Some(row) = rows.try_next().await? {
        let mut values = Vec::with_capacity(table.columns.len());
        for (i, c) in table.columns.iter().enumerate() {
            values.push(value_of(&row, i, c.ty).map_err(|e| SnapshotError::Value {
                table: table.name.clone(),
                column: c.name.clone(),
                reason: e.to_string(),
            })?);
        }
        line.clear();
        serde_json::to_writer(&mut line, &values).expect("serialisable");
        line.push(b'\n');
        out.write_all(&line)
            .map_err(|e| SnapshotError::Io(table.name.clone(), e))?;
        n += 1;
    }
    Ok(n)
}

/// Rows per INSERT statement on restore (a round trip per row is slow on PostgreSQL; 100
/// rows of a wide table stay under SQLite's 999-parameter floor up to 9 columns).
fn batch_rows(columns: usize) -> usize {
    (900 / columns.max(1)).clamp(1, 100)
}

fn insert_sql(table: &Table, rows: usize) -> String {
    let n = table.columns.len();
    let groups: Vec<String> = (0..rows)
        .map(|r| {
            let ps: Vec<String> = (1..=n).map(|c| format!("${}", r * n + c)).collect();
            format!("({})", ps.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES {}",
        quote(&table.name),
        table
            .columns
            .iter()
            .map(|c| quote(&c.name))
            .collect::<Vec<_>>()
            .join(", "),
        groups.join(", ")
    )
}

/// Inserts the rows of one dump file into `table` (which has at least these columns), in
/// multi-row statements. Returns the row count. Run it inside the restore transaction.
pub async fn load(
    conn: &mut Conn,
    table: &Table,
    file: &str,
    input: impl BufRead,
) -> Result<u64, SnapshotError> {
    let per_batch = batch_rows(table.columns.len());
    let full_sql = insert_sql(table, per_batch);
    let mut batch: Vec<Vec<serde_json::Value>> = Vec::with_capacity(per_batch);
    let mut first_line = 1;
    let mut n = 0;
    for (i, line) in input.lines().enumerate() {
        let bad = |reason: String| SnapshotError::Line {
            file: file.to_string(),
            line: (i + 1).to_string(),
            reason,
        };
        let line = line.map_err(|e| bad(e.to_string()))?;
        let values: Vec<serde_json::Value> =
            serde_json::from_str(&line).map_err(|e| bad(format!("not a JSON row: {e}")))?;
        if values.len() != table.columns.len() {
            return Err(bad(format!(
                "{} values for {} columns",
                values.len(),
                table.columns.len()
            )));
        }
        if batch.is_empty() {
            first_line = i + 1;
        }
        batch.push(values);
        if batch.len() == per_batch {
            insert_batch(conn, table, file, &full_sql, &batch, first_line).await?;
            n += batch.len() as u64;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        let sql = insert_sql(table, batch.len());
        insert_batch(conn, table, file, &sql, &batch, first_line).await?;
        n += batch.len() as u64;
    }
    Ok(n)
}

async fn insert_batch(
    conn: &mut Conn,
    table: &Table,
    file: &str,
    sql: &str,
    rows: &[Vec<serde_json::Value>],
    first_line: usize,
) -> Result<(), SnapshotError> {
    let lines = if rows.len() == 1 {
        first_line.to_string()
    } else {
        format!("{first_line}–{}", first_line + rows.len() - 1)
    };
    let bad = |line: String, reason: String| SnapshotError::Line {
        file: file.to_string(),
        line,
        reason,
    };
    let mut q = sqlx::query(sql);
    for (r, values) in rows.iter().enumerate() {
        for (v, c) in values.iter().zip(&table.columns) {
            let wrong = || {
                bad(
                    (first_line + r).to_string(),
                    format!("column {} holds {v} which is not {:?}", c.name, c.ty),
                )
            };
            q = match (c.ty, v) {
                (ColType::Int, serde_json::Value::Null) => q.bind(None::<i64>),
                (ColType::Int, v) => q.bind(Some(v.as_i64().ok_or_else(wrong)?)),
                (ColType::Real, serde_json::Value::Null) => q.bind(None::<f64>),
                (ColType::Real, v) => q.bind(Some(v.as_f64().ok_or_else(wrong)?)),
                (ColType::Text, serde_json::Value::Null) => q.bind(None::<String>),
                (ColType::Text, v) => q.bind(Some(v.as_str().ok_or_else(wrong)?.to_string())),
                (ColType::Bool, serde_json::Value::Null) => q.bind(None::<bool>),
                (ColType::Bool, v) => q.bind(Some(v.as_bool().ok_or_else(wrong)?)),
                (ColType::Blob, serde_json::Value::Null) => q.bind(None::<Vec<u8>>),
                (ColType::Blob, v) => {
                    let s = v.as_str().ok_or_else(wrong)?;
                    let b = base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .map_err(|_| wrong())?;
                    q.bind(Some(b))
                }
            };
        }
    }
    q.execute(&mut *conn)
        .await
        .map_err(|e| bad(lines, e.to_string()))?;
    Ok(())
}

/// Rows of a table as sorted JSON lines (for comparing two databases in tests).
pub async fn canonical_rows(conn: &mut Conn, table: &Table) -> Result<Vec<String>, SnapshotError> {
    let mut buf = Vec::new();
    dump(conn, table, &mut buf).await?;
    let mut lines: Vec<String> = String::from_utf8(buf)
        .expect("JSON is UTF-8")
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_map_alike_on_both_engines() {
        for (d, t) in [
            ("INTEGER", ColType::Int),
            ("BIGINT", ColType::Int),
            ("bigint", ColType::Int),
            ("integer", ColType::Int),
            ("TEXT", ColType::Text),
            ("text", ColType::Text),
            ("character varying", ColType::Text),
            ("BLOB", ColType::Blob),
            ("bytea", ColType::Blob),
            ("double precision", ColType::Real),
            ("REAL", ColType::Real),
            ("boolean", ColType::Bool),
        ] {
            assert_eq!(ColType::from_declared(d), t, "{d}");
        }
    }
}
