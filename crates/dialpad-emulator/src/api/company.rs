//! `GET /api/v2/company`: the caller's company as `schemas.company.CompanyProto`, for any
//! caller of the company (OAuth token, company or user API key).

use axum::extract::State;
use axum::Json;

use super::auth::Caller;
use crate::error::ApiError;
use crate::world::CompanyProto;
use crate::Emulator;

pub async fn get(
    State(emulator): State<Emulator>,
    Caller(caller): Caller,
) -> Result<Json<CompanyProto>, ApiError> {
    emulator
        .store()
        .world
        .company_proto(caller.company_id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("company not found".into()))
}
