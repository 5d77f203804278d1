//! One storage conformance suite, run against SQLite (a fresh file) and PostgreSQL (a fresh
//! database through `DIALBRIDGE_TEST_DATABASE_URL`; ignored when it is not set).

use std::sync::Arc;

use dialbridge_core::*;
use dialbridge_storage::Database;

use crate::support::{id, t};

conformance!(
    migrations_are_idempotent,
    settings,
    app_credentials,
    admin_keys,
    accounts_upsert_and_list,
    accounts_move_between_shards,
    delete_cascades,
    connection_round_trip,
    swap_tokens_is_compare_and_swap,
    refresh_lease_has_one_holder,
    refresh_failures_and_expiring,
    connect_links_spend_once,
    rate_windows_round_trip,
);

async fn rate_windows_round_trip(db: &Database) {
    let keys = [
        "custom:company:1".to_owned(),
        "custom:company:1:call.get".to_owned(),
    ];
    let mut seen = Vec::new();
    db.update_rate_windows(&keys, t(1_000), &mut |windows| {
        seen.push(windows.to_vec());
        windows[0] =
            serde_json::from_value(serde_json::json!({"base": 7, "counts": [1, 2]})).unwrap();
    })
    .await
    .unwrap();
    db.update_rate_windows(&keys, t(2_000), &mut |windows| seen.push(windows.to_vec()))
        .await
        .unwrap();
    assert_eq!(
        seen[0],
        [Window::default(), Window::default()],
        "new keys start empty"
    );
    assert_eq!(
        serde_json::to_value(&seen[1][0]).unwrap(),
        serde_json::json!({"base": 7, "counts": [1, 2]}),
        "what an update wrote, the next one reads"
    );
}

async fn accounts_move_between_shards(db: &Database) {
    let (a, _) = db
        .upsert_account(&id("a"), &AccountPatch::default(), 3, t(1))
        .await
        .unwrap();
    assert_eq!(a.shard, 3);
    let (a, _) = db
        .upsert_account(&id("a"), &patch(Some("A"), None), 9, t(2))
        .await
        .unwrap();
    assert_eq!(a.shard, 3, "an update keeps the shard");
    let mut queued = ExecutionRecord {
        id: "q".into(),
        account_id: id("a"),
        workflow_key: "w".into(),
        version: 1,
        status: ExecutionStatus::Queued,
        trigger: serde_json::json!({}),
        event: serde_json::json!({}),
        event_id: None,
        shard: 3,
        error: None,
        run_at: t(1),
        lease_owner: None,
        lease_until: None,
        replay_of: None,
        created_at: t(1),
        updated_at: t(1),
        finished_at: None,
    };
    db.insert_execution(&queued).await.unwrap();
    queued.id = "done".into();
    queued.status = ExecutionStatus::Succeeded;
    db.insert_execution(&queued).await.unwrap();
    db.set_account_shard(&id("a"), 11).await.unwrap();
    assert_eq!(db.get_account(&id("a")).await.unwrap().unwrap().shard, 11);
    let shard = |e: &str| {
        let db = db.clone();
        let e = e.to_owned();
        async move { db.get_execution(&e).await.unwrap().unwrap().shard }
    };
    assert_eq!(
        shard("q").await,
        11,
        "unfinished work moves with the account"
    );
    assert_eq!(shard("done").await, 3, "finished work stays where it ran");

    db.upsert_account(&id("legacy"), &AccountPatch::default(), -1, t(1))
        .await
        .unwrap();
    let mut c = sample_connection("legacy");
    c.dialpad_company_id = Some("77".into());
    db.put_connection(&c).await.unwrap();
    let missing = db.accounts_without_shard(10).await.unwrap();
    assert_eq!(missing, [(id("legacy"), Some("77".to_owned()))]);
}

fn patch(name: Option<&str>, metadata: Option<serde_json::Value>) -> AccountPatch {
    AccountPatch {
        name: name.map(str::to_owned),
        metadata: metadata.map(|m| m.as_object().unwrap().clone()),
    }
}

fn sample_connection(account: &str) -> ConnectionRecord {
    let mut c = ConnectionRecord::empty(
        id(account),
        Environment::Custom,
        AuthType::Oauth,
        ConnectionStatus::Connected,
        t(1_000),
    );
    c.scopes = vec!["offline_access".into(), "calls:list".into(), "a:b".into()];
    c.dialpad_user_id = Some("42".into());
    c.dialpad_company_id = Some("7".into());
    c.connected_at = Some(t(900));
    c.access_token = Some(Sealed(vec![0, 1, 2, 255]));
    c.refresh_token = Some(Sealed(vec![9; 40]));
    c.expires_at = Some(t(5_000));
    c.token_version = 3;
    c.refresh_failures = 1;
    c.next_refresh_at = Some(t(2_000));
    c.last_error = Some("boom".into());
    c
}

async fn migrations_are_idempotent(db: &Database) {
    db.migrate().await.unwrap();
    db.ping().await.unwrap();
}

async fn settings(db: &Database) {
    assert_eq!(db.get_setting("k").await.unwrap(), None);
    db.put_setting("k", "v1").await.unwrap();
    db.put_setting("k", "v2").await.unwrap();
    assert_eq!(db.get_setting("k").await.unwrap().as_deref(), Some("v2"));
    assert!(!db.put_setting_if_absent("k", "v3").await.unwrap());
    assert!(db.put_setting_if_absent("other", "x").await.unwrap());
    assert_eq!(db.get_setting("k").await.unwrap().as_deref(), Some("v2"));
}

async fn app_credentials(db: &Database) {
    let record = AppCredentialsRecord {
        environment: Environment::Sandbox,
        client_id: "cid".into(),
        client_secret: Sealed(vec![1, 2, 3, 0, 200]),
        base_url: "https://sandbox.dialpad.com".into(),
        rate_limits: None,
        updated_at: t(10),
    };
    db.put_app_credentials(&record).await.unwrap();
    let limits = RateLimits {
        enabled: true,
        per_second: 50,
        operation_limits: false,
    };
    db.put_app_credentials(&AppCredentialsRecord {
        client_id: "cid2".into(),
        rate_limits: Some(limits),
        ..record.clone()
    })
    .await
    .unwrap();
    let all = db.list_app_credentials().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].environment, all[0].client_id.as_str()),
        (Environment::Sandbox, "cid2")
    );
    assert_eq!(all[0].client_secret, record.client_secret);
    assert_eq!(all[0].rate_limits, Some(limits));
}

async fn admin_keys(db: &Database) {
    assert_eq!(db.count_admin_keys().await.unwrap(), 0);
    db.insert_admin_key("h1", t(1)).await.unwrap();
    db.insert_admin_key("h1", t(2)).await.unwrap();
    db.insert_admin_key("h2", t(3)).await.unwrap();
    assert_eq!(db.count_admin_keys().await.unwrap(), 2);
    assert!(db.admin_key_exists("h1").await.unwrap());
    assert!(!db.admin_key_exists("nope").await.unwrap());
}

async fn accounts_upsert_and_list(db: &Database) {
    let (a, created) = db
        .upsert_account(
            &id("b"),
            &patch(Some("Bee"), Some(serde_json::json!({"tier": 1}))),
            7,
            t(100),
        )
        .await
        .unwrap();
    assert!(created);
    assert_eq!(
        (a.name.as_deref(), a.created_at, a.updated_at),
        (Some("Bee"), t(100), t(100))
    );
    assert!(a.connection.is_none());
    let (a, created) = db
        .upsert_account(&id("b"), &patch(None, None), 0, t(200))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(
        (
            a.name.as_deref(),
            a.metadata["tier"].as_i64(),
            a.created_at,
            a.updated_at
        ),
        (Some("Bee"), Some(1), t(100), t(200))
    );
    let (a, _) = db
        .upsert_account(
            &id("b"),
            &patch(Some("B2"), Some(serde_json::json!({}))),
            9,
            t(300),
        )
        .await
        .unwrap();
    assert_eq!((a.name.as_deref(), a.metadata.len()), (Some("B2"), 0));
    for name in ["a", "d", "c"] {
        db.upsert_account(&id(name), &AccountPatch::default(), 0, t(1))
            .await
            .unwrap();
    }
    db.put_connection(&sample_connection("c")).await.unwrap();
    let page: Vec<String> = db
        .list_accounts(None, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.account_id.to_string())
        .collect();
    assert_eq!(page, ["a", "b"]);
    let rest = db.list_accounts(Some(&id("b")), 10).await.unwrap();
    assert_eq!(
        rest.iter()
            .map(|a| a.account_id.to_string())
            .collect::<Vec<_>>(),
        ["c", "d"]
    );
    assert_eq!(
        rest[0].connection.as_ref().unwrap().token_version,
        3,
        "the connection comes along"
    );
    assert!(db.get_account(&id("zz")).await.unwrap().is_none());
}

async fn delete_cascades(db: &Database) {
    db.upsert_account(&id("gone"), &AccountPatch::default(), 0, t(1))
        .await
        .unwrap();
    db.put_connection(&sample_connection("gone")).await.unwrap();
    db.insert_connect_session(&session("gone", "t-gone", 10_000))
        .await
        .unwrap();
    db.add_connect_state(&attempt("t-gone", "s-gone"), t(2), 3)
        .await
        .unwrap()
        .unwrap();
    assert!(db.delete_account(&id("gone")).await.unwrap());
    assert!(db.take_connect_state("s-gone").await.unwrap().is_none());
    assert!(db.get_account(&id("gone")).await.unwrap().is_none());
    assert!(db.get_connection(&id("gone")).await.unwrap().is_none());
    assert!(db.find_connect_session("t-gone").await.unwrap().is_none());
    assert!(!db.delete_account(&id("gone")).await.unwrap());
}

async fn connection_round_trip(db: &Database) {
    db.upsert_account(&id("acct"), &AccountPatch::default(), 0, t(1))
        .await
        .unwrap();
    let c = sample_connection("acct");
    db.put_connection(&c).await.unwrap();
    let back = db.get_connection(&id("acct")).await.unwrap().unwrap();
    assert_eq!(
        format!("{back:?}"),
        format!("{c:?}"),
        "every field round-trips"
    );
    let mut wiped = ConnectionRecord::empty(
        id("acct"),
        Environment::Production,
        AuthType::ApiKey,
        ConnectionStatus::Disconnected,
        t(7),
    );
    wiped.api_key = None;
    db.put_connection(&wiped).await.unwrap();
    let back = db.get_connection(&id("acct")).await.unwrap().unwrap();
    assert_eq!(format!("{back:?}"), format!("{wiped:?}"));
}

async fn swap_tokens_is_compare_and_swap(db: &Database) {
    db.upsert_account(&id("acct"), &AccountPatch::default(), 0, t(1))
        .await
        .unwrap();
    db.put_connection(&sample_connection("acct")).await.unwrap();
    let update = TokenUpdate {
        access_token: Sealed(vec![7; 16]),
        refresh_token: Sealed(vec![8; 16]),
        expires_at: Some(t(99_000)),
        refresh_at: Some(t(98_000)),
        scopes: vec!["offline_access".into()],
        now: t(50),
    };
    assert!(
        !db.swap_tokens(&id("acct"), 2, &update).await.unwrap(),
        "a stale version is refused"
    );
    assert!(db.swap_tokens(&id("acct"), 3, &update).await.unwrap());
    assert!(
        !db.swap_tokens(&id("acct"), 3, &update).await.unwrap(),
        "the same swap works once"
    );
    let c = db.get_connection(&id("acct")).await.unwrap().unwrap();
    assert_eq!(
        (
            c.token_version,
            c.refresh_failures,
            c.next_refresh_at,
            c.refresh_at,
            c.last_error
        ),
        (4, 0, None, Some(t(98_000)), None)
    );
    assert_eq!(
        (c.access_token, c.refresh_token, c.expires_at),
        (
            Some(update.access_token),
            Some(update.refresh_token),
            Some(t(99_000))
        )
    );
    assert_eq!(c.scopes, ["offline_access"]);
}

async fn refresh_lease_has_one_holder(db: &Database) {
    db.upsert_account(&id("acct"), &AccountPatch::default(), 0, t(1))
        .await
        .unwrap();
    db.put_connection(&sample_connection("acct")).await.unwrap();
    let db = Arc::new(db.clone());
    let attempts = (0..8).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            db.try_lock_refresh(&id("acct"), &format!("owner-{i}"), 3, t(1_000), t(31_000))
                .await
                .unwrap()
        })
    });
    let mut winners = 0;
    for attempt in attempts {
        winners += usize::from(attempt.await.unwrap());
    }
    assert_eq!(winners, 1, "exactly one process holds the lease");
    assert!(!db
        .try_lock_refresh(&id("acct"), "late", 3, t(2_000), t(32_000))
        .await
        .unwrap());
    assert!(
        db.try_lock_refresh(&id("acct"), "after-expiry", 3, t(40_000), t(70_000))
            .await
            .unwrap(),
        "an expired lease is taken over"
    );
    db.unlock_refresh(&id("acct"), "someone-else")
        .await
        .unwrap();
    assert!(
        !db.try_lock_refresh(&id("acct"), "third", 3, t(41_000), t(71_000))
            .await
            .unwrap(),
        "only the owner unlocks"
    );
    db.unlock_refresh(&id("acct"), "after-expiry")
        .await
        .unwrap();
    assert!(db
        .try_lock_refresh(&id("acct"), "third", 3, t(41_000), t(71_000))
        .await
        .unwrap());
    db.unlock_refresh(&id("acct"), "third").await.unwrap();
    // Another process replaced the token (version 3 → 4): a lease for version 3 is refused,
    // free as it is, so that token is never refreshed again.
    let mut replaced = sample_connection("acct");
    replaced.token_version = 4;
    db.put_connection(&replaced).await.unwrap();
    assert!(
        !db.try_lock_refresh(&id("acct"), "stale", 3, t(42_000), t(72_000))
            .await
            .unwrap(),
        "a lease for a token already replaced"
    );
    assert!(db
        .try_lock_refresh(&id("acct"), "stale", 4, t(42_000), t(72_000))
        .await
        .unwrap());
}

async fn refresh_failures_and_expiring(db: &Database) {
    for (name, status, auth, refresh_at, shard) in [
        (
            "soon",
            ConnectionStatus::Connected,
            AuthType::Oauth,
            Some(1_000),
            0,
        ),
        (
            "sooner",
            ConnectionStatus::Connected,
            AuthType::Oauth,
            Some(500),
            0,
        ),
        (
            "later",
            ConnectionStatus::Connected,
            AuthType::Oauth,
            Some(90_000),
            0,
        ),
        (
            "key",
            ConnectionStatus::Connected,
            AuthType::ApiKey,
            Some(10),
            0,
        ),
        (
            "dead",
            ConnectionStatus::ReauthRequired,
            AuthType::Oauth,
            Some(10),
            0,
        ),
        (
            "forever",
            ConnectionStatus::Connected,
            AuthType::Oauth,
            None,
            0,
        ),
        (
            "elsewhere",
            ConnectionStatus::Connected,
            AuthType::Oauth,
            Some(20),
            1,
        ),
    ] {
        db.upsert_account(&id(name), &AccountPatch::default(), shard, t(1))
            .await
            .unwrap();
        let mut c = ConnectionRecord::empty(id(name), Environment::Custom, auth, status, t(1));
        c.expires_at = refresh_at.map(|at| t(at + 300));
        c.refresh_at = refresh_at.map(t);
        db.put_connection(&c).await.unwrap();
    }
    // The most overdue of the due ones in the asked shards; the shard's others are not due.
    assert_eq!(
        db.oldest_due_refresh(&[0], t(2_000)).await.unwrap(),
        Some(t(500))
    );
    assert_eq!(
        db.oldest_due_refresh(&[0, 1], t(2_000)).await.unwrap(),
        Some(t(20))
    );
    assert_eq!(db.oldest_due_refresh(&[0], t(400)).await.unwrap(), None);
    assert_eq!(db.oldest_due_refresh(&[], t(2_000)).await.unwrap(), None);

    let names = |due: Vec<AccountId>| {
        let mut names: Vec<String> = due.iter().map(|a| a.to_string()).collect();
        names.sort();
        names
    };
    let due = db
        .claim_refreshes(&[0], "a", t(2_000), t(5_000), 10)
        .await
        .unwrap();
    assert_eq!(names(due), ["soon", "sooner"]);
    // Leased: another process takes none of them until the lease runs out.
    let due = db
        .claim_refreshes(&[0], "b", t(2_001), t(5_000), 10)
        .await
        .unwrap();
    assert!(due.is_empty(), "{due:?}");
    let due = db
        .claim_refreshes(&[0], "b", t(6_000), t(9_000), 1)
        .await
        .unwrap();
    assert_eq!(names(due), ["sooner"], "the most overdue first");
    // Given back early, it is free again; "soon" is free since a's lease ran out.
    db.unlock_refresh(&id("sooner"), "b").await.unwrap();
    assert_eq!(
        names(
            db.claim_refreshes(&[0], "c", t(6_001), t(9_000), 10)
                .await
                .unwrap()
        ),
        ["soon", "sooner"]
    );

    // A refresh that failed but left the connection usable is retried at its next attempt.
    let retry = RefreshFailure {
        status: ConnectionStatus::Connected,
        failures: 1,
        next_refresh_at: Some(t(70_000)),
        last_error: "timeout".into(),
        now: t(6),
    };
    db.record_refresh_failure(&id("later"), &retry)
        .await
        .unwrap();
    let c = db.get_connection(&id("later")).await.unwrap().unwrap();
    assert_eq!(
        (c.refresh_at, c.next_refresh_at),
        (Some(t(70_000)), Some(t(70_000)))
    );

    let failure = RefreshFailure {
        status: ConnectionStatus::ReauthRequired,
        failures: 2,
        next_refresh_at: Some(t(77)),
        last_error: "invalid_grant".into(),
        now: t(5),
    };
    db.record_refresh_failure(&id("soon"), &failure)
        .await
        .unwrap();
    let c = db.get_connection(&id("soon")).await.unwrap().unwrap();
    assert_eq!(
        (
            c.status,
            c.refresh_failures,
            c.next_refresh_at,
            c.last_error.as_deref(),
            c.updated_at
        ),
        (
            ConnectionStatus::ReauthRequired,
            2,
            Some(t(77)),
            Some("invalid_grant"),
            t(5)
        )
    );
}

fn session(account: &str, token_hash: &str, expires_at: i64) -> ConnectSession {
    ConnectSession {
        token_hash: token_hash.into(),
        account_id: id(account),
        environment: Environment::Sandbox,
        redirect_url: Some("https://vendor.example/back".into()),
        scopes: vec!["offline_access".into(), "x:y".into()],
        custom_scopes: vec!["x:y".into()],
        created_at: t(1),
        expires_at: t(expires_at),
        completed_at: None,
    }
}

fn attempt(token_hash: &str, state_hash: &str) -> ConnectState {
    ConnectState {
        state_hash: state_hash.into(),
        token_hash: token_hash.into(),
        code_verifier: Sealed(vec![5; 20]),
        created_at: t(2),
    }
}

async fn connect_links_spend_once(db: &Database) {
    db.upsert_account(&id("acct"), &AccountPatch::default(), 0, t(1))
        .await
        .unwrap();
    db.insert_connect_session(&session("acct", "t1", 10_000))
        .await
        .unwrap();
    db.insert_connect_session(&session("acct", "t2", 10_000))
        .await
        .unwrap();
    db.insert_connect_session(&session("acct", "t3", 100))
        .await
        .unwrap();
    let found = db.find_connect_session("t1").await.unwrap().unwrap();
    assert_eq!(
        (
            found.scopes.len(),
            found.custom_scopes.as_slice(),
            found.redirect_url.as_deref()
        ),
        (
            2,
            &["x:y".to_owned()][..],
            Some("https://vendor.example/back")
        )
    );

    // Each opening adds an attempt; the link stays open.
    for state in ["s1", "s2"] {
        let open = db
            .add_connect_state(&attempt("t1", state), t(500), 3)
            .await
            .unwrap();
        assert_eq!(open.map(|s| s.account_id), Some(id("acct")));
    }
    assert!(db
        .add_connect_state(&attempt("t1", "s3"), t(500), 3)
        .await
        .unwrap()
        .is_some());
    assert!(
        db.add_connect_state(&attempt("t1", "s4"), t(500), 3)
            .await
            .unwrap()
            .is_none(),
        "at most max_states attempts per link"
    );
    assert!(
        db.add_connect_state(&attempt("t3", "s5"), t(600), 3)
            .await
            .unwrap()
            .is_none(),
        "an expired link does not open"
    );
    assert!(db
        .add_connect_state(&attempt("nope", "s6"), t(600), 3)
        .await
        .unwrap()
        .is_none());

    // A state is taken once, with its verifier.
    assert!(db.take_connect_state("s-forged").await.unwrap().is_none());
    let taken = db.take_connect_state("s1").await.unwrap().unwrap();
    assert_eq!(
        (
            taken.token_hash.as_str(),
            taken.code_verifier,
            taken.created_at
        ),
        ("t1", Sealed(vec![5; 20]), t(2))
    );
    assert!(
        db.take_connect_state("s1").await.unwrap().is_none(),
        "a state answers once"
    );

    // Spending: once; given back after a failure, then spent again for good.
    let spent = db
        .spend_connect_session("t1", t(700))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (spent.account_id.as_str(), spent.completed_at),
        ("acct", Some(t(700)))
    );
    assert!(
        db.spend_connect_session("t1", t(701))
            .await
            .unwrap()
            .is_none(),
        "a link is spent once"
    );
    assert!(
        db.add_connect_state(&attempt("t1", "s7"), t(702), 10)
            .await
            .unwrap()
            .is_none(),
        "a spent link does not open"
    );
    db.unspend_connect_session("t1", t(699)).await.unwrap();
    assert!(
        db.find_connect_session("t1")
            .await
            .unwrap()
            .unwrap()
            .completed_at
            == Some(t(700)),
        "only the spending that happened is given back"
    );
    db.unspend_connect_session("t1", t(700)).await.unwrap();
    assert_eq!(
        db.find_connect_session("t1")
            .await
            .unwrap()
            .unwrap()
            .completed_at,
        None
    );
    assert!(db
        .spend_connect_session("t1", t(800))
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        db.delete_connect_states("t1").await.unwrap(),
        2,
        "s2 and s3"
    );
    assert!(db.take_connect_state("s2").await.unwrap().is_none());
    assert!(
        db.spend_connect_session("t3", t(800))
            .await
            .unwrap()
            .is_none(),
        "an expired link is not spent"
    );
    db.add_connect_state(&attempt("t2", "s8"), t(900), 3)
        .await
        .unwrap()
        .unwrap();

    assert_eq!(
        db.purge_connect_sessions(t(1_000)).await.unwrap(),
        1,
        "only the expired one"
    );
    assert!(db.find_connect_session("t3").await.unwrap().is_none());
    assert_eq!(
        db.purge_connect_sessions(t(20_000)).await.unwrap(),
        2,
        "the others, with their attempts"
    );
    assert!(db.take_connect_state("s8").await.unwrap().is_none());
}
