//! What the emulator saw: `GET /_control/stats` (request counters) and the log of requests on
//! Dialpad's routes (`GET` and `DELETE /_control/requests`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::record::RecordedRequest;
use crate::stats::Stats;
use crate::Emulator;

/// `GET /_control/operations`: which of the spec's operations the emulator implements (the
/// others answer 501).
pub async fn operations() -> Json<Value> {
    let implemented = crate::api::implemented_operations();
    Json(json!({
        "spec_operations": dialpad_spec::spec().operations().len(),
        "implemented": implemented,
    }))
}

pub async fn stats(State(emulator): State<Emulator>) -> Json<Stats> {
    Json(emulator.store().stats.clone())
}

pub async fn requests(State(emulator): State<Emulator>) -> Json<Vec<RecordedRequest>> {
    Json(emulator.store().log.entries())
}

pub async fn clear_requests(State(emulator): State<Emulator>) -> StatusCode {
    emulator.store().log.clear();
    StatusCode::NO_CONTENT
}
