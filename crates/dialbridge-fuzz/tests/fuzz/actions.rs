//! An action's input (`POST /api/v1/accounts/{id}/actions/{key}`, and workflow `action`
//! steps) through `check_action_input`, which `Actions::run` calls before Dialpad: every input
//! is either a request to send or a 422 naming its problems.

use dialbridge_core::{action_catalog, check_action_input};
use serde_json::Value;

/// The first byte picks the action of the catalog; the rest is its input as JSON (the route
/// reads the body as JSON before the action sees it, so other bytes stop there).
pub fn action_input(input: &[u8]) {
    let Some((pick, body)) = super::steer(input) else {
        return;
    };
    let catalog = action_catalog();
    let key = catalog[usize::from(pick) % catalog.len()].key;
    let Ok(input) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    if let Err(e) = check_action_input(key, &input) {
        assert_eq!(e.code(), "invalid_input", "{key}: {e}");
    }
}
