//! SQLite: WAL checkpoints off the writers' path.
//!
//! In WAL mode a commit appends pages to the `-wal` file; a checkpoint copies them into the
//! database file and syncs it. SQLite's default runs one in the committing connection once the
//! WAL passes 1,000 pages, so the shared writer connection (`Database::writer`) stopped every
//! few hundred milliseconds under load to copy pages and wait for `fsync`: a fifth of its
//! thread's CPU while ingesting, and every batch queued behind it waited too (BENCHMARKS.md,
//! *Checkpoints off the writer*). Here a task of its own checkpoints on a connection of the
//! pool (another thread), `PASSIVE`, shortly after writes, while the writer goes on appending.
//!
//! A passive checkpoint copies what was committed when it began; the WAL starts again from its
//! beginning only when a write finds every page of it copied, which rarely happens while writes
//! keep coming. So the connections keep SQLite's own checkpoint as a backstop at a larger
//! size, `BACKSTOP_PAGES`: under steady writes the writer still checkpoints at that size, but
//! copies only the little the background has not yet copied, and the WAL then restarts. The
//! WAL stays under about `BACKSTOP_PAGES` pages (40 MiB with 4 KiB pages) whatever this task
//! does.

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The WAL size, in pages, at which a connection checkpoints by itself after a commit (SQLite's
/// `wal_autocheckpoint`; its default is 1,000).
pub(crate) const BACKSTOP_PAGES: u32 = 10_000;

/// How long after a write the background checkpoint runs, and so at most how often it runs
/// while writes go on.
const AFTER_WRITES: Duration = Duration::from_millis(100);

/// How many times `write_back_all` tries while another checkpoint (the background's, a few
/// milliseconds) holds the lock, and the pause between tries.
const WRITE_BACK_TRIES: usize = 5;
const WRITE_BACK_RETRY: Duration = Duration::from_millis(50);

/// Writes the whole WAL back into the database file and empties it (`TRUNCATE`), so that a file
/// shrunk by a vacuum gets smaller on disk. While another checkpoint holds SQLite's checkpoint
/// lock (this module's background one), SQLite answers busy at once rather than waiting, so
/// this tries again shortly.
pub(crate) async fn write_back_all(pool: &AnyPool) -> Result<(), sqlx::Error> {
    for _ in 0..WRITE_BACK_TRIES {
        let busy: i64 = sqlx::query_scalar("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(pool)
            .await?;
        if busy == 0 {
            break;
        }
        tokio::time::sleep(WRITE_BACK_RETRY).await;
    }
    Ok(())
}

/// The background checkpoints of one SQLite database; stops when dropped.
pub(crate) struct Checkpoints {
    wrote: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Checkpoints {
    /// Starts the task; it checkpoints on connections of `pool` and ends when the pool closes.
    pub(crate) fn start(pool: AnyPool) -> Checkpoints {
        let wrote = Arc::new(Notify::new());
        let task = tokio::spawn(run(pool, wrote.clone()));
        Checkpoints { wrote, task }
    }

    /// A writer is about to write: a checkpoint follows `AFTER_WRITES` later (one for all the
    /// writes of that span). Costs nothing while one is already due.
    pub(crate) fn wrote(&self) {
        self.wrote.notify_one();
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(pool: AnyPool, wrote: Arc<Notify>) {
    loop {
        wrote.notified().await;
        tokio::time::sleep(AFTER_WRITES).await;
        if pool.is_closed() {
            return;
        }
        // Busy (SQLite checkpointing in a writer right now, or the file locked by another
        // process's checkpoint) or failing: the next writes bring the next try, and the
        // writers' backstop bounds the WAL meanwhile.
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await
        {
            tracing::debug!("background WAL checkpoint: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use super::BACKSTOP_PAGES;
    use crate::database::tests::migrated_sqlite;

    /// From the WAL index (the `-shm` file; SQLite's "WAL-index format", native byte order):
    /// the WAL's last committed frame (`mxFrame`, byte 16 of the header) and how many of its
    /// frames are copied into the database file (`nBackfill`, byte 96, after the header's two
    /// copies).
    fn wal_index(db_file: &Path) -> (u32, u32) {
        let shm = std::fs::read(db_file.with_extension("sqlite-shm")).unwrap();
        let at = |offset: usize| u32::from_ne_bytes(shm[offset..offset + 4].try_into().unwrap());
        (at(16), at(96))
    }

    /// The writes' pages reach the database file without anyone checkpointing by hand and
    /// far below the size at which a writer checkpoints by itself.
    #[tokio::test]
    async fn writes_are_copied_into_the_database_file_in_the_background() {
        let (dir, db) = migrated_sqlite().await;
        let file = dir.path().join("db.sqlite");
        for i in 0..20 {
            let mut tx = db.write_tx();
            tx.push("INSERT INTO settings (key, value) VALUES ($1, $2)")
                .bind(format!("key-{i}"))
                .bind("v".repeat(1000));
            tx.commit().await.unwrap();
        }
        let (frames, _) = wal_index(&file);
        assert!(
            frames > 0 && frames < BACKSTOP_PAGES,
            "the writes are in the WAL, under the writers' own checkpoint size: {frames} frames"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (frames, copied) = wal_index(&file);
            if frames > 0 && copied == frames {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "after 10 s only {copied} of the WAL's {frames} frames are in the database file"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
