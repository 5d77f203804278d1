//! Signing in to the dashboard: an admin API key buys a session cookie (sealed under the master
//! key, HttpOnly, SameSite=Strict, `Secure` behind https, 12 hours), checked on every request
//! against the key (a revoked key ends its sessions). Wrong keys are slowed down per client
//! address like the API's. Each session carries its own CSRF token, which every form posts.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dialbridge_core::{random_token, Actor, AdminIdentity, Change, Sealed, Timestamp};
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};

use super::form::Form;
use super::view::render;
use crate::config::DEV_API_KEY;
use crate::state::AppState;

const SESSION_COOKIE: &str = "dialbridge_session";
/// The sign-in form's own CSRF token (double submit: cookie and field must match).
const SIGN_IN_COOKIE: &str = "dialbridge_sign_in";
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// What a session cookie holds, sealed.
#[derive(Serialize, Deserialize)]
struct Claims {
    key_id: String,
    key_name: String,
    expires_at_ms: i64,
    csrf: String,
}

/// A signed-in operator.
pub struct Session {
    /// The admin key the session was opened with: the author of its changes.
    pub identity: AdminIdentity,
    pub key_name: String,
    pub csrf: String,
    pub dev: bool,
}

impl Session {
    /// What every dashboard page's layout needs, with the page's own values after it.
    pub fn page(&self, nav: &str, ctx: Value) -> Value {
        context! { signed_in => true, key_name => self.key_name, csrf => self.csrf, dev => self.dev, nav, ..ctx }
    }
}

impl Session {
    /// Records a change made through the dashboard in the audit log, with the same action
    /// names as the API's (`audit.rs`) and `"via": "dashboard"`. The change is done: a failure
    /// to record it is logged, not answered.
    pub async fn record(
        &self,
        state: &AppState,
        action: &str,
        target: impl Into<String>,
        mut summary: serde_json::Value,
    ) {
        summary["via"] = serde_json::json!("dashboard");
        let change = Change::new(action, target, summary);
        let actor = Actor::Key(self.identity.clone());
        if let Err(e) = state.platform.audit.record(&actor, change).await {
            tracing::error!("a dashboard change was made but not recorded in the audit log: {e}");
        }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(claims) = cookie(&parts.headers, SESSION_COOKIE)
            .and_then(|value| open_claims(state, value))
            .filter(|c| c.expires_at_ms > Timestamp::now().as_millis())
        else {
            return Err(signed_out(&parts.method));
        };
        let keys = state
            .platform
            .admin
            .keys()
            .await
            .map_err(|e| super::UiError::from(e).into_response())?;
        let active = keys
            .iter()
            .any(|k| k.id == claims.key_id && k.revoked_at.is_none());
        if !active {
            return Err(signed_out(&parts.method));
        }
        Ok(Session {
            identity: AdminIdentity {
                key_id: claims.key_id,
                key_name: claims.key_name.clone(),
            },
            key_name: claims.key_name,
            csrf: claims.csrf,
            dev: state.dashboard.emulator.is_some(),
        })
    }
}

/// Reading pages send the browser to sign in; a form posted without a session cannot be
/// replayed after it, so it says so.
fn signed_out(method: &Method) -> Response {
    if method == Method::GET || method == Method::HEAD {
        Redirect::to("/ui/sign-in").into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            render(
                "error.html",
                context! { code => "unauthorized", message => "Your session has ended. Sign in again, then repeat what you did." },
            ),
        )
            .into_response()
    }
}

fn open_claims(state: &AppState, value: &str) -> Option<Claims> {
    let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
    let json = state.dashboard.cipher.open(&Sealed(bytes)).ok()?;
    serde_json::from_str(json.expose()).ok()
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Duration) -> HeaderValue {
    let secure = if state.dashboard.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{name}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    );
    HeaderValue::from_str(&text).expect("cookie values are base64url")
}

/// `GET /ui/sign-in`.
pub async fn sign_in_page(State(state): State<AppState>) -> Response {
    sign_in_form(&state, None, StatusCode::OK)
}

fn sign_in_form(state: &AppState, problem: Option<String>, status: StatusCode) -> Response {
    let token = random_token(24);
    let dev_key = state.dashboard.emulator.is_some().then_some(DEV_API_KEY);
    let mut response = render("sign_in.html", context! { csrf => token, problem, dev_key });
    *response.status_mut() = status;
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(state, SIGN_IN_COOKIE, &token, Duration::from_secs(3600)),
    );
    response
}

/// `POST /ui/sign-in` `api_key`: a session for a right key; a wrong one is refused, and after
/// five from one address that address waits, as on the API.
pub async fn sign_in(
    State(state): State<AppState>,
    connect_info: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    form: Form,
) -> Response {
    let expected = cookie(&headers, SIGN_IN_COOKIE);
    if expected.is_none() || expected != form.get("csrf") {
        return sign_in_form(
            &state,
            Some("The sign-in form had expired; enter the key again.".into()),
            StatusCode::FORBIDDEN,
        );
    }
    let client = connect_info.map(|Extension(ConnectInfo(addr))| addr.ip());
    if let Some(Err(wait)) = client.map(|ip| state.attempts.check(ip)) {
        state.platform.metrics().auth_failure("throttled");
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return sign_in_form(
            &state,
            Some(format!(
                "Too many wrong keys from this address; try again in {secs} s."
            )),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let key = form.get("api_key").unwrap_or_default().trim();
    let identity = match state.platform.admin.authenticate(key).await {
        Ok(identity) => identity,
        Err(e) => return super::UiError::from(e).into_response(),
    };
    let Some(identity) = identity.filter(|_| !key.is_empty()) else {
        if let Some(ip) = client {
            state.attempts.failed(ip);
        }
        state.platform.metrics().auth_failure("wrong_key");
        return sign_in_form(
            &state,
            Some("That is not an admin API key of this dialbridge. Check it and try again.".into()),
            StatusCode::UNAUTHORIZED,
        );
    };
    if let Some(ip) = client {
        state.attempts.succeeded(ip);
    }
    let claims = Claims {
        key_id: identity.key_id,
        key_name: identity.key_name,
        expires_at_ms: (Timestamp::now() + SESSION_TTL).as_millis(),
        csrf: random_token(24),
    };
    let json = serde_json::to_string(&claims).expect("claims serialize");
    let sealed = URL_SAFE_NO_PAD.encode(state.dashboard.cipher.seal(&json).0);
    let mut response = Redirect::to("/ui").into_response();
    let headers = response.headers_mut();
    headers.append(
        SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, &sealed, SESSION_TTL),
    );
    headers.append(
        SET_COOKIE,
        set_cookie(&state, SIGN_IN_COOKIE, "", Duration::ZERO),
    );
    response
}

/// `POST /ui/sign-out`: forgets the session cookie.
pub async fn sign_out(State(state): State<AppState>, _form: super::form::Posted) -> Response {
    let mut response = Redirect::to("/ui/sign-in").into_response();
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, "", Duration::ZERO),
    );
    response
}
