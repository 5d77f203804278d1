//! `schedule` triggers: cron expressions read in a time zone's wall clock, and their ticks.

use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::{Map, Value};

/// The most ticks `schedule_ticks` answers for one window.
pub const MAX_TICKS: usize = 1000;

/// Parses a cron expression of 5 fields, or 6 with seconds first (or a nickname such as
/// `@daily`).
pub(super) fn parse_cron(expression: &str) -> Result<Cron, String> {
    let expression = expression.trim();
    if !expression.starts_with('@') {
        let fields = expression.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(format!(
                "'{expression}' has {fields} fields; a cron expression has 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)"
            ));
        }
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(expression)
        .map_err(|e| format!("'{expression}' is not a valid cron expression: {e}"))
}

/// The IANA time zone `name` names, from the database compiled into the executable.
pub(super) fn parse_timezone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name.trim()).map_err(|_| {
        format!("'{name}' is not an IANA time zone name (such as UTC, Europe/Paris or America/New_York)")
    })
}

/// The ticks (epoch ms) of a `schedule` trigger with `params` `{cron, timezone?}` in
/// `(after_ms, until_ms]`, oldest first, at most `MAX_TICKS` of them. The expression is read
/// in the time zone's wall clock, so `0 9 * * *` stays at 9:00 local across DST changes; a
/// time skipped by a DST jump runs once just after the gap, a repeated one runs once.
pub fn schedule_ticks(
    params: &Map<String, Value>,
    after_ms: i64,
    until_ms: i64,
) -> Result<Vec<i64>, String> {
    let expression = params
        .get("cron")
        .and_then(Value::as_str)
        .ok_or("the schedule trigger needs params.cron")?;
    let cron = parse_cron(expression)?;
    let tz = match params.get("timezone").and_then(Value::as_str) {
        Some(name) => parse_timezone(name)?,
        None => TimeZone::UTC,
    };
    if until_ms <= after_ms {
        return Ok(Vec::new());
    }
    let start =
        Timestamp::from_millisecond(after_ms).map_err(|_| format!("{after_ms} is not a time"))?;
    let ticks = cron
        .iter_after(start.to_zoned(tz))
        .map(|tick| tick.timestamp().as_millisecond())
        .take_while(|ms| *ms <= until_ms)
        .take(MAX_TICKS)
        .collect();
    Ok(ticks)
}
