//! Logs go to stderr from a thread of their own. A request hands its log line over and goes
//! on: it never waits for whoever reads stderr (a full pipe, a stopped terminal, a slow
//! collector), and the tokio workers make no write call per line. The thread writes what
//! queued up while it was busy with one call.
//!
//! The queue holds at most `QUEUED_LINES` lines. While the reader is that far behind, further
//! lines are dropped rather than held in memory or made to wait; they are counted, and once
//! lines flow again a warning says how many were lost.

use std::io::{BufWriter, IsTerminal};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
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
        .with_timer(Rfc3339Micros)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    guard
}

/// Each line's time as `tracing-subscriber`'s own timer writes it (RFC 3339, UTC, to the
/// microsecond: `2026-12-07T10:28:57.123456Z`), put together by `humantime` in one buffer and
/// written at once, where that timer writes each field with its own padded `write!`: less than
/// half the instructions, on every line (BENCHMARKS.md, *A proxied request's own work*).
struct Rfc3339Micros;

impl FormatTime for Rfc3339Micros {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let now = SystemTime::now();
        if now < UNIX_EPOCH {
            // humantime takes no time before 1970; tracing-subscriber's timer writes one.
            return tracing_subscriber::fmt::time::SystemTime.format_time(w);
        }
        write!(w, "{}", humantime::format_rfc3339_micros(now))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn written(timer: impl FormatTime) -> String {
        let mut text = String::new();
        timer.format_time(&mut Writer::new(&mut text)).unwrap();
        text
    }

    /// A line's time reads as it did with `tracing-subscriber`'s own timer: the same form, to
    /// the microsecond, in UTC.
    #[test]
    fn the_time_of_a_line_is_written_as_tracing_subscriber_writes_it() {
        let theirs = written(tracing_subscriber::fmt::time::SystemTime);
        let ours = written(Rfc3339Micros);
        let shape = |text: &str| -> String {
            text.chars()
                .map(|c| if c.is_ascii_digit() { '9' } else { c })
                .collect()
        };
        assert_eq!(shape(&ours), "9999-99-99T99:99:99.999999Z");
        assert_eq!(shape(&ours), shape(&theirs));
        let at = |text: &str| humantime::parse_rfc3339(text).unwrap();
        let (before, after) = (at(&theirs), at(&ours));
        // Either way round: the wall clock may be stepped between the two.
        let apart = after
            .duration_since(before)
            .or_else(|_| before.duration_since(after))
            .unwrap();
        assert!(apart < Duration::from_secs(5), "{theirs} then {ours}");
    }
}
