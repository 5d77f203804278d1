//! The token lifecycle: one place that gives out a valid credential for an account. OAuth
//! tokens refresh ahead of expiry and after a 401, once per account across tasks (an
//! in-process lock) and across processes (a lease row plus compare-and-swap on the version).
//! Once a refresh token is sent, the exchange runs to its end in a task of its own, so a
//! caller that goes away (a dropped request, a stopping background loop) cannot drop the
//! rotated token Dialpad answers with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::task::TaskTracker;
use url::Url;

use super::model::{Account, AuthType, ConnectionRecord, ConnectionStatus};
use crate::app::{AppSettings, Environment};
use crate::error::{Error, Result};
use crate::ids::AccountId;
use crate::platform::Shared;
use crate::secret::Secret;
use crate::store::{ConnectionStore, RefreshFailure, TokenUpdate};
use crate::time::Timestamp;
use crate::vendor_webhooks::VendorWebhooks;

/// The longest a process holds a refresh lease before others may take it over.
const MAX_LEASE: Duration = Duration::from_secs(30);
/// The shortest refresh lease, whatever the margin: Dialpad gets at least 4 s to answer.
const MIN_LEASE: Duration = Duration::from_secs(6);
/// Refreshes a process runs at once; the background claims this many at a time, so no lease
/// it holds waits behind other refreshes.
const REFRESH_CONCURRENCY: u32 = 16;
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
    pub environment: Environment,
    /// The Dialpad company, when known: whose rate limits the requests count against.
    pub company_id: Option<String>,
}

/// Gives out valid credentials; the one place a token refreshes.
#[derive(Clone)]
pub struct Tokens {
    pub(crate) connections: Arc<dyn ConnectionStore>,
    pub(crate) app: AppSettings,
    pub(crate) vendor_webhooks: VendorWebhooks,
    pub(crate) shared: Shared,
    /// One refresh at a time per account inside this process.
    pub(crate) refresh_locks: Arc<Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<()>>>>>,
    /// Token exchanges under way, each in a task of its own; a clean shutdown waits for them.
    pub(crate) exchanges: TaskTracker,
}

impl Tokens {
    fn refresh_lock(&self, account: &AccountId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.refresh_locks.lock().unwrap_or_else(|p| p.into_inner());
        // Forget locks nobody holds, so the map does not grow with every account ever seen.
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        locks.entry(account.clone()).or_default().clone()
    }

    /// A credential that is valid now, refreshing first when the access token is within the
    /// refresh margin of its expiry.
    pub async fn credential(&self, account_id: &AccountId) -> Result<Credential> {
        let connection = self.usable_connection(account_id).await?;
        self.credential_of(&connection).await
    }

    /// `credential` for an account read just now with its connection (no second read).
    pub(crate) async fn credential_for(&self, account: &Account) -> Result<Credential> {
        let connection = account
            .connection
            .as_ref()
            .ok_or_else(|| Error::NotConnected(account.account_id.clone()))?;
        usable(connection)?;
        self.credential_of(connection).await
    }

    async fn credential_of(&self, connection: &ConnectionRecord) -> Result<Credential> {
        let account_id = &connection.account_id;
        let margin = self.shared.settings().refresh_margin;
        let expiring = connection.auth_type == AuthType::Oauth
            && connection
                .expires_at
                .is_some_and(|at| at <= Timestamp::now() + margin);
        if expiring {
            return self.refresh(account_id, connection.token_version).await;
        }
        self.credential_from(connection).await
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

    /// Refreshes the connections of the held shards whose refresh moment has come, so idle
    /// connections stay alive: in leased batches of `REFRESH_CONCURRENCY` run at once
    /// (processes never take the same one), the most overdue first. Reports how overdue the
    /// most overdue token is (`token_refresh_lag_seconds`). Answers how many were refreshed.
    pub async fn refresh_due(&self) -> Result<usize> {
        let shards: Vec<i64> = self.shared.ownership().shards().iter().copied().collect();
        let mut refreshed = 0;
        loop {
            let now = Timestamp::now();
            self.report_lag(&shards, now).await?;
            let batch = self
                .connections
                .claim_refreshes(
                    &shards,
                    self.shared.owner(),
                    now,
                    now + self.lease(),
                    REFRESH_CONCURRENCY,
                )
                .await?;
            if batch.is_empty() {
                return Ok(refreshed);
            }
            let mut running = tokio::task::JoinSet::new();
            for account_id in batch {
                let tokens = self.clone();
                running.spawn(async move { tokens.refresh_claimed(&account_id).await });
            }
            while let Some(done) = running.join_next().await {
                refreshed += usize::from(done.ok() == Some(true));
            }
        }
    }

    /// How long a refresh lease lasts: a quarter of the refresh margin, between `MIN_LEASE`
    /// and `MAX_LEASE`. A process that dies holding one delays that token by a small part of
    /// its margin before another takes it over.
    fn lease(&self) -> Duration {
        (self.shared.settings().refresh_margin / 4).clamp(MIN_LEASE, MAX_LEASE)
    }

    /// How long Dialpad may take to answer a refresh: two thirds of the lease, so the answer
    /// is stored (or the attempt given up) while the lease still keeps others away.
    fn exchange_timeout(&self) -> Duration {
        self.lease() * 2 / 3
    }

    /// Runs `exchange` to its end in a task of its own, tracked for a clean shutdown: once a
    /// code or a refresh token is sent, Dialpad may have spent it, and only the end of the
    /// exchange stores what Dialpad answered. The caller awaits the outcome but cannot cancel it.
    pub(crate) async fn run_exchange<T: Send + 'static>(
        &self,
        exchange: impl std::future::Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        self.exchanges.spawn(exchange).await.map_err(|e| {
            Error::Internal(format!("the token exchange task ended abnormally: {e}"))
        })?
    }

    /// Waits for the token exchanges under way (each bounded by `exchange_timeout`); for a
    /// clean shutdown, after which no new one should start.
    pub async fn finish_exchanges(&self) {
        self.exchanges.close();
        self.exchanges.wait().await;
    }

    async fn report_lag(&self, shards: &[i64], now: Timestamp) -> Result<()> {
        let oldest = self.connections.oldest_due_refresh(shards, now).await?;
        let lag = oldest.map_or(Duration::ZERO, |at| now.since(at));
        self.shared.metrics().token_refresh_lag(lag);
        Ok(())
    }

    /// Refreshes one connection whose refresh lease this process took; gives the lease back.
    /// When that did not move its refresh moment (an error before Dialpad was asked), it is
    /// put off like a failed refresh, so it is not taken again at once. Answers whether a new
    /// token was stored.
    async fn refresh_claimed(&self, account_id: &AccountId) -> bool {
        let outcome = match self.connections.get_connection(account_id).await {
            Ok(Some(connection)) if connection.status == ConnectionStatus::Connected => {
                let version = connection.token_version;
                self.refresh(account_id, version)
                    .await
                    .map(|credential| credential.version != version)
            }
            Ok(_) => Ok(false),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = &outcome {
            tracing::warn!(account_id = %account_id, "background refresh failed: {e}");
            if let Err(e) = self.put_off_if_still_due(account_id, e).await {
                tracing::warn!(account_id = %account_id, "putting off a failed refresh: {e}");
            }
        }
        if let Err(e) = self
            .connections
            .unlock_refresh(account_id, self.shared.owner())
            .await
        {
            tracing::warn!(account_id = %account_id, "releasing the refresh lease: {e}");
        }
        outcome.unwrap_or(false)
    }

    async fn put_off_if_still_due(&self, account_id: &AccountId, error: &Error) -> Result<()> {
        let Some(connection) = self.connections.get_connection(account_id).await? else {
            return Ok(());
        };
        let now = Timestamp::now();
        let still_due = connection.status == ConnectionStatus::Connected
            && connection.refresh_at.is_some_and(|at| at <= now);
        if still_due {
            let failures = connection.refresh_failures + 1;
            let failure = RefreshFailure {
                status: ConnectionStatus::Connected,
                failures,
                next_refresh_at: Some(now + backoff(failures)),
                last_error: error.to_string(),
                now,
            };
            self.connections
                .record_refresh_failure(account_id, &failure)
                .await?;
            self.shared.connection_changed(account_id).await;
        }
        Ok(())
    }

    async fn usable_connection(&self, account_id: &AccountId) -> Result<ConnectionRecord> {
        let connection = self
            .connections
            .get_connection(account_id)
            .await?
            .ok_or_else(|| Error::NotConnected(account_id.clone()))?;
        usable(&connection)?;
        Ok(connection)
    }

    async fn credential_from(&self, connection: &ConnectionRecord) -> Result<Credential> {
        let sealed = match connection.auth_type {
            AuthType::ApiKey => connection.api_key.as_ref(),
            AuthType::Oauth => connection.access_token.as_ref(),
        };
        let sealed = sealed.ok_or_else(|| Error::NotConnected(connection.account_id.clone()))?;
        Ok(Credential {
            token: self.shared.open(sealed)?,
            auth_type: connection.auth_type,
            base_url: self.app.base_url(connection.environment).await?,
            version: connection.token_version,
            environment: connection.environment,
            company_id: connection.dialpad_company_id.clone(),
        })
    }

    /// Replaces the token of version `stale_version`, once: the first caller refreshes, the
    /// others wait and then use what it stored.
    async fn refresh(&self, account_id: &AccountId, stale_version: i64) -> Result<Credential> {
        let one_at_a_time = self.refresh_lock(account_id).lock_owned().await;
        let give_up_at = Timestamp::now() + WAIT_FOR_OTHERS;
        let mut stale_version = stale_version;
        loop {
            let connection = self.usable_connection(account_id).await?;
            let now = Timestamp::now();
            if connection.token_version != stale_version {
                if !expired(&connection, now) {
                    return self.credential_from(&connection).await;
                }
                // Replaced, and the replacement has expired too: that one is refreshed.
                stale_version = connection.token_version;
            }
            if connection.next_refresh_at.is_some_and(|at| at > now) {
                return self.during_backoff(&connection, now).await;
            }
            let until = now + self.lease();
            // The lease is taken only while the token is still the one seen stale here, in
            // the same statement: a process that refreshed between the read above and this
            // leaves nothing to take, and the next turn reads its token.
            if self
                .connections
                .try_lock_refresh(account_id, self.shared.owner(), stale_version, now, until)
                .await?
            {
                // From here Dialpad may spend the refresh token: the exchange, the storing of
                // its answer and the lease's release run in a task of their own (holding the
                // in-process lock), to their end even if this caller goes away.
                let tokens = self.clone();
                return self
                    .run_exchange(async move {
                        let _one_at_a_time = one_at_a_time;
                        let account_id = connection.account_id.clone();
                        let result = tokens.refresh_under_lease(connection).await;
                        tokens
                            .connections
                            .unlock_refresh(&account_id, tokens.shared.owner())
                            .await?;
                        result
                    })
                    .await;
            }
            if now > give_up_at {
                return Err(Error::DialpadUnavailable(
                    "another dialbridge process is still refreshing this account's token".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Refreshes `connection`'s token, whose refresh lease this process holds for the version
    /// read (so its tokens are the stored ones: every change of them moves the version).
    async fn refresh_under_lease(&self, connection: ConnectionRecord) -> Result<Credential> {
        let account_id = &connection.account_id;
        let now = Timestamp::now();
        let Some(sealed_refresh) = connection.refresh_token.clone() else {
            self.mark_reauth_required(
                account_id,
                "no refresh token (was offline_access granted?)",
                connection.refresh_failures,
            )
            .await?;
            return Err(Error::ReauthRequired(account_id.clone()));
        };
        let refresh_token = self.shared.open(&sealed_refresh)?;
        let app = self.app.oauth_app(connection.environment).await?;
        tracing::info!(account_id = %account_id, "refreshing the access token");
        let timeout = self.exchange_timeout();
        let outcome = tokio::time::timeout(timeout, app.refresh(refresh_token.expose()))
            .await
            .unwrap_or_else(|_| {
                Err(dialpad::OAuthError::Unavailable(format!(
                    "Dialpad's token endpoint did not answer within {} ms",
                    timeout.as_millis()
                )))
            });
        let label = match &outcome {
            Ok(_) => "ok",
            Err(e) if e.is_invalid_grant() => "invalid_grant",
            Err(_) => "failed",
        };
        self.shared.metrics().token_refresh(label);
        match outcome {
            Ok(tokens) => {
                let update = TokenUpdate {
                    access_token: self.shared.seal(&tokens.access_token),
                    // Dialpad may not rotate: keep the refresh token we have when it sends none.
                    refresh_token: tokens
                        .refresh_token
                        .as_deref()
                        .map_or(sealed_refresh, |t| self.shared.seal(t)),
                    expires_at: tokens.expires_in.map(|d| now + d),
                    refresh_at: refresh_moment(
                        now,
                        tokens.expires_in,
                        self.shared.settings().refresh_margin,
                    ),
                    scopes: tokens.scopes.unwrap_or(connection.scopes),
                    now,
                };
                if self
                    .connections
                    .swap_tokens(account_id, connection.token_version, &update)
                    .await?
                {
                    self.shared.connection_changed(account_id).await;
                } else {
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
                    next_refresh_at: Some(now + wait),
                    last_error: e.to_string(),
                    now,
                };
                self.connections
                    .record_refresh_failure(account_id, &failure)
                    .await?;
                self.shared.connection_changed(account_id).await;
                let connection = self.usable_connection(account_id).await?;
                self.during_backoff(&connection, now).await
            }
        }
    }

    /// While backing off, the current token is still good if it has not expired.
    async fn during_backoff(
        &self,
        connection: &ConnectionRecord,
        now: Timestamp,
    ) -> Result<Credential> {
        if !expired(connection, now) {
            return self.credential_from(connection).await;
        }
        let retry_in = connection
            .next_refresh_at
            .unwrap_or(now)
            .since(now)
            .as_secs();
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
            now: Timestamp::now(),
        };
        self.connections
            .record_refresh_failure(account_id, &failure)
            .await?;
        self.shared.connection_changed(account_id).await;
        self.vendor_webhooks
            .emit_connection_expired(account_id)
            .await;
        Ok(())
    }
}

/// When the background should refresh a token issued at `now` that lives `lifetime`: at a
/// random moment in the first half of the refresh margin before it expires — so tokens issued
/// together are not refreshed together — and never before half its life has passed (a token
/// shorter-lived than the margin is not refreshed over and over).
pub(crate) fn refresh_moment(
    now: Timestamp,
    lifetime: Option<Duration>,
    margin: Duration,
) -> Option<Timestamp> {
    let lifetime = lifetime?;
    let lead = margin.min(lifetime / 2);
    let expires_at = now + lifetime;
    Some(expires_at - lead + lead.mul_f64(rand::random::<f64>() / 2.0))
}

fn expired(connection: &ConnectionRecord, now: Timestamp) -> bool {
    connection.expires_at.is_some_and(|at| at <= now)
}

/// 5s, 10s, 20s, … up to 15 minutes.
fn backoff(failures: i64) -> Duration {
    let exp = (failures.clamp(1, 20) - 1) as u32;
    FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(exp))
        .min(MAX_BACKOFF)
}

/// Whether a connection can call Dialpad now: connected (not pending, disconnected or waiting
/// for the customer to consent again).
fn usable(connection: &ConnectionRecord) -> Result<()> {
    let account_id = &connection.account_id;
    match connection.status {
        ConnectionStatus::Connected => Ok(()),
        ConnectionStatus::ReauthRequired => Err(Error::ReauthRequired(account_id.clone())),
        ConnectionStatus::Pending | ConnectionStatus::Disconnected => {
            Err(Error::NotConnected(account_id.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_moments_are_spread_within_the_first_half_of_the_margin() {
        let now = Timestamp::from_millis(1_000_000_000);
        let hour = Duration::from_secs(3600);
        let margin = Duration::from_secs(300);
        let moments: Vec<Timestamp> = (0..200)
            .map(|_| refresh_moment(now, Some(hour), margin).unwrap())
            .collect();
        let expires = now + hour;
        assert!(moments
            .iter()
            .all(|m| *m >= expires - margin && *m <= expires - margin / 2));
        let distinct: std::collections::BTreeSet<_> = moments.iter().collect();
        assert!(
            distinct.len() > 100,
            "moments are jittered, not one instant"
        );
        // A token shorter-lived than the margin waits half its life.
        let short = refresh_moment(now, Some(Duration::from_secs(60)), margin).unwrap();
        assert!(short >= now + Duration::from_secs(30));
        assert_eq!(refresh_moment(now, None, margin), None);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert_eq!(backoff(4), Duration::from_secs(40));
        assert_eq!(backoff(8), Duration::from_secs(640));
        // The cap is the documented 15 minutes (a constant compared with itself proves
        // nothing: found by cargo-mutants).
        assert_eq!(backoff(9), Duration::from_secs(900));
        assert_eq!(backoff(50), Duration::from_secs(900));
        assert_eq!(
            backoff(0),
            Duration::from_secs(5),
            "a count below one is the first"
        );
    }
}
