//! A posted dashboard form: its fields as pairs (repeated names, such as scope chips, kept),
//! and `Posted`, a form of a signed-in operator whose CSRF token matched the session's.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde_json::{Map, Value};

use super::session::Session;
use super::view::render;
use crate::state::AppState;

/// An `application/x-www-form-urlencoded` body, or a `multipart/form-data` one with files
/// (the router bounds its size).
pub struct Form {
    fields: Vec<(String, String)>,
    files: Vec<(String, Bytes)>,
}

impl Form {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, or `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// The file posted as `name`, when one was chosen (a multipart form).
    pub fn file(&self, name: &str) -> Option<&Bytes> {
        self.files
            .iter()
            .find(|(n, bytes)| n == name && !bytes.is_empty())
            .map(|(_, bytes)| bytes)
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The fields named `<prefix><name>` as a JSON object: blank ones left out (defaults
    /// apply), those whose type (`kind_of(name)`) is `string` or unknown as typed, others read
    /// as JSON when they are JSON. The domain's schema judges the result.
    pub fn json_object(&self, prefix: &str, kind_of: impl Fn(&str) -> Option<String>) -> Value {
        let object: Map<String, Value> = self
            .fields
            .iter()
            .filter_map(|(name, value)| {
                let field = name.strip_prefix(prefix)?;
                let value = value.trim();
                if value.is_empty() {
                    return None;
                }
                let parsed = match kind_of(field).as_deref() {
                    Some("string") | None => Value::String(value.to_owned()),
                    _ => serde_json::from_str(value)
                        .unwrap_or_else(|_| Value::String(value.to_owned())),
                };
                Some((field.to_owned(), parsed))
            })
            .collect();
        Value::Object(object)
    }

    /// Every field as a JSON object of strings (the first of repeated names), to refill a form.
    pub fn kept(&self) -> Value {
        let mut object = Map::new();
        for (name, value) in &self.fields {
            object
                .entry(name.clone())
                .or_insert_with(|| Value::String(value.clone()));
        }
        Value::Object(object)
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let multipart = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if multipart {
            return read_multipart(request, state).await;
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields = url::form_urlencoded::parse(&bytes).into_owned().collect();
        Ok(Form {
            fields,
            files: Vec::new(),
        })
    }
}

/// A multipart form: parts with a file name are files, the others text fields.
async fn read_multipart<S: Send + Sync>(request: Request, state: &S) -> Result<Form, Response> {
    let refused = |message: String| (StatusCode::BAD_REQUEST, message).into_response();
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(IntoResponse::into_response)?;
    let (mut fields, mut files) = (Vec::new(), Vec::new());
    while let Some(part) = multipart
        .next_field()
        .await
        .map_err(|e| refused(format!("the form could not be read: {e}")))?
    {
        let name = part.name().unwrap_or_default().to_owned();
        if part.file_name().is_some() {
            let bytes = part
                .bytes()
                .await
                .map_err(|e| refused(format!("the file could not be read: {e}")))?;
            files.push((name, bytes));
        } else {
            let text = part
                .text()
                .await
                .map_err(|e| refused(format!("the field {name} could not be read: {e}")))?;
            fields.push((name, text));
        }
    }
    Ok(Form { fields, files })
}

/// A form posted by a signed-in operator, its `csrf` field checked against the session's.
pub struct Posted {
    pub session: Session,
    pub form: Form,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let form = Form::from_request(Request::from_parts(parts, body), state).await?;
        if form.get("csrf") != Some(session.csrf.as_str()) {
            let mut response = render(
                "error.html",
                context! { code => "csrf", message => "This form is out of date (it was opened in another session). Reload the page and try again." },
            );
            *response.status_mut() = StatusCode::FORBIDDEN;
            return Err(response);
        }
        Ok(Posted { session, form })
    }
}
