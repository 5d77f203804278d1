//! `connect_sessions` and `connect_states`: connect links and the OAuth attempts of each.
//! Adding an attempt, taking a state and spending a link are single atomic statements, so a
//! state answers once and a link is spent once.

use async_trait::async_trait;
use dialbridge_core::{
    AccountId, ConnectSession, ConnectSessionStore, ConnectState, Sealed, StoreResult, Timestamp,
};
use sqlx::any::AnyRow;

use crate::database::{backend, Database};
use crate::rows::{at, environment, get, ms, string_list, to_json};

/// `connect_sessions`' columns in use (`state_hash` was left behind, empty, by the move of
/// attempts to `connect_states`).
const COLUMNS: &str = "token_hash, account_id, environment, redirect_url, scopes, custom_scopes, created_at, expires_at, \
    completed_at";

fn session(row: &AnyRow) -> StoreResult<ConnectSession> {
    Ok(ConnectSession {
        token_hash: get(row, "token_hash")?,
        account_id: AccountId::from_trusted(get(row, "account_id")?),
        environment: environment(row, "environment")?,
        redirect_url: get(row, "redirect_url")?,
        scopes: string_list(row, "scopes")?,
        custom_scopes: string_list(row, "custom_scopes")?,
        created_at: at(row, "created_at")?,
        expires_at: at(row, "expires_at")?,
        completed_at: at(row, "completed_at")?,
    })
}

#[async_trait]
impl ConnectSessionStore for Database {
    async fn insert_connect_session(&self, s: &ConnectSession) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO connect_sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&s.token_hash)
        .bind(s.account_id.as_str())
        .bind(s.environment.as_str())
        .bind(s.redirect_url.clone())
        .bind(to_json(&s.scopes)?)
        .bind(to_json(&s.custom_scopes)?)
        .bind(ms(s.created_at))
        .bind(ms(s.expires_at))
        .bind(ms(s.completed_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn find_connect_session(&self, token_hash: &str) -> StoreResult<Option<ConnectSession>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM connect_sessions WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(session).transpose()
    }

    async fn add_connect_state(
        &self,
        state: &ConnectState,
        now: Timestamp,
        max_states: u32,
    ) -> StoreResult<Option<ConnectSession>> {
        let added = sqlx::query(
            "INSERT INTO connect_states (state_hash, token_hash, code_verifier, created_at) \
             SELECT $1, token_hash, $3, $6 FROM connect_sessions \
             WHERE token_hash = $2 AND completed_at IS NULL AND expires_at > $4 \
             AND (SELECT COUNT(*) FROM connect_states WHERE token_hash = $2) < $5",
        )
        .bind(&state.state_hash)
        .bind(&state.token_hash)
        .bind(state.code_verifier.0.clone())
        .bind(ms(now))
        .bind(i64::from(max_states))
        .bind(ms(state.created_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if added.rows_affected() == 0 {
            return Ok(None);
        }
        self.find_connect_session(&state.token_hash).await
    }

    async fn take_connect_state(&self, state_hash: &str) -> StoreResult<Option<ConnectState>> {
        let row = sqlx::query(
            "DELETE FROM connect_states WHERE state_hash = $1 \
             RETURNING state_hash, token_hash, code_verifier, created_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ConnectState {
            state_hash: get(&row, "state_hash")?,
            token_hash: get(&row, "token_hash")?,
            code_verifier: Sealed(get(&row, "code_verifier")?),
            created_at: at(&row, "created_at")?,
        }))
    }

    async fn spend_connect_session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<ConnectSession>> {
        let sql = format!(
            "UPDATE connect_sessions SET completed_at = $2 \
             WHERE token_hash = $1 AND completed_at IS NULL AND expires_at > $2 RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .bind(ms(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(session).transpose()
    }

    async fn unspend_connect_session(
        &self,
        token_hash: &str,
        spent_at: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE connect_sessions SET completed_at = NULL WHERE token_hash = $1 AND completed_at = $2",
        )
        .bind(token_hash)
        .bind(ms(spent_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn delete_connect_states(&self, token_hash: &str) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM connect_states WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn purge_connect_sessions(&self, expired_before: Timestamp) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The foreign key cascades too; the explicit delete keeps it true without it.
        sqlx::query(
            "DELETE FROM connect_states WHERE token_hash IN \
             (SELECT token_hash FROM connect_sessions WHERE expires_at < $1)",
        )
        .bind(ms(expired_before))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let done = sqlx::query("DELETE FROM connect_sessions WHERE expires_at < $1")
            .bind(ms(expired_before))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(done.rows_affected())
    }
}
