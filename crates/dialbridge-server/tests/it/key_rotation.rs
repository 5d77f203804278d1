//! Rotating the master key from A to B with secrets of every kind in the database: a server
//! holding both keys keeps serving while the rotation runs; afterwards a server with only B
//! uses connections (refreshing OAuth tokens), verifies Dialpad events and signs vendor
//! webhooks, the raw database holds no value A opens, and a server with only A refuses to
//! start.

use dialbridge_core::{rotate_master_key, Cipher, MasterKey, Sealed, SealedColumn};
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::{AnyPool, Row};

use crate::support::{Backend, TestApp};
use crate::vendor_webhooks::{verified, Receiver};

on_both_backends!(a_rotation_reseals_every_secret_while_servers_keep_working);

async fn connect_with_api_key(app: &TestApp, account: &str, key: &str) {
    app.create_account(account).await;
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/accounts/{account}/connection"),
            Some(json!({"auth_type": "api_key", "api_key": key, "environment": "custom"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn both_connections_work(app: &TestApp) {
    for account in ["oauth", "keyed"] {
        let (status, body) = app.check(&app.base, account).await;
        assert_eq!(status, StatusCode::OK, "{account}: {body}");
    }
}

/// Every value of every column of bytes (each one is a sealed secret), read straight from the
/// database.
async fn raw_sealed_values(app: &TestApp, backend: Backend) -> Vec<(String, Sealed)> {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&app.database_url).await.unwrap();
    let columns_sql = match backend {
        Backend::Sqlite => {
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND p.type = 'BLOB'"
        }
        Backend::Postgres => {
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = 'public' AND data_type = 'bytea'"
        }
    };
    let mut values = Vec::new();
    for column in sqlx::query(columns_sql).fetch_all(&pool).await.unwrap() {
        let (table, name): (String, String) = (column.get("t"), column.get("c"));
        if table.starts_with("_sqlx") {
            continue; // sqlx's migration checksums
        }
        let sql = format!("SELECT {name} AS v FROM {table} WHERE {name} IS NOT NULL");
        for row in sqlx::query(&sql).fetch_all(&pool).await.unwrap() {
            values.push((format!("{table}.{name}"), Sealed(row.get("v"))));
        }
    }
    pool.close().await;
    values
}

async fn a_rotation_reseals_every_secret_while_servers_keep_working(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let key_a = app.master_key.clone();
    let key_b = MasterKey::generate().to_hex().expose().to_owned();
    let (a, b) = (
        Cipher::new(&MasterKey::parse(&key_a).unwrap()),
        Cipher::new(&MasterKey::parse(&key_b).unwrap()),
    );

    // Secrets of every kind, sealed under A: the app's client secret, OAuth tokens, a Dialpad
    // API key, PKCE verifiers of connect sessions (one completed, one opened), a Dialpad
    // webhook's secret and a vendor endpoint's secret.
    app.configure_app().await;
    app.create_account("oauth").await;
    app.connect_oauth("oauth").await;
    let dialpad_key = app.dialpad_api_key().await;
    connect_with_api_key(&app, "keyed", &dialpad_key).await;
    app.authorize_url("keyed", None).await;
    let workflow = json!({
        "name": "Hangups", "trigger": {"type": "call.hangup"},
        "steps": [{"id": "note", "set": {"call": "{{ event.call_id }}"}}],
    });
    let (status, _) = app
        .call(Method::PUT, "/api/v1/workflows/hangups", Some(workflow))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/accounts/oauth/workflows/hangups",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let webhooks = app.dialpad_get("/api/v2/webhooks", &dialpad_key).await;
    let hook_secret = webhooks["items"][0]["signature"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let receiver = Receiver::start(0).await;
    let (status, endpoint) = app
        .call(
            Method::PUT,
            "/api/v1/webhook-endpoints/vendor",
            Some(
                json!({"url": format!("{}/hooks", receiver.url), "events": ["connection.created"]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let endpoint_secret = endpoint["secret"].as_str().unwrap().to_owned();
    let before = raw_sealed_values(&app, backend).await;
    let kinds: std::collections::BTreeSet<&str> = before.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        kinds.len(),
        SealedColumn::ALL.len(),
        "every kind is there: {kinds:?}"
    );
    assert!(before.iter().all(|(_, v)| a.open(v).is_ok()));

    // Servers restart with both keys and keep working while the rotation runs.
    app.restart_with_keys(&key_b, Some(&key_a)).await.unwrap();
    both_connections_work(&app).await;
    let store = app.platform.store().clone();
    let (from, to) = (
        MasterKey::parse(&key_a).unwrap(),
        MasterKey::parse(&key_b).unwrap(),
    );
    let rotation =
        tokio::spawn(async move { rotate_master_key(store.as_ref(), &from, &to, 1).await });
    loop {
        both_connections_work(&app).await;
        if rotation.is_finished() {
            break;
        }
    }
    let report = rotation.await.unwrap().expect("the rotation succeeds");
    assert!(
        report.resealed + report.already_current >= before.len() as u64,
        "{report}"
    );
    for (column, resealed, current) in &report.columns {
        assert!(resealed + current > 0, "{column:?}: {report}");
    }

    // With only B: connections (a refresh of the OAuth tokens too), events, signatures.
    app.restart_with_keys(&key_b, None).await.unwrap();
    let refreshes = app.refresh_count().await;
    app.emulator_call(Method::POST, "/_control/tokens/expire", None)
        .await;
    both_connections_work(&app).await;
    assert_eq!(
        app.refresh_count().await,
        refreshes + 1,
        "the refresh token opened"
    );

    let (_, account) = app.get("/api/v1/accounts/oauth").await;
    let hook_url = account["dialpad_events"]["hook_url"].as_str().unwrap();
    let hook_id = hook_url.rsplit('/').next().unwrap();
    let event = json!({
        "call_id": "4800000000000777", "state": "hangup", "direction": "inbound",
        "external_number": "+14155550150", "internal_number": "+14155550101",
        "target": {"id": "5910974510923776", "type": "user"},
    });
    let signed = encode(
        &Header::default(),
        &event,
        &EncodingKey::from_secret(hook_secret.as_bytes()),
    )
    .unwrap();
    let response = app
        .http
        .post(format!("{}/webhooks/dialpad/{hook_id}", app.base))
        .header("content-type", "application/jwt")
        .body(signed)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["executions"].as_array().unwrap().len(), 1);

    connect_with_api_key(&app, "late", &dialpad_key).await;
    let delivered = receiver.wait_for("/hooks", 1).await;
    let payload = verified(&endpoint_secret, &delivered[0]);
    assert_eq!(payload["type"], "connection.created");

    // Nothing in the database opens under A any more; everything opens under B. (The
    // master-key check value was sealed again too: see the refused start below.)
    let after = raw_sealed_values(&app, backend).await;
    assert!(after.len() >= before.len());
    for (column, value) in &after {
        assert!(a.open(value).is_err(), "{column} still opens under A");
        assert!(b.open(value).is_ok(), "{column} does not open under B");
    }
    let log = app
        .platform
        .store()
        .list_audit_records(None, 50)
        .await
        .unwrap();
    let rotated = log
        .iter()
        .find(|e| e.action == "master_key.rotate")
        .unwrap();
    assert_eq!(
        (rotated.source.as_str(), rotated.key_name.as_deref()),
        ("cli", None)
    );

    // A server left with only A refuses to start.
    let refused = app.restart_with_keys(&key_a, None).await.unwrap_err();
    assert!(refused.to_string().contains("master key"), "{refused}");
    app.shutdown().await;
}
