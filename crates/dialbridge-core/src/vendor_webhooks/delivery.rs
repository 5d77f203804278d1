//! The delivery worker: claims due messages with a lease, POSTs each signed with its endpoint's
//! secret, and records the outcome — delivered, retried later on the backoff schedule, or
//! given up as failed after the last attempt.

use std::collections::HashMap;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::circuit::{self, CircuitState};
use super::{sign, VendorWebhooks, MAX_DELIVERY_ATTEMPTS};
use crate::store::{DeliveryRecord, DeliveryWant, EndpointCircuit, EndpointRecord};
use crate::time::Timestamp;

/// The wait after the n-th failed attempt, in units of the retry base (1 s in production):
/// 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then every 2 h.
const BACKOFF_UNITS: &[u32] = &[5, 30, 120, 600, 1800, 3600, 7200];
/// How long one attempt may take, connect to last byte.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claim holds a delivery; well above the attempt timeout.
const CLAIM_LEASE: Duration = Duration::from_secs(30);
/// Attempts this process runs at once, over all endpoints (each endpoint has at most
/// `circuit::PER_ENDPOINT_IN_FLIGHT` of them).
const MAX_IN_FLIGHT: u32 = 64;
/// The longest the worker waits before looking for due deliveries again.
const MAX_POLL: Duration = Duration::from_millis(500);
/// How much of a refusing endpoint's answer `last_error` keeps.
const ERROR_BODY_CHARS: usize = 200;

impl VendorWebhooks {
    /// Sends due deliveries until `shutdown` fires, then lets the attempts under way finish
    /// (each is bounded by its 10 s timeout). `retry_base` scales the backoff schedule (1 s
    /// gives 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then every 2 h) and the circuit breaker's
    /// pauses (30 s doubling up to 1 h).
    pub async fn run_deliveries(&self, retry_base: Duration, shutdown: CancellationToken) {
        // New messages are found by polling, so the worker needs nothing from the emitters;
        // with a short retry base (tests) the polling is as quick as the schedule.
        let poll = retry_base.clamp(Duration::from_millis(10), MAX_POLL);
        let mut in_flight = JoinSet::new();
        let mut per_endpoint: HashMap<String, u32> = HashMap::new();
        // Which endpoint a claim considers first, turning so that none is always served last.
        let mut turn = 0usize;
        loop {
            let free = MAX_IN_FLIGHT.saturating_sub(in_flight.len() as u32);
            if free > 0 {
                match self.claim(free, &per_endpoint, turn).await {
                    Ok(due) => {
                        for (delivery, circuit) in due {
                            *per_endpoint
                                .entry(delivery.endpoint_id.clone())
                                .or_default() += 1;
                            let this = self.clone();
                            in_flight.spawn(async move {
                                let endpoint_id = delivery.endpoint_id.clone();
                                this.deliver(delivery, circuit, retry_base).await;
                                endpoint_id
                            });
                        }
                    }
                    Err(e) => tracing::error!("claiming webhook deliveries failed: {e}"),
                }
                turn = turn.wrapping_add(1);
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(poll) => {}
                Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                    match joined {
                        Ok(endpoint_id) => release(&mut per_endpoint, &endpoint_id),
                        Err(e) => tracing::error!("a webhook delivery task failed: {e}"),
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

    /// Leases due deliveries for up to `free` attempts: each endpoint gets what its circuit
    /// and its attempts under way here leave room for, the endpoints taken in turn from
    /// `turn` so the places go round. Answers each with its endpoint's circuit as read.
    async fn claim(
        &self,
        free: u32,
        in_flight: &HashMap<String, u32>,
        turn: usize,
    ) -> crate::store::StoreResult<Vec<(DeliveryRecord, EndpointCircuit)>> {
        let now = Timestamp::now();
        let endpoints = self.endpoints.list_endpoints().await?;
        let mut circuits = HashMap::with_capacity(endpoints.len());
        let mut wants = Vec::new();
        let mut left = free;
        let count = endpoints.len().max(1);
        for endpoint in endpoints
            .iter()
            .cycle()
            .skip(turn % count)
            .take(endpoints.len())
        {
            let busy = in_flight.get(&endpoint.id).copied().unwrap_or(0);
            let room = circuit::room(&endpoint.circuit, now, busy).min(left);
            circuits.insert(endpoint.id.clone(), endpoint.circuit);
            if room > 0 {
                left -= room;
                wants.push(DeliveryWant {
                    endpoint_id: endpoint.id.clone(),
                    room,
                });
            }
        }
        let due = self
            .endpoints
            .claim_deliveries(self.shared.owner(), now, now + CLAIM_LEASE, &wants)
            .await?;
        Ok(due
            .into_iter()
            .map(|d| {
                let circuit = circuits.get(&d.endpoint_id).copied().unwrap_or_default();
                (d, circuit)
            })
            .collect())
    }

    /// One attempt, and its outcome recorded, in the delivery and in the endpoint's circuit.
    async fn deliver(
        &self,
        mut delivery: DeliveryRecord,
        circuit: EndpointCircuit,
        retry_base: Duration,
    ) {
        let endpoint = match self.endpoints.get_endpoint(&delivery.endpoint_id).await {
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
        let now = Timestamp::now();
        delivery.attempts += 1;
        let delivered = matches!(outcome, Ok((status, _)) if (200..300).contains(&status));
        match outcome {
            Ok((status, _)) if delivered => {
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
                    delivery.next_attempt_at = now + wait;
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
        if let Err(e) = self.endpoints.update_delivery(&delivery).await {
            tracing::error!(delivery = %delivery.id, "recording the webhook attempt failed: {e}");
        }
        if let Err(e) = self
            .record_circuit(&endpoint.id, circuit, delivered, now, retry_base)
            .await
        {
            tracing::error!(endpoint = %endpoint.id, "recording the endpoint's circuit failed: {e}");
        }
    }

    /// A success closes the endpoint's circuit (written only when it had failures); a failure
    /// counts, and opens the circuit once the failures in a row reach the threshold.
    async fn record_circuit(
        &self,
        endpoint_id: &str,
        circuit: EndpointCircuit,
        delivered: bool,
        now: Timestamp,
        retry_base: Duration,
    ) -> crate::store::StoreResult<()> {
        if delivered {
            if circuit.failures_in_a_row > 0 || circuit.open_until.is_some() {
                self.endpoints.close_endpoint_circuit(endpoint_id).await?;
                if circuit::state(&circuit, now) != CircuitState::Closed {
                    tracing::info!(endpoint = %endpoint_id, "vendor endpoint answers again: circuit closed");
                }
            }
            return Ok(());
        }
        let failures = self.endpoints.count_endpoint_failure(endpoint_id).await?;
        // The pause doubles with each failed probe only: attempts that were under way together
        // when the endpoint went down count towards opening, not towards a longer pause.
        let probe = circuit.failures_in_a_row >= circuit::OPEN_AFTER_FAILURES;
        let counted = if probe {
            failures
        } else {
            failures.min(circuit::OPEN_AFTER_FAILURES)
        };
        if let Some(pause) = circuit::pause_after(counted, retry_base) {
            self.endpoints
                .open_endpoint_circuit(endpoint_id, now + pause)
                .await?;
            tracing::warn!(
                endpoint = %endpoint_id,
                failures_in_a_row = failures,
                pause_ms = pause.as_millis() as u64,
                "vendor endpoint keeps failing: circuit open, its messages wait"
            );
        }
        Ok(())
    }

    /// POSTs the message: the endpoint's status and the start of its body, or why there was
    /// no answer.
    async fn attempt(
        &self,
        endpoint: &EndpointRecord,
        delivery: &DeliveryRecord,
    ) -> std::result::Result<(i64, String), String> {
        let secret = self
            .shared
            .open(&endpoint.secret)
            .map_err(|_| "the endpoint's secret could not be decrypted".to_owned())?;
        let body = serde_json::to_vec(&delivery.payload).map_err(|e| e.to_string())?;
        let timestamp = Timestamp::now().as_millis() / 1000;
        let signature = sign(secret.expose(), &delivery.id, timestamp, &body)
            .map_err(|e| format!("signing failed: {e}"))?;
        let response = self
            .shared
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
            .map_err(describe)?;
        let status = i64::from(response.status().as_u16());
        let text = if (200..300).contains(&status) {
            String::new()
        } else {
            response.text().await.unwrap_or_default()
        };
        Ok((status, text))
    }
}

fn release(per_endpoint: &mut HashMap<String, u32>, endpoint_id: &str) {
    if let Some(count) = per_endpoint.get_mut(endpoint_id) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            per_endpoint.remove(endpoint_id);
        }
    }
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
    } else {
        dialpad::describe_transport_error(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn refusals_keep_the_start_of_the_body() {
        assert_eq!(refused(500, "  "), "the endpoint answered 500");
        let long = "x".repeat(500);
        let text = refused(502, &long);
        assert!(text.starts_with("the endpoint answered 502: xxx"));
        assert!(text.chars().count() < 250);
    }
}
