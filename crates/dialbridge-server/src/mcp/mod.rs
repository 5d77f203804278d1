//! MCP over Streamable HTTP at `/mcp` and over stdio (`dialbridge mcp --account <id>`), both
//! with rmcp. Over HTTP every request needs an MCP token (`Authorization: Bearer`), looked up
//! each time and left in the request as the account's `Grant` for `service.rs`; sessions
//! (`Mcp-Session-Id`) live in this process, at most `MAX_SESSIONS` at once, each closed after
//! `SESSION_IDLE` without a request.

mod service;

use std::sync::Arc;
use std::time::Duration;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use dialbridge_core::{Grant, Platform};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::ServiceExt;

pub use service::DialbridgeMcp;

use crate::auth::{authenticated, Credential, Presented};
use crate::error::ApiError;
use crate::state::AppState;

/// Where MCP clients connect.
pub const PATH: &str = "/mcp";
/// Sessions open at once in this process; a client past it is told to come back later.
const MAX_SESSIONS: usize = 1000;
/// A session with no request for this long is closed (the client starts a new one).
const SESSION_IDLE: Duration = Duration::from_secs(10 * 60);
/// The largest JSON-RPC message accepted.
const BODY_LIMIT: usize = 1024 * 1024;
/// How much of a plain-text refusal of rmcp's is read into the error message.
const ERROR_TEXT_LIMIT: usize = 4096;

/// `/mcp`, behind the MCP token check.
pub fn router(state: &AppState) -> Router<AppState> {
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(SESSION_IDLE);
    let sessions = Arc::new(sessions);
    let platform = state.platform.clone();
    // Every request carries a bearer token a rebinding web page cannot send, so the Host
    // header is not what protects it; the public URL's host varies behind proxies.
    let config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_max_request_body_bytes(BODY_LIMIT)
        .with_cancellation_token(state.shutdown.child_token());
    let service = StreamableHttpService::new(
        move || Ok(DialbridgeMcp::per_request(platform.clone())),
        sessions.clone(),
        config,
    );
    // Route layers only: this router is merged into the main one, whose fallback must not
    // ask for an MCP token.
    Router::new()
        .route_service(PATH, service)
        .route_layer(middleware::from_fn(in_contract_shape))
        .route_layer(middleware::from_fn(move |request, next| {
            bounded_sessions(sessions.clone(), request, next)
        }))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_mcp_token,
        ))
}

/// The token's grant goes into the request, or the request is refused.
async fn require_mcp_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let mcp = state.platform.mcp.clone();
    let presented = Presented::of(&request);
    let checked = authenticated(
        &state,
        presented,
        Credential::McpToken,
        |token| async move { mcp.authenticate(&token).await },
    )
    .await;
    match checked {
        Ok(grant) => {
            request.extensions_mut().insert(grant);
            next.run(request).await
        }
        Err(refused) => refused,
    }
}

/// A request that would open a session (a POST without `Mcp-Session-Id`) waits for room.
async fn bounded_sessions(
    sessions: Arc<LocalSessionManager>,
    request: Request,
    next: Next,
) -> Response {
    let opens =
        request.method() == Method::POST && !request.headers().contains_key("mcp-session-id");
    if opens && sessions.sessions.read().await.len() >= MAX_SESSIONS {
        let mut error = ApiError::new(
            "too_many_sessions",
            format!("this server holds {MAX_SESSIONS} MCP sessions already; retry shortly (idle ones close after {} minutes)", SESSION_IDLE.as_secs() / 60),
        );
        error.retry_after_secs = Some(5);
        return error.into_response();
    }
    next.run(request).await
}

/// rmcp's own refusals (wrong method, `Accept` or content type, an unknown session) are plain
/// text; they are answered in the contract's error shape with the same status and words.
/// JSON-RPC answers and event streams pass as they are.
async fn in_contract_shape(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let typed = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/event-stream"));
    if !(status.is_client_error() || status.is_server_error()) || typed {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::FORBIDDEN => "forbidden",
        s if s.is_client_error() => "invalid_request",
        _ => "internal_error",
    };
    let body = to_bytes(response.into_body(), ERROR_TEXT_LIMIT)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let message = match text.trim() {
        "" => format!("the MCP request was refused ({status})"),
        words => format!("{words} (MCP over Streamable HTTP)"),
    };
    let mut error = ApiError::new(code, message);
    error.status = status;
    error.into_response()
}

/// Serves MCP over stdin and stdout for `grant` until the client goes away.
pub async fn serve_stdio(platform: Platform, grant: Grant) -> Result<(), String> {
    let server = DialbridgeMcp::for_grant(platform, grant)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("MCP over stdio: {e}"))?;
    server
        .waiting()
        .await
        .map_err(|e| format!("MCP over stdio: {e}"))?;
    Ok(())
}
