//! Reading rows back into domain types: enum text, JSON text and sealed bytes, with corrupt
//! values reported as such instead of panicking.

use dialbridge_core::{
    AccountId, AuthType, ConnectionRecord, ConnectionStatus, Environment, Sealed, StoreError,
    StoreResult, Timestamp,
};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::database::backend;

pub(crate) fn get<T>(row: &AnyRow, column: &str) -> StoreResult<T>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(backend)
}

/// A time column: milliseconds since the epoch, as `Timestamp` or `Option<Timestamp>`.
pub(crate) fn at<T: Millis>(row: &AnyRow, column: &str) -> StoreResult<T> {
    Ok(T::from_ms(get(row, column)?))
}

/// How instants travel to and from the database: as milliseconds since the epoch.
pub(crate) trait Millis {
    type Ms: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>;
    fn from_ms(ms: Self::Ms) -> Self;
    fn ms(self) -> Self::Ms;
}

impl Millis for Timestamp {
    type Ms = i64;
    fn from_ms(ms: i64) -> Self {
        Timestamp::from_millis(ms)
    }
    fn ms(self) -> i64 {
        self.as_millis()
    }
}

impl Millis for Option<Timestamp> {
    type Ms = Option<i64>;
    fn from_ms(ms: Option<i64>) -> Self {
        ms.map(Timestamp::from_millis)
    }
    fn ms(self) -> Option<i64> {
        self.map(Timestamp::as_millis)
    }
}

/// An instant (or none) as the database stores it.
pub(crate) fn ms<T: Millis>(at: T) -> T::Ms {
    at.ms()
}

pub(crate) fn sealed(row: &AnyRow, column: &str) -> StoreResult<Option<Sealed>> {
    Ok(get::<Option<Vec<u8>>>(row, column)?.map(Sealed))
}

pub(crate) fn string_list(row: &AnyRow, column: &str) -> StoreResult<Vec<String>> {
    let text: String = get(row, column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// A JSON column (stored as text).
pub(crate) fn json(row: &AnyRow, column: &str) -> StoreResult<serde_json::Value> {
    let text: String = get(row, column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// A nullable JSON column: SQL NULL is `None`, the text `null` is `Some(Value::Null)`.
pub(crate) fn json_opt(row: &AnyRow, column: &str) -> StoreResult<Option<serde_json::Value>> {
    get::<Option<String>>(row, column)?
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
        })
        .transpose()
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn environment(row: &AnyRow, column: &str) -> StoreResult<Environment> {
    let text: String = get(row, column)?;
    Environment::parse(&text)
        .map_err(|_| StoreError::Corrupt(format!("{column}: unknown environment '{text}'")))
}

/// Columns of `connections c`, each aliased `c_<name>` so they can sit beside an account's.
pub(crate) const CONNECTION_COLUMNS: &str = "c.account_id AS c_account_id, c.environment AS c_environment, \
    c.auth_type AS c_auth_type, c.status AS c_status, c.scopes AS c_scopes, c.dialpad_user_id AS c_dialpad_user_id, \
    c.dialpad_company_id AS c_dialpad_company_id, c.connected_at AS c_connected_at, c.access_token AS c_access_token, \
    c.refresh_token AS c_refresh_token, c.api_key AS c_api_key, c.expires_at AS c_expires_at, \
    c.token_version AS c_token_version, c.refresh_failures AS c_refresh_failures, \
    c.next_refresh_at AS c_next_refresh_at, c.refresh_at AS c_refresh_at, c.last_error AS c_last_error, \
    c.updated_at AS c_updated_at";

/// A connection from `CONNECTION_COLUMNS`; `None` when a LEFT JOIN found none.
pub(crate) fn connection(row: &AnyRow) -> StoreResult<Option<ConnectionRecord>> {
    let Some(account_id) = get::<Option<String>>(row, "c_account_id")? else {
        return Ok(None);
    };
    let auth_type: String = get(row, "c_auth_type")?;
    let status: String = get(row, "c_status")?;
    Ok(Some(ConnectionRecord {
        account_id: AccountId::from_trusted(account_id),
        environment: environment(row, "c_environment")?,
        auth_type: AuthType::from_db(&auth_type)
            .ok_or_else(|| StoreError::Corrupt(format!("auth_type '{auth_type}'")))?,
        status: ConnectionStatus::from_db(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("status '{status}'")))?,
        scopes: string_list(row, "c_scopes")?,
        dialpad_user_id: get(row, "c_dialpad_user_id")?,
        dialpad_company_id: get(row, "c_dialpad_company_id")?,
        connected_at: at(row, "c_connected_at")?,
        access_token: sealed(row, "c_access_token")?,
        refresh_token: sealed(row, "c_refresh_token")?,
        api_key: sealed(row, "c_api_key")?,
        expires_at: at(row, "c_expires_at")?,
        token_version: get(row, "c_token_version")?,
        refresh_failures: get(row, "c_refresh_failures")?,
        next_refresh_at: at(row, "c_next_refresh_at")?,
        refresh_at: at(row, "c_refresh_at")?,
        last_error: get(row, "c_last_error")?,
        updated_at: at(row, "c_updated_at")?,
    }))
}

/// `3, 17, 42`: shards written into a statement (they are our own integers, never input).
/// `+{column} IN (…)`: a filter on the shards held, for a query that walks another table's
/// index of due work and joins `accounts` by its key. The `+` keeps SQLite from driving the
/// query from `accounts_by_shard` instead — which reads every account of the held shards (all
/// of them on SQLite) and sorts the due ones: 7 ms a query at 10,000 accounts, against 0.1 ms
/// walking the due work in order and stopping at the batch.
pub(crate) fn in_shards(column: &str, shards: &[i64]) -> String {
    format!("+{column} IN ({})", shard_list(shards))
}

pub(crate) fn shard_list(shards: &[i64]) -> String {
    let list: Vec<String> = shards.iter().map(i64::to_string).collect();
    list.join(", ")
}

/// `($1, $2, …), ($n+1, …)`: placeholders for a multi-row insert of `rows` rows of `columns`.
/// Written into one string: an ingest batch's statements hold over a thousand placeholders,
/// and a string for each was 2.7% of `serve`'s CPU under ingest (BENCHMARKS.md, *SQLite
/// statements without a statement journal*).
pub(crate) fn value_rows(rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 8);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        push_marks(&mut sql, row * columns + 1, columns);
        sql.push(')');
    }
    sql
}

/// `$from, $from+1, …`: `n` placeholders for an `IN (…)` list.
pub(crate) fn marks(from: usize, n: usize) -> String {
    let mut sql = String::with_capacity(n * 8);
    push_marks(&mut sql, from, n);
    sql
}

fn push_marks(sql: &mut String, from: usize, n: usize) {
    use std::fmt::Write;
    for i in from..from + n {
        if i > from {
            sql.push_str(", ");
        }
        // Writing into a `String` cannot fail.
        let _ = write!(sql, "${i}");
    }
}

#[cfg(test)]
mod tests {
    use super::{marks, value_rows};

    #[test]
    fn placeholders_are_numbered_in_order_row_by_row() {
        assert_eq!(value_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(value_rows(1, 1), "($1)");
        assert_eq!(value_rows(0, 4), "");
        assert_eq!(marks(3, 3), "$3, $4, $5");
        assert_eq!(marks(1, 0), "");
    }
}
