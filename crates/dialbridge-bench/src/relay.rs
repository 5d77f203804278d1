//! The bare relay: the hop of rows 1 and 2 alone, as their second reference. Started by the
//! bench as a process of its own (`dialbridge-bench --relay-to <emulator> --relay-listen
//! <addr>`), it forwards each request to the emulator and the answer back, on the stack `serve`
//! is built on (axum's server, a reqwest client, tokio's multi-thread runtime), and does
//! nothing else: no API key, account, token, throttle, spec check, JSON, log or metric. What a
//! proxied request costs beyond it is dialbridge's own work; what it costs beyond a direct
//! request is the price of any hop on this machine.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The largest request body relayed (the rows send none or a few bytes).
const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Clone)]
struct Relay {
    http: reqwest::Client,
    upstream: Arc<str>,
}

/// Listens on `listen` and relays every request to `upstream` until killed.
pub async fn run(upstream: &str, listen: &str) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let relay = Relay {
        http,
        upstream: upstream.trim_end_matches('/').into(),
    };
    let app = axum::Router::new().fallback(forward).with_state(relay);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}

/// Method, path, query, `Authorization`, content type and body out; status, content type and
/// body back.
async fn forward(State(relay): State<Relay>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(body) => body,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut outgoing = relay
        .http
        .request(parts.method, format!("{}{target}", relay.upstream))
        .body(body);
    for name in [AUTHORIZATION, CONTENT_TYPE] {
        if let Some(value) = parts.headers.get(&name) {
            outgoing = outgoing.header(name, value.clone());
        }
    }
    let answer = match outgoing.send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status();
    let content_type = answer.headers().get(CONTENT_TYPE).cloned();
    match answer.bytes().await {
        Ok(bytes) => {
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            if let Some(content_type) = content_type {
                response.headers_mut().insert(CONTENT_TYPE, content_type);
            }
            response
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
