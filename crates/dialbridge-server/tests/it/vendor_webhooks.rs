//! dialbridge's own webhooks to the vendor, received by a small HTTP server of the test's:
//! the endpoints API, what is announced when (connections created, expired and deleted;
//! executions finished), Standard Webhooks signatures checked by recomputing them here, event
//! filters, and retries with backoff up to giving up. (The servers run with a 1 ms retry base,
//! so the 5 s … 2 h schedule takes milliseconds to seconds.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use crate::support::{Backend, Options, TestApp};

// ---- the vendor's receiver ---------------------------------------------------------------

#[derive(Debug, Clone)]
pub(crate) struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
    /// Unix seconds when it arrived.
    at: i64,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .expect("ascii header")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Clone, Default)]
struct ReceiverState {
    log: Arc<Mutex<Vec<Received>>>,
    /// Requests still to answer with a 500.
    failures_left: Arc<AtomicUsize>,
}

/// Records every request; answers 500 to the first `fail_first`, then 200.
pub(crate) struct Receiver {
    pub(crate) url: String,
    state: ReceiverState,
    shutdown: CancellationToken,
}

impl Receiver {
    pub(crate) async fn start(fail_first: usize) -> Receiver {
        let state = ReceiverState::default();
        state.failures_left.store(fail_first, Ordering::SeqCst);
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        Receiver {
            url,
            state,
            shutdown,
        }
    }

    /// From now on every request is answered 200.
    fn recover(&self) {
        self.state.failures_left.store(0, Ordering::SeqCst);
    }

    fn requests(&self, path: &str) -> Vec<Received> {
        let log = self.state.log.lock().unwrap();
        log.iter().filter(|r| r.path == path).cloned().collect()
    }

    /// Waits until `path` received at least `n` requests; answers them all.
    pub(crate) async fn wait_for(&self, path: &str, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.requests(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{path} received {} requests, expected {n}: {got:#?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (AxumStatus, &'static str) {
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    state.log.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        headers,
        body,
        at,
    });
    let failing = state
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        (AxumStatus::INTERNAL_SERVER_ERROR, "receiver is down")
    } else {
        (AxumStatus::OK, "thanks")
    }
}

// ---- Standard Webhooks verification, independent of dialbridge's code --------------------

/// Whether one of the `webhook-signature` entries is `v1,` + base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` under the base64-decoded `whsec_` secret.
fn signature_valid(secret: &str, id: &str, timestamp: &str, body: &[u8], signatures: &str) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    signatures.split(' ').any(|s| s == expected)
}

/// Checks the headers and signature of a received webhook; answers its JSON payload.
pub(crate) fn verified(secret: &str, request: &Received) -> Value {
    assert_eq!(request.header("content-type"), "application/json");
    let id = request.header("webhook-id");
    assert!(id.starts_with("msg_"), "{id}");
    let timestamp = request.header("webhook-timestamp");
    let sent: i64 = timestamp.parse().expect("unix seconds");
    // Signed afresh for each attempt: the timestamp is the moment it was sent.
    assert!(
        (request.at - sent).abs() <= 5,
        "timestamp {sent} is not when it arrived ({})",
        request.at
    );
    let signatures = request.header("webhook-signature");
    assert!(
        signature_valid(secret, id, timestamp, &request.body, signatures),
        "the signature does not verify: {signatures}"
    );
    // The signature covers the body, the id and the timestamp.
    let mut tampered = request.body.to_vec();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    assert!(!signature_valid(
        secret, id, timestamp, &tampered, signatures
    ));
    assert!(!signature_valid(
        secret,
        "msg_other",
        timestamp,
        &request.body,
        signatures
    ));
    let later = (sent + 1).to_string();
    assert!(!signature_valid(
        secret,
        id,
        &later,
        &request.body,
        signatures
    ));
    let payload = request.json();
    let at = payload["timestamp"]
        .as_str()
        .expect("an RFC 3339 timestamp");
    assert!(at.ends_with('Z') && at.contains('T'), "{at}");
    payload
}

// ---- helpers -----------------------------------------------------------------------------

/// Registers an endpoint; answers its secret.
async fn endpoint(app: &TestApp, id: &str, url: &str, events: Option<&[&str]>) -> String {
    let mut body = json!({ "url": url });
    if let Some(events) = events {
        body["events"] = json!(events);
    }
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/webhook-endpoints/{id}"),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["secret"].as_str().expect("secret").to_owned()
}

async fn deliveries(app: &TestApp, id: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/api/v1/webhook-endpoints/{id}/deliveries"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().expect("items").clone()
}

/// Waits until the endpoint's newest delivery has left `pending`; answers it.
async fn settled(app: &TestApp, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let items = deliveries(app, id).await;
        if let Some(newest) = items.first() {
            if newest["status"] != "pending" {
                return newest.clone();
            }
        }
        assert!(Instant::now() < deadline, "still pending: {items:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until none of endpoint `id`'s deliveries is pending (a settled delivery is never
/// sent again), then checks that `path` received exactly the attempts they record, each
/// under its delivery's id. Announcements are stored in the write that causes them, so the
/// list is complete once that request was answered: nothing more can be sent.
async fn quiet(app: &TestApp, receiver: &Receiver, id: &str, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(40);
    let items = loop {
        let items = deliveries(app, id).await;
        if items.iter().all(|d| d["status"] != "pending") {
            break items;
        }
        assert!(Instant::now() < deadline, "still pending: {items:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let got = receiver.requests(path);
    for delivery in &items {
        let sent = got
            .iter()
            .filter(|r| r.header("webhook-id") == delivery["id"])
            .count();
        assert_eq!(
            Some(sent as u64),
            delivery["attempts"].as_u64(),
            "{path} received each attempt of {delivery:#} once"
        );
    }
    let recorded: u64 = items.iter().map(|d| d["attempts"].as_u64().unwrap()).sum();
    assert_eq!(
        got.len() as u64,
        recorded,
        "{path} received only recorded attempts"
    );
}

// ---- the endpoints API -------------------------------------------------------------------

async fn endpoints_are_managed_with_their_secret_sealed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let path = "/api/v1/webhook-endpoints/crm";
    let (status, created) = app
        .call(
            Method::PUT,
            path,
            Some(json!({"url": "https://vendor.example/hooks", "events": ["connection.created"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["id"], "crm");
    assert_eq!(created["url"], "https://vendor.example/hooks");
    assert_eq!(created["events"], json!(["connection.created"]));
    let secret = created["secret"].as_str().unwrap().to_owned();
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64");
    assert_eq!(key.len(), 24);
    for field in ["created_at", "updated_at"] {
        assert!(created[field].as_str().unwrap().ends_with('Z'), "{created}");
    }

    // Replacing keeps the secret and created_at; absent events means every event.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (status, updated) = app
        .call(
            Method::PUT,
            path,
            Some(json!({"url": "http://127.0.0.1:9/new"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["secret"], secret.as_str());
    assert_eq!(updated["created_at"], created["created_at"]);
    assert_ne!(updated["updated_at"], created["updated_at"]);
    assert_eq!(updated["url"], "http://127.0.0.1:9/new");
    assert_eq!(updated["events"], json!([]));

    let (status, one) = app.get(path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one, updated);
    let (status, list) = app.get("/api/v1/webhook-endpoints").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!({ "items": [updated] }));

    // At rest the secret is sealed under the master key.
    let stored = app
        .platform
        .store()
        .get_endpoint("crm")
        .await
        .unwrap()
        .unwrap();
    let needle = secret.as_bytes();
    assert!(!stored.secret.0.windows(needle.len()).any(|w| w == needle));
    assert_eq!(app.cipher().open(&stored.secret).unwrap().expose(), secret);

    // Invalid input names the field.
    for (body, field) in [
        (json!({"url": "/relative"}), "url"),
        (json!({"url": "ftp://vendor.example/x"}), "url"),
        (json!({"events": []}), "url"),
        (
            json!({"url": "https://vendor.example", "events": ["call.ringing"]}),
            "events",
        ),
    ] {
        let (status, error) = app.call(Method::PUT, path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert_eq!(error["error"]["code"], "invalid_input");
        assert_eq!(error["error"]["details"][0]["field"], field, "{error}");
    }
    let (status, error) = app
        .call(
            Method::PUT,
            "/api/v1/webhook-endpoints/has.dot",
            Some(json!({"url": "https://vendor.example"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["details"][0]["field"], "id");
    let (status, error) = app
        .get("/api/v1/webhook-endpoints/crm/deliveries?limit=0")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["details"][0]["field"], "limit");
    assert!(deliveries(&app, "crm").await.is_empty());

    let (status, _) = app.call(Method::DELETE, path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (method, path) in [
        (Method::GET, path.to_owned()),
        (Method::DELETE, path.to_owned()),
        (Method::GET, format!("{path}/deliveries")),
    ] {
        let (status, error) = app.call(method, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error["error"]["code"], "not_found");
    }
    let (status, list) = app.get("/api/v1/webhook-endpoints").await;
    assert_eq!((status, list), (StatusCode::OK, json!({"items": []})));
    app.shutdown().await;
}

// ---- connections -------------------------------------------------------------------------

async fn connections_are_announced_signed_to_subscribed_endpoints(backend: Backend) {
    let receiver = Receiver::start(0).await;
    let app = TestApp::spawn(backend).await;
    app.configure_app().await;
    app.create_account("acme").await;
    let secret = endpoint(&app, "all", &format!("{}/all", receiver.url), None).await;
    endpoint(
        &app,
        "failures",
        &format!("{}/failures", receiver.url),
        Some(&["execution.failed"]),
    )
    .await;

    app.connect_oauth("acme").await;
    let company = app.connection("acme").await["dialpad_company_id"].clone();
    assert!(company.is_string(), "{company}");
    let got = receiver.wait_for("/all", 1).await;
    assert_eq!(got.len(), 1);
    let payload = verified(&secret, &got[0]);
    assert_eq!(payload["type"], "connection.created");
    assert_eq!(
        payload["data"],
        json!({"account_id": "acme", "auth_type": "oauth", "dialpad_company_id": company})
    );

    // The log has it, delivered on the first attempt, under the id the receiver saw (the
    // attempt is recorded just after the receiver answered: wait for it to settle).
    let delivery = &settled(&app, "all", Duration::from_secs(10)).await;
    let log = deliveries(&app, "all").await;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(delivery["id"], got[0].header("webhook-id"));
    assert_eq!(delivery["event_type"], "connection.created");
    assert_eq!(delivery["status"], "delivered");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["last_status"], 200);
    assert_eq!(delivery["last_error"], Value::Null);
    assert_eq!(delivery["next_attempt_at"], Value::Null);
    assert!(delivery["delivered_at"].is_string());
    assert_eq!(delivery["payload"], payload);

    // Disconnecting announces the deletion once; a second disconnect and deleting the
    // account afterwards announce nothing more.
    let (status, body) = app
        .call(Method::DELETE, "/api/v1/accounts/acme/connection", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got = receiver.wait_for("/all", 2).await;
    let payload = verified(&secret, &got[1]);
    assert_eq!(payload["type"], "connection.deleted");
    assert_eq!(payload["data"]["account_id"], "acme");
    assert_eq!(payload["data"]["auth_type"], "oauth");
    assert_eq!(payload["data"]["dialpad_company_id"], company);
    app.call(Method::DELETE, "/api/v1/accounts/acme/connection", None)
        .await;
    let (status, _) = app
        .call(Method::DELETE, "/api/v1/accounts/acme", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    quiet(&app, &receiver, "all", "/all").await;
    assert_eq!(receiver.requests("/all").len(), 2);
    let log = deliveries(&app, "all").await;
    let types: Vec<&str> = log
        .iter()
        .map(|d| d["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["connection.deleted", "connection.created"],
        "newest first"
    );

    // The endpoint filtered to execution.failed heard none of it.
    assert!(receiver.requests("/failures").is_empty());
    assert!(deliveries(&app, "failures").await.is_empty());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_connected_account_announces_the_deletion() {
    let receiver = Receiver::start(0).await;
    let app = TestApp::connected("acme").await;
    let secret = endpoint(&app, "all", &format!("{}/all", receiver.url), None).await;
    let (status, _) = app
        .call(Method::DELETE, "/api/v1/accounts/acme", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let got = receiver.wait_for("/all", 1).await;
    let payload = verified(&secret, &got[0]);
    assert_eq!(payload["type"], "connection.deleted");
    assert_eq!(payload["data"]["account_id"], "acme");
    quiet(&app, &receiver, "all", "/all").await;
    assert_eq!(receiver.requests("/all").len(), 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_dialpad_no_longer_accepts_is_announced_as_expired() {
    let receiver = Receiver::start(0).await;
    let app = TestApp::connected("acme").await;
    let secret = endpoint(
        &app,
        "expiry",
        &format!("{}/expiry", receiver.url),
        Some(&["connection.expired"]),
    )
    .await;
    let company = app.connection("acme").await["dialpad_company_id"].clone();
    // The customer uninstalls the app at Dialpad; the next use finds out.
    let (status, _) = app
        .emulator_call(
            Method::POST,
            &format!("/_control/companies/{}/revoke", company.as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.check(&app.base, "acme").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let got = receiver.wait_for("/expiry", 1).await;
    let payload = verified(&secret, &got[0]);
    assert_eq!(payload["type"], "connection.expired");
    assert_eq!(payload["data"]["account_id"], "acme");
    assert_eq!(payload["data"]["auth_type"], "oauth");
    assert_eq!(payload["data"]["dialpad_company_id"], company);
    assert!(payload["data"]["reason"].is_string(), "{payload}");
    quiet(&app, &receiver, "expiry", "/expiry").await;
    assert_eq!(receiver.requests("/expiry").len(), 1);
    app.shutdown().await;
}

// ---- retries -----------------------------------------------------------------------------

async fn a_refusing_endpoint_is_retried_until_it_accepts(backend: Backend) {
    let receiver = Receiver::start(2).await;
    let app = TestApp::spawn(backend).await;
    app.configure_app().await;
    app.create_account("acme").await;
    let secret = endpoint(&app, "flaky", &format!("{}/flaky", receiver.url), None).await;
    app.connect_oauth("acme").await;

    let got = receiver.wait_for("/flaky", 3).await;
    let delivery = settled(&app, "flaky", Duration::from_secs(10)).await;
    assert_eq!(delivery["status"], "delivered", "{delivery}");
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["last_status"], 200);
    assert_eq!(delivery["last_error"], Value::Null);
    // Every attempt is the same message (same webhook-id), each signed afresh.
    assert_eq!(got.len(), 3);
    for request in &got {
        assert_eq!(request.header("webhook-id"), delivery["id"]);
        assert_eq!(verified(&secret, request), delivery["payload"]);
    }
    quiet(&app, &receiver, "flaky", "/flaky").await;
    assert_eq!(receiver.requests("/flaky").len(), 3);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_that_keeps_refusing_is_given_up_after_eight_attempts() {
    let receiver = Receiver::start(usize::MAX).await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.configure_app().await;
    app.create_account("acme").await;
    endpoint(&app, "down", &format!("{}/down", receiver.url), None).await;
    app.connect_oauth("acme").await;

    // Backoff 5, 30, 120, 600, 1800, 3600, 7200 ms with the test's 1 ms base: about 13 s.
    let started = Instant::now();
    receiver.wait_for("/down", 2).await;
    let pending = deliveries(&app, "down").await;
    assert_eq!(pending[0]["status"], "pending", "{pending:#?}");
    assert!(pending[0]["next_attempt_at"].is_string());
    assert!(pending[0]["attempts"].as_i64().unwrap() >= 2);
    assert_eq!(pending[0]["last_status"], 500);
    let delivery = settled(&app, "down", Duration::from_secs(40)).await;
    assert!(
        started.elapsed() >= Duration::from_secs(12),
        "the schedule was not followed: {:?}",
        started.elapsed()
    );
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert_eq!(delivery["attempts"], 8);
    assert_eq!(delivery["last_status"], 500);
    assert_eq!(
        delivery["last_error"],
        "the endpoint answered 500: receiver is down"
    );
    assert_eq!(delivery["next_attempt_at"], Value::Null);
    assert_eq!(delivery["delivered_at"], Value::Null);
    quiet(&app, &receiver, "down", "/down").await;
    assert_eq!(receiver.requests("/down").len(), 8);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_endpoint_is_paused_by_its_circuit_while_the_others_get_everything() {
    const MESSAGES: usize = 30;
    let dead = Receiver::start(usize::MAX).await;
    let alive = Receiver::start(0).await;
    // A 100 ms unit: retries after 0.5 s, 3 s, …; the circuit opens for 3 s.
    let options = Options {
        serve_args: vec!["--webhook-retry-base-ms".into(), "100".into()],
        ..Options::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, options).await;
    app.create_account("acme").await;
    endpoint(&app, "dead", &format!("{}/dead", dead.url), None).await;
    endpoint(&app, "alive", &format!("{}/alive", alive.url), None).await;
    put_workflow(&app, "fine", json!([{"id": "v", "set": {"a": "1"}}])).await;
    for _ in 0..MESSAGES {
        run_workflow(&app, "fine").await;
    }

    alive.wait_for("/alive", MESSAGES).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let circuit = loop {
        let (status, body) = app.get("/api/v1/webhook-endpoints/dead").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["circuit"]["state"] == "open" {
            break body["circuit"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "the circuit never opened: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        circuit["failures_in_a_row"].as_i64().unwrap() >= 5,
        "{circuit}"
    );
    assert!(circuit["open_until"].is_string(), "{circuit}");
    // At most 8 attempts were under way when the failures began, and at most 5 more were
    // started before the fifth failure was counted: the rest wait with their attempts unspent.
    let waiting = deliveries(&app, "dead")
        .await
        .iter()
        .filter(|d| d["status"] == "pending" && d["attempts"] == 0)
        .count();
    assert!(
        waiting >= MESSAGES - 13,
        "only {waiting} messages were held back by the open circuit"
    );
    let (_, alive_endpoint) = app.get("/api/v1/webhook-endpoints/alive").await;
    assert_eq!(
        alive_endpoint["circuit"],
        json!({"state": "closed", "failures_in_a_row": 0, "open_until": null})
    );

    // The endpoint comes back: a probe succeeds once the pause is over, the circuit closes
    // and every waiting message goes out.
    dead.recover();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let items = deliveries(&app, "dead").await;
        let delivered = items.iter().filter(|d| d["status"] == "delivered").count();
        if delivered == MESSAGES {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{delivered} of {MESSAGES} delivered: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, body) = app.get("/api/v1/webhook-endpoints/dead").await;
    assert_eq!(
        body["circuit"],
        json!({"state": "closed", "failures_in_a_row": 0, "open_until": null})
    );
    app.shutdown().await;
}

// ---- executions --------------------------------------------------------------------------

async fn put_workflow(app: &TestApp, key: &str, steps: Value) {
    let definition = json!({"name": key, "trigger": {"type": "api"}, "steps": steps});
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/workflows/{key}"),
            Some(definition),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/accounts/acme/workflows/{key}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn run_workflow(app: &TestApp, key: &str) -> String {
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/v1/accounts/acme/workflows/{key}/executions"),
            Some(json!({"input": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["execution_id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finished_executions_are_announced() {
    let receiver = Receiver::start(0).await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_account("acme").await;
    let all = endpoint(&app, "all", &format!("{}/all", receiver.url), None).await;
    let failures = endpoint(
        &app,
        "failures",
        &format!("{}/failures", receiver.url),
        Some(&["execution.failed"]),
    )
    .await;
    put_workflow(&app, "fine", json!([{"id": "v", "set": {"a": "1"}}])).await;
    // No host is allowed for http steps, so this one fails.
    put_workflow(
        &app,
        "broken",
        json!([{"id": "call", "http": {"method": "get", "url": "https://not-allowed.example/"}}]),
    )
    .await;

    let fine = run_workflow(&app, "fine").await;
    let succeeded = verified(&all, &receiver.wait_for("/all", 1).await[0]);
    assert_eq!(succeeded["type"], "execution.succeeded");
    assert_eq!(
        succeeded["data"],
        json!({
            "execution_id": fine,
            "workflow": "fine",
            "version": 1,
            "account_id": "acme",
            "status": "succeeded",
            "error": null,
        })
    );

    let broken = run_workflow(&app, "broken").await;
    let failed = verified(&failures, &receiver.wait_for("/failures", 1).await[0]);
    assert_eq!(failed["type"], "execution.failed");
    assert_eq!(failed["data"]["execution_id"], broken.as_str());
    assert_eq!(failed["data"]["workflow"], "broken");
    assert_eq!(failed["data"]["status"], "failed");
    assert!(!failed["data"]["error"].is_null(), "{failed}");
    let got = receiver.wait_for("/all", 2).await;
    assert_eq!(verified(&all, &got[1]), failed);
    quiet(&app, &receiver, "failures", "/failures").await;
    quiet(&app, &receiver, "all", "/all").await;
    assert_eq!(receiver.requests("/failures").len(), 1);
    assert_eq!(receiver.requests("/all").len(), 2);
    app.shutdown().await;
}

on_both_backends!(
    endpoints_are_managed_with_their_secret_sealed,
    connections_are_announced_signed_to_subscribed_endpoints,
    a_refusing_endpoint_is_retried_until_it_accepts,
);

// ---- a test message, and a failed delivery queued again ----------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_test_message_that_failed_is_retried_and_delivered() {
    let receiver = Receiver::start(usize::MAX).await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    // Subscribed to nothing it will see here: a test message goes whatever the events.
    let secret = endpoint(
        &app,
        "backend",
        &format!("{}/backend", receiver.url),
        Some(&["execution.failed"]),
    )
    .await;

    let (status, queued) = app
        .call(Method::POST, "/api/v1/webhook-endpoints/backend/test", None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["event_type"], "webhook.test");
    assert_eq!(queued["status"], "pending");
    let id = queued["id"].as_str().unwrap().to_owned();
    let got = receiver.wait_for("/backend", 1).await;
    let payload = verified(&secret, &got[0]);
    assert_eq!(payload["type"], "webhook.test");
    assert_eq!(payload["data"], json!({ "endpoint_id": "backend" }));

    // Refused eight times: failed. Queued again while it still refuses is one more attempt.
    let failed = settled(&app, "backend", Duration::from_secs(40)).await;
    assert_eq!(
        (failed["id"].as_str(), failed["status"].as_str()),
        (Some(id.as_str()), Some("failed"))
    );
    let retry = format!("/api/v1/webhook-endpoints/backend/deliveries/{id}/retry");
    let (status, body) = app.call(Method::POST, &retry, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["attempts"].as_i64()),
        (Some("pending"), Some(8))
    );
    let again = settled(&app, "backend", Duration::from_secs(10)).await;
    assert_eq!(
        (again["status"].as_str(), again["attempts"].as_i64()),
        (Some("failed"), Some(9))
    );

    // Once the endpoint accepts, a retry delivers the same message.
    receiver.recover();
    let (status, body) = app.call(Method::POST, &retry, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let delivered = settled(&app, "backend", Duration::from_secs(10)).await;
    assert_eq!(delivered["status"], "delivered", "{delivered}");
    assert_eq!(delivered["attempts"], 10);
    let got = receiver.requests("/backend");
    assert_eq!(got.len(), 10);
    for request in &got {
        assert_eq!(
            request.header("webhook-id"),
            id,
            "the same message each time"
        );
        assert_eq!(verified(&secret, request), payload);
    }

    // Only a failed delivery is queued again; unknown ones are named.
    let (status, body) = app.call(Method::POST, &retry, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("delivered"),
        "{body}"
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/webhook-endpoints/backend/deliveries/msg_nope/retry",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/v1/webhook-endpoints/other/deliveries/{id}/retry"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app
        .call(Method::POST, "/api/v1/webhook-endpoints/other/test", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    app.shutdown().await;
}
