//! BENCHMARKS.md as `--write` leaves it. The file keeps every run, newest first, below two
//! sections: *Where it stands* (written by hand) and *Every run at a glance* (a table of each
//! run's main figures). A new run goes in as a section of its own above the newest one, with its
//! row at the top of that table; the run before it loses its plot, which the new run's
//! replaces. Nothing written by hand is touched. A file without the glance table (or no file)
//! is written afresh, with the run alone.

use crate::report::Row;

/// The glance table's heading, and its first row (the targets), under which runs go.
const GLANCE: &str = "\n## Every run at a glance\n";
const TARGET_ROW: &str = "| *target* |";
/// The glance table's head, for a file written afresh.
const GLANCE_HEAD: &str = "| run | date | direct requests/s (the machine's speed) | SQLite ingest/s | PostgreSQL ingest/s | executions/s, 1 · 20 accounts | action · proxy, of direct | idle RSS |\n\
|---|---|---|---|---|---|---|---|\n\
| *target* | | | *≥ 10,000* | *≥ 5,000* | *≥ 1,000 · ≥ 2,500* | *≥ ×0.80* | *≤ 20 MiB* |\n";

/// The plot's paragraph in a run's section; only the newest run keeps it.
pub const PLOT: &str = "![throughput against concurrency](docs/bench-throughput.png)\n\n\
`docs/bench-throughput.png`: requests (or events) per second against the number of \
connections, closed loop, from the same run. Text is drawn with an embedded subset of \
DejaVu Sans (crates/dialbridge-bench/assets), so no system font is needed.\n";

/// One run, as it goes into the file.
pub struct Run {
    /// The section's heading (`--label`, or `Run of <date>`).
    pub heading: String,
    /// The day it ran, `YYYY-MM-DD`.
    pub date: String,
    /// The section's text under its heading: commit, command, table, plot.
    pub body: String,
    /// Whether the plot was written: only then does the run before give its plot up.
    pub plotted: bool,
}

/// The file with `run` in it (see the module's documentation).
pub fn merge(existing: Option<&str>, run: &Run, rows: &[Row]) -> String {
    let section = format!("## {}\n\n{}\n", run.heading, run.body.trim_end());
    let row = glance_row(run, rows);
    let Some((text, (target_end, newest))) = existing.and_then(|text| Some((text, places(text)?)))
    else {
        return fresh(&section, &row);
    };
    let mut older = text[newest..].to_owned();
    if run.plotted {
        older = older.replacen(
            PLOT,
            &format!("Its plot was replaced by that of *{}*.\n", run.heading),
            1,
        );
    }
    let mut out = String::with_capacity(text.len() + section.len() + row.len() + 1);
    out.push_str(&text[..target_end]);
    out.push_str(&row);
    out.push_str(&text[target_end..newest]);
    out.push_str(&section);
    out.push('\n');
    out.push_str(&older);
    out
}

/// Where a run goes in `text`: the end of the glance table's target row (its row goes there)
/// and the newest run's heading (its section goes there); `None` without a glance table.
fn places(text: &str) -> Option<(usize, usize)> {
    let after_glance = text.find(GLANCE)? + GLANCE.len();
    let target = after_glance + text[after_glance..].find(TARGET_ROW)?;
    let target_end = text[target..]
        .find('\n')
        .map_or(text.len(), |i| target + i + 1);
    // The newest run's heading: the first one after the glance section's.
    let newest = text[target_end..]
        .find("\n## ")
        .map_or(text.len(), |i| target_end + i + 1);
    Some((target_end, newest))
}

fn fresh(section: &str, row: &str) -> String {
    format!("# Benchmarks\n\n## Every run at a glance\n\n{GLANCE_HEAD}{row}\n{section}")
}

/// The run's line of the glance table, read from its rows; `—` for a row that did not run.
fn glance_row(run: &Run, rows: &[Row]) -> String {
    let find = |id: &str, starts: &str, contains: &str| {
        rows.iter()
            .find(|r| r.id == id && r.what.starts_with(starts) && r.what.contains(contains))
    };
    let rate = |row: Option<&Row>| row.and_then(|r| leading_number(&r.figure, "/s"));
    let ratio = |row: Option<&Row>| {
        dash(
            row.and_then(|r| between(&r.ratio, "req/s ×", ","))
                .map(|x| format!("×{x}")),
        )
    };
    let action = find("1", "action `get_channel`", "64 connection");
    let proxy = find("2", "proxy ", "64 connection");
    let direct = action
        .or(proxy)
        .and_then(|r| between(&r.reference, "direct: ", "/s"))
        .and_then(|n| n.parse::<u64>().ok())
        .map(thousands);
    let executions = |accounts: &str| {
        rate(find(
            "4",
            "executions finished/s, `call.hangup` → one `set` step,",
            &format!(" {accounts} account(s)"),
        ))
    };
    let rss = find("7", "resident memory (VmRSS) of `serve`, idle", "")
        .and_then(|r| r.figure.split_once(" MiB").map(|(n, _)| n.to_owned()))
        .filter(|n| n.parse::<f64>().is_ok())
        .map(|n| format!("{n} MiB"));
    let name = run.heading.strip_suffix(" run").unwrap_or(&run.heading);
    format!(
        "| [{name}](#{}) | {} | {} | {} | {} | {} · {} | {} · {} | {} |\n",
        anchor(&run.heading),
        run.date,
        dash(direct),
        dash(rate(find("3", "ingest, SQLite: signed", "64 connection"))),
        dash(rate(find(
            "3",
            "ingest, PostgreSQL: signed",
            "64 connection"
        ))),
        dash(executions("1")),
        dash(executions("20")),
        ratio(action),
        ratio(proxy),
        dash(rss),
    )
}

/// The number a figure starts with, before `unit` (`12325/s, p50 …` → `12,325`).
fn leading_number(figure: &str, unit: &str) -> Option<String> {
    let (number, _) = figure.split_once(unit)?;
    number.parse::<u64>().ok().map(thousands)
}

/// The text between `start` and the next `end` (or the end of `text`).
fn between<'t>(text: &'t str, start: &str, end: &str) -> Option<&'t str> {
    let (_, rest) = text.split_once(start)?;
    Some(rest.split_once(end).map_or(rest, |(inside, _)| inside))
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "—".to_owned())
}

/// The link GitHub gives a heading: lower case, spaces as hyphens, other punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, what: &str, figure: &str, reference: &str, ratio: &str) -> Row {
        Row::new(id, what, figure.into(), reference.into(), ratio.into())
    }

    /// Rows as a full run words them (their text copied from the fortieth run's table).
    fn rows() -> Vec<Row> {
        vec![
            row("1", "action `get_channel`, 1 connection(s)", "2500/s, p50 387 µs", "direct: 5990/s, p50 160 µs", "req/s ×0.42, p50 ×2.42"),
            row("1", "action `get_channel`, 64 connection(s)", "14173/s, p50 4.19 ms", "direct: 50889/s, p50 1.13 ms", "req/s ×0.28, p50 ×3.69"),
            row("2", "proxy `GET /proxy/{account}/api/v2/channels/{id}`, 64 connection(s)", "15679/s, p50 3.92 ms", "direct: 50889/s, p50 1.13 ms", "req/s ×0.31, p50 ×3.46"),
            row("3", "ingest, SQLite: signed `call` events accepted (2xx), 1 connection(s)", "1905/s, p50 473 µs", "`GET /healthz`: 5964/s", "req/s ×0.32"),
            row("3", "ingest, SQLite: signed `call` events accepted (2xx), 64 connection(s)", "7927/s, p50 7.74 ms", "`GET /healthz`: 25851/s", "req/s ×0.31"),
            row("3", "ingest, SQLite: CPU per event at 64 connections (`serve`'s includes the executions the events start, as far as they ran in the window)", "`serve` 145 µs", "`GET /healthz`: `serve` 48 µs", "ceiling"),
            Row::not_run("3", "ingest, PostgreSQL", "no --postgres-url or DIALBRIDGE_BENCH_DATABASE_URL given"),
            row("4", "executions finished/s, `call.hangup` → one `set` step, 1 account(s), 5000 events posted at 64 connections", "9175/s", "the same events accepted: 9186/s", "×1.00"),
            row("4", "executions finished/s, `call.hangup` → one `set` step, 20 account(s), 5000 events posted at 64 connections", "7953/s", "the same events accepted: 7961/s", "×1.00"),
            row("4", "executions finished/s, `call.hangup` → the same `set` step inside a `for_each` (run by the executor, not at ingest), 1 account(s), 5000 events posted at 64 connections", "4931/s", "accepted: 9458/s", "×0.52"),
            row("7", "resident memory (VmRSS) of `serve`, idle", "17.5 MiB (7.8 MiB its own memory, RssAnon)", "the emulator process, idle: 16.0 MiB", "×1.11"),
        ]
    }

    fn run(heading: &str, plotted: bool) -> Run {
        Run {
            heading: heading.into(),
            date: "2026-12-07".into(),
            body: format!("- commit: `abc`\n\n| # | what |\n\n{PLOT}"),
            plotted,
        }
    }

    #[test]
    fn the_glance_row_reads_each_figure_from_its_row() {
        assert_eq!(
            glance_row(&run("Forty-second run", true), &rows()),
            "| [Forty-second](#forty-second-run) | 2026-12-07 | 50,889 | 7,927 | — | 9,175 · 7,953 | ×0.28 · ×0.31 | 17.5 MiB |\n"
        );
        // A run of a few rows says what it did not measure, and nothing else.
        let only_ingest: Vec<Row> = rows().into_iter().filter(|r| r.id == "3").collect();
        assert_eq!(
            glance_row(&run("Run of 2026-12-07", true), &only_ingest),
            "| [Run of 2026-12-07](#run-of-2026-12-07) | 2026-12-07 | — | 7,927 | — | — · — | — · — | — |\n"
        );
    }

    #[test]
    fn a_run_goes_in_above_the_newest_and_takes_its_plot() {
        let existing = format!(
            "# Benchmarks\n\nIntro.\n\n## Where it stands\n\nBy hand.\n{GLANCE}\n{GLANCE_HEAD}\
             | [Second](#second-run) | 2026-12-06 | 1 | 2 | 3 | 4 · 5 | ×0.1 · ×0.2 | 17.0 MiB |\n\n\
             What each run measured, by hand.\n\n\
             ## Second run\n\nIts table.\n\n{PLOT}\n### The targets, read from the second run\n\nBy hand.\n\n\
             ## First run\n\nIts plot was replaced by the second run's.\n"
        );
        let merged = merge(Some(&existing), &run("Third run", true), &rows());
        let expected = format!(
            "# Benchmarks\n\nIntro.\n\n## Where it stands\n\nBy hand.\n{GLANCE}\n{GLANCE_HEAD}\
             | [Third](#third-run) | 2026-12-07 | 50,889 | 7,927 | — | 9,175 · 7,953 | ×0.28 · ×0.31 | 17.5 MiB |\n\
             | [Second](#second-run) | 2026-12-06 | 1 | 2 | 3 | 4 · 5 | ×0.1 · ×0.2 | 17.0 MiB |\n\n\
             What each run measured, by hand.\n\n\
             ## Third run\n\n- commit: `abc`\n\n| # | what |\n\n{PLOT}\n\
             ## Second run\n\nIts table.\n\nIts plot was replaced by that of *Third run*.\n\n\
             ### The targets, read from the second run\n\nBy hand.\n\n\
             ## First run\n\nIts plot was replaced by the second run's.\n"
        );
        assert_eq!(merged, expected);

        // Without a new plot, the newest run before keeps its own.
        let merged = merge(Some(&existing), &run("Third run", false), &rows());
        assert_eq!(merged.matches(PLOT).count(), 2, "{merged}");
    }

    #[test]
    fn a_file_without_the_glance_table_is_written_afresh() {
        for existing in [None, Some("# Benchmarks\n\nAn old run, alone.\n")] {
            let merged = merge(existing, &run("Run of 2026-12-07", true), &rows());
            assert!(merged.starts_with("# Benchmarks\n\n## Every run at a glance\n\n| run |"));
            assert!(!merged.contains("An old run"), "{merged}");
            assert!(merged.contains("| [Run of 2026-12-07](#run-of-2026-12-07) |"));
            assert!(merged.ends_with(&format!(
                "## Run of 2026-12-07\n\n- commit: `abc`\n\n| # | what |\n\n{PLOT}"
            )));
            // And a later run finds the table it wrote.
            let again = merge(Some(&merged), &run("Next run", true), &rows());
            let next = again.find("| [Next](#next-run) |").unwrap();
            let first = again.find("| [Run of 2026-12-07]").unwrap();
            assert!(
                next < first
                    && again.find("## Next run").unwrap()
                        < again.find("## Run of 2026-12-07").unwrap()
            );
        }
    }

    /// The committed file keeps the shape `--write` needs: a new run lands above the newest
    /// one there, and only the newest keeps the plot.
    #[test]
    fn the_committed_benchmarks_md_takes_a_new_run() {
        let committed = include_str!("../../../BENCHMARKS.md");
        let merged = merge(Some(committed), &run("Next run", true), &rows());
        let section = merged.find("\n## Next run\n").expect("the run's section");
        let glance = merged.find(GLANCE).unwrap();
        let first_run_after_glance =
            glance + GLANCE.len() + merged[glance + GLANCE.len()..].find("\n## ").unwrap();
        assert_eq!(
            section, first_run_after_glance,
            "the new run is the newest section"
        );
        assert_eq!(merged.matches(PLOT).count(), 1, "one live plot");
        assert!(
            merged[section..].find(PLOT).unwrap() < merged[section + 1..].find("\n## ").unwrap()
        );
        // Nothing else moved: without the run's row and section, and with the plot given back,
        // the file is what it was.
        let row = glance_row(&run("Next run", true), &rows());
        let section_end = section + 1 + merged[section + 1..].find("\n## ").unwrap() + 1;
        let restored = format!("{}{}", &merged[..section + 1], &merged[section_end..])
            .replacen(&row, "", 1)
            .replacen("Its plot was replaced by that of *Next run*.\n", PLOT, 1);
        assert_eq!(restored, committed);
    }
}
