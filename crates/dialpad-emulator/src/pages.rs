//! The HTML a person sees: the consent page and the authorization error page, rendered with
//! minijinja (autoescaped, as the templates end in `.html`).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

const CONSENT: &str = "consent.html";
const ERROR: &str = "error.html";

#[derive(Debug)]
pub struct Pages {
    env: Environment<'static>,
}

/// What the consent page shows.
#[derive(Serialize)]
pub struct ConsentPage {
    pub app_name: String,
    pub scopes: Vec<ScopeLine>,
    pub users: Vec<UserChoice>,
    pub request_id: String,
    pub redirect_host: String,
}

#[derive(Serialize)]
pub struct ScopeLine {
    pub name: String,
    pub description: String,
}

#[derive(Serialize)]
pub struct UserChoice {
    pub id: String,
    /// "Name — Company".
    pub label: String,
    pub selected: bool,
}

impl Pages {
    pub fn new() -> Self {
        let mut env = Environment::new();
        for (name, source) in [
            (CONSENT, include_str!("templates/consent.html")),
            (ERROR, include_str!("templates/error.html")),
        ] {
            if let Err(err) = env.add_template(name, source) {
                // The templates are part of the crate: `pages_render` below proves they parse.
                tracing::error!(template = name, %err, "template does not parse");
            }
        }
        Pages { env }
    }

    pub fn consent(&self, page: &ConsentPage) -> Response {
        self.render(CONSENT, page, StatusCode::OK)
    }

    /// A 400 page for a request that cannot be sent back to the app.
    pub fn error(&self, message: &str) -> Response {
        #[derive(Serialize)]
        struct Ctx<'a> {
            message: &'a str,
        }
        self.render(ERROR, &Ctx { message }, StatusCode::BAD_REQUEST)
    }

    fn render(&self, name: &str, ctx: &impl Serialize, status: StatusCode) -> Response {
        let rendered = self
            .env
            .get_template(name)
            .and_then(|template| template.render(ctx));
        match rendered {
            Ok(html) => (status, Html(html)).into_response(),
            Err(err) => {
                tracing::error!(template = name, %err, "cannot render page");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn body(response: Response) -> String {
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn pages_render_and_escape() {
        let pages = Pages::new();
        let page = ConsentPage {
            app_name: "<script>x</script>".into(),
            scopes: vec![ScopeLine {
                name: "calls:list".into(),
                description: "List your calls".into(),
            }],
            users: vec![UserChoice {
                id: "1".into(),
                label: "Avery Adams — Acme Corp".into(),
                selected: true,
            }],
            request_id: "req".into(),
            redirect_host: "app.example".into(),
        };
        let response = pages.consent(&page);
        assert_eq!(response.status(), StatusCode::OK);
        let html = body(response).await;
        assert!(html.contains("&lt;script&gt;x&lt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains(r#"action="decision""#));
        assert!(html.contains(r#"<option value="1" selected>Avery Adams — Acme Corp</option>"#));
        let error = pages.error("bad <uri>");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert!(body(error).await.contains("bad &lt;uri&gt;"));
    }
}
