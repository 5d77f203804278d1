//! Events: what came in (Dialpad deliveries, vendor events, schedule ticks, API runs), newest
//! first, a page at a time, filtered by account, each linking to the executions it started.

use axum::extract::{Query, State};
use axum::response::Response;
use dialbridge_core::AccountId;
use minijinja::{context, Value};
use serde::Deserialize;

use super::session::Session;
use super::view::render;
use super::UiError;
use crate::state::AppState;

const PAGE: u32 = 50;

#[derive(Deserialize)]
pub struct ListQuery {
    account_id: Option<String>,
    cursor: Option<String>,
}

/// `GET /ui/events`.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ListQuery>,
) -> Result<Response, UiError> {
    let account_id = query
        .account_id
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let account = account_id.as_deref().map(AccountId::parse).transpose()?;
    let cursor = query.cursor.filter(|c| !c.is_empty());
    let page = state
        .platform
        .events
        .list(account.as_ref(), cursor.as_deref(), Some(PAGE))
        .await?;
    Ok(render(
        "events.html",
        session.page(
            "events",
            context! {
                events => Value::from_serialize(&page.items),
                refused => Value::from_serialize(state.platform.events.refused(account.as_ref())),
                cursor => page.cursor,
                filter => context! { account_id },
            },
        ),
    ))
}
