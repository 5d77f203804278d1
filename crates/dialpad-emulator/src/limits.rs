//! Dialpad's rate limits: per company per operation per minute (the figure in each operation's
//! description in the spec) and about 20 requests per second per company overall. Sliding
//! windows over the instants of accepted requests; a refused request is not counted.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::ids::CompanyId;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct RateLimiter {
    per_second: HashMap<CompanyId, VecDeque<Instant>>,
    per_operation: HashMap<(CompanyId, String), VecDeque<Instant>>,
}

/// A refused request: which limit, and when a retry may succeed.
#[derive(Debug, PartialEq, Eq)]
pub struct Limited {
    pub limit: String,
    /// The window's span: the requests counted came within `window - retry_after`.
    pub window: Duration,
    pub retry_after: Duration,
}

impl RateLimiter {
    /// Counts the request if both limits allow it.
    pub fn check(
        &mut self,
        company: CompanyId,
        operation_id: &str,
        per_minute: Option<u32>,
        per_second: u32,
        now: Instant,
    ) -> Result<(), Limited> {
        let second = self.per_second.entry(company).or_default();
        if let Some(wait) = full(second, per_second, SECOND, now) {
            return Err(Limited {
                limit: format!("{per_second} requests per second per company"),
                window: SECOND,
                retry_after: wait,
            });
        }
        if let Some(limit) = per_minute {
            let minute = self
                .per_operation
                .entry((company, operation_id.to_owned()))
                .or_default();
            if let Some(wait) = full(minute, limit, MINUTE, now) {
                return Err(Limited {
                    limit: format!("{limit} per minute for {operation_id}"),
                    window: MINUTE,
                    retry_after: wait,
                });
            }
            minute.push_back(now);
        }
        self.per_second.entry(company).or_default().push_back(now);
        Ok(())
    }
}

/// Drops instants older than `window`; when `limit` remain, how long until the oldest leaves.
fn full(
    window_log: &mut VecDeque<Instant>,
    limit: u32,
    window: Duration,
    now: Instant,
) -> Option<Duration> {
    while window_log
        .front()
        .is_some_and(|&at| now.duration_since(at) >= window)
    {
        window_log.pop_front();
    }
    if window_log.len() < limit as usize {
        return None;
    }
    window_log
        .front()
        .map(|&oldest| window.saturating_sub(now.duration_since(oldest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_operation_limit_refuses_the_next_until_the_window_moves() {
        let mut limiter = RateLimiter::default();
        let start = Instant::now();
        let company = CompanyId(1);
        for i in 0..10 {
            let at = start + Duration::from_millis(i * 200);
            assert!(limiter.check(company, "call.get", Some(10), 20, at).is_ok());
        }
        let refused = limiter
            .check(
                company,
                "call.get",
                Some(10),
                20,
                start + Duration::from_secs(5),
            )
            .unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(55));
        assert!(refused.limit.contains("10 per minute"));
        // Another operation and another company are not affected.
        let later = start + Duration::from_secs(5);
        assert!(limiter
            .check(company, "users.list", Some(1200), 20, later)
            .is_ok());
        assert!(limiter
            .check(CompanyId(2), "call.get", Some(10), 20, later)
            .is_ok());
        // A minute after the first request, one more fits.
        let minute_on = start + Duration::from_secs(60);
        assert!(limiter
            .check(company, "call.get", Some(10), 20, minute_on)
            .is_ok());
    }

    #[test]
    fn twenty_per_second_per_company() {
        let mut limiter = RateLimiter::default();
        let now = Instant::now();
        for _ in 0..20 {
            assert!(limiter.check(CompanyId(1), "op", None, 20, now).is_ok());
        }
        let refused = limiter
            .check(CompanyId(1), "op", None, 20, now)
            .unwrap_err();
        assert_eq!(refused.retry_after, SECOND);
        assert!(limiter
            .check(CompanyId(1), "op", None, 20, now + SECOND)
            .is_ok());
    }
}
