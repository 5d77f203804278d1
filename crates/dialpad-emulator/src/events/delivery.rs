//! Delivering queued events to webhooks, and the delivery log tests read.
//!
//! Each delivery is one `POST` to the webhook's `hook_url` in its own task. With a secret the
//! body is a JWT signed HS256 with it, whose claims are the payload (`Content-Type:
//! application/jwt`); without one the body is the payload JSON (`application/json`), as
//! Dialpad describes webhooks (DIALPAD.md).
//!
//! # Retry policy (the emulator's own: Dialpad's is unconfirmed)
//! - Any 2xx answer delivers. Anything else (another status — redirects are not followed —,
//!   a connection error, no answer within `timeout_ms`, 10 s by default) fails the attempt.
//! - A failed attempt is retried after `retry_base_ms` (1 s by default), doubling after each
//!   further failure (1 s, 2 s, 4 s, 8 s), up to `max_attempts` attempts in all (5 by
//!   default); then the delivery is `failed`. Consumers must expect at-least-once delivery.
//! - First attempts to one webhook are made one after another in the order the events
//!   happened; retries do not hold later events back, so a retried event can arrive after
//!   newer ones (Dialpad does not promise order either).
//! - Clearing the log (`DELETE /_control/deliveries`) or resetting the emulator stops every
//!   delivery still waiting to retry.
//!
//! The settings are read when a delivery is handed to its task: a change applies to events
//! emitted afterwards.

use std::error::Error as _;
use std::sync::OnceLock;
use std::time::Duration;

use axum::http::header::CONTENT_TYPE;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::oneshot;

use super::{Delivery, EventType};
use crate::ids::{SubscriptionId, WebhookId};
use crate::Emulator;

/// The retry and timeout knobs of deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DeliverySettings {
    /// The wait after a first failed attempt, doubled after each further one.
    pub retry_base_ms: u64,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// How long one attempt waits for an answer.
    pub timeout_ms: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            retry_base_ms: 1_000,
            max_attempts: 5,
            timeout_ms: 10_000,
        }
    }
}

/// `PATCH /_control/deliveries/settings`: the fields given change, the others stay.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub retry_base_ms: Option<u64>,
    pub max_attempts: Option<u32>,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("max_attempts must be between 1 and {MAX_ATTEMPTS}")]
    MaxAttempts,
    #[error("retry_base_ms must be at most {MAX_RETRY_BASE_MS}")]
    RetryBase,
    #[error("timeout_ms must be between 1 and {MAX_TIMEOUT_MS}")]
    Timeout,
}

const MAX_ATTEMPTS: u32 = 100;
const MAX_RETRY_BASE_MS: u64 = 3_600_000;
const MAX_TIMEOUT_MS: u64 = 600_000;
/// No single wait between attempts is longer than this, however many attempts are allowed.
const MAX_BACKOFF_MS: u64 = 3_600_000;

impl DeliverySettings {
    /// Applies a patch whole, or nothing of it when a value is out of range.
    pub fn apply(&mut self, patch: &SettingsPatch) -> Result<(), SettingsError> {
        if patch
            .max_attempts
            .is_some_and(|n| !(1..=MAX_ATTEMPTS).contains(&n))
        {
            return Err(SettingsError::MaxAttempts);
        }
        if patch.retry_base_ms.is_some_and(|ms| ms > MAX_RETRY_BASE_MS) {
            return Err(SettingsError::RetryBase);
        }
        if patch
            .timeout_ms
            .is_some_and(|ms| !(1..=MAX_TIMEOUT_MS).contains(&ms))
        {
            return Err(SettingsError::Timeout);
        }
        if let Some(n) = patch.max_attempts {
            self.max_attempts = n;
        }
        if let Some(ms) = patch.retry_base_ms {
            self.retry_base_ms = ms;
        }
        if let Some(ms) = patch.timeout_ms {
            self.timeout_ms = ms;
        }
        Ok(())
    }

    /// The wait after the `failed`th failed attempt (1-based): base × 2^(failed − 1).
    pub fn backoff(&self, failed: u32) -> Duration {
        let factor = 1u64
            .checked_shl(failed.saturating_sub(1))
            .unwrap_or(u64::MAX);
        Duration::from_millis(
            self.retry_base_ms
                .saturating_mul(factor)
                .min(MAX_BACKOFF_MS),
        )
    }
}

/// One delivery as `GET /_control/deliveries` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryRecord {
    pub id: u64,
    pub webhook_id: WebhookId,
    /// The subscriptions the event matched (one delivery however many of one webhook match).
    pub subscription_ids: Vec<SubscriptionId>,
    pub hook_url: String,
    pub event_type: EventType,
    /// The event JSON (the JWT claims when `signed`).
    pub payload: Value,
    pub signed: bool,
    pub attempts: Vec<Attempt>,
    pub state: DeliveryState,
}

#[derive(Clone, Debug, Serialize)]
pub struct Attempt {
    /// When the attempt started (epoch ms).
    pub at_ms: i64,
    /// The HTTP status answered, if any answer came.
    pub status: Option<u16>,
    /// Why no answer came (connection error, timeout, signing failure).
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Queued, being attempted, or waiting to retry.
    Pending,
    Delivered,
    /// Every attempt failed.
    Failed,
}

/// A delivery handed to its task, with what the task needs besides.
struct Job {
    delivery: Delivery,
    settings: DeliverySettings,
    generation: u64,
    /// Completes when the previous delivery to the same webhook made its first attempt.
    previous: Option<oneshot::Receiver<()>>,
    /// Dropped when this delivery made its first attempt (or gave up).
    first_attempt_done: oneshot::Sender<()>,
}

/// The body of a delivery and its content type.
struct Body {
    text: String,
    content_type: &'static str,
}

impl Emulator {
    /// Hands every queued delivery to a task of its own. Call it after releasing the store
    /// lock, inside a tokio runtime (outside one, deliveries stay queued until a later flush).
    pub(crate) fn flush_events(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let jobs: Vec<Job> = {
            let mut store = self.store();
            let outbox = &mut store.events;
            let queued = std::mem::take(&mut outbox.queue);
            queued
                .into_iter()
                .map(|delivery| {
                    let (done, waiter) = oneshot::channel();
                    let previous = outbox.chains.insert(delivery.webhook_id, waiter);
                    Job {
                        delivery,
                        settings: outbox.settings,
                        generation: outbox.generation,
                        previous,
                        first_attempt_done: done,
                    }
                })
                .collect()
        };
        for job in jobs {
            runtime.spawn(deliver(self.clone(), job));
        }
    }
}

/// One shared client; no idle connections are kept, since a connection belongs to the tokio
/// runtime that opened it and tests run each emulator on a runtime of its own.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .user_agent(concat!("dialpad-emulator/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default()
    })
}

async fn deliver(emulator: Emulator, job: Job) {
    let Job {
        delivery,
        settings,
        generation,
        previous,
        first_attempt_done,
    } = job;
    let mut first_attempt_done = Some(first_attempt_done);
    if let Some(previous) = previous {
        // An error only means the previous task ended without attempting: go on.
        let _ = previous.await;
    }
    let body = match encode(&delivery.payload, delivery.secret.as_deref()) {
        Ok(body) => body,
        Err(error) => {
            let attempt = Attempt {
                at_ms: crate::clock::now_ms(),
                status: None,
                error: Some(format!("could not sign the event: {error}")),
            };
            emulator.store().events.record_attempt(
                generation,
                delivery.id,
                attempt,
                DeliveryState::Failed,
            );
            return;
        }
    };
    let timeout = Duration::from_millis(settings.timeout_ms);
    let max_attempts = settings.max_attempts.max(1);
    for number in 1..=max_attempts {
        if emulator.store().events.generation != generation {
            return;
        }
        let at_ms = crate::clock::now_ms();
        let (status, error) = post(&delivery.hook_url, &body, timeout).await;
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        let state = if delivered {
            DeliveryState::Delivered
        } else if number == max_attempts {
            DeliveryState::Failed
        } else {
            DeliveryState::Pending
        };
        let attempt = Attempt {
            at_ms,
            status,
            error,
        };
        let current =
            emulator
                .store()
                .events
                .record_attempt(generation, delivery.id, attempt, state);
        // The next event to this webhook may go now.
        first_attempt_done.take();
        if !current || state != DeliveryState::Pending {
            return;
        }
        tokio::time::sleep(settings.backoff(number)).await;
    }
}

fn encode(payload: &Value, secret: Option<&str>) -> Result<Body, jsonwebtoken::errors::Error> {
    Ok(match secret {
        Some(secret) => Body {
            text: jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                payload,
                &EncodingKey::from_secret(secret.as_bytes()),
            )?,
            content_type: "application/jwt",
        },
        None => Body {
            text: payload.to_string(),
            content_type: "application/json",
        },
    })
}

/// One attempt: the status answered, or why none came.
async fn post(url: &str, body: &Body, timeout: Duration) -> (Option<u16>, Option<String>) {
    let request = client()
        .post(url)
        .header(CONTENT_TYPE, body.content_type)
        .body(body.text.clone())
        .timeout(timeout);
    match request.send().await {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(error) if error.is_timeout() => (
            None,
            Some(format!("no answer within {} ms", timeout.as_millis())),
        ),
        Err(error) => {
            let mut message = error.to_string();
            let mut source = error.source();
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            (None, Some(message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_and_saturates() {
        let settings = DeliverySettings::default();
        assert_eq!(settings.backoff(1), Duration::from_secs(1));
        assert_eq!(settings.backoff(2), Duration::from_secs(2));
        assert_eq!(settings.backoff(4), Duration::from_secs(8));
        assert_eq!(settings.backoff(90), Duration::from_millis(MAX_BACKOFF_MS));
    }

    #[test]
    fn a_patch_applies_whole_or_not_at_all() {
        let mut settings = DeliverySettings::default();
        let bad = SettingsPatch {
            retry_base_ms: Some(50),
            max_attempts: Some(0),
            timeout_ms: None,
        };
        assert_eq!(settings.apply(&bad), Err(SettingsError::MaxAttempts));
        assert_eq!(settings, DeliverySettings::default());
        let good = SettingsPatch {
            retry_base_ms: Some(50),
            max_attempts: Some(3),
            timeout_ms: None,
        };
        assert_eq!(settings.apply(&good), Ok(()));
        assert_eq!(settings.retry_base_ms, 50);
        assert_eq!(settings.max_attempts, 3);
        assert_eq!(settings.timeout_ms, 10_000);
    }

    #[test]
    fn signed_bodies_are_hs256_jwts_of_the_payload() {
        let payload = serde_json::json!({ "call_id": "1", "state": "ringing" });
        let body = encode(&payload, Some("s3cret")).unwrap();
        assert_eq!(body.content_type, "application/jwt");
        let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<Value>(
            &body.text,
            &jsonwebtoken::DecodingKey::from_secret(b"s3cret"),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims, payload);
        let plain = encode(&payload, None).unwrap();
        assert_eq!(plain.content_type, "application/json");
        assert_eq!(serde_json::from_str::<Value>(&plain.text).unwrap(), payload);
    }
}
