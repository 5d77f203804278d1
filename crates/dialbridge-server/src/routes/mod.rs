//! The route table: the admin API under `/api/v1` and the Dialpad proxy under `/proxy`, both
//! behind the API key; the browser-facing connect pages and OAuth callback; health.

mod accounts;
mod actions;
mod app;
mod connect;
mod executions;
mod health;
mod ingress;
mod proxy;
mod webhook_endpoints;
mod workflows;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::routing::{any, get, post, put};
use axum::{middleware, Router};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::auth::require_api_key;
use crate::error::ApiError;
use crate::state::AppState;

const BODY_LIMIT: usize = 1024 * 1024;

/// `GET /api/v1/openapi.json`.
async fn openapi(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::Json<serde_json::Value> {
    let url = state
        .platform
        .settings()
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    axum::Json(crate::openapi::document(&url))
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/app", get(app::get))
        .route("/app/credentials/{environment}", put(app::put_credentials))
        .route("/app/scopes", put(app::put_scopes))
        .route("/accounts", get(accounts::list))
        .route(
            "/accounts/{account_id}",
            put(accounts::put)
                .get(accounts::get)
                .delete(accounts::delete),
        )
        .route("/accounts/{account_id}/connect", post(connect::start))
        .route(
            "/accounts/{account_id}/connection",
            put(accounts::put_connection).delete(accounts::disconnect),
        )
        .route(
            "/accounts/{account_id}/connection/check",
            post(accounts::check_connection),
        )
        .route("/openapi.json", get(openapi))
        .route("/actions", get(actions::list))
        .route("/actions/{key}", get(actions::get))
        .route("/accounts/{account_id}/actions/{key}", post(actions::run))
        .route("/triggers", get(workflows::triggers))
        .route("/workflows", get(workflows::list))
        .route(
            "/workflows/{key}",
            put(workflows::put)
                .get(workflows::get)
                .delete(workflows::delete),
        )
        .route(
            "/accounts/{account_id}/workflows",
            get(workflows::account_workflows),
        )
        .route(
            "/accounts/{account_id}/workflows/{key}",
            put(workflows::enable).delete(workflows::disable),
        )
        .route(
            "/accounts/{account_id}/workflows/{key}/executions",
            post(workflows::run),
        )
        .route(
            "/accounts/{account_id}/events/{name}",
            post(workflows::post_event),
        )
        .route(
            "/accounts/{account_id}/subscriptions/reconcile",
            post(workflows::reconcile),
        )
        .route("/executions", get(executions::list))
        .route("/executions/{id}", get(executions::get))
        .route("/executions/{id}/cancel", post(executions::cancel))
        .route("/executions/{id}/replay", post(executions::replay))
        .route("/webhook-endpoints", get(webhook_endpoints::list))
        .route(
            "/webhook-endpoints/{id}",
            put(webhook_endpoints::put)
                .get(webhook_endpoints::get)
                .delete(webhook_endpoints::delete),
        )
        .route(
            "/webhook-endpoints/{id}/deliveries",
            get(webhook_endpoints::deliveries),
        )
        .fallback(|| async { ApiError::not_found_route() })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_api_key,
        ));

    let proxy = Router::new()
        .route("/{account_id}/{*path}", any(proxy::forward))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_api_key,
        ));

    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .nest("/proxy", proxy)
        .route("/webhooks/dialpad/{hook_id}", post(ingress::dialpad))
        .route("/connect/{token}", get(connect::open))
        .route("/connect/{token}/portal", get(connect::portal))
        .route("/connect/{token}/api-key", post(connect::portal_api_key))
        .route("/oauth/callback", get(connect::callback))
        .nest("/api/v1", api)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            health::count_requests,
        ))
        .with_state(state)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(
            // Spans name the route template, never the raw URI: connect tokens, OAuth codes and
            // states travel in paths and queries.
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("unmatched", |p| p.as_str());
                    tracing::info_span!("http", method = %request.method(), route)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
}
