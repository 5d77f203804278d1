//! What bounds a workflow at run time, each ending in a clear error on the step or the
//! execution: a step attempt's time (`--step-timeout`), an execution's time
//! (`--execution-timeout`), a loop's items (`max_iterations`) and a template's output.
//! Their bounds on save (size, nesting, templates) are the core's unit tests; the body limit is
//! in `errors.rs`.

use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::support::{Backend, Options, TestApp};
use crate::workflows::{run_to_end, save_and_enable};

/// A server on loopback that accepts connections and never answers them.
async fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

/// An error `{code, message}` with `code`, whose message says `says`.
fn assert_error(error: &Value, code: &str, says: &str) {
    assert_eq!(error["code"], code, "{error}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{error}");
}

/// Whether the execution journaled a step `id`.
fn ran(execution: &Value, id: &str) -> bool {
    execution["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == id)
}

fn step<'e>(execution: &'e Value, id: &str) -> &'e Value {
    execution["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id}: {execution:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_run_time_limit_ends_in_a_clear_error() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            serve_args: [
                "--step-timeout",
                "1s",
                "--execution-timeout",
                "2s",
                "--http-allowed-hosts",
                "127.0.0.1",
            ]
            .map(String::from)
            .to_vec(),
            ..Options::default()
        },
    )
    .await;
    app.configure_app().await;
    app.create_account("acme").await;
    app.connect_oauth("acme").await;
    let silent = silent_server().await;
    let api = json!({ "type": "api" });

    // One attempt of one step: the server never answers, the step stops after 1 s.
    save_and_enable(
        &app,
        "slow-step",
        json!({ "name": "Slow step", "trigger": api,
            "steps": [{ "id": "call", "http": { "method": "GET", "url": format!("{silent}/hang") } }] }),
    )
    .await;
    let done = run_to_end(&app, "slow-step", json!({})).await;
    assert_eq!(done["status"], "failed", "{done:#}");
    assert_error(
        &step(&done, "call")["error"],
        "step_timeout",
        "budget of 1 s (--step-timeout)",
    );

    // The whole execution: steps that each stay within their own budget, continuing on
    // error, together outlast the execution's 2 s.
    let slow = |id: &str| json!({ "id": id, "http": { "method": "GET", "url": format!("{silent}/{id}") }, "on_error": "continue" });
    save_and_enable(
        &app,
        "slow-run",
        json!({ "name": "Slow run", "trigger": api,
            "steps": [slow("a"), slow("b"), slow("c"), slow("d"), { "id": "never", "set": { "x": 1 } }] }),
    )
    .await;
    let done = run_to_end(&app, "slow-run", json!({})).await;
    assert_eq!(done["status"], "failed", "{done:#}");
    // An execution's error is `{step?, error: {code, message}}`; no step failed it here.
    assert_error(
        &done["error"]["error"],
        "execution_timeout",
        "budget of 2 s (--execution-timeout)",
    );
    assert!(
        !ran(&done, "never"),
        "nothing ran after the budget: {done:#}"
    );

    // A loop's items over its max_iterations: the step fails before any iteration.
    save_and_enable(
        &app,
        "loop",
        json!({ "name": "Loop", "trigger": api,
            "steps": [{ "id": "each", "for_each": "event.items", "max_iterations": 2,
                "steps": [{ "id": "one", "set": { "item": "{{ item }}" } }] }] }),
    )
    .await;
    let done = run_to_end(&app, "loop", json!({ "items": [1, 2, 3] })).await;
    assert_eq!(done["status"], "failed", "{done:#}");
    assert_error(
        &step(&done, "each")["error"],
        "too_many_items",
        "got 3 items; max_iterations is 2",
    );
    assert!(!ran(&done, "each[0].one"), "no iteration ran: {done:#}");

    // A template's output over 1 MiB: the set step fails, naming the cap.
    save_and_enable(
        &app,
        "big-output",
        json!({ "name": "Big output", "trigger": api,
            "steps": [{ "id": "big", "set": { "text": "{% for i in event.items %}{{ '-' * 10000 }}{% endfor %}" } }] }),
    )
    .await;
    let items: Vec<u32> = (0..200).collect();
    let done = run_to_end(&app, "big-output", json!({ "items": items })).await;
    assert_eq!(done["status"], "failed", "{done:#}");
    assert_error(
        &step(&done, "big")["error"],
        "template_error",
        "at most 1048576 bytes",
    );
    app.shutdown().await;
}
