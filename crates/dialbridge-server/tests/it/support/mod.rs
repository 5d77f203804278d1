//! `TestApp`: a real dialbridge server on a random port with a fresh database (a SQLite file or
//! a PostgreSQL database of its own) and a real emulator over HTTP, so tests read as stories.

use std::time::Duration;

use clap::Parser;
use dialbridge_core::{AccountId, Cipher, MasterKey, Platform};
use dialbridge_server::{start, Running, ServeConfig, StartError};
use dialbridge_storage::testing::{fresh_postgres, TestDbGuard};
use dialpad_emulator::{Emulator, EmulatorConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `sqlite::<name>` and `postgres::<name>` tests from `async fn <name>(backend)`; the
/// PostgreSQL ones are ignored unless `DIALBRIDGE_TEST_DATABASE_URL` was set when they were
/// built (see this crate's build.rs).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { super::$name($crate::support::Backend::Sqlite).await } )* }
        mod postgres { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #[cfg_attr(not(postgres_tests), ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests")]
            async fn $name() { super::$name($crate::support::Backend::Postgres).await }
        )* }
    };
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

pub struct Options {
    pub refresh_margin_secs: u64,
    pub connect_link_ttl_secs: u64,
    /// More `serve` flags, e.g. `["--max-connections", "2"]`.
    pub serve_args: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            refresh_margin_secs: 300,
            connect_link_ttl_secs: 1800,
            serve_args: Vec::new(),
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub api_key: String,
    pub http: reqwest::Client,
    pub emulator: Emulator,
    pub emulator_url: String,
    pub database_url: String,
    pub master_key: String,
    pub platform: Platform,
    servers: Vec<(CancellationToken, Running)>,
    emulator_shutdown: CancellationToken,
    options_refresh_margin: u64,
    _sqlite_dir: Option<tempfile::TempDir>,
    pg_guard: Option<TestDbGuard>,
}

pub const DEFAULT_SCOPES: &[&str] = &["calls:list"];

impl TestApp {
    /// Panics for the PostgreSQL backend when `DIALBRIDGE_TEST_DATABASE_URL` is not set.
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, Options::default()).await
    }

    pub async fn spawn_with(backend: Backend, options: Options) -> TestApp {
        let (database_url, sqlite_dir, pg_guard) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/dialbridge.db", dir.path().display());
                (url, Some(dir), None)
            }
            Backend::Postgres => {
                let (url, guard) = fresh_postgres(&postgres_admin_url())
                    .await
                    .expect("fresh PostgreSQL database");
                (url, None, Some(guard))
            }
        };
        // These tests burst 50 concurrent calls at one company to prove single-flight refresh;
        // Dialpad's 20 requests/s would turn that into a rate-limit test, which it is not.
        let emulator = Emulator::new(EmulatorConfig {
            rate_limits: false,
            ..EmulatorConfig::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind emulator");
        let emulator_url = format!("http://{}", listener.local_addr().expect("addr"));
        let emulator_shutdown = CancellationToken::new();
        let stop = emulator_shutdown.clone();
        tokio::spawn(
            emulator
                .clone()
                .serve(listener, async move { stop.cancelled().await }),
        );

        let master_key = MasterKey::generate().to_hex().expose().to_owned();
        let api_key = format!("test-admin-{}", rand::random::<u64>());
        let running = start_server(&database_url, &api_key, &master_key, &options).await;
        TestApp {
            base: format!("http://{}", running.1.local_addr),
            api_key,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            emulator,
            emulator_url,
            database_url,
            master_key,
            platform: running.1.platform.clone(),
            servers: vec![running],
            emulator_shutdown,
            options_refresh_margin: options.refresh_margin_secs,
            _sqlite_dir: sqlite_dir,
            pg_guard,
        }
    }

    /// A second dialbridge process on the same database (a scaled-out deployment).
    pub async fn second_server(&mut self) -> String {
        let options = Options {
            refresh_margin_secs: self.options_refresh_margin,
            ..Options::default()
        };
        let running = start_server(
            &self.database_url,
            &self.api_key,
            &self.master_key,
            &options,
        )
        .await;
        let base = format!("http://{}", running.1.local_addr);
        self.servers.push(running);
        base
    }

    /// Stops the servers, then starts one on the same database with `master_key` (and
    /// `previous`, as during a key rotation); it is the app's server from then on.
    pub async fn restart_with_keys(
        &mut self,
        master_key: &str,
        previous: Option<&str>,
    ) -> Result<(), StartError> {
        self.stop_servers().await;
        let options = Options {
            refresh_margin_secs: self.options_refresh_margin,
            ..Options::default()
        };
        let running = try_start_server(
            &self.database_url,
            &self.api_key,
            (master_key, previous),
            &options,
        )
        .await?;
        self.base = format!("http://{}", running.1.local_addr);
        self.platform = running.1.platform.clone();
        self.master_key = master_key.to_owned();
        self.servers.push(running);
        Ok(())
    }

    /// Shuts the servers down as SIGTERM would and waits until each has stopped (its executor
    /// drained); the database and the emulator stay. `restart_with_keys` starts one again.
    pub async fn stop_servers(&mut self) {
        for (token, running) in self.servers.drain(..) {
            token.cancel();
            running.wait().await.expect("clean shutdown");
        }
    }

    pub fn cipher(&self) -> Cipher {
        Cipher::new(&MasterKey::parse(&self.master_key).expect("master key"))
    }

    pub fn api(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.api_key)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.api(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn emulator_call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{}", self.emulator_url, path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("emulator request")).await
    }

    /// A `GET` of Dialpad's API v2 at the emulator with `key`: what Dialpad itself holds.
    pub async fn dialpad_get(&self, path: &str, key: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.emulator_url))
            .bearer_auth(key)
            .send()
            .await
            .expect("emulator request")
            .json()
            .await
            .expect("JSON from the emulator")
    }

    /// The requests the emulator received since the last call, oldest first (and forgets them).
    pub async fn take_dialpad_requests(&self) -> Vec<Value> {
        let (_, log) = self
            .emulator_call(Method::GET, "/_control/requests", None)
            .await;
        self.emulator_call(Method::DELETE, "/_control/requests", None)
            .await;
        log.as_array().expect("the request log").clone()
    }

    pub async fn emulator_stats(&self) -> Value {
        self.emulator_call(Method::GET, "/_control/stats", None)
            .await
            .1
    }

    pub async fn refresh_count(&self) -> u64 {
        self.emulator_stats().await["token_requests"]["refresh_token"]
            .as_u64()
            .expect("refresh count")
    }

    /// A new company-admin Dialpad API key of the emulator's first company (Acme).
    pub async fn dialpad_api_key(&self) -> String {
        let (_, companies) = self
            .emulator_call(Method::GET, "/_control/companies", None)
            .await;
        let (status, made) = self
            .emulator_call(
                Method::POST,
                "/_control/api-keys",
                Some(json!({"company_id": companies[0]["id"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        made["api_key"].as_str().expect("api_key").to_owned()
    }

    /// Points the `custom` environment at the emulator with its dev app and selects scopes.
    /// Turns Dialpad's limits on at the emulator and dialbridge's throttle to them on.
    pub async fn hold_dialpads_limits(&self) {
        self.hold_dialpads_limits_as(json!({})).await;
    }

    /// `hold_dialpads_limits`, dialbridge's throttle set to `rate_limits` (as `PUT
    /// /api/v1/app/credentials/{env}` takes it).
    pub async fn hold_dialpads_limits_as(&self, rate_limits: Value) {
        self.emulator_call(
            Method::PATCH,
            "/_control/config",
            Some(json!({ "rate_limits": true })),
        )
        .await;
        self.save_custom_credentials(&self.emulator_url, rate_limits)
            .await;
    }

    /// Saves the `custom` environment's credentials (the emulator's dev app) with `base_url`
    /// and `rate_limits`.
    pub async fn save_custom_credentials(&self, base_url: &str, rate_limits: Value) {
        let (status, body) = self
            .call(
                Method::PUT,
                "/api/v1/app/credentials/custom",
                Some(json!({
                    "client_id": Emulator::DEV_CLIENT_ID,
                    "client_secret": Emulator::DEV_CLIENT_SECRET,
                    "base_url": base_url,
                    "rate_limits": rate_limits,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    pub async fn configure_app(&self) {
        // The emulator runs without Dialpad's limits unless a test turns them on
        // (`hold_dialpads_limits`).
        self.save_custom_credentials(&self.emulator_url, json!({"enabled": false}))
            .await;
        let (status, body) = self
            .call(
                Method::PUT,
                "/api/v1/app/scopes",
                Some(json!({"scopes": DEFAULT_SCOPES})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    pub async fn create_account(&self, id: &str) -> Value {
        let (status, body) = self
            .call(
                Method::PUT,
                &format!("/api/v1/accounts/{id}"),
                Some(json!({"name": format!("Customer {id}")})),
            )
            .await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status} {body}"
        );
        body
    }

    /// Starts a connect attempt and follows the browser to Dialpad's authorize URL.
    pub async fn authorize_url(&self, account: &str, redirect_url: Option<&str>) -> Url {
        let mut body = json!({});
        if let Some(url) = redirect_url {
            body["redirect_url"] = json!(url);
        }
        let (status, link) = self
            .call(
                Method::POST,
                &format!("/api/v1/accounts/{account}/connect"),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{link}");
        let response = self
            .http
            .get(link["connect_url"].as_str().expect("connect_url"))
            .send()
            .await
            .expect("open link");
        assert_eq!(response.status(), StatusCode::FOUND);
        location(&response)
    }

    /// The emulator's consent, decided without a browser: answers where Dialpad sends the browser.
    pub async fn consent(&self, authorize_url: &Url, decision: &str) -> Url {
        let (status, body) = self
            .emulator_call(
                Method::POST,
                "/_control/authorize",
                Some(json!({"url": authorize_url.as_str(), "decision": decision})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        Url::parse(body["location"].as_str().expect("location")).expect("location URL")
    }

    /// The whole OAuth connect flow; answers where dialbridge finally sent the browser.
    pub async fn connect_oauth(&self, account: &str) -> Url {
        let authorize = self
            .authorize_url(account, Some("https://vendor.example/done"))
            .await;
        let callback = self.consent(&authorize, "approve").await;
        let response = self
            .http
            .get(callback.as_str())
            .send()
            .await
            .expect("callback");
        assert_eq!(
            response.status(),
            StatusCode::FOUND,
            "{:?}",
            response.text().await
        );
        let done = location(&response);
        assert_eq!(
            query(&done, "status").as_deref(),
            Some("connected"),
            "{done}"
        );
        done
    }

    /// A SQLite-backed app with the emulator configured and `account` connected with OAuth
    /// (as the first seeded company's admin), for tests of what comes after connecting.
    pub async fn connected(account: &str) -> TestApp {
        Self::connected_on(Backend::Sqlite, account).await
    }

    /// `connected` on a chosen backend.
    pub async fn connected_on(backend: Backend, account: &str) -> TestApp {
        let app = TestApp::spawn(backend).await;
        app.configure_app().await;
        app.create_account(account).await;
        app.connect_oauth(account).await;
        app
    }

    pub async fn connection(&self, account: &str) -> Value {
        let (status, body) = self.get(&format!("/api/v1/accounts/{account}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["connection"].clone()
    }

    pub async fn check(&self, base: &str, account: &str) -> (StatusCode, Value) {
        let request = self
            .http
            .post(format!("{base}/api/v1/accounts/{account}/connection/check"))
            .bearer_auth(&self.api_key);
        read(request.send().await.expect("check")).await
    }

    pub async fn stored_hook(&self, account: &str) -> dialbridge_core::HookRecord {
        let id = AccountId::parse(account).expect("id");
        self.platform
            .store()
            .get_hook_for_account(&id)
            .await
            .expect("store")
            .expect("hook row")
    }

    pub async fn stored_connection(&self, account: &str) -> dialbridge_core::ConnectionRecord {
        let id = AccountId::parse(account).expect("id");
        self.platform
            .store()
            .get_connection(&id)
            .await
            .expect("store")
            .expect("connection row")
    }

    /// Stops the servers and checks that every answer the emulator gave matched the spec.
    pub async fn shutdown(mut self) {
        self.emulator.assert_responses_matched_spec();
        self.stop_servers().await;
        self.emulator_shutdown.cancel();
        if let Some(guard) = self.pg_guard.take() {
            guard.cleanup().await;
        }
    }
}

async fn start_server(
    database_url: &str,
    api_key: &str,
    master_key: &str,
    options: &Options,
) -> (CancellationToken, Running) {
    try_start_server(database_url, api_key, (master_key, None), options)
        .await
        .expect("server starts")
}

/// A server with a master key and, during a rotation, the previous one.
async fn try_start_server(
    database_url: &str,
    api_key: &str,
    (master_key, previous): (&str, Option<&str>),
    options: &Options,
) -> Result<(CancellationToken, Running), StartError> {
    let margin = options.refresh_margin_secs.to_string();
    let ttl = options.connect_link_ttl_secs.to_string();
    let flags = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        database_url,
        "--api-key",
        api_key,
        "--master-key",
        master_key,
        "--refresh-margin-secs",
        &margin,
        "--connect-link-ttl-secs",
        &ttl,
    ];
    // Vendor webhook retries after 5 ms, 30 ms, 120 ms, …: the whole schedule in ~13 s,
    // unless the test sets its own unit.
    let retry_base = ["--webhook-retry-base-ms", "1"];
    let own_retry_base = options.serve_args.iter().any(|a| a == retry_base[0]);
    let args = flags
        .into_iter()
        .chain(retry_base.into_iter().filter(|_| !own_retry_base))
        .map(str::to_owned)
        .chain(options.serve_args.iter().cloned());
    let mut config = ServeConfig::try_parse_from(args).expect("serve flags");
    config.previous_master_key = previous.map(str::to_owned);
    let shutdown = CancellationToken::new();
    let running = start(config, shutdown.clone()).await?;
    Ok((shutdown, running))
}

pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// A request whose path is sent exactly as written (`/api/v1/accounts/%2e%2e`), which no URL
/// library allows: they normalise dot segments away. HTTP/1.1 over a plain socket.
pub async fn raw_request(
    app: &TestApp,
    method: &str,
    raw_path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {raw_path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        app.api_key,
        body.len()
    );
    socket.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer);
    let (head, rest) = answer.split_once("\r\n\r\n").expect("a head");
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let text = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (StatusCode::from_u16(status).expect("status"), value)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

pub fn location(response: &reqwest::Response) -> Url {
    let text = response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .expect("ascii");
    Url::parse(text).expect("absolute Location")
}

pub fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_within(Duration::from_secs(5), what, check).await
}

/// Sends `request` and hangs up, as a client that gives up would, once `reached` (asked until
/// it holds, for at most 10 s) says the request's work got to Dialpad; panics if the request
/// was answered first.
pub async fn hang_up_once<F, Fut>(request: reqwest::RequestBuilder, what: &str, reached: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let caller = tokio::spawn(request.send());
    eventually_within(Duration::from_secs(10), what, reached).await;
    caller.abort();
    assert!(
        caller.await.is_err_and(|e| e.is_cancelled()),
        "answered before its caller hung up ({what})"
    );
}

/// Polls `check` every 50 ms until it holds; fails the test after `bound`.
pub async fn eventually_within<F, Fut>(bound: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let give_up = std::time::Instant::now() + bound;
    while std::time::Instant::now() < give_up {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}
