//! The route table: the admin API under `/api/v1` (its changes recorded in the audit log) and
//! the Dialpad proxy under `/proxy`, both behind the API key; the browser-facing connect pages
//! and OAuth callback; Dialpad's event ingress; health; the API reference. Every route is
//! registered with `routes!` from a handler carrying its `#[utoipa::path]`, so the OpenAPI
//! document is collected from the same calls that build the router.

mod accounts;
mod actions;
mod admin;
mod app;
mod connect;
mod events;
mod executions;
mod health;
mod ingress;
mod mcp_tokens;
mod proxy;
#[cfg(test)]
mod tests;
mod webhook_endpoints;
mod workflows;

use axum::extract::DefaultBodyLimit;
use axum::response::Response;
use axum::{Extension, Router};
use serde::Serialize;
use tower::ServiceBuilder;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::access_log::AccessLogLayer;
use crate::audit;
use crate::auth::behind_api_key;
use crate::docs;
use crate::error::ApiError;
use crate::mcp;
use crate::openapi::{self, Document};
use crate::state::AppState;
use crate::ui;

const BODY_LIMIT: usize = 1024 * 1024;

/// `{items: [...]}`: a list answered whole, without a cursor.
#[derive(Serialize, ToSchema)]
pub struct Items<T> {
    items: Vec<T>,
}

/// The `{account_id}` path segment, as the operations describe it.
const ACCOUNT_ID: &str = "The vendor's id for its customer: 1–128 of `A-Z a-z 0-9 - _ . ~`";

/// `GET /api/v1/openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", operation_id = "openapi",
    responses((status = OK, description = "This document (OpenAPI 3.1)", body = Object)))]
async fn openapi_json(Extension(document): Extension<Document>) -> Response {
    document.response().await
}

pub fn router(state: AppState) -> Router {
    let (router, openapi) = routes(&state).split_for_parts();
    let server_url = state
        .platform
        .settings()
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let document = Document::new(openapi, server_url);
    // The dashboard is pages for people, not API: it stays out of the OpenAPI document.
    let routes = router
        .merge(mcp::router(&state))
        .merge(ui::router())
        .with_state(state.clone())
        .layer(AccessLogLayer::new(state));
    // What holds for every request goes around the routes, not into each: `Router::layer`
    // boxes every route once more, and each request clones its route's boxes (BENCHMARKS.md,
    // *Layers around the router*). The access line stays per route: it names the route.
    Router::new().fallback_service(
        ServiceBuilder::new()
            .layer(Extension(document))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .service(routes),
    )
}

/// Every route with its OpenAPI operation, before the state is given.
fn routes(state: &AppState) -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new()
        .routes(routes!(app::get))
        .routes(routes!(app::put_credentials))
        .routes(routes!(app::put_scopes))
        .routes(routes!(app::put_branding))
        .routes(routes!(accounts::list))
        .routes(routes!(accounts::put, accounts::get, accounts::delete))
        .routes(routes!(connect::start))
        .routes(routes!(accounts::put_connection, accounts::disconnect))
        .routes(routes!(accounts::check_connection))
        .routes(routes!(openapi_json))
        .routes(routes!(actions::list))
        .routes(routes!(actions::get))
        .routes(routes!(actions::run))
        .routes(routes!(workflows::triggers))
        .routes(routes!(workflows::list))
        .routes(routes!(workflows::put, workflows::get, workflows::delete))
        .routes(routes!(workflows::account_workflows))
        .routes(routes!(workflows::enable, workflows::disable))
        .routes(routes!(workflows::run))
        .routes(routes!(workflows::post_event))
        .routes(routes!(workflows::reconcile))
        .routes(routes!(events::list))
        .routes(routes!(events::refused))
        .routes(routes!(executions::list))
        .routes(routes!(executions::get))
        .routes(routes!(executions::cancel))
        .routes(routes!(executions::replay))
        .routes(routes!(webhook_endpoints::list))
        .routes(routes!(
            webhook_endpoints::put,
            webhook_endpoints::get,
            webhook_endpoints::delete
        ))
        .routes(routes!(webhook_endpoints::deliveries))
        .routes(routes!(webhook_endpoints::send_test))
        .routes(routes!(webhook_endpoints::retry_delivery))
        .routes(routes!(admin::create, admin::list))
        .routes(routes!(admin::revoke))
        .routes(routes!(admin::audit_log))
        .routes(routes!(mcp_tokens::create, mcp_tokens::list))
        .routes(routes!(mcp_tokens::revoke))
        .fallback(|| async { ApiError::not_found_route() });
    // Every method reaches the proxy (Dialpad refuses those it does not document); the five
    // Dialpad uses are the documented ones.
    let proxy = OpenApiRouter::new()
        .routes(routes!(proxy::forward).map(|methods| methods.fallback(proxy::forward)));

    OpenApiRouter::with_openapi(openapi::frame())
        .routes(routes!(health::healthz))
        .routes(routes!(health::metrics))
        .nest("/proxy", behind_api_key(proxy, state))
        .routes(routes!(ingress::dialpad))
        .routes(routes!(connect::open))
        .routes(routes!(connect::portal))
        .routes(routes!(connect::portal_api_key))
        .routes(routes!(connect::callback))
        .routes(routes!(docs::page))
        .routes(routes!(docs::openapi))
        .routes(routes!(docs::asset))
        .nest(
            "/api/v1",
            behind_api_key(audit::recorded(api, state), state),
        )
}
