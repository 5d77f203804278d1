//! OAuth grants and their tokens: issuing access and refresh tokens, refreshing (with or
//! without rotation), and revoking a grant, one company's grants, or via deauthorize.

use std::time::{Duration, Instant};

use super::{
    AccessRecord, Consent, Grant, GrantError, GrantId, Issued, RefreshRecord, TokenStore,
    Unauthorized,
};
use crate::ids::CompanyId;
use crate::random;
use crate::scopes::OFFLINE_ACCESS;

impl TokenStore {
    pub(super) fn new_grant(&mut self, consent: &Consent) -> GrantId {
        self.next_grant += 1;
        let id = GrantId(self.next_grant);
        self.grants.insert(
            id,
            Grant {
                client_id: consent.client_id.clone(),
                company_id: consent.company_id,
                user_id: consent.user_id,
                scopes: consent.scopes.clone(),
                revoked: false,
            },
        );
        id
    }

    /// A new access token for the grant, and a new refresh token if `with_refresh` and the
    /// grant has `offline_access`.
    pub(super) fn issue_tokens(
        &mut self,
        grant: GrantId,
        ttl: Duration,
        with_refresh: bool,
        now: Instant,
    ) -> Issued {
        let access_token = random::token();
        self.access.insert(
            access_token.clone(),
            AccessRecord {
                grant,
                expires_at: now + ttl,
            },
        );
        let offline = self
            .grants
            .get(&grant)
            .is_some_and(|g| g.scopes.iter().any(|s| s == OFFLINE_ACCESS));
        let refresh_token = (with_refresh && offline).then(|| {
            let token = random::token();
            self.refresh.insert(
                token.clone(),
                RefreshRecord {
                    grant,
                    retired: false,
                },
            );
            token
        });
        Issued {
            access_token,
            expires_in: ttl.as_secs(),
            refresh_token,
        }
    }

    /// Exchanges a refresh token; with `rotate` the answer carries a new refresh token and
    /// the presented one stops working, without it the presented one stays valid.
    pub fn refresh(
        &mut self,
        refresh_token: &str,
        client_id: &str,
        rotate: bool,
        ttl: Duration,
        now: Instant,
    ) -> Result<Issued, GrantError> {
        let record = self
            .refresh
            .get(refresh_token)
            .ok_or(GrantError::UnknownRefreshToken)?;
        let grant_id = record.grant;
        let grant = self
            .grants
            .get(&grant_id)
            .ok_or(GrantError::UnknownRefreshToken)?;
        if grant.client_id != client_id {
            return Err(GrantError::RefreshTokenOfAnotherClient);
        }
        if grant.revoked {
            return Err(GrantError::RefreshTokenRevoked);
        }
        if record.retired {
            return Err(GrantError::RefreshTokenRotated);
        }
        if rotate {
            if let Some(record) = self.refresh.get_mut(refresh_token) {
                record.retired = true;
            }
        }
        Ok(self.issue_tokens(grant_id, ttl, rotate, now))
    }

    /// The refresh tokens a refresh would accept now (not rotated away, their grant not
    /// revoked), with their grant; for the control API's observation.
    pub fn live_refresh_tokens(&self) -> Vec<(&str, &Grant)> {
        self.refresh
            .iter()
            .filter(|(_, record)| !record.retired)
            .filter_map(|(token, record)| {
                let grant = self.grants.get(&record.grant)?;
                (!grant.revoked).then_some((token.as_str(), grant))
            })
            .collect()
    }

    pub(super) fn revoke_grant(&mut self, grant: GrantId) {
        if let Some(grant) = self.grants.get_mut(&grant) {
            grant.revoked = true;
        }
    }

    /// `POST /oauth2/deauthorize`: revokes the grant behind a live access token.
    pub fn deauthorize(&mut self, access_token: &str, now: Instant) -> Result<(), Unauthorized> {
        let (grant, _) = self.live_access(access_token, now)?;
        self.revoke_grant(grant);
        Ok(())
    }

    /// Revokes every grant of the company (and its codes not yet exchanged), as when a
    /// customer uninstalls the app. Returns how many live grants it ended.
    pub fn revoke_company(&mut self, company: CompanyId) -> usize {
        self.drop_unredeemed_codes(|consent| consent.company_id != company);
        let mut revoked = 0;
        for grant in self.grants.values_mut() {
            if grant.company_id == company && !grant.revoked {
                grant.revoked = true;
                revoked += 1;
            }
        }
        revoked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;

    const TTL: Duration = Duration::from_secs(60);

    fn grant_with(store: &mut TokenStore, scopes: &[&str], now: Instant) -> Issued {
        let grant = store.new_grant(&Consent {
            client_id: "app".into(),
            company_id: CompanyId(1),
            user_id: UserId(2),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            redirect_uri: "https://app.example/cb".into(),
            challenge: None,
        });
        store.issue_tokens(grant, TTL, true, now)
    }

    #[test]
    fn rotation_retires_the_old_refresh_token() {
        let mut store = TokenStore::default();
        let now = Instant::now();
        let first = grant_with(&mut store, &["offline_access"], now);
        let old = first.refresh_token.unwrap();
        let second = store.refresh(&old, "app", true, TTL, now).unwrap();
        let new = second.refresh_token.unwrap();
        assert_ne!(new, old);
        assert_eq!(
            store.refresh(&old, "app", true, TTL, now).err(),
            Some(GrantError::RefreshTokenRotated)
        );
        assert_eq!(
            store.refresh(&new, "other", true, TTL, now).err(),
            Some(GrantError::RefreshTokenOfAnotherClient)
        );
        assert!(store.refresh(&new, "app", true, TTL, now).is_ok());
    }

    #[test]
    fn without_rotation_the_refresh_token_stays() {
        let mut store = TokenStore::default();
        let now = Instant::now();
        let token = grant_with(&mut store, &["offline_access"], now)
            .refresh_token
            .unwrap();
        for _ in 0..2 {
            let issued = store.refresh(&token, "app", false, TTL, now).unwrap();
            assert!(issued.refresh_token.is_none());
        }
    }

    #[test]
    fn refresh_tokens_need_offline_access() {
        let mut store = TokenStore::default();
        let issued = grant_with(&mut store, &["calls:list"], Instant::now());
        assert!(issued.refresh_token.is_none());
    }

    #[test]
    fn access_tokens_expire_by_time_and_by_order() {
        let mut store = TokenStore::default();
        let now = Instant::now();
        let issued = grant_with(&mut store, &["offline_access"], now);
        assert!(store.principal(&issued.access_token, now).is_ok());
        assert_eq!(
            store.principal(&issued.access_token, now + TTL).err(),
            Some(Unauthorized::Expired)
        );
        let fresh = grant_with(&mut store, &[], now);
        store.expire_all_access_tokens(now);
        assert_eq!(
            store.principal(&fresh.access_token, now).err(),
            Some(Unauthorized::Expired)
        );
        let refresh = issued.refresh_token.unwrap();
        assert!(store.refresh(&refresh, "app", true, TTL, now).is_ok());
    }

    #[test]
    fn revoking_a_company_ends_its_grants() {
        let mut store = TokenStore::default();
        let now = Instant::now();
        let issued = grant_with(&mut store, &["offline_access"], now);
        assert_eq!(store.revoke_company(CompanyId(99)), 0);
        assert_eq!(store.revoke_company(CompanyId(1)), 1);
        assert_eq!(
            store.principal(&issued.access_token, now).err(),
            Some(Unauthorized::Revoked)
        );
        let refresh = issued.refresh_token.unwrap();
        assert_eq!(
            store.refresh(&refresh, "app", true, TTL, now).err(),
            Some(GrantError::RefreshTokenRevoked)
        );
        assert_eq!(
            store.deauthorize(&issued.access_token, now),
            Err(Unauthorized::Revoked)
        );
    }
}
