//! Secrets at rest: known secrets written through the API (app client secret, a Dialpad API
//! key, OAuth tokens before and after a refresh, the admin API key) and the webhook secrets
//! dialbridge makes (a Dialpad hook's, a vendor endpoint's) must not appear in the raw
//! database, in any encoding — after a refresh, a signed and a forged event, and a vendor
//! delivery that failed (errors are where secrets leak).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Row;

use crate::support::{self, Backend, TestApp};

on_both_backends!(no_secret_is_stored_in_the_clear);

async fn no_secret_is_stored_in_the_clear(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client_secret = "cs-KNOWN-client-secret-4f9a1c";
    let (status, _) = app
        .call(Method::PUT, "/api/v1/app/credentials/custom", Some(json!({"client_id": "dialbridge-dev", "client_secret": client_secret, "base_url": app.emulator_url})))
        .await;
    assert_eq!(status, StatusCode::OK);
    // The emulator only knows its dev app's secret; register ours as an app of its own.
    let (status, body) = app
        .emulator_call(
            Method::POST,
            "/_control/apps",
            Some(json!({"client_id": "vendor-app", "client_secret": client_secret})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.call(Method::PUT, "/api/v1/app/credentials/custom", Some(json!({"client_id": "vendor-app", "client_secret": client_secret, "base_url": app.emulator_url})))
        .await;

    app.create_account("oauth-account").await;
    app.connect_oauth("oauth-account").await;
    app.create_account("key-account").await;
    let (_, companies) = app
        .emulator_call(Method::GET, "/_control/companies", None)
        .await;
    let (_, key) = app
        .emulator_call(
            Method::POST,
            "/_control/api-keys",
            Some(json!({"company_id": companies[0]["id"]})),
        )
        .await;
    let dialpad_api_key = key["api_key"].as_str().unwrap().to_owned();
    let (status, body) = app
        .call(Method::PUT, "/api/v1/accounts/key-account/connection", Some(json!({"auth_type": "api_key", "api_key": dialpad_api_key, "environment": "custom"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A workflow on a Dialpad trigger gives the account a Dialpad webhook with a secret.
    let workflow = json!({
        "name": "Hangups", "trigger": { "type": "call.hangup" },
        "steps": [{ "id": "note", "set": { "call": "{{ event.call_id }}" } }],
    });
    app.call(Method::PUT, "/api/v1/workflows/hangups", Some(workflow))
        .await;
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/accounts/oauth-account/workflows/hangups",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let webhooks = app.dialpad_get("/api/v2/webhooks", &dialpad_api_key).await;
    let hook_secret = webhooks["items"][0]["signature"]["secret"]
        .as_str()
        .expect("the provisioned webhook has a secret")
        .to_owned();
    let (status, endpoint) = app
        .call(
            Method::PUT,
            "/api/v1/webhook-endpoints/vendor",
            // Nothing listens there: deliveries fail and record why.
            Some(json!({ "url": "http://127.0.0.1:9/hooks" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let endpoint_secret = endpoint["secret"].as_str().unwrap().to_owned();

    let first_tokens = tokens(&app).await;

    // A refresh: Dialpad stops accepting the access token, the next use refreshes (and Dialpad
    // rotates the refresh token).
    let (status, _) = app
        .emulator_call(Method::POST, "/_control/tokens/expire", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.check(&app.base, "oauth-account").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.refresh_count().await, 1);
    let second_tokens = tokens(&app).await;
    assert_ne!(first_tokens, second_tokens, "the refresh stored new tokens");

    // An event signed with the hook's secret, and a forged one (the failure path of ingress).
    let (_, account) = app.get("/api/v1/accounts/oauth-account").await;
    let hook_url = account["dialpad_events"]["hook_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let event = json!({ "call_id": "4800000000000042", "state": "hangup", "direction": "inbound" });
    for (key, expected) in [
        (hook_secret.as_str(), StatusCode::OK),
        ("forged", StatusCode::UNAUTHORIZED),
    ] {
        let jwt = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &event,
            &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
        )
        .unwrap();
        let response = app
            .http
            .post(&hook_url)
            .header("content-type", "application/jwt")
            .body(jwt)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
    }

    // A vendor delivery whose endpoint does not answer: attempted, and its failure recorded.
    let (status, body) = app
        .call(
            Method::DELETE,
            "/api/v1/accounts/key-account/connection",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    support::eventually_within(
        Duration::from_secs(15),
        "a failed vendor delivery attempt",
        || async {
            let (_, page) = app.get("/api/v1/webhook-endpoints/vendor/deliveries").await;
            page["items"][0]["last_error"].is_string()
        },
    )
    .await;

    let secrets = [
        client_secret,
        &dialpad_api_key,
        &first_tokens[0],
        &first_tokens[1],
        &second_tokens[0],
        &second_tokens[1],
        &app.api_key,
        &app.master_key,
        &hook_secret,
        &endpoint_secret,
    ];

    let haystack = match backend {
        Backend::Sqlite => sqlite_bytes(&app),
        Backend::Postgres => postgres_text(&app.database_url).await.into_bytes(),
    };
    assert!(haystack.len() > 1000, "the dump is not empty");
    for secret in secrets {
        assert!(
            !in_the_clear(&haystack, secret),
            "a secret ({}…) is stored in the clear",
            &secret[..6]
        );
    }
    // The dump does hold the non-secret values, so the search can find things.
    assert!(contains(&haystack, b"oauth-account") && contains(&haystack, b"vendor-app"));
    app.shutdown().await;
}

/// The OAuth account's access and refresh tokens, as stored (opened).
async fn tokens(app: &TestApp) -> [String; 2] {
    let stored = app.stored_connection("oauth-account").await;
    let cipher = app.cipher();
    let open = |sealed| cipher.open(&sealed).unwrap().expose().to_owned();
    [
        open(stored.access_token.unwrap()),
        open(stored.refresh_token.unwrap()),
    ]
}

/// The SQLite database file and its write-ahead log, byte for byte.
pub(crate) fn sqlite_bytes(app: &TestApp) -> Vec<u8> {
    let path = app.database_url.trim_start_matches("sqlite://");
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
            bytes.extend(b);
        }
    }
    bytes
}

/// Every row of every table, as PostgreSQL's text form (bytea as hex).
pub(crate) async fn postgres_text(url: &str) -> String {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut text = String::new();
    for table in tables {
        let rows = sqlx::query(&format!("SELECT t::text AS row FROM \"{table}\" t"))
            .fetch_all(&pool)
            .await
            .unwrap();
        for row in rows {
            text.push_str(&row.get::<String, _>("row"));
            text.push('\n');
        }
    }
    pool.close().await;
    text
}

/// Whether `secret` is in the dump as it is or hex-encoded.
pub(crate) fn in_the_clear(haystack: &[u8], secret: &str) -> bool {
    [secret.to_owned(), hex_of(secret)]
        .iter()
        .any(|form| contains(haystack, form.as_bytes()))
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
