//! How an action's request reaches Dialpad: throttled to Dialpad's limits per account, with a
//! valid token (refreshed once after a 401, see `tokens.rs`), and retried where that is safe:
//! - 429: Dialpad did not apply the request; wait `Retry-After` (or back off) and retry, any
//!   method;
//! - 5xx or no answer (timeout, connection error): retry reads (GET) with exponential backoff
//!   and jitter; never repeat a write that may have been applied;
//! - retries spent: 503 `rate_limited`, or the last answer as 502 `dialpad_error`.

use std::time::{Duration, Instant};

use dialpad::{RawRequest, RawResponse};
use dialpad_spec::Operation;
use rand::Rng;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::ids::AccountId;
use crate::platform::Platform;

/// Bounds of the retries; the defaults suit Dialpad, tests shorten the waits.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after a 429 (each waits `Retry-After`).
    pub rate_limit_retries: u32,
    /// A `Retry-After` longer than this is not waited for: the action fails `rate_limited`.
    pub max_retry_after: Duration,
    /// Retries of a read after a 5xx or no answer.
    pub read_retries: u32,
    /// First backoff; doubles per retry, with ±50 % jitter, capped at `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            rate_limit_retries: 3,
            max_retry_after: Duration::from_secs(60),
            read_retries: 3,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, retry: u32) -> Duration {
        let exponential = self.base_backoff.saturating_mul(1 << retry.min(16));
        let capped = exponential.min(self.max_backoff);
        capped.mul_f64(rand::thread_rng().gen_range(0.5..1.5))
    }
}

impl Platform {
    /// Sends `request` for the account under the throttle and retry rules above; answers
    /// Dialpad's final response, whatever its status (other than a spent 429).
    pub(crate) async fn send_to_dialpad(
        &self,
        account_id: &AccountId,
        operation: &Operation,
        request: &RawRequest,
    ) -> Result<RawResponse> {
        let policy = self.settings().retry.clone();
        let is_read = request.method == reqwest::Method::GET;
        let (mut rate_limited, mut failed_reads) = (0, 0);
        loop {
            let wait = self.throttle().reserve(
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
                .call_dialpad(account_id, |client, token| {
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
            self.metrics()
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

/// The body of a successful answer (`{}` when Dialpad sent none); any other status is a
/// `dialpad_error` carrying Dialpad's status and body.
pub fn success_body(response: RawResponse) -> Result<Value> {
    if response.is_success() {
        Ok(match response.body {
            Value::Null => json!({}),
            body => body,
        })
    } else {
        Err(Error::Dialpad {
            status: response.status,
            body: response.body,
        })
    }
}
