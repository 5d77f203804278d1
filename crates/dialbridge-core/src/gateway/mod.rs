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
pub(crate) use throttle::{Limit, Throttle};
pub use throttle::{RateLimits, Window};

use crate::app::{AppSettings, Environment};
use crate::connections::{Account, Credential, Tokens};
use crate::error::{Error, Result};
use crate::ids::AccountId;
use crate::platform::Shared;
use crate::time::Timestamp;

/// Calls Dialpad for an account.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) tokens: Tokens,
    pub(crate) app: AppSettings,
    /// Dialpad's rate limits, kept per account by this process.
    pub(crate) throttle: Arc<Throttle>,
    pub(crate) shared: Shared,
}

impl Gateway {
    /// Who a credential not yet stored belongs to: `GET /company` and `GET /users/me` with it.
    /// Both leave before the company, and so its throttle windows, are known; once it is, they
    /// are counted in its windows at the moments they were sent, as Dialpad counted them, so
    /// the requests that follow (a burst of actions right after connecting) leave room for
    /// them.
    pub(crate) async fn identify(
        &self,
        environment: Environment,
        token: &str,
    ) -> Result<(
        std::result::Result<dialpad::Company, dialpad::ApiError>,
        std::result::Result<dialpad::User, dialpad::ApiError>,
    )> {
        let base_url = self.app.base_url(environment).await?;
        let client = dialpad::DialpadClient::new(self.shared.http().clone(), base_url);
        let company_sent = Timestamp::now();
        let company = client.company(token).await;
        let user_sent = Timestamp::now();
        let user = client.user("me", token).await;
        if let Some(company_id) = company_of(&company, &user) {
            let key = company_key(environment, &company_id);
            for (operation_id, sent) in [("company.get", company_sent), ("users.get", user_sent)] {
                let operation = spec_operation(operation_id)?;
                if let Some(needs) = self.needs_for(environment, &key, operation).await? {
                    self.throttle.count_sent(&needs, sent).await?;
                }
            }
        }
        Ok((company, user))
    }

    /// `call` with the credential given (replaced by the fresh one after a 401).
    async fn call_with<T, F, Fut>(
        &self,
        account_id: &AccountId,
        credential: &mut Credential,
        call: F,
    ) -> Result<T>
    where
        F: Fn(dialpad::DialpadClient, String) -> Fut,
        Fut: Future<Output = Result<T, dialpad::ApiError>>,
    {
        let client =
            dialpad::DialpadClient::new(self.shared.http().clone(), credential.base_url.clone());
        match call(client.clone(), credential.token.expose().to_owned()).await {
            Err(e) if e.is_unauthorized() => {
                *credential = self
                    .tokens
                    .credential_after_unauthorized(account_id, credential)
                    .await?;
                call(client, credential.token.expose().to_owned())
                    .await
                    .map_err(Error::from)
            }
            other => other.map_err(Error::from),
        }
    }

    /// The throttle windows a request of `operation` for the account needs.
    async fn needs(
        &self,
        credential: &Credential,
        account_id: &AccountId,
        operation: &Operation,
    ) -> Result<Option<throttle::Needs>> {
        // An account whose company is not known (yet) is budgeted on its own.
        let company = match &credential.company_id {
            Some(company_id) => company_key(credential.environment, company_id),
            None => format!("{}:account:{account_id}", credential.environment),
        };
        self.needs_for(credential.environment, &company, operation)
            .await
    }

    /// The company's per-second window and, when the operation has one, its per-minute window
    /// (none when the environment is not throttled).
    async fn needs_for(
        &self,
        environment: Environment,
        company: &str,
        operation: &Operation,
    ) -> Result<Option<throttle::Needs>> {
        let limits = self.app.rate_limits(environment).await?;
        if !limits.enabled {
            return Ok(None);
        }
        let mut needs = vec![(
            company.to_owned(),
            Limit {
                limit: limits.per_second.max(1),
                span_ms: 1_000,
            },
        )];
        if let (true, Some(per_minute)) = (limits.operation_limits, operation.rate_limit_per_minute)
        {
            needs.push((
                format!("{company}:{}", operation.id),
                Limit {
                    limit: per_minute.max(1),
                    span_ms: 60_000,
                },
            ));
        }
        Ok(Some(needs))
    }

    /// Sends the spec's operation `operation_id` for the account (see `send`).
    pub(crate) async fn send_operation(
        &self,
        account: &AccountId,
        operation_id: &str,
        request: &RawRequest,
    ) -> Result<RawResponse> {
        self.send(account, spec_operation(operation_id)?, request)
            .await
    }

    /// Sends `request` for the account under the throttle and retry rules above; answers
    /// Dialpad's final response, whatever its status (other than a spent 429).
    pub(crate) async fn send(
        &self,
        account_id: &AccountId,
        operation: &Operation,
        request: &RawRequest,
    ) -> Result<RawResponse> {
        let credential = self.tokens.credential(account_id).await?;
        self.send_with(account_id, credential, operation, request)
            .await
    }

    /// `send` for an account read just now with its connection: the connection is not read
    /// again (one database round trip per action instead of two).
    pub(crate) async fn send_for(
        &self,
        account: &Account,
        operation: &Operation,
        request: &RawRequest,
    ) -> Result<RawResponse> {
        let credential = self.tokens.credential_for(account).await?;
        self.send_with(&account.account_id, credential, operation, request)
            .await
    }

    async fn send_with(
        &self,
        account_id: &AccountId,
        mut credential: Credential,
        operation: &Operation,
        request: &RawRequest,
    ) -> Result<RawResponse> {
        let policy = &self.shared.settings().retry;
        let is_read = request.method == reqwest::Method::GET;
        let (mut rate_limited, mut failed_reads) = (0, 0);
        let needs = self.needs(&credential, account_id, operation).await?;
        loop {
            // Its turn under Dialpad's limits (see `Throttle::turn`).
            if let Some(needs) = &needs {
                let late = self.throttle.turn(needs).await?;
                if late > 0 {
                    self.shared.metrics().throttle_late_slots(late);
                }
            }
            let started = Instant::now();
            let outcome = self
                .call_with(account_id, &mut credential, |client, token| {
                    let request = request.clone();
                    async move {
                        let response = client.send(&token, &request).await?;
                        if response.status == 401 {
                            // Handed back as an error so the token is refreshed and the call
                            // made once more.
                            return Err(dialpad::ApiError::Status {
                                status: 401,
                                body: response.body(),
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
                            body: response.body(),
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

/// The company an identification found: the one `/company` answered, else the user's.
pub(crate) fn company_of(
    company: &std::result::Result<dialpad::Company, dialpad::ApiError>,
    user: &std::result::Result<dialpad::User, dialpad::ApiError>,
) -> Option<String> {
    match (company, user) {
        (Ok(company), _) => Some(company.id.clone()),
        (_, Ok(user)) => user.company_id.clone(),
        _ => None,
    }
}

/// The key of a Dialpad company's throttle windows.
fn company_key(environment: Environment, company_id: &str) -> String {
    format!("{environment}:company:{company_id}")
}

fn spec_operation(operation_id: &str) -> Result<&'static Operation> {
    dialpad_spec::spec()
        .operation(operation_id)
        .ok_or_else(|| Error::Internal(format!("the spec lacks {operation_id}")))
}

/// The body of a successful answer (`{}` when Dialpad sent none); any other status is an
/// error carrying Dialpad's status and body: `dialpad_rejected` for its 4xx (the request was
/// refused as made), `dialpad_error` for the rest (see `Error::dialpad_answered`).
pub fn success_body(response: RawResponse) -> Result<Value> {
    if response.is_success() {
        Ok(match response.body() {
            Value::Null => json!({}),
            body => body,
        })
    } else {
        Err(Error::dialpad_answered(response.status, response.body()))
    }
}
