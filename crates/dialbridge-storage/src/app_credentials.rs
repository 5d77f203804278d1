//! `app_credentials`: the app's client id, sealed client secret and base URL per environment.

use async_trait::async_trait;
use dialbridge_core::{AppCredentialsRecord, AppStore, StoreError, StoreResult};

use crate::database::{backend, Database};
use crate::rows::{at, environment, get, json_opt, ms, to_json};

#[async_trait]
impl AppStore for Database {
    async fn list_app_credentials(&self) -> StoreResult<Vec<AppCredentialsRecord>> {
        let rows = sqlx::query("SELECT environment, client_id, client_secret, base_url, rate_limits, updated_at FROM app_credentials ORDER BY environment")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(AppCredentialsRecord {
                    environment: environment(row, "environment")?,
                    client_id: get(row, "client_id")?,
                    client_secret: dialbridge_core::Sealed(get(row, "client_secret")?),
                    base_url: get(row, "base_url")?,
                    rate_limits: json_opt(row, "rate_limits")?
                        .map(serde_json::from_value)
                        .transpose()
                        .map_err(|e| StoreError::Corrupt(format!("rate_limits: {e}")))?,
                    updated_at: at(row, "updated_at")?,
                })
            })
            .collect()
    }

    async fn put_app_credentials(&self, record: &AppCredentialsRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO app_credentials (environment, client_id, client_secret, base_url, rate_limits, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (environment) DO UPDATE SET client_id = excluded.client_id, client_secret = excluded.client_secret, \
             base_url = excluded.base_url, rate_limits = excluded.rate_limits, updated_at = excluded.updated_at",
        )
        .bind(record.environment.as_str())
        .bind(&record.client_id)
        .bind(&record.client_secret.0)
        .bind(&record.base_url)
        .bind(record.rate_limits.as_ref().map(to_json).transpose()?)
        .bind(ms(record.updated_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }
}
