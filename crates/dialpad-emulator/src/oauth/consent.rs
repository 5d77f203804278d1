//! The browser side of authorize: `GET /oauth2/authorize` shows the consent page, and its form
//! posts to the relative URL `decision` (so it works under any prefix), which redirects.

use std::time::Instant;

use axum::extract::rejection::FormRejection;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use super::authorize::{decide, validate, AuthorizeParams, Decision, Refusal};
use super::found;
use crate::ids::UserId;
use crate::pages::{ConsentPage, ScopeLine, UserChoice};
use crate::scopes;
use crate::Emulator;

pub async fn page(State(emulator): State<Emulator>, RawQuery(query): RawQuery) -> Response {
    let mut store = emulator.store();
    let params = AuthorizeParams::from_query(query.as_deref().unwrap_or(""));
    let request = match params.and_then(|params| validate(&store.apps, params)) {
        Ok(request) => request,
        Err(Refusal::Page(message)) => return emulator.pages().error(&message),
        Err(Refusal::Redirect(location)) => return found(&location),
    };
    let default_user = store.world.default_user().map(|u| u.id);
    let users = store
        .world
        .users
        .iter()
        .map(|user| UserChoice {
            id: user.id.to_string(),
            label: format!(
                "{} — {}",
                user.display_name,
                store
                    .world
                    .company(user.company_id)
                    .map(|c| c.name.as_str())
                    .unwrap_or("?")
            ),
            selected: Some(user.id) == default_user,
        })
        .collect();
    let scopes = request
        .scopes
        .iter()
        .map(|name| ScopeLine {
            name: name.clone(),
            description: scopes::description(name).unwrap_or_default().to_owned(),
        })
        .collect();
    let page = ConsentPage {
        app_name: request.app_name.clone(),
        scopes,
        users,
        redirect_host: request
            .redirect_to
            .host_str()
            .unwrap_or_default()
            .to_owned(),
        request_id: store.pending.insert(request, Instant::now()),
    };
    drop(store);
    emulator.pages().consent(&page)
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    request_id: String,
    decision: Decision,
    user_id: Option<UserId>,
}

pub async fn decision(
    State(emulator): State<Emulator>,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> Response {
    let pages = emulator.pages();
    let Ok(Form(form)) = form else {
        return pages.error("malformed consent form");
    };
    let now = Instant::now();
    let mut store = emulator.store();
    let Some(request) = store.pending.take(&form.request_id, now) else {
        return pages.error("this authorization request has expired or was already answered");
    };
    match decide(&mut store, &request, form.decision, form.user_id, now) {
        Ok(location) => found(&location),
        Err(message) => pages.error(&message),
    }
}
