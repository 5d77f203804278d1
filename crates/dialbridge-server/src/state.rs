//! What every handler can reach.

use dialbridge_core::Platform;

#[derive(Clone)]
pub struct AppState {
    pub platform: Platform,
}
