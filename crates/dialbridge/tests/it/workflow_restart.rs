//! Durability with the real executable: a process killed (SIGKILL) between two steps is
//! restarted on the same database, and the execution finishes without repeating its finished
//! step — whether it was claimed (an API start) or started at ingest, stored leased with its
//! event (a vendor event); a delay running while the process is stopped ends after the restart.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tokio::process::Child;
use tokio::sync::Notify;

use crate::support::{dialbridge, free_port, ready};

const KEY: &str = "dialbridge-dev";

/// `serve --dev` on `listen` over the SQLite file in `dir`, with short leases, once healthy.
async fn serve(dir: &Path, listen: &str) -> Child {
    let db = format!("sqlite://{}/dialbridge.db", dir.display());
    let child = dialbridge(&["serve", "--dev", "--listen", listen, "--database-url", &db])
        .args([
            "--execution-lease-secs",
            "2",
            "--http-allowed-hosts",
            "127.0.0.1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dialbridge starts");
    assert!(
        ready(&format!("http://{listen}/healthz")).await,
        "dialbridge did not become healthy"
    );
    child
}

async fn call(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url).bearer_auth(KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Connects `acme` with an API key of the in-process emulator's first company.
async fn connect(base: &str) {
    let (_, companies) = call(
        reqwest::Method::GET,
        format!("{base}/emulator/_control/companies"),
        None,
    )
    .await;
    let (_, key) = call(
        reqwest::Method::POST,
        format!("{base}/emulator/_control/api-keys"),
        Some(json!({ "company_id": companies[0]["id"] })),
    )
    .await;
    call(
        reqwest::Method::PUT,
        format!("{base}/api/v1/accounts/acme"),
        Some(json!({})),
    )
    .await;
    let (status, body) = call(
        reqwest::Method::PUT,
        format!("{base}/api/v1/accounts/acme/connection"),
        Some(json!({ "auth_type": "api_key", "api_key": key["api_key"], "environment": "custom" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn save_and_enable(base: &str, key: &str, definition: Value) {
    let (status, body) = call(
        reqwest::Method::PUT,
        format!("{base}/api/v1/workflows/{key}"),
        Some(definition),
    )
    .await;
    assert!(status == 201 || status == 200, "{body}");
    let (status, body) = call(
        reqwest::Method::PUT,
        format!("{base}/api/v1/accounts/acme/workflows/{key}"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn start(base: &str, key: &str) -> String {
    let (status, body) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/accounts/acme/workflows/{key}/executions"),
        Some(json!({ "input": { "first": "Ada" } })),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    body["execution_id"].as_str().unwrap().to_owned()
}

/// How the killed execution starts: through the API (queued, then claimed), or by a vendor
/// event (started at ingest: stored leased to the process in the event's commit).
#[derive(Clone, Copy)]
enum Start {
    Api,
    Event,
}

impl Start {
    fn trigger(self) -> Value {
        match self {
            Start::Api => json!({ "type": "api" }),
            Start::Event => json!({ "type": "event", "event": "person.added" }),
        }
    }

    async fn start(self, base: &str, key: &str) -> String {
        match self {
            Start::Api => start(base, key).await,
            Start::Event => {
                let (status, body) = call(
                    reqwest::Method::POST,
                    format!("{base}/api/v1/accounts/acme/events/person.added"),
                    Some(json!({ "first": "Ada" })),
                )
                .await;
                assert_eq!(status, 202, "{body}");
                body["executions"][0].as_str().unwrap().to_owned()
            }
        }
    }
}

async fn wait_status(base: &str, id: &str, wanted: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let (_, execution) = call(
            reqwest::Method::GET,
            format!("{base}/api/v1/executions/{id}"),
            None,
        )
        .await;
        if execution["status"] == wanted {
            return execution;
        }
        last = execution;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("execution {id} never became {wanted}: {last:#}");
}

fn kill(child: &Child) {
    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
}

/// A receiver for the `http` step that blocks its first call until told to answer.
#[derive(Clone, Default)]
struct Blocker {
    calls: Arc<Mutex<u32>>,
    arrived: Arc<Notify>,
}

async fn serve_blocker(blocker: Blocker) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/hook",
        post(move || {
            let blocker = blocker.clone();
            async move {
                let first = {
                    let mut calls = blocker.calls.lock().unwrap();
                    *calls += 1;
                    *calls == 1
                };
                blocker.arrived.notify_one();
                if first {
                    // Never answers: the process is killed while this step runs.
                    std::future::pending::<()>().await;
                }
                axum::Json(json!({ "ok": true }))
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hook")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_process_resumes_after_the_last_finished_step() {
    resumes_after_the_last_finished_step(Start::Api).await;
}

/// An execution started at ingest counts as claimed once: the claim after the restart resumes
/// it from its journal instead of running its first step again (a second contact).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_execution_started_at_ingest_resumes_after_the_last_finished_step() {
    resumes_after_the_last_finished_step(Start::Event).await;
}

async fn resumes_after_the_last_finished_step(how: Start) {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let blocker = Blocker::default();
    let hook = serve_blocker(blocker.clone()).await;

    let first = serve(dir.path(), &listen).await;
    connect(&base).await;
    save_and_enable(
        &base,
        "two-steps",
        json!({
            "name": "Two steps",
            "trigger": how.trigger(),
            "steps": [
                { "id": "contact", "action": "create_contact", "input": { "first_name": "{{ event.first }}", "last_name": "Lovelace" } },
                { "id": "notify", "http": { "method": "POST", "url": hook, "body": { "contact": "{{ steps.contact.output.id }}" } } },
                { "id": "done", "set": { "ok": true } },
            ],
        }),
    )
    .await;
    let arrived = blocker.arrived.notified();
    let id = how.start(&base, "two-steps").await;
    tokio::time::timeout(Duration::from_secs(20), arrived)
        .await
        .expect("the http step started");
    kill(&first);
    drop(first);

    let _second = serve(dir.path(), &listen).await;
    let execution = wait_status(&base, &id, "succeeded").await;
    let steps = execution["steps"].as_array().unwrap();
    let contact = &steps[0];
    assert_eq!(contact["id"], "contact");
    assert_eq!(
        contact["attempts"], 1,
        "the finished step was not repeated: {execution:#}"
    );
    assert_eq!(steps[1]["attempts"], 2, "the interrupted step ran again");
    assert_eq!(*blocker.calls.lock().unwrap(), 2);
    // The new process's emulator never saw a second contact creation.
    let (_, log) = call(
        reqwest::Method::GET,
        format!("{base}/emulator/_control/requests"),
        None,
    )
    .await;
    assert!(
        !log.as_array()
            .unwrap()
            .iter()
            .any(|r| r["path"] == "/api/v2/contacts"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delay_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let first = serve(dir.path(), &listen).await;
    connect(&base).await;
    save_and_enable(
        &base,
        "later",
        json!({
            "name": "Later",
            "trigger": { "type": "api" },
            "steps": [
                { "id": "before", "set": { "at": "{{ execution.started_at }}" } },
                { "id": "wait", "delay": "3s" },
                { "id": "after", "set": { "done": true } },
            ],
        }),
    )
    .await;
    let id = start(&base, "later").await;
    // Wait until the delay is journaled, then stop the process for good.
    let mut journaled = None;
    for _ in 0..200 {
        let (_, execution) = call(
            reqwest::Method::GET,
            format!("{base}/api/v1/executions/{id}"),
            None,
        )
        .await;
        if let Some(wake_at) = execution["steps"][1]["wake_at"].as_str() {
            assert_eq!(execution["steps"][1]["id"], "wait");
            journaled = Some(wake_at.to_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wake_at = journaled.expect("the delay was journaled within 10 s");
    kill(&first);
    drop(first);

    let _second = serve(dir.path(), &listen).await;
    let execution = wait_status(&base, &id, "succeeded").await;
    let wait = &execution["steps"][1];
    assert_eq!(wait["id"], "wait");
    assert_eq!(wait["status"], "succeeded");
    assert_eq!(wait["attempts"], 1, "the delay ran once: {execution:#}");
    assert_eq!(
        wait["wake_at"], wake_at,
        "the delay was not restarted from zero"
    );
    let after = &execution["steps"][2];
    assert_eq!(after["id"], "after");
    assert_eq!(after["output"], json!({ "done": true }));
    let started = instant(&after["started_at"]);
    assert!(
        started >= instant(&json!(wake_at)),
        "the step after the delay started at {started}, before its end at {wake_at}"
    );
    let before = &execution["steps"][0];
    assert_eq!(before["attempts"], 1);
}

/// An RFC 3339 instant of the API as milliseconds since the epoch.
fn instant(value: &Value) -> u128 {
    let text = value.as_str().expect("an instant");
    humantime::parse_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis()
}
