//! `ANY /proxy/{account_id}/{path}`: Dialpad's API with the account's credentials, for
//! Dialpad's own SDKs (`base_url = <public_url>/proxy/<account_id>`, token = the admin API
//! key). Dialpad's status and body come back unchanged; dialbridge's own refusals (unknown
//! account, not connected, undocumented path) use the contract's error body.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use dialbridge_core::{AccountId, Error, ProxyRequest};
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::Path;
use crate::state::AppState;

pub async fn forward(
    State(state): State<AppState>,
    Path((account, _path)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let account = AccountId::parse(&account)?;
    // The raw path, still percent-encoded, for the safety checks: everything after the
    // account segment (only `/api/v2/…` passes them).
    let raw_path = uri.path().trim_start_matches('/');
    let path = match raw_path.split_once('/') {
        Some((_, rest)) => format!("/{rest}"),
        None => "/".to_owned(),
    };
    let query: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|e| ApiError::new("invalid_request", format!("malformed query string: {e}")))?;
    let request = ProxyRequest {
        method: method.to_string(),
        path,
        query,
        content_type: headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.to_vec(),
    };
    match state.platform.actions.proxy(&account, request).await {
        Ok(response) => Ok(dialpad_answer(
            response.status,
            &response.body,
            response.retry_after,
        )),
        Err(Error::Dialpad { status, body }) => Ok(dialpad_answer(status, &body, None)),
        Err(Error::RateLimited {
            retry_after_secs,
            body,
        }) => Ok(dialpad_answer(429, &body, retry_after_secs)),
        Err(other) => Err(other.into()),
    }
}

fn dialpad_answer(status: u16, body: &Value, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = match body {
        Value::Null => status.into_response(),
        Value::String(text) => (status, text.clone()).into_response(),
        json => (status, axum::Json(json)).into_response(),
    };
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
