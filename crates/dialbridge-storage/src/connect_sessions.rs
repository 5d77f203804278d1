//! `connect_sessions`: connect links and the OAuth state bound to them. Opening and completing
//! are single atomic updates, so a link or a state is used at most once.

use async_trait::async_trait;
use dialbridge_core::{AccountId, ConnectSession, ConnectSessionStore, StoreResult, Timestamp};
use sqlx::any::AnyRow;

use crate::database::{backend, Database};
use crate::rows::{at, environment, get, ms, sealed, string_list, to_json};

const COLUMNS: &str = "token_hash, account_id, environment, redirect_url, scopes, custom_scopes, created_at, expires_at, \
    state_hash, code_verifier, opened_at, completed_at";

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
        state_hash: get(row, "state_hash")?,
        code_verifier: sealed(row, "code_verifier")?,
        opened_at: at(row, "opened_at")?,
        completed_at: at(row, "completed_at")?,
    })
}

impl Database {
    async fn update_session<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> StoreResult<Option<ConnectSession>> {
        let row = query.fetch_optional(&self.pool).await.map_err(backend)?;
        row.as_ref().map(session).transpose()
    }
}

#[async_trait]
impl ConnectSessionStore for Database {
    async fn insert_connect_session(&self, s: &ConnectSession) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO connect_sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&s.token_hash)
        .bind(s.account_id.as_str())
        .bind(s.environment.as_str())
        .bind(s.redirect_url.clone())
        .bind(to_json(&s.scopes)?)
        .bind(to_json(&s.custom_scopes)?)
        .bind(ms(s.created_at))
        .bind(ms(s.expires_at))
        .bind(s.state_hash.clone())
        .bind(s.code_verifier.as_ref().map(|v| v.0.clone()))
        .bind(ms(s.opened_at))
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

    async fn open_connect_session(
        &self,
        token_hash: &str,
        state_hash: &str,
        code_verifier: &dialbridge_core::Sealed,
        now: Timestamp,
    ) -> StoreResult<Option<ConnectSession>> {
        let sql = format!(
            "UPDATE connect_sessions SET opened_at = $4, state_hash = $2, code_verifier = $3 \
             WHERE token_hash = $1 AND opened_at IS NULL AND completed_at IS NULL AND expires_at > $4 RETURNING {COLUMNS}"
        );
        self.update_session(
            sqlx::query(&sql)
                .bind(token_hash)
                .bind(state_hash)
                .bind(code_verifier.0.clone())
                .bind(ms(now)),
        )
        .await
    }

    async fn complete_connect_session_by_state(
        &self,
        state_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<ConnectSession>> {
        let sql = format!(
            "UPDATE connect_sessions SET completed_at = $2 \
             WHERE state_hash = $1 AND opened_at IS NOT NULL AND completed_at IS NULL AND expires_at > $2 RETURNING {COLUMNS}"
        );
        self.update_session(sqlx::query(&sql).bind(state_hash).bind(ms(now)))
            .await
    }

    async fn complete_connect_session_by_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<ConnectSession>> {
        let sql = format!(
            "UPDATE connect_sessions SET completed_at = $2 \
             WHERE token_hash = $1 AND opened_at IS NULL AND completed_at IS NULL AND expires_at > $2 RETURNING {COLUMNS}"
        );
        self.update_session(sqlx::query(&sql).bind(token_hash).bind(ms(now)))
            .await
    }

    async fn purge_connect_sessions(&self, expired_before: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM connect_sessions WHERE expires_at < $1")
            .bind(ms(expired_before))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
