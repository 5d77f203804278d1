//! The rules of `GET /oauth2/authorize`: which requests are refused to the person's face, which
//! go back to the app as an error redirect, and the redirect that approval or denial produces.

use std::time::Instant;

use serde::Deserialize;
use url::Url;

use crate::apps::Apps;
use crate::ids::UserId;
use crate::pkce::{Challenge, Method};
use crate::scopes;
use crate::store::Store;
use crate::tokens::Consent;

/// The query parameters of an authorize request, as sent.
#[derive(Debug, Default, Deserialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

impl AuthorizeParams {
    pub fn from_query(query: &str) -> Result<Self, Refusal> {
        serde_urlencoded::from_str(query)
            .map_err(|err| Refusal::Page(format!("malformed authorization request: {err}")))
    }
}

/// A validated authorize request: the app and redirect URI are trusted from here on.
#[derive(Clone, Debug)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub app_name: String,
    /// As sent: the token request's `redirect_uri`, if any, must equal it.
    pub redirect_uri: String,
    /// The same, parsed: where the answer goes.
    pub redirect_to: Url,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub challenge: Option<Challenge>,
}

/// Why an authorize request does not reach the consent page.
#[derive(Debug)]
pub enum Refusal {
    /// Shown to the person (HTML or JSON 400): the redirect URI cannot be trusted.
    Page(String),
    /// Sent back to the app: a redirect to its URI carrying `error`.
    Redirect(Url),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Deny,
}

pub fn validate(apps: &Apps, params: AuthorizeParams) -> Result<AuthorizeRequest, Refusal> {
    let page = |msg: &str| Refusal::Page(msg.to_owned());
    let client_id = params
        .client_id
        .ok_or_else(|| page("client_id is required"))?;
    let app = apps
        .get(&client_id)
        .ok_or_else(|| page(&format!("unknown client_id {client_id:?}")))?;
    let raw_redirect = params
        .redirect_uri
        .ok_or_else(|| page("redirect_uri is required"))?;
    let redirect_to = Url::parse(&raw_redirect)
        .ok()
        .filter(|url| url.fragment().is_none() && !url.cannot_be_a_base())
        .ok_or_else(|| page("redirect_uri must be an absolute URI without a fragment"))?;
    if !app.allows_redirect(&raw_redirect) {
        return Err(page(&format!(
            "redirect_uri {raw_redirect:?} is not registered for this app"
        )));
    }
    let mut request = AuthorizeRequest {
        client_id,
        app_name: app.display_name().to_owned(),
        redirect_uri: raw_redirect,
        redirect_to,
        scopes: Vec::new(),
        state: params.state,
        challenge: None,
    };
    let back =
        |error: &str, description: &str| Refusal::Redirect(request.error(error, description));
    if params.response_type.as_deref().is_some_and(|t| t != "code") {
        return Err(back(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    let method = Method::parse(params.code_challenge_method.as_deref()).ok_or_else(|| {
        back(
            "invalid_request",
            "code_challenge_method must be S256 or plain",
        )
    })?;
    let challenge = match params.code_challenge {
        Some(value) if !value.is_empty() => Some(Challenge { value, method }),
        _ if params.code_challenge_method.is_some() => {
            return Err(back(
                "invalid_request",
                "code_challenge_method given without code_challenge",
            ))
        }
        _ => None,
    };
    let scopes = scopes::parse(params.scope.as_deref().unwrap_or("")).map_err(|unknown| {
        back(
            "invalid_scope",
            &format!("unknown scope(s): {}", unknown.join(" ")),
        )
    })?;
    request.challenge = challenge;
    request.scopes = scopes;
    Ok(request)
}

impl AuthorizeRequest {
    /// The redirect URI with `pairs` and the request's `state` added to its query.
    fn redirect_with(&self, pairs: &[(&str, &str)]) -> Url {
        let mut url = self.redirect_to.clone();
        {
            let mut query = url.query_pairs_mut();
            for (key, value) in pairs {
                query.append_pair(key, value);
            }
            if let Some(state) = &self.state {
                query.append_pair("state", state);
            }
        }
        url
    }

    fn error(&self, error: &str, description: &str) -> Url {
        self.redirect_with(&[("error", error), ("error_description", description)])
    }
}

/// Carries out a person's decision: on approval, `user` (default: the first company's admin)
/// signs in and the app gets a code. `Err` is a message for a 400 (unknown user).
pub fn decide(
    store: &mut Store,
    request: &AuthorizeRequest,
    decision: Decision,
    user: Option<UserId>,
    now: Instant,
) -> Result<Url, String> {
    if decision == Decision::Deny {
        return Ok(request.error("access_denied", "the user denied the request"));
    }
    let user = match user {
        Some(id) => store.world.user(id),
        None => store.world.default_user(),
    }
    .ok_or_else(|| {
        format!(
            "unknown user {}",
            user.map(|u| u.to_string()).unwrap_or_default()
        )
    })?;
    let consent = Consent {
        client_id: request.client_id.clone(),
        company_id: user.company_id,
        user_id: user.id,
        scopes: request.scopes.clone(),
        redirect_uri: request.redirect_uri.clone(),
        challenge: request.challenge.clone(),
    };
    let code = store.tokens.issue_code(consent, now);
    Ok(request.redirect_with(&[("code", &code)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::DEV_CLIENT_ID;

    fn params(query: &str) -> AuthorizeParams {
        AuthorizeParams::from_query(query).unwrap()
    }

    fn page_message(result: Result<AuthorizeRequest, Refusal>) -> String {
        match result {
            Err(Refusal::Page(message)) => message,
            other => panic!("expected a 400 page, got {other:?}"),
        }
    }

    fn redirect(result: Result<AuthorizeRequest, Refusal>) -> Url {
        match result {
            Err(Refusal::Redirect(url)) => url,
            other => panic!("expected an error redirect, got {other:?}"),
        }
    }

    #[test]
    fn untrusted_redirects_are_refused_on_a_page() {
        let apps = crate::apps::with_strict_app();
        let cases = [
            ("redirect_uri=https%3A%2F%2Fapp.example%2Fcb", "client_id"),
            (
                "client_id=nope&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
                "unknown",
            ),
            ("client_id=strict", "redirect_uri is required"),
            (
                "client_id=strict&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
                "not registered",
            ),
            (
                "client_id=dialbridge-dev&redirect_uri=%2Frelative",
                "absolute",
            ),
            (
                "client_id=dialbridge-dev&redirect_uri=https%3A%2F%2Fa.example%2F%23frag",
                "fragment",
            ),
        ];
        for (query, expected) in cases {
            let message = page_message(validate(&apps, params(query)));
            assert!(message.contains(expected), "{query}: {message}");
        }
    }

    #[test]
    fn bad_parameters_go_back_to_the_app_with_state() {
        let apps = crate::apps::with_strict_app();
        let base = "client_id=strict&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=xyz";
        let cases = [
            ("&scope=calls:list+bogus", "invalid_scope"),
            ("&response_type=token", "unsupported_response_type"),
            (
                "&code_challenge=abc&code_challenge_method=S512",
                "invalid_request",
            ),
            ("&code_challenge_method=S256", "invalid_request"),
        ];
        for (extra, error) in cases {
            let url = redirect(validate(&apps, params(&format!("{base}{extra}"))));
            let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            assert!(url.as_str().starts_with("https://app.example/cb?"));
            assert!(
                pairs.contains(&("error".into(), error.into())),
                "{extra}: {url}"
            );
            assert!(pairs.contains(&("state".into(), "xyz".into())));
        }
    }

    #[test]
    fn a_valid_request_keeps_scopes_challenge_and_existing_query() {
        let query = format!(
            "client_id={DEV_CLIENT_ID}&redirect_uri=http%3A%2F%2Flocalhost%2Fcb%3Fa%3D1\
             &response_type=code&scope=offline_access%20calls:list&code_challenge=c\
             &code_challenge_method=S256"
        );
        let request = validate(&crate::apps::with_strict_app(), params(&query)).unwrap();
        assert_eq!(request.scopes, ["offline_access", "calls:list"]);
        assert_eq!(
            request.challenge.as_ref().map(|c| c.method),
            Some(Method::S256)
        );
        let denied = request.error("access_denied", "no");
        assert!(denied
            .as_str()
            .starts_with("http://localhost/cb?a=1&error=access_denied"));
    }
}
