//! Time as dialbridge stores it (milliseconds since the Unix epoch) and shows it (RFC 3339).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A stored instant that serializes as an RFC 3339 string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(value_type = String, format = DateTime, example = "2023-11-14T22:13:20.123Z")]
pub struct Timestamp(pub i64);

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
    fn serializes_as_rfc3339() {
        let json = serde_json::to_string(&Timestamp(1_700_000_000_123)).unwrap();
        assert_eq!(json, "\"2023-11-14T22:13:20.123Z\"");
    }
}
