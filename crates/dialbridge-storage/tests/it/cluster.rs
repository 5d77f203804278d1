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
