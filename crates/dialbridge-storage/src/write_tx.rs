//! A write transaction whose statements travel together. Statements are queued with their
//! values and sent when an answer is needed (`flush`) or at `commit`:
//!
//! - **SQLite**: everything queued goes to sqlx's thread of the shared writer connection as
//!   one command — `BEGIN IMMEDIATE` and `COMMIT` included — instead of one command, and one
//!   thread wake-up each way, per statement (BENCHMARKS.md, *Where SQLite ingest waits*). A
//!   transaction that needs no answer before its commit goes through the write queue
//!   (`write_queue.rs`), in one command with the others waiting; one that flushes takes the
//!   connection at its first flush and holds it to its commit. Its
//!   placeholders go as SQLite's plain `?`, taken in order from one list of values: a
//!   statement's `$1, $2, …` must appear in that order, each once (`push` checks). SQLite
//!   looks a named placeholder up by walking the list of the statement's names, when it parses
//!   it and again as sqlx binds each value, which for a batch of a thousand values was a tenth
//!   of the writer thread's time.
//! - **PostgreSQL**: each statement is its own round trip inside a transaction of the pool.
//!   A statement of many rows (`rows`, `push_rows`; from `ARRAYS_FROM` rows on) takes one
//!   array per column (`unnest($1::text[], …)`) instead of a placeholder per value, so its
//!   text is the same whatever the number of rows: the server parses it once per connection
//!   and plans it once (a generic plan after five runs), where a text per batch size was
//!   parsed, analysed and planned again for nearly every batch (BENCHMARKS.md,
//!   *PostgreSQL's work per event*).
//!
//! A transaction that never needed an answer before its commit and holds one statement is sent
//! bare, without `BEGIN`/`COMMIT` (one statement is atomic by itself).
//!
//! On SQLite the transaction is begun by a statement of ours, not by sqlx, so sqlx cannot roll
//! it back when the `WriteTx` is dropped midway (a cancelled future). The shared connection
//! remembers that it was left in a transaction, and the next writer to take it rolls that back
//! first (`Database::writer`). A failed flush or commit rolls back at once.
//!
//! This relies on sqlx's SQLite driver running every statement of a query's text, a behaviour
//! sqlx 0.8 documents as deprecated (launchbadge/sqlx#3108); this module's tests fail if a
//! later sqlx stops doing it.

use std::fmt::Write;

use dialbridge_core::{StoreError, StoreResult};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::error::BoxDynError;
use sqlx::{Any, AnyPool, Arguments};

use crate::database::{backend, misuse, Database, Writer};
use crate::rows::value_rows;
use crate::write_queue::Queued;

/// A write transaction in the making (see the module's documentation).
pub(crate) struct WriteTx<'c> {
    target: Target<'c>,
    /// Statements not yet sent. On SQLite at most one entry: the statements joined.
    pending: Vec<Pending>,
    /// A statement whose placeholders SQLite could not take in order; reported by the next
    /// flush or commit.
    bind_error: Option<BoxDynError>,
    /// Statements queued since the last send (on SQLite joined into one text).
    queued: usize,
    /// Placeholders of the pending statements, to check each got its value.
    placeholders: usize,
    /// A send failed and the transaction was rolled back: nothing more may be sent in it.
    failed: bool,
}

enum Target<'c> {
    /// The database of the write queue; the shared writer connection once a flush took it,
    /// held from then to the commit; `begun` once `BEGIN` has been sent on it.
    Sqlite {
        db: &'c Database,
        writer: Option<Writer<'c>>,
        begun: bool,
    },
    /// The pool, and the transaction once one was needed.
    Postgres {
        pool: &'c AnyPool,
        tx: Option<sqlx::Transaction<'static, Any>>,
    },
}

struct Pending {
    sql: String,
    values: Vec<Value>,
    /// PostgreSQL, a statement of `rows`: the values are its rows of this many columns, sent
    /// as one array per column. 0 for any other statement.
    columns: usize,
}

/// A value bound to a statement of a write transaction. Owned: a transaction can wait in the
/// write queue after the records its values came from are gone.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Text(Option<String>),
    Integer(Option<i64>),
    Boolean(Option<bool>),
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_owned()))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_owned))
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(Some(v))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Integer(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Boolean(Some(v))
    }
}

/// The values of statements sent together, as sqlx binds them (borrowed, not copied again).
pub(crate) fn arguments<'v>(
    values: impl IntoIterator<Item = &'v Value>,
) -> Result<AnyArguments<'v>, BoxDynError> {
    let mut args = AnyArguments::default();
    for value in values {
        match value {
            Value::Text(v) => args.add(v.as_deref())?,
            Value::Integer(v) => args.add(*v)?,
            Value::Boolean(v) => args.add(*v)?,
        }
    }
    Ok(args)
}

/// Binds the values of the statement just queued, in the order of its `$1, $2, …`.
pub(crate) struct Binder<'t> {
    values: &'t mut Vec<Value>,
}

impl Binder<'_> {
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        self
    }
}

impl<'c> WriteTx<'c> {
    pub(crate) fn sqlite(db: &'c Database) -> Self {
        WriteTx {
            target: Target::Sqlite {
                db,
                writer: None,
                begun: false,
            },
            pending: Vec::new(),
            bind_error: None,
            queued: 0,
            placeholders: 0,
            failed: false,
        }
    }

    pub(crate) fn postgres(pool: &'c AnyPool) -> Self {
        WriteTx {
            target: Target::Postgres { pool, tx: None },
            pending: Vec::new(),
            bind_error: None,
            queued: 0,
            placeholders: 0,
            failed: false,
        }
    }

    /// Where a statement takes `rows` rows of values whose columns have the PostgreSQL
    /// `types` (`text`, `int8`, `bool`), as a query (`INSERT INTO t (…) {rows}`, or
    /// `FROM ({rows}) AS v` with the columns named `column1`, `column2`, …): on SQLite
    /// `VALUES ($1, …), (…)`; on PostgreSQL, from `ARRAYS_FROM` rows on, `SELECT * FROM
    /// unnest($1::text[], …)`, one parameter per column whatever the number of rows. Queue
    /// the statement with `push_rows` and bind its values row by row.
    pub(crate) fn rows(&self, rows: usize, types: &[&str]) -> String {
        if joined(&self.target) || !as_arrays(rows) {
            return format!("VALUES {}", value_rows(rows, types.len()));
        }
        let mut sql = String::from("SELECT * FROM unnest(");
        for (i, kind) in types.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            // Writing into a `String` cannot fail.
            let _ = write!(sql, "${}::{kind}[]", i + 1);
        }
        sql.push_str(") AS v (");
        for i in 1..=types.len() {
            if i > 1 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "column{i}");
        }
        sql.push(')');
        sql
    }

    /// Queues `sql`, a statement whose only placeholders are those of `rows(…, types)` for
    /// rows of `columns` columns; bind its values row by row, in order.
    pub(crate) fn push_rows(&mut self, sql: &str, columns: usize) -> Binder<'_> {
        let columns = if joined(&self.target) { 0 } else { columns };
        self.queue_statement(sql, columns)
    }

    /// Queues `sql` (placeholders `$1, $2, …` of its own, in order); bind its values, in
    /// order, on the answer. Rows it returns come back from the next `flush` or `commit`.
    pub(crate) fn push(&mut self, sql: &str) -> Binder<'_> {
        self.queue_statement(sql, 0)
    }

    /// `push`, with the count of columns of a statement of rows on PostgreSQL (else 0).
    fn queue_statement(&mut self, sql: &str, columns: usize) -> Binder<'_> {
        self.queued += 1;
        if joined(&self.target) {
            let (text, count) = match positional(sql) {
                Ok((text, count)) => (without_statement_undo(text), count),
                Err(e) => {
                    self.bind_error.get_or_insert(e.into());
                    (sql.to_owned(), 0)
                }
            };
            self.placeholders += count;
            match self.pending.last_mut() {
                Some(last) => {
                    last.sql.push_str(";\n");
                    last.sql.push_str(&text);
                }
                None => self.pending.push(Pending {
                    sql: text,
                    values: Vec::new(),
                    columns: 0,
                }),
            }
        } else {
            self.pending.push(Pending {
                sql: sql.to_owned(),
                values: Vec::new(),
                columns,
            });
        }
        let last = self
            .pending
            .last_mut()
            .expect("a statement was just queued");
        Binder {
            values: &mut last.values,
        }
    }

    /// Sends what is queued, inside the transaction, and answers the rows it returned, in
    /// order.
    pub(crate) async fn flush(&mut self) -> StoreResult<Vec<AnyRow>> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        if let Target::Sqlite {
            db,
            writer: writer @ None,
            ..
        } = &mut self.target
        {
            *writer = Some(db.writer().await?);
        }
        self.begin_if_needed().await?;
        self.send().await
    }

    /// Sends what is queued and commits; answers the rows the statements sent with it
    /// returned. Nothing is kept unless this answers `Ok`.
    pub(crate) async fn commit(mut self) -> StoreResult<Vec<AnyRow>> {
        if let Target::Sqlite {
            db, writer: None, ..
        } = &self.target
        {
            let db: &'c Database = db;
            return self.queue(db).await;
        }
        let begun = match &self.target {
            Target::Sqlite { begun, .. } => *begun,
            Target::Postgres { tx, .. } => tx.is_some(),
        };
        if !begun && self.queued <= 1 {
            return self.send().await;
        }
        self.begin_if_needed().await?;
        match &mut self.target {
            Target::Sqlite { .. } => {
                self.push("COMMIT");
                let rows = self.send().await?;
                if let Target::Sqlite {
                    writer: Some(writer),
                    ..
                } = &mut self.target
                {
                    writer.set_in_transaction(false);
                }
                Ok(rows)
            }
            Target::Postgres { .. } => {
                let rows = self.send().await?;
                if let Target::Postgres { tx: Some(tx), .. } = self.target {
                    tx.commit().await.map_err(backend)?;
                }
                Ok(rows)
            }
        }
    }

    /// SQLite, nothing sent yet: the whole transaction goes to the write queue.
    async fn queue(mut self, db: &Database) -> StoreResult<Vec<AnyRow>> {
        let statements = self.queued;
        self.check_values()?;
        let Some(Pending { sql, values, .. }) = self.pending.pop() else {
            return Ok(Vec::new());
        };
        let queue = db
            .queue
            .as_ref()
            .ok_or_else(|| misuse("a SQLite database without its write queue".into()))?;
        queue
            .commit(Queued {
                sql,
                values,
                statements,
            })
            .await
    }

    /// Starts the transaction: on SQLite by putting `BEGIN IMMEDIATE` before the statements
    /// queued (it takes the write lock at once, so no statement of it meets another process's
    /// lock midway); on PostgreSQL by opening one on a connection of the pool.
    async fn begin_if_needed(&mut self) -> StoreResult<()> {
        match &mut self.target {
            Target::Sqlite {
                writer: Some(writer),
                begun,
                ..
            } => {
                if !*begun {
                    let first = self.pending.first_mut().ok_or_else(|| {
                        StoreError::Backend("a transaction begun with nothing to send".into())
                    })?;
                    first.sql.insert_str(0, "BEGIN IMMEDIATE;\n");
                    *begun = true;
                    writer.set_in_transaction(true);
                }
            }
            Target::Sqlite { writer: None, .. } => {
                return Err(misuse(
                    "a SQLite transaction begun without the writer".into(),
                ))
            }
            Target::Postgres { pool, tx } => {
                if tx.is_none() {
                    *tx = Some(pool.begin().await.map_err(backend)?);
                }
            }
        }
        Ok(())
    }

    /// Whether every placeholder queued got its value, and every value could be encoded;
    /// after this the statements queued so far count as sent.
    fn check_values(&mut self) -> StoreResult<()> {
        if self.failed {
            return Err(StoreError::Backend(
                "this transaction failed and was rolled back; nothing more goes in it".into(),
            ));
        }
        let values: usize = self.pending.iter().map(|p| p.values.len()).sum();
        let placeholders = std::mem::take(&mut self.placeholders);
        self.queued = 0;
        if self.bind_error.is_none() && joined(&self.target) && values != placeholders {
            self.bind_error =
                Some(format!("{values} values bound for {placeholders} placeholders").into());
        }
        match self.bind_error.take() {
            Some(e) => Err(StoreError::Backend(e)),
            None => Ok(()),
        }
    }

    /// Sends the queued statements as they are (begun or bare).
    async fn send(&mut self) -> StoreResult<Vec<AnyRow>> {
        if let Err(e) = self.check_values() {
            self.roll_back().await;
            return Err(e);
        }
        let mut rows = Vec::new();
        for Pending {
            sql,
            values,
            columns,
        } in std::mem::take(&mut self.pending)
        {
            let values = match columns {
                0 => values,
                columns => match column_arrays(values, columns) {
                    Ok(arrays) => arrays,
                    Err(e) => {
                        self.roll_back().await;
                        return Err(misuse(e));
                    }
                },
            };
            let args = match arguments(&values) {
                Ok(args) => args,
                Err(e) => {
                    self.roll_back().await;
                    return Err(StoreError::Backend(e));
                }
            };
            let query = sqlx::query_with(&sql, args);
            let answer = match &mut self.target {
                Target::Sqlite {
                    writer: Some(writer),
                    ..
                } => query.fetch_all(&mut **writer).await,
                Target::Sqlite { writer: None, .. } => {
                    return Err(misuse("a SQLite statement sent without the writer".into()))
                }
                Target::Postgres { tx: Some(tx), .. } => query.fetch_all(&mut **tx).await,
                Target::Postgres { pool, tx: None } => query.fetch_all(*pool).await,
            };
            match answer {
                Ok(more) => rows.extend(more),
                Err(e) => {
                    self.roll_back().await;
                    return Err(backend(e));
                }
            }
        }
        Ok(rows)
    }

    /// After a failure: SQLite stops at the failed statement with the transaction still open,
    /// so it is rolled back here (PostgreSQL's transaction rolls back when dropped).
    async fn roll_back(&mut self) {
        self.failed = true;
        self.pending.clear();
        if let Target::Sqlite {
            writer: Some(writer),
            begun: true,
            ..
        } = &mut self.target
        {
            writer.roll_back().await;
        }
    }
}

/// PostgreSQL: the fewest rows a statement of rows (`WriteTx::rows`) sends as arrays. For
/// an array it cannot see, the planner guesses ten elements, and the plan cache keeps a
/// plan made for the values whenever that looks cheaper than its generic plan: for fewer
/// rows than the guess it always did, so a statement of one row (an event alone) was planned
/// again at every execution. Below this, a `VALUES` list of its own per row count (nine
/// texts per statement) is planned generically as before.
const ARRAYS_FROM: usize = 10;

/// Whether a statement of `rows` rows goes to PostgreSQL as arrays: the one rule both for
/// the text `WriteTx::rows` writes and for the values `column_arrays` sends with it.
fn as_arrays(rows: usize) -> bool {
    rows >= ARRAYS_FROM
}

/// PostgreSQL: `values`, rows of `columns` values, as one array literal per column
/// (`{"a","b",NULL}`, `{1,NULL}`), in the order of the columns; as they are when fewer than
/// `ARRAYS_FROM` rows (`WriteTx::rows` wrote a `VALUES` list for them).
fn column_arrays(values: Vec<Value>, columns: usize) -> Result<Vec<Value>, String> {
    if values.is_empty() || !values.len().is_multiple_of(columns) {
        return Err(format!(
            "{} values bound for rows of {columns} columns",
            values.len()
        ));
    }
    let rows = values.len() / columns;
    if !as_arrays(rows) {
        return Ok(values);
    }
    let mut arrays: Vec<String> = (0..columns)
        .map(|_| String::with_capacity(rows * 16))
        .collect();
    for (i, value) in values.iter().enumerate() {
        let array = &mut arrays[i % columns];
        array.push(if i < columns { '{' } else { ',' });
        match value {
            Value::Text(None) | Value::Integer(None) | Value::Boolean(None) => {
                array.push_str("NULL")
            }
            Value::Text(Some(text)) => {
                array.push('"');
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        array.push('\\');
                    }
                    array.push(c);
                }
                array.push('"');
            }
            // Writing into a `String` cannot fail.
            Value::Integer(Some(n)) => {
                let _ = write!(array, "{n}");
            }
            Value::Boolean(Some(b)) => array.push(if *b { 't' } else { 'f' }),
        }
    }
    Ok(arrays
        .into_iter()
        .map(|mut array| {
            array.push('}');
            Value::Text(Some(array))
        })
        .collect())
}

/// Whether statements are joined into one text (SQLite).
fn joined(target: &Target<'_>) -> bool {
    matches!(target, Target::Sqlite { .. })
}

/// SQLite: `sql` as `INSERT OR FAIL …` or `UPDATE OR FAIL …` when it is a plain `INSERT` or
/// `UPDATE`. A statement that writes several rows and could stop midway on a constraint (a
/// `NOT NULL`, a key) makes SQLite keep a statement journal, a copy of every page it changes,
/// to undo that statement alone; SQLite's default, `ABORT`, needs it. Nothing here ever undoes
/// one statement alone: every statement this module sends on SQLite runs between `BEGIN
/// IMMEDIATE` and `COMMIT` (the write queue's and `begin_if_needed`'s), and a failed one rolls
/// its whole transaction back (`roll_back`, and the write queue's). `FAIL` stops at the failed
/// row, keeps no copy, and the rollback removes the rows before it. An ingest batch's
/// statements spent about a tenth of their SQLite time writing that copy (BENCHMARKS.md,
/// *SQLite statements without a statement journal*).
fn without_statement_undo(mut sql: String) -> String {
    for verb in ["INSERT ", "UPDATE "] {
        if sql.starts_with(verb) && !sql[verb.len()..].starts_with("OR ") {
            sql.insert_str(verb.len() - 1, " OR FAIL");
            break;
        }
    }
    sql
}

/// `sql` with its placeholders `$1, $2, …` as SQLite's positional `?`, and how many there
/// were; refused unless they appear in that order, each once.
fn positional(sql: &str) -> Result<(String, usize), String> {
    let mut out = String::with_capacity(sql.len());
    let mut count = 0;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        // A `$` that is not a placeholder stays as it is.
        let Ok(n) = rest[..digits].parse::<usize>() else {
            out.push('$');
            continue;
        };
        count += 1;
        if n != count {
            return Err(format!(
                "placeholder ${n} where ${count} was due: statements sent together number \
                 their placeholders in order, each once"
            ));
        }
        out.push('?');
        rest = &rest[digits..];
    }
    out.push_str(rest);
    Ok((out, count))
}

#[cfg(test)]
pub(crate) mod tests {
    use dialbridge_core::StoreError;

    use super::{positional, without_statement_undo};
    use crate::database::tests::migrated_sqlite as sqlite;
    use crate::Database;

    /// The settings read through the pool, not the writer: what was committed.
    pub(crate) async fn committed(db: &Database) -> Vec<String> {
        sqlx::query_scalar("SELECT key FROM settings ORDER BY key")
            .fetch_all(&db.pool)
            .await
            .unwrap()
    }

    fn put(tx: &mut super::WriteTx<'_>, key: &'static str) {
        tx.push("INSERT INTO settings (key, value) VALUES ($1, $2)")
            .bind(key)
            .bind("v");
    }

    #[tokio::test]
    async fn statements_sent_together_commit_together_with_their_own_values() {
        let (_dir, db) = sqlite().await;
        let mut tx = db.write_tx();
        put(&mut tx, "a");
        tx.push("INSERT INTO settings (key, value) VALUES ($1, $2) RETURNING key")
            .bind("b")
            .bind("v");
        let rows = tx.flush().await.unwrap();
        assert_eq!(rows.len(), 1, "the rows of the statements flushed");
        assert!(committed(&db).await.is_empty(), "not before the commit");
        put(&mut tx, "c");
        tx.commit().await.unwrap();
        assert_eq!(committed(&db).await, ["a", "b", "c"]);
    }

    /// A failed statement leaves SQLite inside the transaction: it is rolled back, nothing
    /// of it is kept, and the shared connection writes again.
    #[tokio::test]
    async fn a_failed_statement_keeps_nothing_of_its_transaction() {
        let (_dir, db) = sqlite().await;
        let mut tx = db.write_tx();
        put(&mut tx, "a");
        put(&mut tx, "b");
        put(&mut tx, "a");
        let Err(err) = tx.commit().await else {
            panic!("a taken key was committed");
        };
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert!(committed(&db).await.is_empty());
        let mut tx = db.write_tx();
        put(&mut tx, "c");
        tx.commit().await.unwrap();
        assert_eq!(committed(&db).await, ["c"]);
    }

    /// After a failed flush the transaction is rolled back: what the caller sends after it
    /// is refused, not run outside the transaction.
    #[tokio::test]
    async fn nothing_goes_in_after_a_failed_flush() {
        let (_dir, db) = sqlite().await;
        let mut tx = db.write_tx();
        put(&mut tx, "a");
        put(&mut tx, "a");
        assert!(tx.flush().await.is_err());
        put(&mut tx, "b");
        assert!(tx.commit().await.is_err());
        assert!(committed(&db).await.is_empty());
    }

    #[tokio::test]
    async fn a_statement_short_of_values_is_refused_and_keeps_nothing() {
        let (_dir, db) = sqlite().await;
        let mut tx = db.write_tx();
        put(&mut tx, "a");
        tx.push("INSERT INTO settings (key, value) VALUES ($1, $2)")
            .bind("b");
        let Err(err) = tx.commit().await else {
            panic!("a statement without all its values was sent");
        };
        assert!(
            err.to_string()
                .contains("3 values bound for 4 placeholders"),
            "{err}"
        );
        assert!(committed(&db).await.is_empty());
    }

    /// Values of a statement of rows, written and read back: on PostgreSQL they travel as
    /// array literals (`column_arrays`), whose quoting must give back every text as it was.
    async fn rows_keep_their_values(db: Database) {
        let texts: [Option<&str>; 12] = [
            Some("plain"),
            Some("a,b"),
            Some("\\"),
            Some("}"),
            Some(""),
            Some("NULL"),
            None,
            Some(r#"{"call_id": "a\"b", "list": [1, 2]}"#),
            Some(r#"back\slash \\ and \"quote"#),
            Some("{,} commas, {braces}\ttab\nline"),
            Some("  spaced  "),
            Some("ünïcödé 📞"),
        ];
        sqlx::query("CREATE TABLE rows_test (n BIGINT NOT NULL, t TEXT, i BIGINT, b BOOLEAN)")
            .execute(&db.pool)
            .await
            .unwrap();
        // Twice: 12 rows (on PostgreSQL as arrays) and 2 (a `VALUES` list there too).
        for batch in [&texts[..], &texts[..2]] {
            let mut tx = db.write_tx();
            let types = ["int8", "text", "int8", "bool"];
            let sql = format!(
                "INSERT INTO rows_test (n, t, i, b) {}",
                tx.rows(batch.len(), &types)
            );
            let mut query = tx.push_rows(&sql, types.len());
            for (n, text) in batch.iter().enumerate() {
                let n = n as i64;
                query
                    .bind(n)
                    .bind(*text)
                    .bind((n % 3 != 0).then_some(i64::MIN + n))
                    .bind(n % 2 == 0);
            }
            tx.commit().await.unwrap();
        }
        // The flag read as a number: sqlx's `Any` reads no SQLite boolean.
        let rows: Vec<(i64, Option<String>, Option<i64>, i64)> = sqlx::query_as(
            "SELECT n, t, i, CASE WHEN b THEN 1 ELSE 0 END FROM rows_test ORDER BY n, i IS NULL, i",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let mut expected: Vec<(i64, Option<String>, Option<i64>, i64)> = texts
            .iter()
            .chain(&texts[..2])
            .enumerate()
            .map(|(at, text)| {
                let n = if at < texts.len() {
                    at
                } else {
                    at - texts.len()
                } as i64;
                let flag = i64::from(n % 2 == 0);
                (
                    n,
                    text.map(str::to_owned),
                    (n % 3 != 0).then_some(i64::MIN + n),
                    flag,
                )
            })
            .collect();
        expected.sort_by_key(|(n, _, i, _)| (*n, i.is_none(), *i));
        assert_eq!(rows, expected);
    }

    /// A fresh PostgreSQL database of `DIALBRIDGE_TEST_DATABASE_URL`'s server, connected.
    async fn postgres() -> (Database, crate::testing::TestDbGuard) {
        let admin = std::env::var("DIALBRIDGE_TEST_DATABASE_URL")
            .expect("DIALBRIDGE_TEST_DATABASE_URL for the PostgreSQL tests");
        let (url, guard) = crate::testing::fresh_postgres(&admin).await.unwrap();
        (Database::connect(&url).await.unwrap(), guard)
    }

    #[tokio::test]
    async fn sqlite_rows_keep_their_values() {
        let (_dir, db) = sqlite().await;
        rows_keep_their_values(db).await;
    }

    #[tokio::test]
    #[cfg_attr(
        not(postgres_tests),
        ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
    )]
    async fn postgres_rows_keep_their_values() {
        let (db, guard) = postgres().await;
        rows_keep_their_values(db).await;
        guard.cleanup().await;
    }

    /// A statement of rows bound short of a whole row is refused and keeps nothing.
    #[tokio::test]
    #[cfg_attr(
        not(postgres_tests),
        ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
    )]
    async fn postgres_rows_short_of_a_value_are_refused() {
        let (db, guard) = postgres().await;
        db.migrate().await.unwrap();
        let mut tx = db.write_tx();
        let sql = format!(
            "INSERT INTO settings (key, value) {}",
            tx.rows(2, &["text", "text"])
        );
        tx.push_rows(&sql, 2).bind("a").bind("v").bind("b");
        let Err(err) = tx.commit().await else {
            panic!("rows short of a value were sent");
        };
        assert!(
            err.to_string()
                .contains("3 values bound for rows of 2 columns"),
            "{err}"
        );
        assert!(committed(&db).await.is_empty());
        db.close().await;
        guard.cleanup().await;
    }

    /// A transaction dropped between its flush and its commit (a cancelled future) is rolled
    /// back by the next writer to take the connection, before that writer's own statements.
    #[tokio::test]
    async fn a_transaction_dropped_midway_is_rolled_back_by_the_next_writer() {
        let (_dir, db) = sqlite().await;
        let mut tx = db.write_tx();
        put(&mut tx, "dropped");
        tx.flush().await.unwrap();
        drop(tx);
        let mut tx = db.write_tx();
        put(&mut tx, "kept");
        tx.commit().await.unwrap();
        assert_eq!(committed(&db).await, ["kept"]);
    }

    /// `INSERT OR FAIL` keeps the rows a statement wrote before its failed row until the
    /// rollback: none of them may be committed, alone or after a flush.
    #[tokio::test]
    async fn a_statement_failing_midway_keeps_none_of_its_rows() {
        let (_dir, db) = sqlite().await;
        let three = "INSERT INTO settings (key, value) VALUES ($1, $2), ($3, $4), ($5, $6)";
        let mut tx = db.write_tx();
        tx.push(three)
            .bind("x")
            .bind("v")
            .bind("y")
            .bind("v")
            .bind("x")
            .bind("v");
        let Err(err) = tx.commit().await else {
            panic!("a statement with a taken key was committed");
        };
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert!(committed(&db).await.is_empty(), "alone");

        let mut tx = db.write_tx();
        put(&mut tx, "a");
        tx.flush().await.unwrap();
        tx.push(three)
            .bind("x")
            .bind("v")
            .bind("y")
            .bind("v")
            .bind("a")
            .bind("v");
        assert!(tx.commit().await.is_err());
        assert!(committed(&db).await.is_empty(), "after a flush");
        let mut tx = db.write_tx();
        put(&mut tx, "c");
        tx.commit().await.unwrap();
        assert_eq!(committed(&db).await, ["c"]);
    }

    #[test]
    fn plain_inserts_and_updates_fail_without_a_statement_journal() {
        for (sql, sent) in [
            (
                "INSERT INTO t (a) VALUES (?)",
                "INSERT OR FAIL INTO t (a) VALUES (?)",
            ),
            ("UPDATE t SET a = ?", "UPDATE OR FAIL t SET a = ?"),
            (
                "INSERT OR IGNORE INTO t (a) VALUES (?)",
                "INSERT OR IGNORE INTO t (a) VALUES (?)",
            ),
            (
                "UPDATE OR REPLACE t SET a = ?",
                "UPDATE OR REPLACE t SET a = ?",
            ),
            ("DELETE FROM t", "DELETE FROM t"),
            ("SELECT 1", "SELECT 1"),
            ("COMMIT", "COMMIT"),
        ] {
            assert_eq!(without_statement_undo(sql.to_owned()), sent);
        }
    }

    #[test]
    fn placeholders_become_positional_only_in_order() {
        assert_eq!(
            positional("B ($1, $2) WHERE x = '$' AND y = $3").unwrap(),
            ("B (?, ?) WHERE x = '$' AND y = ?".to_owned(), 3)
        );
        assert!(positional("WHERE a = $1 OR b = $1").is_err(), "used twice");
        assert!(positional("VALUES ($2, $1)").is_err(), "out of order");
    }
}
