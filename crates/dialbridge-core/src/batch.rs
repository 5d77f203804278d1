//! Group commit: callers hand items to a writer task and wait for their own answer; the
//! writer takes everything that queued up while it was busy and handles it as one batch (one
//! database transaction), so N concurrent requests cost one commit instead of N. Nothing waits
//! for a batch to fill: a lone item is handled at once. The queue is bounded, so a flood waits
//! for room instead of growing memory.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

pub(crate) struct Batcher<T, R> {
    queue: mpsc::Sender<(T, oneshot::Sender<R>)>,
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
        let (tx, mut rx) = mpsc::channel::<(T, oneshot::Sender<R>)>(queue);
        tokio::spawn(async move {
            let mut pending = Vec::with_capacity(max_batch);
            while rx.recv_many(&mut pending, max_batch).await > 0 {
                let (items, replies): (Vec<T>, Vec<oneshot::Sender<R>>) = pending.drain(..).unzip();
                let results = handle(items).await;
                for (reply, result) in replies.into_iter().zip(results) {
                    // The caller may have gone (its request was dropped): nothing to tell.
                    let _ = reply.send(result);
                }
            }
        });
        Batcher { queue: tx }
    }

    /// Hands `item` to the writer and waits for its result; `None` if the writer is gone.
    pub(crate) async fn submit(&self, item: T) -> Option<R> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((item, reply)).await.ok()?;
        answer.await.ok()
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
}
