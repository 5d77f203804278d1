//! How the emulator behaves where Dialpad's behaviour is a choice (token lifetime, rotation,
//! rate limits) and the faults it injects on demand. Set at construction, changed at run time
//! through `PATCH /_control/config`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Knobs of the emulated Dialpad.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// Lifetime of an access token (`expires_in`). Default: one hour.
    pub access_token_ttl: Duration,
    /// Whether a refresh issues a new refresh token and retires the old one. Default: true.
    pub rotate_refresh_tokens: bool,
    /// Whether Dialpad's rate limits apply (per operation per minute from the spec, and
    /// `company_requests_per_second`). Default: true; off for benchmarks.
    pub rate_limits: bool,
    /// Dialpad's overall limit per company. Default: 20.
    pub company_requests_per_second: u32,
    /// Injected failures and latency. Default: none.
    pub faults: Faults,
    /// Holding refresh answers back, to force races between clients. Default: off.
    pub refresh_hold: RefreshHold,
}

/// Each `refresh_token` grant request is answered only once `requests` of them have arrived
/// (counting from the change), or after `max` — so clients that would refresh at about the
/// same moment are made to overlap. `requests: 0` is off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshHold {
    pub requests: u64,
    pub max: Duration,
}

impl Default for RefreshHold {
    fn default() -> Self {
        RefreshHold {
            requests: 0,
            max: Duration::from_secs(5),
        }
    }
}

/// Failures on demand, for clients' retry paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every Nth API v2 request fails with `status` (counting from the change).
    pub every_nth: Option<u64>,
    /// This share of API v2 requests, in percent, fails at random.
    pub percent: u8,
    /// 429 or a 5xx.
    pub status: u16,
    /// When not empty, each fault answers one of these at random instead of `status`.
    pub statuses: Vec<u16>,
    /// Added to every API v2 response.
    pub latency: Duration,
    /// Added to every token answer, after the grant was spent: a code or a rotated refresh
    /// token is used up even when the client has gone before the answer.
    pub token_latency: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            access_token_ttl: Duration::from_secs(3600),
            rotate_refresh_tokens: true,
            rate_limits: true,
            company_requests_per_second: 20,
            faults: Faults {
                every_nth: None,
                percent: 0,
                status: 503,
                statuses: Vec::new(),
                latency: Duration::ZERO,
                token_latency: Duration::ZERO,
            },
            refresh_hold: RefreshHold::default(),
        }
    }
}

/// The configuration as the control API shows and changes it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_ttl_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotate_refresh_tokens: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_requests_per_second: Option<u32>,
    /// 0 switches the fault off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault_every_nth: Option<u64>,
    /// 0 to 100: the share of requests failing at random.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault_percent: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault_status: Option<u16>,
    /// Statuses a fault picks from at random (empty: `fault_status`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault_statuses: Option<Vec<u16>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Added to every token answer, after the grant was spent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_latency_ms: Option<u64>,
    /// Hold each refresh answer until this many refresh requests arrived (0: off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_refresh_requests: Option<u64>,
    /// The longest a refresh answer is held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_refresh_max_ms: Option<u64>,
}

/// The longest a token answer may be held or delayed (a minute).
const MAX_TOKEN_DELAY_MS: u64 = 60_000;

/// Statuses a fault may answer with.
const FAULT_STATUSES: [u16; 5] = [429, 500, 502, 503, 504];

impl EmulatorConfig {
    pub fn view(&self) -> ConfigView {
        ConfigView {
            access_token_ttl_secs: Some(self.access_token_ttl.as_secs()),
            rotate_refresh_tokens: Some(self.rotate_refresh_tokens),
            rate_limits: Some(self.rate_limits),
            company_requests_per_second: Some(self.company_requests_per_second),
            fault_every_nth: Some(self.faults.every_nth.unwrap_or(0)),
            fault_percent: Some(self.faults.percent),
            fault_status: Some(self.faults.status),
            fault_statuses: Some(self.faults.statuses.clone()),
            latency_ms: Some(self.faults.latency.as_millis() as u64),
            token_latency_ms: Some(self.faults.token_latency.as_millis() as u64),
            hold_refresh_requests: Some(self.refresh_hold.requests),
            hold_refresh_max_ms: Some(self.refresh_hold.max.as_millis() as u64),
        }
    }

    /// Applies the fields a patch names, leaving the others; nothing changes if one is invalid.
    pub fn apply(&mut self, patch: &ConfigView) -> Result<(), String> {
        let statuses = patch.fault_statuses.iter().flatten();
        for status in patch.fault_status.iter().chain(statuses) {
            if !FAULT_STATUSES.contains(status) {
                return Err(format!(
                    "a fault status must be one of {FAULT_STATUSES:?}, not {status}"
                ));
            }
        }
        if patch.fault_percent.is_some_and(|p| p > 100) {
            return Err("fault_percent must be between 0 and 100".into());
        }
        let delays = [
            ("hold_refresh_max_ms", patch.hold_refresh_max_ms),
            ("token_latency_ms", patch.token_latency_ms),
        ];
        for (name, ms) in delays {
            if ms.is_some_and(|ms| ms > MAX_TOKEN_DELAY_MS) {
                return Err(format!("{name} must be at most {MAX_TOKEN_DELAY_MS}"));
            }
        }
        if patch.company_requests_per_second == Some(0) {
            return Err("company_requests_per_second must be at least 1".into());
        }
        if let Some(secs) = patch.access_token_ttl_secs {
            self.access_token_ttl = Duration::from_secs(secs);
        }
        if let Some(rotate) = patch.rotate_refresh_tokens {
            self.rotate_refresh_tokens = rotate;
        }
        if let Some(on) = patch.rate_limits {
            self.rate_limits = on;
        }
        if let Some(n) = patch.company_requests_per_second {
            self.company_requests_per_second = n;
        }
        if let Some(n) = patch.fault_every_nth {
            self.faults.every_nth = (n > 0).then_some(n);
        }
        if let Some(status) = patch.fault_status {
            self.faults.status = status;
        }
        if let Some(percent) = patch.fault_percent {
            self.faults.percent = percent;
        }
        if let Some(statuses) = &patch.fault_statuses {
            self.faults.statuses = statuses.clone();
        }
        if let Some(ms) = patch.latency_ms {
            self.faults.latency = Duration::from_millis(ms);
        }
        if let Some(ms) = patch.token_latency_ms {
            self.faults.token_latency = Duration::from_millis(ms);
        }
        if let Some(n) = patch.hold_refresh_requests {
            self.refresh_hold.requests = n;
        }
        if let Some(ms) = patch.hold_refresh_max_ms {
            self.refresh_hold.max = Duration::from_millis(ms);
        }
        Ok(())
    }
}

impl Faults {
    /// The status of one injected fault.
    pub fn pick_status(&self) -> u16 {
        use rand::seq::SliceRandom;
        *self
            .statuses
            .choose(&mut rand::thread_rng())
            .unwrap_or(&self.status)
    }

    /// Whether a request fails at random now.
    pub fn strikes(&self) -> bool {
        use rand::Rng;
        self.percent > 0 && rand::thread_rng().gen_range(0..100) < self.percent
    }
}
