//! `/api/v1/webhook-endpoints`: where dialbridge sends its own webhooks (connections and
//! executions) to the vendor, and each endpoint's delivery log.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dialbridge_core::{DeliveryView, EndpointInput, EndpointView};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

#[derive(Serialize)]
pub struct Items<T> {
    items: Vec<T>,
}

/// `{url, events?}`: 201 when created (with a new secret), 200 when replaced.
pub async fn put(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(input): Json<EndpointInput>,
) -> Result<Response, ApiError> {
    let (endpoint, created) = state
        .platform
        .vendor_webhooks
        .put_endpoint(&id, input)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(endpoint)).into_response())
}

pub async fn list(
    State(state): State<AppState>,
) -> Result<axum::Json<Items<EndpointView>>, ApiError> {
    let items = state.platform.vendor_webhooks.endpoints().await?;
    Ok(axum::Json(Items { items }))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<EndpointView>, ApiError> {
    Ok(axum::Json(
        state.platform.vendor_webhooks.endpoint(&id).await?,
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.platform.vendor_webhooks.delete_endpoint(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    limit: Option<u32>,
}

/// The delivery log, newest first.
pub async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<DeliveriesQuery>,
) -> Result<axum::Json<Items<DeliveryView>>, ApiError> {
    let items = state
        .platform
        .vendor_webhooks
        .deliveries(&id, query.limit)
        .await?;
    Ok(axum::Json(Items { items }))
}
