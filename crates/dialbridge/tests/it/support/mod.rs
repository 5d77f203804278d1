//! What the binary's tests share: the executable, a free port, a `dialbridge` command with no
//! dialbridge settings inherited from the environment, waiting until a process answers, and the
//! PostgreSQL server the PostgreSQL test uses.

use std::net::TcpListener;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::Command;

pub mod cluster;
pub mod processes;
pub mod proxy;

pub const BIN: &str = env!("CARGO_BIN_EXE_dialbridge");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `dialbridge <args>`, killed when dropped, with the settings a developer's shell may hold
/// removed so tests see only what they pass.
pub fn dialbridge(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("DIALBRIDGE_API_KEY")
        .env_remove("DIALBRIDGE_MASTER_KEY")
        .env_remove("DIALBRIDGE_DATABASE_URL")
        .kill_on_drop(true);
    command
}

/// Where the PostgreSQL tests create their databases. Those tests are ignored unless
/// `DIALBRIDGE_TEST_DATABASE_URL` was set at build time (see this crate's build.rs); one run
/// anyway (`--include-ignored`) without it fails here rather than passing untested.
pub fn postgres_admin_url() -> String {
    match std::env::var("DIALBRIDGE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "DIALBRIDGE_TEST_DATABASE_URL is not set, so this PostgreSQL test cannot run \
             (set it, e.g. to postgres://postgres@127.0.0.1:5432/test, and rebuild)"
        ),
    }
}

/// An admin-API (or emulator control) request with `key`; answers the status and the JSON body
/// (`null` when there is none). Redirects are not followed.
pub async fn call(
    method: reqwest::Method,
    url: impl reqwest::IntoUrl,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut request = http.request(method, url).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Connects `account` of a `serve --dev` at `base` (creating the account if it is new) with a
/// company-admin API key its emulator makes for Acme Corp, the emulator's first company;
/// answers that Dialpad API key.
pub async fn connect_acme_with_api_key(base: &str, admin_key: &str, account: &str) -> String {
    const ACME: u64 = 5629499534213120;
    use reqwest::Method as M;
    let made_url = format!("{base}/emulator/_control/api-keys");
    let (status, made) = call(
        M::POST,
        made_url,
        admin_key,
        Some(json!({"company_id": ACME})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let dialpad_key = made["api_key"].as_str().unwrap().to_owned();
    let account_url = format!("{base}/api/v1/accounts/{account}");
    let (status, body) = call(M::PUT, account_url, admin_key, Some(json!({}))).await;
    assert!(status == 200 || status == 201, "{body}");
    let connection = json!({"auth_type": "api_key", "api_key": dialpad_key});
    let connection_url = format!("{base}/api/v1/accounts/{account}/connection");
    let (status, body) = call(M::PUT, connection_url, admin_key, Some(connection)).await;
    assert_eq!(status, 200, "{body}");
    dialpad_key
}

/// Whether `url` answered 2xx within ten seconds.
pub async fn ready(url: &str) -> bool {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(response) = http.get(url).send().await {
            if response.status().is_success() {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
