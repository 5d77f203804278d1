//! Throttling to Dialpad's limits, so requests wait their turn instead of provoking 429s:
//! `per_second` requests per Dialpad company (20 by default) and each operation's per-minute
//! figure from the spec, per company too. A request reserves a slot — now, or a little later —
//! in every window that applies; one whose slot would be more than `MAX_WAIT` away is refused
//! at once (`rate_limited`, with when to retry), and one whose caller has gone gives its slot
//! back. The windows are kept in this process (SQLite: one process), or in the database so that
//! every process of a cluster shares one budget per company (`RateStore`).
//!
//! A window of `limit` per `span` is counted in buckets of `span / BUCKETS`; a slot is given
//! only where every run of `RUN` buckets that contains it stays under the limit. Any interval
//! of `span` lies within `BUCKETS + 1` buckets, and a run is `MARGIN` buckets longer, so
//! requests reach Dialpad at most `limit` per `span` even when each takes up to a tenth of the
//! span to get there after its slot. A request that could not leave within half of that (its
//! process stalled, or the database was slow to confirm the slot) gives its slot back and takes
//! another (`Throttle::turn`): sent that late, it would reach Dialpad beside requests of a run
//! the margin does not cover.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::RateStore;
use crate::time::Timestamp;

/// Buckets per window span.
const BUCKETS: i64 = 20;
/// Buckets of margin beyond the span: the time between a slot and the request's arrival.
const MARGIN: i64 = 2;
/// The buckets one limit is checked over.
const RUN: i64 = BUCKETS + 1 + MARGIN;
/// The longest a request waits for its slot before it is refused instead.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
/// How many times a request whose slot passed before it could leave takes a new one; after
/// that it leaves late rather than not at all (Dialpad's 429, if it comes, is waited out).
const RETAKES: u32 = 3;

/// Dialpad's limits for an environment: its documented ones unless the vendor was granted
/// others, or none (the emulator without limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Throttle at all (false: only Dialpad's 429s slow requests down).
    pub enabled: bool,
    /// Requests per second per Dialpad company.
    pub per_second: u32,
    /// Hold each operation's per-minute limit from Dialpad's spec too.
    pub operation_limits: bool,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            enabled: true,
            per_second: 20,
            operation_limits: true,
        }
    }
}

/// One limit: at most `limit` per `span`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit {
    pub limit: u32,
    pub span_ms: i64,
}

impl Limit {
    fn bucket_ms(self) -> i64 {
        (self.span_ms / BUCKETS).max(1)
    }

    /// How long after its slot a request may still leave: half the margin, the other half
    /// for its way to Dialpad.
    fn late_after_ms(self) -> i64 {
        self.bucket_ms() * MARGIN / 2
    }
}

/// The counts of one window: `counts[i]` reservations in bucket `base + i`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    base: i64,
    counts: Vec<u32>,
}

impl Window {
    fn count(&self, bucket: i64) -> u32 {
        usize::try_from(bucket - self.base)
            .ok()
            .and_then(|i| self.counts.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// Whether one more in `bucket` keeps every run of `RUN` buckets holding it under `limit`.
    fn has_room(&self, bucket: i64, limit: u32) -> bool {
        (bucket..bucket + RUN).all(|end| {
            let used: u32 = (end + 1 - RUN..=end).map(|b| self.count(b)).sum();
            used < limit
        })
    }

    /// The first bucket from `from` with room, looking no further than `until`.
    fn first_room(&self, from: i64, until: i64, limit: u32) -> Option<i64> {
        (from..=until).find(|&b| self.has_room(b, limit))
    }

    /// The first bucket from `from` with room, however far: past the last reservation and a
    /// run, every bucket has room (none when `limit` is 0).
    fn next_room(&self, from: i64, limit: u32) -> Option<i64> {
        let clear = self.base + self.counts.len() as i64 + RUN;
        self.first_room(from, clear.max(from), limit)
    }

    fn add(&mut self, bucket: i64, delta: i64) {
        if self.counts.is_empty() {
            self.base = bucket;
        }
        if bucket < self.base {
            let missing = (self.base - bucket) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, missing));
            self.base = bucket;
        }
        let i = (bucket - self.base) as usize;
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] = (i64::from(self.counts[i]) + delta).max(0) as u32;
    }

    /// Forgets buckets no run reaching `now` or later can see.
    fn prune(&mut self, now_bucket: i64) {
        let keep_from = now_bucket + 1 - RUN;
        if keep_from > self.base {
            let drop = ((keep_from - self.base) as usize).min(self.counts.len());
            self.counts.drain(..drop);
            self.base = keep_from;
        }
        while self.counts.last() == Some(&0) {
            self.counts.pop();
        }
    }
}

/// The windows a request needs, by key, with the limit of each.
pub(crate) type Needs = Vec<(String, Limit)>;

/// Finds the earliest instant from `now` at which every window of `needs` has room, within
/// `MAX_WAIT`; takes it (in `windows`, by the same keys) and answers it. `Err(retry_after)` when
/// there is none that soon: how long until a window that is full now has room within
/// `MAX_WAIT` (asked again then, a request gets a slot unless others took it meanwhile).
pub(crate) fn take_slot(
    windows: &mut [Window],
    needs: &[(String, Limit)],
    now: Timestamp,
) -> std::result::Result<Timestamp, Duration> {
    let now_ms = now.as_millis();
    let until_ms = now_ms + MAX_WAIT.as_millis() as i64;
    for (window, (_, limit)) in windows.iter_mut().zip(needs) {
        window.prune(now_ms.div_euclid(limit.bucket_ms()));
    }
    let mut at = now_ms;
    // Each pass moves `at` to the first instant every window allows; it settles in a few.
    for _ in 0..8 {
        let mut moved = false;
        for (window, (_, limit)) in windows.iter().zip(needs) {
            let width = limit.bucket_ms();
            let from = at.div_euclid(width);
            let until = until_ms.div_euclid(width);
            match window.first_room(from, until, limit.limit) {
                Some(bucket) if bucket > from => {
                    at = bucket * width;
                    moved = true;
                }
                Some(_) => {}
                None => {
                    let retry_ms = window
                        .next_room(until + 1, limit.limit)
                        .map_or(limit.span_ms, |room| {
                            room * width - MAX_WAIT.as_millis() as i64 - now_ms
                        });
                    return Err(Duration::from_millis(retry_ms.max(0) as u64));
                }
            }
        }
        if !moved {
            for (window, (_, limit)) in windows.iter_mut().zip(needs) {
                window.add(at.div_euclid(limit.bucket_ms()), 1);
            }
            return Ok(Timestamp::from_millis(at));
        }
    }
    Err(MAX_WAIT)
}

/// Adds `delta` requests at `at` to every window of `needs`: 1 for one sent without a slot,
/// -1 to give back a slot taken and not used.
pub(crate) fn add_at(windows: &mut [Window], needs: &[(String, Limit)], at: Timestamp, delta: i64) {
    for (window, (_, limit)) in windows.iter_mut().zip(needs) {
        window.add(at.as_millis().div_euclid(limit.bucket_ms()), delta);
    }
}

/// This process's view of the windows, or the database's.
pub(crate) struct Throttle {
    local: Mutex<HashMap<String, Window>>,
    /// Shared with the other processes of a cluster, when the store shares work.
    store: Option<Arc<dyn RateStore>>,
}

impl Throttle {
    pub(crate) fn new(store: Arc<dyn RateStore>) -> Throttle {
        let shared = store.shares_rate_windows();
        Throttle {
            local: Mutex::default(),
            store: shared.then_some(store),
        }
    }

    /// Reserves a slot for one request: `Ok(slot)` to send at `slot.at` (give it back by
    /// dropping it unused), or `rate_limited` when the wait would be over `MAX_WAIT`.
    async fn reserve(self: &Arc<Self>, needs: Needs) -> Result<Slot> {
        // The slot is placed from the moment the windows are locked, not from before the wait
        // for the lock: a slot counted in a bucket that had passed by then is a request
        // Dialpad sees later, beside the next bucket's (with many waiters, 429s).
        let at = self
            .update(&needs, |windows| {
                take_slot(windows, &needs, Timestamp::now())
            })
            .await?;
        match at {
            Ok(at) => Ok(Slot {
                at,
                needs,
                throttle: Some(self.clone()),
            }),
            Err(retry_after) => Err(Error::RateLimited {
                // Rounded up: asked again a little early, it would be refused again.
                retry_after_secs: Some(retry_after.as_millis().div_ceil(1000).max(1) as u64),
                body: serde_json::json!({
                    "message": "dialbridge holds Dialpad's rate limits; no slot within the next 10 s"
                }),
            }),
        }
    }

    /// Takes a slot for one request and waits for its time: when this returns, the request
    /// leaves at once and its slot stays taken, even if its caller goes away mid-request
    /// (Dialpad counts it whether or not anyone reads the answer). Dropped while it waits, the
    /// slot is given back. A slot the request could not leave on time for is given back and
    /// taken again, at most `RETAKES` times; answers how many were.
    pub(crate) async fn turn(self: &Arc<Self>, needs: &Needs) -> Result<u32> {
        let late_after_ms = needs
            .iter()
            .map(|(_, limit)| limit.late_after_ms())
            .min()
            .unwrap_or(i64::MAX);
        let mut retakes = 0;
        loop {
            let slot = self.reserve(needs.clone()).await?;
            slot.wait().await;
            let late = Timestamp::now().as_millis() - slot.at.as_millis();
            if late <= late_after_ms || retakes == RETAKES {
                if late > late_after_ms {
                    tracing::warn!(late_ms = late, "a request leaves for Dialpad {late} ms after its throttle slot, after {RETAKES} new slots came late too");
                }
                slot.used();
                return Ok(retakes);
            }
            tracing::info!(
                late_ms = late,
                "a request could not leave for Dialpad within {late_after_ms} ms of its throttle slot; taking a new one"
            );
            retakes += 1;
        }
    }

    /// Counts a request that was sent at `at` without a slot (before its company, and so its
    /// windows, were known), so that the requests after it leave room for it.
    pub(crate) async fn count_sent(&self, needs: &Needs, at: Timestamp) -> Result<()> {
        self.update(needs, |windows| add_at(windows, needs, at, 1))
            .await
    }

    /// Runs `change` on the windows of `needs`: this process's, or the database's, locked.
    async fn update<T: Send>(
        &self,
        needs: &[(String, Limit)],
        change: impl FnOnce(&mut [Window]) -> T + Send,
    ) -> Result<T> {
        let Some(store) = &self.store else {
            return Ok(self.update_local(needs, change));
        };
        let keys: Vec<String> = needs.iter().map(|(key, _)| key.clone()).collect();
        let (mut change, mut answer) = (Some(change), None);
        store
            .update_rate_windows(&keys, Timestamp::now(), &mut |windows| {
                if let Some(change) = change.take() {
                    answer = Some(change(windows));
                }
            })
            .await?;
        answer.ok_or_else(|| Error::Internal("the throttle's windows were not updated".into()))
    }

    fn update_local<T>(
        &self,
        needs: &[(String, Limit)],
        change: impl FnOnce(&mut [Window]) -> T,
    ) -> T {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        let mut windows: Vec<Window> = needs
            .iter()
            .map(|(key, _)| local.remove(key).unwrap_or_default())
            .collect();
        let answer = change(&mut windows);
        for ((key, _), window) in needs.iter().zip(windows) {
            local.insert(key.clone(), window);
        }
        answer
    }

    fn give_back(self: Arc<Self>, needs: Needs, at: Timestamp) {
        if self.store.is_none() {
            self.update_local(&needs, |windows| add_at(windows, &needs, at, -1));
            return;
        }
        // Dropped in a request whose caller went away: finish the give-back on its own.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let result = self
                    .update(&needs, |windows| add_at(windows, &needs, at, -1))
                    .await;
                if let Err(e) = result {
                    tracing::debug!("giving a throttle slot back failed: {e}");
                }
            });
        }
    }
}

/// A reserved slot. Dropped before `used`, it is given back (the request was not sent).
struct Slot {
    pub at: Timestamp,
    needs: Needs,
    throttle: Option<Arc<Throttle>>,
}

impl Slot {
    /// Waits until the slot's time.
    pub async fn wait(&self) {
        let wait = self.at.since(Timestamp::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// The request's time has come and it is being sent: the slot stays taken, even if the
    /// request is dropped before Dialpad answers (Dialpad has counted it).
    pub fn used(mut self) {
        self.throttle = None;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(throttle) = self.throttle.take() {
            throttle.give_back(std::mem::take(&mut self.needs), self.at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(limit: u32) -> (String, Limit) {
        (
            "c".into(),
            Limit {
                limit,
                span_ms: 1_000,
            },
        )
    }

    /// Takes `n` slots at `now_ms` and answers their times (ms).
    fn take(windows: &mut [Window], needs: &[(String, Limit)], now_ms: i64, n: usize) -> Vec<i64> {
        (0..n)
            .map(|_| {
                take_slot(windows, needs, Timestamp::from_millis(now_ms))
                    .unwrap()
                    .as_millis()
            })
            .collect()
    }

    /// The most requests in any interval of `span` among `times`.
    fn busiest(times: &[i64], span: i64) -> usize {
        times
            .iter()
            .map(|&start| {
                times
                    .iter()
                    .filter(|&&t| t >= start && t < start + span)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_burst_gets_the_limit_at_once_then_waits() {
        let needs = [second(20)];
        let mut windows = vec![Window::default()];
        let times = take(&mut windows, &needs, 1_000_000, 20);
        assert!(times.iter().all(|&t| t == 1_000_000), "{times:?}");
        let next = take(&mut windows, &needs, 1_000_000, 1)[0];
        assert!(
            next >= 1_000_000 + 1_100,
            "{next}: a second and the margin later"
        );
    }

    /// The exact wait, not only a bound on it: a full bucket keeps the limit's whole run of
    /// buckets (the span's 20, itself and the 2 of margin) from taking more, and the bucket
    /// right after that run is free. Kills the mutants that shorten the run by a bucket (less
    /// margin than documented) and those that lengthen it (a slower throttle than Dialpad's
    /// limit allows), which "at least a span later" let through.
    #[test]
    fn after_a_full_burst_the_next_slot_is_one_run_of_buckets_later() {
        let needs = [second(20)];
        let mut windows = vec![Window::default()];
        take(&mut windows, &needs, 1_000_000, 20);
        let next = take(&mut windows, &needs, 1_000_000, 1)[0];
        let bucket = needs[0].1.bucket_ms();
        assert_eq!(bucket, 50);
        assert_eq!(next, 1_000_000 + (BUCKETS + 1 + MARGIN) * bucket);
        // From an empty bucket, the limit is there at once.
        let mut window = Window::default();
        window.add(10, 19);
        assert!(window.has_room(10, 20), "one more fits beside 19");
        window.add(10, 1);
        assert!(
            !window.has_room(10 + RUN - 1, 20),
            "the run's last bucket still sees it"
        );
        assert!(
            window.has_room(10 + RUN, 20),
            "the bucket after the run does not"
        );
    }

    #[test]
    fn no_interval_of_the_span_holds_more_than_the_limit() {
        let needs = [second(20)];
        let mut windows = vec![Window::default()];
        let mut times = Vec::new();
        let mut refused = 0;
        // Requests arriving over 5 seconds, in bursts at odd instants: four times the limit.
        for now in (0..5_000).step_by(37) {
            for _ in 0..3 {
                match take_slot(
                    &mut windows,
                    &needs,
                    Timestamp::from_millis(1_000_000 + now),
                ) {
                    Ok(at) => times.push(at.as_millis()),
                    Err(_) => refused += 1,
                }
            }
        }
        assert!(refused > 0, "slots more than 10 s away are refused");
        times.sort_unstable();
        assert!(busiest(&times, 1_000) <= 20, "{}", busiest(&times, 1_000));
        // …even when each arrives up to 100 ms after its slot.
        let late: Vec<i64> = times
            .iter()
            .enumerate()
            .map(|(i, t)| t + (i as i64 * 37) % 100)
            .collect();
        assert!(busiest(&late, 1_000) <= 20, "{}", busiest(&late, 1_000));
        // …and the throughput is close to the limit (within the margin of a bucket).
        let span = times.last().unwrap() - times.first().unwrap();
        let rate = times.len() as f64 * 1_000.0 / span as f64;
        assert!(rate > 16.5, "{rate} per second");
    }

    #[test]
    fn both_limits_hold_at_the_same_slot() {
        let needs = [
            second(20),
            (
                "c:call.get".into(),
                Limit {
                    limit: 10,
                    span_ms: 60_000,
                },
            ),
        ];
        let mut windows = vec![Window::default(), Window::default()];
        let times = take(&mut windows, &needs, 1_000_000, 10);
        assert!(times.iter().all(|&t| t == 1_000_000));
        // The eleventh would wait about a minute: refused now, with when to retry.
        let refused = take_slot(&mut windows, &needs, Timestamp::from_millis(1_000_000));
        assert_eq!(refused, Err(Duration::from_secs(58)));
    }

    /// The retry-after is when a slot comes within the wait, not a span's guess: asked a
    /// second earlier the request is refused again, asked then it gets a slot (no more than
    /// `MAX_WAIT` later).
    #[test]
    fn a_refused_request_asked_again_after_its_retry_after_gets_a_slot() {
        let minute = [(
            "c:call.get".to_owned(),
            Limit {
                limit: 10,
                span_ms: 60_000,
            },
        )];
        for start in [1_000_000, 1_001_234, 1_002_999] {
            let mut windows = vec![Window::default()];
            take(&mut windows, &minute, start, 10);
            let now = Timestamp::from_millis(start);
            let retry = take_slot(&mut windows, &minute, now).expect_err("an 11th in the minute");
            let early = now + retry - Duration::from_secs(1);
            assert!(
                take_slot(&mut windows, &minute, early).is_err(),
                "a second before the retry-after ({retry:?}) from {start}"
            );
            let again = now + retry;
            let slot = take_slot(&mut windows, &minute, again).expect("a slot at the retry-after");
            assert!(slot.since(again) <= MAX_WAIT, "{retry:?} from {start}");
        }
    }

    #[test]
    fn a_slot_given_back_is_free_again() {
        let needs = [second(2)];
        let mut windows = vec![Window::default()];
        let now = Timestamp::from_millis(5_000);
        let a = take_slot(&mut windows, &needs, now).unwrap();
        take_slot(&mut windows, &needs, now).unwrap();
        let later = take_slot(&mut windows, &needs, now).unwrap();
        assert!(later > now);
        add_at(&mut windows, &needs, a, -1);
        add_at(&mut windows, &needs, later, -1);
        assert_eq!(take_slot(&mut windows, &needs, now).unwrap(), now);
    }

    /// A reservation in a bucket before the window's first (a slot found later than another,
    /// or given back) lands in its own bucket, and the ones after keep theirs. Found by
    /// cargo-mutants: no test added before the base.
    #[test]
    fn a_bucket_before_the_window_is_counted_where_it_is() {
        let mut window = Window::default();
        window.add(20, 2);
        window.add(10, 1);
        assert_eq!((window.count(10), window.count(20)), (1, 2), "{window:?}");
        assert_eq!(window.count(15), 0);
        window.add(20, -1);
        assert_eq!(window.count(20), 1);
    }

    /// Pruning keeps exactly the buckets a run reaching `now` can see (found by cargo-mutants:
    /// keeping one or two more passed every test).
    #[test]
    fn pruning_keeps_exactly_what_a_run_can_see() {
        let mut window = Window::default();
        for bucket in 0..100 {
            window.add(bucket, 1);
        }
        window.prune(99);
        assert_eq!(window.base, 99 + 1 - RUN);
        assert_eq!(window.counts.len() as i64, RUN);
        assert!(!window.has_room(99, RUN as u32));
        assert!(window.has_room(99, RUN as u32 + 1));
    }

    #[test]
    fn windows_forget_what_no_interval_sees() {
        let needs = [second(20)];
        let mut windows = vec![Window::default()];
        take(&mut windows, &needs, 1_000, 20);
        take(&mut windows, &needs, 100_000, 1);
        assert!(windows[0].counts.len() <= 1, "{:?}", windows[0]);
    }

    /// The windows of `RateStore` kept in memory: shared (as PostgreSQL's are between
    /// processes; its own implementation is checked by the storage conformance suite) or not
    /// (SQLite: the throttle keeps its windows itself and never asks).
    struct Windows {
        shared: bool,
        by_key: Mutex<HashMap<String, Window>>,
        /// Answers held back after the change, each once: a database slow to commit.
        slow_commits: Mutex<Vec<Duration>>,
    }

    #[async_trait::async_trait]
    impl RateStore for Windows {
        fn shares_rate_windows(&self) -> bool {
            self.shared
        }

        async fn update_rate_windows(
            &self,
            keys: &[String],
            _now: Timestamp,
            update: &mut (dyn for<'w> FnMut(&'w mut [Window]) + Send),
        ) -> crate::store::StoreResult<()> {
            assert!(
                self.shared,
                "a throttle that keeps its own windows asked the store"
            );
            {
                let mut by_key = self.by_key.lock().unwrap();
                let mut windows: Vec<Window> = keys
                    .iter()
                    .map(|key| by_key.remove(key).unwrap_or_default())
                    .collect();
                update(&mut windows);
                by_key.extend(keys.iter().cloned().zip(windows));
            }
            let slow = self.slow_commits.lock().unwrap().pop();
            if let Some(slow) = slow {
                tokio::time::sleep(slow).await;
            }
            Ok(())
        }
    }

    fn throttle(shared: bool) -> Arc<Throttle> {
        throttle_committing_slowly(shared, vec![])
    }

    fn throttle_committing_slowly(shared: bool, slow_commits: Vec<Duration>) -> Arc<Throttle> {
        Arc::new(Throttle::new(Arc::new(Windows {
            shared,
            by_key: Mutex::default(),
            slow_commits: Mutex::new(slow_commits),
        })))
    }

    /// The shared window of key `c`, as the next request would find it.
    async fn shared_window(throttle: &Throttle) -> Window {
        let mut seen = Window::default();
        throttle
            .store
            .as_ref()
            .unwrap()
            .update_rate_windows(&["c".to_owned()], Timestamp::now(), &mut |windows| {
                seen = windows[0].clone()
            })
            .await
            .unwrap();
        seen
    }

    /// Two a minute: two slots now, a third is a minute away (over `MAX_WAIT`, so refused).
    fn two_a_minute() -> Needs {
        vec![(
            "c".into(),
            Limit {
                limit: 2,
                span_ms: 60_000,
            },
        )]
    }

    /// A request whose caller went away before it was sent (its slot dropped unused) leaves
    /// room for the next one at once; a request that was sent (`used`) keeps its slot.
    #[tokio::test]
    async fn a_slot_dropped_unused_is_given_back_and_a_used_one_is_kept() {
        let throttle = throttle(false);
        let sent = throttle.reserve(two_a_minute()).await.unwrap();
        let abandoned = throttle.reserve(two_a_minute()).await.unwrap();
        let full = throttle.reserve(two_a_minute()).await;
        assert!(
            matches!(full, Err(Error::RateLimited { .. })),
            "a third slot now"
        );
        sent.used();
        drop(abandoned);
        // Given back before `drop` returns: the next request finds the room at once.
        let again = throttle.reserve(two_a_minute()).await;
        assert!(again.is_ok(), "the abandoned slot was not given back");
        again.unwrap().used();
        let full = throttle.reserve(two_a_minute()).await;
        assert!(
            matches!(full, Err(Error::RateLimited { .. })),
            "the used slot came back"
        );
    }

    /// Requests sent before their company was known are counted where they were sent, in
    /// this process's windows and in shared ones: the next request finds no room left.
    #[tokio::test]
    async fn requests_sent_without_a_slot_count_against_the_next() {
        for shared in [false, true] {
            let throttle = throttle(shared);
            for _ in 0..2 {
                throttle
                    .count_sent(&two_a_minute(), Timestamp::now())
                    .await
                    .unwrap();
            }
            let full = throttle.reserve(two_a_minute()).await;
            assert!(
                matches!(full, Err(Error::RateLimited { .. })),
                "two sent uncounted (shared windows: {shared})"
            );
        }
    }

    /// A slot the database confirmed too late to keep (300 ms to commit, past the 50 ms a
    /// request may leave after its slot) is given back and another taken: the request leaves
    /// on a slot of the time it really leaves, the only one that stays counted.
    #[tokio::test]
    async fn a_slot_confirmed_too_late_is_given_back_and_taken_again() {
        let throttle = throttle_committing_slowly(true, vec![Duration::from_millis(300)]);
        let needs = vec![second(20)];
        let started = Timestamp::now();
        // At least the slow one (a loaded machine may stall the next past 50 ms too).
        let given_back = throttle.turn(&needs).await.unwrap();
        assert!(given_back >= 1, "the late slot was kept");
        let left = Timestamp::now();
        assert!(left.since(started) >= Duration::from_millis(300));
        // The late slot's give-back runs on its own task.
        let window = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let window = shared_window(&throttle).await;
                if window.counts.iter().sum::<u32>() == 1 {
                    break window;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the late slot was never given back");
        let bucket_ms = needs[0].1.bucket_ms();
        let counted_at =
            (window.base + window.counts.iter().position(|&n| n == 1).unwrap() as i64) * bucket_ms;
        assert!(
            counted_at + bucket_ms > started.as_millis() + 300,
            "the request was counted at {counted_at}, in the slot taken before the slow commit ({} to {})",
            started.as_millis(),
            left.as_millis()
        );
    }

    /// The same across processes: the slot is given back to the shared windows (on its own
    /// task, since `drop` cannot wait for the database), and a used one stays counted there.
    #[tokio::test]
    async fn a_slot_dropped_unused_is_given_back_to_the_shared_windows() {
        let throttle = throttle(true);
        throttle.reserve(two_a_minute()).await.unwrap().used();
        drop(throttle.reserve(two_a_minute()).await.unwrap());
        let given_back = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Ok(slot) = throttle.reserve(two_a_minute()).await {
                    break slot;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the abandoned slot was never given back to the shared windows");
        given_back.used();
        // Nothing more comes back: the two slots are the two used.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let full = throttle.reserve(two_a_minute()).await;
        assert!(
            matches!(full, Err(Error::RateLimited { .. })),
            "a used slot came back"
        );
    }
}
