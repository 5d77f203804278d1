//! The admin-API commands of the real `dialbridge` executable: `action run` prints an action's
//! output (and the server's errors, with exit 1; a bad `--input` is refused with exit 2 before
//! anything is sent), `action list` prints the catalog, and `calls export` pages through every
//! call into a JSON-lines file, honours `--since`, waits out `rate_limited`, and resumes an
//! interrupted export without exporting a call twice. Most run against `serve --dev` and its
//! emulator; a small fake server covers what the real one cannot be made to do on demand.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::support::{self, call, free_port, BIN};

const KEY: &str = "dialbridge-dev";

// ---------------------------------------------------------------------------------------------
// Running things

struct Server {
    _child: Child,
    _dir: tempfile::TempDir,
    base: String,
}

/// `dialbridge serve --dev` on a free port with a fresh SQLite database, once /healthz answers.
async fn serve_dev() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/dialbridge.db", dir.path().display());
    let listen = format!("127.0.0.1:{}", free_port());
    let child =
        support::dialbridge(&["serve", "--dev", "--listen", &listen, "--database-url", &db])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dialbridge starts");
    let base = format!("http://{listen}");
    assert!(
        support::ready(&format!("{base}/healthz")).await,
        "dialbridge serve --dev did not become ready"
    );
    Server {
        _child: child,
        _dir: dir,
        base,
    }
}

/// `dialbridge <args>` against `server` (through the environment), stdin closed, stderr a pipe.
async fn dialbridge(server: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("DIALBRIDGE_URL", server)
        .env("DIALBRIDGE_API_KEY", KEY)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

/// Every concluded Acme call id, asked from the emulator directly.
async fn all_call_ids(base: &str, dialpad_key: &str) -> HashSet<String> {
    let (status, page) = call(
        reqwest::Method::GET,
        format!("{base}/emulator/api/v2/call?limit=1000"),
        dialpad_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.get("cursor").is_none(), "one page holds them all");
    page["items"].as_array().unwrap().iter().map(id).collect()
}

/// A call's id as text, whether Dialpad sent a number or a string.
fn id(call: &Value) -> String {
    match &call["call_id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The ids in a JSON-lines export, checking each line is one JSON object and none repeats.
fn exported_ids(path: &Path) -> HashSet<String> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "whole lines only");
    let mut ids = HashSet::new();
    for line in text.lines() {
        let call: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(ids.insert(id(&call)), "call {} exported twice", id(&call));
    }
    ids
}

fn progress_file(out: &Path) -> std::path::PathBuf {
    out.with_file_name(format!(
        "{}.progress",
        out.file_name().unwrap().to_string_lossy()
    ))
}

// ---------------------------------------------------------------------------------------------
// Against `serve --dev`

#[tokio::test]
async fn action_run_and_list_against_the_dev_server() {
    let server = serve_dev().await;
    let base = server.base.as_str();
    let dialpad_key = support::connect_acme_with_api_key(base, KEY, "acme").await;

    // list_users prints Dialpad's users as pretty JSON.
    let out = dialbridge(base, &["action", "run", "list_users", "--account", "acme"]).await;
    assert!(out.status.success(), "{}", show(&out));
    let printed: Value = serde_json::from_str(&stdout(&out)).expect("stdout is JSON");
    assert!(
        stdout(&out).contains("\n  "),
        "pretty-printed: {}",
        show(&out)
    );
    let (status, users) = call(
        reqwest::Method::GET,
        format!("{base}/emulator/api/v2/users"),
        &dialpad_key,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let users = users["items"].as_array().unwrap();
    assert!(!users.is_empty());
    for user in users {
        let id = user["id"].to_string().trim_matches('"').to_owned();
        assert!(
            printed.to_string().contains(&id),
            "user {id} printed: {}",
            show(&out)
        );
    }

    // The input can come from a file, with the flags instead of the environment.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    std::fs::write(&input, "{}").unwrap();
    let out = Command::new(BIN)
        .args(["action", "run", "list_users", "--account", "acme"])
        .args(["--input", &format!("@{}", input.display())])
        .args(["--server", base, "--api-key", KEY])
        .env_remove("DIALBRIDGE_URL")
        .env_remove("DIALBRIDGE_API_KEY")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));

    // Against a dev server no key is needed.
    let out = Command::new(BIN)
        .args(["action", "list", "--server", base])
        .env_remove("DIALBRIDGE_API_KEY")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout(&out).contains("list_calls"), "{}", show(&out));

    // An unknown action: the server's error, exit 1.
    let out = dialbridge(
        base,
        &["action", "run", "no_such_action", "--account", "acme"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let (status, error) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/accounts/acme/actions/no_such_action"),
        KEY,
        Some(json!({})),
    )
    .await;
    assert!(status >= 400);
    let expected = format!(
        "dialbridge: {}: {}",
        error["error"]["code"].as_str().unwrap(),
        error["error"]["message"].as_str().unwrap()
    );
    assert!(
        stderr(&out).starts_with(&expected),
        "{expected}\n{}",
        show(&out)
    );
    assert!(stdout(&out).is_empty());

    // A wrong admin key: unauthorized, exit 1.
    let out = dialbridge(base, &["action", "list", "--api-key", "wrong-key"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).starts_with("dialbridge: unauthorized: "),
        "{}",
        show(&out)
    );

    // The catalog.
    let out = dialbridge(base, &["action", "list"]).await;
    assert!(out.status.success(), "{}", show(&out));
    let table = stdout(&out);
    assert!(table.starts_with("KEY "), "{table}");
    let list_calls = table
        .lines()
        .find(|l| l.starts_with("list_calls "))
        .unwrap_or_else(|| panic!("list_calls listed: {table}"));
    assert!(list_calls.contains("calls:list"), "{list_calls}");
    assert!(
        table.lines().any(|l| l.starts_with("list_users ")),
        "{table}"
    );
}

#[tokio::test]
async fn calls_export_pages_through_every_call_and_honours_since() {
    let server = serve_dev().await;
    let base = server.base.as_str();
    let dialpad_key = support::connect_acme_with_api_key(base, KEY, "acme").await;
    let before_new_calls = SystemTime::now() - Duration::from_secs(60);
    let mut new_calls = HashSet::new();
    for _ in 0..25 {
        let (status, made) = call(
            reqwest::Method::POST,
            format!("{base}/emulator/_control/calls"),
            KEY,
            Some(json!({"direction": "inbound"})),
        )
        .await;
        assert_eq!(status, 201, "{made}");
        new_calls.insert(id(&made["call"]));
    }
    let all = all_call_ids(base, &dialpad_key).await;
    assert!(all.len() >= 31, "6 seeded + 25 new: {}", all.len());
    assert!(new_calls.is_subset(&all));

    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("calls.jsonl");
    let out_arg = out_file.to_str().unwrap();
    let out = dialbridge(
        base,
        &[
            "calls",
            "export",
            "--account",
            "acme",
            "--out",
            out_arg,
            "--page-size",
            "10",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(exported_ids(&out_file), all);
    let pages = all.len().div_ceil(10);
    assert!(
        stdout(&out).contains(&format!("exported {} calls to {out_arg}", all.len())),
        "{}",
        show(&out)
    );
    // Not a terminal: one plain line per page.
    let log = stderr(&out);
    assert!(log.contains("exported 10 calls (1 page)\n"), "{log}");
    assert!(log.contains("exported 20 calls (2 pages)\n"), "{log}");
    assert!(
        log.contains(&format!("exported {} calls ({pages} pages)\n", all.len())),
        "{log}"
    );
    assert!(!log.contains('\u{1b}'), "no terminal escapes: {log:?}");
    assert!(
        !progress_file(&out_file).exists(),
        "the progress file is removed when done"
    );

    // --since, as an RFC 3339 time: only the new calls.
    let since = humantime::format_rfc3339_seconds(before_new_calls).to_string();
    let out = dialbridge(
        base,
        &[
            "calls",
            "export",
            "--account",
            "acme",
            "--since",
            &since,
            "--out",
            out_arg,
        ],
    )
    .await;
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(exported_ids(&out_file), new_calls, "--since {since}");
    assert!(
        stderr(&out).contains("exported 25 calls (1 page)"),
        "{}",
        show(&out)
    );

    // --since as a date: midnight UTC.
    let out = dialbridge(
        base,
        &[
            "calls",
            "export",
            "--account",
            "acme",
            "--since",
            "2000-01-01",
            "--out",
            out_arg,
        ],
    )
    .await;
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(exported_ids(&out_file), all);
    let out = dialbridge(
        base,
        &[
            "calls",
            "export",
            "--account",
            "acme",
            "--since",
            "2999-01-01",
            "--out",
            out_arg,
        ],
    )
    .await;
    assert!(out.status.success(), "{}", show(&out));
    assert!(exported_ids(&out_file).is_empty());
    assert!(stdout(&out).contains("exported 0 calls"), "{}", show(&out));

    // A bad --since is a usage error.
    let out = dialbridge(
        base,
        &[
            "calls",
            "export",
            "--account",
            "acme",
            "--since",
            "last tuesday",
            "--out",
            out_arg,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("--since"), "{}", show(&out));
}

#[tokio::test]
async fn an_interrupted_export_resumes_without_duplicates() {
    let server = serve_dev().await;
    let base = server.base.as_str();
    let dialpad_key = support::connect_acme_with_api_key(base, KEY, "acme").await;
    for _ in 0..25 {
        let (status, _) = call(
            reqwest::Method::POST,
            format!("{base}/emulator/_control/calls"),
            KEY,
            Some(json!({"direction": "inbound"})),
        )
        .await;
        assert_eq!(status, 201);
    }
    let all = all_call_ids(base, &dialpad_key).await;
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("calls.jsonl");
    let out_arg = out_file.to_str().unwrap();
    let export = [
        "calls",
        "export",
        "--account",
        "acme",
        "--out",
        out_arg,
        "--page-size",
        "10",
    ];

    // A run that stops after two pages leaves its progress behind.
    let out = dialbridge(base, &[&export[..], &["--max-pages", "2"]].concat()).await;
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stderr(&out).contains("stopped after 2 pages"),
        "{}",
        show(&out)
    );
    assert_eq!(exported_ids(&out_file).len(), 20);
    let progress: Value =
        serde_json::from_str(&std::fs::read_to_string(progress_file(&out_file)).unwrap()).unwrap();
    assert_eq!(progress["account"], "acme");
    assert_eq!(progress["since"], Value::Null);
    assert_eq!(progress["pages"], 2);
    assert_eq!(progress["calls"], 20);
    assert!(progress["cursor"].is_string(), "{progress}");
    assert_eq!(
        progress["bytes"].as_u64().unwrap(),
        std::fs::metadata(&out_file).unwrap().len()
    );

    // Then it "crashes" after appending a third page but before recording it.
    let text = std::fs::read_to_string(&out_file).unwrap();
    let mut crashed = text.clone();
    crashed.push_str(
        &text
            .lines()
            .take(7)
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    );
    crashed.push_str("{\"call_id\": 12");
    std::fs::write(&out_file, crashed).unwrap();

    // Other arguments do not pick that progress up.
    let out = dialbridge(
        base,
        &["calls", "export", "--account", "globex", "--out", out_arg],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("--restart"), "{}", show(&out));

    // The same arguments resume: every call exactly once.
    let out = dialbridge(base, &export).await;
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stderr(&out).contains("resuming the export to")
            && stderr(&out).contains("after 20 calls (2 pages)"),
        "{}",
        show(&out)
    );
    assert_eq!(exported_ids(&out_file), all);
    assert!(
        stdout(&out).contains(&format!("exported {} calls to", all.len())),
        "{}",
        show(&out)
    );
    assert!(!progress_file(&out_file).exists());

    // --restart starts over.
    let out = dialbridge(base, &[&export[..], &["--max-pages", "1"]].concat()).await;
    assert!(out.status.success(), "{}", show(&out));
    let out = dialbridge(base, &[&export[..], &["--restart"]].concat()).await;
    assert!(out.status.success(), "{}", show(&out));
    assert!(!stderr(&out).contains("resuming"), "{}", show(&out));
    assert_eq!(exported_ids(&out_file), all);
}

// ---------------------------------------------------------------------------------------------
// Without a server

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_sent_and_no_key_means_the_dev_key() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let array = dir.path().join("array.json");
    std::fs::write(&array, "[1, 2]").unwrap();
    let missing = dir.path().join("missing.json");
    let cases = [
        ("{not json".to_owned(), "the value is not valid JSON"),
        ("\"text\"".to_owned(), "must be a JSON object"),
        (format!("@{}", array.display()), "must be a JSON object"),
        (format!("@{}", missing.display()), "cannot read"),
    ];
    for (input, message) in cases {
        let out = dialbridge(
            &base,
            &[
                "action",
                "run",
                "list_users",
                "--account",
                "acme",
                "--input",
                &input,
            ],
        )
        .await;
        assert_eq!(out.status.code(), Some(2), "{input}: {}", show(&out));
        assert!(
            stderr(&out).starts_with("dialbridge: --input: "),
            "{}",
            show(&out)
        );
        assert!(stderr(&out).contains(message), "{input}: {}", show(&out));
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "nothing reached the server"
    );

    // Clap's own usage errors: exit 2.
    let out = dialbridge(&base, &["action", "run", "list_users"]).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "--account is required: {}",
        show(&out)
    );
    let out = dialbridge(
        &base,
        &[
            "calls",
            "export",
            "--account",
            "a",
            "--out",
            "x",
            "--page-size",
            "0",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));

    // No key, and a server that is not a dev one: it refuses the dev key, and the command says
    // to give a key.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let refusing = Router::new()
        .fallback(
            |State(seen): State<Arc<Mutex<Vec<String>>>>, headers: HeaderMap| async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                seen.lock()
                    .unwrap()
                    .push(auth.unwrap_or_default().to_owned());
                error(StatusCode::UNAUTHORIZED, "unauthorized", Value::Null)
            },
        )
        .with_state(seen.clone());
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_base = format!("http://{}", other.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(other, refusing).await.unwrap() });
    let out = Command::new(BIN)
        .args(["action", "list", "--server", &other_base])
        .env_remove("DIALBRIDGE_API_KEY")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr(&out).contains("set --api-key or DIALBRIDGE_API_KEY"),
        "{}",
        show(&out)
    );
    assert_eq!(*seen.lock().unwrap(), ["Bearer dialbridge-dev"]);

    // A server that is not there: a clear message, exit 1.
    drop(listener);
    let out = dialbridge(&base, &["action", "list"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).contains("cannot reach the dialbridge server at"),
        "{}",
        show(&out)
    );
}

/// A stand-in for the server's `list_calls`: `calls` in order, offset cursors, `started_after`
/// on `date_started`, and `rate_limited` answers while `throttle` is above 0.
#[derive(Default)]
struct Fake {
    calls: Vec<Value>,
    throttle: u32,
    requests: Vec<Value>,
}

async fn fake_action(
    State(fake): State<Arc<Mutex<Fake>>>,
    UrlPath((account, key)): UrlPath<(String, String)>,
    headers: HeaderMap,
    Json(input): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let mut fake = fake.lock().unwrap();
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer dialbridge-dev") {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", Value::Null);
    }
    fake.requests
        .push(json!({"account": account, "key": key, "input": input}));
    if key != "list_calls" {
        return error(StatusCode::NOT_FOUND, "not_found", json!({"key": key}));
    }
    if fake.throttle > 0 {
        fake.throttle -= 1;
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "rate_limited",
            json!({"retry_after_secs": 0}),
        );
    }
    let after = input["started_after"].as_i64().unwrap_or(i64::MIN);
    let calls: Vec<&Value> = fake
        .calls
        .iter()
        .filter(|c| c["date_started"].as_i64().unwrap() > after)
        .collect();
    let offset: usize = input["cursor"]
        .as_str()
        .map_or(0, |c| c.trim_start_matches('o').parse().unwrap());
    let limit = input["limit"].as_u64().unwrap() as usize;
    let end = (offset + limit).min(calls.len());
    let mut output = json!({"items": calls[offset..end]});
    if end < calls.len() {
        output["cursor"] = json!(format!("o{end}"));
    }
    (StatusCode::OK, Json(json!({ "output": output })))
}

fn error(status: StatusCode, code: &str, details: Value) -> (StatusCode, Json<Value>) {
    let body =
        json!({"error": {"code": code, "message": format!("fake {code}"), "details": details}});
    (status, Json(body))
}

async fn fake_server(fake: Fake) -> (String, Arc<Mutex<Fake>>) {
    let fake = Arc::new(Mutex::new(fake));
    let app = Router::new()
        .route(
            "/api/v1/accounts/{account}/actions/{key}",
            post(fake_action),
        )
        .route(
            "/api/v1/actions",
            get(|| async {
                Json(json!([
                    {"key": "list_calls", "name": "List calls", "required_scopes": ["calls:list"]},
                    {"key": "send_sms", "name": "Send an SMS", "required_scopes": []},
                ]))
            }),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, fake)
}

fn fake_calls(n: i64) -> Vec<Value> {
    (1..=n)
        .map(|i| json!({"call_id": 1000 + i, "date_started": i * 1000, "state": "hangup"}))
        .collect()
}

#[tokio::test]
async fn rate_limited_pages_are_asked_again_up_to_five_times() {
    let (base, fake) = fake_server(Fake {
        calls: fake_calls(25),
        throttle: 3,
        ..Fake::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("calls.jsonl");
    let out_arg = out_file.to_str().unwrap();
    let export = [
        "calls",
        "export",
        "--account",
        "acme",
        "--out",
        out_arg,
        "--page-size",
        "10",
    ];
    let out = dialbridge(&base, &export).await;
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(exported_ids(&out_file).len(), 25);
    assert_eq!(
        stderr(&out).matches("rate limited").count(),
        3,
        "{}",
        show(&out)
    );
    {
        let fake = fake.lock().unwrap();
        assert_eq!(fake.requests.len(), 3 + 3, "three refusals, three pages");
        let until = fake.requests[0]["input"]["started_before"].clone();
        assert!(
            until.is_i64(),
            "every page is bounded by the export's start"
        );
        assert_eq!(
            fake.requests[0]["input"],
            json!({"limit": 10, "started_before": until})
        );
        assert_eq!(
            fake.requests[3]["input"],
            json!({"limit": 10, "started_before": until}),
            "the same page again"
        );
        assert_eq!(
            fake.requests[4]["input"],
            json!({"limit": 10, "cursor": "o10", "started_before": until})
        );
    }

    // A sixth refusal in a row is the end: the server's error, exit 1, progress kept.
    fake.lock().unwrap().throttle = 6;
    let out = dialbridge(&base, &export).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(
        stderr(&out).matches("rate limited;").count(),
        5,
        "{}",
        show(&out)
    );
    assert!(
        stderr(&out).contains("dialbridge: rate_limited: fake rate_limited"),
        "{}",
        show(&out)
    );
    assert!(
        stderr(&out).contains("\"retry_after_secs\": 0"),
        "details, pretty: {}",
        show(&out)
    );
}

#[tokio::test]
async fn resume_against_the_fake_server_with_since() {
    let (base, fake) = fake_server(Fake {
        calls: fake_calls(35),
        ..Fake::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("calls.jsonl");
    let out_arg = out_file.to_str().unwrap();
    // 1970-01-01T00:00:05Z: calls 6..=35 (30 of them).
    let export = [
        "calls",
        "export",
        "--account",
        "acme",
        "--since",
        "1970-01-01T00:00:05Z",
        "--out",
        out_arg,
        "--page-size",
        "7",
    ];
    let out = dialbridge(&base, &[&export[..], &["--max-pages", "3"]].concat()).await;
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(exported_ids(&out_file).len(), 21);
    let progress: Value =
        serde_json::from_str(&std::fs::read_to_string(progress_file(&out_file)).unwrap()).unwrap();
    assert_eq!(progress["since"], 5000);
    // A crash after appending page 4 but before recording it.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&out_file)
        .unwrap();
    std::io::Write::write_all(&mut file, b"{\"call_id\":1022}\n{\"call_id\":1023}\n").unwrap();
    drop(file);
    // Another --since is another export.
    let other = dialbridge(
        &base,
        &[
            "calls",
            "export",
            "--account",
            "acme",
            "--since",
            "1970-01-02",
            "--out",
            out_arg,
        ],
    )
    .await;
    assert_eq!(other.status.code(), Some(2), "{}", show(&other));
    assert!(
        stderr(&other).contains("belongs to another export"),
        "{}",
        show(&other)
    );

    fake.lock().unwrap().requests.clear();
    let out = dialbridge(&base, &export).await;
    assert!(out.status.success(), "{}", show(&out));
    let expected: HashSet<String> = (1006..=1035).map(|i| i.to_string()).collect();
    assert_eq!(exported_ids(&out_file), expected);
    assert!(
        stdout(&out).contains("exported 30 calls to"),
        "{}",
        show(&out)
    );
    assert!(
        stderr(&out).contains("exported 30 calls (5 pages)"),
        "{}",
        show(&out)
    );
    let fake = fake.lock().unwrap();
    let mut input = fake.requests[0]["input"].clone();
    assert!(input["started_before"].is_i64(), "{input}");
    input.as_object_mut().unwrap().remove("started_before");
    assert_eq!(
        input,
        json!({"limit": 7, "cursor": "o21", "started_after": 5000}),
        "resumes from the recorded cursor"
    );
}

#[tokio::test]
async fn action_list_and_errors_against_the_fake_server() {
    let (base, _fake) = fake_server(Fake::default()).await;
    let out = dialbridge(&base, &["action", "list"]).await;
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        stdout(&out),
        "KEY         NAME         SCOPES\nlist_calls  List calls   calls:list\nsend_sms    Send an SMS  -\n"
    );
    let out = dialbridge(
        &base,
        &["action", "run", "nope", "--account", "acme", "--input", "-"],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "empty stdin is not JSON: {}",
        show(&out)
    );
    let out = dialbridge(
        &base,
        &[
            "action",
            "run",
            "nope",
            "--account",
            "acme",
            "--input",
            "{}",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(
        stderr(&out),
        "dialbridge: not_found: fake not_found\n{\n  \"key\": \"nope\"\n}\n"
    );
}
