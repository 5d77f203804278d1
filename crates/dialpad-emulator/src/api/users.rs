//! `GET /api/v2/users/{id}`: a user of the caller's company as `schemas.user.UserProto`;
//! `me` is the token's user (OAuth consent or user-level API key).

use axum::extract::{Path, State};
use axum::Json;

use super::auth::Caller;
use crate::error::ApiError;
use crate::ids::UserId;
use crate::world::User;
use crate::Emulator;

pub async fn get(
    State(emulator): State<Emulator>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    let user_id = if id == "me" {
        caller
            .user_id
            .ok_or_else(|| ApiError::BadRequest("'me' requires a user-level token".into()))?
    } else {
        id.parse::<UserId>()
            .map_err(|_| ApiError::NotFound(format!("user {id} not found")))?
    };
    emulator
        .store()
        .world
        .user(user_id)
        .filter(|user| user.company_id == caller.company_id)
        .cloned()
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("user {user_id} not found")))
}
