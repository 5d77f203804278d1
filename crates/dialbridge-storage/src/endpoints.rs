//! `webhook_endpoints` and `webhook_deliveries`: the vendor's webhook endpoints and each
//! message to them. A claim leases each wanted endpoint's earliest due deliveries in one
//! statement (PostgreSQL skips rows another claimer is taking), so no two senders get the same
//! one and no claim sorts more than an endpoint's share of the partial index of pending rows.

use async_trait::async_trait;
use dialbridge_core::{
    DeliveryRecord, DeliveryWant, EndpointCircuit, EndpointRecord, EndpointStore, StoreError,
    StoreResult, Timestamp,
};
use sqlx::any::AnyRow;

use crate::database::{backend, Database, Dialect};
use crate::rows::{at, get, json, ms, sealed, string_list, to_json};
use crate::write_tx::WriteTx;

const ENDPOINT_COLUMNS: &str =
    "id, url, events, secret, created_at, updated_at, failures_in_a_row, open_until";

const DELIVERY_COLUMNS: &str =
    "id, endpoint_id, event_type, payload, status, attempts, next_attempt_at, \
    last_status, last_error, created_at, delivered_at";
/// PostgreSQL's types of `DELIVERY_COLUMNS`, for the rows of a multi-row insert.
const DELIVERY_TYPES: &[&str] = &[
    "text", "text", "text", "text", "text", "int8", "int8", "int8", "text", "int8", "int8",
];

/// Pending, due by `$3` and not leased.
const DUE: &str = "status = 'pending' AND next_attempt_at <= $3 \
    AND (lease_until IS NULL OR lease_until < $3)";

fn endpoint(row: &AnyRow) -> StoreResult<EndpointRecord> {
    Ok(EndpointRecord {
        id: get(row, "id")?,
        url: get(row, "url")?,
        events: string_list(row, "events")?,
        secret: sealed(row, "secret")?
            .ok_or_else(|| StoreError::Corrupt("webhook_endpoints.secret is NULL".into()))?,
        created_at: at(row, "created_at")?,
        updated_at: at(row, "updated_at")?,
        circuit: EndpointCircuit {
            failures_in_a_row: get(row, "failures_in_a_row")?,
            open_until: at(row, "open_until")?,
        },
    })
}

fn delivery(row: &AnyRow) -> StoreResult<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: get(row, "id")?,
        endpoint_id: get(row, "endpoint_id")?,
        event_type: get(row, "event_type")?,
        payload: json(row, "payload")?,
        status: get(row, "status")?,
        attempts: get(row, "attempts")?,
        next_attempt_at: at(row, "next_attempt_at")?,
        last_status: get(row, "last_status")?,
        last_error: get(row, "last_error")?,
        created_at: at(row, "created_at")?,
        delivered_at: at(row, "delivered_at")?,
    })
}

/// Queues deliveries, several rows per statement.
pub(crate) fn insert_deliveries(
    tx: &mut WriteTx<'_>,
    deliveries: &[&DeliveryRecord],
) -> StoreResult<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) {}",
        tx.rows(deliveries.len(), DELIVERY_TYPES)
    );
    let mut query = tx.push_rows(&sql, DELIVERY_TYPES.len());
    for d in deliveries {
        query
            .bind(d.id.as_str())
            .bind(d.endpoint_id.as_str())
            .bind(d.event_type.as_str())
            .bind(to_json(&d.payload)?)
            .bind(d.status.as_str())
            .bind(d.attempts)
            .bind(ms(d.next_attempt_at))
            .bind(d.last_status)
            .bind(d.last_error.as_deref())
            .bind(ms(d.created_at))
            .bind(ms(d.delivered_at));
    }
    Ok(())
}

#[async_trait]
impl EndpointStore for Database {
    /// Creates or replaces the endpoint, keeping its `created_at` when it existed.
    async fn put_endpoint(&self, e: &EndpointRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, url, events, secret, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET url = excluded.url, events = excluded.events, \
             secret = excluded.secret, updated_at = excluded.updated_at",
        )
        .bind(&e.id)
        .bind(&e.url)
        .bind(to_json(&e.events)?)
        .bind(e.secret.0.clone())
        .bind(ms(e.created_at))
        .bind(ms(e.updated_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn get_endpoint(&self, id: &str) -> StoreResult<Option<EndpointRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(endpoint).transpose()
    }

    async fn list_endpoints(&self) -> StoreResult<Vec<EndpointRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(endpoint).collect()
    }

    /// Deletes the endpoint and its deliveries.
    async fn delete_endpoint(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_delivery(&self, d: &DeliveryRecord) -> StoreResult<()> {
        let mut tx = self.write_tx();
        insert_deliveries(&mut tx, &[d])?;
        tx.commit().await?;
        Ok(())
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        wants: &[DeliveryWant],
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let wants: Vec<&DeliveryWant> = wants.iter().filter(|w| w.room > 0).collect();
        if wants.is_empty() {
            return Ok(Vec::new());
        }
        let rows = match self.dialect() {
            Dialect::Postgres => {
                let wanted: Vec<serde_json::Value> = wants
                    .iter()
                    .map(|w| serde_json::json!({"endpoint_id": w.endpoint_id, "room": w.room}))
                    .collect();
                let returning: Vec<String> = DELIVERY_COLUMNS
                    .split(", ")
                    .map(|c| format!("d.{c}"))
                    .collect();
                let sql = format!(
                    "UPDATE webhook_deliveries d SET lease_owner = $1, lease_until = $2 \
                     FROM (SELECT x.id FROM json_to_recordset($4::json) AS w(endpoint_id text, room int) \
                           CROSS JOIN LATERAL (SELECT id FROM webhook_deliveries \
                               WHERE endpoint_id = w.endpoint_id AND {DUE} \
                               ORDER BY next_attempt_at, id LIMIT w.room FOR UPDATE SKIP LOCKED) x) picked \
                     WHERE d.id = picked.id RETURNING {}",
                    returning.join(", ")
                );
                sqlx::query(&sql)
                    .bind(owner)
                    .bind(ms(lease_until))
                    .bind(ms(now))
                    .bind(serde_json::Value::Array(wanted).to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?
            }
            // SQLite has one writer: one statement per endpoint, in one transaction.
            Dialect::Sqlite => {
                let sql = format!(
                    "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2 WHERE id IN ( \
                         SELECT id FROM webhook_deliveries WHERE endpoint_id = $4 AND {DUE} \
                         ORDER BY next_attempt_at, id LIMIT $5) \
                     RETURNING {DELIVERY_COLUMNS}"
                );
                let mut tx = self.pool.begin().await.map_err(backend)?;
                let mut rows = Vec::new();
                for want in &wants {
                    rows.extend(
                        sqlx::query(&sql)
                            .bind(owner)
                            .bind(ms(lease_until))
                            .bind(ms(now))
                            .bind(&want.endpoint_id)
                            .bind(i64::from(want.room))
                            .fetch_all(&mut *tx)
                            .await
                            .map_err(backend)?,
                    );
                }
                tx.commit().await.map_err(backend)?;
                rows
            }
        };
        let mut claimed = rows.iter().map(delivery).collect::<StoreResult<Vec<_>>>()?;
        claimed.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
        Ok(claimed)
    }

    async fn count_endpoint_failure(&self, endpoint_id: &str) -> StoreResult<i64> {
        let count: Option<i64> = sqlx::query_scalar(
            "UPDATE webhook_endpoints SET failures_in_a_row = failures_in_a_row + 1 \
             WHERE id = $1 RETURNING failures_in_a_row",
        )
        .bind(endpoint_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        // A deleted endpoint has no circuit left to count in.
        Ok(count.unwrap_or(0))
    }

    async fn open_endpoint_circuit(&self, endpoint_id: &str, until: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE webhook_endpoints SET open_until = $2 WHERE id = $1")
            .bind(endpoint_id)
            .bind(ms(until))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn close_endpoint_circuit(&self, endpoint_id: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhook_endpoints SET failures_in_a_row = 0, open_until = NULL WHERE id = $1",
        )
        .bind(endpoint_id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn update_delivery(&self, d: &DeliveryRecord) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $2, attempts = $3, next_attempt_at = $4, last_status = $5, \
             last_error = $6, delivered_at = $7, lease_owner = NULL, lease_until = NULL WHERE id = $1",
        )
        .bind(&d.id)
        .bind(&d.status)
        .bind(d.attempts)
        .bind(ms(d.next_attempt_at))
        .bind(d.last_status)
        .bind(d.last_error.clone())
        .bind(ms(d.delivered_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn list_deliveries(
        &self,
        endpoint_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(endpoint_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(delivery).collect()
    }

    async fn get_delivery(
        &self,
        endpoint_id: &str,
        id: &str,
    ) -> StoreResult<Option<DeliveryRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2"
        ))
        .bind(id)
        .bind(endpoint_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(delivery).transpose()
    }

    async fn retry_delivery(
        &self,
        endpoint_id: &str,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3, \
             lease_owner = NULL, lease_until = NULL \
             WHERE id = $1 AND endpoint_id = $2 AND status = 'failed'",
        )
        .bind(id)
        .bind(endpoint_id)
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }
}
