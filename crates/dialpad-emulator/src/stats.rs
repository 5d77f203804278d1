//! Counters of what the emulator was asked, for tests that check how often a client called
//! (e.g. that concurrent workers refreshed once). Counted on receipt, successful or not.

use serde::Serialize;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    pub token_requests: TokenRequests,
    pub deauthorize_requests: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TokenRequests {
    pub authorization_code: u64,
    pub refresh_token: u64,
}

impl Stats {
    /// Counts a `POST /oauth2/token` by its `grant_type` (other grant types are not counted).
    pub fn count_token_request(&mut self, grant_type: Option<&str>) {
        match grant_type {
            Some("authorization_code") => self.token_requests.authorization_code += 1,
            Some("refresh_token") => self.token_requests.refresh_token += 1,
            _ => {}
        }
    }
}
