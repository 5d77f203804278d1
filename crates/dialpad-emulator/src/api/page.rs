//! Cursor pagination as Dialpad's lists answer it: `{items, cursor}`, no `cursor` on the last
//! page. The cursor is opaque to clients (the offset of the next page, encoded); `limit`
//! picks the page size.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Value};

use super::request::ApiRequest;
use crate::error::ApiError;

/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest page.
pub const MAX_LIMIT: usize = 1000;

const CURSOR_PREFIX: &str = "offset:";

/// One page of `items` (already filtered and ordered) for the request's `cursor` and `limit`.
pub fn page<T: Serialize>(items: Vec<T>, request: &ApiRequest) -> Result<Value, ApiError> {
    let limit = match request.query("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}, not {raw:?}"
                ))
            })?,
    };
    let offset = match request.query("cursor") {
        None | Some("") => 0,
        Some(cursor) => decode(cursor).ok_or_else(|| {
            ApiError::BadRequest(
                "invalid cursor: pass the `cursor` of the previous page unchanged".into(),
            )
        })?,
    };
    let total = items.len();
    let end = offset.saturating_add(limit).min(total);
    let slice: Vec<T> = items.into_iter().skip(offset).take(limit).collect();
    let items = serde_json::to_value(slice).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut page = json!({ "items": items });
    if end < total {
        page["cursor"] = json!(encode(end));
    }
    Ok(page)
}

fn encode(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{offset}"))
}

fn decode(cursor: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(CURSOR_PREFIX)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode(&encode(42)), Some(42));
        assert_eq!(decode("not-a-cursor"), None);
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("offset:x")), None);
    }
}
