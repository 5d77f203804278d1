//! A local stand-in for Dialpad: its OAuth 2.0 endpoints, the API v2 resources dialbridge uses
//! over a seeded world (checked against Dialpad's official OpenAPI spec both ways), events to
//! webhooks, rate limits and faults, and a `/_control` API for tests. This file owns the
//! `Emulator` handle and the router.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use dialpad_emulator::{Emulator, EmulatorConfig};
//! let emulator = Emulator::new(EmulatorConfig::default());
//! let app = axum::Router::new().nest("/emulator", emulator.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

mod api;
mod apps;
mod authorization;
mod clock;
mod config;
mod control;
mod error;
mod events;
mod ids;
mod limits;
mod oauth;
mod pages;
mod pending;
mod pkce;
mod random;
mod record;
mod scopes;
mod seed;
mod stats;
mod store;
mod tokens;
mod world;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::middleware::from_fn_with_state;
use axum::Router;

pub use config::{EmulatorConfig, Faults};
pub use stats::Stats;

use ids::{CompanyId, UserId};
use pages::Pages;
use store::Store;

/// A running emulated Dialpad: cheap to clone, every clone shares the same state.
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

struct Inner {
    store: Mutex<Store>,
    /// The configuration given at construction, restored by reset.
    initial_config: EmulatorConfig,
    /// Keys installed with `install_api_key` (`--api-key`), which survive a reset.
    installed_keys: Mutex<Vec<String>>,
    pages: Pages,
    /// Woken at each refresh request, for the answers `refresh_hold` keeps waiting.
    refresh_arrived: tokio::sync::Notify,
}

impl Emulator {
    /// The client id of the seeded development app, which accepts any redirect URI.
    pub const DEV_CLIENT_ID: &'static str = apps::DEV_CLIENT_ID;
    pub const DEV_CLIENT_SECRET: &'static str = apps::DEV_CLIENT_SECRET;

    /// An emulator with the seeded world and the seeded development app.
    pub fn new(config: EmulatorConfig) -> Self {
        Emulator {
            inner: Arc::new(Inner {
                store: Mutex::new(Store::seeded(config.clone())),
                initial_config: config,
                installed_keys: Mutex::new(Vec::new()),
                pages: Pages::new(),
                refresh_arrived: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Every route at the root (`/oauth2/*`, `/api/v2/*`, `/_control/*`); nest it under any
    /// prefix: the pages link relatively. Other paths and methods answer JSON errors in
    /// Dialpad's shape.
    pub fn router(&self) -> Router {
        let dialpad = Router::new()
            .merge(oauth::routes())
            .merge(api::routes())
            .layer(from_fn_with_state(self.clone(), record::record));
        Router::new()
            .merge(dialpad)
            .merge(control::routes())
            .fallback(error::unknown_route)
            .method_not_allowed_fallback(error::method_not_allowed)
            .with_state(self.clone())
    }

    /// Serves the router at the root of `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// A new API key for the company (an admin's key), or for one of its users when `user_id`
    /// is given. `None` if the company is unknown or the user is not one of its users.
    pub fn create_api_key(&self, company_id: &str, user_id: Option<&str>) -> Option<String> {
        let company = company_id.parse().ok()?;
        let user = match user_id {
            Some(id) => Some(id.parse().ok()?),
            None => None,
        };
        self.issue_api_key(company, user)
    }

    /// Makes `key` a company-admin API key of the first seeded company, for
    /// `dialbridge emulator --api-key KEY`.
    pub fn install_api_key(&self, key: &str) -> Result<(), String> {
        if key.trim().is_empty() {
            return Err("the emulator API key must not be empty".into());
        }
        self.install_key_in_store(key)?;
        self.installed_keys().push(key.to_owned());
        Ok(())
    }

    fn install_key_in_store(&self, key: &str) -> Result<(), String> {
        let mut store = self.store();
        let company = store
            .world
            .companies
            .first()
            .map(|c| c.id)
            .ok_or("the emulator has no company")?;
        store.tokens.install_api_key(key.to_owned(), company, None);
        Ok(())
    }

    fn installed_keys(&self) -> MutexGuard<'_, Vec<String>> {
        self.inner
            .installed_keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What the emulator has counted so far (requests, refreshes, faults, spec violations).
    pub fn stats(&self) -> Stats {
        self.store().stats.clone()
    }

    /// Panics if any answer of the emulator broke the spec's response schemas; test harnesses
    /// call it when they finish with an emulator, so every response of every test is checked.
    pub fn assert_responses_matched_spec(&self) {
        let stats = self.stats();
        assert_eq!(
            stats.response_schema_violations,
            0,
            "the emulator answered against the spec; last: {}",
            stats.last_violation.unwrap_or_default()
        );
    }

    fn issue_api_key(&self, company: CompanyId, user: Option<UserId>) -> Option<String> {
        let mut store = self.store();
        store.world.company(company)?;
        if let Some(user) = user {
            store.world.user(user).filter(|u| u.company_id == company)?;
        }
        Some(store.tokens.create_api_key(company, user))
    }

    /// The state; a poisoned lock is taken over, since every change to it is a whole step.
    fn store(&self) -> MutexGuard<'_, Store> {
        self.inner
            .store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn pages(&self) -> &Pages {
        &self.inner.pages
    }

    /// Counts a refresh request and, while `refresh_hold` is on, waits until as many as it
    /// asks for have arrived (or its `max` has passed).
    async fn hold_refresh(&self) {
        let (wanted, max) = {
            let mut store = self.store();
            let hold = store.config.refresh_hold.clone();
            if hold.requests == 0 {
                return;
            }
            store.refresh_arrivals += 1;
            (hold.requests, hold.max)
        };
        self.inner.refresh_arrived.notify_waiters();
        let deadline = tokio::time::Instant::now() + max;
        loop {
            // Registered before the count is read, so an arrival in between is not missed.
            let arrived = self.inner.refresh_arrived.notified();
            if self.store().refresh_arrivals >= wanted {
                return;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return;
            }
        }
    }

    /// Back to the seeded world and the initial configuration; installed keys stay.
    fn reset(&self) {
        *self.store() = Store::seeded(self.inner.initial_config.clone());
        for key in self.installed_keys().clone() {
            // The seeded world always has its first company.
            let _ = self.install_key_in_store(&key);
        }
    }
}
