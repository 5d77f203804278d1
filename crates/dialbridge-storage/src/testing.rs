//! For tests of this and other crates: a PostgreSQL database of the test's own, created through
//! `DIALBRIDGE_TEST_DATABASE_URL`'s server and dropped afterwards. Leftovers of crashed runs
//! (older than an hour, by the time in their name) are dropped on the next run.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection};

const PREFIX: &str = "dbt_";

/// Drops the database on `cleanup`.
pub struct TestDbGuard {
    admin_url: String,
    name: String,
}

/// Creates a fresh database on the server of `admin_url` and answers its URL.
pub async fn fresh_postgres(admin_url: &str) -> Result<(String, TestDbGuard), sqlx::Error> {
    let mut admin = PgConnection::connect(admin_url).await?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    drop_stale(&mut admin, now).await;
    let name = format!("{PREFIX}{now}_{:08x}", rand::random::<u32>());
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    let mut url = url::Url::parse(admin_url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
    url.set_path(&format!("/{name}"));
    Ok((
        url.to_string(),
        TestDbGuard {
            admin_url: admin_url.to_owned(),
            name,
        },
    ))
}

impl TestDbGuard {
    pub async fn cleanup(self) {
        if let Ok(mut admin) = PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .await;
            let _ = admin.close().await;
        }
    }
}

async fn drop_stale(admin: &mut PgConnection, now: u128) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'dbt\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let born = name
            .trim_start_matches(PREFIX)
            .split('_')
            .next()
            .and_then(|t| t.parse::<u128>().ok());
        if born.is_some_and(|born| now.saturating_sub(born) > 3_600_000) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut *admin)
                .await;
        }
    }
}
