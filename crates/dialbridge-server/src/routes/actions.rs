//! `/api/v1/actions`: the action catalog, and running an action for a connected account —
//! the same `Actions::run` the CLI and workflow steps use.

use axum::extract::State;
use dialbridge_core::{AccountId, ActionInfo};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{OptionalJson, Path};
use crate::state::AppState;

pub async fn list() -> axum::Json<Vec<ActionInfo>> {
    axum::Json(dialbridge_core::action_catalog())
}

pub async fn get(Path(key): Path<String>) -> Result<axum::Json<ActionInfo>, ApiError> {
    Ok(axum::Json(dialbridge_core::require_action(&key)?))
}

/// The body is the action's input (an absent body is `{}`); answers `{"output": …}`.
pub async fn run(
    State(state): State<AppState>,
    Path((account, key)): Path<(String, String)>,
    OptionalJson(input): OptionalJson<Value>,
) -> Result<axum::Json<Value>, ApiError> {
    let account = AccountId::parse(&account)?;
    let input = if input.is_null() { json!({}) } else { input };
    let output = state.platform.actions.run(&account, &key, &input).await?;
    Ok(axum::Json(json!({ "output": output })))
}
