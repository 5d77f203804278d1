//! dialbridge's own webhooks to the vendor: endpoints (`/api/v1/webhook-endpoints`), the
//! events dialbridge emits (connections created, expired and deleted; executions finished),
//! and the worker that delivers them, signed per the Standard Webhooks spec
//! (<https://www.standardwebhooks.com>) and retried with backoff.
//!
//! Each message is one `DeliveryRecord` per subscribed endpoint. Its id is the `webhook-id`
//! header and stays the same across retries (receivers deduplicate on it); every attempt is
//! signed afresh with its own `webhook-timestamp`. Delivery is at least once: a process that
//! dies mid-attempt leaves a lease that runs out after 30 s, and another process sends again.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::account::{ConnectionRecord, ConnectionStatus};
use crate::automation::new_id;
use crate::error::{Error, FieldError, Result};
use crate::ids::AccountId;
use crate::platform::Platform;
use crate::secret::Secret;
use crate::store::{DeliveryRecord, EndpointRecord, ExecutionRecord, ExecutionStatus};
use crate::time::{now_ms, Timestamp};

/// The event types an endpoint can subscribe to.
pub const VENDOR_EVENT_TYPES: &[&str] = &[
    "connection.created",
    "connection.expired",
    "connection.deleted",
    "execution.succeeded",
    "execution.failed",
];

/// Attempts before a delivery is given up as `failed`.
pub const MAX_DELIVERY_ATTEMPTS: i64 = 8;

/// The wait after the n-th failed attempt, in units of the retry base (1 s in production):
/// 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then every 2 h.
const BACKOFF_UNITS: &[u32] = &[5, 30, 120, 600, 1800, 3600, 7200];

/// How long one attempt may take, connect to last byte.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claim holds a delivery; well above the attempt timeout.
const CLAIM_LEASE_MS: i64 = 30_000;
/// Attempts this process runs at once.
const MAX_IN_FLIGHT: usize = 16;
/// The longest the worker waits before looking for due deliveries again.
const MAX_POLL: Duration = Duration::from_millis(500);

const SECRET_PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 24;
const DEFAULT_DELIVERIES: u32 = 50;
const MAX_DELIVERIES: u32 = 200;
/// How much of a refusing endpoint's answer `last_error` keeps.
const ERROR_BODY_CHARS: usize = 200;

/// `PUT /api/v1/webhook-endpoints/{id}`: `url` is required; absent or empty `events` means
/// every event type.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
}

/// An endpoint as the API shows it, with its signing secret in full: the vendor needs it to
/// verify what dialbridge sends. (`Debug` leaves the secret out.)
#[derive(Clone, Serialize)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl std::fmt::Debug for EndpointView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointView")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &"***")
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// One message of an endpoint's delivery log.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// The HTTP status of the last attempt, if the endpoint answered.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    /// When the next attempt is due; only while `pending`.
    pub next_attempt_at: Option<Timestamp>,
    pub payload: Value,
}

impl Platform {
    /// Creates the endpoint (with a new secret) or replaces its `url` and `events` (keeping
    /// the secret); answers it and whether it was created.
    pub async fn put_webhook_endpoint(
        &self,
        id: &str,
        input: EndpointInput,
    ) -> Result<(EndpointView, bool)> {
        check_endpoint_id(id)?;
        let (url, events) = validate_input(input)?;
        let now = now_ms();
        let existing = self.store().get_endpoint(id).await?;
        let created = existing.is_none();
        let (secret, sealed, created_at) = match existing {
            Some(endpoint) => (
                self.open(&endpoint.secret)?,
                endpoint.secret,
                endpoint.created_at,
            ),
            None => {
                let secret = generate_secret();
                let sealed = self.cipher().seal(secret.expose());
                (secret, sealed, now)
            }
        };
        let record = EndpointRecord {
            id: id.to_owned(),
            url,
            events,
            secret: sealed,
            created_at,
            updated_at: now,
        };
        self.store().put_endpoint(&record).await?;
        tracing::info!(endpoint = %id, created, "webhook endpoint saved");
        Ok((endpoint_view(record, secret), created))
    }

    pub async fn webhook_endpoints(&self) -> Result<Vec<EndpointView>> {
        let endpoints = self.store().list_endpoints().await?;
        endpoints
            .into_iter()
            .map(|e| {
                let secret = self.open(&e.secret)?;
                Ok(endpoint_view(e, secret))
            })
            .collect()
    }

    pub async fn webhook_endpoint(&self, id: &str) -> Result<EndpointView> {
        let endpoint = self.find_endpoint(id).await?;
        let secret = self.open(&endpoint.secret)?;
        Ok(endpoint_view(endpoint, secret))
    }

    /// Deletes the endpoint and its delivery log; pending messages are not sent.
    pub async fn delete_webhook_endpoint(&self, id: &str) -> Result<()> {
        check_endpoint_id(id)?;
        if !self.store().delete_endpoint(id).await? {
            return Err(not_found(id));
        }
        tracing::info!(endpoint = %id, "webhook endpoint deleted");
        Ok(())
    }

    /// The endpoint's messages, newest first.
    pub async fn webhook_deliveries(
        &self,
        id: &str,
        limit: Option<u32>,
    ) -> Result<Vec<DeliveryView>> {
        let limit = limit.unwrap_or(DEFAULT_DELIVERIES);
        if !(1..=MAX_DELIVERIES).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_DELIVERIES}"),
            ));
        }
        self.find_endpoint(id).await?;
        let deliveries = self.store().list_deliveries(id, limit).await?;
        Ok(deliveries.into_iter().map(delivery_view).collect())
    }

    async fn find_endpoint(&self, id: &str) -> Result<EndpointRecord> {
        check_endpoint_id(id)?;
        self.store()
            .get_endpoint(id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// Queues `{type, timestamp, data}` for every endpoint subscribed to `event_type`. Never
    /// fails the caller: a problem is logged and the event is not sent.
    pub(crate) async fn emit_vendor_event(&self, event_type: &str, data: Value) {
        match self.queue_vendor_event(event_type, data).await {
            Ok(0) => {}
            Ok(queued) => tracing::debug!(event_type, queued, "vendor webhook queued"),
            Err(e) => tracing::error!(event_type, "could not queue the vendor webhook: {e}"),
        }
    }

    async fn queue_vendor_event(&self, event_type: &str, data: Value) -> Result<usize> {
        let endpoints = self.store().list_endpoints().await?;
        let now = now_ms();
        let payload = json!({
            "type": event_type,
            "timestamp": Timestamp(now),
            "data": data,
        });
        let mut queued = 0;
        for endpoint in endpoints.iter().filter(|e| subscribed(e, event_type)) {
            let delivery = DeliveryRecord {
                id: new_id("msg"),
                endpoint_id: endpoint.id.clone(),
                event_type: event_type.to_owned(),
                payload: payload.clone(),
                status: "pending".into(),
                attempts: 0,
                next_attempt_at: now,
                last_status: None,
                last_error: None,
                created_at: now,
                delivered_at: None,
            };
            self.store().insert_delivery(&delivery).await?;
            queued += 1;
        }
        Ok(queued)
    }

    /// `connection.created`, after a connection was stored.
    pub(crate) async fn emit_connection_created(&self, connection: &ConnectionRecord) {
        self.emit_vendor_event("connection.created", connection_data(connection))
            .await;
    }

    /// `connection.expired`, after the account's connection was marked `reauth_required`;
    /// `reason` says why Dialpad no longer accepts it.
    pub(crate) async fn emit_connection_expired(&self, account_id: &AccountId) {
        let connection = match self.store().get_connection(account_id).await {
            Ok(Some(c)) if c.status == ConnectionStatus::ReauthRequired => c,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(account_id = %account_id, "could not queue connection.expired: {e}");
                return;
            }
        };
        let mut data = connection_data(&connection);
        data["reason"] = json!(connection.last_error);
        self.emit_vendor_event("connection.expired", data).await;
    }

    /// `connection.deleted`, after a connection was disconnected or its account deleted;
    /// nothing when it `was` already disconnected (that was reported then).
    pub(crate) async fn emit_connection_deleted(
        &self,
        connection: &ConnectionRecord,
        was: ConnectionStatus,
    ) {
        if was != ConnectionStatus::Disconnected {
            self.emit_vendor_event("connection.deleted", connection_data(connection))
                .await;
        }
    }

    /// `execution.succeeded` or `execution.failed`, after an execution finished (nothing for
    /// a cancelled one).
    pub(crate) async fn emit_execution_finished(&self, execution: &ExecutionRecord) {
        let event_type = match execution.status {
            ExecutionStatus::Succeeded => "execution.succeeded",
            ExecutionStatus::Failed => "execution.failed",
            _ => return,
        };
        let data = json!({
            "execution_id": execution.id,
            "workflow": execution.workflow_key,
            "version": execution.version,
            "account_id": execution.account_id,
            "status": execution.status.as_str(),
            "error": execution.error,
        });
        self.emit_vendor_event(event_type, data).await;
    }

    /// Sends due deliveries until `shutdown` fires, then lets the attempts under way finish
    /// (each is bounded by its 10 s timeout). `retry_base` scales the backoff schedule: 1 s
    /// gives 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then every 2 h.
    pub async fn run_webhook_deliveries(&self, retry_base: Duration, shutdown: CancellationToken) {
        // New messages are found by polling, so the worker needs nothing from the emitters;
        // with a short retry base (tests) the polling is as quick as the schedule.
        let poll = retry_base.clamp(Duration::from_millis(10), MAX_POLL);
        let mut in_flight = JoinSet::new();
        loop {
            let free = MAX_IN_FLIGHT.saturating_sub(in_flight.len());
            if free > 0 {
                let now = now_ms();
                match self
                    .store()
                    .claim_deliveries(self.owner(), now, now + CLAIM_LEASE_MS, free as u32)
                    .await
                {
                    Ok(due) => {
                        for delivery in due {
                            let platform = self.clone();
                            in_flight
                                .spawn(async move { platform.deliver(delivery, retry_base).await });
                        }
                    }
                    Err(e) => tracing::error!("claiming webhook deliveries failed: {e}"),
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(poll) => {}
                Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Err(e) = joined {
                        tracing::error!("a webhook delivery task failed: {e}");
                    }
                }
            }
        }
        while let Some(joined) = in_flight.join_next().await {
            if let Err(e) = joined {
                tracing::error!("a webhook delivery task failed: {e}");
            }
        }
    }

    /// One attempt, and its outcome recorded.
    async fn deliver(&self, mut delivery: DeliveryRecord, retry_base: Duration) {
        let endpoint = match self.store().get_endpoint(&delivery.endpoint_id).await {
            Ok(Some(endpoint)) => endpoint,
            // Deleted meanwhile, and its deliveries with it.
            Ok(None) => return,
            Err(e) => {
                // The lease runs out and the attempt is made again.
                tracing::error!(delivery = %delivery.id, "reading the webhook endpoint failed: {e}");
                return;
            }
        };
        let outcome = self.attempt(&endpoint, &delivery).await;
        let now = now_ms();
        delivery.attempts += 1;
        match outcome {
            Ok((status, _)) if (200..300).contains(&status) => {
                delivery.status = "delivered".into();
                delivery.last_status = Some(status);
                delivery.last_error = None;
                delivery.delivered_at = Some(now);
                tracing::info!(
                    delivery = %delivery.id,
                    endpoint = %endpoint.id,
                    event_type = %delivery.event_type,
                    attempts = delivery.attempts,
                    "vendor webhook delivered"
                );
            }
            outcome => {
                let (status, error) = match outcome {
                    Ok((status, body)) => (Some(status), refused(status, &body)),
                    Err(error) => (None, error),
                };
                delivery.last_status = status;
                delivery.last_error = Some(error);
                if delivery.attempts >= MAX_DELIVERY_ATTEMPTS {
                    delivery.status = "failed".into();
                    tracing::warn!(
                        delivery = %delivery.id,
                        endpoint = %endpoint.id,
                        attempts = delivery.attempts,
                        "vendor webhook failed for good: {}",
                        delivery.last_error.as_deref().unwrap_or_default()
                    );
                } else {
                    let wait = backoff(delivery.attempts, retry_base);
                    delivery.next_attempt_at = now + wait.as_millis() as i64;
                    tracing::info!(
                        delivery = %delivery.id,
                        endpoint = %endpoint.id,
                        attempts = delivery.attempts,
                        retry_in_ms = wait.as_millis() as u64,
                        "vendor webhook attempt failed: {}",
                        delivery.last_error.as_deref().unwrap_or_default()
                    );
                }
            }
        }
        if let Err(e) = self.store().update_delivery(&delivery).await {
            tracing::error!(delivery = %delivery.id, "recording the webhook attempt failed: {e}");
        }
    }

    /// POSTs the message: the endpoint's status and the start of its body, or why there was
    /// no answer.
    async fn attempt(
        &self,
        endpoint: &EndpointRecord,
        delivery: &DeliveryRecord,
    ) -> std::result::Result<(i64, String), String> {
        let secret = self
            .open(&endpoint.secret)
            .map_err(|_| "the endpoint's secret could not be decrypted".to_owned())?;
        let body = serde_json::to_vec(&delivery.payload).map_err(|e| e.to_string())?;
        let timestamp = now_ms() / 1000;
        let signature = sign(secret.expose(), &delivery.id, timestamp, &body)
            .map_err(|e| format!("signing failed: {e}"))?;
        let response = self
            .http()
            .post(&endpoint.url)
            .timeout(ATTEMPT_TIMEOUT)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            // The URL may carry a token of the vendor's: keep it out of errors and logs.
            .map_err(|e| describe(e.without_url()))?;
        let status = i64::from(response.status().as_u16());
        let text = if (200..300).contains(&status) {
            String::new()
        } else {
            response.text().await.unwrap_or_default()
        };
        Ok((status, text))
    }
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` under the decoded `whsec_` secret.
pub(crate) fn sign(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> std::result::Result<String, String> {
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .map_err(|e| format!("the secret is not base64: {e}"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| format!("unusable key: {e}"))?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// `whsec_` and the base64 of 24 random bytes.
fn generate_secret() -> Secret {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

/// The wait after `attempts` failed attempts.
fn backoff(attempts: i64, base: Duration) -> Duration {
    let index = usize::try_from(attempts.max(1) - 1).unwrap_or(usize::MAX);
    let units = BACKOFF_UNITS
        .get(index)
        .or(BACKOFF_UNITS.last())
        .copied()
        .unwrap_or(1);
    base.saturating_mul(units)
}

fn subscribed(endpoint: &EndpointRecord, event_type: &str) -> bool {
    endpoint.events.is_empty() || endpoint.events.iter().any(|e| e == event_type)
}

fn connection_data(connection: &ConnectionRecord) -> Value {
    json!({
        "account_id": connection.account_id,
        "auth_type": connection.auth_type.as_str(),
        "dialpad_company_id": connection.dialpad_company_id,
    })
}

fn refused(status: i64, body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return format!("the endpoint answered {status}");
    }
    let mut excerpt: String = body.chars().take(ERROR_BODY_CHARS).collect();
    if excerpt.len() < body.len() {
        excerpt.push('…');
    }
    format!("the endpoint answered {status}: {excerpt}")
}

fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())
    } else if e.is_connect() {
        format!("could not connect: {e}")
    } else {
        format!("the request failed: {e}")
    }
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("webhook endpoint '{id}'"))
}

fn check_endpoint_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "id",
            "must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'",
        ))
    }
}

/// The checked URL and the event list (deduplicated, in the order given).
fn validate_input(input: EndpointInput) -> Result<(String, Vec<String>)> {
    let mut problems = Vec::new();
    let url = match input.url.as_deref().map(str::trim) {
        None | Some("") => {
            problems.push(FieldError::new("url", "is required"));
            None
        }
        Some(text) => match Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(url.to_string())
            }
            _ => {
                problems.push(FieldError::new(
                    "url",
                    "must be an absolute http:// or https:// URL",
                ));
                None
            }
        },
    };
    let mut events: Vec<String> = Vec::new();
    for event in input.events.unwrap_or_default() {
        if !VENDOR_EVENT_TYPES.contains(&event.as_str()) {
            problems.push(FieldError::new(
                "events",
                format!(
                    "'{event}' is not an event type; pick from {}",
                    VENDOR_EVENT_TYPES.join(", ")
                ),
            ));
        } else if !events.contains(&event) {
            events.push(event);
        }
    }
    match url {
        Some(url) if problems.is_empty() => Ok((url, events)),
        _ => Err(Error::InvalidInput(problems)),
    }
}

fn endpoint_view(record: EndpointRecord, secret: Secret) -> EndpointView {
    EndpointView {
        id: record.id,
        url: record.url,
        events: record.events,
        secret: secret.expose().to_owned(),
        created_at: Timestamp(record.created_at),
        updated_at: Timestamp(record.updated_at),
    }
}

fn delivery_view(d: DeliveryRecord) -> DeliveryView {
    let pending = d.status == "pending";
    DeliveryView {
        id: d.id,
        event_type: d.event_type,
        status: d.status,
        attempts: d.attempts,
        last_status: d.last_status,
        last_error: d.last_error,
        created_at: Timestamp(d.created_at),
        delivered_at: d.delivered_at.map(Timestamp),
        next_attempt_at: pending.then_some(Timestamp(d.next_attempt_at)),
        payload: d.payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_different_body_id_or_timestamp_changes_the_signature() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let base = sign(secret, "msg_1", 100, b"{}").unwrap();
        assert_ne!(base, sign(secret, "msg_2", 100, b"{}").unwrap());
        assert_ne!(base, sign(secret, "msg_1", 101, b"{}").unwrap());
        assert_ne!(base, sign(secret, "msg_1", 100, b"{ }").unwrap());
        assert!(sign("whsec_not base64!", "msg_1", 100, b"{}").is_err());
    }

    #[test]
    fn secrets_are_whsec_and_24_random_bytes() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a.expose(), b.expose());
        let encoded = a.expose().strip_prefix("whsec_").expect("prefix");
        assert_eq!(STANDARD.decode(encoded).unwrap().len(), 24);
    }

    #[test]
    fn backoff_follows_the_schedule_scaled_by_the_base() {
        let s = Duration::from_secs(1);
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n, s).as_secs()).collect();
        assert_eq!(waits, [5, 30, 120, 600, 1800, 3600, 7200, 7200, 7200]);
        let ms = Duration::from_millis(10);
        assert_eq!(backoff(1, ms), Duration::from_millis(50));
        assert_eq!(backoff(2, ms), Duration::from_millis(300));
    }

    #[test]
    fn endpoint_ids_are_short_and_url_safe() {
        assert!(check_endpoint_id("crm_main-1").is_ok());
        assert!(check_endpoint_id(&"a".repeat(64)).is_ok());
        for bad in ["", "a.b", "a b", "ä", &"a".repeat(65)] {
            assert!(check_endpoint_id(bad).is_err(), "{bad:?} should be refused");
        }
    }

    fn input(url: Option<&str>, events: Option<&[&str]>) -> EndpointInput {
        EndpointInput {
            url: url.map(str::to_owned),
            events: events.map(|e| e.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn fields(err: Error) -> Vec<String> {
        match err {
            Error::InvalidInput(problems) => problems.into_iter().map(|p| p.field).collect(),
            other => panic!("expected invalid input, got {other}"),
        }
    }

    #[test]
    fn endpoint_input_needs_an_http_url_and_known_events() {
        let (url, events) = validate_input(input(
            Some("https://vendor.example/hooks"),
            Some(&["execution.failed", "connection.created", "execution.failed"]),
        ))
        .unwrap();
        assert_eq!(url, "https://vendor.example/hooks");
        assert_eq!(events, ["execution.failed", "connection.created"]);
        let (_, events) = validate_input(input(Some("http://127.0.0.1:9/x"), None)).unwrap();
        assert!(events.is_empty());

        for bad in [
            "",
            "/relative",
            "ftp://vendor.example/x",
            "mailto:a@b.c",
            "https://",
        ] {
            assert_eq!(
                fields(validate_input(input(Some(bad), None)).unwrap_err()),
                ["url"],
                "{bad:?}"
            );
        }
        assert_eq!(
            fields(validate_input(input(None, None)).unwrap_err()),
            ["url"]
        );
        assert_eq!(
            fields(
                validate_input(input(Some("https://v.example"), Some(&["call.ringing"])))
                    .unwrap_err()
            ),
            ["events"]
        );
        assert_eq!(
            fields(validate_input(input(Some("nope"), Some(&["x"]))).unwrap_err()),
            ["url", "events"]
        );
    }

    #[test]
    fn empty_event_lists_subscribe_to_everything() {
        let mut endpoint = EndpointRecord {
            id: "e".into(),
            url: "https://v.example".into(),
            events: vec![],
            secret: crate::crypto::Sealed(vec![]),
            created_at: 0,
            updated_at: 0,
        };
        assert!(subscribed(&endpoint, "connection.created"));
        endpoint.events = vec!["execution.failed".into()];
        assert!(subscribed(&endpoint, "execution.failed"));
        assert!(!subscribed(&endpoint, "connection.created"));
    }

    #[test]
    fn refusals_keep_the_start_of_the_body() {
        assert_eq!(refused(500, "  "), "the endpoint answered 500");
        let long = "x".repeat(500);
        let text = refused(502, &long);
        assert!(text.starts_with("the endpoint answered 502: xxx"));
        assert!(text.chars().count() < 250);
    }
}
