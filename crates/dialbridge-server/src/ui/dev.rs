//! The dev panel (`serve --dev` only): buttons that drive the in-process emulator's control API
//! (a call rings, is missed, leaves a voicemail; an SMS; a contact change; an agent status)
//! and the latest executions, refreshing themselves, to watch what starts.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use dialbridge_core::ExecutionFilter;
use minijinja::{context, Value};
use serde_json::json;
use tower::ServiceExt;

use super::form::Posted;
use super::session::Session;
use super::view::render;
use super::UiError;
use crate::state::AppState;

/// Each button: its key, its label, and the control API call it makes.
const SIMULATIONS: &[(&str, &str, &str, &str)] = &[
    (
        "missed_call",
        "Miss an inbound call",
        "/_control/calls",
        r#"{"direction":"inbound","scenario":"missed"}"#,
    ),
    (
        "inbound_call",
        "Inbound call, answered",
        "/_control/calls",
        r#"{"direction":"inbound","scenario":"answered"}"#,
    ),
    (
        "voicemail",
        "Caller leaves a voicemail",
        "/_control/calls",
        r#"{"direction":"inbound","scenario":"voicemail"}"#,
    ),
    (
        "sms_in",
        "Receive an SMS",
        "/_control/sms",
        r#"{"direction":"inbound","text":"Hello from a customer"}"#,
    ),
    (
        "sms_out",
        "Send an SMS",
        "/_control/sms",
        r#"{"direction":"outbound","text":"Hello from the team"}"#,
    ),
    (
        "contact",
        "Change a contact",
        "/_control/contacts/events",
        r#"{"change":"updated"}"#,
    ),
    (
        "agent_status",
        "Agent goes busy",
        "/_control/agent-status",
        r#"{"status":"busy"}"#,
    ),
];

/// `GET /ui/dev`.
pub async fn page(State(state): State<AppState>, session: Session) -> Result<Response, UiError> {
    show(&state, &session, Value::from(())).await
}

async fn show(state: &AppState, session: &Session, notice: Value) -> Result<Response, UiError> {
    if state.dashboard.emulator.is_none() {
        return Err(UiError::not_found());
    }
    let executions = state
        .platform
        .executions
        .list(&ExecutionFilter::default(), None, Some(10))
        .await?;
    let simulations: Vec<(&str, &str)> = SIMULATIONS.iter().map(|(k, l, _, _)| (*k, *l)).collect();
    Ok(render(
        "dev.html",
        session.page(
            "dev",
            context! { simulations, executions => Value::from_serialize(&executions.items), notice },
        ),
    ))
}

/// `POST /ui/dev` `simulate=<key>`: makes the emulator do it.
pub async fn simulate(
    State(state): State<AppState>,
    Posted { session, form }: Posted,
) -> Result<Response, UiError> {
    let Some(emulator) = state.dashboard.emulator.clone() else {
        return Err(UiError::not_found());
    };
    let Some((_, label, path, body)) = SIMULATIONS
        .iter()
        .find(|(key, ..)| Some(*key) == form.get("simulate"))
    else {
        let notice = context! { kind => "bad", text => "Choose one of the buttons." };
        return show(&state, &session, notice).await;
    };
    let request = Request::post(*path)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(*body))
        .map_err(|e| internal(e.to_string()))?;
    let response = emulator
        .oneshot(request)
        .await
        .map_err(|e| internal(e.to_string()))?;
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1024 * 1024)
        .await
        .map_err(|e| internal(e.to_string()))?;
    let answer: serde_json::Value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
    let notice = if status.is_success() {
        context! { kind => "ok", text => format!("Done: {label}. Executions it starts appear below."), body => Value::from_serialize(&answer) }
    } else {
        context! { kind => "bad", text => format!("The emulator refused ({status})."), body => Value::from_serialize(&answer) }
    };
    show(&state, &session, notice).await
}

fn internal(detail: String) -> UiError {
    UiError::from(dialbridge_core::Error::Internal(format!(
        "dev panel: {detail}"
    )))
}
