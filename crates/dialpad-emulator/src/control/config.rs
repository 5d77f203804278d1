//! `GET` and `PATCH /_control/config`: token lifetime and rotation, rate limits, faults and
//! held refresh answers,
//! changed at run time (tokens already issued keep their expiry).

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;

use super::ControlError;
use crate::config::ConfigView;
use crate::Emulator;

pub async fn get(State(emulator): State<Emulator>) -> Json<ConfigView> {
    Json(emulator.store().config.view())
}

pub async fn patch(
    State(emulator): State<Emulator>,
    body: Result<Json<ConfigView>, JsonRejection>,
) -> Result<Json<ConfigView>, ControlError> {
    let Json(patch) = body?;
    let mut store = emulator.store();
    store
        .config
        .apply(&patch)
        .map_err(ControlError::BadRequest)?;
    if patch.fault_every_nth.is_some() {
        store.fault_counter = 0;
    }
    if patch.hold_refresh_requests.is_some() {
        store.refresh_arrivals = 0;
    }
    Ok(Json(store.config.view()))
}
