//! `webhook_endpoints` and `webhook_deliveries`: the vendor's webhook endpoints and each
//! message to them. Deliveries are leased with compare-and-set updates, so no two senders get
//! the same one.

use async_trait::async_trait;
use dialbridge_core::{
    DeliveryRecord, EndpointRecord, EndpointStore, StoreError, StoreResult, Timestamp,
};
use sqlx::any::AnyRow;

use crate::database::{backend, Database};
use crate::rows::{at, get, json, ms, sealed, string_list, to_json, value_rows};

const ENDPOINT_COLUMNS: &str = "id, url, events, secret, created_at, updated_at";

const DELIVERY_COLUMNS: &str =
    "id, endpoint_id, event_type, payload, status, attempts, next_attempt_at, \
    last_status, last_error, created_at, delivered_at";

/// Rounds of candidates a claim reads at most (each lost race drops a candidate for good).
const CLAIM_ROUNDS: usize = 4;

fn endpoint(row: &AnyRow) -> StoreResult<EndpointRecord> {
    Ok(EndpointRecord {
        id: get(row, "id")?,
        url: get(row, "url")?,
        events: string_list(row, "events")?,
        secret: sealed(row, "secret")?
            .ok_or_else(|| StoreError::Corrupt("webhook_endpoints.secret is NULL".into()))?,
        created_at: at(row, "created_at")?,
        updated_at: at(row, "updated_at")?,
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
pub(crate) async fn insert_deliveries<'c, E>(
    executor: E,
    deliveries: &[&DeliveryRecord],
) -> StoreResult<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    if deliveries.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) VALUES {}",
        value_rows(deliveries.len(), 11)
    );
    let mut query = sqlx::query(&sql);
    for d in deliveries {
        query = query
            .bind(d.id.clone())
            .bind(d.endpoint_id.clone())
            .bind(d.event_type.clone())
            .bind(to_json(&d.payload)?)
            .bind(d.status.clone())
            .bind(d.attempts)
            .bind(ms(d.next_attempt_at))
            .bind(d.last_status)
            .bind(d.last_error.clone())
            .bind(ms(d.created_at))
            .bind(ms(d.delivered_at));
    }
    query.execute(executor).await.map_err(backend)?;
    Ok(())
}

#[async_trait]
impl EndpointStore for Database {
    /// Creates or replaces the endpoint, keeping its `created_at` when it existed.
    async fn put_endpoint(&self, e: &EndpointRecord) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET url = excluded.url, events = excluded.events, \
             secret = excluded.secret, updated_at = excluded.updated_at"
        ))
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
        insert_deliveries(&self.pool, &[d]).await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        const DUE: &str = "status = 'pending' AND next_attempt_at <= $1 \
            AND (lease_until IS NULL OR lease_until < $1)";
        let candidates_sql = format!(
            "SELECT id FROM webhook_deliveries WHERE {DUE} ORDER BY created_at, id LIMIT $2"
        );
        let claim_sql = format!(
            "UPDATE webhook_deliveries SET lease_owner = $2, lease_until = $3 WHERE {DUE} AND id = $4 \
             RETURNING {DELIVERY_COLUMNS}"
        );
        let mut claimed = Vec::new();
        // A candidate another claimer took meanwhile fails the compare-and-set and is leased
        // when the next round reads, so rounds only repeat to fill places lost to races.
        for _ in 0..CLAIM_ROUNDS {
            let wanted = limit as usize - claimed.len();
            if wanted == 0 {
                break;
            }
            let ids: Vec<String> = sqlx::query_scalar(&candidates_sql)
                .bind(ms(now))
                .bind(wanted as i64)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
            let exhausted = ids.len() < wanted;
            let before = claimed.len();
            for id in ids {
                let row = sqlx::query(&claim_sql)
                    .bind(ms(now))
                    .bind(owner)
                    .bind(ms(lease_until))
                    .bind(&id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                if let Some(row) = row {
                    claimed.push(delivery(&row)?);
                }
            }
            if exhausted || claimed.len() == before + wanted {
                break;
            }
        }
        claimed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(claimed)
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
}
