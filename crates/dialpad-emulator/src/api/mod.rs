//! Dialpad's API v2 as far as the emulator has it; unknown paths under `/api/v2` answer 404
//! in Dialpad's error shape. One file per resource.

mod auth;
mod company;
mod users;

use axum::http::{Method, Uri};
use axum::routing::{any, get};
use axum::Router;

use crate::error::ApiError;
use crate::Emulator;

pub fn routes() -> Router<Emulator> {
    Router::new()
        .route("/api/v2/company", get(company::get))
        .route("/api/v2/users/{id}", get(users::get))
        .route("/api/v2/{*rest}", any(unknown))
}

async fn unknown(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("the emulator has no {method} {}", uri.path()))
}
