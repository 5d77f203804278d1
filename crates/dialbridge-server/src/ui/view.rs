//! Rendering: the dashboard's templates (embedded), the one `render`, and `UiError`, which shows
//! a domain error as a page in the domain's words (never the API's route hints).

use std::sync::LazyLock;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use dialbridge_core::Error;
use minijinja::{context, Environment, UndefinedBehavior, Value};

use crate::error::ApiError;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        (
            "layout.html",
            include_str!("../../templates/ui/layout.html"),
        ),
        (
            "macros.html",
            include_str!("../../templates/ui/macros.html"),
        ),
        (
            "sign_in.html",
            include_str!("../../templates/ui/sign_in.html"),
        ),
        ("error.html", include_str!("../../templates/ui/error.html")),
        ("app.html", include_str!("../../templates/ui/app.html")),
        (
            "accounts.html",
            include_str!("../../templates/ui/accounts.html"),
        ),
        (
            "account.html",
            include_str!("../../templates/ui/account.html"),
        ),
        (
            "events.html",
            include_str!("../../templates/ui/events.html"),
        ),
        (
            "executions.html",
            include_str!("../../templates/ui/executions.html"),
        ),
        (
            "execution.html",
            include_str!("../../templates/ui/execution.html"),
        ),
        (
            "playground.html",
            include_str!("../../templates/ui/playground.html"),
        ),
        (
            "workflows.html",
            include_str!("../../templates/ui/workflows.html"),
        ),
        (
            "workflow.html",
            include_str!("../../templates/ui/workflow.html"),
        ),
        (
            "editor.html",
            include_str!("../../templates/ui/editor.html"),
        ),
        ("dev.html", include_str!("../../templates/ui/dev.html")),
        (
            "webhooks.html",
            include_str!("../../templates/ui/webhooks.html"),
        ),
        (
            "webhook.html",
            include_str!("../../templates/ui/webhook.html"),
        ),
    ] {
        env.add_template(name, source)
            .expect("built-in templates parse");
    }
    // `a.b` on an absent `a` is absent too: optional page values need no guards.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.add_filter("pretty", |value: Value| {
        serde_json::to_string_pretty(&value).unwrap_or_default()
    });
    env.add_filter("urlencode", |value: String| -> String {
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
    });
    env
});

/// The page `name` with `ctx`; a template that fails to render is logged and answers a
/// plain 500 page.
pub fn render(name: &str, ctx: Value) -> Response {
    match TEMPLATES.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!("dashboard page {name} failed to render: {e:#}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("This page could not be rendered; the server log has the details."),
            )
                .into_response()
        }
    }
}

/// A failed dashboard request, shown as a page.
#[derive(Debug)]
pub struct UiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

impl UiError {
    pub fn not_found() -> Self {
        UiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: "There is no such page in the dashboard.".into(),
            details: None,
        }
    }

    /// The `{field, message}` problems of an `invalid_input`, or the scope of an
    /// `invalid_scope` under the field `scopes`, to show beside their fields.
    pub fn field_errors(&self) -> Vec<(String, String)> {
        match (self.code, &self.details) {
            ("invalid_scope", Some(details)) => vec![("scopes".into(), self.message.clone())]
                .into_iter()
                .chain(
                    details["scope"]
                        .as_str()
                        .map(|s| ("scope".into(), s.into())),
                )
                .collect(),
            (_, Some(serde_json::Value::Array(items))) => items
                .iter()
                .filter_map(|item| {
                    Some((
                        item["field"].as_str()?.to_owned(),
                        item["message"].as_str()?.to_owned(),
                    ))
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The field errors as a template value: `{field: message}`.
    pub fn fields(&self) -> Value {
        Value::from_iter(self.field_errors())
    }
}

impl From<Error> for UiError {
    fn from(err: Error) -> Self {
        let domain_message = err.to_string();
        let api = ApiError::from(err);
        let message = if api.status.is_server_error() && api.code == "internal_error" {
            api.message
        } else {
            domain_message
        };
        UiError {
            status: api.status,
            code: api.code,
            message,
            details: api.details,
        }
    }
}

impl From<ApiError> for UiError {
    fn from(api: ApiError) -> Self {
        UiError {
            status: api.status,
            code: api.code,
            message: api.message,
            details: api.details,
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let mut response = render(
            "error.html",
            context! { message => self.message, code => self.code, status => self.status.as_u16() },
        );
        *response.status_mut() = self.status;
        response
    }
}
