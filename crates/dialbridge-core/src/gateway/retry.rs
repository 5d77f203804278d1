//! How long to wait before trying Dialpad again.

use std::time::Duration;

use rand::Rng;

/// Bounds of the retries; the defaults suit Dialpad, tests shorten the waits.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after a 429 (each waits `Retry-After`).
    pub rate_limit_retries: u32,
    /// A `Retry-After` longer than this is not waited for: the action fails `rate_limited`.
    pub max_retry_after: Duration,
    /// Retries of a read after a 5xx or no answer.
    pub read_retries: u32,
    /// First backoff; doubles per retry, with ±50 % jitter, capped at `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            rate_limit_retries: 3,
            max_retry_after: Duration::from_secs(60),
            read_retries: 3,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let exponential = self.base_backoff.saturating_mul(1 << retry.min(16));
        let capped = exponential.min(self.max_backoff);
        capped.mul_f64(rand::thread_rng().gen_range(0.5..1.5))
    }
}
