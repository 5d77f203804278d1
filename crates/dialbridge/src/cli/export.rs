//! `dialbridge calls export --account <id> [--since DATE] --out calls.jsonl`: pages through the
//! account's calls with the `list_calls` action, appends one call per line, and records its
//! progress beside the output (see [`super::progress`]) so an interrupted export resumes where
//! it stopped. A `rate_limited` answer is waited out and the same page asked again.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use super::client::{ApiArgs, Client};
use super::error::CliError;
use super::progress::{self, Progress};
use super::since::parse_since;

/// How often one page is asked again after `rate_limited`.
const MAX_RETRIES: u32 = 5;
/// The wait when the server does not say how long.
const DEFAULT_RETRY_SECS: f64 = 5.0;

/// `dialbridge calls …`
#[derive(Args, Debug)]
pub struct CallsCommand {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: CallsSubcommand,
}

#[derive(Subcommand, Debug)]
enum CallsSubcommand {
    /// Export an account's calls as JSON lines, resuming an interrupted export.
    Export(ExportArgs),
}

#[derive(Args, Debug)]
struct ExportArgs {
    /// The account whose calls to export.
    #[arg(long)]
    account: String,
    /// Only calls started after this time: RFC 3339 (2026-11-01T00:00:00Z) or a date (UTC).
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// The JSON-lines file to write (progress is kept in <OUT>.progress until done).
    #[arg(long)]
    out: PathBuf,
    /// Calls per page.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    page_size: u32,
    /// Ignore an unfinished export's progress and start over, emptying the output.
    #[arg(long)]
    restart: bool,
    /// Stop after this many pages, leaving the progress file to resume from (for tests).
    #[arg(long, hide = true)]
    max_pages: Option<u64>,
}

pub async fn run(command: CallsCommand) -> Result<(), CliError> {
    let CallsSubcommand::Export(args) = command.command;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let client = Client::new(&command.api)?;
    let state = progress::progress_path(&args.out);
    let display = Display::new();
    let (mut progress, mut file) = start(&args, since, &state, &display)?;
    let mut fetched = 0;
    while progress.pages == 0 || progress.cursor.is_some() {
        if args.max_pages.is_some_and(|max| fetched >= max) {
            display.finish();
            eprintln!(
                "stopped after {} (--max-pages); run the same command again to resume",
                plural(fetched, "page")
            );
            return Ok(());
        }
        let input = page_input(&progress, args.page_size);
        let answer = fetch_page(&client, &args.account, &input, &display).await?;
        let (lines, count, cursor) = parse_page(&answer, progress.cursor.as_deref())?;
        let write = file.write_all(&lines).and_then(|()| file.sync_data());
        write.map_err(|e| CliError::io(&args.out, e))?;
        progress.bytes += lines.len() as u64;
        progress.pages += 1;
        progress.calls += count;
        progress.cursor = cursor;
        progress::save(&state, &progress)?;
        fetched += 1;
        display.page(&progress);
    }
    display.finish();
    progress::remove(&state)?;
    println!(
        "exported {} to {}",
        plural(progress.calls, "call"),
        args.out.display()
    );
    Ok(())
}

/// A fresh start, or the saved progress when it belongs to these arguments.
fn start(
    args: &ExportArgs,
    since: Option<i64>,
    state: &Path,
    display: &Display,
) -> Result<(Progress, std::fs::File), CliError> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let fresh = Progress::new(&args.account, since, now_ms);
    if args.restart {
        progress::remove(state)?;
    }
    let Some(saved) = progress::load(state)? else {
        return Ok((fresh, progress::open_output(&args.out, None)?));
    };
    if saved.account != fresh.account || saved.since != fresh.since {
        return Err(CliError::Resume(format!(
            "{} belongs to another export (account {:?}, since {}); run it again with those \
             arguments to resume it, or pass --restart to start this one over",
            state.display(),
            saved.account,
            saved
                .since
                .map_or("not set".into(), |ms| format!("{ms} ms")),
        )));
    }
    let file = progress::open_output(&args.out, Some(saved.bytes))?;
    display.note(&format!(
        "resuming the export to {} after {} ({})",
        args.out.display(),
        plural(saved.calls, "call"),
        plural(saved.pages, "page")
    ));
    Ok((saved, file))
}

fn page_input(progress: &Progress, page_size: u32) -> Value {
    let mut input = json!({ "limit": page_size });
    if let Some(cursor) = &progress.cursor {
        input["cursor"] = json!(cursor);
    }
    if let Some(since) = progress.since {
        input["started_after"] = json!(since);
    }
    input["started_before"] = json!(progress.until);
    input
}

/// Runs `list_calls`, waiting out `rate_limited` answers up to [`MAX_RETRIES`] times.
async fn fetch_page(
    client: &Client,
    account: &str,
    input: &Value,
    display: &Display,
) -> Result<Value, CliError> {
    let path = ["api", "v1", "accounts", account, "actions", "list_calls"];
    let mut retries = 0;
    loop {
        match client.post(&path, input).await {
            Err(CliError::Server { code, details, .. })
                if code == "rate_limited" && retries < MAX_RETRIES =>
            {
                retries += 1;
                let wait = retry_after(&details);
                display.note(&format!(
                    "rate limited; asking for the page again in {:.1} s ({retries}/{MAX_RETRIES})",
                    wait.as_secs_f64()
                ));
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

/// `details.retry_after_secs` (a number or a numeric string), else 5 s; at most 5 minutes.
pub fn retry_after(details: &Value) -> Duration {
    let secs = details.get("retry_after_secs").and_then(|v| match v {
        Value::String(s) => s.trim().parse::<f64>().ok(),
        other => other.as_f64(),
    });
    let secs = secs.filter(|s| s.is_finite() && *s >= 0.0);
    Duration::from_secs_f64(secs.unwrap_or(DEFAULT_RETRY_SECS).min(300.0))
}

/// The page's calls as JSON lines, their count, and the next cursor.
fn parse_page(
    answer: &Value,
    sent: Option<&str>,
) -> Result<(Vec<u8>, u64, Option<String>), CliError> {
    let bad = |what: &str| CliError::BadResponse(format!("list_calls: {what}"));
    let output = answer.get("output").ok_or_else(|| bad("no `output`"))?;
    let items = output
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no `items` array in the output"))?;
    let cursor = match output.get("cursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) if c.is_empty() => None,
        Some(Value::String(c)) => Some(c.clone()),
        Some(_) => return Err(bad("`cursor` is not a string")),
    };
    if cursor.is_some() && cursor.as_deref() == sent {
        return Err(bad("the next page's cursor is the one just sent; stopping"));
    }
    let mut lines = Vec::new();
    for item in items {
        serde_json::to_writer(&mut lines, item).map_err(|e| bad(&e.to_string()))?;
        lines.push(b'\n');
    }
    Ok((lines, items.len() as u64, cursor))
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A spinner on a terminal; plain lines on stderr otherwise.
enum Display {
    Bar(ProgressBar),
    Plain,
}

impl Display {
    fn new() -> Self {
        if !std::io::stderr().is_terminal() {
            return Display::Plain;
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} exporting calls: {msg} [{elapsed}]")
        {
            bar.set_style(style);
        }
        bar.set_message("starting");
        bar.enable_steady_tick(Duration::from_millis(120));
        Display::Bar(bar)
    }

    fn note(&self, line: &str) {
        match self {
            Display::Bar(bar) => bar.println(line),
            Display::Plain => eprintln!("{line}"),
        }
    }

    fn page(&self, progress: &Progress) {
        let text = format!(
            "{} ({})",
            plural(progress.calls, "call"),
            plural(progress.pages, "page")
        );
        match self {
            Display::Bar(bar) => bar.set_message(text),
            Display::Plain => eprintln!("exported {text}"),
        }
    }

    fn finish(&self) {
        if let Display::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_input_has_limit_cursor_and_since_only_when_set() {
        let mut progress = Progress::new("a", None, 9);
        assert_eq!(
            page_input(&progress, 100),
            json!({"limit": 100, "started_before": 9})
        );
        progress.cursor = Some("c".into());
        progress.since = Some(5);
        assert_eq!(
            page_input(&progress, 7),
            json!({"limit": 7, "cursor": "c", "started_after": 5, "started_before": 9})
        );
    }

    #[test]
    fn pages_become_json_lines() {
        let answer = json!({"output": {"items": [{"call_id": 1}, {"call_id": 2, "x": "a\nb"}], "cursor": "n"}});
        let (lines, count, cursor) = parse_page(&answer, None).unwrap();
        assert_eq!(
            String::from_utf8(lines).unwrap(),
            "{\"call_id\":1}\n{\"call_id\":2,\"x\":\"a\\nb\"}\n"
        );
        assert_eq!((count, cursor.as_deref()), (2, Some("n")));
        let last = json!({"output": {"items": [], "cursor": null}});
        assert_eq!(parse_page(&last, Some("n")).unwrap().2, None);
        for bad in [
            json!({}),
            json!({"output": {"items": {}}}),
            json!({"output": {"items": [], "cursor": 3}}),
            json!({"output": {"items": [], "cursor": "same"}}),
        ] {
            assert!(parse_page(&bad, Some("same")).is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_after_reads_the_details_or_waits_five_seconds() {
        assert_eq!(
            retry_after(&json!({"retry_after_secs": 2})),
            Duration::from_secs(2)
        );
        assert_eq!(
            retry_after(&json!({"retry_after_secs": "0.5"})),
            Duration::from_millis(500)
        );
        assert_eq!(
            retry_after(&json!({"retry_after_secs": -1})),
            Duration::from_secs(5)
        );
        assert_eq!(retry_after(&Value::Null), Duration::from_secs(5));
        assert_eq!(
            retry_after(&json!({"retry_after_secs": 1e9})),
            Duration::from_secs(300)
        );
    }
}
