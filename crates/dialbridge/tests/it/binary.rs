//! The real `dialbridge` executable: `serve --dev` runs the whole connect flow against its
//! in-process emulator with nothing else installed, logs no secret, and stops cleanly on
//! SIGTERM; a first start without a key prints a generated one once; `migrate` works;
//! PostgreSQL without a master key is refused with a clear message; a log nobody reads does
//! not stop requests; an execution run at ingest leaves its log line.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::{self, call, free_port, BIN};

struct Server {
    child: Child,
    base: String,
    output: Arc<Mutex<String>>,
}

async fn spawn(args: &[&str]) -> Server {
    spawn_command("serve", args, "/healthz").await
}

/// Runs `dialbridge <command> --listen <free port> <args>` until `ready_path` answers 2xx.
async fn spawn_command(command: &str, args: &[&str], ready_path: &str) -> Server {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = support::dialbridge(&[command, "--listen", &listen])
        .args(args)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dialbridge starts");
    let output = Arc::new(Mutex::new(String::new()));
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ] {
        let output = output.clone();
        let mut lines = BufReader::new(stream.unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut out = output.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        });
    }
    let base = format!("http://{listen}");
    if !support::ready(&format!("{base}{ready_path}")).await {
        panic!(
            "dialbridge {command} did not become ready:\n{}",
            output.lock().unwrap()
        );
    }
    Server {
        child,
        base,
        output,
    }
}

impl Server {
    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// The first output line (trimmed) that starts with `prefix`, waiting up to 10 s for it:
    /// `serve` answers `/healthz` before `main` prints what `start` returned, and the lines
    /// reach `output` through reader tasks.
    async fn line_starting_with(&self, prefix: &str) -> Option<String> {
        self.line_where(|line| line.starts_with(prefix)).await
    }

    /// The first output line (trimmed) that `wanted` accepts, waiting up to 10 s for it.
    async fn line_where(&self, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .output()
                .lines()
                .map(str::trim)
                .find(|line| wanted(line))
                .map(str::to_owned);
            if found.is_some() || tokio::time::Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then the exit status (it must come within 10 seconds).
    async fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().expect("running").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("stops within 10 s")
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        (status, self.output())
    }
}

#[tokio::test]
async fn dev_mode_connects_without_leaking_secrets_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/data/dialbridge.db", dir.path().display());
    let server = spawn(&["--dev", "--database-url", &db]).await;
    let base = server.base.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let key = "dialbridge-dev";
    use reqwest::Method as M;

    let (status, app) = call(M::GET, format!("{base}/api/v1/app"), key, None).await;
    assert_eq!(status, 200, "{app}");
    assert_eq!(
        app["environments"]["custom"]["base_url"],
        format!("{base}/emulator")
    );
    let (status, _) = call(
        M::PUT,
        format!("{base}/api/v1/accounts/acme"),
        key,
        Some(json!({"name": "Acme"})),
    )
    .await;
    assert_eq!(status, 201);

    // OAuth through the in-process emulator.
    let (status, link) = call(
        M::POST,
        format!("{base}/api/v1/accounts/acme/connect"),
        key,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{link}");
    let connect_url = link["connect_url"].as_str().unwrap().to_owned();
    let connect_token = connect_url.rsplit('/').next().unwrap().to_owned();
    let response = http.get(&connect_url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let authorize = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        authorize.starts_with(&format!("{base}/emulator/oauth2/authorize?")),
        "{authorize}"
    );
    let consent_page = http
        .get(&authorize)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        consent_page.contains("Approve"),
        "a person can consent: {consent_page}"
    );
    let (status, decided) = call(
        M::POST,
        format!("{base}/emulator/_control/authorize"),
        key,
        Some(json!({"url": authorize})),
    )
    .await;
    assert_eq!(status, 200, "{decided}");
    let callback = url::Url::parse(decided["location"].as_str().unwrap()).unwrap();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let state = callback
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let page = http.get(callback.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Dialpad is connected"));
    let (status, check) = call(
        M::POST,
        format!("{base}/api/v1/accounts/acme/connection/check"),
        key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{check}");

    let dialpad_key = support::connect_acme_with_api_key(&base, key, "globex").await;

    let master_key = std::fs::read_to_string(dir.path().join("data/master.key"))
        .expect("a generated master key");
    let (status, output) = server.terminate().await;
    assert!(
        status.success(),
        "clean exit on SIGTERM: {status:?}\n{output}"
    );
    assert!(
        output.contains("Dev mode: the admin API key is `dialbridge-dev`"),
        "{output}"
    );
    assert!(output.contains("generated a master key"), "{output}");
    assert!(output.contains("shutting down"), "{output}");
    assert!(
        output.contains("account connected with OAuth"),
        "the log says what happened: {output}"
    );
    assert!(
        !output.contains('\x1b'),
        "a log read from a pipe carries no terminal colour codes: {output}"
    );
    for secret in [
        dialpad_key.as_str(),
        &code,
        &state,
        &connect_token,
        master_key.trim(),
        dialpad_emulator::Emulator::DEV_CLIENT_SECRET,
    ] {
        assert!(
            !output.contains(secret),
            "a secret ({}…) reached the output",
            &secret[..4]
        );
    }
}

/// Each request leaves one access line: its method, route template (never the raw path, which
/// may carry a token) and status, at INFO, or WARN for a 5xx. A request whose caller went away
/// before the answer leaves a line saying so, without a status.
#[tokio::test]
async fn each_request_leaves_one_access_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/dialbridge.db", dir.path().display());
    let server = spawn(&["--dev", "--database-url", &db]).await;
    let (base, key) = (server.base.clone(), "dialbridge-dev");
    let http = reqwest::Client::new();
    use reqwest::Method as M;
    let access_line = |route: &'static str, what: &'static str| {
        move |line: &str| {
            line.contains("dialbridge::access")
                && line.contains(&format!("route={route} "))
                && line.contains(what)
        }
    };

    let (status, _) = call(
        M::GET,
        format!("{base}/api/v1/accounts/who-is-this"),
        key,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let line = server
        .line_where(access_line("/api/v1/accounts/{account_id}", "status=404"))
        .await
        .unwrap_or_else(|| panic!("an access line for the 404: {}", server.output()));
    assert!(line.contains(" INFO "), "{line}");
    assert!(line.contains("answered method=GET"), "{line}");
    assert!(line.contains("latency_us="), "{line}");

    support::connect_acme_with_api_key(&base, key, "globex").await;
    let proxied = format!("{base}/proxy/globex/api/v2/company");
    let dialpad_fails = json!({"fault_every_nth": 1, "fault_status": 500});
    let config = format!("{base}/emulator/_control/config");
    let (status, _) = call(M::PATCH, config.clone(), key, Some(dialpad_fails)).await;
    assert_eq!(status, 200);
    let (status, _) = call(M::GET, proxied.clone(), key, None).await;
    assert_eq!(status, 500, "Dialpad's answer, relayed");
    let line = server
        .line_where(access_line("/proxy/{account_id}/{*path}", "status=500"))
        .await
        .unwrap_or_else(|| panic!("an access line for the 500: {}", server.output()));
    assert!(line.contains(" WARN "), "{line}");

    let dialpad_is_slow = json!({"fault_every_nth": 0, "latency_ms": 3000});
    let (status, _) = call(M::PATCH, config.clone(), key, Some(dialpad_is_slow)).await;
    assert_eq!(status, 200);
    let gave_up = http
        .get(&proxied)
        .bearer_auth(key)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(gave_up.is_err(), "the caller gives up: {gave_up:?}");
    let line = server
        .line_where(access_line("/proxy/{account_id}/{*path}", "abandoned"))
        .await
        .unwrap_or_else(|| {
            panic!(
                "an access line for the abandoned request: {}",
                server.output()
            )
        });
    assert!(!line.contains("status="), "{line}");

    let (_, output) = server.terminate().await;
    let access: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("dialbridge::access"))
        .collect();
    assert!(
        access
            .iter()
            .all(|line| !line.contains("who-is-this") && !line.contains("globex")),
        "access lines name route templates, not paths: {access:#?}"
    );
    let not_found = access
        .iter()
        .filter(|line| line.contains("status=404"))
        .count();
    assert_eq!(not_found, 1, "one line per request: {access:#?}");
}

/// An execution that runs to its end at ingest (a `set` step) leaves its `execution
/// finished` line. The line is said after the event is answered, outside the event writer's
/// turn (`AfterIngest` in `executions/slots.rs`), so it is waited for.
#[tokio::test]
async fn an_execution_run_at_ingest_leaves_its_log_line() {
    use crate::support::cluster::{self, hangup_workflow, Emu, Hook};
    let dir = tempfile::tempdir().unwrap();
    let emulator = cluster::emulator(dir.path(), &["--no-rate-limits"]).await;
    let emu = Emu::new(&emulator.base);
    let db = format!("sqlite://{}/dialbridge.db", dir.path().display());
    let server = cluster::serve(dir.path(), "solo", &db, &[]).await;
    let api = server.api();
    api.use_emulator(&emulator.base).await;
    api.put_workflow("hangup", hangup_workflow()).await;
    let company = emu.companies(1).await.remove(0);
    let key = company["api_key"].as_str().unwrap();
    api.connect_with_key("acct-0", key).await;
    api.enable("acct-0", "hangup").await;
    let hook = Hook::of(&api, &emu, "acct-0", key).await.expect("a hook");

    let delivery = hook.request(&api.http, &server.base, hook.event(1));
    let answered = delivery.send().await.unwrap();
    let answer: serde_json::Value = answered.json().await.unwrap();
    let id = answer["executions"][0]
        .as_str()
        .expect("an execution")
        .to_owned();
    let execution = api
        .ok(
            reqwest::Method::GET,
            &format!("/api/v1/executions/{id}"),
            None,
        )
        .await;
    assert_eq!(
        execution["status"], "succeeded",
        "run at ingest: {execution}"
    );

    let line = format!(r#"execution={id} workflow=hangup account_id=acct-0 status="succeeded""#);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !server.logged(&line) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no `{line}` in the log:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_generated_admin_key_is_printed_once_and_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/dialbridge.db", dir.path().display());
    let server = spawn(&["--database-url", &db]).await;
    let key = server
        .line_starting_with("dbk_")
        .await
        .unwrap_or_else(|| panic!("a generated key is printed: {}", server.output()));
    let (status, _) = call(
        reqwest::Method::GET,
        format!("{}/api/v1/app", server.base),
        &key,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = server.terminate().await;
    assert!(status.success());

    let again = spawn(&["--database-url", &db]).await;
    let (status, _) = call(
        reqwest::Method::GET,
        format!("{}/api/v1/app", again.base),
        &key,
        None,
    )
    .await;
    assert_eq!(status, 200, "the stored (hashed) key still works");
    let (_, output) = again.terminate().await;
    assert!(
        !output.contains("dbk_"),
        "the key is shown only on the start that made it"
    );
}

fn output_of(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A file made before incremental auto-vacuum (or by another tool) is rebuilt into that mode
/// once, keeping its rows, and the log says so; the next start has nothing to do.
#[tokio::test]
async fn a_file_without_incremental_vacuum_is_rebuilt_once() {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
    use sqlx::Row;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = SqlitePool::connect_with(options.clone()).await.unwrap();
    sqlx::query("CREATE TABLE kept (v TEXT); INSERT INTO kept VALUES ('still here')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let db = format!("sqlite://{}", path.display());
    let migrate = || async {
        Command::new(BIN)
            .args(["migrate", "--database-url", &db])
            .output()
            .await
            .unwrap()
    };
    let out = migrate().await;
    assert!(out.status.success(), "{}", output_of(&out));
    assert!(
        output_of(&out).contains("incremental auto-vacuum (one rebuild)"),
        "{}",
        output_of(&out)
    );
    let pool = SqlitePool::connect_with(options).await.unwrap();
    let mode: i64 = sqlx::query("PRAGMA auto_vacuum")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, 2, "INCREMENTAL");
    let kept: String = sqlx::query("SELECT v FROM kept")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, "still here");
    pool.close().await;
    let again = migrate().await;
    assert!(again.status.success(), "{}", output_of(&again));
    assert!(
        !output_of(&again).contains("rebuild"),
        "{}",
        output_of(&again)
    );
}

#[tokio::test]
async fn migrate_creates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/new/folder/dialbridge.db", dir.path().display());
    let out = Command::new(BIN)
        .args(["migrate", "--database-url", &db])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    assert!(
        !output_of(&out).contains("rebuild"),
        "a new file has nothing to rebuild: {}",
        output_of(&out)
    );
    assert!(dir.path().join("new/folder/dialbridge.db").exists());
    let again = Command::new(BIN)
        .args(["migrate", "--database-url", &db])
        .output()
        .await
        .unwrap();
    assert!(again.status.success(), "migrating twice is a no-op");

    let bad = Command::new(BIN)
        .args(["migrate", "--database-url", "mysql://x"])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("postgres"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[tokio::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn postgres_needs_a_master_key() {
    let (url, guard) = dialbridge_storage::testing::fresh_postgres(&support::postgres_admin_url())
        .await
        .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
        .env_remove("DIALBRIDGE_MASTER_KEY")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("DIALBRIDGE_MASTER_KEY"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    guard.cleanup().await;
}

#[tokio::test]
async fn the_emulator_alone_with_a_fixed_api_key_and_no_rate_limits() {
    let emulator = spawn_command(
        "emulator",
        &["--api-key", "emu-key", "--no-rate-limits"],
        "/_control/config",
    )
    .await;
    let http = reqwest::Client::new();
    let company = format!("{}/api/v2/company", emulator.base);
    for _ in 0..30 {
        let (status, body) = call(reqwest::Method::GET, company.clone(), "emu-key", None).await;
        assert_eq!(status, 200, "no 429 without rate limits: {body}");
        assert_eq!(body["name"], "Acme Corp");
    }
    // The key survives a reset of the world.
    let reset = http
        .post(format!("{}/_control/reset", emulator.base))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    let (status, _) = call(reqwest::Method::GET, company, "emu-key", None).await;
    assert_eq!(status, 200);
    let (exit, _) = emulator.terminate().await;
    assert!(exit.success(), "{exit}");
}

#[tokio::test]
async fn rotate_master_key_moves_the_database_to_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/dialbridge.db", dir.path().display());
    let (old, new) = ("11".repeat(32), "22".repeat(32));
    let serve_with = |key: &str| {
        [
            "--database-url".to_owned(),
            db.clone(),
            "--master-key".to_owned(),
            key.to_owned(),
            "--api-key".to_owned(),
            "admin-key".to_owned(),
            "--dev".to_owned(),
        ]
    };
    let args = serve_with(&old);
    let server = spawn(&args.each_ref().map(String::as_str)).await;
    let (status, _) = server.terminate().await;
    assert!(status.success());

    let rotate = |args: &[&str]| {
        Command::new(BIN)
            .arg("rotate-master-key")
            .args(["--database-url", &db])
            .args(args)
            .output()
    };
    let out = rotate(&["--master-key", &new, "--previous-master-key", &old])
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("app client secrets: 1 sealed again, 0 already"),
        "dev mode's client secret: {stdout}"
    );
    let again = rotate(&["--master-key", &new, "--previous-master-key", &old])
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&again.stdout)
            .contains("app client secrets: 0 sealed again, 1 already"),
        "running it again changes nothing"
    );
    let wrong = rotate(&[
        "--master-key",
        &"33".repeat(32),
        "--previous-master-key",
        &"44".repeat(32),
    ])
    .await
    .unwrap();
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("neither key opens"));

    let refused = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(serve_with(&old))
        .output()
        .await
        .unwrap();
    assert!(
        !refused.status.success(),
        "the old key alone no longer opens it"
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("master key does not match"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let args = serve_with(&new);
    let server = spawn(&args.each_ref().map(String::as_str)).await;
    let (status, log) = call(
        reqwest::Method::GET,
        format!("{}/api/v1/audit-log", server.base),
        "admin-key",
        None,
    )
    .await;
    assert_eq!(status, 200, "{log}");
    assert_eq!(log["items"][0]["action"], "master_key.rotate");
    assert_eq!(log["items"][0]["source"], "cli");
    let (status, output) = server.terminate().await;
    assert!(status.success());
    for key in [&old, &new] {
        assert!(
            !output.contains(key.as_str()),
            "a master key reached the output"
        );
    }
}

#[tokio::test]
async fn version_names_the_commit() {
    let out = Command::new(BIN).arg("--version").output().await.unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    let commit = printed
        .trim()
        .strip_prefix(concat!(
            "dialbridge ",
            env!("CARGO_PKG_VERSION"),
            " (commit "
        ))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{printed}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{printed}"
    );
}

#[tokio::test]
async fn a_port_in_use_is_reported_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/dialbridge.db", dir.path().display());
    let out = support::dialbridge(&["serve", "--dev", "--listen", &listen, "--database-url", &db])
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr
            .matches(&format!("cannot listen on {listen}"))
            .count(),
        1,
        "{stderr}"
    );
    // The last word, after every log line written before it.
    let last = stderr.lines().rev().find(|line| !line.trim().is_empty());
    assert!(
        last.is_some_and(|line| line.contains("cannot listen on")),
        "{stderr}"
    );
}

/// Nobody reads `serve`'s stderr (a stopped collector, a pipe left full): requests are still
/// answered, the log lines that did not fit are dropped instead of stalling them, and once
/// stderr is read again a warning says lines were lost.
#[tokio::test]
async fn requests_are_answered_while_nobody_reads_the_log() {
    const REQUESTS: usize = 20_000;
    const CONNECTIONS: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let database = format!("sqlite://{}/dialbridge.db", dir.path().display());
    let mut child = support::dialbridge(&["serve", "--listen", &listen])
        .args(["--database-url", &database, "--api-key", "log-test-key"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dialbridge starts");
    // Held open and not read: the pipe fills after a few hundred lines.
    let stderr = child.stderr.take().unwrap();
    let base = format!("http://{listen}");
    assert!(support::ready(&format!("{base}/healthz")).await);

    // Each answered request logs a line at INFO: far more lines than the pipe (64 KiB) and
    // the log's queue (16,384 lines) hold together.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut connections = tokio::task::JoinSet::new();
    for _ in 0..CONNECTIONS {
        let (http, url) = (http.clone(), format!("{base}/healthz"));
        connections.spawn(async move {
            for _ in 0..REQUESTS / CONNECTIONS {
                let response = http.get(&url).send().await.map_err(|e| e.to_string())?;
                if !response.status().is_success() {
                    return Err(format!("answered {}", response.status()));
                }
            }
            Ok::<_, String>(())
        });
    }
    while let Some(done) = connections.join_next().await {
        if let Err(e) = done.unwrap() {
            panic!("a request was not answered while stderr was not read: {e}");
        }
    }

    let mut lines = BufReader::new(stderr).lines();
    let warned = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("log lines were dropped") {
                return line;
            }
        }
        panic!("stderr ended without saying lines were dropped");
    })
    .await
    .expect("a warning about dropped log lines within 30 s of reading stderr again");
    assert!(warned.contains("WARN"), "{warned}");
    child.kill().await.unwrap();
}
