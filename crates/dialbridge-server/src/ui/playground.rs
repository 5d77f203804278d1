//! The actions playground: pick an account and an action, fill the form generated from the
//! action's input schema (or raw JSON), run it, and read the output or the error with its code,
//! message and details.

use axum::extract::{Query, State};
use axum::response::Response;
use dialbridge_core::{action_catalog, require_action, AccountId, Error};
use minijinja::{context, Value};
use serde::Deserialize;

use super::form::{Form, Posted};
use super::session::Session;
use super::view::render;
use super::UiError;
use crate::state::AppState;

#[derive(Deserialize, Default)]
pub struct Choice {
    account_id: Option<String>,
    action: Option<String>,
}

/// `GET /ui/playground?account_id=&action=`.
pub async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(choice): Query<Choice>,
) -> Result<Response, UiError> {
    show(&state, &session, &choice, None, Value::from(())).await
}

/// The fields of an action's input schema, required ones first.
fn fields(schema: &serde_json::Value) -> Vec<Value> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str())
        .collect();
    let mut fields: Vec<(bool, Value)> = schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, property)| {
            let is_required = required.contains(&name.as_str());
            let kind = property["type"].as_str().unwrap_or("string");
            let options: Option<Vec<String>> = property["enum"].as_array().map(|values| {
                values
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect()
            });
            (
                is_required,
                context! {
                    name,
                    kind,
                    required => is_required,
                    description => property["description"].as_str(),
                    options,
                },
            )
        })
        .collect();
    fields.sort_by_key(|(required, _)| !required);
    fields.into_iter().map(|(_, f)| f).collect()
}

async fn show(
    state: &AppState,
    session: &Session,
    choice: &Choice,
    kept: Option<&Form>,
    result: Value,
) -> Result<Response, UiError> {
    let accounts = state.platform.connections.accounts(None, Some(200)).await?;
    let account_ids: Vec<&str> = accounts
        .items
        .iter()
        .map(|a| a.account_id.as_str())
        .collect();
    let catalog: Vec<Value> = action_catalog()
        .into_iter()
        .map(|a| context! { key => a.key, name => a.name })
        .collect();
    let action = match choice.action.as_deref().filter(|a| !a.is_empty()) {
        Some(key) => Some(require_action(key)?),
        None => None,
    };
    let action_view = action.as_ref().map(|a| {
        context! {
            key => a.key,
            name => a.name,
            description => a.description,
            required_scopes => a.required_scopes,
            fields => fields(&a.input_schema),
        }
    });
    let kept = kept.map(Form::kept).unwrap_or_default();
    Ok(render(
        "playground.html",
        session.page(
            "playground",
            context! {
                accounts => account_ids,
                catalog,
                account_id => choice.account_id,
                action => action_view,
                kept => Value::from_serialize(&kept),
                result,
            },
        ),
    ))
}

/// `POST /ui/playground`: runs the action with the form's input (`raw` JSON when given).
pub async fn run(
    State(state): State<AppState>,
    Posted { session, form }: Posted,
) -> Result<Response, UiError> {
    let choice = Choice {
        account_id: form.text("account_id"),
        action: form.text("action"),
    };
    let outcome = async {
        let account = AccountId::parse(choice.account_id.as_deref().unwrap_or_default())?;
        let key = choice.action.as_deref().unwrap_or_default();
        let action = require_action(key)?;
        let input = match form.text("raw") {
            Some(raw) => serde_json::from_str(&raw)
                .map_err(|e| Error::invalid("raw", format!("is not JSON: {e}")))?,
            None => form.json_object("in.", |field| {
                action.input_schema["properties"][field]["type"]
                    .as_str()
                    .map(str::to_owned)
            }),
        };
        state.platform.actions.run(&account, key, &input).await
    }
    .await;
    let result = match outcome {
        Ok(output) => context! { ok => true, output => Value::from_serialize(&output) },
        Err(e) => {
            let e = UiError::from(e);
            context! { ok => false, code => e.code, message => e.message, details => Value::from_serialize(&e.details) }
        }
    };
    show(&state, &session, &choice, Some(&form), result).await
}
