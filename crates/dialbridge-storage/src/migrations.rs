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
);

const POSTGRES: &[Embedded] = migrations!("postgres":
    20261125000001 "foundation",
    20261125000002 "workflows",
    20261202000010 "cluster",
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
    use super::*;

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
