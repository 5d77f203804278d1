//! `dialbridge-bench`: dialbridge beside its references, measured in one run.
//!
//! Starts the Dialpad emulator (`dialbridge emulator --no-rate-limits`) and, per row, a fresh
//! `dialbridge serve` with its defaults, as separate processes; drives them from this process
//! over loopback; prints one table in which each figure stands beside a reference measured in
//! the same run (the same request straight to the emulator, `/healthz` of the same process,
//! the same thing at a light load or a small size) and their ratio. The machine is shared, so
//! only ratios travel between runs.

mod api;
mod benchmarks_md;
mod link_order;
mod load;
mod procs;
mod relay;
mod report;
mod rows;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// How to build what the bench runs. Apart, because built in one command cargo would unify the
/// two packages' dependency features: the `dialbridge` measured would not be the one
/// `scripts/release.sh` ships, and would miss its link order (`crates/dialbridge/build.rs`).
pub const BUILD: &str = "cargo build --profile dist --locked -p dialbridge && \
                         cargo build --profile dist --locked -p dialbridge-bench";

const ROWS: [&str; 9] = [
    "actions",
    "proxy",
    "ingest",
    "e2e",
    "dialpad",
    "refresh",
    "footprint",
    "growth",
    "refresh-loop",
];

/// dialbridge's side-by-side benchmark.
///
/// Build both executables into the same target dir first, one after the other:
///
///     cargo build --profile dist --locked -p dialbridge
///     cargo build --profile dist --locked -p dialbridge-bench
///     target/dist/dialbridge-bench            # every row, default sizes
///     target/dist/dialbridge-bench --quick    # small sizes, short windows: a smoke run
///
/// The `dialbridge` executable is taken from beside this one. Rows: actions, proxy, ingest,
/// e2e, dialpad, refresh, footprint, growth, refresh-loop (README, "Benchmarks", says what each measures).
#[derive(Parser, Debug)]
#[command(name = "dialbridge-bench", version, verbatim_doc_comment)]
struct Args {
    /// Small sizes and short measurement windows, for a smoke run.
    #[arg(long)]
    quick: bool,
    /// Which rows to run, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    rows: Vec<String>,
    /// Seconds each closed-loop measurement lasts (default 5; 1.5 with --quick).
    #[arg(long)]
    duration: Option<f64>,
    /// PostgreSQL for the PostgreSQL ingest row: the bench creates a fresh database of its own
    /// beside the one named (and drops it after). Without it the row is skipped.
    #[arg(long, env = "DIALBRIDGE_BENCH_DATABASE_URL", hide_env_values = true)]
    postgres_url: Option<String>,
    /// Events per end-to-end throughput run (default 5000; 300 with --quick).
    #[arg(long)]
    events: Option<u64>,
    /// Offered load of the end-to-end latency row, events per second.
    #[arg(long, default_value_t = 500.0)]
    steady_rate: f64,
    /// Calls per account in the Dialpad workflow row (default 20; 3 with --quick).
    #[arg(long)]
    dialpad_calls: Option<u64>,
    /// Concurrent actions in the refresh storm (default 1000; 100 with --quick).
    #[arg(long)]
    storm: Option<u64>,
    /// Starts measured by the footprint row (default 5; 3 with --quick).
    #[arg(long)]
    starts: Option<usize>,
    /// Connected accounts the growth row grows to (default 10,000; 300 with --quick).
    #[arg(long)]
    accounts: Option<usize>,
    /// Stored executions the growth row grows to (default 100,000; 3,000 with --quick).
    #[arg(long)]
    executions: Option<u64>,
    /// Seconds the growth row watches an idle process's CPU (default 60; 10 with --quick).
    #[arg(long)]
    idle_secs: Option<f64>,
    /// Put the run into BENCHMARKS.md at the root of the git work tree (or the current
    /// folder) as its newest section, with its row in the table of every run, and write
    /// docs/bench-throughput.png; the rest of the file stays as it is.
    #[arg(long)]
    write: bool,
    /// The run's heading in BENCHMARKS.md (default: `Run of <date and time>`), e.g.
    /// `Forty-second run`.
    #[arg(long)]
    label: Option<String>,
    /// Run as the bare relay of rows 1–2 (started by the bench itself, `relay.rs`): forward
    /// every request to this URL.
    #[arg(long, hide = true, requires = "relay_listen")]
    relay_to: Option<String>,
    /// Where the bare relay listens.
    #[arg(long, hide = true, requires = "relay_to")]
    relay_listen: Option<String>,
}

/// The sizes and windows of a run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Small sizes and short windows (`--quick`).
    pub quick: bool,
    pub duration: Duration,
    pub events: u64,
    pub steady_rate: f64,
    pub dialpad_per_account: u64,
    pub storm: u64,
    pub starts: usize,
    pub accounts: usize,
    pub executions: u64,
    pub idle: Duration,
    pub list_repeats: usize,
}

impl Settings {
    fn from_args(args: &Args) -> Settings {
        let q = args.quick;
        Settings {
            quick: q,
            duration: Duration::from_secs_f64(args.duration.unwrap_or(if q { 1.5 } else { 5.0 })),
            events: args.events.unwrap_or(if q { 300 } else { 5_000 }),
            steady_rate: args.steady_rate,
            dialpad_per_account: args.dialpad_calls.unwrap_or(if q { 3 } else { 20 }),
            storm: args.storm.unwrap_or(if q { 100 } else { 1_000 }),
            starts: args.starts.unwrap_or(if q { 3 } else { 5 }).max(1),
            accounts: args
                .accounts
                .unwrap_or(if q { 300 } else { 10_000 })
                .max(10),
            executions: args
                .executions
                .unwrap_or(if q { 3_000 } else { 100_000 })
                .max(100),
            idle: Duration::from_secs_f64(args.idle_secs.unwrap_or(if q { 10.0 } else { 60.0 })),
            list_repeats: if q { 50 } else { 200 },
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let (Some(upstream), Some(listen)) = (&args.relay_to, &args.relay_listen) {
        return match relay::run(upstream, listen).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("dialbridge-bench relay: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let rows: Vec<String> = if args.rows.is_empty() {
        ROWS.iter().map(|r| r.to_string()).collect()
    } else {
        args.rows.iter().map(|r| r.trim().to_lowercase()).collect()
    };
    if let Some(unknown) = rows.iter().find(|r| !ROWS.contains(&r.as_str())) {
        eprintln!(
            "dialbridge-bench: unknown row `{unknown}`; rows: {}",
            ROWS.join(", ")
        );
        return ExitCode::from(2);
    }
    match run(&args, &rows).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dialbridge-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args, rows: &[String]) -> Result<(), String> {
    let settings = Settings::from_args(args);
    let bin = procs::dialbridge_next_to_me()?;
    let dir = tempfile::Builder::new()
        .prefix("dialbridge-bench-")
        .tempdir()
        .map_err(|e| format!("no temp folder: {e}"))?;
    let machine = machine();
    eprintln!("dialbridge-bench: {machine}");
    eprintln!(
        "dialbridge-bench: {} (logs in {})",
        bin.display(),
        dir.path().display()
    );
    let emulator = procs::start_emulator(&bin, dir.path(), "emulator", false)
        .await
        .map_err(|e| format!("the emulator did not start: {e}"))?;
    let mut ctx = rows::Ctx::new(bin, dir, emulator, settings);
    let want = |row: &str| rows.iter().any(|r| r == row);

    if want("actions") || want("proxy") {
        eprintln!("rows 1–2: actions and proxy");
        if let Err(e) = rows::actions_and_proxy(&mut ctx, want("actions"), want("proxy")).await {
            if want("actions") {
                ctx.report
                    .push(report::Row::not_run("1", "action overhead", &e));
            }
            if want("proxy") {
                ctx.report
                    .push(report::Row::not_run("2", "proxy overhead", &e));
            }
        }
    }
    if want("ingest") {
        eprintln!("row 3: ingest");
        let data = ctx.dir.path().join("ingest-sqlite");
        if let Err(e) = rows::ingest(&mut ctx, &procs::Database::Sqlite(data), "SQLite").await {
            ctx.report
                .push(report::Row::not_run("3", "ingest, SQLite", e));
        }
        match &args.postgres_url {
            None => ctx.report.push(report::Row::not_run(
                "3",
                "ingest, PostgreSQL",
                "no --postgres-url or DIALBRIDGE_BENCH_DATABASE_URL given",
            )),
            Some(url) => match rows::fresh_postgres(url).await {
                Err(e) => ctx
                    .report
                    .push(report::Row::not_run("3", "ingest, PostgreSQL", e)),
                Ok((fresh, name)) => {
                    let database = procs::Database::Postgres {
                        url: fresh,
                        master_key: procs::random_hex(32),
                    };
                    if let Err(e) = rows::ingest(&mut ctx, &database, "PostgreSQL").await {
                        ctx.report
                            .push(report::Row::not_run("3", "ingest, PostgreSQL", e));
                    }
                    rows::drop_postgres(url, &name).await;
                }
            },
        }
    }
    if want("e2e") {
        eprintln!("row 4: end to end");
        if let Err(e) = rows::end_to_end(&mut ctx).await {
            ctx.report.push(report::Row::not_run("4", "end to end", e));
        }
    }
    if want("dialpad") {
        eprintln!("row 5: a workflow that calls Dialpad");
        if let Err(e) = rows::dialpad_workflow(&mut ctx).await {
            ctx.report
                .push(report::Row::not_run("5", "workflow calling Dialpad", e));
        }
    }
    if want("refresh") {
        eprintln!("row 6: refresh storm");
        if let Err(e) = rows::refresh_storm(&mut ctx).await {
            ctx.report
                .push(report::Row::not_run("6", "refresh storm", e));
        }
    }
    if want("footprint") {
        eprintln!("row 7: footprint");
        if let Err(e) = rows::footprint(&mut ctx).await {
            ctx.report.push(report::Row::not_run("7", "footprint", e));
        }
    }
    if want("growth") {
        eprintln!("row 8: growth");
        if let Err(e) = rows::growth(&mut ctx).await {
            ctx.report.push(report::Row::not_run("8", "growth", e));
        }
    }
    if want("refresh-loop") {
        eprintln!("row 8: background refresh at growth");
        if let Err(e) = rows::refresh_loop(&mut ctx).await {
            ctx.report
                .push(report::Row::not_run("8", "background refresh", e));
        }
    }
    let violations = ctx
        .emu
        .stats()
        .await
        .ok()
        .and_then(|s| s["response_schema_violations"].as_u64());
    if let Some(n) = violations.filter(|n| *n > 0) {
        ctx.report.note(format!(
            "the emulator answered against Dialpad's spec {n} times (a bug of the emulator)"
        ));
    }
    let table = ctx.report.table();
    println!("{table}");
    if args.write {
        write(args, &ctx.report, &table, &machine)?;
    }
    Ok(())
}

/// Cores, memory and CPU model, from /proc.
fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|kib| format!("{:.1} GiB memory", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown memory".into());
    format!("{cores} cores ({model}), {memory}")
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// BENCHMARKS.md and the plot, at the root of the work tree.
fn write(args: &Args, report: &report::Report, table: &str, machine: &str) -> Result<(), String> {
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    let root = git(&cwd, &["rev-parse", "--show-toplevel"])
        .map(PathBuf::from)
        .unwrap_or(cwd);
    let commit = git(&root, &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&root, &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty());
    let command: Vec<String> = std::env::args()
        .enumerate()
        .map(|(i, a)| {
            if i == 0 {
                "target/dist/dialbridge-bench".to_owned()
            } else {
                shell_quote(&a)
            }
        })
        .collect();
    let date = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let png = root.join("docs/bench-throughput.png");
    let plotted = report::plot(
        &report.curves,
        "dialbridge-bench: throughput against concurrency",
        &png,
    );
    let mut md = format!(
        "- commit: `{commit}`{}\n- command: `{BUILD} && {}`\n- machine: {machine}\n- date: {date}\n\n",
        if dirty { " (with uncommitted changes)" } else { "" },
        command.join(" "),
    );
    md.push_str(
        "The emulator (`dialbridge emulator --no-rate-limits`; row 5 adds one with Dialpad's rate \
         limits on) and `dialbridge serve` (fresh SQLite database per row, defaults otherwise) run \
         as separate processes on the same machine as the load generator. The machine is shared \
         and small, so read the ratios: each figure stands beside a reference measured in the \
         same run. The README's \"Benchmarks\" section says what each row measures.\n\n",
    );
    md.push_str(table);
    md.push('\n');
    match &plotted {
        Ok(()) => md.push_str(benchmarks_md::PLOT),
        Err(e) => md.push_str(&format!("No plot: {e}.\n")),
    }
    let path = root.join("BENCHMARKS.md");
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let run = benchmarks_md::Run {
        heading: args.label.clone().unwrap_or_else(|| {
            format!(
                "Run of {} UTC",
                date.replacen('T', " ", 1).trim_end_matches('Z')
            )
        }),
        date: date[..10].to_owned(),
        body: md,
        plotted: plotted.is_ok(),
    };
    let merged = benchmarks_md::merge(existing.as_deref(), &run, &report.rows);
    std::fs::write(&path, merged).map_err(|e| e.to_string())?;
    eprintln!(
        "dialbridge-bench: put the run into {} and wrote {}",
        path.display(),
        png.display()
    );
    Ok(())
}

/// An argument as a shell needs it typed.
fn shell_quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}
