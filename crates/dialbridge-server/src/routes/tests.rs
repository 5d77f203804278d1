//! The router and the document list the same paths: a route registered without its
//! `#[utoipa::path]` (a plain `.route(…)`, a merged `Router`) fails here. Which methods each
//! path answers is checked against the document by `tests/openapi.rs`. Every admin API route
//! that changes something is recorded in the audit log or said not to be (`audit.rs`).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::http::Method;
use dialbridge_core::{Cipher, MasterKey, Platform, Settings};
use dialbridge_storage::Database;
use url::Url;

use crate::state::AppState;
use crate::{audit, openapi};

/// The router's `Debug` text and the OpenAPI document, on a database of their own.
async fn router_and_document() -> (String, serde_json::Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Database::connect(&format!("sqlite://{}/dialbridge.db", dir.path().display()))
        .await
        .expect("database");
    db.migrate().await.expect("migrations");
    let settings = Settings::new(Url::parse("http://127.0.0.1:8080").expect("url"));
    let cipher = Cipher::new(&MasterKey::generate());
    let platform = Platform::new(Arc::new(db), cipher.clone(), settings).expect("platform");
    let dashboard = crate::ui::Dashboard::new(cipher, false, None);
    let (router, api) =
        super::routes(&AppState::new(platform, dashboard, Default::default())).split_for_parts();
    (
        format!("{router:?}"),
        openapi::finish(api, "http://127.0.0.1:8080"),
    )
}

#[tokio::test]
async fn every_route_the_router_serves_is_in_the_document() {
    let (router, document) = router_and_document().await;
    let served = served_paths(&router);
    assert!(
        served.contains("/healthz") && served.len() >= 30,
        "{served:?}"
    );
    let documented: BTreeSet<String> = document["paths"]
        .as_object()
        .expect("paths")
        .keys()
        // One path per action is the document's own expansion of `…/actions/{key}`.
        .filter(|path| !path.contains("/actions/") || path.ends_with("{key}"))
        .cloned()
        .collect();
    assert_eq!(served, documented);
}

#[tokio::test]
async fn every_change_to_the_admin_api_is_audited_or_said_not_to_be() {
    let (_, document) = router_and_document().await;
    let mut unaccounted = Vec::new();
    let mut changing = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        // One path per action is the document's own expansion of `…/actions/{key}`.
        if !path.starts_with("/api/v1/") || (path.contains("/actions/") && !path.ends_with("{key}"))
        {
            continue;
        }
        for method in [Method::PUT, Method::POST, Method::PATCH, Method::DELETE] {
            if item.get(method.as_str().to_lowercase()).is_none() {
                continue;
            }
            changing += 1;
            if !audit::accounted_for(&method, path) {
                unaccounted.push(format!("{method} {path}"));
            }
        }
    }
    assert!(changing >= 20, "{changing} changing routes found");
    assert!(
        unaccounted.is_empty(),
        "add these to audit.rs's change_of (or NOT_AUDITED, with the reason): {unaccounted:#?}"
    );
}

/// The paths in a router's `Debug` text (axum prints each route's path there), less the
/// fallbacks' (which answer "no such route"), with `{*name}` written as OpenAPI's `{name}`.
fn served_paths(debug: &str) -> BTreeSet<String> {
    let routes = debug.split("fallback_router").next().unwrap_or_default();
    routes
        .split("RouteId(")
        .skip(1)
        .filter_map(|rest| rest.split_once("): \"")?.1.split('"').next())
        .filter(|path| !path.contains("__private__axum"))
        .map(|path| path.replace("{*", "{"))
        .collect()
}
