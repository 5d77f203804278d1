//! `/api/v1/actions`: the action catalog, and running an action for a connected account —
//! the same `Actions::run` the CLI and workflow steps use.

use axum::extract::State;
use dialbridge_core::{AccountId, ActionInfo};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::ACCOUNT_ID;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{OptionalJson, Path};
use crate::responses::{DialpadFailure, InvalidOrRejected, JsonBody, NoConnection};
use crate::state::AppState;

/// `{"output": …}`: what an action answered.
#[derive(Serialize, ToSchema)]
pub struct ActionOutput {
    /// Dialpad's JSON answer (`{}` when it sends none).
    output: Value,
}

/// The action catalog: each action's key, Dialpad operation, scopes and input schema.
#[utoipa::path(get, path = "/actions", tag = "actions", operation_id = "list_actions",
    responses((status = OK, body = Vec<ActionInfo>)))]
pub async fn list() -> axum::Json<Vec<ActionInfo>> {
    axum::Json(dialbridge_core::action_catalog())
}

/// One action of the catalog.
#[utoipa::path(get, path = "/actions/{key}", tag = "actions", operation_id = "get_action",
    params(("key" = String, Path, description = "The action key, e.g. `send_sms`")),
    responses(
        (status = OK, body = ActionInfo),
        (status = NOT_FOUND, description = "`not_found`: no such action", body = ErrorBody),
    ))]
pub async fn get(Path(key): Path<String>) -> Result<axum::Json<ActionInfo>, ApiError> {
    Ok(axum::Json(dialbridge_core::require_action(&key)?))
}

/// Runs an action for the account.
///
/// The body is the action's input (an absent body is `{}`); each action's own path below
/// documents its input schema.
#[utoipa::path(post, path = "/accounts/{account_id}/actions/{key}", tag = "actions", operation_id = "run_action",
    params(
        ("account_id" = String, Path, description = ACCOUNT_ID),
        ("key" = String, Path, description = "The action key, e.g. `send_sms`"),
    ),
    request_body(content = Option<Object>, description = "The action's input: path, query and body fields side by side"),
    responses(
        (status = OK, body = ActionOutput),
        (status = NOT_FOUND, description = "`not_found`: no such account or action", body = ErrorBody),
        (status = FORBIDDEN, description = "`missing_scope`: the action needs a scope the connection was not granted (`details.scope`)", body = ErrorBody),
        NoConnection, InvalidOrRejected, JsonBody, DialpadFailure,
    ))]
pub async fn run(
    State(state): State<AppState>,
    Path((account, key)): Path<(String, String)>,
    OptionalJson(input): OptionalJson<Value>,
) -> Result<axum::Json<ActionOutput>, ApiError> {
    let account = AccountId::parse(&account)?;
    let input = if input.is_null() { json!({}) } else { input };
    let output = state.platform.actions.run(&account, &key, &input).await?;
    Ok(axum::Json(ActionOutput { output }))
}
