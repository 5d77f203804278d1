//! `ANY /proxy/{account_id}/{path}`: Dialpad's API with the account's credentials, for
//! Dialpad's own SDKs (`base_url = <public_url>/proxy/<account_id>`, token = the admin API
//! key). Dialpad's status and body come back unchanged; dialbridge's own refusals (unknown
//! account, not connected, undocumented path) use the contract's error body.

use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use dialbridge_core::{AccountId, Error, ProxyRequest, RawResponse};
use serde_json::Value;

use super::ACCOUNT_ID;
use crate::contract::Relayed;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Path};
use crate::responses::{InvalidInput, NoConnection, RawBody};
use crate::state::AppState;

/// Dialpad's API v2 with the account's credentials: method, query, body and content type are
/// forwarded, and Dialpad's status and body come back unchanged. Only operations Dialpad's spec
/// documents pass; any other method reaches this handler too, and is refused the same way.
#[utoipa::path(method(get, post, put, patch, delete), path = "/{account_id}/{*path}", tag = "proxy", operation_id = "proxy",
    params(
        ("account_id" = String, Path, description = ACCOUNT_ID),
        ("path" = String, Path, description = "A documented Dialpad path under `api/v2/`, e.g. `api/v2/users/123`"),
    ),
    request_body(description = "Forwarded as is, with its content type", content(("application/json"), ("*/*"))),
    responses(
        (status = "default", description = "Dialpad's answer, status and body unchanged; 429 with `Retry-After` once the retries are spent", content(("application/json"), ("*/*"))),
        (status = BAD_REQUEST, description = "`invalid_request`: a malformed query string", body = ErrorBody),
        (status = NOT_FOUND, description = "`not_found`: no such account, or an operation Dialpad does not document", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "`dialpad_unavailable`: Dialpad could not be reached, or a token refresh is backing off", body = ErrorBody),
        NoConnection, InvalidInput, RawBody,
    ))]
pub async fn forward(
    State(state): State<AppState>,
    Path((account, _path)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Body(body): Body,
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
        Ok(response) => Ok(relayed(response)),
        Err(Error::Dialpad { status, body }) => Ok(dialpad_answer(status, &body, None)),
        Err(Error::RateLimited {
            retry_after_secs,
            body,
        }) => Ok(dialpad_answer(429, &body, retry_after_secs)),
        Err(other) => Err(other.into()),
    }
}

/// Dialpad's answer as Dialpad sent it: its status, content type and the body's bytes (not
/// written again from their JSON: keys keep Dialpad's order, numbers their form, and a body
/// that is not JSON its bytes).
fn relayed(response: RawResponse) -> Response {
    let content_type = response
        .headers
        .iter()
        .find(|(name, _)| name == "content-type")
        .and_then(|(_, value)| HeaderValue::from_str(value).ok());
    let mut answer = Response::new(axum::body::Body::from(response.raw));
    *answer.status_mut() = StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_GATEWAY);
    if let Some(content_type) = content_type {
        answer.headers_mut().insert(CONTENT_TYPE, content_type);
    }
    mark_relayed(&mut answer, response.retry_after);
    answer
}

fn dialpad_answer(status: u16, body: &Value, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = match body {
        Value::Null => status.into_response(),
        Value::String(text) => (status, text.clone()).into_response(),
        json => (status, axum::Json(json)).into_response(),
    };
    mark_relayed(&mut response, retry_after);
    response
}

/// Marks an answer as Dialpad's (the contract's error body leaves it alone), with its
/// `Retry-After`.
fn mark_relayed(response: &mut Response, retry_after: Option<u64>) {
    response.extensions_mut().insert(Relayed);
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Bytes;

    use super::*;

    /// What Dialpad sent comes back as it was: keys in Dialpad's order, numbers as written,
    /// the content type with its parameters, and bodies that are not JSON byte for byte.
    #[tokio::test]
    async fn dialpads_answer_is_relayed_as_sent() {
        for (content_type, raw) in [
            (
                "application/json; charset=utf-8",
                &b"{\"name\": \"Acme\", \"id\": 1.50, \"a\": [3]}"[..],
            ),
            ("image/png", &b"\x89PNG\r\n\x1a\n\xff\x00"[..]),
        ] {
            let response = RawResponse {
                status: 201,
                headers: vec![("content-type".into(), content_type.into())],
                raw: Bytes::copy_from_slice(raw),
                retry_after: Some(7),
            };
            let answer = relayed(response);
            assert_eq!(answer.status(), StatusCode::CREATED);
            assert_eq!(answer.headers()[CONTENT_TYPE], content_type);
            assert_eq!(answer.headers()[RETRY_AFTER], "7");
            assert!(answer.extensions().get::<Relayed>().is_some());
            let body = axum::body::to_bytes(answer.into_body(), usize::MAX)
                .await
                .unwrap();
            assert_eq!(&body[..], raw, "{content_type}");
        }
    }

    #[tokio::test]
    async fn an_answer_without_a_body_or_content_type_is_relayed_without_them() {
        let response = RawResponse {
            status: 204,
            headers: vec![],
            raw: Bytes::new(),
            retry_after: None,
        };
        let answer = relayed(response);
        assert_eq!(answer.status(), StatusCode::NO_CONTENT);
        assert!(answer.headers().get(CONTENT_TYPE).is_none());
        let body = axum::body::to_bytes(answer.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(body.is_empty());
    }
}
