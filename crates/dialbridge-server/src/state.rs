//! What every handler can reach.

use std::sync::Arc;

use dialbridge_core::Platform;
use tokio_util::sync::CancellationToken;

use crate::attempts::Attempts;
use crate::ui::Dashboard;

#[derive(Clone)]
pub struct AppState {
    pub platform: Platform,
    /// Failed admin-key and MCP-token attempts per client address.
    pub attempts: Arc<Attempts>,
    /// Fires when the server shuts down (MCP sessions end then).
    pub shutdown: CancellationToken,
    /// The dashboard's session key and dev-mode emulator.
    pub dashboard: Arc<Dashboard>,
}

impl AppState {
    pub fn new(platform: Platform, dashboard: Arc<Dashboard>) -> Self {
        AppState {
            platform,
            attempts: Arc::default(),
            shutdown: CancellationToken::new(),
            dashboard,
        }
    }

    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }
}
