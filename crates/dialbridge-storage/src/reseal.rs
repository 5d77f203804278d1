//! Every sealed column of the schema, by the core's `SealedColumn`, read in row-key order and
//! rewritten with a compare-and-swap per value: what a master-key rotation walks through.

use async_trait::async_trait;
use dialbridge_core::{ResealStore, Sealed, SealedCell, SealedColumn, StoreResult};

use crate::database::{backend, Database};
use crate::rows::get;

/// The table, its key column and the sealed column of each `SealedColumn`.
fn location(column: SealedColumn) -> (&'static str, &'static str, &'static str) {
    match column {
        SealedColumn::AppClientSecret => ("app_credentials", "environment", "client_secret"),
        SealedColumn::ConnectionAccessToken => ("connections", "account_id", "access_token"),
        SealedColumn::ConnectionRefreshToken => ("connections", "account_id", "refresh_token"),
        SealedColumn::ConnectionApiKey => ("connections", "account_id", "api_key"),
        SealedColumn::HookSecret => ("hooks", "hook_id", "secret"),
        SealedColumn::EndpointSecret => ("webhook_endpoints", "id", "secret"),
        SealedColumn::ConnectSessionVerifier => ("connect_states", "state_hash", "code_verifier"),
    }
}

#[async_trait]
impl ResealStore for Database {
    async fn sealed_values(
        &self,
        column: SealedColumn,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<SealedCell>> {
        let (table, key, value) = location(column);
        let rows = sqlx::query(&format!(
            "SELECT {key} AS row_key, {value} AS sealed FROM {table} \
             WHERE {value} IS NOT NULL AND {key} > $1 ORDER BY {key} LIMIT $2"
        ))
        .bind(after.unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(SealedCell {
                    row: get(row, "row_key")?,
                    value: Sealed(get(row, "sealed")?),
                })
            })
            .collect()
    }

    async fn reseal(
        &self,
        column: SealedColumn,
        changes: &[(SealedCell, Sealed)],
    ) -> StoreResult<u64> {
        if changes.is_empty() {
            return Ok(0);
        }
        let (table, key, value) = location(column);
        let sql = format!("UPDATE {table} SET {value} = $1 WHERE {key} = $2 AND {value} = $3");
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let mut written = 0;
        for (cell, sealed) in changes {
            written += sqlx::query(&sql)
                .bind(sealed.0.clone())
                .bind(&cell.row)
                .bind(cell.value.0.clone())
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected();
        }
        tx.commit().await.map_err(backend)?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use dialbridge_core::SealedColumn;
    use sqlx::Row;

    use super::location;
    use crate::Database;

    /// A new column of bytes is a new sealed secret: a rotation must know it.
    #[tokio::test]
    async fn every_column_of_bytes_is_a_sealed_column() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&format!("sqlite://{}/db.sqlite", dir.path().display()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let rows = sqlx::query(
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE '_sqlx%' AND p.type = 'BLOB'",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let blobs: BTreeSet<(String, String)> = rows
            .iter()
            .map(|r| (r.get::<String, _>("t"), r.get::<String, _>("c")))
            .collect();
        let sealed: BTreeSet<(String, String)> = SealedColumn::ALL
            .iter()
            .map(|c| {
                let (table, _, column) = location(*c);
                (table.to_owned(), column.to_owned())
            })
            .collect();
        assert_eq!(blobs, sealed);
        db.close().await;
    }
}
