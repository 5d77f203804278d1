//! The app settings page: credentials per environment (the secret write-only), the callback
//! URL, scopes as chips (`offline_access` locked), the checklist for Dialpad's app request
//! form, the accounts short of the configured scopes, and the connect page's brand.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use dialbridge_core::{AppView, Branding, CredentialsInput, Environment, ScopesInput};
use minijinja::{context, Value};
use serde::Deserialize;
use serde_json::json;

use super::form::Posted;
use super::session::Session;
use super::view::render;
use super::UiError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

/// `GET /ui/app`.
pub async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(Saved { saved }): Query<Saved>,
) -> Result<Response, UiError> {
    show(&state, &session, context! { saved }, None).await
}

/// The page, with what a failed form held and its problems (`failed`: which form).
async fn show(
    state: &AppState,
    session: &Session,
    kept: Value,
    failed: Option<(&str, UiError)>,
) -> Result<Response, UiError> {
    let app: AppView = state.platform.app.view().await?;
    let short = accounts_short_of_scopes(state).await?;
    let (failed_form, errors, problem, status) = match failed {
        Some((form, error)) => (
            Some(form),
            error.fields(),
            Some(error.message.clone()),
            error.status,
        ),
        None => (None, Value::from(()), None, axum::http::StatusCode::OK),
    };
    let selected: Vec<&str> = app.scopes.iter().map(|s| s.name.as_str()).collect();
    let addable: Vec<_> = app
        .available_scopes
        .iter()
        .filter(|s| !selected.contains(&s.name))
        .collect();
    let mut response = render(
        "app.html",
        session.page(
            "app",
            context! {
                app => Value::from_serialize(&app),
                addable => Value::from_serialize(&addable),
                short,
                failed_form,
                errors,
                problem,
                kept,
                scope_list => selected.join(" "),
            },
        ),
    );
    *response.status_mut() = status;
    Ok(response)
}

/// Connected accounts whose granted scopes lack some of the configured ones (first 200).
async fn accounts_short_of_scopes(state: &AppState) -> Result<Vec<Value>, UiError> {
    let page = state.platform.connections.accounts(None, Some(200)).await?;
    Ok(page
        .items
        .into_iter()
        .filter_map(|account| {
            let connection = account.connection?;
            (!connection.missing_scopes.is_empty()).then(|| {
                context! {
                    account_id => account.account_id.as_str(),
                    name => account.name,
                    missing => connection.missing_scopes,
                }
            })
        })
        .collect())
}

/// `POST /ui/app/credentials`: one environment's OAuth client.
pub async fn put_credentials(
    State(state): State<AppState>,
    Posted { session, form }: Posted,
) -> Result<Response, UiError> {
    let environment = Environment::parse(form.get("environment").unwrap_or_default())?;
    let input = CredentialsInput {
        client_id: form.text("client_id"),
        client_secret: form.text("client_secret"),
        base_url: form.text("base_url"),
        rate_limits: None,
    };
    match state.platform.app.put_credentials(environment, input).await {
        Ok(app) => {
            let view = &app.environments[&environment];
            let summary = json!({ "client_id": view.client_id, "base_url": view.base_url });
            let target = format!("environment/{environment}");
            session
                .record(&state, "app.credentials.put", target, summary)
                .await;
            Ok(Redirect::to(&format!("/ui/app?saved={environment}#credentials")).into_response())
        }
        Err(e) => {
            let kept = context! {
                environment => environment.as_str(),
                client_id => form.get("client_id"),
                base_url => form.get("base_url"),
            };
            show(
                &state,
                &session,
                kept,
                Some((environment.as_str(), e.into())),
            )
            .await
        }
    }
}

/// `POST /ui/app/scopes`: the chips' form. `scope`/`custom` are the current selection; `remove`
/// drops one; `add` (the catalog dropdown) or `add_name` (typed, `as_custom` for a scope the
/// catalog does not know yet) adds one.
pub async fn put_scopes(
    State(state): State<AppState>,
    Posted { session, form }: Posted,
) -> Result<Response, UiError> {
    let removed = form.get("remove");
    let keep = |name: &String| Some(name.as_str()) != removed;
    let mut scopes: Vec<String> = form.all("scope").into_iter().filter(keep).collect();
    let mut custom_scopes: Vec<String> = form.all("custom").into_iter().filter(keep).collect();
    if let Some(name) = form.text("add") {
        scopes.push(name);
    }
    if let Some(name) = form.text("add_name") {
        if form.get("as_custom").is_some() {
            custom_scopes.push(name);
        } else {
            scopes.push(name);
        }
    }
    let input = ScopesInput {
        scopes,
        custom_scopes,
    };
    match state.platform.app.put_scopes(input).await {
        Ok(app) => {
            let scopes: Vec<&str> = app.scopes.iter().map(|s| s.name.as_str()).collect();
            session
                .record(&state, "app.scopes.put", "app", json!({ "scopes": scopes }))
                .await;
            Ok(Redirect::to("/ui/app#scopes").into_response())
        }
        Err(e) => {
            let kept = context! { add_name => form.get("add_name"), as_custom => form.get("as_custom").is_some() };
            show(&state, &session, kept, Some(("scopes", e.into()))).await
        }
    }
}

/// `POST /ui/app/branding`: the connect page's brand.
pub async fn put_branding(
    State(state): State<AppState>,
    Posted { session, form }: Posted,
) -> Result<Response, UiError> {
    let logo_url = match form.file("logo_file") {
        Some(image) => inline_image(image),
        None if form.get("remove_logo").is_some() => Ok(None),
        // An uploaded logo is not shown in the URL field; it stays until replaced or removed.
        None => match form.text("logo_url") {
            Some(url) => Ok(Some(url)),
            None => Ok(state
                .platform
                .app
                .branding()
                .await?
                .logo_url
                .filter(|logo| logo.starts_with("data:"))),
        },
    };
    let mut input = Branding {
        display_name: form.get("display_name").unwrap_or_default().to_owned(),
        accent_color: form.get("accent_color").unwrap_or_default().to_owned(),
        logo_url: None,
        support_url: form.text("support_url"),
    };
    let saved = match logo_url {
        Ok(logo_url) => {
            input.logo_url = logo_url;
            state.platform.app.put_branding(input.clone()).await
        }
        Err(e) => Err(e),
    };
    // What the form shows again: never a whole inline image in the URL field.
    input.logo_url = form.text("logo_url");
    match saved {
        Ok(app) => {
            let b = &app.branding;
            let summary = json!({ "display_name": b.display_name, "accent_color": b.accent_color, "support_url": b.support_url });
            session
                .record(&state, "app.branding.put", "app", summary)
                .await;
            Ok(Redirect::to("/ui/app?saved=branding#branding").into_response())
        }
        Err(e) => {
            let kept = Value::from_serialize(&input);
            show(&state, &session, kept, Some(("branding", e.into()))).await
        }
    }
}

/// An uploaded logo as a `data:` URL, its type read from the file's first bytes (not from
/// what the browser claims); the domain bounds its size.
fn inline_image(bytes: &[u8]) -> Result<Option<String>, dialbridge_core::Error> {
    let kind = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        "image/gif"
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else {
        return Err(dialbridge_core::Error::invalid(
            "logo_url",
            "the uploaded file is not a PNG, JPEG, GIF or WebP image",
        ));
    };
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok(Some(format!("data:{kind};base64,{encoded}")))
}

#[cfg(test)]
mod tests {
    use super::inline_image;

    #[test]
    fn uploaded_logos_are_typed_by_their_bytes() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(
            inline_image(png).unwrap().unwrap(),
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="
        );
        assert!(inline_image(b"GIF89a....")
            .unwrap()
            .unwrap()
            .starts_with("data:image/gif;"));
        let error = inline_image(b"<svg onload=alert(1)>").unwrap_err();
        assert_eq!(error.code(), "invalid_input");
    }
}
