//! Persistence through sqlx's `Any` driver: one set of queries for SQLite (the embedded
//! default) and PostgreSQL (production), chosen by the URL. Each aggregate has its own
//! file; functions take a connection so callers can group them in one transaction.
//!
//! Portable SQL only: `$N` placeholders (SQLite accepts them), `RETURNING`, `ON CONFLICT`,
//! times as BIGINT unix milliseconds, dates as ISO text.

pub mod attendance;
pub mod audit;
pub mod certificates;
pub mod classes;
pub mod exams;
pub mod face;
pub mod institutions;
pub mod interactions;
pub mod lecturers;
pub mod plans;
pub mod reports;
pub mod results;
pub mod sessions;
pub mod students;
pub mod users;

use std::path::Path;
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection};

pub use sqlx::Any as Db;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database engine a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    /// Embedded single-file database.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported database.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// Connecting failed.
    #[error("cannot open database {url}: {source}")]
    Connect {
        /// URL with any password removed.
        url: String,
        /// Driver error.
        source: sqlx::Error,
    },
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    /// A stored value could not be understood.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether this is a unique-constraint violation (e.g. a duplicate username).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Sql(sqlx::Error::Database(db)) if db.is_unique_violation())
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// A connection pool plus the engine it talks to.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    kind: DbKind,
}

/// The URL with its password replaced, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

impl Store {
    /// Opens the database at `url` (creating a SQLite file and its folder if needed).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let (kind, url) = if let Some(rest) = url.strip_prefix("sqlite://") {
            let path = rest.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(StoreError::UnsupportedUrl(url.to_string()));
            }
            if path != ":memory:" {
                if let Some(parent) = Path::new(path).parent() {
                    if !parent.as_os_str().is_empty() {
                        std::fs::create_dir_all(parent).map_err(|e| StoreError::Connect {
                            url: url.to_string(),
                            source: sqlx::Error::Io(e),
                        })?;
                    }
                }
            }
            let url = if rest.contains("mode=") {
                url.to_string()
            } else if rest.contains('?') {
                format!("{url}&mode=rwc")
            } else {
                format!("{url}?mode=rwc")
            };
            (DbKind::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (DbKind::Postgres, url.to_string())
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let connect_err = |source| StoreError::Connect {
            url: redact_url(&url),
            source,
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(connect_err)?
            .log_statements(tracing::log::LevelFilter::Trace);
        // One direct connection first: a wrong URL or a server that is down fails at once
        // with the driver's error instead of after the pool's retry timeout.
        let probe = options.connect().await.map_err(connect_err)?;
        probe.close().await.map_err(connect_err)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if kind == DbKind::Sqlite { 8 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if kind == DbKind::Sqlite {
                        // WAL lets readers proceed while the batched writer commits.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        Ok(Self { pool, kind })
    }

    /// The migrations of this engine (restore applies them inside its own transaction).
    pub fn migrator(kind: DbKind) -> &'static Migrator {
        match kind {
            DbKind::Sqlite => &SQLITE_MIGRATIONS,
            DbKind::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies pending migrations for this engine.
    pub async fn migrate(&self) -> StoreResult<()> {
        match self.kind {
            DbKind::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            DbKind::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// The pool, for queries and transactions.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The engine behind this store.
    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> StoreResult<sqlx::Transaction<'static, Db>> {
        Ok(self.pool.begin().await?)
    }

    /// Checks out a connection.
    pub async fn conn(&self) -> StoreResult<sqlx::pool::PoolConnection<Db>> {
        Ok(self.pool.acquire().await?)
    }

    /// Names and columns of every application table, sorted (for the migration-parity
    /// test and for backups).
    pub async fn schema(&self) -> StoreResult<Vec<(String, Vec<String>)>> {
        let mut conn = self.conn().await?;
        let tables: Vec<String> = match self.kind {
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
                 WHERE table_schema = current_schema() AND table_name NOT LIKE '_sqlx_%' \
                 ORDER BY table_name",
                )
                .fetch_all(&mut *conn)
                .await?
            }
        };
        let mut out = Vec::new();
        for t in tables {
            let cols: Vec<String> = match self.kind {
                DbKind::Sqlite => {
                    sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                        .bind(&t)
                        .fetch_all(&mut *conn)
                        .await?
                }
                DbKind::Postgres => {
                    sqlx::query_scalar(
                        "SELECT column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 \
                     ORDER BY ordinal_position",
                    )
                    .bind(&t)
                    .fetch_all(&mut *conn)
                    .await?
                }
            };
            out.push((t, cols));
        }
        Ok(out)
    }
}

/// Current time in unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Converts a stored flag.
pub(crate) fn flag(v: i64) -> bool {
    v != 0
}

/// Alias used by the aggregate modules.
pub type Conn = AnyConnection;
