//! `/api/v1/accounts/{account_id}/mcp-tokens`: the tokens MCP clients present at `/mcp`, each
//! reaching that one account (create, list, revoke).

use axum::extract::State;
use axum::http::StatusCode;
use dialbridge_core::{AccountId, McpTokenInput, McpTokenView, NewMcpToken};

use super::{Items, ACCOUNT_ID};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path};
use crate::responses::{InvalidInput, JsonBody, UnknownAccount};
use crate::state::AppState;

/// Creates an MCP token for the account; the answer is the only time the token is shown (it
/// is stored as a SHA-256 hash). Send it as `Authorization: Bearer <token>` to `/mcp`.
#[utoipa::path(post, path = "/accounts/{account_id}/mcp-tokens", tag = "mcp", operation_id = "create_mcp_token",
    params(("account_id" = String, Path, description = ACCOUNT_ID)),
    request_body = McpTokenInput,
    responses(
        (status = CREATED, description = "Created; `token` is not shown again", body = NewMcpToken),
        UnknownAccount, JsonBody, InvalidInput,
    ))]
pub async fn create(
    State(state): State<AppState>,
    Path(account): Path<String>,
    Json(input): Json<McpTokenInput>,
) -> Result<(StatusCode, axum::Json<NewMcpToken>), ApiError> {
    let account = AccountId::parse(&account)?;
    let token = state.platform.mcp.create_token(&account, input).await?;
    Ok((StatusCode::CREATED, axum::Json(token)))
}

/// The account's MCP tokens, oldest first (never the tokens themselves).
#[utoipa::path(get, path = "/accounts/{account_id}/mcp-tokens", tag = "mcp", operation_id = "list_mcp_tokens",
    params(("account_id" = String, Path, description = ACCOUNT_ID)),
    responses((status = OK, body = Items<McpTokenView>), UnknownAccount, InvalidInput))]
pub async fn list(
    State(state): State<AppState>,
    Path(account): Path<String>,
) -> Result<axum::Json<Items<McpTokenView>>, ApiError> {
    let account = AccountId::parse(&account)?;
    let items = state.platform.mcp.tokens(&account).await?;
    Ok(axum::Json(Items { items }))
}

/// Revokes a token: the next request that presents it is refused, in every process.
#[utoipa::path(delete, path = "/accounts/{account_id}/mcp-tokens/{token_id}", tag = "mcp", operation_id = "revoke_mcp_token",
    params(
        ("account_id" = String, Path, description = ACCOUNT_ID),
        ("token_id" = String, Path, description = "The token's id (`GET …/mcp-tokens` lists them)"),
    ),
    responses(
        (status = NO_CONTENT, description = "Revoked"),
        (status = NOT_FOUND, description = "`not_found`: no such account, or it has no token with this id", body = ErrorBody),
        InvalidInput,
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Path((account, token_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let account = AccountId::parse(&account)?;
    state.platform.mcp.revoke_token(&account, &token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
