//! What every handler can reach.

use std::sync::Arc;

use dialbridge_core::Platform;
use tokio_util::sync::CancellationToken;

use crate::attempts::Attempts;

#[derive(Clone)]
pub struct AppState {
    pub platform: Platform,
    /// Failed admin-key and MCP-token attempts per client address.
    pub attempts: Arc<Attempts>,
    /// Fires when the server shuts down (MCP sessions end then).
    pub shutdown: CancellationToken,
}

impl AppState {
    pub fn new(platform: Platform) -> Self {
        AppState {
            platform,
            attempts: Arc::default(),
            shutdown: CancellationToken::new(),
        }
    }

    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }
}
