//! `workflows`, `workflow_versions` and `workflow_enablements`: versioned workflow definitions
//! (a save bumps the key's `latest_version` and inserts that version in one transaction, so two
//! saves never share a number) and which accounts run which workflow with what config.

use async_trait::async_trait;
use dialbridge_core::{
    AccountId, EnablementRecord, StoreResult, Timestamp, WorkflowRecord, WorkflowStore,
};
use sqlx::any::AnyRow;

use crate::database::{backend, Database};
use crate::rows::{at, get, json, ms, to_json};

const VERSION_COLUMNS: &str = "v.key, v.version, v.definition, v.created_at";
const ENABLEMENT_COLUMNS: &str = "account_id, workflow_key, config, created_at, updated_at";

fn workflow(row: &AnyRow) -> StoreResult<WorkflowRecord> {
    Ok(WorkflowRecord {
        key: get(row, "key")?,
        version: get(row, "version")?,
        definition: json(row, "definition")?,
        created_at: at(row, "created_at")?,
    })
}

fn enablement(row: &AnyRow) -> StoreResult<EnablementRecord> {
    Ok(EnablementRecord {
        account_id: AccountId::from_trusted(get(row, "account_id")?),
        workflow_key: get(row, "workflow_key")?,
        config: json(row, "config")?,
        created_at: at(row, "created_at")?,
        updated_at: at(row, "updated_at")?,
    })
}

#[async_trait]
impl WorkflowStore for Database {
    async fn insert_workflow_version(
        &self,
        key: &str,
        definition: &serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<i64> {
        let definition = to_json(definition)?;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // A write first: it takes SQLite's write lock and PostgreSQL's row lock on the key, so
        // concurrent saves of one key queue here and each sees the previous one's number.
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO workflows (key, latest_version, created_at, updated_at) VALUES ($1, 1, $2, $2) \
             ON CONFLICT (key) DO UPDATE SET latest_version = workflows.latest_version + 1, \
             deleted_at = NULL, updated_at = excluded.updated_at RETURNING latest_version",
        )
        .bind(key)
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "INSERT INTO workflow_versions (key, version, definition, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(key)
        .bind(version)
        .bind(definition)
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(version)
    }

    async fn get_workflow(
        &self,
        key: &str,
        version: Option<i64>,
    ) -> StoreResult<Option<WorkflowRecord>> {
        let row = match version {
            Some(version) => sqlx::query(&format!(
                "SELECT {VERSION_COLUMNS} FROM workflow_versions v WHERE v.key = $1 AND v.version = $2"
            ))
            .bind(key)
            .bind(version)
            .fetch_optional(&self.pool)
            .await,
            None => sqlx::query(&format!(
                "SELECT {VERSION_COLUMNS} FROM workflows w \
                 JOIN workflow_versions v ON v.key = w.key AND v.version = w.latest_version \
                 WHERE w.key = $1 AND w.deleted_at IS NULL"
            ))
            .bind(key)
            .fetch_optional(&self.pool)
            .await,
        }
        .map_err(backend)?;
        row.as_ref().map(workflow).transpose()
    }

    async fn list_workflows(&self) -> StoreResult<Vec<WorkflowRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM workflows w \
             JOIN workflow_versions v ON v.key = w.key AND v.version = w.latest_version \
             WHERE w.deleted_at IS NULL ORDER BY w.key"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(workflow).collect()
    }

    async fn delete_workflow(&self, key: &str, now: Timestamp) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let deleted = sqlx::query(
            "UPDATE workflows SET deleted_at = $2, updated_at = $2 WHERE key = $1 AND deleted_at IS NULL",
        )
        .bind(key)
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query("DELETE FROM workflow_enablements WHERE workflow_key = $1")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(deleted.rows_affected() == 1)
    }

    async fn put_enablement(&self, r: &EnablementRecord) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO workflow_enablements ({ENABLEMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account_id, workflow_key) DO UPDATE SET config = excluded.config, \
             updated_at = excluded.updated_at"
        ))
        .bind(r.account_id.as_str())
        .bind(&r.workflow_key)
        .bind(to_json(&r.config)?)
        .bind(ms(r.created_at))
        .bind(ms(r.updated_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn get_enablement(
        &self,
        account: &AccountId,
        workflow_key: &str,
    ) -> StoreResult<Option<EnablementRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ENABLEMENT_COLUMNS} FROM workflow_enablements WHERE account_id = $1 AND workflow_key = $2"
        ))
        .bind(account.as_str())
        .bind(workflow_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(enablement).transpose()
    }

    async fn delete_enablement(
        &self,
        account: &AccountId,
        workflow_key: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM workflow_enablements WHERE account_id = $1 AND workflow_key = $2",
        )
        .bind(account.as_str())
        .bind(workflow_key)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_enablements(
        &self,
        account: Option<&AccountId>,
        workflow_key: Option<&str>,
    ) -> StoreResult<Vec<EnablementRecord>> {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        if let Some(account) = account {
            values.push(account.as_str());
            conditions.push(format!("account_id = ${}", values.len()));
        }
        if let Some(key) = workflow_key {
            values.push(key);
            conditions.push(format!("workflow_key = ${}", values.len()));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {ENABLEMENT_COLUMNS} FROM workflow_enablements {filter} ORDER BY account_id, workflow_key"
        );
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter().map(enablement).collect()
    }
}
