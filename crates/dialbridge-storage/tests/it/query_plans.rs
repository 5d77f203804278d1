//! What SQLite's planner does with the listings that must stay fast as history grows, read from
//! `EXPLAIN QUERY PLAN` on the migrated schema. PostgreSQL's planner chooses by statistics, so
//! its plans are not fixed enough to hold a test to; the bench's growth row measures both.

use dialbridge_storage::Database;
use sqlx::{Connection, Row, SqliteConnection};

/// The plan's steps, one line each.
async fn plan(sql: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("plans.db").display());
    let db = Database::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    db.close().await;
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.get::<String, _>("detail"))
        .collect()
}

#[tokio::test]
async fn a_page_of_executions_of_one_status_is_read_in_order_from_an_index() {
    // `GET /api/v1/executions?status=…`, as `list_executions` asks for it.
    let steps = plan(
        "SELECT * FROM executions WHERE status = 'completed' \
         ORDER BY created_at DESC, id DESC LIMIT 50",
    )
    .await;
    assert!(
        steps
            .iter()
            .any(|s| s.contains("USING INDEX executions_by_status (status=?)")),
        "{steps:?}"
    );
    assert!(
        !steps.iter().any(|s| s.contains("TEMP B-TREE")),
        "every execution of the status would be sorted for one page: {steps:?}"
    );
}
