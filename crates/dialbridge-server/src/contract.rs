//! Every error in the contract's shape, on every route: an error answer that the router or a
//! layer made on its own (an empty 404 or 405, a plain-text rejection, the bare 503 of the
//! request timeout) gets the contract's JSON error body, or the HTML error page on the routes
//! a browser visits, keeping its status and headers (`Allow`, …). Answers that are already
//! JSON or HTML pass unchanged, and so do Dialpad's answers the proxy relays (`Relayed`).

use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::pages;
use crate::ui::UiError;

/// Marks a response whose status and body are Dialpad's, relayed as they are.
#[derive(Clone, Copy)]
pub struct Relayed;

/// The routes a browser visits: their errors are pages.
pub fn is_browser_route(path: &str) -> bool {
    path.starts_with("/connect/") || path == "/oauth/callback"
}

pub async fn in_contract_shape(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let browser = is_browser_route(path);
    let dashboard = path == "/ui" || path.starts_with("/ui/");
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<Relayed>().is_some()
        || is_shaped(&response)
    {
        return response;
    }
    let error = error_of_status(status, &method);
    let shaped = if browser {
        pages::error(&pages::Brand::neutral(), error, None)
    } else if dashboard {
        UiError::from(error).into_response()
    } else {
        error.into_response()
    };
    let (mut parts, _) = response.into_parts();
    let (shaped_parts, body) = shaped.into_parts();
    parts.headers.remove(CONTENT_LENGTH);
    if let Some(content_type) = shaped_parts.headers.get(CONTENT_TYPE) {
        parts.headers.insert(CONTENT_TYPE, content_type.clone());
    }
    Response::from_parts(parts, body)
}

/// Whether the answer already has a body in the contract's shape (JSON) or is a page.
fn is_shaped(response: &Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"))
}

/// The contract's error for a status answered without one.
fn error_of_status(status: StatusCode, method: &Method) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::not_found_route(),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            "method_not_allowed",
            format!("this route does not answer {method}; the Allow header lists what it answers"),
        ),
        StatusCode::REQUEST_TIMEOUT => ApiError::new(
            "request_timeout",
            "the request did not arrive in time; send it whole, without pauses",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new("payload_too_large", "the body is over 1 MiB"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            "unsupported_media_type",
            "the body's content type is not one this route takes",
        ),
        StatusCode::SERVICE_UNAVAILABLE => ApiError::new(
            "timeout",
            "the request took too long and was stopped; it may have taken effect, so check before retrying",
        ),
        s if s.is_server_error() => ApiError::new(
            "internal_error",
            "internal error; the server log has the details",
        ),
        _ => ApiError::new("invalid_request", "the request is malformed"),
    }
}
