//! Any API v2 request, answered with whatever status Dialpad gives: the building block for
//! actions, `http_request` and the proxy. Retrying, throttling and token refresh are the
//! caller's policy; this only sends and reads.

use serde_json::Value;

use crate::api::DialpadClient;
use crate::oauth::endpoint;
use crate::transport::describe;
use crate::ApiError;

/// One request: `path` is absolute under the host (`/api/v2/...`), already checked by the caller.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: reqwest::Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<RawBody>,
}

/// A request body: JSON (what every documented operation takes), or bytes passed through with
/// their content type (the proxy forwards what it was given).
#[derive(Debug, Clone, PartialEq)]
pub enum RawBody {
    Json(Value),
    Bytes {
        content_type: String,
        bytes: Vec<u8>,
    },
}

/// Dialpad's answer, whatever the status.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Response headers with text values, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body's bytes as Dialpad sent them (what the proxy relays; `body` reads them as JSON).
    pub raw: bytes::Bytes,
    /// `Retry-After` in seconds, when given as seconds.
    pub retry_after: Option<u64>,
}

impl RawResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON; a body that is not JSON is a string; an empty body is `null`. Read
    /// when asked, not when the answer arrives: the proxy relays `raw` and never needs it, and
    /// a large listing's JSON costs more to read than the rest of its hop.
    pub fn body(&self) -> Value {
        if self.raw.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&self.raw)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.raw).into_owned()))
        }
    }
}

impl DialpadClient {
    /// Sends `request` with the bearer credential; only transport failures are errors.
    pub async fn send(&self, token: &str, request: &RawRequest) -> Result<RawResponse, ApiError> {
        let mut url =
            endpoint(self.base_url(), request.path.trim_start_matches('/')).map_err(|e| {
                ApiError::Transport(format!("the Dialpad base URL is not usable ({e})"))
            })?;
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.query);
        }
        let mut builder = self
            .http()
            .request(request.method.clone(), url)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json");
        match &request.body {
            Some(RawBody::Json(body)) => builder = builder.json(body),
            Some(RawBody::Bytes {
                content_type,
                bytes,
            }) => {
                builder = builder
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(bytes.clone())
            }
            None => {}
        }
        let response = builder
            .send()
            .await
            .map_err(|e| ApiError::Transport(describe(&e)))?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
            .collect();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let raw = response
            .bytes()
            .await
            .map_err(|e| ApiError::Transport(describe(&e)))?;
        Ok(RawResponse {
            status,
            headers,
            raw,
            retry_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(raw: &'static [u8]) -> RawResponse {
        RawResponse {
            status: 200,
            headers: Vec::new(),
            raw: bytes::Bytes::from_static(raw),
            retry_after: None,
        }
    }

    #[test]
    fn the_body_reads_as_json_else_text_and_nothing_as_null() {
        assert_eq!(
            answer(br#"{"id": "1", "n": [2]}"#).body(),
            serde_json::json!({ "id": "1", "n": [2] })
        );
        assert_eq!(answer(b"").body(), Value::Null);
        assert_eq!(answer(b" \r\n").body(), Value::Null);
        assert_eq!(answer(b"Bad gateway").body(), Value::from("Bad gateway"));
        assert_eq!(answer(b"\xff{").body(), Value::from("\u{fffd}{"));
    }
}
