//! The few HTML pages a customer's browser sees: the connect portal, the result of a connect
//! attempt and errors — in the vendor's brand (`Brand`) and in words a customer understands:
//! no error codes, no environment names, nothing of dialbridge's own vocabulary (the precise
//! reason waits, folded, for the vendor's support). minijinja escapes every value.

use std::sync::LazyLock;

use axum::response::{Html, IntoResponse, Response};
use dialbridge_core::{scope_in_plain_words, Branding, CallbackOutcome, PortalView};
use minijinja::{context, Environment};
use serde::Serialize;

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

/// Who a customer page says is asking: the vendor, by the brand it set; until it sets one,
/// the neutral brand's colours and title, and "the app you came from" wherever the words name
/// someone (the neutral title, "Connect Dialpad", is no one to ask for a new link).
#[derive(Serialize)]
pub struct Brand {
    #[serde(flatten)]
    branding: Branding,
    /// Whether the vendor set it: only then does its name follow the page's title and say
    /// whose support the folded details are for.
    named: bool,
    /// Who asks, in the middle of a sentence ("ask {who} for a new link").
    who: String,
    /// The same at the start of one.
    who_at_start: String,
}

impl Brand {
    fn of(vendor: Option<Branding>) -> Self {
        match vendor {
            Some(branding) => Brand {
                who: branding.display_name.clone(),
                who_at_start: branding.display_name.clone(),
                named: true,
                branding,
            },
            None => Self::neutral(),
        }
    }

    /// Before the vendor sets its brand, or when it cannot be read.
    pub fn neutral() -> Self {
        Brand {
            branding: Branding::default(),
            named: false,
            who: "the app you came from".to_owned(),
            who_at_start: "The app you came from".to_owned(),
        }
    }
}

/// The vendor's brand for a customer page; the neutral one when it cannot be read (the page
/// is still worth showing).
pub async fn brand(state: &AppState) -> Brand {
    match state.platform.app.vendor_branding().await {
        Ok(vendor) => Brand::of(vendor),
        Err(e) => {
            tracing::warn!("branding unavailable for a customer page: {e}");
            Brand::neutral()
        }
    }
}

/// What a failed attempt means for the customer, by its code: a headline and what to do.
fn in_plain_words(code: &str, brand: &Brand) -> (&'static str, String) {
    let (who, who_at_start) = (&brand.who, &brand.who_at_start);
    match code {
        "access_denied" => (
            "Dialpad was not connected",
            "You chose not to allow access, so nothing was shared. You can try again whenever you like.".into(),
        ),
        "invalid_connect_link" => (
            "This link no longer works",
            format!("It has expired or has already been used. Ask {who} for a new link."),
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
            format!("{who_at_start} has not finished setting up its Dialpad connection. Please let {who} know."),
        ),
        _ => (
            "Dialpad was not connected",
            format!("Something went wrong while connecting. Please try again, or contact {who} if it keeps happening."),
        ),
    }
}

/// An error page; `retry` is where "try again" leads (the portal, for a refused API key).
pub fn error(brand: &Brand, err: ApiError, retry: Option<&str>) -> Response {
    let (headline, advice) = in_plain_words(err.code, brand);
    let body = render(
        "error.html",
        context! { brand, headline, advice, retry, detail => err.message },
    );
    (err.status, Html(body)).into_response()
}

pub fn result(brand: &Brand, outcome: &CallbackOutcome) -> String {
    let failure = outcome.failure.as_ref().map(|(code, message)| {
        let (headline, advice) = in_plain_words(code, brand);
        context! { headline, advice, detail => message }
    });
    render("result.html", context! { brand, failure })
}

pub fn portal(brand: &Brand, view: &PortalView, token: &str) -> String {
    let shared: Vec<&str> = view
        .scopes
        .iter()
        .filter_map(|s| scope_in_plain_words(s))
        .collect();
    render(
        "portal.html",
        context! {
            status => view.status,
            brand,
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
    use dialbridge_core::{AccountId, Environment, LinkStatus};

    fn acme_crm() -> Brand {
        Brand::of(Some(Branding {
            display_name: "Acme CRM".into(),
            support_url: Some("mailto:help@acme.example".into()),
            ..Branding::default()
        }))
    }

    fn portal_view(status: LinkStatus) -> PortalView {
        PortalView {
            status,
            account_id: AccountId::parse("globex").unwrap(),
            account_name: Some("Globex".into()),
            environment: Environment::Custom,
            scopes: vec!["offline_access".into()],
        }
    }

    async fn page_of(response: Response) -> String {
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[test]
    fn every_template_renders_and_escapes() {
        let brand = Brand::of(Some(Branding {
            display_name: "<script>x</script>".into(),
            ..Branding::default()
        }));
        let html = render(
            "error.html",
            context! { brand, headline => "h", advice => "a", detail => "d" },
        );
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>x"));
    }

    #[tokio::test]
    async fn customers_see_no_codes_and_no_product_name() {
        let err = ApiError::new(
            "invalid_connect_link",
            "connect link unknown, expired or used",
        );
        let response = error(&acme_crm(), err, None);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = page_of(response).await;
        assert!(page.contains("This link no longer works"), "{page}");
        for word in ["dialbridge", "invalid_connect_link", "custom"] {
            assert!(!page.to_lowercase().contains(word), "{word} shown: {page}");
        }
    }

    /// The vendor's name is who asks, who to ask and whose support reads the details.
    #[tokio::test]
    async fn a_branded_page_names_the_vendor() {
        let open = portal(&acme_crm(), &portal_view(LinkStatus::Open), "t");
        for words in [
            "<title>Connect Dialpad — Acme CRM</title>",
            "Acme CRM would like to connect to Dialpad for <strong>Globex</strong>.",
            "Acme CRM will be able to:",
            "Acme CRM never sees your password.",
            "Contact Acme CRM support",
        ] {
            assert!(open.contains(words), "{words} not in {open}");
        }
        let expired = portal(&acme_crm(), &portal_view(LinkStatus::Expired), "t");
        assert!(expired.contains("Ask Acme CRM for a new one."), "{expired}");
        let err = ApiError::new("invalid_connect_link", "connect link expired");
        let page = page_of(error(&acme_crm(), err, None)).await;
        assert!(page.contains("Ask Acme CRM for a new link."), "{page}");
        assert!(page.contains("Details for Acme CRM support"), "{page}");
    }

    /// Until the vendor sets a brand, the neutral title heads the page but names no one: no
    /// "Connect Dialpad would like to connect to Dialpad", no "ask Connect Dialpad".
    #[tokio::test]
    async fn an_unbranded_page_names_no_one_by_the_neutral_title() {
        let neutral = Brand::neutral();
        let open = portal(&neutral, &portal_view(LinkStatus::Open), "t");
        let used = portal(&neutral, &portal_view(LinkStatus::Used), "t");
        let refused = page_of(error(
            &neutral,
            ApiError::new("unauthorized_client", "Dialpad does not know the client"),
            None,
        ))
        .await;
        let expired = page_of(error(
            &neutral,
            ApiError::new("invalid_connect_link", "connect link expired"),
            None,
        ))
        .await;
        for (page, words) in [
            (&open, "<title>Connect Dialpad</title>"),
            (&open, "The app you came from would like to connect to Dialpad for <strong>Globex</strong>."),
            (&open, "The app you came from will be able to:"),
            (&open, "the app you came from never sees your password."),
            (&used, "To connect again, ask the app you came from for a new link."),
            (&expired, "Ask the app you came from for a new link."),
            (&refused, "The app you came from has not finished setting up its Dialpad connection. Please let the app you came from know."),
            (&refused, "Details for support"),
        ] {
            assert!(page.contains(words), "{words} not in {page}");
        }
        for page in [&open, &used, &refused, &expired] {
            let page = page.replace("<title>Connect Dialpad</title>", "");
            assert!(
                !page.contains("Connect Dialpad "),
                "the neutral title named as someone: {page}"
            );
        }
    }
}
