//! What every handler can reach.

use std::sync::Arc;

use dialbridge_core::Platform;

use crate::attempts::Attempts;

#[derive(Clone)]
pub struct AppState {
    pub platform: Platform,
    /// Failed admin-key attempts per client address.
    pub attempts: Arc<Attempts>,
}

impl AppState {
    pub fn new(platform: Platform) -> Self {
        AppState {
            platform,
            attempts: Arc::default(),
        }
    }
}
