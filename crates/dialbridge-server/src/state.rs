//! What every handler can reach.

use std::ops::Deref;
use std::sync::Arc;

use dialbridge_core::Platform;
use tokio_util::sync::CancellationToken;

use crate::attempts::Attempts;
use crate::ui::Dashboard;

/// Cloned for every request (each `State` extractor and stateful middleware takes its own
/// copy), so one reference count: cloning the parts one by one cost three counts and a
/// lock (a `CancellationToken`'s clone and drop lock its tree): 3% of `serve`'s CPU in the
/// bench's actions row (BENCHMARKS.md, *The state of a request*).
#[derive(Clone)]
pub struct AppState(Arc<Parts>);

/// What `AppState` holds.
pub struct Parts {
    pub platform: Platform,
    /// Failed admin-key and MCP-token attempts per client address.
    pub attempts: Attempts,
    /// Fires when the server shuts down (MCP sessions end then).
    pub shutdown: CancellationToken,
    /// The dashboard's session key and dev-mode emulator.
    pub dashboard: Arc<Dashboard>,
}

impl AppState {
    pub fn new(platform: Platform, dashboard: Arc<Dashboard>, shutdown: CancellationToken) -> Self {
        AppState(Arc::new(Parts {
            platform,
            attempts: Attempts::default(),
            shutdown,
            dashboard,
        }))
    }
}

impl Deref for AppState {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}
