//! The operator's side on both backends: named admin keys and their revocation (never the last
//! one, also when two revocations race), the audit log's pages, and the sealed values a
//! master-key rotation reads and swaps.

use dialbridge_core::*;
use dialbridge_storage::Database;
use serde_json::json;

use crate::support::{id, t};

conformance!(
    admin_keys_are_named_and_revocable,
    two_revocations_at_once_leave_a_key,
    audit_log_pages_newest_first,
    sealed_values_are_read_in_batches_and_swapped_when_unchanged,
);

fn key(id: &str, hash: &str, at: i64) -> AdminKeyRecord {
    AdminKeyRecord {
        id: id.into(),
        name: format!("name of {id}"),
        key_hash: hash.into(),
        key_hint: Some("dbk_AbCd".into()),
        created_at: t(at),
        last_used_at: None,
        revoked_at: None,
    }
}

async fn admin_keys_are_named_and_revocable(db: &Database) {
    assert!(db
        .insert_admin_key_record(&key("k1", "h1", 10))
        .await
        .unwrap());
    assert!(db
        .insert_admin_key_record(&key("k2", "h2", 20))
        .await
        .unwrap());
    assert!(
        !db.insert_admin_key_record(&key("k3", "h1", 30))
            .await
            .unwrap(),
        "a stored hash is not stored again"
    );
    let operator_chosen = AdminKeyRecord {
        key_hint: None,
        ..key("k0", "h0", 5)
    };
    db.insert_admin_key_record(&operator_chosen).await.unwrap();
    let ids = |keys: Vec<AdminKeyRecord>| keys.into_iter().map(|k| k.id).collect::<Vec<_>>();
    assert_eq!(ids(db.list_admin_keys().await.unwrap()), ["k0", "k1", "k2"]);
    assert_eq!(
        db.find_admin_key("h0").await.unwrap(),
        Some(operator_chosen)
    );

    db.touch_admin_key("k1", t(50)).await.unwrap();
    let found = db.find_admin_key("h1").await.unwrap().unwrap();
    assert_eq!((found.last_used_at, found.revoked_at), (Some(t(50)), None));

    assert_eq!(
        db.revoke_admin_key("nope", t(60)).await.unwrap(),
        Revocation::NotFound
    );
    let Revocation::Revoked(revoked) = db.revoke_admin_key("k1", t(60)).await.unwrap() else {
        panic!("k1 is revoked");
    };
    assert_eq!(
        (revoked.name.as_str(), revoked.revoked_at),
        ("name of k1", Some(t(60)))
    );
    assert_eq!(
        db.revoke_admin_key("k1", t(61)).await.unwrap(),
        Revocation::NotFound,
        "a revoked key is no longer active"
    );
    assert_eq!(ids(db.list_admin_keys().await.unwrap()), ["k0", "k2"]);
    assert_eq!(
        db.find_admin_key("h1").await.unwrap().unwrap().revoked_at,
        Some(t(60)),
        "the row stays, for the audit log's key ids"
    );
    assert!(!db.admin_key_exists("h1").await.unwrap());
    assert_eq!(db.count_admin_keys().await.unwrap(), 2);

    db.revoke_admin_key("k0", t(70)).await.unwrap();
    assert_eq!(
        db.revoke_admin_key("k2", t(80)).await.unwrap(),
        Revocation::LastKey
    );
    assert_eq!(ids(db.list_admin_keys().await.unwrap()), ["k2"]);
}

async fn two_revocations_at_once_leave_a_key(db: &Database) {
    db.insert_admin_key_record(&key("first", "h-first", 0))
        .await
        .unwrap();
    // Each round races to revoke every active key: the one left from before and two new ones.
    for round in 1..=5 {
        for name in ["a", "b"] {
            let new = key(
                &format!("{name}{round}"),
                &format!("h-{name}{round}"),
                round,
            );
            db.insert_admin_key_record(&new).await.unwrap();
        }
        let revocations = db.list_admin_keys().await.unwrap().into_iter().map(|k| {
            let db = db.clone();
            tokio::spawn(async move { db.revoke_admin_key(&k.id, t(100)).await.unwrap() })
        });
        let mut outcomes = Vec::new();
        for revocation in revocations.collect::<Vec<_>>() {
            outcomes.push(revocation.await.unwrap());
        }
        let revoked = outcomes
            .iter()
            .filter(|o| matches!(o, Revocation::Revoked(_)))
            .count();
        assert_eq!(revoked, 2, "{outcomes:?}");
        assert!(outcomes.contains(&Revocation::LastKey), "{outcomes:?}");
        assert_eq!(db.list_admin_keys().await.unwrap().len(), 1);
    }
}

fn entry(n: i64, at: i64) -> AuditRecord {
    AuditRecord {
        id: format!("aud_{n:02}"),
        at: t(at),
        source: if n == 0 { "cli" } else { "api" }.into(),
        key_id: (n > 0).then(|| "key_1".to_owned()),
        key_name: (n > 0).then(|| "ops".to_owned()),
        action: "workflow.put".into(),
        target: format!("workflow/w{n}"),
        summary: json!({ "version": n }),
    }
}

async fn audit_log_pages_newest_first(db: &Database) {
    // Two entries share an instant: the id orders them.
    for (n, at) in [(0, 10), (1, 20), (2, 20), (3, 30), (4, 40)] {
        db.insert_audit_record(&entry(n, at)).await.unwrap();
    }
    let page = db.list_audit_records(None, 2).await.unwrap();
    assert_eq!(page, [entry(4, 40), entry(3, 30)]);
    let page = db.list_audit_records(Some("aud_03"), 2).await.unwrap();
    assert_eq!(page, [entry(2, 20), entry(1, 20)]);
    let page = db.list_audit_records(Some("aud_01"), 2).await.unwrap();
    assert_eq!(page, [entry(0, 10)]);
    assert!(db
        .list_audit_records(Some("unknown"), 2)
        .await
        .unwrap()
        .is_empty());
}

async fn sealed_values_are_read_in_batches_and_swapped_when_unchanged(db: &Database) {
    let sealed = |n: u8| Sealed(vec![n; 28]);
    db.put_app_credentials(&AppCredentialsRecord {
        environment: Environment::Custom,
        client_id: "cid".into(),
        client_secret: sealed(1),
        base_url: "http://127.0.0.1:1".into(),
        rate_limits: None,
        updated_at: t(1),
    })
    .await
    .unwrap();
    for (n, account) in [(10, "a"), (20, "b"), (30, "c")] {
        db.upsert_account(&id(account), &AccountPatch::default(), 0, t(1))
            .await
            .unwrap();
        let mut connection = ConnectionRecord::empty(
            id(account),
            Environment::Custom,
            AuthType::Oauth,
            ConnectionStatus::Connected,
            t(1),
        );
        connection.access_token = Some(sealed(n));
        connection.refresh_token = (account != "b").then(|| sealed(n + 1));
        db.put_connection(&connection).await.unwrap();
    }

    let read = |column, after: Option<&'static str>| {
        let db = db.clone();
        async move { db.sealed_values(column, after, 2).await.unwrap() }
    };
    let rows = |cells: &[SealedCell]| cells.iter().map(|c| c.row.clone()).collect::<Vec<_>>();
    let first = read(SealedColumn::ConnectionAccessToken, None).await;
    assert_eq!(rows(&first), ["a", "b"]);
    assert_eq!(first[0].value, sealed(10));
    assert_eq!(
        rows(&read(SealedColumn::ConnectionAccessToken, Some("b")).await),
        ["c"]
    );
    assert_eq!(
        rows(&read(SealedColumn::ConnectionRefreshToken, None).await),
        ["a", "c"],
        "NULLs are left out"
    );
    assert!(read(SealedColumn::ConnectionApiKey, None).await.is_empty());
    assert_eq!(
        rows(&read(SealedColumn::AppClientSecret, None).await),
        ["custom"]
    );

    // A value changed since it was read is not overwritten.
    let mut stale = first[1].clone();
    stale.value = sealed(99);
    let written = db
        .reseal(
            SealedColumn::ConnectionAccessToken,
            &[(first[0].clone(), sealed(11)), (stale, sealed(21))],
        )
        .await
        .unwrap();
    assert_eq!(written, 1);
    let access = |account: &'static str| async move {
        db.get_connection(&id(account))
            .await
            .unwrap()
            .unwrap()
            .access_token
    };
    assert_eq!(access("a").await, Some(sealed(11)));
    assert_eq!(access("b").await, Some(sealed(20)));
    assert_eq!(
        db.get_connection(&id("a"))
            .await
            .unwrap()
            .unwrap()
            .refresh_token,
        Some(sealed(11)),
        "only the column named changes"
    );
}
