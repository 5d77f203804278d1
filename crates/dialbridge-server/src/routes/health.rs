//! `GET /healthz`: the process is up and the database answers; `GET /metrics`; and the
//! middleware that counts every response for it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// `{"status": "ok"}`, or `{"status": "unavailable", "database": "unreachable"}`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'static str>,
}

/// Liveness: the process is up and the database answers (no API key).
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "healthz",
    responses(
        (status = OK, description = "`{\"status\": \"ok\"}`", body = Health),
        (status = SERVICE_UNAVAILABLE, description = "The database does not answer", body = Health),
    ))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    match state.platform.store().ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                database: None,
            }),
        ),
        Err(e) => {
            tracing::error!("health check: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "unavailable",
                    database: Some("unreachable"),
                }),
            )
        }
    }
}

/// Prometheus metrics of this process (no API key, like `/healthz`; labels hold no account ids
/// or secrets).
#[utoipa::path(get, path = "/metrics", tag = "health", operation_id = "metrics",
    responses((status = OK, description = "OpenMetrics text", body = String, content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.platform.metrics().render(),
    )
}
