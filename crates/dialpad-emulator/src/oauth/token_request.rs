//! Reading a `POST /oauth2/token` request: a JSON or form body (by Content-Type), and the
//! client's credentials from the body or a Basic header (one method only, RFC 6749 §2.3).

use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use serde::Deserialize;

use super::error::OAuthError;
use crate::apps::Apps;
use crate::authorization::{self, Basic};

/// The parameters of either grant type, as sent.
#[derive(Debug, Default, Deserialize)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

impl TokenParams {
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        let malformed = |err: &dyn std::fmt::Display| {
            OAuthError::InvalidRequest(format!("malformed request body: {err}"))
        };
        match content_type.as_deref() {
            Some("application/json") => serde_json::from_slice(body).map_err(|e| malformed(&e)),
            Some("application/x-www-form-urlencoded") | None => {
                serde_urlencoded::from_bytes(body).map_err(|e| malformed(&e))
            }
            Some(other) => Err(OAuthError::InvalidRequest(format!(
                "unsupported Content-Type {other:?}: send application/x-www-form-urlencoded or application/json"
            ))),
        }
    }
}

/// Authenticates the client; returns its client id.
pub fn authenticate_client(
    apps: &Apps,
    headers: &HeaderMap,
    params: &TokenParams,
) -> Result<String, OAuthError> {
    let (client_id, secret) = match authorization::basic(headers) {
        Basic::Malformed => {
            return Err(OAuthError::InvalidClient(
                "malformed Basic authorization header".into(),
            ))
        }
        Basic::Credentials { client_id, secret } => {
            if params.client_secret.is_some() {
                return Err(OAuthError::InvalidRequest(
                    "client credentials sent both in the Authorization header and in the body"
                        .into(),
                ));
            }
            if params.client_id.as_ref().is_some_and(|id| *id != client_id) {
                return Err(OAuthError::InvalidClient(
                    "client_id in the body differs from the Authorization header".into(),
                ));
            }
            (client_id, secret)
        }
        Basic::Absent => match (&params.client_id, &params.client_secret) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone()),
            _ => {
                return Err(OAuthError::InvalidClient(
                    "client authentication required: client_id and client_secret in the body or a Basic authorization header".into(),
                ))
            }
        },
    };
    match apps.get(&client_id) {
        Some(app) if app.secret_matches(&secret) => Ok(client_id),
        Some(_) => Err(OAuthError::InvalidClient("wrong client_secret".into())),
        None => Err(OAuthError::InvalidClient(format!(
            "unknown client_id {client_id:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::{DEV_CLIENT_ID, DEV_CLIENT_SECRET};
    use axum::http::header::AUTHORIZATION;
    use axum::http::HeaderValue;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    fn headers(content_type: Option<&str>, basic: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(ct) = content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        if let Some(creds) = basic {
            let value = format!("Basic {}", STANDARD.encode(creds));
            headers.insert(AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
        }
        headers
    }

    #[test]
    fn body_format_follows_content_type() {
        let json = TokenParams::parse(
            &headers(Some("application/json; charset=utf-8"), None),
            br#"{"grant_type":"refresh_token","refresh_token":"r"}"#,
        )
        .unwrap();
        assert_eq!(json.refresh_token.as_deref(), Some("r"));
        let form = TokenParams::parse(
            &headers(Some("application/x-www-form-urlencoded"), None),
            b"grant_type=authorization_code&code=a%2Bb",
        )
        .unwrap();
        assert_eq!(form.code.as_deref(), Some("a+b"));
        for (ct, body) in [
            (Some("text/plain"), &b"grant_type=x"[..]),
            (Some("application/json"), &b"grant_type=x"[..]),
            (None, &b"code=a&code=b"[..]),
        ] {
            assert!(matches!(
                TokenParams::parse(&headers(ct, None), body),
                Err(OAuthError::InvalidRequest(_))
            ));
        }
    }

    #[test]
    fn client_credentials_from_body_or_basic_but_not_both() {
        let apps = Apps::seeded();
        let body = TokenParams {
            client_id: Some(DEV_CLIENT_ID.into()),
            client_secret: Some(DEV_CLIENT_SECRET.into()),
            ..TokenParams::default()
        };
        let basic = format!("{DEV_CLIENT_ID}:{DEV_CLIENT_SECRET}");
        let none = TokenParams::default();
        assert!(authenticate_client(&apps, &headers(None, None), &body).is_ok());
        assert!(authenticate_client(&apps, &headers(None, Some(&basic)), &none).is_ok());
        assert!(matches!(
            authenticate_client(&apps, &headers(None, Some(&basic)), &body),
            Err(OAuthError::InvalidRequest(_))
        ));
        let wrong = format!("{DEV_CLIENT_ID}:nope");
        for (h, p) in [
            (headers(None, None), &none),
            (headers(None, Some(&wrong)), &none),
            (headers(None, Some("someone:else")), &none),
        ] {
            assert!(matches!(
                authenticate_client(&apps, &h, p),
                Err(OAuthError::InvalidClient(_))
            ));
        }
    }
}
