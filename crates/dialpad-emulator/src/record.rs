//! The log of requests received on Dialpad's own routes (`/oauth2/*`, `/api/v2/*`), kept so
//! tests can see exactly what reached "Dialpad": a middleware fills it, capped at 1000.

use std::collections::VecDeque;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::authorization;
use crate::error::ApiError;
use crate::Emulator;

const CAPACITY: usize = 1000;
const MAX_BODY_BYTES: usize = 1 << 20;

/// One request as received; the Authorization header's credentials are never kept.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    /// Relative to the emulator's root, whatever prefix it is nested under.
    pub path: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    /// The body as received (lossy UTF-8).
    pub body: String,
    /// `Basic`, `Bearer`, … when an Authorization header was sent.
    pub auth_scheme: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct RequestLog {
    entries: VecDeque<RecordedRequest>,
}

impl RequestLog {
    pub fn push(&mut self, entry: RecordedRequest) {
        if self.entries.len() == CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// Oldest first.
    pub fn entries(&self) -> Vec<RecordedRequest> {
        self.entries.iter().cloned().collect()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// Middleware: buffers the body, logs the request, and hands it on unchanged.
pub async fn record(State(emulator): State<Emulator>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::PayloadTooLarge(format!(
            "the request body is over the {} MiB the emulator accepts",
            MAX_BODY_BYTES >> 20
        ))
        .into_response();
    };
    let entry = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        content_type: parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        auth_scheme: authorization::scheme(&parts.headers),
    };
    emulator.store().log.push(entry);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_thousand_oldest_first() {
        let mut log = RequestLog::default();
        for i in 0..(CAPACITY + 5) {
            log.push(RecordedRequest {
                method: "GET".into(),
                path: format!("/{i}"),
                query: None,
                content_type: None,
                body: String::new(),
                auth_scheme: None,
            });
        }
        let entries = log.entries();
        assert_eq!(entries.len(), CAPACITY);
        assert_eq!(entries[0].path, "/5");
        assert_eq!(entries[CAPACITY - 1].path, format!("/{}", CAPACITY + 4));
        log.clear();
        assert!(log.entries().is_empty());
    }
}
