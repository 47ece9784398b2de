//! Persistence. One [`Store`] over SQLite (the embedded default: one file, WAL) or PostgreSQL,
//! with the same migrations and queries on both. Every state change goes through a
//! [`WriteTx`], which commits the change and its audit events together.

pub mod analytics;
pub mod attachments;
pub mod audit;
pub mod audit_archive;
pub mod catalogue;
pub mod certificates;
mod error;
pub mod group;
pub mod inspections;
pub mod leader;
pub mod operators;
pub mod organisations;
pub mod oversight;
pub mod personnel;
pub mod privacy;
pub mod products;
pub mod registrations;
pub mod sandbox;
pub mod sessions;
pub mod supervision;
pub mod timers;
mod tx;
pub mod users;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use tokio::sync::Mutex;

pub use error::StoreError;
/// The connection type every store function takes.
pub use sqlx::AnyConnection;
pub use tx::{AuditContext, EventDraft, WriteTx};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A pooled connection on either backend.
pub type Conn = sqlx::pool::PoolConnection<sqlx::Any>;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The database, shared by the server, the scheduler and the CLI.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer; queueing writers here instead of in SQLite's busy handler keeps
    /// latency fair and avoids SQLITE_BUSY under load. PostgreSQL serialises on the audit head
    /// row instead.
    write_gate: Option<Arc<Mutex<()>>>,
    /// The SQLite file, read directly with rusqlite on the audit log's bulk-read paths (the
    /// verifier and the ledger), where sqlx's per-row and per-value overhead dominates.
    sqlite_file: Option<PathBuf>,
    /// Counts committed state changes, so caches of derived facts (an API key's contract, a
    /// product's standing) know when to read again.
    changes: Arc<std::sync::atomic::AtomicU64>,
    /// The PostgreSQL URL, for the leader's connection of its own; never shown.
    url: Option<Secret>,
    migrations: Migrations,
}

/// The schema's migrations when the store was opened: how many the binary knows, which ran
/// just now, and the version the database is at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migrations {
    pub known: usize,
    pub applied_now: Vec<i64>,
    pub version: i64,
}

/// The versions already applied (none on a new database, where sqlx's table does not exist).
async fn applied_migrations(pool: &AnyPool) -> Vec<i64> {
    match sqlx::query("SELECT version FROM _sqlx_migrations WHERE success = TRUE").fetch_all(pool).await {
        Ok(rows) => rows.iter().filter_map(|r| int(r, "version").ok()).collect(),
        Err(_) => Vec::new(),
    }
}

/// A database URL that may carry a password: its `Debug` shows it redacted.
#[derive(Clone)]
struct Secret(Arc<str>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl std::ops::Deref for Secret {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite database file at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::connect(&url).await
    }

    /// Connects to `sqlite://…` or `postgres://…` and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        let options: AnyConnectOptions =
            url.parse().map_err(|e: sqlx::Error| StoreError::Connect(redact_url(url), e.to_string()))?;
        let pool_options = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(30));
        let pool_options = if backend == Backend::Sqlite {
            pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers run beside the writer; NORMAL sync is durable against a
                    // process kill (only power loss can drop the last commits).
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                    )
                    .await?;
                    Ok(())
                })
            })
        } else {
            pool_options
        };
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Connect(redact_url(url), e.to_string()))?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let before = applied_migrations(&pool).await;
        migrator.run(&pool).await.map_err(|e| StoreError::Migrate(e.to_string()))?;
        let after = applied_migrations(&pool).await;
        let migrations = Migrations {
            known: migrator.iter().count(),
            applied_now: after.iter().filter(|v| !before.contains(v)).copied().collect(),
            version: after.iter().max().copied().unwrap_or(0),
        };
        let sqlite_file = match backend {
            Backend::Sqlite => Some(sqlite_path(url)),
            Backend::Postgres => None,
        };
        let write_gate = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let url = (backend == Backend::Postgres).then(|| Secret(Arc::from(url)));
        Ok(Self { pool, backend, write_gate, sqlite_file, changes: Arc::default(), url, migrations })
    }

    /// What bringing the schema up to date did when this store was opened.
    pub fn migrations(&self) -> &Migrations {
        &self.migrations
    }

    /// How many state changes this process has committed.
    pub fn changes(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// One pooled connection, for reads outside a write transaction.
    pub async fn acquire(&self) -> Result<Conn> {
        Ok(self.pool.acquire().await?)
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Checks that the database answers (readiness probe).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A read-only rusqlite connection to the SQLite file, when that is the backend.
    pub(crate) fn open_sqlite_reader(&self) -> Result<Option<rusqlite::Connection>> {
        let Some(path) = &self.sqlite_file else { return Ok(None) };
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(Some(conn))
    }
}

/// The file of a `sqlite://path?params` URL.
fn sqlite_path(url: &str) -> PathBuf {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    PathBuf::from(rest.split('?').next().unwrap_or(rest))
}

/// Hides the password in a database URL before it reaches an error message or a log.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Reads a column that both backends store as INTEGER/BIGINT.
/// A row whose INTEGER/BIGINT and TEXT columns read as `i64` and `String`: the `Any` rows used
/// everywhere, and rusqlite rows on the audit log's bulk-read paths.
pub(crate) trait PlainRow {
    fn int_col(&self, col: &str) -> Result<i64>;
    fn text_col(&self, col: &str) -> Result<String>;
}

impl PlainRow for sqlx::any::AnyRow {
    fn int_col(&self, col: &str) -> Result<i64> {
        use sqlx::Row;
        Ok(self.try_get::<i64, _>(col)?)
    }

    fn text_col(&self, col: &str) -> Result<String> {
        use sqlx::Row;
        Ok(self.try_get::<String, _>(col)?)
    }
}

impl PlainRow for rusqlite::Row<'_> {
    fn int_col(&self, col: &str) -> Result<i64> {
        Ok(self.get::<_, i64>(col)?)
    }

    fn text_col(&self, col: &str) -> Result<String> {
        Ok(self.get::<_, String>(col)?)
    }
}

/// `($1, $2), ($3, $4)` for a multi-row insert of `rows` rows of `columns` values.
pub(crate) fn value_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            let marks: Vec<String> = (1..=columns).map(|c| format!("${}", r * columns + c)).collect();
            format!("({})", marks.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn int<R: PlainRow>(row: &R, col: &str) -> Result<i64> {
    row.int_col(col)
}

pub(crate) fn text<R: PlainRow>(row: &R, col: &str) -> Result<String> {
    row.text_col(col)
}

pub(crate) fn opt_text(row: &sqlx::any::AnyRow, col: &str) -> Result<Option<String>> {
    use sqlx::Row;
    Ok(row.try_get::<Option<String>, _>(col)?)
}

pub(crate) fn opt_int(row: &sqlx::any::AnyRow, col: &str) -> Result<Option<i64>> {
    use sqlx::Row;
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

pub(crate) fn opt_date(row: &sqlx::any::AnyRow, col: &str) -> Result<Option<chrono::NaiveDate>> {
    opt_text(row, col)?.map(|s| timers::date(&s, col)).transpose()
}

/// A JSON column's value; a value that does not parse is corrupt data, named by its column.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(s: &str, col: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// What the crate's own tests share.
#[cfg(test)]
pub(crate) mod testing {
    use super::Store;

    /// A store on a new PostgreSQL database named for `tag`, or `None` where
    /// `SHUYU_TEST_DATABASE_URL` is not set (CI sets it).
    pub(crate) async fn postgres_store(tag: &str) -> Option<Store> {
        use sqlx::Connection;
        let admin = std::env::var("SHUYU_TEST_DATABASE_URL").ok().filter(|v| !v.is_empty())?;
        let name = format!("shuyu_t_{tag}_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut conn).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
        let (base, _) = admin.rsplit_once('/').unwrap();
        Some(Store::connect(&format!("{base}/{name}")).await.unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact_url("postgres://shuyu:s3cret@db:5432/shuyu"), "postgres://shuyu:***@db:5432/shuyu");
        assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}

#[cfg(test)]
mod sqlite_settings {
    use super::*;

    #[tokio::test]
    async fn every_sqlite_connection_uses_wal_and_normal_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
        for _ in 0..3 {
            let mut conn = store.pool().acquire().await.unwrap();
            let row = sqlx::query("PRAGMA synchronous").fetch_one(&mut *conn).await.unwrap();
            assert_eq!(int(&row, "synchronous").unwrap(), 1, "synchronous=NORMAL");
            let row = sqlx::query("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap();
            assert_eq!(text(&row, "journal_mode").unwrap(), "wal");
        }
    }
}

#[cfg(test)]
mod snapshot_reads {
    use super::*;
    use shuyu_audit::Outcome;

    async fn exercise(store: Store) {
        let ctx = AuditContext::system("t");
        for i in 0..3 {
            store
                .record(
                    chrono::Utc::now(),
                    &ctx,
                    "thing.do",
                    &format!("thing:{i}"),
                    Outcome::Success,
                    serde_json::json!({"i": i}),
                )
                .await
                .unwrap();
        }
        let mut snap = store.audit_snapshot().await.unwrap();
        assert_eq!(snap.head_size().await.unwrap(), 3);
        let rows = snap.batch(1, 10).await.unwrap();
        let seqs: Vec<u64> = rows.into_iter().map(|r| r.unwrap().event.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
        assert!(snap.tree_heads().await.unwrap().is_empty());
        let ledger = audit::Ledger::new();
        assert_eq!(ledger.sync(&store).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn sqlite_snapshot_reads_the_log() {
        let dir = tempfile::tempdir().unwrap();
        exercise(Store::open_sqlite(&dir.path().join("t.db")).await.unwrap()).await;
    }

    #[tokio::test]
    async fn postgres_snapshot_reads_the_log() {
        let Some(store) = testing::postgres_store("store").await else { return };
        exercise(store).await;
    }
}
