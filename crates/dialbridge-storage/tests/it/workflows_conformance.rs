//! The storage conformance suite for workflows, events, executions, schedule ticks, hooks and
//! webhook endpoints, run against SQLite (a fresh file) and PostgreSQL (a fresh database through
//! `DIALBRIDGE_TEST_DATABASE_URL`; ignored when it is not set).

use std::collections::BTreeSet;
use std::sync::Arc;

use dialbridge_core::*;
use dialbridge_storage::Database;
use serde_json::json;

use crate::support::{id, t};

conformance!(
    workflow_versions,
    concurrent_saves_get_distinct_versions,
    enablements,
    enablements_go_with_workflow_and_account,
    record_event_dedupes,
    record_event_is_one_transaction,
    record_events_is_a_group_commit,
    an_events_transaction_stores_the_batch_as_it_finishes,
    an_execution_finished_at_ingest_is_stored_with_its_journal,
    executions_read_their_event,
    concurrent_claimers_get_disjoint_executions,
    claims_take_the_room_of_each_account,
    a_released_execution_resumes,
    concurrent_claims_never_exceed_the_room,
    expired_lease_is_reclaimable,
    unstarted_claims_are_given_back,
    release_is_a_durable_delay,
    work_is_found_by_shard,
    a_journal_write_is_one_transaction,
    a_batch_of_finishes_keeps_each_executions_own_outcome,
    finish_only_by_owner,
    cancel,
    list_executions_pages_and_filters,
    list_events_pages_and_names_their_executions,
    redeliveries_are_counted_on_the_stored_event,
    a_key_stored_by_an_older_version_still_matches_its_redelivery,
    steps_upsert_in_order,
    a_step_written_twice_in_one_commit_keeps_the_later_entry,
    schedule_tick_claimed_once,
    hooks,
    audits_are_claimed_once_per_due_moment,
    endpoints,
    deliveries,
    a_failed_delivery_is_queued_again_once,
    a_claim_takes_each_endpoint_its_share,
    endpoint_circuits_count_open_and_close,
    concurrent_claimers_get_disjoint_deliveries,
    retention_removes_only_old_settled_history,
);

async fn account(db: &Database, name: &str) {
    db.upsert_account(&id(name), &AccountPatch::default(), 0, t(1))
        .await
        .unwrap();
}

fn exec(exec_id: &str, account: &str, key: &str, run_at: i64, created_at: i64) -> ExecutionRecord {
    ExecutionRecord {
        id: exec_id.into(),
        account_id: id(account),
        workflow_key: key.into(),
        version: 1,
        status: ExecutionStatus::Queued,
        trigger: json!({"type": "api"}),
        event: json!({"n": exec_id}),
        event_id: None,
        shard: 0,
        error: None,
        run_at: t(run_at),
        lease_owner: None,
        lease_until: None,
        replay_of: None,
        created_at: t(created_at),
        updated_at: t(created_at),
        finished_at: None,
    }
}

fn event(event_id: &str, account: &str, dedupe_key: Option<&str>) -> EventRecord {
    EventRecord {
        id: event_id.into(),
        account_id: id(account),
        source: "dialpad".into(),
        name: "call.ringing".into(),
        dedupe_key: dedupe_key.map(str::to_owned),
        payload: json!({"call_id": 7, "nested": {"a": [1, 2.5, null, "x"]}}),
        received_at: t(100),
    }
}

fn incoming(batch: &[(EventRecord, Vec<ExecutionRecord>)]) -> Vec<IncomingEvent> {
    batch
        .iter()
        .map(|(event, executions)| IncomingEvent::new(event.clone(), executions.clone()))
        .collect()
}

fn ids(executions: &[ExecutionRecord]) -> Vec<String> {
    executions.iter().map(|e| e.id.clone()).collect()
}

async fn workflow_versions(db: &Database) {
    let v1 = json!({"key": "greet", "steps": [{"id": "sms", "text": "hi"}]});
    let v2 = json!({"key": "greet", "steps": [{"id": "sms", "text": "hello"}], "n": 2.5});
    assert_eq!(
        db.insert_workflow_version("greet", &v1, t(10))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        db.insert_workflow_version("greet", &v2, t(20))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        db.insert_workflow_version("alpha", &v1, t(30))
            .await
            .unwrap(),
        1
    );

    let latest = db.get_workflow("greet", None).await.unwrap().unwrap();
    assert_eq!(
        latest,
        WorkflowRecord {
            key: "greet".into(),
            version: 2,
            definition: v2.clone(),
            created_at: t(20)
        }
    );
    let first = db.get_workflow("greet", Some(1)).await.unwrap().unwrap();
    assert_eq!(
        (first.version, &first.definition, first.created_at),
        (1, &v1, t(10))
    );
    assert!(db.get_workflow("greet", Some(3)).await.unwrap().is_none());
    assert!(db.get_workflow("nope", None).await.unwrap().is_none());

    let all = db.list_workflows().await.unwrap();
    assert_eq!(
        all.iter()
            .map(|w| (w.key.as_str(), w.version))
            .collect::<Vec<_>>(),
        [("alpha", 1), ("greet", 2)]
    );

    assert!(db.delete_workflow("greet", t(40)).await.unwrap());
    assert!(
        !db.delete_workflow("greet", t(41)).await.unwrap(),
        "already deleted"
    );
    assert!(!db.delete_workflow("nope", t(41)).await.unwrap());
    assert!(
        db.get_workflow("greet", None).await.unwrap().is_none(),
        "a deleted workflow has no latest"
    );
    assert_eq!(
        db.get_workflow("greet", Some(2))
            .await
            .unwrap()
            .unwrap()
            .definition,
        v2,
        "versions stay readable by number"
    );
    assert_eq!(
        db.list_workflows()
            .await
            .unwrap()
            .iter()
            .map(|w| w.key.as_str())
            .collect::<Vec<_>>(),
        ["alpha"]
    );

    assert_eq!(
        db.insert_workflow_version("greet", &v1, t(50))
            .await
            .unwrap(),
        3,
        "numbering continues after a delete"
    );
    let latest = db.get_workflow("greet", None).await.unwrap().unwrap();
    assert_eq!(
        (latest.version, latest.created_at),
        (3, t(50)),
        "live again"
    );
    assert_eq!(db.list_workflows().await.unwrap().len(), 2);
}

async fn concurrent_saves_get_distinct_versions(db: &Database) {
    let db = Arc::new(db.clone());
    let saves: Vec<_> = (0..10)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                db.insert_workflow_version("busy", &json!({"i": i}), t(i))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut versions = BTreeSet::new();
    for save in saves {
        versions.insert(save.await.unwrap());
    }
    assert_eq!(versions, (1..=10).collect::<BTreeSet<i64>>());
    for version in 1..=10 {
        assert!(db
            .get_workflow("busy", Some(version))
            .await
            .unwrap()
            .is_some());
    }
    assert_eq!(
        db.get_workflow("busy", None)
            .await
            .unwrap()
            .unwrap()
            .version,
        10
    );
}

fn enablement(account: &str, key: &str, config: serde_json::Value, at: i64) -> EnablementRecord {
    EnablementRecord {
        account_id: id(account),
        workflow_key: key.into(),
        config,
        created_at: t(at),
        updated_at: t(at),
    }
}

async fn enablements(db: &Database) {
    for name in ["a", "b"] {
        account(db, name).await;
    }
    for key in ["w1", "w2"] {
        db.insert_workflow_version(key, &json!({}), t(1))
            .await
            .unwrap();
    }
    db.put_enablement(&enablement("b", "w1", json!({"x": 1}), 10))
        .await
        .unwrap();
    db.put_enablement(&enablement("a", "w2", json!({}), 11))
        .await
        .unwrap();
    db.put_enablement(&enablement("a", "w1", json!({"list": [1, 2]}), 12))
        .await
        .unwrap();
    assert_eq!(
        db.get_enablement(&id("b"), "w1").await.unwrap().unwrap(),
        enablement("b", "w1", json!({"x": 1}), 10)
    );
    assert!(db.get_enablement(&id("b"), "w2").await.unwrap().is_none());

    db.put_enablement(&EnablementRecord {
        created_at: t(99),
        updated_at: t(20),
        ..enablement("b", "w1", json!({"x": 2}), 0)
    })
    .await
    .unwrap();
    let replaced = db.get_enablement(&id("b"), "w1").await.unwrap().unwrap();
    assert_eq!(
        (replaced.config, replaced.created_at, replaced.updated_at),
        (json!({"x": 2}), t(10), t(20)),
        "a replacement keeps created_at"
    );

    let pairs = |list: Vec<EnablementRecord>| {
        list.into_iter()
            .map(|e| format!("{}/{}", e.account_id, e.workflow_key))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pairs(db.list_enablements(None, None).await.unwrap()),
        ["a/w1", "a/w2", "b/w1"]
    );
    assert_eq!(
        pairs(db.list_enablements(Some(&id("a")), None).await.unwrap()),
        ["a/w1", "a/w2"]
    );
    assert_eq!(
        pairs(db.list_enablements(None, Some("w1")).await.unwrap()),
        ["a/w1", "b/w1"]
    );
    assert_eq!(
        pairs(
            db.list_enablements(Some(&id("b")), Some("w1"))
                .await
                .unwrap()
        ),
        ["b/w1"]
    );
    assert!(db
        .list_enablements(Some(&id("b")), Some("w2"))
        .await
        .unwrap()
        .is_empty());

    assert!(db.delete_enablement(&id("a"), "w2").await.unwrap());
    assert!(!db.delete_enablement(&id("a"), "w2").await.unwrap());
    assert_eq!(db.list_enablements(None, None).await.unwrap().len(), 2);
}

async fn enablements_go_with_workflow_and_account(db: &Database) {
    for name in ["a", "b"] {
        account(db, name).await;
    }
    for key in ["w1", "w2"] {
        db.insert_workflow_version(key, &json!({}), t(1))
            .await
            .unwrap();
    }
    for (a, w) in [("a", "w1"), ("a", "w2"), ("b", "w1"), ("b", "w2")] {
        db.put_enablement(&enablement(a, w, json!({}), 1))
            .await
            .unwrap();
    }
    assert!(db.delete_workflow("w1", t(5)).await.unwrap());
    let left: Vec<_> = db
        .list_enablements(None, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{}/{}", e.account_id, e.workflow_key))
        .collect();
    assert_eq!(left, ["a/w2", "b/w2"], "deleting a workflow disables it");

    assert!(db.delete_account(&id("a")).await.unwrap());
    let left: Vec<_> = db
        .list_enablements(None, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.account_id.to_string())
        .collect();
    assert_eq!(left, ["b"], "deleting an account removes its enablements");
}

async fn record_event_dedupes(db: &Database) {
    let first = event("ev1", "a", Some("call-7-ringing"));
    assert!(db
        .record_event(
            &first,
            &[
                exec("x1", "a", "w", 100, 100),
                exec("x2", "a", "w2", 100, 100)
            ]
        )
        .await
        .unwrap());
    assert_eq!(db.get_event("ev1").await.unwrap().unwrap(), first);
    assert!(
        !db.record_event(
            &event("ev2", "a", Some("call-7-ringing")),
            &[exec("x3", "a", "w", 100, 100)]
        )
        .await
        .unwrap(),
        "a redelivery is not stored again"
    );
    assert!(db.get_event("ev2").await.unwrap().is_none());
    assert!(db.get_execution("x3").await.unwrap().is_none());
    let all = db
        .list_executions(&ExecutionFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "no duplicate executions");

    assert!(
        db.record_event(&event("ev3", "b", Some("call-7-ringing")), &[])
            .await
            .unwrap(),
        "dedupe keys are per account"
    );
    for event_id in ["ev4", "ev5"] {
        assert!(
            db.record_event(
                &event(event_id, "a", None),
                &[exec(&format!("x-{event_id}"), "a", "w", 1, 1)]
            )
            .await
            .unwrap(),
            "events without a dedupe key are all stored"
        );
    }
    assert_eq!(
        db.get_event("ev4").await.unwrap().unwrap(),
        event("ev4", "a", None)
    );
    assert!(db.get_execution("x-ev5").await.unwrap().is_some());
    assert!(db.get_event("nope").await.unwrap().is_none());
}

async fn record_event_is_one_transaction(db: &Database) {
    db.insert_execution(&exec("taken", "a", "w", 1, 1))
        .await
        .unwrap();
    let result = db
        .record_event(
            &event("ev1", "a", Some("k")),
            &[exec("fresh", "a", "w", 1, 1), exec("taken", "a", "w", 1, 1)],
        )
        .await;
    assert!(result.is_err(), "a duplicate execution id fails");
    assert!(
        db.get_event("ev1").await.unwrap().is_none(),
        "nothing of it is stored"
    );
    assert!(db.get_execution("fresh").await.unwrap().is_none());
    assert!(
        db.record_event(
            &event("ev1", "a", Some("k")),
            &[exec("fresh", "a", "w", 1, 1)]
        )
        .await
        .unwrap(),
        "the dedupe key was not taken by the failed attempt"
    );
}

async fn record_events_is_a_group_commit(db: &Database) {
    db.record_event(&event("old", "a", Some("k0")), &[])
        .await
        .unwrap();
    let batch = vec![
        (
            event("e1", "a", Some("k1")),
            vec![exec("x1", "a", "w", 1, 1)],
        ),
        // A redelivery of an event stored before, and one of an event earlier in the batch.
        (
            event("e2", "a", Some("k0")),
            vec![exec("x2", "a", "w", 1, 1)],
        ),
        (
            event("e3", "a", Some("k1")),
            vec![exec("x3", "a", "w", 1, 1)],
        ),
        (event("e4", "b", None), vec![]),
        (
            event("e5", "b", Some("k1")),
            vec![exec("x5", "b", "w", 1, 1), exec("x6", "b", "w2", 1, 1)],
        ),
    ];
    let new = db.record_events(&incoming(&batch)).await.unwrap();
    assert_eq!(new, [true, false, false, true, true]);
    for (id, stored) in [
        ("x1", true),
        ("x2", false),
        ("x3", false),
        ("x5", true),
        ("x6", true),
    ] {
        assert_eq!(
            db.get_execution(id).await.unwrap().is_some(),
            stored,
            "{id}"
        );
    }
    for (id, stored) in [
        ("e1", true),
        ("e2", false),
        ("e3", false),
        ("e4", true),
        ("e5", true),
    ] {
        assert_eq!(db.get_event(id).await.unwrap().is_some(), stored, "{id}");
    }
    // All or nothing: one bad execution (a taken id) fails the whole batch.
    let failing = vec![
        (
            event("f1", "a", Some("kf1")),
            vec![exec("y1", "a", "w", 1, 1)],
        ),
        (
            event("f2", "a", Some("kf2")),
            vec![exec("x1", "a", "w", 1, 1)],
        ),
    ];
    assert!(db.record_events(&incoming(&failing)).await.is_err());
    assert!(db.get_event("f1").await.unwrap().is_none());
    assert!(db.get_execution("y1").await.unwrap().is_none());
    assert_eq!(db.record_events(&[]).await.unwrap(), Vec::<bool>::new());
}

/// Ingest's order (`EventsTx`): the keys go in, the batch gains its executions meanwhile, and
/// the commit stores the batch as it is then. Until `finish` nothing is kept, not even a key: an
/// events transaction dropped after its keys went in leaves the event new for its redelivery.
async fn an_events_transaction_stores_the_batch_as_it_finishes(db: &Database) {
    let mut batch = incoming(&[
        (event("e1", "a", Some("k1")), vec![]),
        (event("e2", "b", None), vec![]),
    ]);
    let mut tx = db.begin_events(&batch);
    let new = tx.insert_keys().await.unwrap();
    assert_eq!(new, [true, true]);
    batch[0].executions.push(exec("x1", "a", "w", 1, 1));
    batch[1].executions.push(exec("x2", "b", "w", 1, 1));
    tx.finish(&batch, &new).await.unwrap();
    for id in ["x1", "x2"] {
        assert!(db.get_execution(id).await.unwrap().is_some(), "{id}");
    }
    assert!(db.get_event("e1").await.unwrap().is_some());

    // Dropped after its keys went in: nothing of it is kept.
    let abandoned = incoming(&[(event("e3", "a", Some("k3")), vec![])]);
    let mut tx = db.begin_events(&abandoned);
    assert_eq!(tx.insert_keys().await.unwrap(), [true]);
    drop(tx);
    assert!(db.get_event("e3").await.unwrap().is_none());
    let again = [(
        event("e3-again", "a", Some("k3")),
        vec![exec("x3", "a", "w", 1, 1)],
    )];
    assert_eq!(db.record_events(&incoming(&again)).await.unwrap(), [true]);
    assert!(db.get_execution("x3").await.unwrap().is_some());

    // Finished with another batch than it began with: refused, nothing kept.
    let two = incoming(&[
        (event("e4", "a", Some("k4")), vec![]),
        (event("e5", "a", Some("k5")), vec![]),
    ]);
    let mut tx = db.begin_events(&two);
    let new = tx.insert_keys().await.unwrap();
    assert!(tx.finish(&two[..1], &new[..1]).await.is_err());
    assert_eq!(
        db.record_events(&two).await.unwrap(),
        [true, true],
        "the refused batch's keys were not kept"
    );
}

/// An execution that ran to its end at ingest is stored finished in its event's commit, with
/// its steps and deliveries, and is never claimed; the run of a redelivery stores nothing.
async fn an_execution_finished_at_ingest_is_stored_with_its_journal(db: &Database) {
    db.put_endpoint(&endpoint("ep", &[], 10)).await.unwrap();
    db.record_event(&event("first", "a", Some("k1")), &[])
        .await
        .unwrap();
    let ran = |exec_id: &str, event: EventRecord, delivery_id: &str| {
        let mut execution = exec(exec_id, "a", "w", 1, 1);
        execution.event = serde_json::Value::Null;
        execution.event_id = Some(event.id.clone());
        execution.status = ExecutionStatus::Succeeded;
        execution.updated_at = t(2);
        execution.finished_at = Some(t(2));
        IncomingEvent {
            event,
            executions: vec![execution],
            steps: vec![StepRecord {
                execution_id: exec_id.into(),
                output: Some(json!({"n": 1})),
                finished_at: Some(t(2)),
                ..step("s", 0, StepStatus::Succeeded)
            }],
            deliveries: vec![delivery(delivery_id, "ep", 2, 2)],
        }
    };
    let batch = [
        ran("x1", event("e1", "a", Some("k2")), "m1"),
        ran("x2", event("e2", "a", Some("k1")), "m2"),
    ];
    assert_eq!(db.record_events(&batch).await.unwrap(), [true, false]);
    let stored = db.get_execution("x1").await.unwrap().unwrap();
    assert_eq!(stored.status, ExecutionStatus::Succeeded);
    assert_eq!(stored.finished_at, Some(t(2)));
    assert_eq!(stored.lease_owner, None);
    assert_eq!(stored.event, event("e1", "a", None).payload);
    assert_eq!(db.list_steps("x1").await.unwrap(), batch[0].steps);
    assert!(db.get_execution("x2").await.unwrap().is_none());
    assert!(db.list_steps("x2").await.unwrap().is_empty());
    let queued = queued_deliveries(db, "ep").await;
    assert_eq!(queued, ["m1"], "the redelivery's run queued nothing");
    assert!(claim(db, "one", 10, 60_000, &[("a", 5)]).await.is_empty());
}

async fn executions_read_their_event(db: &Database) {
    let ev = event("e1", "a", None);
    let mut with_event = exec("x1", "a", "w", 1, 1);
    with_event.event = serde_json::Value::Null;
    with_event.event_id = Some("e1".into());
    with_event.shard = 5;
    db.record_event(&ev, &[with_event]).await.unwrap();
    let got = db.get_execution("x1").await.unwrap().unwrap();
    assert_eq!(got.event, ev.payload, "the payload comes from the event");
    assert_eq!((got.event_id.as_deref(), got.shard), (Some("e1"), 5));
    let listed = db
        .list_executions(&ExecutionFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(listed[0].event, ev.payload);
    let claimed = claim(db, "one", 10, 60_000, &[("a", 10)]).await;
    assert_eq!(claimed[0].event, ev.payload);
    // An execution written before events held their payload keeps its copy.
    db.insert_execution(&exec("old", "a", "w", 1, 1))
        .await
        .unwrap();
    assert_eq!(
        db.get_execution("old").await.unwrap().unwrap().event,
        json!({"n": "old"})
    );
}

/// `claim_due` for `(account, room)` pairs, the executions only.
async fn claim(
    db: &Database,
    owner: &str,
    now: i64,
    lease_until: i64,
    wants: &[(&str, u32)],
) -> Vec<ExecutionRecord> {
    let wants: Vec<ClaimWant> = wants
        .iter()
        .map(|(account, room)| ClaimWant {
            account: id(account),
            room: *room,
        })
        .collect();
    db.claim_due(owner, t(now), t(lease_until), &wants)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.execution)
        .collect()
}

async fn concurrent_claimers_get_disjoint_executions(db: &Database) {
    for i in 0..20 {
        db.insert_execution(&exec(
            &format!("x{i:02}"),
            &format!("acct{}", i % 4),
            "w",
            i,
            i,
        ))
        .await
        .unwrap();
    }
    let db = Arc::new(db.clone());
    let wants = [("acct0", 2), ("acct1", 2), ("acct2", 2), ("acct3", 2)];
    let claimers: Vec<_> = ["one", "two"]
        .into_iter()
        .map(|owner| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = claim(&db, owner, 1_000, 60_000, &wants).await;
                    if got.is_empty() {
                        break mine;
                    }
                    for e in &got {
                        assert_eq!(
                            (e.status, e.lease_owner.as_deref(), e.lease_until),
                            (ExecutionStatus::Running, Some(owner), Some(t(60_000)))
                        );
                    }
                    mine.extend(ids(&got));
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let distinct: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 20, "no execution was handed out twice");
    assert_eq!(distinct.len(), 20);
    assert!(claim(&db, "three", 2_000, 60_000, &wants).await.is_empty());
}

async fn claims_take_the_room_of_each_account(db: &Database) {
    for i in 0..5 {
        db.insert_execution(&exec(&format!("a{i}"), "a", "w", 10 + i, 1))
            .await
            .unwrap();
    }
    for i in 0..2 {
        db.insert_execution(&exec(&format!("b{i}"), "b", "w", 20 + i, 1))
            .await
            .unwrap();
    }
    db.insert_execution(&exec("later", "c", "w", 5_000, 1))
        .await
        .unwrap();
    let got = claim(db, "one", 1_000, 60_000, &[("a", 2), ("b", 5), ("c", 5)]).await;
    assert_eq!(
        ids(&got),
        ["a0", "a1", "b0", "b1"],
        "oldest run_at first, at most the room of each account, nothing not yet due"
    );
    assert!(claim(db, "two", 1_000, 60_000, &[("a", 0), ("b", 3)])
        .await
        .is_empty());
    assert_eq!(
        ids(&claim(db, "two", 1_000, 60_000, &[("a", 1)]).await),
        ["a2"]
    );
    let claimed = db
        .claim_due(
            "two",
            t(1_000),
            t(60_000),
            &[ClaimWant {
                account: id("a"),
                room: 10,
            }],
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|c| !c.resumed), "first claims");
}

async fn a_released_execution_resumes(db: &Database) {
    db.insert_execution(&exec("x", "a", "w", 1, 1))
        .await
        .unwrap();
    let first = db
        .claim_due(
            "one",
            t(10),
            t(60_000),
            &[ClaimWant {
                account: id("a"),
                room: 1,
            }],
        )
        .await
        .unwrap();
    assert!(!first[0].resumed);
    assert!(db
        .release_execution("x", "one", t(20), t(11))
        .await
        .unwrap());
    let again = db
        .claim_due(
            "one",
            t(30),
            t(60_000),
            &[ClaimWant {
                account: id("a"),
                room: 1,
            }],
        )
        .await
        .unwrap();
    assert!(again[0].resumed, "its journal has entries to resume from");
}

async fn concurrent_claims_never_exceed_the_room(db: &Database) {
    for i in 0..20 {
        let account = if i % 2 == 0 { "a" } else { "b" };
        db.insert_execution(&exec(&format!("x{i:02}"), account, "w", i, i))
            .await
            .unwrap();
    }
    let db = Arc::new(db.clone());
    let claimers: Vec<_> = (0..8)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                claim(
                    &db,
                    &format!("owner-{i}"),
                    1_000,
                    60_000,
                    &[("a", 3), ("b", 3)],
                )
                .await
            })
        })
        .collect();
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(ids(&claimer.await.unwrap()));
    }
    let distinct: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(distinct.len(), all.len(), "no execution claimed twice");
    assert_eq!(all.len(), 20, "eight claimers of 3+3 took all twenty");
}

async fn expired_lease_is_reclaimable(db: &Database) {
    assert_eq!(db.next_claimable(&id("a")).await.unwrap(), None);
    db.insert_execution(&exec("x", "a", "w", 500, 1))
        .await
        .unwrap();
    assert_eq!(db.next_claimable(&id("a")).await.unwrap(), Some(t(500)));
    assert!(
        claim(db, "one", 499, 2_000, &[("a", 5)]).await.is_empty(),
        "not before run_at"
    );
    assert_eq!(
        ids(&claim(db, "one", 1_000, 2_000, &[("a", 5)]).await),
        ["x"]
    );
    assert_eq!(
        db.next_claimable(&id("a")).await.unwrap(),
        Some(t(2_001)),
        "claimable again once the lease has run out"
    );
    assert!(claim(db, "two", 2_000, 9_000, &[("a", 5)]).await.is_empty());
    let ids_of = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        db.renew_leases("one", &ids_of(&["x", "nope"]), t(3_000))
            .await
            .unwrap(),
        ["x"]
    );
    assert!(db
        .renew_leases("two", &ids_of(&["x"]), t(3_000))
        .await
        .unwrap()
        .is_empty());
    assert!(claim(db, "two", 2_500, 9_000, &[("a", 5)]).await.is_empty());
    let got = claim(db, "two", 3_001, 9_000, &[("a", 5)]).await;
    assert_eq!(
        (ids(&got), got[0].lease_owner.as_deref(), got[0].lease_until),
        (vec!["x".to_owned()], Some("two"), Some(t(9_000))),
        "an expired lease is taken over"
    );
    assert!(db
        .renew_leases("one", &ids_of(&["x"]), t(10_000))
        .await
        .unwrap()
        .is_empty());
    assert!(!db
        .finish_execution("x", "one", ExecutionStatus::Succeeded, None, t(3_100))
        .await
        .unwrap());
    assert!(!db
        .release_execution("x", "one", t(0), t(3_100))
        .await
        .unwrap());
    assert!(db
        .finish_execution("x", "two", ExecutionStatus::Succeeded, None, t(3_200))
        .await
        .unwrap());
    assert_eq!(db.next_claimable(&id("a")).await.unwrap(), None);
}

async fn unstarted_claims_are_given_back(db: &Database) {
    for (exec_id, account) in [("a1", "a"), ("a2", "a"), ("b1", "b"), ("c1", "c")] {
        db.insert_execution(&exec(exec_id, account, "w", 100, 1))
            .await
            .unwrap();
    }
    db.insert_execution(&exec("later", "d", "w", 50_000, 1))
        .await
        .unwrap();
    claim(db, "one", 1_000, 60_000, &[("a", 5), ("b", 5)]).await;
    claim(db, "two", 1_000, 60_000, &[("c", 5)]).await;
    db.finish_execution("b1", "one", ExecutionStatus::Succeeded, None, t(1_100))
        .await
        .unwrap();
    // "one" runs a1 only: a2 was claimed but never started there.
    let given_back = db
        .release_unstarted("one", &["a1".to_owned()], t(1_200))
        .await
        .unwrap();
    assert_eq!(given_back, [id("a")], "only a2's account; b1 is finished");
    assert_eq!(
        ids(&claim(db, "three", 1_300, 60_000, &[("a", 5), ("c", 5), ("d", 5)]).await),
        ["a2"],
        "a2 is claimable at once; a1 and c1 keep their leases, d's is not due"
    );
    let a1 = db.get_execution("a1").await.unwrap().unwrap();
    assert_eq!(a1.lease_owner.as_deref(), Some("one"));
    assert!(
        db.release_unstarted("two", &[], t(1_400))
            .await
            .unwrap()
            .contains(&id("c")),
        "with nothing running, everything leased to the owner is given back"
    );
    assert!(db
        .release_unstarted("nobody", &[], t(1_500))
        .await
        .unwrap()
        .is_empty());
}

async fn release_is_a_durable_delay(db: &Database) {
    db.insert_execution(&exec("x", "a", "w", 100, 1))
        .await
        .unwrap();
    claim(db, "one", 1_000, 60_000, &[("a", 5)]).await;
    assert!(!db
        .release_execution("x", "two", t(5_000), t(1_100))
        .await
        .unwrap());
    assert!(db
        .release_execution("x", "one", t(5_000), t(1_100))
        .await
        .unwrap());
    let e = db.get_execution("x").await.unwrap().unwrap();
    assert_eq!(
        (
            e.status,
            e.run_at,
            e.lease_owner,
            e.lease_until,
            e.updated_at
        ),
        (ExecutionStatus::Running, t(5_000), None, None, t(1_100))
    );
    assert_eq!(db.next_claimable(&id("a")).await.unwrap(), Some(t(5_000)));
    assert!(
        claim(db, "two", 4_999, 60_000, &[("a", 5)])
            .await
            .is_empty(),
        "not claimable before its new run_at"
    );
    let got = claim(db, "two", 5_000, 60_000, &[("a", 5)]).await;
    assert_eq!(
        (ids(&got), got[0].status, got[0].updated_at),
        (vec!["x".to_owned()], ExecutionStatus::Running, t(5_000))
    );
}

async fn work_is_found_by_shard(db: &Database) {
    let mut e = exec("q", "a", "w", 100, 10);
    e.shard = 1;
    db.insert_execution(&e).await.unwrap();
    let mut e = exec("later", "b", "w", 900, 20);
    e.shard = 2;
    db.insert_execution(&e).await.unwrap();
    let mut e = exec("done", "c", "w", 1, 30);
    e.shard = 1;
    e.status = ExecutionStatus::Succeeded;
    db.insert_execution(&e).await.unwrap();
    let mut found = db.work_in_shards(&[1, 2, 3], None).await.unwrap();
    found.sort();
    assert_eq!(found, [(id("a"), 1, t(100)), (id("b"), 2, t(900))]);
    assert_eq!(
        db.work_in_shards(&[2], None).await.unwrap(),
        [(id("b"), 2, t(900))]
    );
    assert_eq!(
        db.work_in_shards(&[1, 2], Some(t(15))).await.unwrap(),
        [(id("b"), 2, t(900))],
        "only work created since"
    );
    assert!(db.work_in_shards(&[], None).await.unwrap().is_empty());
}

async fn a_journal_write_is_one_transaction(db: &Database) {
    db.insert_execution(&exec("x", "a", "w", 1, 1))
        .await
        .unwrap();
    db.insert_execution(&exec("y", "a", "w", 1, 1))
        .await
        .unwrap();
    claim(db, "one", 10, 60_000, &[("a", 2)]).await;
    db.put_endpoint(&EndpointRecord {
        id: "e".into(),
        url: "https://v.example/hook".into(),
        events: vec![],
        secret: Sealed(vec![1]),
        created_at: t(1),
        updated_at: t(1),
        circuit: EndpointCircuit::default(),
    })
    .await
    .unwrap();
    let step = |execution: &str| StepRecord {
        execution_id: execution.into(),
        step_id: "s".into(),
        seq: 0,
        status: StepStatus::Succeeded,
        attempts: 1,
        input: None,
        output: Some(json!({"ok": true})),
        error: None,
        started_at: Some(t(11)),
        finished_at: Some(t(12)),
        wake_at: None,
    };
    let delivery = |id: &str| DeliveryRecord {
        id: id.into(),
        endpoint_id: "e".into(),
        event_type: "execution.succeeded".into(),
        payload: json!({}),
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: t(12),
        last_status: None,
        last_error: None,
        created_at: t(12),
        delivered_at: None,
    };
    let finish = JournalOutcome::Finish {
        status: ExecutionStatus::Succeeded,
        error: None,
    };
    let writes = [
        JournalWrite {
            steps: vec![step("x")],
            deliveries: vec![delivery("mx")],
            ..JournalWrite::outcome("x", "one", finish.clone(), t(12))
        },
        // Not the lease holder: its steps are written, its finish and deliveries are not.
        JournalWrite {
            steps: vec![step("y")],
            deliveries: vec![delivery("my")],
            ..JournalWrite::outcome("y", "two", finish, t(12))
        },
    ];
    assert_eq!(db.write_journal(&writes).await.unwrap(), [true, false]);
    assert_eq!(
        db.get_execution("x").await.unwrap().unwrap().status,
        ExecutionStatus::Succeeded
    );
    assert_eq!(
        db.get_execution("y").await.unwrap().unwrap().status,
        ExecutionStatus::Running
    );
    assert_eq!(db.list_steps("x").await.unwrap(), [step("x")]);
    assert_eq!(db.list_steps("y").await.unwrap(), [step("y")]);
    let queued = queued_deliveries(db, "e").await;
    assert_eq!(queued, ["mx"], "deliveries only with a finish that applied");
}

/// The finishes of a batch go in as one statement: each execution still gets its own status,
/// error and time, and a release in the same batch stays a release.
async fn a_batch_of_finishes_keeps_each_executions_own_outcome(db: &Database) {
    for id in ["x", "y", "z"] {
        db.insert_execution(&exec(id, "a", "w", 1, 1))
            .await
            .unwrap();
    }
    claim(db, "one", 10, 60_000, &[("a", 3)]).await;
    let error = json!({"code": "boom"});
    let writes = [
        JournalWrite::outcome(
            "y",
            "one",
            JournalOutcome::Finish {
                status: ExecutionStatus::Failed,
                error: Some(error.clone()),
            },
            t(13),
        ),
        JournalWrite::outcome("z", "one", JournalOutcome::Release { run_at: t(99) }, t(14)),
        JournalWrite::outcome(
            "x",
            "one",
            JournalOutcome::Finish {
                status: ExecutionStatus::Succeeded,
                error: None,
            },
            t(12),
        ),
    ];
    assert_eq!(db.write_journal(&writes).await.unwrap(), [true, true, true]);
    let row =
        |e: dialbridge_core::ExecutionRecord| (e.status, e.error, e.finished_at, e.lease_owner);
    assert_eq!(
        row(db.get_execution("x").await.unwrap().unwrap()),
        (ExecutionStatus::Succeeded, None, Some(t(12)), None)
    );
    assert_eq!(
        row(db.get_execution("y").await.unwrap().unwrap()),
        (ExecutionStatus::Failed, Some(error), Some(t(13)), None)
    );
    let z = db.get_execution("z").await.unwrap().unwrap();
    assert_eq!(
        (z.status, z.run_at, z.finished_at),
        (ExecutionStatus::Running, t(99), None)
    );
}

async fn finish_only_by_owner(db: &Database) {
    db.insert_execution(&exec("x", "a", "w", 1, 1))
        .await
        .unwrap();
    assert!(
        !db.finish_execution("x", "one", ExecutionStatus::Failed, None, t(2))
            .await
            .unwrap(),
        "an unclaimed execution has no owner"
    );
    claim(db, "one", 10, 60_000, &[("a", 5)]).await;
    let error = json!({"code": "boom", "detail": {"status": 500}});
    assert!(!db
        .finish_execution("x", "two", ExecutionStatus::Failed, Some(&error), t(20))
        .await
        .unwrap());
    assert!(db
        .finish_execution("x", "one", ExecutionStatus::Failed, Some(&error), t(20))
        .await
        .unwrap());
    let e = db.get_execution("x").await.unwrap().unwrap();
    assert_eq!(
        (
            e.status,
            e.error.as_ref(),
            e.finished_at,
            e.updated_at,
            e.lease_owner.as_deref(),
            e.lease_until
        ),
        (
            ExecutionStatus::Failed,
            Some(&error),
            Some(t(20)),
            t(20),
            None,
            None
        )
    );
    assert!(
        !db.finish_execution("x", "one", ExecutionStatus::Succeeded, None, t(30))
            .await
            .unwrap(),
        "finishes once"
    );
    assert!(
        claim(db, "one", 40, 60_000, &[("a", 5)]).await.is_empty(),
        "a finished execution is not claimed"
    );
    assert!(db
        .finish_execution("x", "one", ExecutionStatus::Running, None, t(30))
        .await
        .is_err());
}

async fn cancel(db: &Database) {
    db.insert_execution(&exec("queued", "a", "w", 1, 1))
        .await
        .unwrap();
    db.insert_execution(&exec("running", "a", "w", 2, 1))
        .await
        .unwrap();
    db.insert_execution(&exec("done", "a", "w", 3, 1))
        .await
        .unwrap();
    claim(db, "one", 10, 60_000, &[("a", 5)]).await;
    assert!(db
        .release_execution("queued", "one", t(50), t(11))
        .await
        .unwrap());
    assert!(db
        .finish_execution("done", "one", ExecutionStatus::Succeeded, None, t(12))
        .await
        .unwrap());

    assert!(db.cancel_execution("queued", t(20)).await.unwrap());
    assert!(!db.cancel_execution("queued", t(21)).await.unwrap(), "once");
    assert!(db.cancel_execution("running", t(22)).await.unwrap());
    assert!(
        !db.cancel_execution("done", t(23)).await.unwrap(),
        "a finished execution stays finished"
    );
    assert!(!db.cancel_execution("nope", t(23)).await.unwrap());
    let e = db.get_execution("running").await.unwrap().unwrap();
    assert_eq!(
        (e.status, e.finished_at, e.lease_owner, e.lease_until),
        (ExecutionStatus::Cancelled, Some(t(22)), None, None)
    );
    assert!(
        !db.finish_execution("running", "one", ExecutionStatus::Succeeded, None, t(30))
            .await
            .unwrap(),
        "the worker cannot finish a cancelled execution"
    );
    assert!(db
        .renew_leases("one", &["running".to_owned()], t(90_000))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        db.get_execution("done").await.unwrap().unwrap().status,
        ExecutionStatus::Succeeded
    );
    assert!(claim(db, "two", 100, 60_000, &[("a", 5)]).await.is_empty());
    assert_eq!(db.next_claimable(&id("a")).await.unwrap(), None);
}

async fn list_executions_pages_and_filters(db: &Database) {
    // (id, account, workflow, created_at): ties on created_at order by id, descending.
    let rows = [
        ("e1", "a", "w1", 10),
        ("e2", "b", "w1", 20),
        ("e3", "a", "w2", 20),
        ("e4", "a", "w1", 20),
        ("e5", "b", "w2", 30),
        ("e6", "a", "w1", 40),
        ("e7", "a", "w1", 5),
    ];
    for (exec_id, account, key, created) in rows {
        db.insert_execution(&exec(exec_id, account, key, created, created))
            .await
            .unwrap();
    }
    db.cancel_execution("e4", t(50)).await.unwrap();
    db.cancel_execution("e1", t(50)).await.unwrap();

    let pages = |filter: ExecutionFilter, limit: u32| {
        let db = db.clone();
        async move {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = db
                    .list_executions(&filter, cursor.as_deref(), limit)
                    .await
                    .unwrap();
                assert!(page.len() <= limit as usize);
                if page.is_empty() {
                    break seen;
                }
                cursor = page.last().map(|e| e.id.clone());
                seen.extend(ids(&page));
            }
        }
    };
    assert_eq!(
        pages(ExecutionFilter::default(), 3).await,
        ["e6", "e5", "e4", "e3", "e2", "e1", "e7"]
    );
    assert_eq!(
        ids(&db
            .list_executions(&ExecutionFilter::default(), Some("e4"), 2)
            .await
            .unwrap()),
        ["e3", "e2"]
    );
    let of_a = ExecutionFilter {
        account_id: Some(id("a")),
        ..Default::default()
    };
    assert_eq!(pages(of_a, 2).await, ["e6", "e4", "e3", "e1", "e7"]);
    let a_w1 = ExecutionFilter {
        account_id: Some(id("a")),
        workflow_key: Some("w1".into()),
        ..Default::default()
    };
    assert_eq!(pages(a_w1, 1).await, ["e6", "e4", "e1", "e7"]);
    let cancelled = ExecutionFilter {
        status: Some(ExecutionStatus::Cancelled),
        ..Default::default()
    };
    assert_eq!(pages(cancelled, 10).await, ["e4", "e1"]);
    let w2_queued = ExecutionFilter {
        account_id: None,
        workflow_key: Some("w2".into()),
        status: Some(ExecutionStatus::Queued),
        ..Default::default()
    };
    assert_eq!(pages(w2_queued, 10).await, ["e5", "e3"]);
    // From (inclusive) and before (exclusive), alone or with the other filters.
    let from_20 = ExecutionFilter {
        created_from: Some(t(20)),
        ..Default::default()
    };
    assert_eq!(pages(from_20, 2).await, ["e6", "e5", "e4", "e3", "e2"]);
    let before_30 = ExecutionFilter {
        created_before: Some(t(30)),
        ..Default::default()
    };
    assert_eq!(pages(before_30, 10).await, ["e4", "e3", "e2", "e1", "e7"]);
    let a_in_20s = ExecutionFilter {
        account_id: Some(id("a")),
        created_from: Some(t(20)),
        created_before: Some(t(30)),
        ..Default::default()
    };
    assert_eq!(pages(a_in_20s, 1).await, ["e4", "e3"]);
    assert!(db
        .list_executions(&ExecutionFilter::default(), Some("unknown"), 10)
        .await
        .unwrap()
        .is_empty());
    let e = db.get_execution("e5").await.unwrap().unwrap();
    assert_eq!(e, exec("e5", "b", "w2", 30, 30), "every field round-trips");
    let mut full = exec("full", "a", "w", 1, 2);
    full.version = 7;
    full.status = ExecutionStatus::Running;
    full.error = Some(json!(null));
    full.lease_owner = Some("o".into());
    full.lease_until = Some(t(99));
    full.replay_of = Some("e5".into());
    full.updated_at = t(3);
    full.finished_at = Some(t(4));
    db.insert_execution(&full).await.unwrap();
    assert_eq!(db.get_execution("full").await.unwrap().unwrap(), full);
}

/// Two journal writes of one execution in one group commit, both with the same step: the
/// commit goes through (PostgreSQL refuses a statement that touches a row twice) and keeps the
/// later entry.
async fn a_step_written_twice_in_one_commit_keeps_the_later_entry(db: &Database) {
    db.insert_execution(&exec("x", "a", "w", 1, 1))
        .await
        .unwrap();
    let write = |status| JournalWrite {
        execution_id: "x".into(),
        owner: "one".into(),
        steps: vec![step("sms", 1, status)],
        outcome: None,
        deliveries: Vec::new(),
        now: t(20),
    };
    let writes = [write(StepStatus::Running), write(StepStatus::Waiting)];
    assert_eq!(db.write_journal(&writes).await.unwrap(), [true, true]);
    assert_eq!(
        db.list_steps("x").await.unwrap(),
        [step("sms", 1, StepStatus::Waiting)]
    );
}

fn step(step_id: &str, seq: i64, status: StepStatus) -> StepRecord {
    StepRecord {
        execution_id: "x".into(),
        step_id: step_id.into(),
        seq,
        status,
        attempts: 1,
        input: Some(json!({"to": "+15555550100"})),
        output: None,
        error: None,
        started_at: Some(t(10 * seq)),
        finished_at: None,
        wake_at: None,
    }
}

async fn list_events_pages_and_names_their_executions(db: &Database) {
    // (id, account, received_at): ties on received_at order by id, descending.
    let rows = [
        ("v1", "a", 10),
        ("v2", "b", 20),
        ("v3", "a", 20),
        ("v4", "a", 30),
        ("v5", "a", 5),
    ];
    for (event_id, account, received) in rows {
        let mut ev = event(event_id, account, None);
        ev.received_at = t(received);
        let started: Vec<ExecutionRecord> = (1..=2)
            .filter(|n| event_id != "v2" || *n == 1)
            .map(|n| {
                let mut x = exec(
                    &format!("{event_id}-x{n}"),
                    account,
                    "w",
                    received,
                    received + n,
                );
                x.event_id = Some(event_id.into());
                x
            })
            .collect();
        let started = if event_id == "v5" {
            Vec::new()
        } else {
            started
        };
        assert!(db.record_event(&ev, &started).await.unwrap());
    }

    let pages = |account: Option<&'static str>, limit: u32| {
        let db = db.clone();
        async move {
            let account = account.map(id);
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = db
                    .list_events(account.as_ref(), cursor.as_deref(), limit)
                    .await
                    .unwrap();
                if page.is_empty() {
                    break;
                }
                cursor = page.last().map(|e| e.id.clone());
                seen.extend(page.into_iter().map(|e| e.id));
            }
            seen
        }
    };
    assert_eq!(pages(None, 2).await, ["v4", "v3", "v2", "v1", "v5"]);
    assert_eq!(pages(None, 100).await, ["v4", "v3", "v2", "v1", "v5"]);
    assert_eq!(pages(Some("a"), 1).await, ["v4", "v3", "v1", "v5"]);
    assert_eq!(pages(Some("b"), 3).await, ["v2"]);
    assert!(pages(Some("nobody"), 3).await.is_empty());
    let got = db.list_events(None, None, 1).await.unwrap();
    let mut expected = event("v4", "a", None);
    expected.received_at = t(30);
    assert_eq!(got, [expected], "the whole event is read back");
    assert!(
        db.list_events(None, Some("unknown"), 10)
            .await
            .unwrap()
            .is_empty(),
        "an unknown cursor matches nothing"
    );

    let ids: Vec<String> = ["v3", "v2", "v5", "nothing"]
        .into_iter()
        .map(String::from)
        .collect();
    let mut pairs = db.executions_of_events(&ids).await.unwrap();
    pairs.sort();
    let pair = |e: &str, x: &str| (e.to_owned(), x.to_owned());
    assert_eq!(
        pairs,
        [
            pair("v2", "v2-x1"),
            pair("v3", "v3-x1"),
            pair("v3", "v3-x2")
        ]
    );
    assert!(db.executions_of_events(&[]).await.unwrap().is_empty());
}

async fn redeliveries_are_counted_on_the_stored_event(db: &Database) {
    assert!(db
        .record_event(&event("first", "a", Some("call:1")), &[])
        .await
        .unwrap());
    assert!(db
        .record_event(&event("keyless", "a", None), &[])
        .await
        .unwrap());
    // Two more copies, one alone and one beside an unrelated event; another account's copy
    // of the same key is its own event.
    assert!(!db
        .record_event(&event("copy-1", "a", Some("call:1")), &[])
        .await
        .unwrap());
    let batch = [
        (event("copy-2", "a", Some("call:1")), Vec::new()),
        (event("other", "b", Some("call:1")), Vec::new()),
    ];
    assert_eq!(
        db.record_events(&incoming(&batch)).await.unwrap(),
        [false, true]
    );
    let ids: Vec<String> = ["first", "keyless", "other", "copy-1"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(
        db.redeliveries_of_events(&ids).await.unwrap(),
        [("first".to_owned(), 2)]
    );
    assert!(db.redeliveries_of_events(&[]).await.unwrap().is_empty());
    // Within one batch: a new key twice counts once on the copy that went in; a stored key
    // twice counts twice.
    let batch = [
        (event("new", "a", Some("call:2")), Vec::new()),
        (event("copy-3", "a", Some("call:1")), Vec::new()),
        (event("new-copy", "a", Some("call:2")), Vec::new()),
        (event("copy-4", "a", Some("call:1")), Vec::new()),
    ];
    assert_eq!(
        db.record_events(&incoming(&batch)).await.unwrap(),
        [true, false, false, false]
    );
    let ids: Vec<String> = ["first", "new"].into_iter().map(String::from).collect();
    let mut counted = db.redeliveries_of_events(&ids).await.unwrap();
    counted.sort();
    assert_eq!(counted, [("first".to_owned(), 4), ("new".to_owned(), 1)]);
}

async fn a_key_stored_by_an_older_version_still_matches_its_redelivery(db: &Database) {
    // Versions up to 2026-12-05 stored the digest alone; today's key puts the event's time
    // before it (core's `events/dedupe_key.rs`).
    let digest = "5f3c".repeat(16);
    let other_digest = "a1b2".repeat(16);
    let today = |digest: &str| format!("00000001700000000000{digest}");
    assert_eq!(legacy_dedupe_key(&today(&digest)), Some(digest.as_str()));
    assert!(db
        .record_event(&event("before-upgrade", "a", Some(&digest)), &[])
        .await
        .unwrap());
    // Its redelivery after the upgrade, alone and in a batch, is recognised and counted on the
    // stored event; the same key in another account, and another event, are new.
    assert!(!db
        .record_event(
            &event("redelivered", "a", Some(&today(&digest))),
            &[exec("not-run", "a", "w", 1, 1)]
        )
        .await
        .unwrap());
    let batch = [
        (event("again", "a", Some(&today(&digest))), Vec::new()),
        (event("elsewhere", "b", Some(&today(&digest))), Vec::new()),
        (
            event("after-upgrade", "a", Some(&today(&other_digest))),
            Vec::new(),
        ),
    ];
    assert_eq!(
        db.record_events(&incoming(&batch)).await.unwrap(),
        [false, true, true]
    );
    for (event_id, stored) in [
        ("before-upgrade", true),
        ("redelivered", false),
        ("again", false),
        ("elsewhere", true),
        ("after-upgrade", true),
    ] {
        assert_eq!(
            db.get_event(event_id).await.unwrap().is_some(),
            stored,
            "{event_id}"
        );
    }
    assert!(db.get_execution("not-run").await.unwrap().is_none());
    let ids: Vec<String> = ["before-upgrade", "elsewhere", "after-upgrade"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(
        db.redeliveries_of_events(&ids).await.unwrap(),
        [("before-upgrade".to_owned(), 2)]
    );
    // A key of today's form is matched as it is, not only through the old one.
    assert!(!db
        .record_event(&event("after-again", "a", Some(&today(&other_digest))), &[])
        .await
        .unwrap());
}

async fn steps_upsert_in_order(db: &Database) {
    db.insert_execution(&exec("x", "a", "w", 1, 1))
        .await
        .unwrap();
    db.insert_execution(&exec("y", "a", "w", 1, 1))
        .await
        .unwrap();
    db.put_step(&step("wait", 2, StepStatus::Waiting))
        .await
        .unwrap();
    db.put_step(&step("sms", 1, StepStatus::Running))
        .await
        .unwrap();
    db.put_step(&step("each[0].sms", 3, StepStatus::Skipped))
        .await
        .unwrap();
    db.put_step(&StepRecord {
        execution_id: "y".into(),
        ..step("sms", 1, StepStatus::Running)
    })
    .await
    .unwrap();
    let done = StepRecord {
        attempts: 2,
        input: None,
        output: Some(json!({"id": 42, "text": "héllo"})),
        error: Some(json!(null)),
        finished_at: Some(t(99)),
        wake_at: Some(t(1_000)),
        ..step("sms", 1, StepStatus::Succeeded)
    };
    db.put_step(&done).await.unwrap();
    let journal = db.list_steps("x").await.unwrap();
    assert_eq!(
        journal
            .iter()
            .map(|s| (s.step_id.as_str(), s.seq))
            .collect::<Vec<_>>(),
        [("sms", 1), ("wait", 2), ("each[0].sms", 3)]
    );
    assert_eq!(journal[0], done, "the upsert replaced every field");
    assert_eq!(journal[1], step("wait", 2, StepStatus::Waiting));
    assert_eq!(db.list_steps("y").await.unwrap().len(), 1);
    assert!(db.list_steps("nope").await.unwrap().is_empty());
}

async fn schedule_tick_claimed_once(db: &Database) {
    let db = Arc::new(db.clone());
    let claims: Vec<_> = (0..10)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                db.claim_schedule_tick("daily", &id("a"), 86_400_000)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for claim in claims {
        winners += usize::from(claim.await.unwrap());
    }
    assert_eq!(winners, 1, "exactly one claimer fires the tick");
    assert!(!db
        .claim_schedule_tick("daily", &id("a"), 86_400_000)
        .await
        .unwrap());
    assert!(db
        .claim_schedule_tick("daily", &id("a"), 172_800_000)
        .await
        .unwrap());
    assert!(db
        .claim_schedule_tick("daily", &id("b"), 86_400_000)
        .await
        .unwrap());
    assert!(db
        .claim_schedule_tick("weekly", &id("a"), 86_400_000)
        .await
        .unwrap());
}

fn hook(hook_id: &str, account: &str) -> HookRecord {
    HookRecord {
        hook_id: hook_id.into(),
        account_id: id(account),
        dialpad_webhook_id: None,
        secret: Sealed(vec![0, 1, 2, 255, 128]),
        subscriptions: json!({}),
        status: "ok".into(),
        last_error: None,
        updated_at: t(1),
        next_audit_at: t(0),
    }
}

async fn hooks(db: &Database) {
    for name in ["a", "b"] {
        account(db, name).await;
    }
    db.put_hook(&hook("h-b", "b")).await.unwrap();
    db.put_hook(&hook("h-a", "a")).await.unwrap();
    assert_eq!(db.get_hook("h-a").await.unwrap().unwrap(), hook("h-a", "a"));
    let provisioned = HookRecord {
        dialpad_webhook_id: Some("9001".into()),
        subscriptions: json!({"call": [{"id": "s1", "call_states": ["ringing"]}], "sms": []}),
        status: "error".into(),
        last_error: Some("sms subscription refused".into()),
        updated_at: t(5),
        next_audit_at: t(700),
        ..hook("h-a", "a")
    };
    db.put_hook(&provisioned).await.unwrap();
    assert_eq!(db.get_hook("h-a").await.unwrap().unwrap(), provisioned);
    assert_eq!(
        db.get_hook_for_account(&id("a")).await.unwrap().unwrap(),
        provisioned
    );
    assert!(db.get_hook("nope").await.unwrap().is_none());
    assert!(db.get_hook_for_account(&id("c")).await.unwrap().is_none());
    assert!(
        db.put_hook(&hook("h-a2", "a")).await.is_err(),
        "one hook per account"
    );
    assert!(db.delete_hook("h-b").await.unwrap());
    assert!(!db.delete_hook("h-b").await.unwrap());
    assert!(db.get_hook_for_account(&id("b")).await.unwrap().is_none());

    assert!(db.delete_account(&id("a")).await.unwrap());
    assert!(
        db.get_hook("h-a").await.unwrap().is_none(),
        "deleting an account removes its hook"
    );
}

async fn audits_are_claimed_once_per_due_moment(db: &Database) {
    for (name, shard, next) in [("a", 0, 100), ("b", 0, 50), ("c", 0, 900), ("d", 1, 10)] {
        db.upsert_account(&id(name), &AccountPatch::default(), shard, t(1))
            .await
            .unwrap();
        let record = HookRecord {
            next_audit_at: t(next),
            ..hook(&format!("h-{name}"), name)
        };
        db.put_hook(&record).await.unwrap();
    }
    let names = |claimed: Vec<AccountId>| {
        let mut names: Vec<String> = claimed.iter().map(|a| a.to_string()).collect();
        names.sort();
        names
    };
    assert_eq!(
        names(db.claim_audits(&[0], t(200), t(5_000), 1).await.unwrap()),
        ["b"],
        "the most overdue first"
    );
    assert_eq!(
        names(db.claim_audits(&[0], t(200), t(5_000), 10).await.unwrap()),
        ["a"],
        "b is leased until 5000; c is not due; d is in another shard"
    );
    assert_eq!(
        db.get_hook("h-a").await.unwrap().unwrap().next_audit_at,
        t(5_000)
    );
    assert!(db
        .claim_audits(&[0], t(300), t(5_000), 10)
        .await
        .unwrap()
        .is_empty());
    assert!(db
        .claim_audits(&[], t(300), t(5_000), 10)
        .await
        .unwrap()
        .is_empty());
    // A finished audit sets the next moment; an unfinished one is due again once leased out.
    db.set_next_audit("h-a", t(86_400)).await.unwrap();
    assert_eq!(
        names(
            db.claim_audits(&[0, 1], t(6_000), t(9_000), 10)
                .await
                .unwrap()
        ),
        ["b", "c", "d"]
    );
    let a = db.get_hook("h-a").await.unwrap().unwrap();
    assert_eq!(
        (a.next_audit_at, a.updated_at),
        (t(86_400), t(1)),
        "nothing else written"
    );

    // A shorter interval (1,000 ms) brings the moments further ahead within it, each at its
    // distance modulo the interval: a's 80,400 ms ahead become 400, c's and d's leases (3,000
    // ahead) become now. Moments already within stay.
    db.set_next_audit("h-b", t(6_500)).await.unwrap();
    assert_eq!(db.bring_audits_within(t(6_000), 1_000).await.unwrap(), 3);
    let next =
        |hook: &'static str| async move { db.get_hook(hook).await.unwrap().unwrap().next_audit_at };
    assert_eq!(next("h-a").await, t(6_400));
    assert_eq!(next("h-b").await, t(6_500));
    assert_eq!(next("h-c").await, t(6_000));
    assert_eq!(db.bring_audits_within(t(6_000), 1_000).await.unwrap(), 0);
}

fn endpoint(endpoint_id: &str, events: &[&str], at: i64) -> EndpointRecord {
    EndpointRecord {
        id: endpoint_id.into(),
        url: format!("https://vendor.example/hooks/{endpoint_id}"),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        secret: Sealed(vec![7; 32]),
        created_at: t(at),
        updated_at: t(at),
        circuit: EndpointCircuit::default(),
    }
}

/// Up to `room` deliveries of each of `endpoints`.
fn wants(endpoints: &[&str], room: u32) -> Vec<DeliveryWant> {
    endpoints
        .iter()
        .map(|e| DeliveryWant {
            endpoint_id: (*e).to_owned(),
            room,
        })
        .collect()
}

async fn claimed_ids(
    db: &Database,
    owner: &str,
    now: i64,
    until: i64,
    wanted: &[DeliveryWant],
) -> Vec<String> {
    db.claim_deliveries(owner, t(now), t(until), wanted)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect()
}

/// The ids of the endpoint's deliveries.
async fn queued_deliveries(db: &Database, endpoint_id: &str) -> Vec<String> {
    let deliveries = db.list_deliveries(endpoint_id, 10).await.unwrap();
    deliveries.into_iter().map(|d| d.id).collect()
}

fn delivery(delivery_id: &str, endpoint_id: &str, created_at: i64, due: i64) -> DeliveryRecord {
    DeliveryRecord {
        id: delivery_id.into(),
        endpoint_id: endpoint_id.into(),
        event_type: "execution.succeeded".into(),
        payload: json!({"id": delivery_id}),
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: t(due),
        last_status: None,
        last_error: None,
        created_at: t(created_at),
        delivered_at: None,
    }
}

async fn endpoints(db: &Database) {
    db.put_endpoint(&endpoint("ep2", &[], 10)).await.unwrap();
    let ep1 = endpoint("ep1", &["execution.failed", "account.deleted"], 20);
    db.put_endpoint(&ep1).await.unwrap();
    assert_eq!(db.get_endpoint("ep1").await.unwrap().unwrap(), ep1);
    let changed = EndpointRecord {
        url: "https://vendor.example/v2".into(),
        events: vec![],
        secret: Sealed(vec![1, 2, 3]),
        created_at: t(999),
        updated_at: t(30),
        ..ep1.clone()
    };
    db.put_endpoint(&changed).await.unwrap();
    assert_eq!(
        db.get_endpoint("ep1").await.unwrap().unwrap(),
        EndpointRecord {
            created_at: t(20),
            ..changed
        },
        "a replacement keeps created_at"
    );
    assert_eq!(
        db.list_endpoints()
            .await
            .unwrap()
            .iter()
            .map(|e| e.id.as_str())
            .collect::<Vec<_>>(),
        ["ep1", "ep2"]
    );
    db.insert_delivery(&delivery("d1", "ep1", 1, 1))
        .await
        .unwrap();
    assert!(db.delete_endpoint("ep1").await.unwrap());
    assert!(!db.delete_endpoint("ep1").await.unwrap());
    assert!(db.get_endpoint("ep1").await.unwrap().is_none());
    assert!(
        db.list_deliveries("ep1", 10).await.unwrap().is_empty(),
        "its deliveries go with it"
    );
    assert!(claimed_ids(db, "one", 100, 1_000, &wants(&["ep1"], 10))
        .await
        .is_empty());
    assert_eq!(db.list_endpoints().await.unwrap().len(), 1);
}

async fn deliveries(db: &Database) {
    db.put_endpoint(&endpoint("ep", &[], 1)).await.unwrap();
    db.put_endpoint(&endpoint("other", &[], 1)).await.unwrap();
    db.insert_delivery(&delivery("d3", "ep", 30, 100))
        .await
        .unwrap();
    db.insert_delivery(&delivery("d1", "ep", 10, 300))
        .await
        .unwrap();
    db.insert_delivery(&delivery("d2", "ep", 20, 200))
        .await
        .unwrap();
    db.insert_delivery(&delivery("future", "ep", 40, 5_000))
        .await
        .unwrap();
    db.insert_delivery(&delivery("elsewhere", "other", 5, 1))
        .await
        .unwrap();
    let done = DeliveryRecord {
        status: "delivered".into(),
        ..delivery("old", "ep", 1, 1)
    };
    db.insert_delivery(&done).await.unwrap();
    assert_eq!(
        db.list_deliveries("ep", 10).await.unwrap()[3],
        delivery("d1", "ep", 10, 300),
        "every field round-trips"
    );

    let both = wants(&["ep", "other"], 2);
    let got = db
        .claim_deliveries("one", t(1_000), t(2_000), &both)
        .await
        .unwrap();
    assert_eq!(
        got.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["elsewhere", "d3", "d2"],
        "due and pending only, each endpoint's earliest due first, up to its room"
    );
    assert_eq!(
        claimed_ids(db, "two", 1_000, 2_000, &both).await,
        ["d1"],
        "leased ones are not handed out again"
    );
    assert!(claimed_ids(db, "two", 1_500, 2_000, &both).await.is_empty());

    let retry = DeliveryRecord {
        attempts: 1,
        next_attempt_at: t(3_000),
        last_status: Some(503),
        last_error: Some("unavailable".into()),
        ..got[2].clone()
    };
    db.update_delivery(&retry).await.unwrap();
    let delivered = DeliveryRecord {
        status: "delivered".into(),
        attempts: 1,
        last_status: Some(200),
        delivered_at: Some(t(1_100)),
        ..got[1].clone()
    };
    db.update_delivery(&delivered).await.unwrap();
    let listed = db.list_deliveries("ep", 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["future", "d3", "d2", "d1", "old"],
        "newest first"
    );
    assert_eq!(listed[1], delivered);
    assert_eq!(listed[2], retry);
    assert_eq!(db.list_deliveries("ep", 2).await.unwrap().len(), 2);

    assert_eq!(
        claimed_ids(db, "two", 2_500, 9_000, &wants(&["ep", "other"], 10)).await,
        ["elsewhere", "d1"],
        "expired leases are claimed again; the retry is not due yet"
    );
    assert_eq!(
        claimed_ids(db, "three", 5_000, 9_000, &wants(&["ep", "other"], 10)).await,
        ["d2", "future"],
        "an updated delivery's lease is cleared"
    );
}

async fn a_failed_delivery_is_queued_again_once(db: &Database) {
    db.put_endpoint(&endpoint("ep1", &[], 10)).await.unwrap();
    db.put_endpoint(&endpoint("ep2", &[], 10)).await.unwrap();
    let failed = DeliveryRecord {
        status: "failed".into(),
        attempts: 8,
        last_status: Some(500),
        last_error: Some("HTTP 500".into()),
        ..delivery("d1", "ep1", 1, 1)
    };
    db.insert_delivery(&failed).await.unwrap();
    db.insert_delivery(&delivery("d2", "ep1", 2, 2))
        .await
        .unwrap();
    assert_eq!(
        db.get_delivery("ep1", "d1").await.unwrap(),
        Some(failed.clone())
    );
    assert!(
        db.get_delivery("ep2", "d1").await.unwrap().is_none(),
        "only through its own endpoint"
    );
    assert!(db.get_delivery("ep1", "nope").await.unwrap().is_none());

    assert!(!db.retry_delivery("ep2", "d1", t(50)).await.unwrap());
    assert!(
        !db.retry_delivery("ep1", "d2", t(50)).await.unwrap(),
        "a pending one is not failed"
    );
    assert!(claimed_ids(db, "one", 40, 1_000, &wants(&["ep1"], 10))
        .await
        .eq(&["d2"]));
    assert!(db.retry_delivery("ep1", "d1", t(50)).await.unwrap());
    assert!(
        !db.retry_delivery("ep1", "d1", t(50)).await.unwrap(),
        "queued again once"
    );
    assert_eq!(
        db.get_delivery("ep1", "d1").await.unwrap().unwrap(),
        DeliveryRecord {
            status: "pending".into(),
            next_attempt_at: t(50),
            ..failed
        },
        "its attempts and last answer are kept"
    );
    assert!(claimed_ids(db, "two", 49, 1_000, &wants(&["ep1"], 10))
        .await
        .is_empty());
    assert_eq!(
        claimed_ids(db, "two", 50, 1_000, &wants(&["ep1"], 10)).await,
        ["d1"],
        "due at once"
    );
}

async fn a_claim_takes_each_endpoint_its_share(db: &Database) {
    db.put_endpoint(&endpoint("busy", &[], 1)).await.unwrap();
    db.put_endpoint(&endpoint("quiet", &[], 1)).await.unwrap();
    for i in 0..50 {
        db.insert_delivery(&delivery(&format!("b{i:02}"), "busy", i, i))
            .await
            .unwrap();
    }
    db.insert_delivery(&delivery("q", "quiet", 60, 60))
        .await
        .unwrap();
    let wanted = vec![
        DeliveryWant {
            endpoint_id: "busy".into(),
            room: 3,
        },
        DeliveryWant {
            endpoint_id: "quiet".into(),
            room: 3,
        },
        DeliveryWant {
            endpoint_id: "missing".into(),
            room: 3,
        },
        DeliveryWant {
            endpoint_id: "nothing-wanted".into(),
            room: 0,
        },
    ];
    assert_eq!(
        claimed_ids(db, "one", 100, 9_000, &wanted).await,
        ["b00", "b01", "b02", "q"],
        "a backlog of one endpoint does not crowd out another's message"
    );
}

async fn endpoint_circuits_count_open_and_close(db: &Database) {
    db.put_endpoint(&endpoint("ep", &[], 1)).await.unwrap();
    assert_eq!(db.count_endpoint_failure("ep").await.unwrap(), 1);
    assert_eq!(db.count_endpoint_failure("ep").await.unwrap(), 2);
    assert_eq!(db.count_endpoint_failure("gone").await.unwrap(), 0);
    db.open_endpoint_circuit("ep", t(5_000)).await.unwrap();
    let open = EndpointCircuit {
        failures_in_a_row: 2,
        open_until: Some(t(5_000)),
    };
    assert_eq!(db.get_endpoint("ep").await.unwrap().unwrap().circuit, open);
    db.put_endpoint(&EndpointRecord {
        url: "https://vendor.example/moved".into(),
        ..endpoint("ep", &[], 2)
    })
    .await
    .unwrap();
    assert_eq!(
        db.list_endpoints().await.unwrap()[0].circuit,
        open,
        "replacing the endpoint keeps its circuit"
    );
    db.close_endpoint_circuit("ep").await.unwrap();
    assert_eq!(
        db.get_endpoint("ep").await.unwrap().unwrap().circuit,
        EndpointCircuit::default()
    );
}

async fn concurrent_claimers_get_disjoint_deliveries(db: &Database) {
    db.put_endpoint(&endpoint("ep", &[], 1)).await.unwrap();
    for i in 0..20 {
        db.insert_delivery(&delivery(&format!("d{i:02}"), "ep", i, i))
            .await
            .unwrap();
    }
    let db = Arc::new(db.clone());
    let claimers: Vec<_> = ["one", "two"]
        .into_iter()
        .map(|owner| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = db
                        .claim_deliveries(owner, t(100), t(60_000), &wants(&["ep"], 3))
                        .await
                        .unwrap();
                    if got.is_empty() {
                        break mine;
                    }
                    mine.extend(got.into_iter().map(|d| d.id));
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    assert_eq!(all.len(), 20, "no delivery was handed out twice");
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 20);
}

/// An id of `prefix` written at `at_ms`, as dialbridge writes them (`exe_<13 hex digits>…`).
fn id_at(prefix: &str, at_ms: i64, n: u32) -> String {
    format!("{prefix}_{at_ms:013x}{n:08}")
}

async fn retention_removes_only_old_settled_history(db: &Database) {
    const DAY: i64 = 86_400_000;
    let now = Timestamp::now().as_millis();
    let (old, older, young) = (now - 40 * DAY, now - 41 * DAY, now - DAY);
    // The two old days get partitions where there are any; yesterday's rows go to the default.
    db.prepare_days(t(older), t(old)).await.unwrap();
    account(db, "a").await;
    db.put_endpoint(&endpoint("ep", &[], 1)).await.unwrap();

    let finished = |exec_id: String, at: i64| ExecutionRecord {
        status: ExecutionStatus::Succeeded,
        finished_at: Some(t(at + 1_000)),
        ..exec(&exec_id, "a", "w", at, at)
    };
    let old_done = finished(id_at("exe", old, 1), old);
    // Written by another version of dialbridge, or by hand: an id that holds no day.
    let odd_done = finished("legacy-1".into(), old);
    let old_waiting = exec(&id_at("exe", older, 2), "a", "w", now + DAY, older);
    let young_done = finished(id_at("exe", young, 3), young);
    let at = |e: EventRecord, received: i64| EventRecord {
        received_at: t(received),
        ..e
    };
    let old_event = at(event(&id_at("evt", old, 1), "a", Some("k-old")), old);
    let young_event = at(event(&id_at("evt", young, 2), "a", Some("k-young")), young);
    db.record_events(&incoming(&[
        (
            old_event.clone(),
            vec![old_done.clone(), odd_done.clone(), old_waiting.clone()],
        ),
        (young_event.clone(), vec![young_done.clone()]),
    ]))
    .await
    .unwrap();
    for execution in [&old_done, &young_done] {
        db.put_step(&StepRecord {
            execution_id: execution.id.clone(),
            ..step("sms", 1, StepStatus::Succeeded)
        })
        .await
        .unwrap();
    }
    let settled = |delivery_id: String, at: i64| DeliveryRecord {
        status: "delivered".into(),
        ..delivery(&delivery_id, "ep", at, at)
    };
    let old_delivered = settled(id_at("msg", old, 1), old);
    let old_pending = delivery(&id_at("msg", older, 2), "ep", older, now + DAY);
    let young_delivered = settled(id_at("msg", young, 3), young);
    for d in [&old_delivered, &old_pending, &young_delivered] {
        db.insert_delivery(d).await.unwrap();
    }

    // Purge steps of two rows each until one removes nothing.
    let mut total = Purged::default();
    loop {
        let step = db
            .purge(t(now - 30 * DAY), t(now - 30 * DAY), 2)
            .await
            .unwrap();
        if step == Purged::default() {
            break;
        }
        total.executions += step.executions;
        total.events += step.events;
        total.deliveries += step.deliveries;
        total.partitions += step.partitions;
    }
    db.reclaim_space().await.unwrap();

    for gone in [&old_done.id, &odd_done.id] {
        assert!(
            db.get_execution(gone).await.unwrap().is_none(),
            "{gone} was purged"
        );
    }
    assert!(db.list_steps(&old_done.id).await.unwrap().is_empty());
    assert!(db.get_event(&old_event.id).await.unwrap().is_none());
    for kept in [&old_waiting.id, &young_done.id] {
        assert!(
            db.get_execution(kept).await.unwrap().is_some(),
            "{kept} is kept"
        );
    }
    assert_eq!(db.list_steps(&young_done.id).await.unwrap().len(), 1);
    assert!(db.get_event(&young_event.id).await.unwrap().is_some());
    let delivery_ids: Vec<String> = db
        .list_deliveries("ep", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(
        BTreeSet::from_iter(delivery_ids),
        BTreeSet::from([old_pending.id.clone(), young_delivered.id.clone()])
    );
    // The old event's key went with it: the same key now is a new event; the young one's is
    // still a redelivery.
    let again = |key: &str, n: u32| (event(&id_at("evt", now, n), "a", Some(key)), vec![]);
    assert_eq!(
        db.record_events(&incoming(&[again("k-old", 10), again("k-young", 11)]))
            .await
            .unwrap(),
        [true, false]
    );
    match db.dialect() {
        // The old day of executions (with its steps' day), and both old days of events and
        // the old day of deliveries went whole; the days holding the waiting execution and the
        // pending delivery stayed; the odd id's row was deleted from the default partition.
        dialbridge_storage::Dialect::Postgres => {
            assert_eq!(total.partitions, 5, "{total:?}");
            assert_eq!(
                (total.executions, total.events, total.deliveries),
                (1, 0, 0)
            );
        }
        dialbridge_storage::Dialect::Sqlite => {
            assert_eq!(total.partitions, 0);
            assert_eq!(
                (total.executions, total.events, total.deliveries),
                (2, 1, 1)
            );
        }
    }
}
