//! Real processes on one database: a `dialbridge emulator` process that every `dialbridge
//! serve` process of a test talks to (as a deployment's processes all talk to Dialpad), serve
//! processes started and SIGKILLed at will, and the admin-API calls that set an account up
//! through them.

use std::process::Stdio;

use dialbridge_storage::testing::{fresh_postgres, TestDbGuard};
use serde_json::{json, Value};
use tokio::process::Child;

use super::{dialbridge, free_port, postgres_admin_url, ready};

pub const ADMIN_KEY: &str = "test-admin-key";
/// The master key every process of a test shares (64 hex digits).
pub const MASTER_KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    Sqlite,
    Postgres,
}

/// A database for a test's processes: a SQLite file in a temporary directory, or a fresh
/// PostgreSQL database (dropped by `cleanup`).
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    guard: Option<TestDbGuard>,
}

impl TestDatabase {
    pub async fn new(kind: Database) -> TestDatabase {
        match kind {
            Database::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/dialbridge.db", dir.path().display());
                TestDatabase {
                    url,
                    _dir: Some(dir),
                    guard: None,
                }
            }
            Database::Postgres => {
                let (url, guard) = fresh_postgres(&postgres_admin_url())
                    .await
                    .expect("fresh PostgreSQL database");
                TestDatabase {
                    url,
                    _dir: None,
                    guard: Some(guard),
                }
            }
        }
    }

    pub async fn cleanup(mut self) {
        if let Some(guard) = self.guard.take() {
            guard.cleanup().await;
        }
    }
}

/// A running `dialbridge` process and where it answers.
pub struct Process {
    pub child: Child,
    pub base: String,
}

impl Process {
    /// SIGKILL: no shutdown, no drain, nothing flushed.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("SIGKILL");
    }
}

/// `dialbridge emulator` with Dialpad's limits off, once it answers.
pub async fn emulator() -> Process {
    let listen = format!("127.0.0.1:{}", free_port());
    let child = dialbridge(&["emulator", "--listen", &listen, "--no-rate-limits"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dialbridge emulator starts");
    let base = format!("http://{listen}");
    assert!(
        ready(&format!("{base}/_control/config")).await,
        "the emulator did not start"
    );
    Process { child, base }
}

/// `dialbridge serve` on `database` with the shared admin and master keys and `extra` flags;
/// once healthy.
pub async fn serve(database: &str, extra: &[&str]) -> Process {
    let listen = format!("127.0.0.1:{}", free_port());
    let child = dialbridge(&["serve", "--listen", &listen, "--database-url", database])
        .args(["--api-key", ADMIN_KEY, "--master-key", MASTER_KEY])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dialbridge serve starts");
    let base = format!("http://{listen}");
    assert!(
        ready(&format!("{base}/healthz")).await,
        "dialbridge serve did not become healthy"
    );
    Process { child, base }
}

/// An admin-API (or emulator control) request; answers the status and the JSON body.
pub async fn call(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    super::call(method, url, ADMIN_KEY, body).await
}

/// Points the `custom` environment at `emulator` with its development app (no throttle) and
/// creates the account `acme`.
pub async fn configure(base: &str, emulator: &str) {
    use reqwest::Method;
    let (status, body) = call(
        Method::PUT,
        &format!("{base}/api/v1/app/credentials/custom"),
        Some(json!({
            "client_id": dialpad_emulator::Emulator::DEV_CLIENT_ID,
            "client_secret": dialpad_emulator::Emulator::DEV_CLIENT_SECRET,
            "base_url": emulator,
            "rate_limits": { "enabled": false },
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        Method::PUT,
        &format!("{base}/api/v1/app/scopes"),
        Some(json!({ "scopes": ["calls:list"] })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        Method::PUT,
        &format!("{base}/api/v1/accounts/acme"),
        Some(json!({ "name": "Acme" })),
    )
    .await;
    assert!(status == 201 || status == 200, "{body}");
}

/// Connects `acme` with OAuth through `base`: the link, the emulator's consent, the callback.
pub async fn connect_oauth(base: &str, emulator: &str) {
    use reqwest::Method;
    let (status, link) = call(
        Method::POST,
        &format!("{base}/api/v1/accounts/acme/connect"),
        Some(json!({ "redirect_url": "https://vendor.example/done" })),
    )
    .await;
    assert_eq!(status, 200, "{link}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let location = |response: &reqwest::Response| {
        response.headers()["location"]
            .to_str()
            .expect("ascii")
            .to_owned()
    };
    let opened = http
        .get(link["connect_url"].as_str().expect("connect_url"))
        .send()
        .await
        .expect("open the link");
    assert_eq!(opened.status(), 302);
    let (status, decided) = call(
        Method::POST,
        &format!("{emulator}/_control/authorize"),
        Some(json!({ "url": location(&opened), "decision": "approve" })),
    )
    .await;
    assert_eq!(status, 200, "{decided}");
    let callback = http
        .get(decided["location"].as_str().expect("location"))
        .send()
        .await
        .expect("callback");
    assert_eq!(callback.status(), 302);
    assert!(
        location(&callback).contains("status=connected"),
        "{}",
        location(&callback)
    );
}

/// The emulator's counters.
pub async fn emulator_stats(emulator: &str) -> Value {
    call(
        reqwest::Method::GET,
        &format!("{emulator}/_control/stats"),
        None,
    )
    .await
    .1
}
