//! Token faults: expire every access token at once, or revoke every grant of a company (the
//! customer uninstalled the app); and which refresh tokens would still be accepted.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::ControlError;
use crate::ids::CompanyId;
use crate::Emulator;

pub async fn expire(State(emulator): State<Emulator>) -> StatusCode {
    emulator
        .store()
        .tokens
        .expire_all_access_tokens(Instant::now());
    StatusCode::NO_CONTENT
}

pub async fn revoke_company(
    State(emulator): State<Emulator>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let not_found = || ControlError::NotFound(format!("unknown company {id}"));
    let company: CompanyId = id.parse().map_err(|_| not_found())?;
    let mut store = emulator.store();
    store.world.company(company).ok_or_else(not_found)?;
    let revoked = store.tokens.revoke_company(company);
    Ok(Json(json!({ "revoked_grants": revoked })))
}

/// `GET /_control/tokens/refresh`: every refresh token a refresh would accept now, with the
/// app and company of its grant (tests check that no stale one stays usable).
pub async fn live_refresh_tokens(State(emulator): State<Emulator>) -> Json<Value> {
    let store = emulator.store();
    let items: Vec<Value> = store
        .tokens
        .live_refresh_tokens()
        .into_iter()
        .map(|(token, grant)| {
            json!({
                "refresh_token": token,
                "client_id": grant.client_id,
                "company_id": grant.company_id.to_string(),
            })
        })
        .collect();
    Json(json!({ "items": items }))
}
