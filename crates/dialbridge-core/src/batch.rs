//! Group commit: callers hand items to a writer task and wait for their own answer; the
//! writer takes everything that queued up while it was busy and handles it as one batch (one
//! database transaction), so N concurrent requests cost one commit instead of N. Nothing waits
//! for a batch to fill: a lone item is handled at once. The queue is bounded, so a flood waits
//! for room instead of growing memory. A caller with a deadline may withdraw its item while it
//! still waits in the queue: the writer then never handles it.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// Where a queued item is: waiting, taken into a batch, or withdrawn by its caller. Exactly
/// one of the writer (taking) and the caller (withdrawing) moves it out of `QUEUED`.
const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const WITHDRAWN: u8 = 2;

type Entry<T, R> = (T, oneshot::Sender<R>, Arc<AtomicU8>);

pub(crate) struct Batcher<T, R> {
    queue: mpsc::Sender<Entry<T, R>>,
}

/// What became of an item submitted with a deadline.
pub(crate) enum Submitted<R> {
    /// The writer handled it.
    Done(R),
    /// The deadline came while it was still queued: it was withdrawn and never handled.
    Withdrawn,
    /// The writer is gone.
    Gone,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Batcher {
            queue: self.queue.clone(),
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Spawns the writer: `handle` gets at most `max_batch` items and answers one result per
    /// item, in order. The writer ends when every `Batcher` handle is dropped.
    pub(crate) fn spawn<F, Fut>(max_batch: usize, queue: usize, mut handle: F) -> Self
    where
        F: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<Entry<T, R>>(queue);
        tokio::spawn(async move {
            let mut pending = Vec::with_capacity(max_batch);
            while rx.recv_many(&mut pending, max_batch).await > 0 {
                let (items, replies): (Vec<T>, Vec<oneshot::Sender<R>>) = pending
                    .drain(..)
                    .filter(|(_, _, state)| {
                        state
                            .compare_exchange(QUEUED, TAKEN, Ordering::SeqCst, Ordering::SeqCst)
                            .is_ok()
                    })
                    .map(|(item, reply, _)| (item, reply))
                    .unzip();
                if items.is_empty() {
                    continue;
                }
                let results = handle(items).await;
                for (reply, result) in replies.into_iter().zip(results) {
                    // The caller may have gone (its request was dropped): nothing to tell.
                    let _ = reply.send(result);
                }
                // The callers just answered send their next items as soon as they run. Let
                // them run first: otherwise the runtime runs this task again at once (a task
                // woken by the first of them goes next), and the next batch holds that one
                // item. With it, SQLite ingest at 64 connections commits 34 events at a time
                // instead of 17-28, at less and steadier CPU per event (BENCHMARKS.md, *The
                // event writer's batches*).
                tokio::task::yield_now().await;
            }
        });
        Batcher { queue: tx }
    }

    /// Hands `item` to the writer and waits for its result; `None` if the writer is gone.
    pub(crate) async fn submit(&self, item: T) -> Option<R> {
        let (reply, answer) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(QUEUED));
        self.queue.send((item, reply, state)).await.ok()?;
        answer.await.ok()
    }

    /// Like `submit`, but withdraws the item if the writer has not taken it within
    /// `deadline`; once taken, waits for its result whatever the time.
    pub(crate) async fn submit_within(&self, item: T, deadline: Duration) -> Submitted<R> {
        let (reply, mut answer) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(QUEUED));
        let until = tokio::time::Instant::now() + deadline;
        match tokio::time::timeout_at(until, self.queue.send((item, reply, state.clone()))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Submitted::Gone,
            // The queue stayed full: the item never entered it.
            Err(_) => return Submitted::Withdrawn,
        }
        tokio::select! {
            result = &mut answer => return result.map_or(Submitted::Gone, Submitted::Done),
            _ = tokio::time::sleep_until(until) => {}
        }
        let withdrawn = state
            .compare_exchange(QUEUED, WITHDRAWN, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if withdrawn {
            return Submitted::Withdrawn;
        }
        answer.await.map_or(Submitted::Gone, Submitted::Done)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn concurrent_items_share_batches_and_each_gets_its_answer() {
        let batches = Arc::new(AtomicUsize::new(0));
        let counted = batches.clone();
        let batcher = Batcher::spawn(64, 1024, move |items: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                items.into_iter().map(|i| i * 2).collect::<Vec<_>>()
            }
        });
        let answers: Vec<_> = (0..200)
            .map(|i| {
                let batcher = batcher.clone();
                tokio::spawn(async move { (i, batcher.submit(i).await) })
            })
            .collect();
        for answer in answers {
            let (i, doubled) = answer.await.unwrap();
            assert_eq!(doubled, Some(i * 2));
        }
        let n = batches.load(Ordering::SeqCst);
        assert!(n < 200, "200 concurrent items took {n} batches");
    }

    /// Callers that each send their next item as soon as the previous one is answered (a
    /// request per connection, as under load) share batches: the writer lets them send before
    /// it takes the next batch. On one worker, where a woken task runs next.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn callers_answered_by_a_batch_share_the_next_one() {
        const CALLERS: u32 = 16;
        const ROUNDS: u32 = 20;
        let batches = Arc::new(AtomicUsize::new(0));
        let counted = batches.clone();
        let batcher = Batcher::spawn(64, 1024, move |items: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { items }
        });
        let callers: Vec<_> = (0..CALLERS)
            .map(|c| {
                let batcher = batcher.clone();
                tokio::spawn(async move {
                    for r in 0..ROUNDS {
                        assert_eq!(batcher.submit(c * ROUNDS + r).await, Some(c * ROUNDS + r));
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.await.unwrap();
        }
        // About one batch per round when the answered callers send first (20–24 here); one
        // item per batch when the writer takes the next batch before them (320). The bound
        // leaves the scheduler room: the whole suite's load once made it 42.
        let n = batches.load(Ordering::SeqCst) as u32;
        assert!(
            n <= CALLERS * ROUNDS / 4,
            "{} items from {CALLERS} callers took {n} batches",
            CALLERS * ROUNDS
        );
    }

    #[tokio::test]
    async fn an_item_past_its_deadline_in_the_queue_is_withdrawn_and_never_handled() {
        let handled = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = handled.clone();
        let batcher = Batcher::spawn(1, 16, move |items: Vec<u32>| {
            seen.lock().unwrap().extend(items.iter().copied());
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                items
            }
        });
        // The first item holds the writer for 300 ms; the second waits in the queue.
        let first = {
            let batcher = batcher.clone();
            tokio::spawn(async move { batcher.submit_within(1, Duration::from_millis(50)).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let second = batcher.submit_within(2, Duration::from_millis(50)).await;
        assert!(matches!(second, Submitted::Withdrawn));
        // Taken before its deadline, the first is answered after it.
        assert!(matches!(first.await.unwrap(), Submitted::Done(1)));
        assert_eq!(batcher.submit(3).await, Some(3));
        assert_eq!(*handled.lock().unwrap(), vec![1, 3]);
    }
}
