//! Logs go to stderr from a thread of their own. A request hands its log line over and goes
//! on: it never waits for whoever reads stderr (a full pipe, a stopped terminal, a slow
//! collector), and the tokio workers make no write call per line. The thread writes what
//! queued up while it was busy with one call.
//!
//! The queue holds at most `QUEUED_LINES` lines. While the reader is that far behind, further
//! lines are dropped rather than held in memory or made to wait; they are counted, and once
//! lines flow again a warning says how many were lost.

use std::io::{BufWriter, IsTerminal};
use std::time::Duration;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::LogFormat;

/// Lines that may wait for the reader of stderr (a line is a few hundred bytes).
const QUEUED_LINES: usize = 16_384;
/// How often the count of dropped lines is looked at.
const DROP_REPORT_EVERY: Duration = Duration::from_secs(5);
/// What the thread gathers into one write to stderr.
const WRITE_BUFFER: usize = 64 * 1024;

/// Installs the global subscriber: `RUST_LOG` filters (default `info,sqlx=warn`); colour
/// only when a person is reading stderr (a terminal, and no `NO_COLOR`), plain text for a
/// file, journald or a collector. Call inside the tokio runtime (it spawns the drop report).
/// Keep the guard it answers until the end: dropping it writes out what is queued.
pub fn init(format: LogFormat) -> WorkerGuard {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUED_LINES)
        .lossy(true)
        .thread_name("dialbridge-log")
        .finish(BufWriter::with_capacity(WRITE_BUFFER, std::io::stderr()));
    tokio::spawn(report_drops(writer.error_counter()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    guard
}

/// Warns, through the log itself, when lines were dropped since the last look.
async fn report_drops(dropped: ErrorCounter) {
    let mut reported = 0;
    let mut every = tokio::time::interval(DROP_REPORT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = dropped.dropped_lines();
        if now > reported {
            // With the total too: this warning is itself dropped while the queue is full.
            tracing::warn!(
                dropped = now - reported,
                dropped_since_start = now,
                "log lines were dropped: stderr was not read as fast as they were written"
            );
            reported = now;
        }
    }
}
