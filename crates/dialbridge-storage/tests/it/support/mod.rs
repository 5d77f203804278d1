//! The conformance suites' harness: each test body runs against SQLite (a fresh file) and
//! PostgreSQL (a fresh database through `DIALBRIDGE_TEST_DATABASE_URL`; ignored when it was not
//! set at build time, see this crate's build.rs).

use dialbridge_core::{AccountId, Timestamp};

/// Generates `sqlite::<name>` and `postgres::<name>` tests from `async fn <name>(&Database)`; the
/// PostgreSQL ones are ignored unless `DIALBRIDGE_TEST_DATABASE_URL` was set when they were built.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() {
            let dir = tempfile::tempdir().unwrap();
            let db = dialbridge_storage::Database::connect(&format!("sqlite://{}/nested/db.sqlite", dir.path().display())).await.unwrap();
            db.migrate().await.unwrap();
            super::$name(&db).await;
            db.close().await;
        } )* }
        mod postgres { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #[cfg_attr(not(postgres_tests), ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests")]
            async fn $name() {
                let admin = $crate::support::postgres_admin_url();
                let (url, guard) = dialbridge_storage::testing::fresh_postgres(&admin).await.unwrap();
                let db = dialbridge_storage::Database::connect(&url).await.unwrap();
                db.migrate().await.unwrap();
                super::$name(&db).await;
                db.close().await;
                guard.cleanup().await;
            }
        )* }
    };
}

/// Generates `postgres::<name>` tests only, for what SQLite does not do (sharing work and
/// signals between processes).
macro_rules! postgres_only {
    ($($name:ident),* $(,)?) => {
        mod postgres { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #[cfg_attr(not(postgres_tests), ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests")]
            async fn $name() {
                let admin = $crate::support::postgres_admin_url();
                let (url, guard) = dialbridge_storage::testing::fresh_postgres(&admin).await.unwrap();
                let db = dialbridge_storage::Database::connect(&url).await.unwrap();
                db.migrate().await.unwrap();
                super::$name(&db).await;
                db.close().await;
                guard.cleanup().await;
            }
        )* }
    };
}

/// Where the PostgreSQL tests create their databases. Those tests are ignored unless
/// `DIALBRIDGE_TEST_DATABASE_URL` was set at build time (see this crate's build.rs); one run
/// anyway (`--include-ignored`) without it fails here rather than passing untested.
pub fn postgres_admin_url() -> String {
    match std::env::var("DIALBRIDGE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "DIALBRIDGE_TEST_DATABASE_URL is not set, so this PostgreSQL test cannot run \
             (set it, e.g. to postgres://postgres@127.0.0.1:5432/test, and rebuild)"
        ),
    }
}

pub fn id(s: &str) -> AccountId {
    AccountId::parse(s).unwrap()
}

/// An instant, `ms` milliseconds after the epoch: tests use small round numbers.
pub fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}
