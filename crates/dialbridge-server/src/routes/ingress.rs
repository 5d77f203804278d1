//! `POST /webhooks/dialpad/{hook_id}`: where Dialpad's events enter. No API key: the HS256
//! JWT signed with the hook's secret is the proof. The event is stored before the 200.

use axum::extract::State;
use dialbridge_core::IngressOutcome;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Path};
use crate::responses::RawBody;
use crate::state::AppState;

/// Dialpad event ingress: stores the event (an identical redelivery runs nothing again) and
/// starts the workflows its triggers match.
#[utoipa::path(post, path = "/webhooks/dialpad/{hook_id}", tag = "workflows", operation_id = "dialpad_event",
    params(("hook_id" = String, Path, description = "The account's hook id, from the webhook dialbridge created at Dialpad")),
    request_body(content = String, content_type = "application/jwt", description = "An HS256 JWT signed with the hook's secret; its claims are the event"),
    responses(
        (status = OK, body = IngressOutcome),
        (status = UNAUTHORIZED, description = "`invalid_signature`: not an HS256 JWT of the hook's secret", body = ErrorBody),
        (status = NOT_FOUND, description = "`not_found`: no such hook", body = ErrorBody),
        RawBody,
        (status = INTERNAL_SERVER_ERROR, description = "`internal_error`: the event could not be stored; Dialpad sends it again", body = ErrorBody),
    ))]
pub async fn dialpad(
    State(state): State<AppState>,
    Path(hook_id): Path<String>,
    Body(body): Body,
) -> Result<axum::Json<IngressOutcome>, ApiError> {
    Ok(axum::Json(
        state
            .platform
            .ingress
            .receive_dialpad_event(&hook_id, &body)
            .await?,
    ))
}
