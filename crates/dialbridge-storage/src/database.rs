//! Opening the database a URL names (creating a SQLite file and its folder on first start,
//! in WAL mode), running the embedded migrations, and mapping sqlx errors in one place.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use dialbridge_core::{Store, StoreError, StoreResult};
use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

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
}

/// A connection pool to SQLite or PostgreSQL.
#[derive(Clone)]
pub struct Database {
    pub(crate) pool: AnyPool,
    dialect: Dialect,
    sqlite_path: Option<PathBuf>,
}

impl Database {
    /// `sqlite://path/to/file.db` (folder and file created when missing) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Database, StorageError> {
        install_default_drivers();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(StorageError::Connect)?;
            return Ok(Database {
                pool,
                dialect: Dialect::Postgres,
                sqlite_path: None,
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
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
                        .await?;
                    Ok(())
                })
            })
            .connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .map_err(StorageError::Connect)?;
        Ok(Database {
            pool,
            dialect: Dialect::Sqlite,
            sqlite_path: Some(path),
        })
    }

    pub async fn migrate(&self) -> Result<(), StorageError> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// For SQLite, the database file.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.sqlite_path.clone()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Every sqlx failure becomes a backend error here; bound values (secrets) are never in it.
pub(crate) fn backend(err: sqlx::Error) -> StoreError {
    StoreError::Backend(err.to_string())
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
