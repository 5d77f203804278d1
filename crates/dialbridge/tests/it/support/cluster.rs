//! What the cluster proofs share: `dialbridge serve` and `dialbridge emulator` as processes of
//! their own (logging to a file the failure messages quote), the admin API and the emulator's
//! control API over loopback, Dialpad events signed as Dialpad signs them, and a look straight
//! into the database to count what happened.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use jsonwebtoken::{EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::{AnyPool, Row};
use tokio::process::Child;

use super::{dialbridge, free_port, ready};

/// The admin API key of every process of a cluster.
pub const KEY: &str = "cluster-proofs-admin-key";
/// The master key of every process of a cluster (the same on all, as the README says).
pub const MASTER_KEY: &str = "4242424242424242424242424242424242424242424242424242424242424242";

/// Waits for this test's turn among the proofs: each starts several processes and some
/// measure how soon things happen, so they run one at a time (other tests still run beside).
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::OnceLock<tokio::sync::Mutex<()>> = std::sync::OnceLock::new();
    TURN.get_or_init(Default::default).lock().await
}

/// A `dialbridge` process.
pub struct Proc {
    child: Child,
    pub name: String,
    pub base: String,
    log: PathBuf,
}

impl Proc {
    /// Runs `dialbridge <args> --listen <free port>` with its output in `<dir>/<name>.log`,
    /// until `probe` answers 2xx.
    pub async fn start(dir: &Path, name: &str, args: &[String], probe: &str) -> Proc {
        let port = free_port();
        Proc::start_on(dir, name, args, probe, port).await
    }

    /// The same on a given port (a restart on the port of a killed process).
    pub async fn start_on(dir: &Path, name: &str, args: &[String], probe: &str, port: u16) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let listen = format!("127.0.0.1:{port}");
        let child = dialbridge(&[])
            .args(args)
            .args(["--listen", &listen])
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("dialbridge starts");
        let process = Proc {
            child,
            name: name.to_owned(),
            base: format!("http://{listen}"),
            log,
        };
        if !ready(&format!("{}{probe}", process.base)).await {
            panic!("{name} did not become ready:\n{}", process.log_tail());
        }
        process
    }

    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// `kill -9`, and waits until it is gone.
    pub async fn kill9(&mut self) {
        let pid = self.child.id().expect("running").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        self.child.wait().await.unwrap();
    }

    /// The last lines the process logged, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Whether the process logged something containing `text`.
    pub fn logged(&self, text: &str) -> bool {
        std::fs::read_to_string(&self.log).is_ok_and(|log| log.contains(text))
    }

    pub fn api(&self) -> Api {
        Api::new(&self.base)
    }
}

/// `dialbridge emulator` as its own process.
pub async fn emulator(dir: &Path, args: &[&str]) -> Proc {
    let mut all = vec!["emulator".to_owned()];
    all.extend(args.iter().map(|a| a.to_string()));
    Proc::start(dir, "emulator", &all, "/_control/config").await
}

/// `dialbridge serve` on `database_url` with the cluster's keys and `args`.
pub fn serve_args(database_url: &str, args: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = [
        "serve",
        "--database-url",
        database_url,
        "--api-key",
        KEY,
        "--master-key",
        MASTER_KEY,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    all.extend(args.iter().map(|a| a.to_string()));
    all
}

pub async fn serve(dir: &Path, name: &str, database_url: &str, args: &[&str]) -> Proc {
    Proc::start(dir, name, &serve_args(database_url, args), "/healthz").await
}

/// The admin API of one process.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base: base.to_owned(),
        }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A call that must answer 2xx; its body.
    pub async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {}{path} answered {status}: {answer}",
            self.base
        );
        answer
    }

    /// Points the `custom` environment at the emulator `base`, with dialbridge's throttle on.
    pub async fn use_emulator(&self, emulator: &str) {
        self.use_emulator_limited(emulator, Value::Null).await;
    }

    /// The same, with the throttle's `rate_limits` set (`null`: Dialpad's documented ones).
    pub async fn use_emulator_limited(&self, emulator: &str, rate_limits: Value) {
        let mut body = json!({
            "client_id": "dialbridge-dev",
            "client_secret": "dialbridge-dev-secret",
            "base_url": emulator,
        });
        if !rate_limits.is_null() {
            body["rate_limits"] = rate_limits;
        }
        self.ok(Method::PUT, "/api/v1/app/credentials/custom", Some(body))
            .await;
    }

    /// Creates `account` and connects it with a Dialpad API key.
    pub async fn connect_with_key(&self, account: &str, api_key: &str) {
        self.ok(
            Method::PUT,
            &format!("/api/v1/accounts/{account}"),
            Some(json!({})),
        )
        .await;
        self.ok(
            Method::PUT,
            &format!("/api/v1/accounts/{account}/connection"),
            Some(json!({ "auth_type": "api_key", "api_key": api_key, "environment": "custom" })),
        )
        .await;
    }

    pub async fn put_workflow(&self, key: &str, definition: Value) {
        self.ok(
            Method::PUT,
            &format!("/api/v1/workflows/{key}"),
            Some(definition),
        )
        .await;
    }

    pub async fn enable(&self, account: &str, workflow: &str) {
        self.ok(
            Method::PUT,
            &format!("/api/v1/accounts/{account}/workflows/{workflow}"),
            Some(json!({})),
        )
        .await;
    }

    /// The sum of a metric family over the label sets containing `labels`.
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| {
                l.strip_prefix(name).is_some_and(|rest| {
                    (rest.starts_with('{') || rest.starts_with(' ')) && rest.contains(labels)
                })
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// The emulator's control API and its API v2 as a company sees it.
pub struct Emu {
    pub http: reqwest::Client,
    pub base: String,
}

impl Emu {
    pub fn new(base: &str) -> Emu {
        Emu {
            http: reqwest::Client::new(),
            base: base.to_owned(),
        }
    }

    pub async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let answer = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path} answered {status}: {answer}");
        answer
    }

    /// `count` new companies, each with a company API key.
    pub async fn companies(&self, count: usize) -> Vec<Value> {
        let made = self
            .control(
                Method::POST,
                "/_control/companies/bulk",
                Some(json!({ "count": count })),
            )
            .await;
        made.as_array().unwrap().clone()
    }

    pub async fn configure(&self, patch: Value) {
        self.control(Method::PATCH, "/_control/config", Some(patch))
            .await;
    }

    pub async fn stats(&self) -> Value {
        self.control(Method::GET, "/_control/stats", None).await
    }

    /// The secret of a webhook, as Dialpad shows it to its company. The request is the
    /// company's, counted in its rate limits, and not dialbridge's: its throttle cannot see it.
    pub async fn hook_secret(&self, webhook: &str, api_key: &str) -> String {
        let hook: Value = self
            .http
            .get(format!("{}/api/v2/webhooks/{webhook}", self.base))
            .bearer_auth(api_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        hook["signature"]["secret"]
            .as_str()
            .unwrap_or_else(|| panic!("webhook {webhook} has no secret: {hook}"))
            .to_owned()
    }
}

/// The call id of event 0; event `n` is call `CALL_BASE + n`.
const CALL_BASE: u64 = 7_000_000_000_000_000;

/// An account's Dialpad hook: its path and the key its events are signed with.
#[derive(Clone)]
pub struct Hook {
    pub path: String,
    key: EncodingKey,
}

impl Hook {
    /// The hook of `account`'s Dialpad webhook (`None`: it has none).
    pub async fn of(api: &Api, emu: &Emu, account: &str, api_key: &str) -> Option<Hook> {
        let view = api
            .ok(Method::GET, &format!("/api/v1/accounts/{account}"), None)
            .await;
        let events = &view["dialpad_events"];
        let url = url::Url::parse(events["hook_url"].as_str()?).unwrap();
        let webhook = events["dialpad_webhook_id"].as_str().expect("a webhook id");
        let secret = emu.hook_secret(webhook, api_key).await;
        Some(Hook {
            path: url.path().to_owned(),
            key: EncodingKey::from_secret(secret.as_bytes()),
        })
    }

    /// A unique `hangup` call event (so `call.hangup` matches), numbered `n`, HS256-signed
    /// with the hook's secret as Dialpad signs it.
    pub fn event(&self, n: u64) -> String {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let event = json!({
            "call_id": (CALL_BASE + n).to_string(),
            "state": "hangup",
            "direction": "inbound",
            "external_number": "+14155550150",
            "event_timestamp": now_ms,
        });
        jsonwebtoken::encode(&Header::default(), &event, &self.key).unwrap()
    }

    /// Posts event `n` to the process at `base`; its status, or the transport error.
    pub async fn post(&self, http: &reqwest::Client, base: &str, n: u64) -> Result<u16, String> {
        self.deliver(http, base, self.event(n)).await
    }

    /// Posts a signed event (`event`) as Dialpad delivers it, or delivers it again.
    pub async fn deliver(
        &self,
        http: &reqwest::Client,
        base: &str,
        jwt: String,
    ) -> Result<u16, String> {
        self.request(http, base, jwt)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| format!("{e:?}"))
    }

    /// The request that delivers a signed event to the process at `base`.
    pub fn request(
        &self,
        http: &reqwest::Client,
        base: &str,
        jwt: String,
    ) -> reqwest::RequestBuilder {
        http.post(format!("{base}{}", self.path))
            .header("content-type", "application/jwt")
            .body(jwt)
    }
}

/// `host:port` of the test PostgreSQL server, for a proxy in front of it.
pub fn postgres_server() -> String {
    let url = url::Url::parse(&super::postgres_admin_url()).unwrap();
    format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
}

/// A fresh PostgreSQL database for one test, dropped at the end.
pub struct Postgres {
    pub url: String,
    guard: dialbridge_storage::testing::TestDbGuard,
}

impl Postgres {
    pub async fn fresh() -> Postgres {
        let (url, guard) =
            dialbridge_storage::testing::fresh_postgres(&super::postgres_admin_url())
                .await
                .unwrap();
        Postgres { url, guard }
    }

    /// The same database through a proxy listening on `port`.
    pub fn url_via(&self, port: u16) -> String {
        let mut url = url::Url::parse(&self.url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(port)).unwrap();
        url.to_string()
    }

    pub async fn cleanup(self) {
        self.guard.cleanup().await;
    }
}

/// A look straight into a dialbridge database (SQLite or PostgreSQL).
pub struct Db(AnyPool);

impl Db {
    pub async fn open(url: &str) -> Db {
        sqlx::any::install_default_drivers();
        Db(sqlx::pool::PoolOptions::new()
            .max_connections(2)
            .connect(url)
            .await
            .unwrap())
    }

    /// One BIGINT (or COUNT) answer.
    pub async fn number(&self, sql: &str) -> i64 {
        sqlx::query(sql)
            .fetch_one(&self.0)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get::<i64, _>(0)
    }

    /// Runs one statement that answers no rows.
    pub async fn execute(&self, sql: &str) {
        sqlx::query(sql)
            .execute(&self.0)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Rows of two columns: text and BIGINT.
    pub async fn pairs(&self, sql: &str) -> Vec<(String, i64)> {
        sqlx::query(sql)
            .fetch_all(&self.0)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|row| (row.get::<String, _>(0), row.get::<i64, _>(1)))
            .collect()
    }

    /// Executions by status.
    pub async fn statuses(&self) -> Vec<(String, i64)> {
        self.pairs("SELECT status, COUNT(*) FROM executions GROUP BY status ORDER BY status")
            .await
    }

    /// Waits until `count` executions exist and none is queued or running; panics with the
    /// statuses when `limit` runs out first. Answers how long it took.
    pub async fn wait_finished(&self, count: i64, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let total = self.number("SELECT COUNT(*) FROM executions").await;
            let open = self
                .number("SELECT COUNT(*) FROM executions WHERE status IN ('queued', 'running')")
                .await;
            if total >= count && open == 0 {
                return start.elapsed();
            }
            if start.elapsed() > limit {
                panic!(
                    "{total} executions of {count} after {limit:?}, {open} unfinished: {:?}",
                    self.statuses().await
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Per stored event, by its number (`Hook::event(n)`): how many executions it started
    /// and how many of those succeeded.
    pub async fn stored_events(&self) -> std::collections::HashMap<u64, (i64, i64)> {
        sqlx::query(
            "SELECT e.payload, COUNT(x.id), \
                    COALESCE(SUM(CASE WHEN x.status = 'succeeded' THEN 1 ELSE 0 END), 0) \
             FROM events e LEFT JOIN executions x ON x.event_id = e.id \
             GROUP BY e.id, e.payload",
        )
        .fetch_all(&self.0)
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let payload: Value = serde_json::from_str(&row.get::<String, _>(0)).unwrap();
            let call: u64 = payload["call_id"].as_str().unwrap().parse().unwrap();
            (
                call - CALL_BASE,
                (row.get::<i64, _>(1), row.get::<i64, _>(2)),
            )
        })
        .collect()
    }

    /// Events that started other than exactly one execution, with how many they started.
    pub async fn events_not_run_once(&self) -> Vec<(String, i64)> {
        self.pairs(
            "SELECT e.id, COUNT(x.id) FROM events e LEFT JOIN executions x ON x.event_id = e.id \
             GROUP BY e.id HAVING COUNT(x.id) <> 1",
        )
        .await
    }
}

/// The workflow most proofs run: `call.hangup` → one `set` step. It runs at ingest where the
/// process storing the event holds the account's shard (`at_ingest.rs`), else in the
/// executor of the shard's holder.
pub fn hangup_workflow() -> Value {
    json!({
        "name": "Hangup",
        "trigger": { "type": "call.hangup" },
        "steps": [ { "id": "note", "set": { "call": "{{ event.call_id }}" } } ],
    })
}

/// `hangup_workflow` with its step inside a `for_each`: not self-contained, so it never runs
/// at ingest (`at_ingest.rs`) and each execution goes through the executor — started at ingest
/// (leased), or claimed.
pub fn hangup_workflow_for_the_executor() -> Value {
    json!({
        "name": "Hangup",
        "trigger": { "type": "call.hangup" },
        "steps": [ { "id": "each", "for_each": "[event.call_id]", "steps": [
            { "id": "note", "set": { "call": "{{ item }}" } },
        ] } ],
    })
}

/// Posts events `0..count` (event `n` to hook `n % hooks`, process `n % bases`) from
/// `concurrency` clients at once; answers each event's status (`Err` for a transport error).
pub async fn post_events(
    hooks: &[Hook],
    bases: &[String],
    count: u64,
    concurrency: usize,
) -> Vec<Result<u16, String>> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let next = Arc::new(AtomicU64::new(0));
    // Idle connections are dropped before the server's own idle and header timeouts close
    // them, as a load balancer in front of dialbridge does (else a request may be sent on a
    // connection the server is closing).
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (next, http, hooks, bases) =
            (next.clone(), http.clone(), hooks.to_vec(), bases.to_vec());
        clients.spawn(async move {
            let mut answers = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= count {
                    return answers;
                }
                let hook = &hooks[n as usize % hooks.len()];
                let base = &bases[n as usize % bases.len()];
                answers.push((n, hook.post(&http, base, n).await));
            }
        });
    }
    let mut all = Vec::new();
    while let Some(answers) = clients.join_next().await {
        all.extend(answers.unwrap());
    }
    all.sort_by_key(|(n, _)| *n);
    all.into_iter().map(|(_, answer)| answer).collect()
}

/// A cluster on a fresh PostgreSQL database: the emulator and `serve` processes, the
/// accounts (each its own emulator company, so they spread over the shards) and their hooks.
pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub pg: Postgres,
    pub emulator: Proc,
    pub emu: Emu,
    pub nodes: Vec<Proc>,
    pub db: Db,
    pub hooks: Vec<Hook>,
    /// Each account's id and its company's API key.
    pub accounts: Vec<(String, String)>,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Fleet {
    /// `nodes` processes named a, b, c… on one fresh database, reaching it through the proxy
    /// on `proxy_port` when given, each with `serve_args`; the emulator with `emulator_args`.
    pub async fn start(
        nodes: usize,
        emulator_args: &[&str],
        serve_args: &[&str],
        proxy_port: Option<u16>,
    ) -> Fleet {
        let turn = one_at_a_time().await;
        let dir = tempfile::tempdir().unwrap();
        let pg = Postgres::fresh().await;
        let emulator = emulator(dir.path(), emulator_args).await;
        let emu = Emu::new(&emulator.base);
        let url = proxy_port.map_or_else(|| pg.url.clone(), |port| pg.url_via(port));
        let mut procs = Vec::new();
        for i in 0..nodes {
            let name = ((b'a' + i as u8) as char).to_string();
            procs.push(serve(dir.path(), &name, &url, serve_args).await);
        }
        procs[0].api().use_emulator(&emulator.base).await;
        let db = Db::open(&pg.url).await;
        Fleet {
            dir,
            pg,
            emulator,
            emu,
            nodes: procs,
            db,
            hooks: Vec::new(),
            accounts: Vec::new(),
            _turn: turn,
        }
    }

    /// `count` accounts, each connected to a new emulator company with its API key and with
    /// `workflow` enabled (saved as `key`); the hooks of those with a Dialpad webhook.
    pub async fn accounts(&mut self, count: usize, key: &str, workflow: Value) {
        let api = self.nodes[0].api();
        api.put_workflow(key, workflow).await;
        for (i, company) in self.emu.companies(count).await.iter().enumerate() {
            let account = format!("acct-{i}");
            let api_key = company["api_key"].as_str().unwrap().to_owned();
            api.connect_with_key(&account, &api_key).await;
            api.enable(&account, key).await;
            self.hooks
                .extend(Hook::of(&api, &self.emu, &account, &api_key).await);
            self.accounts.push((account, api_key));
        }
        // The test read each hook's secret with the company's key, as a vendor's own script
        // would: a request in the company's rate limit that dialbridge's throttle cannot see.
        // Its second passes before the test goes on, so that Dialpad's limits then count only
        // dialbridge's requests (events that start executions at once would otherwise meet a
        // 429 beside it).
        let config = self
            .emu
            .control(Method::GET, "/_control/config", None)
            .await;
        if config["rate_limits"] == true {
            tokio::time::sleep(Duration::from_millis(1_100)).await;
        }
    }

    /// A counter of `/metrics` (no labels), by process name.
    pub async fn metric_per_node(&self, name: &str) -> Vec<(String, f64)> {
        let mut values = Vec::new();
        for node in &self.nodes {
            values.push((node.name.clone(), node.api().metric(name, "").await));
        }
        values
    }

    pub fn bases(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.base.clone()).collect()
    }

    /// Every process's log tail, for a failure message.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- {} ---\n{}", n.name, n.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Shards held by each live owner (by the `nodes` table's names).
    pub async fn shard_owners(&self) -> Vec<(String, i64)> {
        self.db
            .pairs(
                "SELECT COALESCE(owner, '-'), COUNT(*) FROM shard_leases \
                 WHERE lease_until > (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT \
                 GROUP BY owner ORDER BY owner",
            )
            .await
    }

    pub async fn stop(self) {
        drop(self.nodes);
        self.pg.cleanup().await;
        drop(self._turn);
    }
}

/// A vendor endpoint for workflow `http` steps: counts the calls of each path per execution
/// (the body's `execution` field) and the most calls of each path in flight at once; paths
/// starting with `slow` answer after `slow` (or the body's `ms`).
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    calls: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<(String, String), u32>>>,
    /// Per path: calls in flight now, and the most at once.
    in_flight: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (u32, u32)>>>,
}

/// Counts a call out of flight when its handler ends, answered or abandoned.
struct InFlight(Receiver, String);

impl InFlight {
    fn enter(receiver: &Receiver, step: &str) -> InFlight {
        let mut in_flight = receiver.in_flight.lock().unwrap();
        let (now, most) = in_flight.entry(step.to_owned()).or_default();
        *now += 1;
        *most = (*most).max(*now);
        InFlight(receiver.clone(), step.to_owned())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut in_flight = self.0.in_flight.lock().unwrap();
        if let Some((now, _)) = in_flight.get_mut(&self.1) {
            *now -= 1;
        }
    }
}

impl Receiver {
    pub async fn start(slow: Duration) -> Receiver {
        use axum::extract::{Path as UrlPath, State};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let receiver = Receiver {
            url,
            calls: Default::default(),
            in_flight: Default::default(),
        };
        let app = axum::Router::new()
            .route(
                "/{step}",
                axum::routing::post(
                    move |State(receiver): State<Receiver>,
                          UrlPath(step): UrlPath<String>,
                          axum::Json(body): axum::Json<Value>| async move {
                        let execution = body["execution"].as_str().unwrap_or("").to_owned();
                        *receiver
                            .calls
                            .lock()
                            .unwrap()
                            .entry((step.clone(), execution))
                            .or_default() += 1;
                        let _in_flight = InFlight::enter(&receiver, &step);
                        if step.starts_with("slow") {
                            let ms = body["ms"]
                                .as_u64()
                                .or_else(|| body["ms"].as_str()?.parse().ok());
                            tokio::time::sleep(ms.map_or(slow, Duration::from_millis)).await;
                        }
                        axum::Json(json!({ "ok": true }))
                    },
                ),
            )
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    /// Calls of `step`: per execution.
    pub fn calls(&self, step: &str) -> std::collections::HashMap<String, u32> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|((s, _), _)| s == step)
            .map(|((_, execution), n)| (execution.clone(), *n))
            .collect()
    }

    /// The most calls of path `step` that were in flight at once.
    pub fn most_in_flight(&self, step: &str) -> u32 {
        let in_flight = self.in_flight.lock().unwrap();
        in_flight.get(step).map_or(0, |(_, most)| *most)
    }

    /// The calls of path `step` in flight now.
    pub fn in_flight_now(&self, step: &str) -> u32 {
        let in_flight = self.in_flight.lock().unwrap();
        in_flight.get(step).map_or(0, |(now, _)| *now)
    }

    /// `call.hangup` → POST `/first` → POST `/slow` → a `set` step, each call naming the
    /// execution.
    pub fn workflow(&self) -> Value {
        let body = json!({ "execution": "{{ execution.id }}" });
        json!({
            "name": "Two calls",
            "trigger": { "type": "call.hangup" },
            "steps": [
                { "id": "first", "http": { "method": "POST", "url": format!("{}/first", self.url), "body": body } },
                { "id": "slow", "http": { "method": "POST", "url": format!("{}/slow", self.url), "body": body } },
                { "id": "done", "set": { "ok": true } },
            ],
        })
    }
}
