//! The emulator's own control API under `/_control` (no auth, JSON): set-up, faults and
//! observation for tests and newcomers. Errors answer in dialbridge's shape,
//! `{"error": {"code": "<snake_case>", "message": "..."}}` (the emulated Dialpad API keeps
//! Dialpad's own).

mod apps;
mod authorize;
mod bulk;
mod config;
mod observe;
mod simulate;
mod tokens;
mod world;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::Emulator;

pub fn routes() -> Router<Emulator> {
    Router::new()
        .route("/_control/apps", post(apps::create))
        .route("/_control/authorize", post(authorize::authorize))
        .route("/_control/api-keys", post(world::create_api_key))
        .route("/_control/companies", get(world::companies))
        .route("/_control/companies/bulk", post(bulk::create_companies))
        .route(
            "/_control/companies/{id}/revoke",
            post(tokens::revoke_company),
        )
        .route("/_control/config", get(config::get).patch(config::patch))
        .route("/_control/tokens/expire", post(tokens::expire))
        .route("/_control/tokens/refresh", get(tokens::live_refresh_tokens))
        .route("/_control/stats", get(observe::stats))
        .route("/_control/operations", get(observe::operations))
        .route(
            "/_control/requests",
            get(observe::requests).delete(observe::clear_requests),
        )
        .route("/_control/reset", post(reset))
        .merge(simulate::routes())
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
}

impl From<JsonRejection> for ControlError {
    fn from(rejection: JsonRejection) -> Self {
        ControlError::BadRequest(rejection.body_text())
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let (status, code) = match self {
            ControlError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            ControlError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        };
        let body = json!({ "error": { "code": code, "message": self.to_string() } });
        (status, Json(body)).into_response()
    }
}

/// `POST /_control/reset`: back to the seeded state and the configuration given at start.
async fn reset(State(emulator): State<Emulator>) -> StatusCode {
    emulator.reset();
    StatusCode::NO_CONTENT
}
