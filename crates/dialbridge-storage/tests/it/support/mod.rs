//! The conformance suites' harness: each test body runs against SQLite (a fresh file) and
//! PostgreSQL (a fresh database through `DIALBRIDGE_TEST_DATABASE_URL`, skipped with a notice
//! when unset).

use dialbridge_core::AccountId;

/// Generates `sqlite::<name>` and `postgres::<name>` tests from `async fn <name>(&Database)`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() {
            let dir = tempfile::tempdir().unwrap();
            let db = dialbridge_storage::Database::connect(&format!("sqlite://{}/nested/db.sqlite", dir.path().display())).await.unwrap();
            db.migrate().await.unwrap();
            super::$name(&db).await;
            db.close().await;
        } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() {
            let Ok(admin) = std::env::var("DIALBRIDGE_TEST_DATABASE_URL") else {
                eprintln!("DIALBRIDGE_TEST_DATABASE_URL is not set: skipping the PostgreSQL backend");
                return;
            };
            let (url, guard) = dialbridge_storage::testing::fresh_postgres(&admin).await.unwrap();
            let db = dialbridge_storage::Database::connect(&url).await.unwrap();
            db.migrate().await.unwrap();
            super::$name(&db).await;
            db.close().await;
            guard.cleanup().await;
        } )* }
    };
}

pub fn id(s: &str) -> AccountId {
    AccountId::parse(s).unwrap()
}
