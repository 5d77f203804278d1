//! The processes under test: `dialbridge emulator` and `dialbridge serve`, each started from the
//! `dialbridge` executable, and the bare relay of rows 1–2 (this executable again), each as a
//! child of its own (killed when dropped), with a clean
//! environment (no `DIALBRIDGE_*`, no `RUST_LOG`) so they run with their defaults; and what
//! /proc tells about them (resident memory, CPU time).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// Where `dialbridge` is: beside this executable (both are built into the same target dir).
pub fn dialbridge_next_to_me() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find my own executable: {e}"))?;
    let dir = me
        .parent()
        .ok_or("my executable has no folder")?
        .to_path_buf();
    // Test binaries live in target/<profile>/deps; the binaries one level up.
    let candidates = [dir.join("dialbridge"), dir.join("../dialbridge")];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "no `dialbridge` executable next to {}: build both with `{}`",
                me.display(),
                crate::BUILD
            )
        })
}

/// A free port on the loopback interface (bound, read, released).
pub fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// One child process of the bench, with its log file.
pub struct Proc {
    pub child: Child,
    pub pid: u32,
    pub url: String,
    pub log: PathBuf,
    /// When the process was spawned.
    pub spawned: Instant,
    /// How long after spawning it first answered.
    pub ready_after: Duration,
}

impl Proc {
    /// Starts `dialbridge <args…>` listening on `port`, and waits until `probe` (a path)
    /// answers 200.
    pub async fn start(
        bin: &Path,
        args: &[String],
        port: u16,
        probe: &str,
        log: PathBuf,
    ) -> Result<Proc, String> {
        let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(bin);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        for (name, _) in std::env::vars_os() {
            let text = name.to_string_lossy();
            if text.starts_with("DIALBRIDGE_") || text == "RUST_LOG" {
                command.env_remove(&name);
            }
        }
        let spawned = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let pid = child.id().ok_or("the child exited at once")?;
        let url = format!("http://127.0.0.1:{port}");
        let mut proc = Proc {
            child,
            pid,
            url,
            log,
            spawned,
            ready_after: Duration::ZERO,
        };
        proc.ready_after = proc.wait_ready(probe).await?;
        Ok(proc)
    }

    async fn wait_ready(&mut self, probe: &str) -> Result<Duration, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string())?;
        let deadline = self.spawned + Duration::from_secs(60);
        loop {
            if let Ok(response) = http.get(format!("{}{probe}", self.url)).send().await {
                if response.status().is_success() {
                    return Ok(self.spawned.elapsed());
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "it exited ({status}) before answering; {}",
                    self.log_tail()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no answer on {probe} within 60 s; {}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The last lines of its log, to explain a failure.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        let tail: Vec<&str> = lines.into_iter().rev().collect();
        format!("log {}: {}", self.log.display(), tail.join(" | "))
    }

    /// Resident memory now (`VmRSS`), in bytes.
    pub fn rss(&self) -> Option<u64> {
        status_kib(self.pid, "VmRSS:").map(|k| k * 1024)
    }

    /// Resident memory now by kind, in bytes: the process's own (`RssAnon`: heap, stacks) and
    /// file pages it maps (`RssFile`: the executable and libraries, shared and clean).
    pub fn rss_parts(&self) -> Option<(u64, u64)> {
        let anon = status_kib(self.pid, "RssAnon:")?;
        let file = status_kib(self.pid, "RssFile:")?;
        Some((anon * 1024, file * 1024))
    }

    /// Peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        status_kib(self.pid, "VmHWM:").map(|k| k * 1024)
    }

    /// User plus system CPU time used so far.
    pub fn cpu(&self) -> Option<Duration> {
        cpu_time(self.pid)
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// A `/proc/<pid>/status` field in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time this bench process (the load generator) has used so far.
pub fn own_cpu() -> Option<Duration> {
    cpu_time(std::process::id())
}

/// CPU time the PostgreSQL server's processes (every process named `postgres` on this
/// machine) have used so far; a backend that exits takes its share with it, so it is read
/// around runs whose connections stay open.
pub fn postgres_cpu() -> Option<Duration> {
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let named_postgres = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|comm| comm.trim_end() == "postgres");
        if named_postgres {
            total += cpu_time(pid).unwrap_or_default();
        }
    }
    Some(total)
}

/// `utime + stime` of /proc/<pid>/stat, in clock ticks of 1/100 s (Linux's USER_HZ).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After `)`: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// The emulator: `dialbridge emulator --listen … [--no-rate-limits]`.
pub async fn start_emulator(
    bin: &Path,
    dir: &Path,
    name: &str,
    rate_limits: bool,
) -> Result<Proc, String> {
    let port = free_port()?;
    let mut args = vec![
        "emulator".to_owned(),
        "--listen".to_owned(),
        format!("127.0.0.1:{port}"),
    ];
    if !rate_limits {
        args.push("--no-rate-limits".to_owned());
    }
    Proc::start(
        bin,
        &args,
        port,
        "/_control/operations",
        dir.join(format!("{name}.log")),
    )
    .await
}

/// The bare relay of rows 1–2 (`relay.rs`): this executable again, forwarding to `upstream`.
pub async fn start_relay(dir: &Path, upstream: &str) -> Result<Proc, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find my own executable: {e}"))?;
    let port = free_port()?;
    let args = vec![
        "--relay-to".to_owned(),
        upstream.to_owned(),
        "--relay-listen".to_owned(),
        format!("127.0.0.1:{port}"),
    ];
    // Ready once the emulator's answer comes back through it.
    Proc::start(
        &me,
        &args,
        port,
        "/_control/operations",
        dir.join("relay.log"),
    )
    .await
}

/// Where a `serve` process keeps its data.
pub enum Database {
    /// A fresh SQLite file in this folder.
    Sqlite(PathBuf),
    /// A PostgreSQL database URL (with the master key it needs).
    Postgres { url: String, master_key: String },
}

/// `dialbridge serve` with its defaults, plus only what the bench must set: where it listens,
/// its database, the admin key (and the master key PostgreSQL requires), and `extra` flags of
/// a row that measures one.
pub async fn start_serve(
    bin: &Path,
    log_dir: &Path,
    name: &str,
    database: &Database,
    api_key: &str,
    extra: &[String],
) -> Result<Proc, String> {
    let port = free_port()?;
    let mut args = vec![
        "serve".to_owned(),
        "--listen".to_owned(),
        format!("127.0.0.1:{port}"),
        "--api-key".to_owned(),
        api_key.to_owned(),
        "--database-url".to_owned(),
    ];
    match database {
        Database::Sqlite(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            args.push(format!("sqlite://{}/dialbridge.db", dir.display()));
        }
        Database::Postgres { url, master_key } => {
            args.push(url.clone());
            args.push("--master-key".to_owned());
            args.push(master_key.clone());
        }
    }
    args.extend(extra.iter().cloned());
    Proc::start(
        bin,
        &args,
        port,
        "/healthz",
        log_dir.join(format!("{name}.log")),
    )
    .await
}

/// 32 random bytes as hex, from the kernel.
pub fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut buf);
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
