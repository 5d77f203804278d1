//! A smoke run of the benchmark, so CI proves it still runs: the real `dialbridge-bench` with
//! `--quick` on two rows, bounded in time, checked for a printed table whose rows ran. No figure
//! is asserted: a benchmark is not a timed test.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(300);

#[test]
fn quick_ingest_and_actions_print_the_table() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_dialbridge-bench"));
    let dialbridge = bench.with_file_name("dialbridge");
    assert!(
        dialbridge.is_file(),
        "{} is missing: the bench runs the real `dialbridge` executable beside it. \
         `cargo test --workspace` builds it; alone, run `cargo build -p dialbridge` first",
        dialbridge.display()
    );
    let mut child = Command::new(&bench)
        .args(["--quick", "--rows", "ingest,actions", "--duration", "0.3"])
        .env_remove("DIALBRIDGE_BENCH_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dialbridge-bench");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("dialbridge-bench --quick did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");

    assert!(
        stdout.contains("| # | what | dialbridge | reference (same run) | ratio |"),
        "{stdout}"
    );
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("| ")).collect();
    let of = |id: &str| {
        rows.iter()
            .filter(|l| l.starts_with(&format!("| {id} |")))
            .count()
    };
    // Row 1 at 1 and 64 connections and its CPU per request; row 3 on SQLite at 1 and 64 and
    // its CPU per event, and PostgreSQL skipped.
    assert_eq!(of("1"), 3, "{stdout}");
    assert_eq!(of("3"), 4, "{stdout}");
    // The bare relay (the hop alone) beside them: at 1 and 64 connections, and its CPU.
    assert_eq!(of("1–2"), 3, "{stdout}");
    for row in rows.iter().filter(|l| l.starts_with("| 1–2 |")) {
        assert!(row.contains("relay"), "{row}");
        assert!(row.contains("×"), "{row}");
    }
    for cpu in ["action: CPU per request", "ingest, SQLite: CPU per event"] {
        assert!(
            rows.iter()
                .any(|l| l.contains(cpu) && l.contains("ceiling")),
            "{cpu}\n{stdout}"
        );
    }
    assert!(
        rows.iter()
            .any(|l| l.contains("ingest, PostgreSQL") && l.contains("NOT RUN: no --postgres-url")),
        "{stdout}"
    );
    for row in rows.iter().filter(|l| !l.contains("PostgreSQL")) {
        assert!(
            !row.contains("NOT RUN") && !row.contains("FAILED"),
            "{row}\n{stderr}"
        );
    }
    // Each figure stands beside its reference, with their ratio (the CPU rows with theirs).
    for row in rows
        .iter()
        .filter(|l| l.starts_with("| 1 |") || l.contains("SQLite"))
    {
        assert!(
            row.contains("direct:") || row.contains("`GET /healthz`:"),
            "{row}"
        );
        assert!(row.contains("req/s ×") || row.contains("ceiling"), "{row}");
    }
}
