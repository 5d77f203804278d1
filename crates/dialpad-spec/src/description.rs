//! Facts Dialpad states only in an operation's prose description: its rate limits and whether
//! it needs a company admin API key.
//!
//! Wording found in the spec (193 operations):
//! - `Rate limit: N per minute.` — 186 operations: N = 1200 for 172, 250 for 5, 100 for 5
//!   (e.g. `contacts.create`), 5 for 3, 10 for `call.get_call_info`.
//! - `Rate limit: 200 per hour.` — `stats.create`.
//! - `Rate limit: 1 per 5 minute.` — `callrouters.update` (a window of several units).
//! - `Rate limit: 10 per minute per IVR.` followed by `Rate limit: 1200 per minute.` —
//!   `call.initiate_ivr_call` (a per-target limit beside the general one).
//! - `Tier 0 Rate limit: 100 per minute.` / `Tier 1 Rate limit: 800 per minute.` — `sms.send`.
//! - No rate limit at all — the three `/oauth2/*` operations.
//! - `Requires a company admin API key.` — 33 operations, always in exactly this wording.

use std::time::Duration;

use regex::Regex;

/// One rate limit stated in an operation's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// How many requests the window allows.
    pub requests: u32,
    /// The window the count applies to (a minute for "per minute", five for "per 5 minute").
    pub window: Duration,
    /// The account tier the limit applies to ("Tier 0 Rate limit: …"), when stated.
    pub tier: Option<u32>,
    /// What the limit is counted per, beyond the company ("IVR" in "… per minute per IVR").
    pub per: Option<String>,
}

impl RateLimit {
    /// The limit as whole requests per minute, rounded down but at least 1
    /// (`200 per hour` → 3, `1 per 5 minute` → 1). Use `requests` and `window` for exact windows.
    pub fn per_minute(&self) -> u32 {
        let seconds = self.window.as_secs().max(1);
        let per_minute = u64::from(self.requests) * 60 / seconds;
        u32::try_from(per_minute).unwrap_or(u32::MAX).max(1)
    }
}

/// The pattern of a rate-limit line. It is needed only while the spec is read, so it is made
/// there and dropped after, with the search caches that 193 descriptions grow (0.2 MB).
pub(crate) struct RateLimitPattern(Regex);

impl RateLimitPattern {
    pub(crate) fn new() -> RateLimitPattern {
        RateLimitPattern(
            Regex::new(
                r"(?im)^[ \t]*(?:tier[ \t]+(?P<tier>[0-9]+)[ \t]+)?rate limit:[ \t]*(?P<requests>[0-9]+)[ \t]+per[ \t]+(?:(?P<count>[0-9]+)[ \t]+)?(?P<unit>second|minute|hour|day)s?(?:[ \t]+per[ \t]+(?P<per>[^.\n]+?))?[ \t]*\.?[ \t]*$",
            )
            .expect("the rate-limit pattern is a valid regex"),
        )
    }

    /// Every rate limit the description states, in order.
    pub(crate) fn read(&self, description: &str) -> Vec<RateLimit> {
        self.0
            .captures_iter(description)
            .filter_map(|caps| {
                let requests = caps.name("requests")?.as_str().parse().ok()?;
                let count: u64 = match caps.name("count") {
                    Some(count) => count.as_str().parse().ok()?,
                    None => 1,
                };
                let unit_seconds = match caps.name("unit")?.as_str().to_ascii_lowercase().as_str() {
                    "second" => 1,
                    "minute" => 60,
                    "hour" => 3600,
                    _ => 86_400,
                };
                Some(RateLimit {
                    requests,
                    window: Duration::from_secs(count.checked_mul(unit_seconds)?),
                    tier: caps.name("tier").and_then(|t| t.as_str().parse().ok()),
                    per: caps.name("per").map(|p| p.as_str().trim().to_owned()),
                })
            })
            .collect()
    }
}

/// The limit that applies to the operation as a whole: not a per-target one, and the lowest tier.
pub(crate) fn primary_rate_limit(limits: &[RateLimit]) -> Option<&RateLimit> {
    limits
        .iter()
        .filter(|limit| limit.per.is_none())
        .min_by_key(|limit| limit.tier.unwrap_or(0))
}

/// Whether the description says the operation needs a company admin API key.
pub(crate) fn requires_company_admin(description: &str) -> bool {
    description
        .to_ascii_lowercase()
        .contains("requires a company admin api key")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate_limits(description: &str) -> Vec<RateLimit> {
        RateLimitPattern::new().read(description)
    }

    #[test]
    fn parses_every_wording() {
        let limits = rate_limits(
            "Intro.\n\nRate limit: 10 per minute per IVR.\n\nRate limit: 1200 per minute.",
        );
        assert_eq!(limits.len(), 2);
        assert_eq!(limits[0].per.as_deref(), Some("IVR"));
        assert_eq!(
            primary_rate_limit(&limits).map(RateLimit::per_minute),
            Some(1200)
        );

        let limits = rate_limits("Rate limit: 1 per 5 minute.");
        assert_eq!(limits[0].window, Duration::from_secs(300));
        assert_eq!(limits[0].per_minute(), 1);

        let limits = rate_limits("Rate limit: 200 per hour.");
        assert_eq!(limits[0].window, Duration::from_secs(3600));
        assert_eq!(limits[0].per_minute(), 3);

        let limits = rate_limits(
            "Tier 0 Rate limit: 100 per minute.\n\nTier 1 Rate limit: 800 per minute.\n",
        );
        assert_eq!(limits.len(), 2);
        assert_eq!(
            primary_rate_limit(&limits).map(|l| (l.tier, l.requests)),
            Some((Some(0), 100))
        );

        assert!(rate_limits("No limits here.").is_empty());
    }

    #[test]
    fn admin_wording() {
        assert!(requires_company_admin(
            "Does things.\n\nRequires a company admin API key.\n"
        ));
        assert!(!requires_company_admin("Admin can also assign numbers."));
    }
}
