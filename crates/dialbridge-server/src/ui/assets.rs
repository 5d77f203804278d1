//! The dashboard's static files, embedded in the binary: its stylesheet and script, and htmx
//! with its licence. Nothing a page loads comes from anywhere else.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use super::UiError;

const ASSETS: &[(&str, &str, &str)] = &[
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/ui/dashboard.css"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/ui/dashboard.js"),
    ),
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/ui/htmx.min.js"),
    ),
    (
        "htmx-LICENSE.txt",
        "text/plain; charset=utf-8",
        include_str!("../../assets/ui/htmx-LICENSE.txt"),
    ),
];

/// `GET /ui/assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => (
            [
                (CONTENT_TYPE, *content_type),
                (CACHE_CONTROL, "public, max-age=3600"),
            ],
            *body,
        )
            .into_response(),
        None => UiError::not_found().into_response(),
    }
}
