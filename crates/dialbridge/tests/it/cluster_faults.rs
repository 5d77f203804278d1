//! Faults with real processes: `serve` killed with SIGKILL under load on SQLite and
//! restarted; PostgreSQL cut away and given back by a proxy the test controls; a slow
//! database under Dialpad's 5-second delivery timeout. Each proof is bounded in time.

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::support::cluster::{
    emulator, hangup_workflow, hangup_workflow_for_the_executor, one_at_a_time, post_events,
    postgres_server, serve, serve_args, Api, Db, Emu, Fleet, Hook, Proc,
};
use crate::support::proxy::Proxy;

/// Accounts with `hangup_workflow` on one process, each its own emulator company.
async fn hooks_of(api: &Api, emu: &Emu, count: usize) -> Vec<Hook> {
    api.put_workflow("hangup", hangup_workflow()).await;
    let mut hooks = Vec::new();
    for (i, company) in emu.companies(count).await.iter().enumerate() {
        let account = format!("acct-{i}");
        let key = company["api_key"].as_str().unwrap();
        api.connect_with_key(&account, key).await;
        api.enable(&account, "hangup").await;
        hooks.push(Hook::of(api, emu, &account, key).await.expect("a hook"));
    }
    hooks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_killed_under_load_processes_every_event_it_accepted_after_restart() {
    const EVENTS: u64 = 1_500;
    let _turn = one_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator(dir.path(), &["--no-rate-limits"]).await;
    let emu = Emu::new(&emulator.base);
    let url = format!("sqlite://{}/dialbridge.db", dir.path().display());
    let args = ["--execution-lease-secs", "2"];
    let mut first = serve(dir.path(), "solo", &url, &args).await;
    let api = first.api();
    api.use_emulator(&emulator.base).await;
    let hooks = hooks_of(&api, &emu, 4).await;

    let bases = vec![first.base.clone()];
    let posting = tokio::spawn(async move { post_events(&hooks, &bases, EVENTS, 16).await });
    let db = Db::open(&url).await;
    let start = Instant::now();
    while db.number("SELECT COUNT(*) FROM events").await < 300 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}",
            first.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill9().await;
    let answers = posting.await.unwrap();
    let accepted: Vec<u64> = (0..EVENTS)
        .filter(|&n| answers[n as usize] == Ok(200))
        .collect();
    let refused = answers.iter().filter(|a| a.is_err()).count();
    assert!(
        answers.iter().all(|a| *a == Ok(200) || a.is_err()),
        "an answer other than 200 or a dropped connection: {answers:?}"
    );

    let port = first.port();
    let _second = Proc::start_on(
        dir.path(),
        "solo",
        &serve_args(&url, &args),
        "/healthz",
        port,
    )
    .await;
    let stored = db.stored_events().await;
    let count = stored.len() as i64;
    db.wait_finished(count, Duration::from_secs(90)).await;
    let stored = db.stored_events().await;
    println!(
        "killed after {} events were answered 200 ({refused} got no answer); {} stored, all run after the restart",
        accepted.len(),
        stored.len()
    );
    for n in &accepted {
        assert_eq!(
            stored.get(n),
            Some(&(1, 1)),
            "event {n} was answered 200 but did not run exactly once, successfully"
        );
    }
    assert_eq!(db.statuses().await, vec![("succeeded".to_owned(), count)]);
}

/// `GET path` with a bound: its status and body, or why none came.
async fn get_bounded(api: &Api, path: &str) -> Result<(u16, serde_json::Value), String> {
    tokio::time::timeout(Duration::from_secs(20), api.call(Method::GET, path, None))
        .await
        .map_err(|_| format!("GET {path} did not answer within 20 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn postgres_cut_away_answers_503_and_everything_resumes_when_it_is_back() {
    let proxy = Proxy::start(&postgres_server()).await;
    // The default 60 s execution lease, longer than the wait below: nothing may wait for a
    // lease to run out. A claim whose answer is lost in the cut is given back once the
    // database answers again (`release_unstarted`); a journal write that fails is retried
    // (see `a_step_that_ends_while_postgres_is_away_is_recorded_when_it_is_back`).
    let mut fleet = Fleet::start(1, &["--no-rate-limits"], &[], Some(proxy.port)).await;
    fleet.accounts(2, "hangup", hangup_workflow()).await;
    let node = &fleet.nodes[0];
    let api = node.api();
    let hook = fleet.hooks[0].clone();
    assert_eq!(post_bounded(&hook, &node.base, 0).await.0, 200);

    proxy.cut();
    let mut slowest = Duration::ZERO;
    for n in 1..=5 {
        let (status, took) = post_bounded(&hook, &node.base, n).await;
        assert_eq!(
            status,
            503,
            "event {n} while the database is away\n{}",
            fleet.logs()
        );
        slowest = slowest.max(took);
    }
    for path in ["/api/v1/accounts", "/api/v1/executions", "/healthz"] {
        let start = Instant::now();
        let (status, body) = get_bounded(&api, path).await.unwrap();
        slowest = slowest.max(start.elapsed());
        assert_eq!(status, 503, "{path}: {body}");
        if path != "/healthz" {
            assert_eq!(
                body["error"]["code"], "database_unavailable",
                "{path}: {body}"
            );
            assert!(body["error"]["message"].is_string(), "{body}");
        }
    }
    println!("database cut: every request answered 503, the slowest in {slowest:.2?}");

    proxy.restore();
    let start = Instant::now();
    while get_bounded(&api, "/healthz").await.map(|r| r.0) != Ok(200) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "healthy again {:.2?} after the database came back",
        start.elapsed()
    );
    // A 5xx means the event was not stored: only event 0 was.
    let stored: Vec<u64> = fleet.db.stored_events().await.into_keys().collect();
    assert_eq!(stored, vec![0], "an event answered 503 was stored");
    // Dialpad sends the refused events again; they and new ones run.
    for n in 1..=10 {
        assert_eq!(post_bounded(&hook, &node.base, n).await.0, 200, "event {n}");
    }
    fleet.db.wait_finished(11, Duration::from_secs(30)).await;
    assert_eq!(
        fleet.db.statuses().await,
        vec![("succeeded".to_owned(), 11)]
    );
    assert_eq!(fleet.db.events_not_run_once().await, vec![]);
    assert!(!node.logged("panicked"), "{}", node.log_tail());
    fleet.stop().await;
}

/// PostgreSQL cut for 5 s while the first of `steps`, a Dialpad request made to take 4 s,
/// waits for its answer, so the answer comes within the cut. Answers once the execution has
/// finished, and succeeded, after the database came back (the proxy with the fleet: dropping
/// it closes the way to the database).
async fn cut_postgres_under_a_dialpad_step(steps: serde_json::Value) -> (Fleet, Proxy) {
    let proxy = Proxy::start(&postgres_server()).await;
    let mut fleet = Fleet::start(1, &["--no-rate-limits"], &[], Some(proxy.port)).await;
    let first = steps[0]["id"].as_str().unwrap().to_owned();
    let workflow = serde_json::json!({
        "name": "Cut under a step",
        "trigger": { "type": "call.hangup" },
        "steps": steps,
    });
    fleet.accounts(1, "hangup", workflow).await;
    fleet
        .emu
        .configure(serde_json::json!({ "latency_ms": 4000 }))
        .await;
    let base = fleet.nodes[0].base.clone();
    assert_eq!(post_bounded(&fleet.hooks[0], &base, 0).await.0, 200);
    // The step's first attempt is journaled just before its request leaves; a second later it
    // is at Dialpad.
    wait_until_some(
        &fleet,
        &format!("SELECT COUNT(*) FROM execution_steps WHERE step_id = '{first}'"),
        Duration::from_secs(10),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(5)).await;
    proxy.restore();
    let took = fleet.db.wait_finished(1, Duration::from_secs(40)).await;
    println!("the execution finished {took:.2?} after the database came back");
    assert_eq!(
        fleet.db.statuses().await,
        vec![("succeeded".to_owned(), 1)],
        "{}",
        fleet.logs()
    );
    (fleet, proxy)
}

/// The steps of the execution, each with its attempts.
async fn attempts(fleet: &Fleet) -> Vec<(String, i64)> {
    fleet
        .db
        .pairs("SELECT step_id, attempts FROM execution_steps ORDER BY step_id")
        .await
}

/// A step that ends while PostgreSQL is away: what it did is recorded as soon as the database
/// is back, not left to the execution's lease (60 s by default, longer than the wait here),
/// and the step does not run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn a_step_that_ends_while_postgres_is_away_is_recorded_when_it_is_back() {
    let (fleet, _proxy) = cut_postgres_under_a_dialpad_step(serde_json::json!([
        { "id": "lookup", "action": "list_users", "input": {} },
        { "id": "note", "set": { "call": "{{ event.call_id }}" } },
    ]))
    .await;
    assert_eq!(
        attempts(&fleet).await,
        vec![("lookup".to_owned(), 1), ("note".to_owned(), 1)],
        "each step ran once"
    );
    assert!(fleet.nodes[0].logged("recording the outcome failed; trying again"));
    fleet.stop().await;
}

/// A step that needs the database to start (its attempt is journaled before its request
/// leaves) while PostgreSQL is away: the execution is not failed for it but handed back, and
/// once the database is back it resumes after the step that finished during the cut — that
/// step's result kept, not run again — and runs the next one once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn a_step_that_starts_while_postgres_is_away_runs_once_it_is_back() {
    let (fleet, _proxy) = cut_postgres_under_a_dialpad_step(serde_json::json!([
        { "id": "first", "action": "list_users", "input": {} },
        { "id": "second", "action": "list_users", "input": {} },
    ]))
    .await;
    assert_eq!(
        attempts(&fleet).await,
        vec![("first".to_owned(), 1), ("second".to_owned(), 1)],
        "each step ran once"
    );
    let requests = fleet
        .emu
        .control(Method::GET, "/_control/requests", None)
        .await;
    let lookups = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "GET" && r["path"] == "/api/v2/users")
        .count();
    assert_eq!(lookups, 2, "Dialpad saw a step twice: {requests:#}");
    assert!(fleet.nodes[0].logged("the database went away during the execution"));
    fleet.stop().await;
}

/// A store error under a step that is not an outage (here PostgreSQL refuses the second
/// step's journal entry: a trigger raises) fails the execution with that error, rather than
/// handing it back to meet the same refusal again and again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn a_step_whose_journal_entry_is_refused_fails_its_execution() {
    let mut fleet = Fleet::start(1, &["--no-rate-limits"], &[], None).await;
    let workflow = serde_json::json!({
        "name": "Note then lookup",
        "trigger": { "type": "call.hangup" },
        "steps": [
            { "id": "first", "set": { "call": "{{ event.call_id }}" } },
            { "id": "second", "action": "list_users", "input": {} },
        ],
    });
    fleet.accounts(1, "hangup", workflow).await;
    fleet
        .db
        .execute(
            "CREATE FUNCTION refuse_second() RETURNS trigger AS $$ BEGIN \
             IF NEW.step_id = 'second' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql",
        )
        .await;
    fleet
        .db
        .execute(
            "CREATE TRIGGER refuse_second BEFORE INSERT OR UPDATE ON execution_steps \
             FOR EACH ROW EXECUTE FUNCTION refuse_second()",
        )
        .await;
    let node = &fleet.nodes[0];
    assert_eq!(post_bounded(&fleet.hooks[0], &node.base, 0).await.0, 200);
    fleet.db.wait_finished(1, Duration::from_secs(20)).await;
    assert_eq!(
        fleet.db.statuses().await,
        vec![("failed".to_owned(), 1)],
        "{}",
        fleet.logs()
    );
    assert_eq!(
        fleet
            .db
            .number("SELECT COUNT(*) FROM executions WHERE error LIKE '%refused by the test%'")
            .await,
        1,
        "the execution's error does not say what refused it"
    );
    assert_eq!(
        attempts(&fleet).await,
        vec![("first".to_owned(), 1)],
        "the refused step is on record"
    );
    fleet.stop().await;
}

/// A claim that commits while its answer is lost (the database goes away in between) leaves
/// the execution leased to a process that never started it: the process gives it back as soon
/// as the database answers again, instead of leaving it to its 60 s lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn a_claim_whose_answer_is_lost_runs_once_the_database_is_back() {
    let proxy = Proxy::start(&postgres_server()).await;
    let mut fleet = Fleet::start(1, &["--no-rate-limits"], &[], Some(proxy.port)).await;
    let workflow = serde_json::json!({
        "name": "Pause then note",
        "trigger": { "type": "call.hangup" },
        "steps": [
            { "id": "wait", "delay": "3s" },
            { "id": "note", "set": { "call": "{{ event.call_id }}" } },
        ],
    });
    fleet.accounts(1, "hangup", workflow).await;
    let node = &fleet.nodes[0];
    assert_eq!(post_bounded(&fleet.hooks[0], &node.base, 0).await.0, 200);
    // The delay hands the execution back: its next claim comes 3 s later. Every answer of the
    // database is held back 1.5 s from now on, so that claim commits at PostgreSQL while its
    // answer waits in the proxy.
    wait_until_some(
        &fleet,
        "SELECT COUNT(*) FROM executions WHERE lease_owner IS NULL AND claims = 1",
        Duration::from_secs(10),
    )
    .await;
    proxy.set_latency(Duration::from_millis(1_500));
    // The test reads PostgreSQL directly, not through the proxy.
    // Every query of the executor now takes 1.5 s, so the claim comes some turns after 3 s.
    wait_until_some(
        &fleet,
        "SELECT COUNT(*) FROM executions WHERE claims = 2",
        Duration::from_secs(30),
    )
    .await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let took = back_with_leases_given_back(&fleet, &proxy, 1).await;
    println!("the execution whose claim answer was lost finished {took:.2?} after the database came back");
    fleet.stop().await;
}

/// An ingest commit whose answer is lost: the event and its execution, started at ingest, are
/// stored leased to the process, which answered the delivery 503 and never ran it. The process
/// gives the execution back as soon as the database answers again instead of leaving it to its
/// 60 s lease, and Dialpad's redelivery of the event is recognised: the execution runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn an_ingest_commit_whose_answer_is_lost_runs_its_execution_once_the_database_is_back() {
    let (proxy, fleet, jwt) = lose_an_ingest_answer(
        hangup_workflow_for_the_executor(),
        "SELECT COUNT(*) FROM executions WHERE status = 'running' AND lease_owner IS NOT NULL",
    )
    .await;
    let node = &fleet.nodes[0];
    tokio::time::sleep(Duration::from_secs(1)).await;
    let took = back_with_leases_given_back(&fleet, &proxy, 2).await;
    println!("the execution whose ingest commit answer was lost finished {took:.2?} after the database came back");
    // Dialpad delivers the event again after the 503: stored already, it starts nothing.
    assert_eq!(deliver_bounded(&fleet.hooks[0], &node.base, jwt).await, 200);
    assert_eq!(fleet.db.events_not_run_once().await, vec![]);
    assert_eq!(
        fleet.db.number("SELECT COUNT(*) FROM executions").await,
        2,
        "the redelivery started nothing"
    );
    fleet.stop().await;
}

/// The same with a workflow of one `set` step, which runs to its end before the commit
/// (`at_ingest.rs`): the commit whose answer was lost stored the execution finished, nothing
/// is leased, and Dialpad's redelivery after the 503 starts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn an_ingest_commit_whose_answer_is_lost_keeps_the_execution_it_ran_once() {
    // The second execution is committed, finished, while the answer waits in the proxy.
    let (proxy, fleet, jwt) = lose_an_ingest_answer(
        hangup_workflow(),
        "SELECT COUNT(*) - 1 FROM executions WHERE status = 'succeeded'",
    )
    .await;
    let node = &fleet.nodes[0];
    proxy.set_latency(Duration::ZERO);
    proxy.restore();
    // Dialpad delivers again after a 5xx; until the process's connections are back it may
    // answer 503 again (nothing stored), then 200: a redelivery of a stored event.
    let start = Instant::now();
    let mut status = deliver_bounded(&fleet.hooks[0], &node.base, jwt.clone()).await;
    while status == 503 && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        status = deliver_bounded(&fleet.hooks[0], &node.base, jwt.clone()).await;
    }
    assert_eq!(status, 200);
    assert_eq!(fleet.db.events_not_run_once().await, vec![]);
    assert_eq!(
        fleet.db.statuses().await,
        vec![("succeeded".to_owned(), 2)],
        "the redelivery started nothing; {}",
        fleet.logs()
    );
    fleet.stop().await;
}

/// One process whose database answers through the fault proxy, one account running
/// `workflow`: a first event is run (so what ingest reads is cached), then event 0 is delivered
/// while every database answer is held back 1.5 s, so its commit is done at PostgreSQL while its
/// answer waits in the proxy (`committed` counts above zero once it is), and the cut loses the
/// answer: the delivery is answered 503. Answers the proxy, the fleet and event 0's JWT.
async fn lose_an_ingest_answer(
    workflow: serde_json::Value,
    committed: &str,
) -> (Proxy, Fleet, String) {
    let proxy = Proxy::start(&postgres_server()).await;
    let mut fleet = Fleet::start(1, &["--no-rate-limits"], &[], Some(proxy.port)).await;
    fleet.accounts(1, "hangup", workflow).await;
    let base = fleet.nodes[0].base.clone();
    let hook = fleet.hooks[0].clone();
    assert_eq!(post_bounded(&hook, &base, 1).await.0, 200);
    fleet.db.wait_finished(1, Duration::from_secs(20)).await;
    proxy.set_latency(Duration::from_millis(1_500));
    let jwt = hook.event(0);
    let first = jwt.clone();
    let delivery = tokio::spawn(async move { deliver_bounded(&hook, &base, first).await });
    wait_until_some(&fleet, committed, Duration::from_secs(20)).await;
    proxy.cut();
    assert_eq!(
        delivery.await.unwrap(),
        503,
        "a delivery whose commit was not confirmed is answered 503"
    );
    (proxy, fleet, jwt)
}

/// Gives the database back (no latency, connections let through) and waits until `count`
/// executions have succeeded, well within their 60 s lease because the process gave back the
/// leases that nothing ran; answers how long that took.
async fn back_with_leases_given_back(fleet: &Fleet, proxy: &Proxy, count: i64) -> Duration {
    proxy.set_latency(Duration::ZERO);
    proxy.restore();
    let took = fleet.db.wait_finished(count, Duration::from_secs(20)).await;
    assert_eq!(
        fleet.db.statuses().await,
        vec![("succeeded".to_owned(), count)],
        "{}",
        fleet.logs()
    );
    let node = &fleet.nodes[0];
    assert!(
        node.logged("gave back executions claimed while the database was failing"),
        "{}",
        node.log_tail()
    );
    took
}

/// Waits until the count `sql` (read straight from PostgreSQL, not through the proxy) is
/// above zero.
async fn wait_until_some(fleet: &Fleet, sql: &str, limit: Duration) {
    let start = Instant::now();
    while fleet.db.number(sql).await == 0 {
        assert!(
            start.elapsed() < limit,
            "still 0 after {limit:?}: {sql}\n{}",
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Delivers a signed event with a bound; its status (0 when no answer came in 20 s).
async fn deliver_bounded(hook: &Hook, base: &str, jwt: String) -> u16 {
    let http = reqwest::Client::new();
    tokio::time::timeout(Duration::from_secs(20), hook.deliver(&http, base, jwt))
        .await
        .map(|answer| answer.unwrap_or(0))
        .unwrap_or(0)
}

/// Posts event `n` with a bound; its status (0 when no answer came in 20 s) and how long
/// the answer took.
async fn post_bounded(hook: &Hook, base: &str, n: u64) -> (u16, Duration) {
    let start = Instant::now();
    let status = deliver_bounded(hook, base, hook.event(n)).await;
    (status, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn a_slow_database_still_answers_events_within_dialpads_5_seconds() {
    const EVENTS: u64 = 200;
    const LATENCY_MS: u64 = 30;
    let proxy = Proxy::start(&postgres_server()).await;
    let mut fleet = Fleet::start(1, &["--no-rate-limits"], &[], Some(proxy.port)).await;
    fleet.accounts(4, "hangup", hangup_workflow()).await;
    let base = fleet.nodes[0].base.clone();
    // Every answer of the database held back 30 ms: a round trip of 0.1 ms becomes 30 ms (a
    // database in another region, or one under heavy load). At 100 ms the commit of a batch
    // alone can outlast Dialpad's 5 s (7 s seen at p99): see the README.
    proxy.set_latency(Duration::from_millis(LATENCY_MS));
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..16u64 {
        let (hooks, base) = (fleet.hooks.clone(), base.clone());
        clients.spawn(async move {
            let mut answers = Vec::new();
            for n in (client..EVENTS).step_by(16) {
                let hook = &hooks[n as usize % hooks.len()];
                answers.push((n, post_bounded(hook, &base, n).await));
            }
            answers
        });
    }
    let mut answers = Vec::new();
    while let Some(some) = clients.join_next().await {
        answers.extend(some.unwrap());
    }
    let mut took: Vec<Duration> = answers.iter().map(|(_, (_, t))| *t).collect();
    took.sort();
    let (p50, p99, max) = (
        took[took.len() / 2],
        took[took.len() * 99 / 100],
        took[took.len() - 1],
    );
    let accepted = answers.iter().filter(|(_, (s, _))| *s == 200).count();
    println!(
        "{EVENTS} events, 16 at a time, database answers held back {LATENCY_MS} ms: {accepted} stored and answered 200, the rest 503 unstored; answered in p50 {p50:.2?}, p99 {p99:.2?}, max {max:.2?}"
    );
    assert!(
        accepted >= EVENTS as usize / 4,
        "{accepted} of {EVENTS} stored"
    );
    proxy.set_latency(Duration::ZERO);
    let stored = fleet.db.stored_events().await;
    for (n, (status, took)) in &answers {
        assert!(
            *status == 200 || (500..600).contains(status),
            "event {n} answered {status}"
        );
        assert!(
            *took < Duration::from_secs(5),
            "event {n} answered {status} after {took:.2?}, past Dialpad's 5 s"
        );
        if *status >= 500 {
            assert!(
                !stored.contains_key(n),
                "event {n} answered {status} but stored"
            );
        } else {
            assert!(
                stored.contains_key(n),
                "event {n} answered 200 but not stored"
            );
        }
    }
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn a_faulty_dialpad_ends_every_execution_clearly_without_early_retries() {
    const EVENTS: u64 = 150;
    // Two processes; the emulator with Dialpad's rate limits on.
    let mut fleet = Fleet::start(2, &[], &["--execution-lease-secs", "5"], None).await;
    // Each execution reads Dialpad once, a request of its own (its call id in the query), so
    // a repeat of it is a retry of it.
    let workflow = serde_json::json!({
        "name": "Look the caller up",
        "trigger": { "type": "call.hangup" },
        "steps": [
            { "id": "lookup", "action": "list_users", "input": { "email": "{{ event.call_id }}@example.com" } },
        ],
    });
    fleet.accounts(4, "lookup", workflow).await;
    fleet
        .emu
        .configure(serde_json::json!({
            "fault_percent": 30,
            "fault_statuses": [429, 500, 502, 503, 504],
            "latency_ms": 100,
        }))
        .await;
    let before = fleet.emu.stats().await;

    let answers = post_events(&fleet.hooks, &fleet.bases(), EVENTS, 16).await;
    assert!(answers.iter().all(|a| *a == Ok(200)), "{answers:?}");
    let took = fleet
        .db
        .wait_finished(EVENTS as i64, Duration::from_secs(90))
        .await;
    let after = fleet.emu.stats().await;
    let delta = |field: &str| after[field].as_u64().unwrap() - before[field].as_u64().unwrap();
    let statuses = fleet.db.statuses().await;
    let errors = fleet
        .db
        .pairs("SELECT COALESCE(error, ''), COUNT(*) FROM executions WHERE status = 'failed' GROUP BY error")
        .await;
    // Requests that could not leave on time for their slot (a stalled process, a slow commit)
    // and took another.
    let late_slots = fleet
        .metric_per_node("dialbridge_throttle_late_slots_total")
        .await;
    println!(
        "{EVENTS} executions against 30% faults and 100 ms latency: {statuses:?} in {took:.1?}; Dialpad saw {} requests, {} faults injected, {} rate-limit 429s, {} early retries, late slots {late_slots:?}; failures: {errors:?}",
        delta("api_requests"),
        delta("faults_injected"),
        delta("rate_limited"),
        delta("early_retries"),
    );
    assert_eq!(
        delta("early_retries"),
        0,
        "a retry came before its Retry-After"
    );
    assert_eq!(
        delta("rate_limited"),
        0,
        "the throttle let Dialpad's limits be hit; the last: {}; late slots {late_slots:?}",
        after["last_rate_limited"],
    );
    // Each action tries at most 1 + 3 (after 429s) + 3 (reads after 5xx) times.
    assert!(delta("api_requests") <= 7 * EVENTS, "requests spun");
    let succeeded = statuses
        .iter()
        .find(|(s, _)| s == "succeeded")
        .map_or(0, |(_, n)| *n);
    assert!(succeeded > 0, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|(s, _)| s == "succeeded" || s == "failed"),
        "{statuses:?}"
    );
    for (error, _) in &errors {
        assert!(
            error.contains("dialpad_error") || error.contains("rate_limited"),
            "a failure that does not say what failed: {error:?}"
        );
    }
    assert_eq!(fleet.db.events_not_run_once().await, vec![]);
    fleet.stop().await;
}
