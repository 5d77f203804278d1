//! `POST /_control/authorize`: the consent page without a browser. Given an authorize URL, it
//! decides and answers where the browser would be redirected. Given a link that redirects to
//! one (dialbridge's `connect_url`), it plays the browser to the end: follows the link, decides,
//! and delivers the answer to the app's redirect URI, saying what that answered.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;
use reqwest::header::LOCATION;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use url::Url;

use super::ControlError;
use crate::ids::UserId;
use crate::oauth::{decide, validate, AuthorizeParams, Decision, Refusal};
use crate::Emulator;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeBody {
    /// An authorize URL (`…/oauth2/authorize?…`), or a link that redirects to one.
    url: Option<String>,
    /// Instead of `url`: dialbridge's connect link. With `portal_url` and `expires_at`
    /// allowed beside it, the answer of `POST /api/v1/accounts/{id}/connect` can be posted as is.
    connect_url: Option<String>,
    #[serde(rename = "portal_url")]
    _portal_url: Option<IgnoredAny>,
    #[serde(rename = "expires_at")]
    _expires_at: Option<IgnoredAny>,
    /// Who signs in; default: the first company's admin.
    user_id: Option<UserId>,
    /// Default: approve.
    decision: Option<Decision>,
}

#[derive(Serialize)]
pub struct Answer {
    /// Where the consent sends the browser: the app's redirect URI with `code` and `state` (or
    /// `error`).
    location: String,
    /// When `url` was a link: what the app's redirect URI answered the browser.
    #[serde(skip_serializing_if = "Option::is_none")]
    callback: Option<Callback>,
}

#[derive(Serialize)]
pub struct Callback {
    status: u16,
    /// Where the app sent the browser next, if it redirected.
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<String>,
}

pub async fn authorize(
    State(emulator): State<Emulator>,
    body: Result<Json<AuthorizeBody>, JsonRejection>,
) -> Result<Json<Answer>, ControlError> {
    let Json(body) = body?;
    let url = match (body.url, body.connect_url) {
        (Some(url), None) | (None, Some(url)) => url,
        _ => {
            return Err(ControlError::BadRequest(
                "give one of url (an authorize URL or a connect link) and connect_url".into(),
            ))
        }
    };
    let url = Url::parse(&url).map_err(|e| {
        ControlError::BadRequest(format!(
            "url: expected an absolute URL (an authorize URL or a connect link): {e}"
        ))
    })?;
    let decision = body.decision.unwrap_or(Decision::Approve);
    if url.path().ends_with("/oauth2/authorize") {
        let location = consent(&emulator, &url, decision, body.user_id)?;
        return Ok(Json(Answer {
            location,
            callback: None,
        }));
    }
    let authorize = follow_link(&url).await?;
    let location = consent(&emulator, &authorize, decision, body.user_id)?;
    let callback = deliver(&location).await?;
    Ok(Json(Answer {
        location,
        callback: Some(callback),
    }))
}

/// The consent page's decision for an authorize URL: where the browser goes next.
fn consent(
    emulator: &Emulator,
    url: &Url,
    decision: Decision,
    user_id: Option<UserId>,
) -> Result<String, ControlError> {
    let mut store = emulator.store();
    let request = match AuthorizeParams::from_query(url.query().unwrap_or(""))
        .and_then(|p| validate(&store.apps, p))
    {
        Ok(request) => request,
        Err(Refusal::Page(message)) => return Err(ControlError::BadRequest(message)),
        Err(Refusal::Redirect(location)) => return Ok(location.into()),
    };
    let location = decide(&mut store, &request, decision, user_id, Instant::now())
        .map_err(ControlError::BadRequest)?;
    Ok(location.into())
}

/// Opens a link as a browser would and answers the authorize URL it redirects to.
async fn follow_link(link: &Url) -> Result<Url, ControlError> {
    let response = send(link).await?;
    let status = response.status();
    let target = redirect_target(link, &response);
    match target {
        Some(url) if url.path().ends_with("/oauth2/authorize") => Ok(url),
        Some(url) => Err(ControlError::BadRequest(format!(
            "url: {link} redirects to {url}, not to an authorize URL (…/oauth2/authorize)"
        ))),
        None => Err(ControlError::BadRequest(format!(
            "url: {link} answered HTTP {status} instead of redirecting to an authorize URL \
             (a connect link that is used or expired answers 400: ask for a new one)"
        ))),
    }
}

/// Delivers the consent's answer to the app's redirect URI, as the browser would.
async fn deliver(location: &str) -> Result<Callback, ControlError> {
    let url = Url::parse(location)
        .map_err(|e| ControlError::BadRequest(format!("the redirect URI is not a URL: {e}")))?;
    let response = send(&url).await?;
    Ok(Callback {
        status: response.status().as_u16(),
        location: redirect_target(&url, &response).map(String::from),
    })
}

async fn send(url: &Url) -> Result<reqwest::Response, ControlError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ControlError::BadRequest(format!(
            "url: {url} is not an http(s) URL"
        )));
    }
    client()
        .get(url.clone())
        .send()
        .await
        .map_err(|e| ControlError::BadRequest(format!("cannot reach {url}: {e}")))
}

/// The absolute `Location` of a 3xx answer.
fn redirect_target(base: &Url, response: &reqwest::Response) -> Option<Url> {
    if !response.status().is_redirection() {
        return None;
    }
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    base.join(location).ok()
}

/// A browser's part: no redirects followed (each is looked at), short timeouts, and no idle
/// connections kept (tests run each emulator on a runtime of its own).
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("dialpad-emulator/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default()
    })
}
