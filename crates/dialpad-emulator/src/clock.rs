//! Wall-clock time as Dialpad writes it: epoch milliseconds, and ISO 8601 for dates.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `2026-11-25T09:30:00Z` for an epoch-milliseconds instant.
pub fn iso8601(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso8601_is_utc_seconds() {
        assert_eq!(super::iso8601(1_700_000_000_123), "2023-11-14T22:13:20Z");
    }
}
