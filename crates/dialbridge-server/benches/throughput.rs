//! `cargo bench -p dialbridge-server --bench throughput`: prints how fast dialbridge moves work,
//! in-process, against the emulator with Dialpad's rate limits off and SQLite in a temp folder
//! (or PostgreSQL with `DIALBRIDGE_BENCH_DATABASE_URL`). Figures, not assertions:
//! - actions: `list_users` through the admin API, spread over 20 accounts (dialbridge throttles
//!   each account to Dialpad's 20 requests/s, so one account alone would measure the throttle);
//! - ingress: signed Dialpad events accepted per second, and how soon their executions finish.

use std::time::{Duration, Instant};

use clap::Parser;
use dialbridge_core::MasterKey;
use dialbridge_server::{start, ServeConfig};
use dialpad_emulator::{Emulator, EmulatorConfig};
use futures::stream::{self, StreamExt};
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::Client;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const KEY: &str = "bench-admin-key";
const ACCOUNTS: usize = 20;
const ACTIONS: usize = 2_000;
const EVENTS: usize = 1_000;
const CONCURRENCY: usize = 32;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = std::env::var("DIALBRIDGE_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db", dir.path().display()));
    let emulator = Emulator::new(EmulatorConfig {
        rate_limits: false,
        ..EmulatorConfig::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let emulator_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(emulator.clone().serve(listener, std::future::pending()));

    let master_key = MasterKey::generate().to_hex().expose().to_owned();
    let config = ServeConfig::try_parse_from([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &database_url,
        "--api-key",
        KEY,
        "--master-key",
        &master_key,
        "--execution-workers",
        "32",
        "--account-concurrency",
        "32",
    ])
    .expect("flags");
    let running = start(config, CancellationToken::new())
        .await
        .expect("server");
    let base = format!("http://{}", running.local_addr);
    let http = Client::new();
    let api = |method: reqwest::Method, path: String, body: Value| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(KEY)
            .json(&body)
            .send()
    };

    api(reqwest::Method::PUT, "/api/v1/app/credentials/custom".into(), json!({
        "client_id": Emulator::DEV_CLIENT_ID, "client_secret": Emulator::DEV_CLIENT_SECRET, "base_url": emulator_url,
    })).await.unwrap();
    let key = emulator
        .create_api_key("5629499534213120", None)
        .expect("seeded company");
    for i in 0..ACCOUNTS {
        api(
            reqwest::Method::PUT,
            format!("/api/v1/accounts/bench-{i}"),
            json!({}),
        )
        .await
        .unwrap();
        let r = api(
            reqwest::Method::PUT,
            format!("/api/v1/accounts/bench-{i}/connection"),
            json!({ "auth_type": "api_key", "api_key": key, "environment": "custom" }),
        )
        .await
        .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    // Actions.
    let started = Instant::now();
    let latencies: Vec<Duration> = stream::iter(0..ACTIONS)
        .map(|n| {
            let request = api(
                reqwest::Method::POST,
                format!("/api/v1/accounts/bench-{}/actions/list_users", n % ACCOUNTS),
                json!({ "limit": 5 }),
            );
            async move {
                let at = Instant::now();
                let response = request.await.unwrap();
                assert!(response.status().is_success());
                at.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    report(
        "actions (list_users, 20 accounts, 32 in flight)",
        ACTIONS,
        started.elapsed(),
        latencies,
    );

    // Ingress: one workflow on call.hangup for bench-0, then signed events.
    let definition = json!({
        "name": "Bench", "trigger": { "type": "call.hangup" },
        "steps": [{ "id": "note", "set": { "call": "{{ event.call_id }}" } }],
    });
    api(
        reqwest::Method::PUT,
        "/api/v1/workflows/bench".into(),
        definition,
    )
    .await
    .unwrap();
    api(
        reqwest::Method::PUT,
        "/api/v1/accounts/bench-0/workflows/bench".into(),
        json!({}),
    )
    .await
    .unwrap();
    let account: Value = api(
        reqwest::Method::GET,
        "/api/v1/accounts/bench-0".into(),
        json!({}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let hook_url = account["dialpad_events"]["hook_url"]
        .as_str()
        .expect("provisioned")
        .to_owned();
    let webhook_id = account["dialpad_events"]["dialpad_webhook_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let webhook: Value = http
        .get(format!("{emulator_url}/api/v2/webhooks/{webhook_id}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = webhook["signature"]["secret"].as_str().unwrap().to_owned();
    let bodies: Vec<String> = (0..EVENTS)
        .map(|n| {
            let event = json!({ "call_id": format!("{}", 7_000_000_000_000_000_i64 + n as i64), "state": "hangup", "direction": "inbound" });
            encode(&Header::default(), &event, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
        })
        .collect();
    let started = Instant::now();
    let latencies: Vec<Duration> = stream::iter(bodies)
        .map(|body| {
            let request = http
                .post(&hook_url)
                .header("content-type", "application/jwt")
                .body(body)
                .send();
            async move {
                let at = Instant::now();
                assert!(request.await.unwrap().status().is_success());
                at.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let accepted = started.elapsed();
    report(
        "ingress (signed events accepted)",
        EVENTS,
        accepted,
        latencies,
    );
    loop {
        let page: Value = api(
            reqwest::Method::GET,
            "/api/v1/executions?account_id=bench-0&status=succeeded&limit=1".into(),
            json!({}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let done = running
            .platform
            .store()
            .list_executions(
                &dialbridge_core::ExecutionFilter {
                    status: Some(dialbridge_core::ExecutionStatus::Succeeded),
                    ..Default::default()
                },
                None,
                EVENTS as u32 + 1,
            )
            .await
            .unwrap()
            .len();
        if done >= EVENTS || started.elapsed() > Duration::from_secs(120) {
            let total = started.elapsed();
            println!("executions: {done} of {EVENTS} succeeded {:.2} s after the first event ({:.0}/s end to end); newest {}", total.as_secs_f64(), done as f64 / total.as_secs_f64(), page["items"][0]["id"]);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn report(what: &str, count: usize, took: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{what}: {count} in {:.2} s = {:.0}/s; latency p50 {:.1} ms, p99 {:.1} ms",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
    );
}
