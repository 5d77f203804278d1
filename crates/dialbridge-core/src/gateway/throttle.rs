//! Client-side throttling to Dialpad's limits, so actions wait their turn instead of provoking
//! 429s: about 20 requests per second per Dialpad company, and each operation's per-minute
//! figure from the spec. Reservations in sliding windows, in this process; several processes on
//! one database each throttle on their own, and the 429 handling covers the rest.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Dialpad's windows, with a margin: requests reserved a window apart may still arrive closer
/// together than they were sent.
const SECOND: Duration = Duration::from_millis(1_100);
const MINUTE: Duration = Duration::from_secs(61);
/// Dialpad's overall limit per company.
pub const COMPANY_PER_SECOND: usize = 20;

#[derive(Debug, Default)]
pub struct Throttle {
    companies: Mutex<HashMap<String, Windows>>,
}

#[derive(Debug, Default)]
struct Windows {
    second: VecDeque<Instant>,
    per_operation: HashMap<String, VecDeque<Instant>>,
}

impl Throttle {
    /// Reserves a slot for one request of `operation` for `company`; answers how long to wait
    /// before sending it.
    pub fn reserve(
        &self,
        company: &str,
        operation: &str,
        per_minute: Option<u32>,
        now: Instant,
    ) -> Duration {
        let mut companies = self.companies.lock().unwrap_or_else(|p| p.into_inner());
        let windows = companies.entry(company.to_owned()).or_default();
        prune(&mut windows.second, now, SECOND);
        let minute = windows
            .per_operation
            .entry(operation.to_owned())
            .or_default();
        prune(minute, now, MINUTE);
        let mut at = now;
        // Two passes settle both windows: a later slot in one never makes the other earlier.
        for _ in 0..2 {
            at = at.max(earliest(&windows.second, COMPANY_PER_SECOND, SECOND, at));
            if let Some(limit) = per_minute {
                let minute = &windows.per_operation[operation];
                at = at.max(earliest(minute, limit as usize, MINUTE, at));
            }
        }
        insert_sorted(&mut windows.second, at);
        if per_minute.is_some() {
            if let Some(minute) = windows.per_operation.get_mut(operation) {
                insert_sorted(minute, at);
            }
        }
        at - now
    }
}

/// Forgets reservations that no window starting now can see.
fn prune(log: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while log
        .front()
        .is_some_and(|&t| now.saturating_duration_since(t) >= window)
    {
        log.pop_front();
    }
}

/// The first instant from `at` with room for one more in every window through it.
fn earliest(log: &VecDeque<Instant>, limit: usize, window: Duration, at: Instant) -> Instant {
    let in_window = log.iter().filter(|&&t| t + window > at).count();
    if in_window < limit {
        return at;
    }
    // The (limit)th most recent reservation must leave the window first.
    let index = log.len() - limit;
    (log[index] + window).max(at)
}

fn insert_sorted(log: &mut VecDeque<Instant>, at: Instant) {
    let position = log.partition_point(|&t| t <= at);
    log.insert(position, at);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_per_second_then_wait() {
        let throttle = Throttle::default();
        let now = Instant::now();
        for _ in 0..20 {
            assert_eq!(
                throttle.reserve("c", "users.list", Some(1200), now),
                Duration::ZERO
            );
        }
        let wait = throttle.reserve("c", "users.list", Some(1200), now);
        assert_eq!(wait, SECOND);
        assert_eq!(
            throttle.reserve("other", "users.list", Some(1200), now),
            Duration::ZERO
        );
    }

    #[test]
    fn per_operation_minute_limits_space_requests_out() {
        let throttle = Throttle::default();
        let now = Instant::now();
        for _ in 0..10 {
            assert!(throttle.reserve("c", "call.get", Some(10), now) < SECOND);
        }
        let wait = throttle.reserve("c", "call.get", Some(10), now);
        assert!(wait >= Duration::from_secs(60), "{wait:?}");
        // Other operations of the company are not held by that limit.
        assert!(throttle.reserve("c", "users.list", Some(1200), now) <= SECOND);
    }
}
