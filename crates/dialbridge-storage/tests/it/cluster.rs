//! Sharing work between processes on PostgreSQL: shard leases held fairly and never by two
//! owners, a gone process's shards taken over, and signals reaching every listener.

use std::collections::BTreeSet;
use std::time::Duration;

use dialbridge_core::{ClusterStore, SignalStore, SHARDS};
use dialbridge_storage::Database;

use crate::support::t;

postgres_only!(
    shards_are_held_fairly_and_never_twice,
    a_gone_process_loses_its_shards,
    signals_reach_listeners
);

/// One round of each owner, as their loops would do it.
async fn round(db: &Database, owners: &[&str], now: i64) -> Vec<BTreeSet<i64>> {
    let mut held = Vec::new();
    for owner in owners {
        let live = db.heartbeat(owner, t(now), t(now - 15_000)).await.unwrap();
        let fair = SHARDS.div_ceil(live);
        let shards = db
            .hold_shards(owner, t(now), t(now + 15_000), fair)
            .await
            .unwrap();
        held.push(shards.into_iter().collect());
    }
    held
}

fn assert_disjoint(held: &[BTreeSet<i64>]) {
    for (i, a) in held.iter().enumerate() {
        for b in &held[i + 1..] {
            assert!(a.is_disjoint(b), "{a:?} and {b:?} overlap");
        }
    }
}

async fn shards_are_held_fairly_and_never_twice(db: &Database) {
    let alone = round(db, &["a"], 1_000).await;
    assert_eq!(
        alone[0].len(),
        SHARDS as usize,
        "one process holds every shard"
    );
    // Two more join: within a few rounds each holds its fair share, never one shard twice.
    let owners = ["a", "b", "c"];
    let mut held = Vec::new();
    for i in 0..4 {
        held = round(db, &owners, 2_000 + i * 1_000).await;
        assert_disjoint(&held);
    }
    let sizes: Vec<usize> = held.iter().map(BTreeSet::len).collect();
    assert_eq!(sizes.iter().sum::<usize>(), SHARDS as usize, "{sizes:?}");
    let fair = SHARDS.div_ceil(3) as usize;
    assert!(
        sizes.iter().all(|&n| n <= fair && n >= fair - 2),
        "{sizes:?}"
    );

    // Many owners racing for free shards at once still never share one.
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                db.hold_shards(&format!("r{i}"), t(100_000), t(115_000), SHARDS)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut all = Vec::new();
    for racer in racers {
        all.extend(racer.await.unwrap());
    }
    let distinct: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "a shard was taken twice");
}

async fn a_gone_process_loses_its_shards(db: &Database) {
    let held = round(db, &["a", "b"], 1_000).await;
    let held = round(db, &["a", "b"], 2_000)
        .await
        .into_iter()
        .chain(held)
        .collect::<Vec<_>>();
    assert!(!held[1].is_empty());
    // `b` stops heartbeating; after the lease `a`'s rounds take everything back.
    let mut a = BTreeSet::new();
    for now in [20_000, 21_000] {
        a = round(db, &["a"], now).await.remove(0);
    }
    assert_eq!(a.len(), SHARDS as usize);
    // A clean leave frees at once.
    db.leave("a").await.unwrap();
    let c = round(db, &["c"], 22_000).await.remove(0);
    assert_eq!(c.len(), SHARDS as usize);
}

async fn signals_reach_listeners(db: &Database) {
    let mut one = db.listen().await.unwrap();
    let mut two = db.listen().await.unwrap();
    db.publish(&["config".to_owned(), "work:3:acme".to_owned()])
        .await
        .unwrap();
    for listener in [&mut one, &mut two] {
        for expected in ["config", "work:3:acme"] {
            let got = tokio::time::timeout(Duration::from_secs(5), listener.recv())
                .await
                .expect("a signal within 5 s")
                .expect("the stream is open");
            assert_eq!(got, expected);
        }
    }
}

/// A batch of journal writes that PostgreSQL picks as a deadlock's victim is run again, not
/// lost. Seen in CI: a process's lease renewal (many executions in one statement) and its own
/// journal batch took two rows in opposite orders; the journal was aborted and its execution
/// failed with "deadlock detected". Here another transaction holds `y`, the journal takes `x`
/// and waits for `y`, then the other asks for `x`: a cycle, and with its `deadlock_timeout` set
/// long the other waits while the journal's backend finds the cycle and aborts the journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn a_journal_write_chosen_as_a_deadlock_victim_is_run_again() {
    use dialbridge_core::{
        ClaimWant, ExecutionRecord, ExecutionStatus, ExecutionStore, JournalOutcome, JournalWrite,
    };
    use sqlx::Connection;

    let admin = crate::support::postgres_admin_url();
    let (url, guard) = dialbridge_storage::testing::fresh_postgres(&admin)
        .await
        .unwrap();
    let db = Database::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    for exec_id in ["x", "y"] {
        db.insert_execution(&ExecutionRecord {
            id: exec_id.into(),
            account_id: crate::support::id("a"),
            workflow_key: "w".into(),
            version: 1,
            status: ExecutionStatus::Queued,
            trigger: serde_json::json!({"type": "api"}),
            event: serde_json::json!({}),
            event_id: None,
            shard: 0,
            error: None,
            run_at: t(100),
            lease_owner: None,
            lease_until: None,
            replay_of: None,
            created_at: t(1),
            updated_at: t(1),
            finished_at: None,
        })
        .await
        .unwrap();
    }
    let want = ClaimWant {
        account: crate::support::id("a"),
        room: 5,
    };
    assert_eq!(
        db.claim_due("one", t(1_000), t(600_000), &[want])
            .await
            .unwrap()
            .len(),
        2
    );

    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    for sql in [
        "BEGIN",
        "SET LOCAL deadlock_timeout = '60s'",
        "UPDATE executions SET updated_at = updated_at WHERE id = 'y'",
    ] {
        sqlx::query(sql).execute(&mut other).await.unwrap();
    }
    let journal = {
        let db = db.clone();
        tokio::spawn(async move {
            let finish = || JournalOutcome::Finish {
                status: ExecutionStatus::Succeeded,
                error: None,
            };
            let writes = [
                JournalWrite::outcome("y", "one", finish(), t(2_000)),
                JournalWrite::outcome("x", "one", finish(), t(2_000)),
            ];
            db.write_journal(&writes).await
        })
    };
    // The journal has taken x and waits for y.
    let mut watcher = sqlx::PgConnection::connect(&url).await.unwrap();
    let waiting = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                   AND wait_event_type = 'Lock' AND query LIKE 'UPDATE executions SET status%'";
    let started = std::time::Instant::now();
    while sqlx::query_scalar::<_, i64>(waiting)
        .fetch_one(&mut watcher)
        .await
        .unwrap()
        == 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the journal never waited for y"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Now the other asks for x: it waits until the journal, the victim, lets x go.
    sqlx::query("UPDATE executions SET updated_at = updated_at WHERE id = 'x'")
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    assert_eq!(
        journal.await.unwrap().expect("the journal was run again"),
        [true, true]
    );
    for exec_id in ["x", "y"] {
        let record = db.get_execution(exec_id).await.unwrap().unwrap();
        assert_eq!(record.status, ExecutionStatus::Succeeded, "{exec_id}");
    }
    db.close().await;
    guard.cleanup().await;
}
