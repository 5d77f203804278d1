//! `GET /api/v2/company`: the caller's company as `schemas.company.CompanyProto`.

use serde_json::Value;

use super::request::{to_json, ApiRequest};
use crate::error::ApiError;
use crate::store::Store;

pub fn get(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let company = store
        .world
        .company_proto(request.caller.company_id)
        .ok_or_else(|| ApiError::NotFound("company not found".into()))?;
    to_json(&company)
}
