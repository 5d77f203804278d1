//! Wrong admin API keys cost time. Failures are counted per client address (an IPv6 address by
//! its /64, which one host usually holds whole); after `FREE_FAILURES` the address must wait
//! before its next try, 1 s, then twice as long after each further failure, up to
//! `MAX_DELAY`. Until then its requests answer 429 `too_many_attempts` with `Retry-After`,
//! their keys unchecked. A right key clears the address; a quiet one is forgotten after
//! `FORGET_AFTER`. At most `CAPACITY` addresses are remembered (the least recently seen go
//! first), so the memory is bounded whatever the number of addresses.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;

const FREE_FAILURES: u32 = 5;
const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(300);
const FORGET_AFTER: Duration = Duration::from_secs(600);
const CAPACITY: NonZeroUsize = match NonZeroUsize::new(10_000) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};

pub struct Attempts {
    failures: Mutex<LruCache<IpAddr, Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    /// How long after the last failure the next try must wait.
    fn delay(self) -> Duration {
        match self.count.checked_sub(FREE_FAILURES) {
            None => Duration::ZERO,
            Some(over) => FIRST_DELAY
                .saturating_mul(2u32.saturating_pow(over.min(16)))
                .min(MAX_DELAY),
        }
    }
}

impl Default for Attempts {
    fn default() -> Self {
        Attempts {
            failures: Mutex::new(LruCache::new(CAPACITY)),
        }
    }
}

impl Attempts {
    /// `Err(wait)` when `client` must wait that long before its key is checked.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        wait(&mut self.lock(), group(client))
    }

    /// A key already known to be right, from `client`: `Err(wait)` as `check` answers, else
    /// the address is cleared as by `succeeded`, under one lock instead of two.
    pub fn right_key(&self, client: IpAddr) -> Result<(), Duration> {
        let client = group(client);
        let mut failures = self.lock();
        wait(&mut failures, client)?;
        failures.pop(&client);
        Ok(())
    }

    pub fn failed(&self, client: IpAddr) {
        let now = Instant::now();
        let mut failures = self.lock();
        let entry = failures.get_or_insert_mut(group(client), || Failures {
            count: 0,
            last: now,
        });
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
    }

    pub fn succeeded(&self, client: IpAddr) {
        self.lock().pop(&group(client));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<IpAddr, Failures>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How long `client` (grouped) must still wait, forgetting it once it has been quiet long
/// enough.
fn wait(failures: &mut LruCache<IpAddr, Failures>, client: IpAddr) -> Result<(), Duration> {
    let Some(entry) = failures.peek(&client).copied() else {
        return Ok(());
    };
    let since = entry.last.elapsed();
    if since >= FORGET_AFTER + entry.delay() {
        failures.pop(&client);
        return Ok(());
    }
    match entry.delay().checked_sub(since) {
        Some(wait) if !wait.is_zero() => Err(wait),
        _ => Ok(()),
    }
}

/// The address failures are counted under: IPv4 as it is, IPv6 by its /64.
fn group(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::from(segments)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_waits_after_its_free_failures_and_others_do_not() {
        let attempts = Attempts::default();
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..FREE_FAILURES {
            assert_eq!(attempts.check(client), Ok(()));
            attempts.failed(client);
        }
        let wait = attempts.check(client).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= FIRST_DELAY, "{wait:?}");
        assert_eq!(attempts.check("192.0.2.8".parse().unwrap()), Ok(()));
        attempts.succeeded(client);
        assert_eq!(attempts.check(client), Ok(()));
    }

    #[test]
    fn a_known_right_key_waits_like_any_other_then_clears_the_address() {
        let attempts = Attempts::default();
        let client: IpAddr = "192.0.2.9".parse().unwrap();
        for _ in 0..=FREE_FAILURES {
            attempts.failed(client);
        }
        let wait = attempts.right_key(client).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= FIRST_DELAY * 2, "{wait:?}");
        let mut failures = attempts.lock();
        failures.get_mut(&client).unwrap().last -= FIRST_DELAY * 2;
        drop(failures);
        assert_eq!(attempts.right_key(client), Ok(()));
        assert!(
            attempts.lock().peek(&client).is_none(),
            "the address is cleared"
        );
    }

    #[test]
    fn the_delay_doubles_up_to_its_cap() {
        let at = |count| Failures {
            count,
            last: Instant::now(),
        };
        assert_eq!(at(FREE_FAILURES - 1).delay(), Duration::ZERO);
        assert_eq!(at(FREE_FAILURES).delay(), FIRST_DELAY);
        assert_eq!(at(FREE_FAILURES + 2).delay(), FIRST_DELAY * 4);
        assert_eq!(at(u32::MAX).delay(), MAX_DELAY);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_bit_prefix() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(group(a), group(b));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(group(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn memory_is_bounded() {
        let attempts = Attempts::default();
        for i in 0..(CAPACITY.get() as u32 + 100) {
            attempts.failed(IpAddr::from(i.to_be_bytes()));
        }
        assert_eq!(attempts.lock().len(), CAPACITY.get());
    }
}
