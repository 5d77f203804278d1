//! Retention gives the space back: on SQLite, the file shrinks once old history is purged
//! (incremental vacuum and a checkpoint); PostgreSQL drops whole daily partitions (counted by
//! `workflows_conformance::retention_removes_only_old_settled_history`).

use dialbridge_core::*;
use dialbridge_storage::Database;
use serde_json::json;

use crate::support::{id, t};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlite_file_shrinks_when_old_history_is_purged() {
    const DAY: i64 = 86_400_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let db = Database::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    db.upsert_account(&id("a"), &AccountPatch::default(), 0, t(1))
        .await
        .unwrap();
    let old = Timestamp::now().as_millis() - 40 * DAY;
    let bulky = json!({ "notes": "x".repeat(4_000) });
    let executions: Vec<ExecutionRecord> = (0..2_000)
        .map(|n| ExecutionRecord {
            id: format!("exe_{old:013x}{n:08}"),
            account_id: id("a"),
            workflow_key: "w".into(),
            version: 1,
            status: ExecutionStatus::Succeeded,
            trigger: bulky.clone(),
            event: json!(null),
            event_id: None,
            shard: 0,
            error: None,
            run_at: t(old),
            lease_owner: None,
            lease_until: None,
            replay_of: None,
            created_at: t(old),
            updated_at: t(old),
            finished_at: Some(t(old)),
        })
        .collect();
    for execution in &executions {
        db.insert_execution(execution).await.unwrap();
    }
    db.reclaim_space().await.unwrap();
    let full = std::fs::metadata(&path).unwrap().len();

    let cutoff = t(Timestamp::now().as_millis() - 30 * DAY);
    while db.purge(cutoff, cutoff, 500).await.unwrap().rows() > 0 {}
    db.reclaim_space().await.unwrap();
    let purged = std::fs::metadata(&path).unwrap().len();
    assert!(
        purged * 4 < full,
        "the file went from {full} to {purged} bytes only"
    );
    db.close().await;
}
