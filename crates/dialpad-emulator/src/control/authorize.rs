//! `POST /_control/authorize`: the consent page without a browser. Takes the authorize URL a
//! browser would be sent to and answers where the browser would be redirected.

use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::ControlError;
use crate::ids::UserId;
use crate::oauth::{decide, validate, AuthorizeParams, Decision, Refusal};
use crate::Emulator;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeBody {
    /// A full authorize URL; only its query matters.
    url: String,
    /// Who signs in; default: the first company's admin.
    user_id: Option<UserId>,
    /// Default: approve.
    decision: Option<Decision>,
}

#[derive(Serialize)]
pub struct Location {
    location: String,
}

pub async fn authorize(
    State(emulator): State<Emulator>,
    body: Result<Json<AuthorizeBody>, JsonRejection>,
) -> Result<Json<Location>, ControlError> {
    let Json(body) = body?;
    let query = body
        .url
        .split_once('?')
        .map(|(_, query)| query.split('#').next().unwrap_or(""))
        .unwrap_or("");
    let mut store = emulator.store();
    let request = match AuthorizeParams::from_query(query).and_then(|p| validate(&store.apps, p)) {
        Ok(request) => request,
        Err(Refusal::Page(message)) => return Err(ControlError::BadRequest(message)),
        Err(Refusal::Redirect(location)) => {
            return Ok(Json(Location {
                location: location.into(),
            }))
        }
    };
    let decision = body.decision.unwrap_or(Decision::Approve);
    let location = decide(&mut store, &request, decision, body.user_id, Instant::now())
        .map_err(ControlError::BadRequest)?;
    Ok(Json(Location {
        location: location.into(),
    }))
}
