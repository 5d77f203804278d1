//! What identifies a Dialpad event across redeliveries: its redelivery key.
//!
//! The key is the event's own time (`event_timestamp`, or an SMS event's `created_date`),
//! zero-padded to 20 digits, then a SHA-256 digest of its claims in canonical order (object keys
//! sorted) without the JWT's timing claims, which a redelivery may renew. A redelivery carries
//! the same claims, so it gets the same key; and new keys arrive nearly in order, so storing
//! them appends to the end of the key index instead of rewriting a random page of it per event
//! (on SQLite, about 0.9 KB of write-ahead log per event instead of 6.5 KB; BENCHMARKS.md).
//!
//! Keys stored before this form (versions up to 2026-12-05) were the digest alone. Such a key
//! is the last 64 characters of today's key (`legacy_form`), which is how the store still
//! recognises a redelivery of an event stored by an older version.

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Digits of the time prefix: any `u64`.
const TIME_DIGITS: usize = 20;
/// A SHA-256 digest in hex.
const DIGEST_CHARS: usize = 64;
/// The claims that say when the event happened, tried in order.
const TIME_CLAIMS: [&str; 2] = ["event_timestamp", "created_date"];
/// The JWT's own timing claims, which a redelivery may renew.
const VOLATILE_CLAIMS: [&str; 4] = ["iat", "exp", "nbf", "jti"];

/// The redelivery key of an event's claims.
pub fn dedupe_key(payload: &Value) -> String {
    // Printed whole, then digested at once: fed to the digest token by token, the JSON's
    // many small writes cost more than the copy.
    let printed = match payload.as_object() {
        Some(claims) => serde_json::to_vec(&Lasting(claims)),
        None => serde_json::to_vec(payload),
    };
    let printed = printed.expect("a JSON value always serializes");
    let mut digest = [0; DIGEST_CHARS];
    hex::encode_to_slice(Sha256::digest(&printed), &mut digest)
        .expect("a SHA-256 digest is half as long as its hex");
    let mut key = format!("{:0width$}", event_time(payload), width = TIME_DIGITS);
    key.push_str(std::str::from_utf8(&digest).expect("hex is ASCII"));
    key
}

/// Claims without the volatile ones, serialized as `Value` serializes the same map without
/// them (compact JSON, in the map's order): the bytes of the digest never change.
struct Lasting<'c>(&'c Map<String, Value>);

impl Serialize for Lasting<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            self.0
                .iter()
                .filter(|(claim, _)| !VOLATILE_CLAIMS.contains(&claim.as_str())),
        )
    }
}

/// The form an older version stored the same key in (the digest alone), when `key` is of
/// today's form.
pub fn legacy_form(key: &str) -> Option<&str> {
    if key.len() == TIME_DIGITS + DIGEST_CHARS {
        key.get(TIME_DIGITS..)
    } else {
        None
    }
}

/// The event's time as the key's prefix: the first time claim that is a non-negative integer,
/// as a JSON number or a string of digits (Dialpad sends milliseconds as strings); 0 when none
/// is. Only the order of keys depends on it, never whether two keys match.
fn event_time(payload: &Value) -> u64 {
    TIME_CLAIMS
        .iter()
        .find_map(|claim| match payload.get(claim)? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
            _ => None,
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_redelivery_with_renewed_timing_claims_has_the_same_key() {
        let first = json!({ "call_id": "1", "state": "hangup", "iat": 100, "event_timestamp": "1700000001000" });
        let again = json!({ "iat": 200, "state": "hangup", "event_timestamp": "1700000001000", "call_id": "1" });
        let other = json!({ "call_id": "1", "state": "connected", "iat": 100, "event_timestamp": "1700000001000" });
        assert_eq!(dedupe_key(&first), dedupe_key(&again));
        assert_ne!(dedupe_key(&first), dedupe_key(&other));
    }

    #[test]
    fn keys_sort_by_the_events_time() {
        let earlier = dedupe_key(&json!({ "call_id": "9", "event_timestamp": 999 }));
        let later = dedupe_key(&json!({ "call_id": "1", "event_timestamp": "1000" }));
        assert!(earlier < later, "{earlier} < {later}");
        let sms = dedupe_key(&json!({ "id": "5", "created_date": 1700000000000_u64 }));
        assert!(sms.starts_with("00000001700000000000"), "{sms}");
        for no_time in [
            json!({ "call_id": "1" }),
            json!({ "call_id": "1", "event_timestamp": -5 }),
            json!({ "call_id": "1", "event_timestamp": 1.5 }),
            json!({ "call_id": "1", "event_timestamp": "soon" }),
            json!({ "call_id": "1", "event_timestamp": "99999999999999999999999" }),
            json!(["not", "an", "object"]),
        ] {
            assert!(
                dedupe_key(&no_time).starts_with(&"0".repeat(20)),
                "{no_time}"
            );
        }
    }

    /// The digest is of the bytes an older version printed (a copy of the claims without the
    /// volatile ones, as compact JSON): keys stored before still match.
    #[test]
    fn the_digest_is_of_the_claims_as_printed_without_the_volatile_ones() {
        let event = json!({
            "call_id": "1", "iat": 5, "exp": 6, "nbf": 7, "jti": "j", "event_timestamp": 1,
            "contact": { "name": "Zoë \"Q\" \n\u{1}", "iat": 1, "phones": ["+1", null, 2.5, -3] },
            "a": {}, "z": [], "big": 18446744073709551615_u64, "t": true,
        });
        let mut copy = event.clone();
        for volatile in VOLATILE_CLAIMS {
            copy.as_object_mut().unwrap().remove(volatile);
        }
        let printed = hex::encode(Sha256::digest(copy.to_string().as_bytes()));
        assert_eq!(&dedupe_key(&event)[TIME_DIGITS..], printed);
        let list = json!(["not", { "iat": 1 }]);
        let printed = hex::encode(Sha256::digest(list.to_string().as_bytes()));
        assert_eq!(&dedupe_key(&list)[TIME_DIGITS..], printed);
    }

    #[test]
    fn the_legacy_form_is_the_digest_an_older_version_stored() {
        let event = json!({ "call_id": "1", "state": "hangup", "event_timestamp": "1700000001000", "iat": 5 });
        // What versions up to 2026-12-05 stored for this event, computed as they did.
        let stored_before = hex::encode(Sha256::digest(
            json!({ "call_id": "1", "state": "hangup", "event_timestamp": "1700000001000" })
                .to_string()
                .as_bytes(),
        ));
        let key = dedupe_key(&event);
        assert_eq!(key.len(), 84);
        assert_eq!(legacy_form(&key), Some(stored_before.as_str()));
        assert_eq!(legacy_form(&stored_before), None);
    }
}
