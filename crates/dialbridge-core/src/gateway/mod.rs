//! The gateway: how every request for an account reaches Dialpad (actions, the proxy,
//! provisioning, connection checks) — throttled to Dialpad's limits (`throttle.rs`), with a
//! valid token (refreshed once after a 401, see `connections/tokens.rs`), and retried where
//! that is safe (`retry.rs`):
//! - 429: Dialpad did not apply the request; wait `Retry-After` (or back off) and retry, any
//!   method;
//! - 5xx or no answer (timeout, connection error): retry reads (GET) with exponential backoff
//!   and jitter; never repeat a write that may have been applied;
//! - retries spent: 503 `rate_limited`, or the last answer as an error (`success_body`):
//!   Dialpad's 4xx as 422 `dialpad_rejected`, its 5xx as 502 `dialpad_error`.

mod retry;
mod throttle;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialpad::{RawRequest, RawResponse};
use dialpad_spec::Operation;
use serde_json::{json, Value};

pub use retry::RetryPolicy;
pub use throttle::Throttle;

use crate::connections::Tokens;
use crate::error::{Error, Result};
use crate::ids::AccountId;
use crate::platform::Shared;

/// Calls Dialpad for an account.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) tokens: Tokens,
    /// Dialpad's rate limits, kept per account by this process.
    pub(crate) throttle: Arc<Throttle>,
    pub(crate) shared: Shared,
}

impl Gateway {
    /// Runs `call` with a valid credential; on a 401 refreshes once and runs it once more.
    pub async fn call<T, F, Fut>(&self, account_id: &AccountId, call: F) -> Result<T>
    where
        F: Fn(dialpad::DialpadClient, String) -> Fut,
        Fut: Future<Output = Result<T, dialpad::ApiError>>,
    {
        let credential = self.tokens.credential(account_id).await?;
        let client =
            dialpad::DialpadClient::new(self.shared.http().clone(), credential.base_url.clone());
        match call(client.clone(), credential.token.expose().to_owned()).await {
            Err(e) if e.is_unauthorized() => {
                let fresh = self
                    .tokens
                    .credential_after_unauthorized(account_id, &credential)
                    .await?;
                call(client, fresh.token.expose().to_owned())
                    .await
                    .map_err(Error::from)
            }
            other => other.map_err(Error::from),
        }
    }

    /// Sends the spec's operation `operation_id` for the account (see `send`).
    pub(crate) async fn send_operation(
        &self,
        account: &AccountId,
        operation_id: &str,
        request: &RawRequest,
    ) -> Result<RawResponse> {
        let operation = dialpad_spec::spec()
            .operation(operation_id)
            .ok_or_else(|| Error::Internal(format!("the spec lacks {operation_id}")))?;
        self.send(account, operation, request).await
    }

    /// Sends `request` for the account under the throttle and retry rules above; answers
    /// Dialpad's final response, whatever its status (other than a spent 429).
    pub(crate) async fn send(
        &self,
        account_id: &AccountId,
        operation: &Operation,
        request: &RawRequest,
    ) -> Result<RawResponse> {
        let policy = &self.shared.settings().retry;
        let is_read = request.method == reqwest::Method::GET;
        let (mut rate_limited, mut failed_reads) = (0, 0);
        loop {
            let wait = self.throttle.reserve(
                account_id.as_str(),
                &operation.id,
                operation.rate_limit_per_minute,
                Instant::now(),
            );
            if !wait.is_zero() {
                tracing::debug!(account_id = %account_id, operation = %operation.id, ?wait, "throttled");
                tokio::time::sleep(wait).await;
            }
            let started = Instant::now();
            let outcome = self
                .call(account_id, |client, token| {
                    let request = request.clone();
                    async move {
                        let response = client.send(&token, &request).await?;
                        if response.status == 401 {
                            // Handed back as an error so the token is refreshed and the call
                            // made once more.
                            return Err(dialpad::ApiError::Status {
                                status: 401,
                                body: response.body,
                                retry_after: None,
                            });
                        }
                        Ok(response)
                    }
                })
                .await;
            let status = match &outcome {
                Ok(response) => Some(response.status),
                Err(Error::Dialpad { status, .. }) => Some(*status),
                _ => None,
            };
            self.shared
                .metrics()
                .dialpad_request(&operation.id, status, started.elapsed());
            match outcome {
                Ok(response) if response.status == 429 => {
                    let retry_after = response.retry_after.map(Duration::from_secs);
                    let too_long = retry_after.is_some_and(|w| w > policy.max_retry_after);
                    if rate_limited >= policy.rate_limit_retries || too_long {
                        return Err(Error::RateLimited {
                            retry_after_secs: response.retry_after,
                            body: response.body,
                        });
                    }
                    let wait = retry_after.unwrap_or_else(|| policy.backoff(rate_limited));
                    rate_limited += 1;
                    tracing::info!(account_id = %account_id, operation = %operation.id, ?wait, "Dialpad answered 429; waiting");
                    tokio::time::sleep(wait).await;
                }
                Ok(response)
                    if response.status >= 500 && is_read && failed_reads < policy.read_retries =>
                {
                    tokio::time::sleep(policy.backoff(failed_reads)).await;
                    failed_reads += 1;
                }
                Err(Error::DialpadUnavailable(reason))
                    if is_read && failed_reads < policy.read_retries =>
                {
                    tracing::info!(account_id = %account_id, operation = %operation.id, "Dialpad unreachable ({reason}); retrying");
                    tokio::time::sleep(policy.backoff(failed_reads)).await;
                    failed_reads += 1;
                }
                other => return other,
            }
        }
    }
}

/// The body of a successful answer (`{}` when Dialpad sent none); any other status is an
/// error carrying Dialpad's status and body: `dialpad_rejected` for its 4xx (the request was
/// refused as made), `dialpad_error` for the rest (see `Error::dialpad_answered`).
pub fn success_body(response: RawResponse) -> Result<Value> {
    if response.is_success() {
        Ok(match response.body {
            Value::Null => json!({}),
            body => body,
        })
    } else {
        Err(Error::dialpad_answered(response.status, response.body))
    }
}
