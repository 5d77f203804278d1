//! The router and the document list the same paths: a route registered without its
//! `#[utoipa::path]` (a plain `.route(…)`, a merged `Router`) fails here. Which methods each
//! path answers is checked against the document by `tests/openapi.rs`.

use std::collections::BTreeSet;
use std::sync::Arc;

use dialbridge_core::{Cipher, MasterKey, Platform, Settings};
use dialbridge_storage::Database;
use url::Url;

use crate::openapi;
use crate::state::AppState;

#[tokio::test]
async fn every_route_the_router_serves_is_in_the_document() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Database::connect(&format!("sqlite://{}/dialbridge.db", dir.path().display()))
        .await
        .expect("database");
    db.migrate().await.expect("migrations");
    let settings = Settings::new(Url::parse("http://127.0.0.1:8080").expect("url"));
    let platform = Platform::new(Arc::new(db), Cipher::new(&MasterKey::generate()), settings)
        .expect("platform");
    let (router, api) = super::routes(&AppState::new(platform)).split_for_parts();

    let served = served_paths(&format!("{router:?}"));
    assert!(
        served.contains("/healthz") && served.len() >= 30,
        "{served:?}"
    );
    let document = openapi::finish(api, "http://127.0.0.1:8080");
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
