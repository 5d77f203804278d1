//! The few HTML pages a customer's browser sees: the connect portal, the result of a connect
//! attempt and errors. minijinja escapes every value.

use std::sync::LazyLock;

use axum::response::{Html, IntoResponse, Response};
use dialbridge_core::{CallbackOutcome, PortalView};
use minijinja::{context, Environment};

use crate::error::ApiError;

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
            "dialbridge could not render this page; the server log has the details".to_owned()
        })
}

pub fn error(err: ApiError) -> Response {
    let body = render(
        "error.html",
        context! { message => err.message, code => err.code },
    );
    (err.status, Html(body)).into_response()
}

pub fn result(outcome: &CallbackOutcome) -> String {
    let (error, message) = match &outcome.failure {
        Some((code, message)) => (Some(code.as_str()), message.as_str()),
        None => (None, ""),
    };
    render(
        "result.html",
        context! { account_id => outcome.account_id.as_str(), error, message },
    )
}

pub fn portal(view: &PortalView, token: &str) -> String {
    render(
        "portal.html",
        context! {
            status => view.status,
            account_id => view.account_id.as_str(),
            account_name => view.account_name,
            environment => view.environment.as_str(),
            scopes => view.scopes,
            token,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_and_escapes() {
        let html = render(
            "error.html",
            context! { message => "<script>x</script>", code => "c" },
        );
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>x"));
    }
}
