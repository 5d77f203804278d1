//! `/api/v1/webhook-endpoints`: where dialbridge sends its own webhooks (connections and
//! executions) to the vendor, each endpoint's delivery log, a test message on request, and a
//! failed delivery queued again.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dialbridge_core::{DeliveryView, EndpointInput, EndpointView};
use serde::Deserialize;
use utoipa::IntoParams;

use super::Items;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::responses::{InvalidInput, JsonBody};
use crate::state::AppState;

/// The `{id}` path segment of an endpoint.
const ENDPOINT_ID: &str = "The endpoint id, chosen by the vendor";

/// Creates or replaces an endpoint; messages to it are signed per Standard Webhooks with its
/// `secret`.
#[utoipa::path(put, path = "/webhook-endpoints/{id}", tag = "webhooks", operation_id = "put_webhook_endpoint",
    params(("id" = String, Path, description = ENDPOINT_ID)),
    request_body = EndpointInput,
    responses(
        (status = CREATED, description = "Created, with a new secret", body = EndpointView),
        (status = OK, description = "Replaced", body = EndpointView),
        JsonBody, InvalidInput,
    ))]
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

/// The vendor's webhook endpoints.
#[utoipa::path(get, path = "/webhook-endpoints", tag = "webhooks", operation_id = "list_webhook_endpoints",
    responses((status = OK, body = Items<EndpointView>)))]
pub async fn list(
    State(state): State<AppState>,
) -> Result<axum::Json<Items<EndpointView>>, ApiError> {
    let items = state.platform.vendor_webhooks.endpoints().await?;
    Ok(axum::Json(Items { items }))
}

/// One endpoint, with its secret.
#[utoipa::path(get, path = "/webhook-endpoints/{id}", tag = "webhooks", operation_id = "get_webhook_endpoint",
    params(("id" = String, Path, description = ENDPOINT_ID)),
    responses(
        (status = OK, body = EndpointView),
        (status = NOT_FOUND, description = "`not_found`: no such endpoint", body = ErrorBody),
        InvalidInput,
    ))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<EndpointView>, ApiError> {
    Ok(axum::Json(
        state.platform.vendor_webhooks.endpoint(&id).await?,
    ))
}

/// Deletes the endpoint and its delivery log.
#[utoipa::path(delete, path = "/webhook-endpoints/{id}", tag = "webhooks", operation_id = "delete_webhook_endpoint",
    params(("id" = String, Path, description = ENDPOINT_ID)),
    responses(
        (status = NO_CONTENT, description = "Deleted"),
        (status = NOT_FOUND, description = "`not_found`: no such endpoint", body = ErrorBody),
        InvalidInput,
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.platform.vendor_webhooks.delete_endpoint(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// How many, 1–200 (default 50).
    limit: Option<u32>,
}

/// The delivery log, newest first.
#[utoipa::path(get, path = "/webhook-endpoints/{id}/deliveries", tag = "webhooks", operation_id = "list_webhook_deliveries",
    params(("id" = String, Path, description = ENDPOINT_ID), DeliveriesQuery),
    responses(
        (status = OK, body = Items<DeliveryView>),
        (status = NOT_FOUND, description = "`not_found`: no such endpoint", body = ErrorBody),
        InvalidInput,
    ))]
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

/// Queues a `webhook.test` message (`data: {endpoint_id}`) to the endpoint, whatever events it
/// chose; it is sent, signed and retried like any other and shows in the delivery log.
#[utoipa::path(post, path = "/webhook-endpoints/{id}/test", tag = "webhooks", operation_id = "test_webhook_endpoint",
    params(("id" = String, Path, description = ENDPOINT_ID)),
    responses(
        (status = ACCEPTED, description = "Queued", body = DeliveryView),
        (status = NOT_FOUND, description = "`not_found`: no such endpoint", body = ErrorBody),
        InvalidInput,
    ))]
pub async fn send_test(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, axum::Json<DeliveryView>), ApiError> {
    let delivery = state.platform.vendor_webhooks.send_test(&id).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(delivery)))
}

/// Queues a failed delivery again, due now: same id, its attempts kept, one more attempt.
#[utoipa::path(post, path = "/webhook-endpoints/{id}/deliveries/{delivery_id}/retry", tag = "webhooks", operation_id = "retry_webhook_delivery",
    params(
        ("id" = String, Path, description = ENDPOINT_ID),
        ("delivery_id" = String, Path, description = "The delivery id (`msg_…`)"),
    ),
    responses(
        (status = ACCEPTED, description = "Queued again", body = DeliveryView),
        (status = NOT_FOUND, description = "`not_found`: no such endpoint or delivery", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_input`: the delivery has not failed", body = ErrorBody),
    ))]
pub async fn retry_delivery(
    State(state): State<AppState>,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<(StatusCode, axum::Json<DeliveryView>), ApiError> {
    let delivery = state
        .platform
        .vendor_webhooks
        .retry_delivery(&id, &delivery_id)
        .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(delivery)))
}
