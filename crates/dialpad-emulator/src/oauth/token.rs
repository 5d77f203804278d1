//! `POST /oauth2/token`: authorization_code and refresh_token grants, answered as the spec's
//! AuthorizeTokenResponseBodySchema (no `scope` field), never cached.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, PRAGMA};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::error::OAuthError;
use super::token_request::{authenticate_client, TokenParams};
use crate::tokens::{Exchange, GrantError, Issued};
use crate::Emulator;

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

pub async fn token(State(emulator): State<Emulator>, headers: HeaderMap, body: Bytes) -> Response {
    if TokenParams::parse(&headers, &body)
        .is_ok_and(|params| params.grant_type.as_deref() == Some("refresh_token"))
    {
        emulator.hold_refresh().await;
    }
    let outcome = exchange(&emulator, &headers, &body);
    let latency = emulator.store().config.faults.token_latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match outcome {
        Ok(issued) => (
            [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")],
            Json(TokenResponse {
                access_token: issued.access_token,
                token_type: "bearer",
                expires_in: issued.expires_in,
                refresh_token: issued.refresh_token,
            }),
        )
            .into_response(),
        Err(err) => {
            tracing::debug!(%err, "token request refused");
            err.into_response()
        }
    }
}

fn exchange(emulator: &Emulator, headers: &HeaderMap, body: &[u8]) -> Result<Issued, OAuthError> {
    let params = TokenParams::parse(headers, body)?;
    let now = Instant::now();
    let mut store = emulator.store();
    store
        .stats
        .count_token_request(params.grant_type.as_deref());
    let client_id = authenticate_client(&store.apps, headers, &params)?;
    let ttl = store.config.access_token_ttl;
    let required = |name: &str| OAuthError::InvalidRequest(format!("{name} is required"));
    match params.grant_type.as_deref() {
        Some("authorization_code") => {
            let code = params.code.as_deref().ok_or_else(|| required("code"))?;
            let exchange = Exchange {
                client_id: &client_id,
                redirect_uri: params.redirect_uri.as_deref(),
                code_verifier: params.code_verifier.as_deref(),
            };
            Ok(store.tokens.redeem_code(code, &exchange, ttl, now)?)
        }
        Some("refresh_token") => {
            let refresh_token = params
                .refresh_token
                .as_deref()
                .ok_or_else(|| required("refresh_token"))?;
            let rotate = store.config.rotate_refresh_tokens;
            let issued = store
                .tokens
                .refresh(refresh_token, &client_id, rotate, ttl, now);
            if matches!(issued, Err(GrantError::RefreshTokenRotated)) {
                store.stats.token_requests.rotated_refresh_token += 1;
            }
            Ok(issued?)
        }
        Some(other) => Err(OAuthError::UnsupportedGrantType(format!(
            "grant_type {other:?} is not supported: use authorization_code or refresh_token"
        ))),
        None => Err(required("grant_type")),
    }
}
