//! `audit_log`: admin changes, newest first, paged by the id of the last one read.

use async_trait::async_trait;
use dialbridge_core::{AuditRecord, AuditStore, StoreResult};
use sqlx::any::AnyRow;

use crate::database::{backend, Database};
use crate::rows::{at, get, json, ms, to_json};

const COLUMNS: &str = "id, created_at, source, key_id, key_name, action, target, summary";

fn audit_record(row: &AnyRow) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        id: get(row, "id")?,
        at: at(row, "created_at")?,
        source: get(row, "source")?,
        key_id: get(row, "key_id")?,
        key_name: get(row, "key_name")?,
        action: get(row, "action")?,
        target: get(row, "target")?,
        summary: json(row, "summary")?,
    })
}

#[async_trait]
impl AuditStore for Database {
    async fn insert_audit_record(&self, r: &AuditRecord) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&r.id)
        .bind(ms(r.at))
        .bind(&r.source)
        .bind(r.key_id.clone())
        .bind(r.key_name.clone())
        .bind(&r.action)
        .bind(&r.target)
        .bind(to_json(&r.summary)?)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn list_audit_records(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>> {
        // Strictly after the cursor row in (created_at desc, id desc) order; an unknown cursor
        // compares with NULL and matches nothing.
        let after_cursor =
            "WHERE created_at < (SELECT c.created_at FROM audit_log c WHERE c.id = $2) \
             OR (created_at = (SELECT c.created_at FROM audit_log c WHERE c.id = $2) AND id < $2)";
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log {} ORDER BY created_at DESC, id DESC LIMIT $1",
            if cursor.is_some() { after_cursor } else { "" }
        );
        let mut query = sqlx::query(&sql).bind(i64::from(limit));
        if let Some(cursor) = cursor {
            query = query.bind(cursor);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter().map(audit_record).collect()
    }
}
