//! `POST /_control/apps`: registers an OAuth app, as Dialpad does when a vendor's app request
//! is accepted.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use url::Url;

use super::ControlError;
use crate::apps::App;
use crate::Emulator;

pub async fn create(
    State(emulator): State<Emulator>,
    body: Result<Json<App>, JsonRejection>,
) -> Result<(StatusCode, Json<App>), ControlError> {
    let Json(app) = body?;
    if app.client_id.is_empty() || app.client_secret.is_empty() {
        return Err(ControlError::BadRequest(
            "client_id and client_secret must not be empty".into(),
        ));
    }
    if let Some(bad) = app.redirect_uris.iter().find(|u| Url::parse(u).is_err()) {
        return Err(ControlError::BadRequest(format!(
            "redirect_uri {bad:?} is not an absolute URI"
        )));
    }
    emulator.store().apps.register(app.clone());
    Ok((StatusCode::CREATED, Json(app)))
}
