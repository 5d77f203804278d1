//! The executor's promises, each with the executor set so that only the mechanism under test
//! can keep it: a run longer than its lease keeps its claim (renewal), new work and a delay's
//! wake-up start without the fallback look (signals and timers), and one busy account neither
//! exceeds its concurrency nor starves another (turns).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::Uri;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{Backend, Options, TestApp};
use crate::workflows::wait_finished;

/// What the slow server saw of one path's requests.
#[derive(Debug, Clone, Default)]
struct Seen {
    requests: usize,
    in_flight: usize,
    most_in_flight: usize,
    /// Requests whose caller went away before they were answered.
    abandoned: usize,
}

/// A server on loopback that answers each request after `?ms=` milliseconds and counts, per
/// path, the requests and how many were in flight at once.
#[derive(Clone, Default)]
struct SlowServer {
    seen: Arc<Mutex<HashMap<String, Seen>>>,
}

impl SlowServer {
    async fn start() -> (SlowServer, String) {
        let server = SlowServer::default();
        let app = axum::Router::new()
            .fallback(answer_slowly)
            .with_state(server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (server, url)
    }

    fn seen(&self, path: &str) -> Seen {
        let seen = self.seen.lock().unwrap();
        seen.get(path).cloned().unwrap_or_default()
    }
}

async fn answer_slowly(
    State(server): State<SlowServer>,
    uri: Uri,
    Query(query): Query<HashMap<String, u64>>,
) -> axum::Json<Value> {
    let path = uri.path().to_owned();
    {
        let mut seen = server.seen.lock().unwrap();
        // Each path's, and `*`: every path's together.
        for key in [path.as_str(), "*"] {
            let seen = seen.entry(key.to_owned()).or_default();
            seen.requests += 1;
            seen.in_flight += 1;
            seen.most_in_flight = seen.most_in_flight.max(seen.in_flight);
        }
    }
    // Dropped with the handler: unanswered if the caller went away first.
    let mut answered = Answered {
        server: server.clone(),
        path,
        done: false,
    };
    let ms = query.get("ms").copied().unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    answered.done = true;
    axum::Json(json!({ "ok": true }))
}

/// Counts a request out of flight when its handler ends, answered or abandoned.
struct Answered {
    server: SlowServer,
    path: String,
    done: bool,
}

impl Drop for Answered {
    fn drop(&mut self) {
        let mut seen = self.server.seen.lock().unwrap();
        for key in [self.path.as_str(), "*"] {
            let seen = seen.get_mut(key).unwrap();
            seen.in_flight -= 1;
            if !self.done {
                seen.abandoned += 1;
            }
        }
    }
}

/// A `serve` whose executor runs with `flags`, `http` steps allowed to loopback, and `accounts`
/// connected.
async fn app_with(flags: &[&str], accounts: &[&str]) -> TestApp {
    let serve_args = ["--http-allowed-hosts", "127.0.0.1"]
        .iter()
        .chain(flags)
        .map(|flag| flag.to_string())
        .collect();
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            serve_args,
            ..Options::default()
        },
    )
    .await;
    app.configure_app().await;
    for account in accounts {
        app.create_account(account).await;
        app.connect_oauth(account).await;
    }
    app
}

/// Saves workflow `key` and enables it for `accounts`. Its trigger is the vendor event named
/// `key`; the API starts an enabled workflow whatever its trigger.
async fn save(app: &TestApp, key: &str, steps: Value, accounts: &[&str]) {
    let trigger = json!({ "type": "event", "event": key });
    let definition = json!({ "name": key, "trigger": trigger, "steps": steps });
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/workflows/{key}"),
            Some(definition),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for account in accounts {
        let path = format!("/api/v1/accounts/{account}/workflows/{key}");
        let (status, body) = app.call(Method::PUT, &path, Some(json!({}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

/// Starts workflow `key` for `account`; answers the execution's id.
async fn start(app: &TestApp, account: &str, key: &str) -> String {
    let path = format!("/api/v1/accounts/{account}/workflows/{key}/executions");
    let (status, started) = app.call(Method::POST, &path, Some(json!({}))).await;
    assert!(status.is_success(), "{status} {started}");
    started["execution_id"].as_str().unwrap().to_owned()
}

/// How a test's executions start: through the API (stored queued, then claimed), or by the
/// vendor event of the workflow's trigger (started at ingest when the account has room).
#[derive(Clone, Copy, Debug)]
enum Start {
    Api,
    Event,
}

impl Start {
    async fn start(self, app: &TestApp, account: &str, key: &str) -> String {
        match self {
            Start::Api => start(app, account, key).await,
            Start::Event => {
                let path = format!("/api/v1/accounts/{account}/events/{key}");
                let (status, body) = app.call(Method::POST, &path, Some(json!({}))).await;
                assert_eq!(status, StatusCode::ACCEPTED, "{body}");
                body["executions"][0].as_str().unwrap().to_owned()
            }
        }
    }
}

/// Starts workflow `key` for `account` and waits for it to succeed; answers the execution.
async fn run_ok(app: &TestApp, account: &str, key: &str) -> Value {
    let id = start(app, account, key).await;
    let done = wait_finished(app, &id).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    done
}

/// An `http` step that waits `ms` at the slow server's `path`.
fn slow_step(id: &str, url: &str, path: &str, ms: u64) -> Value {
    json!({ "id": id, "http": { "method": "GET", "url": format!("{url}{path}?ms={ms}") } })
}

/// A step that takes three leases of one second: its process renews the claim while it runs,
/// so no one (this process's own executor included) takes the execution over and runs the
/// step again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_longer_than_its_lease_keeps_its_claim_and_runs_once() {
    let app = app_with(
        &["--execution-lease-secs", "1", "--execution-poll-ms", "100"],
        &["acme"],
    )
    .await;
    let (server, url) = SlowServer::start().await;
    save(
        &app,
        "long",
        json!([slow_step("call", &url, "/long", 3_000)]),
        &["acme"],
    )
    .await;
    let done = run_ok(&app, "acme", "long").await;
    assert_eq!(done["steps"][0]["attempts"], 1, "{done:#}");
    let seen = server.seen("/long");
    assert_eq!(
        seen.requests, 1,
        "the step ran again after its lease: {seen:?}"
    );
    app.shutdown().await;
}

/// With the fallback look an hour apart, new work runs because it is signalled, and a delay
/// wakes up because the executor keeps a timer for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_work_and_a_delays_wake_up_start_without_the_fallback_look() {
    let app = app_with(&["--execution-poll-ms", "3600000"], &["acme"]).await;
    save(
        &app,
        "now",
        json!([{ "id": "set", "set": { "x": 1 } }]),
        &["acme"],
    )
    .await;
    save(
        &app,
        "later",
        json!([{ "id": "wait", "delay": "1s" }, { "id": "after", "set": { "x": 2 } }]),
        &["acme"],
    )
    .await;
    for _ in 0..3 {
        run_ok(&app, "acme", "now").await;
    }
    let done = run_ok(&app, "acme", "later").await;
    assert_eq!(done["steps"][1]["output"], json!({ "x": 2 }), "{done:#}");
    app.shutdown().await;
}

/// Two workers, one each per account: a busy account runs its executions one at a time and
/// the other account's execution runs beside them, not after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_account_keeps_to_its_concurrency_and_does_not_starve_another() {
    busy_and_quiet(Start::Api).await;
}

/// The same with executions started by events, which start at ingest while their account has
/// room: the busy account's first one does, the others queue for claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_keep_a_busy_account_to_its_concurrency_and_do_not_starve_another() {
    busy_and_quiet(Start::Event).await;
}

async fn busy_and_quiet(how: Start) {
    let app = app_with(
        &["--execution-workers", "2", "--account-concurrency", "1"],
        &["busy", "quiet"],
    )
    .await;
    let (server, url) = SlowServer::start().await;
    save(
        &app,
        "busy",
        json!([slow_step("call", &url, "/busy", 600)]),
        &["busy"],
    )
    .await;
    save(
        &app,
        "quiet",
        json!([slow_step("call", &url, "/quiet", 0)]),
        &["quiet"],
    )
    .await;
    let mut busy = Vec::new();
    for _ in 0..5 {
        busy.push(how.start(&app, "busy", "busy").await);
    }
    let quiet = how.start(&app, "quiet", "quiet").await;
    let quiet = wait_finished(&app, &quiet).await;
    assert_eq!(quiet["status"], "succeeded", "{quiet:#}");
    let mut finished_after_quiet = 0;
    for id in &busy {
        let done = wait_finished(&app, id).await;
        assert_eq!(done["status"], "succeeded", "{done:#}");
        // RFC 3339 in UTC with the same precision: ordered as text.
        if done["finished_at"].as_str() > quiet["finished_at"].as_str() {
            finished_after_quiet += 1;
        }
    }
    let seen = server.seen("/busy");
    assert_eq!(seen.requests, 5, "{how:?}: {seen:?}");
    assert_eq!(
        seen.most_in_flight, 1,
        "{how:?}: the busy account ran more than one at once"
    );
    assert!(
        finished_after_quiet >= 3,
        "{how:?}: the quiet account's execution waited for the busy one's ({finished_after_quiet} of 5 after it)"
    );
    app.shutdown().await;
}

/// One worker, and an account whose Dialpad budget is spent (an 11th `get_call` in a minute,
/// over Dialpad's 10 a minute per company): its execution is handed back to wait, saying why,
/// and the one worker runs another account's execution meanwhile instead of holding it for the
/// minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_execution_waiting_for_dialpads_budget_gives_its_worker_to_others() {
    let app = app_with(&["--execution-workers", "1"], &["busy", "quiet"]).await;
    app.hold_dialpads_limits().await;
    // Whether the call exists does not matter: each look-up is a request Dialpad counts.
    let look_up =
        json!({ "id": "call", "action": "get_call", "input": { "id": 1 }, "on_error": "continue" });
    save(&app, "look-up", json!([look_up]), &["busy"]).await;
    save(
        &app,
        "quiet",
        json!([{ "id": "set", "set": { "x": 1 } }]),
        &["quiet"],
    )
    .await;
    for _ in 0..10 {
        run_ok(&app, "busy", "look-up").await;
    }
    let waiting = start(&app, "busy", "look-up").await;
    let path = format!("/api/v1/executions/{waiting}");
    crate::support::eventually("the 11th look-up waits for the budget", || async {
        let (_, execution) = app.get(&path).await;
        execution["steps"][0]["status"] == "waiting"
    })
    .await;
    let (_, execution) = app.get(&path).await;
    let step = &execution["steps"][0];
    assert_eq!(step["error"]["code"], "rate_limited", "{execution:#}");
    assert_eq!(step["attempts"], 0, "nothing was sent: {execution:#}");
    assert!(step["wake_at"].is_string(), "{execution:#}");
    // The worker is free: the other account's execution runs now, not after the minute.
    run_ok(&app, "quiet", "quiet").await;
    let (_, execution) = app.get(&path).await;
    assert_eq!(execution["steps"][0]["status"], "waiting", "{execution:#}");
    let (status, body) = app
        .call(Method::POST, &format!("{path}/cancel"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let done = wait_finished(&app, &waiting).await;
    assert_eq!(done["status"], "cancelled", "{done:#}");
    app.shutdown().await;
}

/// Two workflows enabled for one account, each with its own config: each execution's
/// templates see the config of its own workflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_execution_sees_its_own_workflows_config() {
    let app = app_with(&[], &["acme"]).await;
    let steps = json!([{ "id": "say", "set": { "said": "{{ config.greeting }}" } }]);
    for (key, greeting) in [("hello", "hello"), ("bye", "goodbye")] {
        let definition = json!({ "name": key, "trigger": { "type": "api" },
            "config": { "greeting": { "type": "string" } }, "steps": steps });
        let (status, body) = app
            .call(
                Method::PUT,
                &format!("/api/v1/workflows/{key}"),
                Some(definition),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let path = format!("/api/v1/accounts/acme/workflows/{key}");
        let config = json!({ "config": { "greeting": greeting } });
        let (status, body) = app.call(Method::PUT, &path, Some(config)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for (key, greeting) in [("hello", "hello"), ("bye", "goodbye")] {
        let done = run_ok(&app, "acme", key).await;
        assert_eq!(
            done["steps"][0]["output"],
            json!({ "said": greeting }),
            "{key}"
        );
    }
    app.shutdown().await;
}

/// What `GET /metrics` shows for the unlabelled counter `name`.
async fn counter(app: &TestApp, name: &str) -> u64 {
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await;
    let text = metrics.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// A workflow of `set` and `if` steps runs to its end before its event is answered, even while
/// the account's executor room is full and work waits for it: the event's answer names an
/// execution already stored finished, with its steps. One whose template needs more than the
/// small budget, and one that reaches outside, run in the executor as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_self_contained_workflow_runs_to_its_end_before_its_event_is_answered() {
    const AT_INGEST: &str = "dialbridge_executions_run_at_ingest_total";
    let (server, url) = SlowServer::start().await;
    let app = app_with(&["--account-concurrency", "1"], &["acme"]).await;
    let tally = json!([
        { "id": "seen", "set": { "n": "{{ event.n }}" } },
        { "id": "big", "if": "event.n > 1", "then": [{ "id": "note", "set": { "size": "big" } }] },
    ]);
    save(&app, "tally", tally, &["acme"]).await;
    let long = json!([{ "id": "digits", "set": { "all": "{% for i in range(2000) %}{{ i % 10 }}{% endfor %}" } }]);
    save(&app, "long", long, &["acme"]).await;
    let outside = json!([slow_step("call", &url, "/x", 1_000)]);
    save(&app, "outside", outside, &["acme"]).await;
    assert_eq!(counter(&app, AT_INGEST).await, 0);

    let post = |key: &'static str| {
        let app = &app;
        async move {
            let path = format!("/api/v1/accounts/acme/events/{key}");
            let (status, body) = app.call(Method::POST, &path, Some(json!({ "n": 2 }))).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
            body["executions"][0].as_str().unwrap().to_owned()
        }
    };
    // The account's one place runs the first of these for a second; the second waits for it.
    let outside = [post("outside").await, post("outside").await];
    let id = post("tally").await;
    let (_, execution) = app.get(&format!("/api/v1/executions/{id}")).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let steps: Vec<(&str, &str)> = execution["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("seen", "succeeded"),
            ("big", "succeeded"),
            ("big.note", "succeeded")
        ],
        "{execution:#}"
    );
    assert_eq!(execution["steps"][0]["output"]["n"], 2, "{execution:#}");
    assert_eq!(counter(&app, AT_INGEST).await, 1);

    let long = wait_finished(&app, &post("long").await).await;
    assert_eq!(long["status"], "succeeded", "{long:#}");
    let all = long["steps"][0]["output"]["all"].as_str().unwrap();
    assert_eq!(all.len(), 2000, "the executor ran it with the whole budget");
    for id in outside {
        let done = wait_finished(&app, &id).await;
        assert_eq!(done["status"], "succeeded", "{done:#}");
    }
    assert_eq!(
        server.seen("/x").most_in_flight,
        1,
        "one place for the account"
    );
    assert_eq!(counter(&app, AT_INGEST).await, 1, "neither ran at ingest");
    // Posted one after another, each of the four events had a commit of its own.
    let commits = counter(&app, "dialbridge_ingest_batch_events_count").await;
    assert_eq!(commits, 4, "one writer's commit per event");
}

/// Work this process was not told of (stored by another process whose signal was lost) is
/// found by the fallback look, every `--execution-poll-ms`, and runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn work_nobody_signalled_is_found_by_the_fallback_look() {
    let app = app_with(&["--execution-poll-ms", "200"], &["acme"]).await;
    save(
        &app,
        "now",
        json!([{ "id": "set", "set": { "x": 1 } }]),
        &["acme"],
    )
    .await;
    let id = run_ok(&app, "acme", "now").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let store = app.platform.store();
    let template = store.get_execution(&id).await.unwrap().unwrap();
    for n in 0..3 {
        // Each a while after the last look, and so after the one before it was found.
        let now = dialbridge_core::Timestamp::now();
        let unsignalled = dialbridge_core::ExecutionRecord {
            id: format!("{id}-unsignalled-{n}"),
            status: dialbridge_core::ExecutionStatus::Queued,
            error: None,
            run_at: now,
            lease_owner: None,
            lease_until: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
            ..template.clone()
        };
        store.insert_execution(&unsignalled).await.unwrap();
        let done = wait_finished(&app, &unsignalled.id).await;
        assert_eq!(done["status"], "succeeded", "{done:#}");
    }
    app.shutdown().await;
}

/// Cancelling an execution while its step runs stops the step at once (its HTTP request is
/// dropped) rather than when the step ends, and nothing after it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_a_running_execution_stops_its_step() {
    let app = app_with(&[], &["acme"]).await;
    let (server, url) = SlowServer::start().await;
    let steps = json!([
        slow_step("first", &url, "/first", 60_000),
        slow_step("second", &url, "/second", 0),
    ]);
    save(&app, "slow", steps, &["acme"]).await;
    let id = start(&app, "acme", "slow").await;
    crate::support::eventually("the step's request arrives", || async {
        server.seen("/first").requests == 1
    })
    .await;
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/v1/executions/{id}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    crate::support::eventually("the running step's request is dropped", || async {
        server.seen("/first").abandoned == 1
    })
    .await;
    let done = wait_finished(&app, &id).await;
    assert_eq!(done["status"], "cancelled", "{done:#}");
    assert_eq!(
        server.seen("/second").requests,
        0,
        "a step after the cancel ran"
    );
    app.shutdown().await;
}

/// `--execution-workers` bounds what runs at once in the process, whatever the accounts: one
/// worker, three accounts with work, never two executions at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_workers_bound_what_runs_at_once_across_accounts() {
    workers_bound(Start::Api).await;
}

/// The same with executions started by events: starting at ingest keeps to the workers too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_workers_bound_what_events_start_at_once_across_accounts() {
    workers_bound(Start::Event).await;
}

async fn workers_bound(how: Start) {
    let accounts = ["a", "b", "c"];
    let app = app_with(&["--execution-workers", "1"], &accounts).await;
    let (server, url) = SlowServer::start().await;
    save(
        &app,
        "slow",
        json!([slow_step("call", &url, "/slow", 200)]),
        &accounts,
    )
    .await;
    let mut started = Vec::new();
    for account in accounts {
        for _ in 0..2 {
            started.push(how.start(&app, account, "slow").await);
        }
    }
    for id in &started {
        let done = wait_finished(&app, id).await;
        assert_eq!(done["status"], "succeeded", "{done:#}");
    }
    let seen = server.seen("*");
    assert_eq!(seen.requests, 6, "{how:?}: {seen:?}");
    assert_eq!(
        seen.most_in_flight, 1,
        "{how:?}: more than one worker's worth ran at once"
    );
    app.shutdown().await;
}

/// On shutdown the executor claims nothing more but gives what runs its drain time: a step
/// under way ends and its outcome is recorded before the process stops, so after a restart
/// the execution is finished, its step run once, rather than waiting out its lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutting_down_lets_a_running_step_finish_and_records_it() {
    let mut app = app_with(&[], &["acme"]).await;
    let (server, url) = SlowServer::start().await;
    save(
        &app,
        "slow",
        json!([slow_step("call", &url, "/call", 1_500)]),
        &["acme"],
    )
    .await;
    let id = start(&app, "acme", "slow").await;
    crate::support::eventually("the step's request arrives", || async {
        server.seen("/call").requests == 1
    })
    .await;
    app.stop_servers().await;
    let seen = server.seen("/call");
    assert_eq!(
        (seen.in_flight, seen.abandoned),
        (0, 0),
        "the process stopped before its running step ended: {seen:?}"
    );
    let master_key = app.master_key.clone();
    app.restart_with_keys(&master_key, None)
        .await
        .expect("restart");
    let (_, execution) = app.get(&format!("/api/v1/executions/{id}")).await;
    assert_eq!(
        execution["status"], "succeeded",
        "the outcome was not recorded before the process stopped: {execution:#}"
    );
    assert_eq!(server.seen("/call").requests, 1, "the step ran again");
    app.shutdown().await;
}
