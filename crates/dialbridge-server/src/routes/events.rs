//! `/api/v1/events`: the stored events (Dialpad deliveries, vendor events, schedule ticks, API
//! runs), newest first, each with the executions it started.

use axum::extract::State;
use dialbridge_core::{AccountId, EventPage, RefusedDelivery};
use serde::Deserialize;
use serde::Serialize;
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::extract::Query;
use crate::responses::InvalidInput;
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this account's.
    account_id: Option<String>,
    /// The `cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
}

/// Events, newest first, a page at a time.
#[utoipa::path(get, path = "/events", tag = "workflows", operation_id = "list_events",
    params(ListQuery),
    responses((status = OK, body = EventPage), InvalidInput))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<EventPage>, ApiError> {
    let account = query
        .account_id
        .as_deref()
        .map(AccountId::parse)
        .transpose()?;
    Ok(axum::Json(
        state
            .platform
            .events
            .list(account.as_ref(), query.cursor.as_deref(), query.limit)
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RefusedQuery {
    /// Only this account's.
    account_id: Option<String>,
}

/// The Dialpad deliveries this process refused lately.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RefusedPage {
    /// Newest first; at most the last 200 of this process (each process of a cluster keeps
    /// its own), lost on restart.
    pub items: Vec<RefusedDelivery>,
}

/// Dialpad deliveries refused by this process (a signature that did not verify, an expired or
/// malformed token), newest first. They are never stored; this process keeps the last 200.
#[utoipa::path(get, path = "/events/refused", tag = "workflows", operation_id = "list_refused_deliveries",
    params(RefusedQuery),
    responses((status = OK, body = RefusedPage), InvalidInput))]
pub async fn refused(
    State(state): State<AppState>,
    Query(query): Query<RefusedQuery>,
) -> Result<axum::Json<RefusedPage>, ApiError> {
    let account = query
        .account_id
        .as_deref()
        .map(AccountId::parse)
        .transpose()?;
    Ok(axum::Json(RefusedPage {
        items: state.platform.events.refused(account.as_ref()),
    }))
}
