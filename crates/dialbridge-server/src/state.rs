//! What every handler can reach.

use std::sync::Arc;

use dialbridge_core::Platform;

use crate::attempts::Attempts;
use crate::ui::Dashboard;

#[derive(Clone)]
pub struct AppState {
    pub platform: Platform,
    /// Failed admin-key attempts per client address.
    pub attempts: Arc<Attempts>,
    /// The dashboard's session key and dev-mode emulator.
    pub dashboard: Arc<Dashboard>,
}

impl AppState {
    pub fn new(platform: Platform, dashboard: Arc<Dashboard>) -> Self {
        AppState {
            platform,
            attempts: Arc::default(),
            dashboard,
        }
    }
}
