//! Promises that only hold if they hold across OS processes: two real `dialbridge serve`
//! processes on one database (a SQLite file, and PostgreSQL), one `dialbridge emulator` process
//! for both.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::json;

use crate::support::processes::{
    self, call, configure, connect_oauth, emulator_stats, Database, TestDatabase,
};

/// `sqlite::<name>` and `postgres::<name>` tests from `async fn <name>(Database)`; the
/// PostgreSQL ones are ignored unless `DIALBRIDGE_TEST_DATABASE_URL` was set at build time.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(super::Database::Sqlite).await }
        )* }
        mod postgres { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #[cfg_attr(not(postgres_tests), ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests")]
            async fn $name() { super::$name(super::Database::Postgres).await }
        )* }
    };
}

on_both_databases!(
    one_refresh_across_two_processes,
    a_redelivered_event_runs_once,
    vendor_webhooks_survive_a_restart
);

/// Both processes find the access token refused (401) at once and refresh; the emulator holds
/// each refresh answer until two refreshes have arrived (or 3 s), so two processes that both
/// asked would both be answered — and the second would have spent the rotated refresh token.
/// One refresh happens, and both requests succeed with its token.
async fn one_refresh_across_two_processes(kind: Database) {
    let database = TestDatabase::new(kind).await;
    let emulator = processes::emulator().await;
    let emu = emulator.base.clone();
    let first = processes::serve(&database.url, &[]).await;
    configure(&first.base, &emu).await;
    connect_oauth(&first.base, &emu).await;
    let second = processes::serve(&database.url, &[]).await;

    let (status, body) = call(
        Method::PATCH,
        &format!("{emu}/_control/config"),
        Some(json!({ "hold_refresh_requests": 2, "hold_refresh_max_ms": 3000 })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(Method::POST, &format!("{emu}/_control/tokens/expire"), None).await;
    assert_eq!(status, 204);
    let check = |base: &str| {
        let url = format!("{base}/api/v1/accounts/acme/connection/check");
        async move { call(Method::POST, &url, None).await }
    };
    let ((a, a_body), (b, b_body)) = tokio::join!(check(&first.base), check(&second.base));
    assert_eq!((a, b), (200, 200), "{a_body} {b_body}");

    let stats = emulator_stats(&emu).await;
    assert_eq!(
        stats["token_requests"]["rotated_refresh_token"], 0,
        "a rotated refresh token was sent again: {stats}"
    );
    assert_eq!(
        stats["token_requests"]["refresh_token"], 1,
        "one refresh for both processes: {stats}"
    );
    let (_, account) = call(
        Method::GET,
        &format!("{}/api/v1/accounts/acme", second.base),
        None,
    )
    .await;
    assert_eq!(account["connection"]["status"], "connected", "{account}");

    first.kill().await;
    second.kill().await;
    emulator.kill().await;
    database.cleanup().await;
}

/// An event Dialpad delivers again — the same copy, a copy signed anew with a fresh `iat`,
/// and two copies arriving at the same moment at two processes — starts its executions once.
async fn a_redelivered_event_runs_once(kind: Database) {
    let database = TestDatabase::new(kind).await;
    let emulator = processes::emulator().await;
    let emu = emulator.base.clone();
    let first = processes::serve(&database.url, &[]).await;
    configure(&first.base, &emu).await;
    connect_oauth(&first.base, &emu).await;
    let (status, body) = call(
        Method::PUT,
        &format!("{}/api/v1/workflows/on-hangup", first.base),
        Some(json!({
            "name": "On hangup",
            "trigger": { "type": "call.hangup" },
            "steps": [{ "id": "note", "set": { "call": "{{ event.call_id }}" } }],
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        Method::PUT,
        &format!("{}/api/v1/accounts/acme/workflows/on-hangup", first.base),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let second = processes::serve(&database.url, &[]).await;
    let (hook_path, secret) = dialpad_hook(&first.base, &emu).await;

    let event = |call_id: &str, iat: u64| {
        let claims = json!({
            "call_id": call_id, "state": "hangup", "direction": "inbound",
            "external_number": "+14155550150", "internal_number": "+14155550101",
            "target": { "id": "5910974510923776", "type": "user" }, "iat": iat,
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("a JWT")
    };
    let deliver = |base: &str, jwt: String| {
        let url = format!("{base}{hook_path}");
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/jwt")
                .body(jwt)
                .send()
                .await
                .expect("delivery");
            let status = response.status().as_u16();
            (
                status,
                response.json::<serde_json::Value>().await.expect("JSON"),
            )
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();

    // The same copy again, then a copy signed anew a second later.
    let (status, original) = deliver(&first.base, event("4800000000000001", now)).await;
    assert_eq!(status, 200, "{original}");
    assert_eq!(original["duplicate"], false);
    assert_eq!(original["executions"].as_array().map(Vec::len), Some(1));
    for (base, iat) in [(&first.base, now), (&second.base, now + 1)] {
        let (status, again) = deliver(base, event("4800000000000001", iat)).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["duplicate"], true, "iat {iat} at {base}: {again}");
        assert_eq!(again["executions"], json!([]));
    }

    // Two copies at once, one to each process.
    let (a, b) = tokio::join!(
        deliver(&first.base, event("4800000000000002", now)),
        deliver(&second.base, event("4800000000000002", now + 1)),
    );
    assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
    let mut duplicates = [&a.1["duplicate"], &b.1["duplicate"]];
    duplicates.sort_by_key(|d| d.as_bool());
    assert_eq!(duplicates, [&json!(false), &json!(true)], "{} {}", a.1, b.1);
    let started = a.1["executions"].as_array().expect("executions").len()
        + b.1["executions"].as_array().expect("executions").len();
    assert_eq!(started, 1, "{} {}", a.1, b.1);

    // Executions are stored before an event is answered: the list is final.
    let (_, page) = call(
        Method::GET,
        &format!("{}/api/v1/executions?account_id=acme", second.base),
        None,
    )
    .await;
    let mut calls: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["event"]["call_id"].as_str().expect("call_id"))
        .collect();
    calls.sort();
    assert_eq!(calls, ["4800000000000001", "4800000000000002"], "{page}");

    first.kill().await;
    second.kill().await;
    emulator.kill().await;
    database.cleanup().await;
}

/// The path dialbridge gave Dialpad for `acme`'s events, and the secret Dialpad signs them with
/// (read back from the emulator as a company admin).
async fn dialpad_hook(base: &str, emu: &str) -> (String, String) {
    let (_, account) = call(Method::GET, &format!("{base}/api/v1/accounts/acme"), None).await;
    let events = &account["dialpad_events"];
    let hook_url = events["hook_url"].as_str().expect("hook_url");
    let hook_path = hook_url
        .strip_prefix(base)
        .expect("a hook under the process's URL")
        .to_owned();
    let (_, companies) = call(Method::GET, &format!("{emu}/_control/companies"), None).await;
    let (_, key) = call(
        Method::POST,
        &format!("{emu}/_control/api-keys"),
        Some(json!({ "company_id": companies[0]["id"] })),
    )
    .await;
    let webhook_id = events["dialpad_webhook_id"].as_str().expect("webhook id");
    let webhook = reqwest::Client::new()
        .get(format!("{emu}/api/v2/webhooks/{webhook_id}"))
        .bearer_auth(key["api_key"].as_str().expect("api_key"))
        .send()
        .await
        .expect("webhook")
        .json::<serde_json::Value>()
        .await
        .expect("JSON");
    let secret = webhook["signature"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    (hook_path, secret)
}

/// The vendor's receiver: answers 503 until opened, then 200; counts what it accepted per
/// message id (`webhook-id`).
#[derive(Clone, Default)]
struct Receiver {
    open: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    accepted: Arc<Mutex<HashMap<String, usize>>>,
}

impl Receiver {
    async fn start(&self) -> String {
        let receiver = self.clone();
        let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
            let receiver = receiver.clone();
            async move {
                if !receiver.open.load(Ordering::SeqCst) {
                    receiver.refused.fetch_add(1, Ordering::SeqCst);
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                *receiver.accepted.lock().unwrap().entry(id).or_default() += 1;
                axum::http::StatusCode::OK
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }
}

/// Deliveries still waiting to be retried when their process is SIGKILLed are delivered by the
/// process started after it, each once.
async fn vendor_webhooks_survive_a_restart(kind: Database) {
    let database = TestDatabase::new(kind).await;
    let receiver = Receiver::default();
    let url = receiver.start().await;
    // Production's retry schedule (5 s after the first failure, then 30 s): the process is
    // killed while every delivery waits for its second attempt.
    let first = processes::serve(&database.url, &[]).await;
    let (status, body) = call(
        Method::PUT,
        &format!("{}/api/v1/webhook-endpoints/vendor", first.base),
        Some(json!({ "url": url, "events": ["execution.succeeded"] })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        Method::PUT,
        &format!("{}/api/v1/workflows/noop", first.base),
        Some(json!({
            "name": "No-op",
            "trigger": { "type": "api" },
            "steps": [{ "id": "set", "set": { "ok": true } }],
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    call(
        Method::PUT,
        &format!("{}/api/v1/accounts/acme", first.base),
        Some(json!({})),
    )
    .await;
    let (status, body) = call(
        Method::PUT,
        &format!("{}/api/v1/accounts/acme/workflows/noop", first.base),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    const RUNS: usize = 4;
    for _ in 0..RUNS {
        let (status, body) = call(
            Method::POST,
            &format!(
                "{}/api/v1/accounts/acme/workflows/noop/executions",
                first.base
            ),
            Some(json!({ "input": {} })),
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    let pending = |base: String| async move {
        let (_, page) = call(
            Method::GET,
            &format!("{base}/api/v1/webhook-endpoints/vendor/deliveries"),
            None,
        )
        .await;
        page["items"].as_array().cloned().unwrap_or_default()
    };
    let mut waited = 0;
    loop {
        let items = pending(first.base.clone()).await;
        let tried = items
            .iter()
            .filter(|d| d["status"] == "pending" && d["attempts"] == 1)
            .count();
        if tried == RUNS {
            break;
        }
        waited += 1;
        assert!(waited < 400, "not every delivery failed once: {items:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    first.kill().await;
    receiver.open.store(true, Ordering::SeqCst);

    let second = processes::serve(&database.url, &[]).await;
    let mut waited = 0;
    let items = loop {
        let items = pending(second.base.clone()).await;
        if items.len() == RUNS && items.iter().all(|d| d["status"] == "delivered") {
            break items;
        }
        waited += 1;
        assert!(waited < 600, "not delivered after the restart: {items:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let accepted = receiver.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), RUNS, "{accepted:?}");
    for delivery in &items {
        let id = delivery["id"].as_str().expect("id");
        assert_eq!(
            accepted.get(id),
            Some(&1),
            "{id} delivered once: {accepted:?}"
        );
        assert_eq!(delivery["attempts"], 2, "{delivery:#}");
    }
    assert_eq!(receiver.refused.load(Ordering::SeqCst), RUNS);
    second.kill().await;
    database.cleanup().await;
}

/// A schedule's tick starts one execution across processes: two processes started at once on
/// PostgreSQL both look at the last five minutes' ticks when they start; each tick runs once.
/// A third process, started after a marker schedule was enabled, looks at the same ticks and
/// then the marker's: once the marker's ticks ran, every process had its look.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn postgres_a_schedule_fires_once_across_processes() {
    let database = TestDatabase::new(Database::Postgres).await;
    let setup = processes::serve(&database.url, &[]).await;
    call(
        Method::PUT,
        &format!("{}/api/v1/accounts/acme", setup.base),
        Some(json!({})),
    )
    .await;
    let every_minute = |name: &str| {
        json!({
            "name": name,
            "trigger": { "type": "schedule", "cron": "* * * * *" },
            "steps": [{ "id": "tick", "set": { "at": "{{ event.scheduled_at }}" } }],
        })
    };
    let enable = |base: String, key: &'static str| async move {
        let (status, body) = call(
            Method::PUT,
            &format!("{base}/api/v1/workflows/{key}"),
            Some(every_minute(key)),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = call(
            Method::PUT,
            &format!("{base}/api/v1/accounts/acme/workflows/{key}"),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    };
    enable(setup.base.clone(), "a-every-minute").await;
    setup.kill().await;

    let (first, second) = tokio::join!(
        processes::serve(&database.url, &[]),
        processes::serve(&database.url, &[])
    );
    let ticks = |base: String, key: &'static str| async move {
        let (_, page) = call(
            Method::GET,
            &format!("{base}/api/v1/executions?account_id=acme&limit=100"),
            None,
        )
        .await;
        let mut ticks: Vec<i64> = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["workflow"] == key)
            .map(|e| e["trigger"]["tick"].as_i64().expect("tick"))
            .collect();
        ticks.sort();
        ticks
    };
    let mut waited = 0;
    while ticks(first.base.clone(), "a-every-minute").await.len() < 5 {
        waited += 1;
        assert!(
            waited < 400,
            "the five ticks of the last five minutes never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    enable(first.base.clone(), "z-marker").await;
    let third = processes::serve(&database.url, &[]).await;
    let mut waited = 0;
    while ticks(third.base.clone(), "z-marker").await.len() < 5 {
        waited += 1;
        assert!(waited < 400, "the marker's ticks never ran");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for key in ["a-every-minute", "z-marker"] {
        let ran = ticks(third.base.clone(), key).await;
        let mut once = ran.clone();
        once.dedup();
        assert_eq!(ran, once, "{key}: a tick ran twice");
    }

    first.kill().await;
    second.kill().await;
    third.kill().await;
    database.cleanup().await;
}
