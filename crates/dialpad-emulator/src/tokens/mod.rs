//! Everything that grants access: authorization codes, OAuth grants with their access and
//! refresh tokens, and API keys; plus expiry and revocation. Time is passed in (`now`).

mod api_keys;
mod codes;
mod grants;

use std::collections::HashMap;
use std::time::Instant;

use crate::ids::{CompanyId, UserId};
use crate::pkce::Challenge;

pub use codes::Exchange;

/// One consent of one user to one app: the thing `deauthorize` and company revocation end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GrantId(u64);

#[derive(Clone, Debug)]
pub struct Grant {
    pub client_id: String,
    pub company_id: CompanyId,
    pub user_id: UserId,
    pub scopes: Vec<String>,
    pub revoked: bool,
}

/// What a person approved on the consent page, waiting to become a code.
#[derive(Clone, Debug)]
pub struct Consent {
    pub client_id: String,
    pub company_id: CompanyId,
    pub user_id: UserId,
    pub scopes: Vec<String>,
    pub redirect_uri: String,
    pub challenge: Option<Challenge>,
}

/// A token response: the access token, its lifetime, and a refresh token when one is issued.
#[derive(Clone, Debug)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: Option<String>,
}

/// Who a bearer token or API key speaks for.
#[derive(Clone, Debug)]
pub struct Principal {
    pub company_id: CompanyId,
    /// The consenting user of an OAuth token, or the user of a user-level API key.
    pub user_id: Option<UserId>,
    /// The scopes an OAuth token was granted; `None` for an API key, which reaches everything
    /// its company (or user) may.
    pub scopes: Option<Vec<String>>,
}

impl Principal {
    /// Whether the caller holds `scope` (API keys hold every scope).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes
            .as_ref()
            .is_none_or(|scopes| scopes.iter().any(|s| s == scope))
    }
}

/// Why a presented token gives no access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unauthorized {
    #[error("missing API key or access token")]
    Missing,
    #[error("invalid API key or access token")]
    Unknown,
    #[error("access token has expired")]
    Expired,
    #[error("access token has been revoked")]
    Revoked,
}

/// Why a code or refresh token was refused; each maps to an RFC 6749 error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("authorization code is unknown")]
    UnknownCode,
    #[error("authorization code was issued to another client")]
    CodeOfAnotherClient,
    #[error("authorization code has expired")]
    CodeExpired,
    #[error("authorization code was already used; the tokens issued from it are revoked")]
    CodeReused,
    #[error("redirect_uri does not match the one of the authorization request")]
    RedirectMismatch,
    #[error("code_verifier is required: the authorization request had a code_challenge")]
    VerifierMissing,
    #[error("code_verifier given, but the authorization request had no code_challenge")]
    VerifierUnexpected,
    #[error("code_verifier is malformed (RFC 7636: 43-128 characters of A-Z a-z 0-9 - . _ ~)")]
    VerifierMalformed,
    #[error("code_verifier does not match the code_challenge")]
    VerifierMismatch,
    #[error("refresh token is unknown")]
    UnknownRefreshToken,
    #[error("refresh token was issued to another client")]
    RefreshTokenOfAnotherClient,
    #[error("refresh token has been revoked")]
    RefreshTokenRevoked,
    #[error("refresh token was already exchanged for a new one")]
    RefreshTokenRotated,
}

impl GrantError {
    /// `invalid_request` (a malformed request) rather than `invalid_grant`.
    pub fn is_invalid_request(self) -> bool {
        matches!(
            self,
            GrantError::VerifierMissing
                | GrantError::VerifierUnexpected
                | GrantError::VerifierMalformed
        )
    }
}

#[derive(Clone, Debug)]
struct AccessRecord {
    grant: GrantId,
    expires_at: Instant,
}

#[derive(Clone, Debug)]
struct RefreshRecord {
    grant: GrantId,
    /// Exchanged for a newer refresh token (rotation): no longer accepted.
    retired: bool,
}

#[derive(Clone, Debug)]
struct AuthCode {
    consent: Consent,
    issued_at: Instant,
    /// Set by the first successful exchange: a code is single-use.
    redeemed_as: Option<GrantId>,
}

#[derive(Clone, Debug)]
struct ApiKey {
    company_id: CompanyId,
    user_id: Option<UserId>,
}

#[derive(Clone, Debug, Default)]
pub struct TokenStore {
    next_grant: u64,
    grants: HashMap<GrantId, Grant>,
    codes: HashMap<String, AuthCode>,
    access: HashMap<String, AccessRecord>,
    refresh: HashMap<String, RefreshRecord>,
    api_keys: HashMap<String, ApiKey>,
}

impl TokenStore {
    /// Resolves an access token or API key to whom it speaks for.
    pub fn principal(&self, token: &str, now: Instant) -> Result<Principal, Unauthorized> {
        if let Some(key) = self.api_keys.get(token) {
            return Ok(Principal {
                company_id: key.company_id,
                user_id: key.user_id,
                scopes: None,
            });
        }
        let (_, grant) = self.live_access(token, now)?;
        Ok(Principal {
            company_id: grant.company_id,
            user_id: Some(grant.user_id),
            scopes: Some(grant.scopes.clone()),
        })
    }

    /// The grant behind a live (known, unexpired, unrevoked) access token.
    fn live_access(&self, token: &str, now: Instant) -> Result<(GrantId, &Grant), Unauthorized> {
        let record = self.access.get(token).ok_or(Unauthorized::Unknown)?;
        let grant = self
            .grants
            .get(&record.grant)
            .ok_or(Unauthorized::Unknown)?;
        if grant.revoked {
            Err(Unauthorized::Revoked)
        } else if now >= record.expires_at {
            Err(Unauthorized::Expired)
        } else {
            Ok((record.grant, grant))
        }
    }

    /// Ends every access token issued so far; refresh tokens keep working.
    pub fn expire_all_access_tokens(&mut self, now: Instant) {
        for record in self.access.values_mut() {
            record.expires_at = record.expires_at.min(now);
        }
    }
}
