//! Authorization codes: issued on consent, exchanged once for a grant's first tokens (with
//! redirect and PKCE checks), and a reused code revokes what it produced (RFC 6749 §4.1.2).

use std::time::{Duration, Instant};

use super::{AuthCode, Consent, GrantError, Issued, TokenStore};
use crate::pkce;
use crate::random;

/// How long a code may wait before its exchange.
pub const CODE_TTL: Duration = Duration::from_secs(600);

/// What the token request brings along with the code.
pub struct Exchange<'a> {
    pub client_id: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

impl TokenStore {
    pub fn issue_code(&mut self, consent: Consent, now: Instant) -> String {
        let code = random::token();
        self.codes.insert(
            code.clone(),
            AuthCode {
                consent,
                issued_at: now,
                redeemed_as: None,
            },
        );
        code
    }

    /// Exchanges a code for a new grant's tokens; `ttl` is the access token lifetime.
    pub fn redeem_code(
        &mut self,
        code: &str,
        exchange: &Exchange<'_>,
        ttl: Duration,
        now: Instant,
    ) -> Result<Issued, GrantError> {
        let record = self.codes.get(code).ok_or(GrantError::UnknownCode)?;
        let consent = &record.consent;
        if consent.client_id != exchange.client_id {
            return Err(GrantError::CodeOfAnotherClient);
        }
        if let Some(grant) = record.redeemed_as {
            self.revoke_grant(grant);
            return Err(GrantError::CodeReused);
        }
        if now.saturating_duration_since(record.issued_at) >= CODE_TTL {
            return Err(GrantError::CodeExpired);
        }
        if exchange
            .redirect_uri
            .is_some_and(|uri| uri != consent.redirect_uri)
        {
            return Err(GrantError::RedirectMismatch);
        }
        check_verifier(consent.challenge.as_ref(), exchange.code_verifier)?;
        let consent = consent.clone();
        let grant = self.new_grant(&consent);
        if let Some(record) = self.codes.get_mut(code) {
            record.redeemed_as = Some(grant);
        }
        Ok(self.issue_tokens(grant, ttl, true, now))
    }

    /// Removes the codes not yet exchanged that `keep` rejects.
    pub(super) fn drop_unredeemed_codes(&mut self, keep: impl Fn(&Consent) -> bool) -> usize {
        let before = self.codes.len();
        self.codes
            .retain(|_, code| code.redeemed_as.is_some() || keep(&code.consent));
        before - self.codes.len()
    }
}

fn check_verifier(
    challenge: Option<&pkce::Challenge>,
    verifier: Option<&str>,
) -> Result<(), GrantError> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(GrantError::VerifierUnexpected),
        (Some(_), None) => Err(GrantError::VerifierMissing),
        (Some(_), Some(v)) if !pkce::well_formed_verifier(v) => Err(GrantError::VerifierMalformed),
        (Some(c), Some(v)) if c.verifies(v) => Ok(()),
        (Some(_), Some(_)) => Err(GrantError::VerifierMismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CompanyId, UserId};
    use crate::pkce::{Challenge, Method};
    use crate::tokens::Unauthorized;

    const TTL: Duration = Duration::from_secs(3600);
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn consent(scopes: &[&str]) -> Consent {
        Consent {
            client_id: "app".into(),
            company_id: CompanyId(1),
            user_id: UserId(2),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            redirect_uri: "https://app.example/cb".into(),
            challenge: Some(Challenge {
                value: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
                method: Method::S256,
            }),
        }
    }

    fn exchange(verifier: Option<&str>) -> Exchange<'_> {
        Exchange {
            client_id: "app",
            redirect_uri: Some("https://app.example/cb"),
            code_verifier: verifier,
        }
    }

    #[test]
    fn a_code_expires_after_ten_minutes() {
        let mut store = TokenStore::default();
        let t0 = Instant::now();
        let code = store.issue_code(consent(&[]), t0);
        let late = t0 + CODE_TTL;
        assert_eq!(
            store
                .redeem_code(&code, &exchange(Some(VERIFIER)), TTL, late)
                .err(),
            Some(GrantError::CodeExpired)
        );
        let in_time = t0 + CODE_TTL - Duration::from_secs(1);
        assert!(store
            .redeem_code(&code, &exchange(Some(VERIFIER)), TTL, in_time)
            .is_ok());
    }

    #[test]
    fn checks_client_redirect_and_verifier_before_consuming_the_code() {
        let mut store = TokenStore::default();
        let now = Instant::now();
        let code = store.issue_code(consent(&["offline_access"]), now);
        let other_client = Exchange {
            client_id: "other",
            ..exchange(Some(VERIFIER))
        };
        let other_redirect = Exchange {
            redirect_uri: Some("https://app.example/other"),
            ..exchange(Some(VERIFIER))
        };
        let cases = [
            (other_client, GrantError::CodeOfAnotherClient),
            (other_redirect, GrantError::RedirectMismatch),
            (exchange(None), GrantError::VerifierMissing),
            (exchange(Some("short")), GrantError::VerifierMalformed),
            (
                exchange(Some(&VERIFIER[..42])),
                GrantError::VerifierMalformed,
            ),
            (
                exchange(Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK")),
                GrantError::VerifierMismatch,
            ),
        ];
        for (attempt, expected) in cases {
            assert_eq!(
                store.redeem_code(&code, &attempt, TTL, now).err(),
                Some(expected)
            );
        }
        let issued = store
            .redeem_code(&code, &exchange(Some(VERIFIER)), TTL, now)
            .unwrap();
        assert!(issued.refresh_token.is_some());
        assert_eq!(issued.expires_in, 3600);
    }

    #[test]
    fn reusing_a_code_revokes_the_tokens_it_produced() {
        let mut store = TokenStore::default();
        let now = Instant::now();
        let code = store.issue_code(consent(&["offline_access"]), now);
        let issued = store
            .redeem_code(&code, &exchange(Some(VERIFIER)), TTL, now)
            .unwrap();
        assert!(store.principal(&issued.access_token, now).is_ok());
        assert_eq!(
            store
                .redeem_code(&code, &exchange(Some(VERIFIER)), TTL, now)
                .err(),
            Some(GrantError::CodeReused)
        );
        assert_eq!(
            store.principal(&issued.access_token, now).err(),
            Some(Unauthorized::Revoked)
        );
    }

    #[test]
    fn no_challenge_means_no_verifier() {
        let mut store = TokenStore::default();
        let now = Instant::now();
        let mut plain = consent(&[]);
        plain.challenge = None;
        let code = store.issue_code(plain, now);
        assert_eq!(
            store
                .redeem_code(&code, &exchange(Some(VERIFIER)), TTL, now)
                .err(),
            Some(GrantError::VerifierUnexpected)
        );
        let issued = store.redeem_code(&code, &exchange(None), TTL, now).unwrap();
        assert!(issued.refresh_token.is_none(), "no offline_access scope");
    }
}
