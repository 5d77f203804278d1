//! Dialpad's OAuth 2.0 endpoints for one app on one host: the authorize URL with state and
//! PKCE S256, code exchange, refresh and deauthorize. Built on the `oauth2` crate.

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    HttpClientError, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use url::Url;

use crate::transport::describe;
use crate::OAuthError;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The vendor's OAuth app as registered with Dialpad, on one Dialpad host.
#[derive(Clone)]
pub struct OAuthApp {
    client: Client,
    base_url: Url,
    http: reqwest::Client,
}

/// A PKCE pair: the verifier stays with us, the S256 challenge goes in the authorize URL.
pub struct Pkce {
    pub verifier: String,
    challenge: PkceCodeChallenge,
}

impl Pkce {
    pub fn new() -> Self {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        Pkce {
            verifier: verifier.secret().clone(),
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// Tokens from `/oauth2/token`.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: String,
    /// Absent when Dialpad does not rotate: keep the one you have.
    pub refresh_token: Option<String>,
    pub expires_in: Option<Duration>,
    /// Only when Dialpad says which scopes it granted.
    pub scopes: Option<Vec<String>>,
}

impl OAuthApp {
    /// `http` must not follow redirects (the token endpoint must never redirect).
    pub fn new(
        http: reqwest::Client,
        base_url: &Url,
        client_id: &str,
        client_secret: &str,
        redirect_uri: &Url,
    ) -> Result<Self, url::ParseError> {
        let client = BasicClient::new(ClientId::new(client_id.to_owned()))
            .set_client_secret(ClientSecret::new(client_secret.to_owned()))
            .set_auth_uri(AuthUrl::from_url(endpoint(base_url, "oauth2/authorize")?))
            .set_token_uri(TokenUrl::from_url(endpoint(base_url, "oauth2/token")?))
            .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
        Ok(OAuthApp {
            client,
            base_url: base_url.clone(),
            http,
        })
    }

    /// Where to send the customer's browser.
    pub fn authorize_url(&self, scopes: &[String], state: &str, pkce: &Pkce) -> Url {
        let state = state.to_owned();
        let (url, _) = self
            .client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())))
            .set_pkce_challenge(pkce.challenge.clone())
            .url();
        url
    }

    pub async fn exchange_code(&self, code: &str, verifier: &str) -> Result<TokenSet, OAuthError> {
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&self.http)
            .await;
        token_set(response)
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, OAuthError> {
        let refresh_token = RefreshToken::new(refresh_token.to_owned());
        let response = self
            .client
            .exchange_refresh_token(&refresh_token)
            .request_async(&self.http)
            .await;
        token_set(response)
    }

    /// Revokes the grant behind `access_token` (`POST /oauth2/deauthorize`).
    pub async fn deauthorize(&self, access_token: &str) -> Result<(), OAuthError> {
        let url = endpoint(&self.base_url, "oauth2/deauthorize").map_err(|e| {
            OAuthError::Unavailable(format!("the Dialpad base URL is not usable ({e})"))
        })?;
        let response = self
            .http
            .post(url)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| OAuthError::Unavailable(describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        match body.get("error").and_then(|e| e.as_str()) {
            Some(code) => Err(OAuthError::Refused {
                code: code.to_owned(),
                description: body
                    .get("error_description")
                    .and_then(|d| d.as_str())
                    .map(str::to_owned),
            }),
            None => Err(OAuthError::Unavailable(format!("status {status}"))),
        }
    }
}

/// `<base>/<path>`, keeping any path prefix the base URL has (the emulator under `/emulator`).
pub(crate) fn endpoint(base_url: &Url, path: &str) -> Result<Url, url::ParseError> {
    let mut base = base_url.clone();
    if !base.path().ends_with('/') {
        let with_slash = format!("{}/", base.path());
        base.set_path(&with_slash);
    }
    base.join(path)
}

fn token_set(
    response: Result<
        BasicTokenResponse,
        RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>,
    >,
) -> Result<TokenSet, OAuthError> {
    match response {
        Ok(token) => Ok(TokenSet {
            access_token: token.access_token().secret().clone(),
            refresh_token: token.refresh_token().map(|t| t.secret().clone()),
            expires_in: token.expires_in(),
            scopes: token
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect()),
        }),
        Err(RequestTokenError::ServerResponse(err)) => Err(OAuthError::Refused {
            code: err.error().as_ref().to_owned(),
            description: err.error_description().cloned(),
        }),
        Err(RequestTokenError::Request(err)) => Err(OAuthError::Unavailable(match err {
            HttpClientError::Reqwest(e) => describe(&e),
            other => other.to_string(),
        })),
        Err(RequestTokenError::Parse(err, _)) => Err(OAuthError::Unavailable(format!(
            "unreadable token response: {err}"
        ))),
        Err(RequestTokenError::Other(msg)) => Err(OAuthError::Unavailable(msg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keeps_a_path_prefix() {
        let base = Url::parse("http://127.0.0.1:8080/emulator").unwrap();
        assert_eq!(
            endpoint(&base, "oauth2/token").unwrap().as_str(),
            "http://127.0.0.1:8080/emulator/oauth2/token"
        );
        let base = Url::parse("https://dialpad.com").unwrap();
        assert_eq!(
            endpoint(&base, "oauth2/token").unwrap().as_str(),
            "https://dialpad.com/oauth2/token"
        );
    }

    #[test]
    fn authorize_url_carries_state_scopes_and_s256_challenge() {
        let base = Url::parse("https://dialpad.com").unwrap();
        let redirect = Url::parse("https://bridge.example/oauth/callback").unwrap();
        let app = OAuthApp::new(reqwest::Client::new(), &base, "cid", "secret", &redirect).unwrap();
        let pkce = Pkce::new();
        let url = app.authorize_url(
            &["offline_access".into(), "calls:list".into()],
            "the-state",
            &pkce,
        );
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(url.path(), "/oauth2/authorize");
        assert_eq!(q["client_id"], "cid");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["state"], "the-state");
        assert_eq!(q["scope"], "offline_access calls:list");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["redirect_uri"], "https://bridge.example/oauth/callback");
        assert!(!q["code_challenge"].is_empty());
        assert!(!q.contains_key("client_secret"));
    }
}
