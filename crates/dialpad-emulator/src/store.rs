//! The emulator's whole mutable state in one struct, kept behind one `std::sync::Mutex` (never
//! held across an `.await`). New resources, events and faults become fields here.

use crate::apps::Apps;
use crate::config::EmulatorConfig;
use crate::events::Outbox;
use crate::limits::RateLimiter;
use crate::pending::PendingRequests;
use crate::record::RequestLog;
use crate::seed;
use crate::stats::Stats;
use crate::tokens::TokenStore;
use crate::world::World;

#[derive(Debug)]
pub struct Store {
    pub config: EmulatorConfig,
    pub world: World,
    pub apps: Apps,
    pub tokens: TokenStore,
    pub pending: PendingRequests,
    pub stats: Stats,
    pub log: RequestLog,
    pub events: Outbox,
    pub limiter: RateLimiter,
    /// API v2 requests counted towards `faults.every_nth` since the fault was set.
    pub fault_counter: u64,
    /// Requests answered 429, by a digest of the request: when their `Retry-After` ends.
    pub retry_not_before: std::collections::HashMap<u64, std::time::Instant>,
    /// Refresh requests counted towards `refresh_hold.requests` since the hold was set.
    pub refresh_arrivals: u64,
}

impl Store {
    /// The seeded state: the seeded world and dev app, no tokens, keys, counts or log.
    pub fn seeded(config: EmulatorConfig) -> Self {
        Store {
            config,
            world: seed::world(crate::clock::now_ms()),
            apps: Apps::seeded(),
            tokens: TokenStore::default(),
            pending: PendingRequests::default(),
            stats: Stats::default(),
            log: RequestLog::default(),
            events: Outbox::default(),
            limiter: RateLimiter::default(),
            fault_counter: 0,
            retry_not_before: Default::default(),
            refresh_arrivals: 0,
        }
    }
}
