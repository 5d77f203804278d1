//! The dashboard under `/ui`: server-rendered pages (minijinja) that call the same domain parts
//! as the JSON API, behind a session signed in with an admin API key. htmx (vendored, with its
//! licence) only makes pages nicer; every page reads without JavaScript.

mod accounts;
mod app_settings;
mod assets;
mod dev;
mod diagram;
mod events;
mod executions;
mod form;
mod playground;
mod session;
mod view;
mod webhooks;
mod workflows;

use std::sync::Arc;

use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;
use dialbridge_core::Cipher;

use crate::state::AppState;

pub use view::UiError;

/// What the dashboard needs beyond the domain: the key its session cookies are sealed with,
/// whether they must be `Secure`, and, in dev mode, the emulator the dev panel drives.
#[derive(Clone)]
pub struct Dashboard {
    pub(crate) cipher: Cipher,
    pub(crate) secure_cookies: bool,
    pub(crate) emulator: Option<Router>,
}

impl Dashboard {
    /// `cipher` seals session cookies (the master key's, so every process of a cluster reads
    /// them); `emulator` is `serve --dev`'s, for the dev panel.
    pub fn new(cipher: Cipher, secure_cookies: bool, emulator: Option<Router>) -> Arc<Self> {
        Arc::new(Dashboard {
            cipher,
            secure_cookies,
            emulator,
        })
    }
}

/// `/` and every `/ui` route.
pub fn router() -> Router<AppState> {
    let ui = Router::new()
        .route("/", get(|| async { Redirect::to("/ui/accounts") }))
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-out", post(session::sign_out))
        .route("/assets/{name}", get(assets::asset))
        .route("/app", get(app_settings::page))
        .route("/app/credentials", post(app_settings::put_credentials))
        .route("/app/scopes", post(app_settings::put_scopes))
        .route("/app/branding", post(app_settings::put_branding))
        .route("/accounts", get(accounts::list).post(accounts::create))
        .route("/accounts/{id}", get(accounts::page))
        .route("/accounts/{id}/connect-link", post(accounts::connect_link))
        .route("/accounts/{id}/check", post(accounts::check))
        .route("/accounts/{id}/disconnect", post(accounts::disconnect))
        .route("/accounts/{id}/reconcile", post(accounts::reconcile))
        .route("/events", get(events::list))
        .route("/executions", get(executions::list))
        .route("/executions/{id}", get(executions::page))
        .route("/executions/{id}/replay", post(executions::replay))
        .route("/executions/{id}/cancel", post(executions::cancel))
        .route("/playground", get(playground::page).post(playground::run))
        .route("/workflows", get(workflows::list))
        .route(
            "/workflows/{key}",
            get(workflows::page).post(workflows::save),
        )
        .route("/workflows/{key}/edit", get(workflows::editor))
        .route("/workflows/{key}/enable", post(workflows::enable))
        .route("/webhooks", get(webhooks::list).post(webhooks::put))
        .route("/webhooks/{id}", get(webhooks::deliveries))
        .route("/webhooks/{id}/test", post(webhooks::send_test))
        .route(
            "/webhooks/{id}/deliveries/{delivery_id}/retry",
            post(webhooks::retry),
        )
        .route("/dev", get(dev::page).post(dev::simulate))
        .fallback(|| async { UiError::not_found().into_response() });
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui") }))
        .nest("/ui", ui)
}
