//! Executions: the list with its filters (account, workflow, status, created from/to),
//! refreshing itself (htmx) while any runs, and an execution's page — its step timeline,
//! trigger event, replay and cancel.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use dialbridge_core::{AccountId, ExecutionFilter, ExecutionStatus, ReplayVersion, Timestamp};
use minijinja::{context, Value};
use serde::Deserialize;

use super::form::Posted;
use super::session::Session;
use super::view::render;
use super::UiError;
use crate::state::AppState;

const PAGE: u32 = 50;

#[derive(Deserialize)]
pub struct ListQuery {
    account_id: Option<String>,
    workflow: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
}

fn blank_to_none(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// `GET /ui/executions`.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ListQuery>,
) -> Result<Response, UiError> {
    let account_id = blank_to_none(query.account_id);
    let workflow = blank_to_none(query.workflow);
    let status = blank_to_none(query.status);
    let from = blank_to_none(query.from);
    let to = blank_to_none(query.to);
    let filter = ExecutionFilter {
        account_id: account_id.as_deref().map(AccountId::parse).transpose()?,
        workflow_key: workflow.clone(),
        status: match status.as_deref() {
            None => None,
            Some(text) => Some(ExecutionStatus::parse_filter(text)?),
        },
        created_from: from
            .as_deref()
            .map(|text| Timestamp::parse_filter("from", text))
            .transpose()?,
        created_before: to
            .as_deref()
            .map(|text| Timestamp::parse_filter("to", text))
            .transpose()?,
    };
    let page = state
        .platform
        .executions
        .list(&filter, query.cursor.as_deref(), Some(PAGE))
        .await?;
    let live = page.items.iter().any(|x| !x.status.is_finished());
    let workflows = state.platform.workflows.list().await?;
    let keys: Vec<String> = workflows.into_iter().map(|w| w.key).collect();
    Ok(render(
        "executions.html",
        session.page(
            "executions",
            context! {
                executions => Value::from_serialize(&page.items),
                cursor => page.cursor,
                live,
                workflows => keys,
                statuses => ["queued", "running", "succeeded", "failed", "cancelled"],
                filter => context! { account_id, workflow, status, from, to },
            },
        ),
    ))
}

/// `GET /ui/executions/{id}`.
pub async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    show(&state, &session, &id, Value::from(())).await
}

async fn show(
    state: &AppState,
    session: &Session,
    id: &str,
    notice: Value,
) -> Result<Response, UiError> {
    let execution = state.platform.executions.get(id).await?;
    let live = !execution.status.is_finished();
    let durations: Vec<Option<i64>> = execution
        .steps
        .iter()
        .flatten()
        .map(|s| Some(s.finished_at?.as_millis() - s.started_at?.as_millis()))
        .collect();
    Ok(render(
        "execution.html",
        session.page(
            "executions",
            context! { x => Value::from_serialize(&execution), durations, live, notice },
        ),
    ))
}

/// `POST /ui/executions/{id}/replay` `version=own|latest`: opens the new execution.
pub async fn replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, form }: Posted,
) -> Result<Response, UiError> {
    let version = match form.get("version") {
        Some("latest") => ReplayVersion::Latest,
        _ => ReplayVersion::Own,
    };
    match state.platform.executions.replay(&id, version).await {
        Ok(new_id) => {
            let summary = serde_json::json!({ "new_execution_id": new_id });
            session
                .record(
                    &state,
                    "execution.replay",
                    format!("execution/{id}"),
                    summary,
                )
                .await;
            Ok(Redirect::to(&format!("/ui/executions/{new_id}")).into_response())
        }
        Err(e) => {
            let e = UiError::from(e);
            show(
                &state,
                &session,
                &id,
                context! { kind => "bad", text => e.message },
            )
            .await
        }
    }
}

/// `POST /ui/executions/{id}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Result<Response, UiError> {
    let notice = match state.platform.executions.cancel(&id).await {
        Ok(execution) => {
            let summary = serde_json::json!({ "status": execution.status });
            session
                .record(
                    &state,
                    "execution.cancel",
                    format!("execution/{id}"),
                    summary,
                )
                .await;
            context! { kind => "ok", text => "Cancelled." }
        }
        Err(e) => context! { kind => "bad", text => UiError::from(e).message },
    };
    show(&state, &session, &id, notice).await
}
