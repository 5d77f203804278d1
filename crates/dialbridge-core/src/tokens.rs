//! The token lifecycle: one place that gives out a valid credential for an account. OAuth
//! tokens refresh ahead of expiry and after a 401, once per account across tasks (an
//! in-process lock) and across processes (a lease row plus compare-and-swap on the version).

use std::future::Future;
use std::time::Duration;

use url::Url;

use crate::account::{AuthType, ConnectionRecord, ConnectionStatus};
use crate::connect::expires_at;
use crate::error::{Error, Result};
use crate::ids::AccountId;
use crate::platform::Platform;
use crate::secret::Secret;
use crate::store::{RefreshFailure, TokenUpdate};
use crate::time::now_ms;

/// How long a process may hold the refresh lease before others may take it over.
const LEASE: Duration = Duration::from_secs(30);
/// How long to wait for another process's refresh before giving up.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(35);
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// A credential to call Dialpad with, and the version it came from.
#[derive(Debug, Clone)]
pub struct Credential {
    pub token: Secret,
    pub auth_type: AuthType,
    pub base_url: Url,
    pub version: i64,
}

impl Platform {
    /// A credential that is valid now, refreshing first when the access token is within the
    /// refresh margin of its expiry.
    pub async fn credential(&self, account_id: &AccountId) -> Result<Credential> {
        let connection = self.usable_connection(account_id).await?;
        let margin = self.settings().refresh_margin.as_millis() as i64;
        let expiring = connection.auth_type == AuthType::Oauth
            && connection
                .expires_at
                .is_some_and(|at| at <= now_ms() + margin);
        if expiring {
            return self.refresh(account_id, connection.token_version).await;
        }
        self.credential_from(&connection).await
    }

    /// Dialpad answered 401 to `stale`: refresh once (unless someone already did) and answer
    /// the new credential. An API key that Dialpad refuses marks the connection for reauth.
    pub async fn credential_after_unauthorized(
        &self,
        account_id: &AccountId,
        stale: &Credential,
    ) -> Result<Credential> {
        if stale.auth_type == AuthType::ApiKey {
            self.mark_reauth_required(account_id, "Dialpad refused the API key (401)", 0)
                .await?;
            return Err(Error::ReauthRequired(account_id.clone()));
        }
        self.refresh(account_id, stale.version).await
    }

    /// Runs `call` with a valid credential; on a 401 refreshes once and runs it once more.
    pub async fn call_dialpad<T, F, Fut>(&self, account_id: &AccountId, call: F) -> Result<T>
    where
        F: Fn(dialpad::DialpadClient, String) -> Fut,
        Fut: Future<Output = Result<T, dialpad::ApiError>>,
    {
        let credential = self.credential(account_id).await?;
        let client = dialpad::DialpadClient::new(self.http().clone(), credential.base_url.clone());
        match call(client.clone(), credential.token.expose().to_owned()).await {
            Err(e) if e.is_unauthorized() => {
                let fresh = self
                    .credential_after_unauthorized(account_id, &credential)
                    .await?;
                call(client, fresh.token.expose().to_owned())
                    .await
                    .map_err(Error::from)
            }
            other => other.map_err(Error::from),
        }
    }

    /// Refreshes connections whose tokens expire within the margin, so idle connections stay
    /// alive. Answers how many were refreshed.
    pub async fn refresh_expiring(&self) -> Result<usize> {
        let horizon = now_ms() + self.settings().refresh_margin.as_millis() as i64;
        let due = self
            .store()
            .connections_expiring_before(horizon, 100)
            .await?;
        let mut refreshed = 0;
        for account_id in due {
            match self.credential(&account_id).await {
                Ok(_) => refreshed += 1,
                Err(e) => {
                    tracing::warn!(account_id = %account_id, "background refresh failed: {e}")
                }
            }
        }
        Ok(refreshed)
    }

    async fn usable_connection(&self, account_id: &AccountId) -> Result<ConnectionRecord> {
        let connection = self
            .store()
            .get_connection(account_id)
            .await?
            .ok_or_else(|| Error::NotConnected(account_id.clone()))?;
        match connection.status {
            ConnectionStatus::Connected => Ok(connection),
            ConnectionStatus::ReauthRequired => Err(Error::ReauthRequired(account_id.clone())),
            ConnectionStatus::Pending | ConnectionStatus::Disconnected => {
                Err(Error::NotConnected(account_id.clone()))
            }
        }
    }

    async fn credential_from(&self, connection: &ConnectionRecord) -> Result<Credential> {
        let sealed = match connection.auth_type {
            AuthType::ApiKey => connection.api_key.as_ref(),
            AuthType::Oauth => connection.access_token.as_ref(),
        };
        let sealed = sealed.ok_or_else(|| Error::NotConnected(connection.account_id.clone()))?;
        Ok(Credential {
            token: self.open(sealed)?,
            auth_type: connection.auth_type,
            base_url: self.base_url(connection.environment).await?,
            version: connection.token_version,
        })
    }

    /// Replaces the token of version `stale_version`, once: the first caller refreshes, the
    /// others wait and then use what it stored.
    async fn refresh(&self, account_id: &AccountId, stale_version: i64) -> Result<Credential> {
        let lock = self.refresh_lock(account_id);
        let _one_at_a_time = lock.lock().await;
        let give_up_at = now_ms() + WAIT_FOR_OTHERS.as_millis() as i64;
        loop {
            let connection = self.usable_connection(account_id).await?;
            let now = now_ms();
            if connection.token_version != stale_version && !expired(&connection, now) {
                return self.credential_from(&connection).await;
            }
            if connection.next_refresh_at.is_some_and(|at| at > now) {
                return self.during_backoff(&connection, now).await;
            }
            let until = now + LEASE.as_millis() as i64;
            if self
                .store()
                .try_lock_refresh(account_id, self.owner(), now, until)
                .await?
            {
                let result = self.refresh_under_lease(account_id, stale_version).await;
                self.store()
                    .unlock_refresh(account_id, self.owner())
                    .await?;
                return result;
            }
            if now > give_up_at {
                return Err(Error::DialpadUnavailable(
                    "another dialbridge process is still refreshing this account's token".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn refresh_under_lease(
        &self,
        account_id: &AccountId,
        stale_version: i64,
    ) -> Result<Credential> {
        // Read again under the lease: another process may have refreshed just before.
        let connection = self.usable_connection(account_id).await?;
        let now = now_ms();
        if connection.token_version != stale_version && !expired(&connection, now) {
            return self.credential_from(&connection).await;
        }
        let Some(sealed_refresh) = connection.refresh_token.clone() else {
            self.mark_reauth_required(
                account_id,
                "no refresh token (was offline_access granted?)",
                connection.refresh_failures,
            )
            .await?;
            return Err(Error::ReauthRequired(account_id.clone()));
        };
        let refresh_token = self.open(&sealed_refresh)?;
        let app = self.oauth_app(connection.environment).await?;
        tracing::info!(account_id = %account_id, "refreshing the access token");
        let outcome = app.refresh(refresh_token.expose()).await;
        let label = match &outcome {
            Ok(_) => "ok",
            Err(e) if e.is_invalid_grant() => "invalid_grant",
            Err(_) => "failed",
        };
        self.metrics().token_refresh(label);
        match outcome {
            Ok(tokens) => {
                let update = TokenUpdate {
                    access_token: self.cipher().seal(&tokens.access_token),
                    // Dialpad may not rotate: keep the refresh token we have when it sends none.
                    refresh_token: tokens
                        .refresh_token
                        .as_deref()
                        .map_or(sealed_refresh, |t| self.cipher().seal(t)),
                    expires_at: tokens.expires_in.map(|d| expires_at(now, d)),
                    scopes: tokens.scopes.unwrap_or(connection.scopes),
                    now,
                };
                if !self
                    .store()
                    .swap_tokens(account_id, connection.token_version, &update)
                    .await?
                {
                    tracing::warn!(account_id = %account_id, "the connection changed during the refresh; using the stored one");
                }
                let connection = self.usable_connection(account_id).await?;
                self.credential_from(&connection).await
            }
            Err(e) if e.is_invalid_grant() => {
                self.mark_reauth_required(account_id, &e.to_string(), connection.refresh_failures)
                    .await?;
                Err(Error::ReauthRequired(account_id.clone()))
            }
            Err(e) => {
                let failures = connection.refresh_failures + 1;
                let wait = backoff(failures);
                tracing::warn!(account_id = %account_id, failures, retry_in_secs = wait.as_secs(), "token refresh failed: {e}");
                let failure = RefreshFailure {
                    status: ConnectionStatus::Connected,
                    failures,
                    next_refresh_at: Some(now + wait.as_millis() as i64),
                    last_error: e.to_string(),
                    now,
                };
                self.store()
                    .record_refresh_failure(account_id, &failure)
                    .await?;
                let connection = self.usable_connection(account_id).await?;
                self.during_backoff(&connection, now).await
            }
        }
    }

    /// While backing off, the current token is still good if it has not expired.
    async fn during_backoff(&self, connection: &ConnectionRecord, now: i64) -> Result<Credential> {
        if !expired(connection, now) {
            return self.credential_from(connection).await;
        }
        let retry_in = (connection.next_refresh_at.unwrap_or(now) - now).max(0) / 1000;
        let last = connection.last_error.as_deref().unwrap_or("unknown error");
        Err(Error::DialpadUnavailable(format!(
            "the access token expired and refreshing it failed ({last}); the next attempt is in {retry_in}s"
        )))
    }

    async fn mark_reauth_required(
        &self,
        account_id: &AccountId,
        reason: &str,
        failures: i64,
    ) -> Result<()> {
        tracing::warn!(account_id = %account_id, "connection needs reauthorization: {reason}");
        let failure = RefreshFailure {
            status: ConnectionStatus::ReauthRequired,
            failures,
            next_refresh_at: None,
            last_error: reason.to_owned(),
            now: now_ms(),
        };
        self.store()
            .record_refresh_failure(account_id, &failure)
            .await?;
        self.emit_connection_expired(account_id).await;
        Ok(())
    }
}

fn expired(connection: &ConnectionRecord, now: i64) -> bool {
    connection.expires_at.is_some_and(|at| at <= now)
}

/// 5s, 10s, 20s, … up to 15 minutes.
fn backoff(failures: i64) -> Duration {
    let exp = (failures.clamp(1, 20) - 1) as u32;
    FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(exp))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert_eq!(backoff(4), Duration::from_secs(40));
        assert_eq!(backoff(50), MAX_BACKOFF);
    }
}
