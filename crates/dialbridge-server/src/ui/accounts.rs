//! Accounts: the paged list with search and create, and an account's page — its connection
//! (never a secret), connect link, check, disconnect, Dialpad webhook and subscriptions with
//! "reconcile now", enabled workflows, recent executions and recent events.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use dialbridge_core::{AccountId, AccountPatch, AccountView, Environment, ExecutionFilter};
use minijinja::{context, Value};
use serde::Deserialize;
use serde_json::json;

use super::form::Posted;
use super::session::Session;
use super::view::render;
use super::UiError;
use crate::state::AppState;

const PAGE: u32 = 25;
/// How many accounts a name search reads, at most.
const SEARCH_SCAN: usize = 2000;

#[derive(Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
    q: Option<String>,
}

/// `GET /ui/accounts`: a page of accounts, or those whose id or name holds `q`.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ListQuery>,
) -> Result<Response, UiError> {
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let (items, cursor) = match search {
        Some(q) => (search_accounts(&state, q).await?, None),
        None => {
            let page = state
                .platform
                .connections
                .accounts(query.cursor.as_deref(), Some(PAGE))
                .await?;
            (page.items, page.cursor)
        }
    };
    Ok(render(
        "accounts.html",
        session.page(
            "accounts",
            context! { accounts => Value::from_serialize(&items), cursor, q => search, errors => () },
        ),
    ))
}

/// Accounts whose id or name contains `q` (case-insensitive), from the first `SEARCH_SCAN`.
async fn search_accounts(state: &AppState, q: &str) -> Result<Vec<AccountView>, UiError> {
    let needle = q.to_lowercase();
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    let mut scanned = 0;
    loop {
        let page = state
            .platform
            .connections
            .accounts(cursor.as_deref(), Some(200))
            .await?;
        scanned += page.items.len();
        found.extend(page.items.into_iter().filter(|a| {
            a.account_id.as_str().to_lowercase().contains(&needle)
                || a.name
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().contains(&needle))
        }));
        match page.cursor {
            Some(next) if scanned < SEARCH_SCAN => cursor = Some(next),
            _ => return Ok(found),
        }
    }
}

/// `POST /ui/accounts` `account_id`, `name`: creates the account and opens its page.
pub async fn create(
    State(state): State<AppState>,
    Posted { session, form }: Posted,
) -> Result<Response, UiError> {
    let raw_id = form.get("account_id").unwrap_or_default().trim().to_owned();
    let patch = AccountPatch {
        name: form.text("name"),
        ..AccountPatch::default()
    };
    let created = match AccountId::parse(&raw_id) {
        Ok(id) => state
            .platform
            .connections
            .put_account(&id, patch)
            .await
            .map(|(account, created)| (id, account, created)),
        Err(e) => Err(e),
    };
    match created {
        Ok((id, account, created)) => {
            let summary = json!({ "name": account.name, "created": created });
            let target = format!("account/{}", id.as_str());
            session.record(&state, "account.put", target, summary).await;
            Ok(Redirect::to(&format!("/ui/accounts/{}", id.as_str())).into_response())
        }
        Err(e) => {
            let error = UiError::from(e);
            let page = state
                .platform
                .connections
                .accounts(None, Some(PAGE))
                .await?;
            let mut response = render(
                "accounts.html",
                session.page(
                    "accounts",
                    context! {
                        accounts => Value::from_serialize(&page.items),
                        cursor => page.cursor,
                        errors => error.fields(),
                        problem => error.message,
                        kept => context! { account_id => raw_id, name => form.get("name") },
                    },
                ),
            );
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(response)
        }
    }
}

/// `GET /ui/accounts/{id}`.
pub async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    show(&state, &session, &id, Value::from(())).await
}

/// The account page with `notice`: `{kind: ok|bad, text}` and what an action produced.
async fn show(
    state: &AppState,
    session: &Session,
    id: &str,
    notice: Value,
) -> Result<Response, UiError> {
    let id = AccountId::parse(id)?;
    let account = state.platform.connections.account(&id).await?;
    let enabled = state.platform.workflows.enabled_for(&id).await?;
    let filter = ExecutionFilter {
        account_id: Some(id.clone()),
        ..ExecutionFilter::default()
    };
    let executions = state
        .platform
        .executions
        .list(&filter, None, Some(10))
        .await?;
    let events = state
        .platform
        .events
        .list(Some(&id), None, Some(10))
        .await?;
    let app = state.platform.app.view().await?;
    let environments: Vec<&str> = app
        .environments
        .iter()
        .filter(|(_, e)| e.configured)
        .map(|(env, _)| env.as_str())
        .collect();
    Ok(render(
        "account.html",
        session.page(
            "accounts",
            context! {
                account => Value::from_serialize(&account),
                enabled => Value::from_serialize(&enabled),
                executions => Value::from_serialize(&executions.items),
                events => Value::from_serialize(&events.items),
                environments,
                notice,
            },
        ),
    ))
}

/// The account page after an action: its outcome as a notice.
async fn after(
    state: &AppState,
    session: &Session,
    id: &str,
    outcome: Result<Value, dialbridge_core::Error>,
) -> Result<Response, UiError> {
    let notice = match outcome.map_err(UiError::from) {
        Ok(notice) => notice,
        Err(e) => context! { kind => "bad", text => e.message, code => e.code },
    };
    show(state, session, id, notice).await
}

/// `POST /ui/accounts/{id}/connect-link`: a new single-use link, shown to copy.
pub async fn connect_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, form }: Posted,
) -> Result<Response, UiError> {
    let outcome = async {
        let account = AccountId::parse(&id)?;
        let environment = form
            .text("environment")
            .as_deref()
            .map(Environment::parse)
            .transpose()?;
        let link = state
            .platform
            .connections
            .start_connect(&account, environment, form.text("redirect_url"))
            .await?;
        let summary = json!({ "link_expires_at": link.expires_at });
        session.record(&state, "account.connect", format!("account/{id}"), summary).await;
        Ok(context! { kind => "ok", text => "A new connect link: send it to the customer. It works once.", link => Value::from_serialize(&link) })
    }
    .await;
    after(&state, &session, &id, outcome).await
}

/// `POST /ui/accounts/{id}/check`: proves the credentials work now.
pub async fn check(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Result<Response, UiError> {
    let outcome = async {
        let account = AccountId::parse(&id)?;
        let company = state.platform.connections.check_connection(&account).await?;
        let name = company
            .dialpad_company_name
            .unwrap_or(company.dialpad_company_id);
        Ok(context! { kind => "ok", text => format!("The connection works: Dialpad answered for company {name}.") })
    }
    .await;
    after(&state, &session, &id, outcome).await
}

/// `POST /ui/accounts/{id}/disconnect` with `confirm`: revokes at Dialpad and wipes the
/// secrets.
pub async fn disconnect(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, form }: Posted,
) -> Result<Response, UiError> {
    if form.get("confirm") != Some("yes") {
        let notice =
            context! { kind => "bad", text => "Tick the box to confirm the disconnection." };
        return show(&state, &session, &id, notice).await;
    }
    let outcome = async {
        let account = AccountId::parse(&id)?;
        state.platform.connections.disconnect(&account).await?;
        session.record(&state, "connection.delete", format!("account/{id}"), json!({})).await;
        Ok(context! { kind => "ok", text => "Disconnected: the grant was revoked at Dialpad and the secrets wiped." })
    }
    .await;
    after(&state, &session, &id, outcome).await
}

/// `POST /ui/accounts/{id}/reconcile`: checks and recreates the Dialpad webhook and
/// subscriptions now.
pub async fn reconcile(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Result<Response, UiError> {
    let outcome = async {
        let account = AccountId::parse(&id)?;
        state.platform.provisioning.reconcile(&account).await?;
        Ok(context! { kind => "ok", text => "Reconciled with Dialpad." })
    }
    .await;
    after(&state, &session, &id, outcome).await
}
