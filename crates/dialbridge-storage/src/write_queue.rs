//! SQLite: write transactions that need no answer before their commit are sent together.
//! Claims and journal batches each took the shared writer connection (`Database::writer`) in
//! turn, one command each, and about half of each turn went in handing over between the tokio
//! workers and sqlx's thread of the connection, while the machine stood a third idle
//! (BENCHMARKS.md, *Claims and journals in one turn*). Here a task takes what queued up while
//! the connection was busy and sends it as one command, `BEGIN IMMEDIATE`, each transaction's
//! statements, `COMMIT`: one turn and one commit for all of them, each transaction answered
//! with the rows of its own statements.
//!
//! A failure anywhere rolls back the whole command; each of its transactions is then sent
//! again alone, so one transaction's failure (a taken key) is its own and the others commit.
//! A transaction that waits for an answer midway (`WriteTx::flush`: an ingest batch's dedupe
//! insert) takes the connection itself, in its turn with this task.

use std::sync::Arc;

use dialbridge_core::{StoreError, StoreResult};
use futures::TryStreamExt;
use sqlx::any::{AnyQueryResult, AnyRow};
use sqlx::{Either, Executor};
use tokio::sync::{mpsc, oneshot};

use crate::database::{backend, WriterSlot};
use crate::write_tx::{arguments, Value};

/// Transactions one command carries at most, and how many may wait for one.
const MOST_TOGETHER: usize = 64;
const QUEUE: usize = 1024;

/// A transaction's statements, joined, with their values in order.
pub(crate) struct Queued {
    pub(crate) sql: String,
    pub(crate) values: Vec<Value>,
    /// Statements in `sql`: where this transaction's rows end in the command's answer.
    pub(crate) statements: usize,
}

type Entry = (Queued, oneshot::Sender<StoreResult<Vec<AnyRow>>>);

/// The queue's sending side; its task ends when the last one is dropped.
#[derive(Clone)]
pub(crate) struct WriteQueue {
    queue: mpsc::Sender<Entry>,
}

impl WriteQueue {
    pub(crate) fn start(slot: Arc<WriterSlot>) -> WriteQueue {
        let (queue, mut waiting) = mpsc::channel::<Entry>(QUEUE);
        tokio::spawn(async move {
            let mut taken = Vec::with_capacity(MOST_TOGETHER);
            while waiting.recv_many(&mut taken, MOST_TOGETHER).await > 0 {
                send_together(&slot, std::mem::take(&mut taken)).await;
            }
        });
        WriteQueue { queue }
    }

    /// Commits `tx` with whatever else is queued; answers the rows of its statements.
    pub(crate) async fn commit(&self, tx: Queued) -> StoreResult<Vec<AnyRow>> {
        let stopped = || StoreError::Unavailable("the SQLite write queue stopped".into());
        let (reply, answer) = oneshot::channel();
        self.queue.send((tx, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Sends `entries` as one transaction and answers each with its rows; after a failure, each
/// alone.
async fn send_together(slot: &WriterSlot, entries: Vec<Entry>) {
    let mut writer = match slot.take().await {
        Ok(writer) => writer,
        Err(e) => {
            for (_, reply) in entries {
                let _ = reply.send(Err(e.replicate()));
            }
            return;
        }
    };
    let (transactions, mut replies): (Vec<Queued>, Vec<_>) = entries.into_iter().unzip();
    let mut sql = String::from("BEGIN IMMEDIATE");
    for tx in &transactions {
        sql.push_str(";\n");
        sql.push_str(&tx.sql);
    }
    sql.push_str(";\nCOMMIT");
    let answer = match arguments(transactions.iter().flat_map(|tx| &tx.values)) {
        Ok(args) => {
            writer.set_in_transaction(true);
            (&mut *writer)
                .fetch_many(sqlx::query_with(&sql, args))
                .try_collect::<Vec<_>>()
                .await
        }
        Err(e) => Err(sqlx::Error::Encode(e)),
    };
    match answer {
        Ok(results) => {
            writer.set_in_transaction(false);
            let mut rows = split_by_transaction(results, &transactions).into_iter();
            for reply in replies {
                let _ = reply.send(Ok(rows.next().unwrap_or_default()));
            }
        }
        Err(e) => {
            writer.roll_back().await;
            drop(writer);
            if replies.len() == 1 {
                if let Some(reply) = replies.pop() {
                    let _ = reply.send(Err(backend(e)));
                }
                return;
            }
            // Each again by itself: a failure is only its own transaction's.
            for entry in transactions.into_iter().zip(replies) {
                Box::pin(send_together(slot, vec![entry])).await;
            }
        }
    }
}

/// The rows of a command's answer, per transaction: each statement's rows come before its
/// result, and the command's first and last statements are `BEGIN` and `COMMIT`.
fn split_by_transaction(
    results: Vec<Either<AnyQueryResult, AnyRow>>,
    transactions: &[Queued],
) -> Vec<Vec<AnyRow>> {
    let mut ends = transactions.iter().scan(1, |end, tx| {
        *end += tx.statements;
        Some(*end)
    });
    let mut out = vec![Vec::new(); transactions.len()];
    let mut done = 0;
    let mut current = 0;
    let mut end = ends.next().unwrap_or(usize::MAX);
    for result in results {
        match result {
            Either::Left(_) => {
                done += 1;
                if done == end {
                    current += 1;
                    end = ends.next().unwrap_or(usize::MAX);
                }
            }
            Either::Right(row) => {
                if let Some(rows) = out.get_mut(current) {
                    rows.push(row);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use dialbridge_core::{StoreError, StoreResult};
    use sqlx::any::AnyRow;
    use sqlx::Row;

    use crate::database::tests::migrated_sqlite as sqlite;
    use crate::write_tx::tests::committed;
    use crate::Database;

    /// A transaction inserting `keys`, each statement answering its key, then one statement
    /// answering no row.
    async fn insert(db: Database, keys: Vec<&'static str>) -> StoreResult<Vec<String>> {
        let mut tx = db.write_tx();
        for key in keys {
            tx.push("INSERT INTO settings (key, value) VALUES ($1, $2) RETURNING key")
                .bind(key)
                .bind("v");
        }
        tx.push("UPDATE settings SET value = $1 WHERE key = $2")
            .bind("w")
            .bind("nobody");
        let rows: Vec<AnyRow> = tx.commit().await?;
        Ok(rows.iter().map(|r| r.get::<String, _>("key")).collect())
    }

    /// Queues each transaction while the writer connection is held, so that they wait for
    /// it together, then lets the connection go; answers each one's outcome, in order.
    async fn queued_together(
        db: &Database,
        transactions: Vec<Vec<&'static str>>,
    ) -> Vec<StoreResult<Vec<String>>> {
        let held = db.writer().await.unwrap();
        let tasks: Vec<_> = transactions
            .into_iter()
            .map(|keys| tokio::spawn(insert(db.clone(), keys)))
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(held);
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn transactions_sent_together_each_get_the_rows_of_their_own_statements() {
        let (_dir, db) = sqlite().await;
        let outcomes = queued_together(
            &db,
            vec![
                vec!["a"],
                vec!["b", "c"],
                vec![],
                vec!["d", "e", "f"],
                vec!["g"],
            ],
        )
        .await;
        let rows: Vec<Vec<String>> = outcomes.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            rows,
            [
                vec!["a"],
                vec!["b", "c"],
                vec![],
                vec!["d", "e", "f"],
                vec!["g"]
            ]
        );
        assert_eq!(committed(&db).await, ["a", "b", "c", "d", "e", "f", "g"]);
    }

    /// One transaction's failure fails the command they were sent in; each is then sent
    /// alone, and only the failing one is refused.
    #[tokio::test]
    async fn a_transaction_that_fails_among_others_fails_alone() {
        let (_dir, db) = sqlite().await;
        let outcomes = queued_together(
            &db,
            vec![vec!["a"], vec!["b", "x"], vec!["x", "y", "x"], vec!["c"]],
        )
        .await;
        assert_eq!(outcomes[0].as_ref().unwrap(), &["a"]);
        assert_eq!(outcomes[1].as_ref().unwrap(), &["b", "x"]);
        assert!(
            matches!(outcomes[2], Err(StoreError::Conflict(_))),
            "{:?}",
            outcomes[2]
        );
        assert_eq!(outcomes[3].as_ref().unwrap(), &["c"]);
        assert_eq!(committed(&db).await, ["a", "b", "c", "x"]);
        // The connection is out of the failed transaction and writes again.
        assert_eq!(insert(db.clone(), vec!["z"]).await.unwrap(), ["z"]);
    }
}
