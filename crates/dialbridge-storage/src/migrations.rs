//! The schema migrations of both dialects, embedded in the binary. Each file of
//! `migrations/<dialect>/` is listed here once, in order; sqlx records each applied version
//! with a checksum of its SQL, so a shipped migration must never change.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::database::Dialect;

/// One migration: its version and description (from the file name) and its SQL.
type Embedded = (i64, &'static str, &'static str);

macro_rules! migrations {
    ($dialect:literal: $($version:literal $name:literal),* $(,)?) => {
        &[$((
            $version,
            $name,
            include_str!(concat!("../migrations/", $dialect, "/", stringify!($version), "_", $name, ".sql")),
        )),*]
    };
}

const SQLITE: &[Embedded] = migrations!("sqlite":
    20261125000001 "foundation",
    20261125000002 "workflows",
    20261202000010 "cluster",
    20261202000020 "admin_keys_and_audit",
    20261202000030 "dedupe_and_deliveries",
    20261202000031 "daily_partitions",
    20261202000050 "mcp_tokens",
    20261202000060 "connect_states",
    20261202000070 "event_listing",
    20261202000080 "redeliveries",
    20261204000010 "unused_lease_index",
    20261205000010 "ordered_dedupe_keys",
    20261205000020 "executions_by_status",
);

const POSTGRES: &[Embedded] = migrations!("postgres":
    20261125000001 "foundation",
    20261125000002 "workflows",
    20261202000010 "cluster",
    20261202000020 "admin_keys_and_audit",
    20261202000030 "dedupe_and_deliveries",
    20261202000031 "daily_partitions",
    20261202000050 "mcp_tokens",
    20261202000060 "connect_states",
    20261202000070 "event_listing",
    20261202000080 "redeliveries",
    20261204000010 "unused_lease_index",
    20261205000010 "ordered_dedupe_keys",
    20261205000020 "executions_by_status",
);

#[derive(Debug)]
struct Source(&'static [Embedded]);

impl MigrationSource<'static> for Source {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        let migrations = self
            .0
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    Cow::Owned(name.replace('_', " ")),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

/// The migrator of a dialect.
pub(crate) async fn migrator(dialect: Dialect) -> Result<Migrator, sqlx::migrate::MigrateError> {
    let embedded = match dialect {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    };
    Migrator::new(Source(embedded)).await
}

#[cfg(test)]
mod tests {
    use dialbridge_core::AdminKeyRegistry;

    use super::*;
    use crate::Database;

    /// Admin keys stored before keys had names become `bootstrap` keys numbered by age.
    async fn keys_of_before_become_named_keys(db: Database, embedded: &'static [Embedded]) {
        Migrator::new(Source(&embedded[..2]))
            .await
            .unwrap()
            .run(&db.pool)
            .await
            .unwrap();
        for (hash, at) in [("h-later", 20_i64), ("h-first", 10)] {
            sqlx::query("INSERT INTO admin_api_keys (key_hash, created_at) VALUES ($1, $2)")
                .bind(hash)
                .bind(at)
                .execute(&db.pool)
                .await
                .unwrap();
        }
        db.migrate().await.unwrap();
        let keys = db.list_admin_keys().await.unwrap();
        let seen: Vec<(&str, &str, &str, Option<&str>)> = keys
            .iter()
            .map(|k| {
                (
                    k.id.as_str(),
                    k.name.as_str(),
                    k.key_hash.as_str(),
                    k.key_hint.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("key_1", "bootstrap", "h-first", None),
                ("key_2", "bootstrap", "h-later", None)
            ]
        );
        db.close().await;
    }

    #[tokio::test]
    async fn sqlite_keys_of_before_become_named_keys() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/db.sqlite", dir.path().display());
        keys_of_before_become_named_keys(Database::connect(&url).await.unwrap(), SQLITE).await;
    }

    #[tokio::test]
    #[cfg_attr(
        not(postgres_tests),
        ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
    )]
    async fn postgres_keys_of_before_become_named_keys() {
        let admin = std::env::var("DIALBRIDGE_TEST_DATABASE_URL")
            .expect("DIALBRIDGE_TEST_DATABASE_URL for the PostgreSQL tests");
        let (url, guard) = crate::testing::fresh_postgres(&admin).await.unwrap();
        keys_of_before_become_named_keys(Database::connect(&url).await.unwrap(), POSTGRES).await;
        guard.cleanup().await;
    }

    #[test]
    fn every_migration_file_is_listed_in_order() {
        for (dialect, listed) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dialect);
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            let names: Vec<String> = listed
                .iter()
                .map(|(v, n, _)| format!("{v}_{n}.sql"))
                .collect();
            assert_eq!(
                names,
                files,
                "{dialect}: list every file of {}",
                dir.display()
            );
        }
    }
}
