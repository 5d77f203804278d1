//! Who is calling the API: an OAuth access token or an API key, from `Authorization: Bearer`
//! or the `apikey` query parameter. Anything else is a 401 in Dialpad's shape.

use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Deserialize;

use crate::authorization;
use crate::error::ApiError;
use crate::tokens::{Principal, Unauthorized};
use crate::Emulator;

/// The authenticated caller of an API v2 request.
#[derive(Debug)]
pub struct Caller(pub Principal);

#[derive(Deserialize)]
struct ApiKeyQuery {
    apikey: Option<String>,
}

impl FromRequestParts<Emulator> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, emulator: &Emulator) -> Result<Self, ApiError> {
        let from_query = || {
            serde_urlencoded::from_str::<ApiKeyQuery>(parts.uri.query().unwrap_or(""))
                .ok()
                .and_then(|q| q.apikey)
        };
        let token = authorization::bearer(&parts.headers)
            .map(str::to_owned)
            .or_else(from_query)
            .ok_or(Unauthorized::Missing);
        let store = emulator.store();
        token
            .and_then(|token| store.tokens.principal(&token, Instant::now()))
            .map(Caller)
            .map_err(|err| ApiError::Unauthorized(err.to_string()))
    }
}
