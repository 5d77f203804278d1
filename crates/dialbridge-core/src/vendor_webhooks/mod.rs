//! dialbridge's own webhooks to the vendor: endpoints (`/api/v1/webhook-endpoints`), the
//! events dialbridge emits (connections created, expired and deleted; executions finished),
//! and the worker that delivers them, signed per the Standard Webhooks spec
//! (<https://www.standardwebhooks.com>) and retried with backoff.
//!
//! Each message is one `DeliveryRecord` per subscribed endpoint. Its id is the `webhook-id`
//! header and stays the same across retries (receivers deduplicate on it); every attempt is
//! signed afresh with its own `webhook-timestamp`. Delivery is at least once: a process that
//! dies mid-attempt leaves a lease that runs out after 30 s, and another process sends again.

mod circuit;
mod delivery;
mod signing;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use url::Url;

use crate::connections::{ConnectionRecord, ConnectionStatus};
use crate::error::{Error, FieldError, Resource, Result};
use crate::ids::{new_id, AccountId};
use crate::platform::Shared;
use crate::secret::Secret;
use crate::store::{
    ConnectionStore, DeliveryRecord, EndpointCircuit, EndpointRecord, EndpointStore,
    ExecutionRecord, ExecutionStatus,
};
use crate::time::Timestamp;
pub use circuit::CircuitState;
use signing::generate_secret;
pub(crate) use signing::sign;

/// The event types an endpoint can subscribe to.
pub const VENDOR_EVENT_TYPES: &[&str] = &[
    "connection.created",
    "connection.expired",
    "connection.deleted",
    "execution.succeeded",
    "execution.failed",
];

/// The event type of the test message an endpoint is sent on request, whatever events it
/// chose.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

/// Attempts before a delivery is given up as `failed`.
pub const MAX_DELIVERY_ATTEMPTS: i64 = 8;

const DEFAULT_DELIVERIES: u32 = 50;
const MAX_DELIVERIES: u32 = 200;

/// `PUT /api/v1/webhook-endpoints/{id}`: `url` is required; absent or empty `events` means
/// every event type.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    /// Where to POST the messages (http or https); required.
    #[schema(format = "uri")]
    pub url: Option<String>,
    /// Among `connection.created`, `connection.expired`, `connection.deleted`,
    /// `execution.succeeded`, `execution.failed`; absent or empty means all of them.
    pub events: Option<Vec<String>>,
}

/// An endpoint as the API shows it, with its signing secret in full: the vendor needs it to
/// verify what dialbridge sends. (`Debug` leaves the secret out.)
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Whether attempts reach it: after 5 failed attempts in a row its circuit opens and its
    /// messages wait (30 s, doubling up to 1 h), then one probe at a time until one succeeds.
    pub circuit: CircuitView,
}

/// An endpoint's circuit breaker as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CircuitView {
    pub state: CircuitState,
    /// Failed attempts since the last success.
    pub failures_in_a_row: i64,
    /// While `open`: when attempts resume (one probe first).
    pub open_until: Option<Timestamp>,
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
            .field("circuit", &self.circuit)
            .finish()
    }
}

/// One message of an endpoint's delivery log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    #[schema(value_type = Object)]
    pub payload: Value,
}

/// Endpoints, the events queued for them, and the worker that delivers them.
#[derive(Clone)]
pub struct VendorWebhooks {
    pub(crate) endpoints: Arc<dyn EndpointStore>,
    pub(crate) connections: Arc<dyn ConnectionStore>,
    pub(crate) shared: Shared,
}

impl VendorWebhooks {
    /// Creates the endpoint (with a new secret) or replaces its `url` and `events` (keeping
    /// the secret); answers it and whether it was created.
    pub async fn put_endpoint(
        &self,
        id: &str,
        input: EndpointInput,
    ) -> Result<(EndpointView, bool)> {
        check_endpoint_id(id)?;
        let (url, events) = validate_input(input)?;
        let now = Timestamp::now();
        let existing = self.endpoints.get_endpoint(id).await?;
        let created = existing.is_none();
        let (secret, sealed, created_at, circuit) = match existing {
            Some(endpoint) => (
                self.shared.open(&endpoint.secret)?,
                endpoint.secret,
                endpoint.created_at,
                endpoint.circuit,
            ),
            None => {
                let secret = generate_secret();
                let sealed = self.shared.seal(secret.expose());
                (secret, sealed, now, EndpointCircuit::default())
            }
        };
        let record = EndpointRecord {
            id: id.to_owned(),
            url,
            events,
            secret: sealed,
            created_at,
            updated_at: now,
            circuit,
        };
        self.endpoints.put_endpoint(&record).await?;
        self.shared.config_changed().await;
        tracing::info!(endpoint = %id, created, "webhook endpoint saved");
        Ok((endpoint_view(record, secret), created))
    }

    pub async fn endpoints(&self) -> Result<Vec<EndpointView>> {
        let endpoints = self.endpoints.list_endpoints().await?;
        endpoints
            .into_iter()
            .map(|e| {
                let secret = self.shared.open(&e.secret)?;
                Ok(endpoint_view(e, secret))
            })
            .collect()
    }

    pub async fn endpoint(&self, id: &str) -> Result<EndpointView> {
        let endpoint = self.find_endpoint(id).await?;
        let secret = self.shared.open(&endpoint.secret)?;
        Ok(endpoint_view(endpoint, secret))
    }

    /// Deletes the endpoint and its delivery log; pending messages are not sent.
    pub async fn delete_endpoint(&self, id: &str) -> Result<()> {
        check_endpoint_id(id)?;
        if !self.endpoints.delete_endpoint(id).await? {
            return Err(not_found(id));
        }
        self.shared.config_changed().await;
        tracing::info!(endpoint = %id, "webhook endpoint deleted");
        Ok(())
    }

    /// The endpoint's messages, newest first.
    pub async fn deliveries(&self, id: &str, limit: Option<u32>) -> Result<Vec<DeliveryView>> {
        let limit = limit.unwrap_or(DEFAULT_DELIVERIES);
        if !(1..=MAX_DELIVERIES).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_DELIVERIES}"),
            ));
        }
        self.find_endpoint(id).await?;
        let deliveries = self.endpoints.list_deliveries(id, limit).await?;
        Ok(deliveries.into_iter().map(delivery_view).collect())
    }

    /// Queues a `webhook.test` message (`data: {endpoint_id}`) to the endpoint, whatever
    /// events it chose; the delivery worker sends it like any other (signed, retried, logged).
    pub async fn send_test(&self, id: &str) -> Result<DeliveryView> {
        let endpoint = self.find_endpoint(id).await?;
        let now = Timestamp::now();
        let payload = message(TEST_EVENT_TYPE, now, json!({ "endpoint_id": endpoint.id }));
        let delivery = pending_delivery(&endpoint.id, TEST_EVENT_TYPE, payload, now);
        self.endpoints.insert_delivery(&delivery).await?;
        tracing::info!(endpoint = %id, delivery = %delivery.id, "webhook test message queued");
        Ok(delivery_view(delivery))
    }

    /// Queues a delivery that `failed` again, due now: it keeps its id (receivers deduplicate
    /// on it) and its attempts, and gets one more attempt; failing that, it is failed again.
    pub async fn retry_delivery(&self, id: &str, delivery_id: &str) -> Result<DeliveryView> {
        self.find_endpoint(id).await?;
        let requeued = self
            .endpoints
            .retry_delivery(id, delivery_id, Timestamp::now())
            .await?;
        let delivery = self
            .endpoints
            .get_delivery(id, delivery_id)
            .await?
            .ok_or_else(|| Error::not_found(Resource::WebhookDelivery, delivery_id))?;
        if !requeued {
            return Err(Error::invalid(
                "delivery_id",
                format!(
                    "only a failed delivery can be retried; this one is {}",
                    delivery.status
                ),
            ));
        }
        tracing::info!(endpoint = %id, delivery = %delivery_id, "webhook delivery queued again");
        Ok(delivery_view(delivery))
    }

    async fn find_endpoint(&self, id: &str) -> Result<EndpointRecord> {
        check_endpoint_id(id)?;
        self.endpoints
            .get_endpoint(id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// Queues `{type, timestamp, data}` for every endpoint subscribed to `event_type`. Never
    /// fails the caller: a problem is logged and the event is not sent.
    pub(crate) async fn emit(&self, event_type: &str, data: Value) {
        match self.queue(event_type, data).await {
            Ok(0) => {}
            Ok(queued) => tracing::debug!(event_type, queued, "vendor webhook queued"),
            Err(e) => tracing::error!(event_type, "could not queue the vendor webhook: {e}"),
        }
    }

    async fn queue(&self, event_type: &str, data: Value) -> Result<usize> {
        let deliveries = self.messages_for(event_type, || data).await?;
        for delivery in &deliveries {
            self.endpoints.insert_delivery(delivery).await?;
        }
        Ok(deliveries.len())
    }

    /// `{type, timestamp, data}` as one delivery per endpoint subscribed to `event_type` (the
    /// endpoints are cached until the configuration changes). `data` is made only when an
    /// endpoint is subscribed: every execution that finishes asks.
    async fn messages_for(
        &self,
        event_type: &str,
        data: impl FnOnce() -> Value,
    ) -> Result<Vec<DeliveryRecord>> {
        let load = || async { Ok::<_, Error>(Arc::new(self.endpoints.list_endpoints().await?)) };
        let endpoints = self.shared.caches().endpoints.get_or_load((), load).await?;
        let mut subscribers = endpoints
            .iter()
            .filter(|e| subscribed(e, event_type))
            .peekable();
        if subscribers.peek().is_none() {
            return Ok(Vec::new());
        }
        let now = Timestamp::now();
        let payload = message(event_type, now, data());
        Ok(subscribers
            .map(|endpoint| pending_delivery(&endpoint.id, event_type, payload.clone(), now))
            .collect())
    }

    /// `connection.created`, after a connection was stored.
    pub(crate) async fn emit_connection_created(&self, connection: &ConnectionRecord) {
        self.emit("connection.created", connection_data(connection))
            .await;
    }

    /// `connection.expired`, after the account's connection was marked `reauth_required`;
    /// `reason` says why Dialpad no longer accepts it.
    pub(crate) async fn emit_connection_expired(&self, account_id: &AccountId) {
        let connection = match self.connections.get_connection(account_id).await {
            Ok(Some(c)) if c.status == ConnectionStatus::ReauthRequired => c,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(account_id = %account_id, "could not queue connection.expired: {e}");
                return;
            }
        };
        let mut data = connection_data(&connection);
        data["reason"] = json!(connection.last_error);
        self.emit("connection.expired", data).await;
    }

    /// `connection.deleted`, after a connection was disconnected or its account deleted;
    /// nothing when it `was` already disconnected (that was reported then).
    pub(crate) async fn emit_connection_deleted(
        &self,
        connection: &ConnectionRecord,
        was: ConnectionStatus,
    ) {
        if was != ConnectionStatus::Disconnected {
            self.emit("connection.deleted", connection_data(connection))
                .await;
        }
    }

    /// The deliveries of `execution.succeeded` or `execution.failed` for an execution that
    /// finished (queued in the same write as its finish; none for a cancelled one). A failure
    /// to read the endpoints is logged: the execution's outcome is recorded either way.
    pub(crate) async fn deliveries_for_execution(
        &self,
        execution: &ExecutionRecord,
    ) -> Vec<DeliveryRecord> {
        let event_type = match execution.status {
            ExecutionStatus::Succeeded => "execution.succeeded",
            ExecutionStatus::Failed => "execution.failed",
            _ => return Vec::new(),
        };
        let data = || {
            json!({
                "execution_id": execution.id,
                "workflow": execution.workflow_key,
                "version": execution.version,
                "account_id": execution.account_id,
                "status": execution.status.as_str(),
                "error": execution.error,
            })
        };
        self.messages_for(event_type, data)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(execution = %execution.id, "could not queue {event_type}: {e}");
                Vec::new()
            })
    }
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

fn not_found(id: &str) -> Error {
    Error::not_found(Resource::WebhookEndpoint, id)
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
    let state = circuit::state(&record.circuit, Timestamp::now());
    EndpointView {
        id: record.id,
        url: record.url,
        events: record.events,
        secret: secret.expose().to_owned(),
        created_at: record.created_at,
        updated_at: record.updated_at,
        circuit: CircuitView {
            state,
            failures_in_a_row: record.circuit.failures_in_a_row,
            open_until: record
                .circuit
                .open_until
                .filter(|_| state == CircuitState::Open),
        },
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
        created_at: d.created_at,
        delivered_at: d.delivered_at,
        next_attempt_at: pending.then_some(d.next_attempt_at),
        payload: d.payload,
    }
}

/// A message's body: `{type, timestamp, data}`.
fn message(event_type: &str, now: Timestamp, data: Value) -> Value {
    json!({ "type": event_type, "timestamp": now, "data": data })
}

/// A message for one endpoint, due now.
fn pending_delivery(
    endpoint_id: &str,
    event_type: &str,
    payload: Value,
    now: Timestamp,
) -> DeliveryRecord {
    DeliveryRecord {
        id: new_id("msg"),
        endpoint_id: endpoint_id.to_owned(),
        event_type: event_type.to_owned(),
        payload,
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: now,
        last_status: None,
        last_error: None,
        created_at: now,
        delivered_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            created_at: Timestamp::default(),
            updated_at: Timestamp::default(),
            circuit: EndpointCircuit::default(),
        };
        assert!(subscribed(&endpoint, "connection.created"));
        endpoint.events = vec!["execution.failed".into()];
        assert!(subscribed(&endpoint, "execution.failed"));
        assert!(!subscribed(&endpoint, "connection.created"));
    }
}
