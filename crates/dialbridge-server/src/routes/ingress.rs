//! `POST /webhooks/dialpad/{hook_id}`: where Dialpad's events enter. No API key: the HS256
//! JWT signed with the hook's secret is the proof. The event is stored before the 200.

use axum::body::Bytes;
use axum::extract::State;
use dialbridge_core::IngressOutcome;

use crate::error::ApiError;
use crate::extract::Path;
use crate::state::AppState;

pub async fn dialpad(
    State(state): State<AppState>,
    Path(hook_id): Path<String>,
    body: Bytes,
) -> Result<axum::Json<IngressOutcome>, ApiError> {
    Ok(axum::Json(
        state
            .platform
            .ingress
            .receive_dialpad_event(&hook_id, &body)
            .await?,
    ))
}
