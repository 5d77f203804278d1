//! The few HTML pages a customer's browser sees: the connect portal, the result of a connect
//! attempt and errors — in the vendor's brand (`Branding`) and in words a customer understands:
//! no error codes, no environment names, nothing of dialbridge's own vocabulary (the precise
//! reason waits, folded, for the vendor's support). minijinja escapes every value.

use std::sync::LazyLock;

use axum::response::{Html, IntoResponse, Response};
use dialbridge_core::{scope_in_plain_words, Branding, CallbackOutcome, PortalView};
use minijinja::{context, Environment};

use crate::error::ApiError;
use crate::state::AppState;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("layout.html", include_str!("../templates/layout.html")),
        ("error.html", include_str!("../templates/error.html")),
        ("result.html", include_str!("../templates/result.html")),
        ("portal.html", include_str!("../templates/portal.html")),
    ] {
        env.add_template(name, source)
            .expect("built-in templates parse");
    }
    env
});

fn render(name: &str, ctx: minijinja::Value) -> String {
    TEMPLATES
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            tracing::error!("page {name} failed to render: {e}");
            "This page could not be shown. Please try again later.".to_owned()
        })
}

/// The vendor's brand for a customer page; the neutral one when it cannot be read (the page
/// is still worth showing).
pub async fn brand(state: &AppState) -> Branding {
    state.platform.app.branding().await.unwrap_or_else(|e| {
        tracing::warn!("branding unavailable for a customer page: {e}");
        Branding::default()
    })
}

/// What a failed attempt means for the customer, by its code: a headline and what to do.
fn in_plain_words(code: &str, vendor: &str) -> (&'static str, String) {
    match code {
        "access_denied" => (
            "Dialpad was not connected",
            "You chose not to allow access, so nothing was shared. You can try again whenever you like.".into(),
        ),
        "invalid_connect_link" => (
            "This link no longer works",
            format!("It has expired or has already been used. Ask {vendor} for a new link."),
        ),
        "invalid_credentials" | "invalid_input" => (
            "Dialpad did not accept that API key",
            "Check that you copied the whole key from Dialpad, then try again.".into(),
        ),
        "dialpad_unavailable" | "dialpad_error" | "rate_limited" | "timeout" => (
            "Dialpad could not be reached",
            "Dialpad did not answer just now. Please try again in a few minutes.".into(),
        ),
        "invalid_scope" | "environment_not_configured" | "unauthorized_client" => (
            "The connection is not set up yet",
            format!("{vendor} has not finished setting up its Dialpad connection. Please let {vendor} know."),
        ),
        _ => (
            "Dialpad was not connected",
            format!("Something went wrong while connecting. Please try again, or contact {vendor} if it keeps happening."),
        ),
    }
}

/// An error page; `retry` is where "try again" leads (the portal, for a refused API key).
pub fn error(branding: &Branding, err: ApiError, retry: Option<&str>) -> Response {
    let (headline, advice) = in_plain_words(err.code, &branding.display_name);
    let body = render(
        "error.html",
        context! { brand => branding, headline, advice, retry, detail => err.message },
    );
    (err.status, Html(body)).into_response()
}

pub fn result(branding: &Branding, outcome: &CallbackOutcome) -> String {
    let failure = outcome.failure.as_ref().map(|(code, message)| {
        let (headline, advice) = in_plain_words(code, &branding.display_name);
        context! { headline, advice, detail => message }
    });
    render("result.html", context! { brand => branding, failure })
}

pub fn portal(branding: &Branding, view: &PortalView, token: &str) -> String {
    let shared: Vec<&str> = view
        .scopes
        .iter()
        .filter_map(|s| scope_in_plain_words(s))
        .collect();
    render(
        "portal.html",
        context! {
            status => view.status,
            brand => branding,
            account_name => view.account_name,
            shared,
            token,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn every_template_renders_and_escapes() {
        let brand = Branding {
            display_name: "<script>x</script>".into(),
            ..Branding::default()
        };
        let html = render(
            "error.html",
            context! { brand => brand, headline => "h", advice => "a" },
        );
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>x"));
    }

    #[test]
    fn customers_see_no_codes_and_no_product_name() {
        let brand = Branding {
            display_name: "Acme CRM".into(),
            ..Branding::default()
        };
        let err = ApiError::new(
            "invalid_connect_link",
            "connect link unknown, expired or used",
        );
        let response = error(&brand, err, None);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = render(
            "error.html",
            context! { brand => &brand, headline => "This link no longer works", advice => "x" },
        );
        for word in ["dialbridge", "invalid_connect_link", "custom"] {
            assert!(!page.to_lowercase().contains(word), "{word} shown: {page}");
        }
    }
}
