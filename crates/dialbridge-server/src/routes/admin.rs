//! `/api/v1/admin-keys` (create, list, revoke) and `/api/v1/audit-log` (who changed what,
//! when).

use axum::extract::State;
use axum::http::StatusCode;
use dialbridge_core::{AdminKeyInput, AdminKeyView, AuditPage, NewAdminKey};
use serde::Deserialize;
use utoipa::IntoParams;

use super::Items;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::responses::{InvalidInput, JsonBody};
use crate::state::AppState;

/// The `{id}` path segment of an admin API key.
const KEY_ID: &str = "The key's id (`GET /api/v1/admin-keys` lists them)";

/// Creates an admin API key; the answer is the only time the key is shown (it is stored as a
/// SHA-256 hash).
#[utoipa::path(post, path = "/admin-keys", tag = "admin", operation_id = "create_admin_key",
    request_body = AdminKeyInput,
    responses(
        (status = CREATED, description = "Created; `key` is not shown again", body = NewAdminKey),
        JsonBody, InvalidInput,
    ))]
pub async fn create(
    State(state): State<AppState>,
    Json(input): Json<AdminKeyInput>,
) -> Result<(StatusCode, axum::Json<NewAdminKey>), ApiError> {
    let key = state.platform.admin.create_key(input).await?;
    Ok((StatusCode::CREATED, axum::Json(key)))
}

/// The active admin API keys, oldest first (never the keys themselves).
#[utoipa::path(get, path = "/admin-keys", tag = "admin", operation_id = "list_admin_keys",
    responses((status = OK, body = Items<AdminKeyView>)))]
pub async fn list(
    State(state): State<AppState>,
) -> Result<axum::Json<Items<AdminKeyView>>, ApiError> {
    let items = state.platform.admin.keys().await?;
    Ok(axum::Json(Items { items }))
}

/// Revokes a key at once (other processes sharing the database refuse it within 2 s). The
/// last active key cannot be revoked.
#[utoipa::path(delete, path = "/admin-keys/{id}", tag = "admin", operation_id = "revoke_admin_key",
    params(("id" = String, Path, description = KEY_ID)),
    responses(
        (status = OK, description = "Revoked", body = AdminKeyView),
        (status = NOT_FOUND, description = "`not_found`: no active key has this id", body = ErrorBody),
        (status = CONFLICT, description = "`last_admin_key`: it is the only active key; create another first", body = ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<AdminKeyView>, ApiError> {
    Ok(axum::Json(state.platform.admin.revoke_key(&id).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// The `cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
}

/// Admin changes, newest first: who (the key's id and name), what (action, target, a summary
/// without secrets), when.
#[utoipa::path(get, path = "/audit-log", tag = "admin", operation_id = "list_audit_log",
    params(AuditQuery),
    responses((status = OK, body = AuditPage), InvalidInput))]
pub async fn audit_log(
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<axum::Json<AuditPage>, ApiError> {
    Ok(axum::Json(
        state
            .platform
            .audit
            .list(query.cursor.as_deref(), query.limit)
            .await?,
    ))
}
