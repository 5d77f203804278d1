//! The rows. Each starts the `dialbridge serve` it measures (a fresh database, its defaults),
//! sets up what it needs through the public APIs, measures, and stops it; the emulator without
//! rate limits is shared by all rows.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::api::{self, Api, Company, Emulator, Hook, Throttle};
use crate::link_order;
use crate::load::{self, closed_loop, open_loop, Sample};
use crate::procs::{self, Database, Proc};
use crate::report::{self, mib, ms, per_sec, ratio, ratio_d, ratios, throughput, Report, Row};
use crate::Settings;

/// When dialbridge's throttle cannot be switched off, actions spread over this many accounts,
/// each its own Dialpad company (20 requests/s each: far above what one machine sends).
const SPREAD_ACCOUNTS: usize = 256;
/// The concurrencies the plot shows.
pub const LEVELS: [usize; 4] = [1, 4, 16, 64];
/// The workflow most rows run: `call.hangup` → one `set` step.
const SET_WORKFLOW: &str = "bench-set";

pub struct Ctx {
    pub bin: PathBuf,
    pub dir: tempfile::TempDir,
    pub emulator: Proc,
    pub emu: Emulator,
    pub settings: Settings,
    pub report: Report,
    serial: usize,
    api_key: String,
    /// The data folder of the last SQLite `serve` started.
    data: Option<PathBuf>,
}

impl Ctx {
    pub fn new(bin: PathBuf, dir: tempfile::TempDir, emulator: Proc, settings: Settings) -> Ctx {
        let emu = Emulator::new(&emulator.url);
        Ctx {
            bin,
            dir,
            emulator,
            emu,
            settings,
            report: Report::default(),
            serial: 0,
            api_key: format!("bench-admin-{}", procs::random_hex(8)),
            data: None,
        }
    }

    /// A fresh `dialbridge serve` on a new SQLite database.
    async fn serve(&mut self, name: &str) -> Result<(Proc, Api), String> {
        self.serial += 1;
        let data = self.dir.path().join(format!("{name}-{}", self.serial));
        self.data = Some(data.clone());
        self.serve_on(name, &Database::Sqlite(data)).await
    }

    async fn serve_on(&mut self, name: &str, database: &Database) -> Result<(Proc, Api), String> {
        self.serve_with(name, database, &[]).await
    }

    /// `serve_on` with flags of the row's own.
    async fn serve_with(
        &mut self,
        name: &str,
        database: &Database,
        extra: &[String],
    ) -> Result<(Proc, Api), String> {
        self.serial += 1;
        let log = format!("serve-{name}-{}", self.serial);
        let proc = procs::start_serve(
            &self.bin,
            self.dir.path(),
            &log,
            database,
            &self.api_key,
            extra,
        )
        .await
        .map_err(|e| format!("dialbridge serve did not start: {e}"))?;
        let api = Api::new(&proc.url, &self.api_key);
        Ok((proc, api))
    }

    fn d(&self) -> Duration {
        self.settings.duration
    }

    /// A short unmeasured run first: connections opened, caches warm.
    fn warmup(&self) -> Duration {
        (self.settings.duration / 5).max(Duration::from_millis(300))
    }
}

/// One place an action or proxy request goes: an account, the Dialpad key of its company and a
/// channel of that company.
#[derive(Clone)]
struct Target {
    account: String,
    key: String,
    channel: String,
}

fn throttle_note(throttle: &Throttle, spread: usize) -> Option<String> {
    match throttle {
        Throttle::Off => None,
        Throttle::On => Some("dialbridge's throttle was left on".into()),
        Throttle::Unsupported(why) => Some(format!(
            "dialbridge's throttle (Dialpad's 20 requests/s per company) could not be switched \
             off — {why} — so the action and proxy rows spread their load over {spread} \
             accounts, each connected to a Dialpad company of its own, and the direct \
             reference uses the same {spread} companies' keys"
        )),
    }
}

/// Rows 1 and 2: an action, and the proxy, beside the same Dialpad request sent straight to
/// the emulator, and through the bare relay (`relay.rs`): the hop alone.
pub async fn actions_and_proxy(ctx: &mut Ctx, actions: bool, proxy: bool) -> Result<(), String> {
    let (serve, api) = ctx.serve("actions").await?;
    let relay = procs::start_relay(ctx.dir.path(), &ctx.emulator.url)
        .await
        .map_err(|e| format!("the bare relay did not start: {e}"))?;
    let throttle = api.configure_app(&ctx.emulator.url, true).await?;
    let targets: Vec<Target> = if throttle.is_off() {
        let key = ctx.emu.api_key(api::ACME).await?;
        api.connect_with_key("bench-0", &key).await?;
        vec![Target {
            account: "bench-0".into(),
            key,
            channel: api::ACME_GENERAL.into(),
        }]
    } else {
        let companies = ctx.emu.companies(SPREAD_ACCOUNTS).await?;
        connect_all(&api, "bench", &companies, 64).await?;
        companies
            .iter()
            .enumerate()
            .map(|(i, c)| Target {
                account: format!("bench-{i}"),
                key: c.api_key.clone(),
                channel: c.channel_id.clone(),
            })
            .collect()
    };
    if let Some(note) = throttle_note(&throttle, SPREAD_ACCOUNTS) {
        ctx.report.note(note);
    }
    let targets = Arc::new(targets);
    let (base, admin) = (api.base.clone(), api.key.clone());
    // The channel's GET with the company's Dialpad key, sent to `to`: the emulator itself, or
    // the bare relay in front of it.
    let channel_get = |to: &str| {
        let (targets, to) = (targets.clone(), to.to_owned());
        move |http: reqwest::Client, n: u64| {
            let t = &targets[n as usize % targets.len()];
            load::send(
                http.get(format!("{to}/api/v2/channels/{}", t.channel))
                    .bearer_auth(&t.key),
            )
        }
    };
    let direct = channel_get(&ctx.emulator.url);
    let relayed = channel_get(&relay.url);
    let action = {
        let (targets, base, admin) = (targets.clone(), base.clone(), admin.clone());
        move |http: reqwest::Client, n: u64| {
            let t = &targets[n as usize % targets.len()];
            load::send(
                http.post(format!(
                    "{base}/api/v1/accounts/{}/actions/get_channel",
                    t.account
                ))
                .bearer_auth(&admin)
                .json(&json!({ "id": t.channel })),
            )
        }
    };
    let proxied = {
        let (targets, base, admin) = (targets.clone(), base.clone(), admin.clone());
        move |http: reqwest::Client, n: u64| {
            let t = &targets[n as usize % targets.len()];
            load::send(
                http.get(format!(
                    "{base}/proxy/{}/api/v2/channels/{}",
                    t.account, t.channel
                ))
                .bearer_auth(&admin),
            )
        }
    };
    let mut curves: Vec<(String, Vec<(usize, f64)>)> = vec![
        ("direct GET /api/v2/channels/{id} (emulator)".into(), vec![]),
        ("the same GET through a bare relay".into(), vec![]),
        ("action get_channel (dialbridge)".into(), vec![]),
        (
            "proxy /proxy/{account}/api/v2/... (dialbridge)".into(),
            vec![],
        ),
    ];
    for c in LEVELS {
        let cpu = CpuUse::start(ctx, &serve);
        let reference = measure(ctx, c, direct.clone()).await;
        let reference_cpu = cpu.per_request(ctx, &serve, &reference);
        curves[0].1.push((c, reference.rate()));
        let cpu = CpuUse::start(ctx, &relay);
        let hop = measure(ctx, c, relayed.clone()).await;
        let hop_cpu = cpu.per_request(ctx, &relay, &hop);
        curves[1].1.push((c, hop.rate()));
        let tabled = c == 1 || c == 64;
        let (mut action_sample, mut proxy_sample) = (None, None);
        if actions {
            let cpu = CpuUse::start(ctx, &serve);
            let sample = measure(ctx, c, action.clone()).await;
            let sample_cpu = cpu.per_request(ctx, &serve, &sample);
            curves[2].1.push((c, sample.rate()));
            if tabled {
                ctx.report.push(Row::new(
                    "1",
                    format!("action `get_channel`, {c} connection(s)"),
                    throughput(&sample),
                    format!("direct: {}", throughput(&reference)),
                    ratios(&sample, &reference),
                ));
            }
            if c == 64 {
                ctx.report.push(cpu_row(
                    "1",
                    "action",
                    "dialbridge",
                    &sample_cpu,
                    &reference_cpu,
                ));
            }
            action_sample = Some(sample);
        }
        if proxy {
            let cpu = CpuUse::start(ctx, &serve);
            let sample = measure(ctx, c, proxied.clone()).await;
            let sample_cpu = cpu.per_request(ctx, &serve, &sample);
            curves[3].1.push((c, sample.rate()));
            if tabled {
                ctx.report.push(Row::new(
                    "2",
                    format!(
                        "proxy `GET /proxy/{{account}}/api/v2/channels/{{id}}`, {c} connection(s)"
                    ),
                    throughput(&sample),
                    format!("direct: {}", throughput(&reference)),
                    ratios(&sample, &reference),
                ));
            }
            if c == 64 {
                ctx.report.push(cpu_row(
                    "2",
                    "proxy",
                    "dialbridge",
                    &sample_cpu,
                    &reference_cpu,
                ));
            }
            proxy_sample = Some(sample);
        }
        if tabled {
            ctx.report.push(hop_row(
                c,
                action_sample.as_ref(),
                proxy_sample.as_ref(),
                &hop,
                &reference,
            ));
        }
        if c == 64 {
            ctx.report.push(cpu_row(
                "1–2",
                "bare relay",
                "relay",
                &hop_cpu,
                &reference_cpu,
            ));
        }
    }
    ctx.report
        .curves
        .extend(curves.into_iter().filter(|(_, p)| !p.is_empty()));
    serve.stop().await;
    relay.stop().await;
    Ok(())
}

/// The CPU time of the three processes of a measurement — `serve`, the emulator and the load
/// generator — from its start (the warm-up included: the counters cannot tell them apart, so
/// the requests of both are counted).
struct CpuUse {
    serve: Option<Duration>,
    emulator: Option<Duration>,
    bench: Option<Duration>,
    postgres: Option<Duration>,
}

/// CPU per request of each process, in microseconds.
struct CpuPerRequest {
    /// The process in the middle: `serve`, or the bare relay in its row.
    serve: f64,
    emulator: f64,
    bench: f64,
    /// The PostgreSQL server's (all its processes'); counted only where `serve` runs on it.
    postgres: f64,
}

impl CpuPerRequest {
    fn total(&self) -> f64 {
        self.serve + self.emulator + self.bench
    }
}

impl CpuUse {
    fn start(ctx: &Ctx, serve: &Proc) -> CpuUse {
        CpuUse {
            serve: serve.cpu(),
            emulator: ctx.emulator.cpu(),
            bench: procs::own_cpu(),
            postgres: procs::postgres_cpu(),
        }
    }

    /// Spread over the requests of the warm-up and the measured run (the warm-up's share of
    /// the time, at the measured rate).
    fn per_request(&self, ctx: &Ctx, serve: &Proc, sample: &Sample) -> CpuPerRequest {
        let warm_share = ctx.warmup().as_secs_f64() / ctx.d().as_secs_f64();
        let requests = (sample.ok as f64 * (1.0 + warm_share)).max(1.0);
        let used = |before: Option<Duration>, now: Option<Duration>| match (before, now) {
            (Some(b), Some(n)) => n.saturating_sub(b).as_secs_f64() * 1e6 / requests,
            _ => f64::NAN,
        };
        CpuPerRequest {
            serve: used(self.serve, serve.cpu()),
            emulator: used(self.emulator, ctx.emulator.cpu()),
            bench: used(self.bench, procs::own_cpu()),
            postgres: used(self.postgres, procs::postgres_cpu()),
        }
    }
}

/// The hop alone: action and proxy beside the same GET through the bare relay (`relay.rs`),
/// and the relay beside the direct GET.
fn hop_row(
    c: usize,
    action: Option<&Sample>,
    proxy: Option<&Sample>,
    hop: &Sample,
    direct: &Sample,
) -> Row {
    let named = [("action", action), ("proxy", proxy)];
    let figures: Vec<String> = named
        .iter()
        .filter_map(|(name, s)| s.map(|s| format!("{name} {}", per_sec(s.rate()))))
        .collect();
    let mut ratios: Vec<String> = named
        .iter()
        .filter_map(|(name, s)| s.map(|s| format!("{name} {}", ratio(s.rate(), hop.rate()))))
        .collect();
    ratios.push(format!(
        "and the relay {} of direct",
        ratio(hop.rate(), direct.rate())
    ));
    Row::new(
        "1–2",
        format!(
            "the hop alone: the same GET through a bare relay (axum and reqwest, as `serve`, \
             and nothing else; a process of its own), {c} connection(s)"
        ),
        figures.join(", "),
        format!("relay: {}", throughput(hop)),
        format!("req/s: {}", ratios.join(", ")),
    )
}

/// Where the CPU of a 64-connection run went, per request, beside the direct run: on two
/// cores shared by all three processes, the CPU-bound ceiling of the req/s ratio is the direct
/// request's total CPU over the measured request's. `hop` names the process in the middle
/// (`serve`, or the bare relay).
fn cpu_row(
    id: &str,
    what: &str,
    hop: &str,
    sample: &CpuPerRequest,
    reference: &CpuPerRequest,
) -> Row {
    Row::new(
        id,
        format!("{what}: CPU per request at 64 connections (utime+stime of each process)"),
        format!(
            "{hop} {:.0} µs + emulator {:.0} µs + load generator {:.0} µs = {:.0} µs",
            sample.serve,
            sample.emulator,
            sample.bench,
            sample.total()
        ),
        format!(
            "direct: emulator {:.0} µs + load generator {:.0} µs = {:.0} µs",
            reference.emulator,
            reference.bench,
            reference.total()
        ),
        format!(
            "CPU-bound ceiling of the req/s ratio ×{:.2}",
            reference.total() / sample.total()
        ),
    )
}

/// A warm-up, then `c` connections for the row duration.
async fn measure<F, Fut>(ctx: &Ctx, c: usize, request: F) -> Sample
where
    F: Fn(reqwest::Client, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let http = load::client(c);
    let warm = {
        let (request, http) = (request.clone(), http.clone());
        move |n| request(http.clone(), n)
    };
    closed_loop(c, ctx.warmup(), u64::MAX, 0, warm).await;
    let run = move |n| request(http.clone(), n);
    closed_loop(c, ctx.d(), u64::MAX, 1 << 40, run).await
}

/// Creates and connects `prefix-{i}` for each company, `c` at a time.
async fn connect_all(
    api: &Api,
    prefix: &str,
    companies: &[Company],
    c: usize,
) -> Result<(), String> {
    let jobs: Vec<(String, String)> = companies
        .iter()
        .enumerate()
        .map(|(i, company)| (format!("{prefix}-{i}"), company.api_key.clone()))
        .collect();
    run_all(c, jobs, {
        let api = api.clone();
        move |(account, key): (String, String)| {
            let api = api.clone();
            async move { api.connect_with_key(&account, &key).await }
        }
    })
    .await
    .map(drop)
}

/// Runs `job` over `items`, `c` at a time; the first error stops it.
async fn run_all<T, F, Fut, R>(c: usize, items: Vec<T>, job: F) -> Result<Vec<R>, String>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<R, String>> + Send + 'static,
{
    let job = Arc::new(job);
    let permits = Arc::new(tokio::sync::Semaphore::new(c.max(1)));
    let mut tasks = Vec::with_capacity(items.len());
    for item in items {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let job = job.clone();
        tasks.push(tokio::spawn(async move {
            let out = job(item).await;
            drop(permit);
            out
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.map_err(|e| e.to_string())??);
    }
    Ok(out)
}

/// The workflow `call.hangup` → one `set` step.
async fn set_workflow(api: &Api) -> Result<(), String> {
    let note = json!([{ "id": "note", "set": { "call": "{{ event.call_id }}" } }]);
    set_workflow_as(note, api).await
}

/// The same step inside a `for_each` over the one call: a step kind that is not
/// self-contained, so the executor runs it.
fn for_each_steps() -> Value {
    json!([{ "id": "each", "for_each": "[event.call_id]", "steps": [
        { "id": "note", "set": { "call": "{{ item }}" } },
    ] }])
}

/// Saves `steps` as the latest version of the bench's `call.hangup` workflow.
async fn set_workflow_as(steps: Value, api: &Api) -> Result<(), String> {
    api.put_workflow(
        SET_WORKFLOW,
        json!({
            "name": "Bench: note the call",
            "trigger": { "type": "call.hangup" },
            "steps": steps,
        }),
    )
    .await
}

/// Accounts `prefix-{i}` connected with `key`, the set workflow enabled: their hooks.
async fn hooked_accounts(
    ctx: &Ctx,
    api: &Api,
    prefix: &str,
    count: usize,
    key: &str,
) -> Result<Vec<Hook>, String> {
    set_workflow(api).await?;
    let mut hooks = Vec::with_capacity(count);
    for i in 0..count {
        let account = format!("{prefix}-{i}");
        api.connect_with_key(&account, key).await?;
        let (url, webhook) = api.enable(&account, SET_WORKFLOW).await?;
        let secret = ctx.emu.hook_secret(&webhook, key).await?;
        hooks.push(Hook::new(url, &secret));
    }
    Ok(hooks)
}

/// Row 3 on one database: signed events accepted at the webhook, beside `GET /healthz` of the
/// same process.
pub async fn ingest(ctx: &mut Ctx, database: &Database, label: &str) -> Result<(), String> {
    let (serve, api) = ctx.serve_on(&format!("ingest-{label}"), database).await?;
    api.configure_app(&ctx.emulator.url, false).await?;
    let key = ctx.emu.api_key(api::ACME).await?;
    let hook = hooked_accounts(ctx, &api, "ingest", 1, &key)
        .await?
        .remove(0);
    let hook = Arc::new(hook);
    let base = api.base.clone();
    let health =
        move |http: reqwest::Client, _n: u64| load::send(http.get(format!("{base}/healthz")));
    let post = {
        let hook = hook.clone();
        move |http: reqwest::Client, n: u64| load::send(hook.post(&http, n))
    };
    // PostgreSQL's server shares the two cores: its CPU counts where `serve` uses it, and
    // what it did besides the events is read around the 64-connection window.
    let postgres_url = match database {
        Database::Postgres { url, .. } => Some(url.as_str()),
        Database::Sqlite(_) => None,
    };
    let mut curve = Vec::new();
    let mut offset = 0u64;
    for c in LEVELS {
        // The executions of the previous level's events run in the background: let them
        // finish, so each level (and its reference) starts from an idle process.
        if !api.drain(Duration::from_secs(120)).await? {
            ctx.report.note(format!(
                "ingest, {label}: executions of earlier events were still running when the {c}-connection level started"
            ));
        }
        let cpu = CpuUse::start(ctx, &serve);
        let reference = measure(ctx, c, health.clone()).await;
        let reference_cpu = cpu.per_request(ctx, &serve, &reference);
        // Each level's events are new (their call ids differ), so none is a redelivery.
        offset += 1 << 32;
        let post = post.clone();
        let commits = api.ingest_commits().await?;
        let wal = match postgres_url {
            Some(url) if c == 64 => WalMark::read(url).await,
            _ => None,
        };
        let cpu = CpuUse::start(ctx, &serve);
        let sample = measure(ctx, c, move |http, n| post(http, n + offset)).await;
        let sample_cpu = cpu.per_request(ctx, &serve, &sample);
        let commits = api.ingest_commits().await?.since(commits);
        let wal = match (postgres_url, wal) {
            (Some(url), Some(before)) => WalMark::read(url)
                .await
                .map(|after| after.since(&before).describe(commits.events)),
            _ => None,
        };
        curve.push((c, sample.rate()));
        if c == 64 || c == 1 {
            ctx.report.push(Row::new(
                "3",
                format!("ingest, {label}: signed `call` events accepted (2xx), {c} connection(s)"),
                throughput(&sample),
                format!("`GET /healthz`: {}", throughput(&reference)),
                ratios(&sample, &reference),
            ));
        }
        if c == 64 {
            let postgres = |cpu: &CpuPerRequest| postgres_url.map(|_| cpu.postgres);
            let server = |cpu: &CpuPerRequest| {
                postgres(cpu)
                    .map(|us| format!(" + PostgreSQL {us:.0} µs"))
                    .unwrap_or_default()
            };
            let database_cpu = postgres(&sample_cpu).unwrap_or(0.0);
            ctx.report.push(Row::new(
                "3",
                format!("ingest, {label}: CPU per event at 64 connections (`serve`'s includes the executions the events start, as far as they ran in the window)"),
                format!(
                    "`serve` {:.0} µs{} + load generator {:.0} µs; {}{}",
                    sample_cpu.serve,
                    server(&sample_cpu),
                    sample_cpu.bench,
                    commits.describe(),
                    wal.map(|wal| format!("; {wal}")).unwrap_or_default()
                ),
                format!(
                    "`GET /healthz`: `serve` {:.0} µs{} + load generator {:.0} µs",
                    reference_cpu.serve, server(&reference_cpu), reference_cpu.bench
                ),
                format!(
                    "CPU-bound ceiling on two cores: {} events/s",
                    report::num(2e6 / (sample_cpu.serve + database_cpu + sample_cpu.bench))
                ),
            ));
        }
    }
    ctx.report
        .curves
        .push((format!("ingest, {label} (dialbridge)"), curve));
    serve.stop().await;
    Ok(())
}

/// Where PostgreSQL's write-ahead log stood, how many checkpoints the server had counted and
/// how many autovacuum and autoanalyze runs of the bench's database had ended, at one
/// moment; two of them around a window say what the server did besides the events. A
/// checkpoint that begins in the window makes the next change of every page go into the log
/// whole, and an autovacuum or autoanalyze of the tables the events fill takes CPU beside
/// them: either makes the window's events cost more and its tail grow, and this tells such a
/// window from others. The log and the checkpoints are the whole server's, so anything else
/// writing to it counts too.
struct WalMark {
    lsn: i64,
    checkpoints: i64,
    maintenance: i64,
}

impl WalMark {
    /// `None` when the server cannot say (the row is still reported, without it).
    async fn read(url: &str) -> Option<WalMark> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url).await.ok()?;
        let lsn = sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::int8")
            .fetch_one(&mut conn)
            .await
            .ok()?;
        // PostgreSQL 17 moved the counts to a view of their own.
        let mut checkpoints = None;
        for sql in [
            "SELECT (num_timed + num_requested)::int8 FROM pg_stat_checkpointer",
            "SELECT (checkpoints_timed + checkpoints_req)::int8 FROM pg_stat_bgwriter",
        ] {
            if let Ok(n) = sqlx::query_scalar(sql).fetch_one(&mut conn).await {
                checkpoints = Some(n);
                break;
            }
        }
        let maintenance = sqlx::query_scalar(
            "SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0)::int8 \
             FROM pg_stat_user_tables",
        )
        .fetch_one(&mut conn)
        .await
        .ok()?;
        let _ = conn.close().await;
        Some(WalMark {
            lsn,
            checkpoints: checkpoints?,
            maintenance,
        })
    }

    fn since(&self, before: &WalMark) -> WalMark {
        WalMark {
            lsn: self.lsn - before.lsn,
            checkpoints: self.checkpoints - before.checkpoints,
            maintenance: self.maintenance - before.maintenance,
        }
    }

    /// "PostgreSQL's write-ahead log N bytes per event; in the window, no checkpoint and 1
    /// autovacuum or autoanalyze run of its tables" (a run counts when it finishes).
    fn describe(&self, events: f64) -> String {
        let per_event = if events >= 1.0 {
            format!("{} bytes per event", report::num(self.lsn as f64 / events))
        } else {
            format!("{} bytes", self.lsn)
        };
        let count = |n: i64, one: &str| match n {
            0 => format!("no {one}"),
            1 => format!("1 {one}"),
            n => format!("{n} {one}s"),
        };
        format!(
            "PostgreSQL's write-ahead log {per_event}; in the window, {} and {} of its tables",
            count(self.checkpoints, "checkpoint"),
            count(self.maintenance, "autovacuum or autoanalyze run")
        )
    }
}

/// A fresh PostgreSQL database beside the one the URL names; dropped by `drop_postgres`.
pub async fn fresh_postgres(url: &str) -> Result<(String, String), String> {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", redact(url)))?;
    let name = format!("dialbridge_bench_{}", procs::random_hex(6));
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .map_err(|e| format!("cannot create a database: {e}"))?;
    let _ = admin.close().await;
    let mut fresh = url::Url::parse(url).map_err(|e| e.to_string())?;
    fresh.set_path(&format!("/{name}"));
    Ok((fresh.to_string(), name))
}

pub async fn drop_postgres(url: &str, name: &str) {
    use sqlx::Connection;
    if let Ok(mut admin) = sqlx::PgConnection::connect(url).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut admin)
            .await;
        let _ = admin.close().await;
    }
}

/// A URL without its password.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(unparsable URL)".into(),
    }
}

/// Row 4: executions finished per second (one account, 20 accounts), event-to-finished latency
/// under a steady open-loop load, and fairness between a flooding and a trickling account.
pub async fn end_to_end(ctx: &mut Ctx) -> Result<(), String> {
    let (serve, api) = ctx.serve("e2e").await?;
    api.configure_app(&ctx.emulator.url, false).await?;
    let key = ctx.emu.api_key(api::ACME).await?;
    let hooks = Arc::new(hooked_accounts(ctx, &api, "e2e", 20, &key).await?);
    let events = ctx.settings.events;
    let timeout = Duration::from_secs(120) + Duration::from_millis(events * 20);
    let mut posted = 0u64;

    // 4a, 4b: throughput, one account then twenty.
    for accounts in [1usize, 20] {
        let what = format!(
            "executions finished/s, `call.hangup` → one `set` step, {accounts} account(s), {events} events posted at 64 connections"
        );
        let row = executions_per_second(&api, &hooks, accounts, events, &mut posted, timeout, what)
            .await?;
        ctx.report.push(row);
    }

    // 4c: latency at a steady offered load, beside the same at a light load.
    let steady = ctx.settings.steady_rate;
    let light = 10.0;
    let mut latencies = Vec::new();
    for rate in [light, steady] {
        let lo = posted + (1 << 33);
        let hooks2 = hooks.clone();
        let sent = open_loop(rate, ctx.d() * 2, 4096, move |n| {
            let hook = &hooks2[n as usize % hooks2.len()];
            let http = shared_client();
            load::send(hook.post(&http, lo + n))
        })
        .await;
        posted += sent.ok;
        let (done, at) = api.wait_finished(posted, timeout).await?;
        if at.is_none() {
            return Err(format!(
                "only {done} of {posted} executions finished within {}",
                ms(timeout)
            ));
        }
        let mut lat = Vec::new();
        for i in 0..hooks.len() {
            lat.extend(latency_of(&api, &format!("e2e-{i}"), lo, lo + sent.sent).await?);
        }
        lat.sort();
        latencies.push((rate, sent, lat));
    }
    let (_, light_sent, light_lat) = &latencies[0];
    let (_, steady_sent, steady_lat) = &latencies[1];
    ctx.report.push(Row::new(
        "4",
        format!(
            "event stored → execution finished (`created_at` → `finished_at`, ms resolution), open loop at {steady:.0} events/s over 20 accounts for {}",
            ms(ctx.d() * 2)
        ),
        format!(
            "p50 {}, p99 {} ({} executions; sent {:.0}/s, max send lag {}){}",
            opt(load::quantile(steady_lat, 0.5)),
            opt(load::quantile(steady_lat, 0.99)),
            steady_lat.len(),
            steady_sent.sent as f64 / steady_sent.elapsed.as_secs_f64(),
            ms(steady_sent.max_lag),
            report::failures(steady_sent.failed, steady_sent.ok, steady_sent.first_error.as_deref())
        ),
        format!(
            "at {light:.0} events/s: p50 {}, p99 {}{}",
            opt(load::quantile(light_lat, 0.5)),
            opt(load::quantile(light_lat, 0.99)),
            report::failures(light_sent.failed, light_sent.ok, light_sent.first_error.as_deref())
        ),
        format!(
            "p50 {}, p99 {}",
            ratio_d(load::quantile(steady_lat, 0.5), load::quantile(light_lat, 0.5)),
            ratio_d(load::quantile(steady_lat, 0.99), load::quantile(light_lat, 0.99))
        ),
    ));

    // 4d: fairness. e2e-1 trickles alone, then while e2e-0 floods.
    let trickle_rate = 5.0;
    let trickle = |lo: u64| {
        let hook = hooks[1].clone();
        open_loop(trickle_rate, ctx.d() * 2, 64, move |n| {
            let http = shared_client();
            load::send(hook.post(&http, lo + n))
        })
    };
    let lo_alone = posted + (1 << 34);
    let alone = trickle(lo_alone).await;
    posted += alone.ok;
    api.wait_finished(posted, timeout).await?;
    let mut alone_lat = latency_of(&api, "e2e-1", lo_alone, lo_alone + alone.sent).await?;
    alone_lat.sort();
    let lo_busy = posted + (1 << 35);
    let lo_flood = posted + (1 << 36);
    let flood_hook = hooks[0].clone();
    let (busy, flood) = tokio::join!(
        trickle(lo_busy),
        closed_loop(64, ctx.d() * 2, u64::MAX, 0, move |n| {
            let http = shared_client();
            load::send(flood_hook.post(&http, lo_flood + n))
        })
    );
    posted += busy.ok + flood.ok;
    let (done, at) = api.wait_finished(posted, timeout * 2).await?;
    if at.is_none() {
        return Err(format!("only {done} of {posted} executions finished"));
    }
    let mut busy_lat = latency_of(&api, "e2e-1", lo_busy, lo_busy + busy.sent).await?;
    busy_lat.sort();
    ctx.report.push(Row::new(
        "4",
        format!(
            "fairness: a trickle account's event → finished at {trickle_rate:.0} events/s while another account floods at 64 connections"
        ),
        format!(
            "trickle p50 {}, p99 {} (flood: {} accepted){}",
            opt(load::quantile(&busy_lat, 0.5)),
            opt(load::quantile(&busy_lat, 0.99)),
            per_sec(flood.rate()),
            report::failures(busy.failed, busy.ok, busy.first_error.as_deref())
        ),
        format!(
            "trickle alone: p50 {}, p99 {}",
            opt(load::quantile(&alone_lat, 0.5)),
            opt(load::quantile(&alone_lat, 0.99))
        ),
        format!(
            "p99 {}",
            ratio_d(load::quantile(&busy_lat, 0.99), load::quantile(&alone_lat, 0.99))
        ),
    ));

    // 4e: the same step inside a `for_each`, which is not self-contained: each execution runs
    // in the executor (started at ingest, or claimed), as one with an action or an `http`
    // step does, instead of to its end before its event's commit.
    set_workflow_as(for_each_steps(), &api).await?;
    let what = format!(
        "executions finished/s, `call.hangup` → the same `set` step inside a `for_each` (run by the executor, not at ingest), 1 account(s), {events} events posted at 64 connections"
    );
    let row = executions_per_second(&api, &hooks, 1, events, &mut posted, timeout, what).await?;
    ctx.report.push(row);
    serve.stop().await;
    Ok(())
}

/// Posts `events` unique events at 64 connections over the first `accounts` hooks and waits
/// until every execution posted so far finished: executions finished per second, beside the
/// rate at which the same events were accepted.
async fn executions_per_second(
    api: &Api,
    hooks: &Arc<Vec<Hook>>,
    accounts: usize,
    events: u64,
    posted: &mut u64,
    timeout: Duration,
    what: String,
) -> Result<Row, String> {
    let hooks = hooks.clone();
    let base = *posted;
    let started = Instant::now();
    let sample = closed_loop(64, Duration::from_secs(3600), events, 0, move |n| {
        let hook = &hooks[n as usize % accounts];
        let http = shared_client();
        load::send(hook.post(&http, base + n))
    })
    .await;
    *posted += sample.ok;
    let (done, at) = api.wait_finished(*posted, timeout).await?;
    let accepted = format!("the same events accepted: {}", per_sec(sample.rate()));
    Ok(match at {
        Some(at) => {
            let rate = sample.ok as f64 / (at - started).as_secs_f64();
            Row::new(
                "4",
                what,
                format!(
                    "{}{}",
                    per_sec(rate),
                    report::failures(sample.failed, sample.ok, sample.first_error.as_deref())
                ),
                accepted,
                ratio(rate, sample.rate()),
            )
        }
        None => Row::new(
            "4",
            what,
            format!(
                "only {done} of {} executions finished within {}",
                *posted,
                ms(timeout)
            ),
            accepted,
            "—".into(),
        ),
    })
}

/// One client for the open-loop senders (each request takes a pooled connection).
fn shared_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| load::client(256)).clone()
}

fn opt(d: Option<Duration>) -> String {
    d.map(ms).unwrap_or_else(|| "—".into())
}

/// `finished_at - created_at` of the account's executions whose event number is in `lo..hi`.
async fn latency_of(api: &Api, account: &str, lo: u64, hi: u64) -> Result<Vec<Duration>, String> {
    let base = 7_000_000_000_000_000_u64;
    let mut out = Vec::new();
    for execution in api.executions(account).await? {
        let n = execution["event"]["call_id"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .and_then(|id| id.checked_sub(base));
        if !n.is_some_and(|n| (lo..hi).contains(&n)) {
            continue;
        }
        if let (Some(created), Some(finished)) = (
            api::millis(&execution["created_at"]),
            api::millis(&execution["finished_at"]),
        ) {
            out.push(Duration::from_millis((finished - created).max(0) as u64));
        }
    }
    Ok(out)
}

/// Row 5: `call.hangup` → `get_call` → `send_sms` over 20 accounts (20 companies) against an
/// emulator with Dialpad's rate limits on: executions/s, Dialpad requests/s, and 429s.
pub async fn dialpad_workflow(ctx: &mut Ctx) -> Result<(), String> {
    let limited = procs::start_emulator(&ctx.bin, ctx.dir.path(), "emulator-rate-limited", true)
        .await
        .map_err(|e| format!("the rate-limited emulator did not start: {e}"))?;
    let emu = Emulator::new(&limited.url);
    let (serve, api) = ctx.serve("dialpad").await?;
    api.configure_app(&limited.url, false).await?;
    let companies = emu.companies(20).await?;
    connect_all(&api, "dp", &companies, 4).await?;
    api.put_workflow(
        "bench-dialpad",
        json!({
            "name": "Bench: look the call up, text the caller",
            "trigger": { "type": "call.hangup" },
            "steps": [
                { "id": "call", "action": "get_call", "input": { "id": "{{ event.call_id }}" } },
                { "id": "sms", "action": "send_sms", "input": {
                    "user_id": "{{ event.target.id }}",
                    "to_numbers": ["{{ event.external_number }}"],
                    "text": "Thanks for calling",
                } },
            ],
        }),
    )
    .await?;
    for i in 0..companies.len() {
        api.enable(&format!("dp-{i}"), "bench-dialpad").await?;
    }
    let per_account = ctx.settings.dialpad_per_account;
    let total = per_account * companies.len() as u64;
    let before = emu.stats().await?;
    let started = Instant::now();
    // The emulator simulates each call (ringing, connected, hangup) and posts its events to
    // the account's hook, as Dialpad would.
    let jobs: Vec<Company> = (0..per_account)
        .flat_map(|_| companies.iter().cloned())
        .collect();
    run_all(8, jobs, {
        let emu = emu.clone();
        move |company: Company| {
            let emu = emu.clone();
            async move {
                emu.control(
                    Method::POST,
                    "/_control/calls",
                    Some(json!({
                        "company_id": company.id,
                        "direction": "inbound",
                        "scenario": "answered",
                        "external_number": "+14155550150",
                    })),
                )
                .await
                .map(drop)
            }
        }
    })
    .await?;
    // Dialpad allows get_call 10 times a minute per company: a minute per 10 calls, and some.
    let timeout = Duration::from_secs(90 + 65 * per_account.div_ceil(10));
    let (done, at) = api.wait_finished(total, timeout).await?;
    let elapsed = at.unwrap_or_else(Instant::now) - started;
    let after = emu.stats().await?;
    let delta = |path: &[&str]| {
        let get = |v: &Value| {
            path.iter()
                .fold(v.clone(), |v, p| v[*p].clone())
                .as_u64()
                .unwrap_or(0)
        };
        get(&after).saturating_sub(get(&before))
    };
    let requests = delta(&["api_requests"]);
    let limited_429 = delta(&["rate_limited"]);
    let failed = api
        .metric_where("dialbridge_executions_finished_total", "outcome=\"failed\"")
        .await
        .unwrap_or(0.0);
    let secs = elapsed.as_secs_f64();
    let exec_rate = done / secs;
    let mut figure = format!(
        "{} executions/s ({done:.0} of {total} in {}), {} Dialpad requests/s ({requests} requests, {:.2} per execution), emulator 429s: {limited_429}",
        report::num(exec_rate),
        ms(elapsed),
        report::num(requests as f64 / secs),
        requests as f64 / done.max(1.0),
    );
    if failed > 0.0 {
        figure.push_str(&format!(", {failed:.0} executions FAILED"));
    }
    if at.is_none() {
        figure.push_str(" — TIMED OUT before all finished");
    }
    let ceiling = companies.len() as f64 * 10.0 / 60.0;
    ctx.report.push(Row::new(
        "5",
        format!(
            "workflow `call.hangup` → `get_call` → `send_sms`, 20 accounts (a company each), {per_account} calls per account, emulator's rate limits ON"
        ),
        figure,
        format!(
            "Dialpad's limit on get_call (10/min per company): {} sustained for 20 companies (computed, after a first burst of 10 each); 2 requests per execution at best",
            per_sec(ceiling)
        ),
        format!(
            "executions/s {}; 429s: {limited_429} (must be 0{})",
            ratio(exec_rate, ceiling),
            if limited_429 == 0 { ", ok" } else { ": NOT OK" }
        ),
    ));
    serve.stop().await;
    limited.stop().await;
    Ok(())
}

/// Row 6: many concurrent actions for one OAuth-connected account whose access token just
/// expired (at Dialpad): how many refreshes Dialpad sees, and how long it takes.
pub async fn refresh_storm(ctx: &mut Ctx) -> Result<(), String> {
    let (serve, api) = ctx.serve("refresh").await?;
    let throttle = api.configure_app(&ctx.emulator.url, true).await?;
    api.connect_oauth("storm", &ctx.emulator.url).await?;
    let storm = ctx.settings.storm;
    let refreshes = |stats: &Value| {
        stats["token_requests"]["refresh_token"]
            .as_u64()
            .unwrap_or(0)
    };
    // One client for both runs, as a caller would have: a second client's connections on top
    // of the first's idle ones would pass `serve`'s `--max-connections` (1,024) and wait in the
    // listen backlog until the header-read timeout (15 s) closes the idle ones.
    let http = load::client(storm as usize);
    let run = || {
        let (base, admin, http) = (api.base.clone(), api.key.clone(), http.clone());
        closed_loop(
            storm as usize,
            Duration::from_secs(600),
            storm,
            0,
            move |_| {
                load::send(
                    http.post(format!("{base}/api/v1/accounts/storm/actions/get_channel"))
                        .bearer_auth(&admin)
                        .json(&json!({ "id": api::ACME_GENERAL })),
                )
            },
        )
    };
    let before = refreshes(&ctx.emu.stats().await?);
    let reference = run().await;
    let middle = refreshes(&ctx.emu.stats().await?);
    ctx.emu
        .control(Method::POST, "/_control/tokens/expire", None)
        .await?;
    let sample = run().await;
    let after = refreshes(&ctx.emu.stats().await?);
    let seen = after - middle;
    let throttled = if throttle.is_off() {
        String::new()
    } else {
        format!(
            "; dialbridge's throttle is on (20 requests per 1.1 s for the account), so {storm} actions take ≈ {:.1} s either way",
            ((storm as f64 / 20.0).ceil() - 1.0).max(0.0) * 1.1
        )
    };
    ctx.report.push(Row::new(
        "6",
        format!("refresh storm: {storm} concurrent actions, one OAuth account, access token expired at Dialpad"),
        format!(
            "refreshes seen by the emulator: {seen} (must be 1{}); all {} answered in {}{}",
            if seen == 1 { ", ok" } else { ": NOT OK" },
            storm,
            ms(reference_time(&sample)),
            report::failures(sample.failed, sample.ok, sample.first_error.as_deref())
        ),
        format!(
            "token still valid: {} refreshes, {} in {}{}{throttled}",
            middle - before,
            storm,
            ms(reference_time(&reference)),
            report::failures(reference.failed, reference.ok, reference.first_error.as_deref())
        ),
        format!("time {}", ratio(sample.elapsed.as_secs_f64(), reference.elapsed.as_secs_f64())),
    ));
    serve.stop().await;
    Ok(())
}

fn reference_time(sample: &Sample) -> Duration {
    sample.elapsed
}

/// How the refresh-loop rows time their tokens: Dialpad's access tokens live `ttl`, dialbridge
/// refreshes them `margin` ahead (its moment jittered in the first half of the margin), looking
/// for due tokens every `interval`, and the row watches for `watch` once every account is
/// connected.
#[derive(Clone)]
struct RefreshTiming {
    ttl: Duration,
    margin: Duration,
    interval: Duration,
    watch: Duration,
}

impl RefreshTiming {
    /// The same timing for tokens `times` shorter-lived: a tenth of the tokens then come due
    /// at the same rate.
    fn faster(&self, times: u32) -> RefreshTiming {
        RefreshTiming {
            ttl: self.ttl / times,
            margin: self.margin / times,
            // `serve` takes whole seconds.
            interval: Duration::from_secs((self.interval.as_secs() / u64::from(times)).max(1)),
            watch: self.watch,
        }
    }
}

/// One scale of the refresh loop: what `serve` did while its OAuth tokens came due.
struct RefreshScale {
    accounts: usize,
    connect: Duration,
    refreshes: u64,
    refreshed_twice: u64,
    failed: f64,
    cpu: Duration,
    max_lag: f64,
}

/// Row 8 (refresh loop): `accounts` OAuth connections, each as the admin of a company of its
/// own, on a fresh `serve` with its defaults but the refresh margin; then, for `watch`, the
/// background refresh alone: refreshes Dialpad saw, any refresh token used twice, the CPU of
/// `serve` and the most overdue token (`dialbridge_token_refresh_lag_seconds`, sampled each
/// second).
async fn refresh_loop_at(
    ctx: &mut Ctx,
    companies: &[Company],
    accounts: usize,
    timing: &RefreshTiming,
) -> Result<RefreshScale, String> {
    ctx.emu
        .control(
            Method::PATCH,
            "/_control/config",
            Some(json!({ "access_token_ttl_secs": timing.ttl.as_secs() })),
        )
        .await?;
    ctx.serial += 1;
    let data = ctx.dir.path().join(format!("refresh-loop-{}", ctx.serial));
    let margin = [
        "--refresh-margin-secs".to_owned(),
        timing.margin.as_secs().to_string(),
        "--refresh-interval-secs".to_owned(),
        timing.interval.as_secs().to_string(),
    ];
    let (serve, api) = ctx
        .serve_with("refresh-loop", &Database::Sqlite(data), &margin)
        .await?;
    api.configure_app(&ctx.emulator.url, false).await?;
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    const CLIENTS: usize = 16;
    for client in 0..CLIENTS {
        let (api, emulator) = (api.clone(), ctx.emulator.url.clone());
        let mine: Vec<(usize, String)> = companies[..accounts]
            .iter()
            .map(|c| c.admin_user_id.clone())
            .enumerate()
            .skip(client)
            .step_by(CLIENTS)
            .collect();
        clients.spawn(async move {
            for (i, user) in mine {
                api.connect_oauth_as(&format!("oauth-{i}"), &emulator, Some(&user))
                    .await?;
            }
            Ok::<(), String>(())
        });
    }
    while let Some(done) = clients.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    let connect = started.elapsed();
    let counts = |stats: &Value| {
        let tokens = &stats["token_requests"];
        (
            tokens["refresh_token"].as_u64().unwrap_or(0),
            tokens["rotated_refresh_token"].as_u64().unwrap_or(0),
        )
    };
    // Refreshes that did not end with a new token (failed at Dialpad or on the way).
    let failed_metric = || async {
        let all = api.metric("dialbridge_token_refreshes_total").await?;
        let ok = api
            .metric_where("dialbridge_token_refreshes_total", "outcome=\"ok\"")
            .await?;
        Ok::<f64, String>(all - ok)
    };
    let (refreshes_before, twice_before) = counts(&ctx.emu.stats().await?);
    let failed_before = failed_metric().await.unwrap_or(0.0);
    let cpu_before = serve.cpu().ok_or("no CPU time of serve")?;
    let watching = Instant::now();
    let mut max_lag = 0.0f64;
    while watching.elapsed() < timing.watch {
        tokio::time::sleep(Duration::from_secs(1)).await;
        max_lag = max_lag.max(api.metric("dialbridge_token_refresh_lag_seconds").await?);
    }
    let cpu = serve.cpu().ok_or("no CPU time of serve")? - cpu_before;
    let (refreshes_after, twice_after) = counts(&ctx.emu.stats().await?);
    let failed = failed_metric().await.unwrap_or(0.0) - failed_before;
    serve.stop().await;
    Ok(RefreshScale {
        accounts,
        connect,
        refreshes: refreshes_after - refreshes_before,
        refreshed_twice: twice_after - twice_before,
        failed,
        cpu,
        max_lag,
    })
}

/// Row 8 (refresh loop): the background refresh at all of the growth row's accounts, beside a
/// tenth of them whose tokens live ten times shorter, so that both refresh at the same rate:
/// its CPU per refresh is then flat when the loop's work grows with the tokens due, not with
/// the accounts it could look at.
pub async fn refresh_loop(ctx: &mut Ctx) -> Result<(), String> {
    let full = ctx.settings.accounts;
    let times = 10;
    let small = (full / times).max(10);
    let timing = if ctx.settings.quick {
        RefreshTiming {
            ttl: Duration::from_secs(60),
            margin: Duration::from_secs(40),
            interval: Duration::from_secs(15),
            watch: Duration::from_secs(45),
        }
    } else {
        RefreshTiming {
            ttl: Duration::from_secs(120),
            margin: Duration::from_secs(60),
            interval: Duration::from_secs(15),
            watch: Duration::from_secs(120),
        }
    };
    let short = timing.faster(times as u32);
    let companies = ctx.emu.companies(full).await?;
    let reference = refresh_loop_at(ctx, &companies, small, &short).await;
    let sample = refresh_loop_at(ctx, &companies, full, &timing).await;
    // Back to the emulator's default for the rows after this one.
    ctx.emu
        .control(
            Method::PATCH,
            "/_control/config",
            Some(json!({ "access_token_ttl_secs": 3600 })),
        )
        .await?;
    let (reference, sample) = (reference?, sample?);
    let per_refresh = |s: &RefreshScale| s.cpu.as_secs_f64() * 1e3 / s.refreshes.max(1) as f64;
    let describe = |s: &RefreshScale, timing: &RefreshTiming| {
        // A token's refresh moment is at least half the margin before it expires: a lag below
        // that means no token expired before it was refreshed.
        let safe = timing.margin.as_secs_f64() / 2.0;
        format!(
            "{} accounts, tokens living {} refreshed {} ahead, looked for every {} (connected in {}): {} refreshes in {} ({:.0}/s), {:.2} CPU ms each ({:.1} CPU s/min); most overdue token {:.1} s{}; refresh tokens used twice: {}{}",
            s.accounts,
            ms(timing.ttl),
            ms(timing.margin),
            ms(timing.interval),
            ms(s.connect),
            s.refreshes,
            ms(timing.watch),
            s.refreshes as f64 / timing.watch.as_secs_f64(),
            per_refresh(s),
            s.cpu.as_secs_f64() * 60.0 / timing.watch.as_secs_f64(),
            s.max_lag,
            if s.max_lag < safe { ", none expired" } else { ", SOME MAY HAVE EXPIRED" },
            s.refreshed_twice,
            if s.failed > 0.0 { format!(", {} FAILED", s.failed) } else { String::new() },
        )
    };
    ctx.report.push(Row::new(
        "8",
        format!(
            "background refresh at equal refresh rates: {full} OAuth connections beside {small} whose tokens live {times}× shorter, watched for {} after connecting; CPU of `serve` per refresh",
            ms(timing.watch)
        ),
        describe(&sample, &timing),
        describe(&reference, &short),
        format!(
            "CPU per refresh {}",
            ratio(per_refresh(&sample), per_refresh(&reference))
        ),
    ));
    Ok(())
}

/// Row 7: resident memory idle and under load, and the time from process start to `/healthz`.
pub async fn footprint(ctx: &mut Ctx) -> Result<(), String> {
    let starts = ctx.settings.starts;
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut emulator = Vec::new();
    let data = ctx.dir.path().join("footprint-warm");
    for i in 0..starts {
        let (serve, _) = ctx.serve("start").await?;
        cold.push(serve.ready_after);
        serve.stop().await;
        let (serve, _) = ctx
            .serve_on("restart", &Database::Sqlite(data.clone()))
            .await?;
        // The first start on this folder made the database; the others are restarts.
        if i > 0 || starts == 1 {
            warm.push(serve.ready_after);
        }
        serve.stop().await;
        let emu = procs::start_emulator(
            &ctx.bin,
            ctx.dir.path(),
            &format!("emulator-start-{i}"),
            false,
        )
        .await?;
        emulator.push(emu.ready_after);
        emu.stop().await;
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v.get(v.len() / 2).copied()
    };
    let (cold, warm, emulator) = (median(&mut cold), median(&mut warm), median(&mut emulator));
    // What the resident figures below depend on: a stale order file costs idle `serve` MiBs.
    let symbols = link_order::symbols(&ctx.bin).await;
    ctx.report.push(link_order::row(&symbols));
    ctx.report.push(Row::new(
        "7",
        format!("start → `/healthz` answers (median of {starts})"),
        format!(
            "new database: {}; existing database: {}",
            opt(cold),
            opt(warm)
        ),
        format!(
            "the emulator process (start → first answer): {}",
            opt(emulator)
        ),
        format!(
            "new {}, existing {}",
            ratio_d(cold, emulator),
            ratio_d(warm, emulator)
        ),
    ));

    // Idle, then under ingest load at 64 connections.
    let idle_emulator =
        procs::start_emulator(&ctx.bin, ctx.dir.path(), "emulator-idle", false).await?;
    let (serve, api) = ctx.serve("footprint").await?;
    api.configure_app(&ctx.emulator.url, false).await?;
    let key = ctx.emu.api_key(api::ACME).await?;
    let hook = Arc::new(hooked_accounts(ctx, &api, "rss", 1, &key).await?.remove(0));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = serve.rss().ok_or("no /proc/<pid>/status for serve")?;
    let idle_parts = serve.rss_parts();
    let emulator_idle = idle_emulator.rss().unwrap_or(0);
    let emulator_parts = idle_emulator.rss_parts();
    let stray_code = link_order::stray_code(&symbols, &ctx.bin, serve.pid);
    idle_emulator.stop().await;
    let pid = serve.pid;
    let sampler = tokio::spawn(async move {
        let mut peak = 0u64;
        for _ in 0..100_000 {
            match procs_rss(pid) {
                Some(rss) => peak = peak.max(rss),
                None => break,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    });
    let sample = {
        let hook = hook.clone();
        closed_loop(64, ctx.d() * 2, u64::MAX, 0, move |n| {
            let http = shared_client();
            load::send(hook.post(&http, n))
        })
        .await
    };
    let loaded = serve.rss().unwrap_or(0);
    let hwm = serve.peak_rss().unwrap_or(0);
    sampler.abort();
    ctx.report.push(Row::new(
        "7",
        "resident memory (VmRSS) of `serve`, idle",
        format!("{}{}", mib(idle), rss_parts(idle_parts)),
        format!(
            "the emulator process, idle: {}{}",
            mib(emulator_idle),
            rss_parts(emulator_parts)
        ),
        ratio(idle as f64, emulator_idle as f64),
    ));
    ctx.report.push(stray_code);
    ctx.report.push(Row::new(
        "7",
        format!(
            "resident memory of `serve` under ingest load (64 connections, {})",
            ms(ctx.d() * 2)
        ),
        format!(
            "peak {} (VmHWM), {} at the end; {} events accepted{}",
            mib(hwm),
            mib(loaded),
            per_sec(sample.rate()),
            report::failures(sample.failed, sample.ok, sample.first_error.as_deref())
        ),
        format!("the same process idle: {}", mib(idle)),
        ratio(hwm as f64, idle as f64),
    ));
    serve.stop().await;
    Ok(())
}

fn procs_rss(pid: u32) -> Option<u64> {
    procs::status_kib(pid, "VmRSS:").map(|k| k * 1024)
}

/// What of a resident figure is the process's own memory and what the pages of its
/// executable and libraries (shared, clean: the kernel may drop them and read them again).
fn rss_parts(parts: Option<(u64, u64)>) -> String {
    parts.map_or_else(String::new, |(anon, file)| {
        format!(
            " ({} its own memory, RssAnon; {} pages of its executable and libraries, RssFile)",
            mib(anon),
            mib(file)
        )
    })
}

/// Which latencies of a `Scale` a row shows.
type Pick = fn(&Scale) -> &Vec<Duration>;

/// What row 8 measures at one size.
struct Scale {
    accounts: usize,
    executions: u64,
    accounts_first: Vec<Duration>,
    accounts_deep: Vec<Duration>,
    executions_first: Vec<Duration>,
    executions_deep: Vec<Duration>,
    idle_cpu_per_min: f64,
    reconcile: Duration,
    reconcile_cpu: Duration,
    reconcile_failed: usize,
}

/// Row 8: the same process measured small (1% of the target sizes), then grown to the target
/// number of connected accounts and stored executions.
pub async fn growth(ctx: &mut Ctx) -> Result<(), String> {
    let (target_accounts, target_executions) = (ctx.settings.accounts, ctx.settings.executions);
    let small = (
        (target_accounts / 100).max(10),
        (target_executions / 100).max(100),
    );
    let (serve, api) = ctx.serve("growth").await?;
    let data = ctx
        .data
        .clone()
        .ok_or("no data folder for the growth process")?;
    api.configure_app(&ctx.emulator.url, false).await?;
    set_workflow(&api).await?;
    let companies = ctx.emu.companies(target_accounts).await?;
    let mut grown = Grown::default();
    let reference =
        grow_and_measure(ctx, &serve, &api, &companies, small.0, small.1, &mut grown).await?;
    let reference_bytes = folder_bytes(&data);
    let full = grow_and_measure(
        ctx,
        &serve,
        &api,
        &companies,
        target_accounts,
        target_executions,
        &mut grown,
    )
    .await?;
    let full_bytes = folder_bytes(&data);
    serve.stop().await;
    let audit = audit_cycle(ctx, &data, target_accounts).await;
    let sizes = |s: &Scale| format!("{} accounts, {} executions", s.accounts, s.executions);
    let lat = |v: &[Duration]| {
        format!(
            "p50 {}, p99 {}",
            opt(load::quantile(v, 0.5)),
            opt(load::quantile(v, 0.99))
        )
    };
    let p99 = |a: &[Duration], b: &[Duration]| {
        format!(
            "p99 {}",
            ratio_d(load::quantile(a, 0.99), load::quantile(b, 0.99))
        )
    };
    let lists: [(&str, Pick); 4] = [
        ("`GET /api/v1/accounts?limit=50`, first page", |s| {
            &s.accounts_first
        }),
        ("`GET /api/v1/accounts?limit=50`, a cursor 90% deep", |s| {
            &s.accounts_deep
        }),
        ("`GET /api/v1/executions?limit=50`, first page", |s| {
            &s.executions_first
        }),
        (
            "`GET /api/v1/executions?limit=50`, a cursor 90% deep",
            |s| &s.executions_deep,
        ),
    ];
    for (what, pick) in lists {
        ctx.report.push(Row::new(
            "8",
            format!("{what}, 1 connection"),
            format!("{}: {}", sizes(&full), lat(pick(&full))),
            format!("{}: {}", sizes(&reference), lat(pick(&reference))),
            p99(pick(&full), pick(&reference)),
        ));
    }
    // What the growth between the two scales added, per execution added (each with its
    // event and one journaled step; accounts and hooks are a small share).
    let added = full.executions.saturating_sub(reference.executions).max(1);
    let per_execution = full_bytes.saturating_sub(reference_bytes) as f64 / added as f64;
    ctx.report.push(Row::new(
        "8",
        "SQLite database (file, WAL and index) per stored execution with its event and one step",
        format!(
            "{}: {:.0} bytes/execution ({} MiB in all)",
            sizes(&full),
            per_execution,
            full_bytes / (1 << 20)
        ),
        format!(
            "{}: {} MiB in all",
            sizes(&reference),
            reference_bytes / (1 << 20)
        ),
        format!(
            "{:.0} GiB per million executions",
            per_execution * 1e6 / f64::from(1u32 << 30)
        ),
    ));
    ctx.report.push(Row::new(
        "8",
        format!(
            "CPU of idle `serve` (utime+stime over {}; background loops)",
            ms(ctx.settings.idle)
        ),
        format!("{}: {:.2} CPU s/min", sizes(&full), full.idle_cpu_per_min),
        format!(
            "{}: {:.2} CPU s/min",
            sizes(&reference),
            reference.idle_cpu_per_min
        ),
        ratio(full.idle_cpu_per_min, reference.idle_cpu_per_min),
    ));
    ctx.report.push(match audit {
        Ok(cycle) => Row::new(
            "8",
            format!(
                "audit cycle: the grown database restarted with `--audit-interval-secs {}`; Dialpad calls until every account was audited (5 per account)",
                cycle.interval.as_secs()
            ),
            format!(
                "{} accounts: {} calls in {} ({} calls/s on average, at most {} in one second; serve {:.1} CPU s)",
                target_accounts,
                cycle.calls,
                ms(cycle.took),
                report::num(cycle.calls as f64 / cycle.took.as_secs_f64()),
                cycle.peak_per_second,
                cycle.cpu.as_secs_f64()
            ),
            format!("the interval: {}", ms(cycle.interval)),
            format!(
                "cycle / interval ×{:.2}{}",
                cycle.took.as_secs_f64() / cycle.interval.as_secs_f64(),
                if cycle.complete { "" } else { " (INCOMPLETE)" }
            ),
        ),
        Err(e) => Row::not_run("8", "audit cycle", &e),
    });
    let rec = |s: &Scale| {
        format!(
            "{}: {} ({} accounts/s, {:.1} CPU s){}",
            sizes(s),
            ms(s.reconcile),
            report::num(s.accounts as f64 / s.reconcile.as_secs_f64()),
            s.reconcile_cpu.as_secs_f64(),
            if s.reconcile_failed > 0 {
                format!(", {} FAILED", s.reconcile_failed)
            } else {
                String::new()
            }
        )
    };
    ctx.report.push(Row::new(
        "8",
        "reconcile every account: `POST /api/v1/accounts/{id}/subscriptions/reconcile` for each, 8 connections",
        rec(&full),
        rec(&reference),
        format!(
            "accounts/s {}",
            ratio(
                full.accounts as f64 / full.reconcile.as_secs_f64(),
                reference.accounts as f64 / reference.reconcile.as_secs_f64()
            )
        ),
    ));
    Ok(())
}

/// One audit cycle over the grown database.
struct AuditCycle {
    interval: Duration,
    calls: u64,
    took: Duration,
    peak_per_second: u64,
    cpu: Duration,
    complete: bool,
}

/// Restarts `serve` on the grown SQLite database with a short audit interval (a tenth of a
/// minute per 1,000 accounts, at least 20 s) and counts the emulator's API requests until
/// every account's five audit calls were made, or twice the interval passed.
async fn audit_cycle(ctx: &mut Ctx, data: &Path, accounts: usize) -> Result<AuditCycle, String> {
    let interval = Duration::from_secs((accounts as u64 * 6 / 1000).max(20));
    let flags = vec![
        "--audit-interval-secs".to_owned(),
        interval.as_secs().to_string(),
    ];
    let before = api_requests(&ctx.emu).await?;
    let (serve, _api) = ctx
        .serve_with("audit", &Database::Sqlite(data.to_path_buf()), &flags)
        .await?;
    let cpu0 = serve.cpu().unwrap_or_default();
    let started = Instant::now();
    let wanted = accounts as u64 * 5;
    let (mut last, mut peak) = (before, 0);
    let complete = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = api_requests(&ctx.emu).await?;
        peak = peak.max(now - last);
        last = now;
        if now - before >= wanted {
            break true;
        }
        if started.elapsed() > interval * 2 {
            break false;
        }
    };
    let took = started.elapsed();
    let cpu = serve.cpu().unwrap_or_default().saturating_sub(cpu0);
    serve.stop().await;
    Ok(AuditCycle {
        interval,
        calls: last - before,
        took,
        peak_per_second: peak,
        cpu,
        complete,
    })
}

async fn api_requests(emu: &Emulator) -> Result<u64, String> {
    let stats = emu.stats().await?;
    stats["api_requests"]
        .as_u64()
        .ok_or_else(|| format!("no api_requests in the emulator's stats: {stats}"))
}

/// Bytes of the files in `dir` (a SQLite database with its WAL and shared memory).
fn folder_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// What has been added to the growth process so far.
#[derive(Default)]
struct Grown {
    accounts: usize,
    executions: u64,
    hooks: Vec<Hook>,
}

/// Accounts that receive the growth row's events.
const EVENT_ACCOUNTS: usize = 100;

async fn grow_and_measure(
    ctx: &mut Ctx,
    serve: &Proc,
    api: &Api,
    companies: &[Company],
    accounts: usize,
    executions: u64,
    grown: &mut Grown,
) -> Result<Scale, String> {
    let started = Instant::now();
    // Connect and enable (each enabling provisions a webhook and a subscription at Dialpad).
    let jobs: Vec<(usize, Company)> = (grown.accounts..accounts)
        .map(|i| (i, companies[i].clone()))
        .collect();
    let hooks = run_all(32, jobs, {
        let (api, emu) = (api.clone(), ctx.emu.clone());
        move |(i, company): (usize, Company)| {
            let (api, emu) = (api.clone(), emu.clone());
            async move {
                let account = format!("grow-{i:06}");
                api.connect_with_key(&account, &company.api_key).await?;
                let (url, webhook) = api.enable(&account, SET_WORKFLOW).await?;
                if i < EVENT_ACCOUNTS {
                    let secret = emu.hook_secret(&webhook, &company.api_key).await?;
                    Ok(Some(Hook::new(url, &secret)))
                } else {
                    Ok(None)
                }
            }
        }
    })
    .await?;
    grown.hooks.extend(hooks.into_iter().flatten());
    grown.accounts = accounts;
    eprintln!(
        "  growth: {accounts} accounts connected ({} s)",
        started.elapsed().as_secs()
    );
    // Executions, from ingest.
    let missing = executions.saturating_sub(grown.executions);
    if missing > 0 {
        let hooks = Arc::new(grown.hooks.clone());
        let base = grown.executions + (1 << 37);
        let sample = closed_loop(64, Duration::from_secs(3600), missing, 0, move |n| {
            let hook = &hooks[n as usize % hooks.len()];
            let http = shared_client();
            load::send(hook.post(&http, base + n))
        })
        .await;
        if sample.failed > 0 {
            return Err(format!(
                "{} events were refused while growing: {}",
                sample.failed,
                sample.first_error.unwrap_or_default()
            ));
        }
        grown.executions += sample.ok;
    }
    let timeout = Duration::from_secs(300) + Duration::from_millis(grown.executions * 10);
    let (done, at) = api.wait_finished(grown.executions, timeout).await?;
    if at.is_none() {
        return Err(format!(
            "only {done} of {} executions finished",
            grown.executions
        ));
    }
    eprintln!(
        "  growth: {} executions stored ({} s)",
        grown.executions,
        started.elapsed().as_secs()
    );

    let repeats = ctx.settings.list_repeats;
    let accounts_deep = deep_cursor(api, "/api/v1/accounts", accounts as u64).await?;
    let executions_deep = deep_cursor(api, "/api/v1/executions", grown.executions).await?;
    let time = |path: String| {
        let api = api.clone();
        async move {
            let mut out = Vec::with_capacity(repeats);
            for _ in 0..repeats {
                let at = Instant::now();
                api.ok(Method::GET, &path, None).await?;
                out.push(at.elapsed());
            }
            out.sort();
            Ok::<_, String>(out)
        }
    };
    let accounts_first = time("/api/v1/accounts?limit=50".into()).await?;
    let accounts_deep = time(format!("/api/v1/accounts?limit=50&cursor={accounts_deep}")).await?;
    let executions_first = time("/api/v1/executions?limit=50".into()).await?;
    let executions_deep = time(format!(
        "/api/v1/executions?limit=50&cursor={executions_deep}"
    ))
    .await?;

    let cpu0 = serve.cpu().ok_or("no /proc/<pid>/stat for serve")?;
    tokio::time::sleep(ctx.settings.idle).await;
    let cpu1 = serve.cpu().ok_or("no /proc/<pid>/stat for serve")?;
    let idle_cpu_per_min = (cpu1 - cpu0).as_secs_f64() * 60.0 / ctx.settings.idle.as_secs_f64();

    let ids: Vec<usize> = (0..accounts).collect();
    let at = Instant::now();
    let outcomes = run_all(8, ids, {
        let api = api.clone();
        move |i| {
            let api = api.clone();
            async move {
                Ok(api
                    .call(
                        Method::POST,
                        &format!("/api/v1/accounts/grow-{i:06}/subscriptions/reconcile"),
                        None,
                    )
                    .await
                    .map(|(status, _)| status.is_success())
                    .unwrap_or(false))
            }
        }
    })
    .await?;
    let reconcile = at.elapsed();
    let cpu2 = serve.cpu().unwrap_or(cpu1);
    Ok(Scale {
        accounts,
        executions: grown.executions,
        accounts_first,
        accounts_deep,
        executions_first,
        executions_deep,
        idle_cpu_per_min,
        reconcile,
        reconcile_cpu: cpu2 - cpu1,
        reconcile_failed: outcomes.iter().filter(|ok| !**ok).count(),
    })
}

/// Walks a list (pages of up to 200) until 90% of `total` items were seen; answers the cursor there.
async fn deep_cursor(api: &Api, path: &str, total: u64) -> Result<String, String> {
    let target = total * 9 / 10;
    // Pages small enough that even a small list has a cursor 90% deep.
    let path = format!("{path}?limit={}", (total / 20).clamp(1, 200));
    let path = path.as_str();
    let mut seen = 0u64;
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={}", api::encode(c)),
            None => path.to_owned(),
        };
        let page = api.ok(Method::GET, &url, None).await?;
        seen += page["items"].as_array().map_or(0, |a| a.len() as u64);
        match page["cursor"].as_str() {
            Some(next) if seen < target => cursor = Some(next.to_owned()),
            Some(next) => return Ok(api::encode(next)),
            None => {
                return cursor
                    .map(|c| api::encode(&c))
                    .ok_or_else(|| format!("{path}: one page only ({seen} items)"))
            }
        }
    }
}
