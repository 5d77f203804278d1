//! Counters of what the emulator was asked, for tests that check how often a client called
//! (e.g. that concurrent workers refreshed once). Counted on receipt, successful or not.

use serde::Serialize;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    pub token_requests: TokenRequests,
    pub deauthorize_requests: u64,
    /// Authenticated API v2 requests.
    pub api_requests: u64,
    pub rate_limited: u64,
    /// The last rate-limit 429: which limit, and how close together the requests it counted
    /// came (for a test that must find out why its client was refused).
    pub last_rate_limited: Option<String>,
    pub faults_injected: u64,
    /// Requests repeated (same credentials, method, path, query and body) before the
    /// `Retry-After` of the 429 that refused them had passed.
    pub early_retries: u64,
    /// Answers of the emulator that broke the spec's response schema (each answered 500).
    pub response_schema_violations: u64,
    pub last_violation: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TokenRequests {
    pub authorization_code: u64,
    pub refresh_token: u64,
    /// Refresh requests with a refresh token that an earlier refresh had already rotated out
    /// (a client that refreshed twice with one token).
    pub rotated_refresh_token: u64,
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
