//! Opening the database a URL names (creating a SQLite file and its folder on first start,
//! in WAL mode), running the embedded migrations, and mapping sqlx errors in one place.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dialbridge_core::{Store, StoreError, StoreResult};
use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use crate::checkpoint::{Checkpoints, BACKSTOP_PAGES};
use crate::write_queue::WriteQueue;
use crate::write_tx::WriteTx;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("unsupported database URL: use sqlite://path/to/file.db or postgres://user@host/db")]
    UnsupportedUrl,
    #[error("cannot create the data folder {path}: {source}")]
    DataFolder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot connect to the database: {0}")]
    Connect(sqlx::Error),
    #[error("database migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("switching SQLite to incremental auto-vacuum failed: {0}")]
    Vacuum(#[from] sqlx::Error),
}

/// How long a connection may sit in the pool before it is checked again when taken.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A connection taken from the pool after sitting there a while is checked first (the database
/// may have closed it meanwhile: a restart, an idle timeout); one that came back a moment ago is
/// not. sqlx checks every connection as it comes back, and its default of checking again on
/// every take is one more round trip per query — on SQLite a wake-up of the connection's
/// thread, measured at a tenth of `serve`'s CPU under ingest (BENCHMARKS.md, seventh run).
fn checked_after_idling(options: AnyPoolOptions) -> AnyPoolOptions {
    options
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// SQLite: the connection the busy writers share (see `Database::writer`).
pub(crate) struct SharedWriter {
    conn: AnyConnection,
    /// A `WriteTx` sent `BEGIN` on it and has not yet seen its `COMMIT` or `ROLLBACK` answered
    /// (see `write_tx.rs`).
    in_transaction: bool,
}

/// Where a busy writer writes (see `Database::writer`).
pub(crate) enum Writer<'a> {
    /// SQLite: the writers' shared connection, held for this writer's turn.
    Turn(MappedMutexGuard<'a, SharedWriter>),
    /// PostgreSQL: a connection of the pool.
    Pooled(PoolConnection<Any>),
}

impl Writer<'_> {
    /// SQLite: whether the shared connection is inside a transaction begun by a `WriteTx`.
    pub(crate) fn set_in_transaction(&mut self, open: bool) {
        if let Writer::Turn(shared) = self {
            shared.in_transaction = open;
        }
    }

    /// SQLite: rolls back the transaction a `WriteTx` begun on the shared connection. An
    /// error means there was none left to roll back (SQLite had already ended it, or the
    /// commit had gone through): either way the connection is out of it.
    pub(crate) async fn roll_back(&mut self) {
        if let Writer::Turn(shared) = self {
            match shared.conn.execute("ROLLBACK").await {
                Ok(_) | Err(sqlx::Error::Database(_)) => shared.in_transaction = false,
                Err(e) => tracing::warn!("rolling back the SQLite writer's transaction: {e}"),
            }
        }
    }
}

impl Deref for Writer<'_> {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            Writer::Turn(shared) => &shared.conn,
            Writer::Pooled(conn) => conn,
        }
    }
}

impl DerefMut for Writer<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Writer::Turn(shared) => &mut shared.conn,
            Writer::Pooled(conn) => conn,
        }
    }
}

/// A connection pool to SQLite or PostgreSQL.
#[derive(Clone)]
pub struct Database {
    pub(crate) pool: AnyPool,
    dialect: Dialect,
    sqlite_path: Option<PathBuf>,
    /// The PostgreSQL URL, for the connection that listens for signals.
    pub(crate) postgres_url: Option<String>,
    /// SQLite: the connection the busy writers share, taken in turn (see `writer`).
    writer: Option<Arc<WriterSlot>>,
    /// SQLite: the write transactions sent together on that connection (`write_queue.rs`).
    pub(crate) queue: Option<WriteQueue>,
}

/// SQLite: the connection the busy writers share (opened on first use), and the WAL
/// checkpoints run beside it (`checkpoint.rs`).
pub(crate) struct WriterSlot {
    shared: Mutex<Option<SharedWriter>>,
    pool: AnyPool,
    checkpoints: Checkpoints,
}

impl Database {
    /// `sqlite://path/to/file.db` (folder and file created when missing) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Database, StorageError> {
        install_default_drivers();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = checked_after_idling(AnyPoolOptions::new())
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(StorageError::Connect)?;
            return Ok(Database {
                pool,
                dialect: Dialect::Postgres,
                sqlite_path: None,
                postgres_url: Some(url.to_owned()),
                writer: None,
                queue: None,
            });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or(StorageError::UnsupportedUrl)?;
        let path = PathBuf::from(path.split('?').next().unwrap_or(path));
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(|source| StorageError::DataFolder {
                path: folder.to_path_buf(),
                source,
            })?;
        }
        let pool = checked_after_idling(AnyPoolOptions::new())
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(&*format!(
                        "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; \
                         PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES};"
                    ))
                    .await?;
                    Ok(())
                })
            })
            .connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .map_err(StorageError::Connect)?;
        let writer = Arc::new(WriterSlot {
            shared: Mutex::new(None),
            checkpoints: Checkpoints::start(pool.clone()),
            pool: pool.clone(),
        });
        Ok(Database {
            queue: Some(WriteQueue::start(writer.clone())),
            pool,
            dialect: Dialect::Sqlite,
            sqlite_path: Some(path),
            postgres_url: None,
            writer: Some(writer),
        })
    }

    pub async fn migrate(&self) -> Result<(), StorageError> {
        if self.dialect == Dialect::Sqlite {
            self.vacuum_incrementally().await?;
        }
        crate::migrations::migrator(self.dialect)
            .await?
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// SQLite files give pages freed by retention back in steps (`reclaim_space`) only in
    /// incremental auto-vacuum mode; a file made without it is rebuilt once to switch (quick
    /// for a new file, a full copy for an old one).
    async fn vacuum_incrementally(&self) -> Result<(), StorageError> {
        const INCREMENTAL: i64 = 2;
        let mut conn = self.pool.acquire().await?;
        let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
            .fetch_one(&mut *conn)
            .await?;
        if mode != INCREMENTAL {
            // A new file has no tables yet: nothing to say about rebuilding it.
            let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_schema")
                .fetch_one(&mut *conn)
                .await?;
            if tables > 0 {
                tracing::info!(
                    "switching the SQLite file to incremental auto-vacuum (one rebuild)"
                );
            }
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL").await?;
            conn.execute("VACUUM").await?;
        }
        Ok(())
    }

    /// The connection a busy writer (ingest's batches, claims, journals, lease renewals) writes
    /// on. SQLite lets one connection write at a time: these writers take turns on one shared
    /// connection, in order, each woken as the one before it is done. Left to SQLite they would
    /// wait in its busy handler, which sleeps 1, 2, 5 … 100 ms between tries whatever the lock
    /// does (one end-to-end bench row made 14,236 such sleeps, the tail of its latency); and
    /// one connection kept for them spares each write the pool's check of the connection as it
    /// comes back (a round trip to the connection's thread). Writers in another process on the
    /// same file still meet the busy handler. PostgreSQL: a connection of the pool (it locks
    /// rows, no turn).
    ///
    /// Hold it for the whole transaction; never take it while holding it. A transaction left
    /// open on it by a writer that was dropped midway is rolled back first.
    pub(crate) async fn writer(&self) -> StoreResult<Writer<'_>> {
        match &self.writer {
            Some(slot) => slot.take().await,
            None => Ok(Writer::Pooled(self.pool.acquire().await.map_err(backend)?)),
        }
    }

    /// A write transaction (`write_tx.rs`): on SQLite its statements sent together, through
    /// the write queue or on the shared writer connection; on PostgreSQL in a transaction of
    /// the pool.
    pub(crate) fn write_tx(&self) -> WriteTx<'_> {
        match self.dialect {
            Dialect::Sqlite => WriteTx::sqlite(self),
            Dialect::Postgres => WriteTx::postgres(&self.pool),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// For SQLite, the database file.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.sqlite_path.clone()
    }

    pub async fn close(&self) {
        if let Some(slot) = &self.writer {
            if let Some(shared) = slot.shared.lock().await.take() {
                let _ = shared.conn.close().await;
            }
        }
        self.pool.close().await;
    }
}

impl WriterSlot {
    /// The shared connection, for one writer's turn (see `Database::writer`).
    pub(crate) async fn take(&self) -> StoreResult<Writer<'_>> {
        let mut turn = self.shared.lock().await;
        self.checkpoints.wrote();
        if turn.is_none() {
            let mut conn = self.pool.acquire().await.map_err(backend)?.detach();
            // The statement journals of the batches' statements (the pages a statement puts
            // back if it fails midway) stay in memory instead of spilling into temporary files.
            conn.execute("PRAGMA temp_store = MEMORY")
                .await
                .map_err(backend)?;
            *turn = Some(SharedWriter {
                conn,
                in_transaction: false,
            });
        }
        let mut writer = MutexGuard::try_map(turn, Option::as_mut)
            .map(Writer::Turn)
            .map_err(|_| {
                StoreError::Unavailable("the SQLite writer connection is not open".into())
            })?;
        if matches!(&writer, Writer::Turn(shared) if shared.in_transaction) {
            writer.roll_back().await;
        }
        Ok(writer)
    }
}

/// Every sqlx failure becomes a `StoreError` here, by what a caller can do about it; the sqlx
/// error stays as the source (bound values, and so secrets, are never in it).
pub(crate) fn backend(err: sqlx::Error) -> StoreError {
    if is_unavailable(&err) {
        return StoreError::Unavailable(Box::new(err));
    }
    let code = err
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    match code.as_deref() {
        // PostgreSQL: unique_violation, serialization_failure, deadlock_detected;
        // SQLite: SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE.
        Some("23505" | "40001" | "40P01" | "1555" | "2067") => StoreError::Conflict(Box::new(err)),
        // PostgreSQL: foreign_key_violation; SQLite: SQLITE_CONSTRAINT_FOREIGNKEY.
        Some("23503" | "787") => StoreError::NotFound(Box::new(err)),
        _ => StoreError::Backend(Box::new(err)),
    }
}

/// PostgreSQL aborted the transaction to break a deadlock or a serialization conflict: nothing
/// of it was kept, and running it again is what PostgreSQL asks for.
pub(crate) fn is_aborted_transaction(err: &StoreError) -> bool {
    let StoreError::Conflict(source) = err else {
        return false;
    };
    source
        .downcast_ref::<sqlx::Error>()
        .and_then(|e| e.as_database_error())
        .and_then(|e| e.code())
        .is_some_and(|code| matches!(code.as_ref(), "40001" | "40P01"))
}

/// Runs `work` (one transaction, or one statement) again when PostgreSQL aborted it as a
/// deadlock's victim or a serialization conflict, up to `ABORTED_TRIES` times in all, after a
/// short pause that grows; any other outcome is answered as it is.
pub(crate) async fn again_if_aborted<T, F, Fut>(mut work: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    const ABORTED_TRIES: u32 = 5;
    let mut tries = 1;
    loop {
        match work().await {
            Err(e) if tries < ABORTED_TRIES && is_aborted_transaction(&e) => {
                tracing::info!(
                    tries,
                    "the database aborted a transaction ({e}); running it again"
                );
                tokio::time::sleep(std::time::Duration::from_millis(5 * u64::from(tries))).await;
                tries += 1;
            }
            other => return other,
        }
    }
}

/// The database is down, unreachable, shutting down, out of connections or busy: a later
/// attempt may succeed. A protocol error is a connection that stopped speaking PostgreSQL
/// (closed during the handshake, as a proxy or load balancer in front of a database that is
/// away does).
fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => {
            let code = e.code().unwrap_or_default();
            // PostgreSQL: class 08 (connection exception), 53 (insufficient resources),
            // 57P01-57P03 (shutdown, cannot connect now), all five characters long; SQLite:
            // BUSY (5) and LOCKED (6) and their extended codes, numbers below 1000.
            if code.len() == 5 {
                code.starts_with("08")
                    || code.starts_with("53")
                    || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
            } else {
                matches!(code.parse::<i32>().map(|c| c & 0xff), Ok(5 | 6))
            }
        }
        _ => false,
    }
}

/// A failure that is a bug in how dialbridge uses the store, not the database's.
pub(crate) fn misuse(message: String) -> StoreError {
    StoreError::Backend(message.into())
}

#[async_trait]
impl Store for Database {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use dialbridge_core::{AccountId, AccountStore, StoreError};

    use super::Database;

    /// A migrated SQLite database, `db.sqlite` in a folder of its own.
    pub(crate) async fn migrated_sqlite() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&format!("sqlite://{}/db.sqlite", dir.path().display()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn a_database_that_cannot_answer_is_unavailable_not_a_bug() {
        let (_dir, db) = migrated_sqlite().await;
        db.close().await;
        let err = db
            .get_account(&AccountId::parse("acme").unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert_eq!(err.code(), "database_unavailable");
    }

    #[tokio::test]
    async fn a_taken_key_is_a_conflict() {
        let (_dir, db) = migrated_sqlite().await;
        let insert = "INSERT INTO settings (key, value) VALUES ('k', 'v')";
        sqlx::query(insert).execute(&db.pool).await.unwrap();
        let err = super::backend(sqlx::query(insert).execute(&db.pool).await.unwrap_err());
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
}
