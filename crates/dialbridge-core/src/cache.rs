//! A small in-memory cache whose entries expire after a fixed time and which can be emptied at
//! once (on a `Signal::Config`), or forget one key (on a `Signal::Account`). Bounded: when
//! full, it is emptied rather than grown.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct TtlCache<K, V> {
    inner: Mutex<Inner<K, V>>,
    ttl: Duration,
    capacity: usize,
}

struct Inner<K, V> {
    entries: HashMap<K, (Instant, V)>,
    /// Counts the times entries were forgotten: a value loaded across one of them may be from
    /// before the change that made them stale, and is not kept.
    forgotten: u64,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        TtlCache {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                forgotten: 0,
            }),
            ttl,
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        self.lock()
            .entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, value)| value.clone())
    }

    /// The entry for `key`, or what `load` reads. What it read is kept only if nothing was
    /// forgotten meanwhile: a read that raced a change (and its `remove` or `clear`) may hold
    /// the value from before it, which must not be served for the next `ttl`.
    pub(crate) async fn get_or_load<E, Fut>(
        &self,
        key: K,
        load: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let before = self.lock().forgotten;
        let value = load().await?;
        let mut inner = self.lock();
        if inner.forgotten == before {
            self.keep(&mut inner, key, value.clone());
        }
        Ok(value)
    }

    /// Keeps `value` for `key`, for what never goes stale (a workflow version's definition):
    /// anything else goes through `get_or_load`.
    pub(crate) fn insert(&self, key: K, value: V) {
        self.keep(&mut self.lock(), key, value);
    }

    fn keep(&self, inner: &mut Inner<K, V>, key: K, value: V) {
        if inner.entries.len() >= self.capacity {
            inner.entries.clear();
        }
        inner.entries.insert(key, (Instant::now(), value));
    }

    pub(crate) fn remove(&self, key: &K) {
        let mut inner = self.lock();
        inner.entries.remove(key);
        inner.forgotten += 1;
    }

    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.forgotten += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn load(cache: &TtlCache<&'static str, i32>, key: &'static str, value: i32) -> i32 {
        cache
            .get_or_load(key, || async { Ok::<_, ()>(value) })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn entries_expire_and_the_cache_stays_bounded() {
        let cache = TtlCache::new(Duration::from_millis(30), 2);
        assert_eq!(load(&cache, "a", 1).await, 1);
        assert_eq!(load(&cache, "a", 9).await, 1, "kept");
        load(&cache, "b", 2).await;
        load(&cache, "c", 3).await;
        assert_eq!(cache.get(&"a"), None, "emptied when full");
        assert_eq!(cache.get(&"c"), Some(3));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(cache.get(&"c"), None, "expired");
        load(&cache, "d", 4).await;
        cache.remove(&"d");
        assert_eq!(cache.get(&"d"), None);
        load(&cache, "e", 5).await;
        cache.clear();
        assert_eq!(cache.get(&"e"), None);
    }

    /// A load that began before a change and ends after it answers what it read, but does not
    /// leave it in the cache: the next read loads again and sees the change.
    #[tokio::test]
    async fn a_value_read_across_a_change_is_not_kept() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        for forget in [
            (|c: &TtlCache<&str, i32>| c.remove(&"a")) as fn(&TtlCache<&str, i32>),
            |c| c.clear(),
        ] {
            let stale = cache
                .get_or_load("a", || async {
                    // The change lands while the old value is on its way.
                    forget(&cache);
                    Ok::<_, ()>(1)
                })
                .await;
            assert_eq!(stale, Ok(1));
            assert_eq!(
                cache.get(&"a"),
                None,
                "the value from before the change was kept"
            );
            assert_eq!(load(&cache, "a", 2).await, 2);
            cache.clear();
        }
    }
}
