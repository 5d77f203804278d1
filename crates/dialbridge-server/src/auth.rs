//! Admin API authentication: every `/api/v1` and `/proxy` route needs
//! `Authorization: Bearer <api key>`. `behind_api_key` puts a router behind the check and
//! writes it into the router's OpenAPI operations in the same step, so neither goes without
//! the other. The key's `AdminIdentity` (id and name) goes into the request's extensions.
//! Wrong keys are counted per client address, and slowed down (`attempts`).

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::IntoResponses;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::openapi::ADMIN_KEY;
use crate::responses::KeyCheck;
use crate::state::AppState;

/// `router` behind the admin API key: each of its operations names the key's security scheme
/// and the 401 and 500 the check can answer.
pub fn behind_api_key(
    mut router: OpenApiRouter<AppState>,
    state: &AppState,
) -> OpenApiRouter<AppState> {
    let requirement = SecurityRequirement::new(ADMIN_KEY, Vec::<String>::new());
    let answers = KeyCheck::responses();
    for item in router.get_openapi_mut().paths.paths.values_mut() {
        for operation in operations(item) {
            operation.security = Some(vec![requirement.clone()]);
            for (status, answer) in &answers {
                operation
                    .responses
                    .responses
                    .entry(status.clone())
                    .or_insert_with(|| answer.clone());
            }
        }
    }
    router.layer(middleware::from_fn_with_state(
        state.clone(),
        require_api_key,
    ))
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

async fn require_api_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let Some(key) = presented else {
        return ApiError::unauthorized().into_response();
    };
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let metrics = state.platform.metrics();
    if let Some(Err(wait)) = client.map(|ip| state.attempts.check(ip)) {
        metrics.auth_failure("throttled");
        return too_many_attempts(wait).into_response();
    }
    match state.platform.admin.authenticate(key).await {
        Ok(Some(identity)) => {
            if let Some(ip) = client {
                state.attempts.succeeded(ip);
            }
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Ok(None) => {
            if let Some(ip) = client {
                state.attempts.failed(ip);
            }
            metrics.auth_failure("wrong_key");
            ApiError::unauthorized().into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn too_many_attempts(wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut error = ApiError::new(
        "too_many_attempts",
        format!("too many wrong API keys from this address; try again in {secs} s"),
    );
    error.retry_after_secs = Some(secs);
    error.details = Some(serde_json::json!({ "retry_after_secs": secs }));
    error
}
