//! `GET /api/docs`: a browsable API reference that works with no network access. It is Swagger
//! UI, vendored under `assets/swagger-ui` and embedded in the binary, reading the document from
//! `GET /api/docs/openapi.json`: the same document as `/api/v1/openapi.json`, but served
//! without the API key, since it holds only the API's shape (no secret, no account). "Try it
//! out" calls still need the key, typed into the page's "Authorize" dialog.

use std::sync::LazyLock;

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use crate::error::{ApiError, ErrorBody};
use crate::extract::Path;
use crate::openapi::Document;

/// The vendored `swagger-ui-dist` (see `assets/swagger-ui/README.md`).
const SWAGGER_UI_VERSION: &str = "5.35.0";

/// Scripts, styles and requests from this host only: the page cannot reach another.
const PAGE_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// Asset URLs carry the version they belong to, so they can be cached for good.
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

static PAGE: LazyLock<String> = LazyLock::new(|| {
    include_str!("../assets/api-docs.html")
        .replace("{swagger_ui}", SWAGGER_UI_VERSION)
        .replace("{dialbridge}", env!("CARGO_PKG_VERSION"))
});

/// The API reference page (Swagger UI).
#[utoipa::path(get, path = "/api/docs", tag = "meta", operation_id = "api_docs",
    responses((status = OK, description = "The page; its scripts and styles come from `/api/docs/{asset}`", body = String, content_type = "text/html")))]
pub async fn page() -> impl IntoResponse {
    let headers = [
        (CONTENT_TYPE, "text/html; charset=utf-8"),
        (CACHE_CONTROL, "no-cache"),
        (CONTENT_SECURITY_POLICY, PAGE_POLICY),
    ];
    (headers, PAGE.as_str())
}

/// The OpenAPI document, without the API key (the page reads it from here).
#[utoipa::path(get, path = "/api/docs/openapi.json", tag = "meta", operation_id = "api_docs_openapi",
    responses(
        (status = OK, description = "The same document as `GET /api/v1/openapi.json`", body = Object),
        (status = INTERNAL_SERVER_ERROR, description = "`internal_error`: the document could not be built (a bug); the server log has the details", body = ErrorBody),
    ))]
pub async fn openapi(Extension(document): Extension<Document>) -> Response {
    document.response().await
}

/// The page's scripts and styles, embedded in the binary.
#[utoipa::path(get, path = "/api/docs/{asset}", tag = "meta", operation_id = "api_docs_asset",
    params(("asset" = String, Path, description = "`swagger-ui-bundle.js`, `swagger-ui.css` or `api-docs.js`")),
    responses(
        (status = OK, description = "The asset, cacheable for good (its URL carries its version)", content(
            (String = "text/javascript"), (String = "text/css"))),
        (status = NOT_FOUND, description = "`not_found`: no such asset", body = ErrorBody),
    ))]
pub async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (content_type, body): (&str, &'static [u8]) = match name.as_str() {
        "swagger-ui-bundle.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js"),
        ),
        "swagger-ui.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../assets/swagger-ui/swagger-ui.css"),
        ),
        "api-docs.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/api-docs.js"),
        ),
        _ => {
            return Err(ApiError::new(
                "not_found",
                format!("the API reference has no asset '{name}'"),
            ))
        }
    };
    let headers = [
        (CONTENT_TYPE, content_type),
        (CACHE_CONTROL, ASSET_CACHE),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    Ok((headers, body).into_response())
}
