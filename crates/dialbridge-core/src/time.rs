//! Time as dialbridge stores it (milliseconds since the Unix epoch) and shows it (RFC 3339).

use std::ops::{Add, Sub};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

/// An instant as records hold it (milliseconds since the Unix epoch), serialized as an
/// RFC 3339 string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, utoipa::ToSchema)]
#[schema(value_type = String, format = DateTime, example = "2023-11-14T22:13:20.123Z")]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        Timestamp(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
        )
    }

    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// An instant a person gave as a filter, read as UTC: RFC 3339 (`2026-12-02T14:30:00Z`),
    /// or without the zone, the seconds or the time (`2026-12-02T14:30`, what a browser's
    /// date-and-time field sends; `2026-12-02`, midnight). `invalid_input` on `field` otherwise.
    pub fn parse_filter(field: &str, text: &str) -> Result<Self, crate::Error> {
        let text = text.trim();
        let full = match text.len() {
            10 => format!("{text}T00:00:00"),
            16 => format!("{text}:00"),
            _ => text.to_owned(),
        };
        humantime::parse_rfc3339_weak(&full)
            .ok()
            .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
            .map(|d| Timestamp(d.as_millis() as i64))
            .ok_or_else(|| {
                crate::Error::invalid(
                    field,
                    "must be a UTC date and time such as 2026-12-02T14:30:00Z",
                )
            })
    }

    /// How long after `earlier` this is (zero when it is not after).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis((self.0 - earlier.0).max(0) as u64)
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;

    fn sub(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_sub(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let at = UNIX_EPOCH + Duration::from_millis(self.0.max(0) as u64);
        s.collect_str(&humantime::format_rfc3339_millis(at))
    }
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn filters_read_rfc3339_and_what_browsers_send_as_utc() {
        let at = |text| Timestamp::parse_filter("from", text).map(|t| t.0);
        assert_eq!(at("2023-11-14T22:13:20.123Z").unwrap(), 1_700_000_000_123);
        assert_eq!(at("2023-11-14T22:13:20").unwrap(), 1_700_000_000_000);
        assert_eq!(at("2023-11-14T22:13").unwrap(), 1_699_999_980_000);
        assert_eq!(at("2023-11-14").unwrap(), 1_699_920_000_000);
        for bad in ["", "yesterday", "2023-13-01", "1700000000"] {
            assert!(at(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn serializes_as_rfc3339() {
        let json = serde_json::to_string(&Timestamp(1_700_000_000_123)).unwrap();
        assert_eq!(json, "\"2023-11-14T22:13:20.123Z\"");
    }
}
